//! SIGTERM and SIGINT while a headless session runs: the running step's
//! processes are stopped, the journal says what happened, runsheet exits
//! with the signal's code, and no step ever runs twice at once, also when
//! runsheet was SIGKILLed and left its step running. SIGHUP stops nothing:
//! the run goes on without its terminal.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::runsheet::{Fixture, line_count, text, wait_until};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use runsheet::journal::event::{Event, SessionOutcome};
use runsheet::journal::reader::read_journal;
use runsheet::session::{SessionState, StepStatus};

/// A step that notices another copy of any step running at the same time:
/// the marker holds the pid of the copy that runs; a live pid in it when a
/// copy starts is an overlap.
const STEP: &str = r#"if [ -e running ] && kill -0 "$(cat running)" 2>/dev/null; then echo "$RUNSHEET_STEP over $(cat running)" >> overlaps; fi
echo $$ > running
echo "start $RUNSHEET_STEP" >> marks
sleep 0.2
echo "end $RUNSHEET_STEP" >> marks"#;

fn runbook(steps: usize) -> String {
    let body = STEP.lines().map(|l| format!("   {l}\n")).collect::<String>();
    let mut text = "# Signals\n\n## Development\n\n### Execution\n\n".to_string();
    for i in 1..=steps {
        text.push_str(&format!("{i}. Step {i}\n   ```sh\n{body}   ```\n"));
    }
    text
}

