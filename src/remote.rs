//! A terminal's way to a session that another process drives: records in,
//! requests out. `runsheet watch` reads [`Records`]; `runsheet attach` also
//! sends [`Requests`]. The checklist on top does not know how they travel:
//! through the team journal database (`team::remote`, LISTEN/NOTIFY and the
//! `runsheet.commands` table) or, for a session without one, a local
//! control socket. Both sides end in the driver's engine inbox, where the
//! rules decide on each request with its origin, exactly as on the driver's
//! own keyboard.

use std::future::Future;

use crate::journal::event::Record;
use crate::session::attached::Request;
use crate::session::protocol::Present;

/// What a feed yields, in order.
#[derive(Debug, Clone)]
pub enum Fed {
    /// The session's next record, with its journal line as stored (the
    /// checklist's log reads older output back from a copy of these lines).
    Record { line: String, record: Box<Record> },
    /// Who is connected to the session now, whenever that is looked at again.
    Presence(Vec<Present>),
}

/// Why a feed yielded nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// The way to the session was lost; the next call tries again and goes
    /// on where it stood (nothing skipped or repeated).
    Lost(String),
    /// Nothing more can be read (the record cannot be trusted): stop.
    Final(String),
}

/// The records of one session, in order, as they are written.
pub trait Records: Send + 'static {
    fn next(&mut self) -> impl Future<Output = Result<Fed, Trouble>> + Send;
}

/// How the driver settled a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The rules accepted it; its events are (or will be) in the records.
    Consumed,
    /// Refused, with the reason to show.
    Refused(String),
}

/// The way requests reach the session's driver, from this terminal's
/// origin (given when the transport was opened). Cheap to clone: each
/// request is sent from a task of its own.
pub trait Requests: Clone + Send + Sync + 'static {
    /// Hand `request` to the driver and wait until it is settled; `Err`
    /// when it could not be handed over (say why and what to do).
    fn send(&self, request: Request) -> impl Future<Output = Result<Settled, String>> + Send;
}
