//! Replay of a 1,000,000-event journal: time to the first screen, to the
//! whole journal verified and indexed, and to seek anywhere (restore a
//! checkpoint, fold up to one checkpoint interval, draw).
//!
//! `cargo bench --bench replay`

use std::io::Write;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runsheet::journal::chain::{LineHash, encode_line};
use runsheet::journal::event::{
    Event, FORMAT_VERSION, Header, Mode, Observed, Outcome, Record, SessionOutcome, Signature, Stream,
};
use runsheet::journal::reader::JournalStream;
use runsheet::replay::{Indexer, Input, Replay};
use runsheet::runbook::model::{PhaseKind, SourcePos, Step, StepKind};
use runsheet::runbook::plan::{Plan, PlanPhase};
use runsheet::ui::Theme;

const EVENTS: usize = 1_000_000;
const SIZE: (u16, u16) = (120, 40);
const SEEKS: usize = 200;

/// Five phases of eight steps; every fourth step manual, the last of a
/// phase a check, so the journal has starts, sign-offs and checks as well
/// as output.
fn plan() -> Plan {
    let phases = (1..=5)
        .map(|p| PlanPhase {
            kind: PhaseKind::Execution,
            title: format!("Phase {p}"),
            steps: (1..=8)
                .map(|s| {
                    let manual = s % 4 == 0;
                    Step {
                        id: format!("{p}.{s}"),
                        title: format!("Step {s} of phase {p}"),
                        body: format!(
                            "Step {s} of phase {p}.\n\n```sh\n./migrate --phase {p} --step {s}\n```"
                        ),
                        kind: if manual {
                            StepKind::Manual
                        } else {
                            StepKind::Shell {
                                script: format!("./migrate --phase {p} --step {s}"),
                            }
                        },
                        verify: s == 8,
                        readonly: false,
                        backup: false,
                        timeout: None,
                        checked: false,
                        pos: SourcePos::default(),
                        parent: None,
                        expected: None,
                        notes: Vec::new(),
                    }
                })
                .collect(),
            depth: 0,
            notes: Vec::new(),
        })
        .collect();
    Plan {
        runbook_title: "Replay bench".into(),
        environment: "development".into(),
        phases,
        signoffs: 1,
        ..Plan::default()
    }
}

/// Write the bench session, a record at a time: each automated step's
/// share of ~1M events, most of them output, a few failed first attempts,
/// and sign-offs after ten idle minutes. The number of events written.
fn write_journal(path: &std::path::Path, plan: &Plan) -> usize {
    let header = Event::Header(Box::new(Header {
        format: FORMAT_VERSION,
        session_id: "bench".into(),
        runbook_path: "/nonexistent/bench.md".into(),
        runbook_sha256: "0".repeat(64),
        environment: "development".into(),
        mode: Mode::Live,
        operator: "bench".into(),
        host: "bench".into(),
        runsheet_version: env!("CARGO_PKG_VERSION").into(),
        only: None,
        plan: plan.clone(),
    }));
    let file = std::fs::File::create(path).expect("create the journal");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let t0 = Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).single().expect("time");
    let (mut seq, mut ms, mut prev, mut line) = (0u64, 0i64, LineHash::GENESIS, Vec::new());
    let mut emit = |event: Event| {
        ms += if matches!(event, Event::SignedOff { .. }) {
            600_000
        } else {
            2
        };
        let record = Record {
            seq,
            ts: t0 + chrono::Duration::milliseconds(ms),
            event,
        };
        line.clear();
        prev = encode_line(&record, &prev, &mut line).expect("encode");
        out.write_all(&line).expect("write the journal");
        seq += 1;
    };
    emit(header);
    let automated = plan
        .steps()
        .filter(|s| !matches!(s.kind, StepKind::Manual))
        .count();
    let per_step = EVENTS / automated;
    for (n, step) in plan.steps().enumerate() {
        let id = step.id.clone();
        if matches!(step.kind, StepKind::Manual) {
            emit(Event::AwaitingSignOff { step: id.clone() });
            emit(Event::SignedOff {
                step: id,
                signature: Signature {
                    who: "bench".into(),
                    role: "DBA".into(),
                    note: "checked".into(),
                    preapproved: false,
                },
            });
            continue;
        }
        let attempts = if n % 7 == 3 { 2 } else { 1 };
        for attempt in 1..=attempts {
            emit(Event::StepStarted {
                step: id.clone(),
                attempt,
            });
            for i in 0..per_step / attempts as usize {
                emit(Event::Output {
                    step: id.clone(),
                    attempt,
                    stream: if i % 50 == 0 {
                        Stream::Stderr
                    } else {
                        Stream::Stdout
                    },
                    lines: vec![format!("INSERT 0 1 -- migrated row {i} of {id}")],
                });
            }
            if step.verify {
                emit(Event::Verification {
                    step: id.clone(),
                    attempt,
                    name: step.title.clone(),
                    passed: attempt == attempts,
                    observed: Observed::default(),
                });
            }
            emit(Event::StepFinished {
                step: id.clone(),
                attempt,
                outcome: if attempt == attempts {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed
                },
                exit_code: Some(0),
                duration_ms: 60_000,
                error: None,
            });
        }
    }
    emit(Event::SessionEnded {
        outcome: SessionOutcome::Completed,
        reason: None,
    });
    out.flush().expect("flush the journal");
    seq as usize
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn draw(terminal: &mut Terminal<TestBackend>, replay: &Replay) {
    terminal
        .draw(|f| runsheet::replay::view::draw(replay, f))
        .expect("draw");
}

