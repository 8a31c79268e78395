//! End-to-end tests of `runsheet run --headless`: the real binary, real bash,
//! a real PostgreSQL scratch database, a real journal on disk.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::ScratchDb;
use common::runsheet::{Fixture, line_count, text, wait_until};
use runsheet::journal::event::{Event, Outcome, SessionOutcome};
use runsheet::journal::reader::read_journal;
use runsheet::session::{SessionState, StepStatus};

fn session_id(state: &SessionState) -> String {
    state.header.session_id.clone()
}

fn runbook_with_db(url: &str) -> String {
    format!(
        r#"+++
title = "Engine test"
[variables]
GREETING = "hello"
[environments.development]
database = "{url}"
+++
# Engine test

## Development

### Preparation

1. Say hello
   ```sh
   echo "$GREETING from $RUNSHEET_ENV dry=$RUNSHEET_DRY_RUN"
   echo "to stderr" >&2
   ```
2. Sign this by hand

### Execution

1. Create a table
   ```sql
   CREATE TABLE t (id int primary key);
   INSERT INTO t VALUES (1), (2);
   ```

### Validation

1. Two rows are there
   ```sql {{verify}}
   SELECT count(*) = 2 FROM t;
   ```
"#
    )
}

#[test]
fn a_headless_run_completes_and_records_every_step() {
    let db = ScratchDb::create("headless_ok");
    let fx = Fixture::new(&runbook_with_db(&db.url));
    let out = fx.run(&["--approve", "all"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("stdout") && log.contains("hello from development dry=0"),
        "{log}"
    );
    assert!(log.contains("stderr") && log.contains("to stderr"), "{log}");
    assert!(log.contains("verification") && log.contains("PASS"), "{log}");
    assert!(
        log.contains("session-ended") && log.contains("completed"),
        "{log}"
    );
    assert_eq!(db.query("SELECT count(*) FROM t"), vec!["2"]);

    let state = fx.state();
    assert_eq!(
        state.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );
    let manual = state.step("development.preparation.2");
    assert_eq!(manual.status(), StepStatus::SignedOff);
    assert!(
        manual.signoffs()[0].signature.preapproved,
        "pre-approval is recorded as such"
    );
    assert_eq!(state.verifications.len(), 1);
    assert!(state.verifications[0].passed);

    let verify = fx
        .command(&["verify", &session_id(&state)])
        .output()
        .expect("verify");
    assert!(verify.status.success(), "{}", text(&verify));
    let sessions = fx.command(&["sessions"]).output().expect("sessions");
    assert!(text(&sessions).contains("completed"), "{}", text(&sessions));
}

#[test]
fn a_manual_step_without_approval_stops_and_resume_does_not_rerun_done_steps() {
    let db = ScratchDb::create("headless_manual");
    let fx = Fixture::new(&runbook_with_db(&db.url));
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--approve development.preparation.2"),
        "{}",
        text(&out)
    );
    let id = session_id(&fx.state());

    let out = fx.run(&["--resume", &id, "--approve", "development.preparation.2"]);
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    assert_eq!(
        state.step("development.preparation.1").attempts().len(),
        1,
        "the shell step ran once"
    );
    assert_eq!(
        state.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );
}

