//! The status bar (what, where, live or dry, who, how far, how long), the
//! banners that must not be missed, and the footer (messages and hints).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::hints;
use crate::journal::event::Mode;
use crate::runbook::duration::format_estimate;
use crate::session::{Next, choices};
use crate::text;
use crate::ui::app::{App, Banner, Level};
use crate::ui::keys::{self, Action, Context};
use crate::ui::spans;

/// Whether an environment deserves the loud colour.
fn is_production(app: &App) -> bool {
    let env = app.session.plan.environment.to_ascii_lowercase();
    app.session.plan.confirm || env == "production" || env == "prod"
}

/// How much of the status bar fits: tried from the fullest to the barest.
#[derive(Clone, Copy)]
struct Fit {
    badge: bool,
    operator: bool,
    gauge: usize,
    estimate: bool,
}

const FITS: [Fit; 5] = [
    Fit {
        badge: true,
        operator: true,
        gauge: 10,
        estimate: true,
    },
    Fit {
        badge: false,
        operator: true,
        gauge: 10,
        estimate: true,
    },
    Fit {
        badge: false,
        operator: false,
        gauge: 10,
        estimate: true,
    },
    Fit {
        badge: false,
        operator: false,
        gauge: 5,
        estimate: true,
    },
    Fit {
        badge: false,
        operator: false,
        gauge: 5,
        estimate: false,
    },
];

/// Columns the runbook title keeps before anything else is dropped.
const TITLE_ROOM: usize = 20;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width);
    let title = &app.session.plan.runbook_title;
    let want = text::width(title).min(TITLE_ROOM);
    let mut chosen = None;
    for fit in FITS {
        let (left, right) = parts(app, fit);
        let used: usize = left.iter().chain(&right).map(Span::width).sum();
        if used + want < width {
            chosen = Some((left, right));
            break;
        }
    }
    let (mut left, right) = chosen.unwrap_or_else(|| parts(app, FITS[FITS.len() - 1]));
    left.push(Span::styled(title.clone(), app.theme.bold()));
    frame.render_widget(Paragraph::new(spans::spread(left, right, width)), area);
}

/// The status bar's badges (left, without the title) and progress (right).
fn parts(app: &App, fit: Fit) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
    let theme = app.theme;
    let plan = &app.session.plan;
    let env_style = if is_production(app) {
        theme.production()
    } else {
        theme.environment()
    };
    let (mode_text, mode_style) = match app.session.header.mode {
        _ if app.replay => (" REPLAY ", theme.badge()),
        Mode::Live => (" LIVE ", theme.live()),
        Mode::DryRun => (" DRY-RUN ", theme.dry_run()),
    };
    let mut left = Vec::new();
    if fit.badge {
        left.push(Span::styled(" runsheet ", theme.badge()));
        left.push(Span::raw(" "));
    }
    left.extend([
        Span::styled(format!(" {} ", plan.environment.to_uppercase()), env_style),
        Span::raw(" "),
        Span::styled(mode_text, mode_style),
        Span::raw(" "),
    ]);

    let (done, total) = app.session.progress();
    let filled = (done * fit.gauge).checked_div(total).unwrap_or(0);
    let elapsed = app.session.elapsed(app.now);
    let over = plan.estimate.is_some_and(|e| elapsed > e.max * 2);
    let mut right = Vec::new();
    if fit.operator {
        right.push(Span::styled(format!("op {} ", app.operator), theme.text()));
    }
    if let Some(present) = connected(app, fit.operator) {
        right.push(Span::styled(present, theme.dim()));
    }
    right.extend([
        Span::styled("▕", theme.dim()),
        Span::styled("█".repeat(filled), theme.gauge_done()),
        Span::styled("░".repeat(fit.gauge - filled), theme.dim()),
        Span::styled("▏", theme.dim()),
        Span::raw(format!("{done}/{total} ")),
    ]);
    let clock = text::clock(elapsed);
    let estimate = match plan.estimate {
        Some(e) if fit.estimate => format!(" / est {}", format_estimate(&e)),
        _ => String::new(),
    };
    if over {
        right.push(Span::styled(format!("⚠ {clock}{estimate} "), theme.alert()));
    } else {
        right.push(Span::raw(format!("{clock}{estimate} ")));
    }
    (left, right)
}

