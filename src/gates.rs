//! Promotion gates proven from saved journals.
//!
//! An environment whose front matter `requires` others may only go ahead
//! when each of them has a completed, successful, live session of the same
//! runbook content in the state directory. The evidence (and why each
//! candidate does or does not count) becomes the gate step's observed rows.

use std::path::Path;

use crate::journal::event::{Mode, Observed, SessionOutcome};
use crate::journal::reader::read_journal;
use crate::journal::store::{self, SessionStatus};

/// The result of checking one gate.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCheck {
    pub passed: bool,
    /// One sentence: the session that counts, or exactly what is missing.
    pub summary: String,
    /// Every candidate session with whether it counts and why not.
    pub evidence: Observed,
}

/// Check for a session of `environment` that proves this runbook went well
/// there (or, with `rollback`, that its Rollback section ran to completion).
pub fn check_session_gate(
    state_dir: &Path,
    environment: &str,
    rollback: bool,
    runbook_sha256: &str,
    current_session: &str,
) -> GateCheck {
    let what = if rollback {
        "rollback rehearsal"
    } else {
        "successful session"
    };
    let mut evidence = Observed {
        columns: [
            "session", "operator", "started", "mode", "outcome", "counts", "why not",
        ]
        .map(String::from)
        .to_vec(),
        ..Observed::default()
    };
    let list = match store::list_sessions(state_dir) {
        Ok(list) => list,
        Err(e) => {
            return GateCheck {
                passed: false,
                summary: format!("cannot read saved sessions: {e}"),
                evidence,
            };
        }
    };
    let mut found: Option<String> = None;
    for s in list
        .sessions
        .iter()
        .filter(|s| s.environment == environment && s.id != current_session)
    {
        let why_not = if s.mode == Mode::DryRun {
            Some("a dry run never counts as evidence".to_string())
        } else if s.runbook_sha256 != runbook_sha256 {
            Some(format!(
                "a different runbook (SHA-256 {})",
                s.runbook_sha256.get(..12).unwrap_or("?")
            ))
        } else {
            match (s.outcome, rollback) {
                (SessionStatus::Ended(SessionOutcome::Completed), false)
                | (SessionStatus::Ended(SessionOutcome::RolledBack), true) => match read_journal(&s.path) {
                    Ok(read) if read.integrity.is_verified() => None,
                    Ok(_) => Some("its journal's hash chain is broken".to_string()),
                    Err(e) => Some(format!("its journal cannot be read: {e}")),
                },
                (SessionStatus::Ended(SessionOutcome::Completed), true) => {
                    Some("the Rollback section did not run in it".to_string())
                }
                (SessionStatus::Ended(SessionOutcome::RolledBack), false) => {
                    Some("it was rolled back".to_string())
                }
                (SessionStatus::Ended(other), _) => Some(format!("it {}", other.label())),
                (SessionStatus::Detached | SessionStatus::Unfinished, _) => {
                    Some("it is unfinished".to_string())
                }
            }
        };
        if why_not.is_none() && found.is_none() {
            found = Some(format!(
                "{} {} by {} on {}",
                what,
                s.id,
                s.operator,
                s.started.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        evidence.rows.push(vec![
            s.id.clone(),
            s.operator.clone(),
            s.started.format("%Y-%m-%d %H:%M:%S").to_string(),
            s.mode.label().to_string(),
            s.outcome.label().to_string(),
            if why_not.is_none() { "yes" } else { "no" }.to_string(),
            why_not.unwrap_or_default(),
        ]);
    }
    match found {
        Some(summary) => GateCheck {
            passed: true,
            summary: format!("{environment}: {summary}"),
            evidence,
        },
        None if evidence.rows.is_empty() => GateCheck {
            passed: false,
            summary: format!(
                "no session of {environment} in {}: run this runbook in {environment} first",
                state_dir.display()
            ),
            evidence,
        },
        None => GateCheck {
            passed: false,
            summary: format!(
                "none of the {} session(s) of {environment} counts as a {what}: {}",
                evidence.rows.len(),
                evidence
                    .rows
                    .iter()
                    .map(|r| format!("{} ({})", r[0], r[6]))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            evidence,
        },
    }
}
