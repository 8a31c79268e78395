//! The session engine: the thin driver around the pure core.
//!
//! Every command goes through [`rules::decide`]; everything the engine does
//! by itself comes from [`machine::step`] as effects, which this driver
//! performs: journal an event (appended, fsynced when it changes state,
//! folded, then sent to the front ends, in that order, so nothing a front end
//! shows can be lost by a crash), spawn a step's process, stop it, set a
//! timer. Results (output, exit, timers) go back into the core as inputs.
//!
//! Front ends talk to it through two streams only: [`Command`]s in (each
//! in an [`Envelope`] with its origin, see [`super::inbox`]) and
//! [`Update`]s (journal records, refusals) out. The updates channel is
//! bounded and the engine stops reading a step's output while its front end
//! lags: a slow front end (a slow stdout) slows the step's processes down
//! through their pipes instead of piling their output up in memory.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::inbox::{Envelope, Verdict};
use super::shell::{ShellRequest, run_shell_to};
use super::shell_state::{self, Capture, Withheld};
use super::sql::{SqlRequest, SqlSession, run_sql_in};
use super::{Halt, OutputChunk, Stopper};
use crate::connect;
use crate::gates::check_session_gate;
use crate::journal::event::{Event, Mode, Observed, Outcome, Record, Signature, Stream};
use crate::journal::postgres::JournalDb;
use crate::journal::{JournalError, JournalSink};
use crate::notify::{NOTIFY_FAILED, Notifier};
use crate::runbook::model::{DatabaseSource, Gate, Notify, Step, StepKind};
use crate::runbook::plan::DATABASE_URL_VARIABLE;
use crate::seat::Origin;
use crate::secrets::Redactor;
use crate::session::machine::{self, Effect, Input, StepResult, Stop, Timer};
use crate::session::{Command, Next, SessionState, Update, rules};

/// Output is written to the journal in batches at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A batch is flushed early once it holds this many lines.
const BATCH_LINES: usize = 2_000;
/// Chunks of output (one read of a pipe each, up to 64 KiB; a line of SQL
/// output) a runner may have waiting for the engine.
const OUTPUT_CHUNKS: usize = 8;
/// Chunks taken at a time, so that what is held besides the journal stays small.
const CHUNKS_AT_ONCE: usize = 2;
/// Updates (records of up to [`BATCH_LINES`] output lines) a front end may
/// have waiting in its channel.
pub const UPDATES_QUEUED: usize = 64;
/// Updates the engine holds back for a lagging front end before it stops
/// reading the running step's output.
const OUTBOX_LIMIT: usize = 4;

/// What the engine needs besides the journal and the state.
#[derive(Debug, Clone)]
pub struct EngineSetup {
    /// Shell steps run here (the runbook's folder).
    pub workdir: PathBuf,
    pub database: DatabaseSource,
    /// Runbook variables, resolved; handed to shell steps.
    pub variables: Vec<(String, String)>,
    pub redactor: Redactor,
    /// Run the session at once (a `run` by its operator), without waiting for [`Command::Run`].
    pub autostart: bool,
    /// Steps to skip, with the reason, when they come up (`--skip`, given in
    /// advance): skipped by their operator before they would start.
    pub skips: BTreeMap<String, String>,
    /// Where saved sessions live: the evidence promotion gates look for.
    pub state_dir: PathBuf,
    /// The team journal database, whose sessions are evidence too.
    pub team: Option<JournalDb>,
    /// The clusters the runbook pins environments to (name → system
    /// identifier): a gate's evidence must come from the pinned one.
    pub pins: BTreeMap<String, String>,
    /// Where the session's notifications go (the front matter's `notify`, `notify_url`).
    pub notify: Notify,
}

/// The engine could not go on; the session stays resumable.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("a step runner crashed: {0}")]
    Runner(String),
}

