//! The driver's side of the control socket: the socket itself (created
//! 0600, a stale one replaced, removed when the driver exits), and one task
//! per attached client that sends it the session's records and hands its
//! commands to the engine ([`RemoteInbox`]) after [`rules::attached_may`].

use std::io::{self, ErrorKind};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::socket_path;
use super::wire::{self, FromDriver, MAX_LINE, ToDriver};
use crate::engine::inbox::RemoteInbox;
use crate::journal::event::Record;
use crate::journal::reader::JournalStream;
use crate::runbook::model::AttachRight;
use crate::seat::{self, Origin, Seat};
use crate::session::{Command, Refusal, rules};

/// Records kept for clients that lag behind; one that falls further
/// behind catches up from the journal file.
const FEED: usize = 256;
/// How long a client has to say who it is.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How long a gap of output records (not yet flushed to the file when the
/// client caught up from it) is waited for before going on without it.
const GAP_WITHIN: Duration = Duration::from_secs(5);

/// The session's records as the engine journals them, for every client:
/// the engine holds the sending end ([`Engine::feed_records_to`]), so the
/// feed ends with the engine.
///
/// [`Engine::feed_records_to`]: crate::engine::runner::Engine::feed_records_to
pub struct Feed {
    /// Weak, so that the feed ends with the engine; and no receiver is
    /// held, so that nothing is kept (a flood's records) while no client
    /// is attached.
    engine: broadcast::WeakSender<Arc<Record>>,
}

impl Feed {
    /// A feed, and the end the engine sends every record to.
    pub fn new() -> (broadcast::Sender<Arc<Record>>, Feed) {
        let (tx, _) = broadcast::channel(FEED);
        let engine = tx.downgrade();
        (tx, Feed { engine })
    }

    /// The records from now on, while the engine runs.
    fn subscribe(&self) -> Option<broadcast::Receiver<Arc<Record>>> {
        self.engine.upgrade().map(|tx| tx.subscribe())
    }
}

/// The control socket of a running driver; removed when dropped.
pub struct Server {
    path: PathBuf,
    /// Device and inode of the socket this created: only that one is removed.
    identity: (u64, u64),
    task: JoinHandle<()>,
}

/// What every connection needs.
struct Context {
    journal: PathBuf,
    session: String,
    feed: Feed,
    inbox: RemoteInbox,
    /// What the runbook lets attached terminals do besides signing and notes.
    allows: Vec<AttachRight>,
}

impl Server {
    /// Serve the control socket of the session whose journal is `journal`.
    /// The caller holds the session's journal lock, so a socket already
    /// there was left by a driver that is gone: it is replaced.
    pub fn start(
        journal: &Path,
        session: &str,
        feed: Feed,
        inbox: RemoteInbox,
        allows: Vec<AttachRight>,
    ) -> io::Result<Server> {
        let path = socket_path(journal);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(&path)?,
            Ok(_) => {
                return Err(io::Error::new(
                    ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let meta = std::fs::symlink_metadata(&path)?;
        let context = Arc::new(Context {
            journal: journal.to_path_buf(),
            session: session.to_string(),
            feed,
            inbox,
            allows,
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&context)));
            }
        });
        Ok(Server {
            path,
            identity: (meta.dev(), meta.ino()),
            task,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        let ours = std::fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Read one message of at most [`MAX_LINE`] bytes; `None` at the end.
pub(super) async fn read_message<R, T>(reader: &mut R) -> io::Result<Option<T>>
where
    R: AsyncBufRead + Unpin,
    T: serde::de::DeserializeOwned,
{
    let mut line = Vec::new();
    let read = reader
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        let why = if line.len() > MAX_LINE {
            "a line longer than the control socket takes"
        } else {
            "the connection ended mid-line"
        };
        return Err(io::Error::new(ErrorKind::InvalidData, why));
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))
}

/// Write one message.
pub(super) async fn send<W, T>(out: &mut W, message: &T) -> io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
    T: serde::Serialize,
{
    out.write_all(&wire::line(message)?).await
}

/// The seat of the client at the other end, from the socket's peer
/// credentials, never from what it says: its OS user, this host, and the
/// controlling terminal of the connecting process (none known: a seat
/// without a terminal, which four-eyes counts as every terminal of its OS
/// user, so a declared terminal could not make a second seat).
fn peer_seat(stream: &UnixStream) -> Seat {
    let cred = stream.peer_cred().ok();
    let os_user = cred.as_ref().and_then(|cred| {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(cred.uid()))
            .ok()
            .flatten()
            .map(|u| u.name)
    });
    let terminal = cred
        .and_then(|cred| cred.pid())
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .and_then(|stat| seat::controlling_terminal(&stat));
    Seat {
        os_user,
        host: seat::host_name(),
        terminal,
    }
}

