//! What an operator may do now: every rule in one place.
//!
//! [`decide`] checks a [`Command`] against the state and answers with the
//! events to journal, or a [`Refusal`] in words an operator understands.
//! [`choices`] lists the decisions open right now, each with its headless
//! flag; the checklist's footer, hints and dialogs and headless's "resume
//! with …" lines are drawn from it, and everything it offers `decide`
//! accepts. The engine asks `decide` for every command it gets, and the
//! checklist asks it before sending one, so a front end never offers what
//! the engine would refuse.
//!
//! Commands that act on the running step's process (cancel; abort and
//! detach while a step runs) are accepted with no events of their own: the
//! engine core ([`super::machine`]) stops the process, and the events follow
//! from its exit. Pure: no I/O, no clock of its own.

use chrono::{DateTime, Utc};

use super::fold::{Attempt, Next, SessionState};
use super::protocol::Command;
use crate::journal::event::{Event, Header, Mode, SessionOutcome, Signature};
use crate::runbook::model::{AttachRight, Step, StepKind};
use crate::seat::Seat;
use unicode_normalization::UnicodeNormalization;

/// Why a command was not carried out. Each says what to do instead.
/// Serialized as the control socket answers a command with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum Refusal {
    #[error("the session has already ended")]
    Ended,
    #[error("the session was left; resume it to go on")]
    Detached,
    #[error("no step is running")]
    NothingRunning,
    #[error("{step} is running: cancel it first")]
    StepRunning { step: String },
    #[error("step {step} is not waiting for a sign-off")]
    NotWaitingForSignOff { step: String },
    #[error("step {step} is not waiting for a decision (retry, mark done, override)")]
    NotWaitingForDecision { step: String },
    #[error("no step is waiting for a sign-off")]
    NoSignOffDue,
    #[error("no failed or interrupted step waits for a decision")]
    NothingToDecide,
    #[error("step {step} is manual: it is signed off, not run; sign it or skip it")]
    ManualStepRuns { step: String },
    #[error("a gate cannot be skipped; override it with a signed reason (who, role, reason)")]
    GateCannotBeSkipped { step: String },
    #[error("a failed gate is not marked done: override it with a signed reason (who, role, reason)")]
    GateMarkedDone { step: String },
    #[error("only the next step can be skipped, not {step}")]
    NotNext { step: String },
    #[error("no step left to skip")]
    NothingLeft,
    #[error("a sign-off needs a name")]
    MissingName,
    #[error("{}", what.missing())]
    MissingReason { what: Reasoned },
    #[error("overriding a gate needs a name, a role and the reason")]
    OverrideNeedsRoleAndReason,
    #[error("{who} has already signed {step}; it needs {needed} distinct names")]
    AlreadySigned { who: String, step: String, needed: u32 },
    #[error(
        "{step} was already signed from this seat ({seat}) by {signer}; it needs a second signer at \
         another terminal: `runsheet attach {session} --operator NAME`, or a resume from that seat"
    )]
    SeatAlreadySigned {
        step: String,
        signer: String,
        seat: String,
        session: String,
    },
    #[error(
        "{who} ran {ran}, the step before {step}: separation of duties needs another person to sign it \
         (`runsheet attach {session} --operator NAME`, or a resume from their seat)"
    )]
    SignerRanPreviousStep {
        who: String,
        step: String,
        ran: String,
        session: String,
    },
    #[error(
        "{ran}, the step before {step}, was run from this seat ({seat}) by {operator}: separation of duties \
         needs another person at another seat to sign it (`runsheet attach {session} --operator NAME`, or a \
         resume from their seat)"
    )]
    SeatRanPreviousStep {
        step: String,
        ran: String,
        operator: String,
        seat: String,
        session: String,
    },
    #[error("an empty note was not recorded")]
    EmptyNote,
    #[error("the environment is already confirmed")]
    AlreadyConfirmed,
    #[error("type {environment} to confirm")]
    MissingConfirmation { environment: String },
    #[error("typed {typed:?}, which is not the environment name {environment:?}")]
    WrongEnvironmentName { typed: String, environment: String },
    #[error("the rollback has already been started")]
    RollbackStarted,
    #[error("this runbook's Rollback section has no steps to run")]
    NoRollbackSteps,
    #[error("a step is running: wait for it or cancel it before starting the rollback")]
    RollbackWhileRunning,
    #[error("no hold waits for a confirmation to go on")]
    NoHold,
    #[error("the engine has stopped; nothing more is recorded in this session")]
    EngineStopped,
    #[error(
        "the driver's terminal is still there: it drives; this attached terminal may sign off and add notes, \
         and takes the driver's seat once the driver's terminal is gone"
    )]
    DriverPresent,
    #[error(
        "this runbook does not let attached terminals {right}: its front matter needs attach = [\"{right}\"]; ask the driver"
    )]
    AttachRightMissing { right: String },
    #[error(
        "the journal database is away: {step} changes things, so it starts once the journal database has every event again"
    )]
    JournalAway { step: String },
}

