//! The report as Markdown (CommonMark with GitHub tables), for reading in a
//! terminal or pasting into a review.
//!
//! Every text from the journal is escaped, so a step title, a note or a log
//! line can neither break a table nor inject markup or terminal escapes.

use std::fmt::Write;

use super::layout::{Item, Span, Table, steps_table};
use super::{Report, StepReport, time_label, visible};

/// Verification rows shown per result in the table (JSON has them all).
const OBSERVED_ROWS: usize = 3;

/// Render the whole report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_report(&mut out, report);
    out
}

fn write_report(out: &mut String, report: &Report) -> std::fmt::Result {
    writeln!(out, "# {}\n", text(&report.title()))?;
    if let Some(banner) = report.integrity_banner() {
        writeln!(out, "> **{}**\n", text(&banner))?;
    }

    writeln!(out, "## Summary\n\n| | |\n|---|---|")?;
    for row in report.summary() {
        writeln!(out, "| {} | {} |", row.label, spans(&row.value, true))?;
    }

    writeln!(out, "\n## Overrides\n")?;
    list(out, &report.override_items())?;

    writeln!(out, "\n## Failures\n")?;
    list(out, &report.failure_items())?;

    writeln!(out, "\n## Phases: planned and actual time\n")?;
    table(out, &report.phase_table())?;

    writeln!(out, "\n## Steps")?;
    for (title, steps) in report.step_groups() {
        writeln!(out, "\n### {}\n", text(title))?;
        self::steps(out, steps)?;
    }

    writeln!(out, "\n## Verification results\n")?;
    let verifications = report.verification_table();
    if verifications.rows.is_empty() {
        writeln!(out, "None recorded.")?;
    } else {
        table(out, &verifications)?;
    }

    writeln!(out, "\n## Logs of failed steps")?;
    if report.failures.is_empty() {
        writeln!(out, "\nNone.")?;
    }
    for f in &report.failures {
        writeln!(out, "\n### {}\n", spans(&f.heading(), false))?;
        if f.log_tail.is_empty() {
            writeln!(out, "No output.")?;
            continue;
        }
        let body: Vec<String> = f.log_lines().map(|line| visible(&line)).collect();
        let body = body.join("\n");
        let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
        writeln!(out, "{}\n\n{fence}text\n{body}\n{fence}", f.log_caption())?;
    }

    writeln!(out, "\n## Rollback\n")?;
    match &report.rollback {
        None => writeln!(out, "No rollback was started.")?,
        Some(r) => {
            writeln!(out, "Rollback {}\n", lines(&r.describe()))?;
            steps(out, &r.steps)?;
        }
    }

    writeln!(out, "\n## Notes\n")?;
    list(out, &report.note_items())?;

    writeln!(out, "\n## Warnings\n")?;
    list(out, &report.warning_items())
}

/// A table of steps, then their sign-offs and skips as a list.
fn steps(out: &mut String, steps: &[StepReport]) -> std::fmt::Result {
    if steps.is_empty() {
        return writeln!(out, "No steps.");
    }
    table(out, &steps_table(steps))?;
    let decided: Vec<(&StepReport, String)> = steps
        .iter()
        .flat_map(|s| s.decisions().into_iter().map(move |d| (s, d)))
        .collect();
    if !decided.is_empty() {
        writeln!(out)?;
    }
    for (s, decision) in decided {
        writeln!(out, "- {} {}", code(&s.id), lines(&decision))?;
    }
    Ok(())
}

/// A GitHub table.
fn table(out: &mut String, table: &Table) -> std::fmt::Result {
    writeln!(
        out,
        "| {} |\n|{}",
        table.columns.join(" | "),
        "---|".repeat(table.columns.len())
    )?;
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(|cell| spans(cell, true)).collect();
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

/// A list, or "None." when it is empty.
fn list(out: &mut String, items: &[Item]) -> std::fmt::Result {
    if items.is_empty() {
        return writeln!(out, "None.");
    }
    for item in items {
        writeln!(out, "- {}", spans(&item.head, false))?;
        for detail in &item.details {
            writeln!(out, "  - {}", spans(detail, false))?;
        }
    }
    Ok(())
}

/// Spans as Markdown: in a table cell everything stays on one line, in a
/// list item (or a heading) free text keeps its lines as hard breaks.
fn spans(parts: &[Span], in_table: bool) -> String {
    let free = |raw: &str| if in_table { cell(raw) } else { lines(raw) };
    parts
        .iter()
        .map(|span| match span {
            Span::Text(raw) if in_table => cell(raw),
            Span::Text(raw) => text(raw),
            Span::Code(raw) => code(raw),
            Span::Note(raw) | Span::Status(_, raw) => free(raw),
            Span::Flag(_, raw) => format!("**{}**", free(raw)),
            Span::Time(at) => time_label(*at),
            Span::Duration(d) => crate::text::duration(*d),
            Span::Break if in_table => "; ".to_string(),
            Span::Break => "\\\n  ".to_string(),
            Span::Observed(observed) => free(&observed.summary(OBSERVED_ROWS)),
        })
        .collect()
}

/// Inline text: Markdown punctuation escaped, control characters made visible.
fn text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in visible(raw).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '&' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text for a table cell: on one line (line breaks shown as " / ").
fn cell(raw: &str) -> String {
    let one_line: Vec<&str> = raw.lines().collect();
    text(&one_line.join(" / "))
}

/// Text in a list item: every line kept, as hard line breaks that stay
/// inside the item; a line that would start a block is escaped.
fn lines(raw: &str) -> String {
    let mut out = Vec::new();
    for (i, line) in raw.lines().enumerate() {
        let mut escaped = text(if i == 0 { line } else { line.trim_start() });
        if i > 0 {
            let digits = escaped.chars().take_while(char::is_ascii_digit).count();
            let next = escaped[digits..].chars().next();
            if digits == 0 && matches!(next, Some('+' | '-' | '=')) {
                escaped.insert(0, '\\');
            } else if digits > 0 && matches!(next, Some('.' | ')')) {
                escaped.insert(digits, '\\');
            }
        }
        out.push(escaped);
    }
    out.join("\\\n  ")
}

/// An id or hash as code; anything that a code span cannot hold as it is
/// (backticks, a table's `|`) falls back to escaped text.
fn code(raw: &str) -> String {
    if raw.is_empty() || raw.contains(['`', '|', '\n', '\r']) || raw.chars().any(char::is_control) {
        text(raw)
    } else {
        format!("`{raw}`")
    }
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_keeps_blocks_from_starting() {
        assert_eq!(text("a|b *c* <x> `d`"), "a\\|b \\*c\\* \\<x\\> \\`d\\`");
        assert_eq!(text("bell\u{7}esc\u{1b}[31m"), "bell\u{2407}esc\u{241b}\\[31m");
        assert_eq!(cell("one\ntwo"), "one / two");
        assert_eq!(
            lines("first\n# heading\n- item\n2. step"),
            "first\\\n  \\# heading\\\n  \\- item\\\n  2\\. step"
        );
        assert_eq!(code("a`b"), "a\\`b");
        assert_eq!(code("dev.step-1"), "`dev.step-1`");
    }

    #[test]
    fn fences_are_longer_than_any_backtick_run_inside() {
        assert_eq!(longest_backtick_run("a ``` b ` c"), 3);
        assert_eq!(longest_backtick_run("none"), 0);
    }
}
