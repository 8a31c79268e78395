//! Command-line interface: argument parsing and dispatch only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::{self, CliError};
use crate::frontend::{self, Drive};
use crate::headless::Decisions;
use crate::journal::event::Event;
use crate::journal::reader::{Integrity, JournalStream};
use crate::journal::store;
use crate::launch::RunOptions;
use crate::runbook::check;
use crate::runbook::loader::LoadOptions;
use crate::text;

/// A full-screen terminal runbook runner: Markdown deployment plans become
/// live, journaled checklists.
#[derive(Debug, Parser)]
#[command(name = "runsheet", version, about, long_about = None)]
pub struct Cli {
    /// Where session journals live (default: the platform's data directory).
    #[arg(long, global = true, env = "RUNSHEET_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: CommandLine,
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the `Run` variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum CommandLine {
    /// Run a runbook for one environment: the live checklist, or plain lines with --headless.
    Run(RunArgs),
    /// Validate a runbook and print its outline.
    Check {
        /// The runbook (Markdown).
        runbook: PathBuf,
        /// Let `{file=…}` read files outside the runbook's folder.
        #[arg(long)]
        allow_outside_files: bool,
    },
    /// List saved sessions (with --journal: the team journal's, then this machine's).
    Sessions {
        /// List the sessions of this team journal database (`postgres://…`) first.
        #[arg(long, env = "RUNSHEET_JOURNAL_URL", value_name = "URL")]
        journal: Option<String>,
    },
    /// The promotion board of a runbook: each environment, the sessions that
    /// count, what is missing and the command to run next.
    Status {
        /// The runbook (Markdown).
        runbook: PathBuf,
        /// Count the sessions of this team journal database (`postgres://…`)
        /// too (else the runbook's front-matter `journal`).
        #[arg(long, env = "RUNSHEET_JOURNAL_URL", value_name = "URL")]
        journal: Option<String>,
    },
    /// Check a session journal's integrity (its hash chain).
    Verify {
        /// A session id (or unique prefix) from `runsheet sessions`, or a journal path.
        session: String,
        /// Verify the session as stored in this team journal database
        /// (`postgres://…`) instead; a journal path is still verified as a file.
        #[arg(long, env = "RUNSHEET_JOURNAL_URL", value_name = "URL")]
        journal: Option<String>,
    },
    /// Create the demo databases and open the development checklist of the CryoProtect runbook.
    Demo(crate::demo::DemoArgs),
    /// Write the audit report of a session, or with --deployment of a whole deployment (Markdown, HTML or JSON).
    Report(crate::report::ReportArgs),
    /// Follow a team session's live checklist read-only, from the team journal (event lines without a terminal).
    Watch(crate::watch::WatchArgs),
    /// Open a session's live checklist with the right to sign manual steps, add notes and, where the runbook allows,
    /// pause or abort: over the control socket of its driver when that runs on this machine (which also lets
    /// it drive once the driver's terminal is gone), else a team session's through its journal database.
    Attach(crate::watch::AttachArgs),
    /// Replay a saved session read-only: the live screen, driven by a timeline.
    Replay {
        /// A session id (or unique prefix) from `runsheet sessions`, or a journal path.
        session: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The runbook (Markdown).
    pub runbook: PathBuf,
    /// The environment to run (a name or alias from the runbook).
    #[arg(long, short)]
    pub env: Option<String>,
    /// Roll back every SQL transaction; the session never counts as evidence.
    #[arg(long)]
    pub dry_run: bool,
    /// Plain progress lines instead of the full-screen checklist.
    #[arg(long)]
    pub headless: bool,
    /// Continue an unfinished session (id, unique prefix or journal path).
    #[arg(long, value_name = "SESSION")]
    pub resume: Option<String>,
    /// Start a new session without offering to continue an unfinished one.
    #[arg(long, conflicts_with = "resume")]
    pub new: bool,
    /// Resume even though the runbook changed since the session started.
    #[arg(long)]
    pub allow_changed_runbook: bool,
    /// Resume even though the database reached now is another one than the
    /// session's (another server, cluster or database); the change is journaled.
    #[arg(long)]
    pub allow_changed_target: bool,
    /// Let `{file=…}` read files outside the runbook's folder (only for runbooks you trust).
    #[arg(long)]
    pub allow_outside_files: bool,
    /// Who runs the session (repeat to name co-signers for pre-approvals).
    #[arg(long, value_name = "NAME")]
    pub operator: Vec<String>,
    /// Run part of the plan: `verify`, `phase:N` or `step:ID`.
    #[arg(long, value_name = "FILTER")]
    pub only: Option<String>,
    /// Headless: sign this manual step in advance (repeatable; `all` for every
    /// one and every phase hold; `hold` to go on past phase holds; a `{verify}`
    /// step's id to go on past the hold after it).
    #[arg(long, value_name = "STEP")]
    pub approve: Vec<String>,
    /// Headless: re-run this failed or interrupted step (repeatable; `all`).
    #[arg(long, value_name = "STEP")]
    pub retry: Vec<String>,
    /// Headless: skip this step, with a reason: `--skip STEP=REASON` (repeatable).
    #[arg(long, value_name = "STEP=REASON")]
    pub skip: Vec<String>,
    /// Headless: override a failed gate, with the reason: `--override STEP=REASON` (repeatable).
    #[arg(long = "override", value_name = "STEP=REASON")]
    pub overrides: Vec<String>,
    /// Headless: the environment name, typed in advance for the production guard.
    #[arg(long, value_name = "ENV")]
    pub confirm_env: Option<String>,
    /// Headless: run the Rollback section instead of the plan, `--rollback="REASON"`
    /// (of a new session, or of a resumed one that failed or stopped).
    #[arg(long, value_name = "REASON", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub rollback: Option<String>,
    /// The team journal database (`postgres://…`): the session is shared there, one driver at a time.
    #[arg(long, env = "RUNSHEET_JOURNAL_URL", value_name = "URL")]
    pub journal: Option<String>,
    /// With --resume: take the session over from a driver whose connection to the journal is gone.
    #[arg(long, requires = "resume")]
    pub take_over: bool,
}

/// Parse the command line and run; errors become one clear line and an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let state_dir = cli.state_dir.as_deref();
    let result = match cli.command {
        CommandLine::Check {
            runbook,
            allow_outside_files,
        } => Ok(check::run_with(
            &runbook,
            LoadOptions { allow_outside_files },
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )),
        CommandLine::Run(args) => run(state_dir, args),
        CommandLine::Sessions { journal: Some(url) } => team_and_local_sessions(state_dir, &url),
        CommandLine::Sessions { journal: None } => sessions(state_dir),
        CommandLine::Status { runbook, journal } => status(state_dir, &runbook, journal.as_deref()),
        CommandLine::Verify { session, journal } => match journal.filter(|u| !u.trim().is_empty()) {
            Some(url) if !Path::new(&session).is_file() => verify_in_team_journal(&url, &session),
            _ => verify(state_dir, &session),
        },
        CommandLine::Demo(args) => crate::demo::run(state_dir, args),
        CommandLine::Report(args) => crate::report::run(state_dir, args),
        CommandLine::Watch(args) => crate::watch::main(args),
        CommandLine::Attach(args) => {
            let team = args.journal.as_deref().is_some_and(|url| !url.trim().is_empty());
            // The session's driver on this machine: over its control socket,
            // journal database or not; from elsewhere, through the journal.
            if team && crate::control::local_driver(state_dir, &args.session).is_none() {
                crate::watch::attach(args)
            } else {
                crate::control::client::main(state_dir, &args.session, &args.operator)
            }
        }
        CommandLine::Replay { session } => crate::replay::main(state_dir, &session).map(|()| exit::OK),
    };
    // The last notifications (a session's end) go out before the process does.
    crate::notify::finish();
    ExitCode::from(result.unwrap_or_else(|e| e.report()))
}

/// `runsheet run`.
fn run(state_dir_arg: Option<&Path>, args: RunArgs) -> Result<u8, CliError> {
    if let Some(blank) = args.operator.iter().find(|o| o.trim().is_empty()) {
        return Err(CliError::usage(format!(
            "--operator {blank:?} names nobody; give the name of the person running the session"
        )));
    }
    let state_dir = store::state_dir(state_dir_arg)?;
    let decisions = Decisions {
        approve: args.approve.into_iter().collect::<BTreeSet<_>>(),
        retry: args.retry.into_iter().collect(),
        skip: with_reasons("--skip", &args.skip)?,
        overrides: with_reasons("--override", &args.overrides)?,
        confirm_env: args.confirm_env,
        rollback: args.rollback.map(|reason| match reason.trim() {
            "" => "requested on the command line (--rollback)".to_string(),
            why => why.to_string(),
        }),
        operators: args.operator.clone(),
    };
    let opts = RunOptions {
        runbook: args.runbook,
        env: args.env,
        dry_run: args.dry_run,
        resume: args.resume,
        allow_changed_runbook: args.allow_changed_runbook,
        allow_changed_target: args.allow_changed_target,
        operators: args.operator,
        only: args.only,
        state_dir,
        allow_outside_files: args.allow_outside_files,
        journal: args.journal,
        take_over: args.take_over,
        ..RunOptions::default()
    };
    let how = Drive {
        headless: args.headless,
        new: args.new,
        decisions,
    };
    frontend::drive(opts, how)
}

/// Parse `STEP=REASON` arguments of a flag.
fn with_reasons(flag: &str, args: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for a in args {
        match a.split_once('=') {
            Some((step, reason)) if !step.trim().is_empty() && !reason.trim().is_empty() => {
                out.insert(step.trim().to_string(), reason.trim().to_string());
            }
            _ => {
                return Err(CliError::usage(format!(
                    "{flag} {a:?} needs a step and a reason: {flag} STEP=REASON"
                )));
            }
        }
    }
    Ok(out)
}

/// `runsheet sessions --journal URL`: the team journal's sessions, then the
/// state directory's (those of one person, and the local copies of team
/// sessions driven here), each under a line that says which.
fn team_and_local_sessions(state_dir_arg: Option<&Path>, url: &str) -> Result<u8, CliError> {
    println!("Team journal:");
    crate::team::sessions(url)?;
    println!("\nThis machine's state directory:");
    sessions(state_dir_arg)
}

fn sessions(state_dir_arg: Option<&Path>) -> Result<u8, CliError> {
    let dir = store::state_dir(state_dir_arg)?;
    let list = store::list_sessions(&dir).map_err(|e| CliError::new(exit::JOURNAL, e))?;
    let mut out = std::io::stdout().lock();
    for bad in &list.unreadable {
        eprintln!("warning: {}: {}", bad.path.display(), bad.reason);
    }
    for s in &list.sessions {
        if let Some(why) = &s.cut_off {
            eprintln!("warning: {}: {why}", s.path.display());
        }
    }
    if list.sessions.is_empty() {
        let _ = writeln!(out, "no sessions in {}", dir.display());
        return Ok(exit::OK);
    }
    // Columns as wide as their widest value, so long names never shift the
    // table; padded by hand (a formatting width from data can panic) and
    // every value through the terminal sanitiser.
    let rows: Vec<[String; 8]> =
        list.sessions
            .iter()
            .map(|s| {
                [
                    s.id.clone(),
                    s.environment.clone(),
                    s.kind(),
                    s.operator.clone(),
                    s.started.format("%Y-%m-%d %H:%M:%S").to_string(),
                    match (&s.cut_off, s.outcome) {
                        (Some(_), _) => format!("{} CUT OFF", s.outcome.label()),
                        // A driver holds it: say what it is doing (without a terminal, perhaps).
                        (None, store::SessionStatus::Unfinished) => crate::control::live_driver(&s.path)
                            .unwrap_or_else(|| s.outcome.label().to_string()),
                        (None, _) => s.outcome.label().to_string(),
                    },
                    s.target_label(),
                    s.runbook_path.clone(),
                ]
                .map(|v| text::sanitize(&v))
            })
            .collect();
    let titles = [
        "ID",
        "ENV",
        "KIND",
        "OPERATOR",
        "STARTED (UTC)",
        "OUTCOME",
        "TARGET",
        "RUNBOOK",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..titles.len())
        .map(|i| {
            rows.iter()
                .map(|r| text::width(&r[i]))
                .chain([text::width(&titles[i]), [22, 0, 0, 0, 19, 15, 0, 0][i]])
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&titles).chain(rows.iter()) {
        let mut line = String::new();
        for (i, value) in row.iter().enumerate() {
            line.push_str(value);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i].saturating_sub(text::width(value)) + 1));
            }
        }
        let _ = writeln!(out, "{line}");
    }
    Ok(exit::OK)
}

