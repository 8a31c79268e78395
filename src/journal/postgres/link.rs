//! The writer's link to the journal database: a thread of its own with one
//! connection, which sends handed-over journal lines in order, one batch
//! per transaction, each checked against the chain's head, and reconnects
//! with backoff when the connection goes.
//!
//! The sinks ([`PgJournal`](super::PgJournal), [`TeeJournal`]) share a
//! [`LinkState`] with it under a mutex: they push lines and mark how far
//! they may be sent ("released"); the link commits them and advances
//! `committed`, waking anyone waiting on the condition variable.
//!
//! With a local file (the tee), lines come from one of two places:
//! - **live**: from the in-memory queue, while connected and keeping up;
//! - **from the file**: after the connection was lost, or when the queue
//!   grew past [`SPILL_BYTES`], the queue is dropped and the link re-reads
//!   the local file from the first line the database has not got,
//!   verifying the chain as it goes, until it has caught up; then it goes
//!   live again. Memory stays bounded however long the database is away.
//!
//! Without a file, the queue is all there is: it is kept across reconnects.
//!
//! When the connection dies during a commit, the link cannot know whether
//! that batch landed: on reconnecting it compares the chain's head with the
//! batch (the "in doubt" lines) and counts it as committed only if the head
//! is exactly its last line.
//!
//! [`TeeJournal`]: crate::journal::tee::TeeJournal

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::append::{self, Appended, Head, StoredLine};
use super::lock::{self, Claim, DriverLock, Origin};
use super::{JournalConnection, JournalDb, PgError};
use crate::journal::chain::{LineError, LineHash, Verifier};

/// At most this many records per transaction…
const BATCH_ROWS: usize = 5_000;
/// …and about this many bytes of lines.
const BATCH_BYTES: usize = 4 << 20;
/// A live queue larger than this is dropped and re-read from the file.
const SPILL_BYTES: usize = 64 << 20;
/// A transaction that takes longer than this counts as a lost connection.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a sink waits for a durable event's commit: past the
/// transaction's own timeout, so that the link decides whether it is lost.
pub(crate) const COMMIT_WAIT: Duration = Duration::from_secs(11);
/// Reconnection backoff: first wait, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Where the copy in the journal database stands, as the driver shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaStatus {
    /// Connected and keeping up: every event handed over is committed or
    /// about to be (`unconfirmed` of them are on their way).
    InSync { unconfirmed: u64 },
    /// Events are not reaching the journal database: they are safe in the
    /// local file and are sent, in order, once it is back. The driver shows
    /// this and starts no new state-changing step until it clears.
    Buffering {
        since: DateTime<Utc>,
        /// Events the journal database does not have yet.
        events: u64,
        reason: String,
    },
    /// The copy stopped for good (another writer, a lost driver lock, a
    /// broken local file): the session cannot go on in the team journal.
    Stopped { reason: String },
}

impl ReplicaStatus {
    /// True unless the journal database has (or is about to have) everything.
    pub fn is_degraded(&self) -> bool {
        !matches!(self, ReplicaStatus::InSync { .. })
    }
}

impl fmt::Display for ReplicaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplicaStatus::InSync { .. } => f.write_str("journal database in sync"),
            ReplicaStatus::Buffering {
                since,
                events,
                reason,
            } => write!(
                f,
                "journal database behind since {} ({reason}): {events} event{} only in the local journal, sent in order as soon as it takes them",
                since.format("%H:%M:%S UTC"),
                if *events == 1 { "" } else { "s" }
            ),
            ReplicaStatus::Stopped { reason } => write!(f, "journal database copy stopped: {reason}"),
        }
    }
}

/// Where the link takes the next lines from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    Live,
    FromFile,
}

/// Why the link is not in sync.
#[derive(Debug, Clone)]
struct Outage {
    since: DateTime<Utc>,
    reason: String,
}

/// State shared by a sink and its link.
#[derive(Debug)]
pub(crate) struct LinkState {
    /// Lines can be re-read from a local file.
    has_file: bool,
    feed: Feed,
    /// Lines not yet sent (live feed): seqs `committed + in flight ..`.
    queue: VecDeque<StoredLine>,
    queue_bytes: usize,
    /// Lines with a seq below this may be sent.
    released: u64,
    /// The seq the sink will append next.
    appended: u64,
    /// Lines with a seq below this are in the local file.
    on_file: u64,
    /// The database has every line with a seq below this…
    committed: u64,
    /// …the last of which hashed to this…
    committed_hash: LineHash,
    /// …and the next starts here in the local file.
    committed_offset: u64,
    /// The batch whose commit was not confirmed when the connection went.
    in_doubt: Vec<StoredLine>,
    connected: bool,
    outage: Option<Outage>,
    fatal: Option<PgError>,
    closing: bool,
    stopped: bool,
}

