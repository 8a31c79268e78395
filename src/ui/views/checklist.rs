//! The checklist: phases with progress, steps with status glyph, kind,
//! duration and signers (with their seats while a step awaits more).

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

/// On a step waiting for more than one sign-off: how many have signed, who,
/// at which terminal (the detail pane gives the whole seat), and how many
/// more are awaited from other seats (four eyes count seats:
/// [`crate::session::rules::seat_refusal`]).
fn signed_so_far(app: &App, step: &Step) -> Option<String> {
    let state = app.session.step(&step.id);
    let needed = app.session.needed_signoffs() as usize;
    if needed < 2 || state.status() != StepStatus::AwaitingSignOff {
        return None;
    }
    let signed: Vec<String> = state
        .signoffs()
        .iter()
        .map(|s| match &s.signature.seat {
            Some(seat) => {
                let at = seat
                    .terminal
                    .as_deref()
                    .map_or(seat.host.as_str(), |t| t.strip_prefix("/dev/").unwrap_or(t));
                format!("{} ({at})", s.signature.who)
            }
            None => s.signature.who.clone(),
        })
        .collect();
    let count = state.signers().len();
    let more = needed.saturating_sub(count);
    Some(if signed.is_empty() {
        format!("0/{needed} · {needed} seats")
    } else {
        format!("{count}/{needed} ☑ {} · +{more} other seat", signed.join(", "))
    })
}

/// Columns of a step's title kept when its row shows who signed.
const TITLE_KEPT: usize = 10;
/// Columns of the kind label ("manual ").
const KIND_WIDTH: usize = 6;

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
    // Who signed from where says more than "awaiting sign-off" (the glyph says that).
    let so_far = signed_so_far(app, step).filter(|_| width >= 40);
    if so_far.is_none() && ((attention && width >= 40) || width >= 60) {
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
    if let Some(so_far) = so_far {
        // The rest of the row keeps the glyph, some of the title and the
        // kind, with a space between each.
        let prefix = 2 + indent(depth).len() + 2;
        let kept = prefix + TITLE_KEPT.min(text::width(&step.title));
        let room = width.saturating_sub(kept + KIND_WIDTH + 3);
        push(Span::styled(text::truncate(&so_far, room), theme.warning()));
    } else if width >= 56 && !signers.is_empty() {
        let names = signers.into_iter().collect::<Vec<_>>().join(",");
        push(Span::styled(
            format!("by {}", text::truncate(&names, 16)),
            theme.dim(),
        ));
    }
    if width >= 28 {
        push(Span::styled(
            format!("{:<KIND_WIDTH$}", kind_label(step)),
            theme.dim(),
        ));
    }
    spans::spread(left, right, width)
}
