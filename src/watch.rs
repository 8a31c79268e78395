//! `runsheet watch SESSION` and `runsheet attach SESSION --operator NAME`:
//! a team session's live checklist from any terminal that reaches the
//! journal database; read-only for a watcher, and with the keys to sign
//! the manual step awaiting sign-off, add notes and (where the runbook's
//! `attach` allows) pause or abort for an attached terminal.
//!
//! The records come through a [`Records`] transport, verified as they are
//! read, and are folded into the live checklist's own [`App`] the way the
//! replay feeds it: there is no engine here. An attached terminal's keys
//! reach the driver as [`Request`]s through a [`Requests`] transport; the
//! driver's rules settle each one, and a refusal is shown with its reason.
//! Once the driver's terminal is gone (the records say `driver_detached`),
//! an attached terminal asks for the driver's seat and, given it, has every
//! key of the checklist (DRIVING); leaving gives the seat back.
//! When a step waits for a sign-off this terminal could give (the rules
//! asked with its name and seat), it rings the bell once and says so in
//! the highlighted bottom line. Every line is also written to a private
//! copy in the temporary directory, which the log pane reads older output
//! back from, as it reads a driver's local journal. Without a terminal,
//! `watch` prints the event lines as they come, the headless format, until
//! the session ends.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use tokio::sync::mpsc;

use crate::exit::{self, CliError};
use crate::headless::format_record;
use crate::journal::event::{Event, Record};
use crate::journal::postgres::JournalDb;
use crate::journal::postgres::presence::Role;
use crate::remote::{Fed, Records, Requests, Settled, Trouble};
use crate::replay::{Feed, controls, feed};
use crate::runbook::model::AttachRight;
use crate::seat::Origin;
use crate::session::attached::Request;
use crate::session::{Command, Next, SessionState, Update, rules};
use crate::team::remote::{PgRecords, PgRequests};
use crate::ui::keys::{self, Action, Context};
use crate::ui::screen::{self, Common, Leaving, Screen, Source};
use crate::ui::{App, AppSetup, Effect, LogQuery, Msg, Theme, view_in};

/// The clock of the checklist (elapsed times, the spinner).
const TICK: Duration = Duration::from_millis(100);
/// How long leaving waits for requests still being sent and settled.
const LEAVING_WAIT: Duration = Duration::from_secs(2);

/// `runsheet watch`'s arguments.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The session id (or a unique prefix of one): in the team journal, or without one in this machine's state directory.
    pub session: String,
    /// The team journal database (`postgres://…`).
    #[arg(long, env = "RUNSHEET_JOURNAL_URL", value_name = "URL")]
    pub journal: Option<String>,
}

/// `runsheet attach`'s arguments.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The session id (or a unique prefix of one): in the team journal, or without one in this machine's state directory.
    pub session: String,
    /// Your name: what your sign-offs, notes and requests are recorded as.
    #[arg(long, value_name = "NAME")]
    pub operator: String,
    /// The team journal database (`postgres://…`).
    #[arg(long, env = "RUNSHEET_JOURNAL_URL", value_name = "URL")]
    pub journal: Option<String>,
}

/// Follow the session until it ends (headless) or the watcher leaves.
pub fn main(args: WatchArgs) -> Result<u8, CliError> {
    open("watch", &args.session, args.journal, None)
}

/// The checklist with the keys of an attached terminal, until it leaves.
pub fn attach(args: AttachArgs) -> Result<u8, CliError> {
    let operator = args.operator.trim().to_string();
    if operator.is_empty() {
        return Err(CliError::usage(
            "attach records what you do under your name: give it with --operator NAME",
        ));
    }
    open("attach", &args.session, args.journal, Some(operator))
}

