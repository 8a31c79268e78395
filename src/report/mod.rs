//! `runsheet report`: the audit report of a session.
//!
//! [`Report`] is the one place that decides what a report says, and
//! [`layout`] the one place that decides how the two documents arrange it
//! (which rows, labels, sections, in which order); the [`markdown`], [`html`]
//! and [`json`] writers only spell it out. It is built
//! from nothing but the session's fold ([`SessionState`]) and what the
//! journal reader found about the hash chain, so a report can never disagree
//! with what the live run or a replay showed. Every text taken from the
//! journal passes through [`redact_connection_passwords`] once more: secrets
//! are masked before they reach the journal, and the report must not be the
//! place where one slips out (a hand-edited journal, an older runsheet).

pub mod deployment;
pub mod html;
pub mod json;
pub mod layout;
pub mod markdown;
pub mod svg;
pub mod timeline;

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::exit::{self, CliError};
use crate::journal::JournalError;
use crate::journal::event::{Mode, Observed, Outcome, SessionOutcome, Target};
use crate::journal::reader::{Integrity, JournalStream};
use crate::journal::store;
use crate::runbook::model::{Estimate, PhaseKind, Step, StepKind};
use crate::secrets::redact_connection_passwords;
use crate::session::{
    Attempt, HoldRelease, MissingHeader, Note, SessionState, StepState, StepStatus, VerificationResult,
};
use timeline::Timeline;

/// The output formats of `runsheet report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown (GitHub-flavoured tables).
    Md,
    /// One self-contained HTML page, printable.
    Html,
    /// JSON for other tools, documented in docs/report-json.md.
    Json,
}

/// `runsheet report` arguments: a session, or a whole deployment.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["session", "deployment"])))]
pub struct ReportArgs {
    /// A session id (or unique prefix) from `runsheet sessions`, or a journal path.
    pub session: Option<String>,
    /// Report on the whole deployment of RUNBOOK instead: every saved session
    /// of its current content, across environments, in promotion order.
    #[arg(long, value_name = "RUNBOOK")]
    pub deployment: Option<PathBuf>,
    /// The format [default: from the extension of --output (.html, .json), else md].
    #[arg(long, short, value_enum)]
    pub format: Option<Format>,
    /// Write the report to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl ReportArgs {
    /// The format asked for, else the one `-o`'s extension names, else Markdown.
    fn format(&self) -> Format {
        if let Some(format) = self.format {
            return format;
        }
        let ext = self
            .output
            .as_deref()
            .and_then(Path::extension)
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("html" | "htm") => Format::Html,
            Some("json") => Format::Json,
            _ => Format::Md,
        }
    }
}

/// `runsheet report`: 0 when written from an intact journal, 2 for a session
/// that cannot be found, 3 for a journal that cannot be read or whose chain
/// is broken (the report of what precedes the break is still written).
/// With `--deployment`: 0 when every journal of the deployment verified, 2
/// for a runbook that does not load, 3 when a journal is broken or unreadable
/// (the report, which says so, is still written).
pub fn run(state_dir_arg: Option<&Path>, args: ReportArgs) -> Result<u8, CliError> {
    let fail = |code: u8, message: String| CliError::new(code, message);
    let session = match (&args.session, &args.deployment) {
        (Some(session), _) => session,
        (None, Some(runbook)) => return deployment(state_dir_arg, runbook, &args),
        // clap requires one of them.
        (None, None) => return Err(CliError::usage("name a SESSION, or --deployment RUNBOOK")),
    };
    let path = store::find_journal(state_dir_arg, session)?;
    let (state, stream) = fold_journal(&path).map_err(|e| fail(exit::JOURNAL, e.to_string()))?;
    let state = match state {
        Ok(state) => state,
        Err(e) => {
            let why = match stream.integrity() {
                Integrity::Broken { line, reason } => format!("line {line}: {reason}"),
                Integrity::Verified => e.to_string(),
            };
            return Err(fail(
                exit::JOURNAL,
                format!(
                    "cannot report on {}: {why}; `runsheet verify` shows the details",
                    path.display()
                ),
            ));
        }
    };
    let report = Report::new(&state, stream.integrity(), stream.warnings());
    let text = match args.format() {
        Format::Md => markdown::render(&report),
        Format::Html => html::render(&report, no_color()),
        Format::Json => json::render(&report),
    };
    write_out(args.output.as_deref(), &text).map_err(CliError::usage)?;
    match stream.integrity() {
        Integrity::Verified => Ok(exit::OK),
        Integrity::Broken { line, reason } => Err(fail(
            exit::JOURNAL,
            format!(
                "{}:{line}: the journal's hash chain is broken: {reason}; the report covers only the lines before it",
                path.display()
            ),
        )),
    }
}

