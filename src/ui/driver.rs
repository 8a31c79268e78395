//! The thin, effectful shell around `App::update`: reads the terminal, the
//! engine and the log reader, feeds everything in as messages, performs the
//! effects, and draws when something changed (at most ~60 frames a second).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::Event as TermEvent;
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, interval, sleep_until};

use super::app::App;
use super::log::{LogChunk, read_log};
use super::msg::{Effect, Msg};
use super::terminal::FrameSync;
use super::views::view;
use crate::session::{Command, Refusal, Update};

/// Shortest time between two frames.
const FRAME: Duration = Duration::from_millis(16);
/// Clock tick: the spinner and elapsed times.
const TICK: Duration = Duration::from_millis(100);
/// Longest time spent folding queued engine updates before looking at input again.
const DRAIN: Duration = Duration::from_millis(8);
/// Longest time spent folding queued updates before answering a key.
const CATCH_UP: Duration = Duration::from_millis(2);
/// How long quitting waits for the engine to record the detach.
const QUIT_GRACE: Duration = Duration::from_secs(15);

/// The streams between the TUI and the rest of the process.
pub struct Channels {
    pub commands: mpsc::Sender<Command>,
    pub updates: mpsc::UnboundedReceiver<Update>,
    /// The engine task: `Err` says why it failed.
    pub engine: JoinHandle<Result<(), String>>,
    /// Names of termination signals received.
    pub signals: mpsc::Receiver<&'static str>,
    pub journal_path: PathBuf,
}

/// Turn a terminal event into a message (focus changes mean nothing here).
fn to_msg(event: TermEvent) -> Option<Msg> {
    match event {
        TermEvent::Key(k) => Some(Msg::Key(k)),
        TermEvent::Mouse(m) => Some(Msg::Mouse(m)),
        TermEvent::Paste(p) => Some(Msg::Paste(p)),
        TermEvent::Resize(w, h) => Some(Msg::Resize(w, h)),
        TermEvent::FocusGained | TermEvent::FocusLost => None,
    }
}

fn draw<B: Backend + FrameSync>(terminal: &mut Terminal<B>, app: &mut App) -> Result<(), String> {
    terminal.backend_mut().begin_frame().map_err(|e| e.to_string())?;
    terminal
        .draw(|frame| view(app, frame))
        .map_err(|e| e.to_string())?;
    terminal.backend_mut().end_frame().map_err(|e| e.to_string())?;
    app.dirty = false;
    Ok(())
}

struct Driver {
    channels: Channels,
    log_tx: mpsc::UnboundedSender<LogChunk>,
}

impl Driver {
    fn handle(&mut self, app: &mut App, msg: Msg) {
        for effect in app.update(msg) {
            self.perform(app, effect);
        }
    }

    /// Fold queued engine updates for at most `budget`.
    fn drain(&mut self, app: &mut App, budget: Duration) {
        let until = Instant::now() + budget;
        while Instant::now() < until {
            match self.channels.updates.try_recv() {
                Ok(update) => self.handle(app, Msg::Engine(update)),
                Err(_) => break,
            }
        }
    }

    fn perform(&mut self, app: &mut App, effect: Effect) {
        match effect {
            Effect::Send(command) => match self.channels.commands.try_send(command) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(command)) => {
                    let tx = self.channels.commands.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(command).await;
                    });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.handle(app, Msg::Engine(Update::Refused(Refusal::EngineStopped)));
                }
            },
            Effect::ReadLog(query) => {
                let path = self.channels.journal_path.clone();
                let tx = self.log_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(read_log(&path, &query));
                });
            }
            // `update` has set `quitting`; the loop ends once the engine is done.
            Effect::Quit => {}
        }
    }
}

/// Run the TUI until the operator leaves and the engine has stopped.
/// Generic over the backend and the input stream so tests can drive it.
/// `Err` reports a terminal that failed, or an engine that crashed.
pub async fn drive<B, E>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut events: E,
    channels: Channels,
) -> Result<(), String>
where
    B: Backend + FrameSync,
    E: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let (log_tx, mut log_rx) = mpsc::unbounded_channel();
    let mut driver = Driver { channels, log_tx };
    let mut tick = interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut failure: Option<String> = None;
    let mut screen_ok = true;
    let mut input_open = true;
    let mut updates_open = true;
    let mut engine_done = false;
    let mut last_draw: Option<Instant> = None;
    let mut quit_by: Option<Instant> = None;
    loop {
        if app.quitting {
            let deadline = *quit_by.get_or_insert_with(|| Instant::now() + QUIT_GRACE);
            if engine_done || Instant::now() >= deadline {
                break;
            }
        }
        let frame_at = (app.dirty && screen_ok).then(|| last_draw.map_or_else(Instant::now, |t| t + FRAME));
        let msg = tokio::select! {
            biased;
            event = events.next(), if input_open => match event {
                Some(Ok(event)) => match to_msg(event) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(_)) | None => {
                    input_open = false;
                    Msg::Terminate("the terminal closed")
                }
            },
            Some(signal) = driver.channels.signals.recv() => Msg::Terminate(signal),
            _ = sleep_until(frame_at.unwrap_or_else(Instant::now)), if frame_at.is_some() => {
                if let Err(e) = draw(terminal, app) {
                    // Without a screen, leave the session resumable and stop.
                    screen_ok = false;
                    failure.get_or_insert(format!("the terminal failed: {e}"));
                    driver.handle(app, Msg::Terminate("the terminal failed"));
                }
                last_draw = Some(Instant::now());
                continue;
            }
            update = driver.channels.updates.recv(), if updates_open => match update {
                Some(update) => Msg::Engine(update),
                None => {
                    updates_open = false;
                    continue;
                }
            },
            Some(chunk) = log_rx.recv() => Msg::LogRead(chunk),
            result = &mut driver.channels.engine, if !engine_done => {
                engine_done = true;
                let result = result.unwrap_or_else(|e| Err(format!("the engine crashed: {e}")));
                if let Err(e) = &result {
                    failure.get_or_insert(e.clone());
                }
                Msg::EngineStopped(result)
            }
            _ = tick.tick() => Msg::Tick(Utc::now()),
            _ = sleep_until(quit_by.unwrap_or_else(Instant::now)), if quit_by.is_some() => continue,
        };
        let crashed = matches!(msg, Msg::EngineStopped(Err(_)));
        if matches!(msg, Msg::Key(_) | Msg::Mouse(_)) {
            // A key acts on the state as it is now: records already queued
            // (the journal has them) are folded first, within a small budget.
            driver.drain(app, CATCH_UP);
        }
        driver.handle(app, msg);
        if crashed && !app.quitting {
            // A crashed engine is fatal: nothing the operator does can be recorded.
            driver.handle(app, Msg::Terminate("the engine crashed"));
        }
        // Fold everything already queued before the next frame.
        driver.drain(app, DRAIN);
    }
    if screen_ok && app.dirty {
        let _ = draw(terminal, app);
    }
    failure.map_or(Ok(()), Err)
}
