//! The selected step in full: its text, its command, its history.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::checklist::kind_label;
use super::{pane_block, pane_title};
use crate::journal::event::Outcome;
use crate::runbook::model::{Note, Step, StepKind};
use crate::session::{Next, StepStatus, rules};
use crate::text;
use crate::text::sanitize;
use crate::ui::app::{App, Pane, PhaseKey, RowKey, choices_hint};
use crate::ui::markdown;
use crate::ui::spans;
use crate::ui::theme::status_glyph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let (title, lines) = match (&app.selected, app.selected_step()) {
        (_, Some(step)) => (format!(" {} ", step.id), step_lines(app, step)),
        (Some(RowKey::Phase(key)), _) => (" Phase ".to_string(), phase_lines(app, *key)),
        _ => (
            " Step ".to_string(),
            vec![Line::styled("No step selected.", app.theme.dim())],
        ),
    };
    let title = pane_title(vec![Span::raw(title)], app, Pane::Detail);
    let block = pane_block(title, app.focus == Pane::Detail, app.theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Keep at least one line in view however far the operator scrolled.
    let rows = spans::rows(&lines, inner.width).saturating_sub(1);
    let scroll = app.detail_scroll.min(u16::try_from(rows).unwrap_or(u16::MAX));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}

fn phase_lines(app: &App, key: PhaseKey) -> Vec<Line<'static>> {
    let theme = app.theme;
    let plan = &app.session.plan;
    let (title, steps, phase_notes): (String, &[Step], &[Note]) = match key {
        PhaseKey::Forward(i) => match plan.phases.get(i) {
            Some(p) => (p.title.clone(), &p.steps, &p.notes),
            None => return Vec::new(),
        },
        PhaseKey::Rollback => ("Rollback".to_string(), &plan.rollback, &[]),
    };
    let done = steps
        .iter()
        .filter(|s| app.session.step(&s.id).status().is_done())
        .count();
    let mut lines = vec![
        Line::styled(title, theme.heading()),
        Line::raw(format!(
            "{done} of {} done",
            crate::text::plural(steps.len() as u64, "step")
        )),
    ];
    lines.extend(notes(app, phase_notes));
    if key == PhaseKey::Rollback && app.session.rollback.is_none() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "Runs only when started (B): the runbook's Rollback section.",
            theme.dim(),
        ));
    }
    lines
}

fn step_lines(app: &App, step: &Step) -> Vec<Line<'static>> {
    let theme = app.theme;
    let state = app.session.step(&step.id);
    let status = state.status();
    let mut lines = vec![Line::styled(step.title.clone(), theme.heading())];
    let mut facts = vec![
        Span::styled(
            format!("{} {}", status_glyph(status, app.spinner), status.label()),
            theme.status(status),
        ),
        Span::styled(format!(" · {}", kind_label(step)), theme.dim()),
    ];
    if let Some(t) = step.timeout {
        facts.push(Span::styled(
            format!(" · timeout {}", text::duration(t)),
            theme.dim(),
        ));
    }
    if !step.changes_state() && !matches!(step.kind, StepKind::Manual) {
        facts.push(Span::styled(" · read-only", theme.dim()));
    }
    if let Some(parent) = &step.parent {
        facts.push(Span::styled(format!(" · sub-step of {parent}"), theme.dim()));
    }
    lines.push(Line::from(facts));
    if let Some(hint) = waiting_hint(app, step) {
        lines.push(Line::styled(hint, theme.warning()));
    }
    lines.extend(inheritance(app, step));
    lines.extend(notes(app, &step.notes));
    lines.push(Line::raw(""));
    lines.extend(markdown::render(&step.body, theme));

    let script = match &step.kind {
        StepKind::Shell { script } => Some(("Command (bash)", script)),
        StepKind::Sql { sql } => Some(("SQL", sql)),
        StepKind::Manual | StepKind::Gate { .. } => None,
    };
    // Shown unless the body already shows it as it runs; prompted lines
    // among their output are shown again on their own.
    if let Some((label, script)) = script
        && (!step.body.contains(script.trim()) || step.expected.is_some())
    {
        lines.push(Line::raw(""));
        lines.push(Line::styled(label, theme.bold()));
        lines.extend(
            script
                .lines()
                .map(|l| Line::styled(format!("  {}", sanitize(l)), theme.code())),
        );
    }
    if let Some(expected) = &step.expected {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "Expected output (as the runbook shows it)",
            theme.bold(),
        ));
        lines.extend(
            expected
                .lines()
                .map(|l| Line::styled(format!("  {}", sanitize(l)), theme.dim())),
        );
    }

    let history = history(app, step);
    if !history.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled("History", theme.bold()));
        lines.extend(history);
    }
    lines
}