/// The process of the attempt being run now.
struct Process {
    step: String,
    attempt: u32,
    started: Instant,
    stopper: Stopper,
    output: mpsc::Receiver<OutputChunk>,
    /// The runner dropped its sender: stop polling the channel.
    output_closed: bool,
    task: JoinHandle<StepResult>,
    /// What the core asked of it, reported back with its exit.
    stops: Vec<Stop>,
    /// Its process group is journaled.
    group_journaled: bool,
}

/// Output lines waiting to be written, grouped by stream in arrival order.
#[derive(Default)]
struct Batch {
    groups: Vec<(Stream, Vec<String>)>,
    lines: usize,
}

impl Batch {
    fn push(&mut self, chunk: OutputChunk) {
        self.lines += chunk.lines.len();
        match self.groups.last_mut() {
            Some((s, lines)) if *s == chunk.stream => lines.extend(chunk.lines),
            _ => self.groups.push((chunk.stream, chunk.lines)),
        }
    }
}

/// Runs one session.
pub struct Engine {
    journal: Box<dyn JournalSink>,
    state: SessionState,
    setup: EngineSetup,
    updates: mpsc::Sender<Update>,
    /// Updates not yet taken by the front end's channel, in order.
    outbox: VecDeque<Update>,
    process: Option<Process>,
    batch: Batch,
    timers: HashMap<Timer, DateTime<Utc>>,
    db_config: Option<Result<tokio_postgres::Config, String>>,
    /// Carried secrets kept out of the journal: known to this process only.
    withheld: Withheld,
    /// The database connection SQL steps share.
    sql: SqlSession,
    /// The core said nothing more happens.
    exit: bool,
    /// The journal database was behind when last looked at (told to the front ends on each change).
    degraded: bool,
    /// Sends the notifications, once the session runs.
    notifier: Option<Notifier>,
    /// Whose command is being carried out: the events it causes record it.
    cause: Option<Box<Origin>>,
    /// Every record also goes here as it is journaled (the control
    /// socket's clients); dropped with the engine, which ends their feed.
    feed: Option<broadcast::Sender<Arc<Record>>>,
}

enum Wake {
    Command(Option<Envelope>),
    /// How many lines arrived in the engine's buffer (none: the runner is done sending).
    Output(usize),
    Done(Result<StepResult, tokio::task::JoinError>),
    /// The running step's process group is known.
    Group(i32),
    Timer,
    Tick,
    /// Room in the front end's channel (an error: nobody listens any more).
    Room(Result<mpsc::OwnedPermit<Update>, mpsc::error::SendError<()>>),
}

impl Engine {
    /// An engine over a journal whose records so far are folded into `state`.
    pub fn new(
        journal: Box<dyn JournalSink>,
        state: SessionState,
        setup: EngineSetup,
        updates: mpsc::Sender<Update>,
    ) -> Engine {
        Engine {
            journal,
            state,
            setup,
            updates,
            outbox: VecDeque::new(),
            process: None,
            batch: Batch::default(),
            timers: HashMap::new(),
            db_config: None,
            withheld: Withheld::default(),
            sql: SqlSession::default(),
            exit: false,
            degraded: false,
            notifier: None,
            cause: None,
            feed: None,
        }
    }

