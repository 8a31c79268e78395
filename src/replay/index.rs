//! Indexing a journal: the indexer reads it front to back once, verifying
//! the hash chain line by line, folding every record into an [`App`]
//! exactly as the live TUI would (effects off), and noting for each event
//! its byte offset, time and markers, plus a checkpoint of the app every few
//! thousand events or few MiB, so a seek folds at most one checkpoint's worth
//! of events instead of the whole journal. It runs on its own thread, hands
//! its findings over in [`IndexBatch`]es (the [`Timeline`](super::Timeline)
//! is made of them), and once at the end keeps polling the file, so a
//! journal that is still being written keeps growing on screen.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::{Feed, feed};
use crate::journal::chain::{LineError, Verifier};
use crate::journal::event::{Event, FORMAT_VERSION, Header, Outcome, Record};
use crate::journal::reader::Integrity;
use crate::launch::load_runbook;
use crate::runbook::plan::Plan;
use crate::session::SessionState;
use crate::ui::{App, AppSetup, PhaseKey, Reference, Theme};

/// A checkpoint at least every this many events…
pub const CHECKPOINT_EVENTS: usize = 4096;
/// …or this many bytes of journal, whichever comes first, so a seek never
/// folds more than that.
pub const CHECKPOINT_BYTES: u64 = 4 << 20;
/// How long the indexing thread reads before handing a batch over.
const BATCH_TIME: Duration = Duration::from_millis(50);
/// How often a journal read to its end is looked at again for growth.
const POLL: Duration = Duration::from_millis(250);
/// Read buffer: journals are read front to back in one go.
const READ_BUFFER: usize = 1 << 20;
/// The longest header line looked at (a header holds the plan, never this much).
const MAX_HEADER: u64 = 64 << 20;

/// Events worth a marker and a jump key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// A step started, or a manual step began to wait for its sign-off.
    StepStart,
    /// A step failed, timed out, was cancelled or interrupted; a check failed.
    Failure,
    SignOff,
    Verification,
    /// The first event of a phase, the rollback's start, the session's end.
    Phase,
}

impl Mark {
    pub const ALL: [Mark; 5] = [
        Mark::StepStart,
        Mark::Failure,
        Mark::SignOff,
        Mark::Verification,
        Mark::Phase,
    ];

    pub(crate) fn slot(self) -> usize {
        self as usize
    }

    /// How the mark is named in messages ("no next failure").
    pub fn noun(self) -> &'static str {
        match self {
            Mark::StepStart => "step start",
            Mark::Failure => "failure",
            Mark::SignOff => "sign-off",
            Mark::Verification => "verification",
            Mark::Phase => "phase",
        }
    }
}

/// The app as it was right after event `index`, and that event, to fold on from.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub index: usize,
    pub app: Box<App>,
    pub record: Box<Record>,
}

/// What the indexer learned since its last batch, and where it stands.
#[derive(Debug, Clone)]
pub struct IndexBatch {
    /// Byte offset of each new event's line.
    pub offsets: Vec<u64>,
    /// Each new event's journal timestamp, in milliseconds since the epoch.
    pub times: Vec<i64>,
    /// Markers of the new events: (event index, mark).
    pub marks: Vec<(usize, Mark)>,
    /// The new events that change state (all but output batches).
    pub changes: Vec<usize>,
    pub checkpoints: Vec<Checkpoint>,
    /// Bytes of the journal verified and indexed.
    pub end: u64,
    /// The journal's size when last looked at.
    pub file_len: u64,
    pub integrity: Integrity,
    /// An incomplete last line (torn by a crash, or still being written).
    pub torn: Option<String>,
    /// The indexer has read to the end of the file at least once.
    pub caught_up: bool,
    /// Why indexing stopped early (an I/O error), if it did.
    pub failed: Option<String>,
}

