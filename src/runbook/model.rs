//! The runbook model: what a Markdown plan means once loaded.
//!
//! Everything here is plain data. The loader builds it, the engine runs it,
//! the journal header snapshots the parts a replay needs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A 1-based line and column in the runbook source (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct SourcePos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A loaded runbook.
#[derive(Debug, Clone)]
pub struct Runbook {
    /// The path it was loaded from, as given.
    pub path: PathBuf,
    /// SHA-256 (hex) over the runbook's bytes and every file it includes with
    /// `{file=…}`, so that an edited phase script counts as a changed runbook.
    pub content_hash: String,
    pub title: String,
    /// Variables handed to shell steps (and shown, redacted when secret).
    pub variables: BTreeMap<String, Variable>,
    /// Contacts from the front matter: role -> who and how to reach them.
    pub contacts: BTreeMap<String, String>,
    /// The shared Prerequisites every environment runs first.
    pub prerequisites: Option<Phase>,
    pub environments: Vec<Environment>,
    /// Where each environment's plan comes from.
    pub layout: Layout,
    /// The plan of every environment when no section names one
    /// ([`Layout::Shared`], [`Layout::Implicit`]); empty otherwise.
    pub phases: Vec<Phase>,
    /// Sections for reading, not running: at the top level, or inside a plan.
    pub references: Vec<ReferenceSection>,
    /// The front matter's `journal`: the team journal database's URL, used
    /// when neither `--journal` nor `RUNSHEET_JOURNAL_URL` gives one.
    pub journal: Option<String>,
    /// The front matter's `notify` and `notify_url`: who hears of the
    /// events a team cares about (see [`crate::notify`]).
    pub notify: Notify,
    /// What attached terminals may do besides signing and adding notes
    /// (the front matter's `attach = ["pause", "abort"]`).
    pub attach: Vec<AttachRight>,
}

/// Where a session's notifications go: a command fed the payload on its
/// stdin, an HTTP(S) URL the payload is POSTed to, both, or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub command: Option<String>,
    pub url: Option<WebhookUrl>,
}

/// A webhook's `http://` or `https://` URL, split as a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The path and query, `/` at least. Often holds the hook's token: never shown.
    pub path: String,
}

impl WebhookUrl {
    /// `host:port`, what messages name (never the path, which may hold a token).
    pub fn place(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl Notify {
    pub fn is_off(&self) -> bool {
        self.command.is_none() && self.url.is_none()
    }
}

/// How a runbook's body maps onto environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Each environment has its own section (`## Deployment to Staging`).
    Sections,
    /// No section names an environment: the body is one plan, run alike by
    /// each environment the front matter defines.
    Shared,
    /// No section names an environment and the front matter defines none:
    /// the body is the plan of one implicit environment,
    /// [`IMPLICIT_ENVIRONMENT`].
    Implicit,
}

/// The name of the one environment of a runbook that defines none. Sessions,
/// reports and `--env` use it like any other name.
pub const IMPLICIT_ENVIRONMENT: &str = "default";

/// A variable handed to steps. `secret` ones are redacted everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub value: ValueSource,
    pub secret: bool,
}

/// Where a value comes from: written in the runbook, or read from the
/// process environment when the session starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueSource {
    Literal(String),
    Env { var: String, default: Option<String> },
}

impl ValueSource {
    /// The value now: the literal, or the variable's value (its default when
    /// unset). `Err` names the variable that is missing.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            ValueSource::Literal(v) => Ok(v.clone()),
            ValueSource::Env { var, default } => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(v),
                _ => default.clone().ok_or_else(|| var.clone()),
            },
        }
    }
}

/// One environment: its front-matter settings, and the section whose
/// heading names it (the shared plan when the runbook has no such sections).
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub aliases: Vec<String>,
    /// The section's heading text, as written; empty without a section.
    pub heading: String,
    /// The section's heading, or where the front matter declares it.
    pub pos: SourcePos,
    pub database: DatabaseSource,
    /// Environments that need a successful session before this one executes.
    pub requires: Vec<String>,
    /// An environment in which the Rollback section must have run to completion first.
    pub requires_rollback_test: Option<String>,
    /// Type the environment's name before the first state-changing step.
    pub confirm: bool,
    /// Distinct operators needed to sign each manual step.
    pub signoffs: u32,
    /// A manual step's signer differs from who ran the step before it.
    pub separation_of_duties: bool,
    /// Verified backups that must be made in the session before execution starts.
    pub min_backups: u32,
    /// Where a session stops until an operator confirms going on (`hold = "phase"`).
    pub hold: Hold,
    /// How long a SQL statement may wait for a lock (`lock_timeout = "5s"`).
    pub lock_timeout: Option<Duration>,
    /// The cluster its database must be (`system_identifier = "7312…"`, as
    /// `pg_control_system()` gives it): a session elsewhere does not start,
    /// and a saved one elsewhere is no evidence.
    pub system_identifier: Option<String>,
    pub estimate: Option<Estimate>,
    pub window: Option<String>,
    pub phases: Vec<Phase>,
}

