//! Promotion gates proven from saved journals.
//!
//! An environment whose front matter `requires` others may only go ahead
//! when each of them has a completed, successful, live session of the same
//! runbook content in the state directory. The evidence (and why each
//! candidate does or does not count) becomes the gate step's observed rows.
//!
//! Whether one saved session counts is decided in one place,
//! [`counts_as_evidence`]: the gate asks it about every candidate, and the
//! deployment report (`runsheet report --deployment`) asks it about every
//! session it lists, so the two can never disagree.

use std::path::Path;

use crate::journal::event::{Mode, Observed, SessionOutcome};
use crate::journal::reader::read_journal;
use crate::journal::store::{self, SessionStatus, SessionSummary};

/// What a saved session is asked to prove about its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proof {
    /// The environment's plan went well (`requires`).
    Run,
    /// The Rollback section ran to completion there (`requires_rollback_test`).
    RollbackTest,
}

impl Proof {
    /// What a session that proves it is called.
    pub fn noun(self) -> &'static str {
        match self {
            Proof::Run => "successful session",
            Proof::RollbackTest => "rollback rehearsal",
        }
    }
}

/// The columns of a gate's evidence table, in order. `target` came last
/// (journals before it have the first seven).
const EVIDENCE_COLUMNS: [&str; 8] = [
    "session", "operator", "started", "mode", "outcome", "counts", "why not", "target",
];
const SESSION_COLUMN: usize = 0;
const COUNTS_COLUMN: usize = 5;
const WHY_NOT_COLUMN: usize = 6;

/// The result of checking one gate.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCheck {
    pub passed: bool,
    /// One sentence: the session that counts, or exactly what is missing.
    pub summary: String,
    /// Every candidate session with whether it counts and why not.
    pub evidence: Observed,
}

/// Whether saved session `s` counts as `proof` for `environment`, for a
/// runbook whose content hash is `runbook_sha256`; `Err` says why not, in
/// words a gate and a report can show as they are. This is the one rule.
pub fn counts_as_evidence(
    s: &SessionSummary,
    environment: &str,
    proof: Proof,
    runbook_sha256: &str,
) -> Result<(), String> {
    if s.environment != environment {
        return Err(format!("a session of {}, not {environment}", s.environment));
    }
    if s.mode == Mode::DryRun {
        return Err("a dry run never counts as evidence".to_string());
    }
    if s.runbook_sha256 != runbook_sha256 {
        return Err(format!(
            "a different runbook (SHA-256 {})",
            s.runbook_sha256.get(..12).unwrap_or("?")
        ));
    }
    match (s.outcome, proof) {
        (SessionStatus::Ended(SessionOutcome::Completed), Proof::Run)
        | (SessionStatus::Ended(SessionOutcome::RolledBack), Proof::RollbackTest) => {
            match read_journal(&s.path) {
                Ok(read) if read.integrity.is_verified() => Ok(()),
                Ok(_) => Err("its journal's hash chain is broken".to_string()),
                Err(e) => Err(format!("its journal cannot be read: {e}")),
            }
        }
        (SessionStatus::Ended(SessionOutcome::Completed), Proof::RollbackTest) => {
            Err("the Rollback section did not run in it".to_string())
        }
        (SessionStatus::Ended(SessionOutcome::RolledBack), Proof::Run) => {
            Err("it was rolled back".to_string())
        }
        (SessionStatus::Ended(other), _) => Err(format!("it {}", other.label())),
        (SessionStatus::Detached | SessionStatus::Unfinished, _) => Err("it is unfinished".to_string()),
    }
}

/// The session a passed gate relied on: the first of its evidence rows that
/// counted (the one its summary names), read back from the table the gate
/// recorded.
pub fn relied_on(evidence: &Observed) -> Option<&str> {
    let known = evidence.columns.len() > WHY_NOT_COLUMN
        && evidence.columns.iter().zip(EVIDENCE_COLUMNS).all(|(a, b)| a == b);
    if !known {
        return None;
    }
    evidence
        .rows
        .iter()
        .find(|row| row.get(COUNTS_COLUMN).is_some_and(|c| c == "yes"))
        .and_then(|row| row.get(SESSION_COLUMN))
        .map(String::as_str)
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
    let proof = if rollback { Proof::RollbackTest } else { Proof::Run };
    let what = proof.noun();
    let mut evidence = Observed {
        columns: EVIDENCE_COLUMNS.map(String::from).to_vec(),
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
        let why_not = counts_as_evidence(s, environment, proof, runbook_sha256).err();
        let target = s.target_label();
        if why_not.is_none() && found.is_none() {
            found = Some(format!(
                "{} {} by {} on {} against {target}",
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
            target,
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
                    .map(|r| format!("{} ({})", r[SESSION_COLUMN], r[WHY_NOT_COLUMN]))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            evidence,
        },
    }
}
