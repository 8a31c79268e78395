//! The report as Markdown (CommonMark with GitHub tables), for reading in a
//! terminal or pasting into a review.
//!
//! Every text from the journal is escaped, so a step title, a note or a log
//! line can neither break a table nor inject markup or terminal escapes.

use std::fmt::Write;

use super::{
    Report, StepReport, duration_label, estimate_label, observed_summary, stream_label, time_label, visible,
};
use crate::journal::event::Mode;

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
    let s = &report.session;
    writeln!(out, "# {}\n", text(&report.title()))?;
    if report.integrity.broken.is_some() {
        writeln!(
            out,
            "> **⚠ Journal integrity {}**\n",
            text(&report.integrity.describe())
        )?;
    }

    writeln!(out, "## Summary\n")?;
    writeln!(out, "| | |\n|---|---|")?;
    let mut row = |name: &str, value: String| writeln!(out, "| {name} | {value} |");
    row("Session", code(&s.id))?;
    row("Runbook", cell(&s.runbook_path))?;
    row("Runbook SHA-256", code(&s.runbook_sha256))?;
    row("Environment", cell(&s.environment))?;
    row(
        "Mode",
        match s.mode {
            Mode::Live => "live".to_string(),
            Mode::DryRun => "**DRY-RUN** (SQL rolled back; never counts as evidence)".to_string(),
        },
    )?;
    if let Some(only) = &s.only {
        row("Part of the plan", format!("only {}", code(only)))?;
    }
    row("Operators", cell(&s.operators.join(", ")))?;
    row("Host", cell(&s.host))?;
    row("runsheet version", cell(&s.runsheet_version))?;
    row("Started", time_label(s.started))?;
    row(
        "Ended",
        s.ended.map_or_else(|| "not ended".to_string(), time_label),
    )?;
    row("Elapsed", duration_label(s.elapsed))?;
    if let Some(estimate) = &s.estimate {
        row("Estimate", estimate_label(estimate))?;
    }
    if let Some(window) = &s.window {
        row("Window", cell(window))?;
    }
    row("Outcome", format!("**{}**", cell(&s.outcome.describe())))?;
    row("Steps done", format!("{} of {}", s.steps_done, s.steps_total))?;
    if let Some(who) = &s.confirmed_by {
        row("Environment name typed by", cell(who))?;
    }
    if !s.resumes.is_empty() {
        let resumes: Vec<String> = s
            .resumes
            .iter()
            .map(|r| format!("{} by {}", time_label(r.at), cell(&r.who)))
            .collect();
        row("Resumed", resumes.join("; "))?;
    }
    let integrity = cell(&report.integrity.describe());
    row(
        "Integrity",
        if report.integrity.broken.is_some() {
            format!("**{integrity}**")
        } else {
            integrity
        },
    )?;

    writeln!(out, "\n## Overrides\n")?;
    if report.overrides.is_empty() {
        writeln!(out, "None.")?;
    }
    for o in &report.overrides {
        let by: Vec<String> = o.signoffs.iter().map(|s| s.describe()).collect();
        writeln!(
            out,
            "- {} {} ({}): overridden by {}",
            code(&o.step),
            text(&o.title),
            o.kind,
            lines(&by.join("; "))
        )?;
    }

    writeln!(out, "\n## Failures\n")?;
    if report.failures.is_empty() {
        writeln!(out, "None.")?;
    }
    for f in &report.failures {
        writeln!(out, "- {} {} ({})", code(&f.step), text(&f.title), f.kind)?;
        for a in &f.failed_attempts {
            let took = a
                .duration
                .map(|d| format!(", {}", duration_label(d)))
                .unwrap_or_default();
            writeln!(
                out,
                "  - attempt {}, {}{took}: {}",
                a.number,
                time_label(a.started),
                lines(&a.describe())
            )?;
        }
        writeln!(out, "  - resolution: {}", lines(&f.resolution))?;
    }

    writeln!(out, "\n## Phases: planned and actual time\n")?;
    writeln!(
        out,
        "| Phase | Steps done | Planned | Actual |\n|---|---|---|---|"
    )?;
    for p in &report.phases {
        writeln!(
            out,
            "| {} | {} of {} | {} | {} |",
            cell(&p.title),
            p.done,
            p.steps.len(),
            p.planned.map_or_else(|| "-".to_string(), duration_label),
            p.actual.map_or_else(|| "-".to_string(), duration_label),
        )?;
    }

    writeln!(out, "\n## Steps")?;
    for p in &report.phases {
        writeln!(out, "\n### {}\n", text(&p.title))?;
        steps(out, &p.steps)?;
    }
    if !report.unplanned_steps.is_empty() {
        writeln!(out, "\n### Steps recorded but no longer in the plan\n")?;
        steps(out, &report.unplanned_steps)?;
    }

    writeln!(out, "\n## Verification results\n")?;
    if report.verifications.is_empty() {
        writeln!(out, "None recorded.")?;
    } else {
        writeln!(
            out,
            "| Time | Step | Check | Attempt | Result | Observed |\n|---|---|---|---|---|---|"
        )?;
        for v in &report.verifications {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                time_label(v.at),
                code(&v.step),
                cell(&v.name),
                v.attempt,
                if v.passed { "PASS" } else { "**FAIL**" },
                cell(&observed_summary(&v.observed, OBSERVED_ROWS)),
            )?;
        }
    }

    writeln!(out, "\n## Logs of failed steps")?;
    if report.failures.is_empty() {
        writeln!(out, "\nNone.")?;
    }
    for f in &report.failures {
        writeln!(out, "\n### {} {}\n", code(&f.step), text(&f.title))?;
        if f.log_tail.is_empty() {
            writeln!(out, "No output.")?;
            continue;
        }
        writeln!(
            out,
            "The last {} of {} output lines (the journal holds them all):\n",
            f.log_tail.len(),
            f.output_lines
        )?;
        let body: Vec<String> = f
            .log_tail
            .iter()
            .map(|(stream, line)| format!("{:<6} │ {}", stream_label(*stream), visible(line)))
            .collect();
        let body = body.join("\n");
        let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
        writeln!(out, "{fence}text\n{body}\n{fence}")?;
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
    if report.notes.is_empty() {
        writeln!(out, "None.")?;
    }
    for n in &report.notes {
        writeln!(
            out,
            "- {}, {}: {}",
            time_label(n.at),
            text(&n.who),
            lines(&n.text)
        )?;
    }

    writeln!(out, "\n## Warnings\n")?;
    if report.warnings.is_empty() {
        writeln!(out, "None.")?;
    }
    for w in &report.warnings {
        let at = w.at.map(|at| format!("{}, ", time_label(at))).unwrap_or_default();
        writeln!(out, "- {at}{}: {}", code(&w.code), lines(&w.message))?;
    }
    Ok(())
}

