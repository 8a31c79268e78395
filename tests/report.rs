//! `runsheet report`: sessions recorded with the real binary (real bash, a
//! real PostgreSQL scratch database, a real journal), reported in every
//! format. The Markdown is a snapshot, the HTML is loaded in a real browser,
//! the JSON is checked against the shape `docs/report-json.md` documents.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::ScratchDb;
use common::browser;
use common::report_json::documented;
use common::runsheet::{Fixture, gated_runbook, text};
use runsheet::journal::JournalSink;
use runsheet::journal::event::Outcome;
use runsheet::journal::event::{Event, Header};
use runsheet::journal::file::FileJournal;
use runsheet::runbook::model::StepKind;
use serde_json::Value;

const ENV: &[&str] = &["--env", "development"];

/// Eight steps and a two-hour estimate: every step plans at a round 15 minutes.
fn runbook(url: &str) -> String {
    format!(
        r#"+++
title = "Report test"
[environments.staging]
[environments.development]
database = "{url}"
requires = ["staging"]
estimate = "1h-2h"
window = "Tuesday 18:00-20:00"
+++
# Report test

## Staging

### Execution

1. Nothing to do in staging

## Development

### Preparation

1. Say hello
   ```sh
   echo "hello from $RUNSHEET_ENV"
   ```
2. Check the change ticket by hand

### Execution

1. Free some disk space
   ```sh
   echo "checking disk"
   echo "error: disk full | <50% free>"
   exit 3
   ```
2. Create the table
   ```sql
   CREATE TABLE t (id int primary key);
   INSERT INTO t VALUES (1), (2);
   ```

### Validation

1. Two rows are there
   ```sql {{verify}}
   SELECT count(*) = 2 AS two_rows FROM t;
   ```
2. The shell agrees
   ```sh {{verify}}
   echo "checks out"
   ```

### Post-Deployment

1. Tell the team
"#
    )
}

/// Record the session every report test reads: the staging gate overridden,
/// a manual step pre-approved, a failing step skipped with a reason on
/// resume, a SQL change, a SQL check and a shell check.
fn record(fx: &Fixture) -> String {
    let first = fx.run(&[
        ENV[0],
        ENV[1],
        "--approve",
        "all",
        "--override",
        "gate.requires.staging=staging was checked by hand",
    ]);
    assert_eq!(
        first.status.code(),
        Some(1),
        "stops at the failure: {}",
        text(&first)
    );
    let id = fx.state().header.session_id;
    let second = fx.run(&[
        ENV[0],
        ENV[1],
        "--resume",
        &id,
        "--approve",
        "all",
        "--skip",
        "development.execution.1=known flaky disk check",
    ]);
    assert!(second.status.success(), "{}", text(&second));
    id
}

fn report(fx: &Fixture, args: &[&str]) -> Output {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    fx.command(&all).output().expect("run runsheet report")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8 report")
}

/// Replace what differs between runs: times, durations, ids, hashes, paths, host.
fn filters(fx: &Fixture) -> Vec<(String, String)> {
    let host = runsheet::seat::host_name();
    vec![
        (regex_escape(&fx.dir.path().display().to_string()), "[DIR]".into()),
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC".into(), "[TIME]".into()),
        (r"\b\d{8}-\d{6}-[0-9a-f]{6}\b".into(), "[SESSION]".into()),
        (r"\b[0-9a-f]{64}\b".into(), "[SHA256]".into()),
        // Output is journaled in batches, so the event count varies.
        (r"over \d+ events".into(), "over [N] events".into()),
        // Measured durations end in seconds; the plan's round minutes stay.
        (r"\b(\d+h)?(\d+m)?\d+(\.\d+)?(ms|s)\b".into(), "[DURATION]".into()),
        // The text timeline: its columns pad durations, its strips show timing.
        (r" {2,}\[DURATION\]".into(), " [DURATION]".into()),
        (r"\|[^|\n]{40}\|".into(), "|[STRIP]|".into()),
        (
            format!(r"\| Host \| {} \|", regex_escape(&host)),
            "| Host | [HOST] |".into(),
        ),
        // Where a sign-off was given from: this machine's OS user and host.
        (
            format!(r"from OS user \S+ on host {},", regex_escape(&host)),
            "from OS user [USER] on host [HOST],".into(),
        ),
        // The scratch database and the server it lives on differ from run to run.
        (
            r"\| Database \| `[^`]+` \|".into(),
            "| Database | `[TARGET]` |".into(),
        ),
        (
            format!(
                r"\| runsheet version \| {} \|",
                regex_escape(env!("CARGO_PKG_VERSION"))
            ),
            "| runsheet version | [VERSION] |".into(),
        ),
    ]
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[test]
fn markdown_report_of_a_recorded_session() {
    let db = ScratchDb::create("report_md");
    let fx = Fixture::new(&runbook(&db.url));
    let id = record(&fx);
    let out = report(&fx, &[&id]);
    assert!(out.status.success(), "{}", text(&out));
    let md = stdout(&out);
    assert!(
        md.contains(&format!("/{} as ", db.name)),
        "the database the session ran against is named: {md}"
    );
    let filters = filters(&fx);
    let filters: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!("markdown_report", md);
    });
}

