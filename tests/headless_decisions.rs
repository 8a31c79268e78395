//! Decisions given in advance on the command line: each must name a step
//! of the run, and a `--skip` is honoured in a new session too.

mod common;

use common::runsheet::{Fixture, text};
use runsheet::journal::event::Event;
use runsheet::journal::reader::read_journal;
use runsheet::session::StepStatus;

const RUNBOOK: &str = "# Decisions\n\n## Development\n\n### Execution\n\n\
    1. Change\n   ```sh\n   echo ran > changed\n   ```\n\
    2. Look\n   Check the dashboard.\n\
    3. After\n   ```sh\n   echo after\n   ```\n";

#[test]
fn a_skip_given_for_a_new_session_skips_the_step_before_it_runs() {
    let fx = Fixture::new(RUNBOOK);
    let out = fx.run(&[
        "--skip",
        "development.execution.1=done by hand yesterday",
        "--skip",
        "development.execution.2=dashboard is down",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!fx.dir.path().join("changed").exists(), "the skipped step ran");
    let state = fx.state();
    assert_eq!(
        state.step("development.execution.1").status(),
        StepStatus::Skipped
    );
    assert_eq!(
        state.step("development.execution.2").status(),
        StepStatus::Skipped
    );
    assert_eq!(
        state.step("development.execution.3").status(),
        StepStatus::Succeeded
    );
    let records = read_journal(&fx.journal()).expect("read").records;
    let reasons: Vec<&str> = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Skipped { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, ["done by hand yesterday", "dashboard is down"]);
    assert!(
        !records.iter().any(
            |r| matches!(&r.event, Event::StepStarted { step, .. } if step == "development.execution.1")
        )
    );
}

#[test]
fn a_decision_for_a_step_the_run_does_not_have_is_refused() {
    for flags in [
        &["--skip", "development.execution.9=typo"][..],
        &["--approve", "development.executoin.2"],
        &["--retry", "nosuch"],
        &["--override", "gate.requires.nowhere=why not"],
        &["--skip", "all=everything"],
    ] {
        let fx = Fixture::new(RUNBOOK);
        let out = fx.run(flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        let step = flags[1].split('=').next().unwrap_or_default();
        assert!(
            err.contains(&format!("{} {step} names no step of this run", flags[0])),
            "{flags:?}: {err}"
        );
        assert!(
            !fx.state_dir().join("sessions").exists()
                || std::fs::read_dir(fx.state_dir().join("sessions"))
                    .expect("dir")
                    .next()
                    .is_none(),
            "{flags:?}: a session was started"
        );
    }
    // `all` stays a word for approvals and retries.
    let fx = Fixture::new(RUNBOOK);
    let out = fx.run(&["--approve", "all", "--retry", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
