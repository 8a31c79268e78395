//! Following a session as it is written: every record, in order, soon after
//! its commit (what `runsheet watch` shows).
//!
//! The follower LISTENs on [`JOURNAL_CHANNEL`] and treats notifications only
//! as hints: whatever wakes it (a notification for its session, or a poll
//! every [`POLL`] in case notifications were coalesced, dropped or lost with
//! a connection), it re-reads the table from the seq after the last record
//! it yielded. So it never skips or repeats a record, across reconnects
//! too, and verifies the chain as it goes. Started at seq N > 0, it trusts
//! the stored hash of seq N-1; `verify` checks a chain from its start.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::Notification;

use super::read::{self, StoredRecord};
use super::{JOURNAL_CHANNEL, JournalConnection, JournalDb, PgError};
use crate::journal::chain::{LineHash, Verifier};

/// How often the table is read even without a notification.
pub const POLL: Duration = Duration::from_millis(500);
/// How many notifications may wait; more are dropped (they are hints).
const NOTIFICATIONS: usize = 256;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

struct Listening {
    conn: JournalConnection,
    notes: mpsc::Receiver<Notification>,
}

/// Yields the records of one session as they are committed.
pub struct Follower {
    db: JournalDb,
    session: String,
    verifier: Verifier,
    listening: Option<Listening>,
    ready: VecDeque<StoredRecord>,
    broken: Option<PgError>,
    backoff: Duration,
}

impl Follower {
    /// Follow `session` from seq `from` (0: from its header). The session
    /// must exist and hold at least `from` records.
    pub async fn start(db: &JournalDb, session: &str, from: u64) -> Result<Follower, PgError> {
        let listening = listen(db).await?;
        let head = listening.conn.head(session).await?;
        let prev = match from.checked_sub(1) {
            None => LineHash::GENESIS,
            Some(_) if from > head.next_seq => {
                return Err(PgError::Broken {
                    session: session.to_string(),
                    seq: from,
                    reason: format!(
                        "cannot follow from here: the session has {} records",
                        head.next_seq
                    ),
                });
            }
            Some(last) => stored_hash(&listening.conn, session, last).await?,
        };
        Ok(Follower {
            db: db.clone(),
            session: session.to_string(),
            verifier: Verifier::resume(prev, from),
            listening: Some(listening),
            ready: VecDeque::new(),
            broken: None,
            backoff: BACKOFF_FIRST,
        })
    }

    /// The seq of the next record this follower will yield.
    pub fn next_seq(&self) -> u64 {
        self.verifier.next_seq() - self.ready.len() as u64
    }

    /// The next record, waiting for it to be committed. An error for a lost
    /// connection is passing: the next call reconnects (after a backoff) and
    /// goes on from the same seq. A broken chain is final.
    pub async fn next(&mut self) -> Result<StoredRecord, PgError> {
        loop {
            if let Some(record) = self.ready.pop_front() {
                return Ok(record);
            }
            if let Some(e) = &self.broken {
                return Err(e.clone());
            }
            if self.listening.is_none() {
                tokio::time::sleep(self.backoff).await;
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                self.listening = Some(listen(&self.db).await?);
                self.backoff = BACKOFF_FIRST;
            }
            if self.fetch().await? == 0 {
                self.wait().await;
            }
        }
    }

    /// Read a page of what is new into `ready`; how many rows came.
    async fn fetch(&mut self) -> Result<usize, PgError> {
        let Some(listening) = self.listening.as_ref() else {
            return Ok(0);
        };
        let rows = match read::page(listening.conn.client(), &self.session, self.verifier.next_seq()).await {
            Ok(rows) => rows,
            Err(e) => {
                let error = listening.conn.error("read new records", &e);
                self.listening = None;
                return Err(error);
            }
        };
        let got = rows.len();
        for row in rows {
            match read::check(&mut self.verifier, row) {
                Ok(record) => self.ready.push_back(record),
                Err(bad) => {
                    self.broken = Some(PgError::Broken {
                        session: self.session.clone(),
                        seq: bad.seq,
                        reason: bad.reason,
                    });
                    break;
                }
            }
        }
        Ok(got)
    }

    /// Until a notification for this session, the poll interval, or the
    /// connection's end.
    async fn wait(&mut self) {
        let Some(listening) = self.listening.as_mut() else {
            return;
        };
        let deadline = tokio::time::Instant::now() + POLL;
        loop {
            tokio::select! {
                note = listening.notes.recv() => match note {
                    Some(n) if is_for(&n, &self.session) => {
                        // Everything queued behind it is older news.
                        while listening.notes.try_recv().is_ok() {}
                        return;
                    }
                    Some(_) => {}
                    None => {
                        self.listening = None;
                        return;
                    }
                },
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}

fn is_for(note: &Notification, session: &str) -> bool {
    note.payload().split_once(' ').is_some_and(|(s, _)| s == session)
}

async fn listen(db: &JournalDb) -> Result<Listening, PgError> {
    let (tx, notes) = mpsc::channel(NOTIFICATIONS);
    let conn = db.connect_listening(tx).await?;
    conn.client()
        .batch_execute(&format!("LISTEN {JOURNAL_CHANNEL}"))
        .await
        .map_err(|e| conn.error("listen for new records", &e))?;
    Ok(Listening { conn, notes })
}

async fn stored_hash(conn: &JournalConnection, session: &str, seq: u64) -> Result<LineHash, PgError> {
    let seq_i = i64::try_from(seq).unwrap_or(i64::MAX);
    let row = conn
        .client()
        .query_opt(
            "SELECT hash FROM runsheet.records WHERE session = $1 AND seq = $2",
            &[&session, &seq_i],
        )
        .await
        .map_err(|e| conn.error("read where to follow from", &e))?;
    row.and_then(|r| LineHash::parse(r.get::<_, &str>(0).as_bytes()))
        .ok_or_else(|| PgError::Broken {
            session: session.to_string(),
            seq,
            reason: "the record is missing or its hash column is not a hash".into(),
        })
}
