//! The CryoProtect remediation end to end: the real binary runs
//! `runbooks/cryoprotect-remediation.md` against scratch databases loaded
//! with the defective starting database, the way an operator would, and the
//! databases are then checked independently with the phase verifications.
//! Also: the runbook against the seed plan, and `runsheet demo`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ScratchDb;
use runsheet::journal::event::{Event, Mode, SessionOutcome};
use runsheet::journal::reader::read_journal;
use runsheet::runbook::loader;
use runsheet::runbook::model::{PhaseKind, Runbook, Step, StepKind};
use runsheet::runbook::plan::Plan;
use runsheet::session::{Next, SessionState, StepStatus};
use tempfile::TempDir;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn runbook_path() -> PathBuf {
    repo("runbooks/cryoprotect-remediation.md")
}

fn asset(name: &str) -> PathBuf {
    repo("runbooks/cryoprotect").join(name)
}

/// The seed plan as its author wrote it (where the loader tests read it too).
fn seed_path() -> PathBuf {
    repo("../shared/seed/DATABASE_REMEDIATION_DEPLOYMENT_PLAN.md")
}

/// A scratch database holding the CryoProtect starting database.
fn starting_db(label: &str) -> ScratchDb {
    let db = ScratchDb::create(label);
    if let Err(e) = db.psql_file(&asset("starting-database.sql"), true) {
        panic!("cannot load the starting database: {e}");
    }
    db
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The runbook's three environments, each on its own scratch database, with
/// one state dir and one backup folder, as one operator's machine would have.
struct Site {
    dir: TempDir,
    databases: BTreeMap<&'static str, String>,
}

impl Site {
    fn new(databases: &[(&'static str, &ScratchDb)]) -> Site {
        Site {
            dir: TempDir::new().expect("temp dir"),
            databases: databases.iter().map(|(env, db)| (*env, db.url.clone())).collect(),
        }
    }

    fn backups(&self) -> PathBuf {
        self.dir.path().join("backups")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runsheet"));
        cmd.arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .args(args);
        cmd.env_remove("RUNSHEET_STATE_DIR")
            .env("RUNSHEET_OPERATOR", "tester")
            .env("CRYO_BACKUP_DIR", self.backups())
            .stdin(Stdio::null());
        for (env, var) in [
            ("development", "CRYO_DEV_DATABASE_URL"),
            ("staging", "CRYO_STAGING_DATABASE_URL"),
            ("production", "CRYO_PROD_DATABASE_URL"),
        ] {
            // An environment without a scratch database points nowhere, never at the defaults.
            let url = self
                .databases
                .get(env)
                .cloned()
                .unwrap_or_else(|| "postgres://nobody@127.0.0.1:1/none".to_string());
            cmd.env(var, url);
        }
        cmd
    }

    /// `runsheet run RUNBOOK --env ENV --headless ARGS…`, timed, with the session it wrote.
    fn run(&self, env: &str, args: &[&str]) -> (Output, SessionState) {
        self.run_at(env, args, None)
    }

    /// [`Site::run`] seated at `terminal` (its controlling terminal): another
    /// seat than every other terminal's.
    fn run_at(
        &self,
        env: &str,
        args: &[&str],
        terminal: Option<&common::pty::OtherTerminal>,
    ) -> (Output, SessionState) {
        let runbook = runbook_path();
        let mut all = vec![
            "run",
            runbook.to_str().expect("utf-8 path"),
            "--env",
            env,
            "--headless",
        ];
        all.extend_from_slice(args);
        let started = Instant::now();
        let mut cmd = self.command(&all);
        if let Some(terminal) = terminal {
            terminal.seat(&mut cmd);
        }
        let out = cmd.output().expect("run runsheet");
        eprintln!(
            "runsheet run --env {env} {}: {:.1}s",
            args.join(" "),
            started.elapsed().as_secs_f64()
        );
        let state = session(&out);
        (out, state)
    }
}

/// The session a headless run wrote (its first line names the journal); its chain must verify.
fn session(out: &Output) -> SessionState {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout
        .lines()
        .find_map(|l| l.strip_prefix("journal: "))
        .unwrap_or_else(|| panic!("no journal line in:\n{}", text(out)));
    let read = read_journal(Path::new(path)).expect("read journal");
    assert!(read.integrity.is_verified(), "{:?}", read.integrity);
    SessionState::from_records(&read.records).expect("fold")
}

fn assert_completed(out: &Output, state: &SessionState, outcome: SessionOutcome) {
    assert!(
        out.status.success(),
        "exit {:?}:\n{}",
        out.status.code(),
        text(out)
    );
    assert_eq!(
        state.outcome.as_ref().map(|o| o.0),
        Some(outcome),
        "{}",
        text(out)
    );
}

fn status(state: &SessionState, id: &str) -> StepStatus {
    state.step(id).status()
}

/// runsheet's verification rule, applied independently of runsheet: every
/// statement of the file returns no rows or a single `true`. `Err` holds the
/// problem rows, or the error that stopped the file.
fn verification(url: &str, file: &str) -> Result<(), String> {
    let sql = std::fs::read_to_string(asset(file)).expect("read verification");
    let url = url.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let messages = client
            .simple_query(&sql)
            .await
            .map_err(|e| match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            })?;
        let (mut problems, mut rows) = (Vec::new(), Vec::new());
        for message in messages {
            match message {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    rows.push(row.get(0).unwrap_or("NULL").to_string())
                }
                tokio_postgres::SimpleQueryMessage::CommandComplete(_) => {
                    let statement = std::mem::take(&mut rows);
                    if !(statement.is_empty() || statement == ["t"]) {
                        problems.extend(statement);
                    }
                }
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    })
}

const PHASE_VERIFICATIONS: [&str; 5] = [
    "phase1-verify.sql",
    "phase2-verify.sql",
    "phase3-verify.sql",
    "phase4-verify.sql",
    "phase5-verify.sql",
];

fn assert_remediated(url: &str, env: &str) {
    for file in PHASE_VERIFICATIONS {
        if let Err(problems) = verification(url, file) {
            panic!("{env}: {file} does not pass after the remediation:\n{problems}");
        }
    }
    assert!(
        verification(url, "rollback-verify.sql").is_err(),
        "{env}: the structure is still the starting one"
    );
}

#[test]
fn development_then_staging_then_production_remediate_their_databases() {
    let started = Instant::now();
    let (dev, staging, prod) = (
        starting_db("cryo_e2e_dev"),
        starting_db("cryo_e2e_staging"),
        starting_db("cryo_e2e_prod"),
    );
    let site = Site::new(&[
        ("development", &dev),
        ("staging", &staging),
        ("production", &prod),
    ]);

    // Every session in the order it ran, for the deployment report at the end.
    let mut ran: Vec<(String, &str)> = Vec::new();
    // A dry run first: it changes nothing and never counts as evidence.
    let (out, state) = site.run(
        "development",
        &[
            "--dry-run",
            "--approve",
            "all",
            "--skip",
            "development.verify=dry run",
        ],
    );
    assert_completed(&out, &state, SessionOutcome::Completed);
    ran.push((state.header.session_id.clone(), "development"));
    let (out, state) = site.run("development", &["--approve", "all"]);
    assert_completed(&out, &state, SessionOutcome::Completed);
    ran.push((state.header.session_id.clone(), "development"));
    for id in [
        "prerequisites.backup",
        "prerequisites.privileges",
        "prerequisites.rollback-plan",
        "development.backup",
        "development.dry-run",
        "development.remediate",
        "development.verify",
    ] {
        assert_eq!(status(&state, id), StepStatus::Succeeded, "{id}");
    }
    assert_remediated(&dev.url, "development");

    let (out, state) = site.run("staging", &["--approve", "all"]);
    assert_completed(&out, &state, SessionOutcome::Completed);
    assert_eq!(status(&state, "staging.remediate"), StepStatus::Succeeded);
    assert_remediated(&staging.url, "staging");
    ran.push((state.header.session_id.clone(), "staging"));

    // The rollback plan asks for a rollback test in staging before production:
    // rehearse it, then remediate staging again.
    let (out, state) = site.run("staging", &["--approve", "all", "--rollback=rollback rehearsal"]);
    assert_completed(&out, &state, SessionOutcome::RolledBack);
    ran.push((state.header.session_id.clone(), "staging"));
    let (out, state) = site.run("staging", &["--approve", "all"]);
    assert_completed(&out, &state, SessionOutcome::Completed);
    assert_remediated(&staging.url, "staging");
    ran.push((state.header.session_id.clone(), "staging"));

    // Production runs phase by phase, as the plan says, and every manual
    // step needs two people on two seats: alice runs headless without a
    // terminal, bob from a pseudo-terminal of his own. Each pre-approves
    // every manual step, which signs it once from their seat; a run stops
    // where a step needs the other seat's signature, saying how to give it,
    // and the other resumes. The holds are not approved in advance: each run
    // stops at the hold after a phase's verification, before the next phase
    // changes anything, and a resume approving exactly that hold goes on.
    let manual = manual_steps("production");
    let approvals: Vec<String> = manual
        .iter()
        .flat_map(|id| ["--approve".to_string(), id.clone()])
        .collect();
    let (alices_terminal, bobs_terminal) = (
        common::pty::OtherTerminal::open(),
        common::pty::OtherTerminal::open(),
    );
    let run_as = |who: &str, extra: &[String]| {
        let mut all: Vec<&str> = approvals.iter().map(String::as_str).collect();
        all.extend(["--operator", who, "--confirm-env", "production"]);
        all.extend(extra.iter().map(String::as_str));
        let terminal = if who == "bob" {
            &bobs_terminal
        } else {
            &alices_terminal
        };
        site.run_at("production", &all, Some(terminal))
    };
    let (mut out, mut state) = run_as("alice", &[]);
    let id = state.header.session_id.clone();
    let resume = ["--resume".to_string(), id.clone()];
    let mut at = "alice";
    let mut handovers = 0;
    while state.outcome.is_none() {
        assert_eq!(out.status.code(), Some(1), "stops for a person: {}", text(&out));
        match state.next() {
            Next::SignOff { step, signed: 1, .. } => {
                let told = text(&out);
                assert!(
                    told.contains(&format!(
                        "it needs a second signer at another terminal: `runsheet attach {id} --operator NAME`"
                    )) && told.contains("or a resume from that seat"),
                    "{}: {told}",
                    step.id
                );
                at = if at == "alice" { "bob" } else { "alice" };
                handovers += 1;
                (out, state) = run_as(at, &resume);
            }
            Next::Hold { after, .. } => {
                let check = after.id.clone();
                let n: u32 = check
                    .strip_prefix("production.phase")
                    .and_then(|rest| rest.strip_suffix("-verify"))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("a hold after a phase verification, not {check}"));
                assert!(text(&out).contains("--approve hold"), "{}", text(&out));
                assert_eq!(status(&state, &check), StepStatus::Succeeded);
                let next = format!("production.phase{}-run", n + 1);
                assert_eq!(status(&state, &next), StepStatus::Pending, "{next} waits");
                (out, state) = run_as(at, &[resume.clone(), ["--approve".into(), check]].concat());
            }
            other => panic!("stopped at {other:?}\n{}", text(&out)),
        }
        assert!(handovers <= 2 * manual.len(), "{handovers} hand-overs");
    }
    assert!(
        handovers >= manual.len(),
        "every manual step needed the other seat"
    );
    assert_completed(&out, &state, SessionOutcome::Completed);
    let held: Vec<&str> = state.holds.iter().map(|h| h.after.as_str()).collect();
    assert_eq!(
        held,
        (1..=4)
            .map(|n| format!("production.phase{n}-verify"))
            .collect::<Vec<_>>(),
        "one hold after each phase but the last"
    );
    assert!(
        state
            .holds
            .iter()
            .all(|h| h.released.as_ref().is_some_and(|r| r.preapproved)),
        "every hold released by a decision given in advance"
    );
    assert_remediated(&prod.url, "production");
    ran.push((state.header.session_id.clone(), "production"));
    // Every manual step carries both names from two seats; the environment
    // was confirmed before the first change; each phase ran and was
    // verified in order.
    let (alices, bobs) = (
        alices_terminal.path.display().to_string(),
        bobs_terminal.path.display().to_string(),
    );
    for step in state.plan.steps().filter(|s| s.kind == StepKind::Manual) {
        let signoffs = state.step(&step.id).signoffs();
        let mut by: Vec<(&str, Option<&str>)> = signoffs
            .iter()
            .map(|s| {
                let seat = s.signature.seat.as_ref().expect("a seat");
                (s.signature.who.as_str(), seat.terminal.as_deref())
            })
            .collect();
        by.sort();
        assert_eq!(
            by,
            [("alice", Some(alices.as_str())), ("bob", Some(bobs.as_str()))],
            "{}",
            step.id
        );
    }
    assert_eq!(state.confirmed_by.as_deref(), Some("alice"));
    let read = read_journal(&PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("journal: "))
            .expect("journal line"),
    ))
    .expect("journal");
    let started_steps: Vec<&str> = read
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::StepStarted { step, .. } => Some(step.as_str()),
            _ => None,
        })
        .collect();
    let confirmed_at = read
        .records
        .iter()
        .position(|r| matches!(r.event, Event::EnvironmentConfirmed { .. }))
        .expect("confirmed");
    let first_change = read
        .records
        .iter()
        .position(|r| matches!(&r.event, Event::StepStarted { step, .. } if step == "production.phase1-run"))
        .expect("phase 1 ran");
    assert!(
        confirmed_at < first_change,
        "confirmation comes before the first change"
    );
    let phases: Vec<&str> = started_steps
        .iter()
        .copied()
        .filter(|s| s.starts_with("production.phase"))
        .collect();
    let expected: Vec<String> = (1..=5)
        .flat_map(|n| {
            [
                format!("production.phase{n}-run"),
                format!("production.phase{n}-verify"),
            ]
        })
        .collect();
    assert_eq!(phases, expected);
    let passed: Vec<&str> = state
        .verifications
        .iter()
        .filter(|v| v.passed)
        .map(|v| v.step.as_str())
        .collect();
    for n in 1..=5 {
        assert!(
            passed.contains(&format!("production.phase{n}-verify").as_str()),
            "{passed:?}"
        );
    }
    let backups = state
        .plan
        .steps()
        .filter(|s| s.backup && status(&state, &s.id) == StepStatus::Succeeded)
        .count();
    assert!(backups >= 3, "{backups} verified backups in production");
    let dumps = std::fs::read_dir(site.backups().join("production"))
        .expect("production backups")
        .count();
    assert!(dumps >= 3, "{dumps} backup files");

    // Quick-start option 3: verification only, read-only, on the remediated database.
    let before = prod.fingerprint();
    let (out, state) = site.run("production", &["--only", "verify", "--operator", "alice"]);
    assert_completed(&out, &state, SessionOutcome::Completed);
    assert!(state.plan.steps().all(|s| s.verify), "only checks ran");
    assert!(
        state
            .verifications
            .iter()
            .any(|v| v.step == "production.verify" && v.passed),
        "{}",
        text(&out)
    );
    assert_eq!(
        before,
        prod.fingerprint(),
        "the verification-only run changed nothing"
    );
    ran.push((state.header.session_id.clone(), "production"));

    assert_deployment_report(&site, &ran);
    // The record says which database each environment changed.
    let runbook = runbook_path();
    let report = site
        .command(&[
            "report",
            "--deployment",
            runbook.to_str().expect("utf-8 path"),
            "--format",
            "md",
        ])
        .output()
        .expect("runsheet report --deployment");
    let report = text(&report);
    for db in [&dev, &staging, &prod] {
        assert!(
            report.contains(&db.name),
            "the report names {}: {report}",
            db.name
        );
    }
    eprintln!(
        "development → staging → production: {:.1}s in all",
        started.elapsed().as_secs_f64()
    );
}

