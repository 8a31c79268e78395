//! Opening a session: load the runbook, pick the environment, create or
//! resume the journal, and hand back an engine ready to run. Shared by the
//! headless front end and the TUI so both start sessions the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::connect::{self, Target};
use crate::engine::group;
use crate::engine::inbox::{Envelope, Inbox};
use crate::engine::runner::{Engine, EngineSetup, UPDATES_QUEUED};
use crate::exit::{self, CliError};
use crate::journal::JournalError;
use crate::journal::event::{Event, FORMAT_VERSION, Header, Mode};
use crate::journal::file::{journal_path, new_session_id};
use crate::journal::postgres::JournalDb;
use crate::journal::postgres::lock::Holder;
use crate::journal::reader::read_journal;
use crate::journal::store;
use crate::runbook::diagnostic::{Diagnostic, Severity};
use crate::runbook::loader::{self, LoadOptions};
use crate::runbook::model::{DatabaseSource, Environment, Note, Runbook, Step, StepKind, ValueSource};
use crate::runbook::plan::Plan;
use crate::seat::Origin;
use crate::secrets::Redactor;
use crate::session::{SessionState, StepStatus, Update};
use crate::team;

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
    /// A new session started to run only the Rollback section (`--rollback`):
    /// recorded in its header, so it is told apart from a run of the plan.
    pub rollback_only: bool,
    pub state_dir: PathBuf,
    /// Run the session at once (headless), without waiting for a `run`.
    pub autostart: bool,
    /// Nobody watches a screen (headless): a new session of an environment
    /// with `confirm = true` starts only when `confirm_env` names it.
    pub headless: bool,
    /// `--confirm-env`: the environment name typed in advance.
    pub confirm_env: Option<String>,
    /// Values of environment variables the runbook reads (its databases,
    /// its variables), in place of the process environment's, and handed to
    /// shell steps too: how `runsheet demo` points the runbook at its own
    /// databases without touching the process environment.
    pub environment_values: Vec<(String, String)>,
    /// `--allow-outside-files`: `{file=…}` may read outside the runbook's folder.
    pub allow_outside_files: bool,
    /// `--journal` or `RUNSHEET_JOURNAL_URL`: the team journal database
    /// (before the runbook's front-matter `journal`).
    pub journal: Option<String>,
    /// `--take-over`: resume a team session whose driver's connection is gone.
    pub take_over: bool,
    /// `--allow-changed-target`: resume even though the database reached now
    /// is another one than the session's (the change is journaled).
    pub allow_changed_target: bool,
    /// Steps named by decisions given in advance, with their flag
    /// (`--skip`, `--approve`, …): each must name a step of the plan.
    pub named_steps: Vec<(&'static str, String)>,
    /// `--skip STEP=REASON`: skipped when they come up, before they would start.
    pub skips: BTreeMap<String, String>,
}

/// A session ready to run.
pub struct Launched {
    pub engine: Engine,
    /// Bounded: a front end that does not keep up slows the session's steps down.
    pub updates: mpsc::Receiver<Update>,
    /// The engine's inbox for this process's front end (its commands come
    /// from the operator at this seat), and its receiving end for `Engine::run`.
    pub inbox: Inbox,
    pub inbox_rx: mpsc::Receiver<Envelope>,
    /// The fold so far, for the front end to continue folding updates into.
    pub state: SessionState,
    pub journal_path: PathBuf,
    pub resumed: bool,
    /// Runbook warnings and journal warnings (e.g. a torn last line dropped).
    pub warnings: Vec<String>,
    /// Unfinished sessions of the same runbook and environment, when starting anew.
    pub unfinished: Vec<String>,
    /// The path to production, for a session of an environment on a gated
    /// path (staging, production): shown before anything runs.
    pub path: Option<String>,
    /// What comes next once this session ends well ("next: …: COMMAND"),
    /// for the checklist to say when it completes.
    pub next_after: Option<String>,
    pub runbook: Runbook,
}

