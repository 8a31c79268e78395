//! Property tests of the journal reader and the fold (issue 12): whatever
//! the bytes, the reader never panics and names the first bad line; whatever
//! the events, and at every prefix of a valid journal, the fold never panics
//! (nor does the report written from it).

mod common;

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use runsheet::journal::event::{Event, Observed, Outcome, Record, SessionOutcome, Signature, Stream};
use runsheet::journal::reader::{Integrity, JournalStream};
use runsheet::runbook::model::Estimate;
use runsheet::runbook::plan::Plan;
use runsheet::session::SessionState;

use common::fold::{fold_every_prefix, report_every_format};
use common::journals::{Chain, header, plan, session_records};

/// What the reader made of a journal: its records, verdict and warnings.
struct Read {
    records: Vec<Record>,
    integrity: Integrity,
    warnings: Vec<String>,
}

fn read(bytes: &[u8]) -> Read {
    let mut stream = JournalStream::from_reader(Cursor::new(bytes), Path::new("fuzzed.jsonl"));
    let records = stream
        .by_ref()
        .collect::<Result<Vec<_>, _>>()
        .expect("reading from memory does no I/O that can fail");
    Read {
        records,
        integrity: stream.integrity().clone(),
        warnings: stream.warnings().to_vec(),
    }
}

/// The reader's promise for any input: the records are the verified lines
/// before the first bad one, and a broken chain names that line.
fn assert_reader_promise(bytes: &[u8], read: &Read) {
    let lines = bytes.split_inclusive(|&b| b == b'\n').count();
    for (n, record) in read.records.iter().enumerate() {
        assert_eq!(record.seq, n as u64, "records come in sequence");
    }
    match &read.integrity {
        Integrity::Broken { line, reason } => {
            assert!(*line >= 1 && *line <= lines.max(1), "line {line} of {lines}");
            assert_eq!(read.records.len(), line - 1, "records stop before line {line}");
            assert!(!reason.is_empty());
        }
        Integrity::Verified => {
            assert!(!read.records.is_empty(), "a verified journal has its header");
            assert!(matches!(read.records[0].event, Event::Header(_)));
            // Every line verified, but for a torn last one, which is reported.
            let torn = read.warnings.iter().any(|w| w.contains("incomplete"));
            assert_eq!(read.records.len() + usize::from(torn), lines);
        }
    }
}

/// The encoded journal of `records`' events, chained as the journal does.
fn encode(events: impl IntoIterator<Item = Event>) -> (Vec<Record>, Vec<u8>) {
    let (mut chain, mut line, mut bytes) = (Chain::default(), Vec::new(), Vec::new());
    let records = events
        .into_iter()
        .map(|event| {
            let record = chain.encode(event, &mut line);
            bytes.extend_from_slice(&line);
            record
        })
        .collect();
    (records, bytes)
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    // Anywhere from 1970 to 2100, so clocks may run backwards between events.
    (0i64..4_102_444_800_000).prop_map(|ms| Utc.timestamp_millis_opt(ms).single().expect("in range"))
}

/// Step ids: mostly the plan's, sometimes one it does not have.
fn step_id() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (1..=3usize, 1..=5usize).prop_map(|(p, s)| format!("{p}.{s}")),
        1 => ".{0,12}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Succeeded),
        Just(Outcome::Failed),
        Just(Outcome::TimedOut),
        Just(Outcome::Cancelled),
    ]
}

fn session_outcome() -> impl Strategy<Value = SessionOutcome> {
    prop_oneof![
        Just(SessionOutcome::Completed),
        Just(SessionOutcome::Failed),
        Just(SessionOutcome::Aborted),
        Just(SessionOutcome::RolledBack),
    ]
}

fn stream() -> impl Strategy<Value = Stream> {
    prop_oneof![
        Just(Stream::Stdout),
        Just(Stream::Stderr),
        Just(Stream::Info),
        Just(Stream::Notice),
        Just(Stream::Error),
    ]
}

/// A plan of 0-3 phases of 0-5 steps, with up to three sign-offs needed
/// (zero included, which the fold must treat as one) and maybe an estimate.
fn a_plan() -> impl Strategy<Value = Plan> {
    (
        0..=3usize,
        0..=5usize,
        0..=3u32,
        proptest::option::of((0..10_000u64, 0..10_000u64)),
    )
        .prop_map(|(phases, steps, signoffs, estimate)| Plan {
            signoffs,
            estimate: estimate.map(|(a, b)| Estimate {
                min: Duration::from_secs(a.min(b)),
                max: Duration::from_secs(a.max(b)),
            }),
            ..plan(phases, steps)
        })
}

