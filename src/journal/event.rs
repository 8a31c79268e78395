//! The events a session is made of. One event per journal line.
//!
//! The JSON shape of these types is the journal format (documented in
//! `docs/journal.md`); change it only by adding optional fields.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runbook::plan::Plan;

/// Journal format version written in every header. Format 2 added the
/// `run` and `pause` events; a format 1 journal is a format 2 journal without
/// them and folds as it always did.
pub const FORMAT_VERSION: u32 = 2;

/// Live run, or a dry run whose SQL is rolled back and which never counts as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Live,
    DryRun,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::DryRun => "DRY-RUN",
        }
    }
}

/// The first line of every journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub session_id: String,
    pub runbook_path: String,
    pub runbook_sha256: String,
    pub environment: String,
    pub mode: Mode,
    pub operator: String,
    pub host: String,
    pub runsheet_version: String,
    /// A step filter (`--only`), when the session runs part of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
    /// The plan as it was when the session started.
    pub plan: Plan,
}

/// Which stream an output line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
    /// runsheet's own notes about the step (SQL statements run, notices, skips).
    Info,
    /// Server notices (SQL) and warnings.
    Notice,
    /// Errors reported about the step (SQL errors with SQLSTATE, spawn failures).
    Error,
}

impl Stream {
    /// The stream's short name, as log lines and reports are prefixed with it.
    pub fn label(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Info => "info",
            Stream::Notice => "notice",
            Stream::Error => "error",
        }
    }
}

/// How an attempt of an automated step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
}

impl Outcome {
    /// The outcome in words.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed out",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// What a verification observed: rows of a query, or output of a command.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Observed {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Free text (a shell check's last output lines), when not a table.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

impl Observed {
    /// What a check observed, in one line: its text, or its first
    /// `max_rows` rows as `column=value` pairs.
    pub fn summary(&self, max_rows: usize) -> String {
        if !self.text.is_empty() {
            return self.text.lines().collect::<Vec<_>>().join(" / ");
        }
        if self.rows.is_empty() {
            return "no rows".to_string();
        }
        let mut parts: Vec<String> = self
            .rows
            .iter()
            .take(max_rows)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, cell)| match self.columns.get(i) {
                        Some(col) if !col.is_empty() => format!("{col}={cell}"),
                        _ => cell.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect();
        if self.rows.len() > max_rows {
            parts.push(format!("… {} more rows", self.rows.len() - max_rows));
        }
        parts.join("; ")
    }
}

/// A sign-off of a manual step, or of an override or interrupted step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub who: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub note: String,
    /// Given on the command line in advance (`--approve`), not signed in person.
    #[serde(default)]
    pub preapproved: bool,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionOutcome {
    Completed,
    Failed,
    Aborted,
    /// The Rollback section ran (to completion or not: see `RollbackFinished`).
    RolledBack,
}

impl SessionOutcome {
    pub fn label(self) -> &'static str {
        match self {
            SessionOutcome::Completed => "completed",
            SessionOutcome::Failed => "failed",
            SessionOutcome::Aborted => "aborted",
            SessionOutcome::RolledBack => "rolled back",
        }
    }
}

/// Everything that can happen in a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The first line.
    Header(Box<Header>),
    /// The session was opened again after a stop or crash.
    Resumed {
        operator: String,
        host: String,
        runbook_sha256: String,
        /// The runbook changed and the operator allowed it; the new plan applies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<Box<Plan>>,
        /// The session runs on at once (headless), as after a `run` event;
        /// otherwise it waits for one.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        run: bool,
    },
    /// The operator ran the session: automated steps start one after another.
    Run {
        who: String,
    },
    /// The operator paused the session: no new step starts (a running one finishes).
    Pause {
        who: String,
    },
    /// A step that was running when the session stopped; it does not re-run by itself.
    StepInterrupted {
        step: String,
        attempt: u32,
    },
    StepStarted {
        step: String,
        attempt: u32,
    },
    /// The process group a shell step's attempt runs in (its leader's
    /// pid, as `setsid` made it): a resume refuses to run anything while
    /// that group may still be alive.
    StepProcess {
        step: String,
        attempt: u32,
        pgid: i32,
    },
    /// Output of a step, batched.
    Output {
        step: String,
        attempt: u32,
        stream: Stream,
        lines: Vec<String>,
    },
    StepFinished {
        step: String,
        attempt: u32,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        duration_ms: u64,
        /// One sentence on why it failed, when it did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Verification {
        step: String,
        attempt: u32,
        name: String,
        passed: bool,
        observed: Observed,
    },
    /// A manual step is waiting for sign-off.
    AwaitingSignOff {
        step: String,
    },
    SignedOff {
        step: String,
        signature: Signature,
    },
    Skipped {
        step: String,
        who: String,
        reason: String,
    },
    /// The operator typed the environment's name before the first change.
    EnvironmentConfirmed {
        who: String,
    },
    Note {
        who: String,
        text: String,
    },
    RollbackStarted {
        who: String,
        reason: String,
    },
    RollbackFinished {
        outcome: SessionOutcome,
    },
    /// A warning raised during the session (e.g. elapsed past twice the estimate).
    Warning {
        code: String,
        message: String,
    },
    /// The operator left the session; it can be resumed.
    Detached {
        who: String,
    },
    SessionEnded {
        outcome: SessionOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl Event {
    /// Output lines are batched and flushed lazily; everything else changes
    /// state and is fsynced before anyone is told about it.
    pub fn is_durable(&self) -> bool {
        !matches!(self, Event::Output { .. })
    }

    /// The step an event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            Event::StepInterrupted { step, .. }
            | Event::StepStarted { step, .. }
            | Event::StepProcess { step, .. }
            | Event::Output { step, .. }
            | Event::StepFinished { step, .. }
            | Event::Verification { step, .. }
            | Event::AwaitingSignOff { step }
            | Event::SignedOff { step, .. }
            | Event::Skipped { step, .. } => Some(step),
            _ => None,
        }
    }
}

/// One journal line: an event with its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}