/// One attached client, until it leaves or the engine stops. If it held
/// the driver's seat, leaving gives the seat up (journaled).
async fn serve(stream: UnixStream, context: Arc<Context>) {
    let mut me = None;
    // However the connection ended (left, lost, garbled), the seat is given up.
    let _ = connection(stream, &context, &mut me).await;
    if let Some(me) = me.filter(|me: &Driving| me.driving) {
        let command = Command::DriverGone {
            who: me.origin.operator.clone(),
            reason: "the attached terminal left".into(),
            seat: Some(me.origin.seat.clone()),
        };
        let _ = context.inbox.ask(command, me.origin).await;
    }
}

/// Who a connection is, and whether it holds the driver's seat.
struct Driving {
    origin: Origin,
    driving: bool,
}

async fn connection(stream: UnixStream, context: &Context, me: &mut Option<Driving>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let hello = tokio::time::timeout(HELLO_WITHIN, read_message::<_, ToDriver>(&mut read)).await;
    let operator = match hello {
        Ok(Ok(Some(ToDriver::Hello { operator }))) if !operator.trim().is_empty() => {
            operator.trim().to_string()
        }
        _ => {
            let reason = "say who you are first: {\"hello\": {\"operator\": NAME}}".to_string();
            return send(&mut write, &FromDriver::Bye { reason }).await;
        }
    };
    let seat = peer_seat(read.get_ref().as_ref());
    let origin = Origin { operator, seat };
    *me = Some(Driving {
        origin: origin.clone(),
        driving: false,
    });
    // Subscribed before the file is read: nothing journaled from here on is missed.
    let Some(mut live) = context.feed.subscribe() else {
        let reason = "the session's driver has stopped".to_string();
        return send(&mut write, &FromDriver::Bye { reason }).await;
    };
    let welcome = FromDriver::Welcome {
        session: context.session.clone(),
        pid: std::process::id(),
    };
    send(&mut write, &welcome).await?;
    let mut sent = Sent::default();
    sent.send_from_file(&context.journal, &mut write, None).await?;
    loop {
        tokio::select! {
            message = read_message::<_, ToDriver>(&mut read) => match message? {
                Some(ToDriver::Command { id, command }) => {
                    let Some(me) = me.as_mut() else { return Ok(()) };
                    let refusal = ask(context, me, command).await.err();
                    send(&mut write, &FromDriver::Answer { id, refusal }).await?;
                }
                Some(ToDriver::Hello { .. }) => {}
                None => return Ok(()),
            },
            record = live.recv() => match record {
                Ok(record) => sent.record(&context.journal, &mut write, &record).await?,
                // Fallen behind: the next record fills the gap from the file.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                // The engine has stopped (every record it sent was received).
                Err(broadcast::error::RecvError::Closed) => {
                    let reason = "the session's driver has stopped".to_string();
                    return send(&mut write, &FromDriver::Bye { reason }).await;
                }
            },
        }
    }
}

