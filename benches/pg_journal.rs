//! The PostgreSQL journal: events per second appended with output
//! batching, and how soon a follower (what `runsheet watch` will use) sees
//! each record under a 1,000,000-line flood.
//!
//! Needs the test server (`RUNSHEET_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); creates and drops a
//! scratch database of its own. `cargo bench --bench pg_journal`

mod common;

use std::time::{Duration, Instant};

use runsheet::journal::JournalSink;
use runsheet::journal::event::{Event, Stream};
use runsheet::journal::file::FileJournal;
use runsheet::journal::postgres::follow::Follower;
use runsheet::journal::postgres::lock::Origin;
use runsheet::journal::postgres::{JournalDb, PgJournal};
use runsheet::journal::tee::TeeJournal;

const THROUGHPUT_EVENTS: usize = 200_000;
const DURABLE_EVENTS: usize = 500;
const FLOOD_LINES: usize = 1_000_000;
/// Lines per output event when a flood comes through the engine, which
/// batches a step's output into events of up to this many lines.
const ENGINE_BATCH_LINES: usize = 2_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A database for this run, dropped at the end (even on a panic).
struct Scratch {
    server: String,
    name: String,
}

impl Scratch {
    fn create() -> Scratch {
        let server = std::env::var("RUNSHEET_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("runsheet_bench_pg_journal_{}", std::process::id());
        let scratch = Scratch { server, name };
        scratch.admin(&format!("CREATE DATABASE \"{}\"", scratch.name));
        scratch
    }

    /// The server's URL with this database's name in place of its own.
    fn url(&self) -> String {
        let (base, query) = self.server.split_once('?').unwrap_or((&self.server, ""));
        let authority = base.find("://").map_or(0, |i| i + 3);
        let base = base[authority..]
            .find('/')
            .map_or(base, |slash| &base[..authority + slash]);
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        format!("{base}/{}{query}", self.name)
    }

    /// Run `sql` on the server's maintenance database with psql.
    fn admin(&self, sql: &str) {
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.server, "-c", sql])
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql (is it installed?): {e}"));
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.admin(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name));
    }
}

fn output(first: usize, lines: usize) -> Event {
    Event::Output {
        step: "4.2".into(),
        attempt: 1,
        stream: Stream::Stdout,
        lines: (first..first + lines)
            .map(|i| format!("INSERT 0 1 -- migrated row {i}"))
            .collect(),
    }
}

fn rate(events: usize, d: Duration) -> String {
    format!("{:.0} events/s", events as f64 / d.as_secs_f64())
}

/// The sinks compared, each with a fresh session per round.
#[derive(Clone, Copy)]
enum Sink {
    /// The local file alone: the reference.
    File,
    PgOnly,
    Tee,
}

impl Sink {
    const ALL: [Sink; 3] = [Sink::File, Sink::PgOnly, Sink::Tee];

    fn name(self) -> &'static str {
        match self {
            Sink::File => "file only (reference)",
            Sink::PgOnly => "PostgreSQL only",
            Sink::Tee => "tee: file + PostgreSQL",
        }
    }
}

/// Append `events` made by `event` to `sink`, then `finish` (until all is
/// on disk and committed); the wall time of both.
fn timed<S: JournalSink>(
    mut sink: S,
    events: usize,
    event: &dyn Fn(usize) -> Event,
    finish: impl FnOnce(&mut S),
) -> Duration {
    let start = Instant::now();
    for i in 0..events {
        sink.append(event(i)).expect("append");
    }
    finish(&mut sink);
    start.elapsed()
}

fn round(
    sink: Sink,
    db: &JournalDb,
    state: &std::path::Path,
    id: &str,
    events: usize,
    event: &dyn Fn(usize) -> Event,
) -> Duration {
    let header = common::header(id);
    match sink {
        Sink::File => timed(
            FileJournal::create(state, header).expect("file journal"),
            events,
            event,
            |j| j.flush().expect("flush"),
        ),
        // Its flush waits for the commit.
        Sink::PgOnly => timed(
            PgJournal::create(db, header, None).expect("pg journal"),
            events,
            event,
            |j| j.flush().expect("flush"),
        ),
        Sink::Tee => timed(
            TeeJournal::create(state, header, db, &Origin::here("bench")).expect("tee"),
            events,
            event,
            |t| assert!(t.sync_replica(Duration::from_secs(600)).expect("sync")),
        ),
    }
}