/// Open `session` from the journal database: watching, or attached as `operator`.
fn open(
    verb: &'static str,
    session: &str,
    journal: Option<String>,
    operator: Option<String>,
) -> Result<u8, CliError> {
    let url = journal.filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        CliError::usage(format!(
            "{verb} reads a team journal: give it with --journal URL or RUNSHEET_JOURNAL_URL"
        ))
    })?;
    let terminal = io::stdout().is_terminal() && io::stdin().is_terminal();
    if operator.is_some() && !terminal {
        return Err(CliError::usage(
            "attach opens the checklist and needs a terminal; `runsheet watch` prints the session's lines without one",
        ));
    }
    let db = JournalDb::from_url(&url).map_err(crate::team::cli_error)?;
    crate::team::runtime()?
        .block_on(async {
            let session = crate::team::resolve_session(&db, session).await?;
            let (origin, role) = match &operator {
                Some(name) => (Origin::here(name), Role::Attached),
                None => {
                    let me = crate::seat::os_user().unwrap_or_else(|| "someone".into());
                    (Origin::here(&me), Role::Watching)
                }
            };
            let records = PgRecords::open(&db, &session, origin.clone(), role)
                .await
                .map_err(crate::team::cli_error)?;
            let requests = operator
                .is_some()
                .then(|| PgRequests::new(&db, &session, origin.clone()));
            if terminal {
                on_terminal(records, requests, &session, origin).await
            } else {
                Ok(watch_lines(records, &mut io::stdout().lock()).await)
            }
        })
        .map_err(|e| e.during(verb))
}

/// What the transport yields next; a lost connection is said and retried
/// (the transport goes on from where it stood), a final trouble ends it.
async fn next_fed<R: Records>(records: &mut R, lost: &mut (dyn FnMut(&str) + Send)) -> Result<Fed, String> {
    loop {
        match records.next().await {
            Ok(fed) => return Ok(fed),
            Err(Trouble::Final(why)) => return Err(why),
            Err(Trouble::Lost(why)) => lost(&why),
        }
    }
}

