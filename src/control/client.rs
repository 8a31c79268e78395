//! The client's side of the control socket, and `runsheet attach SESSION`
//! without a journal database: the live checklist of a session driven by
//! another process on this machine, over its socket.
//!
//! The checklist is the driver's own ([`crate::ui`]): its records come from
//! the socket instead of an engine, and its commands go back over it. The
//! attached terminal signs and adds notes while the driver's terminal is
//! there; when it is gone (now or later), the client asks for the driver's
//! seat and, given it, drives. Leaving the checklist leaves the driver
//! running (without a screen again).

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::server::{read_message, send};
use super::socket_path;
use super::wire::{FromDriver, ToDriver};
use crate::engine::inbox::{Envelope, Inbox, Verdict};
use crate::engine::runner::UPDATES_QUEUED;
use crate::exit::{self, CliError};
use crate::journal::event::{Event, Record, SessionOutcome};
use crate::journal::file::lock_holder;
use crate::journal::store;
use crate::seat::Origin;
use crate::session::{Command, Refusal, SessionState, Update};
use crate::signals::Signals;
use crate::ui::{self, App, AppSetup, Channels, Reference, Theme, screen};

/// Why a session's control socket was not used.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(
        "session {session} has no running driver; continue it with `runsheet run RUNBOOK --resume {session}`"
    )]
    NoDriver { session: String },
    #[error(
        "{} was left by a driver of session {session} that is gone, and is not used; \
         continue the session with `runsheet run RUNBOOK --resume {session}`",
        path.display()
    )]
    Stale { path: PathBuf, session: String },
    #[error("the driver of session {session} (pid {pid}) serves no control socket at {}", path.display())]
    NoSocket {
        path: PathBuf,
        session: String,
        pid: i32,
    },
    #[error("{} is not the control socket of session {session}'s driver ({why}); it is not trusted", path.display())]
    Untrusted {
        path: PathBuf,
        session: String,
        why: String,
    },
    #[error("the driver of session {session} said: {reason}")]
    Refused { session: String, reason: String },
    #[error("the control socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A connection to a session's driver, past the greeting.
pub struct Connection {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    /// The driver's process id.
    pub pid: u32,
}

/// Connect to the driver of the session whose journal is `journal`, as
/// `operator`. The socket is trusted only when the process serving it is
/// the one holding the session's journal lock, and it belongs to this OS
/// user; a socket left by a crashed driver is not even connected to.
pub async fn connect(journal: &Path, operator: &str) -> Result<Connection, AttachError> {
    let path = socket_path(journal);
    let session = journal
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let meta = std::fs::symlink_metadata(&path);
    let Some(holder) = lock_holder(journal) else {
        return Err(match meta {
            Ok(_) => AttachError::Stale { path, session },
            Err(_) => AttachError::NoDriver { session },
        });
    };
    let untrusted = |why: String| AttachError::Untrusted {
        path: path.clone(),
        session: session.clone(),
        why,
    };
    let meta = match meta {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(AttachError::NoSocket {
                path,
                session,
                pid: holder,
            });
        }
        Err(source) => return Err(AttachError::Io { path, source }),
    };
    if !meta.file_type().is_socket() {
        return Err(untrusted("it is not a socket".into()));
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(untrusted(format!("it belongs to uid {}, not to you", meta.uid())));
    }
    let stream = match UnixStream::connect(&path).await {
        Ok(stream) => stream,
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(AttachError::Stale { path, session });
        }
        Err(source) => return Err(AttachError::Io { path, source }),
    };
    let server = stream.peer_cred().ok().and_then(|c| c.pid());
    if server != Some(holder) {
        return Err(untrusted(format!(
            "it is served by pid {}, while pid {holder} holds the session's lock",
            server.map_or_else(|| "unknown".to_string(), |p| p.to_string())
        )));
    }
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let io_error = |source| AttachError::Io {
        path: path.clone(),
        source,
    };
    let hello = ToDriver::Hello {
        operator: operator.to_string(),
    };
    send(&mut write, &hello).await.map_err(io_error)?;
    match read_message::<_, FromDriver>(&mut read).await.map_err(io_error)? {
        Some(FromDriver::Welcome { pid, .. }) => Ok(Connection { read, write, pid }),
        Some(FromDriver::Bye { reason }) => Err(AttachError::Refused { session, reason }),
        _ => Err(untrusted("it did not greet as a runsheet driver".into())),
    }
}

impl Connection {
    /// The next message from the driver; `None` once it has closed.
    pub async fn next(&mut self) -> io::Result<Option<FromDriver>> {
        read_message(&mut self.read).await
    }

    /// Submit command `id`; its answer comes as a [`FromDriver::Answer`].
    pub async fn submit(&mut self, id: u64, command: Command) -> io::Result<()> {
        send(&mut self.write, &ToDriver::Command { id, command }).await
    }
}

