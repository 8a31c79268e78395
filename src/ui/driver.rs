//! The live checklist in the terminal loop: [`App`] as a [`Screen`], and
//! the engine's channels as its [`Source`] (records and refusals in,
//! commands out, the engine task's end).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::Event as TermEvent;
use futures_util::Stream;
use ratatui::backend::Backend;
use ratatui::{Frame, Terminal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::app::{App, EngineState};
use super::log::LogQuery;
use super::msg::{Effect, Msg};
use super::screen::{self, Common, Leaving, Screen, Source};
use super::terminal::FrameSync;
use super::views::view;
use crate::engine::inbox::Inbox;
use crate::session::{Refusal, Update};
use crate::signals::Signals;

/// Clock tick: the spinner and elapsed times.
const TICK: Duration = Duration::from_millis(100);

/// The streams between the TUI and the rest of the process.
pub struct Channels {
    pub commands: Inbox,
    pub updates: mpsc::Receiver<Update>,
    /// The engine task: `Err` says why it failed.
    pub engine: JoinHandle<Result<(), String>>,
    /// Signals (SIGTERM, SIGINT, SIGHUP) as they arrive.
    pub signals: Signals,
    pub journal_path: PathBuf,
}

impl From<Common> for Msg {
    fn from(c: Common) -> Msg {
        match c {
            Common::Key(k) => Msg::Key(k),
            Common::Mouse(m) => Msg::Mouse(m),
            Common::Paste(p) => Msg::Paste(p),
            Common::Resize(w, h) => Msg::Resize(w, h),
            Common::Tick { now, .. } => Msg::Tick(now),
            Common::LogRead(chunk) => Msg::LogRead(chunk),
            Common::Terminate(why) => Msg::Terminate(why),
            Common::TerminalLost(why) => Msg::TerminalLost(why),
        }
    }
}

impl Screen for App {
    type Msg = Msg;
    type Effect = Effect;

    fn update(&mut self, msg: Msg) -> Vec<Effect> {
        App::update(self, msg)
    }

    fn draw(&self, frame: &mut Frame) {
        view(self, frame);
    }

    fn log_query(effect: Effect) -> Result<LogQuery, Effect> {
        match effect {
            Effect::ReadLog(query) => Ok(query),
            other => Err(other),
        }
    }

    fn dirty(&self) -> bool {
        self.dirty
    }

    fn drawn(&mut self) {
        self.mark_drawn();
    }

    fn tick(&self) -> Option<Duration> {
        Some(TICK)
    }

    fn leaving(&self) -> Leaving {
        match (self.quitting, &self.engine) {
            (false, _) => Leaving::No,
            // The engine records the detach before it stops (an attached
            // checklist's driver goes on: nothing to wait for).
            (true, EngineState::Running) if !self.attached => Leaving::Soon,
            (true, _) => Leaving::Now,
        }
    }

    fn failure(&self) -> Option<String> {
        match &self.engine {
            EngineState::Failed(why) => Some(why.clone()),
            EngineState::Running | EngineState::Stopped => None,
        }
    }
}

/// The engine, as the live checklist's source.
struct Engine {
    commands: Inbox,
    updates: mpsc::Receiver<Update>,
    task: JoinHandle<Result<(), String>>,
    updates_open: bool,
    done: bool,
    /// The engine task's end, told once the updates it queued have been.
    stopped: Option<Result<(), String>>,
}

impl Source<App> for Engine {
    async fn next(&mut self) -> Option<Msg> {
        loop {
            if self.stopped.is_some() {
                return Some(match self.updates.try_recv() {
                    Ok(update) => Msg::Engine(update),
                    Err(_) => Msg::EngineStopped(self.stopped.take()?),
                });
            }
            tokio::select! {
                update = self.updates.recv(), if self.updates_open && self.stopped.is_none() => match update {
                    Some(update) => return Some(Msg::Engine(update)),
                    None => self.updates_open = false,
                },
                result = &mut self.task, if !self.done => {
                    self.done = true;
                    // Every update it sent is queued by now: those first, so none is lost.
                    self.stopped = Some(result.unwrap_or_else(|e| Err(format!("the engine crashed: {e}"))));
                }
                else => return None,
            }
        }
    }

    fn ready(&mut self) -> Option<Msg> {
        self.updates.try_recv().ok().map(Msg::Engine)
    }

    fn perform(&mut self, effect: Effect) -> Option<Msg> {
        match effect {
            Effect::Send(command) => match self.commands.try_send(command).map_err(|e| *e) {
                Ok(()) => None,
                Err(mpsc::error::TrySendError::Full(command)) => {
                    let tx = self.commands.clone();
                    tokio::spawn(async move {
                        let _ = tx.send(command).await;
                    });
                    None
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    Some(Msg::Engine(Update::Refused(Refusal::EngineStopped)))
                }
            },
            // `update` has set `quitting`; the loop ends once the engine is done.
            Effect::Quit | Effect::ReadLog(_) => None,
        }
    }
}

/// Run the TUI until the operator leaves and the engine has stopped.
/// Generic over the backend and the input stream so tests can drive it.
/// `Err` reports a terminal that failed, or an engine that crashed.
pub async fn drive<B, E>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: E,
    channels: Channels,
) -> Result<(), String>
where
    B: Backend + FrameSync,
    E: Stream<Item = io::Result<TermEvent>> + Unpin,
{
    let Channels {
        commands,
        updates,
        engine,
        signals,
        journal_path,
    } = channels;
    let mut source = Engine {
        commands,
        updates,
        task: engine,
        updates_open: true,
        done: false,
        stopped: None,
    };
    screen::run(
        terminal,
        app,
        Vec::new(),
        events,
        &mut source,
        signals,
        &journal_path,
    )
    .await
}
