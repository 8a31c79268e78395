//! The one terminal loop, for the live checklist and the replay alike:
//! terminal set-up, input read with priority, termination signals, log
//! read-backs, frame pacing (a frame only when something changed, at most
//! ~60 a second, each wrapped in a synchronized update) and the clock.
//!
//! What is shown is a [`Screen`]: a pure `update` from messages to effects
//! and a pure `draw`. What feeds it besides the terminal is its [`Source`]
//! (the engine's updates, the replay's indexer), which also performs the
//! effects only it can (send a command, read journal records). The loop is
//! generic over the ratatui `Backend` and the input stream, so tests drive
//! it on `TestBackend`.

use std::collections::VecDeque;
use std::io::{self, Stdout};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyEvent, MouseEvent};
use futures_util::{Stream, StreamExt};
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::{Frame, Terminal};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::log::{LogChunk, LogQuery};
use super::read_back::ReadBack;
use super::terminal::{FrameSync, TerminalGuard};
use crate::signals::{self, Caught, Signals};

/// Shortest time between two frames.
const FRAME: Duration = Duration::from_millis(16);
/// Longest time spent folding queued messages of the source before looking at input again.
const DRAIN: Duration = Duration::from_millis(8);
/// Longest time spent folding queued messages before answering a key.
const CATCH_UP: Duration = Duration::from_millis(2);
/// How long leaving waits for the screen to be done (the engine to record a detach).
const QUIT_GRACE: Duration = Duration::from_secs(15);

/// What the loop hands every screen.
#[derive(Debug, Clone)]
pub enum Common {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// The clock ticked: the time now, and the real time since the last tick.
    Tick {
        now: DateTime<Utc>,
        elapsed: Duration,
    },
    /// Older log output read back from the journal.
    LogRead(LogChunk),
    /// SIGTERM or SIGINT: leave at once. Says what happened ("SIGTERM received").
    Terminate(&'static str),
    /// The terminal went away (SIGHUP, input closed, a frame failed to be
    /// written): the loop draws and reads no more, and the screen decides
    /// whether it goes on without one. Says what happened.
    TerminalLost(&'static str),
}

/// Whether a screen is leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaving {
    No,
    /// Leaving, once what it waits for is done (at most [`QUIT_GRACE`]).
    Soon,
    Now,
}

/// A program the loop shows: pure, like `App` and `Replay`.
pub trait Screen {
    /// Everything that can happen to it.
    type Msg: From<Common>;
    /// What it asks of the world.
    type Effect;
    fn update(&mut self, msg: Self::Msg) -> Vec<Self::Effect>;
    fn draw(&self, frame: &mut Frame);
    /// A log read-back is performed by the loop; anything else by the source.
    fn log_query(effect: Self::Effect) -> Result<LogQuery, Self::Effect>;
    /// Something visible changed since the last frame.
    fn dirty(&self) -> bool;
    fn drawn(&mut self);
    /// How often the clock ticks now (`None`: it need not).
    fn tick(&self) -> Option<Duration>;
    fn leaving(&self) -> Leaving;
    /// Why it stopped, if it failed (a crashed engine, an unreadable journal).
    fn failure(&self) -> Option<String>;
}

/// What feeds a screen besides the terminal, and performs its effects.
#[allow(async_fn_in_trait)]
pub trait Source<S: Screen> {
    /// The next message; `None` once there will be none.
    async fn next(&mut self) -> Option<S::Msg>;
    /// A message already waiting, without waiting.
    fn ready(&mut self) -> Option<S::Msg>;
    /// Perform an effect; its answer, if it has one at once.
    fn perform(&mut self, effect: S::Effect) -> Option<S::Msg>;
}

/// Switch the terminal over (raw mode, alternate screen, mouse, paste), and
/// a ratatui terminal on it; undone when the guard drops.
pub fn open_terminal() -> io::Result<(TerminalGuard, Terminal<CrosstermBackend<Stdout>>)> {
    let guard = TerminalGuard::enter()?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((guard, terminal))
}

/// A terminal event as a message (focus changes mean nothing here).
fn common(event: TermEvent) -> Option<Common> {
    match event {
        TermEvent::Key(k) => Some(Common::Key(k)),
        TermEvent::Mouse(m) => Some(Common::Mouse(m)),
        TermEvent::Paste(p) => Some(Common::Paste(p)),
        TermEvent::Resize(w, h) => Some(Common::Resize(w, h)),
        TermEvent::FocusGained | TermEvent::FocusLost => None,
    }
}

fn draw<B: Backend + FrameSync, S: Screen>(terminal: &mut Terminal<B>, screen: &mut S) -> Result<(), String> {
    terminal.backend_mut().begin_frame().map_err(|e| e.to_string())?;
    terminal
        .draw(|frame| screen.draw(frame))
        .map_err(|e| e.to_string())?;
    terminal.backend_mut().end_frame().map_err(|e| e.to_string())?;
    screen.drawn();
    Ok(())
}

/// The loop's hands: the source, and the log reader.
struct Hands<'a, S: Screen, Src: Source<S>> {
    source: &'a mut Src,
    read_back: ReadBack,
    _screen: std::marker::PhantomData<S>,
}

