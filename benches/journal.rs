//! Journal throughput: write 1,000,000 output events through the file
//! backend (batched), then read and verify them.
//!
//! `cargo bench --bench journal`

mod common;

use std::time::{Duration, Instant};

use runsheet::journal::JournalSink;
use runsheet::journal::event::{Event, Stream};
use runsheet::journal::file::FileJournal;
use runsheet::journal::reader::{JournalStream, read_journal};

const EVENTS: usize = 1_000_000;

/// CPU time of this thread (Linux), so figures mean something on a busy machine.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        stat.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Option<Duration>) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    let out = f();
    let cpu = cpu.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));
    (out, wall.elapsed(), cpu)
}

fn main() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut journal = FileJournal::create(dir.path(), common::header("bench")).expect("create journal");
    let path = journal.path().to_path_buf();

    let ((), write, write_cpu) = timed(|| {
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
    });
    drop(journal);
    let size = std::fs::metadata(&path).expect("journal size").len();

    let (read, read_all, read_cpu) = timed(|| read_journal(&path).expect("read journal"));
    assert!(read.integrity.is_verified(), "{:?}", read.integrity);
    assert_eq!(read.records.len(), EVENTS + 1);
    drop(read);

    let ((count, verified), streamed, stream_cpu) = timed(|| {
        let mut stream = JournalStream::open(&path).expect("open journal");
        let mut count = 0;
        for record in stream.by_ref() {
            record.expect("read");
            count += 1;
        }
        (count, stream.integrity().is_verified())
    });
    assert!(verified);
    assert_eq!(count, EVENTS + 1);

    let rate = |d: Duration| EVENTS as f64 / d.as_secs_f64() / 1e6;
    let cpu = |d: Option<Duration>| d.map_or("n/a".to_string(), |d| format!("{d:.2?}"));
    println!("journal: {EVENTS} output events, {:.1} MB", size as f64 / 1e6);
    println!(
        "  write (batched, flushed):  wall {write:>8.2?} ({:.2} M events/s), cpu {}",
        rate(write),
        cpu(write_cpu)
    );
    println!(
        "  read + verify (collected): wall {read_all:>8.2?} ({:.2} M events/s), cpu {}",
        rate(read_all),
        cpu(read_cpu)
    );
    println!(
        "  read + verify (streamed):  wall {streamed:>8.2?} ({:.2} M events/s), cpu {}",
        rate(streamed),
        cpu(stream_cpu)
    );
}
