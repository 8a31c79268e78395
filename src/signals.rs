//! One signal story for every front end: SIGTERM, SIGINT and SIGHUP are
//! caught, never fatal.
//!
//! - SIGTERM and SIGINT stop the session: the front end detaches it, which
//!   stops the running step's process group and journals the step
//!   interrupted and the session left resumable; then runsheet exits with
//!   [`Caught::exit_code`] (128 + the signal's number, as a shell reports a
//!   death by that signal).
//! - SIGHUP says the terminal went away (a closed window, a dropped SSH
//!   connection): nothing is stopped. The driver journals that its terminal
//!   is gone, points its standard streams that were the terminal at
//!   `/dev/null` ([`abandon_terminal`]) and goes on without a screen; a
//!   terminal attached over the control socket can take its seat.

use std::sync::{Arc, OnceLock};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// A signal runsheet catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caught {
    /// The terminal went away: go on without it.
    Hangup,
    Interrupt,
    Terminate,
}

impl Caught {
    const ALL: [Caught; 3] = [Caught::Hangup, Caught::Interrupt, Caught::Terminate];

    fn kind(self) -> SignalKind {
        match self {
            Caught::Hangup => SignalKind::hangup(),
            Caught::Interrupt => SignalKind::interrupt(),
            Caught::Terminate => SignalKind::terminate(),
        }
    }

    fn number(self) -> u8 {
        match self {
            Caught::Hangup => 1,
            Caught::Interrupt => 2,
            Caught::Terminate => 15,
        }
    }

    /// True for the signals that stop the session (SIGTERM, SIGINT); a
    /// hangup only takes the terminal away.
    pub fn stops(self) -> bool {
        self != Caught::Hangup
    }

    /// The exit code of a session stopped by this signal: 130, 143.
    pub fn exit_code(self) -> u8 {
        128 + self.number()
    }

    /// What happened, for the screen and the last line: `SIGTERM received`.
    pub fn received(self) -> &'static str {
        match self {
            Caught::Hangup => "SIGHUP received",
            Caught::Interrupt => "SIGINT received",
            Caught::Terminate => "SIGTERM received",
        }
    }
}

/// Signals as they arrive, and the first one that stops the session, kept for the exit code.
pub struct Signals {
    rx: mpsc::Receiver<Caught>,
    first: Arc<OnceLock<Caught>>,
}

impl Signals {
    /// Catch the three signals from now on (in a tokio runtime). A signal
    /// whose handler cannot be installed keeps its default action.
    pub fn listen() -> Signals {
        let (tx, rx) = mpsc::channel(4);
        let first = Arc::new(OnceLock::new());
        for which in Caught::ALL {
            if let Ok(mut stream) = signal(which.kind()) {
                let (tx, first) = (tx.clone(), Arc::clone(&first));
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        if which.stops() {
                            let _ = first.set(which);
                        }
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
    pub fn from_receiver(rx: mpsc::Receiver<Caught>) -> Signals {
        Signals {
            rx,
            first: Arc::new(OnceLock::new()),
        }
    }

    /// The next signal; never returns once every handler is gone.
    pub async fn recv(&mut self) -> Caught {
        match self.rx.recv().await {
            Some(which) => which,
            None => std::future::pending().await,
        }
    }

    /// A signal already caught, without waiting: how a loop that is never
    /// idle (a flood of output) still hears one at once.
    pub fn try_recv(&mut self) -> Option<Caught> {
        self.rx.try_recv().ok()
    }

    /// A handle that tells, later, which stopping signal came first.
    pub fn first_handle(&self) -> FirstSignal {
        FirstSignal(Arc::clone(&self.first))
    }
}

/// Which stopping signal came first, readable after [`Signals`] moved on.
#[derive(Debug, Clone)]
pub struct FirstSignal(Arc<OnceLock<Caught>>);

impl FirstSignal {
    pub fn get(&self) -> Option<Caught> {
        self.0.get().copied()
    }
}

/// The terminal is gone: standard output and error that were a terminal
/// now write to `/dev/null`, so what this process still says (a last line,
/// a warning) neither fails on the dead terminal (EIO) nor stops it.
/// Standard input that was a terminal becomes an empty pipe that never
/// ends: a terminal reader still polling it (crossterm's) finds nothing to
/// read, instead of spinning on the hung-up terminal's endless end of
/// file. Streams redirected to files or pipes are kept.
pub fn abandon_terminal() {
    use std::os::fd::{AsFd, AsRawFd, IntoRawFd};
    let is_terminal = |fd: std::os::fd::BorrowedFd<'_>| {
        nix::sys::stat::fstat(fd).is_ok_and(|st| {
            let null = nix::sys::stat::stat("/dev/null").map(|n| n.st_rdev).ok();
            st.st_mode & nix::libc::S_IFMT == nix::libc::S_IFCHR && Some(st.st_rdev) != null
        })
    };
    let replace = |fd: i32, with: i32| {
        // SAFETY: dup2 onto a standard stream's number; both descriptors are open.
        unsafe {
            nix::libc::dup2(with, fd);
        }
    };
    if is_terminal(std::io::stdin().as_fd())
        && let Ok((read, write)) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC)
    {
        replace(0, read.as_raw_fd());
        // Kept open for the process's life: the pipe never reaches its end.
        let _ = write.into_raw_fd();
    }
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    for (fd, stream) in [(1, std::io::stdout().as_fd()), (2, std::io::stderr().as_fd())] {
        if is_terminal(stream) {
            replace(fd, null.as_raw_fd());
        }
    }
}
