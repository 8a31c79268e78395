//! The engine's own transitions, pure: what happens when nothing runs,
//! when a command was accepted, when a step prints or exits, and when a
//! timer goes off, as [`Effect`]s for the engine to perform.
//!
//! Time is an input and timers are effects: the engine sets the timers it
//! is asked to and feeds them back when they go off, so a step's timeout and
//! the estimate warning are transitions like any other, tested without a
//! clock. The engine ([`crate::engine::runner::Engine`]) is the
//! thin driver: it journals, spawns, stops and sleeps, and reports back.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::fold::{ESTIMATE_EXCEEDED, Next, SessionState, StepStatus};
use super::protocol::Command;
use super::rules::{self, next_attempt};
use crate::journal::event::{Event, Observed, Outcome, SessionOutcome, ShellState, Stream};
use crate::runbook::duration::format_estimate;
use crate::runbook::model::{Gate, Step, StepKind};
use crate::text::duration;

/// Shell steps and SQL statements run at most this long unless `{timeout=…}` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How one attempt of an automated step ended, whatever ran it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResult {
    pub outcome: Outcome,
    pub exit_code: Option<i32>,
    /// One sentence on why it did not succeed.
    pub error: Option<String>,
    /// What a check saw (its rows, or a shell check's last lines).
    pub observed: Option<Observed>,
    /// Whether a check passed; `None` for a step that is not a check.
    pub passed: Option<bool>,
    /// What a shell step changed of the shell state (exports, working
    /// directory), when its shell reported it.
    pub shell: Option<ShellState>,
}

/// Why the engine stops the running step's process.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// The operator cancelled it.
    Cancel,
    /// It ran for its whole timeout.
    TimedOut { after: Duration },
    /// The operator left the session: the step is recorded as interrupted.
    Detach { who: String },
    /// The operator aborted the session: it ends once the step has stopped.
    Abort { who: String, reason: String },
}

/// A timer the engine is asked to set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Attempt `attempt` of `step` has run for its whole timeout, `after`.
    StepTimeout {
        step: String,
        attempt: u32,
        after: Duration,
    },
    /// The session passes twice its estimate then.
    Estimate,
}

/// What happened, for the engine core to answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    /// The engine starts driving the session (a new one, or a resumed one).
    Opened { now: DateTime<Utc> },
    /// No step's process is running: whatever may start by itself, starts.
    Idle { now: DateTime<Utc> },
    /// As [`Input::Idle`], while the journal database is behind (a team
    /// session's events only in the local file): a step that changes
    /// anything is held ([`rules::held_while_degraded`]) until it is back.
    Degraded { now: DateTime<Utc> },
    /// `command` was accepted by [`rules::decide`] and its events journaled.
    Decided {
        command: &'a Command,
        now: DateTime<Utc>,
    },
    /// Lines the running attempt printed, in one batch of one stream.
    Output {
        step: &'a str,
        attempt: u32,
        stream: Stream,
        lines: Vec<String>,
    },
    /// The running attempt's process ended after `elapsed`; `stops` are the
    /// stops the engine asked of it, in order.
    Exited {
        step: &'a str,
        attempt: u32,
        result: StepResult,
        elapsed: Duration,
        stops: &'a [Stop],
    },
    /// A timer set earlier went off.
    Timer { timer: Timer, now: DateTime<Utc> },
}

/// What the engine is asked to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Append the event to the journal (and fold it) before the next effect.
    Journal(Event),
    /// Start the process of attempt `attempt` of `step` (shell, SQL, or a
    /// promotion gate's look at the saved sessions); its end comes back as
    /// [`Input::Exited`].
    Spawn { step: Step, attempt: u32 },
    /// Stop the process of attempt `attempt` of `step`.
    Stop { step: String, attempt: u32, why: Stop },
    /// Feed [`Input::Timer`] back at `at`; setting a timer again moves it.
    Timer { at: DateTime<Utc>, timer: Timer },
    /// Nothing more happens in this session: it ended, or was left.
    Exit,
}

/// The engine core's answer to one input.
pub fn step(state: &SessionState, input: Input<'_>) -> Vec<Effect> {
    match input {
        Input::Opened { now } => estimate_timer(state, now).into_iter().collect(),
        Input::Idle { now } => idle(state, now),
        Input::Degraded { now } => match state.next() {
            Next::Start(step) if rules::held_while_degraded(step) => Vec::new(),
            _ => idle(state, now),
        },
        Input::Decided { command, now } => decided(state, command, now),
        Input::Output {
            step,
            attempt,
            stream,
            lines,
        } => match running(state) {
            Some((s, a)) if s.id == step && a == attempt && !lines.is_empty() => {
                vec![Effect::Journal(Event::Output {
                    step: step.to_string(),
                    attempt,
                    stream,
                    lines,
                })]
            }
            _ => Vec::new(),
        },
        Input::Exited {
            step,
            attempt,
            result,
            elapsed,
            stops,
        } => exited(state, step, attempt, result, elapsed, stops),
        Input::Timer { timer, now } => match timer {
            Timer::StepTimeout { step, attempt, after } => match running(state) {
                Some((s, a)) if s.id == step && a == attempt => vec![Effect::Stop {
                    step,
                    attempt,
                    why: Stop::TimedOut { after },
                }],
                _ => Vec::new(),
            },
            Timer::Estimate => estimate(state, now),
        },
    }
}

