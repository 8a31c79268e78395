//! Session state as a pure fold over journal events.
//!
//! This is the single source of truth: the rules ([`super::rules`]) and the
//! engine core ([`super::machine`]) decide from it, the TUI and headless
//! output draw from it, resume rebuilds it from the journal, replay folds a
//! prefix of the journal, and the report reads the final state. Everything a
//! session is lives here, run/pause included, so a replay shows the session
//! as the operator had it. Nothing here does I/O.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::rules;
use crate::journal::event::{
    Event, Header, LOCK_WAIT_ENDED, Observed, Outcome, Record, SessionOutcome, ShellState, Signature, Stream,
    Target,
};
use crate::runbook::model::{Hold, Step, StepKind};
use crate::runbook::plan::Plan;
use crate::seat::Seat;

/// Output lines kept per step in the state (the full log stays in the journal).
pub const TAIL_LINES: usize = 40;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    /// Running when the session stopped; never re-runs by itself.
    Interrupted,
    AwaitingSignOff,
    SignedOff,
    Skipped,
}

impl StepStatus {
    /// Done for the purpose of moving on to the next step.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::SignedOff | StepStatus::Skipped
        )
    }

    /// Stopped in a way that needs the operator to retry, skip or abort.
    pub fn needs_decision(self) -> bool {
        matches!(
            self,
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Cancelled | StepStatus::Interrupted
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed out",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Interrupted => "interrupted",
            StepStatus::AwaitingSignOff => "awaiting sign-off",
            StepStatus::SignedOff => "signed off",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// One run of an automated step.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub number: u32,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub outcome: Option<Outcome>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub duration: Option<Duration>,
    pub interrupted: bool,
    /// The shell state a shell step started with (none for an isolated
    /// step and for other kinds).
    pub inherited: Option<Arc<CarriedShell>>,
    /// Output lines this attempt wrote.
    pub output_lines: u64,
    /// This attempt's last few output lines, so a report shows what the
    /// attempt that failed said, not what a later retry said.
    pub tail: VecDeque<(Stream, String)>,
    /// The process group its processes ran in (shell steps), as journaled.
    pub pgid: Option<i32>,
    /// The session's operator when it started: who ran it, for separation
    /// of duties ([`rules::ran_before`]).
    pub operator: String,
    /// The operator's seat then, when the journal recorded it: whatever
    /// name is typed there, that seat ran it.
    pub seat: Option<Seat>,
}

/// Keep the last [`TAIL_LINES`] of `tail` followed by `lines`.
fn keep_tail(tail: &mut VecDeque<(Stream, String)>, stream: Stream, lines: &[String]) {
    let keep = lines.len().min(TAIL_LINES);
    for line in &lines[lines.len() - keep..] {
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back((stream, line.clone()));
    }
}

/// The shell state shell steps inherit, and the step that left it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CarriedShell {
    pub state: ShellState,
    /// The step whose success carried it last; none before any did.
    pub from: Option<String>,
}

/// A sign-off with the time it was recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct SignOff {
    pub at: DateTime<Utc>,
    pub signature: Signature,
}

/// A skip with who decided it and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    pub at: DateTime<Utc>,
    pub who: String,
    pub reason: String,
}

/// Everything known about one step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    pub status: StepStatus,
    pub attempts: Vec<Attempt>,
    pub signoffs: Vec<SignOff>,
    pub skip: Option<Skip>,
    /// Journal seq of this step's first event, so a log view can seek there.
    pub first_seq: Option<u64>,
    /// Times of this step's first and latest events, for phase timings.
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
    /// When the step began to wait for its sign-off (a manual step), so a
    /// report can show how long the window waited on people.
    pub awaiting_at: Option<DateTime<Utc>>,
    /// Output lines recorded so far (all attempts).
    pub output_lines: u64,
    /// The last few output lines, for failure summaries.
    pub tail: VecDeque<(Stream, String)>,
    /// The lock the running attempt waits for, as last reported (and when):
    /// the status line shows it until the wait ends or the attempt does.
    pub lock_wait: Option<(DateTime<Utc>, String)>,
}

impl StepState {
    fn new() -> StepState {
        StepState {
            status: StepStatus::Pending,
            attempts: Vec::new(),
            signoffs: Vec::new(),
            skip: None,
            first_seq: None,
            first_at: None,
            last_at: None,
            awaiting_at: None,
            output_lines: 0,
            tail: VecDeque::new(),
            lock_wait: None,
        }
    }

