//! `runsheet check` outlines as insta snapshots: the seed plan and the
//! CryoProtect runbook (which must keep exactly the outline they have), and
//! one fixture for each shape of runbook people write (`tests/fixtures/shapes/`).

mod common;

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

/// No list item and no runnable block vanishes.
fn assert_nothing_dropped(path: &Path) {
    let text = std::fs::read_to_string(path).expect("readable");
    let loaded = runsheet::runbook::loader::load(path).expect("readable");
    let lost = common::outline::vanished(&text, &loaded);
    assert!(lost.is_empty(), "{}: lines {lost:?} vanished", path.display());
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

/// Journals already written store plans without the fields nesting,
/// sub-steps and notes added: the seed plan's session plans as written
/// before them (the snapshot above) read back as today's plans.
#[test]
fn plans_in_journals_written_before_nesting_read_back() {
    let snapshot =
        std::fs::read_to_string(repo("tests/snapshots/outline__seed_plan_sessions.snap")).expect("snapshot");
    let json = snapshot.splitn(3, "---\n").nth(2).expect("the snapshot's body");
    let old: Vec<runsheet::runbook::plan::Plan> = serde_json::Deserializer::from_str(json)
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("old plans parse");
    let rb = runsheet::runbook::loader::load(&repo("../shared/seed/DATABASE_REMEDIATION_DEPLOYMENT_PLAN.md"))
        .expect("readable")
        .runbook
        .expect("a runbook");
    let now: Vec<_> = rb
        .environments
        .iter()
        .map(|e| runsheet::runbook::plan::Plan::for_environment(&rb, e))
        .collect();
    assert_eq!(old.len(), 3);
    assert_eq!(old, now);
}
