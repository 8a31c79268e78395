//! The log pane: the selected step's output, newest at the bottom while
//! following, streams told apart by a gutter mark as well as colour.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{pane_block, pane_title};
use crate::runbook::model::StepKind;
use crate::session::StepStatus;
use crate::text;
use crate::ui::app::{App, Pane};
use crate::ui::log::LogLine;
use crate::ui::theme::{Theme, stream_mark};

/// The tab strip of the shared bottom pane, or a plain title.
pub fn tab_title<'a>(app: &App, pane: Pane, tabbed: bool, own: Vec<Span<'a>>) -> Line<'a> {
    let theme = app.theme;
    let mut spans = vec![Span::raw(" ")];
    if tabbed {
        let (log, checks) = match pane {
            Pane::Log => (theme.bold(), theme.dim()),
            _ => (theme.dim(), theme.bold()),
        };
        let mark = |on: bool| if on { "▸" } else { " " };
        spans.push(Span::styled(format!("{}Log", mark(pane == Pane::Log)), log));
        spans.push(Span::styled(" │ ", theme.dim()));
        spans.push(Span::styled(
            format!("{}Checks", mark(pane == Pane::Checks)),
            checks,
        ));
        spans.push(Span::styled(" · ", theme.dim()));
    }
    spans.extend(own);
    spans.push(Span::raw(" "));
    pane_title(spans, app, pane)
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, tabbed: bool) {
    let theme = app.theme;
    let log = &app.log;
    let step = log.step().and_then(|id| app.session.plan.step(id));
    let total = log.step().map_or(0, |id| app.output_lines(id));
    let mut own = vec![Span::raw(if tabbed { String::new() } else { "Log".to_string() })];
    if let Some(step) = step {
        if !tabbed {
            own.push(Span::raw(" · "));
        }
        own.push(Span::raw(step.id.clone()));
        if total > 0 {
            own.push(Span::raw(" · "));
            own.push(if log.follow {
                Span::styled("following", theme.ok())
            } else {
                Span::styled("paused", theme.warning())
            });
            own.push(Span::raw(format!(" · {}", text::plural(total, "line"))));
        }
        if log.wrap {
            own.push(Span::raw(" · wrap"));
        }
        if let Some(p) = &log.search {
            own.push(Span::raw(format!(" · /{p}")));
        }
    }
    let block = pane_block(
        tab_title(app, Pane::Log, tabbed, own),
        app.focus == Pane::Log,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(step) = step else {
        frame.render_widget(
            Paragraph::new(Line::styled("Select a step to see its output.", theme.dim())),
            inner,
        );
        return;
    };
    if total == 0 {
        let status = app.session.step(&step.id).status();
        let why = match (&step.kind, status) {
            (StepKind::Manual, _) => "A manual step: nothing runs, a person signs it off.",
            (StepKind::Gate { .. }, StepStatus::Pending) => "A gate: runsheet checks it when it is reached.",
            (_, StepStatus::Pending) => "Not run yet.",
            (_, StepStatus::Running) => "Running; no output yet.",
            _ => "No output.",
        };
        frame.render_widget(Paragraph::new(Line::styled(why, theme.dim())), inner);
        return;
    }
    let height = usize::from(inner.height);
    let width = usize::from(inner.width);
    let lines = if log.wrap {
        wrapped(app, total, height, width)
    } else {
        unwrapped(app, total, height)
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

/// One line, cut at the pane's edge by the paragraph.
fn unwrapped(app: &App, total: u64, height: usize) -> Vec<Line<'static>> {
    let log = &app.log;
    let first = log.first_visible(total, height);
    let last = (first + height as u64).min(total);
    (first..last)
        .map(|i| match log.get(i) {
            Some(line) => styled(app, i, line, &line.text, true),
            None => missing(app.theme, i),
        })
        .collect()
}

/// Lines broken into rows of the pane's width; following shows the last rows.
fn wrapped(app: &App, total: u64, height: usize, width: usize) -> Vec<Line<'static>> {
    let log = &app.log;
    let room = width.saturating_sub(2).max(1);
    let rows_of = |i: u64| -> Vec<Line<'static>> {
        let Some(line) = log.get(i) else {
            return vec![missing(app.theme, i)];
        };
        let chars: Vec<char> = line.text.chars().collect();
        if chars.is_empty() {
            return vec![styled(app, i, line, "", true)];
        }
        chars
            .chunks(room)
            .enumerate()
            .map(|(n, chunk)| styled(app, i, line, &chunk.iter().collect::<String>(), n == 0))
            .collect()
    };
    let mut rows = Vec::new();
    if log.follow {
        let mut i = total;
        while i > 0 && rows.len() < height {
            i -= 1;
            let mut r = rows_of(i);
            r.append(&mut rows);
            rows = r;
        }
        let excess = rows.len().saturating_sub(height);
        rows.drain(..excess);
    } else {
        let mut i = log.first_visible(total, height);
        while i < total && rows.len() < height {
            rows.extend(rows_of(i));
            i += 1;
        }
        rows.truncate(height);
    }
    rows
}

fn missing(theme: Theme, index: u64) -> Line<'static> {
    Line::styled(
        format!(
            "  … line {} is being read from the journal",
            text::count(index + 1)
        ),
        theme.dim(),
    )
}

/// A row of a log line: gutter mark (first row only), text, search matches highlighted.
fn styled(app: &App, index: u64, line: &LogLine, shown: &str, first_row: bool) -> Line<'static> {
    let theme = app.theme;
    let style = theme.stream(line.stream);
    let mark = if first_row { stream_mark(line.stream) } else { " " };
    let current = app.log.matched == Some(index);
    let mark_style = if current { theme.search_match() } else { style };
    let mut spans = vec![Span::styled(format!("{mark} "), mark_style)];
    match app.log.search.as_deref() {
        Some(p) if !p.is_empty() => spans.extend(highlight(shown, p, style, theme.search_match())),
        _ => spans.push(Span::styled(shown.to_string(), style)),
    }
    Line::from(spans)
}

/// `text` split into spans with every match of `pattern` (smart case) highlighted.
fn highlight(text: &str, pattern: &str, base: Style, hit: Style) -> Vec<Span<'static>> {
    let exact = pattern.chars().any(char::is_uppercase);
    // Case-folding keeps byte offsets only for ASCII; otherwise match exactly.
    let (hay, needle) = if !exact && text.is_ascii() && pattern.is_ascii() {
        (text.to_ascii_lowercase(), pattern.to_string())
    } else {
        (text.to_string(), pattern.to_string())
    };
    let mut spans = Vec::new();
    let mut at = 0;
    for (start, _) in hay.match_indices(&needle) {
        if start > at {
            spans.push(Span::styled(text[at..start].to_string(), base));
        }
        spans.push(Span::styled(text[start..start + needle.len()].to_string(), hit));
        at = start + needle.len();
    }
    if at < text.len() {
        spans.push(Span::styled(text[at..].to_string(), base));
    }
    spans
}
