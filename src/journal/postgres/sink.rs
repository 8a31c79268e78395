//! [`PgJournal`]: a session journal kept only in the journal database.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::append::StoredLine;
use super::link::{COMMIT_WAIT, Link, LinkConfig, ReplicaStatus};
use super::lock::{Claim, DriverLock, Origin};
use super::{JournalDb, PgError};
use crate::journal::chain::{LineHash, encode_line};
use crate::journal::event::{Event, Header, Record};
use crate::journal::file::check_session_id;
use crate::journal::{JournalError, JournalSink, OUTPUT_BATCH_AGE, OUTPUT_BATCH_BYTES};

/// A session journal in the journal database only, behind [`JournalSink`]
/// with the file backend's rules: a durable event is committed before
/// `append` returns; output is batched (256 KiB / 100 ms, or the next
/// durable event, or `flush`) and sent in multi-row inserts. A lost
/// connection is re-established and the unconfirmed lines are sent again;
/// if the database cannot confirm a durable event within 11 s (`COMMIT_WAIT`),
/// `append` fails and the sink refuses further events, like a file that
/// cannot be written. A driver
/// uses [`TeeJournal`](crate::journal::tee::TeeJournal) instead, which also
/// keeps the local file and rides out an outage.
pub struct PgJournal {
    session: String,
    target: String,
    link: Link,
    lock: Option<DriverLock>,
    prev: LineHash,
    next_seq: u64,
    line: Vec<u8>,
    output: Option<(Instant, usize)>,
    failed: Option<PgError>,
}

impl PgJournal {
    /// Start a new session's journal with its header (seq 0), optionally
    /// taking the session's driver lock for `driver`.
    pub fn create(
        db: &JournalDb,
        header: Header,
        driver: Option<&Origin>,
    ) -> Result<PgJournal, JournalError> {
        check_session_id(&header.session_id)?;
        let session = header.session_id.clone();
        let (link, opened) = Link::start(LinkConfig {
            db: db.clone(),
            session: session.clone(),
            lock: driver.map(|o| (o.clone(), Claim::Acquire)),
            file: None,
        })?;
        if opened.head.is_some() {
            return Err(PgError::SessionExists { session }.into());
        }
        let mut journal = PgJournal::new(db, session, link, opened.lock, LineHash::GENESIS, 0);
        journal.push(Event::Header(Box::new(header)), None)?;
        Ok(journal)
    }

    /// Continue a session stored in the journal database: its records are
    /// read and verified, and appends continue after the last one.
    pub fn open_append(
        db: &JournalDb,
        session: &str,
        driver: Option<(&Origin, Claim)>,
    ) -> Result<(PgJournal, Vec<Record>), JournalError> {
        let (link, opened) = Link::start(LinkConfig {
            db: db.clone(),
            session: session.to_string(),
            lock: driver.map(|(o, c)| (o.clone(), c)),
            file: None,
        })?;
        let Some(head) = opened.head else {
            return Err(PgError::NoSession {
                session: session.to_string(),
                target: db.target(),
            }
            .into());
        };
        let read = super::run_blocking(super::read::read_verified(db, session))?;
        if read.next_seq != head.next_seq || read.last_hash != head.last_hash {
            // Someone appended between reading the head and the records.
            return Err(PgError::ChainConflict {
                session: session.to_string(),
                expected: head.next_seq,
                head: read.next_seq.to_string(),
            }
            .into());
        }
        let journal = PgJournal::new(
            db,
            session.to_string(),
            link,
            opened.lock,
            head.last_hash,
            head.next_seq,
        );
        Ok((journal, read.records))
    }

    fn new(
        db: &JournalDb,
        session: String,
        link: Link,
        lock: Option<DriverLock>,
        prev: LineHash,
        next_seq: u64,
    ) -> PgJournal {
        PgJournal {
            session,
            target: db.target(),
            link,
            lock,
            prev,
            next_seq,
            line: Vec::new(),
            output: None,
            failed: None,
        }
    }

    /// The driver lock this journal holds, if it took one.
    pub fn driver_lock(&self) -> Option<&DriverLock> {
        self.lock.as_ref()
    }

    pub fn status(&self) -> ReplicaStatus {
        self.link.lock().status()
    }

    /// Encode, queue and (when due) send an event.
    fn push(&mut self, event: Event, origin: Option<Box<Origin>>) -> Result<Record, JournalError> {
        if let Some(e) = &self.failed {
            return Err(e.clone().into());
        }
        let durable = event.is_durable();
        let record = Record {
            seq: self.next_seq,
            ts: Utc::now(),
            event,
            origin,
        };
        self.line.clear();
        let hash = encode_line(&record, &self.prev, &mut self.line)?;
        self.line.pop();
        let stored = StoredLine::parse(&self.line, 0).expect("the encoder writes journal lines");
        self.prev = hash;
        self.next_seq += 1;
        let (since, bytes) = self.output.get_or_insert_with(|| (Instant::now(), 0));
        *bytes += stored.text.len();
        let due = durable || *bytes >= OUTPUT_BATCH_BYTES || since.elapsed() >= OUTPUT_BATCH_AGE;
        {
            let mut st = self.link.lock();
            st.push(stored);
            if due {
                st.release_all();
            }
        }
        if due {
            self.output = None;
            self.link.wake();
        }
        if durable {
            self.confirm(record.seq + 1)?;
        }
        Ok(record)
    }

    /// Wait for the database to have every line below `seq`, through a
    /// reconnection if need be; fail the sink if it cannot within `COMMIT_WAIT`.
    fn confirm(&mut self, seq: u64) -> Result<(), JournalError> {
        if self.link.wait_committed(seq, COMMIT_WAIT, true) {
            return Ok(());
        }
        let st = self.link.lock();
        let error = match (st.fatal(), st.status()) {
            (Some(e), _) => e.clone(),
            (None, ReplicaStatus::Buffering { reason, .. }) => PgError::Unavailable {
                target: self.target.clone(),
                reason,
            },
            (None, _) => PgError::Unavailable {
                target: self.target.clone(),
                reason: format!("no confirmation within {} s", COMMIT_WAIT.as_secs()),
            },
        };
        drop(st);
        self.failed = Some(error.clone());
        Err(error.into())
    }
}

impl JournalSink for PgJournal {
    fn append_from(&mut self, event: Event, origin: Option<Box<Origin>>) -> Result<Record, JournalError> {
        if matches!(event, Event::Header(_)) {
            return Err(JournalError::MisplacedHeader {
                path: PathBuf::from(format!("session {} in {}", self.session, self.target)),
            });
        }
        self.push(event, origin)
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        if let Some(e) = &self.failed {
            return Err(e.clone().into());
        }
        self.link.lock().release_all();
        self.output = None;
        self.link.wake();
        self.confirm(self.next_seq)
    }

    fn replica(&self) -> Option<ReplicaStatus> {
        Some(self.status())
    }

    fn last_hash(&self) -> LineHash {
        self.prev
    }
}

impl Drop for PgJournal {
    /// Buffered output is sent when a session closes without a last flush.
    fn drop(&mut self) {
        self.link.lock().release_all();
        self.link.close(if self.failed.is_some() {
            Duration::ZERO
        } else {
            COMMIT_WAIT
        });
    }
}
