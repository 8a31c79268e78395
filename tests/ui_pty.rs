//! End-to-end tests of the live checklist: the real binary in a
//! pseudo-terminal ([`common::pty`]), its screen read back through a vt100
//! parser, keys sent as bytes. Every wait is on a screen condition with a
//! deadline.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::ScratchDb;
use common::pty::{Tui, nz, vm_hwm_kb};
use runsheet::journal::event::{Event, Record};
use runsheet::journal::reader::read_journal;
use tempfile::TempDir;

/// A temp folder with a runbook and a state dir.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new(runbook: &str) -> Fixture {
        let dir = TempDir::new().expect("temp dir");
        std::fs::write(dir.path().join("runbook.md"), runbook).expect("write the runbook");
        Fixture { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn run(&self, extra: &[&str], cols: u16, rows: u16) -> Tui {
        let (runbook, state) = (self.path("runbook.md"), self.path("state"));
        let mut args = vec!["--state-dir", state.as_str(), "run", runbook.as_str()];
        args.extend_from_slice(extra);
        Tui::spawn(&args, self.dir.path(), cols, rows)
    }

    fn journal(&self) -> PathBuf {
        let sessions = self.dir.path().join("state").join("sessions");
        let found: Vec<PathBuf> = std::fs::read_dir(&sessions)
            .expect("the sessions folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .collect();
        assert_eq!(found.len(), 1, "one journal expected in {}", sessions.display());
        found.into_iter().next().expect("a journal")
    }

    fn records(&self) -> Vec<Record> {
        let read = read_journal(&self.journal()).expect("read the journal");
        assert!(read.integrity.is_verified(), "{:?}", read.integrity);
        read.records
    }
}

fn session_id(records: &[Record]) -> String {
    match &records[0].event {
        Event::Header(h) => h.session_id.clone(),
        other => panic!("the journal starts with {other:?}"),
    }
}

/// A shell step, a SQL step, a SQL check and a manual step signed through the dialog.
#[test]
fn shell_sql_verify_and_a_signed_manual_step() {
    let db = ScratchDb::create("ui_pty");
    let fixture = Fixture::new(&format!(
        r#"+++
title = "UI end to end"
[environments.development]
database = "{url}"
estimate = "10m"
+++
# UI end to end

## Development

### Execution

1. Say hello
   ```sh
   echo "hello from the shell $((40 + 2))"; echo a warning >&2
   ```
2. Create the table
   ```sql
   CREATE TABLE ui_e2e (id int);
   INSERT INTO ui_e2e VALUES (1);
   ```
3. The table has one row
   ```sql {{verify}}
   SELECT count(*) = 1 FROM ui_e2e;
   ```
4. Tell the team
"#,
        url = db.url
    ));
    let mut tui = fixture.run(&[], 120, 40);
    tui.wait_text("Checklist 0/4");
    tui.wait_text("LIVE");
    tui.keys("r");
    tui.wait_text("Waits for sign-off");
    tui.wait_text("✓ PASS The table has one row");

    // A resize redraws; below 60x20 a notice replaces the panes.
    tui.resize(60, 20);
    tui.wait("the 60x20 checklist", |s| {
        s.contents().contains("Checklist 3/4") && s.size() == (nz(20), nz(60))
    });
    tui.resize(50, 15);
    tui.wait_text("Terminal too small");
    tui.resize(120, 40);
    tui.wait_text("Checklist 3/4");

    // The mouse: a click on the first step selects it and shows its output.
    let (x, y) = find(&tui, "Say hello");
    tui.send(format!("\x1b[<0;{};{}M\x1b[<0;{};{}m", x + 1, y + 1, x + 1, y + 1).as_bytes());
    tui.wait_text("hello from the shell 42");

    tui.keys("s");
    tui.wait_text("Ctrl+S sign");
    tui.keys("\tDBA\tchecked the table\rline two");
    tui.send(b"\x13");
    tui.wait_text("SESSION COMPLETED");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    tui.assert_terminal_restored();

    let records = fixture.records();
    let signed = records.iter().find_map(|r| match &r.event {
        Event::SignedOff { signature, .. } => Some(signature.clone()),
        _ => None,
    });
    let signature = signed.expect("a sign-off in the journal");
    assert_eq!(signature.who, "tester");
    assert_eq!(signature.role, "DBA");
    assert_eq!(signature.note, "checked the table\nline two");
    assert!(!signature.preapproved);
    assert!(
        records
            .iter()
            .any(|r| matches!(&r.event, Event::Verification { passed: true, .. }))
    );
    assert_eq!(db.query("SELECT count(*) FROM ui_e2e"), vec!["1"]);
}

/// Where `text` is on the screen (column, row), 0-based.
fn find(tui: &Tui, text: &str) -> (u16, u16) {
    let screen = tui.screen();
    for (y, line) in screen.lines().enumerate() {
        if let Some(at) = line.find(text) {
            return (line[..at].chars().count() as u16, y as u16);
        }
    }
    panic!("{text:?} is not on the screen:\n{screen}");
}

/// Quitting mid-step asks, detaches (the step is interrupted), and the
/// session resumes where it stopped.
#[test]
fn quit_mid_step_then_resume() {
    let fixture = Fixture::new(
        r#"# Resume

## Development

### Execution

1. Slow the first time
   ```sh
   if [ -f marker ]; then echo "second $((1 + 2))"; else touch marker; echo "first $((1 + 1))"; sleep 60; fi
   ```
2. Afterwards
   ```sh
   echo afterwards
   ```
"#,
    );
    let mut tui = fixture.run(&[], 120, 40);
    tui.wait_text("Checklist 0/2");
    tui.keys("r");
    // The output, not the script in the step's text.
    tui.wait_text("first 2");
    tui.keys("q");
    tui.wait_text("Quit?");
    tui.keys("y");
    assert_eq!(tui.exit_code(), 1, "an unfinished session exits 1");
    tui.assert_terminal_restored();
    let records = fixture.records();
    assert!(
        records
            .iter()
            .any(|r| matches!(r.event, Event::StepInterrupted { .. }))
    );
    assert!(matches!(
        records.last().map(|r| &r.event),
        Some(Event::Detached { .. })
    ));
    let id = session_id(&records);
    drop(tui);

    let mut tui = fixture.run(&["--resume", &id], 120, 40);
    tui.wait_text("interrupted");
    tui.keys("R");
    tui.wait_text("SESSION COMPLETED");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    tui.assert_terminal_restored();
    let records = fixture.records();
    assert!(
        records.iter().any(
            |r| matches!(&r.event, Event::Output { lines, .. } if lines.iter().any(|l| l == "second 3"))
        )
    );
}

/// SIGTERM and SIGINT detach the session and restore the terminal (SIGHUP
/// does not stop it: tests/detach.rs).
#[test]
fn termination_signals_detach_and_restore_the_terminal() {
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGINT,
    ] {
        let fixture = Fixture::new(
            "# Signals\n\n## Development\n\n### Execution\n\n1. Wait\n   ```sh\n   echo \"started $((6 * 7))\"; sleep 60\n   ```\n",
        );
        let mut tui = fixture.run(&[], 100, 30);
        tui.keys("r");
        tui.wait_text("started 42");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(tui.pid()), signal).expect("send the signal");
        assert_eq!(
            tui.exit_code(),
            128 + signal as u32,
            "{signal}: a session stopped by a signal exits 128 + its number"
        );
        tui.assert_terminal_restored();
        let records = fixture.records();
        assert!(
            records
                .iter()
                .any(|r| matches!(r.event, Event::StepInterrupted { .. })),
            "{signal}"
        );
        assert!(
            matches!(records.last().map(|r| &r.event), Some(Event::Detached { .. })),
            "{signal}"
        );
    }
}

