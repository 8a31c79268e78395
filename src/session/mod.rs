//! The session: everything it is, and everything that may happen to it.
//!
//! - [`fold`]: the state as a pure fold over the journal's events, the single
//!   source of truth;
//! - [`rules`]: what an operator may do now ([`decide`], [`choices`]);
//! - [`machine`]: what the engine does by itself (start the next step, a
//!   step's exit, the estimate's timer), as effects;
//! - [`protocol`]: the commands front ends send and the updates they get back.
//!
//! Nothing here does I/O or waits: the engine, the checklist, headless and
//! replay are drivers around it.

pub mod attached;
pub mod fold;
pub mod machine;
pub mod protocol;
pub mod rules;

pub use fold::{
    Attempt, CarriedShell, ESTIMATE_EXCEEDED, HoldRelease, MissingHeader, Next, Note, PhaseHold, Resume,
    Rollback, SessionState, SignOff, Skip, StepState, StepStateRef, StepStatus, TAIL_LINES,
    VerificationResult, Warning,
};
pub use protocol::{Command, Update};
pub use rules::{Choice, ChoiceKind, Flag, Refusal, choices, decide};
