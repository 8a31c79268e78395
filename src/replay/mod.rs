//! `runsheet replay SESSION`: the live checklist's screen as the operator
//! saw it, read-only, driven by a timeline.
//!
//! The journal is the truth and the replay is the recorded stream fed into
//! a fresh state with effects off: [`index`] reads the journal once in the
//! background (verifying its chain, folding it into the live TUI's
//! [`App`](crate::ui::App), checkpointing it), [`timeline`] is what it
//! learns, [`player`] moves a cursor over it, [`controls`] are the keys and
//! [`view`] draws the app's own screen above a timeline bar. There is no
//! engine: nothing can be sent anywhere.

pub mod controls;
pub mod index;
pub mod player;
pub mod timeline;
pub mod view;

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::Event as TermEvent;
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::{Backend, CrosstermBackend};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

pub use index::{Indexer, IndexerThread, OpenError};
pub use player::{Input, Replay, Speed};
pub use timeline::{IndexBatch, Mark, Timeline};

use crate::exit;
use crate::journal::reader::Integrity;
use crate::journal::store;
use crate::ui::terminal::TerminalGuard;
use crate::ui::{FrameSync, LogChunk, LogQuery, Theme, read_log};

/// Shortest time between two frames.
const FRAME: Duration = Duration::from_millis(16);
/// Playback clock tick.
const TICK: Duration = Duration::from_millis(40);
/// Longest real time one tick accounts for (after a stall, playback does not leap).
const MAX_TICK: Duration = Duration::from_millis(250);

fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    eprintln!("runsheet: {message}");
    code
}

/// `runsheet replay SESSION`: resolve the session, open its journal, and
/// replay it in the terminal; the exit code.
pub fn main(state_dir: Option<&Path>, session: &str) -> u8 {
    let path = if Path::new(session).is_file() {
        PathBuf::from(session)
    } else {
        let resolved = store::state_dir(state_dir).and_then(|dir| store::resolve_session(&dir, session));
        match resolved {
            Ok(p) => p,
            Err(e) => return fail(exit::USAGE, e),
        }
    };
    let size = crossterm::terminal::size().unwrap_or((80, 24));
    let (indexer, first) = match Indexer::open(&path, Theme::from_env(), view::app_size(size)) {
        Ok(opened) => opened,
        Err(e) => return fail(exit::JOURNAL, e),
    };
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return fail(
            exit::USAGE,
            "replay needs a terminal: it is a full-screen viewer; `runsheet report SESSION` prints the session and `runsheet verify SESSION` checks its journal",
        );
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(exit::USAGE, format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(run(&path, indexer, first))
}

/// Replay an opened journal on this terminal until the reviewer quits.
pub async fn run(path: &Path, indexer: Indexer, first: IndexBatch) -> u8 {
    let (tx, rx) = mpsc::unbounded_channel();
    let thread = match indexer.spawn(tx) {
        Ok(t) => t,
        Err(e) => return fail(exit::JOURNAL, format!("cannot start reading the journal: {e}")),
    };
    let signals = crate::ui::listen_for_signals();
    let guard = match TerminalGuard::enter() {
        Ok(g) => g,
        Err(e) => return fail(exit::USAGE, format!("cannot use the terminal ({e})")),
    };
    let mut terminal = match Terminal::new(CrosstermBackend::new(io::stdout())) {
        Ok(t) => t,
        Err(e) => {
            drop(guard);
            return fail(exit::USAGE, format!("cannot use the terminal ({e})"));
        }
    };
    let size = terminal.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    let (mut replay, fx) = match Replay::new(path, first, size) {
        Ok(r) => r,
        Err(e) => {
            drop(terminal);
            drop(guard);
            return fail(exit::JOURNAL, e);
        }
    };
    let channels = Channels {
        index: rx,
        signals,
        journal_path: path.to_path_buf(),
    };
    let result = drive(
        &mut terminal,
        &mut replay,
        crossterm::event::EventStream::new(),
        channels,
        fx,
    )
    .await;
    drop(thread);
    drop(terminal);
    drop(guard);
    summary(&replay, path, result)
}

/// What is printed after leaving, and the exit code: a broken chain is
/// reported as `runsheet verify` reports it.
fn summary(replay: &Replay, path: &Path, result: Result<(), String>) -> u8 {
    let t = &replay.timeline;
    if let Err(e) = result {
        return fail(exit::USAGE, e);
    }
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
            exit::JOURNAL
        }
        (_, Some(why)) => fail(exit::JOURNAL, why),
        _ if !t.caught_up => {
            println!(
                "runsheet: replayed session {id}: left before the whole journal was read ({events} events verified); `runsheet verify {id}` checks it all"
            );
            exit::OK
        }
        _ => {
            println!("runsheet: replayed session {id}: {events} events, hash chain intact");
            exit::OK
        }
    }
}

