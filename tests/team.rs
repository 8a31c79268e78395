//! Team sessions through the real binary and a real journal database: where
//! the journal's URL comes from, one driver per session (the second refused
//! with who holds it), `--take-over` after SIGKILL, journaled.

mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::ScratchDb;
use common::pty::Tui;
use common::runsheet::{Fixture, text, wait_until};

use runsheet::journal::event::Event;
use runsheet::journal::reader::{Integrity, read_journal};

/// A runbook of shell steps `(id, title, script)` in one phase, with
/// `front` in its front matter.
fn runbook(front: &str, steps: &[(&str, &str, &str)]) -> String {
    let mut text = format!("+++\ntitle = \"Team\"\n{front}\n+++\n# Team\n\n## Execution\n\n");
    for (n, (id, title, script)) in steps.iter().enumerate() {
        text.push_str(&format!("{}. {title}\n   ```sh {{id={id}}}\n", n + 1));
        for line in script.lines() {
            text.push_str(&format!("   {line}\n"));
        }
        text.push_str("   ```\n");
    }
    text
}

/// A first step that runs until it is killed, and a second one.
fn long() -> String {
    runbook(
        "",
        &[
            ("long", "Hold the session", "echo holding\nsleep 120"),
            ("finish", "Finish", "echo finished"),
        ],
    )
}

/// A step that waits for the file `go` in the runbook's folder, then one
/// that changes something.
fn gated_by_file() -> String {
    runbook(
        "",
        &[
            (
                "wait",
                "Wait for the go",
                "echo waiting\nwhile [ ! -e go ]; do sleep 0.05; done",
            ),
            ("change", "Change something", "echo changed"),
        ],
    )
}

/// Steps that wait for the files `go` and then `end`.
fn watched() -> String {
    runbook(
        "",
        &[
            ("hold", "Hold until go", "while [ ! -e go ]; do sleep 0.05; done"),
            (
                "linger",
                "Linger until the end",
                "while [ ! -e end ]; do sleep 0.05; done",
            ),
        ],
    )
}

/// The session id of the fixture's (only) journal.
fn session_id(fx: &Fixture) -> String {
    let path = fx.journal();
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("journal name")
        .to_string()
}

fn journal_has(fx: &Fixture, needle: &str) -> bool {
    let dir = fx.state_dir().join("sessions");
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(|e| e.ok())
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(needle)))
    })
}

