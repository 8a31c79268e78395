//! `runsheet replay`: the replay draws what the live run drew at every
//! event and ends in the live run's state; every timeline key; the integrity
//! badge on a tampered journal; a torn last line; a journal still being
//! written; a journal of arbitrary bytes; the command line and a real
//! terminal. Every wait is on a condition with a deadline.

mod common;

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use runsheet::journal::JournalSink;
use runsheet::journal::chain::{LineHash, encode_line};
use runsheet::journal::event::{
    Event, FORMAT_VERSION, Header, Mode, Observed, Outcome, Record, SessionOutcome, Signature, Stream,
};
use runsheet::journal::file::FileJournal;
use runsheet::journal::reader::{Integrity, read_journal};
use runsheet::launch::{self, RunOptions};
use runsheet::replay::{Indexer, Input, Mark, Reader, Replay, Speed};
use runsheet::runbook::model::{PhaseKind, Step, StepKind};
use runsheet::runbook::plan::{Plan, PlanPhase};
use runsheet::session::{Command, Update};
use runsheet::session::{SessionState, StepStatus};
use runsheet::ui::{App, AppSetup, LogQuery, Msg, Pane, Reference, Theme, view};
use tempfile::TempDir;

/// The app's screen; the replay's terminal adds the timeline bar under it.
const APP: (u16, u16) = (100, 30);
const TERM: (u16, u16) = (100, 33);
const DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Drawing and comparing.

/// The live app's screen. The live apps of these tests are marked as a
/// replay presents them (REPLAY, no hint that offers to act), which changes
/// nothing they do; everything else must be the live run's.
fn live_screen(app: &App) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(APP.0, APP.1)).expect("test terminal");
    t.draw(|f| view(app, f)).expect("draw");
    t.backend().buffer().clone()
}

fn replay_screen(replay: &Replay) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(TERM.0, TERM.1)).expect("test terminal");
    t.draw(|f| runsheet::replay::view::draw(replay, f)).expect("draw");
    t.backend().buffer().clone()
}

fn rows(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (0..area.height)
        .map(|y| (0..area.width).map(|x| buf[(x, y)].symbol()).collect())
        .collect()
}

fn text(buf: &Buffer) -> String {
    rows(buf).join("\n")
}

/// The replay's screen above its bar is the live one, cell for cell (colours
/// too), marked REPLAY in its status bar, with no run or sign-off hint.
fn assert_same_screen(live: &Buffer, replay: &Buffer, what: &str) {
    let drawn = rows(replay);
    assert!(
        drawn[0].contains(" REPLAY "),
        "{what}: not marked REPLAY:\n{}",
        text(replay)
    );
    let footer = &drawn[usize::from(APP.1) - 1];
    for offer in ["r run", "s sign off", "R retry", "m note"] {
        assert!(
            !footer.contains(offer),
            "{what}: the footer offers to {offer}: {footer}"
        );
    }
    for y in 0..APP.1 {
        for x in 0..APP.0 {
            assert!(
                live[(x, y)] == replay[(x, y)],
                "{what}: the replay differs from the live run at column {x}, row {y}\n\
                 live:\n{}\n\nreplay:\n{}",
                text(live),
                text(replay)
            );
        }
    }
}

fn assert_same_state(a: &SessionState, b: &SessionState) {
    assert_eq!(a.header, b.header);
    assert_eq!(a.plan, b.plan);
    assert_eq!(a.steps, b.steps);
    assert_eq!(a.verifications, b.verifications);
    assert_eq!(a.notes, b.notes);
    assert_eq!(a.warnings, b.warnings);
    assert_eq!(a.confirmed_by, b.confirmed_by);
    assert_eq!(a.rollback, b.rollback);
    assert_eq!(a.outcome, b.outcome);
    assert_eq!(a.detached, b.detached);
    assert_eq!(a.started, b.started);
    assert_eq!(a.ended, b.ended);
    assert_eq!(a.last_event, b.last_event);
    assert_eq!(a.last_seq, b.last_seq);
    assert_eq!(a.resumes, b.resumes);
}

/// A replay and the journal its seeks read, as the terminal loop holds
/// them: every input's reads are done before the next input.
struct Replayed {
    replay: Replay,
    reader: Reader,
}

impl Replayed {
    fn new(path: &Path, first: runsheet::replay::IndexBatch) -> Replayed {
        let (replay, _) = Replay::new(first, TERM).expect("replay");
        let reader = Reader::open(path).expect("reader");
        Replayed { replay, reader }
    }

    fn update(&mut self, input: Input) -> Vec<LogQuery> {
        let fx = self.replay.update(input);
        self.reader.settle(&mut self.replay, fx)
    }

    fn go_to(&mut self, index: usize) -> Vec<LogQuery> {
        let fx = self.replay.go_to(index);
        self.reader.settle(&mut self.replay, fx)
    }

    fn go_to_time(&mut self, at: DateTime<Utc>) -> Vec<LogQuery> {
        let fx = self.replay.go_to_time(at);
        self.reader.settle(&mut self.replay, fx)
    }
}

