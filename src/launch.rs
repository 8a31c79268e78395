//! Opening a session: load the runbook, pick the environment, create or
//! resume the journal, and hand back an engine ready to run. Shared by the
//! headless front end and the TUI so both start sessions the same way.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::engine::runner::{Engine, EngineSetup, UPDATES_QUEUED};
use crate::exit::{self, CliError};
use crate::journal::event::{Event, FORMAT_VERSION, Header, Mode};
use crate::journal::file::{FileJournal, new_session_id};
use crate::journal::reader::read_journal;
use crate::journal::store;
use crate::journal::{JournalError, JournalSink};
use crate::runbook::diagnostic::{Diagnostic, Severity};
use crate::runbook::loader::{self, LoadOptions};
use crate::runbook::model::{DatabaseSource, Environment, Runbook, ValueSource};
use crate::runbook::plan::Plan;
use crate::secrets::Redactor;
use crate::session::{SessionState, StepStatus, Update};

/// What the operator asked for on the command line.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub runbook: PathBuf,
    pub env: Option<String>,
    pub dry_run: bool,
    pub resume: Option<String>,
    pub allow_changed_runbook: bool,
    /// The session's operator (first) and co-signers for pre-approvals.
    pub operators: Vec<String>,
    pub only: Option<String>,
    pub state_dir: PathBuf,
    /// Run the session at once (headless), without waiting for a `run`.
    pub autostart: bool,
    /// Values of environment variables the runbook reads (its databases,
    /// its variables), in place of the process environment's, and handed to
    /// shell steps too: how `runsheet demo` points the runbook at its own
    /// databases without touching the process environment.
    pub environment_values: Vec<(String, String)>,
    /// `--allow-outside-files`: `{file=…}` may read outside the runbook's folder.
    pub allow_outside_files: bool,
}

/// A session ready to run.
pub struct Launched {
    pub engine: Engine,
    /// Bounded: a front end that does not keep up slows the session's steps down.
    pub updates: mpsc::Receiver<Update>,
    /// The fold so far, for the front end to continue folding updates into.
    pub state: SessionState,
    pub journal_path: PathBuf,
    pub resumed: bool,
    /// Runbook warnings and journal warnings (e.g. a torn last line dropped).
    pub warnings: Vec<String>,
    /// Unfinished sessions of the same runbook and environment, when starting anew.
    pub unfinished: Vec<String>,
    pub runbook: Runbook,
}

/// Why a session could not be opened. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Runbook(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl From<LaunchError> for CliError {
    fn from(e: LaunchError) -> CliError {
        let code = match e {
            LaunchError::Journal(_) => exit::JOURNAL,
            LaunchError::Runbook(_) | LaunchError::Usage(_) => exit::USAGE,
        };
        CliError::new(code, e)
    }
}

/// `source` with the value `values` gives its variable, if it names one.
fn given(source: &ValueSource, values: &[(String, String)]) -> ValueSource {
    match source {
        ValueSource::Env { var, .. } => values
            .iter()
            .find(|(name, _)| name == var)
            .map_or_else(|| source.clone(), |(_, v)| ValueSource::Literal(v.clone())),
        ValueSource::Literal(_) => source.clone(),
    }
}

/// The operator's name: `--operator`, `RUNSHEET_OPERATOR`, git's `user.name`, `$USER`.
pub fn default_operator() -> String {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    from_env("RUNSHEET_OPERATOR")
        .or_else(|| {
            std::process::Command::new("git")
                .args(["config", "user.name"])
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| from_env("USER"))
        .unwrap_or_else(|| "operator".to_string())
}

/// Load a runbook, failing with every error diagnostic as `path:line:col: error: …`.
pub fn load_runbook(path: &Path) -> Result<(Runbook, Vec<String>), LaunchError> {
    load_runbook_with(path, LoadOptions::default())
}

/// [`load_runbook`] with load options.
pub fn load_runbook_with(path: &Path, options: LoadOptions) -> Result<(Runbook, Vec<String>), LaunchError> {
    let loaded = loader::load_with(path, options).map_err(|e| LaunchError::Runbook(e.to_string()))?;
    let show = |d: &Diagnostic| d.display(path).to_string();
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(show)
        .collect();
    let warnings = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(show)
        .collect();
    match loaded.runbook {
        Some(runbook) if errors.is_empty() => Ok((runbook, warnings)),
        _ => Err(LaunchError::Runbook(format!(
            "{}\n{}: the runbook has errors; fix them (`runsheet check` lists them) and run again",
            errors.join("\n"),
            path.display()
        ))),
    }
}

fn load_options(opts: &RunOptions) -> LoadOptions {
    LoadOptions {
        allow_outside_files: opts.allow_outside_files,
    }
}

/// The environment named by `--env`, or the only one there is (a runbook
/// without environment sections or front-matter environments has exactly
/// one, the implicit one).
pub fn pick_environment<'a>(
    runbook: &'a Runbook,
    name: Option<&str>,
) -> Result<&'a Environment, LaunchError> {
    let names = || {
        runbook
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => runbook.environment(n).ok_or_else(|| {
            LaunchError::Usage(format!(
                "the runbook has no environment '{n}'; choose one of: {}",
                names()
            ))
        }),
        None if runbook.environments.len() == 1 => Ok(&runbook.environments[0]),
        None if runbook.environments.is_empty() => Err(LaunchError::Usage(
            "the runbook defines no environment to run".into(),
        )),
        None => Err(LaunchError::Usage(format!(
            "choose an environment with --env: {}",
            names()
        ))),
    }
}