fn signature() -> impl Strategy<Value = Signature> {
    (
        text(),
        text(),
        text(),
        any::<bool>(),
        proptest::option::of(text()),
    )
        .prop_map(|(who, role, note, preapproved, terminal)| Signature {
            seat: terminal.map(|terminal| runsheet::seat::Seat {
                os_user: Some(role.clone()),
                host: note.clone(),
                terminal: Some(terminal),
            }),
            who,
            role,
            note,
            preapproved,
        })
}

/// Any event but a header, with fields drawn so that they often name the
/// same steps and attempts (the interesting orders: finished before started,
/// sign-offs of automated steps, a second header's worth of resumes…).
fn event() -> impl Strategy<Value = Event> {
    let attempt = 0..4u32;
    prop_oneof![
        (text(), text(), proptest::option::of(a_plan()), any::<bool>()).prop_map(
            |(operator, host, plan, run)| Event::Resumed {
                operator,
                host,
                seat: None,
                runbook_sha256: "0".repeat(64),
                plan: plan.map(Box::new),
                run,
                taken_over_from: None,
                targets: None,
            }
        ),
        text().prop_map(|who| Event::Run { who }),
        text().prop_map(|who| Event::Pause { who }),
        (step_id(), attempt.clone()).prop_map(|(step, attempt)| Event::StepInterrupted { step, attempt }),
        (step_id(), attempt.clone()).prop_map(|(step, attempt)| Event::StepStarted { step, attempt }),
        (
            step_id(),
            attempt.clone(),
            stream(),
            proptest::collection::vec(text(), 0..60)
        )
            .prop_map(|(step, attempt, stream, lines)| Event::Output {
                step,
                attempt,
                stream,
                lines,
            }),
        (
            step_id(),
            attempt.clone(),
            outcome(),
            proptest::option::of(any::<i32>()),
            any::<u64>(),
            proptest::option::of(text())
        )
            .prop_map(|(step, attempt, outcome, exit_code, duration_ms, error)| {
                Event::StepFinished {
                    step,
                    attempt,
                    outcome,
                    exit_code,
                    duration_ms,
                    error,
                }
            }),
        (
            step_id(),
            attempt,
            text(),
            any::<bool>(),
            proptest::collection::vec(text(), 0..3)
        )
            .prop_map(|(step, attempt, name, passed, columns)| Event::Verification {
                step,
                attempt,
                name,
                passed,
                observed: Observed {
                    rows: vec![columns.clone()],
                    columns,
                    text: String::new(),
                },
            }),
        step_id().prop_map(|step| Event::AwaitingSignOff { step }),
        (step_id(), signature()).prop_map(|(step, signature)| Event::SignedOff { step, signature }),
        (step_id(), text(), text()).prop_map(|(step, who, reason)| Event::Skipped { step, who, reason }),
        text().prop_map(|who| Event::EnvironmentConfirmed { who }),
        (text(), text()).prop_map(|(who, text)| Event::Note { who, text }),
        (text(), text()).prop_map(|(who, reason)| Event::RollbackStarted { who, reason }),
        session_outcome().prop_map(|outcome| Event::RollbackFinished { outcome }),
        (text(), text()).prop_map(|(code, message)| Event::Warning { code, message }),
        text().prop_map(|who| Event::Detached { who }),
        (session_outcome(), proptest::option::of(text()))
            .prop_map(|(outcome, reason)| Event::SessionEnded { outcome, reason }),
    ]
}

/// A header of `plan` followed by arbitrary events, at arbitrary times.
fn records() -> impl Strategy<Value = Vec<Record>> {
    (a_plan(), proptest::collection::vec((event(), time()), 0..80)).prop_map(|(plan, events)| {
        let first = Record {
            seq: 0,
            ts: Utc.timestamp_millis_opt(0).single().expect("epoch"),
            event: Event::Header(Box::new(header(&plan))),
            origin: None,
        };
        std::iter::once(first)
            .chain(events.into_iter().enumerate().map(|(n, (event, ts))| Record {
                seq: n as u64 + 1,
                ts,
                event,
                origin: None,
            }))
            .collect()
    })
}

