//! One signal story for every front end: SIGTERM, SIGINT and SIGHUP are
//! caught, never fatal. The front end detaches the session, which stops the
//! running step's process group and journals the step interrupted and the
//! session left resumable; then runsheet exits with [`Termination::exit_code`]
//! (128 + the signal's number, as a shell reports a death by that signal).

use std::sync::{Arc, OnceLock};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// A termination signal runsheet stops for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    Hangup,
    Interrupt,
    Terminate,
}

impl Termination {
    const ALL: [Termination; 3] = [
        Termination::Hangup,
        Termination::Interrupt,
        Termination::Terminate,
    ];

    fn kind(self) -> SignalKind {
        match self {
            Termination::Hangup => SignalKind::hangup(),
            Termination::Interrupt => SignalKind::interrupt(),
            Termination::Terminate => SignalKind::terminate(),
        }
    }

    fn number(self) -> u8 {
        match self {
            Termination::Hangup => 1,
            Termination::Interrupt => 2,
            Termination::Terminate => 15,
        }
    }

    /// The exit code of a session stopped by this signal: 129, 130, 143.
    pub fn exit_code(self) -> u8 {
        128 + self.number()
    }

    /// What happened, for the screen and the last line: `SIGTERM received`.
    pub fn received(self) -> &'static str {
        match self {
            Termination::Hangup => "SIGHUP received",
            Termination::Interrupt => "SIGINT received",
            Termination::Terminate => "SIGTERM received",
        }
    }
}

/// Termination signals as they arrive, and the first one, kept for the exit code.
pub struct Signals {
    rx: mpsc::Receiver<Termination>,
    first: Arc<OnceLock<Termination>>,
}

impl Signals {
    /// Catch the three signals from now on (in a tokio runtime). A signal
    /// whose handler cannot be installed keeps its default action.
    pub fn listen() -> Signals {
        let (tx, rx) = mpsc::channel(4);
        let first = Arc::new(OnceLock::new());
        for which in Termination::ALL {
            if let Ok(mut stream) = signal(which.kind()) {
                let (tx, first) = (tx.clone(), Arc::clone(&first));
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        let _ = first.set(which);
                        if tx.send(which).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
        Signals { rx, first }
    }

    /// Signals sent on a channel instead of caught: how a scripted front end
    /// (a test driving the checklist) is told to terminate.
    pub fn from_receiver(rx: mpsc::Receiver<Termination>) -> Signals {
        Signals {
            rx,
            first: Arc::new(OnceLock::new()),
        }
    }

    /// The next signal; never returns once every handler is gone.
    pub async fn recv(&mut self) -> Termination {
        match self.rx.recv().await {
            Some(which) => which,
            None => std::future::pending().await,
        }
    }

    /// A signal already caught, without waiting: how a loop that is never
    /// idle (a flood of output) still hears one at once.
    pub fn try_recv(&mut self) -> Option<Termination> {
        self.rx.try_recv().ok()
    }

    /// A handle that tells, later, which signal came first.
    pub fn first_handle(&self) -> FirstSignal {
        FirstSignal(Arc::clone(&self.first))
    }
}

/// Which termination signal came first, readable after [`Signals`] moved on.
#[derive(Debug, Clone)]
pub struct FirstSignal(Arc<OnceLock<Termination>>);

impl FirstSignal {
    pub fn get(&self) -> Option<Termination> {
        self.0.get().copied()
    }
}
