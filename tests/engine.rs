//! The thin engine performs the core's timers against real processes: a
//! step past its `{timeout}` is stopped (its process group with it) and
//! recorded as timed out, and nothing starts after it by itself.

use std::time::{Duration, Instant};

use runsheet::journal::event::{Event, Outcome};
use runsheet::launch::{self, RunOptions};
use runsheet::session::{Next, StepStatus, Update};
use tokio::sync::mpsc;

const RUNBOOK: &str = r#"# Timeout fixture

## Development

### Execution

1. Wait far too long
   ```sh {timeout=1s}
   echo $$ > pid; sleep 600
   ```
2. Never reached by itself
   ```sh
   true
   ```
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_past_its_timeout_is_stopped_by_the_engine_timer() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    std::fs::write(dir.path().join("runbook.md"), RUNBOOK).expect("write the runbook");
    let opts = RunOptions {
        runbook: dir.path().join("runbook.md"),
        state_dir: dir.path().join("state"),
        operators: vec!["tester".into()],
        autostart: true,
        ..RunOptions::default()
    };
    let launched = launch::launch(&opts).await.expect("launch");
    let (commands, command_rx) = mpsc::channel(8);
    let engine = tokio::spawn(launched.engine.run(command_rx));
    let mut updates = launched.updates;
    let mut state = launched.state;
    let started = Instant::now();
    let finished = loop {
        let update = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("the step ends in time")
            .expect("the engine goes on");
        let Update::Record(record) = update else {
            panic!("refused: {update:?}")
        };
        state.apply(&record);
        if let Event::StepFinished { outcome, error, .. } = record.event {
            break (outcome, error);
        }
    };
    let took = started.elapsed();
    assert_eq!(finished.0, Outcome::TimedOut, "{finished:?}");
    assert!(
        finished
            .1
            .as_deref()
            .is_some_and(|e| e.starts_with("timed out after 1s")),
        "{finished:?}"
    );
    assert!(took < Duration::from_secs(20), "stopped after {took:?}");
    assert!(matches!(state.next(), Next::Decide(s) if s.id == "development.execution.1"));
    assert_eq!(
        state.step("development.execution.2").status(),
        StepStatus::Pending
    );
    let pid: i32 = std::fs::read_to_string(dir.path().join("pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "the step's shell still runs"
    );
    drop(commands);
    let end = engine.await.expect("engine task").expect("engine");
    assert!(end.detached, "closing the commands leaves the session resumable");
}
