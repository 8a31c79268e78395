//! The headless front end: plain, greppable progress lines for CI and pipes.
//!
//! It drives the same engine as the TUI. Nobody is there to sign or decide,
//! so decisions must be given in advance on the command line (`--approve`,
//! `--retry`, `--skip`, `--confirm-env`); anything else stops the run, leaving
//! the session resumable, and says which flag would let it go on.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufWriter, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};
use tokio::sync::mpsc::error::TryRecvError;

use crate::engine::runner::EngineError;
use crate::exit;
use crate::journal::JournalError;
use crate::journal::event::{Event, Record, SessionOutcome, Signature};
use crate::launch::Launched;
use crate::seat::Seat;
use crate::session::{Command, Update, rules};
use crate::session::{Next, SessionState, StepStatus};
use crate::signals::{self, Caught, Signals};
use crate::text;

/// Decisions given in advance on the command line.
#[derive(Debug, Clone, Default)]
pub struct Decisions {
    /// Step ids that may be signed off unattended; `all` approves every manual step.
    pub approve: BTreeSet<String>,
    /// Failed or interrupted steps that may be re-run (`all` for any).
    pub retry: BTreeSet<String>,
    /// Steps to skip, with the reason.
    pub skip: BTreeMap<String, String>,
    /// Gates to override, with the reason (signed by the operator as an override).
    pub overrides: BTreeMap<String, String>,
    /// The environment name typed in advance for the production guard.
    pub confirm_env: Option<String>,
    /// Operators signing pre-approvals; the first is the session's operator.
    pub operators: Vec<String>,
    /// `--rollback`: run the Rollback section, with this reason, instead of the plan.
    pub rollback: Option<String>,
}

fn listed(set: &BTreeSet<String>, id: &str) -> bool {
    set.contains("all") || set.contains(id)
}

/// What the headless driver does about the state the session is in.
enum Act {
    Nothing,
    Send(Vec<Command>),
    /// Stop here; the message says how to go on.
    Stop(String),
}

/// Answer what the session waits for with the decisions given in advance,
/// as a person reading the screen would; where none applies, stop with the
/// flags that would ([`rules::headless_hint`]). Whether a decision is
/// allowed is the rules' to say: a refused one stops the run with the
/// refusal. Pre-approvals come from this one seat, so they count as one
/// sign-off of a step, whatever names `--operator` gives.
fn decide(state: &SessionState, d: &Decisions, retried: &BTreeSet<String>, seat: &Seat) -> Act {
    let operator = d
        .operators
        .first()
        .cloned()
        .unwrap_or_else(|| state.header.operator.clone());
    let stop = || Act::Stop(rules::headless_hint(state, seat).unwrap_or_default());
    match state.next() {
        Next::SignOff { step, needed, .. }
            if state.step(&step.id).status() == StepStatus::AwaitingSignOff =>
        {
            if let Some(reason) = d.skip.get(&step.id) {
                return Act::Send(vec![Command::Skip {
                    step: step.id.clone(),
                    who: operator,
                    reason: reason.clone(),
                }]);
            }
            if !listed(&d.approve, &step.id) {
                return stop();
            }
            if rules::seat_refusal(state, &step.id, seat).is_some() {
                return stop();
            }
            let signed = state.step(&step.id).signers();
            let Some(who) = d
                .operators
                .iter()
                .find(|name| !signed.iter().any(|n| rules::same_person(n, name)))
            else {
                return Act::Stop(format!(
                    "step {} needs {needed} distinct sign-offs and every --operator given has signed it; \
                     give --operator NAME of one who has not, from a seat that has not signed",
                    step.id
                ));
            };
            Act::Send(vec![Command::SignOff {
                step: step.id.clone(),
                signature: Signature {
                    who: who.clone(),
                    role: String::new(),
                    note: format!("pre-approved on the command line (--approve {})", step.id),
                    preapproved: true,
                    seat: Some(seat.clone()),
                },
            }])
        }
        Next::Decide(step) => {
            if let Some(reason) = d.overrides.get(&step.id) {
                Act::Send(vec![Command::Override {
                    step: step.id.clone(),
                    signature: Signature {
                        who: operator,
                        role: "override".to_string(),
                        note: reason.clone(),
                        preapproved: true,
                        seat: None,
                    },
                }])
            } else if let Some(reason) = d.skip.get(&step.id) {
                Act::Send(vec![Command::Skip {
                    step: step.id.clone(),
                    who: operator,
                    reason: reason.clone(),
                }])
            } else if listed(&d.retry, &step.id) && !retried.contains(&step.id) {
                Act::Send(vec![Command::Retry {
                    step: step.id.clone(),
                }])
            } else {
                stop()
            }
        }
        Next::Hold { after, .. } if listed(&d.approve, rules::HOLD) || d.approve.contains(&after.id) => {
            Act::Send(vec![Command::ReleaseHold {
                who: operator,
                preapproved: true,
            }])
        }
        Next::Hold { .. } => stop(),
        Next::Confirm(_) => match &d.confirm_env {
            Some(typed) => Act::Send(vec![Command::Confirm {
                who: operator,
                typed: typed.clone(),
            }]),
            None => stop(),
        },
        _ => Act::Nothing,
    }
}