impl LinkState {
    fn new(has_file: bool) -> LinkState {
        LinkState {
            has_file,
            feed: Feed::Live,
            queue: VecDeque::new(),
            queue_bytes: 0,
            released: 0,
            appended: 0,
            on_file: 0,
            committed: 0,
            committed_hash: LineHash::GENESIS,
            committed_offset: 0,
            in_doubt: Vec::new(),
            connected: false,
            outage: None,
            fatal: None,
            closing: false,
            stopped: false,
        }
    }

    /// Square the chain's `head`, read after reconnecting, with what the
    /// link knows. The in-doubt batch counts as committed only if the head
    /// is exactly its last line; if the head is where it was, the batch is
    /// sent again (from the queue, or the file re-reads it). Anything else
    /// means someone else wrote: `Err` with that head.
    fn reconcile(&mut self, head: Option<Head>) -> Result<(), Head> {
        let in_doubt = std::mem::take(&mut self.in_doubt);
        let known = Head {
            next_seq: self.committed,
            last_hash: self.committed_hash,
        };
        match (head.unwrap_or(Head::EMPTY), in_doubt.last()) {
            (h, _) if h == known => {
                if !self.has_file {
                    for line in in_doubt.into_iter().rev() {
                        self.queue_bytes += line.text.len();
                        self.queue.push_front(line);
                    }
                }
                Ok(())
            }
            (h, Some(last)) if h.next_seq == last.seq + 1 && h.last_hash == last.hash => {
                self.committed = h.next_seq;
                self.committed_hash = h.last_hash;
                self.committed_offset = last.end_offset();
                Ok(())
            }
            (h, _) => Err(h),
        }
    }

    /// Add a line (the next seq) to the live queue; with a local file, a
    /// queue that grew too large is dropped for re-reading from the file.
    pub fn push(&mut self, line: StoredLine) {
        self.appended = line.seq + 1;
        if self.feed != Feed::Live {
            return;
        }
        self.queue_bytes += line.text.len();
        self.queue.push_back(line);
        if self.has_file && self.queue_bytes > SPILL_BYTES {
            self.feed = Feed::FromFile;
            self.queue.clear();
            self.queue_bytes = 0;
            self.outage.get_or_insert_with(|| Outage {
                since: Utc::now(),
                reason: "the journal database is falling behind; sending from the local journal".into(),
            });
        }
    }

    /// Everything appended so far may be sent.
    pub fn release_all(&mut self) {
        self.released = self.appended;
    }

    /// Lines with a seq below `seq` are in the local file.
    pub fn set_on_file(&mut self, seq: u64) {
        self.on_file = seq;
    }

    pub fn appended(&self) -> u64 {
        self.appended
    }

    pub fn fatal(&self) -> Option<&PgError> {
        self.fatal.as_ref()
    }

    /// Whether a durable line just released can be waited for: connected,
    /// live, and not stopped.
    pub fn keeping_up(&self) -> bool {
        self.connected && self.feed == Feed::Live && self.outage.is_none() && self.fatal.is_none()
    }

    pub fn status(&self) -> ReplicaStatus {
        if let Some(e) = &self.fatal {
            return ReplicaStatus::Stopped {
                reason: e.to_string(),
            };
        }
        let behind = self.appended.saturating_sub(self.committed);
        match &self.outage {
            Some(o) => ReplicaStatus::Buffering {
                since: o.since,
                events: behind,
                reason: o.reason.clone(),
            },
            None => ReplicaStatus::InSync { unconfirmed: behind },
        }
    }
}

/// What the link was started with and knows of the database when it opened.
pub(crate) struct Opened {
    pub head: Option<Head>,
    pub lock: Option<DriverLock>,
}

/// What a link needs to run.
pub(crate) struct LinkConfig {
    pub db: JournalDb,
    pub session: String,
    /// Take the session's driver lock on the link's connection.
    pub lock: Option<(Origin, Claim)>,
    /// The local copy of the journal, to re-read lines from.
    pub file: Option<PathBuf>,
}

struct Shared {
    state: Mutex<LinkState>,
    changed: Condvar,
    /// Something to send, or closing.
    wake: Notify,
    /// Closing (cuts a reconnection's backoff short).
    closing: Notify,
}