/// `runsheet report --deployment RUNBOOK`.
fn deployment(state_dir_arg: Option<&Path>, runbook: &Path, args: &ReportArgs) -> Result<u8, CliError> {
    let gathered = store::state_dir(state_dir_arg)
        .map_err(deployment::DeploymentError::from)
        .and_then(|dir| deployment::Deployment::gather(&dir, runbook));
    let d = match gathered {
        Ok(d) => d,
        Err(e @ deployment::DeploymentError::Runbook(_)) => return Err(CliError::usage(e)),
        Err(e) => return Err(CliError::new(exit::JOURNAL, e)),
    };
    let text = match args.format() {
        Format::Md => markdown::render_deployment(&d),
        Format::Html => html::render_deployment(&d, no_color()),
        Format::Json => json::render_deployment(&d),
    };
    write_out(args.output.as_deref(), &text).map_err(CliError::usage)?;
    if d.intact() {
        Ok(exit::OK)
    } else {
        Err(CliError::new(
            exit::JOURNAL,
            "a journal of this deployment is broken or unreadable; the report says which",
        ))
    }
}

/// Write a report to `output`, or to standard output.
fn write_out(output: Option<&Path>, text: &str) -> Result<(), String> {
    match output {
        Some(file) => {
            // Private like the journal it comes from: it holds log tails.
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(file)
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(|e| format!("cannot write {}: {e}", file.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                // A reader that stopped early (`| head`) is not an error.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(format!("cannot write the report: {e}"))
                }
                _ => Ok(()),
            }
        }
    }
}

/// `NO_COLOR` set and not empty (no-color.org): write the high-contrast form.
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Fold the journal while reading it, so memory stays bounded whatever its
/// size: the fold keeps a tail of each step's output, never the records. The
/// fold (or why there is none) and the ended stream, whose integrity and
/// warnings describe the whole journal.
fn fold_journal(path: &Path) -> Result<(Result<SessionState, MissingHeader>, JournalStream), JournalError> {
    let mut stream = JournalStream::open(path)?;
    let mut state = None;
    for record in stream.by_ref() {
        let record = record?;
        match &mut state {
            None => state = Some(SessionState::new(&record)),
            Some(Ok(state)) => state.apply(&record),
            Some(Err(MissingHeader)) => {}
        }
    }
    Ok((state.unwrap_or(Err(MissingHeader)), stream))
}

/// Everything a report says, decided once for every format.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub session: SessionInfo,
    pub integrity: IntegrityInfo,
    /// Gates and failed automated steps that a person signed off as done.
    pub overrides: Vec<Override>,
    /// Steps with at least one attempt that did not succeed, or that stopped the session.
    pub failures: Vec<Failure>,
    pub phases: Vec<PhaseReport>,
    /// Steps recorded in the journal that the plan in force no longer has
    /// (a resume allowed against a changed runbook): still shown, never lost.
    pub unplanned_steps: Vec<StepReport>,
    pub verifications: Vec<VerificationResult>,
    pub rollback: Option<RollbackReport>,
    pub notes: Vec<Note>,
    pub warnings: Vec<WarningReport>,
    /// All of the above in time: what the HTML draws and the Markdown sketches.
    pub timeline: Timeline,
}

/// The session header and how the session went overall.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    pub id: String,
    pub runbook_title: String,
    pub runbook_path: String,
    pub runbook_sha256: String,
    pub environment: String,
    pub mode: Mode,
    /// The `--only` filter, when the session ran part of the plan.
    pub only: Option<String>,
    /// What kind of session it is, as `runsheet sessions` names it: `live`,
    /// `dry run`, `rollback`, `partial (verify only)`, …
    pub kind: String,
    /// The operator who started it, then everyone who resumed it.
    pub operators: Vec<String>,
    pub host: String,
    pub runsheet_version: String,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    pub last_event: DateTime<Utc>,
    /// From the start to the end, or to the last event of an unfinished session.
    pub elapsed: Duration,
    pub estimate: Option<Estimate>,
    pub window: Option<String>,
    pub outcome: SessionEnd,
    /// Who typed the environment's name before the first change.
    pub confirmed_by: Option<String>,
    pub steps_done: usize,
    pub steps_total: usize,
    pub resumes: Vec<Note>,
    /// The databases the session ran against: the header's, then any an
    /// allowed resume (`--allow-changed-target`) reached instead.
    pub targets: Vec<TargetReport>,
    /// The holds after phases (`hold = "phase"`), in the order reached.
    pub holds: Vec<HoldReport>,
}

/// A hold after a phase: when it began, and who confirmed going on.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldReport {
    /// The finished phase's title.
    pub phase: String,
    pub reached: Option<DateTime<Utc>>,
    /// Who confirmed going on (the name cleaned for display).
    pub released: Option<HoldRelease>,
}

impl HoldReport {
    /// "after Phase 1: confirmed by bob at 10:05:00 UTC after 5m", or that it still waits.
    pub fn describe(&self) -> String {
        let waited = |to: DateTime<Utc>| {
            self.reached
                .and_then(|from| (to - from).to_std().ok())
                .map(|d| format!(" after {}", crate::text::duration(d)))
                .unwrap_or_default()
        };
        match &self.released {
            Some(r) => format!(
                "after {}: {} by {} at {}{}",
                self.phase,
                if r.preapproved {
                    "pre-approved on the command line"
                } else {
                    "confirmed"
                },
                r.who,
                time_label(r.at),
                waited(r.at)
            ),
            None => format!("after {}: still waiting for a confirmation to go on", self.phase),
        }
    }
}
/// A database the session ran against, and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport {
    /// The resume from which it applied; `None`: from the start.
    pub since: Option<DateTime<Utc>>,
    pub target: Target,
}

