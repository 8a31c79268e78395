//! The report as one self-contained HTML page: inline CSS, no scripts, no
//! external assets, readable on screen and printable (print CSS).
//!
//! Every text from the journal is HTML-escaped; status is always spelled
//! out in words, colour only supports it.

use std::fmt::Write;

use super::{
    Report, StepReport, Tone, duration_label, estimate_label, observed_summary, stream_label, time_label,
    visible,
};
use crate::journal::event::{Mode, Observed};

/// Rows of a verification's observed table shown on the page (JSON has them all).
const OBSERVED_ROWS: usize = 20;

const STYLE: &str = r#"
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg-alt: #f6f8fa;
  --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  max-width: 72rem; margin: 2rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--bg-alt); font-weight: 600; }
table.summary th { width: 14rem; }
table.observed { font-size: .85rem; margin: .2rem 0; }
code, pre { font: .88em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { overflow-wrap: break-word; }
pre { background: var(--bg-alt); border: 1px solid var(--line); padding: .6rem .8rem;
  white-space: pre-wrap; overflow-wrap: anywhere; }
.banner { border: 3px solid var(--bad); color: var(--bad); padding: .75rem 1rem; font-weight: 700;
  font-size: 1.1rem; margin: 0 0 1rem; }
.good { color: var(--good); font-weight: 600; }
.bad { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); font-weight: 600; }
.neutral { color: var(--muted); }
.muted { color: var(--muted); }
ul { padding-left: 1.4rem; }
li { margin: .15rem 0; }
.note { white-space: pre-wrap; }
@media print {
  @page { margin: 14mm; }
  body { font-size: 10pt; max-width: none; margin: 0; padding: 0; }
  h2 { break-after: avoid; }
  h3 { break-after: avoid; }
  tr, li, pre, .banner { break-inside: avoid; }
  thead { display: table-header-group; }
  th { background: none; }
  pre { background: none; }
}
"#;

/// Render the whole page.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_page(&mut out, report);
    out
}

