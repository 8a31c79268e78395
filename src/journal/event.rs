//! The events a session is made of. One event per journal line.
//!
//! The JSON shape of these types is the journal format (documented in
//! `docs/journal.md`); change it only by adding optional fields.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::connect::Target;
use crate::runbook::plan::Plan;
use crate::seat::{Origin, Seat};

/// Journal format version written in every header. Format 2 added the
/// `run` and `pause` events, format 3 the `shell_state` event, format 4
/// the `driver_detached` and `driver_attached` events; an older journal is
/// a newer one without them and folds as it always did.
pub const FORMAT_VERSION: u32 = 4;

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
    /// The seat the session was started from (OS user, host, terminal):
    /// separation of duties keeps it from signing what it ran. Absent in
    /// journals written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Seat>,
    pub runsheet_version: String,
    /// A step filter (`--only`), when the session runs part of the plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
    /// Started to run the Rollback section only (`--rollback` on a new
    /// session): a rollback rehearsal, never a run of the plan. Absent in
    /// journals written before it was recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback_only: bool,
    /// The plan as it was when the session started.
    pub plan: Plan,
    /// Each database the plan uses, as reached before the first step.
    /// Journals written before targets were recorded have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<Target>,
    /// The team journal database the session is kept in as well
    /// (`host:port/db as user`, never a password): a resume without one is
    /// refused, so the team's copy never misses what a resume did. Absent
    /// for a session of the local file only, and in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_journal: Option<String>,
}

impl Header {
    /// What kind of session this is, in words ([`session_kind`]).
    pub fn kind(&self) -> String {
        session_kind(self.mode, self.only.as_deref(), self.rollback_only)
    }
}

/// What kind of session a header describes, as `runsheet sessions`, the
/// gates and the reports name it: `live` for a whole live run of the plan,
/// else `dry run`, `rollback` or `partial (verify only)`. Only a `live` one
/// can be evidence that the plan went well.
pub fn session_kind(mode: Mode, only: Option<&str>, rollback_only: bool) -> String {
    if mode == Mode::DryRun {
        return "dry run".to_string();
    }
    if rollback_only {
        return "rollback".to_string();
    }
    match only.map(str::trim) {
        None => "live".to_string(),
        Some("verify") => "partial (verify only)".to_string(),
        Some(filter) => match filter.split_once(':') {
            Some((kind, what)) => format!("partial ({kind} {what} only)"),
            None => format!("partial ({filter} only)"),
        },
    }
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
    /// What a SQL step waits for: a lock another backend holds (one line per
    /// change of relation or holder), and [`LOCK_WAIT_ENDED`] when it is granted.
    Lock,
}

/// How a `lock` stream line saying the wait is over begins.
pub const LOCK_WAIT_ENDED: &str = "lock wait ended";

impl Stream {
    /// The stream's short name, as log lines and reports are prefixed with it.
    pub fn label(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Info => "info",
            Stream::Notice => "notice",
            Stream::Error => "error",
            Stream::Lock => "lock",
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
            parts.push(format!(
                "… {} more",
                crate::text::plural((self.rows.len() - max_rows) as u64, "row")
            ));
        }
        parts.join("; ")
    }
}

/// What shell steps carry to the next ones, as in the operator's terminal:
/// the working directory and the exported variables. Journaled whole after
/// each step that changed it; a step's own changes have the same shape.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ShellState {
    /// The working directory; none: the runbook's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Variables exported or changed by steps, with their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Variables of runsheet's own environment that a step unset.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub unset: BTreeSet<String>,
    /// Variables carried whose values are secret: named here, their values
    /// kept in the running engine's memory only, never journaled.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub withheld: BTreeSet<String>,
}

impl ShellState {
    pub fn is_empty(&self) -> bool {
        self.cwd.is_none() && self.vars.is_empty() && self.unset.is_empty() && self.withheld.is_empty()
    }

