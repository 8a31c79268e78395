//! Journal throughput: write 1,000,000 output events through the file
//! backend (batched), then read and verify them.
//!
//! `cargo bench --bench journal`

use std::time::Instant;

use runsheet::journal::JournalSink;
use runsheet::journal::event::{Event, FORMAT_VERSION, Header, Mode, Stream};
use runsheet::journal::file::FileJournal;
use runsheet::journal::reader::{JournalStream, read_journal};
use runsheet::runbook::plan::Plan;

const EVENTS: usize = 1_000_000;

fn header() -> Header {
    Header {
        format: FORMAT_VERSION,
        session_id: "bench".into(),
        runbook_path: "runbooks/bench.md".into(),
        runbook_sha256: "0".repeat(64),
        environment: "development".into(),
        mode: Mode::DryRun,
        operator: "bench".into(),
        host: "bench".into(),
        runsheet_version: env!("CARGO_PKG_VERSION").into(),
        only: None,
        plan: Plan {
            runbook_title: "bench".into(),
            environment: "development".into(),
            phases: vec![],
            rollback: vec![],
            confirm: false,
            signoffs: 1,
            min_backups: 0,
            estimate: None,
            window: None,
            requires: vec![],
            requires_rollback_test: None,
        },
    }
}

fn main() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut journal = FileJournal::create(dir.path(), header()).expect("create journal");
    let path = journal.path().to_path_buf();

    let started = Instant::now();
    for i in 0..EVENTS {
        let event = Event::Output {
            step: "4.2".into(),
            attempt: 1,
            stream: Stream::Stdout,
            lines: vec![format!("INSERT 0 1 -- migrated row {i}")],
        };
        journal.append(event).expect("append");
    }
    journal.flush().expect("flush");
    drop(journal);
    let write = started.elapsed();
    let size = std::fs::metadata(&path).expect("journal size").len();

    let started = Instant::now();
    let read = read_journal(&path).expect("read journal");
    let read_all = started.elapsed();
    assert!(read.integrity.is_verified(), "{:?}", read.integrity);
    assert_eq!(read.records.len(), EVENTS + 1);
    drop(read);

    let started = Instant::now();
    let mut stream = JournalStream::open(&path).expect("open journal");
    let mut count = 0;
    for record in stream.by_ref() {
        record.expect("read");
        count += 1;
    }
    let streamed = started.elapsed();
    assert!(stream.integrity().is_verified());
    assert_eq!(count, EVENTS + 1);

    let per_sec = |d: std::time::Duration| EVENTS as f64 / d.as_secs_f64() / 1e6;
    println!("journal: {EVENTS} output events, {:.1} MB", size as f64 / 1e6);
    println!(
        "  write (batched, flushed):   {write:>10.2?}  ({:.2} M events/s)",
        per_sec(write)
    );
    println!(
        "  read + verify (collected):  {read_all:>10.2?}  ({:.2} M events/s)",
        per_sec(read_all)
    );
    println!(
        "  read + verify (streamed):   {streamed:>10.2?}  ({:.2} M events/s)",
        per_sec(streamed)
    );
}