/// The ids of the manual steps of `env`'s plan, to approve them in advance.
fn manual_steps(env: &str) -> Vec<String> {
    let rb = load(&runbook_path());
    let env = rb.environment(env).expect("the environment");
    Plan::for_environment(&rb, env)
        .steps()
        .filter(|s| s.kind == StepKind::Manual)
        .map(|s| s.id.clone())
        .collect()
}

/// The deployment report of the site's state dir: every session of `ran`
/// in promotion order (they ran in it), each named counted or not (by the
/// gates' own rule, asked here directly), the evidence chain that let
/// production start, every journal verified; in JSON as documented, in
/// Markdown, and in HTML that loads in a browser without a console message.
fn assert_deployment_report(site: &Site, ran: &[(String, &str)]) {
    let runbook = runbook_path();
    let runbook = runbook.to_str().expect("utf-8 path");
    let out = site
        .command(&["report", "--deployment", runbook, "--format", "json"])
        .output()
        .expect("runsheet report --deployment");
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    common::report_json::documented().assert_valid_as(&json, "deployment");
    let sessions = json["sessions"].as_array().expect("sessions");
    let listed: Vec<(&str, &str)> = sessions
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id"),
                s["environment"].as_str().expect("env"),
            )
        })
        .collect();
    let expected: Vec<(&str, &str)> = ran.iter().map(|(id, env)| (id.as_str(), *env)).collect();
    assert_eq!(listed, expected, "every session, in promotion order");

    let saved = runsheet::journal::store::list_sessions(&site.dir.path().join("state"))
        .expect("sessions")
        .sessions;
    let sha = &saved[0].runbook_sha256;
    for json in sessions {
        let summary = saved.iter().find(|x| json["id"] == x.id.as_str()).expect("saved");
        let rule = |proof| {
            runsheet::gates::counts_as_evidence(summary, &saved, &summary.environment, None, proof, sha)
        };
        let run = rule(runsheet::gates::Proof::Run);
        assert_eq!(json["evidence"][0]["proof"], "successful_session");
        assert_eq!(json["evidence"][0]["counts"], run.is_ok(), "{json:#}");
        assert_eq!(json["evidence"][0]["why_not"].as_str(), run.err().as_deref());
    }
    let counts = |i: usize| sessions[i]["counts_as"].as_str();
    assert_eq!(counts(0), None, "the dry run");
    assert_eq!(
        sessions[0]["evidence"][0]["why_not"],
        "a dry run never counts as evidence"
    );
    assert_eq!(counts(1), Some("successful_session"), "development");
    assert_eq!(counts(2), None, "staging, rolled back by the rehearsal after it");
    assert_eq!(
        sessions[2]["evidence"][0]["why_not"].as_str(),
        Some(
            format!(
                "staging was rolled back after it (session {}): staging must be re-applied",
                ran[3].0
            )
            .as_str()
        )
    );
    assert_eq!(counts(3), Some("rollback_rehearsal"), "the rehearsal");
    assert_eq!(counts(4), Some("successful_session"), "staging again");
    assert_eq!(counts(5), Some("successful_session"), "production");
    assert_eq!(json["environments"][1]["proven_by"], ran[4].0.as_str());
    assert_eq!(json["environments"][1]["rehearsed_by"], ran[3].0.as_str());
    assert_eq!(json["intact"], true);

    // What let production start: each of its gates passed on a session that still counts.
    let production = &ran[5].0;
    let links: Vec<(&str, &str, &str, bool)> = json["chain"]
        .as_array()
        .expect("chain")
        .iter()
        .filter(|l| l["session"] == production.as_str())
        .map(|l| {
            (
                l["needs"].as_str().expect("needs"),
                l["proof"].as_str().expect("proof"),
                l["relied_on"].as_str().expect("relied on"),
                l["still_counts"].as_bool().expect("still counts"),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            ("development", "successful_session", ran[1].0.as_str(), true),
            ("staging", "successful_session", ran[4].0.as_str(), true),
            ("staging", "rollback_rehearsal", ran[3].0.as_str(), true),
        ]
    );

    let out = site
        .command(&["report", "--deployment", runbook])
        .output()
        .expect("runsheet report --deployment");
    assert!(out.status.success(), "{}", text(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    let mut at = 0;
    for (id, _) in ran {
        let row = md[at..]
            .find(&format!("| `{id}` |"))
            .unwrap_or_else(|| panic!("{id} after the sessions before it:\n{md}"));
        at += row + 1;
    }
    assert!(
        md.contains("| Promotion | complete: production proven by session "),
        "{md}"
    );

    let page = site.dir.path().join("deployment.html");
    let out = site
        .command(&[
            "report",
            "--deployment",
            runbook,
            "-o",
            page.to_str().expect("path"),
        ])
        .output()
        .expect("runsheet report --deployment");
    assert!(out.status.success(), "{}", text(&out));
    let dom = common::browser::load_cleanly(&page);
    assert_eq!(dom.matches("<figure class=\"timeline\"").count(), ran.len());
}

#[test]
fn the_rollback_section_undoes_a_complete_development_run() {
    let started = Instant::now();
    let db = starting_db("cryo_e2e_rollback");
    let before = db.fingerprint();
    let site = Site::new(&[("development", &db)]);
    let (out, state) = site.run("development", &["--approve", "all"]);
    assert_completed(&out, &state, SessionOutcome::Completed);
    assert_remediated(&db.url, "development");

    let (out, state) = site.run(
        "development",
        &["--rollback=rollback rehearsal", "--approve", "all"],
    );
    assert_completed(&out, &state, SessionOutcome::RolledBack);
    let rollback = state.rollback.as_ref().expect("the rollback started");
    assert_eq!(rollback.reason, "rollback rehearsal");
    assert_eq!(rollback.finished.map(|f| f.1), Some(SessionOutcome::Completed));
    for id in [
        "rollback.phase5",
        "rollback.phase3",
        "rollback.phase2",
        "rollback.phase1",
        "rollback.restore",
        "rollback.verify",
    ] {
        assert_eq!(status(&state, id), StepStatus::Succeeded, "{id}:\n{}", text(&out));
    }
    assert!(
        state
            .verifications
            .iter()
            .any(|v| v.step == "rollback.verify" && v.passed),
        "{}",
        text(&out)
    );
    // Nothing of the forward plan ran in the rollback session.
    assert!(
        state
            .plan
            .steps()
            .all(|s| status(&state, &s.id) == StepStatus::Pending)
    );
    if let Err(problems) = verification(&db.url, "rollback-verify.sql") {
        panic!("rollback-verify.sql does not pass after the rollback:\n{problems}");
    }
    // The pre-remediation backup was restored: structure, rows and sequences as they were.
    assert_eq!(
        before,
        db.fingerprint(),
        "the database differs from the one before the remediation"
    );
    eprintln!(
        "remediation and rollback: {:.1}s in all",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_rollback_that_cannot_start_stops_with_the_reason_and_runs_nothing() {
    let site = Site::new(&[]);
    let runbook = site.dir.path().join("no-rollback.md");
    std::fs::write(
        &runbook,
        "# No rollback\n\n## Development\n\n### Execution\n\n1. Change something\n   ```sh\n   touch changed\n   ```\n",
    )
    .expect("write runbook");
    let out = site
        .command(&[
            "run",
            runbook.to_str().expect("path"),
            "--env",
            "development",
            "--headless",
            "--rollback",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("stopped: this runbook's Rollback section has no steps to run"),
        "{}",
        text(&out)
    );
    assert!(
        !site.dir.path().join("changed").exists(),
        "the plan did not run instead"
    );
    let state = session(&out);
    assert!(
        state.rollback.is_none() && state.outcome.is_none(),
        "the session stays resumable"
    );
}

#[test]
fn a_dry_run_session_changes_nothing() {
    let started = Instant::now();
    let db = starting_db("cryo_e2e_dry");
    let before = db.fingerprint();
    let site = Site::new(&[("development", &db)]);
    // Every SQL step is rolled back, so the Validation check would find
    // nothing applied; the decision to skip it is given in advance, and a
    // skip given in advance skips the step before it runs.
    let (out, state) = site.run(
        "development",
        &[
            "--dry-run",
            "--approve",
            "all",
            "--skip",
            "development.verify=dry run: the remediation was rolled back",
        ],
    );
    assert_completed(&out, &state, SessionOutcome::Completed);
    assert_eq!(state.header.mode, Mode::DryRun);
    assert_eq!(status(&state, "development.dry-run"), StepStatus::Succeeded);
    assert_eq!(status(&state, "development.remediate"), StepStatus::Succeeded);
    assert_eq!(status(&state, "development.verify"), StepStatus::Skipped);
    assert!(
        !state.verifications.iter().any(|v| v.step == "development.verify"),
        "the skipped check did not run"
    );
    let log = text(&out);
    assert!(log.contains("ROLLBACK (dry run: no change is kept)"), "{log}");
    assert_eq!(before, db.fingerprint(), "the dry run changed the database");
    assert!(
        verification(&db.url, "rollback-verify.sql").is_ok(),
        "still the starting structure"
    );
    eprintln!("dry run: {:.1}s", started.elapsed().as_secs_f64());
}

/// The steps of one container (shared prerequisites, or one phase of one environment).
fn container<'a>(rb: &'a Runbook, env: Option<&str>, kind: PhaseKind) -> &'a [Step] {
    match env {
        None => rb.prerequisites.as_ref().map_or(&[], |p| &p.steps),
        Some(name) => rb
            .environment(name)
            .and_then(|e| e.phases.iter().find(|p| p.kind == kind))
            .map_or(&[], |p| &p.steps),
    }
}

fn load(path: &Path) -> Runbook {
    let loaded = loader::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(!loaded.has_errors(), "{:#?}", loaded.diagnostics);
    loaded.runbook.expect("runbook")
}

#[test]
fn every_numbered_step_of_the_seed_plan_has_a_step_in_the_runbook_in_order() {
    let seed = load(&seed_path());
    let rb = load(&runbook_path());
    let mut containers = vec![(None, PhaseKind::Prerequisites)];
    for env in &seed.environments {
        for phase in &env.phases {
            containers.push((Some(env.name.as_str()), phase.kind));
        }
    }
    let mut matched = 0;
    for (env, kind) in containers {
        let ours = container(&rb, env, kind);
        let mut at = 0;
        for step in container(&seed, env, kind) {
            let found = ours[at..].iter().position(|s| s.title.starts_with(&step.title));
            let Some(i) = found else {
                panic!(
                    "{env:?} {kind:?}: no step (after {:?}) for the seed's {:?}",
                    ours.get(at.wrapping_sub(1)).map(|s| &s.id),
                    step.title
                )
            };
            at += i + 1;
            matched += 1;
        }
    }
    assert_eq!(matched, seed.all_steps().count(), "every seed step is matched");
    let sections = |r: &Runbook| {
        r.references
            .iter()
            .map(|s| (s.kind, s.title.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sections(&seed),
        sections(&rb),
        "the same reference sections, in order"
    );

    // What software can do is automatic, with ids the quick-start modes select.
    let kind = |id: &str| {
        let step = rb
            .all_steps()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no step {id}"));
        (step.kind.label(), step.verify, step.readonly, step.backup)
    };
    assert_eq!(kind("prerequisites.backup"), ("shell", false, true, true));
    assert_eq!(kind("prerequisites.privileges"), ("sql", true, false, false));
    assert_eq!(kind("prerequisites.rollback-plan"), ("shell", false, true, false));
    for env in ["development", "staging"] {
        assert_eq!(kind(&format!("{env}.backup")), ("shell", false, true, true));
        assert_eq!(kind(&format!("{env}.dry-run")), ("sql", false, true, false));
        assert_eq!(kind(&format!("{env}.remediate")), ("sql", false, false, false));
        assert_eq!(kind(&format!("{env}.verify")), ("sql", true, false, false));
    }
    for n in 1..=3 {
        assert_eq!(
            kind(&format!("production.backup-{n}")),
            ("shell", false, true, true)
        );
    }
    assert_eq!(kind("production.dry-run"), ("sql", false, true, false));
    let prod = rb.environment("production").expect("production");
    for n in 1..=5 {
        assert_eq!(
            kind(&format!("production.phase{n}-run")),
            ("sql", false, false, false)
        );
        assert_eq!(
            kind(&format!("production.phase{n}-verify")),
            ("sql", true, false, false)
        );
        let plan = Plan::for_environment(&rb, prod)
            .only(&format!("phase:{n}"))
            .expect("phase filter");
        let ids: Vec<&str> = plan.steps().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                format!("production.phase{n}-run"),
                format!("production.phase{n}-verify")
            ],
            "--only phase:{n}"
        );
    }
    for env in &rb.environments {
        let plan = Plan::for_environment(&rb, env)
            .only("verify")
            .expect("verify filter");
        assert!(plan.steps().all(|s| s.verify));
        assert!(plan.steps().any(|s| s.id == format!("{}.verify", env.name)));
    }
    let prod_plan = Plan::for_environment(&rb, prod);
    let rollback: Vec<&str> = prod_plan
        .rollback
        .iter()
        .filter(|s| s.kind != StepKind::Manual)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        rollback,
        [
            "rollback.phase5",
            "rollback.phase3",
            "rollback.phase2",
            "rollback.phase1",
            "rollback.restore",
            "rollback.verify"
        ]
    );
    // Each environment's estimate and window come from the Timeline.
    for (env, estimate, window) in [
        ("development", "2-4 hours", "Weekday evening"),
        ("staging", "4-6 hours", "Weekend"),
        ("production", "6-8 hours", "Weekend maintenance window"),
    ] {
        let e = rb.environment(env).expect("environment");
        assert_eq!(e.window.as_deref(), Some(window));
        let hours = |d: std::time::Duration| d.as_secs() / 3600;
        let got = e
            .estimate
            .map(|e| format!("{}-{} hours", hours(e.min), hours(e.max)));
        assert_eq!(got.as_deref(), Some(estimate), "{env}");
    }
}

#[test]
fn runsheet_check_reports_no_warning_for_the_runbook() {
    let runbook = runbook_path();
    let out = Command::new(env!("CARGO_BIN_EXE_runsheet"))
        .args(["check", runbook.to_str().expect("path")])
        .stdin(Stdio::null())
        .output()
        .expect("runsheet check");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no diagnostics at all");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" 0 warnings, 0 errors\n"),
        "{}",
        text(&out)
    );
}

/// A port on which nothing listens (the kernel just handed it out and it was let go).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn demo(state: &Path, backups: &Path, server: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runsheet"));
    cmd.arg("--state-dir").arg(state).arg("demo").args(args);
    for var in ["RUNSHEET_STATE_DIR", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] {
        cmd.env_remove(var);
    }
    cmd.env("DATABASE_URL", server)
        .env("CRYO_BACKUP_DIR", backups)
        .env("RUNSHEET_OPERATOR", "tester")
        .stdin(Stdio::null())
        .output()
        .expect("runsheet demo")
}

