//! The local file backend: `STATE_DIR/sessions/<id>.jsonl`, with its
//! anchor `<id>.anchor` rewritten after every durable write.
//!
//! Files are created 0600 in a 0700 directory. While a session writes its
//! journal it holds an exclusive lock on `<id>.lock` beside it (see
//! [`SessionLock`]), so a second runsheet cannot resume a session that is
//! still live. Readers (replay, report, verify) take no lock.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use std::collections::BTreeSet;
use std::sync::Mutex;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

use super::anchor;
use super::chain::{LineHash, encode_line};
use super::event::{Event, Header, Record};
use super::reader::{Integrity, JournalStream, ReadJournal};
use super::{JournalError, JournalSink, OUTPUT_BATCH_AGE, OUTPUT_BATCH_BYTES};
use crate::seat::Origin;

/// A new, unique, time-sortable session id such as `20261124-021503-ab12cd`
/// (UTC start time and 6 random hex digits from the operating system).
pub fn new_session_id() -> String {
    let now = Utc::now();
    let mut random = [0u8; 3];
    if getrandom::fill(&mut random).is_err() {
        // No system randomness: the clock and the process still tell sessions apart.
        let mix = now.timestamp_subsec_nanos() ^ std::process::id().rotate_left(13);
        random.copy_from_slice(&mix.to_le_bytes()[..3]);
    }
    format!(
        "{}-{:02x}{:02x}{:02x}",
        now.format("%Y%m%d-%H%M%S"),
        random[0],
        random[1],
        random[2]
    )
}

/// The journal path of session `id` in the state directory `dir`.
pub fn journal_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("sessions").join(format!("{id}.jsonl"))
}

/// A session id becomes a file name: keep it to a safe alphabet.
pub(crate) fn check_session_id(id: &str) -> Result<(), JournalError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(JournalError::InvalidSessionId { id: id.to_string() })
    }
}

/// Lock files held by this process (their paths, canonical): record locks
/// do not conflict within one process, so this says "taken" instead.
static HELD: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// The exclusive write lock of one session: a POSIX record lock (`F_SETLK`)
/// on its own file `<id>.lock`, released when this is dropped or the
/// process dies.
///
/// A record lock belongs to the process, not to an open file: a step's
/// process forked from runsheet never holds it, so a SIGKILLed runsheet's
/// steps cannot keep a resume out (an `flock` on the journal's descriptor
/// would be shared with every child until its exec). Closing any descriptor
/// of the locked file drops a record lock, which is why it is a file of its
/// own that nothing else opens, and why a second holder in this process is
/// refused before it opens the file.
#[derive(Debug)]
struct SessionLock {
    /// Kept open: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

impl SessionLock {
    /// Take the lock of the journal at `journal` (which exists), or say who has it.
    fn take(journal: &Path) -> Result<SessionLock, JournalError> {
        let locked = || JournalError::Locked {
            path: journal.to_path_buf(),
        };
        let canonical = journal
            .canonicalize()
            .map_err(JournalError::io("open the journal", journal))?;
        let path = canonical.with_extension("lock");
        let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if held.contains(&path) {
            return Err(locked());
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(JournalError::io("open the journal's lock file", &path))?;
        // SAFETY: `flock` is a plain C struct for which all-zero bytes are valid.
        let mut range: libc::flock = unsafe { std::mem::zeroed() };
        range.l_type = libc::F_WRLCK as libc::c_short;
        range.l_whence = libc::SEEK_SET as libc::c_short;
        match fcntl(&file, FcntlArg::F_SETLK(&range)) {
            Ok(_) => {}
            Err(Errno::EAGAIN | Errno::EACCES) => return Err(locked()),
            Err(errno) => {
                return Err(JournalError::Io {
                    action: "lock the journal",
                    path,
                    source: errno.into(),
                });
            }
        }
        held.insert(path.clone());
        Ok(SessionLock { _file: file, path })
    }
}

/// The process that holds the write lock of the journal at `journal` (a
/// live driver), if any: what `runsheet sessions` and `runsheet attach` ask
/// before they trust a session to be running. Never call it in the process
/// that may hold the lock: closing the descriptor it opens would drop it.
pub fn lock_holder(journal: &Path) -> Option<i32> {
    let file = File::open(journal.with_extension("lock")).ok()?;
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are valid.
    let mut range: libc::flock = unsafe { std::mem::zeroed() };
    range.l_type = libc::F_WRLCK as libc::c_short;
    range.l_whence = libc::SEEK_SET as libc::c_short;
    fcntl(&file, FcntlArg::F_GETLK(&mut range)).ok()?;
    (range.l_type != libc::F_UNLCK as libc::c_short).then_some(range.l_pid)
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        held.remove(&self.path);
    }
}

/// When a durable event reaches stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Before `append` returns, the anchor rewritten after it.
    Now,
    /// Written at once, synced with the next event committed now or at
    /// `flush` (group commit; see [`JournalSink::append_deferred`]).
    Grouped,
}

