//! How the Markdown and HTML reports arrange a [`Report`]: which summary
//! rows, lists and tables they show, with which labels and in which order.
//! Text is given as [`Span`]s, which say what a piece of text is (a title,
//! an id, a status, free text) and not how it looks; the two writers only
//! spell spans in their own syntax (escaping, markup), so the documents
//! cannot drift apart.

use std::time::Duration;

use crate::runbook::duration::format_duration;

use chrono::{DateTime, Utc};

use super::{
    Failure, GroupStats, Override, PhaseReport, Report, SignOffReport, SkipReport, StepReport, Tone,
    WarningReport, estimate_label,
};
use crate::journal::event::{Mode, Observed};
use crate::session::{Attempt, Note, VerificationResult};

/// The heading of the steps the journal recorded that the plan no longer has.
pub const UNPLANNED: &str = "Steps recorded but no longer in the plan";

/// A piece of text and what it is.
#[derive(Debug, Clone, PartialEq)]
pub enum Span {
    /// A short text on one line: a title, a name, a path.
    Text(String),
    /// An id, a hash or a filter, shown as code.
    Code(String),
    /// Free text that may run over several lines: a note, a reason.
    Note(String),
    /// A status in words; HTML colours it by its tone.
    Status(Tone, String),
    /// A status that stands out in every format (bold in Markdown).
    Flag(Tone, String),
    Time(DateTime<Utc>),
    Duration(Duration),
    /// Between the entries of one cell: a line break where the format has one.
    Break,
    /// What a verification observed; each format shows as much as fits.
    Observed(Observed),
}

/// Spans one after the other: a table cell, a list item, a summary value.
pub type Cell = Vec<Span>;

/// A row of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub label: &'static str,
    pub value: Cell,
}

/// A table: its column headings and its rows of cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Column headings as a table holds them.
pub fn columns(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A list item, with the items nested under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub head: Cell,
    pub details: Vec<Cell>,
}

pub fn text(text: impl Into<String>) -> Span {
    Span::Text(text.into())
}

/// A step as lists and headings name it: its id, then its title.
pub fn step(id: &str, title: &str) -> Cell {
    vec![Span::Code(id.to_string()), text(" "), text(title)]
}

/// Sign-off waits: their total and how many (`32m (2)`), or `-`.
pub fn waits(stats: &GroupStats) -> String {
    match stats.signoff_waits {
        0 => "-".to_string(),
        n => format!("{} ({n})", crate::text::duration(stats.waited)),
    }
}

/// Failed attempts as a count, or `-`.
pub fn failures(stats: &GroupStats) -> String {
    match stats.failed_attempts {
        0 => "-".to_string(),
        n => n.to_string(),
    }
}

/// A duration, or `none` when there is none.
fn duration_or(duration: Option<Duration>, none: &str) -> Span {
    duration.map_or_else(|| text(none), Span::Duration)
}

impl Report {
    /// The sentence above everything else when the journal's chain is broken.
    pub fn integrity_banner(&self) -> Option<String> {
        self.integrity
            .broken
            .is_some()
            .then(|| format!("⚠ Journal integrity {}", self.integrity.describe()))
    }