/// Every `<table>` whose opening tag contains `marker`: its rows, as the
/// texts of their `<td>` cells (a nested table's text stays in its cell).
/// Enough HTML parsing for a page we wrote and Chromium serialised.
fn tables(dom: &str, marker: &str) -> Vec<Vec<Vec<String>>> {
    let mut found = Vec::new();
    let mut rest = dom;
    while let Some(start) = rest.find(&format!("<table {marker}")) {
        let (rows, len) = parse_table(&rest[start..]);
        found.push(rows);
        rest = &rest[start + len..];
    }
    assert!(!found.is_empty(), "no <table {marker}> in the DOM:\n{dom}");
    found
}

/// The rows of the table `html` starts with, and the length of its HTML.
fn parse_table(html: &str) -> (Vec<Vec<String>>, usize) {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut depth = 0usize;
    let mut pos = 0;
    let mut len = html.len();
    while pos < html.len() {
        let rest = &html[pos..];
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |i| i + 1);
            let tag = &rest[1..end.saturating_sub(1).max(1)];
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            match (name.as_str(), closing) {
                ("table", false) => depth += 1,
                ("table", true) => {
                    depth -= 1;
                    if depth == 0 {
                        len = pos + end;
                        break;
                    }
                }
                ("tr", false) if depth == 1 => rows.push(Vec::new()),
                ("td", false) if depth == 1 => rows.last_mut().expect("a cell in a row").push(String::new()),
                _ => {
                    if let Some(cell) = rows.last_mut().and_then(|r| r.last_mut()) {
                        cell.push(' ');
                    }
                }
            }
            pos += end;
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            if let Some(cell) = rows.last_mut().and_then(|r| r.last_mut()) {
                cell.push_str(&rest[..end]);
            }
            pos += end;
        }
    }
    let rows = rows
        .into_iter()
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.into_iter()
                .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .collect();
    (rows, len)
}

