//! The report as one self-contained HTML page: inline CSS and SVG, no
//! scripts, no external assets (a Content-Security-Policy forbids them, so
//! a browser would say so), readable on screen and printable on A4
//! landscape.
//!
//! Every text from the journal is HTML-escaped; status is always spelled
//! out in words, colour only supports it. Every colour comes from one
//! palette that has a high-contrast form: black on white, used when the
//! report is written with `NO_COLOR` set, when the reader's system asks for
//! more contrast or forced colours, and on a monochrome printer.

use std::fmt::Write;

use super::deployment::Deployment;
use super::layout::{Item, Span, SummaryRow, Table, steps_table};
use super::svg::{self, Scale};
use super::{Report, StepReport, time_label, visible};
use crate::journal::event::Observed;

/// Rows of a verification's observed table shown on the page (JSON has them all).
const OBSERVED_ROWS: usize = 20;

/// Every colour of the page by its variable's name: on screen, and in the
/// high-contrast form.
const PALETTE: [(&str, &str, &str); 19] = [
    ("fg", "#1b1f24", "#000"),
    ("muted", "#57606a", "#000"),
    ("line", "#d0d7de", "#000"),
    ("bg-alt", "#f6f8fa", "#fff"),
    ("paper", "#fff", "#fff"),
    ("good", "#1a7f37", "#000"),
    ("bad", "#cf222e", "#000"),
    ("warn", "#9a6700", "#000"),
    ("grid", "#d8dee4", "#999"),
    ("band", "#eaeef2", "#e4e4e4"),
    ("stripe", "#f6f8fa", "#fff"),
    ("good-fill", "#2da44e", "#000"),
    ("bad-fill", "#cf222e", "#000"),
    ("warn-fill", "#e3b341", "#fff"),
    ("running-fill", "#eaeef2", "#fff"),
    ("wait", "#8250df", "#000"),
    ("wait-fill", "#f3ebff", "#fff"),
    ("note", "#0969da", "#000"),
    ("focus", "#0969da", "#000"),
];

/// The palette as CSS variables, with its high-contrast form for
/// `<html class="mono">` and for readers and printers that need it.
fn palette() -> String {
    let vars = |mono: bool| -> String {
        PALETTE
            .iter()
            .map(|(name, colour, high)| format!("--{name}: {}; ", if mono { high } else { colour }))
            .collect()
    };
    format!(
        ":root {{ {} }}\n:root.mono {{ {} }}\n\
         @media (forced-colors: active), (prefers-contrast: more), print and (monochrome) {{ :root {{ {} }} }}\n",
        vars(false),
        vars(true),
        vars(true)
    )
}

/// No script, no fetch of anything: only the page's own styles.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'";

const STYLE: &str = r#"
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  max-width: 72rem; margin: 2rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 .6rem; padding-bottom: .25rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; font-size: .92rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: var(--bg-alt); font-weight: 600; }
table.summary th { width: 14rem; }
table.observed { font-size: .85rem; margin: .2rem 0; }
code, pre { font: .88em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { overflow-wrap: anywhere; }
/* Never wider than the window: long words (paths, hashes, log lines) break. */
h1, h2, h3, p, li, .banner { overflow-wrap: anywhere; }
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
  @page { size: A4 landscape; margin: 12mm; }
  body { font-size: 10pt; max-width: none; margin: 0; padding: 0; }
  h2 { break-after: avoid; }
  h3 { break-after: avoid; }
  tr, li, pre, .banner { break-inside: avoid; }
  thead { display: table-header-group; }
  th { background: none; }
  pre { background: none; }
}
"#;

/// Render the whole page; `mono` writes it in its high-contrast form.
pub fn render(report: &Report, mono: bool) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_page(&mut out, report, mono);
    out
}

/// The page's start: head, style, and the `<h1>`.
fn page_start(out: &mut String, title: &str, mono: bool) -> std::fmt::Result {
    let title = esc(title);
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"{}>\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>\n{}{STYLE}{}</style>\n</head>\n<body>\n<h1>{title}</h1>",
        if mono { " class=\"mono\"" } else { "" },
        palette(),
        svg::STYLE
    )
}