impl IndexBatch {
    /// A batch with no events yet, in state `integrity`.
    pub fn empty(integrity: Integrity) -> IndexBatch {
        IndexBatch {
            offsets: Vec::new(),
            times: Vec::new(),
            marks: Vec::new(),
            changes: Vec::new(),
            checkpoints: Vec::new(),
            end: 0,
            file_len: 0,
            integrity,
            torn: None,
            caught_up: false,
            failed: None,
        }
    }
}

/// Why a journal cannot be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {reason}; there is nothing to replay", path.display())]
    NoHeader {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// Reads, verifies, folds and indexes one journal.
pub struct Indexer {
    path: PathBuf,
    reader: BufReader<File>,
    verifier: Verifier,
    /// The fold so far, as the live TUI would hold it.
    app: App,
    line: Vec<u8>,
    /// Bytes verified: where the next line starts.
    end: u64,
    /// Events indexed.
    count: usize,
    /// The last line was accepted without its newline (a crash cut it there);
    /// a newline written later belongs to it.
    unterminated: bool,
    /// Index and end offset of the last checkpoint.
    last_checkpoint: (usize, u64),
    /// The phase of the latest step event, and that step, for phase markers.
    phase: Option<PhaseKey>,
    phase_step: String,
    batch: IndexBatch,
    /// Broken chain or I/O error: nothing more will be read.
    done: bool,
}

impl Indexer {
    /// Open a journal and read its header. The first batch holds the header
    /// event and its checkpoint, enough to draw the first screen at once.
    /// `size` is the app's screen size (the terminal minus the timeline bar).
    pub fn open(path: &Path, theme: Theme, size: (u16, u16)) -> Result<(Indexer, IndexBatch), OpenError> {
        let io = |source| OpenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let mut reader = BufReader::with_capacity(READ_BUFFER, file);
        let mut line = Vec::new();
        // Any file may be named: do not read a huge one whole looking for a newline.
        let read = (&mut reader)
            .take(MAX_HEADER)
            .read_until(b'\n', &mut line)
            .map_err(io)?;
        let no_header = |reason: String| OpenError::NoHeader {
            path: path.to_path_buf(),
            line: 1,
            reason,
        };
        if read == 0 {
            return Err(no_header("the journal is empty".into()));
        }
        let complete = line.last() == Some(&b'\n');
        let content = if complete { &line[..read - 1] } else { &line[..] };
        let mut verifier = Verifier::new();
        let record = verifier.check(content).map_err(|e| match e {
            LineError::Malformed(r) | LineError::Broken(r) => no_header(r),
        })?;
        let Event::Header(header) = &record.event else {
            return Err(no_header("the first line is not a session header".into()));
        };
        let state = SessionState::new(&record).map_err(|e| no_header(e.to_string()))?;
        let setup = AppSetup {
            operator: header.operator.clone(),
            references: references(header),
            journal_path: path.to_path_buf(),
            theme,
            now: record.ts,
            size,
            notices: newer_format(header).into_iter().collect(),
        };
        let mut app = App::new(state, setup);
        app.replay = true;
        let mut indexer = Indexer {
            path: path.to_path_buf(),
            reader,
            verifier,
            app,
            line,
            end: read as u64,
            count: 1,
            unterminated: !complete,
            last_checkpoint: (0, read as u64),
            phase: None,
            phase_step: String::new(),
            batch: IndexBatch::empty(Integrity::Verified),
            done: false,
        };
        indexer.batch.offsets.push(0);
        indexer.batch.times.push(record.ts.timestamp_millis());
        indexer.batch.changes.push(0);
        indexer.batch.checkpoints.push(Checkpoint {
            index: 0,
            app: Box::new(indexer.app.clone()),
            record: Box::new(record.clone()),
        });
        let first = indexer.take_batch();
        Ok((indexer, first))
    }

    /// Read everything the file holds now; the batch of what was new.
    pub fn catch_up(&mut self) -> IndexBatch {
        self.read(None)
    }

    /// Read until the end of the file or `deadline`, whichever comes first.
    fn read(&mut self, deadline: Option<Instant>) -> IndexBatch {
        while !self.done {
            match self.next_line() {
                Line::Event => {
                    let check = self.count % 1024 == 0;
                    if check && deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                }
                Line::End => {
                    self.batch.caught_up = true;
                    self.check_length();
                    break;
                }
            }
        }
        self.take_batch()
    }

    /// A journal shorter than what was verified was cut or replaced.
    fn check_length(&mut self) {
        match std::fs::metadata(&self.path) {
            Ok(m) => {
                self.batch.file_len = m.len();
                if m.len() < self.end {
                    self.broken(
                        "the journal became shorter while it was replayed (truncated or replaced)".into(),
                    );
                }
            }
            Err(e) => self.fail(format!("cannot look at {}: {e}", self.path.display())),
        }
    }

    fn take_batch(&mut self) -> IndexBatch {
        let mut next = IndexBatch::empty(self.batch.integrity.clone());
        next.torn = self.batch.torn.clone();
        next.caught_up = self.batch.caught_up;
        next.failed = self.batch.failed.clone();
        let mut batch = std::mem::replace(&mut self.batch, next);
        batch.end = self.end;
        batch.file_len = batch.file_len.max(self.end);
        batch
    }

    fn broken(&mut self, reason: String) {
        self.batch.integrity = Integrity::Broken {
            line: self.count + 1,
            reason,
        };
        self.done = true;
    }

    fn fail(&mut self, why: String) {
        self.batch.failed = Some(why);
        self.done = true;
    }

    /// Read, verify and index one line.
    fn next_line(&mut self) -> Line {
        self.line.clear();
        let read = match self.reader.read_until(b'\n', &mut self.line) {
            Ok(n) => n,
            Err(e) => {
                self.fail(format!("cannot read {}: {e}", self.path.display()));
                return Line::End;
            }
        };
        if read == 0 {
            return Line::End;
        }
        if self.unterminated && self.line == b"\n" {
            self.unterminated = false;
            self.end += 1;
            return Line::Event;
        }
        let complete = self.line.last() == Some(&b'\n');
        let content = if complete {
            &self.line[..read - 1]
        } else {
            &self.line[..]
        };
        match self.verifier.check(content) {
            Ok(record) => {
                self.batch.torn = None;
                self.unterminated = !complete;
                let start = self.end;
                self.end += read as u64;
                self.index(record, start);
                Line::Event
            }
            Err(LineError::Malformed(_)) if !complete => {
                // Torn by a crash, or still being written: read it again once the file grows.
                self.batch.torn = Some(format!(
                    "line {} is incomplete (a torn write, or still being written) and is not shown",
                    self.count + 1
                ));
                if let Err(e) = self.reader.seek(SeekFrom::Start(self.end)) {
                    self.fail(format!("cannot read {}: {e}", self.path.display()));
                }
                Line::End
            }
            Err(LineError::Malformed(reason) | LineError::Broken(reason)) => {
                self.broken(reason);
                Line::End
            }
        }
    }

    fn index(&mut self, record: Record, start: u64) {
        let i = self.count;
        self.batch.offsets.push(start);
        self.batch.times.push(record.ts.timestamp_millis());
        if !matches!(record.event, Event::Output { .. }) {
            self.batch.changes.push(i);
        }
        self.mark(i, &record);
        let (at, offset) = self.last_checkpoint;
        let checkpoint = i - at >= CHECKPOINT_EVENTS || self.end - offset >= CHECKPOINT_BYTES;
        let kept = checkpoint.then(|| Box::new(record.clone()));
        feed(&mut self.app, record, Feed::Fast);
        self.count += 1;
        if let Some(record) = kept {
            self.batch.checkpoints.push(Checkpoint {
                index: i,
                app: Box::new(self.app.clone()),
                record,
            });
            self.last_checkpoint = (i, self.end);
        }
    }

    /// The markers of event `i`, judged against the plan in force before it.
    fn mark(&mut self, i: usize, record: &Record) {
        let marks = &mut self.batch.marks;
        match &record.event {
            Event::StepStarted { .. } | Event::AwaitingSignOff { .. } => marks.push((i, Mark::StepStart)),
            Event::StepFinished { outcome, .. } if *outcome != Outcome::Succeeded => {
                marks.push((i, Mark::Failure))
            }
            Event::StepInterrupted { .. } => marks.push((i, Mark::Failure)),
            Event::Verification { passed, .. } => {
                marks.push((i, Mark::Verification));
                if !passed {
                    marks.push((i, Mark::Failure));
                }
            }
            Event::SignedOff { .. } => marks.push((i, Mark::SignOff)),
            Event::RollbackStarted { .. } => {
                marks.push((i, Mark::Phase));
                self.phase = Some(PhaseKey::Rollback);
            }
            Event::SessionEnded { .. } => marks.push((i, Mark::Phase)),
            _ => {}
        }
        let Some(step) = record.event.step() else { return };
        if step != self.phase_step {
            // Output batches repeat their step: look its phase up once.
            self.phase_step = step.to_string();
            let phase = phase_of(&self.app.session.plan, step);
            if phase.is_some() && phase != self.phase {
                self.phase = phase;
                self.batch.marks.push((i, Mark::Phase));
            }
        }
    }

    /// Index on a thread of its own, sending batches to `tx`; stops when the
    /// returned handle is dropped or the receiver goes away.
    pub fn spawn(mut self, tx: UnboundedSender<IndexBatch>) -> std::io::Result<IndexerThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("runsheet-replay-index".into())
            .spawn(move || {
                let mut sent = None;
                while !stopped.load(Ordering::Relaxed) {
                    let batch = self.read(Some(Instant::now() + BATCH_TIME));
                    let verdict = (
                        batch.integrity.clone(),
                        batch.torn.clone(),
                        batch.caught_up,
                        batch.failed.clone(),
                    );
                    let news = !batch.offsets.is_empty() || sent.as_ref() != Some(&verdict);
                    if news && tx.send(batch).is_err() {
                        return;
                    }
                    sent = Some(verdict);
                    if self.done {
                        return;
                    }
                    if sent.as_ref().is_some_and(|v| v.2) {
                        std::thread::park_timeout(POLL);
                    }
                }
            })?;
        Ok(IndexerThread {
            stop,
            thread: Some(thread),
        })
    }
}