    /// Distinct people who signed this step.
    /// Who signed, one name per person ([`rules::same_person`]) as they
    /// first signed, in signing order.
    pub fn signers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.signoffs {
            let who = s.signature.who.as_str();
            if !names.iter().any(|n| rules::same_person(n, who)) {
                names.push(who);
            }
        }
        names
    }

    pub fn last_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
}

/// A recorded verification result.
#[derive(Debug, Clone, PartialEq)]
pub struct VerificationResult {
    pub at: DateTime<Utc>,
    pub step: String,
    pub attempt: u32,
    pub name: String,
    pub passed: bool,
    pub observed: Observed,
}

/// A free note of an operator.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub who: String,
    pub text: String,
}

/// A warning raised during the session, e.g. [`ESTIMATE_EXCEEDED`].
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub at: DateTime<Utc>,
    /// What kind of warning it is, stable for tools (`estimate-exceeded`).
    pub code: String,
    pub message: String,
}

/// The warning code of a session past twice its estimate (a rollback criterion).
pub const ESTIMATE_EXCEEDED: &str = "estimate-exceeded";

/// The session was opened again after a stop or crash.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub at: DateTime<Utc>,
    /// The operator who resumed it.
    pub who: String,
    pub host: String,
    /// The seat it was resumed from, when recorded.
    pub seat: Option<Seat>,
    /// The runbook had changed and the operator allowed it: a new plan applies from here.
    pub changed_plan: bool,
    /// The databases differed from the session's and the operator allowed
    /// it: the targets from here on.
    pub changed_targets: Option<Vec<Target>>,
}

/// A hold after a phase (`hold = "phase"`): reached, and released by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseHold {
    /// The verification that ended the phase.
    pub after: String,
    /// Its title.
    pub title: String,
    pub reached: Option<DateTime<Utc>>,
    pub released: Option<HoldRelease>,
}

/// Who confirmed going on past a hold, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldRelease {
    pub at: DateTime<Utc>,
    pub who: String,
    /// Given in advance on the command line (`--approve hold`), not in person.
    pub preapproved: bool,
}

/// The rollback, once started.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    pub started: DateTime<Utc>,
    pub who: String,
    pub reason: String,
    pub finished: Option<(DateTime<Utc>, SessionOutcome)>,
}

