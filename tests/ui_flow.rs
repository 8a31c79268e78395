//! The real path, end to end, as gitui's `gitui_starts` drives its app: a
//! runbook launched into a real journal, the real engine running real bash,
//! and the live checklist's terminal loop on a `TestBackend`, fed keys like
//! a person at the keyboard. A snapshot at each stage; every wait is on a
//! condition with a deadline.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::{Backend, ClearType, TestBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use runsheet::journal::event::{Event, Outcome, SessionOutcome};
use runsheet::journal::reader::read_journal;
use runsheet::launch::{self, RunOptions};
use runsheet::session::SessionState;
use runsheet::ui::{App, AppSetup, Channels, FrameSync, Reference, Theme, drive};
use tokio::sync::mpsc;

const SIZE: (u16, u16) = (100, 30);
const DEADLINE: Duration = Duration::from_secs(30);

const RUNBOOK: &str = r#"# Flow fixture

## Development

### Execution

1. Prepare the release
   ```sh
   echo "preparing"; if [ -f prepared ]; then echo "ready"; else touch prepared; echo "not yet" >&2; exit 3; fi
   ```
2. Tell the on-call channel

### Validation

3. The release is ready
   ```sh {verify}
   test -f prepared && echo "prepared exists"
   ```
"#;

/// A `TestBackend` the test can look at while the loop draws on it.
#[derive(Clone)]
struct Shared(Arc<Mutex<TestBackend>>);

impl Shared {
    fn screen(&self) -> String {
        self.0.lock().expect("backend").to_string()
    }
}

impl Backend for Shared {
    type Error = <TestBackend as Backend>::Error;

    fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.0.lock().expect("backend").draw(content)
    }

    fn hide_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.lock().expect("backend").hide_cursor()
    }

    fn show_cursor(&mut self) -> Result<(), Self::Error> {
        self.0.lock().expect("backend").show_cursor()
    }

    fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
        self.0.lock().expect("backend").get_cursor_position()
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> Result<(), Self::Error> {
        self.0.lock().expect("backend").set_cursor_position(position)
    }

    fn clear(&mut self) -> Result<(), Self::Error> {
        self.0.lock().expect("backend").clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
        self.0.lock().expect("backend").clear_region(clear_type)
    }

    fn size(&self) -> Result<Size, Self::Error> {
        self.0.lock().expect("backend").size()
    }

    fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
        self.0.lock().expect("backend").window_size()
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.0.lock().expect("backend").flush()
    }
}

impl FrameSync for Shared {
    fn begin_frame(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn end_frame(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn key(code: KeyCode, mods: KeyModifiers) -> io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(code, mods)))
}

