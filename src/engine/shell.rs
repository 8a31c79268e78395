//! Running a shell step.
//!
//! The script runs as `bash -c SCRIPT` rather than from a temporary file:
//! nothing is left on disk if runsheet dies mid-step, no file can hold a
//! secret the script mentions, and bash's messages say `line N` of the step
//! itself. The price is the kernel's limit on one argument (128 KiB), which is
//! checked up front with a clear message.
//!
//! Children never touch the terminal: stdin is `/dev/null`, stdout and stderr
//! are pipes read a buffer at a time and handed on as lines, and the child starts a new *session*
//! (`setsid`), so it is the leader of its own process group and has no
//! controlling terminal at all: a `sudo` or `ssh` password prompt fails at
//! once instead of stopping the step in the background or writing over the
//! TUI. The whole group is stopped (SIGTERM, then SIGKILL after a grace
//! period) when the engine stops the step (a cancel, its timeout), when the
//! script exits leaving background processes behind, and (SIGKILL) when the
//! future is dropped.

use std::collections::VecDeque;
use std::future::{Future, pending};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::{Halt, OutputLine, OutputSender, Stopper};
use crate::journal::event::{Outcome, Stream};

/// Longest output line kept; the rest of a longer line is counted, not kept.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// How many of the last output lines a result keeps (for verify observations).
pub const TAIL_LINES: usize = 20;
/// Lines handed on at a time (one read of a pipe may give many more).
const HAND_OVER_LINES: usize = 1_000;
/// Time between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long output is still read after the script exits (or is killed):
/// a background process may hold the pipes open indefinitely.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// The longest output is read after the step's processes ended, while it keeps coming.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// The kernel's limit on a single argument (MAX_ARG_STRLEN), terminating NUL included.
const MAX_SCRIPT_BYTES: usize = 128 * 1024 - 1;
/// How often the process group is checked while it is being stopped.
const POLL: Duration = Duration::from_millis(50);

/// What to run: `bash -c script` in `cwd`, with `env` added to runsheet's environment.
#[derive(Debug, Clone)]
pub struct ShellRequest {
    pub script: String,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    /// Given to the child as fd [`super::shell_state::STATE_FD`]: where the
    /// wrapped script reports its shell state ([`super::shell_state`]).
    pub state: Option<std::sync::Arc<std::fs::File>>,
}

/// How a shell step ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ShellResult {
    pub outcome: Outcome,
    /// The script's exit status, when it exited rather than died of a signal.
    pub exit_code: Option<i32>,
    /// One sentence saying why it did not succeed.
    pub error: Option<String>,
    /// The last (at most [`TAIL_LINES`]) stdout and stderr lines, in arrival order.
    pub tail: Vec<String>,
}

/// Run a shell step to its end, streaming its output to `out`.
///
/// `out` is bounded on purpose: a child flooding its output waits for the
/// reader. If the receiver is gone the step keeps running and its lines are
/// dropped. Never panics on any script.
pub async fn run_shell(req: ShellRequest, stop: Stopper, out: mpsc::Sender<OutputLine>) -> ShellResult {
    run_shell_to(req, stop, out).await
}

