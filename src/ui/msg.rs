//! Everything that can happen to the TUI ([`Msg`]) and everything it asks
//! the outside world to do ([`Effect`]). `update` turns one into the other
//! and does no I/O itself; the driver performs the effects.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyEvent, MouseEvent};

use super::log::{LogChunk, LogQuery};
use crate::session::{Command, Update};

/// One input to [`super::App::update`].
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// The clock moved on: elapsed times and the spinner.
    Tick(DateTime<Utc>),
    /// A journal record or a refusal from the engine.
    Engine(Update),
    /// The engine task ended: `Err` says why it failed.
    EngineStopped(Result<(), String>),
    /// Older log output read back from the journal.
    LogRead(LogChunk),
    /// SIGTERM, SIGINT or a crashed engine: detach and leave at once. Says
    /// what happened ("SIGTERM received").
    Terminate(&'static str),
    /// The terminal went away (SIGHUP, a closed terminal): a driver goes on
    /// without a screen, an attached terminal leaves. Says what happened.
    TerminalLost(&'static str),
}

/// Something for the driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a command to the engine.
    Send(Command),
    /// Read log lines back from the journal (in a blocking task).
    ReadLog(LogQuery),
    /// Leave once the engine has stopped (the driver waits for it).
    Quit,
}
