//! Promotion gates and production safeguards, proven from the journals:
//! the real binary, headless, with sessions in a temp state dir.

mod common;

use std::time::Duration;

use common::runsheet::{Fixture, gated_runbook as runbook, text, wait_until};
use runsheet::journal::event::SessionOutcome;
use runsheet::session::ESTIMATE_EXCEEDED;
use runsheet::session::StepStatus;

const GATE: &str = "gate.requires.staging";

fn production(fx: &Fixture, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--env", "production"];
    all.extend_from_slice(args);
    fx.run(&all)
}

fn assert_gate_fails(fx: &Fixture, why: &str) {
    let out = production(fx, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = text(&out);
    assert!(log.contains(why), "expected {why:?} in:\n{log}");
    let state = fx.state();
    assert_eq!(state.step(GATE).status(), StepStatus::Failed);
    assert_eq!(
        state.step("production.execution.1").status(),
        StepStatus::Pending,
        "nothing ran"
    );
}

#[test]
fn no_prior_session_fails_the_gate_and_says_what_is_missing() {
    let fx = Fixture::new(&runbook(""));
    assert_gate_fails(&fx, "no session of staging");
}

#[test]
fn a_dry_run_never_counts_as_evidence() {
    let fx = Fixture::new(&runbook(""));
    assert!(fx.run(&["--env", "staging", "--dry-run"]).status.success());
    assert_gate_fails(&fx, "a dry run never counts as evidence");
}

#[test]
fn a_failed_session_does_not_count() {
    let fx = Fixture::new(&runbook("").replace(
        "echo \"changing $RUNSHEET_ENV\"\n   ```\n\n## Production",
        "exit 1\n   ```\n\n## Production",
    ));
    assert_eq!(fx.run(&["--env", "staging"]).status.code(), Some(1));
    assert_gate_fails(&fx, "it was left unfinished");
}

#[test]
fn a_session_of_a_different_runbook_does_not_count() {
    let fx = Fixture::new(&runbook(""));
    assert!(fx.run(&["--env", "staging"]).status.success());
    std::fs::write(
        fx.runbook(),
        runbook("").replace("Change production", "Change production now"),
    )
    .expect("edit runbook");
    assert_gate_fails(&fx, "a different runbook");
}

#[test]
fn a_proper_session_passes_the_gate_with_its_evidence() {
    let fx = Fixture::new(&runbook(""));
    assert!(fx.run(&["--env", "staging"]).status.success());
    let staging_id = fx.state().header.session_id;
    let out = production(&fx, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.step(GATE).status(), StepStatus::Succeeded);
    let evidence = state
        .verifications
        .iter()
        .find(|v| v.step == GATE)
        .expect("evidence recorded");
    assert!(evidence.passed);
    assert_eq!(evidence.observed.rows[0][0], staging_id);
    assert_eq!(evidence.observed.rows[0][5], "yes");
    assert!(
        text(&out).contains(&staging_id),
        "the evidence is shown: {}",
        text(&out)
    );
}

#[test]
fn an_override_passes_the_gate_and_is_recorded_as_such() {
    let fx = Fixture::new(&runbook(""));
    let out = production(
        &fx,
        &[
            "--override",
            "gate.requires.staging=staging is down; CTO approved",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    let gate = state.step(GATE);
    assert_eq!(gate.status(), StepStatus::SignedOff, "overridden, not passed");
    let signature = &gate.signoffs()[0].signature;
    assert_eq!(signature.role, "override");
    assert_eq!(signature.note, "staging is down; CTO approved");
    assert!(text(&out).contains("role=\"override\""), "{}", text(&out));
}

#[test]
fn a_gate_cannot_be_skipped() {
    let fx = Fixture::new(&runbook(""));
    let out = production(&fx, &["--skip", "gate.requires.staging=in a hurry"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("a gate cannot be skipped"), "{}", text(&out));
    assert_eq!(fx.state().step(GATE).status(), StepStatus::Failed);
}

#[test]
fn production_needs_typed_confirmation_and_three_backups_made_in_the_session() {
    let guarded = r#"+++
[environments.production]
confirm = true
min_backups = 3
+++
# Guarded

## Production

### Preparation

1. Backup one
   ```sh {backup readonly}
   echo backup 1
   ```
2. Backup two
   ```sh {backup readonly}
   echo backup 2
   ```

### Execution

1. Change it
   ```sh
   echo changed
   ```
"#;
    let fx = Fixture::new(guarded);
    // Two backups: the backup gate stops execution.
    let out = fx.run(&["--confirm-env", "production"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("2 of 3 required backups"), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.step("gate.backups").status(), StepStatus::Failed);
    assert_eq!(state.step("production.execution.1").status(), StepStatus::Pending);

    let first = fx.state().header.session_id;

    // Without the name typed in advance, no new headless session starts at all.
    let three = guarded.replace(
        "### Execution",
        "3. Backup three\n   ```sh {backup readonly}\n   echo backup 3\n   ```\n\n### Execution",
    );
    std::fs::write(fx.runbook(), three).expect("rewrite");
    let journals = || {
        // Journals only: each session also keeps its lock file beside it.
        std::fs::read_dir(fx.state_dir().join("sessions"))
            .expect("sessions")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            })
            .count()
    };
    for args in [&[][..], &["--confirm-env", "prod"][..]] {
        let out = fx.run(args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("no session was started"), "{}", text(&out));
        assert_eq!(journals(), 1, "nothing was journaled");
    }
    assert!(
        text(&fx.run(&[])).contains("starts only with --confirm-env production"),
        "says which flag"
    );

    // The first session, resumed with the third backup: nothing that changes
    // anything runs before the name is typed.
    let resume = [
        "--resume",
        &first,
        "--allow-changed-runbook",
        "--retry",
        "gate.backups",
    ];
    let out = fx.run(&resume);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("needs typed confirmation"), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.step("gate.backups").status(), StepStatus::Succeeded);
    assert_eq!(state.step("production.execution.1").status(), StepStatus::Pending);
    let id = state.header.session_id;

    // A wrong name is refused; the right one, in any case, lets execution start.
    let again = |typed: &str| fx.run(&["--resume", &id, "--allow-changed-runbook", "--confirm-env", typed]);
    let out = again("prod");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not the environment name"), "{}", text(&out));
    let out = again("Production");
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.confirmed_by.as_deref(), Some("tester"));
    assert_eq!(
        state.step("production.execution.1").status(),
        StepStatus::Succeeded
    );
    assert_eq!(state.outcome.map(|o| o.0), Some(SessionOutcome::Completed));
}

#[test]
fn running_past_twice_the_estimate_raises_the_rollback_warning() {
    let fx = Fixture::new(
        "+++\n[environments.development]\nestimate = \"1s\"\n+++\n# Slow\n\n## Development\n\n### Execution\n\n1. Take longer than planned\n   ```sh\n   sleep 2.5\n   ```\n",
    );
    let out = fx.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(ESTIMATE_EXCEEDED), "{}", text(&out));
    let state = fx.state();
    let warnings: Vec<_> = state
        .warnings
        .iter()
        .filter(|w| w.code == ESTIMATE_EXCEEDED)
        .collect();
    assert_eq!(warnings.len(), 1, "raised once");
    assert!(warnings[0].message.contains("twice the estimate"));
}