/// A running link. Dropping it closes it (see [`Link::close`]).
pub(crate) struct Link {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Link {
    /// Start the link's thread and wait until it has connected, checked
    /// the schema, taken the driver lock (if asked) and read the chain's
    /// head. The first connection is not retried: a session does not start
    /// against a journal database it cannot reach.
    pub fn start(cfg: LinkConfig) -> Result<(Link, Opened), PgError> {
        let shared = Arc::new(Shared {
            state: Mutex::new(LinkState::new(cfg.file.is_some())),
            changed: Condvar::new(),
            wake: Notify::new(),
            closing: Notify::new(),
        });
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("runsheet-journal-db".into())
            .spawn(move || {
                let _stopped = StopOnExit(&worker);
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = opened_tx.send(Err(PgError::Connect(format!(
                            "cannot start the journal's runtime: {e}"
                        ))));
                        return;
                    }
                };
                runtime.block_on(run(&worker, cfg, opened_tx));
            })
            .map_err(|e| PgError::Connect(format!("cannot start the journal's thread: {e}")))?;
        let opened = opened_rx.recv().unwrap_or_else(|_| {
            Err(PgError::Connect(
                "the journal's thread stopped before connecting".into(),
            ))
        });
        let link = Link {
            shared,
            thread: Some(thread),
        };
        Ok((link, opened?))
    }

    pub fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.shared.lock()
    }

    /// Tell the link there may be something to send.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// Start from a local file whose first `appended` lines are there, the
    /// database having the first `head.next_seq` (ending at `offset`).
    pub fn resume_from_file(&self, head: Head, offset: u64, appended: u64) {
        let mut st = self.lock();
        st.committed = head.next_seq;
        st.committed_hash = head.last_hash;
        st.committed_offset = offset;
        st.appended = appended;
        st.released = appended;
        st.on_file = appended;
        if appended > head.next_seq {
            st.feed = Feed::FromFile;
            st.outage = Some(Outage {
                since: Utc::now(),
                reason: format!(
                    "sending {} event(s) that only the local journal has",
                    appended - head.next_seq
                ),
            });
        }
        drop(st);
        self.wake();
    }

    /// Wait until the database has every line below `seq`, the link stops
    /// keeping up, or `timeout` passes; true if it has them.
    pub fn wait_committed(&self, seq: u64, timeout: Duration, while_degraded: bool) -> bool {
        let st = self.shared.wait(timeout, |st| {
            st.committed >= seq || st.fatal.is_some() || st.stopped || (!while_degraded && !st.keeping_up())
        });
        st.committed >= seq
    }

    /// Send what is released (waiting up to `timeout` while connected),
    /// give the driver lock back if everything got there, and stop.
    pub fn close(&mut self, timeout: Duration) {
        self.lock().closing = true;
        self.wake();
        self.shared.closing.notify_one();
        let stopped = self.shared.wait(timeout, |st| st.stopped).stopped;
        if let Some(thread) = self.thread.take()
            && stopped
        {
            let _ = thread.join();
        }
        // A thread that did not stop in time is left to end with the process.
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.close(Duration::from_secs(10));
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state once `done` holds of it, or when `timeout` has passed.
    fn wait(&self, timeout: Duration, mut done: impl FnMut(&LinkState) -> bool) -> MutexGuard<'_, LinkState> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while !done(&st) {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        st
    }
}

/// Marks the link stopped when its thread ends, however it ends: a panic
/// (its message already printed) stops the copy for good, so the sinks
/// fail instead of waiting on a thread that is gone.
struct StopOnExit<'a>(&'a Shared);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.stopped = true;
        st.connected = false;
        if std::thread::panicking() && st.fatal.is_none() {
            st.fatal = Some(PgError::Connect(
                "the journal database writer failed (see the message above)".into(),
            ));
        }
        drop(st);
        self.0.changed.notify_all();
    }
}

/// Why a connection's work ended.
enum Ended {
    Closing,
    Lost(String),
    Fatal(PgError),
}