/// Run every sink `ROUNDS` times, alternating, and print the median of each
/// against the file's.
fn compare(
    db: &JournalDb,
    state: &std::path::Path,
    (label, title): (&str, &str),
    events: usize,
    event: &dyn Fn(usize) -> Event,
) {
    const ROUNDS: usize = 3;
    let mut times = vec![Vec::new(); Sink::ALL.len()];
    for r in 0..ROUNDS {
        for (k, sink) in Sink::ALL.into_iter().enumerate() {
            let id = format!("{label}-{r}-{k}");
            times[k].push(round(sink, db, state, &id, events, event));
        }
    }
    let medians: Vec<Duration> = times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[ROUNDS / 2]
        })
        .collect();
    println!("{title} ({events} events, median of {ROUNDS} alternating rounds)");
    for (sink, d) in Sink::ALL.into_iter().zip(&medians) {
        println!(
            "  {:<24} {d:>9.2?}  {:>16}  {:.2}x the file's time",
            sink.name(),
            rate(events, *d),
            d.as_secs_f64() / medians[0].as_secs_f64()
        );
    }
}

/// The p-th percentile of sorted `samples`.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i.min(samples.len() - 1)]
}

/// Flood a session with `FLOOD_LINES` lines in events of `per_event` lines
/// while a follower reads it; the latency of each event is from `append`
/// returning to the follower yielding it.
fn flood(db: &JournalDb, state: &std::path::Path, id: &str, per_event: usize) -> (Vec<Duration>, Duration) {
    let mut tee = TeeJournal::create(state, common::header(id), db, &Origin::here("bench")).expect("tee");
    let events = FLOOD_LINES / per_event;
    let follower = {
        let db = db.clone();
        let id = id.to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            runtime().block_on(async {
                let mut follower = Follower::start(&db, &id, 1).await.expect("follower");
                ready_tx.send(()).expect("ready");
                let mut seen = Vec::with_capacity(events);
                while follower.next_seq() < 1 + events as u64 {
                    follower.next().await.expect("follow");
                    seen.push(Instant::now());
                }
                seen
            })
        });
        ready_rx.recv().expect("the follower started");
        handle
    };
    let start = Instant::now();
    let mut appended = Vec::with_capacity(events);
    let mut last_flush = Instant::now();
    for e in 0..events {
        tee.append(output(e * per_event, per_event)).expect("append");
        appended.push(Instant::now());
        // The engine flushes on its 100 ms tick.
        if last_flush.elapsed() >= Duration::from_millis(100) {
            tee.flush().expect("flush");
            last_flush = Instant::now();
        }
    }
    assert!(tee.sync_replica(Duration::from_secs(600)).expect("sync"));
    let seen = follower.join().expect("follower thread");
    let wall = start.elapsed();
    let mut latency: Vec<Duration> = seen
        .iter()
        .zip(&appended)
        .map(|(s, a)| s.saturating_duration_since(*a))
        .collect();
    latency.sort();
    (latency, wall)
}

fn main() {
    let scratch = Scratch::create();
    let db = JournalDb::from_url(&scratch.url()).expect("journal URL");
    let state = tempfile::TempDir::new().expect("temp dir");

    compare(
        &db,
        state.path(),
        (
            "output",
            "one-line output events, batched, until all are on disk and committed",
        ),
        THROUGHPUT_EVENTS,
        &|i| output(i, 1),
    );
    compare(
        &db,
        state.path(),
        (
            "durable",
            "durable events, each fsynced (and committed) before append returns",
        ),
        DURABLE_EVENTS,
        &|i| Event::Note {
            who: "bench".into(),
            text: format!("note {i}"),
        },
    );

    for (label, per_event) in [
        ("as the engine batches it", ENGINE_BATCH_LINES),
        ("one line per event", 1),
    ] {
        let id = format!("flood-{per_event}");
        let (latency, wall) = flood(&db, state.path(), &id, per_event);
        println!(
            "follower under a {FLOOD_LINES}-line flood, {label} ({} events of {per_event} line(s)), through the tee:",
            latency.len()
        );
        println!(
            "  latency from append to the follower: p50 {:.1?}, p99 {:.1?}, max {:.1?}; all followed in {wall:.2?}",
            percentile(&latency, 0.50),
            percentile(&latency, 0.99),
            latency.last().copied().unwrap_or_default()
        );
    }
}
