//! Team sessions: opening a session's journal in the team's journal
//! database (through the tee: the local file plus the database) when a URL
//! is given, and the local file alone otherwise. What `run` adds to a
//! session to share it; the storage is `journal::postgres`.

use std::path::Path;

use crate::exit;
use crate::journal::event::Header;
use crate::journal::file::FileJournal;
use crate::journal::postgres::lock::{Claim, Holder, Origin};
use crate::journal::postgres::{JournalDb, PgError, ReplicaStatus};
use crate::journal::reader::ReadJournal;
use crate::journal::tee::TeeJournal;
use crate::journal::{JournalError, JournalSink};

/// The journal database `url` names (`--journal`, `RUNSHEET_JOURNAL_URL`,
/// or the runbook's front matter, in that order: the caller picks), or
/// none for a session of one person's file only.
pub fn journal_db(url: Option<&str>) -> Result<Option<JournalDb>, JournalError> {
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Ok(Some(JournalDb::from_url(url)?)),
        None => Ok(None),
    }
}

/// A new session's journal: with a journal database, its driver lock is
/// taken for `operator` at this seat and every line is copied there.
pub fn create(
    state_dir: &Path,
    header: Header,
    db: Option<&JournalDb>,
    operator: &str,
) -> Result<Box<dyn JournalSink>, JournalError> {
    Ok(match db {
        Some(db) => Box::new(TeeJournal::create(
            state_dir,
            header,
            db,
            &Origin::current(operator),
        )?),
        None => Box::new(FileJournal::create(state_dir, header)?),
    })
}

/// A session's journal opened again to continue it.
pub struct Reopened {
    pub journal: Box<dyn JournalSink>,
    pub read: ReadJournal,
    /// The crashed driver taken over from, for the `resumed` event.
    pub taken_over_from: Option<Box<Holder>>,
}

/// Continue the session whose local journal is `path`. With a journal
/// database the driver lock is taken first (refused while another runsheet
/// holds it; taken from a crashed holder only with `take_over`), and the
/// holder taken over from comes back for the `resumed` event.
pub fn open_append(
    path: &Path,
    db: Option<&JournalDb>,
    operator: &str,
    take_over: bool,
) -> Result<Reopened, JournalError> {
    match db {
        Some(db) => {
            let claim = if take_over {
                Claim::TakeOver
            } else {
                Claim::Acquire
            };
            let (tee, read) = TeeJournal::open_append(path, db, &Origin::current(operator), claim)?;
            let taken_over_from = tee.driver_lock().taken_over_from.clone().map(Box::new);
            Ok(Reopened {
                journal: Box::new(tee),
                read,
                taken_over_from,
            })
        }
        None => {
            let (file, read) = FileJournal::open_append(path)?;
            Ok(Reopened {
                journal: Box::new(file),
                read,
                taken_over_from: None,
            })
        }
    }
}

/// What the driver says when the journal database falls behind or is back.
pub fn replica_notice(status: &ReplicaStatus) -> String {
    if status.is_degraded() {
        format!(
            "JOURNAL DATABASE AWAY: {status}; the running step goes on, no step that changes anything starts until it is back"
        )
    } else {
        "journal database back: it has every event again; steps start again".to_string()
    }
}

/// The exit code of a journal database error when opening a session.
pub fn exit_code(e: &PgError) -> u8 {
    match e {
        PgError::DriverBusy { .. } | PgError::DriverStale { .. } | PgError::DriverLost { .. } => exit::BUSY,
        PgError::Connect(_) | PgError::Unavailable { .. } => exit::DATABASE,
        _ => exit::JOURNAL,
    }
}