#[test]
fn demo_without_a_reachable_server_says_what_to_do() {
    let dir = TempDir::new().expect("temp dir");
    let server = format!("postgres://postgres@127.0.0.1:{}/postgres", closed_port());
    let out = demo(
        &dir.path().join("state"),
        &dir.path().join("backups"),
        &server,
        &[],
    );
    let log = text(&out);
    assert_eq!(out.status.code(), Some(4), "{log}");
    for words in ["start PostgreSQL", "DATABASE_URL", "PG*"] {
        assert!(log.contains(words), "{words:?} missing from: {log}");
    }
    assert_eq!(log.lines().count(), 1, "one message: {log}");
    assert!(!dir.path().join("state").exists(), "no session was started");
}

/// The demo's databases for one prefix, dropped when the test ends.
struct DemoDatabases {
    prefix: String,
}

impl DemoDatabases {
    fn names(&self) -> Vec<String> {
        ["dev", "staging", "prod"]
            .map(|s| format!("{}_{s}", self.prefix))
            .to_vec()
    }
}

impl Drop for DemoDatabases {
    fn drop(&mut self) {
        let url = common::server_url();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let names = self.names();
        let dropped = runtime.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            // One statement each: DROP DATABASE cannot run inside a transaction.
            for name in &names {
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await?;
            }
            Ok::<_, tokio_postgres::Error>(())
        });
        if let Err(e) = dropped {
            eprintln!("could not drop the demo databases {names:?}: {e:?}");
        }
    }
}

