//! The engine's inbox: every command arrives with who gave it from which
//! seat ([`Origin`]), whatever front end or transport brought it (the
//! checklist and headless of the driver's own process, the commands rows
//! of attached terminals, a control socket). The engine records that
//! origin on every event the command causes and stamps the seat on
//! signatures before the rules decide, so no front end can sign for
//! another seat.

use tokio::sync::{mpsc, oneshot};

use crate::seat::Origin;
use crate::session::{Command, Refusal};

/// How many commands may wait for the engine.
const QUEUED: usize = 64;

/// What the rules made of a command: accepted, or refused and why.
pub type Verdict = Result<(), Refusal>;

/// A command as the engine receives it.
#[derive(Debug)]
pub struct Envelope {
    pub command: Command,
    pub origin: Origin,
    /// Where the verdict goes, for a sender that waits for it (an attached
    /// terminal's command is settled with it). Without one, a refusal goes
    /// to the front ends as [`crate::session::Update::Refused`].
    pub reply: Option<oneshot::Sender<Verdict>>,
}

/// A front end's way into the engine: the commands it sends carry its origin.
#[derive(Debug, Clone)]
pub struct Inbox {
    tx: mpsc::Sender<Envelope>,
    origin: Origin,
}

/// The engine stopped: nothing more is received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Inbox {
    /// A new inbox whose commands come from `origin`, and its receiving end for the engine.
    pub fn channel(origin: Origin) -> (Inbox, mpsc::Receiver<Envelope>) {
        let (tx, rx) = mpsc::channel(QUEUED);
        (Inbox { tx, origin }, rx)
    }

    fn envelope(&self, command: Command) -> Envelope {
        Envelope {
            command,
            origin: self.origin.clone(),
            reply: None,
        }
    }

    /// Send `command`, waiting for room.
    pub async fn send(&self, command: Command) -> Result<(), Closed> {
        self.tx.send(self.envelope(command)).await.map_err(|_| Closed)
    }

    /// Send `command` if there is room now; otherwise it comes back.
    pub fn try_send(&self, command: Command) -> Result<(), Box<mpsc::error::TrySendError<Command>>> {
        self.tx.try_send(self.envelope(command)).map_err(|e| {
            Box::new(match e {
                mpsc::error::TrySendError::Full(e) => mpsc::error::TrySendError::Full(e.command),
                mpsc::error::TrySendError::Closed(e) => mpsc::error::TrySendError::Closed(e.command),
            })
        })
    }

    /// A handle that does not keep the engine's inbox open: the engine
    /// detaches once every front end of its own process is gone, whatever
    /// remote transports still hold one of these.
    pub fn remote(&self) -> RemoteInbox {
        RemoteInbox {
            tx: self.tx.downgrade(),
        }
    }
}

/// A transport's way into the engine (commands of attached terminals):
/// each command comes with its own origin and waits for its verdict.
#[derive(Debug, Clone)]
pub struct RemoteInbox {
    tx: mpsc::WeakSender<Envelope>,
}

impl RemoteInbox {
    /// Hand `command` from `origin` to the engine and wait for the rules' verdict.
    pub async fn ask(&self, command: Command, origin: Origin) -> Result<Verdict, Closed> {
        let tx = self.tx.upgrade().ok_or(Closed)?;
        let (reply, verdict) = oneshot::channel();
        tx.send(Envelope {
            command,
            origin,
            reply: Some(reply),
        })
        .await
        .map_err(|_| Closed)?;
        drop(tx);
        verdict.await.map_err(|_| Closed)
    }

    /// Whether the engine still takes commands.
    pub fn is_open(&self) -> bool {
        self.tx.strong_count() > 0
    }
}