/// How the session ended, or that it did not.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEnd {
    Ended {
        outcome: SessionOutcome,
        reason: Option<String>,
    },
    /// The operator left it; it can be resumed.
    Detached,
    /// No end recorded: still running, or stopped by a crash.
    Unfinished,
    /// The journal's chain breaks before any end: what happened after is unknown.
    Unknown,
}

impl SessionEnd {
    /// The stable name used in JSON.
    pub fn slug(&self) -> String {
        match self {
            SessionEnd::Ended { outcome, .. } => json_name(outcome.label()),
            SessionEnd::Detached => "detached".to_string(),
            SessionEnd::Unfinished => "unfinished".to_string(),
            SessionEnd::Unknown => "unknown".to_string(),
        }
    }

    /// The outcome in words, with the recorded reason.
    pub fn describe(&self) -> String {
        match self {
            SessionEnd::Ended {
                outcome,
                reason: Some(reason),
            } => format!("{}: {reason}", outcome.label()),
            SessionEnd::Ended {
                outcome,
                reason: None,
            } => outcome.label().to_string(),
            SessionEnd::Detached => "left unfinished (the operator left; it can be resumed)".to_string(),
            SessionEnd::Unfinished => "unfinished (no end recorded: still running, or stopped)".to_string(),
            SessionEnd::Unknown => "unknown (the journal breaks before the session's end)".to_string(),
        }
    }

    pub fn tone(&self) -> Tone {
        match self {
            SessionEnd::Ended {
                outcome: SessionOutcome::Completed,
                ..
            } => Tone::Good,
            SessionEnd::Ended { .. } => Tone::Bad,
            SessionEnd::Detached | SessionEnd::Unfinished => Tone::Warn,
            SessionEnd::Unknown => Tone::Bad,
        }
    }
}

/// The stable JSON name of a step status, an attempt's or a session's
/// outcome: its label, with `_` for spaces and hyphens (`timed out` →
/// `timed_out`), so each name is written once, in its label. The names are
/// the value sets of docs/report-json.md; a unit test holds them to it.
pub fn json_name(label: &str) -> String {
    label.replace([' ', '-'], "_")
}

/// Whether the journal's hash chain held, and how much of it the report covers.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrityInfo {
    /// Journal lines the report is built from (all of them, or those before a break).
    pub events: usize,
    /// Line and reason of the first bad line, when the chain is broken.
    pub broken: Option<(usize, String)>,
}

impl IntegrityInfo {
    /// One sentence for the top of every format.
    pub fn describe(&self) -> String {
        match &self.broken {
            None => format!("verified: the hash chain is intact over {}", events(self.events)),
            Some((line, reason)) => format!(
                "BROKEN at line {line}: {reason}. This report shows only the {} before the break; \
                 what follows it cannot be trusted and is left out.",
                events(self.events)
            ),
        }
    }
}

fn events(n: usize) -> String {
    if n == 1 {
        "1 event".to_string()
    } else {
        format!("{n} events")
    }
}

/// How good or bad something is, for colour in HTML (always with words too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Warn,
    Neutral,
}

impl Tone {
    pub fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Bad => "bad",
            Tone::Warn => "warn",
            Tone::Neutral => "neutral",
        }
    }
}

/// A gate, or a failed or interrupted automated step, signed off as done.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub step: String,
    pub title: String,
    pub kind: &'static str,
    pub signoffs: Vec<SignOffReport>,
}

/// A step that failed at least once, and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub step: String,
    pub title: String,
    pub kind: &'static str,
    /// The step's status now.
    pub status: StepStatus,
    /// The attempts that did not succeed, each with its own output's tail.
    pub failed_attempts: Vec<Attempt>,
    /// What became of it, in words.
    pub resolution: String,
    /// All output lines the step wrote (the journal has them all).
    pub output_lines: u64,
}

/// One phase of the plan: its steps and planned against actual time.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseReport {
    pub title: String,
    pub kind: PhaseKind,
    /// The estimate's share for this phase's steps.
    pub planned: Option<Duration>,
    /// From the phase's first event to its latest.
    pub actual: Option<Duration>,
    /// The times of the phase's first and latest events.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub done: usize,
    pub steps: Vec<StepReport>,
    pub stats: GroupStats,
}

/// What a group of steps (a phase, the rollback) spent waiting on people
/// and how often it failed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GroupStats {
    /// Steps that waited for a sign-off.
    pub signoff_waits: usize,
    /// Their waits added up.
    pub waited: Duration,
    /// Attempts that did not succeed.
    pub failed_attempts: usize,
}

impl GroupStats {
    pub fn of(steps: &[StepReport]) -> GroupStats {
        let waits = steps.iter().filter_map(|s| s.wait.as_ref());
        GroupStats {
            signoff_waits: waits.clone().count(),
            waited: waits.map(SignOffWait::duration).sum(),
            failed_attempts: steps
                .iter()
                .flat_map(|s| &s.attempts)
                .filter(|a| attempt_failed(a))
                .count(),
        }
    }
}

