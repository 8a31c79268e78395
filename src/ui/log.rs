//! The log pane's memory: a bounded window of one step's output.
//!
//! The journal holds every line; the TUI holds at most [`WINDOW`] of them.
//! New output is appended while the window reaches the newest line; lines
//! scrolled to outside the window are read back from the journal by the
//! driver ([`read_log`] in a blocking task), replacing the window. So memory
//! stays flat however much a step prints.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

use crate::journal::event::Stream;
use crate::session::StepState;
use crate::text::{sanitize, sanitized};

/// Lines kept in memory for the log pane.
pub const WINDOW: usize = 5_000;
/// Bytes of the journal a read-back reads at a time.
const READ_BUFFER: usize = 128 * 1024;

/// One line of output, cleaned for the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stream: Stream,
    pub text: String,
}

impl LogLine {
    pub fn new(stream: Stream, raw: &str) -> LogLine {
        LogLine {
            stream,
            text: sanitize(raw),
        }
    }

    /// [`LogLine::new`] keeping `raw` itself when it is clean already (as
    /// almost every line is): no copy.
    pub fn owned(stream: Stream, raw: String) -> LogLine {
        let text = match sanitized(&raw) {
            Cow::Borrowed(_) => raw,
            Cow::Owned(clean) => clean,
        };
        LogLine { stream, text }
    }
}

/// A read-back request for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub step: String,
    /// The step's first journal seq: nothing before it needs parsing.
    pub first_seq: u64,
    pub generation: u64,
    pub kind: QueryKind,
    /// Where a range may be read from instead of what earlier reads
    /// learnt: a mark at or before its first line, from whoever knows the
    /// journal better (the replay's index, which has one every few
    /// thousand events), so a read is a seek plus a bounded read even the
    /// first time.
    pub start: Option<LineMark>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryKind {
    /// Lines `from..from + count` of the step's output (all attempts).
    Range { from: u64, count: usize },
    /// The nearest line matching `pattern` at or after (or before) `from`,
    /// wrapping around, with a window of lines around it.
    Find {
        pattern: String,
        from: u64,
        forward: bool,
    },
}

/// What a read-back found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    pub step: String,
    pub generation: u64,
    /// Index of the first line in `lines`.
    pub start: u64,
    pub lines: Vec<LogLine>,
    /// For a find: the matching line, or `None` when there is none.
    pub found: Option<Option<u64>>,
    /// The journal could not be read.
    pub error: Option<String>,
}

/// What the window did with a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    Stale,
    Lines,
    Found(u64),
    NotFound,
    Failed,
}

/// The log pane's state for one step.
#[derive(Debug, Clone)]
pub struct LogView {
    step: Option<String>,
    lines: VecDeque<LogLine>,
    /// Index (in the step's whole output) of `lines[0]`.
    start: u64,
    /// Show the newest lines as they come.
    pub follow: bool,
    /// First line shown when not following.
    top: u64,
    pub wrap: bool,
    pub search: Option<String>,
    pub matched: Option<u64>,
    pending: bool,
    /// Bumped whenever the step changes, so late chunks for another step are dropped.
    generation: u64,
    last_query: Option<(u64, u64)>,
}

impl Default for LogView {
    fn default() -> Self {
        LogView {
            step: None,
            lines: VecDeque::new(),
            start: 0,
            follow: true,
            top: 0,
            wrap: false,
            search: None,
            matched: None,
            pending: false,
            generation: 0,
            last_query: None,
        }
    }
}

impl LogView {
    pub fn step(&self) -> Option<&str> {
        self.step.as_deref()
    }

    /// An empty pane in place of this one. It counts generations on from
    /// this one's, so an answer to this one's read-back, still on its way,
    /// is stale for it.
    pub fn emptied(&self) -> LogView {
        LogView {
            generation: self.generation,
            ..LogView::default()
        }
    }

    /// Index one past the window's last line.
    pub fn end(&self) -> u64 {
        self.start + self.lines.len() as u64
    }

    pub fn window_len(&self) -> usize {
        self.lines.len()
    }

    pub fn get(&self, index: u64) -> Option<&LogLine> {
        let offset = index.checked_sub(self.start)?;
        self.lines.get(usize::try_from(offset).ok()?)
    }