    /// The summary table: the session header and how it went.
    pub fn summary(&self) -> Vec<SummaryRow> {
        let s = &self.session;
        let mut rows = Vec::new();
        let mut row = |label, value: Cell| rows.push(SummaryRow { label, value });
        row("Session", vec![Span::Code(s.id.clone())]);
        row("Runbook", vec![text(&s.runbook_path)]);
        row("Runbook SHA-256", vec![Span::Code(s.runbook_sha256.clone())]);
        row("Environment", vec![text(&s.environment)]);
        for t in &s.targets {
            let mut cell = vec![Span::Code(t.target.describe())];
            if let Some(at) = t.since {
                cell.extend([
                    text(" from the resume at "),
                    Span::Time(at),
                    text(" (target changed)"),
                ]);
            }
            row("Database", cell);
        }
        row(
            "Mode",
            match s.mode {
                Mode::Live => vec![text(s.mode.label())],
                Mode::DryRun => vec![
                    Span::Flag(Tone::Warn, s.mode.label().to_string()),
                    text(" (SQL rolled back; never counts as evidence)"),
                ],
            },
        );
        if let Some(only) = &s.only {
            row("Part of the plan", vec![text("only "), Span::Code(only.clone())]);
        }
        if s.kind != "live" && s.mode == Mode::Live {
            row(
                "Kind",
                vec![
                    Span::Flag(Tone::Warn, s.kind.clone()),
                    text(" (not a whole run of the plan; never evidence that it went well)"),
                ],
            );
        }
        row("Operators", vec![text(s.operators.join(", "))]);
        row("Host", vec![text(&s.host)]);
        row("runsheet version", vec![text(&s.runsheet_version)]);
        row("Started", vec![Span::Time(s.started)]);
        row(
            "Ended",
            vec![s.ended.map_or_else(|| text("not ended"), Span::Time)],
        );
        row("Elapsed", vec![Span::Duration(s.elapsed)]);
        if let Some(estimate) = &s.estimate {
            row("Estimate", vec![text(estimate_label(estimate))]);
        }
        if let Some(window) = &s.window {
            row("Window", vec![text(window)]);
        }
        row(
            "Outcome",
            vec![Span::Flag(s.outcome.tone(), s.outcome.describe())],
        );
        row(
            "Steps done",
            vec![text(format!("{} of {}", s.steps_done, s.steps_total))],
        );
        if let Some(who) = &s.confirmed_by {
            row("Environment name typed by", vec![text(who)]);
        }
        if !s.resumes.is_empty() {
            let mut resumed = Vec::new();
            for (i, r) in s.resumes.iter().enumerate() {
                if i > 0 {
                    resumed.push(Span::Break);
                }
                resumed.extend([Span::Time(r.at), text(" by "), text(&r.who)]);
            }
            row("Resumed", resumed);
        }
        if !s.holds.is_empty() {
            let mut holds = Vec::new();
            for (i, h) in s.holds.iter().enumerate() {
                if i > 0 {
                    holds.push(Span::Break);
                }
                holds.push(match h.released {
                    Some(_) => text(h.describe()),
                    None => Span::Flag(Tone::Warn, h.describe()),
                });
            }
            row("Holds", holds);
        }
        let integrity = self.integrity.describe();
        row(
            "Integrity",
            vec![match self.integrity.broken {
                Some(_) => Span::Flag(Tone::Bad, integrity),
                None => Span::Status(Tone::Good, integrity),
            }],
        );
        rows
    }

    /// The overrides: each step, and who signed it off instead.
    pub fn override_items(&self) -> Vec<Item> {
        let item = |o: &Override| {
            let by: Vec<String> = o.signoffs.iter().map(SignOffReport::describe).collect();
            let mut head = step(&o.step, &o.title);
            head.extend([
                text(format!(" ({}): ", o.kind)),
                Span::Status(Tone::Warn, "overridden".to_string()),
                text(" by "),
                Span::Note(by.join("; ")),
            ]);
            Item {
                head,
                details: Vec::new(),
            }
        };
        self.overrides.iter().map(item).collect()
    }

    /// The failures: each step, its failed attempts and what became of it.
    pub fn failure_items(&self) -> Vec<Item> {
        let item = |f: &Failure| {
            let mut head = step(&f.step, &f.title);
            head.push(text(format!(" ({})", f.kind)));
            let mut details: Vec<Cell> = f.failed_attempts.iter().map(failed_attempt).collect();
            details.push(vec![text("resolution: "), Span::Note(f.resolution.clone())]);
            Item { head, details }
        };
        self.failures.iter().map(item).collect()
    }

    /// Each phase's progress, planned and actual time, waits and failures.
    pub fn phase_table(&self) -> Table {
        let row = |p: &PhaseReport| {
            vec![
                vec![text(&p.title)],
                vec![text(format!("{} of {}", p.done, p.steps.len()))],
                // A share of the runbook's estimate: written as the runbook writes durations.
                vec![p.planned.map_or_else(|| text("-"), |d| text(format_duration(d)))],
                vec![duration_or(p.actual, "-")],
                vec![text(waits(&p.stats))],
                vec![text(failures(&p.stats))],
            ]
        };
        Table {
            columns: columns(&[
                "Phase",
                "Steps done",
                "Planned",
                "Actual",
                "Sign-off waits",
                "Failed attempts",
            ]),
            rows: self.phases.iter().map(row).collect(),
        }
    }

    /// The steps under their headings: each phase's, then those the plan no longer has.
    pub fn step_groups(&self) -> Vec<(&str, &[StepReport])> {
        let mut groups: Vec<(&str, &[StepReport])> = self
            .phases
            .iter()
            .map(|p| (p.title.as_str(), p.steps.as_slice()))
            .collect();
        if !self.unplanned_steps.is_empty() {
            groups.push((UNPLANNED, &self.unplanned_steps));
        }
        groups
    }

