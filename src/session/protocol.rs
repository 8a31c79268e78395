//! The two streams between a session's engine and its front ends:
//! [`Command`]s in, [`Update`]s out. In one process they travel over
//! channels; the same messages can later cross a socket or a shared journal.
//!
//! A command names who gives it wherever the journal records a person; the
//! rules ([`super::rules::decide`]) accept it (as the events to journal) or
//! refuse it with a [`Refusal`].

use super::rules::Refusal;
use crate::journal::event::{Record, Signature};
use crate::journal::postgres::ReplicaStatus;
pub use crate::journal::postgres::presence::{Present, Role};
use crate::seat::Seat;

/// What an operator asks of a session. Serialized as it crosses the
/// control socket (`{"type": "sign_off", …}`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Run automated steps one after another until something needs a person.
    Run {
        who: String,
    },
    /// Start no new step (the running one continues).
    Pause {
        who: String,
    },
    /// Sign the manual step that waits for sign-offs.
    SignOff {
        step: String,
        signature: Signature,
    },
    /// A person marks a failed or interrupted step as done.
    MarkDone {
        step: String,
        signature: Signature,
    },
    /// Let a failed gate (or any failed step) through, with a role and the reason.
    Override {
        step: String,
        signature: Signature,
    },
    /// Run a failed or interrupted step again (a gate: check it again).
    Retry {
        step: String,
    },
    Skip {
        step: String,
        who: String,
        reason: String,
    },
    /// Cancel the running step (it becomes cancelled; then retry, skip or abort).
    Cancel,
    Abort {
        who: String,
        reason: String,
    },
    Note {
        who: String,
        text: String,
    },
    /// Go on past the hold after a phase (`preapproved`: a decision given in
    /// advance on the command line, not in person).
    ReleaseHold {
        who: String,
        preapproved: bool,
    },
    /// The typed environment name, before the first state-changing step.
    Confirm {
        who: String,
        typed: String,
    },
    StartRollback {
        who: String,
        reason: String,
    },
    /// Leave the session resumable. A running step is stopped and recorded as interrupted.
    Detach {
        who: String,
    },
    /// The driver's terminal went away (or the attached terminal driving
    /// left): the session goes on without a screen. Nothing is stopped.
    DriverGone {
        who: String,
        reason: String,
        seat: Option<Seat>,
    },
    /// A terminal attached over the control socket takes the seat of a
    /// driver whose terminal is gone.
    TakeDriverSeat {
        who: String,
        seat: Seat,
    },
}

impl Command {
    /// The signature a sign-off, mark-done or override carries, so the
    /// engine can stamp its seat before the rules judge it.
    pub fn signature_mut(&mut self) -> Option<&mut Signature> {
        match self {
            Command::SignOff { signature, .. }
            | Command::MarkDone { signature, .. }
            | Command::Override { signature, .. } => Some(signature),
            _ => None,
        }
    }
}

/// What the engine tells front ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A journal record, already durable.
    Record(Record),
    /// A command that could not be carried out, with the reason.
    Refused(Refusal),
    /// The team journal database fell behind or caught up again (sent on
    /// each change): while it is degraded no step that changes anything starts.
    Replica(ReplicaStatus),
    /// Who is connected to the session (team sessions), when that is looked at again.
    Presence(Vec<Present>),
}
