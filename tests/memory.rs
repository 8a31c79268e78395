//! Memory bounds of the reviewer's commands: `runsheet verify` and
//! `runsheet report` stream the journal, so their peak resident memory stays
//! under a fixed limit for a journal several times that size. A memory
//! bound, not a timing: the figure is the kernel's peak RSS of the child.

mod common;

use std::process::{Command, Stdio};

use common::journals::{plan, write_session};
use common::peak::run_measured;

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