    /// Show another step's output (its last lines from the fold, at once).
    pub fn show(&mut self, step: &str, state: Option<&StepState>) {
        if self.step.as_deref() == Some(step) {
            return;
        }
        self.step = Some(step.to_string());
        self.follow = true;
        self.top = 0;
        self.matched = None;
        self.reset_to_tail(state);
    }

    fn reset_to_tail(&mut self, state: Option<&StepState>) {
        self.generation += 1;
        self.pending = false;
        self.last_query = None;
        self.lines.clear();
        match state {
            Some(st) => {
                self.lines
                    .extend(st.tail.iter().map(|(stream, text)| LogLine::new(*stream, text)));
                self.start = st.output_lines.saturating_sub(st.tail.len() as u64);
            }
            None => self.start = 0,
        }
    }

    /// New output of `step`, which had `total_before` lines until now (the
    /// lines are taken, not copied).
    pub fn push(&mut self, step: &str, stream: Stream, lines: Vec<String>, total_before: u64) {
        if self.step.as_deref() != Some(step) || self.end() != total_before {
            return;
        }
        if !self.follow && self.lines.len() + lines.len() > WINDOW {
            // Keep what the operator is reading; newer lines are read back when scrolled to.
            return;
        }
        let skip = lines.len().saturating_sub(WINDOW);
        if skip > 0 {
            self.lines.clear();
            self.start = total_before + skip as u64;
        }
        for text in lines.into_iter().skip(skip) {
            self.lines.push_back(LogLine::owned(stream, text));
        }
        let excess = self.lines.len().saturating_sub(WINDOW);
        self.lines.drain(..excess);
        self.start += excess as u64;
    }

    /// The highest first line that still fills the pane.
    fn max_top(total: u64, height: usize) -> u64 {
        total.saturating_sub(height as u64)
    }

    /// The first line shown in a pane `height` rows high.
    pub fn first_visible(&self, total: u64, height: usize) -> u64 {
        if self.follow {
            Self::max_top(total, height)
        } else {
            self.top.min(Self::max_top(total, height))
        }
    }

    /// Scroll by `delta` lines; scrolling pauses following, reaching the bottom resumes it.
    pub fn scroll(&mut self, delta: i64, total: u64, height: usize) {
        let current = self.first_visible(total, height);
        let max = Self::max_top(total, height);
        let target = current.saturating_add_signed(delta).min(max);
        self.top = target;
        self.follow = delta > 0 && target == max;
    }

    pub fn scroll_to_top(&mut self) {
        self.top = 0;
        self.follow = false;
    }

    /// Follow the newest output again.
    pub fn follow_tail(&mut self, total: u64, state: Option<&StepState>) {
        self.follow = true;
        if self.end() != total {
            self.reset_to_tail(state);
        }
    }

    /// Put line `index` in view (a third of the way down).
    pub fn reveal(&mut self, index: u64, total: u64, height: usize) {
        self.follow = false;
        self.top = index
            .saturating_sub(height as u64 / 3)
            .min(Self::max_top(total, height));
    }

    /// A read-back request, when the lines in view are not in memory.
    pub fn request(&mut self, first_seq: Option<u64>, total: u64, height: usize) -> Option<LogQuery> {
        let step = self.step.clone()?;
        let first = self.first_visible(total, height);
        let last = (first + height as u64).min(total);
        if first >= last || (self.start <= first && self.end() >= last) || self.pending {
            return None;
        }
        let newest = total.saturating_sub(WINDOW as u64);
        let lacks_only_newest = !self.lines.is_empty() && self.start <= first && self.end() >= newest;
        let (from, count) = if self.follow && lacks_only_newest {
            // The window only lacks the newest lines: read those (see `loaded`).
            (self.end(), usize::try_from(total - self.end()).unwrap_or(WINDOW))
        } else if self.follow {
            (newest, WINDOW)
        } else {
            let from = first.saturating_sub((WINDOW.saturating_sub(height) / 2) as u64);
            (from, WINDOW)
        };
        if self.last_query == Some((from, total)) {
            return None;
        }
        self.last_query = Some((from, total));
        self.pending = true;
        Some(LogQuery {
            step,
            first_seq: first_seq.unwrap_or(0),
            generation: self.generation,
            kind: QueryKind::Range { from, count },
            start: None,
        })
    }