#[test]
fn demo_creates_its_databases_and_opens_the_development_checklist() {
    let dir = TempDir::new().expect("temp dir");
    let (state, backups) = (dir.path().join("state"), dir.path().join("backups"));
    let dbs = DemoDatabases {
        prefix: format!("runsheet_test_demo_{}", std::process::id()),
    };
    let server = common::server_url();
    let started = Instant::now();
    let out = demo(
        &state,
        &backups,
        &server,
        &["--yes", "--headless", "--prefix", &dbs.prefix],
    );
    let log = text(&out);
    eprintln!("runsheet demo: {:.1}s", started.elapsed().as_secs_f64());
    // Headless, nobody signs: the checklist stops at its first manual step.
    assert_eq!(out.status.code(), Some(1), "{log}");
    for name in dbs.names() {
        assert!(log.contains(&format!("{name} ")), "{name} missing: {log}");
        let db = DemoDb(common::url_with_database(&server, &name));
        assert_eq!(db.count("select count(*) from molecule"), 307 + 12, "{name}");
    }
    let session = session(&out);
    assert_eq!(session.header.environment, "development");
    assert_eq!(status(&session, "prerequisites.backup"), StepStatus::Succeeded);
    assert!(log.contains("--approve prerequisites.2"), "{log}");
    assert!(log.contains(&format!("{}_dev", dbs.prefix)), "{log}");

    // Existing databases are never dropped unasked, and without a terminal nobody can be asked.
    let out = demo(
        &state,
        &backups,
        &server,
        &["--headless", "--prefix", &dbs.prefix],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("runsheet demo --yes --prefix {}", dbs.prefix)),
        "{}",
        text(&out)
    );

    // On a terminal it asks: "no" opens the checklist on them as they are, "yes" starts again.
    let dev = DemoDb(common::url_with_database(&server, &dbs.names()[0]));
    dev.execute("create table kept_marker ()");
    let (code, log) = demo_on_terminal(&state, &backups, &server, &dbs.prefix, "n");
    assert_eq!(code, 1, "stops at the first sign-off: {log}");
    assert!(log.contains("Drop them and start again (y)"), "{log}");
    assert!(
        log.contains("kept") && !log.contains("created for development"),
        "{log}"
    );
    assert!(
        log.contains("awaiting-signoff prerequisites.2"),
        "the checklist opened: {log}"
    );
    assert_eq!(
        dev.count("select count(*) from pg_tables where tablename = 'kept_marker'"),
        1
    );
    let (code, log) = demo_on_terminal(&state, &backups, &server, &dbs.prefix, "y");
    assert_eq!(code, 1, "stops at the first sign-off again: {log}");
    assert!(log.contains("created for development"), "{log}");
    assert_eq!(
        dev.count("select count(*) from pg_tables where tablename = 'kept_marker'"),
        0
    );
}