fn write_page(out: &mut String, report: &Report) -> std::fmt::Result {
    let s = &report.session;
    let title = esc(&report.title());
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>"
    )?;
    if report.integrity.broken.is_some() {
        writeln!(
            out,
            "<p class=\"banner\" id=\"integrity-broken\">⚠ Journal integrity {}</p>",
            esc(&report.integrity.describe())
        )?;
    }

    writeln!(out, "<h2 id=\"summary\">Summary</h2>\n<table class=\"summary\">")?;
    let mut row =
        |name: &str, value: String| writeln!(out, "<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>");
    row("Session", format!("<code>{}</code>", esc(&s.id)))?;
    row("Runbook", esc(&s.runbook_path))?;
    row(
        "Runbook SHA-256",
        format!("<code>{}</code>", esc(&s.runbook_sha256)),
    )?;
    row("Environment", esc(&s.environment))?;
    row(
        "Mode",
        match s.mode {
            Mode::Live => "live".to_string(),
            Mode::DryRun => {
                "<span class=\"warn\">DRY-RUN</span> (SQL rolled back; never counts as evidence)".to_string()
            }
        },
    )?;
    if let Some(only) = &s.only {
        row("Part of the plan", format!("only <code>{}</code>", esc(only)))?;
    }
    row("Operators", esc(&s.operators.join(", ")))?;
    row("Host", esc(&s.host))?;
    row("runsheet version", esc(&s.runsheet_version))?;
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
        row("Window", esc(window))?;
    }
    row(
        "Outcome",
        format!(
            "<span class=\"{}\">{}</span>",
            s.outcome.tone().class(),
            esc(&s.outcome.describe())
        ),
    )?;
    row("Steps done", format!("{} of {}", s.steps_done, s.steps_total))?;
    if let Some(who) = &s.confirmed_by {
        row("Environment name typed by", esc(who))?;
    }
    if !s.resumes.is_empty() {
        let resumes: Vec<String> = s
            .resumes
            .iter()
            .map(|r| format!("{} by {}", time_label(r.at), esc(&r.who)))
            .collect();
        row("Resumed", resumes.join("<br>"))?;
    }
    let tone = if report.integrity.broken.is_some() {
        Tone::Bad
    } else {
        Tone::Good
    };
    row(
        "Integrity",
        format!(
            "<span class=\"{}\">{}</span>",
            tone.class(),
            esc(&report.integrity.describe())
        ),
    )?;
    writeln!(out, "</table>")?;

    writeln!(out, "<h2 id=\"overrides\">Overrides</h2>")?;
    if report.overrides.is_empty() {
        writeln!(out, "<p>None.</p>")?;
    } else {
        writeln!(out, "<ul>")?;
        for o in &report.overrides {
            let by: Vec<String> = o.signoffs.iter().map(|s| esc(&s.describe())).collect();
            writeln!(
                out,
                "<li><code>{}</code> {} ({}): <span class=\"warn\">overridden</span> by <span class=\"note\">{}</span></li>",
                esc(&o.step),
                esc(&o.title),
                o.kind,
                by.join("; ")
            )?;
        }
        writeln!(out, "</ul>")?;
    }

    writeln!(out, "<h2 id=\"failures\">Failures</h2>")?;
    if report.failures.is_empty() {
        writeln!(out, "<p>None.</p>")?;
    } else {
        writeln!(out, "<ul>")?;
        for f in &report.failures {
            writeln!(
                out,
                "<li><code>{}</code> {} ({})\n<ul>",
                esc(&f.step),
                esc(&f.title),
                f.kind
            )?;
            for a in &f.failed_attempts {
                let took = a
                    .duration
                    .map(|d| format!(", {}", duration_label(d)))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "<li>attempt {}, {}{took}: <span class=\"bad\">{}</span></li>",
                    a.number,
                    time_label(a.started),
                    esc(&a.describe())
                )?;
            }
            writeln!(
                out,
                "<li>resolution: <span class=\"note\">{}</span></li>\n</ul></li>",
                esc(&f.resolution)
            )?;
        }
        writeln!(out, "</ul>")?;
    }

    writeln!(
        out,
        "<h2 id=\"phases\">Phases: planned and actual time</h2>\n<table>\n<thead><tr><th>Phase</th>\
         <th>Steps done</th><th>Planned</th><th>Actual</th></tr></thead>\n<tbody>"
    )?;
    for p in &report.phases {
        writeln!(
            out,
            "<tr><td>{}</td><td>{} of {}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.title),
            p.done,
            p.steps.len(),
            p.planned.map_or_else(|| "-".to_string(), duration_label),
            p.actual.map_or_else(|| "-".to_string(), duration_label),
        )?;
    }
    writeln!(out, "</tbody>\n</table>")?;

    writeln!(out, "<h2 id=\"steps\">Steps</h2>")?;
    for p in &report.phases {
        writeln!(out, "<h3>{}</h3>", esc(&p.title))?;
        steps(out, &p.steps)?;
    }
    if !report.unplanned_steps.is_empty() {
        writeln!(out, "<h3>Steps recorded but no longer in the plan</h3>")?;
        steps(out, &report.unplanned_steps)?;
    }

    writeln!(out, "<h2 id=\"verification\">Verification results</h2>")?;
    if report.verifications.is_empty() {
        writeln!(out, "<p>None recorded.</p>")?;
    } else {
        writeln!(
            out,
            "<table class=\"verifications\">\n<thead><tr><th>Time</th><th>Step</th><th>Check</th>\
             <th>Attempt</th><th>Result</th><th>Observed</th></tr></thead>\n<tbody>"
        )?;
        for v in &report.verifications {
            let (class, word) = if v.passed {
                ("good", "PASS")
            } else {
                ("bad", "FAIL")
            };
            writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>\
                 <td class=\"{class}\">{word}</td><td>{}</td></tr>",
                time_label(v.at),
                esc(&v.step),
                esc(&v.name),
                v.attempt,
                observed(&v.observed),
            )?;
        }
        writeln!(out, "</tbody>\n</table>")?;
    }

    writeln!(out, "<h2 id=\"logs\">Logs of failed steps</h2>")?;
    if report.failures.is_empty() {
        writeln!(out, "<p>None.</p>")?;
    }
    for f in &report.failures {
        writeln!(out, "<h3><code>{}</code> {}</h3>", esc(&f.step), esc(&f.title))?;
        if f.log_tail.is_empty() {
            writeln!(out, "<p>No output.</p>")?;
            continue;
        }
        writeln!(
            out,
            "<p class=\"muted\">The last {} of {} output lines (the journal holds them all):</p>\n<pre>",
            f.log_tail.len(),
            f.output_lines
        )?;
        for (stream, line) in &f.log_tail {
            writeln!(out, "{:<6} │ {}", stream_label(*stream), esc(line))?;
        }
        writeln!(out, "</pre>")?;
    }

    writeln!(out, "<h2 id=\"rollback\">Rollback</h2>")?;
    match &report.rollback {
        None => writeln!(out, "<p>No rollback was started.</p>")?,
        Some(r) => {
            writeln!(out, "<p class=\"note\">Rollback {}</p>", esc(&r.describe()))?;
            steps(out, &r.steps)?;
        }
    }

    writeln!(out, "<h2 id=\"notes\">Notes</h2>")?;
    if report.notes.is_empty() {
        writeln!(out, "<p>None.</p>")?;
    } else {
        writeln!(out, "<ul>")?;
        for n in &report.notes {
            writeln!(
                out,
                "<li>{}, {}: <span class=\"note\">{}</span></li>",
                time_label(n.at),
                esc(&n.who),
                esc(&n.text)
            )?;
        }
        writeln!(out, "</ul>")?;
    }

    writeln!(out, "<h2 id=\"warnings\">Warnings</h2>")?;
    if report.warnings.is_empty() {
        writeln!(out, "<p>None.</p>")?;
    } else {
        writeln!(out, "<ul>")?;
        for w in &report.warnings {
            let at = w.at.map(|at| format!("{}, ", time_label(at))).unwrap_or_default();
            writeln!(
                out,
                "<li>{at}<code>{}</code>: <span class=\"note\">{}</span></li>",
                esc(&w.code),
                esc(&w.message)
            )?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "</body>\n</html>")
}

