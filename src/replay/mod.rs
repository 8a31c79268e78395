//! `runsheet replay SESSION`: the live checklist's screen as the operator
//! saw it, read-only, driven by a timeline.
//!
//! The journal is the truth and the replay is the recorded stream fed into
//! a fresh state with effects off: [`index`] reads the journal once in the
//! background (verifying its chain, folding it into the live TUI's
//! [`App`](crate::ui::App), checkpointing it), [`timeline`] lays what it
//! learns out in time, [`player`] moves a cursor over it (pure: the records
//! a seek needs are asked for, and [`Reader`] reads them), [`controls`] are
//! the keys and [`view`] draws the app's own screen above a timeline bar.
//! It runs in the live checklist's terminal loop. There is no engine:
//! nothing can be sent anywhere.

pub mod controls;
pub mod index;
pub mod player;
pub mod timeline;
pub mod view;

use std::fs::File;
use std::io::{self, IsTerminal};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use ratatui::Frame;
use tokio::sync::mpsc;

pub use index::{Checkpoint, IndexBatch, Indexer, IndexerThread, Mark, OpenError};
pub use player::{Effect, EventsQuery, EventsRead, Input, Replay, Speed};
pub use timeline::Timeline;

use crate::exit::{self, CliError};
use crate::journal::chain::parse_line_unchecked;
use crate::journal::event::{Event, Record};
use crate::journal::reader::Integrity;
use crate::journal::store;
use crate::session::Update;
use crate::signals::Signals;
use crate::ui::screen::{self, Common, Leaving, Screen, Source};
use crate::ui::{App, LogQuery, Msg, Theme};

/// Playback clock tick.
const TICK: Duration = Duration::from_millis(40);
/// Longest real time one tick accounts for (after a stall, playback does not leap).
const MAX_TICK: Duration = Duration::from_millis(250);

/// How a record reaches the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Through `update`, as the live TUI takes an engine record.
    Live,
    /// Output batches (the bulk of any journal) straight into the fold,
    /// skipping the per-record view sync; whoever feeds this way resyncs the
    /// view once at the end ([`Replay`] does, the indexer's app never draws).
    Fast,
}

/// Fold one record into the app; the effects it asks for (log read-backs).
pub fn feed(app: &mut App, record: Record, how: Feed) -> Vec<crate::ui::Effect> {
    if let Event::Resumed { operator, .. } = &record.event {
        // The live TUI of a resumed session is opened by the one who resumed it.
        app.set_operator(operator);
    }
    if how == Feed::Fast && matches!(record.event, Event::Output { .. }) {
        app.session.apply(&record);
        return Vec::new();
    }
    app.update(Msg::Engine(Update::Record(record)))
}

/// Reads the records a replay's seeks ask for, at their indexed offsets.
pub struct Reader {
    file: File,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Reader, String> {
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Ok(Reader { file })
    }

    /// The answer to a seek's query. The records were verified when indexed;
    /// a line that no longer parses means the file changed underneath.
    pub fn read(&self, query: EventsQuery) -> EventsRead {
        let records = self.records(&query);
        EventsRead { query, records }
    }

    fn records(&self, query: &EventsQuery) -> Result<Vec<Record>, String> {
        let changed = || "the journal changed on disk while it was replayed; open it again".to_string();
        let (start, end) = query.bytes;
        let len = usize::try_from(end.saturating_sub(start))
            .map_err(|_| "the journal is too large to read".to_string())?;
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| format!("cannot read the journal: {e}"))?;
        buf.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|line| parse_line_unchecked(line).ok_or_else(changed))
            .collect()
    }

    /// Perform a replay's effects until only log read-backs are left: the
    /// records a seek needs are read here and fed back at once.
    pub fn settle(&self, replay: &mut Replay, effects: Vec<Effect>) -> Vec<LogQuery> {
        let mut queries = Vec::new();
        let mut pending = effects;
        while !pending.is_empty() {
            let mut next = Vec::new();
            for effect in pending {
                match effect {
                    Effect::ReadLog(q) => queries.push(q),
                    Effect::ReadEvents(q) => next.extend(replay.update(Input::Events(self.read(q)))),
                }
            }
            pending = next;
        }
        queries
    }
}

/// `runsheet replay SESSION`: resolve the session, open its journal, and
/// replay it in the terminal.
pub fn main(state_dir: Option<&Path>, session: &str) -> Result<(), CliError> {
    let path = store::find_journal(state_dir, session).map_err(CliError::usage)?;
    let size = crossterm::terminal::size().unwrap_or((80, 24));
    let (indexer, first) = Indexer::open(&path, Theme::from_env(), view::app_size(size))
        .map_err(|e| CliError::new(exit::JOURNAL, e))?;
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(CliError::usage(
            "replay needs a terminal: it is a full-screen viewer; `runsheet report SESSION` prints the session and `runsheet verify SESSION` checks its journal",
        ));
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run(&path, indexer, first))
}