    /// A search beyond the window, read from the journal.
    pub fn find_query(
        &mut self,
        first_seq: Option<u64>,
        pattern: &str,
        from: u64,
        forward: bool,
    ) -> Option<LogQuery> {
        let step = self.step.clone()?;
        self.pending = true;
        Some(LogQuery {
            step,
            first_seq: first_seq.unwrap_or(0),
            generation: self.generation,
            kind: QueryKind::Find {
                pattern: pattern.to_string(),
                from,
                forward,
            },
            start: None,
        })
    }

    /// Take a chunk read back from the journal.
    pub fn loaded(&mut self, chunk: LogChunk) -> Loaded {
        if self.step.as_deref() != Some(chunk.step.as_str()) || chunk.generation != self.generation {
            return Loaded::Stale;
        }
        self.pending = false;
        if chunk.error.is_some() {
            return Loaded::Failed;
        }
        if chunk.start == self.end() && !self.lines.is_empty() {
            // Lines that carry on from the window: appended, the oldest let go.
            self.lines.extend(chunk.lines);
            let excess = self.lines.len().saturating_sub(WINDOW);
            self.lines.drain(..excess);
            self.start += excess as u64;
        } else if !chunk.lines.is_empty() {
            self.start = chunk.start;
            self.lines = chunk.lines.into();
        }
        match chunk.found {
            None => Loaded::Lines,
            Some(Some(index)) => {
                self.matched = Some(index);
                Loaded::Found(index)
            }
            Some(None) => Loaded::NotFound,
        }
    }

    /// The nearest line in memory matching `pattern` from `from` on (or
    /// back). `None` also when `from` is outside the window: what lies
    /// between is only in the journal.
    pub fn find_in_window(&self, pattern: &str, from: u64, forward: bool) -> Option<u64> {
        if from < self.start || from >= self.end() {
            return None;
        }
        let hit = |i: &u64| self.get(*i).is_some_and(|l| matches(&l.text, pattern));
        if forward {
            (from..self.end()).find(hit)
        } else {
            (self.start..=from).rev().find(hit)
        }
    }

    /// Whether the window holds every line of the step.
    pub fn holds_all(&self, total: u64) -> bool {
        self.start == 0 && self.end() >= total
    }
}

/// Smart case: a pattern with capitals matches exactly, otherwise any case.
pub fn matches(text: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    if pattern.chars().any(char::is_uppercase) {
        text.contains(pattern)
    } else {
        text.to_lowercase().contains(pattern)
    }
}

/// The part of an output record the reader needs.
#[derive(Deserialize)]
struct OutputRecord {
    seq: u64,
    #[serde(rename = "type")]
    kind: String,
    step: String,
    stream: Stream,
    lines: Vec<String>,
}

/// Call `f` with every output batch of `step` in the journal from byte
/// `start` on (a line boundary), in order, with the byte offset where the
/// batch's record starts. Returns the offset where it stopped: after the
/// batch `f` stopped at, or after the last complete line (a line still
/// being written is left for the next read).
fn for_each_output(
    path: &Path,
    step: &str,
    first_seq: u64,
    start: u64,
    mut f: impl FnMut(u64, Stream, Vec<String>) -> ControlFlow<()>,
) -> std::io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(start))?;
    // Small enough that what is read past the lines wanted stays small.
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    let step_json = serde_json::to_string(step).unwrap_or_default();
    let step_needle = format!("\"step\":{step_json}");
    let mut line = Vec::with_capacity(64 * 1024);
    let mut offset = start;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read == 0 || line.last() != Some(&b'\n') {
            return Ok(offset);
        }
        let at = offset;
        offset += read as u64;
        // Cheap filters first: most lines of a long session are other steps' output.
        if !contains(&line, b"\"type\":\"output\"") || !contains(&line, step_needle.as_bytes()) {
            continue;
        }
        let Ok(record) = serde_json::from_slice::<OutputRecord>(&line) else {
            continue;
        };
        if record.kind != "output" || record.step != step || record.seq < first_seq {
            continue;
        }
        if f(at, record.stream, record.lines).is_break() {
            return Ok(offset);
        }
    }
}

/// A step's line index at a byte offset of its journal: where a read of
/// its lines from that index on can start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineMark {
    pub line: u64,
    pub offset: u64,
}