/// `runsheet demo ARGS…` on a pseudo-terminal, as a person at a terminal runs it.
struct Terminal {
    child: Box<dyn portable_pty::Child + Send + Sync>,
    writer: Box<dyn std::io::Write + Send>,
    /// Everything written, as text, and the screen it draws.
    output: Arc<Mutex<(String, vt100::Parser)>>,
    reader: Option<std::thread::JoinHandle<()>>,
    _master: Box<dyn portable_pty::MasterPty + Send>,
}

impl Terminal {
    fn demo(state: &Path, backups: &Path, server: &str, args: &[&str]) -> Terminal {
        use portable_pty::{CommandBuilder, PtySize, native_pty_system};
        use std::io::Read;

        let (rows, cols) = (45, 160);
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_runsheet"));
        cmd.arg("--state-dir");
        cmd.arg(state);
        cmd.arg("demo");
        cmd.args(args);
        for var in ["RUNSHEET_STATE_DIR", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"] {
            cmd.env_remove(var);
        }
        cmd.env("TERM", "xterm-256color");
        cmd.env("DATABASE_URL", server);
        cmd.env("CRYO_BACKUP_DIR", backups);
        cmd.env("RUNSHEET_OPERATOR", "newcomer");
        let child = pair.slave.spawn_command(cmd).expect("spawn on the pty");
        drop(pair.slave);
        let output = Arc::new(Mutex::new((
            String::new(),
            vt100::Parser::new(nonzero(rows), nonzero(cols), 0),
        )));
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let sink = Arc::clone(&output);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Ends when the child's side closes (EOF or EIO).
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                let mut out = sink.lock().expect("output");
                out.0.push_str(&String::from_utf8_lossy(&buf[..n]));
                out.1.process(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().expect("pty writer");
        Terminal {
            child,
            writer,
            output,
            reader: Some(reader),
            _master: pair.master,
        }
    }

    fn text(&self) -> String {
        self.output.lock().expect("output").0.clone()
    }

    fn screen(&self) -> String {
        self.output.lock().expect("output").1.screen().contents()
    }

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("type");
        self.writer.flush().expect("type");
    }

