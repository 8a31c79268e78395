//! The session: everything it is, and everything that may happen to it.
//!
//! - [`fold`]: the state as a pure fold over the journal's events, the single
//!   source of truth;
//! - [`protocol`]: the commands front ends send and the updates they get back.
//!
//! Nothing here does I/O or waits: the engine, the checklist, headless and
//! replay are drivers around it.

pub mod fold;
pub mod protocol;

pub use fold::{
    Attempt, ESTIMATE_EXCEEDED, MissingHeader, Next, Note, Resume, Rollback, SessionState, SignOff, Skip,
    StepState, StepStateRef, StepStatus, TAIL_LINES, VerificationResult, Warning,
};
pub use protocol::{Command, Update};
