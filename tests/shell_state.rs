//! Shell state carried from one shell step to the next, end to end: the real
//! binary, real bash, a real journal; a SIGKILL and a resume in the middle.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::runsheet::{Fixture, text, wait_until};
use runsheet::journal::event::{Event, SessionOutcome, ShellState, Stream};
use runsheet::session::{SessionState, StepStatus};

/// Every stdout line of `step`, in order, from the journal.
fn stdout_of(fx: &Fixture, step: &str) -> Vec<String> {
    lines_of(fx, step, Stream::Stdout)
}

fn lines_of(fx: &Fixture, step: &str, which: Stream) -> Vec<String> {
    let read = runsheet::journal::reader::read_journal(&fx.journal()).expect("read journal");
    read.records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Output {
                step: s,
                stream,
                lines,
                ..
            } if s == step && *stream == which => Some(lines.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The `shell_state` events of the journal, in order.
fn shell_states(fx: &Fixture) -> Vec<(String, ShellState)> {
    let read = runsheet::journal::reader::read_journal(&fx.journal()).expect("read journal");
    read.records
        .iter()
        .filter_map(|r| match &r.event {
            Event::ShellState { step, state, .. } => Some((step.clone(), state.clone())),
            _ => None,
        })
        .collect()
}

fn completed(state: &SessionState) -> bool {
    state.outcome.as_ref().map(|o| o.0) == Some(SessionOutcome::Completed)
}

/// Exports (with newlines and quotes) and `cd` reach the next steps; an
/// `{isolated}` step sees none of them and leaves nothing behind.
#[test]
fn exports_and_the_directory_carry_and_an_isolated_step_does_not_leak() {
    let fx = Fixture::new(
        r#"# Carry

1. Go to the release
   ```sh
   mkdir -p releases/42
   export RELEASE="42
   with \"quotes\" and 'these'"
   cd releases/42
   ```
2. A side job
   ```sh {isolated}
   echo "isolated: RELEASE=${RELEASE-unset} dir=$(basename "$PWD")"
   export LEAK=1
   cd /
   ```
3. Use it
   ```bash
   echo "dir=$(basename "$PWD") LEAK=${LEAK-none}"
   printf '%s\n' "$RELEASE"
   export STAGE=two
   ```
4. Still there
   ```sh
   echo "dir=$(basename "$PWD") stage=$STAGE"
   ```
"#,
    );
    let out = fx.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout_of(&fx, "steps.2"),
        [format!("isolated: RELEASE=unset dir={}", root_name(&fx))]
    );
    assert_eq!(
        stdout_of(&fx, "steps.3"),
        ["dir=42 LEAK=none", "42", "with \"quotes\" and 'these'"]
    );
    assert_eq!(stdout_of(&fx, "steps.4"), ["dir=42 stage=two"]);

    let states = shell_states(&fx);
    let steps: Vec<&str> = states.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        steps,
        ["steps.1", "steps.3"],
        "the isolated step journals nothing"
    );
    let last = &states[1].1;
    let release = fx.dir.path().join("releases/42");
    assert_eq!(last.cwd.as_deref(), release.to_str());
    assert_eq!(last.vars["RELEASE"], "42\nwith \"quotes\" and 'these'");
    assert_eq!(last.vars["STAGE"], "two");
    assert!(!last.vars.contains_key("LEAK"));
    // The log stays clean: no line of the wrapper's reports.
    for step in ["steps.1", "steps.3", "steps.4"] {
        let all = [
            lines_of(&fx, step, Stream::Stdout),
            lines_of(&fx, step, Stream::Stderr),
        ]
        .concat();
        assert!(all.iter().all(|l| !l.contains("runsheet:")), "{step}: {all:?}");
    }
    let state = fx.state();
    assert!(completed(&state));
    assert_eq!(state.shell.from.as_deref(), Some("steps.3"));
}

/// The folder the runbook is in, by name (what `basename "$PWD"` prints).
fn root_name(fx: &Fixture) -> String {
    fx.dir
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a temp dir name")
        .to_string()
}

