//! Driving the real `runsheet` binary from tests: a temp folder with a
//! runbook and a state dir, and condition waits with deadlines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use runsheet::journal::reader::{Integrity, read_journal};
use runsheet::session::SessionState;
use tempfile::TempDir;

/// A temp folder holding a runbook and a state dir.
pub struct Fixture {
    pub dir: TempDir,
}

impl Fixture {
    pub fn new(runbook: &str) -> Fixture {
        let dir = TempDir::new().expect("temp dir");
        std::fs::write(dir.path().join("runbook.md"), runbook).expect("write runbook");
        Fixture { dir }
    }

    pub fn runbook(&self) -> PathBuf {
        self.dir.path().join("runbook.md")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runsheet"));
        cmd.arg("--state-dir").arg(self.state_dir()).args(args);
        // A developer's NO_COLOR would change the HTML reports the tests read.
        cmd.env_remove("RUNSHEET_STATE_DIR")
            .env_remove("RUNSHEET_JOURNAL_URL")
            .env_remove("NO_COLOR")
            .env("RUNSHEET_OPERATOR", "tester")
            .stdin(Stdio::null());
        cmd
    }

    /// `runsheet run RUNBOOK --headless ARGS…`, waited for.
    pub fn run(&self, args: &[&str]) -> Output {
        self.headless(args).output().expect("run runsheet")
    }

    fn headless(&self, args: &[&str]) -> Command {
        let runbook = self.runbook();
        let mut all = vec!["run", runbook.to_str().expect("utf-8 path"), "--headless"];
        all.extend_from_slice(args);
        self.command(&all)
    }

    /// [`Fixture::run`] seated at `terminal`: another seat than the test's
    /// and than every other terminal's ([`super::pty::OtherTerminal`]).
    pub fn run_at(&self, args: &[&str], terminal: &super::pty::OtherTerminal) -> Output {
        terminal
            .seat(&mut self.headless(args))
            .output()
            .expect("run runsheet")
    }

    /// `runsheet run RUNBOOK --headless` started, its output discarded.
    pub fn spawn_headless(&self) -> std::process::Child {
        let runbook = self.runbook();
        self.command(&["run", runbook.to_str().expect("utf-8 path"), "--headless"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn runsheet")
    }

    /// `runsheet --state-dir … run RUNBOOK ARGS…` as the checklist, on a
    /// pseudo-terminal of `cols` x `rows`.
    pub fn checklist(&self, args: &[&str], cols: u16, rows: u16) -> super::pty::Tui {
        let (state, runbook) = (self.state_dir(), self.runbook());
        let mut all = vec![
            "--state-dir",
            state.to_str().expect("utf-8 path"),
            "run",
            runbook.to_str().expect("utf-8 path"),
        ];
        all.extend_from_slice(args);
        super::pty::Tui::spawn(&all, self.dir.path(), cols, rows)
    }

    /// The journal written last in the state dir.
    pub fn journal(&self) -> PathBuf {
        let sessions = self.state_dir().join("sessions");
        std::fs::read_dir(&sessions)
            .expect("sessions dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .unwrap_or_else(|| panic!("no journal in {}", sessions.display()))
    }

    /// The fold of the journal written last; its chain must verify.
    pub fn state(&self) -> SessionState {
        let read = read_journal(&self.journal()).expect("read journal");
        assert_eq!(read.integrity, Integrity::Verified);
        SessionState::from_records(&read.records).expect("fold")
    }
}

/// A runbook whose production requires a successful staging session of
/// the same runbook; `extra_production` adds to production's front matter.
pub fn gated_runbook(extra_production: &str) -> String {
    format!(
        r#"+++
title = "Gated"
[environments.staging]
[environments.production]
requires = ["staging"]
{extra_production}
+++
# Gated

## Staging

### Execution

1. Change staging
   ```sh
   echo "changing $RUNSHEET_ENV"
   ```

## Production

### Execution

1. Change production
   ```sh
   echo "changing $RUNSHEET_ENV"
   ```
"#
    )
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Poll until `cond` holds or the deadline passes.
pub fn wait_until(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

pub fn line_count(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}