/// What read-backs learnt of where a step's output lies in a journal: a
/// mark at least every [`CHECKPOINT_LINES`] lines, and how far the journal
/// was read. A read seeks to the nearest mark before its first line and
/// reads a bounded amount, instead of scanning the journal from its start
/// (which made a seek near the end, and a follow while the index was built,
/// slower the longer the journal). Journals only grow, so what was learnt
/// stays true; a journal found shorter is learnt again.
#[derive(Debug, Default)]
struct Checkpoints {
    marks: Vec<LineMark>,
    scanned: LineMark,
}

/// Lines of a step between two checkpoints.
const CHECKPOINT_LINES: u64 = 1_000;

/// A journal, a step and the step's first seq.
type StepKey = (PathBuf, String, u64);

/// Checkpoints of every step read back so far.
fn checkpoints() -> &'static Mutex<HashMap<StepKey, Checkpoints>> {
    static CHECKPOINTS: OnceLock<Mutex<HashMap<StepKey, Checkpoints>>> = OnceLock::new();
    CHECKPOINTS.get_or_init(Mutex::default)
}

/// Where to start reading for line `from`, and the marks known so far.
fn start_for(key: &StepKey, from: u64) -> LineMark {
    let len = std::fs::metadata(&key.0).map_or(0, |m| m.len());
    let Ok(mut all) = checkpoints().lock() else {
        return LineMark::default();
    };
    let Some(known) = all.get(key) else {
        return LineMark::default();
    };
    if known.scanned.offset > len {
        all.remove(key);
        return LineMark::default();
    }
    if known.scanned.line <= from {
        return known.scanned;
    }
    let i = known.marks.partition_point(|m| m.line <= from);
    i.checked_sub(1)
        .map_or_else(LineMark::default, |i| known.marks[i])
}