/// What reading one line came to.
enum Line {
    Event,
    /// The end of what can be read for now.
    End,
}

/// The indexing thread; dropping it stops and joins the thread.
pub struct IndexerThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for IndexerThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// The checklist phase a step belongs to.
fn phase_of(plan: &Plan, step: &str) -> Option<PhaseKey> {
    match plan.phase_of(step) {
        Some(i) => Some(PhaseKey::Forward(i)),
        None => plan
            .rollback
            .iter()
            .any(|s| s.id == step)
            .then_some(PhaseKey::Rollback),
    }
}

/// The runbook's reference sections, when the runbook the session ran is
/// still where it was and unchanged (its hash matches the header's);
/// otherwise none: the journal alone has what the checklist shows.
fn references(header: &Header) -> Vec<Reference> {
    match load_runbook(Path::new(&header.runbook_path)) {
        Ok((runbook, _)) if runbook.content_hash == header.runbook_sha256 => {
            Reference::from_runbook(&runbook)
        }
        _ => Vec::new(),
    }
}

fn newer_format(header: &Header) -> Option<String> {
    (header.format > FORMAT_VERSION).then(|| {
        format!(
            "the journal was written in format {} by a newer runsheet; this one knows format {}",
            header.format, FORMAT_VERSION
        )
    })
}
