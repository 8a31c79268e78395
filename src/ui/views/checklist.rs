//! The checklist: phases with progress, steps with status glyph, kind,
//! duration and signers.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{pane_block, pane_title};
use crate::runbook::model::{Step, StepKind};
use crate::session::StepStatus;
use crate::text;
use crate::ui::app::{App, Pane, PhaseKey, Row};
use crate::ui::spans;
use crate::ui::theme::status_glyph;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let (done, total) = app.session.progress();
    // The database the session changes, in the frame the operator watches.
    let mut target: Vec<String> = app.session.targets.iter().map(|t| t.place()).collect();
    if !target.is_empty() {
        target.insert(0, String::new());
    }
    let title = pane_title(
        vec![Span::raw(format!(
            " Checklist {done}/{total}{} ",
            target.join(" · ")
        ))],
        app,
        Pane::Checklist,
    );
    let block = pane_block(title, app.focus == Pane::Checklist, app.theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let lines: Vec<Line> = app
        .rows()
        .iter()
        .skip(app.checklist_top)
        .take(usize::from(inner.height))
        .map(|row| {
            let line = match row {
                Row::Phase {
                    key,
                    title,
                    done,
                    total,
                    collapsed,
                    depth,
                    ..
                } => phase_line(app, *key, title, (*done, *total), *collapsed, *depth, width),
                Row::Step { step, depth } => step_line(app, step, *depth, width),
            };
            if app.selected.as_ref() == Some(&row.key()) {
                line.style(app.theme.selected())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Two columns per level of nesting, for phases under phases and sub-steps.
fn indent(depth: u32) -> String {
    "  ".repeat(usize::try_from(depth).unwrap_or(0).min(8))
}

fn phase_line<'a>(
    app: &App,
    key: PhaseKey,
    title: &str,
    (done, total): (usize, usize),
    collapsed: bool,
    depth: u32,
    width: usize,
) -> Line<'a> {
    let theme = app.theme;
    let arrow = if collapsed { "▸ " } else { "▾ " };
    let title = match key {
        PhaseKey::Rollback if app.session.rollback.is_none() => "Rollback (on demand)".to_string(),
        _ => title.to_string(),
    };
    let complete = total > 0 && done == total;
    let right = if complete {
        vec![Span::styled(format!("✓ {done}/{total}"), theme.ok())]
    } else {
        vec![Span::styled(format!("{done}/{total}"), theme.dim())]
    };
    let left = vec![
        Span::raw(indent(depth)),
        Span::styled(arrow, theme.dim()),
        Span::styled(title, theme.heading()),
    ];
    spans::spread(left, right, width)
}

/// The kind shown in the checklist: a check is "verify" whatever runs it.
pub fn kind_label(step: &Step) -> &'static str {
    match (&step.kind, step.verify) {
        (_, true) => "verify",
        (StepKind::Manual, _) => "manual",
        (StepKind::Shell { .. }, _) => "shell",
        (StepKind::Sql { .. }, _) => "sql",
        (StepKind::Gate { .. }, _) => "gate",
    }
}

fn step_line<'a>(app: &App, step: &Step, depth: u32, width: usize) -> Line<'a> {
    let theme = app.theme;
    let state = app.session.step(&step.id);
    let status = state.status();
    let style = theme.status(status);
    let left = vec![
        Span::raw(format!("  {}", indent(depth))),
        Span::styled(status_glyph(status, app.spinner), style),
        Span::raw(" "),
        Span::styled(
            step.title.clone(),
            if status == StepStatus::Pending {
                theme.text()
            } else {
                style
            },
        ),
    ];
    let mut right: Vec<Span> = Vec::new();
    let mut push = |span: Span<'a>| {
        right.push(Span::raw(" "));
        right.push(span);
    };
    let attention = matches!(
        status,
        StepStatus::Running
            | StepStatus::Failed
            | StepStatus::TimedOut
            | StepStatus::Cancelled
            | StepStatus::Interrupted
            | StepStatus::AwaitingSignOff
    );
    if (attention && width >= 40) || width >= 60 {
        push(Span::styled(status.label().to_string(), style));
    }
    if width >= 48 {
        let took = state
            .get()
            .and_then(|s| s.last_attempt())
            .and_then(|a| match a.duration {
                Some(d) => Some(d),
                None if status == StepStatus::Running => (app.now - a.started).to_std().ok(),
                None => None,
            });
        if let Some(d) = took {
            push(Span::styled(text::duration(d), theme.dim()));
        }
    }
    let signers = state.signers();
    if width >= 56 && !signers.is_empty() {
        let names = signers.into_iter().collect::<Vec<_>>().join(",");
        push(Span::styled(
            format!("by {}", text::truncate(&names, 16)),
            theme.dim(),
        ));
    }
    if width >= 28 {
        push(Span::styled(format!("{:<6}", kind_label(step)), theme.dim()));
    }
    spans::spread(left, right, width)
}