proptest! {
    // Failures print their minimal input; no regression files beside the tests.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any events after a header, in any order and at any times: the fold
    /// and every query on it never panic, at every prefix.
    #[test]
    fn the_fold_of_arbitrary_events_never_panics(records in records()) {
        let state = fold_every_prefix(&records);
        prop_assert!(state.is_some());
        report_every_format(&state.expect("checked"));
    }

    /// A journal that does not start with a header cannot be folded: an
    /// error, never a panic.
    #[test]
    fn a_journal_without_a_header_is_refused(event in event(), ts in time()) {
        let record = Record { seq: 0, ts, event, origin: None };
        prop_assert!(SessionState::new(&record).is_err());
    }

    /// Arbitrary events, chained as the journal chains them, read back
    /// exactly as written, and their fold at every prefix never panics.
    #[test]
    fn chained_events_read_back_as_written(records in records()) {
        let (written, bytes) = encode(records.into_iter().map(|r| r.event));
        let read = read(&bytes);
        prop_assert_eq!(&read.integrity, &Integrity::Verified);
        prop_assert_eq!(&read.records, &written);
        prop_assert!(fold_every_prefix(&read.records).is_some());
    }

    /// A realistic session (steps, output, failed attempts, sign-offs),
    /// folded at every prefix, ends completed with every step done.
    #[test]
    fn every_prefix_of_a_session_folds(phases in 1..=3usize, steps in 1..=6usize, output in 0..400usize) {
        let records = session_records(&plan(phases, steps), output);
        let state = fold_every_prefix(&records).expect("the session has a header");
        prop_assert_eq!(state.outcome.as_ref().map(|(o, _)| *o), Some(SessionOutcome::Completed));
        let (done, total) = state.progress();
        prop_assert_eq!(done, total);
    }

    /// Arbitrary bytes: never a panic; a broken chain names its line.
    #[test]
    fn the_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        assert_reader_promise(&bytes, &read(&bytes));
    }

    /// Arbitrary lines after a valid start: the reader keeps the valid
    /// records and stops at the first line that is not one.
    #[test]
    fn the_reader_stops_at_the_first_foreign_line(
        output in 0..30usize,
        garbage in proptest::collection::vec(".{0,80}", 1..5),
    ) {
        let records = session_records(&plan(1, 3), output);
        let (_, mut bytes) = encode(records.into_iter().map(|r| r.event));
        let valid_lines = bytes.iter().filter(|&&b| b == b'\n').count();
        for line in &garbage {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        let read = read(&bytes);
        assert_reader_promise(&bytes, &read);
        prop_assert!(
            matches!(read.integrity, Integrity::Broken { line, .. } if line == valid_lines + 1),
            "{:?}",
            read.integrity
        );
    }

    /// One byte of a valid journal changed: the chain breaks at the line
    /// holding that byte (or, for the very last newline, the line becomes a
    /// torn one, which the reader drops with a warning).
    #[test]
    fn a_changed_byte_breaks_the_chain_at_its_line(
        output in 0..30usize,
        at in any::<proptest::sample::Index>(),
        xor in 1..=255u8,
    ) {
        let records = session_records(&plan(2, 3), output);
        let (_, mut bytes) = encode(records.into_iter().map(|r| r.event));
        let at = at.index(bytes.len());
        bytes[at] ^= xor;
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let read = read(&bytes);
        assert_reader_promise(&bytes, &read);
        let lines = bytes.split_inclusive(|&b| b == b'\n').count();
        match &read.integrity {
            Integrity::Broken { line: broken, .. } => prop_assert_eq!(*broken, line),
            Integrity::Verified => {
                prop_assert_eq!(at, bytes.len() - 1, "only the last newline can go unnoticed");
                prop_assert_eq!(read.records.len(), lines - 1);
            }
        }
    }

    /// A valid journal cut anywhere: the complete lines before the cut are
    /// read and verified (the last one even without its newline), a partial
    /// last line is dropped with a warning.
    #[test]
    fn a_cut_journal_keeps_its_complete_lines(output in 0..30usize, at in any::<proptest::sample::Index>()) {
        let records = session_records(&plan(2, 3), output);
        let (_, bytes) = encode(records.into_iter().map(|r| r.event));
        let cut = &bytes[..at.index(bytes.len())];
        // A line is complete when its content is, newline or not.
        let complete = bytes
            .iter()
            .enumerate()
            .filter(|&(i, &b)| b == b'\n' && i <= cut.len())
            .count();
        let read = read(cut);
        assert_reader_promise(cut, &read);
        if complete == 0 {
            let at_line_1 = matches!(read.integrity, Integrity::Broken { line: 1, .. });
            prop_assert!(at_line_1, "{:?}", read.integrity);
        } else {
            prop_assert_eq!(&read.integrity, &Integrity::Verified);
            prop_assert_eq!(read.records.len(), complete);
        }
    }
}