/// Resolve runbook variables; secret ones are remembered by the redactor.
fn resolve_variables(
    runbook: &Runbook,
    values: &[(String, String)],
    redactor: &mut Redactor,
) -> Result<Vec<(String, String)>, LaunchError> {
    let mut out = Vec::new();
    for (name, var) in &runbook.variables {
        let value = given(&var.value, values).resolve().map_err(|missing| {
            LaunchError::Usage(format!(
                "variable {name} reads the environment variable {missing}, which is not set; set it and run again"
            ))
        })?;
        if var.secret {
            redactor.add(&value);
        }
        out.push((name.clone(), value));
    }
    Ok(out)
}

/// Open (create or resume) a session and build its engine.
pub fn launch(opts: &RunOptions) -> Result<Launched, LaunchError> {
    let (runbook, mut warnings) = load_runbook_with(&opts.runbook, load_options(opts))?;
    let env = pick_environment(&runbook, opts.env.as_deref())?;
    let mut plan = Plan::for_environment(&runbook, env);
    if let Some(only) = &opts.only {
        plan = plan.only(only).map_err(LaunchError::Usage)?;
    }
    let operator = opts.operators.first().cloned().unwrap_or_else(default_operator);
    let mut redactor = Redactor::default();
    let mut variables = resolve_variables(&runbook, &opts.environment_values, &mut redactor)?;
    variables.extend(opts.environment_values.iter().cloned());
    let runbook_path = opts
        .runbook
        .canonicalize()
        .unwrap_or_else(|_| opts.runbook.clone());
    let workdir = runbook_path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let setup = EngineSetup {
        workdir,
        database: match &env.database {
            DatabaseSource::Url(source) => DatabaseSource::Url(given(source, &opts.environment_values)),
            other => other.clone(),
        },
        variables,
        redactor,
        autostart: opts.autostart,
        state_dir: opts.state_dir.clone(),
    };
    let (tx, rx) = mpsc::channel(UPDATES_QUEUED);

    let (journal, state, journal_path, resumed, unfinished) = match &opts.resume {
        Some(id) => {
            let path = store::resolve_session(&opts.state_dir, id)?;
            let (journal, read) = FileJournal::open_append(&path)?;
            warnings.extend(read.warnings.iter().cloned());
            let state = SessionState::from_records(&read.records)
                .map_err(|e| LaunchError::Usage(format!("{}: {e}", path.display())))?;
            check_resumable(&state, &runbook, env, opts)?;
            let changed = state.header.runbook_sha256 != runbook.content_hash;
            let new_plan = (changed || state.plan != plan).then(|| Box::new(plan.clone()));
            let mut journal: Box<dyn JournalSink> = Box::new(journal);
            let mut state = state;
            for event in resume_events(&state, &operator, &runbook.content_hash, new_plan, opts.autostart) {
                let record = journal.append(event)?;
                state.apply(&record);
            }
            (journal, state, path, true, Vec::new())
        }
        None => {
            let unfinished = unfinished_sessions(&opts.state_dir, &runbook_path, &env.name)
                .into_iter()
                .map(|s| s.id)
                .collect();
            let header = Header {
                format: FORMAT_VERSION,
                session_id: new_session_id(),
                runbook_path: runbook_path.display().to_string(),
                runbook_sha256: runbook.content_hash.clone(),
                environment: env.name.clone(),
                mode: if opts.dry_run { Mode::DryRun } else { Mode::Live },
                operator: operator.clone(),
                host: crate::seat::host_name(),
                runsheet_version: env!("CARGO_PKG_VERSION").to_string(),
                only: opts.only.clone(),
                plan,
            };
            let journal = FileJournal::create(&opts.state_dir, header)?;
            let path = journal.path().to_path_buf();
            let read = read_journal(&path)?;
            let state = SessionState::from_records(&read.records)
                .map_err(|e| LaunchError::Usage(format!("{}: {e}", path.display())))?;
            (
                Box::new(journal) as Box<dyn JournalSink>,
                state,
                path,
                false,
                unfinished,
            )
        }
    };
    let engine = Engine::new(journal, state.clone(), setup, tx);
    Ok(Launched {
        engine,
        updates: rx,
        state,
        journal_path,
        resumed,
        warnings,
        unfinished,
        runbook,
    })
}