/// A runbook whose production needs a successful staging session and a
/// rollback rehearsal in staging; staging has a check, so `--only verify`
/// selects something.
const REHEARSED: &str = r#"+++
title = "Rehearsed"
[environments.staging]
[environments.production]
requires = ["staging"]
requires_rollback_test = "staging"
+++
# Rehearsed

## Staging

### Execution

1. Change staging
   ```sh
   echo "changing staging"
   ```

### Verification

1. Staging looks right
   ```sh {verify}
   echo fine
   ```

## Production

### Execution

1. Change production
   ```sh
   echo "changing production"
   ```

## Rollback

1. Undo
   ```sh
   echo undo
   ```
"#;

fn status(fx: &Fixture) -> String {
    let runbook = fx.runbook();
    let out = fx
        .command(&["status", runbook.to_str().expect("utf-8")])
        .output()
        .expect("runsheet status");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `board` (what `runsheet status` printed) says `what`.
fn shows(board: &str, what: impl AsRef<str>) {
    assert!(board.contains(what.as_ref()), "{:?} in:\n{board}", what.as_ref());
}

fn sessions(fx: &Fixture) -> String {
    let out = fx.command(&["sessions"]).output().expect("runsheet sessions");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `sessions` row of session `id`.
fn row<'a>(list: &'a str, id: &str) -> &'a str {
    list.lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{list}"))
}

#[test]
fn a_partial_session_is_recorded_listed_and_refused_as_evidence() {
    let fx = Fixture::new(&runbook(""));
    // `--only` of the plan's one step: everything ran, yet it is not a whole session.
    let out = fx.run(&["--env", "staging", "--only", "step:staging.execution.1"]);
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.outcome.map(|o| o.0), Some(SessionOutcome::Completed));
    assert_eq!(state.header.kind(), "partial (step staging.execution.1 only)");
    let id = state.header.session_id;
    assert!(row(&sessions(&fx), &id).contains("partial (step staging.execution.1 only)"));
    assert_gate_fails(&fx, "ran part of the plan (--only step:staging.execution.1)");
}

