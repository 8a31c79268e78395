//! The report as Markdown (CommonMark with GitHub tables), for reading in a
//! terminal or pasting into a review.
//!
//! Every text from the journal is escaped, so a step title, a note or a log
//! line can neither break a table nor inject markup or terminal escapes.

use std::fmt::Write;

use super::deployment::Deployment;
use super::layout::{Item, Span, SummaryRow, Table, failures, steps_table, waits};
use super::timeline::Timeline;
use super::{Report, StepReport, time_label, visible};

/// Verification rows shown per result in the table (JSON has them all).
const OBSERVED_ROWS: usize = 3;
/// Characters of a timeline strip: with the numbers, a line fits 120 columns.
const STRIP: usize = 40;
/// Characters of a phase's name in the timeline (longer ones are cut).
const NAME: usize = 26;

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

    summary(out, &report.summary())?;

    writeln!(out, "\n## Overrides\n")?;
    list(out, &report.override_items())?;

    writeln!(out, "\n## Failures\n")?;
    list(out, &report.failure_items())?;

    writeln!(out, "\n## Timeline\n")?;
    let timeline = &report.timeline;
    self::timeline(out, timeline, timeline.axis.length_ms())?;

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
        if f.failed_attempts.is_empty() {
            writeln!(out, "No failed attempt.")?;
        }
        for (caption, lines) in f.attempt_logs() {
            if lines.is_empty() {
                writeln!(out, "{caption}\n")?;
                continue;
            }
            let body: Vec<String> = lines.iter().map(|line| visible(line)).collect();
            let body = body.join("\n");
            let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
            writeln!(out, "{caption}\n\n{fence}text\n{body}\n{fence}\n")?;
        }
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

/// The deployment report of a runbook: every session across environments.
pub fn render_deployment(d: &Deployment) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_deployment(&mut out, d);
    out
}

fn write_deployment(out: &mut String, d: &Deployment) -> std::fmt::Result {
    writeln!(out, "# {}\n", text(&d.title()))?;
    summary(out, &d.summary())?;
    writeln!(out, "\n## Promotion path\n")?;
    table(out, &d.promotion_table())?;
    writeln!(out, "\n## Sessions\n")?;
    if d.sessions.is_empty() {
        writeln!(
            out,
            "No session of this runbook's content is saved in the state directory."
        )?;
    } else {
        table(out, &d.sessions_table())?;
    }
    writeln!(out, "\n## Evidence chain\n")?;
    if d.chain.is_empty() {
        writeln!(out, "No session ran a promotion gate.")?;
    } else {
        table(out, &d.chain_table())?;
    }
    if !d.sessions.is_empty() {
        writeln!(out, "\n## Comparison\n")?;
        table(out, &d.comparison_table())?;
    }
    writeln!(
        out,
        "\n## Timelines\n\nEvery session on one time axis, from its own start: equal lengths are equal times."
    )?;
    let axis = d.axis_ms();
    for (env, sessions) in d.by_environment() {
        writeln!(out, "\n### {}\n", text(env))?;
        for s in sessions {
            writeln!(out, "- {}\n", spans(&s.line(), false))?;
            timeline(out, &s.report.timeline, axis)?;
        }
    }
    if !d.unreadable.is_empty() {
        writeln!(out, "\n## Unreadable journals\n")?;
        for (path, why) in &d.unreadable {
            writeln!(out, "- {}: {}", text(path), lines(why))?;
        }
    }
    Ok(())
}

/// A summary table of label and value rows.
fn summary(out: &mut String, rows: &[SummaryRow]) -> std::fmt::Result {
    writeln!(out, "## Summary\n\n| | |\n|---|---|")?;
    for row in rows {
        writeln!(out, "| {} | {} |", row.label, spans(&row.value, true))?;
    }
    Ok(())
}

/// The timeline as a text chart in a code block, a line per phase: steps
/// done, planned and actual time, sign-off waits, failed attempts, and a
/// strip of where in the first `length_ms` of drawn time the phase ran.
pub(super) fn timeline(out: &mut String, t: &Timeline, length_ms: i64) -> std::fmt::Result {
    let name = |title: &str| {
        let title = visible(title);
        match title.chars().count() {
            n if n <= NAME => title,
            _ => title.chars().take(NAME - 1).chain(['…']).collect(),
        }
    };
    let end = crate::text::duration(std::time::Duration::from_millis(length_ms.max(0) as u64));
    let mut lines = vec![format!(
        "{:<NAME$} {:>5} {:>8} {:>8} {:>14} {:>6}  0{end:>w$}",
        "Phase",
        "steps",
        "planned",
        "actual",
        "sign-off waits",
        "failed",
        w = STRIP - 1
    )];
    for group in &t.groups {
        lines.push(format!(
            "{:<NAME$} {:>5} {:>8} {:>8} {:>14} {:>6} |{}|",
            name(&group.title),
            format!("{}/{}", group.done, group.rows.len()),
            // Planned times are the runbook's, in its own notation.
            group
                .planned
                .map_or_else(|| "-".to_string(), crate::runbook::duration::format_duration),
            group
                .actual()
                .map_or_else(|| "-".to_string(), crate::text::duration),
            waits(&group.stats),
            failures(&group.stats),
            t.strip(group, STRIP, length_ms)
        ));
    }
    lines.push(
        "█ ran  ░ waited for sign-off  ✕ failed  ! overridden  · the phase's span  \
         ≈ idle gap over 5s, drawn as 5s"
            .to_string(),
    );
    lines.extend(t.axis.gaps.iter().map(|g| format!("≈ {}", g.describe())));
    let body = lines.join("\n");
    let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
    writeln!(out, "{fence}text\n{body}\n{fence}")
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