/// [`run_shell`] streaming to any [`OutputSender`]: the engine takes the
/// lines of each read of a pipe together.
pub async fn run_shell_to<O: OutputSender>(req: ShellRequest, stop: Stopper, out: O) -> ShellResult {
    let sink = Sink {
        out,
        tail: Mutex::new(VecDeque::new()),
        lines: AtomicUsize::new(0),
    };
    if let Err(error) = check(&req).await {
        return sink.failed(error).await;
    }
    if let Some(halt) = stop.halted() {
        return ShellResult {
            outcome: halt.outcome(),
            exit_code: None,
            error: Some(format!("{} before it started", halt.why())),
            tail: Vec::new(),
        };
    }
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(&req.script)
        .current_dir(&req.cwd)
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let state_fd = req.state.as_deref().map(std::os::fd::AsRawFd::as_raw_fd);
    // SAFETY: the closure runs in the forked child before exec and only calls
    // setsid(2) and dup2(2), which are async-signal-safe; it touches no memory
    // of the parent. `state_fd` stays open: `req` outlives the spawn.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if let Some(fd) = state_fd {
                super::shell_state::give_fd(fd)?;
            }
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return sink
                .failed(format!("cannot start bash in {}: {e}", req.cwd.display()))
                .await;
        }
    };
    let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) else {
        return sink.failed("bash started but has no process id".into()).await;
    };
    // From here on the group is killed whatever happens, even if this future is dropped.
    let group = GroupGuard {
        pgid: Pid::from_raw(pid),
    };
    stop.spawned(pid);
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let pumps = async {
        tokio::join!(
            pump(stdout, Stream::Stdout, &sink),
            pump(stderr, Stream::Stderr, &sink)
        )
    };
    let mut run = Supervisor {
        child,
        status: None,
        pumps: Box::pin(pumps),
        pumps_done: false,
    };

    let stopped = match run.advance(Until::Exited, None, Some(&stop)).await {
        // Without a deadline only the script's end or a stop wakes it.
        Wake::Done | Wake::Deadline => None,
        Wake::Stopped(halt) => Some((halt.outcome(), halt.why())),
    };
    let mut killed = false;
    if let Some((_, why)) = &stopped {
        sink.send(
            Stream::Info,
            format!("{why}: stopping the step's processes (SIGTERM)"),
        )
        .await;
        killed = stop_group(&mut run, &group, &sink).await;
    } else {
        // Background processes get a moment to finish by themselves, then they are stopped.
        let until = Instant::now().checked_add(DRAIN_AFTER_EXIT);
        run.advance(Until::Settled, until, Some(&stop)).await;
        if group.has_live_members() {
            let note = "the script exited leaving processes behind: stopping them (SIGTERM)";
            sink.send(Stream::Info, note.into()).await;
            stop_group(&mut run, &group, &sink).await;
        }
    }
    // Only a process that left the group can still hold the pipes open now.
    if drain(&mut run, &sink, stopped.is_none().then_some(&stop)).await != Wake::Done {
        let note = "output still open after the step's processes ended; stopped reading it";
        sink.send(Stream::Info, note.into()).await;
    }
    let status = run.status.take();
    drop(run);
    group.finish();

    let tail = sink
        .tail
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    let exit_code = status
        .as_ref()
        .and_then(|s| s.as_ref().ok())
        .and_then(ExitStatus::code);
    let (outcome, error) = match (stopped, status) {
        (Some((outcome, why)), _) => {
            let how = if killed {
                "SIGTERM, then SIGKILL"
            } else {
                "SIGTERM"
            };
            (
                outcome,
                Some(format!("{why}; its processes were stopped ({how})")),
            )
        }
        (None, Some(Ok(status))) => match (status.code(), status.signal()) {
            (Some(0), _) => (Outcome::Succeeded, None),
            (Some(code), _) => (Outcome::Failed, Some(format!("exited with status {code}"))),
            (None, Some(sig)) => (
                Outcome::Failed,
                Some(format!("killed by signal {sig}{}", signal_name(sig))),
            ),
            (None, None) => (Outcome::Failed, Some(format!("ended abnormally ({status})"))),
        },
        (None, Some(Err(e))) => (
            Outcome::Failed,
            Some(format!("lost track of the script's process: {e}")),
        ),
        (None, None) => (
            Outcome::Failed,
            Some("the script's process did not report how it ended".into()),
        ),
    };
    ShellResult {
        outcome,
        exit_code,
        error,
        tail,
    }
}

/// Refuse early, with a clear sentence, what would make the spawn fail obscurely.
async fn check(req: &ShellRequest) -> Result<(), String> {
    match tokio::fs::metadata(&req.cwd).await {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(format!(
                "the working directory {} is not a directory",
                req.cwd.display()
            ));
        }
        Err(e) => {
            return Err(format!(
                "the working directory {} is not usable: {e}",
                req.cwd.display()
            ));
        }
    }
    if req.script.len() > MAX_SCRIPT_BYTES {
        return Err(format!(
            "the script is {} KiB but bash -c accepts at most 128 KiB; put it in a file and run that file",
            req.script.len() / 1024
        ));
    }
    if req.script.contains('\0') {
        return Err("the script contains a NUL byte, which bash cannot be given".into());
    }
    Ok(())
}

fn signal_name(sig: i32) -> String {
    Signal::try_from(sig)
        .map(|s| format!(" ({})", s.as_str()))
        .unwrap_or_default()
}