/// An attempt that did not succeed: it failed, timed out, was cancelled or interrupted.
pub fn attempt_failed(a: &Attempt) -> bool {
    a.interrupted || a.outcome.is_some_and(|o| o != Outcome::Succeeded)
}

/// One step as the journal recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub status: StepStatus,
    /// A gate or automated step signed off by a person instead of succeeding.
    pub overridden: bool,
    pub attempts: Vec<Attempt>,
    pub signoffs: Vec<SignOffReport>,
    pub skip: Option<SkipReport>,
    /// Running time of all attempts; for a step without attempts (manual),
    /// from its first event to its last (e.g. waiting for sign-off).
    pub duration: Option<Duration>,
    pub output_lines: u64,
    /// How long a manual step waited for its sign-off.
    pub wait: Option<SignOffWait>,
}

/// A manual step's wait for its sign-off: from `awaiting_signoff` to the
/// signature that completed it (or the skip that ended it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignOffWait {
    pub from: DateTime<Utc>,
    /// When it ended; for a wait still open, the end of what the report covers.
    pub to: DateTime<Utc>,
    /// Still waiting where the report ends.
    pub open: bool,
}

impl SignOffWait {
    pub fn duration(&self) -> Duration {
        (self.to - self.from).to_std().unwrap_or_default()
    }
}

impl StepReport {
    /// The status in words: an overridden gate says so rather than "signed off".
    pub fn status_label(&self) -> &'static str {
        match (self.overridden, self.kind) {
            (true, "gate") => "overridden",
            (true, _) => "marked done",
            _ => self.status.label(),
        }
    }

    pub fn tone(&self) -> Tone {
        if self.overridden {
            return Tone::Warn;
        }
        match self.status {
            StepStatus::Succeeded | StepStatus::SignedOff => Tone::Good,
            s if s.needs_decision() => Tone::Bad,
            StepStatus::Skipped | StepStatus::AwaitingSignOff | StepStatus::Running => Tone::Warn,
            _ => Tone::Neutral,
        }
    }

    /// Exit codes of the attempts that have one, in order ("3, 0").
    pub fn exit_codes(&self) -> String {
        let codes: Vec<String> = self
            .attempts
            .iter()
            .filter_map(|a| a.exit_code.map(|c| c.to_string()))
            .collect();
        codes.join(", ")
    }
}

/// One signature on a step.
#[derive(Debug, Clone, PartialEq)]
pub struct SignOffReport {
    pub who: String,
    pub role: String,
    pub at: DateTime<Utc>,
    pub note: String,
    /// Given in advance on the command line, not signed in person.
    pub preapproved: bool,
    /// Where it was given from ("OS user alice on host db1, terminal /dev/pts/3"),
    /// when the journal records it.
    pub seat: Option<String>,
    /// An earlier signer of the same step who signed from the same seat:
    /// four-eyes that was one pair of eyes.
    pub same_seat_as: Option<String>,
}

impl SignOffReport {
    /// "alice (role dba), 2026-… UTC, pre-approved: note".
    pub fn describe(&self) -> String {
        let mut out = self.who.clone();
        if !self.role.is_empty() {
            out.push_str(&format!(" (role {})", self.role));
        }
        out.push_str(&format!(", {}", time_label(self.at)));
        if self.preapproved {
            out.push_str(", pre-approved");
        }
        if let Some(seat) = &self.seat {
            out.push_str(&format!(", from {seat}"));
        }
        if let Some(other) = &self.same_seat_as {
            out.push_str(&format!(", ⚠ same seat as {other} (same terminal, same OS user)"));
        }
        if !self.note.is_empty() {
            out.push_str(&format!(": {}", self.note));
        }
        out
    }
}

/// The report's rows of a step's sign-offs, each marked when an earlier
/// sign-off of the step came from the same seat.
fn signoff_reports(signoffs: &[crate::session::SignOff]) -> Vec<SignOffReport> {
    signoffs
        .iter()
        .enumerate()
        .map(|(i, s)| SignOffReport {
            who: clean(&s.signature.who),
            role: clean(&s.signature.role),
            at: s.at,
            note: clean(&s.signature.note),
            preapproved: s.signature.preapproved,
            seat: s.signature.seat.as_ref().map(|seat| clean(&seat.describe())),
            same_seat_as: s.signature.seat.as_ref().and_then(|seat| {
                signoffs[..i]
                    .iter()
                    .find(|earlier| {
                        earlier
                            .signature
                            .seat
                            .as_ref()
                            .is_some_and(|at| crate::session::rules::same_seat(at, seat))
                    })
                    .map(|earlier| clean(&earlier.signature.who))
            }),
        })
        .collect()
}

/// A skip with who decided it and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipReport {
    pub who: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

impl SkipReport {
    pub fn describe(&self) -> String {
        format!(
            "skipped by {}, {}: {}",
            self.who,
            time_label(self.at),
            self.reason
        )
    }
}

/// The rollback, when one was started.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackReport {
    pub started: DateTime<Utc>,
    pub who: String,
    pub reason: String,
    pub finished: Option<DateTime<Utc>>,
    pub outcome: Option<SessionOutcome>,
    pub steps: Vec<StepReport>,
}

