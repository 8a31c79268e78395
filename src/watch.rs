//! `runsheet watch SESSION --journal URL`: a team session's live checklist,
//! read-only, from any terminal that reaches the journal database.
//!
//! The records come from a [`Follower`] (LISTEN/NOTIFY, with a poll as a
//! safety net), verified as they are read, and are folded into the live
//! checklist's own [`App`] the way the replay feeds it: there is no engine
//! and nothing is sent anywhere, so only the keys that look around work.
//! Every line is also written to a private copy in the temporary directory,
//! which the log pane reads older output back from, as it reads a driver's
//! local journal. Without a terminal, `watch` prints the event lines as
//! they come, the headless format, until the session ends.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tokio::sync::mpsc;

use crate::exit::{self, CliError};
use crate::headless::format_record;
use crate::journal::event::{Event, Record};
use crate::journal::postgres::follow::Follower;
use crate::journal::postgres::read::StoredRecord;
use crate::journal::postgres::{JournalDb, PgError};
use crate::replay::{Feed, controls, feed};
use crate::session::SessionState;
use crate::ui::screen::{self, Common, Leaving, Screen, Source};
use crate::ui::{App, AppSetup, Effect, LogQuery, Msg, Theme, view_in};

/// The clock of the checklist (elapsed times, the spinner).
const TICK: Duration = Duration::from_millis(100);

/// `runsheet watch`'s arguments.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The session id (or a unique prefix of one) in the team journal.
    pub session: String,
    /// The team journal database (`postgres://…`).
    #[arg(long, env = "RUNSHEET_JOURNAL_URL", value_name = "URL")]
    pub journal: Option<String>,
}

/// Follow the session until it ends (headless) or the watcher leaves.
pub fn main(args: WatchArgs) -> Result<u8, CliError> {
    let url = args.journal.filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        CliError::usage("watch reads a team journal: give it with --journal URL or RUNSHEET_JOURNAL_URL")
    })?;
    let db = JournalDb::from_url(&url).map_err(db_error)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))?;
    runtime
        .block_on(async {
            let session = resolve(&db, &args.session).await?;
            let follower = Follower::start(&db, &session, 0).await.map_err(db_error)?;
            if io::stdout().is_terminal() && io::stdin().is_terminal() {
                watch_terminal(follower, &session).await
            } else {
                Ok(watch_lines(follower, &mut io::stdout().lock()).await)
            }
        })
        .map_err(|e| e.during("watch"))
}

fn db_error(e: PgError) -> CliError {
    CliError::new(crate::team::exit_code(&e), e)
}

/// The session `arg` names: an id, or a unique prefix of one.
async fn resolve(db: &JournalDb, arg: &str) -> Result<String, CliError> {
    let conn = db.connect().await.map_err(db_error)?;
    let ids: Vec<String> = conn
        .list_sessions()
        .await
        .map_err(db_error)?
        .into_iter()
        .map(|s| s.id)
        .filter(|id| id.starts_with(arg))
        .collect();
    if let Some(id) = ids.iter().find(|id| *id == arg) {
        return Ok(id.clone());
    }
    match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(CliError::usage(format!(
            "no session '{arg}' in the journal database {}; `runsheet sessions --journal URL` lists them",
            db.target()
        ))),
        _ => Err(CliError::usage(format!(
            "session '{arg}' is ambiguous: it starts {}; give more of the id",
            ids.join(", ")
        ))),
    }
}

/// The next record; a lost connection is said and retried (the follower
/// reconnects and goes on from the same seq), a broken chain ends it.
async fn next_record(
    follower: &mut Follower,
    lost: &mut (dyn FnMut(&PgError) + Send),
) -> Result<StoredRecord, PgError> {
    loop {
        match follower.next().await {
            Ok(record) => return Ok(record),
            Err(e @ PgError::Broken { .. }) => return Err(e),
            Err(e) => lost(&e),
        }
    }
}

