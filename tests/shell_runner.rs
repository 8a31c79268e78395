//! The shell step runner against real bash processes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

use runsheet::engine::shell::{ShellRequest, ShellResult, run_shell};
use runsheet::engine::{Halt, OutputLine, Stopper};
use runsheet::journal::event::{Outcome, Stream};
use tokio::sync::mpsc;

fn request(script: &str, cwd: &Path) -> ShellRequest {
    ShellRequest {
        script: script.to_string(),
        cwd: cwd.to_path_buf(),
        env: Vec::new(),
        state: None,
    }
}

/// Run to the end, collecting every output line.
async fn run(req: ShellRequest) -> (ShellResult, Vec<OutputLine>) {
    run_with(req, Stopper::new()).await
}

async fn run_with(req: ShellRequest, stop: Stopper) -> (ShellResult, Vec<OutputLine>) {
    let (tx, mut rx) = mpsc::channel(64);
    let collector = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line);
        }
        lines
    });
    let result = run_shell(req, stop, tx).await;
    (result, collector.await.expect("collector"))
}

fn texts(lines: &[OutputLine], stream: Stream) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.clone())
        .collect()
}

/// Poll `cond` every 20 ms until it holds or `limit` passes.
async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// A process is alive when it exists and is not a zombie waiting to be reaped.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// The pid a script wrote to `file`, waiting for it to appear.
async fn read_pid(file: &Path) -> i32 {
    let mut pid = None;
    let found = wait_for(Duration::from_secs(30), || {
        pid = std::fs::read_to_string(file)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        pid.is_some()
    })
    .await;
    assert!(found, "no pid in {}", file.display());
    pid.unwrap_or_default()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_are_kept_apart_and_in_order() {
    let dir = tempdir();
    let script = r#"for i in $(seq 1 10000); do echo "out $i"; echo "err $i" >&2; done"#;
    let (result, lines) = run(request(script, dir.path())).await;
    assert_eq!(result.outcome, Outcome::Succeeded, "{result:?}");
    assert_eq!(result.exit_code, Some(0));
    let want_out: Vec<String> = (1..=10000).map(|i| format!("out {i}")).collect();
    let want_err: Vec<String> = (1..=10000).map(|i| format!("err {i}")).collect();
    assert_eq!(texts(&lines, Stream::Stdout), want_out);
    assert_eq!(texts(&lines, Stream::Stderr), want_err);
    assert_eq!(result.tail.len(), 20);
    // The two pipes are read independently, so only each stream's own order is defined:
    // whichever ends last, its final line ends the tail.
    let last = result.tail.last().map(String::as_str);
    assert!(
        matches!(last, Some("out 10000" | "err 10000")),
        "{:?}",
        result.tail
    );
}

#[tokio::test]
async fn exit_codes_decide_the_outcome() {
    let dir = tempdir();
    let (ok, _) = run(request("echo fine; exit 0", dir.path())).await;
    assert_eq!(
        (ok.outcome, ok.exit_code, ok.error.clone()),
        (Outcome::Succeeded, Some(0), None)
    );
    assert_eq!(ok.tail, ["fine"]);

    let (failed, _) = run(request("echo oops >&2; exit 3", dir.path())).await;
    assert_eq!(failed.outcome, Outcome::Failed);
    assert_eq!(failed.exit_code, Some(3));
    assert_eq!(failed.error.as_deref(), Some("exited with status 3"));
    assert_eq!(failed.tail, ["oops"]);
}

#[tokio::test]
async fn death_by_signal_is_reported() {
    let dir = tempdir();
    let (result, _) = run(request("kill -9 $$", dir.path())).await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert_eq!(result.exit_code, None);
    assert_eq!(result.error.as_deref(), Some("killed by signal 9 (SIGKILL)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_kills_grandchildren_too() {
    let dir = tempdir();
    let pidfile = dir.path().join("pid");
    let req = request("sleep 1000 & echo $! > pid; wait", dir.path());
    let started = Instant::now();
    let (result, lines) = run_with(req, common::times_out_after(Duration::from_secs(2))).await;
    assert_eq!(result.outcome, Outcome::TimedOut, "{result:?}");
    assert!(
        result
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("timed out after 2s")),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert!(texts(&lines, Stream::Info).iter().any(|l| l.contains("SIGTERM")));
    let pid = read_pid(&pidfile).await;
    assert!(
        wait_for(Duration::from_secs(30), || !alive(pid)).await,
        "grandchild {pid} survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_ignoring_sigterm_get_sigkill() {
    let dir = tempdir();
    // An ignored signal stays ignored in children: both bash and sleep ignore SIGTERM.
    let req = request("trap '' TERM; sleep 1000 & echo $! > pid; wait", dir.path());
    let started = Instant::now();
    let (result, _) = run_with(req, common::times_out_after(Duration::from_secs(2))).await;
    assert_eq!(result.outcome, Outcome::TimedOut);
    assert!(
        result.error.as_deref().is_some_and(|e| e.contains("SIGKILL")),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let pid = read_pid(&dir.path().join("pid")).await;
    assert!(
        wait_for(Duration::from_secs(30), || !alive(pid)).await,
        "grandchild {pid} survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_whole_group() {
    let dir = tempdir();
    let req = request("sleep 1000 & echo $! > pid; echo started; wait", dir.path());
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = Stopper::new();
    let task = tokio::spawn(run_shell(req, cancel.clone(), tx));
    let first = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("output in time");
    assert_eq!(first.map(|l| l.text).as_deref(), Some("started"));
    let pid = read_pid(&dir.path().join("pid")).await;
    assert!(alive(pid));
    cancel.stop(Halt::Cancelled);
    let result = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("ends in time")
        .expect("task");
    assert_eq!(result.outcome, Outcome::Cancelled, "{result:?}");
    assert!(
        wait_for(Duration::from_secs(30), || !alive(pid)).await,
        "grandchild {pid} survived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_kills_the_group() {
    let dir = tempdir();
    let req = request("sleep 1000 & echo $! > pid; wait", dir.path());
    let (tx, _rx) = mpsc::channel(64);
    let task = tokio::spawn(run_shell(req, Stopper::new(), tx));
    let pid = read_pid(&dir.path().join("pid")).await;
    task.abort();
    let _ = task.await;
    assert!(
        wait_for(Duration::from_secs(30), || !alive(pid)).await,
        "grandchild {pid} survived"
    );
}

#[tokio::test]
async fn the_environment_is_passed() {
    let dir = tempdir();
    let mut req = request(
        r#"echo "[$RUNSHEET_TEST_GREETING]"; echo "${HOME:+home is set}""#,
        dir.path(),
    );
    req.env = vec![("RUNSHEET_TEST_GREETING".into(), "hello world".into())];
    let (result, lines) = run(req).await;
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert_eq!(texts(&lines, Stream::Stdout), ["[hello world]", "home is set"]);
}

#[tokio::test]
async fn the_working_directory_is_used() {
    let dir = tempdir();
    let (result, lines) = run(request("pwd -P", dir.path())).await;
    assert_eq!(result.outcome, Outcome::Succeeded);
    let want: PathBuf = dir.path().canonicalize().expect("canonical");
    assert_eq!(texts(&lines, Stream::Stdout), [want.display().to_string()]);
}

#[tokio::test]
async fn a_missing_working_directory_fails_clearly() {
    let dir = tempdir();
    let missing = dir.path().join("not-there");
    let (result, lines) = run(request("echo never", &missing)).await;
    assert_eq!(result.outcome, Outcome::Failed);
    let error = result.error.expect("an error");
    assert!(
        error.contains("working directory") && error.contains("not-there"),
        "{error}"
    );
    assert_eq!(texts(&lines, Stream::Error), [error]);
    assert!(texts(&lines, Stream::Stdout).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_process_holding_stdout_does_not_hang_the_step() {
    let dir = tempdir();
    // The background sleep inherits stdout and stderr: the pipes stay open after bash exits.
    let started = Instant::now();
    let (result, lines) = run(request("sleep 1000 & echo $! > pid; echo done", dir.path())).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(result.outcome, Outcome::Succeeded, "{result:?}");
    assert_eq!(texts(&lines, Stream::Stdout), ["done"]);
    assert!(
        texts(&lines, Stream::Info)
            .iter()
            .any(|l| l.contains("leaving processes behind")),
        "{lines:?}"
    );
    let pid = read_pid(&dir.path().join("pid")).await;
    assert!(
        wait_for(Duration::from_secs(30), || !alive(pid)).await,
        "background process {pid} survived"
    );
}

#[tokio::test]
async fn children_never_touch_the_terminal() {
    let dir = tempdir();
    let script = r#"
        if read -r line; then echo "read: $line"; else echo "stdin: eof"; fi
        if (: < /dev/tty) 2>/dev/null; then echo "tty: yes"; else echo "tty: none"; fi
        [ "$(ps -o pgid= $$ | tr -d ' ')" = "$$" ] && echo "own group"
    "#;
    let (result, lines) = run(request(script, dir.path())).await;
    assert_eq!(result.outcome, Outcome::Succeeded, "{lines:?}");
    assert_eq!(
        texts(&lines, Stream::Stdout),
        ["stdin: eof", "tty: none", "own group"]
    );
}

#[tokio::test]
async fn huge_lines_are_cut_and_output_is_lossy_utf8() {
    let dir = tempdir();
    let script = r"head -c 200000 /dev/zero | tr '\0' x; echo; printf 'bad \377 byte\n'; printf 'no newline'";
    let (result, lines) = run(request(script, dir.path())).await;
    assert_eq!(result.outcome, Outcome::Succeeded);
    let out = texts(&lines, Stream::Stdout);
    assert_eq!(
        out.len(),
        3,
        "{:?}",
        out.iter().map(|l| l.len()).collect::<Vec<_>>()
    );
    assert!(out[0].starts_with(&"x".repeat(64 * 1024)));
    assert!(
        out[0].ends_with("[line cut: 134464 more bytes not shown]"),
        "{}",
        &out[0][64 * 1024..]
    );
    assert_eq!(out[1], "bad \u{fffd} byte");
    assert_eq!(out[2], "no newline");
}

#[tokio::test]
async fn a_gone_receiver_does_not_stop_the_step() {
    let dir = tempdir();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let result = run_shell(request("seq 1 5000; exit 4", dir.path()), Stopper::new(), tx).await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert_eq!(result.exit_code, Some(4));
    assert_eq!(result.tail.last().map(String::as_str), Some("5000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_still_gets_every_line_after_the_script_exits() {
    let dir = tempdir();
    // The script exits at once with all its output still in the pipe; the reader
    // then needs several seconds, longer than the drain period after exit.
    let (tx, mut rx) = mpsc::channel::<OutputLine>(8);
    let reader = tokio::spawn(async move {
        let mut lines = Vec::new();
        while let Some(line) = rx.recv().await {
            lines.push(line.text);
            if lines.len() % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        lines
    });
    let started = Instant::now();
    let result = run_shell(request("seq 1 12000", dir.path()), Stopper::new(), tx).await;
    let lines = reader.await.expect("reader");
    assert_eq!(result.outcome, Outcome::Succeeded);
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the reader was not slow: {:?}",
        started.elapsed()
    );
    let want: Vec<String> = (1..=12000).map(|i| i.to_string()).collect();
    assert_eq!(lines, want);
}