/// `2026-12-01T09:30:00.250Z`, written directly: chrono's `format` parses
/// its pattern again every time it is displayed, once per line of a flood.
fn timestamp(ts: &DateTime<Utc>) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        ts.year(),
        ts.month(),
        ts.day(),
        ts.hour(),
        ts.minute(),
        ts.second(),
        // A leap second shows as .1000 and more in chrono; keep three digits.
        (ts.nanosecond() / 1_000_000).min(999)
    )
}

/// One plain line per event; output events give one line per output line.
pub fn format_record(record: &Record, out: &mut dyn Write) -> std::io::Result<()> {
    let head = format!("{} {:>6}", timestamp(&record.ts), record.seq);
    // Everything from a step or a person passes the terminal sanitiser:
    // no escape sequence of theirs reaches the terminal or a CI log.
    let mut line = |kind: &str, rest: String| writeln!(out, "{head} {kind:<16} {}", text::sanitize(&rest));
    match &record.event {
        Event::Header(h) => line(
            "session",
            format!(
                "{} env={} mode={} operator={} runbook={} sha256={}",
                h.session_id,
                h.environment,
                h.mode.label(),
                h.operator,
                h.runbook_path,
                h.runbook_sha256
            ),
        ),
        Event::Resumed {
            operator,
            host,
            taken_over_from,
            ..
        } => line(
            "resumed",
            match taken_over_from {
                Some(from) => format!(
                    "operator={operator} host={host} taken-over-from={from:?}",
                    from = from.to_string()
                ),
                None => format!("operator={operator} host={host}"),
            },
        ),
        Event::Run { who } => line("run", format!("by={who:?}")),
        Event::Pause { who } => line("pause", format!("by={who:?}")),
        Event::StepInterrupted { step, attempt } => {
            line("step-interrupted", format!("{step} attempt={attempt}"))
        }
        Event::StepStarted { step, attempt } => line("step-started", format!("{step} attempt={attempt}")),
        Event::StepProcess { step, attempt, pgid } => {
            line("step-process", format!("{step} attempt={attempt} pgid={pgid}"))
        }
        Event::Output {
            step, stream, lines, ..
        } => {
            // The same start for every line of the batch, formatted once.
            let start = format!("{head} {:<16} {step} | ", stream.label());
            for text in lines {
                out.write_all(start.as_bytes())?;
                out.write_all(text::sanitized(text).as_bytes())?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Event::ShellState { step, attempt, state } => line(
            "shell-state",
            format!("{step} attempt={attempt} {}", state.summary()),
        ),
        Event::StepFinished {
            step,
            attempt,
            outcome,
            exit_code,
            duration_ms,
            error,
        } => {
            let mut rest = format!(
                "{step} attempt={attempt} outcome={}",
                outcome.label().replace(' ', "_")
            );
            if let Some(code) = exit_code {
                rest.push_str(&format!(" exit={code}"));
            }
            rest.push_str(&format!(" duration={:.3}s", *duration_ms as f64 / 1000.0));
            if let Some(e) = error {
                rest.push_str(&format!(" error={e:?}"));
            }
            line("step-finished", rest)
        }
        Event::Verification {
            step,
            name,
            passed,
            observed,
            ..
        } => line(
            "verification",
            format!(
                "{step} {} {name:?} observed={}",
                if *passed { "PASS" } else { "FAIL" },
                observed.summary(OBSERVED_ROWS)
            ),
        ),
        Event::AwaitingSignOff { step } => line("awaiting-signoff", step.clone()),
        Event::SignedOff { step, signature } => line(
            "signed-off",
            format!(
                "{step} by={:?} role={:?}{}",
                signature.who,
                signature.role,
                if signature.preapproved { " preapproved" } else { "" }
            ),
        ),
        Event::Skipped { step, who, reason } => {
            line("skipped", format!("{step} by={who:?} reason={reason:?}"))
        }
        Event::HoldReached { after, title } => line("hold", format!("after {after} {title:?}")),
        Event::HoldReleased {
            after,
            who,
            preapproved,
        } => line(
            "hold-released",
            format!(
                "after {after} by={who:?}{}",
                if *preapproved { " preapproved" } else { "" }
            ),
        ),
        Event::EnvironmentConfirmed { who } => line("env-confirmed", format!("by={who:?}")),
        Event::Note { who, text } => line("note", format!("by={who:?} {text:?}")),
        Event::RollbackStarted { who, reason } => {
            line("rollback-started", format!("by={who:?} reason={reason:?}"))
        }
        Event::RollbackFinished { outcome } => line("rollback-ended", outcome.label().to_string()),
        Event::Warning { code, message } => line("warning", format!("{code} {message}")),
        Event::Detached { who } => line("left-unfinished", format!("by={who:?}")),
        Event::DriverDetached { who, reason, .. } => {
            line("driver-detached", format!("by={who:?} reason={reason:?}"))
        }
        Event::DriverAttached { who, seat } => line(
            "driver-attached",
            format!("by={who:?} seat={:?}", seat.describe()),
        ),
        Event::Seal {
            sealed_seq,
            sealed_hash,
        } => line("sealed", format!("seq={sealed_seq} hash={sealed_hash}")),
        Event::SessionEnded { outcome, reason } => line(
            "session-ended",
            match reason {
                Some(r) => format!("{} reason={r:?}", outcome.label()),
                None => outcome.label().to_string(),
            },
        ),
    }
}

/// Rows of a check's result shown on its line.
const OBSERVED_ROWS: usize = 3;

/// Run the session to its end (or to the first thing that needs a person)
/// and return the process exit code.
///
/// SIGTERM or SIGINT (see [`crate::signals`]) detaches the session: the
/// running step's processes are stopped, the step is journaled interrupted
/// and the session left resumable; the exit code is then the signal's.
/// SIGHUP stops nothing: the driver journals that its terminal went away
/// and goes on with the decisions it was given, stopping (resumably) where
/// it would have anyway.
///
/// Lines go through one buffer, written out after each batch of output and
/// whenever no update waits, so a watcher sees them as they come without a
/// write per line.
pub async fn run(launched: Launched, decisions: Decisions, signals: Signals, out: &mut dyn Write) -> u8 {
    let mut out = BufWriter::with_capacity(OUT_BUFFER, out);
    let code = drive(launched, decisions, signals, &mut out).await;
    let _ = out.flush();
    code
}

/// Bytes of output buffered before they are written.
const OUT_BUFFER: usize = 64 * 1024;

async fn drive(launched: Launched, decisions: Decisions, mut signals: Signals, out: &mut dyn Write) -> u8 {
    let Launched {
        engine,
        mut updates,
        inbox: commands,
        inbox_rx: command_rx,
        mut state,
        journal_path,
        warnings,
        unfinished,
        path,
        next_after,
        ..
    } = launched;
    for w in &warnings {
        let _ = writeln!(out, "warning: {}", text::sanitize(w));
    }
    if let Some(path) = path {
        let _ = writeln!(out, "{path}");
    }
    if !unfinished.is_empty() {
        let _ = writeln!(
            out,
            "note: unfinished session(s) of this runbook and environment: {}; continue one with --resume ID",
            unfinished.join(", ")
        );
    }
    let _ = writeln!(out, "journal: {}", journal_path.display());
    for target in &state.targets {
        let _ = writeln!(out, "target: {}", target.describe());
    }
    let engine_task = tokio::spawn(engine.run(command_rx));
    let mut retried = BTreeSet::new();
    let mut signed = BTreeSet::new();
    let mut stopped: Option<String> = None;
    let mut signalled: Option<Caught> = None;
    // Where this driver sits, known before its terminal can go away.
    let seat = Seat::here();
    let mut last_key = None;
    if let Some(reason) = &decisions.rollback {
        // The engine was opened without starting the plan (see `cli::run`).
        let who = decisions
            .operators
            .first()
            .cloned()
            .unwrap_or_else(|| state.header.operator.clone());
        let first = match &state.rollback {
            None => Command::StartRollback {
                who,
                reason: reason.clone(),
            },
            Some(r) if r.finished.is_none() => Command::Run { who },
            Some(_) => {
                stopped = Some(format!(
                    "the Rollback section of session {} has already run",
                    state.header.session_id
                ));
                Command::Detach { who }
            }
        };
        let _ = commands.send(first).await;
    }
    loop {
        // Until a requested rollback has started, nothing of the plan is decided.
        let rollback_pending = decisions.rollback.is_some() && state.rollback.is_none();
        // Act on the state as it is, once per distinct situation.
        if stopped.is_none() && !rollback_pending {
            let key = situation(&state);
            if last_key.as_ref() != Some(&key) {
                last_key = Some(key);
                match decide(&state, &decisions, &retried, &seat) {
                    Act::Nothing => {}
                    Act::Send(cmds) => {
                        for cmd in cmds {
                            match &cmd {
                                Command::Retry { step } => {
                                    retried.insert(step.clone());
                                }
                                // The first of several sign-offs changes the situation
                                // before the others are folded in: send each only once.
                                Command::SignOff { step, signature }
                                    if !signed.insert((step.clone(), signature.who.clone())) =>
                                {
                                    continue;
                                }
                                _ => {}
                            }
                            let _ = commands.send(cmd).await;
                        }
                    }
                    Act::Stop(why) => {
                        stopped = Some(why);
                        let _ = commands
                            .send(Command::Detach {
                                who: state.header.operator.clone(),
                            })
                            .await;
                    }
                }
            }
        }
        // A signal is heard at once, even while a flood keeps the queue full.
        let update = match signals.try_recv() {
            Some(which) => Err(which),
            None => match updates.try_recv() {
                Ok(update) => Ok(Some(update)),
                Err(TryRecvError::Empty) => {
                    let _ = out.flush();
                    tokio::select! {
                        update = updates.recv() => Ok(update),
                        which = signals.recv() => Err(which),
                    }
                }
                Err(TryRecvError::Disconnected) => Ok(None),
            },
        };
        let update = match update {
            Ok(update) => update,
            Err(Caught::Hangup) => {
                let _ = writeln!(
                    out,
                    "SIGHUP received: the terminal is gone; the session goes on without it"
                );
                let _ = out.flush();
                signals::abandon_terminal();
                let _ = commands
                    .send(Command::DriverGone {
                        who: state.current_operator().to_string(),
                        reason: Caught::Hangup.received().to_string(),
                        seat: Some(seat.clone()),
                    })
                    .await;
                continue;
            }
            Err(which) => {
                let _ = writeln!(out, "{}: stopping the session (resumable)", which.received());
                if signalled.is_none() {
                    signalled = Some(which);
                    stopped.get_or_insert_with(|| which.received().to_string());
                    let who = state.header.operator.clone();
                    let _ = commands.send(Command::Detach { who }).await;
                }
                continue;
            }
        };
        match update {
            Some(Update::Record(record)) => {
                let _ = format_record(&record, out);
                if matches!(record.event, Event::Output { .. }) {
                    let _ = out.flush();
                }
                state.apply(&record);
            }
            // Nobody reads who else is connected on a log.
            Some(Update::Presence(_)) => {}
            Some(Update::Replica(status)) => {
                // Loud on both streams: a log reader and a watching person both see it.
                let notice = crate::team::replica_notice(&status);
                eprintln!("runsheet: {notice}");
                let _ = writeln!(out, "{notice}");
            }
            Some(Update::Refused(why)) => {
                // A decision given in advance was not accepted: nobody is here
                // to make another, so stop (resumable) and say why.
                let _ = writeln!(out, "refused: {}", text::sanitize(&why.to_string()));
                if stopped.is_none() {
                    stopped = Some(why.to_string());
                    let _ = commands
                        .send(Command::Detach {
                            who: state.header.operator.clone(),
                        })
                        .await;
                }
            }
            None => break,
        }
    }
    let _ = out.flush();
    match engine_task.await {
        Ok(Ok(_)) => {}
        // Errors go to stderr, where a pipeline's reader looks for them.
        Ok(Err(EngineError::Journal(e @ JournalError::Tampered { .. }))) => {
            eprintln!("runsheet: {}", text::sanitize(&e.to_string()));
            return exit::JOURNAL;
        }
        Ok(Err(e)) => {
            let resume = rules::resume_command(&state.header);
            eprintln!(
                "runsheet: {}; it can be resumed with: {resume} --headless",
                text::sanitize(&e.to_string())
            );
            return exit::JOURNAL;
        }
        Err(e) => {
            eprintln!(
                "runsheet: the engine stopped unexpectedly: {}",
                text::sanitize(&e.to_string())
            );
            return exit::JOURNAL;
        }
    }
    if let Some(which) = signalled
        && state.outcome.is_none()
    {
        // What the resumed session will wait for: resuming undoes the detach.
        let mut resumed = state.clone();
        resumed.detached = false;
        let next = rules::headless_hint(&resumed, &seat)
            .unwrap_or_else(|| format!("resume with: {} --headless", rules::resume_command(&state.header)));
        let _ = writeln!(
            out,
            "stopped: {}; the session is resumable; {next}",
            which.received()
        );
        return which.exit_code();
    }
    if let Some(why) = stopped {
        let _ = writeln!(out, "stopped: {}", text::sanitize(&why));
        return exit::INCOMPLETE;
    }
    let ended_well = match state.outcome {
        Some((SessionOutcome::Completed, _)) => true,
        // Ends so only when the requested Rollback section ran to completion.
        Some((SessionOutcome::RolledBack, _)) => decisions.rollback.is_some(),
        _ => false,
    };
    if !ended_well {
        return exit::INCOMPLETE;
    }
    let whole =
        state.outcome.is_some_and(|(o, _)| o == SessionOutcome::Completed) || state.header.rollback_only;
    if let Some(next) = next_after.filter(|_| whole) {
        let _ = writeln!(out, "{next}");
    }
    exit::OK
}

/// What identifies "the same situation" for acting once on it.
fn situation(state: &SessionState) -> (String, String, usize) {
    let (what, step) = match state.next() {
        Next::SignOff { step: s, .. } => ("signoff", s.id.clone()),
        Next::Decide(s) => ("decide", s.id.clone()),
        Next::Confirm(s) => ("confirm", s.id.clone()),
        Next::Hold { step: s, .. } => ("hold", s.id.clone()),
        Next::Start(s) | Next::Running(s) => ("run", s.id.clone()),
        Next::AllDone | Next::Ended => ("end", String::new()),
    };
    let st = state.step(&step);
    let progress = st.attempts().len() * 1000 + st.signers().len();
    (format!("{what}:{:?}", st.status()), step, progress)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn timestamps_read_as_chrono_would_write_them() {
        for (secs, nanos) in [(0, 0), (1_764_581_400, 250_000_000), (1_764_581_459, 999_999_999)] {
            let ts = Utc.timestamp_opt(secs, nanos).single().expect("a time");
            assert_eq!(timestamp(&ts), ts.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        }
    }
}
