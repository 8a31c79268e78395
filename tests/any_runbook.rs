//! Runbooks as teams already have them, run headless by the real binary:
//! one without environments runs as the implicit environment, one whose
//! front matter defines environments but whose body has no environment
//! section runs the same plan for each, gated as the front matter says.

mod common;

use common::runsheet::{Fixture, text};
use runsheet::journal::event::SessionOutcome;
use runsheet::session::StepStatus;

/// A release checklist as a project would keep it: every step is manual.
const CHECKLIST: &str = r#"---
title: Release checklist
params:
  owner: release-team
---

Tick these in order.

- [ ] Announce the freeze on the dev mailing list
- [ ] Tag the release candidate
  - [ ] Push the tag
- [ ] Publish the release notes {{< badge "final" >}}

## Notify the dev mailing list

1. Send the announcement
"#;

#[test]
fn an_all_manual_runbook_without_environments_completes_and_verifies() {
    let fx = Fixture::new(CHECKLIST);
    let check = fx
        .command(&["check", fx.runbook().to_str().expect("path")])
        .output()
        .expect("check");
    let shown = text(&check);
    assert!(check.status.success(), "{shown}");
    assert!(shown.contains("single implicit environment 'default'"), "{shown}");

    let out = fx.run(&["--approve", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.header.environment, "default");
    assert_eq!(
        state.outcome.as_ref().map(|(o, _)| *o),
        Some(SessionOutcome::Completed)
    );
    let ids: Vec<&str> = state.plan.steps().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["steps.1", "steps.2", "steps.3", "notify-the-dev-mailing-list.1"],
        "a nested item without commands stays its parent's text"
    );
    assert_eq!(
        state.plan.steps().nth(2).map(|s| s.title.as_str()),
        Some("Publish the release notes")
    );
    for id in ids {
        assert_eq!(state.step(id).status(), StepStatus::SignedOff, "{id}");
    }
    let verify = fx
        .command(&["verify", &state.header.session_id])
        .output()
        .expect("verify");
    assert!(verify.status.success(), "{}", text(&verify));
}

const SHARED: &str = r#"+++
title = "Rotate the signing key"
[environments.staging]
database = "none"
[environments.production]
database = "none"
requires = ["staging"]
confirm = true
+++

## Rotate

1. Generate the new key in the HSM
2. Publish the new public key
   ```sh
   echo "published for $RUNSHEET_ENV"
   ```
"#;

/// A headless production session, every decision given in advance.
const PRODUCTION: &[&str] = &[
    "--env",
    "production",
    "--approve",
    "all",
    "--confirm-env",
    "production",
];

#[test]
fn front_matter_environments_without_sections_run_the_same_plan_each() {
    let fx = Fixture::new(SHARED);
    let check = fx
        .command(&["check", fx.runbook().to_str().expect("path")])
        .output()
        .expect("check");
    assert!(
        text(&check).contains("one plan for every environment (staging, production)"),
        "{}",
        text(&check)
    );

    // Which one is for the operator to say.
    let out = fx.run(&["--approve", "all"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("choose an environment with --env: staging, production"),
        "{}",
        text(&out)
    );

    // Production first: its gate wants a staging session of this runbook.
    let out = fx.run(PRODUCTION);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.step("gate.requires.staging").status(), StepStatus::Failed);

    let out = fx.run(&["--env", "staging", "--approve", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("published for staging"), "{}", text(&out));

    let out = fx.run(PRODUCTION);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let state = fx.state();
    assert_eq!(state.header.environment, "production");
    assert_eq!(
        state.step("gate.requires.staging").status(),
        StepStatus::Succeeded
    );
    assert_eq!(state.step("rotate.2").status(), StepStatus::Succeeded);
}