    /// Send every record journaled from now on to `feed` as well.
    pub fn feed_records_to(&mut self, feed: broadcast::Sender<Arc<Record>>) {
        self.feed = Some(feed);
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// Append an event (its free text redacted), fold it, and tell the front ends.
    fn emit(&mut self, mut event: Event) -> Result<(), EngineError> {
        if let Event::ShellState { state, .. } = &mut event {
            self.withheld.take(state, &mut self.setup.redactor);
        }
        let event = redacted(&self.setup.redactor, event);
        let cause = self.cause.clone();
        let record = if self.group_committed(&event) {
            self.journal.append_deferred(event, cause)?
        } else {
            self.journal.append_from(event, cause)?
        };
        let ended = matches!(record.event, Event::SessionEnded { .. }).then_some(record.seq);
        self.state.apply(&record);
        if let Some(notifier) = &mut self.notifier {
            notifier.observe(&self.state, &record, &self.setup.redactor);
        }
        // Copied only while a client listens.
        if let Some(feed) = self.feed.as_ref().filter(|f| f.receiver_count() > 0) {
            let _ = feed.send(Arc::new(record.clone()));
        }
        self.tell(Update::Record(record));
        if let Some(seq) = ended {
            let hash = self.journal.last_hash().to_string();
            self.emit(Event::Seal {
                sealed_seq: seq,
                sealed_hash: hash,
            })?;
        }
        Ok(())
    }

    /// Journal what went wrong notifying since the last look: never fatal,
    /// never waited for (a session already sealed is left alone).
    fn notify_failures(&mut self) -> Result<(), EngineError> {
        let Some(notifier) = self.notifier.as_mut().filter(|_| self.state.outcome.is_none()) else {
            return Ok(());
        };
        for message in notifier.failures() {
            self.emit(Event::Warning {
                code: NOTIFY_FAILED.to_string(),
                message,
            })?;
        }
        Ok(())
    }

    /// Whether `event` may share its sync with the next durable one: it is
    /// about running a step that reruns harmlessly (its start, process,
    /// shell state, checks, end). Nothing outside acts on it before that
    /// sync but the screen: a state-changing step's start, a sign-off, a
    /// hold and the session's end are synced on their own, with it.
    fn group_committed(&self, event: &Event) -> bool {
        let about_running = matches!(
            event,
            Event::StepStarted { .. }
                | Event::StepProcess { .. }
                | Event::ShellState { .. }
                | Event::Verification { .. }
                | Event::StepFinished { .. }
        );
        about_running
            && event
                .step()
                .and_then(|id| self.state.plan.step(id))
                .is_some_and(Step::reruns_harmlessly)
    }

    /// Hand an update to the front end, or keep it (in order) until there is room.
    fn tell(&mut self, update: Update) {
        self.outbox.push_back(update);
        self.hand_over();
    }

    /// Move kept updates into the front end's channel while it has room.
    fn hand_over(&mut self) {
        while let Some(update) = self.outbox.pop_front() {
            match self.updates.try_send(update) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(update)) => {
                    self.outbox.push_front(update);
                    return;
                }
                // Nobody listens any more: nothing to keep.
                Err(mpsc::error::TrySendError::Closed(_)) => self.outbox.clear(),
            }
        }
    }

    /// Do what the core asks, in order.
    fn perform(&mut self, effects: Vec<Effect>) -> Result<(), EngineError> {
        for effect in effects {
            match effect {
                Effect::Journal(event) => self.emit(event)?,
                Effect::Spawn { step, attempt } => self.spawn(step, attempt),
                Effect::Stop { step, attempt, why } => {
                    if let Some(p) = self
                        .process
                        .as_mut()
                        .filter(|p| p.step == step && p.attempt == attempt)
                    {
                        p.stopper.stop(match &why {
                            Stop::TimedOut { after } => Halt::TimedOut(*after),
                            Stop::Cancel | Stop::Detach { .. } | Stop::Abort { .. } => Halt::Cancelled,
                        });
                        p.stops.push(why);
                    }
                }
                Effect::Timer { at, timer } => {
                    self.timers.insert(timer, at);
                }
                Effect::Exit => self.exit = true,
            }
        }
        Ok(())
    }

    /// A command from a front end: decided by the rules, journaled (every
    /// event it causes with its origin), acted on; the verdict to `reply`
    /// if the sender waits for it, a refusal to the front ends otherwise.
    fn command(&mut self, envelope: Envelope) -> Result<(), EngineError> {
        let Envelope {
            mut command,
            origin,
            reply,
        } = envelope;
        // A signature carries the seat it was given from (the origin's, not
        // whatever a front end put there) before the rules, which count
        // seats, look at it.
        if let Some(signature) = command.signature_mut() {
            signature.seat = Some(origin.seat.clone());
        }
        let decide = if self.journal_degraded() {
            rules::decide_degraded
        } else {
            rules::decide
        };
        let verdict: Verdict = match decide(&self.state, &command, Utc::now()) {
            Ok(events) => {
                self.cause = Some(Box::new(origin));
                let done = self.carry_out(&command, events);
                self.cause = None;
                done?;
                Ok(())
            }
            Err(refusal) => Err(refusal),
        };
        match (reply, verdict) {
            (Some(reply), verdict) => {
                let _ = reply.send(verdict);
            }
            (None, Err(refusal)) => self.tell(Update::Refused(refusal)),
            (None, Ok(())) => {}
        }
        Ok(())
    }

    /// Journal a decided command's events and do what the core makes of it.
    fn carry_out(&mut self, command: &Command, events: Vec<Event>) -> Result<(), EngineError> {
        for event in events {
            self.emit(event)?;
        }
        let input = Input::Decided {
            command,
            now: Utc::now(),
        };
        let fx = machine::step(&self.state, input);
        self.perform(fx)
    }

    /// A command of this process's own operator (autostart, a skip given
    /// in advance, the detach when every front end is gone).
    fn own_command(&mut self, command: Command) -> Result<(), EngineError> {
        let origin = Origin::here(self.state.current_operator());
        self.command(Envelope {
            command,
            origin,
            reply: None,
        })
    }

    /// Drive the session until it ends or the operator detaches. Returns the final state.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Envelope>) -> Result<SessionState, EngineError> {
        let workdir = self.setup.workdir.clone();
        self.notifier = Notifier::start(&self.setup.notify, workdir, &self.state, &self.setup.redactor);
        let fx = machine::step(&self.state, Input::Opened { now: Utc::now() });
        self.perform(fx)?;
        if self.setup.autostart {
            let who = self.state.current_operator().to_string();
            self.own_command(Command::Run { who })?;
        }
        let mut commands_open = true;
        // Output lines are taken from the runner as many at a time as are there.
        let mut received = Vec::with_capacity(CHUNKS_AT_ONCE);
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Whatever may happen by itself happens, until the core has nothing more.
            while self.process.is_none() && !self.exit {
                if self.skip_given()? {
                    continue;
                }
                let now = Utc::now();
                let input = if self.journal_degraded() {
                    Input::Degraded { now }
                } else {
                    Input::Idle { now }
                };
                let fx = machine::step(&self.state, input);
                if fx.is_empty() {
                    break;
                }
                self.perform(fx)?;
            }
            if self.exit && self.process.is_none() {
                break;
            }
            let timer = self.next_timer();
            let waiting = !self.outbox.is_empty();
            // While the front end lags, the step's output waits in its pipes.
            let read_output = self.outbox.len() < OUTBOX_LIMIT;
            let room = room(waiting.then(|| self.updates.clone()));
            let wake = match self.process.as_mut() {
                Some(p) => tokio::select! {
                    biased;
                    cmd = commands.recv(), if commands_open => Wake::Command(cmd),
                    pgid = p.stopper.process_group(), if !p.group_journaled => Wake::Group(pgid),
                    permit = room, if waiting => Wake::Room(permit),
                    n = p.output.recv_many(&mut received, CHUNKS_AT_ONCE), if !p.output_closed && read_output => Wake::Output(n),
                    done = &mut p.task => Wake::Done(done),
                    _ = tick.tick() => Wake::Tick,
                    () = sleep_until(timer), if timer.is_some() => Wake::Timer,
                },
                None => tokio::select! {
                    cmd = commands.recv(), if commands_open => Wake::Command(cmd),
                    permit = room, if waiting => Wake::Room(permit),
                    _ = tick.tick() => Wake::Tick,
                    () = sleep_until(timer), if timer.is_some() => Wake::Timer,
                },
            };
            match wake {
                Wake::Command(Some(cmd)) => self.command(cmd)?,
                // Every front end is gone: keep the session resumable.
                Wake::Command(None) => {
                    commands_open = false;
                    let who = self.state.header.operator.clone();
                    self.own_command(Command::Detach { who })?;
                }
                Wake::Output(0) => {
                    if let Some(p) = self.process.as_mut() {
                        p.output_closed = true;
                    }
                }
                Wake::Output(_) => {
                    for chunk in received.drain(..) {
                        self.batch.push(chunk);
                    }
                    if self.batch.lines >= BATCH_LINES {
                        self.flush_output()?;
                    }
                }
                Wake::Tick => {
                    self.notify_failures()?;
                    self.flush_output()?;
                    self.journal.flush()?;
                    self.journal_degraded();
                }
                Wake::Timer => self.timers_due()?,
                Wake::Group(pgid) => self.group_started(pgid)?,
                Wake::Done(result) => self.finish(result)?,
                Wake::Room(Ok(permit)) => {
                    if let Some(update) = self.outbox.pop_front() {
                        permit.send(update);
                    }
                    self.hand_over();
                }
                Wake::Room(Err(_)) => self.outbox.clear(),
            }
        }
        self.flush_output()?;
        self.journal.flush()?;
        for update in std::mem::take(&mut self.outbox) {
            if self.updates.send(update).await.is_err() {
                break;
            }
        }
        Ok(self.state)
    }

    /// Whether the journal database is behind now; the front ends are told
    /// whenever that changes, so they can say it loudly.
    fn journal_degraded(&mut self) -> bool {
        let Some(status) = self.journal.replica() else {
            return false;
        };
        let degraded = status.is_degraded();
        if degraded != self.degraded {
            self.degraded = degraded;
            self.tell(Update::Replica(status));
        }
        degraded
    }

    /// Skip the step about to start if a skip was given for it in advance
    /// (as a command, so the rules decide); whether one was.
    fn skip_given(&mut self) -> Result<bool, EngineError> {
        let Next::Start(step) = self.state.next() else {
            return Ok(false);
        };
        // A gate cannot be skipped: it runs, and the refusal comes if it fails.
        if matches!(step.kind, StepKind::Gate { .. }) {
            return Ok(false);
        }
        let Some(reason) = self.setup.skips.remove(&step.id) else {
            return Ok(false);
        };
        let skip = Command::Skip {
            step: step.id.clone(),
            who: self.state.current_operator().to_string(),
            reason,
        };
        self.own_command(skip)?;
        Ok(true)
    }

    /// When the earliest timer goes off.
    fn next_timer(&self) -> Option<DateTime<Utc>> {
        self.timers.values().min().copied()
    }

    /// Feed every timer that is due back into the core.
    fn timers_due(&mut self) -> Result<(), EngineError> {
        let now = Utc::now();
        let due: Vec<Timer> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for timer in due {
            self.timers.remove(&timer);
            let fx = machine::step(&self.state, Input::Timer { timer, now });
            self.perform(fx)?;
        }
        Ok(())
    }

    /// The database configuration, resolved once (with its password remembered as a secret).
    fn database(&mut self) -> Result<tokio_postgres::Config, String> {
        if self.db_config.is_none() {
            let resolved = connect::resolve(&self.setup.database).map_err(|e| e.to_string());
            if let Ok(cfg) = &resolved
                && let Some(pw) = cfg.get_password()
            {
                self.setup.redactor.add(&String::from_utf8_lossy(pw));
            }
            self.db_config = Some(resolved);
        }
        self.db_config
            .clone()
            .unwrap_or_else(|| Err("no database".into()))
    }

    /// Start the process of an attempt whose start is journaled.
    fn spawn(&mut self, step: Step, attempt: u32) {
        let (tx, rx) = mpsc::channel(OUTPUT_CHUNKS);
        let stopper = Stopper::new();
        let dry_run = self.state.header.mode == Mode::DryRun;
        let task = match &step.kind {
            StepKind::Shell { script } => {
                let mut req = ShellRequest {
                    script: script.clone(),
                    cwd: self.setup.workdir.clone(),
                    env: self.step_env(&step),
                    state: None,
                };
                let capture = (!step.isolated).then(|| self.inherit(&mut req, &tx));
                let verify = step.verify;
                let token = stopper.clone();
                tokio::spawn(async move {
                    let notes = tx.clone();
                    let r = run_shell_to(req, token, tx).await;
                    let shell = match capture.flatten().map(|c| c.changes()) {
                        Some(Ok(changes)) => Some(changes),
                        Some(Err(why)) if r.outcome == Outcome::Succeeded => {
                            let text = format!("{why}: nothing carries from this step to the next ones");
                            let _ = notes
                                .send(OutputChunk {
                                    stream: Stream::Info,
                                    lines: vec![text],
                                })
                                .await;
                            None
                        }
                        _ => None,
                    };
                    let passed = verify.then_some(r.outcome == Outcome::Succeeded);
                    let observed = verify.then(|| Observed {
                        text: r.tail.join("\n"),
                        ..Observed::default()
                    });
                    StepResult {
                        outcome: r.outcome,
                        exit_code: r.exit_code,
                        error: r.error,
                        observed,
                        passed,
                        shell,
                    }
                })
            }
            StepKind::Sql { sql } => match self.database() {
                Ok(config) => {
                    let req = SqlRequest {
                        config,
                        sql: sql.clone(),
                        lock_timeout: step.lock_timeout.or(self.state.plan.lock_timeout),
                        dry_run,
                        verify: step.verify,
                        read_only: !step.changes_state(),
                    };
                    let token = stopper.clone();
                    let session = self.sql.clone();
                    tokio::spawn(async move {
                        let r = run_sql_in(&session, req, token, tx).await;
                        StepResult {
                            outcome: r.outcome,
                            exit_code: None,
                            error: r.error,
                            observed: r.observed,
                            passed: r.passed,
                            shell: None,
                        }
                    })
                }
                Err(why) => tokio::spawn(async move {
                    StepResult {
                        outcome: Outcome::Failed,
                        exit_code: None,
                        error: Some(format!("cannot connect: {why}")),
                        observed: None,
                        passed: None,
                        shell: None,
                    }
                }),
            },
            StepKind::Gate {
                gate:
                    Gate::Session {
                        environment,
                        rollback,
                    },
            } => {
                let (dir, team) = (self.setup.state_dir.clone(), self.setup.team.clone());
                let (env, rollback) = (environment.clone(), *rollback);
                let pin = self.setup.pins.get(&env).cloned();
                let (sha, me) = (
                    self.state.header.runbook_sha256.clone(),
                    self.state.header.session_id.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    let check =
                        check_session_gate(&dir, team.as_ref(), &env, pin.as_deref(), rollback, &sha, &me);
                    let _ = tx.blocking_send(OutputChunk {
                        stream: Stream::Info,
                        lines: vec![check.summary.clone()],
                    });
                    StepResult {
                        outcome: if check.passed {
                            Outcome::Succeeded
                        } else {
                            Outcome::Failed
                        },
                        exit_code: None,
                        error: (!check.passed).then_some(check.summary),
                        observed: Some(check.evidence),
                        passed: Some(check.passed),
                        shell: None,
                    }
                })
            }
            // The core decides these itself and never spawns them.
            StepKind::Manual | StepKind::Gate { .. } => return,
        };
        self.process = Some(Process {
            step: step.id,
            attempt,
            started: Instant::now(),
            stopper,
            output: rx,
            output_closed: false,
            task,
            stops: Vec::new(),
            group_journaled: false,
        });
    }

    /// Give a shell step the state earlier ones carried (working directory,
    /// variables, unsets) and the wrapper that reports what it leaves.
    /// None when no capture can be made: the step then runs unwrapped.
    fn inherit(&self, req: &mut ShellRequest, out: &mpsc::Sender<OutputChunk>) -> Option<Capture> {
        let carried = &self.state.shell.state;
        let note = |text: String| {
            let _ = out.try_send(OutputChunk {
                stream: Stream::Info,
                lines: vec![text],
            });
        };
        let inherited = self.withheld.inherited(carried);
        if let Some(cwd) = inherited.cwd {
            req.cwd = PathBuf::from(cwd);
        }
        req.env.extend(inherited.env);
        if !inherited.missing.is_empty() {
            note(format!(
                "{} carried from an earlier step but withheld from the journal as secret, so not restored after the resume: export it (or cd) again",
                inherited.missing.join(", ")
            ));
        }
        match Capture::new() {
            Ok(capture) => {
                req.script = shell_state::wrap(&req.script, &carried.unset);
                req.state = Some(capture.file());
                Some(capture)
            }
            Err(e) => {
                note(format!(
                    "cannot record the shell's state ({e}): nothing carries from this step to the next ones"
                ));
                None
            }
        }
    }

    /// Journal the running step's process group, durably, before more of its output.
    fn group_started(&mut self, pgid: i32) -> Result<(), EngineError> {
        let Some(p) = self.process.as_mut() else {
            return Ok(());
        };
        p.group_journaled = true;
        let (step, attempt) = (p.step.clone(), p.attempt);
        self.flush_output()?;
        self.emit(Event::StepProcess { step, attempt, pgid })
    }

    /// The environment a shell step sees besides the engine's own.
    fn step_env(&mut self, step: &Step) -> Vec<(String, String)> {
        let header = &self.state.header;
        let mut env = vec![
            ("RUNSHEET_ENV".to_string(), header.environment.clone()),
            (
                "RUNSHEET_DRY_RUN".to_string(),
                if header.mode == Mode::DryRun { "1" } else { "0" }.to_string(),
            ),
            ("RUNSHEET_SESSION".to_string(), header.session_id.clone()),
            ("RUNSHEET_STEP".to_string(), step.id.clone()),
        ];
        if let Some(url) = self.database_url() {
            env.push((DATABASE_URL_VARIABLE.to_string(), url));
        }
        // Which cluster the session runs against, so a backup can say whose it is.
        if let Some(id) = self
            .state
            .targets
            .first()
            .and_then(|t| t.system_identifier.clone())
        {
            env.push(("RUNSHEET_SYSTEM_IDENTIFIER".to_string(), id));
        }
        env.extend(self.setup.variables.iter().cloned());
        env
    }

    /// The environment's database as a connection string for shell steps
    /// (`pg_dump "$RUNSHEET_DATABASE_URL"`); none when it comes from `PG*`.
    fn database_url(&mut self) -> Option<String> {
        match &self.setup.database {
            DatabaseSource::Url(source) => {
                let url = source.resolve().ok()?;
                self.setup.redactor.add_connection_password(&url);
                Some(url)
            }
            DatabaseSource::PgEnv | DatabaseSource::None => None,
        }
    }

    /// Journal the output batched so far, one event per stream group.
    fn flush_output(&mut self) -> Result<(), EngineError> {
        let batch = std::mem::take(&mut self.batch);
        let Some(p) = self.process.as_ref() else {
            return Ok(());
        };
        let (step, attempt) = (p.step.clone(), p.attempt);
        for (stream, mut lines) in batch.groups {
            // Events of at most BATCH_LINES lines, as when lines came one by one.
            while !lines.is_empty() {
                let rest = lines.split_off(lines.len().min(BATCH_LINES));
                let input = Input::Output {
                    step: &step,
                    attempt,
                    stream,
                    lines,
                };
                let fx = machine::step(&self.state, input);
                self.perform(fx)?;
                lines = rest;
            }
        }
        Ok(())
    }

    /// The running attempt's process ended: its last output, then its exit, into the core.
    fn finish(&mut self, result: Result<StepResult, tokio::task::JoinError>) -> Result<(), EngineError> {
        let result = result.map_err(|e| EngineError::Runner(e.to_string()))?;
        // Lines still queued belong to this attempt and go before its end.
        if let Some(p) = self.process.as_mut() {
            while let Ok(chunk) = p.output.try_recv() {
                self.batch.push(chunk);
            }
        }
        self.flush_output()?;
        let Some(p) = self.process.take() else {
            return Ok(());
        };
        // Its timeout can no longer go off.
        self.timers
            .retain(|t, _| !matches!(t, Timer::StepTimeout { step, attempt, .. } if *step == p.step && *attempt == p.attempt));
        let input = Input::Exited {
            step: &p.step,
            attempt: p.attempt,
            result,
            elapsed: p.started.elapsed(),
            stops: &p.stops,
        };
        let fx = machine::step(&self.state, input);
        self.perform(fx)
    }
}

