//! What can go wrong with the journal database. Every message names the
//! database as `host:port/db as user` and never holds a password.

use super::lock::Holder;
use crate::connect::{self, ConnectError};

/// An error of the PostgreSQL journal. `Clone`, so the writer's fatal error
/// can be told to every caller that asks after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgError {
    /// The URL is invalid, or the server cannot be reached (already redacted).
    #[error("journal database: {0}")]
    Connect(String),
    #[error("journal database {target}: cannot {action}: {reason}")]
    Query {
        target: String,
        action: &'static str,
        reason: String,
    },
    #[error(
        "journal database {target}: its runsheet schema is at version {found}, newer than this runsheet knows ({known}); use a newer runsheet"
    )]
    SchemaTooNew { target: String, found: i32, known: i32 },
    #[error(
        "session {session} in the journal database has moved on (its next seq is {head}, this runsheet was about to write seq {expected}): another runsheet is writing it, so this one stopped rather than fork the chain"
    )]
    ChainConflict {
        session: String,
        expected: u64,
        head: String,
    },
    #[error(
        "session {session} already exists in the journal database; session ids must be unique, start the session again"
    )]
    SessionExists { session: String },
    #[error("no session '{session}' in the journal database {target}")]
    NoSession { session: String, target: String },
    #[error(
        "session {session} is being driven by {}; only one runsheet drives a session at a time",
        describe(holder.as_deref())
    )]
    DriverBusy {
        session: String,
        holder: Option<Box<Holder>>,
    },
    #[error(
        "session {session} was driven by {holder}, whose connection to the journal database is gone (it crashed or was cut off); if that runsheet is really gone, take the session over explicitly (--take-over)"
    )]
    DriverStale { session: String, holder: Box<Holder> },
    #[error(
        "session {session}: this runsheet lost its driver lock while the journal database was away, and {} drives it now; stopping",
        describe(holder.as_deref())
    )]
    DriverLost {
        session: String,
        holder: Option<Box<Holder>>,
    },
    #[error("session {session} in the journal database: seq {seq}: {reason}")]
    Broken {
        session: String,
        seq: u64,
        reason: String,
    },
    #[error("session {session}: the local journal and the journal database disagree at seq {seq}: {reason}")]
    Diverged {
        session: String,
        seq: u64,
        reason: String,
    },
    #[error("session {session}: command {seq} cannot be settled: {reason}")]
    Command {
        session: String,
        seq: u64,
        reason: String,
    },
    #[error("journal database {target} is unreachable ({reason}); nothing more is written to it")]
    Unavailable { target: String, reason: String },
}

/// A holder in words; a lock can be held for a moment before its row is written.
fn describe(holder: Option<&Holder>) -> String {
    holder.map_or_else(
        || "another runsheet (it is just starting)".into(),
        Holder::to_string,
    )
}

impl From<ConnectError> for PgError {
    fn from(e: ConnectError) -> PgError {
        PgError::Connect(e.to_string())
    }
}

/// Whether a failed query means the connection is gone (reconnect and try
/// again) rather than a refusal that would repeat on any connection.
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        // I/O, a closed connection, a timeout: not the server's verdict.
        return true;
    };
    let code = db.code().code();
    // 08: connection exceptions; 57P01-57P03: terminated by an administrator,
    // crash shutdown, cannot connect now; 53: out of resources; 40001/40P01:
    // serialization failure or deadlock, worth a retry.
    code.starts_with("08")
        || code.starts_with("57P")
        || code.starts_with("53")
        || code == "40001"
        || code == "40P01"
}

/// A query error as a [`PgError::Query`], its text scrubbed of passwords.
pub(crate) fn query_error(target: &str, action: &'static str, e: &tokio_postgres::Error) -> PgError {
    PgError::Query {
        target: target.to_string(),
        action,
        reason: connect::scrub(&connect::error_text(e), None),
    }
}
