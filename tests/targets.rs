//! The target is part of the record: the real binary against the real
//! server records which database a session ran against, refuses to resume
//! it against another one, and does not start at all when a database of
//! the plan cannot be reached (headless and in the checklist, on a pty).

mod common;

use common::runsheet::{Fixture, line_count, text};
use common::{ScratchDb, url_with_database};
use runsheet::journal::event::{Event, SessionOutcome};
use runsheet::journal::reader::read_journal;

/// A development plan on the database `env:TARGET_URL`: a marker command,
/// a SQL change, then a manual step (headless stops there unless approved).
const RUNBOOK: &str = r#"+++
title = "Target test"
[environments.development]
database = "env:TARGET_URL"
+++
# Target test

## Development

### Execution

1. Leave a mark
   ```sh
   touch ran-first-step
   ```
2. Create a table
   ```sql
   CREATE TABLE marks (id int);
   ```
3. Look at it by hand
"#;

/// The cluster's identifier as the server reports it.
fn system_identifier(db: &ScratchDb) -> String {
    db.query("SELECT system_identifier::text FROM pg_control_system()")
        .remove(0)
}

fn run_on(fx: &Fixture, url: &str, args: &[&str]) -> std::process::Output {
    let runbook = fx.runbook();
    let mut all = vec!["run", runbook.to_str().expect("utf-8 path"), "--headless"];
    all.extend_from_slice(args);
    fx.command(&all)
        .env("TARGET_URL", url)
        .output()
        .expect("run runsheet")
}

#[test]
fn the_record_names_the_database_in_the_header_sessions_and_every_report() {
    let db = ScratchDb::create("target_record");
    let fx = Fixture::new(RUNBOOK);
    let out = run_on(&fx, &db.url, &["--approve", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("/{} as ", db.name)),
        "{}",
        text(&out)
    );

    let state = fx.state();
    let [target] = state.header.targets.as_slice() else {
        panic!("one target expected: {:?}", state.header.targets)
    };
    assert_eq!(target.database, db.name);
    assert_eq!(target.user, db.query("SELECT current_user").remove(0));
    assert_eq!(target.server_version, db.query("SHOW server_version").remove(0));
    assert_eq!(
        target.system_identifier.as_deref(),
        Some(system_identifier(&db).as_str())
    );
    let header = std::fs::read_to_string(fx.journal()).expect("journal");
    let header = header.lines().next().expect("header line");
    assert!(!header.contains("password"), "{header}");

    let sessions = fx.command(&["sessions"]).output().expect("sessions");
    assert!(text(&sessions).contains(&target.place()), "{}", text(&sessions));
    let id = state.header.session_id.clone();
    for format in ["md", "html", "json"] {
        let report = fx
            .command(&["report", &id, "--format", format])
            .output()
            .expect("report");
        let shown = text(&report);
        assert!(report.status.success(), "{shown}");
        assert!(shown.contains(&db.name), "{format}: {shown}");
        assert!(
            shown.contains(target.system_identifier.as_deref().unwrap_or("?")),
            "{format}: {shown}"
        );
    }
}