/// Headless: print every event line until the session ends; the exit code.
async fn watch_lines(mut follower: Follower, out: &mut dyn Write) -> u8 {
    let mut lost = |e: &PgError| eprintln!("runsheet watch: {e}; reconnecting");
    loop {
        match next_record(&mut follower, &mut lost).await {
            Ok(stored) => {
                let _ = format_record(&stored.record, out);
                let _ = out.flush();
                if matches!(stored.record.event, Event::SessionEnded { .. }) {
                    return exit::OK;
                }
            }
            Err(e) => {
                eprintln!("runsheet watch: {e}");
                return exit::JOURNAL;
            }
        }
    }
}

/// The watcher's private copy of the session's lines, removed when it leaves.
struct Copy {
    path: PathBuf,
    file: File,
}

impl Copy {
    fn create(session: &str) -> io::Result<Copy> {
        let path =
            std::env::temp_dir().join(format!("runsheet-watch-{session}-{}.jsonl", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Copy { path, file })
    }

    fn push(&mut self, line: &str) -> io::Result<()> {
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What reaches the watch screen.
enum WatchMsg {
    Common(Common),
    Record(Box<Record>),
    /// The follower lost its connection (it reconnects by itself), or stopped.
    Trouble(String),
}

impl From<Common> for WatchMsg {
    fn from(c: Common) -> WatchMsg {
        WatchMsg::Common(c)
    }
}

/// The live checklist, read-only, with a WATCHING line below it.
struct Watch {
    app: App,
    session: String,
    /// Shown on the WATCHING line: a lost connection, a refused key.
    note: Option<String>,
    leaving: bool,
    dirty: bool,
}

/// The checklist's size in a terminal of `size`: one row is the WATCHING line.
fn app_size((w, h): (u16, u16)) -> (u16, u16) {
    (w, h.saturating_sub(1))
}

impl Watch {
    fn key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        let ctrl_c = ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL);
        if matches!(ev.code, KeyCode::Char('q') | KeyCode::Esc) && self.app.modal.is_none() || ctrl_c {
            self.leaving = true;
            return Vec::new();
        }
        if self.app.modal.is_some() || controls::looks_around(&ev) {
            return looking(self.app.update(Msg::Key(ev)));
        }
        if controls::acts(&ev) {
            self.note = Some(
                "read-only: watching; the driver's terminal (or, later, attach) acts on the session".into(),
            );
            self.dirty = true;
        }
        Vec::new()
    }
}

/// Only the effects that look around: a watcher never sends a command.
fn looking(effects: Vec<Effect>) -> Vec<Effect> {
    effects
        .into_iter()
        .filter(|e| matches!(e, Effect::ReadLog(_)))
        .collect()
}

impl Screen for Watch {
    type Msg = WatchMsg;
    type Effect = Effect;

    fn update(&mut self, msg: WatchMsg) -> Vec<Effect> {
        match msg {
            WatchMsg::Common(Common::Key(ev)) => self.key(ev),
            WatchMsg::Common(Common::Terminate(_) | Common::TerminalLost(_)) => {
                self.leaving = true;
                Vec::new()
            }
            WatchMsg::Common(Common::Resize(w, h)) => {
                self.dirty = true;
                let (w, h) = app_size((w, h));
                looking(self.app.update(Msg::Resize(w, h)))
            }
            WatchMsg::Common(Common::Mouse(ev)) => looking(self.app.update(Msg::Mouse(ev))),
            WatchMsg::Common(Common::Paste(_)) => Vec::new(),
            WatchMsg::Common(Common::Tick { now, .. }) => looking(self.app.update(Msg::Tick(now))),
            WatchMsg::Common(Common::LogRead(chunk)) => looking(self.app.update(Msg::LogRead(chunk))),
            WatchMsg::Record(record) => {
                if self.note.take().is_some() {
                    self.dirty = true;
                }
                looking(feed(&mut self.app, *record, Feed::Live))
            }
            WatchMsg::Trouble(why) => {
                self.note = Some(why);
                self.dirty = true;
                Vec::new()
            }
        }
    }

    fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        let (w, h) = app_size((area.width, area.height));
        view_in(&self.app, frame, Rect::new(area.x, area.y, w, h));
        if area.height > h {
            let theme = self.app.theme;
            let mut spans = vec![
                Span::styled(" WATCHING ", theme.badge()),
                Span::styled(format!(" {} · read-only · q leaves", self.session), theme.dim()),
            ];
            if let Some(note) = &self.note {
                spans.push(Span::styled(format!(" · {note}"), theme.alert()));
            }
            frame.render_widget(
                Paragraph::new(Line::from(spans)),
                Rect::new(area.x, area.y + h, area.width, 1),
            );
        }
    }

    fn log_query(effect: Effect) -> Result<LogQuery, Effect> {
        match effect {
            Effect::ReadLog(query) => Ok(query),
            other => Err(other),
        }
    }

    fn dirty(&self) -> bool {
        self.dirty || self.app.dirty
    }

    fn drawn(&mut self) {
        self.dirty = false;
        self.app.mark_drawn();
    }

    fn tick(&self) -> Option<Duration> {
        Some(TICK)
    }

    fn leaving(&self) -> Leaving {
        if self.leaving { Leaving::Now } else { Leaving::No }
    }

    fn failure(&self) -> Option<String> {
        None
    }
}

/// The follower, as the watch screen's source.
struct Followed {
    messages: mpsc::UnboundedReceiver<WatchMsg>,
}

impl Source<Watch> for Followed {
    async fn next(&mut self) -> Option<WatchMsg> {
        self.messages.recv().await
    }

    fn ready(&mut self) -> Option<WatchMsg> {
        self.messages.try_recv().ok()
    }

    fn perform(&mut self, _effect: Effect) -> Option<WatchMsg> {
        None
    }
}

/// Follow into the copy and the screen's channel, in order, until the screen is gone.
async fn follow(mut follower: Follower, mut copy: Copy, tx: mpsc::UnboundedSender<WatchMsg>) {
    let mut lost = |e: &PgError| {
        let _ = tx.send(WatchMsg::Trouble(format!("{e}; reconnecting")));
    };
    loop {
        let message = match next_record(&mut follower, &mut lost).await {
            Ok(stored) => match copy.push(&stored.line) {
                Ok(()) => WatchMsg::Record(Box::new(stored.record)),
                Err(e) => WatchMsg::Trouble(format!("cannot keep the log's copy: {e}")),
            },
            Err(e) => WatchMsg::Trouble(e.to_string()),
        };
        let stop = matches!(message, WatchMsg::Trouble(_));
        if tx.send(message).is_err() || stop {
            return;
        }
    }
}

/// The checklist, read-only, on this terminal until the watcher leaves.
async fn watch_terminal(mut follower: Follower, session: &str) -> Result<u8, CliError> {
    let journal_error = |e: String| CliError::new(exit::JOURNAL, e);
    let header = follower.next().await.map_err(|e| journal_error(e.to_string()))?;
    let mut copy = Copy::create(session)
        .map_err(|e| journal_error(format!("cannot keep a copy of the session's lines: {e}")))?;
    copy.push(&header.line)
        .map_err(|e| journal_error(format!("cannot keep a copy of the session's lines: {e}")))?;
    let state = SessionState::from_records(std::slice::from_ref(&header.record))
        .map_err(|e| journal_error(format!("session {session}: {e}")))?;
    let path = copy.path.clone();
    let signals = crate::signals::Signals::listen();
    let (guard, mut terminal) =
        screen::open_terminal().map_err(|e| CliError::usage(format!("cannot use the terminal ({e})")))?;
    let size = terminal.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    let setup = AppSetup {
        operator: state.current_operator().to_string(),
        references: Vec::new(),
        journal_path: path.clone(),
        theme: Theme::from_env(),
        now: chrono::Utc::now(),
        size: app_size(size),
        notices: Vec::new(),
    };
    let mut watch = Watch {
        app: App::new(state, setup),
        session: session.to_string(),
        note: None,
        leaving: false,
        dirty: true,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(follow(follower, copy, tx));
    let mut source = Followed { messages: rx };
    let result = screen::run(
        &mut terminal,
        &mut watch,
        Vec::new(),
        crossterm::event::EventStream::new(),
        &mut source,
        signals,
        &path,
    )
    .await;
    task.abort();
    let _ = task.await;
    drop(guard);
    result.map(|()| exit::OK).map_err(CliError::usage)
}