/// Something the front matter lets an attached terminal (`runsheet attach`)
/// ask of a team session, besides signing manual steps and adding notes,
/// which every attached terminal may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachRight {
    /// Start no new step (the running one goes on).
    Pause,
    /// End the session (a running step is stopped first).
    Abort,
}

impl AttachRight {
    pub const ALL: [AttachRight; 2] = [AttachRight::Pause, AttachRight::Abort];

    /// The word the front matter writes it as.
    pub fn word(self) -> &'static str {
        match self {
            AttachRight::Pause => "pause",
            AttachRight::Abort => "abort",
        }
    }
}

/// Where a session of an environment stops for an operator to confirm going
/// on: production runs phase by phase, each verified before the next starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hold {
    /// Steps follow one another.
    #[default]
    None,
    /// After each phase (its verification included), before the next one starts.
    Phase,
}

impl Environment {
    /// True when `word` (any case) is this environment's name or an alias.
    pub fn is_named(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }
}

/// How an environment reaches its database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DatabaseSource {
    /// The standard libpq `PG*` environment variables (the default).
    PgEnv,
    /// A connection URL or key=value string, possibly read from a variable.
    Url(ValueSource),
    /// Explicitly none (`database = "none"`): SQL steps are an error.
    None,
}

/// An estimated duration range, e.g. `2-4 hours` or `6h-8h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    pub min: Duration,
    pub max: Duration,
}

/// The kinds of phase an environment's plan is made of, in their natural order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseKind {
    Prerequisites,
    Preparation,
    Execution,
    Validation,
    PostDeployment,
    Rollback,
    /// Steps written directly under an environment heading, outside any
    /// phase (or, in a runbook without sections, before the first heading).
    Unphased,
    /// A section whose name is none of the above: a plain phase, named as written.
    Other,
}

impl PhaseKind {
    pub fn label(self) -> &'static str {
        match self {
            PhaseKind::Prerequisites => "Prerequisites",
            PhaseKind::Preparation => "Preparation",
            PhaseKind::Execution => "Execution",
            PhaseKind::Validation => "Validation",
            PhaseKind::PostDeployment => "Post-Deployment",
            PhaseKind::Rollback => "Rollback",
            PhaseKind::Unphased => "Outside any phase",
            PhaseKind::Other => "Phase",
        }
    }

    /// The id segment used in step ids.
    pub fn slug(self) -> &'static str {
        match self {
            PhaseKind::Prerequisites => "prerequisites",
            PhaseKind::Preparation => "preparation",
            PhaseKind::Execution => "execution",
            PhaseKind::Validation => "validation",
            PhaseKind::PostDeployment => "post-deployment",
            PhaseKind::Rollback => "rollback",
            PhaseKind::Unphased => "steps",
            PhaseKind::Other => "plain",
        }
    }
}

/// A phase: a section of a plan that holds a procedure (or a group of
/// such sections), or the shared prerequisites.
#[derive(Debug, Clone)]
pub struct Phase {
    pub kind: PhaseKind,
    /// The heading as written.
    pub title: String,
    pub pos: SourcePos,
    /// How deep in its plan's heading tree: 0 for a top phase, 1 for a
    /// phase under it, …; a phase is followed by its sub-phases.
    pub depth: u32,
    /// Admonitions of the section itself.
    pub notes: Vec<Note>,
    pub steps: Vec<Step>,
}

/// An admonition (`!!! warning "Title"`): shown with its step or section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// As written: `warning`, `note`, `danger`, `tip`, …
    pub kind: String,
    pub title: String,
    pub text: String,
}

/// One step: a top-level list item of a phase, a nested item with its own
/// commands (a sub-step), or a runnable block of a section written as prose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Stable id: `{id=…}` or derived from its place (`production.execution.3`).
    pub id: String,
    /// The first sentence or line of its text, as a reader sees it.
    pub title: String,
    /// The whole item as Markdown (nested lists, paragraphs, blocks).
    pub body: String,
    pub kind: StepKind,
    /// For a sub-step, its parent step's id: it runs right after the parent
    /// and is drawn under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// What the commands are expected to print, as the runbook shows it
    /// (the lines of a `$ ` block without a prompt, a `text` block after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<Note>,
    /// A check: its result goes to the verification pane.
    pub verify: bool,
    /// Not state-changing (`{readonly}`), so it needs no typed confirmation first.
    pub readonly: bool,
    /// A backup step (`{backup}`): counts towards `min_backups` when it succeeds.
    pub backup: bool,
    /// A shell step that neither inherits nor leaves the shell state
    /// (exports, working directory) other shell steps carry (`{isolated}`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub isolated: bool,
    pub timeout: Option<Duration>,
    /// How long each of its SQL statements may wait for a lock
    /// (`{lock_timeout=5s}`); the environment's otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_timeout: Option<Duration>,
    /// A task-list item written as done (`- [x]`); informative only.
    pub checked: bool,
    pub pos: SourcePos,
}