/// A session journal in a local file. See [`JournalSink`] for durability.
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    file: File,
    /// Held while this journal is open (declared after `file`, so dropped after it).
    _lock: SessionLock,
    prev: LineHash,
    next_seq: u64,
    /// Bytes in the file: where the first pending line will start.
    len: u64,
    /// Seq of the first line not yet written (in `pending`, or to come).
    written_seq: u64,
    /// Encoded lines of output events not yet written.
    pending: Vec<u8>,
    pending_since: Option<Instant>,
    /// Written but not yet synced.
    unsynced: bool,
    /// A write or sync failed: what is on disk is unknown, so nothing more is
    /// appended (resuming the session truncates a torn line and continues).
    failed: bool,
    /// Device and inode of the open file: the path must still name it.
    identity: (u64, u64),
}

impl FileJournal {
    /// Start the journal of a new session in the state directory `dir`:
    /// creates `dir/sessions/<header.session_id>.jsonl` and writes the header
    /// (seq 0), synced together with the directory entry.
    pub fn create(dir: &Path, header: Header) -> Result<FileJournal, JournalError> {
        FileJournal::create_copying(dir, header, None)
    }

    /// [`FileJournal::create`], also copying the header's line (without its
    /// newline) into `line`, as [`FileJournal::append_line`] does.
    pub fn create_with_line(
        dir: &Path,
        header: Header,
        line: &mut Vec<u8>,
    ) -> Result<FileJournal, JournalError> {
        FileJournal::create_copying(dir, header, Some(line))
    }

