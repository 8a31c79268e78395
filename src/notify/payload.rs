//! The notification payload (documented in `docs/notify.md`): which
//! journaled events a team hears of, and what it is told about each. Built
//! from the session's fold and the record just journaled; every text in it
//! goes through the session's redactor before it leaves the process.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::journal::event::{Event, Mode, Outcome, Record};
use crate::secrets::Redactor;
use crate::session::SessionState;

/// The payload's `version`: raised when a field changes meaning or goes away
/// (new fields may appear without it).
pub const PAYLOAD_VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The session was opened by its driver: new, or resumed (`resumed`).
    SessionStarted,
    /// An automated step's attempt failed or timed out.
    StepFailed,
    /// A manual step waits for its sign-off.
    SignoffAwaited,
    /// Every step of a phase is done (succeeded, signed off or skipped).
    PhaseDone,
    SessionEnded,
}

/// One notification, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload {
    pub version: u32,
    pub kind: Kind,
    pub session: String,
    pub runbook: RunbookRef,
    pub environment: String,
    /// `live` or `dry_run`.
    pub mode: &'static str,
    /// The session was resumed at least once (it continues an earlier run).
    pub resumed: bool,
    /// Who is at the session now.
    pub operator: String,
    pub time: DateTime<Utc>,
    /// The journal record it is about; none for `session_started`.
    pub seq: Option<u64>,
    pub step: Option<StepRef>,
    pub phase: Option<PhaseRef>,
    /// The step's attempt outcome (`failed`, `timed_out`) or the session's
    /// (`completed`, `failed`, `aborted`, `rolled_back`).
    pub outcome: Option<String>,
    /// One sentence: why the step failed, why the session ended, how many
    /// sign-offs a step awaits.
    pub message: Option<String>,
    pub progress: Progress,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunbookRef {
    pub title: String,
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseRef {
    /// 1-based, in plan order.
    pub number: usize,
    pub title: String,
}

/// Steps of the forward plan done, of all.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// Which notifications the session's records call for. Remembers the
/// phases already announced, so each is announced once.
#[derive(Debug, Default)]
pub struct Watcher {
    phases_done: BTreeSet<usize>,
}

impl Watcher {
    /// A watcher for a session whose records so far are folded in `state`:
    /// the phases done before (a resume) are not announced again.
    pub fn new(state: &SessionState) -> Watcher {
        Watcher {
            phases_done: (0..state.plan.phases.len())
                .filter(|&i| phase_complete(state, i))
                .collect(),
        }
    }

    /// The `session_started` notification of the session opened as `state`.
    pub fn started(&self, state: &SessionState, now: DateTime<Utc>) -> Payload {
        payload(state, Kind::SessionStarted, now, None)
    }

    /// The notification `record` (just folded into `state`) calls for, if any.
    pub fn on_record(&mut self, state: &SessionState, record: &Record) -> Option<Payload> {
        let of = |kind| payload(state, kind, record.ts, Some(record));
        match &record.event {
            Event::StepFinished {
                step,
                outcome: outcome @ (Outcome::Failed | Outcome::TimedOut),
                error,
                ..
            } => {
                let mut p = of(Kind::StepFailed);
                p.outcome = Some(label(outcome));
                p.message = error.clone();
                p.step = step_ref(state, step);
                Some(p)
            }
            Event::AwaitingSignOff { step } => {
                let mut p = of(Kind::SignoffAwaited);
                let (needed, have) = (state.needed_signoffs(), state.step(step).signers().len());
                p.message = Some(format!("{have} of {needed} sign-off(s) given"));
                p.step = step_ref(state, step);
                Some(p)
            }
            Event::StepFinished { step, .. }
            | Event::SignedOff { step, .. }
            | Event::Skipped { step, .. } => {
                let phase = state
                    .plan
                    .phases
                    .iter()
                    .position(|p| p.steps.iter().any(|s| s.id == *step))?;
                if !phase_complete(state, phase) || !self.phases_done.insert(phase) {
                    return None;
                }
                let mut p = of(Kind::PhaseDone);
                p.step = step_ref(state, step);
                Some(p)
            }
            Event::SessionEnded { outcome, reason } => {
                let mut p = of(Kind::SessionEnded);
                p.outcome = Some(label(outcome));
                p.message = reason.clone();
                Some(p)
            }
            _ => None,
        }
    }
}

fn phase_complete(state: &SessionState, phase: usize) -> bool {
    let (done, total) = state.phase_progress(phase);
    total > 0 && done == total
}

/// A serde enum's snake_case name (a [`Kind`] as the payload spells it).
pub(super) fn label(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn step_ref(state: &SessionState, id: &str) -> Option<StepRef> {
    let step = state
        .plan
        .steps()
        .chain(state.plan.rollback.iter())
        .find(|s| s.id == id)?;
    Some(StepRef {
        id: step.id.clone(),
        title: step.title.clone(),
    })
}

/// The fields every kind has; a step's phase where the record names a step.
fn payload(state: &SessionState, kind: Kind, time: DateTime<Utc>, record: Option<&Record>) -> Payload {
    let header = &state.header;
    let (done, total) = state.progress();
    let phase = record
        .and_then(|r| r.event.step())
        .and_then(|step| {
            state
                .plan
                .phases
                .iter()
                .enumerate()
                .find(|(_, p)| p.steps.iter().any(|s| s.id == step))
        })
        .map(|(i, p)| PhaseRef {
            number: i + 1,
            title: p.title.clone(),
        });
    Payload {
        version: PAYLOAD_VERSION,
        kind,
        session: header.session_id.clone(),
        runbook: RunbookRef {
            title: state.plan.runbook_title.clone(),
            path: header.runbook_path.clone(),
            sha256: header.runbook_sha256.clone(),
        },
        environment: header.environment.clone(),
        mode: match header.mode {
            Mode::Live => "live",
            Mode::DryRun => "dry_run",
        },
        resumed: !state.resumes.is_empty(),
        operator: state.current_operator().to_string(),
        time,
        seq: record.map(|r| r.seq),
        step: None,
        phase,
        outcome: None,
        message: None,
        progress: Progress { done, total },
    }
}

impl Payload {
    /// The payload with every text masked where it holds a secret the
    /// session knows (a step title of the real plan may name one).
    pub fn redacted(mut self, redactor: &Redactor) -> Payload {
        let mask = |s: &mut String| {
            if let Cow::Owned(masked) = redactor.redact(s) {
                *s = masked;
            }
        };
        for s in [
            &mut self.session,
            &mut self.runbook.title,
            &mut self.runbook.path,
            &mut self.environment,
            &mut self.operator,
        ] {
            mask(s);
        }
        for s in [&mut self.outcome, &mut self.message].into_iter().flatten() {
            mask(s);
        }
        if let Some(step) = &mut self.step {
            mask(&mut step.id);
            mask(&mut step.title);
        }
        if let Some(phase) = &mut self.phase {
            mask(&mut phase.title);
        }
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
