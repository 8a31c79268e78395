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

use crate::journal::file::lock_holder;
use crate::journal::reader::read_journal;
use crate::journal::store;
use crate::session::{Next, SessionState};

/// The control socket of the session whose journal is `journal`.
pub fn socket_path(journal: &Path) -> PathBuf {
    journal.with_extension("sock")
}

/// The journal of `session` in this machine's state directory while a live
/// driver holds it: then `runsheet attach` picks the driver's seat up over
/// the control socket, journal database or not (whether the socket is
/// trusted, [`client::connect`] decides).
pub fn local_driver(state_dir: Option<&Path>, session: &str) -> Option<PathBuf> {
    let journal = store::find_journal(state_dir, session).ok()?;
    lock_holder(&journal).map(|_| journal)
}

/// What the live driver of an unfinished session is doing, for `runsheet
/// sessions`: `detached: running STEP (pid N)` while its terminal is gone
/// and nobody attached drives, `driven (pid N)` otherwise; `None` when no
/// driver holds the session (it stopped or crashed: it can be resumed).
pub fn live_driver(journal: &Path) -> Option<String> {
    let pid = lock_holder(journal)?;
    let state = read_journal(journal)
        .ok()
        .and_then(|read| SessionState::from_records(&read.records).ok());
    let Some(state) = state.filter(|s| s.driver_away) else {
        return Some(format!("driven (pid {pid})"));
    };
    let doing = match state.next() {
        Next::Running(step) => format!("running {}", step.id),
        Next::SignOff { step, .. } => format!("awaiting sign-off {}", step.id),
        Next::Decide(step) => format!("awaiting a decision on {}", step.id),
        Next::Confirm(step) => format!("awaiting the environment's name before {}", step.id),
        Next::Hold { after, .. } => format!("holding after {}", after.id),
        Next::Start(step) if state.auto => format!("starting {}", step.id),
        Next::Start(step) => format!("paused before {}", step.id),
        Next::AllDone | Next::Ended => "ending".to_string(),
    };
    Some(format!("detached: {doing} (pid {pid})"))
}