/// What a reason is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reasoned {
    Skip,
    Rollback,
}

impl Reasoned {
    fn missing(self) -> &'static str {
        match self {
            Reasoned::Skip => "a skip needs a reason",
            Reasoned::Rollback => "say which rollback criterion is met",
        }
    }
}

impl Refusal {
    /// Refused only for what the operator has not typed yet (a name, a
    /// reason, the environment's name): a dialog asking for it may open.
    pub fn needs_input(&self) -> bool {
        matches!(
            self,
            Refusal::MissingName
                | Refusal::MissingReason { .. }
                | Refusal::OverrideNeedsRoleAndReason
                | Refusal::EmptyNote
                | Refusal::MissingConfirmation { .. }
        )
    }
}

/// Check `command` against `state`: the events that carry it out (in
/// journal order), or why not. `_now` is when it is decided; no rule reads
/// the clock yet (holds and lock waits will).
pub fn decide(state: &SessionState, command: &Command, _now: DateTime<Utc>) -> Result<Vec<Event>, Refusal> {
    if state.outcome.is_some() {
        return Err(Refusal::Ended);
    }
    if state.detached {
        return Err(Refusal::Detached);
    }
    let next = state.next();
    let running = matches!(next, Next::Running(_));
    match command {
        Command::Run { who } => Ok(if state.auto {
            Vec::new()
        } else {
            vec![Event::Run { who: who.clone() }]
        }),
        Command::Pause { who } => Ok(if state.auto {
            vec![Event::Pause { who: who.clone() }]
        } else {
            Vec::new()
        }),
        Command::Note { who, text } => {
            if text.trim().is_empty() {
                return Err(Refusal::EmptyNote);
            }
            Ok(vec![Event::Note {
                who: who.clone(),
                text: text.clone(),
            }])
        }
        Command::SignOff { step, signature } => {
            waiting(next, step, Due::SignOff)?;
            let signature = signed(signature)?;
            four_eyes(state, step, &signature)?;
            Ok(vec![Event::SignedOff {
                step: step.clone(),
                signature,
            }])
        }
        Command::MarkDone { step, signature } => {
            if is_gate(waiting(next, step, Due::Decision)?) {
                return Err(Refusal::GateMarkedDone { step: step.clone() });
            }
            Ok(vec![Event::SignedOff {
                step: step.clone(),
                signature: signed(signature)?,
            }])
        }
        Command::Override { step, signature } => {
            waiting(next, step, Due::Decision)?;
            let signature = signed(signature)?;
            if signature.role.trim().is_empty() || signature.note.trim().is_empty() {
                return Err(Refusal::OverrideNeedsRoleAndReason);
            }
            Ok(vec![Event::SignedOff {
                step: step.clone(),
                signature,
            }])
        }
        Command::Retry { step } => {
            if matches!(waiting(next, step, Due::Decision)?.kind, StepKind::Manual) {
                return Err(Refusal::ManualStepRuns { step: step.clone() });
            }
            Ok(vec![Event::StepStarted {
                step: step.clone(),
                attempt: next_attempt(state, step),
            }])
        }
        Command::Skip { step, who, reason } => {
            if state.plan.step(step).is_some_and(is_gate) {
                return Err(Refusal::GateCannotBeSkipped { step: step.clone() });
            }
            match next {
                Next::Decide(s) | Next::SignOff { step: s, .. } | Next::Start(s) | Next::Confirm(s)
                    if s.id == *step => {}
                Next::Running(s) if s.id == *step => return Err(Refusal::StepRunning { step: step.clone() }),
                Next::AllDone | Next::Ended => return Err(Refusal::NothingLeft),
                _ => return Err(Refusal::NotNext { step: step.clone() }),
            }
            if reason.trim().is_empty() {
                return Err(Refusal::MissingReason { what: Reasoned::Skip });
            }
            Ok(vec![Event::Skipped {
                step: step.clone(),
                who: who.clone(),
                reason: reason.clone(),
            }])
        }
        Command::Cancel => {
            if running {
                Ok(Vec::new())
            } else {
                Err(Refusal::NothingRunning)
            }
        }
        Command::Abort { who, reason } => Ok(if running {
            Vec::new()
        } else {
            abort(state, who, reason)
        }),
        Command::ReleaseHold { who, preapproved } => {
            let Next::Hold { after, .. } = next else {
                return Err(Refusal::NoHold);
            };
            if who.trim().is_empty() {
                return Err(Refusal::MissingName);
            }
            Ok(vec![Event::HoldReleased {
                after: after.id.clone(),
                who: who.trim().to_string(),
                preapproved: *preapproved,
            }])
        }
        Command::Confirm { who, typed } => {
            let environment = &state.plan.environment;
            if state.confirmed_by.is_some() {
                return Err(Refusal::AlreadyConfirmed);
            }
            match typed.trim() {
                "" => Err(Refusal::MissingConfirmation {
                    environment: environment.clone(),
                }),
                typed if !names_environment(typed, environment) => Err(Refusal::WrongEnvironmentName {
                    typed: typed.to_string(),
                    environment: environment.clone(),
                }),
                _ => Ok(vec![Event::EnvironmentConfirmed { who: who.clone() }]),
            }
        }
        Command::StartRollback { who, reason } => {
            if state.rollback.is_some() {
                return Err(Refusal::RollbackStarted);
            }
            if state.plan.rollback.is_empty() {
                return Err(Refusal::NoRollbackSteps);
            }
            if running {
                return Err(Refusal::RollbackWhileRunning);
            }
            if reason.trim().is_empty() {
                return Err(Refusal::MissingReason {
                    what: Reasoned::Rollback,
                });
            }
            Ok(vec![Event::RollbackStarted {
                who: who.clone(),
                reason: reason.clone(),
            }])
        }
        Command::Detach { who } => Ok(if running {
            Vec::new()
        } else {
            vec![Event::Detached { who: who.clone() }]
        }),
        // Said once: a driver already away has nothing more to go.
        Command::DriverGone { who, reason, seat } => Ok(if state.driver_away {
            Vec::new()
        } else {
            vec![Event::DriverDetached {
                who: who.clone(),
                reason: reason.clone(),
                seat: seat.clone(),
            }]
        }),
        Command::TakeDriverSeat { who, seat } => {
            if !state.driver_away {
                return Err(Refusal::DriverPresent);
            }
            if who.trim().is_empty() {
                return Err(Refusal::MissingName);
            }
            Ok(vec![Event::DriverAttached {
                who: who.trim().to_string(),
                seat: seat.clone(),
            }])
        }
    }
}