/// What a shell step inherits from the shell steps before it: the state
/// its last attempt started with, or (not started yet) what is carried now;
/// shown near the top, as it decides where and with what the step runs.
/// Names only: values stay in the journal (secret ones not even there).
fn inheritance(app: &App, step: &Step) -> Vec<Line<'static>> {
    let theme = app.theme;
    if !matches!(step.kind, StepKind::Shell { .. }) {
        return Vec::new();
    }
    if step.isolated {
        return vec![Line::styled(
            "Isolated: runs in the runbook's folder without what earlier steps exported, and leaves nothing behind.",
            theme.dim(),
        )];
    }
    let started = app.session.step(&step.id).attempts().last().and_then(|a| {
        a.inherited
            .as_ref()
            .map(|c| (format!("Inherited by attempt {}", a.number), Arc::clone(c)))
    });
    let (heading, carried) =
        started.unwrap_or_else(|| ("Inherits".to_string(), Arc::clone(&app.session.shell)));
    let state = &carried.state;
    if state.is_empty() {
        return Vec::new();
    }
    let from = carried
        .from
        .as_ref()
        .map(|id| match app.session.plan.step(id) {
            Some(s) => format!(" from {id} {}", s.title),
            None => format!(" from {id}"),
        })
        .unwrap_or_default();
    let mut lines = vec![Line::styled(sanitize(&format!("{heading}{from}")), theme.bold())];
    let row = |label: &str, text: String| {
        Line::from(vec![
            Span::styled(format!("  {label:<10} "), theme.dim()),
            Span::raw(sanitize(&text)),
        ])
    };
    let names =
        |set: &mut dyn Iterator<Item = &String>| set.map(String::as_str).collect::<Vec<_>>().join(", ");
    lines.push(row(
        "directory",
        state
            .cwd
            .clone()
            .unwrap_or_else(|| "the runbook's folder".to_string()),
    ));
    if !state.vars.is_empty() {
        lines.push(row("variables", names(&mut state.vars.keys())));
    }
    if !state.withheld.is_empty() {
        lines.push(row(
            "withheld",
            format!(
                "{} (secret: not journaled, lost on resume)",
                names(&mut state.withheld.iter())
            ),
        ));
    }
    if !state.unset.is_empty() {
        lines.push(row("unset", names(&mut state.unset.iter())));
    }
    lines
}

/// Admonitions: a highlighted title, then the text.
fn notes(app: &App, notes: &[Note]) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for n in notes {
        lines.push(Line::raw(""));
        let style = match n.kind.as_str() {
            "warning" | "danger" | "caution" | "attention" | "error" | "bug" | "failure" => {
                app.theme.warning()
            }
            _ => app.theme.bold(),
        };
        lines.push(Line::styled(format!("▌ {}", sanitize(&n.title)), style));
        lines.extend(markdown::render(&n.text, app.theme).into_iter().map(|l| {
            let mut spans = vec![ratatui::text::Span::styled("▌ ", style)];
            spans.extend(l.spans);
            Line::from(spans)
        }));
    }
    lines
}

