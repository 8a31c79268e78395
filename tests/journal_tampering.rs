//! A journal deleted, replaced or cut while its session runs: the session
//! notices at its next durable write and stops with exit 3 instead of
//! completing into a file nobody reads; a completed journal ends with a
//! seal, and one whose tail is cut off afterwards is caught by its anchor.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::runsheet::{Fixture, text, wait_until};
use runsheet::journal::event::Event;

/// The first step waits for the test to say `go` (a file), so the journal
/// is tampered with while the session is mid-run.
const RUNBOOK: &str = "# Tamper\n\n## Development\n\n### Execution\n\n\
    1. Wait\n   ```sh\n   while [ ! -e go ]; do sleep 0.02; done\n   echo went\n   ```\n\
    2. Then\n   ```sh\n   echo then > then-ran\n   ```\n";

fn tamper(how: &str, journal: &std::path::Path) {
    let bytes = std::fs::read(journal).expect("read journal");
    let first_line = bytes.iter().position(|&b| b == b'\n').expect("a header line") + 1;
    match how {
        "deleted" => std::fs::remove_file(journal).expect("delete"),
        "replaced" => {
            let copy = journal.with_extension("new");
            std::fs::write(&copy, &bytes[..first_line]).expect("write copy");
            std::fs::rename(&copy, journal).expect("replace");
        }
        "truncated" => std::fs::OpenOptions::new()
            .write(true)
            .open(journal)
            .and_then(|f| f.set_len(first_line as u64))
            .expect("truncate"),
        other => unreachable!("{other}"),
    }
}

#[test]
fn a_journal_deleted_replaced_or_truncated_mid_run_stops_the_session_with_exit_3() {
    for how in ["deleted", "replaced", "truncated"] {
        let fx = Fixture::new(RUNBOOK);
        let child = fx
            .command(&["run", fx.runbook().to_str().expect("path"), "--headless"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let sessions = fx.state_dir().join("sessions");
        let running = wait_until(Duration::from_secs(30), || {
            std::fs::read_dir(&sessions).is_ok_and(|d| {
                d.flatten().any(|e| {
                    e.path().extension().is_some_and(|x| x == "jsonl")
                        && std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("\"step_process\""))
                })
            })
        });
        assert!(running, "{how}: the first step never started");
        tamper(how, &fx.journal());
        std::fs::write(fx.dir.path().join("go"), "").expect("go");
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(3), "{how}: {}", text(&out));
        let said = match how {
            "replaced" => "was replaced by another file",
            "deleted" => "was deleted",
            _ => "was truncated",
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{how}: said on stderr: {}", text(&out));
        assert!(
            !fx.dir.path().join("then-ran").exists(),
            "{how}: the session went on"
        );
    }
}

/// Two quick steps: a session that completes at once.
const QUICK: &str = "# Sealed\n\n## Development\n\n### Execution\n\n\
    1. One\n   ```sh\n   echo one\n   ```\n\
    2. Two\n   ```sh\n   echo two\n   ```\n";

/// `runsheet verify ID` (the id, since a deleted journal has no path left).
fn verify(fx: &Fixture, id: &str) -> std::process::Output {
    fx.command(&["verify", id]).output().expect("verify")
}

#[test]
fn a_completed_journal_ends_with_a_seal_that_verify_reports() {
    let fx = Fixture::new(QUICK);
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let read = runsheet::journal::reader::read_journal(&fx.journal()).expect("read");
    let n = read.records.len();
    let sealed = &read.records[n - 2];
    match &read.records[n - 1].event {
        Event::Seal { sealed_seq, .. } => {
            assert_eq!(*sealed_seq, sealed.seq, "the seal names the line before it")
        }
        other => panic!("the last event is {other:?}, not a seal"),
    }
    assert!(matches!(sealed.event, Event::SessionEnded { .. }));
    let id = fx.state().header.session_id;
    let out = verify(&fx, &id);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(", sealed"), "{}", text(&out));
}

#[test]
fn an_old_journal_without_seal_or_anchor_still_verifies_as_not_sealed() {
    let fx = Fixture::new(QUICK);
    assert_eq!(fx.run(&[]).status.code(), Some(0));
    let journal = fx.journal();
    let id = fx.state().header.session_id;
    // What an older runsheet left: no seal line, no anchor file.
    let bytes = std::fs::read(&journal).expect("read");
    let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
    std::fs::write(&journal, lines[..lines.len() - 1].concat()).expect("write");
    std::fs::remove_file(journal.with_extension("anchor")).expect("remove anchor");
    let out = verify(&fx, &id);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("not sealed"), "{}", text(&out));
}

#[test]
fn a_completed_journal_cut_short_deleted_or_replaced_by_its_first_lines_is_detected() {
    for how in ["truncated", "deleted", "first lines"] {
        let fx = Fixture::new(QUICK);
        let out = fx.run(&[]);
        assert_eq!(out.status.code(), Some(0), "{how}: {}", text(&out));
        let journal = fx.journal();
        let id = fx.state().header.session_id;
        let bytes = std::fs::read(&journal).expect("read");
        let lines: Vec<&[u8]> = bytes.split_inclusive(|&b| b == b'\n').collect();
        match how {
            "truncated" => {
                let kept = lines[..lines.len() - 3].concat();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&journal)
                    .and_then(|f| f.set_len(kept.len() as u64))
                    .expect("truncate");
            }
            "deleted" => std::fs::remove_file(&journal).expect("delete"),
            _ => {
                let copy = journal.with_extension("new");
                std::fs::write(&copy, lines[..3].concat()).expect("write copy");
                std::fs::rename(&copy, &journal).expect("replace");
            }
        }
        let out = verify(&fx, &id);
        assert_eq!(out.status.code(), Some(3), "{how}: {}", text(&out));
        let said = if how == "deleted" { "is missing" } else { "cut off" };
        assert!(text(&out).contains(said), "{how}: {}", text(&out));
        let listed = fx.command(&["sessions"]).output().expect("sessions");
        let marked = if how == "deleted" { "is missing" } else { "CUT OFF" };
        assert!(
            text(&listed).contains(marked),
            "{how}: sessions: {}",
            text(&listed)
        );
        if how == "truncated" {
            let resumed = fx.run(&["--resume", &id]);
            assert_eq!(resumed.status.code(), Some(3), "resume: {}", text(&resumed));
            assert!(text(&resumed).contains("cut off"), "resume: {}", text(&resumed));
            let report = fx.dir.path().join("report.md");
            let reported = fx
                .command(&["report", &id, "--output", report.to_str().expect("path")])
                .output()
                .expect("report");
            assert_eq!(reported.status.code(), Some(3), "report: {}", text(&reported));
            let written = std::fs::read_to_string(&report).expect("the report is still written");
            assert!(written.contains("cut off"), "report: {written}");
        }
    }
}
