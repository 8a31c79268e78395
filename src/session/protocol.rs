//! The two streams between a session's engine and its front ends:
//! [`Command`]s in, [`Update`]s out. In one process they travel over
//! channels; the same messages can later cross a socket or a shared journal.

use crate::journal::event::{Record, Signature};

/// What a front end asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run automated steps one after another until something needs a person.
    Run,
    /// Start no new step (the running one continues).
    Pause,
    /// Sign a manual step, or mark a failed or interrupted step as done.
    SignOff {
        step: String,
        signature: Signature,
    },
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
}

/// What the engine tells front ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A journal record, already durable.
    Record(Record),
    /// A command that could not be carried out, with the reason.
    Refused(String),
}