/// `runsheet status RUNBOOK`: the promotion board, from the state
/// directory's sessions and the team journal's when there is one.
fn status(state_dir_arg: Option<&Path>, runbook: &Path, journal: Option<&str>) -> Result<u8, CliError> {
    let dir = store::state_dir(state_dir_arg)?;
    let (loaded, _warnings) = crate::launch::load_runbook(runbook)?;
    let mut list = store::list_sessions(&dir).map_err(|e| CliError::new(exit::JOURNAL, e))?;
    for bad in &list.unreadable {
        eprintln!("warning: {}: {}", bad.path.display(), bad.reason);
    }
    let team = crate::team::journal_db(journal.or(loaded.journal.as_deref()))?;
    if let Some(db) = &team {
        crate::gates::with_team_journal(&mut list, db, &loaded.content_hash)
            .map_err(|e| crate::team::cli_error(e).during("status"))?;
    }
    let board = crate::gates::Board::new(&loaded, &runbook.display().to_string(), &list);
    let _ = write!(std::io::stdout().lock(), "{}", board.render());
    Ok(exit::OK)
}

fn verify(state_dir_arg: Option<&Path>, session: &str) -> Result<u8, CliError> {
    // A journal that is gone but anchored is a journal error, not bad input.
    let path = store::find_journal(state_dir_arg, session)?;
    // Streamed: one record at a time, so memory stays flat whatever the journal's size.
    let mut stream = JournalStream::open(&path).map_err(|e| CliError::new(exit::JOURNAL, e))?;
    let mut events = 0usize;
    let mut sealed = false;
    for record in stream.by_ref() {
        sealed = matches!(
            record.map_err(|e| CliError::new(exit::JOURNAL, e))?.event,
            Event::Seal { .. }
        );
        events += 1;
    }
    for w in stream.warnings() {
        eprintln!("warning: {}: {w}", path.display());
    }
    match stream.integrity() {
        Integrity::Verified => {
            println!(
                "{}: verified: {events} events, hash chain intact, {}",
                path.display(),
                seal_state(sealed)
            );
            Ok(exit::OK)
        }
        Integrity::Broken { line, reason } => {
            println!("{}:{line}: integrity broken: {reason}", path.display());
            Ok(exit::JOURNAL)
        }
    }
}