/// Live (not zombie) processes carrying `RUNSHEET_SESSION=<id>`, as every
/// process of a step does: `(pid, command line)`.
fn processes_of(session: &str) -> Vec<(i32, String)> {
    let marker = format!("RUNSHEET_SESSION={session}");
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let dir = entry.path();
        let zombie = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with(['Z', 'X']))
            })
            .unwrap_or(true);
        let ours = std::fs::read(dir.join("environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == marker.as_bytes()));
        if ours && !zombie {
            let cmd = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            out.push((pid, String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    out
}

fn has_journal(fx: &Fixture) -> bool {
    std::fs::read_dir(fx.state_dir().join("sessions")).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
    })
}

fn wait_exit(child: &mut Child, within: Duration) -> ExitStatus {
    let end = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < end, "runsheet did not exit within {within:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn fold(journal: &Path) -> SessionState {
    let read = read_journal(journal).expect("read the journal");
    assert!(read.integrity.is_verified(), "{:?}", read.integrity);
    SessionState::from_records(&read.records).expect("fold")
}

/// A small xorshift generator, seeded from the clock (the seed is printed).
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn termination_signals_stop_the_running_step_and_no_step_ever_runs_twice() {
    let fx = Fixture::new(&runbook(100));
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut random = Random(seed);
    let signals = [Signal::SIGTERM, Signal::SIGINT];
    let runbook = fx.runbook().to_str().expect("utf-8 path").to_string();
    let overlaps = fx.dir.path().join("overlaps");
    let mut id: Option<String> = None;
    let mut handled = 0;
    let mut early = 0;
    loop {
        let mut args = vec!["run", runbook.as_str(), "--headless", "--retry", "all"];
        if let Some(id) = &id {
            args.extend(["--resume", id.as_str()]);
        }
        let before = id.as_ref().map(|_| line_count(&fx.journal()));
        let mut child = fx
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runsheet");
        let signal = (handled < 30).then(|| signals[random.next(2) as usize]);
        if let Some(signal) = signal {
            let delay = Duration::from_millis(random.next(700));
            let _ = wait_until(delay, || child.try_wait().ok().flatten().is_some());
            let _ = kill(Pid::from_raw(child.id() as i32), signal);
        }
        let status = wait_exit(&mut child, Duration::from_secs(60));
        let out = child.wait_with_output().expect("output");
        if id.is_none() && !has_journal(&fx) {
            // Killed before runsheet installed its handlers: nothing had started.
            assert_eq!(status.signal(), signal.map(|s| s as i32), "{}", text(&out));
            early += 1;
            continue;
        }
        let journal = fx.journal();
        let state = fold(&journal);
        let session = state.header.session_id.clone();
        id.get_or_insert(session.clone());
        // Whatever happened, nothing of the session is left running.
        let left = processes_of(&session);
        assert!(
            left.is_empty(),
            "left running after {signal:?}: {left:?}\n{}",
            text(&out)
        );
        assert!(
            !overlaps.exists(),
            "a step ran twice at once: {}",
            std::fs::read_to_string(&overlaps).unwrap_or_default()
        );
        if state.outcome.is_some() {
            assert_eq!(status.code(), Some(0), "{}", text(&out));
            assert_eq!(
                state.outcome.as_ref().map(|(o, _)| *o),
                Some(SessionOutcome::Completed)
            );
            if signal.is_none() {
                break;
            }
            panic!("the session completed before {handled} signals were handled; make it longer");
        }
        let signal = signal.expect("a run without a signal completes");
        match status.code() {
            Some(code) => {
                assert_eq!(code, 128 + signal as i32, "{signal}: {}", text(&out));
                handled += 1;
                assert!(
                    state.steps.values().all(|s| s.status != StepStatus::Running),
                    "{signal}: a step is still running in the journal"
                );
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    stdout.contains(&format!("stopped: {signal} received; the session is resumable;"))
                        && stdout.contains(&format!("--resume {session}")),
                    "{stdout}"
                );
            }
            // Before runsheet installed its handlers: nothing had started.
            None => {
                assert_eq!(status.signal(), Some(signal as i32), "{}", text(&out));
                let after = line_count(&journal);
                assert!(
                    before.is_none_or(|b| b == after),
                    "killed by {signal} after it began"
                );
                early += 1;
            }
        }
    }
    eprintln!("{handled} signals handled, {early} before the handlers");
    let state = fold(&fx.journal());
    assert!(state.steps.values().all(|s| s.status == StepStatus::Succeeded));
    let records = read_journal(&fx.journal()).expect("read").records;
    let groups = records
        .iter()
        .filter(|r| matches!(r.event, Event::StepProcess { .. }))
        .count();
    let started = records
        .iter()
        .filter(|r| matches!(r.event, Event::StepStarted { .. }))
        .count();
    let interrupted = records
        .iter()
        .filter(|r| matches!(r.event, Event::StepInterrupted { .. }))
        .count();
    // A step stopped before its process started has no group to journal.
    assert!(
        groups <= started && groups + interrupted >= started,
        "every shell step that ran has its process group journaled: {groups} groups, {started} starts"
    );
    assert!(interrupted > 0, "no signal hit a running step");
}

/// SIGHUP to a headless run says its terminal is gone: the running step
/// goes on, the hang-up is journaled, the run completes (exit 0).
#[test]
fn a_hangup_stops_nothing_and_the_run_completes() {
    let fx = Fixture::new(
        "# Hangup\n\n## Development\n\n### Execution\n\n1. Long\n   ```sh\n   \
         echo start >> marks\n   [ -e release ] || sleep 2\n   echo end >> marks\n   ```\n2. Next\n   ```sh\n   echo next >> marks\n   ```\n",
    );
    let runbook = fx.runbook().to_str().expect("utf-8 path").to_string();
    let mut child = fx
        .command(&["run", &runbook, "--headless"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let marks = fx.dir.path().join("marks");
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(&marks)
            .is_ok_and(|m| m.contains("start"))),
        "the long step never started"
    );
    kill(Pid::from_raw(child.id() as i32), Signal::SIGHUP).expect("SIGHUP runsheet");
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let out = child.wait_with_output().expect("output");
    assert_eq!(status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("SIGHUP received: the terminal is gone"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(&marks).expect("marks"),
        "start\nend\nnext\n"
    );
    let records = read_journal(&fx.journal()).expect("read").records;
    assert!(records.iter().any(|r| matches!(
        &r.event,
        Event::DriverDetached { reason, .. } if reason == "SIGHUP received"
    )));
    assert!(
        !records
            .iter()
            .any(|r| matches!(r.event, Event::StepInterrupted { .. }))
    );
    assert_eq!(
        fold(&fx.journal()).outcome.map(|(o, _)| o),
        Some(SessionOutcome::Completed)
    );
}

/// runsheet SIGKILLed while a step runs leaves the step's processes alive
/// (they are in their own session): a resume refuses, saying how to stop
/// them, until they are gone; only then is the step run again.
#[test]
fn a_resume_refuses_while_an_earlier_attempt_is_still_running() {
    let fx = Fixture::new(
        "# Leftover\n\n## Development\n\n### Execution\n\n1. Long\n   ```sh\n   \
         echo \"start $$\" >> marks\n   [ -e release ] || sleep 60\n   echo end >> marks\n   ```\n",
    );
    let runbook = fx.runbook().to_str().expect("utf-8 path").to_string();
    let mut child = fx
        .command(&["run", &runbook, "--headless"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let sessions = fx.state_dir().join("sessions");
    let pgid = std::cell::Cell::new(None);
    let recorded = wait_until(Duration::from_secs(30), || {
        let Some(path) = std::fs::read_dir(&sessions).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        }) else {
            return false;
        };
        let found = read_journal(&path).ok().and_then(|r| {
            r.records.iter().find_map(|r| match r.event {
                Event::StepProcess { pgid, .. } => Some(pgid),
                _ => None,
            })
        });
        pgid.set(found);
        found.is_some()
            && std::fs::read_to_string(fx.dir.path().join("marks")).is_ok_and(|m| m.contains("start"))
    });
    assert!(recorded, "the step's process group was never journaled");
    let pgid = pgid.get().expect("pgid");
    child.kill().expect("SIGKILL runsheet");
    child.wait().expect("reap");
    let id = fold(&fx.journal()).header.session_id;

    let refused = fx.run(&["--resume", &id, "--retry", "all"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&format!("process group {pgid}")), "{err}");
    assert!(err.contains(&format!("kill -TERM -- -{pgid}")), "{err}");
    let marks = std::fs::read_to_string(fx.dir.path().join("marks")).expect("marks");
    assert_eq!(marks.matches("start").count(), 1, "{marks}");

    std::fs::write(fx.dir.path().join("release"), "").expect("release");
    killpg(Pid::from_raw(pgid), Signal::SIGKILL).expect("stop the leftover group");
    assert!(
        wait_until(Duration::from_secs(10), || processes_of(&id).is_empty()),
        "the leftover group did not go"
    );
    let resumed = fx.run(&["--resume", &id, "--retry", "all"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    let marks = std::fs::read_to_string(fx.dir.path().join("marks")).expect("marks");
    assert_eq!(
        (marks.matches("start").count(), marks.matches("end").count()),
        (2, 1),
        "{marks}"
    );
}