/// Wait (polling, with a deadline) until `ready` holds.
async fn until(what: &str, shown: &Shared, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; the screen shows:\n{}",
            shown.screen()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The journal's events so far.
fn events(path: &std::path::Path) -> Vec<Event> {
    read_journal(path)
        .map(|r| r.records.into_iter().map(|r| r.event).collect())
        .unwrap_or_default()
}

/// What changes from run to run (session id, clock times, durations,
/// the spinner) masked, so the screens can be compared.
fn snapshot(name: &str, screen: String) {
    insta::with_settings!({filters => vec![
        (r"\d{8}-\d{6}-[0-9a-f]{6}", "[SESSION]"),
        (r"\d{2}:\d{2}:\d{2}", "[TIME]"),
        (r"\b\d+\.\ds\b", "[DUR]"),
    ]}, {
        insta::assert_snapshot!(name, screen);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checklist_runs_a_real_session_through_the_real_engine() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    std::fs::write(dir.path().join("runbook.md"), RUNBOOK).expect("write the runbook");
    let opts = RunOptions {
        runbook: dir.path().join("runbook.md"),
        state_dir: dir.path().join("state"),
        operators: vec!["tester".into()],
        ..RunOptions::default()
    };
    let launched = launch::launch(&opts).await.expect("launch the session");
    let journal = launched.journal_path.clone();
    let setup = AppSetup {
        operator: "tester".into(),
        references: Reference::from_runbook(&launched.runbook),
        journal_path: journal.clone(),
        theme: Theme::monochrome(),
        now: launched.state.started,
        size: SIZE,
        notices: Vec::new(),
    };
    let mut app = App::new(launched.state.clone(), setup);
    let (commands, command_rx) = (launched.inbox, launched.inbox_rx);
    let engine = launched.engine;
    let engine =
        tokio::spawn(async move { engine.run(command_rx).await.map(drop).map_err(|e| e.to_string()) });
    let (_signals_tx, signals) = mpsc::channel(1);
    let signals = runsheet::signals::Signals::from_receiver(signals);
    let channels = Channels {
        commands,
        updates: launched.updates,
        engine,
        signals,
        journal_path: journal.clone(),
    };
    let shown = Shared(Arc::new(Mutex::new(TestBackend::new(SIZE.0, SIZE.1))));
    let mut terminal = Terminal::new(shown.clone()).expect("terminal");
    let (keys, key_rx) = mpsc::unbounded_channel::<io::Result<TermEvent>>();
    let mut key_rx = key_rx;
    let input = Box::pin(futures_util::stream::poll_fn(move |cx| key_rx.poll_recv(cx)));

    let script = async {
        let has = |pred: &dyn Fn(&Event) -> bool| events(&journal).iter().any(pred);
        until("the checklist", &shown, || {
            shown.screen().contains("Prepare the release")
        })
        .await;
        snapshot("flow_1_opened", shown.screen());

        // r runs the first step; it fails the first time.
        keys.send(key(KeyCode::Char('r'), KeyModifiers::NONE))
            .expect("key");
        until("the failure", &shown, || {
            has(&|e| {
                matches!(
                    e,
                    Event::StepFinished {
                        outcome: Outcome::Failed,
                        ..
                    }
                )
            }) && shown.screen().contains("R retry")
        })
        .await;
        snapshot("flow_2_failed", shown.screen());

        // R retries it; it succeeds, and the manual step waits for its sign-off.
        keys.send(key(KeyCode::Char('R'), KeyModifiers::SHIFT))
            .expect("key");
        until("the sign-off", &shown, || {
            // The footer's hint comes from the fold's next decision; the row's
            // mark from the journaled AwaitingSignOff reaching the screen.
            has(&|e| matches!(e, Event::AwaitingSignOff { .. }))
                && shown.screen().contains("s sign off")
                && shown.screen().contains("awaiting sign-off")
        })
        .await;
        snapshot("flow_3_sign_off_due", shown.screen());

        // s opens the dialog with the operator's name; Ctrl+S signs; the check runs; the session completes.
        keys.send(key(KeyCode::Char('s'), KeyModifiers::NONE))
            .expect("key");
        until("the dialog", &shown, || shown.screen().contains("Sign off")).await;
        snapshot("flow_4_sign_off_dialog", shown.screen());
        keys.send(key(KeyCode::Char('s'), KeyModifiers::CONTROL))
            .expect("key");
        until("the end", &shown, || {
            has(&|e| matches!(e, Event::SessionEnded { .. })) && shown.screen().contains("SESSION COMPLETED")
        })
        .await;
        snapshot("flow_5_completed", shown.screen());
        keys.send(key(KeyCode::Char('q'), KeyModifiers::NONE))
            .expect("key");
    };
    let (result, ()) = tokio::time::timeout(DEADLINE * 3, async {
        tokio::join!(drive(&mut terminal, &mut app, input, channels), script)
    })
    .await
    .expect("the loop ends");
    assert_eq!(result, Ok(()));

    // The journal tells the same story, and the checklist's fold is its fold.
    let read = read_journal(&journal).expect("read the journal");
    assert!(read.integrity.is_verified());
    let state = SessionState::from_records(&read.records).expect("fold");
    assert_eq!(state.outcome, Some((SessionOutcome::Completed, None)));
    assert_eq!(app.session.outcome, state.outcome);
    assert_eq!(app.session.steps, state.steps);
    let kinds: Vec<&str> = read
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Run { .. } => Some("run"),
            Event::StepStarted { .. } => Some("started"),
            Event::StepFinished { .. } => Some("finished"),
            Event::AwaitingSignOff { .. } => Some("awaiting"),
            Event::SignedOff { .. } => Some("signed"),
            Event::Verification { .. } => Some("verification"),
            Event::SessionEnded { .. } => Some("ended"),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "run",
            "started",
            "finished",
            "started",
            "finished",
            "awaiting",
            "signed",
            "started",
            "verification",
            "finished",
            "ended"
        ]
    );
}
