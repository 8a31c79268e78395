//! The thin engine performs the core's timers against real processes: a
//! step past its `{timeout}` is stopped (its process group with it) and
//! recorded as timed out, and nothing starts after it by itself.

mod common;

use std::time::{Duration, Instant};

use runsheet::journal::event::{Event, Outcome};
use runsheet::launch::{self, RunOptions};
use runsheet::session::{Next, StepStatus, Update};

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

/// `runbook` launched by `tester` in a folder of its own, started at once.
async fn launched(runbook: &str) -> (tempfile::TempDir, launch::Launched) {
    let dir = tempfile::TempDir::new().expect("temp dir");
    std::fs::write(dir.path().join("runbook.md"), runbook).expect("write the runbook");
    let opts = RunOptions {
        runbook: dir.path().join("runbook.md"),
        state_dir: dir.path().join("state"),
        operators: vec!["tester".into()],
        autostart: true,
        ..RunOptions::default()
    };
    let launched = launch::launch(&opts).await.expect("launch");
    (dir, launched)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_past_its_timeout_is_stopped_by_the_engine_timer() {
    let (dir, launched) = launched(RUNBOOK).await;
    let (commands, command_rx) = (launched.inbox, launched.inbox_rx);
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

const SIGNED: &str = r#"# Origin fixture

## Development

### Execution

1. Tell the team
2. Done
   ```sh
   true
   ```
"#;

/// The next record from the engine that `what` picks.
async fn wait_for(updates: &mut tokio::sync::mpsc::Receiver<Update>, what: fn(&Event) -> bool) {
    loop {
        let update = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .expect("in time")
            .expect("the engine goes on");
        if let Update::Record(r) = update
            && what(&r.event)
        {
            return;
        }
    }
}

/// Every event a command causes records who sent it from which seat, and a
/// sign-off's signature takes its seat from that origin (whatever the
/// front end put there), for the driver's own commands and another seat's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_carry_their_origin_into_the_journal_and_the_signature() {
    use runsheet::journal::event::Signature;
    use runsheet::journal::reader::{Integrity, read_journal};
    use runsheet::seat::{Origin, Seat};
    use runsheet::session::Command;

    let (_dir, launched) = launched(SIGNED).await;
    let journal = launched.journal_path.clone();
    let (commands, command_rx) = (launched.inbox, launched.inbox_rx);
    let remote = commands.remote();
    let engine = tokio::spawn(launched.engine.run(command_rx));
    let mut updates = launched.updates;
    let bea = common::elsewhere("Bea");
    wait_for(&mut updates, |e| matches!(e, Event::AwaitingSignOff { .. })).await;
    let forged = Seat {
        os_user: Some("root".into()),
        host: "elsewhere".into(),
        terminal: None,
    };
    let sign = Command::SignOff {
        step: "development.execution.1".into(),
        signature: Signature {
            who: "Bea".into(),
            role: String::new(),
            note: String::new(),
            preapproved: false,
            seat: Some(forged),
        },
    };
    let verdict = remote.ask(sign, bea.clone()).await.expect("the engine takes it");
    assert_eq!(verdict, Ok(()));
    let note = Command::Note {
        who: "Bea".into(),
        text: "nothing to add".into(),
    };
    let refused = remote
        .ask(
            Command::Note {
                who: "Bea".into(),
                text: "  ".into(),
            },
            bea.clone(),
        )
        .await
        .expect("the engine takes it");
    assert!(
        refused.is_err(),
        "an empty note is refused to its sender: {refused:?}"
    );
    assert_eq!(remote.ask(note, bea.clone()).await, Ok(Ok(())));
    commands
        .send(Command::Note {
            who: "tester".into(),
            text: "from the driver".into(),
        })
        .await
        .expect("the engine takes it");
    wait_for(
        &mut updates,
        |e| matches!(e, Event::Note { text, .. } if text == "from the driver"),
    )
    .await;
    drop(commands);
    let end = engine.await.expect("engine task").expect("engine");
    assert!(
        !remote.is_open(),
        "a remote handle does not keep the engine's inbox open"
    );
    assert!(end.detached || end.outcome.is_some());

    let read = read_journal(&journal).expect("read the journal");
    assert_eq!(read.integrity, Integrity::Verified);
    let signed = read
        .records
        .iter()
        .find(|r| matches!(r.event, Event::SignedOff { .. }))
        .expect("signed");
    assert_eq!(signed.origin.as_deref(), Some(&bea));
    let Event::SignedOff { signature, .. } = &signed.event else {
        unreachable!()
    };
    assert_eq!(
        signature.seat.as_ref(),
        Some(&bea.seat),
        "the origin's seat, not the forged one"
    );
    let notes: Vec<_> = read
        .records
        .iter()
        .filter(|r| matches!(r.event, Event::Note { .. }))
        .map(|r| r.origin.as_ref().map(|o| o.operator.clone()))
        .collect();
    assert_eq!(notes, [Some("Bea".to_string()), Some("tester".to_string())]);
    let here = Origin::here("tester");
    let run = read
        .records
        .iter()
        .find(|r| matches!(r.event, Event::Run { .. }))
        .expect("the autostart's run");
    assert_eq!(run.origin.as_deref(), Some(&here));
    assert!(
        read.records
            .iter()
            .filter(|r| matches!(r.event, Event::Output { .. } | Event::Header(_)))
            .all(|r| r.origin.is_none()),
        "what no command caused records no origin"
    );
}