/// What `verify` says of a journal's seal.
fn seal_state(sealed: bool) -> &'static str {
    if sealed {
        "sealed"
    } else {
        "not sealed (the session has not ended, or an older runsheet wrote it)"
    }
}

/// `runsheet verify SESSION --journal URL`: the chain as the team journal
/// stores it, read a page at a time, with the file's rules, outputs and
/// exit codes; a bad record is named by its seq and its line in the local copy.
fn verify_in_team_journal(url: &str, session: &str) -> Result<u8, CliError> {
    let db = crate::journal::postgres::JournalDb::from_url(url).map_err(crate::team::cli_error)?;
    let (id, verdict) = crate::team::runtime()?.block_on(async {
        let id = crate::team::resolve_session(&db, session).await?;
        let conn = db.connect().await.map_err(crate::team::cli_error)?;
        let verdict = conn.verify(&id).await.map_err(crate::team::cli_error)?;
        Ok::<_, CliError>((id, verdict))
    })?;
    let place = format!("session {id} in the journal database {}", db.target());
    match verdict.integrity() {
        Integrity::Verified => {
            println!(
                "{place}: verified: {} events, hash chain intact, {}",
                verdict.events,
                seal_state(verdict.sealed)
            );
            Ok(exit::OK)
        }
        Integrity::Broken { line, reason } => {
            let seq = verdict.broken.map_or(0, |b| b.seq);
            println!("{place}: seq {seq} (line {line} of its local copy): integrity broken: {reason}");
            Ok(exit::JOURNAL)
        }
    }
}