    /// The exit code once the program has ended, within `deadline`.
    fn exit(&mut self, deadline: Duration) -> Option<u32> {
        let mut status = None;
        wait_until(deadline, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.map(|s| s.exit_code())
    }
}

fn nonzero(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).expect("a terminal size is not zero")
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// `runsheet demo --headless --prefix PREFIX` on a terminal, answering its
/// question with `answer`; returns the exit code and everything it wrote.
fn demo_on_terminal(state: &Path, backups: &Path, server: &str, prefix: &str, answer: &str) -> (u32, String) {
    let mut term = Terminal::demo(state, backups, server, &["--headless", "--prefix", prefix]);
    let asked = wait_until(Duration::from_secs(30), || term.text().contains("[y/N]"));
    assert!(asked, "no question: {}", term.text());
    term.keys(&format!("{answer}\r"));
    let code = term.exit(Duration::from_secs(60));
    let text = term.text();
    (
        code.unwrap_or_else(|| panic!("the demo did not finish: {text}")),
        text,
    )
}

/// The acceptance of `runsheet demo`: on a terminal it opens the development
/// checklist, and the whole development run completes in the TUI with only
/// the manual sign-offs typed by hand (`r` once, then `s` and Ctrl+S for each).
#[test]
fn the_demo_development_run_completes_in_the_tui_with_only_the_sign_offs_typed() {
    let dir = TempDir::new().expect("temp dir");
    let (state, backups) = (dir.path().join("state"), dir.path().join("backups"));
    let dbs = DemoDatabases {
        prefix: format!("runsheet_test_tui_{}", std::process::id()),
    };
    let server = common::server_url();
    let started = Instant::now();
    let mut term = Terminal::demo(&state, &backups, &server, &["--yes", "--prefix", &dbs.prefix]);
    let journal = || -> Option<SessionState> {
        let path = std::fs::read_dir(state.join("sessions"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "jsonl"))?;
        SessionState::from_records(&read_journal(&path).ok()?.records).ok()
    };
    let opened = wait_until(Duration::from_secs(60), || {
        journal().is_some() && term.screen().contains("Prerequisites for All Environments")
    });
    assert!(opened, "no checklist on the screen:\n{}", term.screen());
    term.keys("r");
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut signed = 0;
    let state = loop {
        assert!(
            Instant::now() < deadline,
            "the run did not end:\n{}",
            term.screen()
        );
        let Some(session) = journal() else { continue };
        if session.outcome.is_some() {
            break session;
        }
        match session.next() {
            Next::SignOff { step, .. } if session.step(&step.id).status() == StepStatus::AwaitingSignOff => {
                let id = step.id.clone();
                // The journal can say so before the checklist has folded it:
                // the key goes once the screen offers this step's sign-off.
                let offered = wait_until(Duration::from_secs(10), || {
                    let screen = term.screen();
                    screen.contains(&format!("┌ {id} ")) && screen.contains("press s to sign")
                });
                assert!(
                    offered,
                    "the sign-off of {id} was not offered:\n{}",
                    term.screen()
                );
                term.keys("s");
                let dialog = wait_until(Duration::from_secs(10), || term.screen().contains(" Sign off "));
                assert!(dialog, "no sign-off dialog for {id}:\n{}", term.screen());
                term.keys("\u{13}");
                let done = wait_until(Duration::from_secs(10), || {
                    journal().is_some_and(|s| s.step(&id).status() == StepStatus::SignedOff)
                });
                assert!(done, "{id} was not signed:\n{}", term.screen());
                signed += 1;
            }
            Next::Decide(step) => panic!("step {} stopped:\n{}", step.id, term.screen()),
            _ => {
                let seq = session.last_seq;
                wait_until(Duration::from_secs(5), || {
                    journal().is_some_and(|s| s.last_seq != seq)
                });
            }
        }
    };
    eprintln!(
        "the demo's development run in the TUI: {:.1}s, {signed} sign-offs typed",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        state.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );
    for step in state.plan.steps() {
        let st = state.step(&step.id);
        match step.kind {
            StepKind::Manual => {
                let signoffs = st.signoffs();
                assert!(
                    signoffs.len() == 1
                        && signoffs[0].signature.who == "newcomer"
                        && !signoffs[0].signature.preapproved,
                    "{}: {signoffs:?}",
                    step.id
                );
            }
            _ => assert_eq!(st.status(), StepStatus::Succeeded, "{}", step.id),
        }
    }
    assert_remediated(
        &common::url_with_database(&server, &dbs.names()[0]),
        "development",
    );
    term.keys("q");
    if term.exit(Duration::from_secs(5)).is_none() {
        term.keys("y");
    }
    assert!(
        term.exit(Duration::from_secs(10)).is_some(),
        "the demo did not end:\n{}",
        term.screen()
    );
    // The checklist's screen hid the export lines printed before it opened:
    // once it closes they are on the terminal again, for the staging run.
    let after = term.screen();
    assert!(
        after.contains("export CRYO_STAGING_DATABASE_URL=")
            && after.contains("export CRYO_PROD_DATABASE_URL="),
        "no export lines after the checklist closed:\n{after}"
    );
}

/// Poll `cond` until it holds or `deadline` passes.
fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A demo database, reached by URL.
struct DemoDb(String);

impl DemoDb {
    fn client<T>(&self, work: impl AsyncFnOnce(tokio_postgres::Client) -> T) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (client, conn) = tokio_postgres::connect(&self.0, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            work(client).await
        })
    }

    fn count(&self, sql: &str) -> i64 {
        self.client(async |c| c.query_one(sql, &[]).await.expect(sql).get(0))
    }

    fn execute(&self, sql: &str) {
        self.client(async |c| c.batch_execute(sql).await.expect(sql));
    }
}
