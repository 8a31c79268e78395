//! The journal: an append-only, hash-chained JSONL log of a session's events.
//!
//! [`chain`] fixes the line format and the hash chain, [`file`] is the local
//! file backend, [`reader`] reads and verifies a journal, [`store`] finds
//! sessions in the state directory, [`anchor`] keeps the last line each
//! session made durable beside its journal. [`postgres`] keeps the same lines in a
//! team's PostgreSQL database, and [`tee`] is a team session's driver
//! journal: the file plus that database. Backends implement [`JournalSink`].

pub mod anchor;
pub mod chain;
pub mod event;
pub mod file;
pub mod postgres;
pub mod reader;
pub mod store;
pub mod tee;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use event::{Event, Record};
use postgres::{PgError, ReplicaStatus};

use crate::seat::Origin;

/// Buffered output is written once it is this large…
pub(crate) const OUTPUT_BATCH_BYTES: usize = 256 * 1024;
/// …or this old, whichever comes first (checked when output is appended).
pub(crate) const OUTPUT_BATCH_AGE: Duration = Duration::from_millis(100);

/// Where the events of a session are written.
///
/// `append` gives the event its seq and UTC timestamp and returns its record.
/// A state-changing event ([`Event::is_durable`]) is on stable storage, with
/// any output buffered before it, by the time `append` returns, so the UI may
/// show it. Output events are batched: they reach storage at the next durable
/// event, at `flush`, or when the batch grows past its size or age limit
/// ([`OUTPUT_BATCH_BYTES`] / [`OUTPUT_BATCH_AGE`]: 256 KiB / 100 ms),
/// checked as output is appended. Nothing wakes a batch by itself, so the
/// engine calls `flush` on its ~100 ms tick to bound how long output waits.
/// After a failed write a sink refuses further events; resuming the session
/// continues the journal.
///
/// A sink that copies the journal to a journal database (the tee) keeps
/// appending to its local file while that database is away: `append` does
/// not fail then, but [`JournalSink::replica`] says so, and the driver shows
/// it and starts no new state-changing step while [`JournalSink::is_degraded`].
pub trait JournalSink: Send {
    /// Record an event caused by `origin`'s command (`None`: by nobody in
    /// particular); see the trait documentation for when it is durable.
    fn append_from(&mut self, event: Event, origin: Option<Box<Origin>>) -> Result<Record, JournalError>;

    /// Record an event nobody's command caused.
    fn append(&mut self, event: Event) -> Result<Record, JournalError> {
        self.append_from(event, None)
    }

    /// Record a state-changing event that a crash may lose harmlessly: an
    /// event of a read-only step (a check re-run after a crash changes
    /// nothing). It is written at once but made durable with the next
    /// durable event or `flush` (group commit), instead of on its own.
    /// Sinks that do not group commit make it durable at once.
    fn append_deferred(&mut self, event: Event, origin: Option<Box<Origin>>) -> Result<Record, JournalError> {
        self.append_from(event, origin)
    }

    /// Write and sync any buffered output.
    fn flush(&mut self) -> Result<(), JournalError>;

    /// Hash of the last line appended (what an [`Event::Seal`] seals).
    fn last_hash(&self) -> chain::LineHash;

    /// Where the copy in the journal database stands; `None` without one.
    fn replica(&self) -> Option<ReplicaStatus> {
        None
    }

    /// True while events are not reaching the journal database.
    fn is_degraded(&self) -> bool {
        self.replica().is_some_and(|r| r.is_degraded())
    }
}

/// Everything that can go wrong storing, reading or finding a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("journal {} already exists; session ids must be unique, start the session again", path.display())]
    Exists { path: PathBuf },
    #[error(
        "journal {} is open in another runsheet process (its driver, with or without a terminal: \
         `runsheet sessions` says which); reach it with `runsheet attach SESSION`, or close that one first",
        path.display()
    )]
    Locked { path: PathBuf },
    #[error("{}:{line}: the journal's integrity is broken: {reason}; it cannot be continued (`runsheet verify` shows the details)", path.display())]
    Broken {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("session id {id:?} is not usable as a file name (letters, digits, '-', '_' and '.' only)")]
    InvalidSessionId { id: String },
    #[error("a session header can only be the first line of a journal ({})", path.display())]
    MisplacedHeader { path: PathBuf },
    #[error("cannot encode a journal event: {0}")]
    Encode(#[from] serde_json::Error),
    #[error(
        "journal {} could not be written earlier and was closed; resume the session to continue it",
        path.display()
    )]
    Failed { path: PathBuf },
    #[error(
        "journal {} {what} while the session was writing it: what it says can no longer be trusted; \
         the session stopped (nothing more is written)",
        path.display()
    )]
    Tampered { path: PathBuf, what: &'static str },
    #[error(
        "the journal {} is missing, but its anchor says the session wrote {lines} lines: \
         it was deleted or moved",
        path.display()
    )]
    Missing { path: PathBuf, lines: u64 },
    #[error("cannot find a home directory for runsheet's state; set RUNSHEET_STATE_DIR or pass --state-dir")]
    NoStateDir,
    #[error("{} does not exist; give a session id or a journal file (`runsheet sessions` lists them)", path.display())]
    NoJournal { path: PathBuf },
    #[error("no session '{arg}' in {}; `runsheet sessions` lists them", dir.display())]
    NoSession { arg: String, dir: PathBuf },
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error("session '{arg}' is ambiguous: it starts {}; give more of the id", candidates.join(", "))]
    AmbiguousSession { arg: String, candidates: Vec<String> },
}

impl JournalError {
    /// An I/O error with what was being done and to which path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> JournalError {
        let path = path.into();
        move |source| JournalError::Io { action, path, source }
    }
}
