//! The state directory and the sessions saved in it.
//!
//! Listing reads only each journal's header line and its last few KiB, so a
//! journal of a million lines lists as fast as a short one; it does not check
//! integrity (that is `runsheet verify`'s job).

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use directories::ProjectDirs;

use super::JournalError;
use super::anchor::{self, Anchor};
use super::chain::{LineHash, line_hash, parse_line_unchecked};
use super::event::{Event, Mode, SessionOutcome, Target, session_kind};
use super::file::journal_path;
use super::reader::{Integrity, JournalStream};

/// Environment variable naming the state directory.
pub const STATE_DIR_ENV: &str = "RUNSHEET_STATE_DIR";

/// How much of a journal's end is read first to find its last events.
const TAIL_WINDOW: u64 = 64 * 1024;

/// The state directory: `--state-dir`, else `$RUNSHEET_STATE_DIR`, else the
/// platform data directory (e.g. `~/.local/share/runsheet`).
pub fn state_dir(cli_override: Option<&Path>) -> Result<PathBuf, JournalError> {
    if let Some(dir) = cli_override {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    ProjectDirs::from("", "", "runsheet")
        .map(|p| p.data_dir().to_path_buf())
        .ok_or(JournalError::NoStateDir)
}

/// Where a saved session stands, from its last events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// It ended (completed, failed, aborted, rolled back).
    Ended(SessionOutcome),
    /// The operator left it; it can be resumed.
    Detached,
    /// No end recorded: still running, or stopped by a crash; it can be resumed.
    Unfinished,
}

impl SessionStatus {
    pub fn label(self) -> &'static str {
        match self {
            SessionStatus::Ended(outcome) => outcome.label(),
            SessionStatus::Detached => "left unfinished",
            SessionStatus::Unfinished => "unfinished",
        }
    }
}

/// One saved session, as `runsheet sessions` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    pub id: String,
    /// Its local journal; empty for a session read from the team journal
    /// database only (see `team_chain`).
    pub path: PathBuf,
    pub runbook_path: String,
    pub runbook_sha256: String,
    pub environment: String,
    pub mode: Mode,
    /// The header's `--only` filter, when the session ran part of the plan.
    pub only: Option<String>,
    /// Ran the Rollback section only: started with `--rollback`, or rolled
    /// back before any step of the plan was started, signed or skipped.
    pub rollback_only: bool,
    pub operator: String,
    /// Time of the header.
    pub started: DateTime<Utc>,
    /// Time of the last complete line.
    pub last_event: DateTime<Utc>,
    pub outcome: SessionStatus,
    /// The databases the header records (as the session started).
    pub targets: Vec<Target>,
    /// Why the journal falls short of its anchor (its tail was cut off), if it does.
    pub cut_off: Option<String>,
    /// Read from the team journal database, not a local file: its chain's
    /// verdict there, checked as it was read (`Err` says why it does not
    /// verify, or that it was not checked). `None` for a local journal.
    pub team_chain: Option<Result<(), String>>,
}

impl SessionSummary {
    /// The session's databases as `database@host:port`, or `-` for none recorded.
    pub fn target_label(&self) -> String {
        if self.targets.is_empty() {
            return "-".to_string();
        }
        self.targets
            .iter()
            .map(Target::place)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl SessionSummary {
    /// What kind of session it is: `live`, `dry run`, `rollback`, `partial (…)`.
    pub fn kind(&self) -> String {
        session_kind(self.mode, self.only.as_deref(), self.rollback_only)
    }
}

/// A file in the sessions directory that could not be summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableJournal {
    pub path: PathBuf,
    pub reason: String,
}

/// The sessions of a state directory, oldest first, and the journal files
/// that could not be read (listed rather than hidden).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
    pub unreadable: Vec<UnreadableJournal>,
}

/// The sessions saved in the state directory `dir`, sorted by start.
pub fn list_sessions(dir: &Path) -> Result<SessionList, JournalError> {
    let mut list = SessionList::default();
    for (_, path) in journal_files(dir)? {
        match summarize(&path) {
            Ok(summary) => list.sessions.push(summary),
            Err(reason) => list.unreadable.push(UnreadableJournal { path, reason }),
        }
    }
    for (path, anchor) in orphan_anchors(dir)? {
        list.unreadable.push(UnreadableJournal {
            reason: JournalError::Missing {
                path: path.clone(),
                lines: anchor.seq + 1,
            }
            .to_string(),
            path,
        });
    }
    list.sessions
        .sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
    Ok(list)
}