/// Where output goes, and the tail kept for the result.
struct Sink<O> {
    out: O,
    tail: Mutex<VecDeque<String>>,
    /// How many stdout and stderr lines were read so far.
    lines: AtomicUsize,
}

impl<O: OutputSender> Sink<O> {
    fn lines_read(&self) -> usize {
        self.lines.load(Ordering::Relaxed)
    }

    async fn send(&self, stream: Stream, text: String) {
        self.send_lines(stream, vec![text]).await;
    }

    async fn send_lines(&self, stream: Stream, lines: Vec<String>) {
        let output = matches!(stream, Stream::Stdout | Stream::Stderr);
        // Only the lines that can end up in the tail are copied.
        if output && let Ok(mut tail) = self.tail.lock() {
            for text in &lines[lines.len().saturating_sub(TAIL_LINES)..] {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(text.clone());
            }
        }
        if output {
            self.lines.fetch_add(lines.len(), Ordering::Relaxed);
        }
        // A closed receiver only means nobody is watching: keep running.
        self.out.send_lines(stream, lines).await;
    }

    async fn failed(&self, error: String) -> ShellResult {
        self.send(Stream::Error, error.clone()).await;
        ShellResult {
            outcome: Outcome::Failed,
            exit_code: None,
            error: Some(error),
            tail: Vec::new(),
        }
    }
}

/// Stream one pipe to the sink (lossy UTF-8, long lines cut): every read
/// hands on the lines it completed, together.
async fn pump<O: OutputSender>(pipe: Option<impl AsyncRead + Unpin>, stream: Stream, sink: &Sink<O>) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::with_capacity(MAX_LINE_BYTES, pipe);
    let mut line = Vec::new();
    let mut cut = 0usize;
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(e) => {
                sink.send(Stream::Error, format!("cannot read the step's {stream:?}: {e}"))
                    .await;
                break;
            }
        };
        // Handed on a piece at a time as they are cut: no list of lines
        // grows (and is copied) beyond a piece, and a slow reader's progress
        // shows (see `drain`).
        let mut lines = Vec::with_capacity(HAND_OVER_LINES);
        let mut rest = buf;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let piece = &rest[..newline];
            if line.is_empty() && cut == 0 && piece.len() <= MAX_LINE_BYTES {
                // The whole line is in the buffer: one copy, into its string.
                let piece = piece.strip_suffix(b"\r").unwrap_or(piece);
                lines.push(text_of(piece));
            } else {
                keep_part(&mut line, &mut cut, piece);
                lines.push(take_line(&mut line, &mut cut));
            }
            rest = &rest[newline + 1..];
            if lines.len() == HAND_OVER_LINES {
                let full = std::mem::replace(&mut lines, Vec::with_capacity(HAND_OVER_LINES));
                sink.send_lines(stream, full).await;
            }
        }
        keep_part(&mut line, &mut cut, rest);
        let used = buf.len();
        reader.consume(used);
        if !lines.is_empty() {
            sink.send_lines(stream, lines).await;
        }
    }
    if !line.is_empty() || cut > 0 {
        sink.send(stream, take_line(&mut line, &mut cut)).await;
    }
}

/// A line's bytes as text, lossy: checked as UTF-8 first, which is much
/// cheaper than the lossy decoder for the valid text nearly all output is.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Add a piece of the current line, counting what is beyond [`MAX_LINE_BYTES`].
fn keep_part(line: &mut Vec<u8>, cut: &mut usize, piece: &[u8]) {
    let keep = piece.len().min(MAX_LINE_BYTES - line.len());
    line.extend_from_slice(&piece[..keep]);
    *cut += piece.len() - keep;
}

fn take_line(line: &mut Vec<u8>, cut: &mut usize) -> String {
    if line.last() == Some(&b'\r') && *cut == 0 {
        line.pop();
    }
    let mut text = text_of(line);
    if *cut > 0 {
        text.push_str(&format!(" … [line cut: {} more bytes not shown]", *cut));
    }
    line.clear();
    *cut = 0;
    text
}

/// The child, its exit status once known, and the output pumps.
struct Supervisor<'a> {
    child: Child,
    status: Option<std::io::Result<ExitStatus>>,
    pumps: Pin<Box<dyn Future<Output = ((), ())> + Send + 'a>>,
    pumps_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// The script has exited.
    Exited,
    /// The script has exited and both pipes are closed.
    Settled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Done,
    Deadline,
    Stopped(Halt),
}