impl RollbackReport {
    /// "started by …, …; finished …: completed. Reason: …".
    pub fn describe(&self) -> String {
        let end = match (self.finished, self.outcome) {
            (Some(at), Some(outcome)) => format!("finished {}: {}", time_label(at), outcome.label()),
            _ => "not finished".to_string(),
        };
        format!(
            "started by {}, {}; {end}. Reason: {}",
            self.who,
            time_label(self.started),
            self.reason
        )
    }
}

/// A warning raised during the session, or found reading its journal.
#[derive(Debug, Clone, PartialEq)]
pub struct WarningReport {
    /// When it was raised; none for what the reader found (a torn last line).
    pub at: Option<DateTime<Utc>>,
    /// The session's warning code (e.g. `estimate-exceeded`), or `journal`.
    pub code: String,
    pub message: String,
}

/// Text from the journal, with any connection password masked once more.
/// The header's targets, then those of each resume that changed them.
fn target_reports(state: &SessionState) -> Vec<TargetReport> {
    let cleaned = |t: &Target| Target {
        host: clean(&t.host),
        database: clean(&t.database),
        user: clean(&t.user),
        server_version: clean(&t.server_version),
        system_identifier: t.system_identifier.as_deref().map(clean),
        port: t.port,
    };
    let first = state.header.targets.iter().map(|t| TargetReport {
        since: None,
        target: cleaned(t),
    });
    let changed = state.resumes.iter().flat_map(|r| {
        r.changed_targets.iter().flatten().map(move |t| TargetReport {
            since: Some(r.at),
            target: cleaned(t),
        })
    });
    first.chain(changed).collect()
}

fn clean(text: &str) -> String {
    redact_connection_passwords(text).into_owned()
}

impl Report {
    /// Build the report of a session from its fold, the journal's integrity
    /// verdict and the reader's warnings.
    pub fn new(state: &SessionState, integrity: &Integrity, journal_warnings: &[String]) -> Report {
        let header = &state.header;
        let (steps_done, steps_total) = state.progress();
        let outcome = match &state.outcome {
            Some((outcome, reason)) => SessionEnd::Ended {
                outcome: *outcome,
                reason: reason.as_deref().map(clean),
            },
            None if !integrity.is_verified() => SessionEnd::Unknown,
            None if state.detached => SessionEnd::Detached,
            None => SessionEnd::Unfinished,
        };
        let session = SessionInfo {
            id: clean(&header.session_id),
            runbook_title: clean(&state.plan.runbook_title),
            runbook_path: clean(&header.runbook_path),
            runbook_sha256: clean(&header.runbook_sha256),
            environment: clean(&header.environment),
            mode: header.mode,
            only: header.only.as_deref().map(clean),
            kind: clean(&header.kind()),
            operators: state.operators().into_iter().map(clean).collect(),
            host: clean(&header.host),
            runsheet_version: clean(&header.runsheet_version),
            started: state.started,
            ended: state.ended,
            last_event: state.last_event,
            elapsed: state.elapsed(state.last_event),
            estimate: state.plan.estimate,
            window: state.plan.window.as_deref().map(clean),
            outcome,
            confirmed_by: state.confirmed_by.as_deref().map(clean),
            steps_done,
            steps_total,
            resumes: state
                .resumes
                .iter()
                .map(|r| Note {
                    at: r.at,
                    who: clean(&r.who),
                    text: String::new(),
                })
                .collect(),
            targets: target_reports(state),
            holds: state
                .holds
                .iter()
                .map(|h| HoldReport {
                    phase: clean(&h.title),
                    reached: h.reached,
                    released: h.released.as_ref().map(|r| HoldRelease {
                        who: clean(&r.who),
                        ..r.clone()
                    }),
                })
                .collect(),
        };

        let end = state.ended.unwrap_or(state.last_event);
        let phases: Vec<PhaseReport> = state
            .plan
            .phases
            .iter()
            .enumerate()
            .map(|(i, phase)| {
                let (planned, actual) = state.phase_timing(i);
                let steps: Vec<StepReport> = phase.steps.iter().map(|s| step_report(state, s, end)).collect();
                PhaseReport {
                    title: clean(&phase.title),
                    kind: phase.kind,
                    planned,
                    actual,
                    span: state.phase_span(i),
                    done: state.phase_progress(i).0,
                    stats: GroupStats::of(&steps),
                    steps,
                }
            })
            .collect();
        let rollback = state.rollback.as_ref().map(|r| RollbackReport {
            started: r.started,
            who: clean(&r.who),
            reason: clean(&r.reason),
            finished: r.finished.map(|(at, _)| at),
            outcome: r.finished.map(|(_, outcome)| outcome),
            steps: state
                .plan
                .rollback
                .iter()
                .map(|s| step_report(state, s, end))
                .collect(),
        });
        let unplanned_steps = unplanned(state, end);

        // Overrides and failures, in plan order: forward, rollback, unplanned.
        let mut overrides = Vec::new();
        let mut failures = Vec::new();
        let all_steps = phases
            .iter()
            .flat_map(|p| p.steps.iter())
            .chain(rollback.iter().flat_map(|r| r.steps.iter()))
            .chain(unplanned_steps.iter());
        for step in all_steps {
            if step.overridden {
                overrides.push(Override {
                    step: step.id.clone(),
                    title: step.title.clone(),
                    kind: step.kind,
                    signoffs: step.signoffs.clone(),
                });
            }
            if let Some(failure) = failure(step) {
                failures.push(failure);
            }
        }

        let verifications = state
            .verifications
            .iter()
            .map(|v| VerificationResult {
                at: v.at,
                step: clean(&v.step),
                attempt: v.attempt,
                name: clean(&v.name),
                passed: v.passed,
                observed: Observed {
                    columns: v.observed.columns.iter().map(|c| clean(c)).collect(),
                    rows: v
                        .observed
                        .rows
                        .iter()
                        .map(|row| row.iter().map(|c| clean(c)).collect())
                        .collect(),
                    text: clean(&v.observed.text),
                },
            })
            .collect();

        let warnings = state
            .warnings
            .iter()
            .map(|w| WarningReport {
                at: Some(w.at),
                code: clean(&w.code),
                message: clean(&w.message),
            })
            .chain(journal_warnings.iter().map(|w| WarningReport {
                at: None,
                code: "journal".to_string(),
                message: clean(w),
            }))
            .collect();

        let notes: Vec<Note> = state.notes.iter().map(note).collect();
        let timeline = Timeline::new(&session, &phases, rollback.as_ref(), &unplanned_steps, &notes);
        Report {
            session,
            timeline,
            integrity: IntegrityInfo {
                events: (state.last_seq as usize).saturating_add(1),
                broken: match integrity {
                    Integrity::Verified => None,
                    Integrity::Broken { line, reason } => Some((*line, clean(reason))),
                },
            },
            overrides,
            failures,
            phases,
            unplanned_steps,
            verifications,
            rollback,
            notes,
            warnings,
        }
    }