#[test]
fn a_resume_against_another_database_is_refused_unless_allowed_and_the_change_is_journaled() {
    let first = ScratchDb::create("target_first");
    let other = ScratchDb::create("target_other");
    let fx = Fixture::new(RUNBOOK);
    let out = run_on(&fx, &first.url, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stops at the manual step: {}",
        text(&out)
    );
    let id = fx.state().header.session_id;
    let lines = line_count(&fx.journal());

    let out = run_on(&fx, &other.url, &["--resume", &id, "--approve", "all"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(
        said.contains(&first.name) && said.contains(&other.name),
        "both targets named: {said}"
    );
    assert!(said.contains("--allow-changed-target"), "{said}");
    assert_eq!(
        line_count(&fx.journal()),
        lines,
        "nothing journaled by a refused resume"
    );

    let out = run_on(
        &fx,
        &other.url,
        &["--resume", &id, "--approve", "all", "--allow-changed-target"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let read = read_journal(&fx.journal()).expect("journal");
    let changed: Vec<_> = read
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Resumed { targets: Some(t), .. } => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(changed.len(), 1, "the allowed change is journaled once");
    assert_eq!(changed[0][0].database, other.name);
    let state = fx.state();
    assert_eq!(state.outcome.map(|o| o.0), Some(SessionOutcome::Completed));
    let report = fx
        .command(&["report", &id, "--format", "md"])
        .output()
        .expect("report");
    let report = text(&report);
    assert!(
        report.contains(&first.name) && report.contains(&other.name),
        "{report}"
    );
    assert!(report.contains("target changed"), "{report}");
}

#[test]
fn a_resume_against_the_same_database_goes_on_without_a_change() {
    let db = ScratchDb::create("target_same");
    let fx = Fixture::new(RUNBOOK);
    assert_eq!(run_on(&fx, &db.url, &[]).status.code(), Some(1));
    let id = fx.state().header.session_id;
    let out = run_on(&fx, &db.url, &["--resume", &id, "--approve", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    assert!(state.resumes.iter().all(|r| r.changed_targets.is_none()));
}

/// A URL of the test server naming a database that does not exist.
fn missing_database_url() -> (String, String) {
    let name = format!("runsheet_test_missing_{}", std::process::id());
    (url_with_database(&common::server_url(), &name), name)
}

#[test]
fn an_unreachable_database_stops_a_headless_session_before_its_first_step() {
    let (url, name) = missing_database_url();
    let fx = Fixture::new(RUNBOOK);
    let out = run_on(&fx, &url, &["--approve", "all"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(
        said.contains(&format!("database \"{name}\" does not exist")),
        "the server's words: {said}"
    );
    assert!(said.contains("did not start"), "{said}");
    assert!(!fx.dir.path().join("ran-first-step").exists(), "no step ran");
    assert!(
        !fx.state_dir().join("sessions").exists(),
        "no session was recorded"
    );
}

#[test]
fn an_unreachable_database_stops_the_checklist_before_it_asks_anything() {
    let (_, name) = missing_database_url();
    // The checklist reads its database from the runbook here: the pty helper
    // passes no environment of its own.
    let url = url_with_database(&common::server_url(), &name);
    let runbook = RUNBOOK.replace("env:TARGET_URL", &url);
    let fx = Fixture::new(&runbook);
    let mut tui = fx.checklist(&[], 100, 30);
    tui.wait_text("does not exist");
    assert_eq!(tui.exit_code(), 4, "{}", tui.screen());
    let screen = tui.screen();
    assert!(screen.contains(&name), "{screen}");
    assert!(
        !screen.contains("Checklist"),
        "the checklist never opened: {screen}"
    );
    assert!(!fx.dir.path().join("ran-first-step").exists(), "no step ran");
}

#[test]
fn the_checklist_names_the_database_it_changes() {
    let db = ScratchDb::create("tui");
    let fx = Fixture::new(&RUNBOOK.replace("env:TARGET_URL", &db.url));
    let mut tui = fx.checklist(&[], 240, 40);
    tui.wait_text("Checklist");
    let place = fx.state().header.targets[0].place();
    tui.wait_text(&place);
    tui.keys("q");
    let _ = tui.exit_code();
}

/// The evidence the session's promotion gate recorded.
fn gate_evidence(state: &runsheet::session::SessionState) -> &runsheet::journal::event::Observed {
    &state
        .verifications
        .iter()
        .find(|v| v.step.starts_with("gate."))
        .expect("the gate's evidence")
        .observed
}

#[test]
fn gate_evidence_names_the_database_the_evidence_ran_against() {
    let (staging, production) = (ScratchDb::create("gate_staging"), ScratchDb::create("gate_prod"));
    let runbook = format!(
        r#"+++
title = "Gated targets"
[environments.staging]
database = "{}"
[environments.production]
database = "{}"
requires = ["staging"]
+++
# Gated targets

## Staging

1. Change staging
   ```sql
   CREATE TABLE changed (id int);
   ```

## Production

1. Change production
   ```sql
   CREATE TABLE changed (id int);
   ```
"#,
        staging.url, production.url
    );
    let fx = Fixture::new(&runbook);
    let out = fx.run(&["--env", "staging"]);
    assert!(out.status.success(), "{}", text(&out));
    let staging_place = fx.state().header.targets[0].place();
    let out = fx.run(&["--env", "production"]);
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    let gate = gate_evidence(&state);
    let column = gate
        .columns
        .iter()
        .position(|c| c == "target")
        .expect("a target column");
    assert_eq!(gate.rows[0][column], staging_place, "{:?}", gate);
    assert!(
        text(&out).contains(&format!("against {staging_place}")),
        "{}",
        text(&out)
    );
}

/// A staging plan on `staging_url` whose environment pins its cluster to
/// `pin`, and a production plan (no database) gated on staging.
fn pinned_runbook(staging_url: &str, pin: &str) -> String {
    format!(
        r#"+++
title = "Pinned cluster"
[environments.staging]
database = "{staging_url}"
system_identifier = "{pin}"
[environments.production]
database = "none"
requires = ["staging"]
+++
# Pinned cluster

## Staging

1. Change staging
   ```sql
   CREATE TABLE IF NOT EXISTS changed (id int);
   ```

## Production

1. Change production
   ```sh
   echo changing production
   ```
"#
    )
}

/// An identifier of no real cluster: the real one with its digits changed.
fn other_cluster(real: &str) -> String {
    real.chars().map(|c| if c == '9' { '1' } else { '9' }).collect()
}

#[test]
fn a_session_against_another_cluster_than_the_pinned_one_does_not_start() {
    let db = ScratchDb::create("pin_wrong");
    let real = system_identifier(&db);
    let pinned = other_cluster(&real);
    let fx = Fixture::new(&pinned_runbook(&db.url, &pinned));
    let out = fx.run(&["--env", "staging"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(said.contains(&format!("is cluster {real}")), "{said}");
    assert!(
        said.contains(&format!("pins staging to cluster {pinned}")),
        "{said}"
    );
    assert!(!fx.state_dir().join("sessions").exists(), "nothing journaled");
    assert_eq!(
        db.query("SELECT count(*) FROM pg_class WHERE relname = 'changed'"),
        ["0"],
        "nothing ran"
    );
}

/// Write the events of the saved session again as a session that recorded
/// `cluster` (no identifier with `None`) as its target's, then drop the
/// original: a whole, well-chained session that ran on another cluster.
fn recorded_elsewhere(fx: &Fixture, cluster: Option<&str>) -> String {
    use runsheet::journal::JournalSink;
    let read = read_journal(&fx.journal()).expect("journal");
    let mut events = read.records.into_iter().map(|r| r.event);
    let Some(Event::Header(mut header)) = events.next() else {
        panic!("a header first")
    };
    header.session_id = runsheet::journal::file::new_session_id();
    header.targets[0].system_identifier = cluster.map(str::to_string);
    let id = header.session_id.clone();
    std::fs::remove_file(fx.journal()).expect("remove the original");
    let mut journal = runsheet::journal::file::FileJournal::create(&fx.state_dir(), *header).expect("create");
    for event in events {
        journal.append(event).expect("append");
    }
    journal.flush().expect("flush");
    id
}

#[test]
fn a_session_on_another_cluster_or_of_none_recorded_is_no_evidence_under_a_pin() {
    let db = ScratchDb::create("pin_gate");
    let real = system_identifier(&db);
    let fx = Fixture::new(&pinned_runbook(&db.url, &real));
    let out = fx.run(&["--env", "staging"]);
    assert!(out.status.success(), "the pinned cluster runs: {}", text(&out));
    let wrong = other_cluster(&real);
    for (cluster, why) in [
        (
            Some(wrong.as_str()),
            format!("ran against cluster {wrong}, but the runbook pins staging to cluster {real}"),
        ),
        (
            None,
            format!(
                "it recorded no system identifier for {}, but the runbook pins staging to cluster {real}",
                fx.state().header.targets[0].place()
            ),
        ),
    ] {
        let id = recorded_elsewhere(&fx, cluster);
        let runbook = fx.runbook();
        let status = fx
            .command(&["status", runbook.to_str().expect("utf-8")])
            .output()
            .expect("status");
        assert!(text(&status).contains(&why), "{why:?} in {}", text(&status));
        let out = fx.run(&["--env", "production"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(&why), "{why:?} in {}", text(&out));
        let state = fx.state();
        let row = gate_evidence(&state)
            .rows
            .iter()
            .find(|r| r[0] == id)
            .expect("the session listed");
        assert_eq!(row[5], "no");
        assert_eq!(row[6], why);
        // The next round starts from the staging session again.
        std::fs::remove_file(fx.journal()).expect("drop the production session");
        assert!(fx.run(&["--env", "staging"]).status.success());
        let _ = std::fs::remove_file(fx.state_dir().join("sessions").join(format!("{id}.jsonl")));
    }
}