    /// Every verification result, in the order recorded.
    pub fn verification_table(&self) -> Table {
        let row = |v: &VerificationResult| {
            vec![
                vec![Span::Time(v.at)],
                vec![Span::Code(v.step.clone())],
                vec![text(&v.name)],
                vec![text(v.attempt.to_string())],
                vec![if v.passed {
                    Span::Status(Tone::Good, "PASS".to_string())
                } else {
                    Span::Flag(Tone::Bad, "FAIL".to_string())
                }],
                vec![Span::Observed(v.observed.clone())],
            ]
        };
        Table {
            columns: columns(&["Time", "Step", "Check", "Attempt", "Result", "Observed"]),
            rows: self.verifications.iter().map(row).collect(),
        }
    }

    /// The notes, in the order written.
    pub fn note_items(&self) -> Vec<Item> {
        let item = |n: &Note| Item {
            head: vec![
                Span::Time(n.at),
                text(", "),
                text(&n.who),
                text(": "),
                Span::Note(n.text.clone()),
            ],
            details: Vec::new(),
        };
        self.notes.iter().map(item).collect()
    }

    /// The warnings: the session's, then the journal reader's (without a time).
    pub fn warning_items(&self) -> Vec<Item> {
        let item = |w: &WarningReport| {
            let mut head: Cell =
                w.at.map(|at| vec![Span::Time(at), text(", ")])
                    .unwrap_or_default();
            head.extend([
                Span::Code(w.code.clone()),
                text(": "),
                Span::Note(w.message.clone()),
            ]);
            Item {
                head,
                details: Vec::new(),
            }
        };
        self.warnings.iter().map(item).collect()
    }
}

/// A table of steps; where their sign-offs and skips go
/// ([`StepReport::decisions`]) is each format's choice.
pub fn steps_table(steps: &[StepReport]) -> Table {
    let row = |s: &StepReport| {
        vec![
            step(&s.id, &s.title),
            vec![text(s.kind)],
            vec![Span::Status(s.tone(), s.status_label().to_string())],
            vec![text(s.attempts.len().to_string())],
            vec![text(s.exit_codes())],
            vec![duration_or(s.duration, "")],
        ]
    };
    Table {
        columns: columns(&["Step", "Kind", "Status", "Attempts", "Exit codes", "Duration"]),
        rows: steps.iter().map(row).collect(),
    }
}

impl StepReport {
    /// Who signed the step off (or overrode it), then who skipped it: a sentence each.
    pub fn decisions(&self) -> Vec<String> {
        let what = if self.overridden {
            "overridden by"
        } else {
            "signed off by"
        };
        self.signoffs
            .iter()
            .map(|sign| format!("{what} {}", sign.describe()))
            .chain(self.skip.as_ref().map(SkipReport::describe))
            .collect()
    }
}

impl Failure {
    /// The step, as the heading of its log names it.
    pub fn heading(&self) -> Cell {
        step(&self.step, &self.title)
    }

    /// Each failed or interrupted attempt's own log: the sentence above it
    /// and its last lines, each after its stream's name (not yet escaped).
    pub fn attempt_logs(&self) -> impl Iterator<Item = (String, Vec<String>)> + '_ {
        self.failed_attempts.iter().map(|a| {
            let how = if a.interrupted {
                "interrupted"
            } else {
                a.outcome.map_or("unfinished", |o| o.label())
            };
            let caption = if a.tail.is_empty() {
                format!("Attempt {} ({how}): no output.", a.number)
            } else {
                format!(
                    "Attempt {} ({how}): the last {} of its {} (the journal holds them all):",
                    a.number,
                    a.tail.len(),
                    crate::text::plural(a.output_lines, "output line")
                )
            };
            let lines = a
                .tail
                .iter()
                .map(|(stream, line)| format!("{:<6} │ {line}", stream.label()))
                .collect();
            (caption, lines)
        })
    }
}

/// A failed attempt: when, how long, how it ended.
fn failed_attempt(a: &Attempt) -> Cell {
    let mut cell = vec![text(format!("attempt {}, ", a.number)), Span::Time(a.started)];
    if let Some(took) = a.duration {
        cell.extend([text(", "), Span::Duration(took)]);
    }
    cell.extend([text(": "), Span::Status(Tone::Bad, describe_attempt(a))]);
    cell
}

/// How an attempt ended, in words ("failed (exit 3): …").
pub(super) fn describe_attempt(a: &Attempt) -> String {
    let mut out = match (a.outcome, a.interrupted) {
        (Some(outcome), _) => outcome.label().to_string(),
        (None, true) => "interrupted".to_string(),
        (None, false) => "running".to_string(),
    };
    if let Some(code) = a.exit_code {
        out.push_str(&format!(" (exit {code})"));
    }
    if let Some(error) = &a.error {
        out.push_str(": ");
        out.push_str(error);
    }
    out
}