/// Replay an opened journal on this terminal until the reviewer quits.
pub async fn run(path: &Path, indexer: Indexer, first: IndexBatch) -> Result<(), CliError> {
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = indexer
        .spawn(tx)
        .map_err(|e| CliError::new(exit::JOURNAL, format!("cannot start reading the journal: {e}")))?;
    let reader = Reader::open(path).map_err(|e| CliError::new(exit::JOURNAL, e))?;
    let signals = Signals::listen();
    let (guard, mut terminal) =
        screen::open_terminal().map_err(|e| CliError::usage(format!("cannot use the terminal ({e})")))?;
    let size = terminal.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    let (mut replay, fx) = Replay::new(first, size)
        .map_err(|e| CliError::new(exit::JOURNAL, format!("{}: {e}", path.display())))?;
    let mut source = Indexed {
        index: Some(rx),
        reader,
    };
    let result = screen::run(
        &mut terminal,
        &mut replay,
        fx,
        crossterm::event::EventStream::new(),
        &mut source,
        signals,
        path,
    )
    .await;
    drop(thread);
    drop(terminal);
    drop(guard);
    summary(&replay, path, result)
}

/// What is printed after leaving: a broken chain is reported as `runsheet
/// verify` reports it.
fn summary(replay: &Replay, path: &Path, result: Result<(), String>) -> Result<(), CliError> {
    let t = &replay.timeline;
    result.map_err(CliError::usage)?;
    if let Some(torn) = &t.torn {
        eprintln!("warning: {}: {torn}", path.display());
    }
    let id = &replay.app.session.header.session_id;
    let events = crate::text::count(t.len() as u64);
    match (&t.integrity, &t.failed) {
        (Integrity::Broken { line, reason }, _) => {
            println!(
                "{}:{line}: integrity broken: {reason}; the replay showed the {events} events before it",
                path.display()
            );
            Err(CliError::silent(exit::JOURNAL))
        }
        (_, Some(why)) => Err(CliError::new(exit::JOURNAL, why)),
        _ if !t.caught_up => {
            println!(
                "runsheet: replayed session {id}: left before the whole journal was read ({events} events verified); `runsheet verify {id}` checks it all"
            );
            Ok(())
        }
        _ => {
            println!("runsheet: replayed session {id}: {events} events, hash chain intact");
            Ok(())
        }
    }
}

impl From<Common> for Input {
    fn from(c: Common) -> Input {
        match c {
            Common::Key(k) => Input::Key(k),
            Common::Mouse(m) => Input::Mouse(m),
            Common::Paste(p) => Input::Paste(p),
            Common::Resize(w, h) => Input::Resize(w, h),
            Common::Tick { elapsed, .. } => Input::Tick(elapsed.min(MAX_TICK)),
            Common::LogRead(chunk) => Input::LogRead(chunk),
            Common::Terminate(_) | Common::TerminalLost(_) => Input::Terminate,
        }
    }
}

impl Screen for Replay {
    type Msg = Input;
    type Effect = Effect;

    fn update(&mut self, input: Input) -> Vec<Effect> {
        Replay::update(self, input)
    }

    fn draw(&self, frame: &mut Frame) {
        view::draw(self, frame);
    }

    fn log_query(effect: Effect) -> Result<LogQuery, Effect> {
        match effect {
            Effect::ReadLog(q) => Ok(q),
            other => Err(other),
        }
    }

    fn dirty(&self) -> bool {
        self.dirty
    }

    fn drawn(&mut self) {
        self.dirty = false;
        self.app.mark_drawn();
    }

    fn tick(&self) -> Option<Duration> {
        self.playing.then_some(TICK)
    }

    fn leaving(&self) -> Leaving {
        if self.quitting { Leaving::Now } else { Leaving::No }
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

/// The indexer's batches and the journal's records, as the replay's source.
struct Indexed {
    /// `None` once the indexer has stopped.
    index: Option<mpsc::UnboundedReceiver<IndexBatch>>,
    reader: Reader,
}

impl Source<Replay> for Indexed {
    async fn next(&mut self) -> Option<Input> {
        let index = self.index.as_mut()?;
        match index.recv().await {
            Some(batch) => Some(Input::Indexed(batch)),
            None => {
                self.index = None;
                Some(Input::IndexClosed)
            }
        }
    }

    fn ready(&mut self) -> Option<Input> {
        self.index.as_mut()?.try_recv().ok().map(Input::Indexed)
    }

    fn perform(&mut self, effect: Effect) -> Option<Input> {
        match effect {
            Effect::ReadEvents(query) => Some(Input::Events(self.reader.read(query))),
            Effect::ReadLog(_) => None,
        }
    }
}