/// The streams a replay listens to besides the terminal.
pub struct Channels {
    /// Batches from the indexing thread.
    pub index: mpsc::UnboundedReceiver<IndexBatch>,
    /// Names of termination signals received.
    pub signals: mpsc::Receiver<&'static str>,
    pub journal_path: PathBuf,
}

fn draw<B: Backend + FrameSync>(terminal: &mut Terminal<B>, replay: &mut Replay) -> Result<(), String> {
    terminal.backend_mut().begin_frame().map_err(|e| e.to_string())?;
    terminal
        .draw(|frame| view::draw(replay, frame))
        .map_err(|e| e.to_string())?;
    terminal.backend_mut().end_frame().map_err(|e| e.to_string())?;
    replay.dirty = false;
    replay.app.dirty = false;
    Ok(())
}

/// Read log lines back in a blocking task; the answer comes back as input.
fn read_back(path: &Path, queries: Vec<LogQuery>, tx: &mpsc::UnboundedSender<LogChunk>) {
    for query in queries {
        let path = path.to_path_buf();
        let tx = tx.clone();
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(read_log(&path, &query));
        });
    }
}

/// Run the replay until the reviewer quits, a signal arrives or the
/// terminal goes away. Generic over the backend and the input stream so
/// tests can drive it. `fx` are the first screen's log read-backs.
pub async fn drive<B, E>(
    terminal: &mut Terminal<B>,
    replay: &mut Replay,
    mut events: E,
    mut channels: Channels,
    fx: Vec<LogQuery>,
) -> Result<(), String>
where
    B: Backend + FrameSync,
    E: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    read_back(&channels.journal_path, fx, &log_tx);
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_tick = Instant::now();
    let mut last_draw: Option<Instant> = None;
    let mut index_open = true;
    while !replay.quitting {
        let frame_at = replay
            .dirty
            .then(|| last_draw.map_or_else(Instant::now, |t| t + FRAME));
        let input = tokio::select! {
            biased;
            event = events.next() => match event {
                Some(Ok(TermEvent::Key(k))) => Input::Key(k),
                Some(Ok(TermEvent::Mouse(m))) => Input::Mouse(m),
                Some(Ok(TermEvent::Paste(p))) => Input::Paste(p),
                Some(Ok(TermEvent::Resize(w, h))) => Input::Resize(w, h),
                Some(Ok(TermEvent::FocusGained | TermEvent::FocusLost)) => continue,
                Some(Err(_)) | None => break,
            },
            Some(_) = channels.signals.recv() => break,
            _ = sleep_until(frame_at.unwrap_or_else(Instant::now)), if frame_at.is_some() => {
                draw(terminal, replay)?;
                last_draw = Some(Instant::now());
                continue;
            }
            batch = channels.index.recv(), if index_open => match batch {
                Some(batch) => Input::Indexed(batch),
                None => {
                    index_open = false;
                    let t = &replay.timeline;
                    if t.integrity.is_verified() && t.failed.is_none() {
                        // The reader only stops by itself at a break or an error.
                        return Err("reading the journal stopped unexpectedly".into());
                    }
                    continue;
                }
            },
            Some(chunk) = log_rx.recv() => Input::LogRead(chunk),
            now = tick.tick(), if replay.playing => {
                let elapsed = (now - last_tick).min(MAX_TICK);
                last_tick = now;
                Input::Tick(elapsed)
            }
        };
        let was_playing = replay.playing;
        let queries = replay.update(input);
        if replay.playing && !was_playing {
            // Playback counts from the moment it starts.
            last_tick = Instant::now();
        }
        read_back(&channels.journal_path, queries, &log_tx);
    }
    Ok(())
}