/// A table of steps; sign-offs and skips in the last column.
fn steps(out: &mut String, steps: &[StepReport]) -> std::fmt::Result {
    if steps.is_empty() {
        return writeln!(out, "<p>No steps.</p>");
    }
    writeln!(
        out,
        "<table class=\"steps\">\n<thead><tr><th>Step</th><th>Kind</th><th>Status</th><th>Attempts</th>\
         <th>Exit codes</th><th>Duration</th><th>Sign-offs and skips</th></tr></thead>\n<tbody>"
    )?;
    for s in steps {
        let mut decided: Vec<String> = s
            .signoffs
            .iter()
            .map(|sign| {
                let what = if s.overridden {
                    "overridden by"
                } else {
                    "signed off by"
                };
                format!("{what} {}", esc(&sign.describe()))
            })
            .collect();
        decided.extend(s.skip.as_ref().map(|k| esc(&k.describe())));
        writeln!(
            out,
            "<tr><td><code>{}</code> {}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td class=\"note\">{}</td></tr>",
            esc(&s.id),
            esc(&s.title),
            s.kind,
            s.tone().class(),
            s.status_label(),
            s.attempts.len(),
            s.exit_codes(),
            s.duration.map_or_else(String::new, duration_label),
            decided.join("<br>"),
        )?;
    }
    writeln!(out, "</tbody>\n</table>")
}

/// What a verification observed: its text, or a small table of its rows.
fn observed(o: &Observed) -> String {
    if !o.text.is_empty() || o.rows.is_empty() {
        return format!("<span class=\"note\">{}</span>", esc(&observed_summary(o, 0)));
    }
    let mut out = String::from("<table class=\"observed\">");
    if !o.columns.is_empty() {
        out.push_str("<thead><tr>");
        for c in &o.columns {
            out.push_str(&format!("<th>{}</th>", esc(c)));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>");
    for row in o.rows.iter().take(OBSERVED_ROWS) {
        out.push_str("<tr>");
        for c in row {
            out.push_str(&format!("<td>{}</td>", esc(c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    if o.rows.len() > OBSERVED_ROWS {
        out.push_str(&format!(
            "<span class=\"muted\">… {} more rows (in the JSON report and the journal)</span>",
            o.rows.len() - OBSERVED_ROWS
        ));
    }
    out
}

/// HTML-escaped text, control characters made visible.
fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in visible(raw).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_and_control_characters() {
        assert_eq!(
            esc("<script>alert('x' & \"y\")</script>\u{1b}"),
            "&lt;script&gt;alert(&#39;x&#39; &amp; &quot;y&quot;)&lt;/script&gt;\u{241b}"
        );
    }

    #[test]
    fn observed_text_stays_text_and_rows_become_a_table() {
        let text = Observed {
            text: "ok <fine>".into(),
            ..Observed::default()
        };
        assert_eq!(observed(&text), "<span class=\"note\">ok &lt;fine&gt;</span>");
        let rows = Observed {
            columns: vec!["n".into()],
            rows: vec![vec!["1".into()]],
            text: String::new(),
        };
        assert_eq!(
            observed(&rows),
            "<table class=\"observed\"><thead><tr><th>n</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
        );
    }
}