fn write_page(out: &mut String, report: &Report, mono: bool) -> std::fmt::Result {
    page_start(out, &report.title(), mono)?;
    if let Some(banner) = report.integrity_banner() {
        writeln!(
            out,
            "<p class=\"banner\" id=\"integrity-broken\">{}</p>",
            esc(&banner)
        )?;
    }

    summary(out, &report.summary())?;

    writeln!(out, "<h2 id=\"overrides\">Overrides</h2>")?;
    list(out, &report.override_items())?;

    writeln!(out, "<h2 id=\"failures\">Failures</h2>")?;
    list(out, &report.failure_items())?;

    writeln!(out, "<h2 id=\"timeline\">Timeline</h2>")?;
    let timeline = &report.timeline;
    out.push_str(&svg::figure(
        timeline,
        Scale::fitting(timeline.axis.length_ms()),
        "timeline",
        &format!("Timeline of session {}", report.session.id),
    ));

    writeln!(out, "<h2 id=\"phases\">Phases: planned and actual time</h2>")?;
    table(out, "", &report.phase_table())?;

    writeln!(out, "<h2 id=\"steps\">Steps</h2>")?;
    for (title, steps) in report.step_groups() {
        writeln!(out, "<h3>{}</h3>", esc(title))?;
        self::steps(out, steps)?;
    }

    writeln!(out, "<h2 id=\"verification\">Verification results</h2>")?;
    let verifications = report.verification_table();
    if verifications.rows.is_empty() {
        writeln!(out, "<p>None recorded.</p>")?;
    } else {
        table(out, "verifications", &verifications)?;
    }

    writeln!(out, "<h2 id=\"logs\">Logs of failed steps</h2>")?;
    if report.failures.is_empty() {
        writeln!(out, "<p>None.</p>")?;
    }
    for f in &report.failures {
        writeln!(out, "<h3>{}</h3>", spans(&f.heading()))?;
        if f.failed_attempts.is_empty() {
            writeln!(out, "<p>No failed attempt.</p>")?;
        }
        for (caption, lines) in f.attempt_logs() {
            writeln!(out, "<p class=\"muted\">{}</p>", esc(&caption))?;
            if lines.is_empty() {
                continue;
            }
            writeln!(out, "<pre>")?;
            for line in lines {
                writeln!(out, "{}", esc(&line))?;
            }
            writeln!(out, "</pre>")?;
        }
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
    list(out, &report.note_items())?;

    writeln!(out, "<h2 id=\"warnings\">Warnings</h2>")?;
    list(out, &report.warning_items())?;
    writeln!(out, "</body>\n</html>")
}

/// The deployment report as one page; `mono` writes its high-contrast form.
pub fn render_deployment(d: &Deployment, mono: bool) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_deployment(&mut out, d, mono);
    out
}

fn write_deployment(out: &mut String, d: &Deployment, mono: bool) -> std::fmt::Result {
    page_start(out, &d.title(), mono)?;
    summary(out, &d.summary())?;
    writeln!(out, "<h2 id=\"promotion\">Promotion path</h2>")?;
    table(out, "promotion", &d.promotion_table())?;
    writeln!(out, "<h2 id=\"sessions\">Sessions</h2>")?;
    if d.sessions.is_empty() {
        writeln!(
            out,
            "<p>No session of this runbook's content is saved in the state directory.</p>"
        )?;
    } else {
        table(out, "sessions", &d.sessions_table())?;
    }
    writeln!(out, "<h2 id=\"chain\">Evidence chain</h2>")?;
    if d.chain.is_empty() {
        writeln!(out, "<p>No session ran a promotion gate.</p>")?;
    } else {
        table(out, "chain", &d.chain_table())?;
    }
    if !d.sessions.is_empty() {
        writeln!(out, "<h2 id=\"comparison\">Comparison</h2>")?;
        table(out, "comparison", &d.comparison_table())?;
    }
    writeln!(
        out,
        "<h2 id=\"timelines\">Timelines</h2>\n<p class=\"muted\">Every session on one time axis, \
         from its own start: equal lengths are equal times.</p>"
    )?;
    let scale = Scale::fitting(d.axis_ms());
    let mut n = 0;
    for (env, sessions) in d.by_environment() {
        writeln!(out, "<h3>{}</h3>", esc(env))?;
        for s in sessions {
            n += 1;
            writeln!(out, "<p>{}</p>", spans(&s.line()))?;
            out.push_str(&svg::figure(
                &s.report.timeline,
                scale,
                &format!("timeline-{n}"),
                &format!("Timeline of session {} ({env})", s.report.session.id),
            ));
        }
    }
    if !d.unreadable.is_empty() {
        writeln!(out, "<h2 id=\"unreadable\">Unreadable journals</h2>\n<ul>")?;
        for (path, why) in &d.unreadable {
            writeln!(out, "<li><code>{}</code>: {}</li>", esc(path), esc(why))?;
        }
        writeln!(out, "</ul>")?;
    }
    writeln!(out, "</body>\n</html>")
}