/// The running step and its attempt, if one runs.
fn running(state: &SessionState) -> Option<(&Step, u32)> {
    match state.next() {
        Next::Running(step) => {
            let attempt = state.step(&step.id).attempts().last().map_or(1, |a| a.number);
            Some((step, attempt))
        }
        _ => None,
    }
}

/// Nothing runs: end, start the next step, or ask for a sign-off.
fn idle(state: &SessionState, now: DateTime<Utc>) -> Vec<Effect> {
    if state.outcome.is_some() || state.detached {
        return vec![Effect::Exit];
    }
    match state.next() {
        Next::AllDone if state.rolling_back() => vec![
            Effect::Journal(Event::RollbackFinished {
                outcome: SessionOutcome::Completed,
            }),
            Effect::Journal(Event::SessionEnded {
                outcome: SessionOutcome::RolledBack,
                reason: None,
            }),
        ],
        Next::AllDone => vec![Effect::Journal(Event::SessionEnded {
            outcome: SessionOutcome::Completed,
            reason: None,
        })],
        Next::Start(step) if state.auto => {
            let attempt = next_attempt(state, &step.id);
            let mut fx = vec![Effect::Journal(Event::StepStarted {
                step: step.id.clone(),
                attempt,
            })];
            fx.extend(launch(state, step, attempt, now));
            fx
        }
        Next::Hold { after, .. } if state.auto && !state.hold_reached(&after.id) => {
            vec![Effect::Journal(Event::HoldReached {
                after: after.id.clone(),
                title: after.title.clone(),
            })]
        }
        Next::SignOff { step, .. } if state.auto && state.step(&step.id).status() == StepStatus::Pending => {
            vec![Effect::Journal(Event::AwaitingSignOff {
                step: step.id.clone(),
            })]
        }
        _ => Vec::new(),
    }
}

/// Run attempt `attempt` of `step`, whose start is (or is about to be)
/// journaled at `now`: a process and its timeout, or (the backups gate) the
/// verdict at once, from the state.
fn launch(state: &SessionState, step: &Step, attempt: u32, now: DateTime<Utc>) -> Vec<Effect> {
    match &step.kind {
        StepKind::Manual => Vec::new(),
        StepKind::Gate {
            gate: Gate::Backups { min },
        } => {
            let (have, min) = (state.verified_backups(), *min);
            let passed = have >= min as usize;
            let result = StepResult {
                outcome: if passed {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                },
                exit_code: None,
                error: (!passed).then(|| {
                    format!("{have} of {min} required backups were made in this session; make the rest first")
                }),
                observed: Some(Observed {
                    columns: vec!["verified backups in this session".into(), "required".into()],
                    rows: vec![vec![have.to_string(), min.to_string()]],
                    text: String::new(),
                }),
                passed: Some(passed),
                shell: None,
            };
            finished(step, attempt, result, Duration::ZERO)
                .into_iter()
                .map(Effect::Journal)
                .collect()
        }
        StepKind::Gate { .. } => vec![Effect::Spawn {
            step: step.clone(),
            attempt,
        }],
        StepKind::Shell { .. } | StepKind::Sql { .. } => {
            let after = step.timeout.unwrap_or(DEFAULT_TIMEOUT);
            let at = now + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
            vec![
                Effect::Spawn {
                    step: step.clone(),
                    attempt,
                },
                Effect::Timer {
                    at,
                    timer: Timer::StepTimeout {
                        step: step.id.clone(),
                        attempt,
                        after,
                    },
                },
            ]
        }
    }
}

/// A command's events are journaled: act on the process where it asks to.
fn decided(state: &SessionState, command: &Command, now: DateTime<Utc>) -> Vec<Effect> {
    let stop = |why: Stop| match running(state) {
        Some((step, attempt)) => vec![Effect::Stop {
            step: step.id.clone(),
            attempt,
            why,
        }],
        None => Vec::new(),
    };
    match command {
        Command::Retry { step } => match running(state) {
            Some((s, attempt)) if s.id == *step => launch(state, s, attempt, now),
            _ => Vec::new(),
        },
        Command::Cancel => stop(Stop::Cancel),
        Command::Abort { who, reason } => stop(Stop::Abort {
            who: who.clone(),
            reason: reason.clone(),
        }),
        Command::Detach { who } => stop(Stop::Detach { who: who.clone() }),
        _ => Vec::new(),
    }
}