/// A client's command, after the rule on what an attached terminal may
/// ask, to the engine: its verdict.
async fn ask(context: &Context, me: &mut Driving, command: Command) -> Result<(), Refusal> {
    rules::attached_may(&command, me.driving, &context.allows)?;
    // The seat a client takes or leaves is the one its connection shows.
    let command = match command {
        Command::TakeDriverSeat { .. } => Command::TakeDriverSeat {
            who: me.origin.operator.clone(),
            seat: me.origin.seat.clone(),
        },
        Command::DriverGone { reason, .. } => Command::DriverGone {
            who: me.origin.operator.clone(),
            reason,
            seat: Some(me.origin.seat.clone()),
        },
        other => other,
    };
    let taking = matches!(command, Command::TakeDriverSeat { .. });
    let leaving = matches!(command, Command::DriverGone { .. });
    let verdict = context
        .inbox
        .ask(command, me.origin.clone())
        .await
        .unwrap_or(Err(Refusal::EngineStopped));
    if verdict.is_ok() && (taking || leaving) {
        me.driving = taking;
    }
    verdict
}

/// What a connection has sent: records in seq order, each once.
#[derive(Default)]
struct Sent {
    last: Option<u64>,
}

impl Sent {
    fn wants(&self, seq: u64) -> bool {
        self.last.is_none_or(|last| seq > last)
    }

    /// Send the records of the journal file after the last one sent, up to
    /// `until` (all there are without one).
    async fn send_from_file(
        &mut self,
        journal: &Path,
        out: &mut OwnedWriteHalf,
        until: Option<u64>,
    ) -> io::Result<()> {
        let mut records = read_after(journal, self.last, until);
        while let Some(record) = records.recv().await {
            if self.wants(record.seq) {
                self.last = Some(record.seq);
                send(out, &FromDriver::Record(Box::new(record))).await?;
            }
        }
        Ok(())
    }

    /// Send a live record, first the ones before it that the client lacks
    /// (output not yet in the file when it caught up, or missed by lagging).
    async fn record(&mut self, journal: &Path, out: &mut OwnedWriteHalf, record: &Record) -> io::Result<()> {
        if !self.wants(record.seq) {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + GAP_WITHIN;
        while self.last.map_or(0, |l| l + 1) < record.seq && tokio::time::Instant::now() < deadline {
            self.send_from_file(journal, out, Some(record.seq - 1)).await?;
            if self.last.map_or(0, |l| l + 1) < record.seq {
                // Output is written to the file at least every 100 ms.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        self.last = Some(record.seq);
        send(out, &FromDriver::Record(Box::new(record.clone()))).await
    }
}

/// The verified records of the journal file after seq `after`, up to
/// `until`, read in a blocking task.
fn read_after(journal: &Path, after: Option<u64>, until: Option<u64>) -> mpsc::Receiver<Record> {
    let (tx, rx) = mpsc::channel(64);
    let journal = journal.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let Ok(stream) = JournalStream::open(&journal) else {
            return;
        };
        for record in stream.map_while(Result::ok) {
            if until.is_some_and(|u| record.seq > u) {
                return;
            }
            if after.is_some_and(|a| record.seq <= a) {
                continue;
            }
            if tx.blocking_send(record).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::event::Event;

    fn record(seq: u64) -> Arc<Record> {
        Arc::new(Record {
            seq,
            ts: chrono::Utc::now(),
            event: Event::Run { who: "ann".into() },
            origin: None,
        })
    }

    #[test]
    fn the_feed_keeps_nothing_for_clients_that_are_not_there() {
        let (tx, feed) = Feed::new();
        assert!(tx.send(record(1)).is_err(), "no client: the record is not kept");
        let mut client = feed.subscribe().expect("engine running");
        assert!(tx.send(record(2)).is_ok());
        assert_eq!(
            client.try_recv().map(|r| r.seq).ok(),
            Some(2),
            "only what came after it"
        );
        drop(tx);
        assert!(feed.subscribe().is_none(), "the feed ends with the engine");
    }
}