impl<S: Screen, Src: Source<S>> Hands<'_, S, Src> {
    /// Update the screen and perform what it asks, answers included.
    fn handle(&mut self, screen: &mut S, msg: S::Msg) {
        let effects = screen.update(msg);
        self.perform(screen, effects);
    }

    /// Perform effects; the answers the source has at once go back in.
    fn perform(&mut self, screen: &mut S, effects: Vec<S::Effect>) {
        let mut answers = VecDeque::new();
        let mut effects = effects;
        loop {
            for effect in effects {
                match S::log_query(effect) {
                    Ok(query) => self.read_back.read(query),
                    Err(effect) => answers.extend(self.source.perform(effect)),
                }
            }
            match answers.pop_front() {
                Some(msg) => effects = screen.update(msg),
                None => return,
            }
        }
    }

    /// Fold what the source has queued, for at most `budget`.
    fn drain(&mut self, screen: &mut S, budget: Duration) {
        let until = Instant::now() + budget;
        while Instant::now() < until {
            match self.source.ready() {
                Some(msg) => self.handle(screen, msg),
                None => break,
            }
        }
    }
}

/// Show `screen` until it leaves, after performing `first` (what its
/// first state asked for). `journal` is where log lines are read back from.
/// `Err` says why the terminal or the screen failed.
pub async fn run<B, E, S, Src>(
    terminal: &mut Terminal<B>,
    screen: &mut S,
    first: Vec<S::Effect>,
    events: E,
    source: &mut Src,
    mut signals: Signals,
    journal: &Path,
) -> Result<(), String>
where
    B: Backend + FrameSync,
    E: Stream<Item = io::Result<TermEvent>> + Unpin,
    S: Screen,
    Src: Source<S>,
{
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    let read_back = ReadBack::spawn(journal.to_path_buf(), log_tx)
        .map_err(|e| format!("cannot start reading the log back: {e}"))?;
    let mut hands = Hands {
        source,
        read_back,
        _screen: std::marker::PhantomData,
    };
    hands.perform(screen, first);
    // Dropped once the terminal is gone: nothing more is read from it.
    let mut events = Some(events);
    let mut screen_ok = true;
    let mut source_open = true;
    let mut last_draw: Option<Instant> = None;
    let mut last_tick = Instant::now();
    let mut ticking = false;
    let mut quit_by: Option<Instant> = None;
    loop {
        match screen.leaving() {
            Leaving::Now => break,
            Leaving::Soon => {
                let deadline = *quit_by.get_or_insert_with(|| Instant::now() + QUIT_GRACE);
                if Instant::now() >= deadline {
                    break;
                }
            }
            Leaving::No => {}
        }
        let frame_at =
            (screen.dirty() && screen_ok).then(|| last_draw.map_or_else(Instant::now, |t| t + FRAME));
        let period = screen.tick();
        if period.is_some() && !ticking {
            // The clock counts from the moment it is wanted.
            last_tick = Instant::now();
        }
        ticking = period.is_some();
        let tick_at = period.map(|p| last_tick + p);
        let mut input = false;
        let mut lost = None;
        let msg: S::Msg = tokio::select! {
            biased;
            event = next_event(&mut events), if events.is_some() => match event {
                Some(Ok(event)) => match common(event) {
                    Some(msg) => {
                        input = matches!(msg, Common::Key(_) | Common::Mouse(_));
                        msg.into()
                    }
                    None => continue,
                },
                Some(Err(_)) | None => {
                    lost = Some("the terminal closed");
                    Common::TerminalLost("the terminal closed").into()
                }
            },
            which = signals.recv() => match which {
                Caught::Hangup => {
                    lost = Some(which.received());
                    Common::TerminalLost(which.received()).into()
                }
                Caught::Interrupt | Caught::Terminate => Common::Terminate(which.received()).into(),
            },
            () = sleep_until(frame_at.unwrap_or_else(Instant::now)), if frame_at.is_some() => {
                if draw(terminal, screen).is_err() && screen_ok {
                    abandon(&mut events, &mut screen_ok);
                    hands.handle(screen, Common::TerminalLost("the terminal failed").into());
                }
                last_draw = Some(Instant::now());
                continue;
            }
            msg = hands.source.next(), if source_open => match msg {
                Some(msg) => msg,
                None => {
                    source_open = false;
                    continue;
                }
            },
            Some(chunk) = log_rx.recv() => Common::LogRead(chunk).into(),
            () = sleep_until(tick_at.unwrap_or_else(Instant::now)), if tick_at.is_some() => {
                let now = Instant::now();
                let elapsed = now - last_tick;
                last_tick = now;
                Common::Tick { now: Utc::now(), elapsed }.into()
            }
            () = sleep_until(quit_by.unwrap_or_else(Instant::now)), if quit_by.is_some() => continue,
        };
        if lost.is_some() {
            abandon(&mut events, &mut screen_ok);
        }
        if input {
            // A key acts on the state as it is now: what the source has queued
            // (the journal has it) is folded first, within a small budget.
            hands.drain(screen, CATCH_UP);
        }
        hands.handle(screen, msg);
        // Fold everything already queued before the next frame.
        hands.drain(screen, DRAIN);
    }
    if screen_ok && screen.dirty() {
        let _ = draw(terminal, screen);
    }
    match screen.failure() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The next terminal event (`None`: the input is gone).
async fn next_event<E>(events: &mut Option<E>) -> Option<io::Result<TermEvent>>
where
    E: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    match events {
        Some(events) => events.next().await,
        None => None,
    }
}

/// Let the terminal go: no more input read or frames drawn, its modes
/// undone (in case it is still there: a `kill -HUP`), and the standard
/// streams that were the terminal pointed at `/dev/null`.
fn abandon<E>(events: &mut Option<E>, screen_ok: &mut bool) {
    if *screen_ok || events.is_some() {
        *events = None;
        *screen_ok = false;
        super::terminal::restore();
        signals::abandon_terminal();
    }
}
