//! The help overlay: every key from the key table, and what the glyphs mean.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph};

use super::popup;
use crate::journal::event::Stream;
use crate::session::StepStatus;
use crate::text;
use crate::ui::app::App;
use crate::ui::keys::{self, Context};
use crate::ui::theme::{Theme, status_glyph, stream_mark};

pub fn render(app: &App, frame: &mut Frame, area: Rect, scroll: u16) {
    let theme = app.theme;
    let rect = popup(frame, area, 96, area.height);
    keys_overlay(theme, frame, rect, "Keys", |width| lines(theme, width), scroll);
}

/// A scrollable list of keys in `rect`, its lines laid out for the inner
/// width: the live checklist's help and the replay's share it.
pub(crate) fn keys_overlay(
    theme: Theme,
    frame: &mut Frame,
    rect: Rect,
    title: &str,
    lines: impl FnOnce(usize) -> Vec<Line<'static>>,
    scroll: u16,
) {
    let title = Line::from(vec![
        Span::styled(format!(" {title} "), theme.bold()),
        Span::styled("· ↑↓ scroll · Esc closes ", theme.dim()),
    ]);
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.focus_border())
        .title(title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let lines = lines(usize::from(inner.width));
    let max = lines.len().saturating_sub(usize::from(inner.height));
    let scroll = usize::from(scroll).min(max);
    frame.render_widget(Paragraph::new(lines[scroll..].to_vec()), inner);
}

/// The whole help text, laid out for `width` columns.
fn lines(theme: Theme, width: usize) -> Vec<Line<'static>> {
    let labels = keys::BINDINGS
        .iter()
        .map(|b| b.keys_label())
        .chain(keys::MOUSE.iter().map(|m| m.0.to_string()));
    let key_width = labels.map(|l| text::width(&l)).max().unwrap_or(8) + 2;
    let help_width = width.saturating_sub(key_width + 2).max(10);
    let mut lines = Vec::new();
    let entry = |lines: &mut Vec<Line<'static>>, key: String, help: &str| {
        for (i, part) in text::wrap_words(help, help_width).into_iter().enumerate() {
            let key = if i == 0 { key.as_str() } else { "" };
            lines.push(Line::from(vec![
                Span::styled(format!("  {key:<key_width$}"), theme.bold()),
                Span::raw(part),
            ]));
        }
    };
    for context in Context::ALL {
        lines.push(Line::styled(context.title(), theme.heading()));
        for b in keys::bindings(context) {
            entry(&mut lines, b.keys_label(), b.help);
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("Mouse", theme.heading()));
    for (what, does) in keys::MOUSE {
        entry(&mut lines, what.to_string(), does);
    }

    lines.push(Line::raw(""));
    lines.push(Line::styled("Step states", theme.heading()));
    let states = [
        StepStatus::Pending,
        StepStatus::Running,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::TimedOut,
        StepStatus::Cancelled,
        StepStatus::Interrupted,
        StepStatus::AwaitingSignOff,
        StepStatus::SignedOff,
        StepStatus::Skipped,
    ];
    let items = states
        .iter()
        .map(|&s| (Span::styled(status_glyph(s, 0), theme.status(s)), s.label()))
        .collect();
    columns(items, width, &mut lines);

    lines.push(Line::raw(""));
    lines.push(Line::styled("Log gutter", theme.heading()));
    let streams = [
        (Stream::Stdout, "(blank) standard output"),
        (Stream::Stderr, "standard error"),
        (Stream::Info, "runsheet's notes"),
        (Stream::Notice, "server notices"),
        (Stream::Error, "errors"),
    ];
    let items = streams
        .iter()
        .map(|&(s, what)| (Span::styled(stream_mark(s), theme.stream(s)), what))
        .collect();
    columns(items, width, &mut lines);
    lines
}

/// Glyph-and-word pairs in as many aligned columns as fit.
fn columns(items: Vec<(Span<'static>, &'static str)>, width: usize, out: &mut Vec<Line<'static>>) {
    let cell = items.iter().map(|(_, w)| text::width(w)).max().unwrap_or(0) + 5;
    let per_row = (width.saturating_sub(2) / cell).max(1);
    for row in items.chunks(per_row) {
        let mut spans = vec![Span::raw("  ")];
        for (glyph, word) in row {
            spans.push(glyph.clone());
            spans.push(Span::raw(format!(" {word:<w$}", w = cell - 2)));
        }
        out.push(Line::from(spans));
    }
}