/// What the operator can do about this step now, if it is the one waiting.
fn waiting_hint(app: &App, step: &Step) -> Option<String> {
    match app.session.next() {
        Next::SignOff {
            step: s,
            signed,
            needed,
        } if s.id == step.id => Some(match rules::seat_cannot_sign(&app.session, &s.id, &app.seat) {
            Some(why) => format!("Waits for sign-off ({signed} of {needed}): {why}."),
            None if needed > 1 => {
                format!("Waits for sign-off ({signed} of {needed}, each from its own seat): press s to sign.")
            }
            None => format!("Waits for sign-off ({signed} of {needed}): press s to sign."),
        }),
        Next::Decide(s) if s.id == step.id => Some(match choices_hint(app) {
            Some(hint) => format!("Waits for a decision: {hint}."),
            None => "Waits for a decision.".to_string(),
        }),
        Next::Hold { after, step: s } if s.id == step.id => {
            let held = format!(
                "Held: {} runs phase by phase, and \"{}\" passed",
                app.session.plan.environment, after.title
            );
            Some(match choices_hint(app) {
                Some(hint) => format!("{held}; {hint}."),
                None => format!("{held}."),
            })
        }
        Next::Confirm(s) if s.id == step.id => Some(format!(
            "Changes {}: press r and type the environment's name first.",
            app.session.plan.environment
        )),
        _ => None,
    }
}

fn history(app: &App, step: &Step) -> Vec<Line<'static>> {
    let theme = app.theme;
    let state = app.session.step(&step.id);
    let mut lines = Vec::new();
    for a in state.attempts() {
        let outcome = match (a.outcome, a.interrupted) {
            (Some(o), _) => o.label().to_string(),
            (None, true) => "interrupted".to_string(),
            (None, false) => "running".to_string(),
        };
        let style = match a.outcome {
            Some(Outcome::Succeeded) => theme.ok(),
            Some(Outcome::Failed | Outcome::TimedOut) => theme.error(),
            Some(Outcome::Cancelled) => theme.warning(),
            None if a.interrupted => theme.warning(),
            None => theme.status(StepStatus::Running),
        };
        let mut spans = vec![
            Span::raw(format!("  #{} {} ", a.number, text::time(a.started))),
            Span::styled(outcome, style),
        ];
        if let Some(code) = a.exit_code {
            spans.push(Span::raw(format!(" · exit {code}")));
        }
        if let Some(d) = a.duration {
            spans.push(Span::raw(format!(" · {}", text::duration(d))));
        }
        lines.push(Line::from(spans));
        if let Some(e) = &a.error {
            lines.push(Line::styled(format!("     {}", sanitize(e)), theme.error()));
        }
    }
    for s in state.signoffs() {
        let sig = &s.signature;
        let mut who = sig.who.clone();
        if !sig.role.is_empty() {
            who.push_str(&format!(" ({})", sig.role));
        }
        let how = if sig.preapproved {
            "pre-approved by"
        } else {
            "signed by"
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  ☑ {how} "), theme.status(StepStatus::SignedOff)),
            Span::styled(who, theme.bold()),
            Span::raw(format!(" at {}", text::time(s.at))),
            Span::styled(
                sig.seat
                    .as_ref()
                    .map_or_else(String::new, |seat| format!(" from {}", sanitize(&seat.short()))),
                theme.dim(),
            ),
        ]));
        for note in sig.note.lines() {
            lines.push(Line::styled(format!("     {}", sanitize(note)), theme.dim()));
        }
    }
    if let Some(skip) = state.get().and_then(|s| s.skip.as_ref()) {
        lines.push(Line::from(vec![
            Span::styled("  ↷ skipped by ", theme.status(StepStatus::Skipped)),
            Span::styled(skip.who.clone(), theme.bold()),
            Span::raw(format!(" at {}: {}", text::time(skip.at), sanitize(&skip.reason))),
        ]));
    }
    lines
}