/// A table of steps, then their sign-offs and skips as a list.
fn steps(out: &mut String, steps: &[StepReport]) -> std::fmt::Result {
    if steps.is_empty() {
        return writeln!(out, "No steps.");
    }
    writeln!(
        out,
        "| Step | Kind | Status | Attempts | Exit codes | Duration |\n|---|---|---|---|---|---|"
    )?;
    for s in steps {
        writeln!(
            out,
            "| {} {} | {} | {} | {} | {} | {} |",
            code(&s.id),
            cell(&s.title),
            s.kind,
            s.status_label(),
            s.attempts.len(),
            s.exit_codes(),
            s.duration.map_or_else(String::new, duration_label),
        )?;
    }
    let decided: Vec<&StepReport> = steps
        .iter()
        .filter(|s| !s.signoffs.is_empty() || s.skip.is_some())
        .collect();
    if !decided.is_empty() {
        writeln!(out)?;
    }
    for s in decided {
        for sign in &s.signoffs {
            let what = if s.overridden {
                "overridden by"
            } else {
                "signed off by"
            };
            writeln!(out, "- {} {what} {}", code(&s.id), lines(&sign.describe()))?;
        }
        if let Some(skip) = &s.skip {
            writeln!(out, "- {} {}", code(&s.id), lines(&skip.describe()))?;
        }
    }
    Ok(())
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