/// The link's life: open, pump, and reconnect until closed or stopped.
async fn run(shared: &Shared, cfg: LinkConfig, opened: std::sync::mpsc::Sender<Result<Opened, PgError>>) {
    let (mut conn, lock) = match open_first(&cfg).await {
        Ok((conn, opened_now)) => {
            let lock = opened_now.lock.clone();
            let mut st = shared.lock();
            st.connected = true;
            if let Some(head) = opened_now.head {
                st.committed = head.next_seq;
                st.committed_hash = head.last_hash;
                st.appended = head.next_seq;
                st.released = head.next_seq;
            }
            drop(st);
            let _ = opened.send(Ok(opened_now));
            (conn, lock)
        }
        Err(e) => {
            let _ = opened.send(Err(e));
            return;
        }
    };
    let mut backoff = BACKOFF_FIRST;
    loop {
        let ended = pump(shared, &cfg, &mut conn).await;
        let reason = match ended {
            Ended::Closing => {
                let synced = {
                    let st = shared.lock();
                    st.committed >= st.appended
                };
                // A driver that leaves lines unsent keeps its row: the next
                // run must take over, and re-sends them from the file.
                if synced && let Some(lock) = &lock {
                    let _ = lock::release(conn.client(), lock).await;
                }
                return;
            }
            Ended::Fatal(e) => {
                stop(shared, e);
                return;
            }
            Ended::Lost(reason) => reason,
        };
        lost(shared, &cfg, reason);
        // The first attempt is immediate: a killed connection usually means
        // the server is still there.
        conn = loop {
            if shared.lock().closing {
                return;
            }
            match reopen(shared, &cfg, lock.as_ref()).await {
                Ok(conn) => break conn,
                Err(Ended::Fatal(e)) => {
                    stop(shared, e);
                    return;
                }
                Err(Ended::Lost(reason)) => {
                    if let Some(o) = shared.lock().outage.as_mut() {
                        o.reason = reason;
                    }
                }
                Err(Ended::Closing) => return,
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = shared.closing.notified() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        };
        backoff = BACKOFF_FIRST;
    }
}

fn stop(shared: &Shared, e: PgError) {
    let mut st = shared.lock();
    st.fatal = Some(e);
    st.connected = false;
    drop(st);
    shared.changed.notify_all();
}

/// The connection went: note the outage, and with a file fall back to it.
fn lost(shared: &Shared, cfg: &LinkConfig, reason: String) {
    let mut st = shared.lock();
    st.connected = false;
    match st.outage.as_mut() {
        Some(outage) => outage.reason = reason,
        None => {
            st.outage = Some(Outage {
                since: Utc::now(),
                reason,
            })
        }
    }
    if cfg.file.is_some() {
        st.feed = Feed::FromFile;
        st.queue.clear();
        st.queue_bytes = 0;
    }
    drop(st);
    shared.changed.notify_all();
}

async fn open_first(cfg: &LinkConfig) -> Result<(JournalConnection, Opened), PgError> {
    let conn = cfg.db.connect().await?;
    let lock = match &cfg.lock {
        Some((origin, claim)) => {
            Some(lock::acquire(conn.client(), conn.target(), &cfg.session, origin, *claim).await?)
        }
        None => None,
    };
    let head = append::head(conn.client(), &cfg.session)
        .await
        .map_err(|e| conn.error("read the session's chain", &e))?;
    Ok((conn, Opened { head, lock }))
}

/// Connect again, take the lock back, and square the chain's head with
/// what the link knows.
async fn reopen(
    shared: &Shared,
    cfg: &LinkConfig,
    lock: Option<&DriverLock>,
) -> Result<JournalConnection, Ended> {
    let conn = cfg.db.connect().await.map_err(|e| match e {
        e @ PgError::SchemaTooNew { .. } => Ended::Fatal(e),
        e => Ended::Lost(e.to_string()),
    })?;
    if let Some(lock) = lock {
        lock::reclaim(conn.client(), conn.target(), lock)
            .await
            .map_err(|e| match e {
                PgError::Query { reason, .. } => Ended::Lost(reason),
                e => Ended::Fatal(e),
            })?;
    }
    let head = append::head(conn.client(), &cfg.session)
        .await
        .map_err(|e| Ended::Lost(conn.error("read the session's chain", &e).to_string()))?;
    let mut st = shared.lock();
    if let Err(h) = st.reconcile(head) {
        return Err(Ended::Fatal(PgError::ChainConflict {
            session: cfg.session.clone(),
            expected: st.committed,
            head: h.next_seq.to_string(),
        }));
    }
    st.connected = true;
    if st.feed == Feed::Live {
        st.outage = None;
    } else if let Some(o) = st.outage.as_mut() {
        o.reason = "reconnected; sending what only the local journal has".into();
    }
    drop(st);
    shared.changed.notify_all();
    Ok(conn)
}

/// What to send next.
enum Work {
    Lines(Vec<StoredLine>),
    Idle,
}

/// Take the next batch: from the queue, or read from the file.
fn next_batch(shared: &Shared, cfg: &LinkConfig) -> Result<Work, PgError> {
    let mut st = shared.lock();
    match st.feed {
        Feed::Live => {
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(line) = st.queue.front() {
                if line.seq >= st.released
                    || batch.len() >= BATCH_ROWS
                    || (bytes >= BATCH_BYTES && !batch.is_empty())
                {
                    break;
                }
                bytes += line.text.len();
                if let Some(line) = st.queue.pop_front() {
                    batch.push(line);
                }
            }
            st.queue_bytes -= bytes;
            Ok(if batch.is_empty() {
                Work::Idle
            } else {
                Work::Lines(batch)
            })
        }
        Feed::FromFile => {
            if st.committed >= st.appended {
                // Caught up, and the sink is blocked on the mutex: nothing
                // can slip between the file and the queue.
                st.feed = Feed::Live;
                st.outage = None;
                st.queue.clear();
                st.queue_bytes = 0;
                drop(st);
                shared.changed.notify_all();
                return Ok(Work::Idle);
            }
            let upto = st.on_file.min(st.committed + BATCH_ROWS as u64);
            if upto <= st.committed {
                return Ok(Work::Idle);
            }
            let (from, offset, prev) = (st.committed, st.committed_offset, st.committed_hash);
            drop(st);
            let path = cfg.file.as_ref().expect("a file feed has a file");
            read_file_lines(path, &cfg.session, offset, from, prev, upto).map(Work::Lines)
        }
    }
}

/// Lines `from..upto` of the local journal, starting at byte `offset`,
/// verified against the chain from `prev`.
fn read_file_lines(
    path: &std::path::Path,
    session: &str,
    offset: u64,
    from: u64,
    prev: LineHash,
    upto: u64,
) -> Result<Vec<StoredLine>, PgError> {
    let diverged = |seq, reason: String| PgError::Diverged {
        session: session.to_string(),
        seq,
        reason,
    };
    let mut file =
        File::open(path).map_err(|e| diverged(from, format!("cannot open {}: {e}", path.display())))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| diverged(from, format!("cannot read {}: {e}", path.display())))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut verifier = Verifier::resume(prev, from);
    let mut lines = Vec::new();
    let mut bytes = 0;
    let mut buf = Vec::new();
    let mut at = offset;
    for seq in from..upto {
        if bytes >= BATCH_BYTES && !lines.is_empty() {
            break;
        }
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| diverged(seq, format!("cannot read {}: {e}", path.display())))?;
        let Some(line) = buf.strip_suffix(b"\n") else {
            return Err(diverged(seq, "the local journal ends early".into()));
        };
        verifier.check(line).map_err(|e| {
            let (LineError::Malformed(reason) | LineError::Broken(reason)) = e;
            diverged(seq, format!("the local journal does not verify here: {reason}"))
        })?;
        let stored = StoredLine::parse(line, at).ok_or_else(|| diverged(seq, "unreadable line".into()))?;
        at += n as u64;
        bytes += stored.text.len();
        lines.push(stored);
    }
    Ok(lines)
}

