//! The session engine: decides from the fold what happens next, runs steps,
//! and turns everything into journal events.
//!
//! Front ends talk to it through two streams only: [`Command`]s in and
//! [`Update`]s (journal records, refusals) out. Every event is appended to the
//! journal (fsynced when it changes state) *before* it is folded and sent
//! out, so nothing a front end shows can be lost by a crash.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::OutputLine;
use super::connect;
use super::shell::{ShellRequest, run_shell};
use super::sql::{SqlRequest, run_sql};
use crate::gates::check_session_gate;
use crate::journal::event::{Event, Mode, Observed, Outcome, SessionOutcome, Signature, Stream};
use crate::journal::{JournalError, JournalSink};
use crate::runbook::model::{DatabaseSource, Gate, Step, StepKind};
use crate::secrets::Redactor;
use crate::session::{Command, ESTIMATE_EXCEEDED, Next, SessionState, StepStatus, Update};

/// Shell steps and SQL statements run at most this long unless `{timeout=…}` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Output is written to the journal in batches at least this often.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A batch is flushed early once it holds this many lines.
const BATCH_LINES: usize = 2_000;

/// What the engine needs besides the journal and the state.
#[derive(Debug, Clone)]
pub struct EngineSetup {
    /// Shell steps run here (the runbook's folder).
    pub workdir: PathBuf,
    pub database: DatabaseSource,
    /// Runbook variables, resolved; handed to shell steps.
    pub variables: Vec<(String, String)>,
    pub redactor: Redactor,
    /// Start running automated steps without waiting for [`Command::Run`].
    pub autostart: bool,
    /// Where saved sessions live: the evidence promotion gates look for.
    pub state_dir: PathBuf,
}

/// The engine could not go on; the session stays resumable.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("a step runner crashed: {0}")]
    Runner(String),
}

/// How one attempt of an automated step ended, whatever ran it.
#[derive(Debug)]
struct StepResult {
    outcome: Outcome,
    exit_code: Option<i32>,
    error: Option<String>,
    observed: Option<Observed>,
    passed: Option<bool>,
}

/// The step being run now.
struct Running {
    step: Step,
    attempt: u32,
    started: Instant,
    cancel: CancellationToken,
    output: mpsc::Receiver<OutputLine>,
    /// The runner dropped its sender: stop polling the channel.
    output_closed: bool,
    task: JoinHandle<StepResult>,
    /// Set when the operator detaches: the step ends as interrupted, not cancelled.
    detaching: Option<String>,
    aborting: Option<(String, String)>,
}

/// Output lines waiting to be written, grouped by stream in arrival order.
#[derive(Default)]
struct Batch {
    groups: Vec<(Stream, Vec<String>)>,
    lines: usize,
}

impl Batch {
    fn push(&mut self, stream: Stream, text: String) {
        match self.groups.last_mut() {
            Some((s, lines)) if *s == stream => lines.push(text),
            _ => self.groups.push((stream, vec![text])),
        }
        self.lines += 1;
    }
}

fn gate_outcome(passed: bool) -> Outcome {
    if passed {
        Outcome::Succeeded
    } else {
        Outcome::Failed
    }
}

/// Runs one session.
pub struct Engine {
    journal: Box<dyn JournalSink>,
    state: SessionState,
    setup: EngineSetup,
    updates: mpsc::UnboundedSender<Update>,
    running: Option<Running>,
    batch: Batch,
    auto: bool,
    db_config: Option<Result<tokio_postgres::Config, String>>,
}

enum Wake {
    Command(Option<Command>),
    Output(Option<OutputLine>),
    Done(Result<StepResult, tokio::task::JoinError>),
    Tick,
}

impl Engine {
    /// An engine over a journal whose records so far are folded into `state`.
    pub fn new(
        journal: Box<dyn JournalSink>,
        state: SessionState,
        setup: EngineSetup,
        updates: mpsc::UnboundedSender<Update>,
    ) -> Engine {
        let auto = setup.autostart;
        Engine {
            journal,
            state,
            setup,
            updates,
            running: None,
            batch: Batch::default(),
            auto,
            db_config: None,
        }
    }

    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// Append an event, fold it, and tell the front ends.
    fn emit(&mut self, event: Event) -> Result<(), EngineError> {
        let record = self.journal.append(event)?;
        self.state.apply(&record);
        let _ = self.updates.send(Update::Record(record));
        Ok(())
    }

    fn refuse(&self, why: impl Into<String>) {
        let _ = self.updates.send(Update::Refused(why.into()));
    }