impl Supervisor<'_> {
    fn reached(&self, until: Until) -> bool {
        self.status.is_some() && (until == Until::Exited || self.pumps_done)
    }

    /// Make progress (reap the child, read output) until `until`, the
    /// deadline (none: no limit), or the engine stops the step.
    async fn advance(&mut self, until: Until, deadline: Option<Instant>, stop: Option<&Stopper>) -> Wake {
        loop {
            if self.reached(until) {
                return Wake::Done;
            }
            tokio::select! {
                status = self.child.wait(), if self.status.is_none() => self.status = Some(status),
                _ = &mut self.pumps, if !self.pumps_done => self.pumps_done = true,
                () = sleep_or_never(deadline) => return Wake::Deadline,
                halt = stopped_or_never(stop) => return Wake::Stopped(halt),
            }
        }
    }
}

async fn sleep_or_never(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => pending().await,
    }
}

async fn stopped_or_never(stop: Option<&Stopper>) -> Halt {
    match stop {
        Some(stop) => stop.stopped().await,
        None => pending().await,
    }
}

/// Read the output that is left for as long as it keeps coming (a slow
/// reader may still be catching up), but not forever: a process outside the
/// group may hold the pipes open and keep writing.
async fn drain<O: OutputSender>(run: &mut Supervisor<'_>, sink: &Sink<O>, stop: Option<&Stopper>) -> Wake {
    let limit = Instant::now() + DRAIN_LIMIT;
    loop {
        let seen = sink.lines_read();
        let until = (Instant::now() + DRAIN_AFTER_EXIT).min(limit);
        match run.advance(Until::Settled, Some(until), stop).await {
            Wake::Deadline if sink.lines_read() > seen && Instant::now() < limit => {}
            wake => return wake,
        }
    }
}

/// SIGTERM the group, wait up to [`KILL_GRACE`] for it to empty (reading
/// output meanwhile), then SIGKILL what is left. Returns whether SIGKILL was needed.
async fn stop_group<O: OutputSender>(run: &mut Supervisor<'_>, group: &GroupGuard, sink: &Sink<O>) -> bool {
    group.signal(Signal::SIGTERM);
    let grace_end = Instant::now() + KILL_GRACE;
    loop {
        let tick = (Instant::now() + POLL).min(grace_end);
        if run.advance(Until::Settled, Some(tick), None).await == Wake::Done {
            sleep_until(tick).await;
        }
        if !group.has_live_members() {
            return false;
        }
        if Instant::now() >= grace_end {
            sink.send(
                Stream::Info,
                format!("still running {KILL_GRACE:?} after SIGTERM: sending SIGKILL"),
            )
            .await;
            group.signal(Signal::SIGKILL);
            return true;
        }
    }
}

/// The step's process group: SIGKILLed on drop unless [`GroupGuard::finish`] ran.
struct GroupGuard {
    pgid: Pid,
}

impl GroupGuard {
    fn signal(&self, signal: Signal) {
        // ESRCH (nobody left) is the good case; nothing else can be done about EPERM.
        let _ = killpg(self.pgid, signal);
    }

    /// Whether any process of the group is still running.
    fn has_live_members(&self) -> bool {
        super::group::has_live_members(self.pgid.as_raw())
    }

    /// The run is over: kill anything that is somehow left, and disarm.
    fn finish(self) {
        if self.has_live_members() {
            self.signal(Signal::SIGKILL);
        }
        std::mem::forget(self);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_say_so() {
        let mut line = b"abc\r".to_vec();
        let mut cut = 0;
        assert_eq!(take_line(&mut line, &mut cut), "abc");
        let mut line = vec![b'x'; 3];
        let mut cut = 10;
        assert_eq!(
            take_line(&mut line, &mut cut),
            "xxx … [line cut: 10 more bytes not shown]"
        );
        assert!(line.is_empty());
        assert_eq!(cut, 0);
        let mut line = vec![0xff, b'a'];
        assert_eq!(take_line(&mut line, &mut 0), "\u{fffd}a");
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(9), " (SIGKILL)");
        assert_eq!(signal_name(999), "");
    }
}
