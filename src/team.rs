//! Team sessions: opening a session's journal in the team's journal
//! database (through the tee: the local file plus the database) when a URL
//! is given, and the local file alone otherwise. What `run` adds to a
//! session to share it; the storage is `journal::postgres`.

pub mod inbox;
pub mod remote;

use std::io::Write;
use std::path::Path;

use crate::exit::{self, CliError};
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
            &Origin::here(operator),
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
            let (tee, read) = TeeJournal::open_append(path, db, &Origin::here(operator), claim)?;
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
/// What matters first: a banner may cut the end off.
pub fn replica_notice(status: &ReplicaStatus) -> String {
    match status {
        ReplicaStatus::InSync { .. } => {
            "journal database back: it has every event again; steps start again".into()
        }
        ReplicaStatus::Buffering {
            since,
            events,
            reason,
        } => format!(
            "JOURNAL DATABASE AWAY: no step that changes anything starts until it is back · {events} event{} only in the local journal since {} · {reason}",
            if *events == 1 { "" } else { "s" },
            since.format("%H:%M:%S UTC")
        ),
        ReplicaStatus::Stopped { reason } => format!("JOURNAL DATABASE COPY STOPPED: {reason}"),
    }
}

/// `runsheet sessions --journal URL`: the team journal's sessions, oldest
/// first, with who drives each (and whether that driver is still connected).
pub fn sessions(url: &str) -> Result<u8, CliError> {
    let db = JournalDb::from_url(url).map_err(cli_error)?;
    let rows = runtime()?.block_on(session_rows(&db)).map_err(cli_error)?;
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        let _ = writeln!(out, "no sessions in the journal database {}", db.target());
        return Ok(exit::OK);
    }
    let headers = [
        "ID",
        "ENV",
        "MODE",
        "OPERATOR",
        "HOST",
        "STARTED (UTC)",
        "OUTCOME",
        "EVENTS",
        "DRIVER",
        "RUNBOOK",
    ];
    let _ = write_columns(&mut out, &headers, &rows);
    Ok(exit::OK)
}

/// One row per session of the journal database.
async fn session_rows(db: &JournalDb) -> Result<Vec<Vec<String>>, PgError> {
    let conn = db.connect().await?;
    let mut rows = Vec::new();
    for s in conn.list_sessions().await? {
        let driver = match conn.driver_of(&s.id).await? {
            Some((holder, true)) => format!(
                "{} on {} (pid {})",
                holder.origin.operator, holder.origin.seat.host, holder.pid
            ),
            Some((holder, false)) => format!(
                "{} on {}, gone (--take-over)",
                holder.origin.operator, holder.origin.seat.host
            ),
            None => "-".to_string(),
        };
        rows.push(vec![
            s.id,
            s.environment,
            s.mode.label().to_string(),
            s.operator,
            s.host,
            s.started.format("%Y-%m-%d %H:%M:%S").to_string(),
            s.outcome.label().to_string(),
            s.events.to_string(),
            driver,
            s.runbook_path,
        ]);
    }
    Ok(rows)
}

/// A table: every column as wide as its widest value, the last unpadded.
fn write_columns(out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|v| v.chars().count())
                .max()
                .unwrap_or(0)
                .max(h.chars().count())
        })
        .collect();
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 == widths.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$} ", w = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &mut headers.iter().copied())?;
    for row in rows {
        line(out, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// The session `arg` names in the team journal: an id, or a unique prefix of one.
pub async fn resolve_session(db: &JournalDb, arg: &str) -> Result<String, CliError> {
    let conn = db.connect().await.map_err(cli_error)?;
    let ids: Vec<String> = conn
        .list_sessions()
        .await
        .map_err(cli_error)?
        .into_iter()
        .map(|s| s.id)
        .filter(|id| id.starts_with(arg))
        .collect();
    if let Some(id) = ids.iter().find(|id| *id == arg) {
        return Ok(id.clone());
    }
    match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(CliError::usage(format!(
            "no session '{arg}' in the journal database {}; `runsheet sessions --journal URL` lists them",
            db.target()
        ))),
        _ => Err(CliError::usage(format!(
            "session '{arg}' is ambiguous: it starts {}; give more of the id",
            ids.join(", ")
        ))),
    }
}

/// A runtime for a command that reads the team journal.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))
}

/// A journal database error as the command line reports it.
pub fn cli_error(e: PgError) -> CliError {
    CliError::new(exit_code(&e), e)
}

/// The exit code of a journal database error when opening a session.
pub fn exit_code(e: &PgError) -> u8 {
    match e {
        PgError::DriverBusy { .. } | PgError::DriverStale { .. } | PgError::DriverLost { .. } => exit::BUSY,
        PgError::Connect(_) | PgError::Unavailable { .. } => exit::DATABASE,
        _ => exit::JOURNAL,
    }
}
