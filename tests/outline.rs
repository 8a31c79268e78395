//! `runsheet check` outlines as insta snapshots: the seed plan and the
//! CryoProtect runbook (which must keep exactly the outline they have), and
//! one fixture for each shape of runbook people write (`tests/fixtures/shapes/`).

use std::path::{Path, PathBuf};

use runsheet::runbook::check;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `check`'s stdout and stderr, with the machine-dependent path and the
/// content hash filtered out.
fn outline(path: &Path) -> String {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = check::run(path, &mut out, &mut err);
    let text = format!(
        "exit {code}\n--- stderr\n{}--- stdout\n{}",
        String::from_utf8_lossy(&err),
        String::from_utf8_lossy(&out)
    );
    let shown = path.display().to_string();
    text.lines()
        .map(|l| {
            if l.starts_with("sha256    ") {
                "sha256    [hash]".to_string()
            } else {
                l.replace(&shown, "[file]")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_seed_plan_keeps_its_outline() {
    insta::assert_snapshot!(
        "seed_plan",
        outline(&repo("../shared/seed/DATABASE_REMEDIATION_DEPLOYMENT_PLAN.md"))
    );
}

#[test]
fn the_cryoprotect_runbook_keeps_its_outline() {
    insta::assert_snapshot!(
        "cryoprotect_runbook",
        outline(&repo("runbooks/cryoprotect-remediation.md"))
    );
}

/// The plan each environment's sessions store in their journal header:
/// what resume, replay and reports read back, so it must not change either.
fn plans(path: &Path) -> String {
    let loaded = runsheet::runbook::loader::load(path).expect("readable");
    let rb = loaded.runbook.expect("a runbook");
    rb.environments
        .iter()
        .map(|env| {
            let plan = runsheet::runbook::plan::Plan::for_environment(&rb, env);
            serde_json::to_string_pretty(&plan).expect("serialisable")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_seed_plan_keeps_its_session_plans() {
    insta::assert_snapshot!(
        "seed_plan_sessions",
        plans(&repo("../shared/seed/DATABASE_REMEDIATION_DEPLOYMENT_PLAN.md"))
    );
}

#[test]
fn the_cryoprotect_runbook_keeps_its_session_plans() {
    insta::assert_snapshot!(
        "cryoprotect_runbook_sessions",
        plans(&repo("runbooks/cryoprotect-remediation.md"))
    );
}

/// Every fixture under `tests/fixtures/shapes/`, by name.
fn shapes() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo("tests/fixtures/shapes"))
        .expect("the fixtures folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    paths.sort();
    paths
}

/// The lines where top-level list items and fenced blocks outside them
/// start, read with pulldown-cmark directly (not through the loader).
fn items_and_blocks(text: &str) -> Vec<u32> {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let body = match text.strip_prefix("---\n").and_then(|r| r.find("\n---\n")) {
        Some(end) => end + 9,
        None => match text.strip_prefix("+++\n").and_then(|r| r.find("\n+++\n")) {
            Some(end) => end + 9,
            None => 0,
        },
    };
    let line = |offset: usize| u32::try_from(text[..body + offset].matches('\n').count() + 1).unwrap();
    let (mut lists, mut quotes, mut items) = (0usize, 0usize, 0usize);
    let mut out = Vec::new();
    let parser = Parser::new_ext(&text[body..], Options::ENABLE_TASKLISTS | Options::ENABLE_TABLES);
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::BlockQuote(_)) => quotes += 1,
            Event::End(pulldown_cmark::TagEnd::BlockQuote(_)) => quotes -= 1,
            Event::Start(Tag::List(_)) => lists += 1,
            Event::End(pulldown_cmark::TagEnd::List(_)) => lists -= 1,
            Event::Start(Tag::Item) => {
                if lists == 1 && quotes == 0 {
                    out.push(line(range.start));
                }
                items += 1;
            }
            Event::End(pulldown_cmark::TagEnd::Item) => items -= 1,
            Event::Start(Tag::CodeBlock(pulldown_cmark::CodeBlockKind::Fenced(_)))
                if items == 0 && quotes == 0 =>
            {
                out.push(line(range.start))
            }
            _ => {}
        }
    }
    out
}

/// No list item and no code block vanishes: each is a step, is part of one,
/// is named by a diagnostic or a "not steps" line, or lies in a section
/// the outline lists as a reference.
fn assert_nothing_dropped(path: &Path) {
    let text = std::fs::read_to_string(path).expect("readable");
    let loaded = runsheet::runbook::loader::load(path).expect("readable");
    let rb = loaded.runbook.as_ref().expect("a runbook");
    // Every heading the outline shows, with whether it is a reference.
    let mut marks: Vec<(u32, bool)> = rb.references.iter().map(|r| (r.pos.line, true)).collect();
    let phases = rb
        .environments
        .iter()
        .flat_map(|e| &e.phases)
        .chain(&rb.phases)
        .chain(&rb.prerequisites);
    marks.extend(phases.map(|p| (p.pos.line, false)));
    marks.sort();
    let steps: Vec<(u32, u32)> = rb
        .all_steps()
        .map(|s| {
            (
                s.pos.line,
                s.pos.line + u32::try_from(s.body.lines().count()).unwrap(),
            )
        })
        .collect();
    for line in items_and_blocks(&text) {
        let in_reference = marks
            .iter()
            .rev()
            .find(|(l, _)| *l <= line)
            .is_some_and(|(_, r)| *r);
        let in_step = steps.iter().any(|(from, to)| (*from..=*to).contains(&line));
        let reported = loaded
            .not_steps
            .iter()
            .any(|n| (n.pos.line..=n.last_line).contains(&line))
            || loaded.diagnostics.iter().any(|d| d.pos.line == line);
        assert!(
            in_reference || in_step || reported,
            "{}:{line}: a list item or block vanished",
            path.display()
        );
    }
}

#[test]
fn each_shape_of_runbook_gives_the_outline_a_reader_expects() {
    let paths = shapes();
    assert!(paths.len() >= 11, "{paths:?}");
    for path in paths {
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .replace('-', "_");
        assert_nothing_dropped(&path);
        insta::assert_snapshot!(format!("shape_{name}"), outline(&path));
    }
}