/// `runsheet attach SESSION` of a session of this state directory.
pub fn main(state_dir: Option<&Path>, session: &str, operator: &str) -> Result<u8, CliError> {
    let operator = operator.trim();
    if operator.is_empty() {
        return Err(CliError::usage(
            "attach records what you do under your name: give it with --operator NAME",
        ));
    }
    let journal = store::find_journal(state_dir, session)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::usage(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(attach(&journal, operator))
}

async fn attach(journal: &Path, operator: &str) -> Result<u8, CliError> {
    let refused = |e: AttachError| CliError::new(exit::BUSY, e);
    let mut connection = connect(journal, operator).await.map_err(refused)?;
    let io_error = |e: io::Error| CliError::new(exit::JOURNAL, format!("the control socket: {e}"));
    let header = match connection.next().await.map_err(io_error)? {
        Some(FromDriver::Record(record)) => *record,
        _ => return Err(io_error(io::Error::other("the driver sent no session header"))),
    };
    let state = SessionState::from_records([&header]).map_err(|e| io_error(io::Error::other(e)))?;
    let id = state.header.session_id.clone();
    let pid = connection.pid;
    let signals = Signals::listen();
    let (inbox, envelopes) = Inbox::channel(Origin::here(operator));
    let (updates_tx, updates) = mpsc::channel(UPDATES_QUEUED);
    let bridge = tokio::spawn(bridge(connection, envelopes, updates_tx));
    let (guard, terminal) =
        screen::open_terminal().map_err(|e| CliError::usage(format!("cannot use the terminal ({e})")))?;
    let size = terminal.size().map(|s| (s.width, s.height)).unwrap_or((80, 24));
    let setup = AppSetup {
        operator: operator.to_string(),
        references: Vec::<Reference>::new(),
        journal_path: journal.to_path_buf(),
        theme: Theme::from_env(),
        now: chrono::Utc::now(),
        size,
        notices: vec![format!(
            "attached to pid {pid}: you sign and note; you drive once its terminal is gone; q leaves it running"
        )],
    };
    let mut app = App::new(state, setup);
    app.attached = true;
    let channels = Channels {
        commands: inbox,
        updates,
        engine: bridge,
        signals,
        journal_path: journal.to_path_buf(),
    };
    if let Err(e) = ui::on_terminal(terminal, guard, &mut app, channels).await {
        return Err(CliError::new(exit::JOURNAL, e));
    }
    match &app.session.outcome {
        Some((SessionOutcome::Completed, _)) => {
            println!("runsheet: session {id} completed; journal: {}", journal.display());
            Ok(exit::OK)
        }
        Some((outcome, _)) => {
            println!("runsheet: session {id} {}", outcome.label());
            Ok(exit::INCOMPLETE)
        }
        None => {
            println!("runsheet: left session {id}; its driver (pid {pid}) goes on");
            Ok(exit::OK)
        }
    }
}

/// Between the checklist and the socket: records in as updates, commands
/// out with an id, answers back (a refusal as an update, unless the
/// command's sender waits for its verdict). Asks for the driver's seat
/// whenever the driver's terminal is gone. Ends when the driver closes the
/// connection or the checklist leaves.
async fn bridge(
    mut connection: Connection,
    mut envelopes: mpsc::Receiver<Envelope>,
    updates: mpsc::Sender<Update>,
) -> Result<(), String> {
    let mut next_id = 0u64;
    let mut waiting: Vec<(u64, Option<oneshot::Sender<Verdict>>)> = Vec::new();
    let mut seat = Seat::default();
    loop {
        if seat.wants_it() {
            next_id += 1;
            seat.asked = Some(next_id);
            // Who and where are the connection's: the driver fills them in.
            let take = Command::TakeDriverSeat {
                who: String::new(),
                seat: crate::seat::Seat::default(),
            };
            connection
                .submit(next_id, take)
                .await
                .map_err(|e| e.to_string())?;
        }
        tokio::select! {
            envelope = envelopes.recv() => {
                let Some(envelope) = envelope else { return Ok(()) };
                next_id += 1;
                waiting.push((next_id, envelope.reply));
                connection.submit(next_id, envelope.command).await.map_err(|e| e.to_string())?;
            }
            message = connection.next() => match message.map_err(|e| e.to_string())? {
                Some(FromDriver::Record(record)) => {
                    seat.saw(&record);
                    if updates.send(Update::Record(*record)).await.is_err() {
                        return Ok(());
                    }
                }
                Some(FromDriver::Answer { id, refusal }) => {
                    if seat.asked == Some(id) {
                        seat.answered(refusal.is_none());
                        continue;
                    }
                    let Some(at) = waiting.iter().position(|(i, _)| *i == id) else { continue };
                    let (_, reply) = waiting.swap_remove(at);
                    answer(reply, refusal, &updates).await;
                }
                Some(FromDriver::Welcome { .. }) => {}
                Some(FromDriver::Bye { .. }) | None => return Ok(()),
            }
        }
    }
}

/// A verdict to the sender that waits for it, or a refusal to the checklist.
async fn answer(
    reply: Option<oneshot::Sender<Verdict>>,
    refusal: Option<Refusal>,
    updates: &mpsc::Sender<Update>,
) {
    match (reply, refusal) {
        (Some(reply), refusal) => {
            let _ = reply.send(refusal.map_or(Ok(()), Err));
        }
        (None, Some(refusal)) => {
            let _ = updates.send(Update::Refused(refusal)).await;
        }
        (None, None) => {}
    }
}

/// Whether the driver's seat is free, as the records say, and whether this
/// client has asked for it.
#[derive(Default)]
struct Seat {
    away: bool,
    asked: Option<u64>,
}

impl Seat {
    fn saw(&mut self, record: &Record) {
        match &record.event {
            Event::DriverDetached { .. } => self.away = true,
            Event::DriverAttached { .. } | Event::Resumed { .. } => self.away = false,
            _ => {}
        }
    }

    /// Refused: someone holds the seat (its record may still be on the
    /// way); ask again only once the records say it is free again.
    fn answered(&mut self, taken: bool) {
        self.asked = None;
        if !taken {
            self.away = false;
        }
    }

    fn wants_it(&self) -> bool {
        self.away && self.asked.is_none()
    }
}
