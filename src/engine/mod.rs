//! The engine: runs steps and emits events.

pub mod connect;
pub mod shell;
pub mod sql;
pub mod sql_split;

use crate::journal::event::Stream;

/// One line of a step's output, as the step runners stream it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
}
pub mod runner;