/// What an attached terminal may ask (over the control socket or through
/// the journal database), before [`decide`] is asked: once it holds the
/// driver's seat (`driving`), whatever the driver may; until then a
/// signer's part (sign-offs, notes), taking the seat of a driver whose
/// terminal is gone, and the pause or abort the runbook's front matter
/// `allows` attached terminals.
pub fn attached_may(command: &Command, driving: bool, allows: &[AttachRight]) -> Result<(), Refusal> {
    let right = match command {
        _ if driving => return Ok(()),
        Command::SignOff { .. } | Command::Note { .. } | Command::TakeDriverSeat { .. } => return Ok(()),
        Command::Pause { .. } => AttachRight::Pause,
        Command::Abort { .. } => AttachRight::Abort,
        _ => return Err(Refusal::DriverPresent),
    };
    if allows.contains(&right) {
        Ok(())
    } else {
        Err(Refusal::AttachRightMissing {
            right: right.word().to_string(),
        })
    }
}

/// Whether `signature` may be one more sign-off of the manual step `step`:
/// a person who has not signed it ([`same_person`]), from a seat that has
/// not ([`seat_refusal`]), and, under separation of duties, neither the one
/// who ran the step before it ([`ran_before`]) nor anyone at their seat.
fn four_eyes(state: &SessionState, step: &str, signature: &Signature) -> Result<(), Refusal> {
    if state
        .step(step)
        .signers()
        .iter()
        .any(|n| same_person(n, &signature.who))
    {
        return Err(Refusal::AlreadySigned {
            who: signature.who.clone(),
            step: step.to_string(),
            needed: state.needed_signoffs(),
        });
    }
    if let Some(refusal) = signature
        .seat
        .as_ref()
        .and_then(|seat| seat_refusal(state, step, seat))
    {
        return Err(refusal);
    }
    if state.plan.separation_of_duties
        && let Some((ran, attempt)) = ran_before(state, step)
        && same_person(&attempt.operator, &signature.who)
    {
        return Err(Refusal::SignerRanPreviousStep {
            who: signature.who.clone(),
            step: step.to_string(),
            ran: ran.id.clone(),
            session: state.header.session_id.clone(),
        });
    }
    match signature
        .seat
        .as_ref()
        .and_then(|seat| ran_there(state, step, seat))
    {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// Under separation of duties, why `seat` may not sign `step`: the step
/// before it was run from there, so whoever sits there, whatever name they
/// type, is the one who ran it.
fn ran_there(state: &SessionState, step: &str, seat: &Seat) -> Option<Refusal> {
    let (ran, attempt) = ran_before(state, step).filter(|_| state.plan.separation_of_duties)?;
    let ran_at = attempt.seat.as_ref().filter(|at| same_seat(at, seat))?;
    Some(Refusal::SeatRanPreviousStep {
        step: step.to_string(),
        ran: ran.id.clone(),
        operator: attempt.operator.clone(),
        seat: ran_at.short(),
        session: state.header.session_id.clone(),
    })
}

/// Why nobody at `seat` may sign `step`, whatever name is typed: it signed
/// the step already ([`seat_refusal`]), or under separation of duties it ran
/// the step before. What the checklist and the hints ask before offering a
/// sign-off.
pub fn seat_cannot_sign(state: &SessionState, step: &str, seat: &Seat) -> Option<Refusal> {
    seat_refusal(state, step, seat).or_else(|| ran_there(state, step, seat))
}

/// Why `seat` may not sign `step` once more: an earlier sign-off of the
/// step came from it ([`same_seat`]). `signoffs = N` means N seats (OS
/// user, host and terminal), so whoever sits there, whatever name they
/// type, signs a step once. A sign-off recorded without a seat (journals
/// written before seats were) matches no seat: it counts by its name, as
/// when it was given.
pub fn seat_refusal(state: &SessionState, step: &str, seat: &Seat) -> Option<Refusal> {
    let earlier = state
        .step(step)
        .signoffs()
        .iter()
        .find(|s| s.signature.seat.as_ref().is_some_and(|at| same_seat(at, seat)))?;
    Some(Refusal::SeatAlreadySigned {
        step: step.to_string(),
        signer: earlier.signature.who.clone(),
        seat: seat.short(),
        session: state.header.session_id.clone(),
    })
}

/// Whether two seats are one: the same OS user on the same host at the same
/// terminal, or either without a terminal. A process without one (a pipe,
/// `setsid`, `ssh host cmd`) could be any terminal of its OS user on its
/// host, so it counts as each of them: one person does not get a second
/// seat by leaving their terminal.
pub fn same_seat(a: &Seat, b: &Seat) -> bool {
    a.os_user == b.os_user
        && a.host == b.host
        && (a.terminal == b.terminal || a.terminal.is_none() || b.terminal.is_none())
}

/// The step run last before `step` (the nearest earlier step of its list,
/// forward plan or rollback, with an attempt) and its last attempt, which
/// says who ran it and from which seat: under separation of duties neither
/// that person nor anyone at that seat signs `step`. Manual and skipped
/// steps in between ran nothing and are passed over.
pub fn ran_before<'a>(state: &'a SessionState, step: &str) -> Option<(&'a Step, &'a Attempt)> {
    let before = |steps: Vec<&'a Step>| -> Option<(&'a Step, &'a Attempt)> {
        let at = steps.iter().position(|s| s.id == step)?;
        steps[..at]
            .iter()
            .rev()
            .find_map(|s| Some((*s, state.step(&s.id).attempts().last()?)))
    };
    before(state.plan.steps().collect()).or_else(|| before(state.plan.rollback.iter().collect()))
}

