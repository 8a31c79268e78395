//! Production runs phase by phase: with `hold = "phase"` a session stops
//! after each phase's verification until an operator confirms going on.
//! The real binary, the real server, a real pty; killed with SIGKILL at a
//! hold, the resumed session still waits there.

mod common;

use common::ScratchDb;
use common::runsheet::{Fixture, text};
use runsheet::journal::event::{Event, Record};
use runsheet::journal::reader::read_journal;
use runsheet::session::Next;

/// Two phases on `url`, each a change and its verification, held after each.
fn runbook(url: &str) -> String {
    format!(
        r#"+++
title = "Held"
[environments.production]
database = "{url}"
hold = "phase"
+++
# Held

## Production

### Phase 1

1. Create the first table
   ```sql
   CREATE TABLE first_phase (id int);
   ```
2. Check the first table
   ```sql {{verify}}
   SELECT count(*) = 0 FROM first_phase;
   ```

### Phase 2

1. Create the second table
   ```sql
   CREATE TABLE second_phase (id int);
   ```
2. Check the second table
   ```sql {{verify}}
   SELECT count(*) = 0 FROM second_phase;
   ```
"#
    )
}

fn tables(db: &ScratchDb) -> Vec<String> {
    db.query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
}

fn records(fx: &Fixture) -> Vec<Record> {
    read_journal(&fx.journal()).expect("journal").records
}

fn holds_reached(records: &[Record]) -> usize {
    records
        .iter()
        .filter(|r| matches!(r.event, Event::HoldReached { .. }))
        .count()
}

#[test]
fn headless_stops_at_a_hold_and_goes_on_only_with_a_decision_given_in_advance() {
    let db = ScratchDb::create("hold_headless");
    let fx = Fixture::new(&runbook(&db.url));
    let out = fx.run(&[]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("--approve hold"), "the flag that goes on: {said}");
    assert_eq!(tables(&db), ["first_phase"], "phase 2 did not start");
    assert_eq!(holds_reached(&records(&fx)), 1);

    let id = fx.state().header.session_id;
    let out = fx.run(&["--resume", &id, "--approve", "hold"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(tables(&db), ["first_phase", "second_phase"]);
    let state = fx.state();
    let [hold] = state.holds.as_slice() else {
        panic!("one hold: {:?}", state.holds)
    };
    let released = hold.released.as_ref().expect("released");
    assert!(released.preapproved, "recorded as pre-approved");
    assert_eq!(hold.after, "production.phase-1.2");

    for format in ["md", "json"] {
        let report = fx
            .command(&["report", &id, "--format", format])
            .output()
            .expect("report");
        let shown = text(&report);
        assert!(
            shown.contains("pre-approved on the command line") || shown.contains("\"preapproved\": true"),
            "{format}: {shown}"
        );
    }
}

#[test]
fn a_hold_in_the_checklist_waits_and_still_waits_after_sigkill_and_resume() {
    let db = ScratchDb::create("hold_tui");
    let fx = Fixture::new(&runbook(&db.url));
    let mut tui = fx.checklist(&[], 120, 40);
    tui.wait_text("Checklist");
    tui.keys("r");
    tui.wait_text("go on to the next phase");
    assert_eq!(tables(&db), ["first_phase"]);
    assert_eq!(holds_reached(&records(&fx)), 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tui.pid()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL");
    let _ = tui.exit_code();
    drop(tui);

    let id = fx.state().header.session_id;
    let mut tui = fx.checklist(&["--resume", &id], 120, 40);
    tui.wait_text("go on to the next phase");
    // It waits: nothing of phase 2 starts by itself after the crash.
    let journal = records(&fx).len();
    assert_eq!(tables(&db), ["first_phase"]);
    let resumed = fx.state();
    assert!(resumed.holds.iter().all(|h| h.released.is_none()));
    assert!(
        matches!(resumed.next(), Next::Hold { step, .. } if step.id == "production.phase-2.1"),
        "the resumed session is still at the hold: {:?}",
        resumed.next()
    );
    // The operator's run key is the confirmation.
    tui.keys("r");
    tui.wait_text("SESSION COMPLETED");
    assert_eq!(tables(&db), ["first_phase", "second_phase"]);
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0, "{}", tui.screen());
    let after = records(&fx);
    assert!(after.len() > journal);
    let released: Vec<_> = after
        .iter()
        .filter_map(|r| match &r.event {
            Event::HoldReleased { who, preapproved, .. } => Some((who.clone(), *preapproved)),
            _ => None,
        })
        .collect();
    assert_eq!(
        released,
        [("tester".to_string(), false)],
        "confirmed in person, once"
    );
}