/// `event` with its free text (output, errors, notes, reasons) redacted:
/// the one place the engine passes every event through before the journal.
fn redacted(redactor: &Redactor, event: Event) -> Event {
    // Most text holds no secret: keep its string rather than copying it.
    let text = |s: String| {
        let changed = match redactor.redact(&s) {
            Cow::Owned(redacted) => Some(redacted),
            Cow::Borrowed(_) => None,
        };
        changed.unwrap_or(s)
    };
    match event {
        Event::Output {
            step,
            attempt,
            stream,
            lines,
        } => Event::Output {
            step,
            attempt,
            stream,
            lines: lines.into_iter().map(text).collect(),
        },
        Event::StepFinished {
            step,
            attempt,
            outcome,
            exit_code,
            duration_ms,
            error,
        } => Event::StepFinished {
            step,
            attempt,
            outcome,
            exit_code,
            duration_ms,
            error: error.map(text),
        },
        Event::Verification {
            step,
            attempt,
            name,
            passed,
            observed,
        } => Event::Verification {
            step,
            attempt,
            name: text(name),
            passed,
            observed: Observed {
                columns: observed.columns.into_iter().map(text).collect(),
                rows: observed
                    .rows
                    .into_iter()
                    .map(|row| row.into_iter().map(text).collect())
                    .collect(),
                text: text(observed.text),
            },
        },
        Event::Warning { code, message } => Event::Warning {
            code,
            message: text(message),
        },
        Event::Note { who, text: note } => Event::Note {
            who,
            text: text(note),
        },
        Event::SignedOff { step, signature } => Event::SignedOff {
            step,
            signature: Signature {
                note: text(signature.note),
                ..signature
            },
        },
        Event::Skipped { step, who, reason } => Event::Skipped {
            step,
            who,
            reason: text(reason),
        },
        Event::RollbackStarted { who, reason } => Event::RollbackStarted {
            who,
            reason: text(reason),
        },
        Event::SessionEnded { outcome, reason } => Event::SessionEnded {
            outcome,
            reason: reason.map(text),
        },
        other => other,
    }
}

/// Room in the front end's channel, when there is something to send; never otherwise.
async fn room(
    updates: Option<mpsc::Sender<Update>>,
) -> Result<mpsc::OwnedPermit<Update>, mpsc::error::SendError<()>> {
    match updates {
        Some(updates) => updates.reserve_owned().await,
        None => std::future::pending().await,
    }
}

/// Sleep until a wall-clock time (at once if it has passed); never without one.
async fn sleep_until(at: Option<DateTime<Utc>>) {
    match at {
        Some(at) => {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
        }
        None => std::future::pending().await,
    }
}
