//! Memory bounds: `runsheet verify` and `runsheet report` stream the
//! journal, so their peak resident memory stays under a fixed limit for a
//! journal several times that size; a headless run holds a bounded amount of
//! a step's output whatever its size, and a slow stdout slows the step down
//! instead of piling its output up. Memory bounds, not timings: the figures
//! are the kernel's peak RSS of the child.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::journals::{plan, write_session};
use common::peak::run_measured;
use common::pty::vm_hwm_kb;
use common::runsheet::{Fixture, wait_until};

/// The bound of issue 15: 64 MB.
const LIMIT_KB: u64 = 64 * 1024;
/// Output events of the journal: about 115 MB, so that holding its records
/// (roughly 1.5x the file) would pass the limit twice over.
const OUTPUT_EVENTS: usize = 500_000;

#[test]
fn verify_and_report_of_a_big_journal_stay_under_64_mb() {
    let dir = tempfile::TempDir::new().expect("temp dir");
    let journal = dir.path().join("big.jsonl");
    let records = write_session(&journal, &plan(5, 8), OUTPUT_EVENTS);
    let size_kb = std::fs::metadata(&journal).expect("journal size").len() / 1024;
    assert!(size_kb > LIMIT_KB * 3 / 2, "the journal is only {size_kb} kB");

    let verify = run_measured(
        Command::new(env!("CARGO_BIN_EXE_runsheet"))
            .arg("verify")
            .arg(&journal)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(said.contains(&format!("verified: {records} events")), "{said}");

    let report_file = dir.path().join("report.json");
    let report = run_measured(
        Command::new(env!("CARGO_BIN_EXE_runsheet"))
            .arg("report")
            .arg(&journal)
            .arg("-o")
            .arg(&report_file)
            .stderr(Stdio::piped()),
    );
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_file).expect("the report")).expect("JSON");
    assert_eq!(json["integrity"]["verified"], true, "{}", json["integrity"]);
    assert_eq!(json["integrity"]["events"], records, "{}", json["integrity"]);

    println!(
        "journal {} MB: verify peak {:.1} MiB, report peak {:.1} MiB",
        size_kb / 1024,
        verify.peak_mib(),
        report.peak_mib()
    );
    for (what, m) in [("verify", &verify), ("report", &report)] {
        assert!(
            m.peak_kb < LIMIT_KB,
            "{what} peaked at {} kB on a {size_kb} kB journal (limit {LIMIT_KB} kB)",
            m.peak_kb
        );
    }
}

/// A runbook of one shell step printing `lines` short lines.
fn flood(lines: usize) -> Fixture {
    Fixture::new(&format!(
        "# Flood\n\n## Development\n\n### Execution\n\n1. Flood\n   ```sh\n   seq {lines}\n   ```\n"
    ))
}

#[test]
fn a_ten_million_line_step_keeps_headless_under_64_mb() {
    let fx = flood(10_000_000);
    let runbook = fx.runbook();
    let run = run_measured(
        fx.command(&["run", runbook.to_str().expect("path"), "--headless"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    println!("10M lines headless: peak {:.1} MiB", run.peak_mib());
    assert!(
        run.peak_kb < LIMIT_KB,
        "headless peaked at {} kB (limit {LIMIT_KB} kB)",
        run.peak_kb
    );
}

/// The step's processes: the children of `pid`, over all its threads.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn proc_file(pid: u32, name: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{name}")).unwrap_or_default()
}

/// Bytes a process has written so far.
fn written(pid: u32) -> u64 {
    proc_file(pid, "io")
        .lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_slow_stdout_slows_the_step_instead_of_filling_memory() {
    const LINES: usize = 5_000_000;
    // What `seq` writes in all: 38.9 MB.
    let total: u64 = (1..=LINES).map(|n| n.to_string().len() as u64 + 1).sum();
    let fx = flood(LINES);
    let runbook = fx.runbook();
    let mut child = fx
        .command(&["run", runbook.to_str().expect("path"), "--headless"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn runsheet");
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("stdout");

    // Nobody reads runsheet's stdout: the step's `seq` must end up waiting
    // on its own pipe, having written a small part of its output, and stay so.
    let producer = || {
        let mut family = children(pid);
        family.extend(family.clone().into_iter().flat_map(children));
        family.into_iter().find(|&c| proc_file(c, "comm").trim() == "seq")
    };
    let blocked = |seq: u32| proc_file(seq, "wchan").contains("pipe_write");
    // Blocked at the same byte for half a second: not a passing stall.
    let (mut seq, mut held, mut since) = (None, 0, Instant::now());
    let settled = wait_until(Duration::from_secs(60), || {
        let Some(p) = seq.or_else(producer) else {
            return false;
        };
        seq = Some(p);
        let now = written(p);
        if now != held || !blocked(p) {
            (held, since) = (now, Instant::now());
        }
        since.elapsed() > Duration::from_millis(500)
    });
    assert!(
        settled,
        "the step's producer never settled blocked on its pipe (it wrote {held} of {total} bytes)"
    );
    assert!(
        held < total / 4,
        "the producer wrote {held} of {total} bytes with nobody reading"
    );
    let stalled_kb = vm_hwm_kb(pid as i32);

    // Read it all now: the step goes on and the session completes.
    let mut printed = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => printed += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            Err(e) => panic!("read runsheet's stdout: {e}"),
        }
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    assert!(printed > LINES, "only {printed} lines printed");
    println!(
        "stalled stdout: seq blocked after {held} of {total} bytes; runsheet peak {:.1} MiB",
        stalled_kb as f64 / 1024.0
    );
    assert!(
        stalled_kb < LIMIT_KB,
        "runsheet held {stalled_kb} kB for a stalled stdout (limit {LIMIT_KB} kB)"
    );
}