/// Whether `step` waits while the journal database is behind: a step that
/// changes anything starts only once the team's copy of the journal has
/// every event before it, so that nobody acts on a session whose record
/// exists on one machine only. Checks, read-only steps, gates and manual
/// steps go on (they are journaled locally and sent later).
pub fn held_while_degraded(step: &Step) -> bool {
    step.changes_state()
}

/// [`decide`] while the journal database is behind: the same, except that
/// a command that would start a step [`held_while_degraded`] (a retry) is
/// refused until it is back.
pub fn decide_degraded(
    state: &SessionState,
    command: &Command,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Refusal> {
    let events = decide(state, command, now)?;
    let held = events.iter().find_map(|e| match e {
        Event::StepStarted { step, .. } => state.plan.step(step).filter(|s| held_while_degraded(s)),
        _ => None,
    });
    match held {
        Some(step) => Err(Refusal::JournalAway {
            step: step.id.clone(),
        }),
        None => Ok(events),
    }
}

/// The events that end a session by abort (the rollback, if one was under
/// way, ends aborted first). An empty reason says who aborted.
pub fn abort(state: &SessionState, who: &str, reason: &str) -> Vec<Event> {
    let reason = if reason.trim().is_empty() {
        format!("aborted by {who}")
    } else {
        reason.to_string()
    };
    let mut events = Vec::new();
    if state.rolling_back() {
        events.push(Event::RollbackFinished {
            outcome: SessionOutcome::Aborted,
        });
    }
    events.push(Event::SessionEnded {
        outcome: SessionOutcome::Aborted,
        reason: Some(reason),
    });
    events
}

/// The number of the next attempt of `step`.
pub fn next_attempt(state: &SessionState, step: &str) -> u32 {
    state.step(step).attempts().len() as u32 + 1
}

/// Whether a step is a promotion gate: checked by the engine, never skipped,
/// overridden only with a signed reason.
pub fn is_gate(step: &Step) -> bool {
    matches!(step.kind, StepKind::Gate { .. })
}

/// Whether `typed` names `environment` for its typed confirmation: the name
/// itself, in any case (`Production` confirms `production`), nothing else.
pub fn names_environment(typed: &str, environment: &str) -> bool {
    typed.trim().to_lowercase() == environment.to_lowercase()
}

/// The person a typed name stands for: Unicode-normalised (NFKC), case-folded,
/// trimmed, with inner runs of spaces made one and characters that show
/// nothing dropped ([`invisible`]), so that "Seed Maintainers",
/// " seed  maintainers " and "seed\u{200B} maintainers" are one signer, not
/// two or three.
pub fn person(name: &str) -> String {
    let folded: String = name.nfkc().collect::<String>().to_lowercase();
    folded
        .nfkc()
        .filter(|c| !invisible(*c))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Unicode's default-ignorable code points: zero-width spaces and joiners,
/// the soft hyphen, bidi controls, variation selectors, tags. They render as
/// nothing, so a name that differs by one looks the same in the record.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{34F}'
            | '\u{61C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Whether two typed names are the same person ([`person`]): the one rule
/// every distinct-signer check asks.
pub fn same_person(a: &str, b: &str) -> bool {
    person(a) == person(b)
}

/// A signature with its name trimmed, or the refusal of a nameless one.
fn signed(signature: &Signature) -> Result<Signature, Refusal> {
    let who = signature.who.trim();
    if person(who).is_empty() {
        return Err(Refusal::MissingName);
    }
    Ok(Signature {
        who: who.to_string(),
        ..signature.clone()
    })
}

/// What a step-bound command needs the session to wait for.
#[derive(Clone, Copy)]
enum Due {
    SignOff,
    Decision,
}

/// The step that waits for `due`, if it is `step`; otherwise why not.
fn waiting<'a>(next: Next<'a>, step: &str, due: Due) -> Result<&'a Step, Refusal> {
    let step = step.to_string();
    match (due, next) {
        (Due::SignOff, Next::SignOff { step: s, .. }) | (Due::Decision, Next::Decide(s)) if s.id == step => {
            Ok(s)
        }
        (_, Next::Running(s)) if s.id == step => Err(Refusal::StepRunning { step }),
        (Due::SignOff, Next::SignOff { .. }) => Err(Refusal::NotWaitingForSignOff { step }),
        (Due::Decision, Next::Decide(_)) => Err(Refusal::NotWaitingForDecision { step }),
        (Due::SignOff, _) => Err(Refusal::NoSignOffDue),
        (Due::Decision, _) => Err(Refusal::NothingToDecide),
    }
}

