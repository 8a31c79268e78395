//! The driver's journal in a team session: the local file, as always, and
//! a copy of every line in the journal database.
//!
//! The file is written first, so it always holds at least what the database
//! has; it is the buffer while the database is away. [`TeeJournal::append`]
//! then hands the very same line (the same bytes, so the same hash) to the
//! link, and for a durable event waits for its commit while the database
//! keeps up. When the database goes away, `append` still succeeds (the
//! event is durable in the file), [`TeeJournal::status`] turns to
//! [`ReplicaStatus::Buffering`] (how many events, since when, why), and the
//! link reconnects with backoff and sends what the database lacks from the
//! file, in order, checking the chain. The driver shows the status and
//! starts no new state-changing step while it [`is_degraded`].
//!
//! The journal also holds the session's driver lock for its whole life (on
//! the link's connection). A fork or a lost lock stops the copy for good:
//! `append` and `flush` fail from then on.
//!
//! [`is_degraded`]: JournalSink::is_degraded

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::chain::LineHash;
use super::event::{Event, Header, Record};
use super::file::{FileJournal, check_session_id, journal_path};
use super::postgres::append::{Head, StoredLine};
use super::postgres::link::{COMMIT_WAIT, Link, LinkConfig};
use super::postgres::lock::{Claim, DriverLock, Origin};
use super::postgres::{JournalDb, PgError, ReplicaStatus};
use super::reader::{JournalStream, ReadJournal};
use super::{JournalError, JournalSink, OUTPUT_BATCH_AGE, OUTPUT_BATCH_BYTES};

/// The local journal file plus its copy in the journal database.
pub struct TeeJournal {
    file: FileJournal,
    link: Link,
    lock: DriverLock,
    /// The line just appended (reused buffer).
    line: Vec<u8>,
    /// Since when output has been waiting to be released, and how much.
    output: Option<(Instant, usize)>,
}

impl TeeJournal {
    /// Start a new session: take its driver lock for `driver`, then create
    /// the local journal in `state_dir` and write the header to both.
    pub fn create(
        state_dir: &Path,
        header: Header,
        db: &JournalDb,
        driver: &Origin,
    ) -> Result<TeeJournal, JournalError> {
        check_session_id(&header.session_id)?;
        let session = header.session_id.clone();
        let (link, opened) = Link::start(LinkConfig {
            db: db.clone(),
            session: session.clone(),
            lock: Some((driver.clone(), Claim::Acquire)),
            file: Some(journal_path(state_dir, &session)),
        })?;
        if opened.head.is_some() {
            return Err(PgError::SessionExists { session }.into());
        }
        let lock = opened.lock.expect("the link was asked for the driver lock");
        let mut line = Vec::new();
        let file = FileJournal::create_with_line(state_dir, header, &mut line)?;
        let mut tee = TeeJournal {
            file,
            link,
            lock,
            line,
            output: None,
        };
        let header_line = tee.stored_line(0)?;
        tee.hand_over(header_line, true);
        Ok(tee)
    }