fn main() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let path = dir.path().join("bench.jsonl");
    let count = write_journal(&path, &plan());
    let mb = std::fs::metadata(&path).expect("size").len() as f64 / 1e6;
    let rss_before = rss_mb();

    // The first screen: the header read and verified, the app built, one frame.
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal");
    let start = Instant::now();
    let app_size = runsheet::replay::view::app_size(SIZE);
    let (mut indexer, first) = Indexer::open(&path, Theme::colored(), app_size).expect("open");
    let (mut replay, _) = Replay::new(&path, first, SIZE).expect("replay");
    draw(&mut terminal, &replay);
    let open = start.elapsed();

    // The whole journal verified, folded, indexed (the background thread's work).
    let start = Instant::now();
    let batch = indexer.catch_up();
    let checkpoints = batch.checkpoints.len() + 1;
    replay.update(Input::Indexed(batch));
    let index = start.elapsed();
    assert!(replay.timeline.integrity.is_verified());
    assert_eq!(replay.timeline.len(), count);

    // For comparison: reading and verifying alone, as `runsheet verify` does.
    let start = Instant::now();
    let mut stream = JournalStream::open(&path).expect("open");
    let verified = stream.by_ref().filter(Result::is_ok).count();
    let verify = start.elapsed();
    assert_eq!(verified, count);

    // Seeks anywhere: restore a checkpoint, fold at most one interval, draw.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut times = Vec::with_capacity(SEEKS);
    for _ in 0..SEEKS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let target = (seed % count as u64) as usize;
        let start = Instant::now();
        replay.go_to(target);
        draw(&mut terminal, &replay);
        times.push(start.elapsed());
        assert_eq!(replay.cursor(), target);
    }
    // The worst case: the event just before a checkpoint, from far away.
    let worst_target = runsheet::replay::index::CHECKPOINT_EVENTS * 100 - 1;
    replay.go_to(0);
    let start = Instant::now();
    replay.go_to(worst_target);
    draw(&mut terminal, &replay);
    let worst = start.elapsed();
    // Stepping back one event from there (a restore) and forward again (one fold).
    let start = Instant::now();
    replay.go_to(worst_target - 1);
    draw(&mut terminal, &replay);
    let back = start.elapsed();
    let start = Instant::now();
    replay.go_to(worst_target);
    draw(&mut terminal, &replay);
    let forward = start.elapsed();

    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    let rate = count as f64 / index.as_secs_f64() / 1e6;
    println!("replay: {count} events, {mb:.1} MB journal");
    println!("  first screen (open, header, draw):   {open:>9.2?}");
    println!(
        "  verify + fold + index all (1 thread): {index:>9.2?} ({rate:.2} M events/s), {checkpoints} checkpoints"
    );
    println!("  (read + verify alone, as `verify` does: {verify:>9.2?})");
    println!(
        "  seek + draw, {SEEKS} random:           median {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(50),
        pct(99),
        times[times.len() - 1]
    );
    println!("  seek + draw, worst (just before a checkpoint): {worst:.2?}");
    println!("  one event back / forward there:       {back:.2?} / {forward:.2?}");
    println!(
        "  memory: {:.0} MB resident after indexing ({:.0} MB before opening)",
        rss_mb(),
        rss_before
    );
}