/// A decision open now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChoiceKind {
    /// Run the next step (and those after it).
    Run,
    /// Type the environment's name, then run.
    ConfirmEnv,
    SignOff,
    MarkDone,
    Override,
    Retry,
    Skip,
    Cancel,
    Abort,
    /// Go on past the hold after a phase.
    ReleaseHold,
}

/// How a decision is given in advance on the command line, for headless runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Approve,
    Retry,
    Skip,
    Override,
    ConfirmEnv,
    /// `--approve hold`: go on past every phase hold (as `--approve all` does).
    ApproveHold,
}

impl Flag {
    /// The flag as it is typed for `step` of a session in `environment`.
    pub fn usage(self, step: &str, environment: &str) -> String {
        match self {
            Flag::Approve => format!("--approve {}", quote(step)),
            Flag::Retry => format!("--retry {}", quote(step)),
            Flag::Skip => format!("--skip {}", quote(&format!("{step}=REASON"))),
            Flag::Override => format!("--override {}", quote(&format!("{step}=REASON"))),
            Flag::ConfirmEnv => format!("--confirm-env {}", quote(environment)),
            Flag::ApproveHold => format!("--approve {}", quote(HOLD)),
        }
    }
}

/// One decision open now: what it is, the step it is about, what it does
/// in a few words (the checklist's hint), and its headless flag, if a
/// headless run can be given it in advance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub kind: ChoiceKind,
    pub step: String,
    pub label: &'static str,
    pub headless: Option<Flag>,
}