    /// Continue the session of the local journal at `path`: take its driver
    /// lock (`claim` says whether to take over from a holder whose
    /// connection is gone), verify the file, and square it with the journal
    /// database, which must hold a prefix of it: what it lacks (a crash
    /// while it was away) is sent before anything new. The lock's
    /// `taken_over_from`, when set, is for the caller to journal.
    pub fn open_append(
        path: &Path,
        db: &JournalDb,
        driver: &Origin,
        claim: Claim,
    ) -> Result<(TeeJournal, ReadJournal), JournalError> {
        let session = session_of(path)?;
        let (link, opened) = Link::start(LinkConfig {
            db: db.clone(),
            session: session.clone(),
            lock: Some((driver.clone(), claim)),
            file: Some(path.to_path_buf()),
        })?;
        let lock = opened.lock.expect("the link was asked for the driver lock");
        let (file, read) = FileJournal::open_append(path)?;
        let local = read.records.len() as u64;
        let head = opened.head.unwrap_or(Head::EMPTY);
        let diverged = |seq, reason: String| -> JournalError {
            PgError::Diverged {
                session: session.clone(),
                seq,
                reason,
            }
            .into()
        };
        if head.next_seq > local {
            return Err(diverged(
                local,
                format!(
                    "the journal database has {} records, the local journal {local}; continue from a copy of the database's",
                    head.next_seq
                ),
            ));
        }
        let (hash, offset) = position(path, head.next_seq)?;
        if hash != head.last_hash {
            return Err(diverged(
                head.next_seq.saturating_sub(1),
                "the two copies hold different records here".into(),
            ));
        }
        link.resume_from_file(head, offset, local);
        let tee = TeeJournal {
            file,
            link,
            lock,
            line: Vec::new(),
            output: None,
        };
        Ok((tee, read))
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The session's driver lock, held as long as this journal is open.
    pub fn driver_lock(&self) -> &DriverLock {
        &self.lock
    }

    /// Where the copy in the journal database stands.
    pub fn status(&self) -> ReplicaStatus {
        self.link.lock().status()
    }

    /// Flush, then wait until the journal database has every event
    /// appended so far, through reconnections, for up to `timeout`; true if
    /// it has (a driver's clean end, and tests).
    pub fn sync_replica(&mut self, timeout: Duration) -> Result<bool, JournalError> {
        self.flush()?;
        let appended = self.link.lock().appended();
        Ok(self.link.wait_committed(appended, timeout, true))
    }

    fn stored_line(&self, offset: u64) -> Result<StoredLine, JournalError> {
        StoredLine::parse(&self.line, offset).ok_or_else(|| {
            JournalError::Encode(serde::ser::Error::custom(
                "the encoder wrote a line that does not parse as a journal line",
            ))
        })
    }

    /// Give the link a line just written to the file; release the batch
    /// when due, and for a durable line wait for its commit while the
    /// database keeps up.
    fn hand_over(&mut self, line: StoredLine, durable: bool) {
        let seq = line.seq;
        let (since, bytes) = self.output.get_or_insert_with(|| (Instant::now(), 0));
        *bytes += line.text.len();
        let due = durable || *bytes >= OUTPUT_BATCH_BYTES || since.elapsed() >= OUTPUT_BATCH_AGE;
        let keeping_up = {
            let mut st = self.link.lock();
            st.push(line);
            st.set_on_file(self.file.written_seq());
            if due {
                st.release_all();
            }
            st.keeping_up()
        };
        if due {
            self.output = None;
            self.link.wake();
        }
        if durable && keeping_up {
            // Not confirmed in time means the link is declaring an outage:
            // the status says so, and the event is safe in the file.
            self.link.wait_committed(seq + 1, COMMIT_WAIT, false);
        }
    }

    fn stopped(&self) -> Result<(), JournalError> {
        match self.link.lock().fatal() {
            Some(e) => Err(e.clone().into()),
            None => Ok(()),
        }
    }
}

impl JournalSink for TeeJournal {
    fn last_hash(&self) -> crate::journal::chain::LineHash {
        self.file.last_hash()
    }

    fn append_from(&mut self, event: Event, origin: Option<Box<Origin>>) -> Result<Record, JournalError> {
        self.stopped()?;
        let durable = event.is_durable();
        let (record, offset) = self.file.append_line(event, origin, &mut self.line)?;
        let line = self.stored_line(offset)?;
        self.hand_over(line, durable);
        Ok(record)
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        self.stopped()?;
        self.file.flush()?;
        {
            let mut st = self.link.lock();
            st.set_on_file(self.file.written_seq());
            st.release_all();
        }
        self.output = None;
        self.link.wake();
        Ok(())
    }

    fn replica(&self) -> Option<ReplicaStatus> {
        Some(self.status())
    }
}

impl Drop for TeeJournal {
    /// Send what the database lacks (while connected), then let go of the lock.
    fn drop(&mut self) {
        let _ = self.file.flush();
        {
            let mut st = self.link.lock();
            st.set_on_file(self.file.written_seq());
            st.release_all();
        }
        self.link.close(COMMIT_WAIT);
    }
}

/// The session id in the header of the journal at `path`.
fn session_of(path: &Path) -> Result<String, JournalError> {
    let mut stream = JournalStream::open(path)?;
    match stream.next().transpose()? {
        Some(Record {
            event: Event::Header(header),
            ..
        }) => Ok(header.session_id),
        _ => Err(JournalError::Broken {
            path: PathBuf::from(path),
            line: 1,
            reason: "the first line is not a readable session header".into(),
        }),
    }
}

/// The hash of line `seq - 1` of the journal at `path` and the offset where
/// line `seq` starts (genesis and 0 for seq 0).
fn position(path: &Path, seq: u64) -> Result<(LineHash, u64), JournalError> {
    let mut stream = JournalStream::open(path)?;
    for _ in 0..seq {
        if stream.next().transpose()?.is_none() {
            break;
        }
    }
    Ok((*stream.last_hash(), stream.good_len()))
}