    /// This state with one step's `changes` on top (a variable set again
    /// is no longer unset or withheld; one unset is no longer carried).
    pub fn then(&self, changes: &ShellState) -> ShellState {
        let mut out = self.clone();
        if let Some(cwd) = &changes.cwd {
            out.cwd = Some(cwd.clone());
        }
        for (name, value) in &changes.vars {
            out.unset.remove(name);
            out.withheld.remove(name);
            out.vars.insert(name.clone(), value.clone());
        }
        for name in &changes.unset {
            out.vars.remove(name);
            out.withheld.remove(name);
            out.unset.insert(name.clone());
        }
        out
    }

    /// In one line, names only: `cwd /srv/app · vars FOO, BAR · withheld
    /// API_TOKEN · unset http_proxy`; `nothing` when empty.
    pub fn summary(&self) -> String {
        let join = |names: &mut dyn Iterator<Item = &String>| {
            names.map(String::as_str).collect::<Vec<_>>().join(", ")
        };
        let mut parts = Vec::new();
        if let Some(cwd) = &self.cwd {
            parts.push(format!("cwd {cwd}"));
        }
        for (label, names) in [
            ("vars", join(&mut self.vars.keys())),
            ("withheld", join(&mut self.withheld.iter())),
            ("unset", join(&mut self.unset.iter())),
        ] {
            if !names.is_empty() {
                parts.push(format!("{label} {names}"));
            }
        }
        if parts.is_empty() {
            return "nothing".to_string();
        }
        parts.join(" · ")
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
    /// Where it was given from (OS user, host, terminal), stamped by the
    /// engine; absent in journals written before seats were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<Seat>,
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
        /// The seat it was resumed from (absent in older journals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seat: Option<Seat>,
        runbook_sha256: String,
        /// The runbook changed and the operator allowed it; the new plan applies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan: Option<Box<Plan>>,
        /// The session runs on at once (headless), as after a `run` event;
        /// otherwise it waits for one.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        run: bool,
        /// A team session's driver whose connection to the journal database
        /// was gone, taken over with `--take-over` (absent in older journals).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        taken_over_from: Option<Box<super::postgres::lock::Holder>>,
        /// The databases reached now differ from the session's and the
        /// operator allowed it (`--allow-changed-target`): these apply from here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        targets: Option<Vec<Target>>,
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
    /// The shell state a shell step leaves for the next ones; written just
    /// before the attempt's `step_finished`, and carried only once that
    /// says it succeeded.
    ShellState {
        step: String,
        attempt: u32,
        state: ShellState,
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
    /// A phase of an environment with `hold = "phase"` ended with its
    /// verification, step `after` (titled `title`): nothing more starts
    /// until an operator confirms going on.
    HoldReached {
        after: String,
        title: String,
    },
    /// An operator confirmed going on past the hold after step `after`
    /// (`preapproved`: given in advance on the command line, `--approve hold`).
    HoldReleased {
        after: String,
        who: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        preapproved: bool,
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
    /// The driver's terminal went away (SIGHUP, a closed pseudo-terminal or
    /// SSH connection): the driver goes on without a screen, a running step
    /// keeps running and manual steps wait, until a terminal attached over
    /// the control socket takes the driver's seat. Also written when that
    /// attached terminal leaves again.
    DriverDetached {
        who: String,
        /// What happened, in words: `SIGHUP received`, `the attached terminal left`.
        reason: String,
        /// The seat that went away, when it is known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seat: Option<Seat>,
    },
    /// A terminal attached over the control socket took the driver's seat
    /// of a driver whose terminal had gone away: from here it drives.
    DriverAttached {
        who: String,
        seat: Seat,
    },
    /// Written right after `SessionEnded`: the seq and hash of the line it
    /// seals. A journal whose last line is a seal was closed by runsheet;
    /// one without (an older runsheet's, a crash's) is "not sealed".
    Seal {
        sealed_seq: u64,
        sealed_hash: String,
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
            | Event::ShellState { step, .. }
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
    /// Who caused the event, from which seat: set on the events a command
    /// caused (a sign-off, a note, an abort, the steps a `run` started),
    /// absent on what the engine did by itself and in journals written
    /// before commands recorded their origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Box<Origin>>,
}
