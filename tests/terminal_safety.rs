//! What runsheet writes to a terminal passes one sanitiser: a step's
//! escape sequences (clipboard writes, window titles, clearing the screen)
//! and hostile names never reach it, and no name's length can panic.

mod common;

use common::runsheet::{Fixture, text};

const RUNBOOK: &str = "# Escapes\n\n## Development\n\n### Execution\n\n\
    1. Misbehave\n   ```sh\n   printf 'clip \\033]52;c;aGVsbG8=\\a title \\033]0;pwned\\007 clear \\033[2J\\033[H bell \\a done\\n'\n   \
    printf 'stderr \\033[31mred\\033[0m\\n' >&2\n   ```\n";

fn assert_clean(what: &str, bytes: &[u8]) {
    let bad: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|&b| b == 0x1b || b == 0x07 || b == 0x9b)
        .collect();
    assert!(
        bad.is_empty(),
        "{what} holds control bytes {bad:?}: {}",
        String::from_utf8_lossy(bytes)
    );
}

#[test]
fn a_steps_escape_sequences_never_reach_the_headless_output() {
    let fx = Fixture::new(RUNBOOK);
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_clean("stdout", &out.stdout);
    assert_clean("stderr", &out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("clip  title  clear  bell"), "{stdout}");
    assert!(stdout.contains("stderr red"), "{stdout}");
}

#[test]
fn sessions_lists_hostile_and_huge_names_without_panicking() {
    let fx = Fixture::new(RUNBOOK);
    let huge = format!("\u{1b}]0;owned\u{7}{}", "x".repeat(70_000));
    let out = fx.run(&["--operator", &huge]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_clean("run stdout", &out.stdout);
    let listed = fx.command(&["sessions"]).output().expect("sessions");
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed));
    assert_clean("sessions", &listed.stdout);
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(stdout.starts_with("ID "), "{stdout}");
    assert!(stdout.contains("xxxxxxxx"), "{stdout}");
}