/// The journal a command's SESSION argument names: an existing file as it
/// is, else a session id or unique prefix in the state directory
/// (`--state-dir`, `RUNSHEET_STATE_DIR`, the platform's). The one way every
/// command goes from SESSION to a journal.
pub fn find_journal(state_dir_arg: Option<&Path>, arg: &str) -> Result<PathBuf, JournalError> {
    match state_dir(state_dir_arg) {
        Ok(dir) => resolve_session(&dir, arg),
        // Without a state directory, only a file can be meant.
        Err(_) if Path::new(arg).is_file() => Ok(PathBuf::from(arg)),
        Err(e) => Err(e),
    }
}

/// The journal of SESSION in the state directory `dir`: an existing file,
/// a session id, a unique prefix of one, or a path to a journal file.
pub fn resolve_session(dir: &Path, arg: &str) -> Result<PathBuf, JournalError> {
    let as_path = Path::new(arg);
    if as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    if arg.contains('/') || arg.ends_with(".jsonl") {
        return Err(JournalError::NoJournal {
            path: as_path.to_path_buf(),
        });
    }
    if !arg.is_empty() {
        let exact = journal_path(dir, arg);
        if exact.is_file() {
            return Ok(exact);
        }
        let mut matches: Vec<(String, PathBuf)> = journal_files(dir)?
            .into_iter()
            .filter(|(id, _)| id.starts_with(arg))
            .collect();
        if matches.len() > 1 {
            matches.sort();
            let more = matches.len() > 5;
            let mut candidates: Vec<String> = matches.into_iter().take(5).map(|(id, _)| id).collect();
            if more {
                candidates.push("…".into());
            }
            return Err(JournalError::AmbiguousSession {
                arg: arg.to_string(),
                candidates,
            });
        }
        if let Some((_, path)) = matches.pop() {
            return Ok(path);
        }
        if let Ok(Some(anchor)) = anchor::read(&exact) {
            return Err(JournalError::Missing {
                path: exact,
                lines: anchor.seq + 1,
            });
        }
    }
    Err(JournalError::NoSession {
        arg: arg.to_string(),
        dir: dir.join("sessions"),
    })
}

/// Every path in `dir/sessions` (none if it does not exist).
fn session_files(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let sessions = dir.join("sessions");
    let entries = match std::fs::read_dir(&sessions) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JournalError::io("list the sessions in", &sessions)(e)),
    };
    entries
        .map(|entry| {
            entry
                .map(|e| e.path())
                .map_err(JournalError::io("list the sessions in", &sessions))
        })
        .collect()
}

/// `(id, path)` of every `*.jsonl` file in `dir/sessions`.
fn journal_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, JournalError> {
    let mut files = Vec::new();
    for path in session_files(dir)? {
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jsonl"));
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            files.push((id.to_string(), path.clone()));
        }
    }
    Ok(files)
}

/// `(journal path, anchor)` of every anchor in `dir/sessions` whose journal is gone.
fn orphan_anchors(dir: &Path) -> Result<Vec<(PathBuf, Anchor)>, JournalError> {
    let mut orphans = Vec::new();
    for path in session_files(dir)? {
        if path.extension().is_some_and(|x| x == "anchor") {
            let journal = path.with_extension("jsonl");
            if let (false, Ok(Some(anchor))) = (journal.exists(), anchor::read(&journal)) {
                orphans.push((journal, anchor));
            }
        }
    }
    orphans.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(orphans)
}