#[test]
fn every_kind_of_non_evidence_is_refused_with_its_reason_and_status_says_what_next() {
    let fx = Fixture::new(REHEARSED);
    assert!(fx.run(&["--env", "staging", "--dry-run"]).status.success());
    let dry = fx.state().header.session_id;
    assert!(fx.run(&["--env", "staging", "--only", "verify"]).status.success());
    let verify_only = fx.state().header.session_id;
    assert_eq!(fx.state().header.kind(), "partial (verify only)");
    let board = status(&fx);
    shows(&board, "next: a successful session of staging");
    shows(&board, "runsheet run ");

    let out = fx.run(&["--env", "staging"]);
    assert!(out.status.success(), "{}", text(&out));
    // A completed session says what comes next.
    assert!(
        text(&out).contains("next: a rollback rehearsal of staging: runsheet run "),
        "{}",
        text(&out)
    );
    let applied = fx.state().header.session_id;
    let board = status(&fx);
    shows(&board, format!("✓ successful session: {applied}"));
    shows(&board, "next: a rollback rehearsal of staging");
    shows(&board, "--rollback=\"rollback rehearsal\"");

    let out = fx.run(&["--env", "staging", "--rollback=rollback rehearsal"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("next: staging must be re-applied after its rollback rehearsal: runsheet run "),
        "{}",
        text(&out)
    );
    let state = fx.state();
    assert!(state.header.rollback_only, "recorded in the header");
    assert_eq!(state.outcome.map(|o| o.0), Some(SessionOutcome::RolledBack));
    let rehearsal = state.header.session_id;
    let report = fx.command(&["report", &rehearsal]).output().expect("report");
    let md = String::from_utf8_lossy(&report.stdout);
    assert!(
        md.contains(
            "| Kind | **rollback** (not a whole run of the plan; never evidence that it went well) |"
        ),
        "{md}"
    );

    let list = sessions(&fx);
    assert!(row(&list, &dry).contains("dry run"), "{list}");
    assert!(
        row(&list, &verify_only).contains("partial (verify only)"),
        "{list}"
    );
    assert!(row(&list, &rehearsal).contains("rollback"), "{list}");
    assert!(row(&list, &applied).contains(" live "), "{list}");

    // The rehearsal counts as the rehearsal, but staging must be re-applied after it.
    let board = status(&fx);
    shows(&board, format!("✓ rollback rehearsal: {rehearsal}"));
    shows(
        &board,
        format!("next: staging must be re-applied after its rollback rehearsal (session {rehearsal})"),
    );
    let out = production(&fx, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let log = text(&out);
    assert!(
        log.contains("path to production: staging ✗ rehearsed ✓ → production (this session)"),
        "{log}"
    );
    for (id, why) in [
        (&dry, "a dry run never counts as evidence".to_string()),
        (&verify_only, "ran part of the plan (--only verify)".to_string()),
        (
            &rehearsal,
            "a rollback session, not a run of the plan".to_string(),
        ),
        (
            &applied,
            format!("staging was rolled back after it (session {rehearsal}): staging must be re-applied"),
        ),
    ] {
        assert!(log.contains(&format!("{id} (")), "{id} is named:\n{log}");
        assert!(log.contains(&why), "{why:?} in:\n{log}");
    }
    let refused = fx.state();
    assert_eq!(refused.step(GATE).status(), StepStatus::Failed);
    let refused = refused.header.session_id;

    // Staging again: production's gates pass on it and on the rehearsal.
    assert!(fx.run(&["--env", "staging"]).status.success());
    let again = fx.state().header.session_id;
    let board = status(&fx);
    shows(&board, format!("✓ successful session: {again}"));
    shows(
        &board,
        format!("next: session {refused} of production is left unfinished: finish it"),
    );
    shows(&board, format!("--env production --resume {refused}"));
    let out = production(&fx, &["--new"]);
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    let relied: Vec<&str> = state
        .verifications
        .iter()
        .filter(|v| v.passed)
        .filter_map(|v| runsheet::gates::relied_on(&v.observed))
        .collect();
    assert_eq!(relied, [again.as_str(), rehearsal.as_str()]);
    let board = status(&fx);
    shows(&board, "every environment is proven");
}

#[test]
fn a_rollback_started_in_the_checklist_before_the_plan_ran_is_a_rollback_session() {
    let fx = Fixture::new(REHEARSED);
    let mut tui = fx.checklist(&["--env", "staging"], 160, 40);
    tui.wait_text("Checklist");
    tui.keys("B");
    tui.wait_text("which rollback criterion");
    tui.keys("rehearsal from the checklist\r");
    assert!(
        wait_until(Duration::from_secs(20), || fx.state().outcome.is_some()),
        "the rollback ends: {}",
        tui.screen()
    );
    let state = fx.state();
    assert_eq!(
        state.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::RolledBack)
    );
    assert!(
        !state.header.rollback_only,
        "the header was written before the rollback"
    );
    assert_eq!(
        state.step("staging.execution.1").status(),
        StepStatus::Pending,
        "nothing of the plan ran"
    );
    tui.keys("q");
    let _ = tui.exit_code();

    let id = state.header.session_id;
    let list = sessions(&fx);
    assert!(row(&list, &id).contains("rollback"), "{list}");
    assert!(!row(&list, &id).contains("live"), "{list}");
    // The one evidence rule: a rehearsal, never a run of the plan.
    let board = status(&fx);
    shows(&board, format!("✓ rollback rehearsal: {id}"));
    let saved = runsheet::journal::store::list_sessions(&fx.state_dir())
        .expect("sessions")
        .sessions;
    let sha = saved[0].runbook_sha256.clone();
    let rule = |proof| runsheet::gates::counts_as_evidence(&saved[0], &saved, "staging", None, proof, &sha);
    assert_eq!(
        rule(runsheet::gates::Proof::Run),
        Err("a rollback session, not a run of the plan".to_string())
    );
    assert_eq!(rule(runsheet::gates::Proof::RollbackTest), Ok(()));
}

/// `runsheet status RUNBOOK ARGS…` as printed.
fn status_with(fx: &Fixture, args: &[&str]) -> String {
    let runbook = fx.runbook();
    let mut all = vec!["status", runbook.to_str().expect("utf-8")];
    all.extend_from_slice(args);
    let out = fx.command(&all).output().expect("runsheet status");
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_team_journal_is_evidence_for_status_and_gates_on_another_machine() {
    let db = common::ScratchDb::create("gates_team");
    // Staging runs on one operator's machine, kept in the team journal.
    let staging_machine = Fixture::new(&runbook(""));
    let out = staging_machine.run(&["--env", "staging", "--journal", &db.url]);
    assert!(out.status.success(), "{}", text(&out));
    let staging_id = staging_machine.state().header.session_id;

    // Production's operator has no local copy of it: only the team journal proves it.
    let production_machine = Fixture::new(&runbook(""));
    shows(
        &status(&production_machine),
        "staging\n  ✗ no successful session counts",
    );
    let board = status_with(&production_machine, &["--journal", &db.url]);
    shows(
        &board,
        format!("staging\n  ✓ successful session: {staging_id} by tester"),
    );
    shows(&board, "next: a successful session of production");
    let out = production_machine.run(&["--env", "production", "--journal", &db.url]);
    assert!(out.status.success(), "{}", text(&out));
    let state = production_machine.state();
    assert_eq!(state.step(GATE).status(), StepStatus::Succeeded);
    let evidence = state
        .verifications
        .iter()
        .find(|v| v.step == GATE)
        .expect("evidence");
    assert_eq!(evidence.observed.rows[0][0], staging_id);
    assert_eq!(evidence.observed.rows[0][5], "yes");

    // Its chain, edited in the database, no longer counts: the same rule, the same words.
    db.execute(&format!(
        "UPDATE runsheet.records SET line = replace(line, '\"type\":', '\"type\": ') WHERE session = '{staging_id}' AND seq = 2"
    ));
    let board = status_with(&production_machine, &["--journal", &db.url]);
    shows(
        &board,
        format!(
            "· {staging_id} (live, completed): does not count: its hash chain in the team journal is broken at seq 2"
        ),
    );
    let fresh = Fixture::new(&runbook(""));
    let out = fresh.run(&["--env", "production", "--journal", &db.url]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("its hash chain in the team journal is broken at seq 2"),
        "{}",
        text(&out)
    );

    // The runbook's front matter names the team journal as well as --journal does.
    let named = runbook("").replace(
        "title = \"Gated\"",
        &format!("title = \"Gated\"\njournal = \"{}\"", db.url),
    );
    let (staging_machine, production_machine) = (Fixture::new(&named), Fixture::new(&named));
    let out = staging_machine.run(&["--env", "staging"]);
    assert!(out.status.success(), "{}", text(&out));
    let staging_id = staging_machine.state().header.session_id;
    shows(
        &status(&production_machine),
        format!("staging\n  ✓ successful session: {staging_id} by tester"),
    );
}