/// Headless: print every event line until the session ends; the exit code.
async fn watch_lines<R: Records>(mut records: R, out: &mut dyn Write) -> u8 {
    let mut lost = |why: &str| eprintln!("runsheet watch: {why}; reconnecting");
    loop {
        match next_fed(&mut records, &mut lost).await {
            Ok(Fed::Record { record, .. }) => {
                let _ = format_record(&record, out);
                let _ = out.flush();
                if matches!(record.event, Event::SessionEnded { .. }) {
                    return exit::OK;
                }
            }
            Ok(Fed::Presence(_)) => {}
            Err(why) => {
                eprintln!("runsheet watch: {why}");
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
    Fed(Fed),
    /// The transport lost its connection (it reconnects by itself), or stopped.
    Trouble(String),
    /// A request went to the driver.
    Sent,
    /// How the driver settled it (or why it could not be sent).
    Settled(Result<Settled, String>),
}

impl From<Common> for WatchMsg {
    fn from(c: Common) -> WatchMsg {
        WatchMsg::Common(c)
    }
}

/// What the bottom line says besides the mode.
struct Note {
    text: String,
    alert: bool,
    /// When it was said: an alert stays at least [`ALERT_HOLD`], so a
    /// record arriving just after the key does not take it away unread.
    said: std::time::Instant,
}

/// How long an alert note stays before the next record may clear it.
const ALERT_HOLD: Duration = Duration::from_secs(3);

/// The attached terminal's part: who it is, and the step waiting for its sign-off.
struct Attached {
    origin: Origin,
    /// The step that waits for a sign-off this terminal could give.
    awaited: Option<String>,
    /// It holds the driver's seat (the records say it took it): every key
    /// of the checklist is its to press.
    driving: bool,
    /// It asked for the seat of a driver whose terminal is gone, and the
    /// records have not changed hands since.
    asked_seat: bool,
}

impl Attached {
    /// After `record`: whether this terminal now holds the driver's seat,
    /// and the seat asked for again once it changed hands.
    fn saw(&mut self, record: &Record) {
        match &record.event {
            Event::DriverAttached { who, seat } => {
                self.driving = *who == self.origin.operator && *seat == self.origin.seat;
                self.asked_seat = false;
            }
            Event::DriverDetached { .. } | Event::Resumed { .. } => {
                self.driving = false;
                self.asked_seat = false;
            }
            _ => {}
        }
    }

    /// The request for the seat of a driver whose terminal is gone, when
    /// it is free and not asked for yet.
    fn take_seat(&mut self, state: &SessionState) -> Option<Effect> {
        if !state.driver_away || self.driving || self.asked_seat || state.outcome.is_some() {
            return None;
        }
        self.asked_seat = true;
        // Who and where are the row's origin: the driver fills them in.
        Some(Effect::Send(Command::TakeDriverSeat {
            who: self.origin.operator.clone(),
            seat: self.origin.seat.clone(),
        }))
    }
}

/// The live checklist, with a WATCHING (or ATTACHED) line below it.
struct Watch {
    app: App,
    session: String,
    /// `None`: read-only.
    attached: Option<Attached>,
    /// Shown on the bottom line: a lost connection, a refused key, a settlement.
    note: Option<Note>,
    leaving: bool,
    dirty: bool,
}

/// The checklist's size in a terminal of `size`: one row is the WATCHING line.
fn app_size((w, h): (u16, u16)) -> (u16, u16) {
    (w, h.saturating_sub(1))
}

/// The step that waits for a sign-off `origin` could give now: the rules,
/// asked with its name and seat, would accept it.
fn awaited(state: &SessionState, origin: &Origin) -> Option<String> {
    let Next::SignOff { step, .. } = state.next() else {
        return None;
    };
    let request = Request::SignOff {
        step: step.id.clone(),
        role: String::new(),
        note: String::new(),
    };
    let mut sign = request.command(&origin.operator, &origin.seat);
    if let Command::SignOff { signature, .. } = &mut sign {
        signature.seat = Some(origin.seat.clone());
    }
    rules::decide(state, &sign, Utc::now())
        .ok()
        .map(|_| step.id.clone())
}

/// Whether a key asks for what an attached terminal may send.
fn requests(ev: &KeyEvent) -> bool {
    matches!(
        keys::action(&[Context::Global], ev),
        Some(Action::SignOff | Action::Note | Action::Pause | Action::Abort)
    )
}

impl Watch {
    fn say(&mut self, text: impl Into<String>, alert: bool) {
        self.note = Some(Note {
            text: text.into(),
            alert,
            said: std::time::Instant::now(),
        });
        self.dirty = true;
    }

    fn key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        let ctrl_c = ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL);
        if matches!(ev.code, KeyCode::Char('q') | KeyCode::Esc) && self.app.modal.is_none() || ctrl_c {
            self.leaving = true;
            return Vec::new();
        }
        let attached = self.attached.is_some();
        let driving = self.attached.as_ref().is_some_and(|a| a.driving);
        if self.app.modal.is_some() || controls::looks_around(&ev) || driving || attached && requests(&ev) {
            let effects = self.app.update(Msg::Key(ev));
            return self.passed(effects);
        }
        if controls::acts(&ev) {
            let why = if attached {
                "attached: s signs, m adds a note, p pauses and A aborts (where the runbook allows); the driver's terminal does the rest"
            } else {
                "read-only: watching; `runsheet attach` signs and adds notes, the driver's terminal does the rest"
            };
            self.say(why, true);
        }
        Vec::new()
    }

    /// The checklist's effects that this terminal carries out: reading
    /// the log back, and (attached) its requests to the driver.
    fn passed(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        let mut out = Vec::new();
        for effect in effects {
            match effect {
                Effect::ReadLog(_) => out.push(effect),
                // The driver's rules decide what this terminal may ask, with its origin.
                Effect::Send(_) if self.attached.is_some() => out.push(effect),
                Effect::Send(_) | Effect::Quit => {}
            }
        }
        out
    }

    /// After a record: ring the bell once when a step starts waiting for
    /// this terminal's sign-off.
    fn check_awaited(&mut self) {
        let Some(attached) = self.attached.as_mut() else {
            return;
        };
        let now = awaited(&self.app.session, &attached.origin);
        if now.is_some() && now != attached.awaited {
            let mut out = io::stdout();
            let _ = out.write_all(b"\x07");
            let _ = out.flush();
        }
        if now != attached.awaited {
            attached.awaited = now;
            self.dirty = true;
        }
    }
}

/// The checklist's own effects a read-only view keeps: reading the log back.
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
            WatchMsg::Common(Common::Paste(text)) => {
                let effects = self.app.update(Msg::Paste(text));
                self.passed(effects)
            }
            WatchMsg::Common(Common::Tick { now, .. }) => looking(self.app.update(Msg::Tick(now))),
            WatchMsg::Common(Common::LogRead(chunk)) => looking(self.app.update(Msg::LogRead(chunk))),
            WatchMsg::Fed(Fed::Record { record, .. }) => {
                if self
                    .note
                    .as_ref()
                    .is_some_and(|n| n.alert && n.said.elapsed() >= ALERT_HOLD)
                {
                    self.note = None;
                    self.dirty = true;
                }
                if let Some(attached) = self.attached.as_mut() {
                    attached.saw(&record);
                }
                let mut effects = looking(feed(&mut self.app, *record, Feed::Live));
                self.check_awaited();
                if let Some(attached) = self.attached.as_mut() {
                    effects.extend(attached.take_seat(&self.app.session));
                    self.dirty = true;
                }
                effects
            }
            WatchMsg::Fed(Fed::Presence(present)) => {
                looking(self.app.update(Msg::Engine(Update::Presence(present))))
            }
            WatchMsg::Trouble(why) => {
                self.say(why, true);
                Vec::new()
            }
            WatchMsg::Sent => {
                self.say("sent to the driver; waiting for it to take it", false);
                Vec::new()
            }
            WatchMsg::Settled(Ok(Settled::Consumed)) => {
                self.say("the driver took it", false);
                Vec::new()
            }
            WatchMsg::Settled(Ok(Settled::Refused(why))) => {
                self.say(format!("refused: {why}"), true);
                Vec::new()
            }
            WatchMsg::Settled(Err(why)) => {
                self.say(why, true);
                Vec::new()
            }
        }
    }

    fn draw(&self, frame: &mut Frame) {
        let area = frame.area();
        let (w, h) = app_size((area.width, area.height));
        view_in(&self.app, frame, Rect::new(area.x, area.y, w, h));
        if area.height > h {
            frame.render_widget(
                Paragraph::new(self.bottom_line()),
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

impl Watch {
    /// The line below the checklist: the mode, then what this terminal must
    /// not miss (a sign-off it is awaited for, highlighted), then the note.
    fn bottom_line(&self) -> Line<'static> {
        let theme = self.app.theme;
        let (badge, keys) = match &self.attached {
            None => (" WATCHING ", format!(" {} · read-only · q leaves", self.session)),
            Some(a) if a.driving => (
                " DRIVING ",
                format!(
                    " {} as {} · the driver's seat: every key of the checklist · q leaves it (the driver goes on)",
                    self.session, a.origin.operator
                ),
            ),
            Some(a) => {
                // Only the keys the runbook lets an attached terminal use.
                let allows = &self.app.session.plan.attach;
                let extra: String = [
                    (AttachRight::Pause, " · p pause"),
                    (AttachRight::Abort, " · A abort"),
                ]
                .into_iter()
                .filter(|(right, _)| allows.contains(right))
                .map(|(_, key)| key)
                .collect();
                (
                    " ATTACHED ",
                    format!(
                        " {} as {} · s sign · m note{extra} · q leaves",
                        self.session, a.origin.operator
                    ),
                )
            }
        };
        let mut spans = Vec::new();
        if let Some(step) = self.attached.as_ref().and_then(|a| a.awaited.as_ref()) {
            spans.push(Span::styled(
                format!(" {step} WAITS FOR YOUR SIGN-OFF: press s "),
                theme.alert(),
            ));
        }
        spans.push(Span::styled(badge, theme.badge()));
        // What was just said comes before the keys, which a narrow terminal cuts off first.
        if let Some(note) = &self.note {
            let style = if note.alert { theme.alert() } else { theme.info() };
            spans.push(Span::styled(format!(" {} ·", note.text), style));
        }
        spans.push(Span::styled(keys, theme.dim()));
        Line::from(spans)
    }
}

/// The transport, as the watch screen's source: what the follow task
/// passes on, and the requests the screen sends.
struct Followed<Q> {
    messages: mpsc::UnboundedReceiver<WatchMsg>,
    tx: mpsc::UnboundedSender<WatchMsg>,
    requests: Option<Q>,
    /// Requests being sent (and settled), each in a task of its own.
    in_flight: tokio::task::JoinSet<()>,
}

impl<Q: Requests> Source<Watch> for Followed<Q> {
    async fn next(&mut self) -> Option<WatchMsg> {
        self.messages.recv().await
    }

    fn ready(&mut self) -> Option<WatchMsg> {
        self.messages.try_recv().ok()
    }

    fn perform(&mut self, effect: Effect) -> Option<WatchMsg> {
        let Effect::Send(command) = effect else {
            return None;
        };
        let (requests, request) = (self.requests.clone()?, Request::of(&command));
        let tx = self.tx.clone();
        self.in_flight.spawn(async move {
            let _ = tx.send(WatchMsg::Settled(requests.send(request).await));
        });
        Some(WatchMsg::Sent)
    }
}

/// Follow into the copy and the screen's channel, in order, until the screen is gone.
async fn follow<R: Records>(mut records: R, mut copy: Copy, tx: mpsc::UnboundedSender<WatchMsg>) {
    let mut lost = |why: &str| {
        let _ = tx.send(WatchMsg::Trouble(format!("{why}; reconnecting")));
    };
    loop {
        let message = match next_fed(&mut records, &mut lost).await {
            Ok(Fed::Record { line, record }) => match copy.push(&line) {
                Ok(()) => WatchMsg::Fed(Fed::Record { line, record }),
                Err(e) => WatchMsg::Trouble(format!("cannot keep the log's copy: {e}")),
            },
            Ok(presence) => WatchMsg::Fed(presence),
            Err(why) => WatchMsg::Trouble(why),
        };
        let stop = matches!(message, WatchMsg::Trouble(_));
        if tx.send(message).is_err() || stop {
            return;
        }
    }
}

/// The session's header: the first record (who is connected may come before it).
async fn header<R: Records>(records: &mut R) -> Result<(String, Box<Record>, Vec<Fed>), String> {
    let mut early = Vec::new();
    loop {
        match records.next().await {
            Ok(Fed::Record { line, record }) => return Ok((line, record, early)),
            Ok(presence) => early.push(presence),
            Err(Trouble::Final(why) | Trouble::Lost(why)) => return Err(why),
        }
    }
}

/// The checklist on this terminal until the watcher (or attached signer) leaves.
async fn on_terminal<R: Records, Q: Requests>(
    mut records: R,
    requests: Option<Q>,
    session: &str,
    origin: Origin,
) -> Result<u8, CliError> {
    let journal_error = |e: String| CliError::new(exit::JOURNAL, e);
    let (line, header, early) = header(&mut records).await.map_err(journal_error)?;
    let mut copy = Copy::create(session)
        .map_err(|e| journal_error(format!("cannot keep a copy of the session's lines: {e}")))?;
    copy.push(&line)
        .map_err(|e| journal_error(format!("cannot keep a copy of the session's lines: {e}")))?;
    let state = SessionState::from_records(std::slice::from_ref(&*header))
        .map_err(|e| journal_error(format!("session {session}: {e}")))?;
    let path = copy.path.clone();
    let signals = crate::signals::Signals::listen();
    let (guard, mut terminal) =
        screen::open_terminal().map_err(|e| CliError::usage(format!("cannot use the terminal ({e})")))?;
    let size = terminal.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    let attached = requests.is_some().then(|| Attached {
        origin: origin.clone(),
        awaited: None,
        driving: false,
        asked_seat: false,
    });
    let operator = match &attached {
        Some(_) => origin.operator.clone(),
        None => state.current_operator().to_string(),
    };
    let setup = AppSetup {
        operator,
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
        attached,
        note: None,
        leaving: false,
        dirty: true,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    for fed in early {
        let _ = tx.send(WatchMsg::Fed(fed));
    }
    let task = tokio::spawn(follow(records, copy, tx.clone()));
    let mut source = Followed {
        messages: rx,
        tx,
        requests,
        in_flight: tokio::task::JoinSet::new(),
    };
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
    // Leaving gives the driver's seat back: the driver goes on without a screen.
    if watch.attached.as_ref().is_some_and(|a| a.driving) && watch.app.session.outcome.is_none() {
        let gone = Command::DriverGone {
            who: origin.operator.clone(),
            reason: "the attached terminal left".into(),
            seat: Some(origin.seat.clone()),
        };
        source.perform(Effect::Send(gone));
    }
    // A key pressed just before leaving still reaches the driver.
    let sending = async { while source.in_flight.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(LEAVING_WAIT, sending).await;
    drop(guard);
    result.map(|()| exit::OK).map_err(CliError::usage)
}