/// Summary of one journal from its header line and its tail.
fn summarize(path: &Path) -> Result<SessionSummary, String> {
    let mut stream = JournalStream::open(path).map_err(|e| e.to_string())?;
    let header_record = match stream.next() {
        Some(Ok(record)) => record,
        Some(Err(e)) => return Err(e.to_string()),
        None => {
            return Err(match stream.integrity() {
                Integrity::Broken { line, reason } => format!("line {line}: {reason}"),
                Integrity::Verified => "the journal has no session header".into(),
            });
        }
    };
    let Event::Header(header) = header_record.event else {
        return Err("the first line is not a session header".into());
    };
    let tail = scan_tail(path).map_err(|e| e.to_string())?;
    let cut_off = match (anchor::read(path), tail.last) {
        (Ok(Some(a)), Some((seq, hash))) => {
            anchor::cut_off(&a, seq + 1).or_else(|| anchor::differs(&a, seq, &hash))
        }
        (Ok(Some(a)), None) => anchor::cut_off(&a, 1),
        (Ok(None), _) => None,
        (Err(why), _) => Some(why),
    };
    // A session rolled back from its start (`B` in the checklist before
    // anything of the plan ran) is a rollback session, as one started with
    // `--rollback` is: only such sessions are read past their header here.
    let rollback_only = header.rollback_only
        || (tail.status == SessionStatus::Ended(SessionOutcome::RolledBack)
            && rolled_back_from_the_start(stream));
    Ok(SessionSummary {
        id: header.session_id,
        path: path.to_path_buf(),
        runbook_path: header.runbook_path,
        runbook_sha256: header.runbook_sha256,
        environment: header.environment,
        mode: header.mode,
        only: header.only,
        rollback_only,
        operator: header.operator,
        started: header_record.ts,
        last_event: tail.last_event.unwrap_or(header_record.ts),
        outcome: tail.status,
        targets: header.targets,
        cut_off,
        team_chain: None,
    })
}

/// Whether the rollback started before any step of the plan was started,
/// signed off or skipped: the events after the header, read up to the first
/// that decides it.
fn rolled_back_from_the_start(events: JournalStream) -> bool {
    for record in events {
        match record {
            Ok(record) => {
                if let Some(decided) = rollback_decided(&record.event) {
                    return decided;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

/// Whether `event` decides that a rolled-back session was rolled back from
/// its start (`Some(true)`: the rollback started first) or not
/// (`Some(false)`: a step of the plan was started, signed or skipped
/// first); `None` while undecided. The rule for a local journal and the
/// team journal alike.
pub fn rollback_decided(event: &Event) -> Option<bool> {
    match event {
        Event::RollbackStarted { .. } => Some(true),
        Event::StepStarted { .. } | Event::SignedOff { .. } | Event::Skipped { .. } => Some(false),
        _ => None,
    }
}

/// Where a session stands after `event`, for the events that change it:
/// the last such event of a journal is the session's status. The rule for
/// a local journal and the team journal alike.
pub fn status_after(event: &Event) -> Option<SessionStatus> {
    match event {
        Event::SessionEnded { outcome, .. } => Some(SessionStatus::Ended(*outcome)),
        Event::Detached { .. } => Some(SessionStatus::Detached),
        Event::Resumed { .. } | Event::Header(_) => Some(SessionStatus::Unfinished),
        _ => None,
    }
}

/// What the end of a journal says.
struct Tail {
    /// Time of the last complete line.
    last_event: Option<DateTime<Utc>>,
    /// Seq and hash of the last complete line.
    last: Option<(u64, LineHash)>,
    status: SessionStatus,
}

/// The time of the last complete line and the session's status, from the end
/// of the file backwards: the latest `SessionEnded` or `Detached` decides,
/// unless a `Resumed` came after it. The window widens only when it holds no
/// complete line at all (a very long last line).
fn scan_tail(path: &Path) -> Result<Tail, JournalError> {
    let io = |action| JournalError::io(action, path);
    let mut file = File::open(path).map_err(io("open the journal"))?;
    let len = file.metadata().map_err(io("inspect the journal"))?.len();
    let mut window = TAIL_WINDOW;
    let mut buf = Vec::new();
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))
            .map_err(io("read the journal"))?;
        buf.clear();
        (&mut file)
            .take(len - start)
            .read_to_end(&mut buf)
            .map_err(io("read the journal"))?;
        // The first piece is cut mid-line unless the window reaches the start.
        let mut lines = buf.split(|&b| b == b'\n').rev().collect::<Vec<_>>();
        if start > 0 {
            lines.pop();
        }
        let mut last_event = None;
        let mut last = None;
        for line in lines {
            let Some(record) = parse_line_unchecked(line) else {
                continue;
            };
            last_event.get_or_insert(record.ts);
            if last.is_none() {
                last = line_hash(line).map(|hash| (record.seq, hash));
            }
            let Some(status) = status_after(&record.event) else {
                continue;
            };
            return Ok(Tail {
                last_event,
                last,
                status,
            });
        }
        if last_event.is_some() || start == 0 {
            return Ok(Tail {
                last_event,
                last,
                status: SessionStatus::Unfinished,
            });
        }
        window = window.saturating_mul(4);
    }
}