/// The running attempt ended: its verdict, then what the stops asked for.
fn exited(
    state: &SessionState,
    step: &str,
    attempt: u32,
    result: StepResult,
    elapsed: Duration,
    stops: &[Stop],
) -> Vec<Effect> {
    if !matches!(running(state), Some((s, a)) if s.id == step && a == attempt) {
        return Vec::new();
    }
    let detached = stops.iter().find_map(|s| match s {
        Stop::Detach { who } => Some(who),
        _ => None,
    });
    if let Some(who) = detached {
        return vec![
            Effect::Journal(Event::StepInterrupted {
                step: step.to_string(),
                attempt,
            }),
            Effect::Journal(Event::Detached { who: who.clone() }),
        ];
    }
    let Some(plan_step) = state.plan.step(step) else {
        return Vec::new();
    };
    let changes = result.shell.clone();
    let mut events = finished(plan_step, attempt, result, elapsed);
    if let Some(event) = carried(state, plan_step, attempt, changes, &events) {
        events.insert(events.len() - 1, event);
    }
    let aborted = stops.iter().find_map(|s| match s {
        Stop::Abort { who, reason } => Some((who, reason)),
        _ => None,
    });
    if let Some((who, reason)) = aborted {
        events.extend(rules::abort(state, who, reason));
    }
    events.into_iter().map(Effect::Journal).collect()
}

/// The shell state a shell step leaves, to journal just before its end: only
/// when it succeeded (a failed step's changes do not carry, as a retry
/// starts from where the step did), is not `{isolated}`, and changed it.
fn carried(
    state: &SessionState,
    step: &Step,
    attempt: u32,
    changes: Option<ShellState>,
    events: &[Event],
) -> Option<Event> {
    let succeeded = matches!(
        events.last(),
        Some(Event::StepFinished {
            outcome: Outcome::Succeeded,
            ..
        })
    );
    if !succeeded || step.isolated || !matches!(step.kind, StepKind::Shell { .. }) {
        return None;
    }
    let next = state.shell.state.then(&changes?);
    (next != state.shell.state).then(|| Event::ShellState {
        step: step.id.clone(),
        attempt,
        state: next,
    })
}

/// The events that record how an attempt ended: the check's result (a
/// check that did not pass fails its step), then the attempt's end.
fn finished(step: &Step, attempt: u32, result: StepResult, elapsed: Duration) -> Vec<Event> {
    let mut events = Vec::new();
    let mut outcome = result.outcome;
    let mut error = result.error;
    if let Some(passed) = result.passed {
        events.push(Event::Verification {
            step: step.id.clone(),
            attempt,
            name: step.title.clone(),
            passed,
            observed: result.observed.unwrap_or_default(),
        });
        if !passed && outcome == Outcome::Succeeded {
            outcome = Outcome::Failed;
            error = Some("the verification did not pass".to_string());
        }
    }
    events.push(Event::StepFinished {
        step: step.id.clone(),
        attempt,
        outcome,
        exit_code: result.exit_code,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        error,
    });
    events
}

/// When the session passes twice its estimate (a rollback criterion of the
/// plan), unless it has no estimate, ended, or was warned already.
fn estimate_timer(state: &SessionState, now: DateTime<Utc>) -> Option<Effect> {
    let estimate = state.plan.estimate?;
    if state.outcome.is_some() || state.estimate_exceeded() {
        return None;
    }
    let limit = chrono::Duration::from_std(estimate.max * 2).ok()?;
    // Strictly past the limit, as the warning says.
    let at = (state.started + limit + chrono::Duration::milliseconds(1)).max(now);
    Some(Effect::Timer {
        at,
        timer: Timer::Estimate,
    })
}

/// The estimate timer went off: warn once, or wait on if it is early.
fn estimate(state: &SessionState, now: DateTime<Utc>) -> Vec<Effect> {
    let Some(estimate) = state.plan.estimate else {
        return Vec::new();
    };
    if state.outcome.is_some() || state.estimate_exceeded() {
        return Vec::new();
    }
    let elapsed = state.elapsed(now);
    if elapsed <= estimate.max * 2 {
        return estimate_timer(state, now).into_iter().collect();
    }
    vec![Effect::Journal(Event::Warning {
        code: ESTIMATE_EXCEEDED.to_string(),
        message: format!(
            "elapsed {} is past twice the estimate ({}): a rollback criterion of the plan",
            duration(elapsed),
            format_estimate(&estimate)
        ),
    })]
}