/// Why a session could not be opened. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Runbook(String),
    #[error("{0}")]
    Usage(String),
    /// A database the plan uses cannot be reached (or is another one than the session's).
    #[error("{0}")]
    Database(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl From<LaunchError> for CliError {
    fn from(e: LaunchError) -> CliError {
        match e {
            // A team journal's driver lock or connection has its own codes.
            LaunchError::Journal(JournalError::Postgres(pg)) => {
                CliError::new(team::exit_code(&pg), JournalError::Postgres(pg))
            }
            // A session that cannot be found is bad input; a journal that
            // cannot be read or written cannot be trusted.
            LaunchError::Journal(e) => CliError::from(e),
            LaunchError::Database(_) => CliError::new(exit::DATABASE, e),
            LaunchError::Runbook(_) | LaunchError::Usage(_) => CliError::new(exit::USAGE, e),
        }
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

/// The operator's name when none is given: `RUNSHEET_OPERATOR`, else the OS
/// user this process runs as (never a git setting, which names whoever set
/// up the machine's repository, not who sits at it), else `$USER`.
pub fn default_operator() -> String {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    from_env("RUNSHEET_OPERATOR")
        .or_else(crate::seat::os_user)
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

/// Reach each database the plan uses once, before anything starts, and
/// say which it is; an unreachable one stops the session from starting.
async fn reach_targets(plan: &Plan, database: &DatabaseSource) -> Result<Vec<Target>, LaunchError> {
    if !plan.uses_database() {
        return Ok(Vec::new());
    }
    let stopped = |why: String| {
        format!("{why}; the session did not start (nothing ran): make the database reachable and run again")
    };
    // Where the database is cannot be worked out (a variable not set): the operator's to fix.
    let config = connect::resolve(database).map_err(|e| LaunchError::Usage(stopped(e.to_string())))?;
    let target = connect::identify(&config)
        .await
        .map_err(|e| LaunchError::Database(stopped(e.to_string())))?;
    Ok(vec![target])
}

/// The database reached is the cluster the runbook pins `environment` to,
/// before anything is journaled: a session against another cluster (a wrong
/// URL, a restored copy) does not start.
fn check_pinned_cluster(targets: &[Target], environment: &str, pin: &str) -> Result<(), LaunchError> {
    for t in targets {
        let found = match t.system_identifier.as_deref() {
            Some(id) if id == pin => continue,
            Some(id) => format!("is cluster {id}"),
            None => {
                "does not say which cluster it is (this role may not read pg_control_system())".to_string()
            }
        };
        return Err(LaunchError::Database(format!(
            "the database reached, {}, {found}, but the runbook pins {environment} to cluster {pin}; \
             the session did not start (nothing ran): point {environment} at the pinned cluster, or correct the runbook's system_identifier",
            t.describe()
        )));
    }
    Ok(())
}

/// Open (create or resume) a session and build its engine.
pub async fn launch(opts: &RunOptions) -> Result<Launched, LaunchError> {
    let (runbook, mut warnings) = load_runbook_with(&opts.runbook, load_options(opts))?;
    let env = pick_environment(&runbook, opts.env.as_deref())?;
    let mut plan = Plan::for_environment(&runbook, env);
    if let Some(only) = &opts.only {
        plan = plan.only(only).map_err(LaunchError::Usage)?;
    }
    check_named_steps(&plan, &opts.named_steps, &opts.runbook)?;
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
    let database = match &env.database {
        DatabaseSource::Url(source) => DatabaseSource::Url(given(source, &opts.environment_values)),
        other => other.clone(),
    };
    learn_secrets(&mut redactor, &database, &opts.environment_values, &plan);
    // The journal (and every front end) gets the plan with its secrets
    // masked; only the engine, which runs the steps, keeps the real one.
    let shown_plan = redacted_plan(&redactor, &plan);
    let team = team::journal_db(opts.journal.as_deref().or(runbook.journal.as_deref()))?;
    let setup = EngineSetup {
        workdir,
        database,
        variables,
        redactor,
        autostart: opts.autostart,
        skips: opts.skips.clone(),
        state_dir: opts.state_dir.clone(),
        team: team.clone(),
        pins: runbook
            .environments
            .iter()
            .filter_map(|e| Some((e.name.clone(), e.system_identifier.clone()?)))
            .collect(),
        notify: runbook.notify.clone(),
    };
    let targets = reach_targets(&plan, &setup.database).await?;
    if let Some(pin) = &env.system_identifier {
        check_pinned_cluster(&targets, &env.name, pin)?;
    }
    let (tx, rx) = mpsc::channel(UPDATES_QUEUED);
    if opts.take_over && team.is_none() {
        return Err(LaunchError::Usage(
            "--take-over takes over a team session's driver: give its journal database with --journal".into(),
        ));
    }

    let (journal, state, journal_path, resumed, unfinished) = match &opts.resume {
        Some(id) => {
            let path = store::resolve_session(&opts.state_dir, id)?;
            let team::Reopened {
                journal,
                read,
                taken_over_from,
            } = team::open_append(&path, team.as_ref(), &operator, opts.take_over)?;
            warnings.extend(read.warnings.iter().cloned());
            let state = SessionState::from_records(&read.records)
                .map_err(|e| LaunchError::Usage(format!("{}: {e}", path.display())))?;
            check_resumable(&state, &runbook, env, opts)?;
            check_kept_where_it_was(&state, team.as_ref())?;
            check_nothing_left_running(&state)?;
            let changed = state.header.runbook_sha256 != runbook.content_hash;
            let new_plan = (changed || state.plan != shown_plan).then(|| Box::new(shown_plan.clone()));
            let new_targets = changed_targets(&state, targets, opts.allow_changed_target)?;
            let mut journal = journal;
            let mut state = state;
            let reopen = Reopen {
                operator: &operator,
                sha: &runbook.content_hash,
                plan: new_plan,
                targets: new_targets,
                run: opts.autostart,
                taken_over_from,
            };
            for event in resume_events(&state, reopen) {
                let record = journal.append(event)?;
                state.apply(&record);
            }
            (journal, state, path, true, Vec::new())
        }
        None => {
            check_confirmed_in_advance(env, &plan, opts)?;
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
                seat: Some(crate::seat::Seat::here()),
                runsheet_version: env!("CARGO_PKG_VERSION").to_string(),
                only: opts.only.clone(),
                rollback_only: opts.rollback_only,
                plan: shown_plan,
                targets,
                team_journal: team.as_ref().map(JournalDb::target),
            };
            let path = journal_path(&opts.state_dir, &header.session_id);
            let journal = team::create(&opts.state_dir, header, team.as_ref(), &operator)?;
            let read = read_journal(&path)?;
            let state = SessionState::from_records(&read.records)
                .map_err(|e| LaunchError::Usage(format!("{}: {e}", path.display())))?;
            (journal, state, path, false, unfinished)
        }
    };
    let (path, next_after) = path_to_production(&runbook, opts, &state, team.as_ref());
    // The engine runs the real plan; the journal and the front ends hold the redacted copy.
    let mut engine_state = state.clone();
    engine_state.plan = plan;
    let told = tx.downgrade();
    let engine = Engine::new(journal, engine_state, setup, tx);
    let (inbox, inbox_rx) = Inbox::channel(Origin::here(&operator));
    // Attached terminals' commands reach the same inbox through the journal database.
    if let Some(db) = team {
        let consumer = team::inbox::Consumer {
            db,
            session: state.header.session_id.clone(),
            allows: state.plan.attach.clone(),
            engine: inbox.remote(),
            updates: told,
            driving: Default::default(),
        };
        tokio::spawn(consumer.run());
    }
    Ok(Launched {
        engine,
        updates: rx,
        inbox,
        inbox_rx,
        state,
        journal_path,
        resumed,
        warnings,
        unfinished,
        path,
        next_after,
        runbook,
    })
}

/// The promotion board's path line for the session `state` opened, with
/// what is missing before it, when its environment is on a gated path; and
/// what comes next once it ends well.
fn path_to_production(
    runbook: &Runbook,
    opts: &RunOptions,
    state: &SessionState,
    team: Option<&crate::journal::postgres::JournalDb>,
) -> (Option<String>, Option<String>) {
    // Without a promotion path there is nothing to show, and no journal to read.
    let promoted = runbook
        .environments
        .iter()
        .any(|e| !e.requires.is_empty() || e.requires_rollback_test.is_some());
    if !promoted {
        return (None, None);
    }
    let Ok(mut list) = store::list_sessions(&opts.state_dir) else {
        return (None, None);
    };
    // The gate step itself says so if the team journal cannot be read.
    if let Some(db) = team {
        let _ = crate::gates::with_team_journal(&mut list, db, &runbook.content_hash);
    }
    let environment = state.header.environment.as_str();
    let board = crate::gates::Board::new(runbook, &opts.runbook.display().to_string(), &list);
    let whole = state.header.mode == Mode::Live && state.header.only.is_none();
    let next = whole
        .then(|| board.after(environment, state.header.rollback_only))
        .flatten()
        .map(|(what, command)| format!("next: {what}: {command}"));
    if !board.is_gated(environment) {
        return (None, next);
    }
    let mut line = board.path_line(environment);
    let before = board
        .environments
        .iter()
        .take_while(|e| e.environment != environment)
        .find_map(|e| e.missing.first());
    if let Some((what, command)) = before {
        line.push_str(&format!("; missing first: {what} ({command})"));
    }
    (Some(line), next)
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

/// A new headless session of an environment with `confirm = true` whose
/// plan changes anything starts only when `--confirm-env` names it: nobody
/// is there to type it, and a run that silently became headless must not
/// begin on production. (A plan of checks only, `--only verify`, needs none.)
fn check_confirmed_in_advance(env: &Environment, plan: &Plan, opts: &RunOptions) -> Result<(), LaunchError> {
    if !opts.headless || !env.confirm || !plan.steps().any(|s| s.changes_state()) {
        return Ok(());
    }
    match opts.confirm_env.as_deref() {
        Some(typed) if crate::session::rules::names_environment(typed, &env.name) => Ok(()),
        Some(typed) => Err(LaunchError::Usage(format!(
            "--confirm-env {typed:?} is not the environment name {:?}; no session was started",
            env.name
        ))),
        None => Err(LaunchError::Usage(format!(
            "{0} needs typed confirmation: a new headless session of {0} starts only with --confirm-env {0}; no session was started",
            env.name
        ))),
    }
}

/// Refuse to resume a session that ended, belongs elsewhere, or whose runbook changed.
/// A team session is resumed with its journal database: resumed on the
/// local file alone, what it does from then on would be missing from the
/// team's copy (and no driver lock would be held).
fn check_kept_where_it_was(state: &SessionState, team: Option<&JournalDb>) -> Result<(), LaunchError> {
    match (&state.header.team_journal, team) {
        (Some(kept_in), None) => Err(LaunchError::Usage(format!(
            "session {} is a team session kept in the journal database {kept_in}: resume it with --journal URL \
             (or RUNSHEET_JOURNAL_URL), so the team's copy stays whole and one driver holds it",
            state.header.session_id
        ))),
        _ => Ok(()),
    }
}

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

/// Teach the redactor every secret the session's environment holds before
/// anything is journaled: the database's password (as the driver parses its
/// connection string), `PGPASSWORD` whichever way the database is given,
/// and the password literals of the plan's SQL.
fn learn_secrets(
    redactor: &mut Redactor,
    database: &DatabaseSource,
    values: &[(String, String)],
    plan: &Plan,
) {
    if let Ok(config) = crate::connect::resolve(database)
        && let Some(password) = config.get_password()
    {
        redactor.add(&String::from_utf8_lossy(password));
    }
    if let DatabaseSource::Url(source) = database
        && let Ok(url) = source.resolve()
    {
        redactor.add_connection_password(&url);
    }
    let given = values
        .iter()
        .find(|(k, _)| k == "PGPASSWORD")
        .map(|(_, v)| v.clone());
    if let Some(password) = given.or_else(|| std::env::var("PGPASSWORD").ok()) {
        redactor.add(&password);
    }
    for step in plan.steps().chain(plan.rollback.iter()) {
        if let StepKind::Sql { sql } = &step.kind {
            redactor.add_sql_passwords(sql);
        }
    }
}

/// `plan` with every text a step shows or runs redacted, for the journal.
fn redacted_plan(redactor: &Redactor, plan: &Plan) -> Plan {
    let text = |s: &str| redactor.redact(s).into_owned();
    let step = |s: &Step| Step {
        title: text(&s.title),
        body: text(&s.body),
        kind: match &s.kind {
            StepKind::Shell { script } => StepKind::Shell { script: text(script) },
            StepKind::Sql { sql } => StepKind::Sql { sql: text(sql) },
            other => other.clone(),
        },
        expected: s.expected.as_deref().map(text),
        notes: s
            .notes
            .iter()
            .map(|n| Note {
                title: text(&n.title),
                text: text(&n.text),
                ..n.clone()
            })
            .collect(),
        ..s.clone()
    };
    let mut shown = plan.clone();
    for phase in &mut shown.phases {
        phase.steps = phase.steps.iter().map(step).collect();
    }
    shown.rollback = shown.rollback.iter().map(step).collect();
    shown
}

/// Refuse decisions given in advance for steps this run does not have: a
/// typo would otherwise be ignored and the step run after all.
fn check_named_steps(
    plan: &Plan,
    named: &[(&'static str, String)],
    runbook: &Path,
) -> Result<(), LaunchError> {
    let unknown: Vec<String> = named
        .iter()
        .filter(|(flag, step)| {
            let every = step == "all" && matches!(*flag, "--approve" | "--retry");
            let holds = step == crate::session::rules::HOLD && *flag == "--approve";
            !every && !holds && plan.step(step).is_none()
        })
        .map(|(flag, step)| format!("{flag} {step}"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(LaunchError::Usage(format!(
        "{} {} no step of this run; `runsheet check {}` lists the step ids",
        unknown.join(", "),
        if unknown.len() == 1 { "names" } else { "name" },
        runbook.display()
    )))
}

/// How long a resume waits for what an earlier runsheet of the session
/// left running to end by itself (a SIGKILLed runsheet's last step) before
/// it refuses.
const LEFTOVER_GRACE: Duration = Duration::from_secs(5);

/// Refuse to resume while a process of an earlier attempt may still be
/// running: its journaled process group, or anything carrying the
/// session's id in its environment. Nothing may run twice at once.
fn check_nothing_left_running(state: &SessionState) -> Result<(), LaunchError> {
    let id = &state.header.session_id;
    let unfinished: Vec<(&String, u32, i32)> = state
        .steps
        .iter()
        .filter_map(|(step, s)| {
            let last = s.attempts.last()?;
            Some((step, last.number, last.pgid?)).filter(|_| last.outcome.is_none())
        })
        .collect();
    // What is still alive: a description and its process group.
    let left = || {
        let mut still: Vec<(String, i32)> = unfinished
            .iter()
            .filter(|(_, _, pgid)| group::has_live_members(*pgid))
            .map(|(step, attempt, pgid)| {
                (
                    format!("step {step} (attempt {attempt}) in process group {pgid}"),
                    *pgid,
                )
            })
            .collect();
        for (pid, pgid) in group::session_processes(id) {
            if !still.iter().any(|(_, p)| *p == pgid) {
                still.push((format!("process {pid} (group {pgid})"), pgid));
            }
        }
        still
    };
    let deadline = Instant::now() + LEFTOVER_GRACE;
    loop {
        let still = left();
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let pgids: BTreeSet<String> = still.iter().map(|(_, p)| format!("-{p}")).collect();
            let kill = pgids.into_iter().collect::<Vec<_>>().join(" ");
            let still: Vec<String> = still.into_iter().map(|(what, _)| what).collect();
            return Err(LaunchError::Usage(format!(
                "session {id} cannot be resumed yet: an earlier attempt may still be running ({}); \
                 wait for it to end, or stop it with `kill -TERM -- {kill}`, then resume again",
                still.join(", ")
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The databases reached now, when they differ from the session's and the
/// operator allowed it; a refusal naming both when not allowed. A session
/// recorded before targets were has nothing to compare with.
fn changed_targets(
    state: &SessionState,
    now: Vec<Target>,
    allowed: bool,
) -> Result<Option<Vec<Target>>, LaunchError> {
    let before = &state.targets;
    let same = before.len() == now.len() && before.iter().zip(&now).all(|(a, b)| a.same_as(b));
    if before.is_empty() || same {
        return Ok(None);
    }
    if allowed {
        return Ok(Some(now));
    }
    let list = |targets: &[Target]| {
        if targets.is_empty() {
            "no database".to_string()
        } else {
            targets
                .iter()
                .map(Target::describe)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    Err(LaunchError::Database(format!(
        "session {} ran against {}, but the database reached now is {}; point the session at its own \
         database and resume again, or resume with --allow-changed-target if the change is intended",
        state.header.session_id,
        list(before),
        list(&now)
    )))
}

/// What a resume records about itself.
struct Reopen<'a> {
    operator: &'a str,
    sha: &'a str,
    /// The runbook changed and the operator allowed it.
    plan: Option<Box<Plan>>,
    /// The databases changed and the operator allowed it.
    targets: Option<Vec<Target>>,
    /// Run on at once (headless).
    run: bool,
    taken_over_from: Option<Box<Holder>>,
}

/// The events that reopen a session: `Resumed`, then every step that was
/// running at the stop marked interrupted (it never re-runs by itself).
fn resume_events(state: &SessionState, reopen: Reopen<'_>) -> Vec<Event> {
    let mut events = vec![Event::Resumed {
        operator: reopen.operator.to_string(),
        host: crate::seat::host_name(),
        seat: Some(crate::seat::Seat::here()),
        runbook_sha256: reopen.sha.to_string(),
        plan: reopen.plan,
        run: reopen.run,
        targets: reopen.targets,
        taken_over_from: reopen.taken_over_from,
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
