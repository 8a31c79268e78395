//! What the benchmarks share: a session header for a plan-less session.

use runsheet::journal::event::{FORMAT_VERSION, Header, Mode};
use runsheet::runbook::plan::Plan;

/// The header of a dry-run session `id` with an empty plan.
pub fn header(id: &str) -> Header {
    Header {
        format: FORMAT_VERSION,
        session_id: id.into(),
        runbook_path: "runbooks/bench.md".into(),
        runbook_sha256: "0".repeat(64),
        environment: "development".into(),
        mode: Mode::DryRun,
        operator: "bench".into(),
        host: "bench".into(),
        seat: None,
        runsheet_version: env!("CARGO_PKG_VERSION").into(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan: Plan {
            runbook_title: "bench".into(),
            environment: "development".into(),
            phases: vec![],
            signoffs: 1,
            ..Plan::default()
        },
        team_journal: None,
    }
}