    /// Drive the session until it ends or the operator detaches. Returns the final state.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>) -> Result<SessionState, EngineError> {
        let mut commands_open = true;
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.running.is_none() {
                self.advance()?;
            }
            if self.running.is_none() && (self.state.outcome.is_some() || self.state.detached) {
                break;
            }
            let wake = match self.running.as_mut() {
                Some(run) => tokio::select! {
                    biased;
                    cmd = commands.recv(), if commands_open => Wake::Command(cmd),
                    line = run.output.recv(), if !run.output_closed => Wake::Output(line),
                    done = &mut run.task => Wake::Done(done),
                    _ = tick.tick() => Wake::Tick,
                },
                None => tokio::select! {
                    cmd = commands.recv(), if commands_open => Wake::Command(cmd),
                    _ = tick.tick() => Wake::Tick,
                },
            };
            match wake {
                Wake::Command(Some(cmd)) => self.handle(cmd)?,
                // Every front end is gone: keep the session resumable.
                Wake::Command(None) => {
                    commands_open = false;
                    self.handle(Command::Detach {
                        who: self.state.header.operator.clone(),
                    })?;
                }
                Wake::Output(Some(line)) => {
                    let text = self.setup.redactor.redact(&line.text).into_owned();
                    self.batch.push(line.stream, text);
                    if self.batch.lines >= BATCH_LINES {
                        self.flush_output()?;
                    }
                }
                Wake::Output(None) => {
                    if let Some(run) = self.running.as_mut() {
                        run.output_closed = true;
                    }
                }
                Wake::Tick => {
                    self.flush_output()?;
                    self.journal.flush()?;
                    self.check_estimate()?;
                }
                Wake::Done(result) => self.finish(result)?,
            }
        }
        self.flush_output()?;
        self.journal.flush()?;
        Ok(self.state)
    }

    /// Do what the state says comes next, if the engine may do it by itself.
    fn advance(&mut self) -> Result<(), EngineError> {
        if self.state.detached {
            return Ok(());
        }
        match self.state.next() {
            Next::AllDone if self.state.rolling_back() => {
                self.emit(Event::RollbackFinished {
                    outcome: SessionOutcome::Completed,
                })?;
                self.emit(Event::SessionEnded {
                    outcome: SessionOutcome::RolledBack,
                    reason: None,
                })?;
            }
            Next::AllDone => self.emit(Event::SessionEnded {
                outcome: SessionOutcome::Completed,
                reason: None,
            })?,
            Next::Start(step) if self.auto => {
                let step = step.clone();
                self.start(step)?;
            }
            Next::SignOff { step, .. }
                if self.auto && self.state.step(&step.id).status() == StepStatus::Pending =>
            {
                let id = step.id.clone();
                self.emit(Event::AwaitingSignOff { step: id })?;
            }
            _ => {}
        }
        Ok(())
    }

    fn handle(&mut self, cmd: Command) -> Result<(), EngineError> {
        match cmd {
            Command::Run => self.auto = true,
            Command::Pause => self.auto = false,
            Command::Note { who, text } => {
                if text.trim().is_empty() {
                    self.refuse("an empty note was not recorded");
                } else {
                    let text = self.setup.redactor.redact(&text).into_owned();
                    self.emit(Event::Note { who, text })?;
                }
            }
            Command::SignOff { step, signature } => self.sign_off(step, signature)?,
            Command::Retry { step } => match self.state.next() {
                Next::Decide(s) if s.id == step && !matches!(s.kind, StepKind::Manual) => {
                    let s = s.clone();
                    self.auto = true;
                    self.start(s)?;
                }
                _ => self.refuse(format!(
                    "step {step} is not waiting for a decision, so it cannot be retried"
                )),
            },
            Command::Skip { step, who, reason } => {
                let is_next = match self.state.next() {
                    Next::Decide(s) | Next::SignOff { step: s, .. } | Next::Start(s) | Next::Confirm(s) => {
                        s.id == step
                    }
                    _ => false,
                };
                let is_gate = self
                    .state
                    .plan
                    .step(&step)
                    .is_some_and(|s| matches!(s.kind, StepKind::Gate { .. }));
                if is_gate {
                    self.refuse(
                        "a gate cannot be skipped; override it with a signed reason (who, role, reason)",
                    );
                } else if reason.trim().is_empty() {
                    self.refuse("a skip needs a reason");
                } else if !is_next {
                    self.refuse(format!("only the next step can be skipped, not {step}"));
                } else {
                    self.emit(Event::Skipped { step, who, reason })?;
                }
            }
            Command::Cancel => match self.running.as_ref() {
                Some(run) => run.cancel.cancel(),
                None => self.refuse("no step is running"),
            },
            Command::Abort { who, reason } => match self.running.as_mut() {
                Some(run) => {
                    run.aborting = Some((who, reason));
                    run.cancel.cancel();
                }
                None => self.abort(&who, reason)?,
            },
            Command::Confirm { who, typed } => {
                let env = self.state.plan.environment.clone();
                if self.state.confirmed_by.is_some() {
                    self.refuse("the environment is already confirmed");
                } else if typed.trim() != env {
                    self.refuse(format!(
                        "typed {:?}, which is not the environment name {env:?}",
                        typed.trim()
                    ));
                } else {
                    self.emit(Event::EnvironmentConfirmed { who })?;
                }
            }
            Command::StartRollback { who, reason } => {
                if self.state.rollback.is_some() {
                    self.refuse("the rollback has already been started");
                } else if self.state.plan.rollback.is_empty() {
                    self.refuse("this runbook's Rollback section has no steps to run");
                } else if self.running.is_some() {
                    self.refuse("a step is running: wait for it or cancel it before starting the rollback");
                } else {
                    self.emit(Event::RollbackStarted { who, reason })?;
                    self.auto = true;
                }
            }
            Command::Detach { who } => match self.running.as_mut() {
                Some(run) => {
                    run.detaching = Some(who);
                    run.cancel.cancel();
                }
                None => self.emit(Event::Detached { who })?,
            },
        }
        Ok(())
    }

    fn sign_off(&mut self, step: String, signature: Signature) -> Result<(), EngineError> {
        let (target, deciding, gate) = match self.state.next() {
            Next::SignOff { step: s, .. } => (s.id.clone(), false, false),
            Next::Decide(s) => (s.id.clone(), true, matches!(s.kind, StepKind::Gate { .. })),
            _ => (String::new(), false, false),
        };
        if target != step {
            self.refuse(format!("step {step} is not waiting for a sign-off"));
        } else if gate && (signature.role.trim().is_empty() || signature.note.trim().is_empty()) {
            self.refuse("overriding a gate needs a name, a role and the reason");
        } else if signature.who.trim().is_empty() {
            self.refuse("a sign-off needs a name");
        } else if !deciding && self.state.step(&step).signers().contains(signature.who.trim()) {
            self.refuse(format!(
                "{} has already signed {step}; it needs {} distinct names",
                signature.who.trim(),
                self.state.plan.signoffs
            ));
        } else {
            let signature = Signature {
                who: signature.who.trim().to_string(),
                note: self.setup.redactor.redact(&signature.note).into_owned(),
                ..signature
            };
            self.emit(Event::SignedOff { step, signature })?;
        }
        Ok(())
    }

    fn abort(&mut self, who: &str, reason: String) -> Result<(), EngineError> {
        let reason = if reason.trim().is_empty() {
            format!("aborted by {who}")
        } else {
            reason
        };
        if self.state.rolling_back() {
            self.emit(Event::RollbackFinished {
                outcome: SessionOutcome::Aborted,
            })?;
        }
        self.emit(Event::SessionEnded {
            outcome: SessionOutcome::Aborted,
            reason: Some(reason),
        })
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

    fn start(&mut self, step: Step) -> Result<(), EngineError> {
        if matches!(step.kind, StepKind::Manual) {
            self.refuse(format!("step {} is manual: it is signed off, not run", step.id));
            return Ok(());
        }
        let attempt = self.state.step(&step.id).attempts().len() as u32 + 1;
        self.emit(Event::StepStarted {
            step: step.id.clone(),
            attempt,
        })?;
        let (tx, rx) = mpsc::channel(4096);
        let cancel = CancellationToken::new();
        let timeout = step.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let dry_run = self.state.header.mode == Mode::DryRun;
        let task = match &step.kind {
            StepKind::Shell { script } => {
                let req = ShellRequest {
                    script: script.clone(),
                    cwd: self.setup.workdir.clone(),
                    env: self.step_env(&step),
                    timeout,
                };
                let verify = step.verify;
                let token = cancel.clone();
                tokio::spawn(async move {
                    let r = run_shell(req, token, tx).await;
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
                    }
                })
            }
            StepKind::Sql { sql } => match self.database() {
                Ok(config) => {
                    let req = SqlRequest {
                        config,
                        sql: sql.clone(),
                        dry_run,
                        verify: step.verify,
                        timeout,
                    };
                    let token = cancel.clone();
                    tokio::spawn(async move {
                        let r = run_sql(req, token, tx).await;
                        StepResult {
                            outcome: r.outcome,
                            exit_code: None,
                            error: r.error,
                            observed: r.observed,
                            passed: r.passed,
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
                    }
                }),
            },
            StepKind::Gate {
                gate: Gate::Backups { min },
            } => {
                let (have, min) = (self.state.verified_backups(), *min);
                let passed = have >= min as usize;
                let observed = Observed {
                    columns: vec!["verified backups in this session".into(), "required".into()],
                    rows: vec![vec![have.to_string(), min.to_string()]],
                    text: String::new(),
                };
                let error = (!passed).then(|| {
                    format!("{have} of {min} required backups were made in this session; make the rest first")
                });
                tokio::spawn(async move {
                    drop(tx);
                    StepResult {
                        outcome: gate_outcome(passed),
                        exit_code: None,
                        error,
                        observed: Some(observed),
                        passed: Some(passed),
                    }
                })
            }
            StepKind::Gate {
                gate:
                    Gate::Session {
                        environment,
                        rollback,
                    },
            } => {
                let (dir, env, rollback) = (self.setup.state_dir.clone(), environment.clone(), *rollback);
                let (sha, me) = (
                    self.state.header.runbook_sha256.clone(),
                    self.state.header.session_id.clone(),
                );
                tokio::task::spawn_blocking(move || {
                    let check = check_session_gate(&dir, &env, rollback, &sha, &me);
                    let _ = tx.blocking_send(OutputLine {
                        stream: Stream::Info,
                        text: check.summary.clone(),
                    });
                    StepResult {
                        outcome: gate_outcome(check.passed),
                        exit_code: None,
                        error: (!check.passed).then_some(check.summary),
                        observed: Some(check.evidence),
                        passed: Some(check.passed),
                    }
                })
            }
            StepKind::Manual => return Ok(()),
        };
        self.running = Some(Running {
            step,
            attempt,
            started: Instant::now(),
            cancel,
            output: rx,
            output_closed: false,
            task,
            detaching: None,
            aborting: None,
        });
        Ok(())
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
            env.push(("RUNSHEET_DATABASE_URL".to_string(), url));
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
                if let Ok(cfg) = url.parse::<tokio_postgres::Config>()
                    && let Some(pw) = cfg.get_password()
                {
                    self.setup.redactor.add(&String::from_utf8_lossy(pw));
                }
                Some(url)
            }
            DatabaseSource::PgEnv | DatabaseSource::None => None,
        }
    }

    /// Raise the plan's rollback criterion once: the session has run longer
    /// than twice its environment's estimate.
    fn check_estimate(&mut self) -> Result<(), EngineError> {
        let Some(estimate) = self.state.plan.estimate else {
            return Ok(());
        };
        let elapsed = self.state.elapsed(chrono::Utc::now());
        let raised = self.state.estimate_exceeded();
        if !raised && self.state.outcome.is_none() && elapsed > estimate.max * 2 {
            let message = format!(
                "elapsed {} is past twice the estimate ({}): a rollback criterion of the plan",
                crate::runbook::duration::format_duration(elapsed),
                crate::runbook::duration::format_duration(estimate.max)
            );
            self.emit(Event::Warning {
                code: ESTIMATE_EXCEEDED.to_string(),
                message,
            })?;
        }
        Ok(())
    }

    fn flush_output(&mut self) -> Result<(), EngineError> {
        let Some(run) = self.running.as_ref() else {
            self.batch = Batch::default();
            return Ok(());
        };
        let (step, attempt) = (run.step.id.clone(), run.attempt);
        for (stream, lines) in std::mem::take(&mut self.batch).groups {
            self.emit(Event::Output {
                step: step.clone(),
                attempt,
                stream,
                lines,
            })?;
        }
        Ok(())
    }

    fn finish(&mut self, result: Result<StepResult, tokio::task::JoinError>) -> Result<(), EngineError> {
        let result = result.map_err(|e| EngineError::Runner(e.to_string()))?;
        // Lines still queued belong to this attempt and go before its end.
        if let Some(run) = self.running.as_mut() {
            while let Ok(line) = run.output.try_recv() {
                let text = self.setup.redactor.redact(&line.text).into_owned();
                self.batch.push(line.stream, text);
            }
        }
        self.flush_output()?;
        let Some(run) = self.running.take() else {
            return Ok(());
        };
        let id = run.step.id.clone();
        if let Some(who) = run.detaching {
            self.emit(Event::StepInterrupted {
                step: id,
                attempt: run.attempt,
            })?;
            return self.emit(Event::Detached { who });
        }
        let mut outcome = result.outcome;
        let mut error = result.error.map(|e| self.setup.redactor.redact(&e).into_owned());
        if let Some(passed) = result.passed {
            self.emit(Event::Verification {
                step: id.clone(),
                attempt: run.attempt,
                name: run.step.title.clone(),
                passed,
                observed: result.observed.unwrap_or_default(),
            })?;
            if !passed && outcome == Outcome::Succeeded {
                outcome = Outcome::Failed;
                error = Some("the verification did not pass".to_string());
            }
        }
        self.emit(Event::StepFinished {
            step: id,
            attempt: run.attempt,
            outcome,
            exit_code: result.exit_code,
            duration_ms: run.started.elapsed().as_millis() as u64,
            error,
        })?;
        if let Some((who, reason)) = run.aborting {
            self.abort(&who, reason)?;
        }
        Ok(())
    }
}