#[test]
fn a_failed_step_waits_for_a_decision_and_a_skip_is_recorded_with_its_reason() {
    let fx = Fixture::new(
        "# Failing\n\n## Development\n\n### Execution\n\n1. Fail\n   ```sh\n   echo about to fail\n   exit 3\n   ```\n2. Then this\n   ```sh\n   echo after\n   ```\n",
    );
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("exit=3"), "{}", text(&out));
    assert!(
        text(&out).contains("--skip development.execution.1=REASON"),
        "{}",
        text(&out)
    );
    let state = fx.state();
    assert_eq!(state.step("development.execution.1").status(), StepStatus::Failed);
    assert_eq!(
        state.step("development.execution.1").attempts()[0].exit_code,
        Some(3)
    );

    let out = fx.run(&[
        "--resume",
        &session_id(&state),
        "--skip",
        "development.execution.1=known flaky",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let state = fx.state();
    let skip = state
        .step("development.execution.1")
        .get()
        .and_then(|s| s.skip.clone())
        .expect("skip");
    assert_eq!(skip.reason, "known flaky");
    assert_eq!(
        state.step("development.execution.2").status(),
        StepStatus::Succeeded
    );
}

#[test]
fn a_dry_run_rolls_back_its_sql() {
    let db = ScratchDb::create("headless_dry");
    let fx = Fixture::new(&format!(
        "+++\n[environments.development]\ndatabase = \"{}\"\n+++\n# Dry\n\n## Development\n\n### Execution\n\n1. Create\n   ```sql\n   CREATE TABLE dry (id int);\n   ```\n2. Env\n   ```sh\n   echo dry=$RUNSHEET_DRY_RUN\n   ```\n",
        db.url
    ));
    let out = fx.run(&["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("dry=1"), "{}", text(&out));
    assert_eq!(
        db.query("SELECT count(*) FROM pg_tables WHERE tablename = 'dry'"),
        vec!["0"]
    );
    assert_eq!(fx.state().header.mode, runsheet::journal::event::Mode::DryRun);
}

#[test]
fn a_changed_runbook_is_refused_on_resume_unless_allowed() {
    let fx = Fixture::new("# Changing\n\n## Development\n\n### Execution\n\n1. Sign me\n");
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let id = session_id(&fx.state());
    std::fs::write(
        fx.runbook(),
        "# Changing\n\n## Development\n\n### Execution\n\n1. Sign me, changed\n",
    )
    .expect("rewrite");
    let out = fx.run(&["--resume", &id, "--approve", "all"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--allow-changed-runbook"), "{}", text(&out));
    let out = fx.run(&["--resume", &id, "--approve", "all", "--allow-changed-runbook"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn verify_catches_an_edited_byte_a_deleted_line_and_swapped_lines() {
    let fx = Fixture::new(
        "# T\n\n## Development\n\n### Execution\n\n1. A\n   ```sh\n   echo a\n   ```\n2. B\n   ```sh\n   echo b\n   ```\n",
    );
    assert!(fx.run(&[]).status.success());
    let path = fx.journal();
    let original = std::fs::read_to_string(&path).expect("journal");
    let lines: Vec<&str> = original.lines().collect();
    assert!(lines.len() > 5);
    let check = |content: String, expect_line: usize| {
        let tampered = fx.dir.path().join("tampered.jsonl");
        std::fs::write(&tampered, content).expect("write");
        let out = fx
            .command(&["verify", tampered.to_str().expect("path")])
            .output()
            .expect("verify");
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        assert!(
            text(&out).contains(&format!(":{expect_line}:")),
            "expected line {expect_line}: {}",
            text(&out)
        );
    };
    // An edited byte on line 3.
    check(original.replacen("\"seq\":2,", "\"seq\":2, ", 1), 3);
    // Line 4 deleted: line 4 is now what was line 5.
    let mut deleted = lines.clone();
    deleted.remove(3);
    check(deleted.join("\n") + "\n", 4);
    // Lines 3 and 4 swapped.
    let mut swapped = lines.clone();
    swapped.swap(2, 3);
    check(swapped.join("\n") + "\n", 3);
}

/// Kill `runsheet run --headless` with SIGKILL at 30+ points of a multi-step
/// run, resuming after each: every event written before a kill survives, no
/// completed step runs again, and the session completes.
#[test]
fn a_session_survives_sigkill_at_many_points() {
    let db = ScratchDb::create("crash");
    db.execute("CREATE TABLE marks (step text primary key)");
    let mut runbook = format!(
        "+++\n[environments.development]\ndatabase = \"{}\"\n+++\n# Crash\n\n## Development\n\n### Execution\n\n",
        db.url
    );
    for i in 1..=40 {
        if i % 4 == 0 {
            runbook.push_str(&format!(
                "- SQL {i}\n  ```sql\n  INSERT INTO marks VALUES ('s{i}') ON CONFLICT DO NOTHING;\n  ```\n"
            ));
        } else {
            runbook.push_str(&format!(
                "- Shell {i}\n  ```sh\n  for n in 1 2 3; do echo step {i} line $n; done\n  sleep 0.0{}\n  echo done {i} >&2\n  ```\n",
                i % 7
            ));
        }
    }
    let fx = Fixture::new(&runbook);
    let sessions = fx.state_dir().join("sessions");
    let runbook_path = fx.runbook().to_str().expect("path").to_string();
    let journal = || {
        std::fs::read_dir(&sessions)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
    };
    let mut id: Option<String> = None;
    let mut survived: Vec<runsheet::journal::event::Record> = Vec::new();
    let mut kills = 0;
    let mut target = 2;
    let mut completed = false;
    while !completed {
        let mut args = vec!["run", runbook_path.as_str(), "--headless", "--retry", "all"];
        if let Some(id) = &id {
            args.extend(["--resume", id.as_str()]);
        }
        let mut child = fx
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let reached = wait_until(Duration::from_secs(30), || {
            journal().is_some_and(|p| line_count(&p) >= target) || child.try_wait().ok().flatten().is_some()
        });
        assert!(reached, "the journal never reached {target} lines");
        completed = child.try_wait().expect("try_wait").is_some();
        if !completed {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        let out = child.wait_with_output().expect("reap");
        if completed {
            assert!(
                out.status.success(),
                "the last run did not complete: {}",
                text(&out)
            );
        }
        let path = journal().expect("journal exists");
        let read = read_journal(&path).expect("read after kill");
        assert!(
            read.integrity.is_verified(),
            "chain intact after kill {kills}: {:?}",
            read.integrity
        );
        // Everything written before the previous kill is still there, and no
        // step that had finished then has started again since.
        assert!(read.records.len() >= survived.len());
        assert_eq!(
            &read.records[..survived.len()],
            &survived[..],
            "events before kill {kills} survive"
        );
        for done in &survived {
            if let Event::StepFinished {
                step,
                outcome: Outcome::Succeeded,
                ..
            } = &done.event
            {
                let rerun = read.records.iter().find(|r| {
                    r.seq > done.seq && matches!(&r.event, Event::StepStarted { step: s, .. } if s == step)
                });
                assert!(rerun.is_none(), "completed step {step} ran again: {rerun:?}");
            }
        }
        let state = SessionState::from_records(&read.records).expect("fold");
        id = Some(state.header.session_id.clone());
        // Killed after it had already ended: nothing left to resume.
        completed |= state.outcome.is_some();
        survived = read.records;
        // Kill points from just after the resume to past a whole step's
        // events (started, process group, output, shell state, finished), so
        // kills land everywhere and the session still gets on.
        target = survived.len() + 1 + kills % 10;
    }
    eprintln!("{kills} kill points, session completed");
    assert!(
        kills >= 30,
        "only {kills} kill points were reached; make the runbook longer"
    );
    let state = fx.state();
    assert_eq!(
        state.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );
    assert_eq!(db.query("SELECT count(*) FROM marks"), vec!["10"]);
}

/// The connection killed mid-step (`pg_terminate_backend`) fails the step
/// with the server's message; the session stays and completes on retry.
#[test]
fn a_killed_database_connection_fails_the_step_and_the_session_goes_on() {
    let db = ScratchDb::create("killed_conn");
    // nextval is not rolled back: the first attempt sleeps, the retry does not.
    db.execute("CREATE SEQUENCE tries");
    let fx = Fixture::new(&format!(
        "+++\n[environments.development]\ndatabase = \"{}\"\n+++\n# Killed\n\n## Development\n\n### Execution\n\n1. Slow query\n   ```sql\n   SELECT pg_sleep(CASE WHEN nextval('tries') = 1 THEN 120 ELSE 0 END);\n   ```\n2. After\n   ```sh\n   echo after\n   ```\n",
        db.url
    ));
    let runbook = fx.runbook();
    let child = fx
        .command(&["run", runbook.to_str().expect("path"), "--headless"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep%' AND state = 'active' AND pid <> pg_backend_pid()",
        db.name
    );
    assert!(
        wait_until(Duration::from_secs(30), || db.query(&sleeping) == vec!["1"]),
        "the step's query never started"
    );
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
        db.name
    ));
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("terminating connection"),
        "the server's message is shown: {}",
        text(&out)
    );
    let state = fx.state();
    assert_eq!(state.step("development.execution.1").status(), StepStatus::Failed);

    let out = fx.run(&[
        "--resume",
        &session_id(&state),
        "--retry",
        "development.execution.1",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fx.state().outcome.map(|o| o.0), Some(SessionOutcome::Completed));
}

#[test]
fn a_run_whose_output_is_not_a_terminal_says_it_runs_headless_and_names_the_environment_as_written() {
    let fx = Fixture::new(
        "+++\n[environments.production]\nconfirm = true\n+++\n# Quiet\n\n## Production\n\n### Execution\n\n1. Change it\n   ```sh\n   echo \"changing $RUNSHEET_ENV\"\n   ```\n\n### Verification\n\n1. Look\n   ```sh {verify}\n   echo fine\n   ```\n",
    );
    let runbook = fx.runbook();
    let runbook = runbook.to_str().expect("utf-8");
    // No --headless, stdout a pipe: said on stderr; and no new production
    // session starts without its name typed in advance.
    let out = fx
        .command(&["run", runbook, "--env", "Production"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a terminal, so this session runs headless"),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr.contains("starts only with --confirm-env production"),
        "{stderr}"
    );

    let out = fx
        .command(&[
            "run",
            runbook,
            "--env",
            "Production",
            "--confirm-env",
            "PRODUCTION",
        ])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("changing production"));
    let state = fx.state();
    assert_eq!(state.header.environment, "production");
    assert_eq!(state.confirmed_by.as_deref(), Some("tester"));

    // A plan of checks only changes nothing: it needs no typed name.
    let out = fx.run(&["--env", "production", "--only", "verify"]);
    assert!(out.status.success(), "{}", text(&out));

    // Asked for in so many words, nothing needs saying.
    let out = fx.run(&["--env", "production", "--confirm-env", "production"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("runs headless"));
}

/// A `{verify}` step reruns harmlessly, so its records are group committed:
/// written at once, synced with the next durable event. Killed during a
/// check, the session's anchor (its last durable line) is still the
/// state-changing step's end, and only the checks' records come after it.
/// A crash that loses everything not synced (the journal cut back to its
/// anchor) loses only those; the resume runs the checks again and never
/// the step that changed something.
#[test]
fn a_crash_after_group_committed_checks_reruns_only_the_checks() {
    let runbook = "+++\n[environments.development]\n+++\n# Checks\n\n## Development\n\n### Execution\n\n\
        1. Change something\n   ```sh\n   echo ran >> ran.txt\n   ```\n\
        2. It ran\n   ```sh {verify}\n   test -s ran.txt\n   ```\n\
        3. It ran once\n   ```sh {verify}\n   test \"$(wc -l < ran.txt)\" -eq 1\n   ```\n\
        4. A slow check\n   ```sh {verify}\n   sleep \"${PAUSE:-0}\"\n   ```\n";
    let fx = Fixture::new(runbook);
    let runbook_path = fx.runbook().to_str().expect("utf-8 path").to_string();
    let mut child = fx
        .command(&["run", &runbook_path, "--headless"])
        .env("PAUSE", "60")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let slow_check_started = || {
        read_journal(&fx.journal()).is_ok_and(|read| {
            let groups = read
                .records
                .iter()
                .filter(|r| matches!(r.event, Event::StepProcess { .. }));
            groups.count() == 4
        })
    };
    let sessions = fx.state_dir().join("sessions");
    assert!(
        wait_until(Duration::from_secs(30), || sessions.exists()
            && slow_check_started()),
        "the checks never ran"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait_with_output().expect("reap");

    let path = fx.journal();
    let read = read_journal(&path).expect("read after the kill");
    let anchor = runsheet::journal::anchor::read(&path)
        .expect("a readable anchor")
        .expect("an anchor");
    let state = SessionState::from_records(&read.records).expect("fold");
    let ids: Vec<String> = state.plan.steps().map(|s| s.id.clone()).collect();
    let (changer, checks) = (&ids[0], &ids[1..]);
    let durable = &read.records[usize::try_from(anchor.seq).expect("a seq")];
    assert!(
        matches!(&durable.event, Event::StepFinished { step, .. } if step == changer),
        "the last durable line is the state-changing step's end, not {:?}",
        durable.event
    );
    for record in &read.records[durable.seq as usize + 1..] {
        let about = record.event.step().map(str::to_string);
        assert!(
            about.as_ref().is_some_and(|s| checks.contains(s)),
            "only the checks' records wait for a sync, not {:?}",
            record.event
        );
    }

    // A crash of the machine stops the slow check's processes too.
    for record in &read.records {
        if let Event::StepProcess { pgid, .. } = record.event {
            let group = nix::unistd::Pid::from_raw(-pgid);
            let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
            assert!(
                wait_until(Duration::from_secs(10), || nix::sys::signal::kill(group, None)
                    .is_err()),
                "the check's process group {pgid} did not stop"
            );
        }
    }
    // The worst a crash can do: lose every line after the anchor's.
    let bytes = std::fs::read(&path).expect("the journal");
    let kept: usize = bytes
        .split_inclusive(|&b| b == b'\n')
        .take(durable.seq as usize + 1)
        .map(<[u8]>::len)
        .sum();
    std::fs::write(&path, &bytes[..kept]).expect("cut the journal back to its anchor");

    let id = session_id(&state);
    let out = fx
        .command(&["run", &runbook_path, "--headless", "--resume", &id])
        .output()
        .expect("resume");
    assert!(out.status.success(), "the resume completes: {}", text(&out));
    let ran = std::fs::read_to_string(fx.dir.path().join("ran.txt")).expect("ran.txt");
    assert_eq!(ran, "ran\n", "the state-changing step ran once");
    let after = fx.state();
    assert_eq!(
        after.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );
    let starts = |id: &str| {
        read_journal(&path)
            .expect("read")
            .records
            .iter()
            .filter(|r| matches!(&r.event, Event::StepStarted { step, .. } if step == id))
            .count()
    };
    assert_eq!(starts(changer), 1, "the state-changing step started once");
    for check in checks {
        assert_eq!(starts(check), 1, "check {check} ran again, once, after the cut");
        assert_eq!(after.steps[check].status, StepStatus::Succeeded);
    }
}