impl Choice {
    fn new(kind: ChoiceKind, step: &Step, label: &'static str, headless: Option<Flag>) -> Choice {
        Choice {
            kind,
            step: step.id.clone(),
            label,
            headless,
        }
    }
}

/// The word `--approve` takes for phase holds.
pub const HOLD: &str = "hold";

/// The decisions open now to whoever sits at `seat`, most likely first.
/// Everything offered here [`decide`] accepts from that seat (given a name,
/// a reason, the environment's name): a sign-off is not offered to a seat
/// that has signed the step or, under separation of duties, ran the step
/// before it ([`seat_cannot_sign`]).
pub fn choices(state: &SessionState, seat: &Seat) -> Vec<Choice> {
    if state.detached {
        return Vec::new();
    }
    use ChoiceKind as K;
    match state.next() {
        Next::Ended | Next::AllDone => Vec::new(),
        Next::Running(step) => vec![Choice::new(K::Cancel, step, "cancel", None)],
        Next::Start(step) => vec![Choice::new(K::Run, step, "run", None)],
        Next::Confirm(step) => vec![Choice::new(
            K::ConfirmEnv,
            step,
            "confirm the environment and run",
            Some(Flag::ConfirmEnv),
        )],
        Next::SignOff { step, .. } => {
            let mut out = Vec::new();
            if seat_cannot_sign(state, &step.id, seat).is_none() {
                out.push(Choice::new(K::SignOff, step, "sign off", Some(Flag::Approve)));
            }
            out.push(Choice::new(K::Skip, step, "skip", None));
            out
        }
        Next::Hold { step, .. } => vec![
            Choice::new(
                K::ReleaseHold,
                step,
                "go on to the next phase",
                Some(Flag::ApproveHold),
            ),
            Choice::new(K::Abort, step, "abort", None),
        ],
        Next::Decide(step) if is_gate(step) => vec![
            Choice::new(K::Retry, step, "check again", Some(Flag::Retry)),
            Choice::new(K::Override, step, "override (signed)", Some(Flag::Override)),
            Choice::new(K::Abort, step, "abort", None),
        ],
        Next::Decide(step) => {
            let mut out = Vec::new();
            if !matches!(step.kind, StepKind::Manual) {
                out.push(Choice::new(K::Retry, step, "retry", Some(Flag::Retry)));
            }
            out.extend([
                Choice::new(K::MarkDone, step, "mark done", None),
                Choice::new(K::Skip, step, "skip", Some(Flag::Skip)),
                Choice::new(K::Abort, step, "abort", None),
            ]);
            out
        }
    }
}