    fn create_copying(
        dir: &Path,
        header: Header,
        line: Option<&mut Vec<u8>>,
    ) -> Result<FileJournal, JournalError> {
        check_session_id(&header.session_id)?;
        let sessions = dir.join("sessions");
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&sessions)
            .map_err(JournalError::io("create the session directory", &sessions))?;
        let path = journal_path(dir, &header.session_id);
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| {
                if e.kind() == ErrorKind::AlreadyExists {
                    JournalError::Exists { path: path.clone() }
                } else {
                    JournalError::io("create the journal", &path)(e)
                }
            })?;
        let written = SessionLock::take(&path).and_then(|lock| {
            let mut journal = FileJournal::new(path.clone(), file, lock, LineHash::GENESIS, 0, 0);
            journal.append_record(Event::Header(Box::new(header)), None, line, Commit::Now)?;
            File::open(&sessions)
                .and_then(|d| d.sync_all())
                .map_err(JournalError::io("sync the session directory", &sessions))?;
            Ok(journal)
        });
        if written.is_err() {
            // A journal without its header is no session; do not leave it behind.
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(anchor::anchor_path(&path));
        }
        written
    }

    /// Re-open an existing journal to continue it (resume). The journal is
    /// read and verified first; a torn last line is cut off the file (with a
    /// warning in the returned [`ReadJournal`]), a broken chain is refused.
    pub fn open_append(path: &Path) -> Result<(FileJournal, ReadJournal), JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(JournalError::io("open the journal", path))?;
        // Lock before reading so nobody appends between the check and the cut.
        let lock = SessionLock::take(path)?;
        let mut stream = JournalStream::open(path)?;
        let records = stream.by_ref().collect::<Result<Vec<_>, _>>()?;
        if let Integrity::Broken { line, reason } = stream.integrity() {
            return Err(JournalError::Broken {
                path: path.to_path_buf(),
                line: *line,
                reason: reason.clone(),
            });
        }
        let good_len = stream.good_len();
        let mut warnings = stream.warnings().to_vec();
        let io = |action| JournalError::io(action, path);
        let len = file.metadata().map_err(io("inspect the journal"))?.len();
        if len > good_len {
            file.set_len(good_len).map_err(io("truncate the journal"))?;
            warnings.push(format!(
                "removed {} bytes of an incomplete last line from {}",
                len - good_len,
                path.display()
            ));
        }
        // A verified journal holds at least its header line, so `good_len > 0`.
        let mut last = [b'\n'];
        if let Some(offset) = good_len.checked_sub(1) {
            file.read_exact_at(&mut last, offset)
                .map_err(io("read the journal"))?;
        }
        if last[0] != b'\n' {
            // The last line is complete but lost its newline in a crash.
            (&file).write_all(b"\n").map_err(io("write the journal"))?;
        }
        if len != good_len || last[0] != b'\n' {
            file.sync_data().map_err(io("sync the journal"))?;
        }
        let read = ReadJournal {
            integrity: Integrity::Verified,
            warnings,
            last_hash: stream.last_hash().to_string(),
            good_len,
            records,
        };
        // The file's length now, the newline added included.
        let now_len = good_len + u64::from(last[0] != b'\n');
        let journal = FileJournal::new(
            path.to_path_buf(),
            file,
            lock,
            *stream.last_hash(),
            read.records.len() as u64,
            now_len,
        );
        Ok((journal, read))
    }

    fn new(
        path: PathBuf,
        file: File,
        lock: SessionLock,
        prev: LineHash,
        next_seq: u64,
        len: u64,
    ) -> FileJournal {
        let identity = file.metadata().map_or((0, 0), |m| (m.dev(), m.ino()));
        FileJournal {
            identity,
            path,
            file,
            _lock: lock,
            prev,
            next_seq,
            len,
            written_seq: next_seq,
            pending: Vec::new(),
            pending_since: None,
            unsynced: false,
            failed: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lines with a seq below this are in the file (written, perhaps not yet
    /// synced); the rest wait in the output batch.
    pub fn written_seq(&self) -> u64 {
        self.written_seq
    }

    /// [`JournalSink::append`], also copying the line as written (without its
    /// newline) into `line` and returning the byte offset it starts at in
    /// the file: what a copy of the journal elsewhere needs to store the very
    /// same bytes, and to find them again in the file.
    pub fn append_line(
        &mut self,
        event: Event,
        origin: Option<Box<Origin>>,
        line: &mut Vec<u8>,
    ) -> Result<(Record, u64), JournalError> {
        self.append_event(event, origin, Some(line), Commit::Now)
    }

    /// [`FileJournal::append_record`] of any event but a header (only the
    /// first line is one).
    fn append_event(
        &mut self,
        event: Event,
        origin: Option<Box<Origin>>,
        copy: Option<&mut Vec<u8>>,
        commit: Commit,
    ) -> Result<(Record, u64), JournalError> {
        if matches!(event, Event::Header(_)) {
            return Err(JournalError::MisplacedHeader {
                path: self.path.clone(),
            });
        }
        self.append_record(event, origin, copy, commit)
    }

    /// Append `event`; with `copy`, the line is also copied there. Returns
    /// the record and the offset of its line in the file.
    fn append_record(
        &mut self,
        event: Event,
        origin: Option<Box<Origin>>,
        copy: Option<&mut Vec<u8>>,
        commit: Commit,
    ) -> Result<(Record, u64), JournalError> {
        if self.failed {
            return Err(JournalError::Failed {
                path: self.path.clone(),
            });
        }
        let record = Record {
            seq: self.next_seq,
            ts: Utc::now(),
            event,
            origin,
        };
        let start = self.pending.len();
        self.prev = encode_line(&record, &self.prev, &mut self.pending)?;
        self.next_seq += 1;
        if let Some(copy) = copy {
            copy.clear();
            copy.extend_from_slice(&self.pending[start..self.pending.len() - 1]);
        }
        let offset = self.len + start as u64;
        if !record.event.is_durable() {
            self.batch_output()?;
        } else if commit == Commit::Grouped {
            self.check_anchored()?;
            self.write_pending()?;
        } else {
            self.check_anchored()?;
            self.write_pending()?;
            self.sync()?;
            anchor::write(&self.path, record.seq, &self.prev)?;
        }
        Ok((record, offset))
    }

    /// Output waits in the batch until it is large or old enough.
    fn batch_output(&mut self) -> Result<(), JournalError> {
        let since = *self.pending_since.get_or_insert_with(Instant::now);
        if self.pending.len() >= OUTPUT_BATCH_BYTES || since.elapsed() >= OUTPUT_BATCH_AGE {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Before every durable write: the path still names the file this
    /// journal writes, at the length it wrote. A journal deleted, replaced
    /// (by another file at its path) or cut or added to by someone else
    /// stops the session instead of going on writing where nobody reads.
    fn check_anchored(&mut self) -> Result<(), JournalError> {
        let what = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == ErrorKind::NotFound => Some("was deleted"),
            Err(_) => Some("can no longer be looked at"),
            Ok(m) if (m.dev(), m.ino()) != self.identity => Some("was replaced by another file"),
            Ok(m) if m.len() < self.len => Some("was truncated"),
            Ok(m) if m.len() > self.len => Some("was written to by someone else"),
            Ok(_) => None,
        };
        match what {
            Some(what) => {
                self.failed = true;
                Err(JournalError::Tampered {
                    path: self.path.clone(),
                    what,
                })
            }
            None => Ok(()),
        }
    }

    fn write_pending(&mut self) -> Result<(), JournalError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let written = (&self.file).write_all(&self.pending);
        self.len += self.pending.len() as u64;
        self.written_seq = self.next_seq;
        self.pending.clear();
        self.pending_since = None;
        self.unsynced = true;
        written.map_err(|e| {
            self.failed = true;
            JournalError::io("write the journal", &self.path)(e)
        })
    }

    fn sync(&mut self) -> Result<(), JournalError> {
        if self.unsynced {
            self.file.sync_data().map_err(|e| {
                self.failed = true;
                JournalError::io("sync the journal", &self.path)(e)
            })?;
            self.unsynced = false;
        }
        Ok(())
    }
}

impl JournalSink for FileJournal {
    fn append_from(&mut self, event: Event, origin: Option<Box<Origin>>) -> Result<Record, JournalError> {
        self.append_event(event, origin, None, Commit::Now)
            .map(|(record, _)| record)
    }

    fn append_deferred(&mut self, event: Event, origin: Option<Box<Origin>>) -> Result<Record, JournalError> {
        self.append_event(event, origin, None, Commit::Grouped)
            .map(|(record, _)| record)
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        if self.failed {
            return Err(JournalError::Failed {
                path: self.path.clone(),
            });
        }
        self.write_pending()?;
        self.sync()
    }

    fn last_hash(&self) -> LineHash {
        self.prev
    }
}

impl Drop for FileJournal {
    /// Buffered output is not lost when a session closes without a last flush.
    fn drop(&mut self) {
        if !self.failed {
            let _ = self.flush();
        }
    }
}
