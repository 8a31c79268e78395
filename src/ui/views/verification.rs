//! Every verification result so far, failures first, with what was observed.

use std::cmp::Reverse;
use std::collections::HashMap;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::log::tab_title;
use super::pane_block;
use crate::journal::event::Observed;
use crate::session::VerificationResult;
use crate::text;
use crate::text::sanitize;
use crate::ui::app::{App, Pane};
use crate::ui::spans;
use crate::ui::theme::Theme;

/// Rows of an observed table shown before "… N more".
const MAX_ROWS: usize = 8;
/// Widest a table column gets.
const MAX_COL: usize = 28;

pub fn render(app: &App, frame: &mut Frame, area: Rect, tabbed: bool) {
    let theme = app.theme;
    let results = &app.session.verifications;
    // The latest result of a check is current; earlier ones were superseded by a retry.
    let mut latest: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, r) in results.iter().enumerate() {
        latest.insert((r.step.as_str(), r.name.as_str()), i);
    }
    let current =
        |i: usize, r: &VerificationResult| latest.get(&(r.step.as_str(), r.name.as_str())) == Some(&i);
    let failed = results
        .iter()
        .enumerate()
        .filter(|(i, r)| current(*i, r) && !r.passed)
        .count();
    let passed = results
        .iter()
        .enumerate()
        .filter(|(i, r)| current(*i, r) && r.passed)
        .count();

    let mut own = vec![Span::raw(if tabbed { "" } else { "Verification · " })];
    if failed > 0 {
        own.push(Span::styled(format!("{failed} failed"), theme.error()));
        own.push(Span::raw(" · "));
    }
    own.push(Span::raw(format!("{passed} passed")));
    let block = pane_block(
        tab_title(app, Pane::Checks, tabbed, own),
        app.focus == Pane::Checks,
        theme,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if results.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("No verification has run yet.", theme.dim())),
            inner,
        );
        return;
    }
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by_key(|&i| (!current(i, &results[i]), results[i].passed, Reverse(i)));
    let mut lines = Vec::new();
    for i in order {
        result_lines(
            theme,
            &results[i],
            !current(i, &results[i]),
            inner.width,
            &mut lines,
        );
    }
    let rows = spans::rows(&lines, inner.width).saturating_sub(1);
    let scroll = app.checks_scroll.min(u16::try_from(rows).unwrap_or(u16::MAX));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}

fn result_lines(
    theme: Theme,
    r: &VerificationResult,
    superseded: bool,
    width: u16,
    out: &mut Vec<Line<'static>>,
) {
    let (mark, word, style) = if r.passed {
        ("✓", "PASS", theme.ok())
    } else {
        ("✗", "FAIL", theme.error())
    };
    let style = if superseded { theme.dim() } else { style };
    out.push(Line::from(vec![
        Span::styled(format!("{mark} {word} "), style),
        Span::styled(
            sanitize(&r.name),
            if superseded { theme.dim() } else { theme.bold() },
        ),
    ]));
    let earlier = if superseded { " · earlier attempt" } else { "" };
    out.push(Line::styled(
        format!(
            "    {} · attempt {} · {}{earlier}",
            r.step,
            r.attempt,
            text::time(r.at)
        ),
        theme.dim(),
    ));
    observed_lines(theme, &r.observed, width, out);
}

/// What a check observed: its text, or its rows as a table when the table
/// fits `width`, else each row as `column: value` lines (a wrapped table
/// reads as noise in a narrow pane).
fn observed_lines(theme: Theme, o: &Observed, width: u16, out: &mut Vec<Line<'static>>) {
    if o.columns.is_empty() && o.rows.is_empty() {
        let text: Vec<&str> = o.text.lines().collect();
        let skip = text.len().saturating_sub(3);
        out.extend(
            text[skip..]
                .iter()
                .map(|l| Line::styled(format!("    {}", sanitize(l)), theme.dim())),
        );
        return;
    }
    if o.rows.is_empty() {
        out.push(Line::styled(
            "    no problems found (the query returned no rows)".to_string(),
            theme.dim(),
        ));
        return;
    }
    let cells = |row: &[String]| -> Vec<String> { row.iter().map(|c| sanitize(c)).collect() };
    let header = cells(&o.columns);
    let body: Vec<Vec<String>> = o.rows.iter().take(MAX_ROWS).map(|r| cells(r)).collect();
    let n = header.len().max(body.iter().map(Vec::len).max().unwrap_or(0));
    let widths: Vec<usize> = (0..n)
        .map(|c| {
            std::iter::once(&header)
                .chain(&body)
                .filter_map(|r| r.get(c))
                .map(|s| text::width(s))
                .max()
                .unwrap_or(0)
                .min(MAX_COL)
        })
        .collect();
    let format_row = |row: &[String]| -> String {
        let cols: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(c, w)| {
                let cell = text::truncate(row.get(c).map_or("", String::as_str), *w);
                format!("{cell}{}", " ".repeat(w.saturating_sub(text::width(&cell))))
            })
            .collect();
        format!("    {}", cols.join(" │ ").trim_end())
    };
    let table_width = 4 + widths.iter().sum::<usize>() + 3 * n.saturating_sub(1);
    if table_width <= usize::from(width) {
        if !header.is_empty() {
            out.push(Line::styled(format_row(&header), theme.bold()));
        }
        out.extend(body.iter().map(|r| Line::raw(format_row(r))));
    } else {
        for (i, row) in body.iter().enumerate() {
            if i > 0 {
                out.push(Line::styled("    ─", theme.dim()));
            }
            for (c, cell) in row.iter().enumerate() {
                let key = header.get(c).map_or("", String::as_str);
                out.push(Line::from(vec![
                    Span::styled(format!("    {key}: "), theme.bold()),
                    Span::raw(cell.clone()),
                ]));
            }
        }
    }
    if o.rows.len() > MAX_ROWS {
        out.push(Line::styled(
            format!(
                "    … {} more",
                text::plural((o.rows.len() - MAX_ROWS) as u64, "row")
            ),
            theme.dim(),
        ));
    }
}
