//! The control socket's protocol: one JSON object per line each way.
//!
//! The client starts with [`ToDriver::Hello`]; the driver answers
//! [`FromDriver::Welcome`], then sends every record of the session from
//! the first (the header) in order, then each new one as it is journaled.
//! The client may send [`ToDriver::Command`]s at any time after its hello;
//! each is answered by a [`FromDriver::Answer`] with the same `id` (before
//! or after the records the command caused). The driver closes the
//! connection when its session's engine stops.

use serde::{Deserialize, Serialize};

use crate::journal::event::Record;
use crate::session::{Command, Refusal};

/// Longest line either side accepts: a record of a full output batch fits.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToDriver {
    /// Who is at the client: the name they give. Where they sit is not
    /// theirs to say: the driver reads the OS user and the controlling
    /// terminal of the connecting process from the socket's peer credentials.
    Hello {
        operator: String,
    },
    Command {
        id: u64,
        command: Command,
    },
}

/// What the driver sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromDriver {
    Welcome {
        session: String,
        /// The driver's process id (the journal lock's holder).
        pid: u32,
    },
    /// A journal record, in seq order, each once.
    Record(Box<Record>),
    /// The verdict on command `id`: carried out (`refusal` absent) or refused.
    Answer {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refusal: Option<Refusal>,
    },
    /// The connection is refused or ends, and why.
    Bye { reason: String },
}

/// One message as a line (with its newline).
pub fn line<T: Serialize>(message: &T) -> std::io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(message)?;
    out.push(b'\n');
    Ok(out)
}