/// Who is connected to a team session: each name with its role, or (when
/// room is short) how many terminals are.
fn connected(app: &App, names: bool) -> Option<String> {
    if app.present.is_empty() {
        return None;
    }
    if !names {
        return Some(format!("{} connected ", app.present.len()));
    }
    let who: Vec<String> = app
        .present
        .iter()
        .map(|p| format!("{} {}", p.origin.operator, p.role.label()))
        .collect();
    Some(format!("with {} ", who.join(", ")))
}

pub fn render_banner(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let style_of = |b: Banner| -> Style {
        match b {
            Banner::DryRun => theme.dry_run(),
            Banner::Rollback => theme.rollback(),
            Banner::Alert => theme.alert(),
            Banner::Done => theme.live(),
        }
    };
    let banners = app.banners();
    let mut spans = Vec::new();
    for (i, (kind, text)) in banners.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(format!(" {text} "), style_of(*kind)));
    }
    let fill = banners.first().map_or(Style::new(), |(k, _)| style_of(*k));
    frame.render_widget(Paragraph::new(Line::from(spans)).style(fill), area);
}

/// The lock the running SQL step waits for, as the watcher last said, and
/// how long ago it said so.
fn lock_wait(app: &App) -> Option<String> {
    let Next::Running(step) = app.session.next() else {
        return None;
    };
    let (at, text) = app.session.steps.get(&step.id)?.lock_wait.as_ref()?;
    let since = (app.now - *at).to_std().unwrap_or_default();
    Some(format!(
        "{} {text} (reported {} ago)",
        step.id,
        text::duration(since)
    ))
}

pub fn render_footer(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    // A lock wait is what the operator must see first: the step looks busy but is stuck.
    if let Some(wait) = lock_wait(app) {
        let line = Line::from(vec![
            Span::styled("⧖ ", theme.warning()),
            Span::styled(wait, theme.warning()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let line = match &app.message {
        Some(m) => {
            let (mark, style) = match m.level {
                Level::Info => ("•", theme.info()),
                Level::Warning => ("⚠", theme.warning()),
                Level::Error => ("✗", theme.error()),
            };
            Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(m.text.clone(), style),
            ])
        }
        None if app.quitting => Line::styled("leaving: waiting for the engine to stop…", theme.info()),
        None => {
            let k = |a| keys::key_for(Context::Global, a);
            // A replay acts on nothing: no hint offers to run, sign or note.
            let mut pairs: Vec<(String, &str)> = if app.replay {
                Vec::new()
            } else {
                choices(&app.session, &app.seat)
                    .into_iter()
                    .map(|c| (k(keys::choice_action(c.kind)), c.label))
                    .collect()
            };
            if app.replay || matches!(app.session.next(), Next::Running(_)) {
                pairs.push((k(Action::Search), "search log"));
            }
            pairs.push((k(Action::Help), "help"));
            if !app.replay {
                pairs.push((k(Action::Note), "note"));
            }
            pairs.push((k(Action::Quit), "quit"));
            let session = Span::styled(format!("session {} ", app.session.header.session_id), theme.dim());
            let room = usize::from(area.width);
            // Drop whole hints (never "quit", last) rather than cut one in half.
            while pairs.len() > 1 && hints(theme, &pairs).width() > room {
                pairs.remove(pairs.len() - 2);
            }
            let hint = hints(theme, &pairs);
            if hint.width() + session.width() + 2 <= room {
                spans::spread(hint.spans, vec![session], room)
            } else {
                hint
            }
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}