impl std::ops::Deref for Replayed {
    type Target = Replay;
    fn deref(&self) -> &Replay {
        &self.replay
    }
}

/// A replay of a journal read to its current end; the indexer, for more.
fn open_indexed(path: &Path) -> (Replayed, Indexer) {
    let (mut indexer, first) = Indexer::open(path, Theme::colored(), APP).expect("open the journal");
    let mut replay = Replayed::new(path, first);
    replay.update(Input::Indexed(indexer.catch_up()));
    (replay, indexer)
}

fn open(path: &Path) -> Replayed {
    open_indexed(path).0
}

fn press(replay: &mut Replayed, code: KeyCode) {
    replay.update(Input::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn typed(replay: &mut Replayed, keys: &str) {
    for c in keys.chars() {
        let mods = if c.is_ascii_uppercase() || "+_{}?".contains(c) {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        replay.update(Input::Key(KeyEvent::new(KeyCode::Char(c), mods)));
    }
}

fn bar(replay: &Replay) -> String {
    rows(&replay_screen(replay))[usize::from(APP.1)..].join("\n")
}

// ---------------------------------------------------------------------------
// A live run with the real engine, recorded frame by frame, then replayed.

const RUNBOOK: &str = r#"# Replay fixture

## Development

### Execution

1. Greet
   ```sh
   for i in 1 2 3; do echo "hello $i"; done; echo "to stderr" >&2
   ```
2. Flaky the first time
   ```sh
   if [ -f flaked ]; then echo "second try"; else touch flaked; echo "first try fails" >&2; exit 3; fi
   ```

### Validation

3. The marker exists
   ```sh {verify}
   test -f flaked && echo "marker found"
   ```

### Post-Deployment

4. Tell the team
5. Update the wiki
"#;

/// Drive the real engine as the TUI does, answering what it waits for,
/// and draw the live app after every record. The frames by seq, the final
/// app, the journal.
fn live_run(dir: &Path) -> (Vec<(u64, Buffer)>, App, PathBuf) {
    std::fs::write(dir.join("runbook.md"), RUNBOOK).expect("write the runbook");
    let opts = RunOptions {
        runbook: dir.join("runbook.md"),
        state_dir: dir.join("state"),
        operators: vec!["tester".into()],
        autostart: true,
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let launched = launch::launch(&opts).await.expect("launch the session");
        let ids: Vec<String> = launched.state.plan.steps().map(|s| s.id.clone()).collect();
        assert_eq!(ids.len(), 5, "{ids:?}");
        let setup = AppSetup {
            operator: "tester".into(),
            references: Reference::from_runbook(&launched.runbook),
            journal_path: launched.journal_path.clone(),
            theme: Theme::colored(),
            now: launched.state.started,
            size: APP,
            notices: Vec::new(),
        };
        let journal = launched.journal_path.clone();
        let mut app = App::new(launched.state.clone(), setup);
        app.replay = true;
        let mut frames = vec![(0, live_screen(&app))];
        let (tx, rx) = (launched.inbox, launched.inbox_rx);
        let engine = tokio::spawn(launched.engine.run(rx));
        let mut updates = launched.updates;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let update = tokio::time::timeout_at(deadline, updates.recv())
                .await
                .expect("the run finishes in time")
                .expect("the engine records until the session ends");
            let Update::Record(record) = update else {
                panic!("the engine refused a command: {update:?}");
            };
            let command = match &record.event {
                Event::StepStarted { step, attempt: 1 } if *step == ids[0] => Some(Command::Note {
                    who: "tester".into(),
                    text: "watching the first step".into(),
                }),
                Event::StepFinished {
                    step,
                    outcome: Outcome::Failed,
                    ..
                } => Some(Command::Retry { step: step.clone() }),
                Event::AwaitingSignOff { step } if *step == ids[3] => Some(Command::SignOff {
                    step: step.clone(),
                    signature: Signature {
                        who: "tester".into(),
                        role: "DBA".into(),
                        note: "told them".into(),
                        preapproved: false,
                        seat: None,
                    },
                }),
                Event::AwaitingSignOff { step } => Some(Command::Skip {
                    step: step.clone(),
                    who: "tester".into(),
                    reason: "the wiki is frozen".into(),
                }),
                _ => None,
            };
            let (seq, now) = (record.seq, record.ts);
            // The seal after `session_ended` is the journal's last event.
            let ended = matches!(record.event, Event::Seal { .. });
            app.update(Msg::Engine(Update::Record(record)));
            app.now = now;
            frames.push((seq, live_screen(&app)));
            if let Some(command) = command {
                tx.send(command).await.expect("the engine takes commands");
            }
            if ended {
                break;
            }
        }
        drop(tx);
        engine.await.expect("the engine task").expect("the engine ran");
        (frames, app, journal)
    })
}

#[test]
fn a_replay_draws_what_the_live_run_drew_and_ends_in_its_state() {
    let dir = TempDir::new().expect("temp dir");
    let (frames, live, journal) = live_run(dir.path());
    let read = read_journal(&journal).expect("read the journal");
    assert!(read.integrity.is_verified());
    assert_eq!(frames.len(), read.records.len(), "one frame per event");
    let kinds = |pred: fn(&Event) -> bool| read.records.iter().filter(|r| pred(&r.event)).count();
    assert_eq!(
        kinds(|e| matches!(
            e,
            Event::StepFinished {
                outcome: Outcome::Failed,
                ..
            }
        )),
        1
    );
    assert_eq!(
        kinds(|e| matches!(e, Event::Verification { passed: true, .. })),
        1
    );
    assert_eq!(kinds(|e| matches!(e, Event::SignedOff { .. })), 1);
    assert_eq!(kinds(|e| matches!(e, Event::Skipped { .. })), 1);

    let mut replay = open(&journal);
    assert_eq!(replay.timeline.len(), read.records.len());
    assert!(replay.timeline.caught_up);

    // Forward one event at a time: each record folded as the live TUI took it.
    for (seq, live_frame) in &frames {
        if *seq > 0 {
            press(&mut replay, KeyCode::Right);
        }
        assert_eq!(replay.cursor() as u64, *seq);
        assert_same_screen(
            live_frame,
            &replay_screen(&replay),
            &format!("stepping to seq {seq}"),
        );
    }
    assert_same_state(&replay.app.session, &live.session);
    let folded = SessionState::from_records(&read.records).expect("fold");
    assert_same_state(&replay.app.session, &folded);
    assert_eq!(
        replay.app.session.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );

    // Backwards: every screen rebuilt from a checkpoint.
    for (seq, live_frame) in frames.iter().rev() {
        replay.go_to(*seq as usize);
        assert_same_screen(live_frame, &replay_screen(&replay), &format!("back at seq {seq}"));
    }
    // Jumps in a scattered order, and by time.
    let n = frames.len();
    for i in [n / 2, 1, n - 1, n / 3, 2 * n / 3, 0] {
        replay.go_to(i);
        assert_same_screen(&frames[i].1, &replay_screen(&replay), &format!("jump to seq {i}"));
    }
    let at = read.records[n / 2].ts;
    let fx = replay.go_to_time(at);
    assert!(fx.is_empty());
    let shown = &read.records[replay.cursor()];
    assert!(replay.cursor() >= n / 2 && shown.ts.timestamp_millis() == at.timestamp_millis());
    press(&mut replay, KeyCode::End);
    assert_same_state(&replay.app.session, &live.session);
    assert_same_screen(&frames[n - 1].1, &replay_screen(&replay), "the end");
}

// ---------------------------------------------------------------------------
// Hand-written journals with chosen timestamps.

fn step(id: &str, kind: StepKind, verify: bool) -> Step {
    Step {
        body: format!("Step {id}."),
        verify,
        ..Step::new(id, format!("Step {id}"), kind)
    }
}

fn shell() -> StepKind {
    StepKind::Shell {
        script: "echo hi".into(),
    }
}

fn plan() -> Plan {
    let phase = |kind, title: &str, steps| PlanPhase {
        kind,
        title: title.into(),
        steps,
        depth: 0,
        notes: Vec::new(),
    };
    Plan {
        runbook_title: "Replay keys".into(),
        environment: "development".into(),
        phases: vec![
            phase(
                PhaseKind::Execution,
                "Execution",
                vec![step("a", shell(), false), step("b", shell(), false)],
            ),
            phase(
                PhaseKind::Validation,
                "Validation",
                vec![step("c", shell(), true)],
            ),
            phase(
                PhaseKind::PostDeployment,
                "Post-Deployment",
                vec![step("d", StepKind::Manual, false)],
            ),
        ],
        signoffs: 1,
        ..Plan::default()
    }
}

fn header() -> Header {
    Header {
        format: FORMAT_VERSION,
        session_id: "20250301-090000-abcdef".into(),
        runbook_path: "/nonexistent/runbook.md".into(),
        runbook_sha256: "0".repeat(64),
        environment: "development".into(),
        mode: Mode::Live,
        operator: "alice".into(),
        host: "ops".into(),
        seat: None,
        runsheet_version: "0.1.0".into(),
        targets: Vec::new(),
        only: None,
        rollback_only: false,
        plan: plan(),
        team_journal: None,
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0)
        .single()
        .expect("a time")
}

fn started(step: &str, attempt: u32) -> Event {
    Event::StepStarted {
        step: step.into(),
        attempt,
    }
}

fn finished(step: &str, attempt: u32, outcome: Outcome) -> Event {
    Event::StepFinished {
        step: step.into(),
        attempt,
        outcome,
        exit_code: Some(if outcome == Outcome::Succeeded { 0 } else { 3 }),
        duration_ms: 1_000,
        error: (outcome != Outcome::Succeeded).then(|| "exit status 3".into()),
    }
}

fn output(step: &str, stream: Stream, lines: &[&str]) -> Event {
    Event::Output {
        step: step.into(),
        attempt: 1,
        stream,
        lines: lines.iter().map(|l| l.to_string()).collect(),
    }
}

/// The scenario: seconds after t0 and events. Index = seq.
fn scenario() -> Vec<(i64, Event)> {
    vec![
        (0, Event::Header(Box::new(header()))),
        (1, started("a", 1)),
        (2, output("a", Stream::Stdout, &["hello", "world"])),
        (3, finished("a", 1, Outcome::Succeeded)),
        (4, started("b", 1)),
        (5, output("b", Stream::Stderr, &["disk full"])),
        (6, finished("b", 1, Outcome::Failed)),
        (10, started("b", 2)),
        (11, finished("b", 2, Outcome::Succeeded)),
        (12, started("c", 1)),
        (
            13,
            Event::Verification {
                step: "c".into(),
                attempt: 1,
                name: "Step c".into(),
                passed: true,
                observed: Observed::default(),
            },
        ),
        (13, finished("c", 1, Outcome::Succeeded)),
        (14, Event::AwaitingSignOff { step: "d".into() }),
        (
            3_614,
            Event::SignedOff {
                step: "d".into(),
                signature: Signature {
                    who: "bob".into(),
                    role: "DBA".into(),
                    note: "told everyone".into(),
                    preapproved: false,
                    seat: None,
                },
            },
        ),
        (
            3_615,
            Event::Note {
                who: "alice".into(),
                text: "all good".into(),
            },
        ),
        (
            3_616,
            Event::SessionEnded {
                outcome: SessionOutcome::Completed,
                reason: None,
            },
        ),
    ]
}

/// The journal lines of `events`, hash-chained.
fn lines(events: &[(i64, Event)]) -> Vec<Vec<u8>> {
    let mut prev = LineHash::GENESIS;
    events
        .iter()
        .enumerate()
        .map(|(seq, (secs, event))| {
            let record = Record {
                seq: seq as u64,
                ts: t0() + chrono::Duration::seconds(*secs),
                event: event.clone(),
                origin: None,
            };
            let mut line = Vec::new();
            prev = encode_line(&record, &prev, &mut line).expect("encode");
            line
        })
        .collect()
}

fn write_journal(dir: &Path, lines: &[Vec<u8>]) -> PathBuf {
    let path = dir.join("session.jsonl");
    std::fs::write(&path, lines.concat()).expect("write the journal");
    path
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open to append");
    f.write_all(bytes).expect("append");
}

#[test]
fn every_timeline_key() {
    let dir = TempDir::new().expect("temp dir");
    let path = write_journal(dir.path(), &lines(&scenario()));
    let mut r = open(&path);
    assert_eq!(r.timeline.len(), 16);
    assert_eq!((r.cursor(), r.playing), (0, false));
    assert!(bar(&r).contains("✓ chain verified"), "{}", bar(&r));
    assert!(bar(&r).contains("2025-03-01 09:00:00.000 UTC"), "{}", bar(&r));
    assert!(bar(&r).contains("#1 of 16"), "{}", bar(&r));

    // One event: → l forward, ← h back; both pause.
    press(&mut r, KeyCode::Right);
    assert_eq!(r.cursor(), 1);
    typed(&mut r, "l");
    assert_eq!(r.cursor(), 2);
    assert!(bar(&r).contains("a Step a output: 2 lines"), "{}", bar(&r));
    typed(&mut r, "h");
    press(&mut r, KeyCode::Left);
    assert_eq!(r.cursor(), 0);
    press(&mut r, KeyCode::Left);
    assert_eq!(r.cursor(), 0);
    assert!(r.notice.as_ref().is_some_and(|n| n.text.contains("first event")));

    // Step starts, phases, failures, sign-offs, verifications.
    let jumps: [(&str, &[usize]); 10] = [
        ("]", &[1, 4, 7, 9, 12]),
        ("[", &[9, 7, 4, 1]),
        ("}", &[9, 12, 15]),
        ("{", &[12, 9, 1]),
        ("f", &[6]),
        ("F", &[]),
        ("v", &[10]),
        ("V", &[]),
        ("s", &[13]),
        ("S", &[]),
    ];
    for (key, stops) in jumps {
        for &want in stops {
            typed(&mut r, key);
            assert_eq!(r.cursor(), want, "{key}");
        }
        let at = r.cursor();
        typed(&mut r, key);
        assert_eq!(r.cursor(), at, "{key}: nothing further");
        assert!(
            r.notice.as_ref().is_some_and(|n| n.text.starts_with("no ")),
            "{key}"
        );
    }
    assert_eq!(r.timeline.marked(Mark::Failure), [6]);

    // Home, End (which follows the end).
    press(&mut r, KeyCode::Home);
    assert_eq!(r.cursor(), 0);
    press(&mut r, KeyCode::End);
    assert_eq!(r.cursor(), 15);
    assert!(r.following);
    assert!(bar(&r).contains("■ END"), "{}", bar(&r));
    assert_eq!(
        r.app.session.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );

    // g: go to a time; a bad one is refused in the prompt; Esc cancels.
    typed(&mut r, "g09:00:07");
    assert!(
        bar(&r).contains("go to (UTC, HH:MM[:SS]): 09:00:07"),
        "{}",
        bar(&r)
    );
    press(&mut r, KeyCode::Enter);
    assert_eq!(r.cursor(), 6, "the last event at or before 09:00:07");
    assert_eq!(r.journal_now(), t0() + chrono::Duration::seconds(7));
    assert!(!r.following);
    typed(&mut r, "g99");
    press(&mut r, KeyCode::Enter);
    assert!(r.prompt.as_ref().is_some_and(|p| p.error.is_some()));
    press(&mut r, KeyCode::Esc);
    assert!(r.prompt.is_none());
    assert_eq!(r.cursor(), 6);
    typed(&mut r, "g2025-03-01 08:00");
    press(&mut r, KeyCode::Enter);
    assert_eq!(r.cursor(), 0, "before the start shows the start");

    // Space plays at 1x; + and - change the speed.
    typed(&mut r, " ");
    assert!(r.playing);
    r.update(Input::Tick(Duration::from_millis(1_000)));
    assert_eq!(r.cursor(), 1);
    typed(&mut r, "+");
    assert_eq!(r.speed, Speed::X2);
    r.update(Input::Tick(Duration::from_millis(1_000)));
    assert_eq!(r.cursor(), 3, "two seconds of journal in one");
    assert!(bar(&r).contains("▶ 2x"), "{}", bar(&r));
    typed(&mut r, "-");
    assert_eq!(r.speed, Speed::X1);
    typed(&mut r, " ");
    assert!(!r.playing);
    r.update(Input::Tick(Duration::from_millis(5_000)));
    assert_eq!(r.cursor(), 3, "paused: time does not move");

    // An hour waiting for the sign-off plays as five seconds, and says so.
    typed(&mut r, "g09:00:14");
    press(&mut r, KeyCode::Enter);
    assert_eq!(r.cursor(), 12);
    typed(&mut r, " ");
    r.update(Input::Tick(Duration::from_millis(2_000)));
    assert_eq!(r.cursor(), 12);
    assert_eq!(r.idle_gap(), Some(3_600_000));
    assert!(bar(&r).contains("≈ idle 1h00m"), "{}", bar(&r));
    r.update(Input::Tick(Duration::from_millis(3_000)));
    assert_eq!(r.cursor(), 13);
    // Playing on to the end stops there and follows.
    for _ in 0..10 {
        r.update(Input::Tick(Duration::from_millis(1_000)));
    }
    assert_eq!(r.cursor(), 15);
    assert!(!r.playing && r.following);

    // Instant: one state change per tick, output batches folded on the way.
    typed(&mut r, "++++");
    assert_eq!(r.speed, Speed::Instant);
    press(&mut r, KeyCode::Home);
    typed(&mut r, " ");
    let mut stops = Vec::new();
    while r.playing {
        r.update(Input::Tick(Duration::from_millis(40)));
        stops.push(r.cursor());
        assert!(stops.len() < 20, "instant playback ends");
    }
    assert_eq!(stops, [1, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);

    // Keys of the live checklist that look around still work; those that act do not.
    press(&mut r, KeyCode::Home);
    press(&mut r, KeyCode::Tab);
    assert_eq!(r.app.focus, Pane::Detail);
    typed(&mut r, "r");
    assert!(r.notice.as_ref().is_some_and(|n| n.text.contains("read-only")));
    assert_eq!(r.cursor(), 0);
    // The checklist cursor, moved by the reviewer, stays put across seeks until `.`.
    press(&mut r, KeyCode::BackTab);
    typed(&mut r, "jj");
    let chosen = r.app.selected.clone();
    assert!(!r.app.follow);
    typed(&mut r, "]]");
    assert_eq!(r.app.selected, chosen);
    typed(&mut r, ".");
    assert!(r.app.follow);
    assert_ne!(r.app.selected, chosen);

    // ? shows the keys; Esc closes them.
    typed(&mut r, "?");
    assert!(r.help.is_some());
    assert!(text(&replay_screen(&r)).contains("Replay keys"));
    press(&mut r, KeyCode::Esc);
    assert!(r.help.is_none());

    // A click on the timeline goes there.
    let scrub_row = TERM.1 - 2;
    r.update(Input::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: TERM.0 - 1,
        row: scrub_row,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(r.cursor(), 15);

    // q and Ctrl+C quit.
    typed(&mut r, "q");
    assert!(r.quitting);
    let mut r = open(&path);
    r.update(Input::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(r.quitting);
}

#[test]
fn a_tampered_journal_is_shown_up_to_the_break_with_a_broken_badge() {
    let dir = TempDir::new().expect("temp dir");
    let mut lines = lines(&scenario());
    // Turn the failure of line 7 (seq 6) into a success, by hand.
    let edited = String::from_utf8(lines[6].clone())
        .expect("utf-8")
        .replace("\"failed\"", "\"succeeded\"");
    assert_ne!(edited.as_bytes(), lines[6].as_slice());
    lines[6] = edited.into_bytes();
    let path = write_journal(dir.path(), &lines);
    let mut r = open(&path);
    assert_eq!(
        r.timeline.integrity,
        Integrity::Broken {
            line: 7,
            reason: "the hash does not match the chain (this line was edited, or inserted here)".into()
        }
    );
    assert_eq!(r.timeline.len(), 6, "the six events before the break");
    assert!(bar(&r).contains("✗ CHAIN BROKEN AT LINE 7"), "{}", bar(&r));
    press(&mut r, KeyCode::End);
    assert_eq!(r.cursor(), 5);
    assert_eq!(r.app.session.step("b").status(), StepStatus::Running);
    typed(&mut r, "f");
    assert_eq!(r.cursor(), 5, "the forged line is not shown");

    // A deleted line breaks the chain too.
    let mut lines = self::lines(&scenario());
    lines.remove(3);
    let path = write_journal(dir.path(), &lines);
    let r = open(&path);
    assert!(matches!(r.timeline.integrity, Integrity::Broken { line: 4, .. }));
    assert_eq!(r.timeline.len(), 3);
}

#[test]
fn a_torn_last_line_is_left_out_until_it_is_completed() {
    let dir = TempDir::new().expect("temp dir");
    let lines = lines(&scenario());
    let last = lines.last().expect("a last line").clone();
    let (head, tail) = last.split_at(last.len() / 2);
    let path = write_journal(dir.path(), &lines[..lines.len() - 1]);
    append(&path, head);
    let (mut r, mut indexer) = open_indexed(&path);
    assert_eq!(r.timeline.len(), 15);
    assert!(r.timeline.integrity.is_verified());
    assert!(r.timeline.torn.as_deref().is_some_and(|t| t.contains("line 16")));
    assert!(bar(&r).contains("torn last line ignored"), "{}", bar(&r));
    press(&mut r, KeyCode::End);
    assert_eq!(r.cursor(), 14);
    assert_eq!(r.app.session.outcome, None);

    // The writer finishes the line: the replay, at the end, follows.
    append(&path, tail);
    r.update(Input::Indexed(indexer.catch_up()));
    assert_eq!(r.timeline.len(), 16);
    assert!(r.timeline.torn.is_none());
    assert_eq!(r.cursor(), 15);
    assert_eq!(
        r.app.session.outcome.as_ref().map(|o| o.0),
        Some(SessionOutcome::Completed)
    );

    // A complete last line that lost only its newline is an event, as for `verify`.
    let path = write_journal(dir.path(), &lines);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() - 1]).expect("cut the newline");
    let (r, mut indexer) = open_indexed(&path);
    assert_eq!(r.timeline.len(), 16);
    assert!(r.timeline.torn.is_none());
    append(&path, b"\n");
    let batch = indexer.catch_up();
    assert!(batch.offsets.is_empty() && batch.integrity.is_verified());
}

#[test]
fn a_journal_being_written_is_followed_at_the_end() {
    let dir = TempDir::new().expect("temp dir");
    let mut journal = FileJournal::create(dir.path(), header()).expect("create the journal");
    journal.append(started("a", 1)).expect("append");
    let path = journal.path().to_path_buf();
    let (indexer, first) = Indexer::open(&path, Theme::colored(), APP).expect("open");
    let mut r = Replayed::new(&path, first);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let thread = indexer.spawn(tx).expect("index thread");
    let mut pump = |r: &mut Replayed, until: &dyn Fn(&Replayed) -> bool| {
        let start = Instant::now();
        while !until(r) {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out; the bar shows:\n{}",
                bar(r)
            );
            match rx.try_recv() {
                Ok(batch) => {
                    r.update(Input::Indexed(batch));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    };
    pump(&mut r, &|r| r.timeline.caught_up && r.timeline.len() == 2);
    press(&mut r, KeyCode::End);
    assert_eq!(r.cursor(), 1);
    assert!(r.following);
    journal
        .append(output("a", Stream::Stdout, &["live line"]))
        .expect("append");
    journal
        .append(finished("a", 1, Outcome::Succeeded))
        .expect("append");
    pump(&mut r, &|r| r.cursor() == 3);
    assert_eq!(r.app.session.step("a").status(), StepStatus::Succeeded);
    assert_eq!(r.app.output_lines("a"), 1);
    assert!(bar(&r).contains("● LIVE END"), "{}", bar(&r));
    // Not at the end: new events extend the timeline but the screen stays.
    press(&mut r, KeyCode::Home);
    journal.append(started("b", 1)).expect("append");
    pump(&mut r, &|r| r.timeline.len() == 4);
    assert_eq!(r.cursor(), 0);
    drop(thread);
}

#[test]
fn seeks_in_a_long_journal_land_on_the_live_screen() {
    let dir = TempDir::new().expect("temp dir");
    let mut events = vec![(0, Event::Header(Box::new(header()))), (1, started("a", 1))];
    for i in 0..12_000 {
        let line = format!("row {i}");
        events.push((
            2 + i / 1_000,
            output("a", Stream::Stdout, &[&line, "second line"]),
        ));
        if i == 6_000 {
            events.push((
                8,
                Event::Note {
                    who: "alice".into(),
                    text: "halfway".into(),
                },
            ));
        }
    }
    events.push((20, finished("a", 1, Outcome::Succeeded)));
    events.push((21, started("b", 1)));
    let path = write_journal(dir.path(), &lines(&events));
    let read = read_journal(&path).expect("read");

    let mut r = open(&path);
    assert_eq!(r.timeline.len(), events.len());
    let wanted = [
        events.len() - 1,
        4_097,
        4_096,
        0,
        9_000,
        6_002,
        6_003,
        12_002,
        1,
        8_191,
        8_192,
    ];
    // The live app, fed every record as the TUI takes them, drawn at the wanted events.
    let setup = AppSetup {
        operator: "alice".into(),
        references: Vec::new(),
        journal_path: path.clone(),
        theme: Theme::colored(),
        now: t0(),
        size: APP,
        notices: Vec::new(),
    };
    let mut live = App::new(SessionState::new(&read.records[0]).expect("header"), setup);
    live.replay = true;
    let mut frames = std::collections::HashMap::new();
    for record in &read.records {
        if record.seq > 0 {
            live.update(Msg::Engine(Update::Record(record.clone())));
        }
        live.now = record.ts;
        if wanted.contains(&(record.seq as usize)) {
            frames.insert(record.seq as usize, live_screen(&live));
        }
    }
    for i in wanted {
        let start = Instant::now();
        r.go_to(i);
        let took = start.elapsed();
        assert_same_screen(&frames[&i], &replay_screen(&r), &format!("seek to {i}"));
        assert!(took < Duration::from_secs(2), "seek to {i} took {took:?}");
    }
    assert_eq!(
        r.app.session.notes.len(),
        1,
        "the note at event 6,003 is folded in"
    );
    assert_same_state(
        &r.app.session,
        &SessionState::from_records(&read.records[..=8_192]).expect("fold"),
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("junk.jsonl");
    let good = lines(&scenario());
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    };
    // No header at all: refused with a reason, not a panic.
    for junk in [Vec::new(), b"\n".to_vec(), random(300), b"{\"seq\":0}\n".to_vec()] {
        std::fs::write(&path, &junk).expect("write");
        let err = Indexer::open(&path, Theme::colored(), APP)
            .err()
            .expect("refused");
        assert!(err.to_string().contains("nothing to replay"), "{err}");
    }
    // A good prefix, then junk (with and without newlines): shown up to the junk.
    for cut in [1, 5, 16] {
        for junk in [random(64), [random(40), b"\n".to_vec(), random(40)].concat()] {
            std::fs::write(&path, [good[..cut].concat(), junk].concat()).expect("write");
            let mut r = open(&path);
            assert_eq!(r.timeline.len(), cut);
            let keys = "]f}lhvsg12:00"
                .chars()
                .map(KeyCode::Char)
                .chain([KeyCode::Enter, KeyCode::Char(' ')]);
            for key in keys {
                press(&mut r, key);
                r.update(Input::Tick(Duration::from_millis(500)));
            }
            press(&mut r, KeyCode::End);
            let _ = replay_screen(&r);
            assert!(r.cursor() < cut);
        }
    }
    // Tiny terminals draw without panicking.
    let path = write_journal(dir.path(), &good);
    let mut r = open(&path);
    for (w, h) in [(1, 1), (10, 2), (59, 23), (60, 3), (200, 4)] {
        r.update(Input::Resize(w, h));
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        t.draw(|f| runsheet::replay::view::draw(&r, f)).expect("draw");
        typed(&mut r, "?");
        t.draw(|f| runsheet::replay::view::draw(&r, f)).expect("draw");
        press(&mut r, KeyCode::Esc);
    }
}

// ---------------------------------------------------------------------------
// The command line and a real terminal.

#[test]
fn the_command_line_says_what_is_wrong() {
    let fixture = common::runsheet::Fixture::new("# unused\n");
    let out = fixture
        .command(&["replay", "no-such-session"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", common::runsheet::text(&out));
    assert!(common::runsheet::text(&out).contains("no session 'no-such-session'"));

    let junk = fixture.dir.path().join("junk.jsonl");
    std::fs::write(&junk, "not a journal\n").expect("write");
    let out = fixture
        .command(&["replay", junk.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "{}", common::runsheet::text(&out));
    assert!(common::runsheet::text(&out).contains("nothing to replay"));

    let path = write_journal(fixture.dir.path(), &lines(&scenario()));
    let out = fixture
        .command(&["replay", path.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", common::runsheet::text(&out));
    assert!(common::runsheet::text(&out).contains("replay needs a terminal"));
}

/// The binary in a pseudo-terminal: the first screen, keys, quitting
/// restores the terminal.
#[test]
fn replay_in_a_real_terminal() {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let dir = TempDir::new().expect("temp dir");
    let path = write_journal(dir.path(), &lines(&scenario()));
    let nz = |n: u16| NonZeroU16::new(n).expect("not zero");
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 33,
            cols: 100,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("open a pty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_runsheet"));
    cmd.args(["replay", path.to_str().expect("utf-8")]);
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn runsheet");
    drop(pair.slave);
    let parser = Arc::new(Mutex::new(vt100::Parser::new(nz(33), nz(100), 0)));
    let mut read = pair.master.try_clone_reader().expect("pty reader");
    let sink = Arc::clone(&parser);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n @ 1..) = read.read(&mut buf) {
            sink.lock().expect("parser").process(&buf[..n]);
        }
    });
    let mut writer = pair.master.take_writer().expect("pty writer");
    let screen = || parser.lock().expect("parser").screen().contents();
    let wait = |what: &str| {
        let start = Instant::now();
        while !screen().contains(what) {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what:?}:\n{}",
                screen()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait("REPLAY");
    wait("✓ chain verified");
    wait("#1 of 16");
    writer.write_all(b"f").expect("key");
    wait("FAILED after");
    writer.write_all(b"\x1b[F").expect("End");
    wait("SESSION COMPLETED");
    writer.write_all(b"q").expect("key");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(start.elapsed() < DEADLINE, "runsheet did not exit:\n{}", screen());
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(writer);
    drop(pair.master);
    let _ = reader.join();
    assert_eq!(status.exit_code(), 0);
    let parser = parser.lock().expect("parser");
    let screen = parser.screen();
    assert!(!screen.alternate_screen(), "still on the alternate screen");
    assert!(!screen.hide_cursor(), "the cursor is still hidden");
    assert!(
        screen.contents().contains("16 events, hash chain intact"),
        "{}",
        screen.contents()
    );
}

/// A replay shows what a shell step inherits, as the live detail pane did:
/// before step b starts, the state step a left; and the bar names the event.
#[test]
fn a_replay_shows_the_shell_state_a_step_inherits() {
    let state = runsheet::journal::event::ShellState {
        cwd: Some("/srv/app/releases/42".into()),
        vars: [("RELEASE".to_string(), "42".to_string())].into(),
        withheld: ["API_TOKEN".to_string()].into(),
        ..Default::default()
    };
    let events = vec![
        (0, Event::Header(Box::new(header()))),
        (1, started("a", 1)),
        (
            2,
            Event::ShellState {
                step: "a".into(),
                attempt: 1,
                state,
            },
        ),
        (2, finished("a", 1, Outcome::Succeeded)),
        (3, started("b", 1)),
        (4, finished("b", 1, Outcome::Succeeded)),
    ];
    let dir = TempDir::new().expect("temp dir");
    let path = write_journal(dir.path(), &lines(&events));
    let mut r = open(&path);
    for _ in 0..2 {
        press(&mut r, KeyCode::Right);
    }
    assert!(bar(&r).contains("a Step a leaves its shell stat"), "{}", bar(&r));
    let record = &read_journal(&path).expect("read").records[2];
    assert_eq!(
        runsheet::replay::view::describe(record, &plan()),
        "a Step a leaves its shell state: cwd /srv/app/releases/42 · vars RELEASE · withheld API_TOKEN"
    );
    press(&mut r, KeyCode::Right);
    let screen = text(&replay_screen(&r));
    assert!(screen.contains("┌ b "), "step b is the one shown: {screen}");
    assert!(screen.contains("Inherits from a Step a"), "{screen}");
    assert!(screen.contains("/srv/app/releases/42"), "{screen}");
    assert!(screen.contains("RELEASE"), "{screen}");
    // Before a's state was journaled, b inherited nothing.
    press(&mut r, KeyCode::Left);
    press(&mut r, KeyCode::Left);
    let screen = text(&replay_screen(&r));
    assert!(!screen.contains("Inherits"), "{screen}");
}

/// Bytes the process `pid` has read so far (`rchar` of /proc/PID/io).
fn bytes_read(pid: i32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("rchar in /proc/PID/io")
}

/// End pressed while the index is still being built follows the end for
/// about one more read of the journal: the log pane's read-backs run one at
/// a time, each from where the last one got to, and those overtaken by a
/// newer one are dropped unread. They used to run side by side, each from
/// the journal's start, one per index batch: many times the journal, and
/// over a minute on a 1M-event journal. Counted in bytes the process read,
/// not timed.
#[test]
fn end_pressed_while_indexing_reads_the_journal_about_once_more() {
    use common::journals::{plan, write_session};
    const OUTPUT: usize = 150_000;
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("long.jsonl");
    let events = write_session(&path, &plan(1, 1), OUTPUT);
    let size = std::fs::metadata(&path).expect("the journal").len();
    let mut tui = common::pty::Tui::spawn(&["replay", path.to_str().expect("utf-8")], dir.path(), 200, 60);
    tui.deadline = Duration::from_secs(120);
    tui.wait_text(" REPLAY ");
    tui.keys("\x1b[F");
    tui.wait_text("still reading the journal");
    let (at_end, last_line) = (
        format!("#{n} of {n} ", n = runsheet::text::count(events as u64)),
        format!("migrated row {} of", OUTPUT - 1),
    );
    tui.wait("the end, the journal indexed and the log pane filled", |s| {
        let text = s.contents();
        text.contains("chain verified")
            && text.contains(&at_end)
            && text.contains(&last_line)
            && !text.contains("is being read from the journal")
    });
    let read = bytes_read(tui.pid());
    tui.keys("q");
    assert_eq!(tui.exit_code(), 0);
    assert!(
        read < 2 * size,
        "the replay read {read} bytes of a {size}-byte journal ({:.1} times) to follow its end while indexing it",
        read as f64 / size as f64
    );
}
