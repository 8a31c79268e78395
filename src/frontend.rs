//! Driving an opened session in its front end: the live checklist, or
//! headless lines where nobody watches (asked for, or stdout is not a
//! terminal). `runsheet run` and `runsheet demo` both come here with their
//! [`RunOptions`].

use std::io::IsTerminal;

use crate::control;
use crate::exit::CliError;
use crate::headless::{self, Decisions};
use crate::launch::{self, RunOptions};
use crate::signals::Signals;
use crate::ui;

/// How a session is driven, besides what opens it.
#[derive(Debug, Clone, Default)]
pub struct Drive {
    /// Plain progress lines instead of the checklist (also when stdout is not a terminal).
    pub headless: bool,
    /// Start a new session without offering to continue an unfinished one.
    pub new: bool,
    /// Decisions given in advance, for headless; its operators default to the session's.
    pub decisions: Decisions,
}

/// Open the session `opts` asks for and drive it to its end or its first
/// stop; the exit code.
pub fn drive(mut opts: RunOptions, how: Drive) -> Result<u8, CliError> {
    let headless = how.headless || !std::io::stdout().is_terminal();
    if headless && !how.headless {
        eprintln!(
            "runsheet: standard output is not a terminal, so this session runs headless \
             (plain lines; decisions only from flags such as --approve); pass --headless to say so"
        );
    }
    opts.headless = headless;
    opts.confirm_env = how.decisions.confirm_env.clone();
    // A rollback run starts nothing of the plan: the headless driver starts the rollback.
    opts.autostart = headless && how.decisions.rollback.is_none();
    opts.rollback_only = headless && how.decisions.rollback.is_some() && opts.resume.is_none();
    if headless {
        let d = &how.decisions;
        let named = [
            ("--approve", d.approve.iter().collect::<Vec<_>>()),
            ("--retry", d.retry.iter().collect()),
            ("--skip", d.skip.keys().collect()),
            ("--override", d.overrides.keys().collect()),
        ];
        opts.named_steps = named
            .into_iter()
            .flat_map(|(flag, ids)| ids.into_iter().map(move |id| (flag, id.clone())))
            .collect();
        opts.skips = d.skip.clone();
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))?;
    if !headless && opts.resume.is_none() && !how.new {
        opts.resume = offer_resume(&opts)?;
    }
    runtime.block_on(async {
        // Caught from before the session opens: no signal can leave a step behind.
        let signals = Signals::listen();
        let mut launched = launch::launch(&opts).await?;
        // Served for as long as this driver runs, whatever becomes of its terminal.
        let _control = serve_control(&mut launched);
        if !headless {
            let options = ui::UiOptions {
                operator: opts.operators.first().cloned(),
            };
            return Ok(ui::run(launched, options, signals).await);
        }
        let mut decisions = how.decisions;
        if decisions.operators.is_empty() {
            decisions.operators.push(launched.state.header.operator.clone());
        }
        Ok(headless::run(launched, decisions, signals, &mut std::io::stdout().lock()).await)
    })
}

/// Serve the session's control socket (see [`control`]): its clients get
/// every record the engine journals. Without one (a path too long for a
/// socket, a read-only directory) the session runs as before, said once.
fn serve_control(launched: &mut launch::Launched) -> Option<control::server::Server> {
    let (records, feed) = control::server::Feed::new();
    let session = launched.state.header.session_id.clone();
    let allows = launched.state.plan.attach.clone();
    match control::server::Server::start(
        &launched.journal_path,
        &session,
        feed,
        launched.inbox.remote(),
        allows,
    ) {
        Ok(server) => {
            launched.engine.feed_records_to(records);
            Some(server)
        }
        Err(e) => {
            eprintln!(
                "runsheet: warning: no control socket for session {session} ({e}): `runsheet attach` cannot reach it"
            );
            None
        }
    }
}

/// Before opening the checklist, offer to continue the latest unfinished
/// session of the same runbook and environment (the default answer is yes).
fn offer_resume(opts: &RunOptions) -> Result<Option<String>, CliError> {
    let Some(latest) = launch::resumable_for(opts)?.pop() else {
        return Ok(None);
    };
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(None);
    }
    eprint!(
        "An unfinished session {} of {} ({}, started {} by {}) can be continued.\nContinue it? [Y/n] ",
        latest.id,
        latest.environment,
        latest.outcome.label(),
        latest.started.format("%Y-%m-%d %H:%M UTC"),
        latest.operator
    );
    let mut answer = String::new();
    if stdin.read_line(&mut answer).is_err() {
        return Ok(None);
    }
    let no = matches!(answer.trim().to_ascii_lowercase().as_str(), "n" | "no");
    Ok((!no).then_some(latest.id))
}