/// What a headless run stopped at needs, and the flags that would let it
/// go on: one sentence built from [`choices`]. `None` when nothing waits
/// for a person. `seat` is where the headless run sits.
pub fn headless_hint(state: &SessionState, seat: &Seat) -> Option<String> {
    let environment = &state.plan.environment;
    let choices = choices(state, seat);
    let flags: Vec<String> = choices
        .iter()
        .filter_map(|c| c.headless.map(|f| f.usage(&c.step, environment)))
        .collect();
    let command = format!("{} --headless", resume_command(&state.header));
    let resume = |flags: &[String]| -> String {
        match flags.split_first() {
            Some((first, [])) => format!("{command} {first}"),
            Some((first, rest)) => format!("{command} {first} (or {})", rest.join(" or ")),
            None => command.clone(),
        }
    };
    match state.next() {
        Next::SignOff { step, .. } if let Some(why) = ran_there(state, &step.id, seat) => Some(format!(
            "{why}: from there, {command} --operator NAME --approve {}",
            quote(&step.id)
        )),
        Next::SignOff { step, signed, needed } if seat_refusal(state, &step.id, seat).is_some() => {
            Some(format!(
                "manual step {} has {signed} of {needed} sign-offs and this seat ({}) has given its one; \
                 it needs a second signer at another terminal: `runsheet attach {} --operator NAME`, \
                 or a resume from that seat: {command} --operator NAME --approve {}",
                step.id,
                seat.short(),
                state.header.session_id,
                quote(&step.id)
            ))
        }
        Next::SignOff { step, .. } => Some(format!(
            "manual step {} needs a sign-off; sign it in the TUI, or pre-approve it: {}",
            step.id,
            resume(&flags)
        )),
        Next::Decide(step) => Some(format!(
            "step {} is {}; decide: {}",
            step.id,
            state.step(&step.id).status().label(),
            resume(&flags)
        )),
        Next::Hold { after, step } => Some(format!(
            "{environment} holds after each phase: {} \"{}\" passed, and {} waits for an operator \
             to confirm going on; confirm it in the TUI, or in advance: {}",
            after.id,
            after.title,
            step.id,
            resume(&flags)
        )),
        Next::Confirm(step) => Some(format!(
            "environment {environment} needs typed confirmation before step {} changes anything; pass {}",
            step.id,
            flags.join(" ")
        )),
        _ => None,
    }
}

/// The command that resumes a session, ready to paste into a shell: its
/// runbook, environment and mode, shell-quoted.
pub fn resume_command(header: &Header) -> String {
    let mut words = vec![
        "runsheet",
        "run",
        header.runbook_path.as_str(),
        "--env",
        header.environment.as_str(),
    ];
    if header.mode == Mode::DryRun {
        words.push("--dry-run");
    }
    words.extend(["--resume", header.session_id.as_str()]);
    words.into_iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// `word` as one shell word: as it is when nothing in it is special to a
/// shell (`--skip step=REASON` stays readable), quoted otherwise.
fn quote(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.into()
    } else {
        shell_words::quote(word)
    }
}