/// Send batches until the connection goes, the link closes, or it must stop.
async fn pump(shared: &Shared, cfg: &LinkConfig, conn: &mut JournalConnection) -> Ended {
    loop {
        let batch = match next_batch(shared, cfg) {
            Ok(Work::Lines(batch)) => batch,
            Ok(Work::Idle) => {
                let closing = {
                    let st = shared.lock();
                    st.closing && (st.committed >= st.released || !st.connected)
                };
                if closing {
                    return Ended::Closing;
                }
                tokio::select! {
                    () = shared.wake.notified() => continue,
                    _ = conn.closed() => return Ended::Lost("the connection closed".into()),
                }
            }
            Err(e) => return Ended::Fatal(e),
        };
        let prev = shared.lock().committed_hash;
        let sent = tokio::time::timeout(
            TRANSACTION_TIMEOUT,
            append::append(conn.client(), &cfg.session, &prev, &batch),
        )
        .await;
        let last = batch.last().expect("a batch is never empty");
        match sent {
            Ok(Ok(Appended::Done(head))) if head.next_seq == last.seq + 1 => {
                let mut st = shared.lock();
                st.committed = head.next_seq;
                st.committed_hash = head.last_hash;
                st.committed_offset = last.end_offset();
                drop(st);
                shared.changed.notify_all();
            }
            Ok(Ok(Appended::Done(head) | Appended::Refused(Some(head)))) => {
                return Ended::Fatal(PgError::ChainConflict {
                    session: cfg.session.clone(),
                    expected: batch[0].seq,
                    head: head.next_seq.to_string(),
                });
            }
            Ok(Ok(Appended::Refused(None))) => {
                return Ended::Fatal(PgError::NoSession {
                    session: cfg.session.clone(),
                    target: conn.target().to_string(),
                });
            }
            Ok(Err(e)) if super::error::is_transient(&e) => {
                shared.lock().in_doubt = batch;
                return Ended::Lost(conn.error("write to the journal", &e).to_string());
            }
            Ok(Err(e)) => {
                return Ended::Fatal(if e.as_db_error().is_some_and(|d| d.code().code() == "23505") {
                    // Someone else wrote one of these seqs first.
                    PgError::ChainConflict {
                        session: cfg.session.clone(),
                        expected: batch[0].seq,
                        head: "taken".into(),
                    }
                } else {
                    conn.error("write to the journal", &e)
                });
            }
            Err(_) => {
                shared.lock().in_doubt = batch;
                return Ended::Lost(format!("no answer within {} s", TRANSACTION_TIMEOUT.as_secs()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, prev: &LineHash) -> StoredLine {
        let record = crate::journal::event::Record {
            seq,
            ts: Utc::now(),
            event: crate::journal::event::Event::Note {
                who: "ana".into(),
                text: format!("note {seq}"),
            },
            origin: None,
        };
        let mut out = Vec::new();
        crate::journal::chain::encode_line(&record, prev, &mut out).unwrap();
        StoredLine::parse(out.strip_suffix(b"\n").unwrap(), 1_000 * seq).unwrap()
    }

    /// A state that has committed seq 0..3 and lost the answer for 3..5.
    fn in_doubt(has_file: bool) -> (LinkState, Vec<StoredLine>) {
        let mut st = LinkState::new(has_file);
        let mut prev = LineHash::GENESIS;
        let mut lines = Vec::new();
        for seq in 0..5 {
            let l = line(seq, &prev);
            prev = l.hash;
            lines.push(l);
        }
        st.committed = 3;
        st.committed_hash = lines[2].hash;
        st.appended = 5;
        st.in_doubt = lines[3..].to_vec();
        (st, lines)
    }

    #[test]
    fn a_batch_that_did_not_land_is_sent_again_first() {
        let (mut st, lines) = in_doubt(false);
        st.push(line(5, &lines[4].hash));
        let head = Head {
            next_seq: 3,
            last_hash: lines[2].hash,
        };
        assert_eq!(st.reconcile(Some(head)), Ok(()));
        assert_eq!(st.committed, 3);
        let seqs: Vec<u64> = st.queue.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);

        // With a file, the file feed re-reads it instead.
        let (mut st, lines) = in_doubt(true);
        let head = Head {
            next_seq: 3,
            last_hash: lines[2].hash,
        };
        assert_eq!(st.reconcile(Some(head)), Ok(()));
        assert!(st.queue.is_empty());
        assert_eq!(st.committed, 3);
    }

    #[test]
    fn a_batch_that_landed_counts_as_committed() {
        let (mut st, lines) = in_doubt(true);
        let head = Head {
            next_seq: 5,
            last_hash: lines[4].hash,
        };
        assert_eq!(st.reconcile(Some(head)), Ok(()));
        assert_eq!((st.committed, st.committed_hash), (5, lines[4].hash));
        assert_eq!(st.committed_offset, lines[4].end_offset());
        assert!(st.in_doubt.is_empty());
    }

    #[test]
    fn a_head_anywhere_else_is_another_writer() {
        let (mut st, lines) = in_doubt(false);
        let elsewhere = [
            Some(Head {
                next_seq: 4,
                last_hash: lines[3].hash,
            }),
            Some(Head {
                next_seq: 5,
                last_hash: lines[0].hash,
            }),
            Some(Head {
                next_seq: 9,
                last_hash: lines[4].hash,
            }),
            None,
        ];
        for head in elsewhere {
            let mut st = LinkState::new(false);
            (st.committed, st.committed_hash, st.in_doubt) = (3, lines[2].hash, lines[3..].to_vec());
            assert!(st.reconcile(head).is_err(), "{head:?}");
        }
        st.in_doubt.clear();
        let head = Head {
            next_seq: 3,
            last_hash: lines[2].hash,
        };
        assert_eq!(
            st.reconcile(Some(head)),
            Ok(()),
            "nothing in doubt, nothing moved"
        );
    }
}
