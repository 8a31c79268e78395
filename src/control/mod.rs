//! The control socket: how a terminal on the same machine reaches a
//! session's live driver, whatever became of the driver's own terminal.
//!
//! Every driver (checklist or headless) serves `sessions/<id>.sock` beside
//! its journal, mode 0600, removed when it exits ([`server`]). A client
//! ([`client`], `runsheet attach SESSION`) says who it is, gets every record
//! of the session and then each new one, and submits commands that the
//! engine decides by the same rules as the driver's own, each answered
//! ([`wire`]). While the driver's terminal is there an attached terminal
//! signs and adds notes; once it is gone, the attached terminal takes the
//! driver's seat and may do whatever the checklist allows.
//!
//! A socket is trusted only when the process serving it holds the
//! session's journal lock: one left by a crashed driver refuses
//! connections, and one served by anyone else is not the session's.

pub mod client;
pub mod server;
pub mod wire;

use std::path::{Path, PathBuf};

/// The control socket of the session whose journal is `journal`.
pub fn socket_path(journal: &Path) -> PathBuf {
    journal.with_extension("sock")
}