/// Sessions of this runbook and environment that can still be continued.
pub fn unfinished_sessions(
    state_dir: &Path,
    runbook_path: &Path,
    environment: &str,
) -> Vec<store::SessionSummary> {
    store::list_sessions(state_dir)
        .map(|list| list.sessions)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| {
            !matches!(s.outcome, store::SessionStatus::Ended(_))
                && s.environment == environment
                && Path::new(&s.runbook_path) == runbook_path
        })
        .collect()
}

/// The unfinished sessions `launch(opts)` would offer to continue.
pub fn resumable_for(opts: &RunOptions) -> Result<Vec<store::SessionSummary>, LaunchError> {
    let (runbook, _) = load_runbook_with(&opts.runbook, load_options(opts))?;
    let env = pick_environment(&runbook, opts.env.as_deref())?;
    let path = opts
        .runbook
        .canonicalize()
        .unwrap_or_else(|_| opts.runbook.clone());
    Ok(unfinished_sessions(&opts.state_dir, &path, &env.name))
}

/// Refuse to resume a session that ended, belongs elsewhere, or whose runbook changed.
fn check_resumable(
    state: &SessionState,
    runbook: &Runbook,
    env: &Environment,
    opts: &RunOptions,
) -> Result<(), LaunchError> {
    let id = &state.header.session_id;
    if let Some((outcome, _)) = &state.outcome {
        return Err(LaunchError::Usage(format!(
            "session {id} has already ended ({}); start a new session instead",
            outcome.label()
        )));
    }
    if state.header.environment != env.name {
        return Err(LaunchError::Usage(format!(
            "session {id} is a session of {}, not {}; pass --env {}",
            state.header.environment, env.name, state.header.environment
        )));
    }
    if (state.header.mode == Mode::DryRun) != opts.dry_run {
        let flag = if state.header.mode == Mode::DryRun {
            "with"
        } else {
            "without"
        };
        return Err(LaunchError::Usage(format!(
            "session {id} is a {} session; resume it {flag} --dry-run",
            state.header.mode.label()
        )));
    }
    if state.header.runbook_sha256 != runbook.content_hash && !opts.allow_changed_runbook {
        return Err(LaunchError::Usage(format!(
            "the runbook changed since session {id} started (SHA-256 {} then, {} now); \
             resume with --allow-changed-runbook if the change is intended",
            short(&state.header.runbook_sha256),
            short(&runbook.content_hash)
        )));
    }
    Ok(())
}

/// The events that reopen a session: `Resumed`, then every step that was
/// running at the stop marked interrupted (it never re-runs by itself).
fn resume_events(
    state: &SessionState,
    operator: &str,
    sha: &str,
    plan: Option<Box<Plan>>,
    run: bool,
) -> Vec<Event> {
    let mut events = vec![Event::Resumed {
        operator: operator.to_string(),
        host: crate::seat::host_name(),
        runbook_sha256: sha.to_string(),
        plan,
        run,
    }];
    let mut running: Vec<(&String, u32)> = state
        .steps
        .iter()
        .filter(|(_, s)| s.status == StepStatus::Running)
        .map(|(id, s)| (id, s.attempts.last().map_or(1, |a| a.number)))
        .collect();
    running.sort();
    events.extend(running.into_iter().map(|(id, attempt)| Event::StepInterrupted {
        step: id.clone(),
        attempt,
    }));
    events
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}