#[test]
fn html_report_in_a_real_browser_shows_the_signoffs_and_the_verification_table() {
    let db = ScratchDb::create("report_html");
    let fx = Fixture::new(&runbook(&db.url));
    let id = record(&fx);
    // The format follows the output file's extension.
    let page = fx.dir.path().join("report.html");
    let out = report(&fx, &[&id, "-o", page.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stdout.is_empty(), "-o writes the file, not stdout");
    let source = std::fs::read_to_string(&page).expect("report written");
    for external in ["<script", "<link", "src=", "href=\"http", "@import"] {
        assert!(!source.contains(external), "self-contained: found {external}");
    }
    // `url(…)` only names the page's own patterns.
    for (at, _) in source.match_indices("url(") {
        let found: String = source[at..].chars().take(40).collect();
        assert!(found.starts_with("url(#"), "self-contained: found {found}");
    }
    assert!(source.contains("@media print"), "print CSS");

    let loaded = browser::load(&page);
    assert!(
        loaded.console.is_empty(),
        "console messages: {:?}",
        loaded.console
    );
    let dom = loaded.dom;
    assert!(
        dom.contains("<h1>Report test: development session report</h1>"),
        "{dom}"
    );
    // The sign-offs: the pre-approved manual steps and the gate's override.
    let steps: Vec<Vec<String>> = tables(&dom, "class=\"steps\"").into_iter().flatten().collect();
    let ticket = steps
        .iter()
        .find(|r| r[0].contains("development.preparation.2"))
        .expect("the manual step's row");
    assert_eq!(ticket[2], "signed off");
    assert!(
        ticket[6].contains("signed off by tester") && ticket[6].contains("pre-approved"),
        "{ticket:?}"
    );
    assert!(
        dom.contains("overridden by tester (role override)") && dom.contains("staging was checked by hand"),
        "the override with who, role and reason"
    );
    assert!(dom.contains("skipped by tester") && dom.contains("known flaky disk check"));
    // Escaped, not interpreted: the log line's markup shows as text.
    assert!(dom.contains("error: disk full | &lt;50% free&gt;"), "{dom}");

    let verifications = tables(&dom, "class=\"verifications\"").remove(0);
    let checks: Vec<(&str, &str, &str)> = verifications
        .iter()
        .map(|r| (r[1].as_str(), r[2].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        checks,
        vec![
            (
                "gate.requires.staging",
                "Gate: staging went well with this runbook",
                "FAIL"
            ),
            ("development.validation.1", "Two rows are there", "PASS"),
            ("development.validation.2", "The shell agrees", "PASS"),
        ],
        "{verifications:?}"
    );
    let sql_check = &verifications[1];
    assert!(
        sql_check[5].contains("two_rows") && sql_check[5].contains('t'),
        "the observed rows: {sql_check:?}"
    );
    assert_eq!(verifications[2][5], "checks out");
}

fn json_report(fx: &Fixture, session: &str) -> Value {
    let out = report(fx, &[session, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn json_report_matches_its_documented_shape() {
    let doc = documented();

    // The recorded session: overrides, failures, skips, checks, no rollback.
    let db = ScratchDb::create("report_json");
    let fx = Fixture::new(&runbook(&db.url));
    let id = record(&fx);
    let json = json_report(&fx, &id);
    doc.assert_valid(&json);
    assert_eq!(json["format"], 1);
    assert_eq!(json["session"]["outcome"], "completed");
    assert_eq!(json["integrity"]["verified"], true);
    assert_eq!(json["overrides"][0]["step"], "gate.requires.staging");
    assert_eq!(
        json["overrides"][0]["signoffs"][0]["note"],
        "staging was checked by hand"
    );
    let failed = &json["failures"][1];
    assert_eq!(failed["step"], "development.execution.1");
    assert_eq!(failed["status"], "skipped");
    assert_eq!(failed["failed_attempts"][0]["exit_code"], 3);
    assert_eq!(
        failed["failed_attempts"][0]["log_tail"][1]["text"],
        "error: disk full | <50% free>"
    );
    assert_eq!(json["phases"][1]["planned_ms"], 30 * 60 * 1000);
    assert_eq!(json["verifications"][1]["observed"]["columns"][0], "two_rows");

    // A rollback session, and a hand-written journal with a note and a
    // warning: the shapes the recorded session leaves null or empty.
    let fx = Fixture::new(
        "# Rolling\n\n## Development\n\n### Execution\n\n1. Change\n   ```sh\n   echo change\n   ```\n\n\
         ## Rollback\n\n1. Undo\n   ```sh\n   echo undo\n   ```\n",
    );
    let out = fx.run(&["--rollback=the change misbehaved"]);
    assert!(out.status.success(), "{}", text(&out));
    let json = json_report(&fx, &fx.state().header.session_id);
    doc.assert_valid(&json);
    assert_eq!(json["rollback"]["reason"], "the change misbehaved");
    assert_eq!(json["rollback"]["steps"][0]["status"], "succeeded");
    assert_eq!(json["session"]["outcome"], "rolled_back");

    let journal = hand_written(&fx, "password-less note", "https://example.org/");
    let json = json_report(&fx, journal.to_str().expect("path"));
    doc.assert_valid(&json);
    assert_eq!(
        json["notes"][0]["text"],
        "password-less note https://example.org/"
    );
    assert_eq!(json["warnings"][0]["code"], "estimate-exceeded");
    assert_eq!(json["session"]["outcome"], "unfinished");
}

/// A journal written directly (not by the engine, so nothing redacted it),
/// from the last recorded session's header, holding a note and a warning.
fn hand_written(fx: &Fixture, note: &str, url: &str) -> PathBuf {
    let header: Header = fx.state().header;
    let dir = fx.dir.path().join("hand");
    let header = Header {
        session_id: "hand-written".into(),
        ..header
    };
    let mut journal = FileJournal::create(&dir, header).expect("create journal");
    journal
        .append(Event::Note {
            who: "reviewer".into(),
            text: format!("{note} {url}"),
        })
        .expect("note");
    journal
        .append(Event::Warning {
            code: "estimate-exceeded".into(),
            message: format!("see {url}"),
        })
        .expect("warning");
    journal.flush().expect("flush");
    journal.path().to_path_buf()
}

#[test]
fn a_broken_chain_still_reports_what_precedes_the_break() {
    let db = ScratchDb::create("report_broken");
    let fx = Fixture::new(&runbook(&db.url));
    let id = record(&fx);
    let path = fx.journal();
    let original = std::fs::read_to_string(&path).expect("journal");
    // Edit the line that records the skip: the chain breaks there.
    let lines: Vec<&str> = original.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("\"type\":\"skipped\""))
        .expect("the skip is journaled");
    let tampered: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == at {
                l.replace("known flaky", "never failed")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(&path, tampered.join("\n") + "\n").expect("tamper");
    let line = at + 1;

    let out = report(&fx, &[&id]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let md = stdout(&out);
    let banner = format!("> **⚠ Journal integrity BROKEN at line {line}:");
    assert!(md.contains(&banner), "the break is the first thing said:\n{md}");
    assert!(md.find(&banner) < md.find("## Summary"), "{md}");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!(":{line}: the journal's hash chain is broken")),
        "{}",
        text(&out)
    );
    // What precedes the break is there; the edit and all after it are not.
    assert!(
        md.contains("| `development.preparation.1` Say hello | shell | succeeded |"),
        "{md}"
    );
    assert!(md.contains("exited with status 3"), "{md}");
    assert!(
        !md.contains("never failed") && !md.contains("known flaky"),
        "{md}"
    );
    assert!(
        md.contains("| Outcome | **unknown (the journal breaks before the session's end)** |"),
        "{md}"
    );

    let out = report(&fx, &[&id, "--format", "json"]);
    assert_eq!(out.status.code(), Some(3));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    documented().assert_valid(&json);
    assert_eq!(json["integrity"]["verified"], false);
    assert_eq!(json["session"]["outcome"], "unknown");
    assert_eq!(json["integrity"]["broken_at_line"], line);
    assert_eq!(json["integrity"]["events"], at);

    let page = fx.dir.path().join("broken.html");
    let out = report(&fx, &[&id, "-o", page.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(3));
    let html = std::fs::read_to_string(&page).expect("HTML written");
    assert!(html.contains(&format!(
        "class=\"banner\" id=\"integrity-broken\">⚠ Journal integrity BROKEN at line {line}:"
    )));
}

#[test]
fn unknown_sessions_exit_2_and_unreadable_journals_exit_3() {
    let fx = Fixture::new("# Nothing\n\n## Development\n\n### Execution\n\n1. Sign\n");
    let out = report(&fx, &["no-such-session"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no session 'no-such-session'"),
        "{}",
        text(&out)
    );
    let out = report(&fx, &["missing/journal.jsonl"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    let garbage = fx.dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "this is not a journal\n").expect("write");
    let out = report(&fx, &[garbage.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("runsheet: cannot report on") && err.lines().count() == 1,
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let empty = fx.dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").expect("write");
    assert_eq!(
        report(&fx, &[empty.to_str().expect("path")]).status.code(),
        Some(3)
    );
}

/// `url` (`postgres://user@…`) with a password: the test server trusts
/// local connections, so the session reaches it and the password is only
/// there to be kept out of the record.
fn with_password(url: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) if rest.contains('@') && !rest.split('@').next().unwrap_or("").contains(':') => {
            format!("{scheme}://{}", rest.replacen('@', &format!(":{password}@"), 1))
        }
        _ => panic!("the test server URL {url} needs a user and no password"),
    }
}

#[test]
fn secrets_never_reach_the_report() {
    let fx = Fixture::new(
        "+++\n[variables]\nAPI_TOKEN = { value = \"tok-hunter2-secret\", secret = true }\n\
         [environments.development]\ndatabase = \"env:REPORT_TEST_DB_URL\"\n+++\n# Secrets\n\n\
         ## Development\n\n### Execution\n\n\
         1. Leak everything\n   ```sh\n   echo \"url=$RUNSHEET_DATABASE_URL token=$API_TOKEN\"\n   exit 1\n   ```\n",
    );
    // The step runs and fails (reports show a failed step's log), then is
    // skipped on resume.
    let runbook = fx.runbook().to_str().expect("path").to_string();
    let url = with_password(&common::server_url(), "hunter2");
    let out = fx
        .command(&["run", &runbook, "--headless"])
        .env("REPORT_TEST_DB_URL", &url)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let id = fx.state().header.session_id;
    let out = fx
        .command(&[
            "run",
            &runbook,
            "--headless",
            "--resume",
            &id,
            "--skip",
            "development.execution.1=leaks",
        ])
        .env("REPORT_TEST_DB_URL", &url)
        .output()
        .expect("resume");
    assert!(out.status.success(), "{}", text(&out));
    let hand = hand_written(&fx, "written by hand:", "postgres://admin:hunter2@db.invalid/app");
    for session in [id.as_str(), hand.to_str().expect("path")] {
        for format in ["md", "html", "json"] {
            let out = report(&fx, &[session, "--format", format]);
            assert!(out.status.success(), "{}", text(&out));
            let body = stdout(&out);
            assert!(
                !body.contains("hunter2"),
                "{format} report of {session} leaks a secret:\n{body}"
            );
            // Markdown text escapes the mask's asterisks (code blocks do not).
            assert!(
                body.contains("***") || body.contains(r"\*\*\*"),
                "{format}: the masked value is shown as masked:\n{body}"
            );
        }
    }
}

/// The picture's runbook: production of a small index change, gated on staging.
const PICTURE: &str = r#"+++
title = "Add the orders index"
[environments.staging]
[environments.production]
requires = ["staging"]
estimate = "20s-30s"
+++
# Add the orders index

## Staging

### Execution

1. Nothing to do in staging

## Production

### Preparation

1. Announce the change in the operations channel
2. Back up the orders table
   ```sh {backup readonly}
   sleep 0.6
   echo "dump written"
   ```

### Execution

1. Build the index
   ```sh
   if [ ! -e lock-released ]; then
     echo "could not obtain lock on relation orders" >&2
     touch lock-released
     exit 1
   fi
   sleep 1.2
   echo "index built"
   ```
2. Analyze the table
   ```sh
   sleep 0.4
   ```
3. The DBA confirms the query plan uses the index

### Validation

1. The index exists
   ```sh {verify}
   sleep 0.3
   echo ok
   ```
2. Watch the error rate for ten minutes

## Rollback

1. Drop the index
   ```sh
   sleep 0.5
   ```
2. Confirm the old query plan is back
"#;

/// Record the picture's session with the real binary: the gate overridden,
/// a sign-off waited for, a step that fails and is retried after an idle
/// pause, a check, and the rollback started while a sign-off waits.
fn record_picture(fx: &Fixture) -> String {
    let production = |args: &[&str]| {
        let mut all = vec!["--env", "production"];
        all.extend_from_slice(args);
        let out = fx.run(&all);
        assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
        out
    };
    let out = production(&[
        "--override",
        "gate.requires.staging=staging was rebuilt; the DBA approved",
    ]);
    assert!(text(&out).contains("needs a sign-off"), "{}", text(&out));
    let id = fx.state().header.session_id;
    // The journal's clock is the wall clock: these pauses are the scenario
    // (a sign-off waited for, then an idle gap longer than the 5 s the
    // timeline compresses), not a wait for some condition.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = production(&["--resume", &id, "--approve", "production.preparation.1"]);
    assert!(
        text(&out).contains("production.execution.1 is failed"),
        "{}",
        text(&out)
    );
    std::thread::sleep(std::time::Duration::from_millis(6000));
    let out = production(&[
        "--resume",
        &id,
        "--approve",
        "production.execution.3",
        "--retry",
        "production.execution.1",
    ]);
    assert!(
        text(&out).contains("production.validation.2 needs a sign-off"),
        "{}",
        text(&out)
    );
    let out = production(&[
        "--resume",
        &id,
        "--approve",
        "all",
        "--rollback=the error rate doubled after the change",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    id
}

/// Every `<svg class="part" …>…</svg>` of a page.
fn svg_parts(html: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg class=\"part\"") {
        let len = rest[start..].find("</svg>").expect("a closed <svg>") + "</svg>".len();
        parts.push(&rest[start..start + len]);
        rest = &rest[start + len..];
    }
    parts
}

/// What the SVG parts draw, counted from the elements' classes.
#[derive(Debug, Default, PartialEq)]
struct Drawn {
    attempts: usize,
    waits: usize,
    /// Marks by kind (`failure`, `signoff`, …).
    marks: BTreeMap<String, usize>,
    gaps: usize,
    /// Bars, marks and gaps without a `<title>` tooltip.
    untitled: Vec<String>,
}

/// Parse the SVG parts as XML (they must be well-formed) and count.
fn drawn(parts: &[&str]) -> Drawn {
    let mut drawn = Drawn::default();
    for part in parts {
        let doc =
            roxmltree::Document::parse(part).unwrap_or_else(|e| panic!("not well-formed SVG: {e}\n{part}"));
        for node in doc.descendants().filter(|n| n.is_element()) {
            let classes: Vec<&str> = node.attribute("class").unwrap_or("").split_whitespace().collect();
            let counted = match classes.as_slice() {
                ["bar", "attempt", ..] => {
                    drawn.attempts += 1;
                    true
                }
                ["bar", "wait", ..] => {
                    drawn.waits += 1;
                    true
                }
                ["mark", kind] => {
                    *drawn.marks.entry(kind.to_string()).or_default() += 1;
                    true
                }
                ["gap"] => {
                    drawn.gaps += 1;
                    true
                }
                _ => false,
            };
            let titled = node
                .children()
                .any(|c| c.has_tag_name("title") && c.text().is_some_and(|t| !t.trim().is_empty()));
            if counted && !titled {
                drawn.untitled.push(format!("{classes:?}"));
            }
        }
    }
    drawn
}

/// `figure` alone on a page with the report's head (its styles), for a picture.
fn figure_page(html: &str) -> String {
    let head = &html[..html.find("<body>").expect("a body")];
    let start = html
        .find("<figure class=\"timeline\"")
        .expect("the timeline's figure");
    let end = html[start..].find("</figure>").expect("a closed figure") + start + "</figure>".len();
    format!(
        "{head}<body style=\"margin: 8px; max-width: none\">{}</body></html>",
        &html[start..end]
    )
}

#[test]
fn the_timeline_of_a_recorded_session_draws_every_attempt_wait_and_mark_and_shows_in_a_browser() {
    let fx = Fixture::new(PICTURE);
    let id = record_picture(&fx);

    // What the journal holds, from its fold.
    let state = fx.state();
    let mut expected = Drawn::default();
    for step in state.plan.steps().chain(state.plan.rollback.iter()) {
        let st = state.step(&step.id);
        expected.attempts += st.attempts().len();
        let failed = st
            .attempts()
            .iter()
            .filter(|a| a.interrupted || a.outcome.is_some_and(|o| o != Outcome::Succeeded))
            .count();
        let mut mark = |kind: &str, n: usize| {
            if n > 0 {
                *expected.marks.entry(kind.to_string()).or_default() += n;
            }
        };
        mark("failure", failed);
        // A signature on an automated step (a gate) overrides it.
        let signed = st.signoffs().len();
        match step.kind {
            StepKind::Manual => mark("signoff", signed),
            _ => mark("override", signed),
        }
        expected.waits += usize::from(st.get().is_some_and(|s| s.awaiting_at.is_some()));
    }
    expected
        .marks
        .insert("rollback".into(), usize::from(state.rollback.is_some()));
    expected.gaps = 1;
    assert!(
        expected.marks["failure"] >= 2 && expected.marks["override"] == 1 && expected.marks["signoff"] >= 3,
        "the scenario has failures, an override and sign-offs: {expected:?}"
    );

    let page = fx.dir.path().join("timeline.html");
    let out = report(&fx, &[&id, "-o", page.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(&page).expect("report written");
    let parts = svg_parts(&html);
    assert!(!parts.is_empty(), "no timeline in:\n{html}");
    assert_eq!(drawn(&parts), expected, "the SVG as written");

    // The page in a real browser: no console message at all (the page's
    // Content-Security-Policy turns any script or fetch into one), and the
    // same drawing in the DOM it built.
    let loaded = browser::load(&page);
    assert!(
        loaded.console.is_empty(),
        "console messages: {:?}",
        loaded.console
    );
    assert_eq!(
        drawn(&svg_parts(&loaded.dom)),
        expected,
        "the SVG as Chromium built it"
    );
    // The console check can fail: the same page fetching an image is reported.
    let fetching = fx.dir.path().join("fetching.html");
    std::fs::write(
        &fetching,
        html.replacen("<body>", "<body><img src=\"https://example.invalid/x.png\">", 1),
    )
    .expect("write");
    assert!(
        !browser::load(&fetching).console.is_empty(),
        "a blocked fetch shows on the console"
    );

    // Screenshots of the figure, in colour and in the high-contrast form.
    let mono_page = fx.dir.path().join("mono.html");
    let out = fx
        .command(&["report", &id, "-o", mono_page.to_str().expect("path")])
        .env("NO_COLOR", "1")
        .output()
        .expect("report");
    assert!(out.status.success(), "{}", text(&out));
    let mono = std::fs::read_to_string(&mono_page).expect("report written");
    assert!(
        mono.contains("<html lang=\"en\" class=\"mono\">"),
        "NO_COLOR writes the high-contrast form"
    );
    let height: f64 = parts
        .iter()
        .map(|p| {
            let doc = roxmltree::Document::parse(p).expect("parsed above");
            doc.root_element()
                .attribute("height")
                .and_then(|h| h.parse::<f64>().ok())
                .expect("a part's height")
        })
        .sum();
    let (width, height) = (1136, height.ceil() as u32 + 28);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, source) in [("timeline", &html), ("timeline-mono", &mono)] {
        let figure = fx.dir.path().join(format!("{name}.figure.html"));
        std::fs::write(&figure, figure_page(source)).expect("write");
        let png = shots.join(format!("{name}.png"));
        browser::screenshot(&figure, &png, width, height);
        let bytes = std::fs::read(&png).expect("screenshot written");
        assert_eq!(
            browser::png_size(&bytes),
            (width * 3 / 2, height * 3 / 2),
            "{}",
            png.display()
        );
        eprintln!("screenshot: {} ({} bytes)", png.display(), bytes.len());
        // `RUNSHEET_UPDATE_SCREENSHOTS=1 cargo test --test report timeline`
        // refreshes the README's pictures.
        if std::env::var_os("RUNSHEET_UPDATE_SCREENSHOTS").is_some() {
            let asset = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/{name}.png"));
            std::fs::copy(&png, &asset).expect("update the README's picture");
        }
    }

    // Printed, the report is A4 landscape.
    let pdf = fx.dir.path().join("timeline.pdf");
    browser::print_to_pdf(&page, &pdf);
    let pdf = std::fs::read(&pdf).expect("PDF written");
    let pdf = String::from_utf8_lossy(&pdf);
    let media = pdf
        .split("/MediaBox [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("a page size");
    let size: Vec<f64> = media.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    let (w, h) = (size[2] - size[0], size[3] - size[1]);
    assert!(
        (w - 841.9).abs() < 2.0 && (h - 595.3).abs() < 2.0,
        "A4 landscape is 842x595pt, not {w}x{h}"
    );

    // The JSON says the same, in its documented shape.
    let json = json_report(&fx, &id);
    documented().assert_valid(&json);
    let gaps = json["idle_gaps"].as_array().expect("idle gaps");
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0]["real_ms"].as_u64().expect("ms") > 6000);
    assert_eq!(gaps[0]["shown_ms"], 5000);
    let announce = &json["phases"][1]["steps"][0];
    assert_eq!(announce["id"], "production.preparation.1");
    assert!(announce["signoff_wait"]["ms"].as_u64().expect("ms") >= 1500);
    assert_eq!(json["phases"][2]["failed_attempts"], 1);

    // And the Markdown sketches it: a line per phase and the rollback, the gap listed.
    let out = report(&fx, &[&id]);
    let md = stdout(&out);
    let block = md
        .split("## Timeline\n\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a text timeline");
    for phase in state
        .plan
        .phases
        .iter()
        .map(|p| p.title.as_str())
        .chain(["Rollback"])
    {
        assert!(
            block.lines().any(|l| l.starts_with(phase)),
            "{phase} in:\n{block}"
        );
    }
    assert!(block.lines().any(|l| l.starts_with("≈ idle ")), "{block}");
    let execution = block
        .lines()
        .find(|l| l.starts_with("Execution"))
        .expect("execution");
    assert!(execution.contains('✕') && execution.contains('█'), "{execution}");
}

fn deployment(fx: &Fixture, args: &[&str]) -> Output {
    let runbook = fx.runbook();
    let mut all = vec!["--deployment", runbook.to_str().expect("path")];
    all.extend_from_slice(args);
    report(fx, &all)
}

#[test]
fn a_deployment_report_names_what_counted_and_what_a_broken_journal_no_longer_proves() {
    let doc = documented();
    let fx = Fixture::new(&gated_runbook(""));
    let session = |out: Output| {
        assert!(out.status.success(), "{}", text(&out));
        fx.state().header.session_id
    };
    // Production first: its gate fails, it is overridden nowhere, it stops.
    assert_eq!(fx.run(&["--env", "production"]).status.code(), Some(1));
    let refused = fx.state().header.session_id;
    let dry = session(fx.run(&["--env", "staging", "--dry-run"]));
    let staging = session(fx.run(&["--env", "staging"]));
    let production = session(fx.run(&["--env", "production"]));

    let out = deployment(&fx, &["--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc.assert_valid_as(&json, "deployment");
    let listed: Vec<(&str, &str, Option<&str>)> = json["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id"),
                s["environment"].as_str().expect("environment"),
                s["counts_as"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (dry.as_str(), "staging", None),
            (staging.as_str(), "staging", Some("successful_session")),
            (refused.as_str(), "production", None),
            (production.as_str(), "production", Some("successful_session")),
        ],
        "promotion order, then by start"
    );
    assert_eq!(
        json["sessions"][0]["evidence"][0]["why_not"],
        "a dry run never counts as evidence"
    );
    assert_eq!(
        json["sessions"][2]["evidence"][0]["why_not"],
        "it was left unfinished"
    );
    assert_eq!(json["environments"][0]["proven_by"], staging.as_str());
    assert_eq!(json["environments"][1]["proven_by"], production.as_str());
    let chain: Vec<(&str, &str, Option<&str>, Option<bool>)> = json["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .map(|l| {
            (
                l["session"].as_str().expect("session"),
                l["result"].as_str().expect("result"),
                l["relied_on"].as_str(),
                l["still_counts"].as_bool(),
            )
        })
        .collect();
    assert_eq!(
        chain,
        [
            (refused.as_str(), "failed", None, None),
            (production.as_str(), "passed", Some(staging.as_str()), Some(true)),
        ]
    );
    assert_eq!(json["intact"], true);

    // The same in Markdown and HTML: every session, and what counts.
    let md = stdout(&deployment(&fx, &[]));
    for id in [&dry, &staging, &refused, &production] {
        assert!(md.contains(&format!("| `{id}` |")), "{id} in:\n{md}");
    }
    assert!(
        md.contains("does not count: a dry run never counts as evidence"),
        "{md}"
    );
    assert!(
        md.contains("| Promotion | complete: production proven by session "),
        "{md}"
    );
    let page = fx.dir.path().join("deployment.html");
    let out = deployment(&fx, &["-o", page.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));
    let loaded = browser::load(&page);
    assert!(
        loaded.console.is_empty(),
        "console messages: {:?}",
        loaded.console
    );
    assert_eq!(
        loaded.dom.matches("<figure class=\"timeline\"").count(),
        4,
        "a timeline per session"
    );

    // Edit the staging journal: it no longer counts, and the chain says that
    // production relied on a session that no longer proves anything.
    let journal = fx.state_dir().join("sessions").join(format!("{staging}.jsonl"));
    let edited = std::fs::read_to_string(&journal)
        .expect("journal")
        .replace("changing staging", "changing nothing");
    std::fs::write(&journal, edited).expect("tamper");
    let out = deployment(&fx, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("broken or unreadable"), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    doc.assert_valid_as(&json, "deployment");
    assert_eq!(json["intact"], false);
    assert_eq!(json["sessions"][1]["report"]["integrity"]["verified"], false);
    assert_eq!(
        json["sessions"][1]["evidence"][0]["why_not"],
        "its journal's hash chain is broken"
    );
    let link = &json["chain"][1];
    assert_eq!(
        (link["still_counts"].as_bool(), link["why_not"].as_str()),
        (Some(false), Some("its journal's hash chain is broken"))
    );
    assert_eq!(json["environments"][0]["proven_by"], Value::Null);
}

#[test]
fn the_readme_and_ci_name_the_tools_the_tests_need_and_show_the_timeline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read =
        |path: &str| std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let readme = read("README.md");
    assert!(
        readme.contains(browser::TEST_TOOLS_INSTALL),
        "the README's set-up says: {}",
        browser::TEST_TOOLS_INSTALL
    );
    let ci = read(".ci/run");
    for package in ["postgresql-client", "chromium"] {
        assert!(
            ci.contains(&format!("missing+=({package})")),
            ".ci/run installs {package}"
        );
    }
    assert!(
        readme.contains("](assets/timeline.png)"),
        "the README shows the timeline"
    );
    let png = std::fs::read(root.join("assets/timeline.png")).expect("assets/timeline.png");
    let (width, height) = browser::png_size(&png);
    assert!(width >= 1600 && height >= 400, "{width}x{height}");
}

/// Four eyes in the reports: each sign-off's seat in every format; two
/// signers from one seat, which journals written before the rule may hold,
/// are marked.
#[test]
fn the_seats_of_sign_offs_are_in_every_report_format() {
    let fx = Fixture::new(
        "+++\n[environments.production]\nsignoffs = 2\n+++\n# Four eyes\n\n## Production\n\n### Execution\n\n1. Check the change ticket by hand\n",
    );
    // Two names that are one person, at one seat: one sign-off, and a stop.
    let first = common::pty::OtherTerminal::open();
    let out = fx.run_at(
        &[
            "--approve",
            "all",
            "--operator",
            "Seed 0d294188 maintainers",
            "--operator",
            "seed 0d294188  maintainers ",
        ],
        &first,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("needs a second signer at another terminal"),
        "{}",
        text(&out)
    );
    let id = fx.state().header.session_id;
    // The same person at another terminal is still refused.
    let other = common::pty::OtherTerminal::open();
    let again = [
        "--resume",
        &id,
        "--approve",
        "all",
        "--operator",
        "SEED 0d294188 Maintainers",
    ];
    let out = fx.run_at(&again, &other);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("every --operator given has signed it"),
        "{}",
        text(&out)
    );
    // Bob at the other terminal.
    let out = fx.run_at(
        &["--resume", &id, "--approve", "all", "--operator", "bob"],
        &other,
    );
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    let signoffs = state.step("production.execution.1").signoffs();
    let seats: Vec<_> = signoffs
        .iter()
        .map(|s| s.signature.seat.clone().expect("the seat is recorded"))
        .collect();
    assert_eq!(seats[0].host, runsheet::seat::host_name());
    assert_eq!(seats[0].os_user, runsheet::seat::os_user());
    assert_eq!(seats[1].terminal, Some(other.path.display().to_string()));
    let md = stdout(&report(&fx, &[&id]));
    for seat in &seats {
        assert!(md.contains(&format!("from {}", seat.describe())), "{md}");
    }
    assert!(!md.contains("same seat as"), "{md}");
    let html = stdout(&report(&fx, &[&id, "--format", "html"]));
    assert!(html.contains(&seats[1].describe()), "{html}");
    let json = json_report(&fx, &id);
    let signed = &json["phases"][0]["steps"][0]["signoffs"];
    assert_eq!(signed[1]["seat"].as_str(), Some(seats[1].describe().as_str()));
    assert_eq!(signed[1]["same_seat_as"], Value::Null, "{json:#}");

    // The same session as a journal written before the rule might hold it:
    // bob's sign-off from alice's seat. It still reads, and is marked.
    let records = runsheet::journal::reader::read_journal(&fx.journal())
        .expect("journal")
        .records;
    let old = fx.dir.path().join("before-seats-counted.jsonl");
    let mut file = std::fs::File::create(&old).expect("create the journal");
    let (mut chain, mut line) = (common::journals::Chain::default(), Vec::new());
    for record in records {
        let mut event = record.event;
        if let Event::SignedOff { signature, .. } = &mut event
            && signature.who == "bob"
        {
            signature.seat = Some(seats[0].clone());
        }
        chain.encode(event, &mut line);
        std::io::Write::write_all(&mut file, &line).expect("write the journal");
    }
    let old = old.to_str().expect("utf-8 path");
    let md = stdout(&report(&fx, &[old]));
    assert!(
        md.contains("⚠ same seat as Seed 0d294188 maintainers (same terminal, same OS user)"),
        "{md}"
    );
    let html = stdout(&report(&fx, &[old, "--format", "html"]));
    assert!(html.contains("same seat as Seed 0d294188 maintainers"), "{html}");
    let out = report(&fx, &[old, "--format", "json"]);
    let json: Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let signed = &json["phases"][0]["steps"][0]["signoffs"];
    assert_eq!(signed[0]["same_seat_as"], Value::Null, "{json:#}");
    assert_eq!(signed[1]["same_seat_as"], "Seed 0d294188 maintainers", "{json:#}");
}

#[test]
fn the_report_shows_the_output_of_the_attempt_that_failed_not_of_its_retry() {
    let fx = Fixture::new(
        "# Retry\n\n## Development\n\n### Execution\n\n1. Flaky\n   ```sh\n   if [ -f tried ]; then echo \"second attempt: fine\"; else touch tried; echo \"first attempt: disk full\"; exit 2; fi\n   ```\n",
    );
    let out = fx.run(&["--retry", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = fx.state().header.session_id;

    let md = stdout(&report(&fx, &[&id]));
    let logs = &md[md.find("## Logs of failed steps").expect("logs section")..];
    let logs = &logs[..logs.find("## Rollback").expect("rollback section")];
    assert!(logs.contains("Attempt 1 (failed): the last "), "{logs}");
    assert!(logs.contains("first attempt: disk full"), "{logs}");
    assert!(
        !logs.contains("second attempt: fine"),
        "the retry's output is not the failure's:\n{logs}"
    );
    assert!(!logs.contains(" 1 output lines"), "{logs}");

    let json = json_report(&fx, &id);
    let failed = &json["failures"][0]["failed_attempts"];
    assert_eq!(failed.as_array().map(Vec::len), Some(1), "{json:#}");
    let said: Vec<&str> = failed[0]["log_tail"]
        .as_array()
        .expect("log tail")
        .iter()
        .filter_map(|l| l["text"].as_str())
        .collect();
    assert!(said.contains(&"first attempt: disk full"), "{said:?}");
    assert!(!said.contains(&"second attempt: fine"), "{said:?}");
}

#[test]
fn the_html_report_never_scrolls_sideways_at_1200_px() {
    let long = "x".repeat(400);
    let fx = Fixture::new(&format!(
        "# Wide\n\n## Development\n\n### Execution\n\n1. Print a very long word {long}\n   ```sh\n   echo {long}; echo /{long}/path/{long}; exit 1\n   ```\n"
    ));
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let id = fx.state().header.session_id;
    let page = fx.dir.path().join("wide.html");
    let out = report(&fx, &[&id, "-o", page.to_str().expect("path")]);
    assert!(out.status.success(), "{}", text(&out));
    let width = browser::scroll_width(&page, 1200);
    assert!(width <= 1200, "the page is {width} px wide in a 1200 px window");
}