/// Start a headless driver of the fixture's runbook with the journal
/// `url`, its stderr to `stderr`, and wait until its step `first` runs.
fn start_driver(fx: &Fixture, url: &str, first: &str, stderr: Stdio) -> Child {
    let runbook = fx.runbook();
    let mut child = fx
        .command(&["run", runbook.to_str().unwrap(), "--headless", "--journal", url])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn the driver");
    let started = wait_until(Duration::from_secs(30), || {
        journal_has(fx, &format!(r#""type":"step_started","step":"{first}""#))
    });
    if !started {
        let _ = child.kill();
        panic!("the driver never started its first step");
    }
    child
}

fn records_in_db(db: &ScratchDb, session: &str) -> usize {
    db.query(&format!(
        "SELECT count(*) FROM runsheet.records WHERE session = '{session}'"
    ))[0]
        .parse()
        .unwrap()
}

#[test]
fn a_second_driver_is_refused_naming_the_holder_and_take_over_after_sigkill_is_journaled() {
    let db = ScratchDb::create("team_take_over");
    let fx = Fixture::new(&long());
    let mut first = start_driver(&fx, &db.url, "long", Stdio::null());
    let id = session_id(&fx);
    let runbook = fx.runbook();
    let rb = runbook.to_str().unwrap();
    let resume = |extra: &[&str]| {
        let mut args = vec!["run", rb, "--headless", "--resume", &id, "--journal", &db.url];
        args.extend_from_slice(extra);
        fx.command(&args).output().expect("run runsheet")
    };

    // The lock is held: refused, naming the holder and since when.
    let second = resume(&[]);
    let said = text(&second);
    assert_eq!(second.status.code(), Some(5), "{said}");
    let user = db.query("SELECT os_user FROM runsheet.drivers")[0].clone();
    for part in [
        "is being driven by tester".to_string(),
        format!("OS user {user} on {}", runsheet::seat::host_name()),
        format!("pid {}", first.id()),
        " since ".to_string(),
    ] {
        assert!(said.contains(&part), "{part:?} not in: {said}");
    }
    assert_eq!(
        db.query(&format!(
            "SELECT pid FROM runsheet.drivers WHERE session = '{id}'"
        )),
        [first.id().to_string()],
        "the refused runsheet left the holder's row alone"
    );
    let listed = || {
        let out = fx.command(&["sessions", "--journal", &db.url]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let row = table.lines().find(|l| l.starts_with(&id)).map(str::to_string);
        row.unwrap_or_else(|| panic!("{id} not listed:\n{table}"))
    };
    let host = runsheet::seat::host_name();
    let row = listed();
    assert!(row.contains("unfinished"), "{row}");
    assert!(
        row.contains(&format!("tester on {host} (pid {})", first.id())),
        "{row}"
    );

    // The driver crashes: its lock goes with its connection, its row stays.
    // Its step lives on (a resume refuses while it does); the operator
    // stops it, as the refusal says.
    first.kill().expect("SIGKILL the driver");
    let _ = first.wait();
    let read = read_journal(&fx.journal()).unwrap();
    for pgid in read.records.iter().filter_map(|r| match r.event {
        Event::StepProcess { pgid, .. } => Some(pgid),
        _ => None,
    }) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let mut stale = String::new();
    let freed = wait_until(Duration::from_secs(20), || {
        let out = resume(&[]);
        stale = text(&out);
        assert_eq!(out.status.code(), Some(5), "{stale}");
        stale.contains("--take-over")
    });
    assert!(
        freed,
        "a crashed driver's session is refused without --take-over: {stale}"
    );
    assert!(
        stale.contains("whose connection to the journal database is gone"),
        "{stale}"
    );
    let row = listed();
    assert!(
        row.contains(&format!("tester on {host}, gone (--take-over)")),
        "{row}"
    );

    // Taken over: the crashed driver is named in the journal and the session finishes.
    let taken = resume(&["--take-over", "--skip", "long=its driver crashed"]);
    assert_eq!(taken.status.code(), Some(0), "{}", text(&taken));
    let read = read_journal(&fx.journal()).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    let from = read
        .records
        .iter()
        .find_map(|r| match &r.event {
            Event::Resumed { taken_over_from, .. } => taken_over_from.clone(),
            _ => None,
        })
        .expect("a resumed event naming the driver taken over from");
    assert_eq!(from.pid, first.id());
    assert_eq!(from.origin.operator, "tester");
    assert_eq!(from.origin.seat.os_user.as_deref(), Some(user.as_str()));
    // The database has every line of the local copy, and the driver let go.
    assert_eq!(records_in_db(&db, &id), read.records.len());
    assert_eq!(
        db.query(&format!("SELECT status FROM runsheet.sessions WHERE id = '{id}'")),
        ["completed"]
    );
    assert!(db.query("SELECT session FROM runsheet.drivers").is_empty());
    let row = listed();
    assert!(row.contains("completed") && !row.contains("tester on"), "{row}");
}

/// A runbook that finishes at once, with `front` in its front matter.
fn quick(front: &str) -> String {
    runbook(front, &[("say", "Say it", "echo done")])
}

#[test]
fn the_journal_url_comes_from_the_flag_then_the_environment_then_the_front_matter() {
    let db = ScratchDb::create("team_url");
    let nowhere = "postgres://nobody@127.0.0.1:1/nowhere?connect_timeout=2";
    let sessions = || db.query("SELECT count(*) FROM runsheet.sessions")[0].clone();

    // The front matter alone.
    let fx = Fixture::new(&quick(&format!("journal = {:?}", db.url)));
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sessions(), "1");
    let id = session_id(&fx);
    assert_eq!(
        records_in_db(&db, &id),
        read_journal(&fx.journal()).unwrap().records.len()
    );

    // The environment before the front matter.
    let fx = Fixture::new(&quick(&format!("journal = {nowhere:?}")));
    let out = fx
        .command(&["run", fx.runbook().to_str().unwrap(), "--headless"])
        .env("RUNSHEET_JOURNAL_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sessions(), "2");

    // The flag before the environment.
    let out = fx
        .command(&[
            "run",
            fx.runbook().to_str().unwrap(),
            "--headless",
            "--journal",
            &db.url,
        ])
        .env("RUNSHEET_JOURNAL_URL", nowhere)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(sessions(), "3");

    // A journal database that cannot be reached: nothing starts.
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("journal database"), "{}", text(&out));
}

#[test]
fn the_journal_database_lost_mid_session_is_said_loudly_holds_the_next_change_and_loses_nothing() {
    let db = ScratchDb::create("team_outage");
    let fx = Fixture::new(&gated_by_file());
    let stderr_path = fx.dir.path().join("stderr.txt");
    let log = std::fs::File::create(&stderr_path).unwrap();
    let mut driver = start_driver(&fx, &db.url, "wait", log.into());
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let await_line = |needle: &str| {
        let seen = wait_until(Duration::from_secs(30), || journal_has(&fx, needle));
        assert!(seen, "{needle} never journaled: {}", stderr());
    };
    let id = session_id(&fx);

    // The journal database goes away and stays away.
    db.allow_connections(false);
    assert!(
        db.terminate_connections() >= 1,
        "the driver's connection was there"
    );
    assert!(
        wait_until(Duration::from_secs(15), || stderr()
            .contains("JOURNAL DATABASE AWAY")),
        "not said: {}",
        stderr()
    );
    // The running step goes on and ends; the next one changes things and waits.
    std::fs::write(fx.dir.path().join("go"), "").unwrap();
    await_line(r#""type":"step_finished","step":"wait""#);
    assert!(
        !wait_until(Duration::from_millis(1500), || journal_has(
            &fx,
            r#""step":"change""#
        )),
        "a step that changes things started while the journal database was away"
    );
    assert!(
        driver.try_wait().unwrap().is_none(),
        "the driver waits, it does not stop"
    );

    // Back: the buffered events are sent in order, then the held step runs.
    db.allow_connections(true);
    assert!(
        wait_until(Duration::from_secs(30), || driver.try_wait().unwrap().is_some()),
        "the session did not finish once the journal database was back: {}",
        stderr()
    );
    assert_eq!(driver.wait().unwrap().code(), Some(0), "{}", stderr());
    let said = stderr();
    let away = said.find("JOURNAL DATABASE AWAY").unwrap();
    let back = said
        .find("journal database back")
        .unwrap_or_else(|| panic!("not said: {said}"));
    assert!(away < back, "{said}");

    // Nothing lost: the database holds the local file's lines, byte for byte, in order.
    let local = std::fs::read_to_string(fx.journal()).unwrap();
    let stored = db.query(&format!(
        "SELECT string_agg(line, E'\\n' ORDER BY seq) || E'\\n' FROM runsheet.records WHERE session = '{id}'"
    ));
    assert_eq!(stored, [local.as_str()]);
    assert_eq!(
        read_journal(&fx.journal()).unwrap().integrity,
        Integrity::Verified
    );
    let finished = local.find(r#""type":"step_finished","step":"wait""#).unwrap();
    let change = local.find(r#""type":"step_started","step":"change""#).unwrap();
    assert!(finished < change);
    assert_eq!(
        db.query(&format!("SELECT status FROM runsheet.sessions WHERE id = '{id}'")),
        ["completed"]
    );
    // And the team journal's own chain verifies, as the database stores it.
    let verify = fx
        .command(&["verify", &id, "--journal", &db.url])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("hash chain intact, sealed"),
        "{}",
        text(&verify)
    );
}

#[test]
fn a_watcher_sees_a_step_the_driver_finished_within_a_second_and_acts_on_nothing() {
    let db = ScratchDb::create("team_watch");
    let fx = Fixture::new(&watched());
    let mut driver = start_driver(&fx, &db.url, "hold", Stdio::null());
    let id = session_id(&fx);

    // From another terminal, with nothing of the session's but the journal database.
    let elsewhere = tempfile::TempDir::new().unwrap();
    let mut watcher = Tui::spawn(
        &["watch", &id[..12], "--journal", &db.url],
        elsewhere.path(),
        120,
        30,
    );
    watcher.wait_text("WATCHING");
    watcher.wait_text("Hold until go");
    // It sees who drives, and itself, connected.
    watcher.wait_text("tester driving");
    // A key that would act on the session does nothing but say so.
    watcher.keys("s");
    watcher.wait_text("read-only: watching");

    std::fs::write(fx.dir.path().join("go"), "").unwrap();
    // The step notices `go` within 50 ms; the watcher must show it finished
    // within a second of that (LISTEN/NOTIFY, a 500 ms poll behind it).
    let seen = watcher.wait_within(Duration::from_secs(1), |s| {
        s.contents().contains("✓ Hold until go")
    });
    assert!(
        seen.is_some(),
        "the finished step was not shown within 1 s:\n{}",
        watcher.screen()
    );
    eprintln!("the watcher showed the finished step {seen:?} after its go");

    // Headless, a watcher prints the event lines as they come, until the end.
    let mut lines = fx
        .command(&["watch", &id, "--journal", &db.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(fx.dir.path().join("end"), "").unwrap();
    assert_eq!(driver.wait().unwrap().code(), Some(0));
    let printed = {
        let deadline = wait_until(Duration::from_secs(15), || lines.try_wait().unwrap().is_some());
        assert!(deadline, "the headless watcher did not end with the session");
        lines.wait_with_output().unwrap()
    };
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed));
    let out = String::from_utf8_lossy(&printed.stdout);
    for kind in [
        "session ",
        "step-finished    hold",
        "step-finished    linger",
        "session-ended",
    ] {
        assert!(out.contains(kind), "{kind:?} not in:\n{out}");
    }
    watcher.wait_text("✓ Linger until the end");
    // Nothing the watcher did reached the session: only the driver's events.
    let journal = std::fs::read_to_string(fx.journal()).unwrap();
    assert!(!journal.contains("signed_off"), "{journal}");
    watcher.keys("q");
    assert_eq!(watcher.exit_code(), 0);
    watcher.assert_terminal_restored();
}

#[test]
fn verify_checks_a_session_in_the_team_journal_like_a_file() {
    let db = ScratchDb::create("team_verify");
    let fx = Fixture::new(&runbook(
        "",
        &[("one", "One", "echo one"), ("two", "Two", "echo two")],
    ));
    let out = fx.run(&["--journal", &db.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = session_id(&fx);
    let events = records_in_db(&db, &id);
    // Listed twice, and said where: the team journal, and this machine's copy.
    let listed = fx.command(&["sessions", "--journal", &db.url]).output().unwrap();
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let (team, local) = listed
        .split_once("\nThis machine's state directory:\n")
        .unwrap_or_else(|| panic!("no local part in:\n{listed}"));
    assert!(team.starts_with("Team journal:\nID "), "{listed}");
    for part in [team, local] {
        let row = part
            .lines()
            .find(|l| l.starts_with(&id))
            .unwrap_or_else(|| panic!("{id} not in:\n{part}"));
        assert!(row.contains("completed"), "{row}");
    }
    // The local copy goes away: the team journal alone is verified.
    std::fs::remove_dir_all(fx.state_dir()).unwrap();
    let verify = || {
        fx.command(&["verify", &id[..12], "--journal", &db.url])
            .output()
            .unwrap()
    };
    let good = verify();
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    assert_eq!(
        String::from_utf8_lossy(&good.stdout).trim_end(),
        format!(
            "session {id} in the journal database {}: verified: {events} events, hash chain intact, sealed",
            runsheet::journal::postgres::JournalDb::from_url(&db.url)
                .unwrap()
                .target()
        )
    );
    // RUNSHEET_JOURNAL_URL does as well as --journal.
    let from_env = fx
        .command(&["verify", &id])
        .env("RUNSHEET_JOURNAL_URL", &db.url)
        .output()
        .unwrap();
    assert_eq!(from_env.status.code(), Some(0), "{}", text(&from_env));

    // One byte more in the line of seq 3: its hash no longer matches.
    db.execute(&format!(
        "UPDATE runsheet.records SET line = replace(line, '\"type\":', '\"type\": ') WHERE session = '{id}' AND seq = 3"
    ));
    let bad = verify();
    let said = String::from_utf8_lossy(&bad.stdout).into_owned();
    assert_eq!(bad.status.code(), Some(3), "{}", text(&bad));
    assert!(
        said.contains(&format!("session {id} in the journal database"))
            && said.contains(": seq 3 (line 4 of its local copy): integrity broken: "),
        "{said}"
    );

    let unknown = fx
        .command(&["verify", "no-such", "--journal", &db.url])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("no session 'no-such' in the journal database"),
        "{}",
        text(&unknown)
    );
}

/// A production window of two seats: a manual step needing two sign-offs,
/// then a shell step.
fn two_seats() -> String {
    "+++\ntitle = \"Two seats\"\n[environments.production]\ndatabase = \"none\"\nsignoffs = 2\n+++\n\
     # Two seats\n\n## Production\n\n### Execution\n\n1. Check the dashboards\n2. Say done\n   ```sh\n   echo done\n   ```\n"
        .to_string()
}

#[test]
fn a_driver_and_an_attached_signer_on_two_terminals_complete_a_two_signoff_window() {
    let db = ScratchDb::create("team_attach");
    let fx = Fixture::new(&two_seats());
    let mut driver = fx.checklist(
        &["--env", "production", "--operator", "Ana", "--journal", &db.url],
        150,
        40,
    );
    driver.wait_text("press s to sign");
    let id = session_id(&fx);

    // The driver signs first.
    driver.keys("s");
    driver.wait_text("Needs 2 sign-offs");
    driver.send(b"\x13"); // Ctrl+S
    driver.wait_text("signed off by Ana");
    // Its own second sign-off is refused whatever name it would type: its
    // seat has signed, and it is told where the second signer must sign.
    driver.keys("s");
    driver.wait_text("was already signed from this seat");
    assert!(
        !driver.screen().contains("Needs 2 sign-offs"),
        "no sign-off dialog opens at a seat that signed"
    );

    // Another terminal attaches, with nothing of the session's but the journal database.
    let elsewhere = tempfile::TempDir::new().unwrap();
    let mut signer = Tui::spawn(
        &["attach", &id[..12], "--operator", "Bea", "--journal", &db.url],
        elsewhere.path(),
        150,
        40,
    );
    signer.wait_text("ATTACHED");
    // Its line offers only what the runbook lets it do (here: no pause, no abort).
    signer.wait_text("s sign · m note · q leaves");
    // It is told that a step waits for its sign-off, and everyone sees it connected.
    signer.wait_text("production.execution.1 WAITS FOR YOUR SIGN-OFF");
    assert_eq!(signer.bells(), 1, "one bell for the sign-off it is awaited for");
    driver.wait_text("Bea attached");
    // What the runbook does not allow is refused by the driver, with the reason.
    signer.keys("A");
    signer.wait_text("Abort the session");
    signer.send(b"\r");
    signer.wait_text("refused: this runbook does not let attached terminals abort");
    // A row no terminal would send is refused with a reason, never skipped.
    db.execute(&submit_sql(&id, "Eve", r#"{"type": "run"}"#));
    // The attached terminal signs and adds a note; both reach the journal as Bea's.
    signer.keys("s");
    signer.wait_text("Needs 2 sign-offs");
    signer.send(b"\x13");
    signer.wait_text("the driver took it");
    driver.wait_text("signed off by Bea");
    signer.wait("the highlight to go once signed", |s| {
        !s.contents().contains("WAITS FOR YOUR SIGN-OFF")
    });
    assert_eq!(signer.bells(), 1, "no bell once it has signed");
    signer.keys("m");
    signer.keys("dashboards green from the QA desk");
    signer.send(b"\x13");
    assert!(
        wait_until(Duration::from_secs(30), || journal_has(
            &fx,
            "dashboards green from the QA desk"
        )),
        "the note never reached the journal"
    );
    signer.wait_text("the driver took it");

    // The signer leaves, and drops out of who is connected by itself.
    signer.keys("q");
    assert_eq!(signer.exit_code(), 0);
    signer.assert_terminal_restored();
    driver.wait("Bea to drop out of who is connected", |s| {
        let shown = s.contents();
        shown.contains("Ana driving") && !shown.contains("Bea attached")
    });
    // The driver runs the last step.
    let read = finish(&mut driver, &fx);
    let by = |name: &str| -> Vec<&runsheet::journal::event::Record> {
        read.records
            .iter()
            .filter(|r| r.origin.as_ref().is_some_and(|o| o.operator == name))
            .collect()
    };
    let bea = by("Bea");
    let kinds: Vec<&str> = bea
        .iter()
        .map(|r| match r.event {
            Event::SignedOff { .. } => "signed_off",
            Event::Note { .. } => "note",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["signed_off", "note"],
        "every event the attached terminal caused"
    );
    let bea_seat = &bea[0].origin.as_ref().unwrap().seat;
    let ana_seat = &by("Ana")[0].origin.as_ref().unwrap().seat;
    assert_eq!(bea_seat.host, runsheet::seat::host_name());
    assert!(
        bea_seat.os_user.is_some() && bea_seat.terminal.is_some(),
        "{bea_seat:?}"
    );
    assert_ne!(bea_seat.terminal, ana_seat.terminal, "two terminals, two seats");
    let signers: Vec<_> = read
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::SignedOff { signature, .. } => Some((signature.who.clone(), signature.seat.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        signers,
        [
            ("Ana".to_string(), Some(ana_seat.clone())),
            ("Bea".to_string(), Some(bea_seat.clone()))
        ]
    );
    assert!(matches!(
        read.records.iter().rev().nth(1).map(|r| &r.event),
        Some(Event::SessionEnded { .. })
    ));
    // Every command is settled: consumed, or refused with its reason.
    let rows = db.query(&format!(
        "SELECT seq || ' ' || operator || ' ' || (command->>'type') || ' ' || status || ' ' || coalesce(reason, '-') \
         FROM runsheet.commands WHERE session = '{id}' ORDER BY seq"
    ));
    assert_eq!(rows.len(), 4, "{rows:#?}");
    assert!(
        rows[0].starts_with("0 Bea abort refused this runbook does not let attached terminals abort"),
        "{rows:#?}"
    );
    assert!(
        rows[1].starts_with("1 Eve run refused not a request runsheet knows"),
        "{rows:#?}"
    );
    assert_eq!(rows[2], "2 Bea sign_off consumed -");
    assert_eq!(rows[3], "3 Bea note consumed -");
    assert_eq!(
        db.query(&format!("SELECT status FROM runsheet.sessions WHERE id = '{id}'")),
        ["completed"]
    );
}

/// The checklist driver runs the last step, sees the session complete and
/// leaves; the journal, verified.
fn finish(driver: &mut Tui, fx: &Fixture) -> runsheet::journal::reader::ReadJournal {
    driver.keys("r");
    driver.wait_text("SESSION COMPLETED");
    driver.keys("q");
    assert_eq!(driver.exit_code(), 0);
    let read = read_journal(&fx.journal()).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    read
}

/// The SQL that submits `command` (JSON) to `session` from `operator`, as
/// an attached terminal does (numbered, announced).
fn submit_sql(session: &str, operator: &str, command: &str) -> String {
    format!(
        "WITH n AS (UPDATE runsheet.sessions SET next_command = next_command + 1 WHERE id = '{session}' \
                    RETURNING next_command - 1 AS seq) \
         INSERT INTO runsheet.commands (session, seq, operator, os_user, host, terminal, command) \
         SELECT '{session}', seq, '{operator}', 'qa', 'qa-box', '/dev/pts/9', '{command}' FROM n; \
         NOTIFY runsheet_commands, '{session} 0'"
    )
}

#[test]
fn a_command_that_arrives_while_the_driver_cannot_reach_the_journal_database_waits_for_it() {
    let db = ScratchDb::create("team_command_waits");
    let fx = Fixture::new(
        "# Waits\n\n## Execution\n\n1. Look at the dashboards\n2. After the sign-off\n   ```sh\n   echo after\n   ```\n",
    );
    let mut driver = fx.checklist(&["--operator", "Ana", "--journal", &db.url], 150, 40);
    driver.wait_text("press s to sign");
    let id = session_id(&fx);
    let status = |db: &ScratchDb| {
        db.query(&format!(
            "SELECT status FROM runsheet.commands WHERE session = '{id}'"
        ))
    };

    // A connection of our own, kept while nobody else can connect.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (client, conn) = rt
        .block_on(tokio_postgres::connect(&db.url, tokio_postgres::NoTls))
        .unwrap();
    rt.spawn(conn);
    db.allow_connections(false);
    rt.block_on(client.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    ))
    .unwrap();
    driver.wait_text("JOURNAL DATABASE AWAY");
    let sign = r#"{"type": "sign_off", "step": "execution.1", "role": "QA"}"#;
    rt.block_on(client.batch_execute(&submit_sql(&id, "Bea", sign)))
        .unwrap();
    // It waits in the table while the driver cannot read it.
    assert!(
        !wait_until(Duration::from_millis(2500), || {
            let journal = std::fs::read_to_string(fx.journal()).unwrap_or_default();
            journal.contains("signed_off")
        }),
        "signed without the journal database"
    );
    let pending: Vec<String> = rt
        .block_on(client.simple_query(&format!(
            "SELECT status FROM runsheet.commands WHERE session = '{id}'"
        )))
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(pending, ["pending"]);

    // Back: the driver consumes it, as Bea's, from Bea's seat.
    db.allow_connections(true);
    driver.wait_text("signed off by Bea");
    assert!(
        wait_until(Duration::from_secs(10), || status(&db) == ["consumed"]),
        "{:?}",
        status(&db)
    );
    let read = finish(&mut driver, &fx);
    let signed = read
        .records
        .iter()
        .find(|r| matches!(r.event, Event::SignedOff { .. }))
        .expect("signed");
    let origin = signed.origin.as_deref().expect("an origin");
    assert_eq!(
        (
            origin.operator.as_str(),
            origin.seat.host.as_str(),
            origin.seat.terminal.as_deref()
        ),
        ("Bea", "qa-box", Some("/dev/pts/9"))
    );
}

/// A runbook whose production requires staging, and whose steps fail
/// (exit 3) until the file `ok` exists.
fn gated_on_ok() -> String {
    common::runsheet::gated_runbook("").replace(
        "echo \"changing $RUNSHEET_ENV\"",
        "test -e ok || exit 3\n   echo \"changing $RUNSHEET_ENV\"",
    )
}

/// The promotion gates judge a team journal's session by its records, not
/// by the `runsheet.sessions` row beside them, which is no part of the hash
/// chain: a dry run whose row was changed to `live`, or a stopped run whose
/// row was changed to `completed`, proves nothing.
#[test]
fn a_gate_is_not_fooled_by_a_changed_session_row() {
    let db = ScratchDb::create("team_row_tamper");
    let fx = Fixture::new(&gated_on_ok());
    let production = |fx: &Fixture| {
        std::fs::remove_dir_all(fx.state_dir()).ok();
        fx.run(&["--env", "production", "--journal", &db.url])
    };
    std::fs::write(fx.dir.path().join("ok"), "").unwrap();
    let dry = fx.run(&["--env", "staging", "--dry-run", "--journal", &db.url]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let id = session_id(&fx);
    db.execute(&format!(
        "UPDATE runsheet.sessions SET mode = 'live' WHERE id = '{id}'"
    ));
    let out = production(&fx);
    assert_eq!(out.status.code(), Some(1), "a dry run counted: {}", text(&out));
    assert!(
        text(&out).contains("a dry run never counts as evidence"),
        "{}",
        text(&out)
    );

    db.execute(&format!("DELETE FROM runsheet.records WHERE session = '{id}'"));
    db.execute(&format!("DELETE FROM runsheet.sessions WHERE id = '{id}'"));
    std::fs::remove_file(fx.dir.path().join("ok")).unwrap();
    let failed = fx.run(&["--env", "staging", "--journal", &db.url]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let id = session_id(&fx);
    let status = db.query(&format!("SELECT status FROM runsheet.sessions WHERE id = '{id}'"));
    assert_ne!(status, ["completed"]);
    db.execute(&format!(
        "UPDATE runsheet.sessions SET status = 'completed' WHERE id = '{id}'"
    ));
    let out = production(&fx);
    assert_eq!(out.status.code(), Some(1), "a failed run counted: {}", text(&out));
    assert!(
        text(&out).contains("its session row in the team journal says completed, but its records say"),
        "{}",
        text(&out)
    );
}

/// A session in the team journal and in this machine's state directory is
/// judged by the team journal's copy when the two disagree: a local copy
/// rewritten to say a failed run completed (its chain recomputed, its anchor
/// gone) does not pass production's gate.
#[test]
fn a_rewritten_local_copy_of_a_team_session_is_not_evidence() {
    let db = ScratchDb::create("team_local_forged");
    let fx = Fixture::new(&gated_on_ok());
    let failed = fx.run(&["--env", "staging", "--journal", &db.url]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let journal = fx.journal();
    let records = read_journal(&journal).expect("journal").records;
    let (mut chain, mut line, mut forged) = (common::journals::Chain::default(), Vec::new(), Vec::new());
    let kept = records.into_iter().map(|r| r.event).filter(|e| {
        !matches!(
            e,
            Event::Detached { .. } | Event::SessionEnded { .. } | Event::Seal { .. }
        )
    });
    for event in kept.chain([Event::SessionEnded {
        outcome: runsheet::journal::event::SessionOutcome::Completed,
        reason: None,
    }]) {
        chain.encode(event, &mut line);
        forged.extend_from_slice(&line);
    }
    std::fs::write(&journal, forged).unwrap();
    std::fs::remove_file(runsheet::journal::anchor::anchor_path(&journal)).ok();
    assert_eq!(read_journal(&journal).unwrap().integrity, Integrity::Verified);
    std::fs::write(fx.dir.path().join("ok"), "").unwrap();
    let out = fx.run(&["--env", "production", "--journal", &db.url]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the forged copy counted: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("gate.requires.staging FAIL") && text(&out).contains("(it was left unfinished)"),
        "{}",
        text(&out)
    );
    // Without the team journal the forged file is all there is, and counts:
    // what a state directory holds is its writer's word (docs/journal.md).
}

/// A record line that is not JSON (a disk, a bad restore, a hand) is a
/// broken chain that `verify` names, not an error that stops every command
/// reading the team journal: `sessions` still lists, and `verify` finds it.
#[test]
fn a_line_that_is_not_json_is_a_broken_chain_not_a_dead_team_journal() {
    let db = ScratchDb::create("team_not_json");
    let fx = Fixture::new(&runbook("", &[("one", "One", "echo one")]));
    let out = fx.run(&["--journal", &db.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let id = session_id(&fx);
    db.execute(&format!(
        "UPDATE runsheet.records SET line = 'not json' WHERE session = '{id}' \
         AND seq = (SELECT next_seq - 1 FROM runsheet.sessions WHERE id = '{id}')"
    ));
    let listed = fx.command(&["sessions", "--journal", &db.url]).output().unwrap();
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&id),
        "{}",
        text(&listed)
    );
    let verify = fx
        .command(&["verify", &id, "--journal", &db.url])
        .output()
        .unwrap();
    assert_eq!(verify.status.code(), Some(3), "{}", text(&verify));
    assert!(text(&verify).contains("integrity broken"), "{}", text(&verify));
}

/// A session of the team journal whose header line cannot be read counts
/// for nothing, and the other sessions still do: production's gate passes
/// on a good staging session beside a broken one.
#[test]
fn a_session_with_an_unreadable_header_leaves_the_others_evidence() {
    let db = ScratchDb::create("team_bad_header");
    let fx = Fixture::new(&gated_on_ok());
    std::fs::write(fx.dir.path().join("ok"), "").unwrap();
    let first = fx.run(&["--env", "staging", "--journal", &db.url]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let broken = session_id(&fx);
    let good = fx.run(&["--env", "staging", "--journal", &db.url]);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    db.execute(&format!(
        "UPDATE runsheet.records SET line = 'not json' WHERE session = '{broken}' AND seq = 0"
    ));
    std::fs::remove_dir_all(fx.state_dir()).unwrap();
    let out = fx.run(&["--env", "production", "--journal", &db.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("gate.requires.staging PASS"),
        "{}",
        text(&out)
    );
}

/// A team session's checklist driver (journal database `db`) running the
/// step that waits for `go`, paused so that the next step waits for
/// whoever drives; and the session id.
fn paused_team_driver(fx: &Fixture, db: &ScratchDb) -> (Tui, String) {
    let deadline = Duration::from_secs(30);
    let mut driver = fx.checklist(&["--operator", "Ana", "--journal", &db.url], 150, 40);
    driver.wait_text("Checklist 0/2");
    driver.keys("r");
    assert!(wait_until(deadline, || journal_has(fx, "waiting")));
    driver.keys("p");
    assert!(wait_until(deadline, || journal_has(fx, r#""type":"pause""#)));
    (driver, session_id(fx))
}

/// `runsheet attach` as `operator` from another machine: a state directory
/// of its own in `elsewhere`, nothing of the session's but the journal database.
fn attach_elsewhere(elsewhere: &tempfile::TempDir, id: &str, operator: &str, db: &ScratchDb) -> Tui {
    let state = elsewhere.path().join("state");
    let tui = Tui::spawn(
        &[
            "--state-dir",
            state.to_str().unwrap(),
            "attach",
            id,
            "--operator",
            operator,
            "--journal",
            &db.url,
        ],
        elsewhere.path(),
        150,
        40,
    );
    tui.wait_text("ATTACHED");
    tui
}

/// The team journal's records of `session` whose line holds every one of `needles`.
fn team_records_with(db: &ScratchDb, session: &str, needles: &[&str]) -> usize {
    let like: String = needles
        .iter()
        .map(|n| format!(" AND line LIKE '%{}%'", n.replace('\'', "''")))
        .collect();
    db.query(&format!(
        "SELECT count(*) FROM runsheet.records WHERE session = '{session}'{like}"
    ))[0]
        .parse()
        .unwrap()
}

/// The waiting step let go; the terminal holding the driver's seat starts
/// the next one itself, sees the session complete and leaves; the driver
/// ends with it.
fn release_and_drive_to_the_end(fx: &Fixture, seated: &mut Tui, driver: &mut Tui) {
    std::fs::write(fx.dir.path().join("go"), "").unwrap();
    seated.wait_text("Checklist 1/2");
    seated.keys("r");
    seated.wait_text("SESSION COMPLETED");
    seated.keys("q");
    assert_eq!(seated.exit_code(), 0, "{}", seated.screen());
    assert_eq!(driver.exit_code(), 0);
}

/// From another machine (a state directory of its own, nothing of the
/// session's but the journal database): while the driver's terminal is
/// there, taking its seat is refused with the reason; once the driver hung
/// up, the attached terminal takes the seat through a request row and
/// drives: it starts the next step itself, and the session completes.
#[test]
fn attach_from_another_machine_takes_the_seat_of_a_driver_that_hung_up() {
    let deadline = Duration::from_secs(30);
    let db = ScratchDb::create("team_pickup_elsewhere");
    let fx = Fixture::new(&gated_by_file());
    let (mut driver, id) = paused_team_driver(&fx, &db);
    let elsewhere = tempfile::TempDir::new().unwrap();
    let mut bea = attach_elsewhere(&elsewhere, &id, "Bea", &db);
    // The driver's terminal is there: the seat is not free, said with the reason.
    db.execute(&submit_sql(&id, "Eve", r#"{"type": "take_driver_seat"}"#));
    let settled = || {
        db.query(&format!(
            "SELECT operator || ' ' || (command->>'type') || ' ' || status || ' ' || coalesce(reason, '-') \
             FROM runsheet.commands WHERE session = '{id}' ORDER BY seq"
        ))
    };
    assert!(
        wait_until(deadline, || settled().first().is_some_and(|r| r.starts_with(
            "Eve take_driver_seat refused the driver's terminal is still there"
        ))),
        "{:#?}",
        settled()
    );
    bea.keys("r");
    bea.wait_text("the driver's terminal does the rest");

    driver.hang_up();
    bea.wait_text("DRIVING");
    let taken = [r#""type":"driver_attached""#, r#""who":"Bea""#];
    assert!(
        wait_until(deadline, || team_records_with(&db, &id, &taken) == 1),
        "the seat change never reached the team journal"
    );
    // Bea drives: she starts the next step herself.
    release_and_drive_to_the_end(&fx, &mut bea, &mut driver);
    assert_eq!(
        db.query(&format!("SELECT status FROM runsheet.sessions WHERE id = '{id}'")),
        ["completed"]
    );
    let rows = settled();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    assert_eq!(rows[1], "Bea take_driver_seat consumed -");
    assert_eq!(rows[2], "Bea drive consumed -");
    // Going on was Bea's, from her seat.
    let read = read_journal(&fx.journal()).unwrap();
    assert_eq!(read.integrity, Integrity::Verified);
    let ran = read
        .records
        .iter()
        .rev()
        .find(|r| matches!(r.event, Event::Run { .. }));
    assert_eq!(
        ran.and_then(|r| r.origin.as_ref()).map(|o| o.operator.as_str()),
        Some("Bea")
    );
}

/// A terminal holding the driver's seat through the journal that is killed
/// gives the seat up once it is no longer connected; another terminal takes
/// it and finishes the session.
#[test]
fn a_killed_terminal_holding_the_seat_gives_it_up() {
    let deadline = Duration::from_secs(30);
    let db = ScratchDb::create("team_pickup_killed");
    let fx = Fixture::new(&gated_by_file());
    let (mut driver, id) = paused_team_driver(&fx, &db);
    driver.hang_up();
    let elsewhere = tempfile::TempDir::new().unwrap();
    let bea = attach_elsewhere(&elsewhere, &id, "Bea", &db);
    bea.wait_text("DRIVING");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bea.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let given_up = [r#""type":"driver_detached""#, "no longer connected"];
    assert!(
        wait_until(deadline, || team_records_with(&db, &id, &given_up) == 1),
        "the killed terminal kept the driver's seat"
    );
    let mut cy = attach_elsewhere(&elsewhere, &id, "Cy", &db);
    cy.wait_text("DRIVING");
    release_and_drive_to_the_end(&fx, &mut cy, &mut driver);
    assert_eq!(team_records_with(&db, &id, &[r#""type":"driver_attached""#]), 2);
}

/// A team session resumed without its journal database is refused (what
/// the resume did would be missing from the team's copy, and no driver lock
/// would be held); with it, the session goes on in both.
#[test]
fn a_team_session_is_not_resumed_on_the_local_file_alone() {
    let db = ScratchDb::create("team_resume_local");
    let fx = Fixture::new(&runbook(
        "",
        &[
            ("check", "Check the flag", "test -e ok"),
            ("after", "After", "echo after"),
        ],
    ));
    let first = fx.run(&["--journal", &db.url]);
    assert_ne!(first.status.code(), Some(0), "{}", text(&first));
    let id = session_id(&fx);
    let before = records_in_db(&db, &id);
    std::fs::write(fx.dir.path().join("ok"), "").unwrap();

    let local = fx.run(&["--resume", &id, "--retry", "check"]);
    assert_eq!(local.status.code(), Some(2), "{}", text(&local));
    let kept_in = runsheet::journal::postgres::JournalDb::from_url(&db.url)
        .unwrap()
        .target();
    assert!(
        text(&local).contains(&format!(
            "session {id} is a team session kept in the journal database {kept_in}: resume it with --journal URL"
        )),
        "{}",
        text(&local)
    );
    let journal = read_journal(&fx.journal()).unwrap();
    assert_eq!(journal.records.len(), before, "nothing was appended locally");
    assert_eq!(records_in_db(&db, &id), before);

    let team = fx.run(&["--resume", &id, "--retry", "check", "--journal", &db.url]);
    assert_eq!(team.status.code(), Some(0), "{}", text(&team));
    assert_eq!(
        records_in_db(&db, &id),
        read_journal(&fx.journal()).unwrap().records.len()
    );
}
