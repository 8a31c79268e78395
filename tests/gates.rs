//! Promotion gates and production safeguards, proven from the journals:
//! the real binary, headless, with sessions in a temp state dir.

mod common;

use common::runsheet::{Fixture, gated_runbook as runbook, text};
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
    assert_gate_fails(&fx, "it is unfinished");
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

    // Three backups, but no typed confirmation: nothing that changes anything runs.
    let three = guarded.replace(
        "### Execution",
        "3. Backup three\n   ```sh {backup readonly}\n   echo backup 3\n   ```\n\n### Execution",
    );
    std::fs::write(fx.runbook(), three).expect("rewrite");
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("needs typed confirmation"), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.step("gate.backups").status(), StepStatus::Succeeded);
    assert_eq!(state.step("production.execution.1").status(), StepStatus::Pending);
    let id = state.header.session_id;

    // A wrong name is refused; the right one lets execution start.
    let out = fx.run(&["--resume", &id, "--confirm-env", "prod"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not the environment name"), "{}", text(&out));
    let out = fx.run(&["--resume", &id, "--confirm-env", "production"]);
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
