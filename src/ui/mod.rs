//! The live checklist: a full-screen TUI over one session.
//!
//! Elm-style: [`App::update`] folds messages (keys, ticks, engine records,
//! log read-backs) into the state and returns effects as data; [`view`]
//! draws the state; the terminal loop (`screen`, shared with the replay) is
//! the thin shell between them and the world, and `driver` plugs the engine
//! into it.
//! The session's truth is the journal fold ([`crate::session::SessionState`])
//! inside [`App`]; everything else in it is UI-only.

mod app;
mod driver;
pub(crate) mod keys;
mod layout;
mod log;
mod markdown;
mod msg;
mod read_back;
pub(crate) mod screen;
pub(crate) mod spans;
pub(crate) mod terminal;
mod theme;
mod views;

pub use app::{
    App, AppSetup, Banner, ConfirmEnvDialog, EngineState, Level, Message, Modal, Pane, PhaseKey, Question,
    ReasonDialog, ReasonFor, Reference, Row, RowKey, SignOffDialog, SignOffKind, ViewState,
};
pub use driver::{Channels, drive};
pub use keys::markdown as keys_markdown;
pub use layout::{MIN_HEIGHT, MIN_WIDTH};
pub use log::{LineMark, LogChunk, LogLine, LogQuery, QueryKind, WINDOW as LOG_WINDOW, read_log};
pub use msg::{Effect, Msg};
pub use terminal::FrameSync;
pub use theme::Theme;
pub(crate) use views::help::keys_overlay;
pub use views::{view, view_in};

use crate::exit;
use crate::journal::event::SessionOutcome;
use crate::launch::Launched;
use crate::signals::{Caught, Signals};

/// How the TUI is run.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// Who is at the keyboard (`--operator`); by default whoever opened or
    /// last resumed the session.
    pub operator: Option<String>,
}

/// Run the live checklist over a launched session; returns the exit code.
///
/// The engine runs in its own task; the TUI talks to it only through its
/// command and update channels. Leaving (quit, SIGTERM, SIGINT) detaches
/// the session, so it can be resumed with `--resume`. A lost terminal
/// (SIGHUP, a closed pseudo-terminal) does not: the driver goes on without
/// a screen until the session ends or stops.
pub async fn run(launched: Launched, options: UiOptions, signals: Signals) -> u8 {
    let Launched {
        engine,
        updates,
        inbox: commands,
        inbox_rx: command_rx,
        state,
        journal_path,
        warnings,
        unfinished,
        path,
        next_after,
        runbook,
        ..
    } = launched;
    let operator = options
        .operator
        .unwrap_or_else(|| state.current_operator().to_string());
    let mut notices = warnings;
    notices.extend(path);
    if !unfinished.is_empty() {
        notices.push(format!(
            "unfinished session(s) of this runbook and environment: {}; quit and run with --resume ID to continue one",
            unfinished.join(", ")
        ));
    }
    let engine = tokio::spawn(async move {
        engine
            .run(command_rx)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let signalled = signals.first_handle();
    let (guard, terminal) = match screen::open_terminal() {
        Ok(opened) => opened,
        Err(e) => {
            // Closing the command channel detaches the session.
            drop(commands);
            let _ = engine.await;
            eprintln!("runsheet: cannot use the terminal ({e}); run with --headless instead");
            return exit::USAGE;
        }
    };
    let size = terminal.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    let setup = AppSetup {
        operator,
        references: Reference::from_runbook(&runbook),
        journal_path: journal_path.clone(),
        theme: Theme::from_env(),
        now: chrono::Utc::now(),
        size,
        notices,
    };
    let mut app = App::new(state, setup);
    app.next_after = next_after;
    let channels = Channels {
        commands,
        updates,
        engine,
        signals,
        journal_path: journal_path.clone(),
    };
    let result = on_terminal(terminal, guard, &mut app, channels).await;
    summary(&app, &journal_path, result, signalled.get())
}

/// Drive `app` on this process's terminal (opened with
/// [`screen::open_terminal`]) until it leaves; the terminal is restored
/// before this returns.
pub async fn on_terminal(
    mut terminal: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
    guard: terminal::TerminalGuard,
    app: &mut App,
    channels: Channels,
) -> Result<(), String> {
    let result = drive(&mut terminal, app, crossterm::event::EventStream::new(), channels).await;
    drop(terminal);
    drop(guard);
    result
}

/// What is printed on the normal screen after leaving, and the exit code.
fn summary(
    app: &App,
    journal: &std::path::Path,
    result: Result<(), String>,
    signalled: Option<Caught>,
) -> u8 {
    let header = &app.session.header;
    let id = &header.session_id;
    let journal = journal.display();
    if let Err(e) = result {
        eprintln!("runsheet: {e}; the session can be resumed with --resume {id} (journal: {journal})");
        return exit::JOURNAL;
    }
    match &app.session.outcome {
        Some((SessionOutcome::Completed, _)) => {
            println!("runsheet: session {id} completed; journal: {journal}");
            exit::OK
        }
        Some((outcome, reason)) => {
            let why = reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
            println!(
                "runsheet: session {id} {}{why}; journal: {journal}",
                outcome.label()
            );
            exit::INCOMPLETE
        }
        None => {
            println!(
                "runsheet: session {id} left unfinished; resume with: {}",
                crate::session::rules::resume_command(header)
            );
            signalled.map_or(exit::INCOMPLETE, Caught::exit_code)
        }
    }
}