/// A step printing a million lines (in ten bursts, so the flood lasts long
/// enough to press keys into it): keys are answered while it floods,
/// memory stays bounded, and the old output is searchable from the journal.
#[test]
fn a_million_lines_leave_the_keys_answered_and_memory_bounded() {
    let fixture = Fixture::new(
        "# Flood\n\n## Development\n\n### Execution\n\n1. Flood\n   ```sh\n   \
         for i in $(seq 0 9); do seq $((i * 100000 + 1)) $(((i + 1) * 100000)); sleep 0.2; done\n   ```\n",
    );
    let mut tui = fixture.run(&[], 120, 40);
    tui.wait_text("Checklist 0/1");
    tui.keys("r");
    tui.wait_text("following");
    let mut latencies = Vec::new();
    let mut during_flood = 0;
    // Open and close the help while the output streams in.
    for _ in 0..5 {
        tui.keys("?");
        latencies.push(tui.wait("the help overlay", |s| s.contents().contains("Keys · ↑↓ scroll")));
        let running = tui.screen().contains("running");
        tui.send(b"\x1b");
        tui.wait("the help closed", |s| !s.contents().contains("Keys · ↑↓ scroll"));
        if running {
            during_flood += 1;
        }
    }
    println!("help overlay latency under the flood: {latencies:?} ({during_flood} of 5 while running)");
    assert!(during_flood > 0, "the flood ended before a key could be tried");
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(1)),
        "keys answered too slowly: {latencies:?}"
    );

    tui.wait_text("1,000,000 lines");
    tui.wait_text("SESSION COMPLETED");
    // The first lines left memory long ago: a search reads them back from the journal.
    tui.keys("/77777\r");
    tui.wait("the match read back", |s| {
        s.contents().contains("77777") && s.contents().contains("paused")
    });
    let hwm = vm_hwm_kb(tui.pid());
    println!("peak resident memory (VmHWM): {} MB", hwm / 1024);
    assert!(hwm < 200 * 1024, "VmHWM {hwm} kB");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    tui.assert_terminal_restored();
}