/// Remember the marks a read found beyond what was known, and how far it read.
fn learn(key: StepKey, found: Vec<LineMark>, reached: LineMark) {
    let Ok(mut all) = checkpoints().lock() else {
        return;
    };
    let known = all.entry(key).or_default();
    for mark in found {
        let far_enough = known
            .marks
            .last()
            .is_none_or(|last| mark.line >= last.line + CHECKPOINT_LINES);
        if mark.offset >= known.scanned.offset && far_enough {
            known.marks.push(mark);
        }
    }
    if reached.offset > known.scanned.offset {
        known.scanned = reached;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Lines `from..from + count` of a step's output.
fn read_range(
    path: &Path,
    step: &str,
    first_seq: u64,
    (from, count): (u64, usize),
    hint: Option<LineMark>,
) -> std::io::Result<Vec<LogLine>> {
    let mut out = Vec::with_capacity(count.min(WINDOW));
    let key = (path.to_path_buf(), step.to_string(), first_seq);
    let learnt = start_for(&key, from);
    let start = match hint {
        Some(hint) if hint.line <= from && hint.line > learnt.line => hint,
        _ => learnt,
    };
    let mut index = start.line;
    let mut found = Vec::new();
    let stopped = for_each_output(path, step, first_seq, start.offset, |at, stream, lines| {
        found.push(LineMark {
            line: index,
            offset: at,
        });
        let n = lines.len() as u64;
        if index + n > from {
            let skip = from.saturating_sub(index) as usize;
            for text in lines.iter().skip(skip) {
                if out.len() == count {
                    break;
                }
                out.push(LogLine::new(stream, text));
            }
        }
        index += n;
        if out.len() == count {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    learn(
        key,
        found,
        LineMark {
            line: index,
            offset: stopped,
        },
    );
    Ok(out)
}

/// The line nearest `from` matching `pattern`, forward or backward,
/// wrapping around the end (or the start) as an editor's search does.
fn find_line(
    path: &Path,
    step: &str,
    first_seq: u64,
    pattern: &str,
    from: u64,
    forward: bool,
) -> std::io::Result<Option<u64>> {
    let mut index = 0u64;
    let (mut first, mut last) = (None, None);
    let (mut after, mut before) = (None, None);
    for_each_output(path, step, first_seq, 0, |_, _, lines| {
        for text in &lines {
            if matches(text, pattern) {
                first.get_or_insert(index);
                last = Some(index);
                if index >= from && after.is_none() {
                    after = Some(index);
                }
                if index <= from {
                    before = Some(index);
                }
            }
            index += 1;
        }
        // Going forward, the first match after `from` settles it.
        if forward && after.is_some() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(if forward { after.or(first) } else { before.or(last) })
}

/// Answer a read-back query from the journal at `path` (blocking I/O).
pub fn read_log(path: &Path, query: &LogQuery) -> LogChunk {
    let mut chunk = LogChunk {
        step: query.step.clone(),
        generation: query.generation,
        start: 0,
        lines: Vec::new(),
        found: None,
        error: None,
    };
    let result = match &query.kind {
        QueryKind::Range { from, count } => {
            chunk.start = *from;
            read_range(path, &query.step, query.first_seq, (*from, *count), query.start)
                .map(|lines| chunk.lines = lines)
        }
        QueryKind::Find {
            pattern,
            from,
            forward,
        } => find_line(path, &query.step, query.first_seq, pattern, *from, *forward).and_then(|found| {
            chunk.found = Some(found);
            match found {
                Some(index) => {
                    chunk.start = index.saturating_sub(WINDOW as u64 / 2);
                    read_range(path, &query.step, query.first_seq, (chunk.start, WINDOW), None)
                        .map(|lines| chunk.lines = lines)
                }
                None => Ok(()),
            }
        }),
    };
    if let Err(e) = result {
        chunk.error = Some(format!("cannot read the log back from {}: {e}", path.display()));
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::{Event, Record};

    /// A journal with two steps' output interleaved, 10 lines each batch.
    fn journal() -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        let mut seq = 0;
        for batch in 0..5u64 {
            for step in ["a", "b"] {
                let lines = (0..10).map(|i| format!("{step} {}", batch * 10 + i)).collect();
                let event = Event::Output {
                    step: step.into(),
                    attempt: 1,
                    stream: Stream::Stdout,
                    lines,
                };
                let record = Record {
                    seq,
                    ts: chrono::Utc::now(),
                    event,
                    origin: None,
                };
                seq += 1;
                let line = serde_json::to_string(&record).expect("encode");
                std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()).expect("write");
            }
        }
        file
    }

    fn query(kind: QueryKind) -> LogQuery {
        LogQuery {
            step: "b".into(),
            first_seq: 0,
            generation: 1,
            kind,
            start: None,
        }
    }

    #[test]
    fn reads_a_range_of_one_steps_output() {
        let file = journal();
        let chunk = read_log(file.path(), &query(QueryKind::Range { from: 8, count: 5 }));
        let texts: Vec<&str> = chunk.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["b 8", "b 9", "b 10", "b 11", "b 12"]);
        assert_eq!(chunk.start, 8);
        assert!(chunk.error.is_none());
    }

    /// Reads learn where the step's lines are; later reads (before, after,
    /// past a record still being written) give what a scan from the start would.
    #[test]
    fn read_backs_stay_right_as_the_journal_grows() {
        let mut file = journal();
        let range = |path: &Path, from: u64, count: usize| -> Vec<String> {
            let chunk = read_log(path, &query(QueryKind::Range { from, count }));
            assert!(chunk.error.is_none(), "{:?}", chunk.error);
            chunk.lines.into_iter().map(|l| l.text).collect()
        };
        let b = |r: std::ops::Range<u64>| r.map(|i| format!("b {i}")).collect::<Vec<_>>();
        assert_eq!(range(file.path(), 45, 10), b(45..50));
        let record = Record {
            seq: 10,
            ts: chrono::Utc::now(),
            event: Event::Output {
                step: "b".into(),
                attempt: 1,
                stream: Stream::Stdout,
                lines: (50..60).map(|i| format!("b {i}")).collect(),
            },
            origin: None,
        };
        let line = format!("{}\n", serde_json::to_string(&record).expect("encode"));
        let (half, rest) = line.split_at(line.len() / 2);
        std::io::Write::write_all(&mut file, half.as_bytes()).expect("write");
        assert_eq!(range(file.path(), 50, 10), b(50..50), "half a record is not read");
        std::io::Write::write_all(&mut file, rest.as_bytes()).expect("write");
        // From where the reads got to, then from a mark before it.
        assert_eq!(range(file.path(), 50, 10), b(50..60));
        assert_eq!(range(file.path(), 48, 10), b(48..58));
        assert_eq!(range(file.path(), 3, 4), b(3..7));
        assert_eq!(range(file.path(), 55, 100), b(55..60));
    }

    #[test]
    fn finds_forward_backward_and_wraps_around() {
        let file = journal();
        let find = |pattern: &str, from, forward| {
            read_log(
                file.path(),
                &query(QueryKind::Find {
                    pattern: pattern.into(),
                    from,
                    forward,
                }),
            )
            .found
        };
        assert_eq!(find("b 3", 0, true), Some(Some(3)));
        assert_eq!(
            find("b 3", 4, true),
            Some(Some(30)),
            "the next match after 4 is b 30"
        );
        assert_eq!(
            find("b 3", 40, true),
            Some(Some(3)),
            "past the last match it wraps to the top"
        );
        assert_eq!(find("b 3", 29, false), Some(Some(3)));
        assert_eq!(
            find("b 3", 2, false),
            Some(Some(39)),
            "before the first match it wraps to the bottom"
        );
        assert_eq!(find("nowhere", 0, true), Some(None));
        assert_eq!(find("A 1", 0, true), Some(None), "capitals match exactly");
    }

    #[test]
    fn a_missing_journal_is_an_error_not_a_panic() {
        let chunk = read_log(
            Path::new("/nonexistent/journal.jsonl"),
            &query(QueryKind::Range { from: 0, count: 5 }),
        );
        assert!(chunk.error.is_some());
    }

    /// A following window that only lacks the newest lines asks for those
    /// alone, and keeps what it had; one too far behind reads a whole window.
    #[test]
    fn a_following_window_reads_only_its_newest_lines() {
        let mut view = LogView::default();
        view.show("a", None);
        let batch: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        view.push("a", Stream::Stdout, batch.clone(), 0);
        let query = view.request(Some(0), 130, 50).expect("a read-back");
        assert_eq!(query.kind, QueryKind::Range { from: 100, count: 30 });
        let lines = (100..130)
            .map(|i| LogLine::new(Stream::Stdout, &i.to_string()))
            .collect();
        let chunk = LogChunk {
            step: "a".into(),
            generation: query.generation,
            start: 100,
            lines,
            found: None,
            error: None,
        };
        assert_eq!(view.loaded(chunk), Loaded::Lines);
        assert_eq!((view.start, view.end()), (0, 130));
        assert_eq!(view.get(129).map(|l| l.text.as_str()), Some("129"));
        let far = WINDOW as u64 + 200;
        let query = view.request(Some(0), far, 50).expect("a read-back");
        assert_eq!(
            query.kind,
            QueryKind::Range {
                from: far - WINDOW as u64,
                count: WINDOW
            }
        );
        // A window too short for the pane reads a whole one.
        let mut short = LogView::default();
        short.show("a", None);
        short.push("a", Stream::Stdout, batch[..10].to_vec(), 0);
        let asked = short.request(Some(0), 10, 50).map(|q| q.kind);
        assert_eq!(asked, None, "the step has no more lines than the window holds");
        short.push("a", Stream::Stdout, batch[..10].to_vec(), 10);
        short.lines.drain(..15);
        short.start = 15;
        let asked = short.request(Some(0), 20, 50).map(|q| q.kind);
        assert_eq!(
            asked,
            Some(QueryKind::Range {
                from: 0,
                count: WINDOW
            })
        );
        // An emptied pane's generations go on: the answer to this one is stale for it.
        let mut emptied = view.emptied();
        emptied.show("a", None);
        let late = LogChunk {
            step: "a".into(),
            generation: query.generation,
            start: 0,
            lines: Vec::new(),
            found: None,
            error: None,
        };
        assert_eq!(emptied.loaded(late), Loaded::Stale);
    }

    #[test]
    fn the_window_stays_bounded_and_contiguous() {
        let mut view = LogView::default();
        view.show("a", None);
        let batch: Vec<String> = (0..3_000).map(|i| i.to_string()).collect();
        let mut total = 0;
        for _ in 0..10 {
            view.push("a", Stream::Stdout, batch.clone(), total);
            total += batch.len() as u64;
        }
        assert_eq!(view.window_len(), WINDOW);
        assert_eq!(view.end(), total);
        assert_eq!(view.get(total - 1).map(|l| l.text.as_str()), Some("2999"));
        // Output of another step, or out of order, is not mixed in.
        view.push("b", Stream::Stdout, batch.clone(), 0);
        view.push("a", Stream::Stdout, batch.clone(), 5);
        assert_eq!(view.end(), total);
    }
}
