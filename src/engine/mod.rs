//! The engine: the thin driver around the session core, and the runners
//! that run steps (shell, SQL).

pub mod group;
pub mod inbox;
pub mod locks;
pub mod runner;
pub mod shell;
pub mod shell_state;
pub mod sql;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::journal::event::{Outcome, Stream};
use crate::runbook::duration::format_duration;

/// One line of a step's output, as the step runners stream it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    pub stream: Stream,
    pub text: String,
}

/// Lines of one stream, as many as one read of a pipe gave: how the engine
/// takes output, so a flood costs one hand-over per read, not per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: Stream,
    pub lines: Vec<String>,
}

/// Where a runner streams its output. Bounded channels on purpose
/// (back-pressure); a closed receiver only means nobody is watching, and
/// the lines are dropped.
pub trait OutputSender: Clone + Send + Sync + 'static {
    fn send_lines(&self, stream: Stream, lines: Vec<String>) -> impl Future<Output = ()> + Send;
}

/// Line by line, for callers that look at each line.
impl OutputSender for mpsc::Sender<OutputLine> {
    async fn send_lines(&self, stream: Stream, lines: Vec<String>) {
        for text in lines {
            if self.send(OutputLine { stream, text }).await.is_err() {
                return;
            }
        }
    }
}

/// In chunks, for the engine.
impl OutputSender for mpsc::Sender<OutputChunk> {
    async fn send_lines(&self, stream: Stream, lines: Vec<String>) {
        let _ = self.send(OutputChunk { stream, lines }).await;
    }
}

/// Why a runner is asked to stop its step: the runner stops the step's
/// processes (or its statement) and reports this as the attempt's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    Cancelled,
    /// The step ran for its whole timeout.
    TimedOut(Duration),
}

impl Halt {
    pub fn outcome(self) -> Outcome {
        match self {
            Halt::Cancelled => Outcome::Cancelled,
            Halt::TimedOut(_) => Outcome::TimedOut,
        }
    }

    /// Why, in a few words: `cancelled`, `timed out after 30m`.
    pub fn why(self) -> String {
        match self {
            Halt::Cancelled => "cancelled".to_string(),
            Halt::TimedOut(after) => format!("timed out after {}", format_duration(after)),
        }
    }
}

/// How the engine stops a running step: the first halt given counts. The
/// runner also says through it which process group the step runs in, for
/// the journal.
#[derive(Debug, Clone, Default)]
pub struct Stopper {
    token: CancellationToken,
    halt: Arc<OnceLock<Halt>>,
    group: Arc<OnceLock<i32>>,
    spawned: Arc<Notify>,
}

impl Stopper {
    pub fn new() -> Stopper {
        Stopper::default()
    }

    /// Ask the runner to stop, for this reason (a later reason changes nothing).
    pub fn stop(&self, halt: Halt) {
        let _ = self.halt.set(halt);
        self.token.cancel();
    }

    /// The halt given, if one was.
    pub fn halted(&self) -> Option<Halt> {
        self.token.is_cancelled().then(|| self.reason())
    }

    /// Wait until a halt is given.
    pub async fn stopped(&self) -> Halt {
        self.token.cancelled().await;
        self.reason()
    }

    /// The runner started the step's process group `pgid`.
    pub fn spawned(&self, pgid: i32) {
        if self.group.set(pgid).is_ok() {
            self.spawned.notify_one();
        }
    }

    /// Wait until the runner says which process group the step runs in
    /// (never, for a step without processes).
    pub async fn process_group(&self) -> i32 {
        loop {
            if let Some(pgid) = self.group.get() {
                return *pgid;
            }
            self.spawned.notified().await;
        }
    }

    fn reason(&self) -> Halt {
        self.halt.get().copied().unwrap_or(Halt::Cancelled)
    }
}