/// Production's execution cannot start without three backups made in the
/// session and the environment's name typed: through the real TUI.
#[test]
fn production_needs_three_backups_and_its_name_typed_before_execution() {
    let backup =
        |n: u32| format!("{n}. Backup {n}\n   ```sh {{backup readonly}}\n   echo backup {n}\n   ```\n");
    let runbook = |backups: u32| {
        format!(
            "+++\n[environments.production]\nconfirm = true\nmin_backups = 3\n+++\n# Guarded\n\n## Production\n\n### Preparation\n\n{}\n### Execution\n\n1. Change production\n   ```sh\n   touch changed.txt\n   ```\n",
            (1..=backups).map(backup).collect::<String>()
        )
    };
    let fixture = Fixture::new(&runbook(2));
    let changed = fixture.dir.path().join("changed.txt");

    // Two backups: the gate fails and nothing changes.
    let mut tui = fixture.run(&["--new"], 120, 40);
    tui.wait_text("Checklist 0/4");
    tui.keys("r");
    tui.wait_text("2 of 3 required backups");
    assert!(!changed.exists(), "execution must not start");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 1);
    tui.assert_terminal_restored();

    // Three backups: the gate passes, then the name must be typed.
    std::fs::write(fixture.dir.path().join("runbook.md"), runbook(3)).expect("rewrite the runbook");
    let mut tui = fixture.run(&["--new"], 120, 40);
    tui.wait_text("Checklist 0/5");
    // The run stops at the guard and asks at once.
    tui.keys("r");
    tui.wait_text("PRODUCTION GUARD");
    tui.wait_text("Checklist 4/5");
    assert!(!changed.exists(), "nothing changes before the name is typed");
    tui.keys("prod\r");
    tui.wait_text("not the environment name");
    assert!(!changed.exists(), "a wrong name changes nothing");
    // Esc closes the guard; r opens it afresh.
    tui.send(b"\x1b");
    tui.wait("the guard closed", |s| !s.contents().contains("PRODUCTION GUARD"));
    tui.keys("r");
    tui.wait_text("PRODUCTION GUARD");
    tui.keys("production\r");
    tui.wait_text("SESSION COMPLETED");
    assert!(changed.exists(), "execution ran once confirmed");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    tui.assert_terminal_restored();
}

/// A runbook with no environment section runs as it is: `runsheet run
/// FILE` opens the checklist of its one implicit environment, a prompted
/// console block runs its command, a sub-step runs after its parent, and
/// the manual step is signed to the end.
#[test]
fn a_runbook_without_environments_opens_its_checklist() {
    let fixture = Fixture::new(
        r#"---
title: "Rotate the API token"
weight: 20
---

### Step 1: Check the service

```console
$ echo "status: $((200 + 0))"
status: 200
```

### Step 2: Rotate

- [ ] Write the new token
  ```bash
  echo new-token > token.txt
  ```
  - [ ] Check it is there
    ```bash
    test -s token.txt && echo "token written"
    ```
- [ ] Tell the API team
"#,
    );
    let mut tui = fixture.run(&[], 120, 40);
    tui.wait_text("Checklist 0/4");
    tui.wait_text("DEFAULT");
    tui.wait_text("Rotate the API token");
    tui.wait_text("Step 1: Check the service");
    tui.wait_text("    ○ Check it is there");
    tui.keys("r");
    tui.wait_text("Waits for sign-off");
    tui.wait_text("Checklist 3/4");
    tui.keys("s");
    tui.wait_text("Ctrl+S sign");
    tui.keys("\tAPI owner\ttold them");
    tui.send(b"\x13");
    tui.wait_text("SESSION COMPLETED");
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    tui.assert_terminal_restored();

    let records = fixture.records();
    match &records[0].event {
        Event::Header(h) => assert_eq!(h.environment, "default"),
        other => panic!("the journal starts with {other:?}"),
    }
    let started: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::StepStarted { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [
            "step-1-check-the-service.1",
            "step-2-rotate.1",
            "step-2-rotate.1.1"
        ]
    );
    let printed = records.iter().any(|r| {
        matches!(&r.event, Event::Output { lines, .. } if lines.iter().any(|l| l.contains("status: 200")))
    });
    assert!(printed, "the prompted command ran");
}