    /// A title for the document: the runbook's, with the environment.
    pub fn title(&self) -> String {
        let runbook = if self.session.runbook_title.is_empty() {
            "Runbook"
        } else {
            &self.session.runbook_title
        };
        format!("{runbook}: {} session report", self.session.environment)
    }
}

/// A note (or resume) with its texts masked once more.
fn note(n: &Note) -> Note {
    Note {
        at: n.at,
        who: clean(&n.who),
        text: clean(&n.text),
    }
}

/// A step of the plan with what the journal says about it.
fn step_report(state: &SessionState, step: &Step, end: DateTime<Utc>) -> StepReport {
    recorded_step(
        &step.id,
        &step.title,
        Some(&step.kind),
        state.steps.get(&step.id),
        end,
    )
}

/// A step's report; `kind` is unknown for a step no longer in the plan, and
/// `end` is where the report ends (for a wait still open).
fn recorded_step(
    id: &str,
    title: &str,
    kind: Option<&StepKind>,
    st: Option<&StepState>,
    end: DateTime<Utc>,
) -> StepReport {
    let status = st.map_or(StepStatus::Pending, |s| s.status);
    let attempts: Vec<Attempt> = st
        .map(|s| {
            s.attempts
                .iter()
                .map(|a| Attempt {
                    error: a.error.as_deref().map(clean),
                    tail: a
                        .tail
                        .iter()
                        .map(|(stream, line)| (*stream, clean(line)))
                        .collect(),
                    ..a.clone()
                })
                .collect()
        })
        .unwrap_or_default();
    let duration = if attempts.is_empty() {
        st.and_then(|s| s.first_at.zip(s.last_at))
            .and_then(|(a, b)| (b - a).to_std().ok())
    } else {
        Some(attempts.iter().filter_map(|a| a.duration).sum())
    };
    // Signed instead of succeeding: a gate or automated step marked done by a
    // person. A step no longer in the plan counts when it had attempts.
    let automated = match kind {
        Some(kind) => !matches!(kind, StepKind::Manual),
        None => !attempts.is_empty(),
    };
    StepReport {
        id: clean(id),
        title: clean(title),
        kind: kind.map_or("unknown", StepKind::label),
        status,
        overridden: status == StepStatus::SignedOff && automated,
        attempts,
        signoffs: st.map(|s| signoff_reports(&s.signoffs)).unwrap_or_default(),
        skip: st.and_then(|s| s.skip.as_ref()).map(|k| SkipReport {
            who: clean(&k.who),
            at: k.at,
            reason: clean(&k.reason),
        }),
        duration,
        output_lines: st.map_or(0, |s| s.output_lines),
        wait: st.and_then(|s| signoff_wait(s, end)),
    }
}

/// The wait of a step that waited for its sign-off: it ends with the
/// signature that completed it or with a skip, else it is still open.
fn signoff_wait(st: &StepState, end: DateTime<Utc>) -> Option<SignOffWait> {
    let from = st.awaiting_at?;
    let closed = match st.status {
        StepStatus::SignedOff => st.signoffs.last().map(|s| s.at),
        StepStatus::Skipped => st.skip.as_ref().map(|k| k.at),
        _ => None,
    };
    Some(SignOffWait {
        from,
        to: closed.unwrap_or(end).max(from),
        open: closed.is_none(),
    })
}

