//! Replay of a 1,000,000-event journal: time to the first screen, to the
//! whole journal verified and indexed, and to seek anywhere (restore a
//! checkpoint, fold up to one checkpoint interval, draw).
//!
//! `cargo bench --bench replay`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use runsheet::journal::reader::JournalStream;
use runsheet::replay::{Indexer, Input, Reader, Replay};
use runsheet::ui::Theme;

use common::journals::{plan, write_session};

const EVENTS: usize = 1_000_000;
const SIZE: (u16, u16) = (120, 40);
const SEEKS: usize = 200;

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
    // Five phases of eight steps, ~1M events of output among them.
    let count = write_session(&path, &plan(5, 8), EVENTS);
    let mb = std::fs::metadata(&path).expect("size").len() as f64 / 1e6;
    let rss_before = rss_mb();

    // The first screen: the header read and verified, the app built, one frame.
    let mut terminal = Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).expect("terminal");
    let start = Instant::now();
    let app_size = runsheet::replay::view::app_size(SIZE);
    let (mut indexer, first) = Indexer::open(&path, Theme::colored(), app_size).expect("open");
    let (mut replay, _) = Replay::new(first, SIZE).expect("replay");
    let reader = Reader::open(&path).expect("reader");
    // A seek's records are read as the terminal loop reads them.
    let go_to = |replay: &mut Replay, target: usize| {
        let fx = replay.go_to(target);
        reader.settle(replay, fx)
    };
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
        go_to(&mut replay, target);
        draw(&mut terminal, &replay);
        times.push(start.elapsed());
        assert_eq!(replay.cursor(), target);
    }
    // The worst case: the event just before a checkpoint, from far away.
    let worst_target = runsheet::replay::index::CHECKPOINT_EVENTS * 100 - 1;
    go_to(&mut replay, 0);
    let start = Instant::now();
    go_to(&mut replay, worst_target);
    draw(&mut terminal, &replay);
    let worst = start.elapsed();
    // Stepping back one event from there (a restore) and forward again (one fold).
    let start = Instant::now();
    go_to(&mut replay, worst_target - 1);
    draw(&mut terminal, &replay);
    let back = start.elapsed();
    let start = Instant::now();
    go_to(&mut replay, worst_target);
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