/// The summary table of label and value rows.
fn summary(out: &mut String, rows: &[SummaryRow]) -> std::fmt::Result {
    writeln!(out, "<h2 id=\"summary\">Summary</h2>\n<table class=\"summary\">")?;
    for row in rows {
        writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            row.label,
            spans(&row.value)
        )?;
    }
    writeln!(out, "</table>")
}

/// A table of steps, with a last column for their sign-offs and skips.
fn steps(out: &mut String, steps: &[StepReport]) -> std::fmt::Result {
    if steps.is_empty() {
        return writeln!(out, "<p>No steps.</p>");
    }
    let mut table = steps_table(steps);
    table.columns.push("Sign-offs and skips".to_string());
    let rows = table.rows.iter().zip(steps).map(|(row, s)| {
        let decided: Vec<String> = s.decisions().iter().map(|d| esc(d)).collect();
        format!("{}<td class=\"note\">{}</td>", cells(row), decided.join("<br>"))
    });
    write_table(out, "steps", &table.columns, rows)
}

/// A table; `class` names it for the style sheet (empty: no class).
fn table(out: &mut String, class: &str, table: &Table) -> std::fmt::Result {
    write_table(
        out,
        class,
        &table.columns,
        table.rows.iter().map(|row| cells(row)),
    )
}

fn write_table(
    out: &mut String,
    class: &str,
    columns: &[String],
    rows: impl Iterator<Item = String>,
) -> std::fmt::Result {
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    };
    let heads: String = columns.iter().map(|c| format!("<th>{c}</th>")).collect();
    writeln!(out, "<table{class}>\n<thead><tr>{heads}</tr></thead>\n<tbody>")?;
    for row in rows {
        writeln!(out, "<tr>{row}</tr>")?;
    }
    writeln!(out, "</tbody>\n</table>")
}

/// A row's `<td>`s; a cell that is only a status is coloured as a whole.
fn cells(row: &[Vec<Span>]) -> String {
    row.iter()
        .map(|cell| match cell.as_slice() {
            [Span::Status(tone, raw) | Span::Flag(tone, raw)] => {
                format!("<td class=\"{}\">{}</td>", tone.class(), esc(raw))
            }
            parts => format!("<td>{}</td>", spans(parts)),
        })
        .collect()
}

/// A list, or "None." when it is empty.
fn list(out: &mut String, items: &[Item]) -> std::fmt::Result {
    if items.is_empty() {
        return writeln!(out, "<p>None.</p>");
    }
    writeln!(out, "<ul>")?;
    for item in items {
        if item.details.is_empty() {
            writeln!(out, "<li>{}</li>", spans(&item.head))?;
            continue;
        }
        writeln!(out, "<li>{}\n<ul>", spans(&item.head))?;
        for detail in &item.details {
            writeln!(out, "<li>{}</li>", spans(detail))?;
        }
        writeln!(out, "</ul></li>")?;
    }
    writeln!(out, "</ul>")
}

/// Spans as HTML.
fn spans(parts: &[Span]) -> String {
    parts
        .iter()
        .map(|span| match span {
            Span::Text(raw) => esc(raw),
            Span::Code(raw) => format!("<code>{}</code>", esc(raw)),
            Span::Note(raw) => format!("<span class=\"note\">{}</span>", esc(raw)),
            Span::Status(tone, raw) | Span::Flag(tone, raw) => {
                format!("<span class=\"{}\">{}</span>", tone.class(), esc(raw))
            }
            Span::Time(at) => time_label(*at),
            Span::Duration(d) => crate::text::duration(*d),
            Span::Break => "<br>".to_string(),
            Span::Observed(o) => observed(o),
        })
        .collect()
}

/// What a verification observed: its text, or a small table of its rows.
fn observed(o: &Observed) -> String {
    if !o.text.is_empty() || o.rows.is_empty() {
        return format!("<span class=\"note\">{}</span>", esc(&o.summary(0)));
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
            "<span class=\"muted\">… {} more (in the JSON report and the journal)</span>",
            crate::text::plural((o.rows.len() - OBSERVED_ROWS) as u64, "row")
        ));
    }
    out
}

/// HTML-escaped text, control characters made visible.
pub(super) fn esc(raw: &str) -> String {
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