/// Steps with recorded events that are in neither the forward plan nor the
/// rollback, in the order they first appeared.
fn unplanned(state: &SessionState, end: DateTime<Utc>) -> Vec<StepReport> {
    let planned: HashSet<&str> = state
        .plan
        .steps()
        .chain(state.plan.rollback.iter())
        .map(|s| s.id.as_str())
        .collect();
    let mut extra: Vec<(&String, &StepState)> = state
        .steps
        .iter()
        .filter(|(id, _)| !planned.contains(id.as_str()))
        .collect();
    extra.sort_by_key(|(id, s)| (s.first_seq, id.as_str()));
    extra
        .into_iter()
        .map(|(id, s)| recorded_step(id, "(no longer in the plan)", None, Some(s), end))
        .collect()
}

/// The failure entry of a step that failed at least once or stopped the session.
fn failure(step: &StepReport) -> Option<Failure> {
    let failed_attempts: Vec<Attempt> = step
        .attempts
        .iter()
        .filter(|a| attempt_failed(a))
        .cloned()
        .collect();
    if failed_attempts.is_empty() && !step.status.needs_decision() {
        return None;
    }
    let resolution = match step.status {
        StepStatus::Succeeded => format!(
            "succeeded on attempt {}",
            step.attempts.last().map_or(0, |a| a.number)
        ),
        StepStatus::Skipped => step
            .skip
            .as_ref()
            .map_or_else(|| "skipped".to_string(), SkipReport::describe),
        StepStatus::SignedOff => {
            let by: Vec<String> = step.signoffs.iter().map(SignOffReport::describe).collect();
            format!("{} by {}", step.status_label(), by.join("; "))
        }
        s if s.needs_decision() => format!("unresolved: the step is {} and nobody decided yet", s.label()),
        s => format!("now {}", s.label()),
    };
    Some(Failure {
        step: step.id.clone(),
        title: step.title.clone(),
        kind: step.kind,
        status: step.status,
        failed_attempts,
        resolution,
        output_lines: step.output_lines,
    })
}