/// A failed step's changes do not carry: after it is skipped, the next step
/// runs where the last successful one left off.
#[test]
fn a_failed_step_leaves_nothing_behind() {
    let fx = Fixture::new(
        r#"# Fails

1. Set it
   ```sh
   export GOOD=yes
   ```
2. Half done
   ```sh
   export BAD=1
   cd /
   false
   ```
3. After
   ```sh
   echo "GOOD=$GOOD BAD=${BAD-unset} dir=$(basename "$PWD")"
   ```
"#,
    );
    let out = fx.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let id = fx.state().header.session_id.clone();
    let out = fx.run(&["--resume", &id, "--skip", "steps.2=it failed"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout_of(&fx, "steps.3"),
        [format!("GOOD=yes BAD=unset dir={}", root_name(&fx))]
    );
    assert_eq!(shell_states(&fx).len(), 1);
}

/// A variable whose name looks secret, or whose value holds a password, is
/// carried in memory but never written to the journal; its value is masked
/// in the log.
#[test]
fn secret_variables_are_carried_but_never_journaled() {
    let fx = Fixture::new(
        r#"# Secrets

1. Log in
   ```sh
   export DB_PASSWORD="pw-$(printf '%s' 8c1f3e)"
   export SERVICE_URL="postgres://app:$(printf 'zq%s' 91x)@db.internal/app"
   export REGION=eu-west-1
   ```
2. Use them
   ```sh
   echo "password is $DB_PASSWORD, ${#DB_PASSWORD} characters"
   echo "url of ${#SERVICE_URL} characters"
   echo "region $REGION"
   ```
"#,
    );
    let out = fx.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    let journal = std::fs::read_to_string(fx.journal()).expect("journal");
    assert!(!journal.contains("pw-8c1f3e"), "the password reached the journal");
    assert!(
        !journal.contains("zq91x"),
        "the URL's password reached the journal"
    );
    let states = shell_states(&fx);
    assert_eq!(states.len(), 1);
    let state = &states[0].1;
    assert_eq!(
        state.withheld.iter().collect::<Vec<_>>(),
        ["DB_PASSWORD", "SERVICE_URL"]
    );
    assert_eq!(state.vars.keys().collect::<Vec<_>>(), ["REGION"]);
    assert_eq!(
        stdout_of(&fx, "steps.2"),
        [
            "password is ***, 9 characters",
            "url of 36 characters",
            "region eu-west-1"
        ]
    );
}

/// `export` and `cd` carry across three shell steps through a SIGKILL of
/// runsheet in the middle of the third: the resumed session gives its retry
/// and the step after it what steps 1 and 2 left (from the journal), and a
/// secret that was withheld is named as not restored.
#[test]
fn carried_state_survives_sigkill_and_resume() {
    let fx = Fixture::new(
        r#"# Crash

1. First
   ```sh
   mkdir -p a/b
   export X=one
   export API_TOKEN="t-$(printf '%s' 5e7d1c)"
   cd a
   ```
2. Second
   ```sh
   export X="$X two"
   cd b
   ```
3. Third, killed once
   ```sh
   export X="$X three"
   echo "third: X=$X dir=$(basename "$PWD") token=${API_TOKEN-missing}"
   if [ ! -e ../../killed-once ]; then
     echo "$$" > ../../pgid
     touch ../../killed-once
     sleep 60
   fi
   ```
4. Fourth
   ```sh
   echo "fourth: X=$X dir=$(basename "$PWD")"
   ```
"#,
    );
    let runbook = fx.runbook().to_str().expect("utf-8 path").to_string();
    let mut child = fx
        .command(&["run", &runbook, "--headless"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn runsheet");
    let pgid_file = fx.dir.path().join("pgid");
    let read_pgid = || {
        std::fs::read_to_string(&pgid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
    };
    assert!(
        wait_until(Duration::from_secs(30), || read_pgid().is_some()),
        "step 3 never started its sleep"
    );
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(fx.journal())
            .is_ok_and(|j| j.contains("X=one two three"))),
        "step 3's output never reached the journal"
    );
    child.kill().expect("SIGKILL runsheet");
    child.wait().expect("reap runsheet");
    // runsheet died without stopping the step; its process group is ours to end.
    let pgid = read_pgid().expect("pgid");
    // SAFETY: a plain kill(2) of the step's process group, which this test made run.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };

    let state = fx.state();
    assert_eq!(state.step("steps.3").status(), StepStatus::Running);
    assert_eq!(state.shell.from.as_deref(), Some("steps.2"));
    let id = state.header.session_id.clone();

    let out = fx.run(&["--resume", &id, "--retry", "steps.3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout_of(&fx, "steps.3"),
        [
            "third: X=one two three dir=b token=***",
            "third: X=one two three dir=b token=missing",
        ]
    );
    let notes = lines_of(&fx, "steps.3", Stream::Info);
    assert!(
        notes
            .iter()
            .any(|l| l.contains("API_TOKEN") && l.contains("not restored after the resume")),
        "{notes:?}"
    );
    assert_eq!(stdout_of(&fx, "steps.4"), ["fourth: X=one two three dir=b"]);
    let state = fx.state();
    assert!(completed(&state));
    let b = fx.dir.path().join("a/b");
    assert_eq!(state.shell.state.cwd.as_deref(), b.to_str());
    assert_eq!(state.shell.state.vars["X"], "one two three");
    let journal = std::fs::read_to_string(fx.journal()).expect("journal");
    assert!(!journal.contains("t-5e7d1c"));
}

/// A script's own EXIT trap and `set -euo pipefail` do not stop its state
/// from carrying; one that `exec`s another program carries nothing and its
/// log says why.
#[test]
fn own_traps_still_carry_and_exec_carries_nothing() {
    let fx = Fixture::new(
        r#"# Traps

1. Strict, with a cleanup trap
   ```sh
   set -euo pipefail
   trap 'echo cleanup' EXIT
   ( exit 0 )
   export A=1
   ```
2. Hands over to another program
   ```sh
   export B=2
   exec true
   ```
3. Check
   ```sh
   echo "A=${A-unset} B=${B-unset}"
   ```
"#,
    );
    let out = fx.run(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout_of(&fx, "steps.1"), ["cleanup"]);
    let notes = lines_of(&fx, "steps.2", Stream::Info);
    assert!(
        notes
            .iter()
            .any(|l| l.contains("exec'd another program") && l.contains("nothing carries")),
        "{notes:?}"
    );
    assert_eq!(stdout_of(&fx, "steps.3"), ["A=1 B=unset"]);
}
