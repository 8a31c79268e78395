//! A journal deleted, replaced or cut while its session runs: the session
//! notices at its next durable write and stops with exit 3 instead of
//! completing into a file nobody reads.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::runsheet::{Fixture, text, wait_until};

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