/// A UTC time as `2026-11-24 02:15:03 UTC`.
pub fn time_label(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An estimate range for people: `1h-2h`.
pub fn estimate_label(e: &Estimate) -> String {
    crate::runbook::duration::format_estimate(e)
}

/// Text safe to show in a report: control characters (an escape sequence in
/// a log line) become visible symbols instead of acting on a page. Unlike
/// the terminal's sanitiser (`crate::text::sanitize`), which drops what a
/// terminal would act on, an audit document keeps every character and shows
/// that it was there.
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::journal::event::{Event, Header, Record, Signature};
    use crate::runbook::plan::{Plan, PlanPhase};

    fn step(id: &str, kind: StepKind) -> Step {
        Step::new(id, format!("Step {id}"), kind)
    }

    fn shell(id: &str) -> Step {
        step(
            id,
            StepKind::Shell {
                script: "true".into(),
            },
        )
    }

    /// A session folded from records written by hand, one second apart.
    fn state(events: Vec<Event>) -> SessionState {
        let plan = Plan {
            runbook_title: "Hand".into(),
            environment: "development".into(),
            phases: vec![PlanPhase {
                kind: PhaseKind::Execution,
                title: "Execution".into(),
                steps: vec![shell("a"), shell("b"), step("c", StepKind::Manual)],
                depth: 0,
                notes: Vec::new(),
            }],
            rollback: Vec::new(),
            confirm: false,
            signoffs: 1,
            ..Plan::default()
        };
        let header = Header {
            format: 1,
            session_id: "s".into(),
            runbook_path: "runbook.md".into(),
            runbook_sha256: "0".repeat(64),
            environment: "development".into(),
            mode: Mode::Live,
            operator: "ann".into(),
            host: "h".into(),
            seat: None,
            runsheet_version: "0".into(),
            targets: Vec::new(),
            only: None,
            rollback_only: false,
            plan,
            team_journal: None,
        };
        let start = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("a valid time");
        let records: Vec<Record> = std::iter::once(Event::Header(Box::new(header)))
            .chain(events)
            .enumerate()
            .map(|(i, event)| Record {
                seq: i as u64,
                ts: start + chrono::Duration::seconds(i as i64),
                event,
                origin: None,
            })
            .collect();
        SessionState::from_records(&records).expect("a header first")
    }

    fn finished(step: &str, attempt: u32, outcome: Outcome, exit_code: i32) -> Event {
        Event::StepFinished {
            step: step.into(),
            attempt,
            outcome,
            exit_code: Some(exit_code),
            duration_ms: 1500,
            error: (outcome != Outcome::Succeeded).then(|| format!("exited with status {exit_code}")),
        }
    }

    #[test]
    fn retries_overrides_unplanned_steps_notes_and_warnings() {
        let started = |step: &str, attempt| Event::StepStarted {
            step: step.into(),
            attempt,
        };
        let st = state(vec![
            started("a", 1),
            Event::StepInterrupted {
                step: "a".into(),
                attempt: 1,
            },
            started("a", 2),
            finished("a", 2, Outcome::Succeeded, 0),
            started("b", 1),
            finished("b", 1, Outcome::Failed, 7),
            Event::SignedOff {
                step: "b".into(),
                signature: Signature {
                    who: "bo".into(),
                    role: "dba".into(),
                    note: "done by hand".into(),
                    preapproved: false,
                    seat: None,
                },
            },
            started("gone", 1),
            Event::Note {
                who: "ann".into(),
                text: "see postgres://u:pw@db/x\n# not a heading\n- not an item".into(),
            },
            Event::Warning {
                code: "estimate-exceeded".into(),
                message: "elapsed 5h is past twice the estimate (2h)".into(),
            },
        ]);
        let report = Report::new(&st, &Integrity::Verified, &["line 13 is incomplete".to_string()]);

        let failures: Vec<(&str, &str)> = report
            .failures
            .iter()
            .map(|f| (f.step.as_str(), f.resolution.as_str()))
            .collect();
        assert_eq!(failures[0], ("a", "succeeded on attempt 2"));
        assert_eq!(failures[1].0, "b");
        assert!(
            failures[1]
                .1
                .starts_with("marked done by bo (role dba), 2026-01-02 03:04:12 UTC: done by hand"),
            "{failures:?}"
        );
        assert!(report.failures[0].failed_attempts[0].interrupted);
        assert_eq!(report.overrides.len(), 1);
        assert_eq!(report.overrides[0].step, "b");
        assert_eq!(
            report.phases[0].steps[0].duration,
            Some(Duration::from_millis(1500))
        );
        assert_eq!(report.phases[0].steps[0].exit_codes(), "0");
        assert_eq!(report.unplanned_steps.len(), 1);
        assert_eq!(report.unplanned_steps[0].id, "gone");
        assert_eq!(report.unplanned_steps[0].status, StepStatus::Running);
        assert_eq!(report.session.outcome, SessionEnd::Unfinished);
        assert!(report.notes[0].text.starts_with("see postgres://u:***@db/x"));
        let codes: Vec<&str> = report.warnings.iter().map(|w| w.code.as_str()).collect();
        assert_eq!(codes, ["estimate-exceeded", "journal"]);
        assert_eq!(report.integrity.events, 11);

        let md = markdown::render(&report);
        assert!(
            md.contains("ann: see postgres://u:\\*\\*\\*@db/x\\\n  \\# not a heading\\\n  \\- not an item"),
            "{md}"
        );
        assert!(
            md.contains("### Steps recorded but no longer in the plan"),
            "{md}"
        );
        assert!(
            md.contains("| `b` Step b | shell | marked done | 1 | 7 | 1.5s |"),
            "{md}"
        );
        let html = html::render(&report, false);
        assert!(html.contains("<td class=\"warn\">marked done</td>"), "{html}");

        // The timeline marks the note, the override and both failures.
        let kinds = |kind| report.timeline.marks().filter(|m| m.kind == kind).count();
        assert_eq!(kinds(timeline::MarkKind::Note), 1);
        assert_eq!(kinds(timeline::MarkKind::Override), 1);
        assert_eq!(kinds(timeline::MarkKind::SignOff), 0);
        assert_eq!(
            kinds(timeline::MarkKind::Failure),
            2,
            "a's interruption, b's failure"
        );
        let groups: Vec<&str> = report.timeline.groups.iter().map(|g| g.title.as_str()).collect();
        assert_eq!(groups, ["Execution", layout::UNPLANNED]);
        assert!(html.contains("class=\"mark note\""), "{html}");
        assert!(md.lines().any(|l| l.starts_with("Execution ")), "{md}");
    }

    #[test]
    fn a_broken_chain_is_said_first() {
        let st = state(Vec::new());
        let broken = Integrity::Broken {
            line: 2,
            reason: "the hash does not match".into(),
        };
        let report = Report::new(&st, &broken, &[]);
        let sentence = "BROKEN at line 2: the hash does not match. This report shows only the 1 event before";
        assert!(report.integrity.describe().starts_with(sentence));
        assert!(markdown::render(&report).starts_with(&format!(
            "# Hand: development session report\n\n> **⚠ Journal integrity {sentence}"
        )));
        let page = html::render(&report, false);
        assert!(page.contains(&format!(
            "<p class=\"banner\" id=\"integrity-broken\">⚠ Journal integrity {sentence}"
        )));
        assert_eq!(json::value(&report)["integrity"]["broken_at_line"], 2);
    }

    #[test]
    fn format_follows_the_output_extension_unless_given() {
        let args = |format, output: Option<&str>| ReportArgs {
            session: Some("s".into()),
            deployment: None,
            format,
            output: output.map(PathBuf::from),
        };
        assert_eq!(args(None, None).format(), Format::Md);
        assert_eq!(args(None, Some("r.HTML")).format(), Format::Html);
        assert_eq!(args(None, Some("r.json")).format(), Format::Json);
        assert_eq!(args(None, Some("r.txt")).format(), Format::Md);
        assert_eq!(args(Some(Format::Json), Some("r.html")).format(), Format::Json);
    }
}