/// What the session is waiting for, derived from the state alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next<'a> {
    /// The session has ended.
    Ended,
    /// Every step is done; the session can be completed.
    AllDone,
    /// A step is running.
    Running(&'a Step),
    /// This automated step is next and may start.
    Start(&'a Step),
    /// Type the environment's name before this state-changing step.
    Confirm(&'a Step),
    /// A manual step waits for sign-offs by `needed` distinct people, `signed` so far.
    SignOff {
        step: &'a Step,
        signed: usize,
        needed: u32,
    },
    /// A step failed or was interrupted: retry, skip or abort.
    Decide(&'a Step),
    /// A phase ended with its verification `after` and the environment
    /// holds after each phase: an operator confirms before `step` starts.
    Hold { after: &'a Step, step: &'a Step },
}

impl<'a> Next<'a> {
    /// The step the session is busy with or waits on, unless it is over.
    pub fn step(self) -> Option<&'a Step> {
        match self {
            Next::Running(s) | Next::Start(s) | Next::Confirm(s) | Next::Decide(s) => Some(s),
            Next::SignOff { step, .. } | Next::Hold { step, .. } => Some(step),
            Next::AllDone | Next::Ended => None,
        }
    }
}

/// The state of a session: a pure fold over its journal.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub header: Header,
    /// The plan in force (the header's, or a newer one from an allowed resume).
    pub plan: Plan,
    /// The databases in force (the header's, or others an allowed resume reached).
    pub targets: Vec<Target>,
    pub steps: HashMap<String, StepState>,
    pub verifications: Vec<VerificationResult>,
    pub notes: Vec<Note>,
    pub warnings: Vec<Warning>,
    pub confirmed_by: Option<String>,
    /// Automated steps start one after another: the operator ran the session
    /// and has not paused it since. A started step (a retry too) and a
    /// started rollback set it; leaving the session clears it, and a resume
    /// sets it only when it says so (headless), so nothing starts by itself
    /// after a stop in the checklist.
    pub auto: bool,
    pub rollback: Option<Rollback>,
    pub outcome: Option<(SessionOutcome, Option<String>)>,
    /// Set while the operator has left the session (until it is resumed).
    pub detached: bool,
    /// Set while the driver's terminal is gone and no attached terminal
    /// has taken its seat: the driver goes on without a screen.
    pub driver_away: bool,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    /// Time of the latest event folded in.
    pub last_event: DateTime<Utc>,
    pub last_seq: u64,
    pub resumes: Vec<Resume>,
    /// What the next shell step inherits: the state the last successful
    /// shell step left (a resume continues from it).
    pub shell: Arc<CarriedShell>,
    /// A `shell_state` waiting for its attempt's end: carried if it succeeded.
    shell_pending: Option<(String, u32, ShellState)>,
    /// Holds after phases, in the order they were reached.
    pub holds: Vec<PhaseHold>,
}

/// A journal that does not start with a header cannot be folded.
#[derive(Debug, thiserror::Error)]
#[error("the journal does not start with a session header")]
pub struct MissingHeader;

impl SessionState {
    /// Start from the header record (seq 0).
    pub fn new(header_record: &Record) -> Result<SessionState, MissingHeader> {
        let Event::Header(header) = &header_record.event else {
            return Err(MissingHeader);
        };
        Ok(SessionState {
            plan: header.plan.clone(),
            targets: header.targets.clone(),
            header: (**header).clone(),
            steps: HashMap::new(),
            verifications: Vec::new(),
            notes: Vec::new(),
            warnings: Vec::new(),
            confirmed_by: None,
            auto: false,
            rollback: None,
            outcome: None,
            detached: false,
            driver_away: false,
            started: header_record.ts,
            ended: None,
            last_event: header_record.ts,
            last_seq: header_record.seq,
            resumes: Vec::new(),
            shell: Arc::default(),
            shell_pending: None,
            holds: Vec::new(),
        })
    }

    /// Fold a whole journal.
    pub fn from_records<'a>(
        records: impl IntoIterator<Item = &'a Record>,
    ) -> Result<SessionState, MissingHeader> {
        let mut iter = records.into_iter();
        let first = iter.next().ok_or(MissingHeader)?;
        let mut state = SessionState::new(first)?;
        for record in iter {
            state.apply(record);
        }
        Ok(state)
    }

    /// The state of one step (pending if nothing happened to it yet).
    pub fn step(&self, id: &str) -> StepStateRef<'_> {
        StepStateRef(self.steps.get(id))
    }

    fn step_mut(&mut self, id: &str, seq: u64) -> &mut StepState {
        let at = self.last_event;
        let state = self.steps.entry(id.to_string()).or_insert_with(StepState::new);
        state.first_seq.get_or_insert(seq);
        state.first_at.get_or_insert(at);
        state.last_at = Some(at);
        state
    }

    /// Apply one event. Pure: the same records always give the same state.
    pub fn apply(&mut self, record: &Record) {
        let at = record.ts;
        let seq = record.seq;
        self.last_event = at;
        self.last_seq = seq;
        let need = self.needed_signoffs() as usize;
        match &record.event {
            Event::Header(_) => {}
            Event::Resumed {
                operator,
                host,
                seat,
                plan,
                run,
                targets,
                ..
            } => {
                if let Some(plan) = plan {
                    self.plan = (**plan).clone();
                }
                if let Some(targets) = targets {
                    self.targets = targets.clone();
                }
                self.detached = false;
                self.driver_away = false;
                self.auto = *run;
                self.resumes.push(Resume {
                    at,
                    who: operator.clone(),
                    host: host.clone(),
                    seat: seat.clone(),
                    changed_plan: plan.is_some(),
                    changed_targets: targets.clone(),
                });
            }
            Event::Run { .. } => self.auto = true,
            Event::Pause { .. } => self.auto = false,
            Event::StepInterrupted { step, .. } => {
                let s = self.step_mut(step, seq);
                s.status = StepStatus::Interrupted;
                s.lock_wait = None;
                if let Some(a) = s.attempts.last_mut().filter(|a| a.outcome.is_none()) {
                    a.interrupted = true;
                }
            }
            Event::StepStarted { step, attempt } => {
                self.auto = true;
                let inherited = self
                    .plan
                    .step(step)
                    .filter(|s| matches!(s.kind, StepKind::Shell { .. }) && !s.isolated)
                    .map(|_| Arc::clone(&self.shell));
                let operator = self.current_operator().to_string();
                let seat = self.current_seat().cloned();
                let s = self.step_mut(step, seq);
                s.status = StepStatus::Running;
                s.lock_wait = None;
                s.attempts.push(Attempt {
                    number: *attempt,
                    started: at,
                    finished: None,
                    outcome: None,
                    exit_code: None,
                    error: None,
                    duration: None,
                    interrupted: false,
                    inherited,
                    output_lines: 0,
                    tail: VecDeque::new(),
                    pgid: None,
                    operator,
                    seat,
                });
            }
            Event::StepProcess { step, attempt, pgid } => {
                let s = self.step_mut(step, seq);
                if let Some(a) = s.attempts.iter_mut().find(|a| a.number == *attempt) {
                    a.pgid = Some(*pgid);
                }
            }
            Event::Output {
                step,
                attempt,
                stream,
                lines,
            } => {
                let s = self.step_mut(step, seq);
                s.output_lines += lines.len() as u64;
                if *stream == Stream::Lock
                    && let Some(last) = lines.last()
                {
                    s.lock_wait = (!last.starts_with(LOCK_WAIT_ENDED)).then(|| (at, last.clone()));
                }
                keep_tail(&mut s.tail, *stream, lines);
                if let Some(a) = s.attempts.iter_mut().rev().find(|a| a.number == *attempt) {
                    a.output_lines += lines.len() as u64;
                    keep_tail(&mut a.tail, *stream, lines);
                }
            }
            Event::StepFinished {
                step,
                attempt,
                outcome,
                exit_code,
                duration_ms,
                error,
            } => {
                if let Some((s, a, state)) = self.shell_pending.take()
                    && s == *step
                    && a == *attempt
                    && *outcome == Outcome::Succeeded
                {
                    self.shell = Arc::new(CarriedShell { state, from: Some(s) });
                }
                let s = self.step_mut(step, seq);
                s.lock_wait = None;
                s.status = match outcome {
                    Outcome::Succeeded => StepStatus::Succeeded,
                    Outcome::Failed => StepStatus::Failed,
                    Outcome::TimedOut => StepStatus::TimedOut,
                    Outcome::Cancelled => StepStatus::Cancelled,
                };
                if let Some(a) = s.attempts.iter_mut().rev().find(|a| a.number == *attempt) {
                    a.finished = Some(at);
                    a.outcome = Some(*outcome);
                    a.exit_code = *exit_code;
                    a.error = error.clone();
                    a.duration = Some(Duration::from_millis(*duration_ms));
                }
            }
            Event::ShellState { step, attempt, state } => {
                self.shell_pending = Some((step.clone(), *attempt, state.clone()))
            }
            Event::Verification {
                step,
                attempt,
                name,
                passed,
                observed,
            } => {
                self.verifications.push(VerificationResult {
                    at,
                    step: step.clone(),
                    attempt: *attempt,
                    name: name.clone(),
                    passed: *passed,
                    observed: observed.clone(),
                });
            }
            Event::AwaitingSignOff { step } => {
                let s = self.step_mut(step, seq);
                s.status = StepStatus::AwaitingSignOff;
                s.awaiting_at.get_or_insert(at);
            }
            Event::SignedOff { step, signature } => {
                let s = self.step_mut(step, seq);
                s.signoffs.push(SignOff {
                    at,
                    signature: signature.clone(),
                });
                // An interrupted or failed step marked done by a person counts at once;
                // a manual step needs as many distinct names as the environment asks.
                let enough = s.signers().len() >= need || s.status.needs_decision();
                s.status = if enough {
                    StepStatus::SignedOff
                } else {
                    StepStatus::AwaitingSignOff
                };
            }
            Event::Skipped { step, who, reason } => {
                let s = self.step_mut(step, seq);
                s.status = StepStatus::Skipped;
                s.skip = Some(Skip {
                    at,
                    who: who.clone(),
                    reason: reason.clone(),
                });
            }
            Event::HoldReached { after, title } => {
                let hold = self.hold_mut(after, title);
                hold.reached.get_or_insert(at);
            }
            Event::HoldReleased {
                after,
                who,
                preapproved,
            } => {
                let title = self.plan.step(after).map(|s| s.title.clone()).unwrap_or_default();
                self.hold_mut(after, &title).released = Some(HoldRelease {
                    at,
                    who: who.clone(),
                    preapproved: *preapproved,
                });
            }
            Event::EnvironmentConfirmed { who } => self.confirmed_by = Some(who.clone()),
            Event::Note { who, text } => self.notes.push(Note {
                at,
                who: who.clone(),
                text: text.clone(),
            }),
            Event::RollbackStarted { who, reason } => {
                self.auto = true;
                self.rollback = Some(Rollback {
                    started: at,
                    who: who.clone(),
                    reason: reason.clone(),
                    finished: None,
                });
            }
            Event::RollbackFinished { outcome } => {
                if let Some(r) = &mut self.rollback {
                    r.finished = Some((at, *outcome));
                }
            }
            Event::Warning { code, message } => self.warnings.push(Warning {
                at,
                code: code.clone(),
                message: message.clone(),
            }),
            Event::Detached { .. } => {
                self.detached = true;
                self.auto = false;
            }
            Event::SessionEnded { outcome, reason } => {
                self.auto = false;
                self.outcome = Some((*outcome, reason.clone()));
                self.ended = Some(at);
            }
            Event::DriverDetached { .. } => self.driver_away = true,
            Event::DriverAttached { .. } => self.driver_away = false,
            // Says nothing about the session, only that its journal was closed.
            Event::Seal { .. } => {}
        }
    }

    /// The steps currently being driven: the rollback's while one is under way,
    /// else the forward plan's.
    pub fn active_steps(&self) -> Box<dyn Iterator<Item = &Step> + '_> {
        match &self.rollback {
            Some(r) if r.finished.is_none() => Box::new(self.plan.rollback.iter()),
            _ => Box::new(self.plan.steps()),
        }
    }

    /// True while a rollback is under way.
    pub fn rolling_back(&self) -> bool {
        self.rollback.as_ref().is_some_and(|r| r.finished.is_none())
    }

    /// What the session waits for now. The engine acts on this; the UI shows it.
    pub fn next(&self) -> Next<'_> {
        if self.outcome.is_some() {
            return Next::Ended;
        }
        for step in self.active_steps() {
            let st = self.step(&step.id);
            let status = st.status();
            if status.is_done() {
                continue;
            }
            if status == StepStatus::Pending
                && let Some(after) = self.hold_before(step)
            {
                return Next::Hold { after, step };
            }
            return match status {
                StepStatus::Running => Next::Running(step),
                s if s.needs_decision() => Next::Decide(step),
                StepStatus::AwaitingSignOff => self.sign_off(step),
                _ if self.plan.confirm && step.changes_state() && self.confirmed_by.is_none() => {
                    Next::Confirm(step)
                }
                _ if matches!(step.kind, StepKind::Manual) => self.sign_off(step),
                _ => Next::Start(step),
            };
        }
        Next::AllDone
    }

    /// The verification whose hold `step` waits behind. A phase of work
    /// ends with its verification: where the environment holds after each
    /// phase, a step that changes something right after a `{verify}` step
    /// (the next phase's first change) waits until someone releases that
    /// hold (the loop only gets here once every step before is done).
    /// Never during a rollback.
    fn hold_before(&self, step: &Step) -> Option<&Step> {
        if self.plan.hold != Hold::Phase || self.rolling_back() || !step.changes_state() {
            return None;
        }
        let mut previous = None;
        for s in self.plan.steps() {
            if s.id == step.id {
                break;
            }
            previous = Some(s);
        }
        let after = previous.filter(|p| p.verify)?;
        let released = self
            .holds
            .iter()
            .any(|h| h.after == after.id && h.released.is_some());
        (!released).then_some(after)
    }

    /// Whether the hold after `after` has been journaled as reached.
    pub fn hold_reached(&self, after: &str) -> bool {
        self.holds.iter().any(|h| h.after == after && h.reached.is_some())
    }

    /// The hold after step `after`, recorded on first mention.
    fn hold_mut(&mut self, after: &str, title: &str) -> &mut PhaseHold {
        let index = match self.holds.iter().position(|h| h.after == after) {
            Some(i) => i,
            None => {
                self.holds.push(PhaseHold {
                    after: after.to_string(),
                    title: title.to_string(),
                    reached: None,
                    released: None,
                });
                self.holds.len() - 1
            }
        };
        &mut self.holds[index]
    }

    fn sign_off<'a>(&'a self, step: &'a Step) -> Next<'a> {
        Next::SignOff {
            step,
            signed: self.step(&step.id).signers().len(),
            needed: self.needed_signoffs(),
        }
    }

    /// Distinct people who sign each manual step.
    pub fn needed_signoffs(&self) -> u32 {
        self.plan.signoffs.max(1)
    }

    /// Whether the estimate warning has been raised.
    pub fn estimate_exceeded(&self) -> bool {
        self.warnings.iter().any(|w| w.code == ESTIMATE_EXCEEDED)
    }

    /// Done and total steps of one phase of the plan.
    pub fn phase_progress(&self, phase: usize) -> (usize, usize) {
        let Some(p) = self.plan.phases.get(phase) else {
            return (0, 0);
        };
        let done = p
            .steps
            .iter()
            .filter(|s| self.step(&s.id).status().is_done())
            .count();
        (done, p.steps.len())
    }

    /// Done and total steps of the whole forward plan.
    pub fn progress(&self) -> (usize, usize) {
        let total = self.plan.steps().count();
        let done = self
            .plan
            .steps()
            .filter(|s| self.step(&s.id).status().is_done())
            .count();
        (done, total)
    }

    /// Wall-clock time since the session started, up to `now` or its end.
    pub fn elapsed(&self, now: DateTime<Utc>) -> Duration {
        let end = self.ended.unwrap_or(now);
        (end - self.started).to_std().unwrap_or_default()
    }

    /// Planned and actual time of one phase. The plan's estimate is per
    /// environment, so a phase is planned at its share of the steps; actual
    /// runs from the phase's first event to its latest.
    pub fn phase_timing(&self, phase: usize) -> (Option<Duration>, Option<Duration>) {
        let Some(p) = self.plan.phases.get(phase) else {
            return (None, None);
        };
        let total = self.plan.steps().count().max(1) as u32;
        let planned = self.plan.estimate.map(|e| e.max * p.steps.len() as u32 / total);
        let actual = self.phase_span(phase).and_then(|(a, b)| (b - a).to_std().ok());
        (planned, actual)
    }

    /// The times of a phase's first and latest events, when it has any.
    pub fn phase_span(&self, phase: usize) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let p = self.plan.phases.get(phase)?;
        let states = p.steps.iter().filter_map(|s| self.steps.get(&s.id));
        let first = states.clone().filter_map(|s| s.first_at).min();
        let last = states.filter_map(|s| s.last_at).max();
        first.zip(last)
    }

    /// When the session should end if the rest goes as estimated: the
    /// estimate's share of the steps not yet done, from `now`.
    pub fn eta(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let estimate = self.plan.estimate?;
        let (done, total) = self.progress();
        let remaining = estimate.max * (total - done) as u32 / total.max(1) as u32;
        Some(now + chrono::Duration::from_std(remaining).ok()?)
    }

    /// Backup steps that succeeded in this session.
    pub fn verified_backups(&self) -> usize {
        self.plan
            .steps()
            .filter(|s| s.backup && self.step(&s.id).status() == StepStatus::Succeeded)
            .count()
    }

    /// Who is at the session now: whoever opened it or resumed it last.
    pub fn current_operator(&self) -> &str {
        self.resumes.last().map_or(&self.header.operator, |r| &r.who)
    }

    /// Where whoever is at the session now sits, when the journal recorded it.
    pub fn current_seat(&self) -> Option<&Seat> {
        self.resumes
            .last()
            .map_or(self.header.seat.as_ref(), |r| r.seat.as_ref())
    }

    /// The session's operators: the one who started it and everyone who resumed it.
    pub fn operators(&self) -> Vec<&str> {
        let mut names = vec![self.header.operator.as_str()];
        for r in &self.resumes {
            if !names.contains(&r.who.as_str()) {
                names.push(&r.who);
            }
        }
        names
    }
}

/// Read access to a step's state that treats "never seen" as pending.
#[derive(Debug, Clone, Copy)]
pub struct StepStateRef<'a>(pub Option<&'a StepState>);

impl<'a> StepStateRef<'a> {
    pub fn status(self) -> StepStatus {
        self.0.map_or(StepStatus::Pending, |s| s.status)
    }

    pub fn signers(self) -> Vec<&'a str> {
        self.0.map(StepState::signers).unwrap_or_default()
    }

    pub fn attempts(self) -> &'a [Attempt] {
        self.0.map_or(&[], |s| &s.attempts)
    }

    pub fn signoffs(self) -> &'a [SignOff] {
        self.0.map_or(&[], |s| &s.signoffs)
    }

    pub fn get(self) -> Option<&'a StepState> {
        self.0
    }
}