impl Step {
    /// A step of `kind` with every attribute off and no text but its title:
    /// what generated steps and tests start from (`..Step::new(…)`).
    pub fn new(id: impl Into<String>, title: impl Into<String>, kind: StepKind) -> Step {
        Step {
            id: id.into(),
            title: title.into(),
            body: String::new(),
            kind,
            parent: None,
            expected: None,
            notes: Vec::new(),
            verify: false,
            readonly: false,
            backup: false,
            isolated: false,
            timeout: None,
            lock_timeout: None,
            checked: false,
            pos: SourcePos::default(),
        }
    }

    /// Whether running this step may change the world, for the production guard.
    pub fn changes_state(&self) -> bool {
        self.runs_something() && !self.verify && !self.readonly
    }

    /// Whether running this step again does no harm: it runs something
    /// (a shell script, SQL) that changes nothing, a check. A crash may
    /// lose its records; it is then run again (see `docs/journal.md`).
    pub fn reruns_harmlessly(&self) -> bool {
        self.runs_something() && !self.changes_state()
    }

    fn runs_something(&self) -> bool {
        matches!(self.kind, StepKind::Shell { .. } | StepKind::Sql { .. })
    }
}

/// What runs a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// A person does it and signs it off.
    Manual,
    /// bash, in its own process group, in the runbook's folder.
    Shell { script: String },
    /// SQL on the environment's database, in one transaction.
    Sql { sql: String },
    /// A promotion gate runsheet checks itself from saved journals; added
    /// by the plan from the environment's front matter, never written.
    Gate { gate: Gate },
}

/// What a gate step demands before the environment may go on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "gate", rename_all = "snake_case")]
pub enum Gate {
    /// A completed, successful, live session of the same runbook content in
    /// `environment`; with `rollback`, one in which the Rollback section ran
    /// to completion (the rollback rehearsal).
    Session { environment: String, rollback: bool },
    /// At least `min` backup steps succeeded in this session.
    Backups { min: u32 },
}

impl StepKind {
    pub fn label(&self) -> &'static str {
        match self {
            StepKind::Manual => "manual",
            StepKind::Shell { .. } => "shell",
            StepKind::Sql { .. } => "sql",
            StepKind::Gate { .. } => "gate",
        }
    }
}

/// What a reference section is for, so the TUI can offer it by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReferenceKind {
    Overview,
    Rollback,
    Communication,
    Timeline,
    SuccessCriteria,
    Contacts,
    Other,
}

/// A section shown for reference (and, for a top-level Rollback, runnable on demand).
#[derive(Debug, Clone)]
pub struct ReferenceSection {
    pub kind: ReferenceKind,
    pub title: String,
    pub pos: SourcePos,
    /// The section's Markdown, heading excluded.
    pub markdown: String,
    /// Runnable steps (Rollback only): every top-level list item of the section.
    pub steps: Vec<Step>,
}

impl Runbook {
    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.is_named(name))
    }

    /// The cluster the runbook pins `environment`'s database to, if any.
    pub fn pin_of(&self, environment: &str) -> Option<&str> {
        self.environment(environment)
            .and_then(|e| e.system_identifier.as_deref())
    }

    pub fn reference(&self, kind: ReferenceKind) -> Option<&ReferenceSection> {
        self.references.iter().find(|r| r.kind == kind)
    }

    /// The phases `env` runs: its own section's, or the shared plan.
    pub fn phases_of<'a>(&'a self, env: &'a Environment) -> &'a [Phase] {
        match self.layout {
            Layout::Sections => &env.phases,
            Layout::Shared | Layout::Implicit => &self.phases,
        }
    }

    /// The rollback steps for an environment: its own Rollback phase (and
    /// the phases nested in it), else the runbook's Rollback section.
    pub fn rollback_steps<'a>(&'a self, env: &'a Environment) -> Vec<&'a Step> {
        let phases = self.phases_of(env);
        match phases.iter().position(|p| p.kind == PhaseKind::Rollback) {
            Some(i) => {
                let depth = phases[i].depth;
                let nested = phases[i + 1..].iter().take_while(|p| p.depth > depth);
                std::iter::once(&phases[i])
                    .chain(nested)
                    .flat_map(|p| p.steps.iter())
                    .collect()
            }
            None => self
                .reference(ReferenceKind::Rollback)
                .map_or_else(Vec::new, |r| r.steps.iter().collect()),
        }
    }

    /// Every step in the runbook, in document order of their containers.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.prerequisites
            .iter()
            .flat_map(|p| p.steps.iter())
            .chain(
                self.environments
                    .iter()
                    .flat_map(|e| e.phases.iter().flat_map(|p| p.steps.iter())),
            )
            .chain(self.phases.iter().flat_map(|p| p.steps.iter()))
            .chain(self.references.iter().flat_map(|r| r.steps.iter()))
    }
}
