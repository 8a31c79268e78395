//! The PostgreSQL journal: the same records and the same hash chain as the
//! local file, in tables of runsheet's own schema, shared by a team.
//!
//! - [`JournalDb`] says where the journal database is (from a URL) and
//!   opens [`JournalConnection`]s, creating or migrating the schema
//!   ([`schema`]) on the way.
//! - [`PgJournal`] is a [`JournalSink`](super::JournalSink) that writes only
//!   there; [`TeeJournal`](super::tee::TeeJournal), what a driver uses,
//!   writes the local file and this database, and keeps going on the file
//!   while the database is away.
//! - [`lock`] keeps one driver per session; [`read`] lists, streams and
//!   verifies sessions; [`follow`] yields records as they are committed;
//!   [`commands`] carries commands from attached terminals to the driver;
//!   [`presence`] says who is connected to a session.
//!
//! The writers run their connection on a thread of their own (`link`),
//! because [`JournalSink`](super::JournalSink) is synchronous and is called
//! from inside the engine's async task. The readers are async.

pub(crate) mod append;
pub mod commands;
mod error;
pub mod follow;
pub(crate) mod link;
pub mod lock;
pub mod presence;
pub mod read;
pub mod schema;
mod sink;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, Notification};

use crate::connect::{self, Connected};
use crate::runbook::model::{DatabaseSource, ValueSource};

pub use error::PgError;
pub use link::ReplicaStatus;
pub use sink::PgJournal;

/// The channel on which every committed batch of records is announced, with
/// the payload `SESSION NEXT_SEQ`.
pub const JOURNAL_CHANNEL: &str = "runsheet_journal";

/// The channel on which every command submitted is announced (`SESSION SEQ`).
pub const COMMAND_CHANNEL: &str = "runsheet_commands";

/// Run `future` to completion on a runtime of its own, on a thread of its
/// own: how the synchronous sinks call the async readers, whether or not
/// their caller is inside a runtime already.
pub(crate) fn run_blocking<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime can always be built")
                    .block_on(future)
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Where the journal database is. Cheap to clone; holds no connection.
#[derive(Clone)]
pub struct JournalDb {
    config: Config,
}

impl std::fmt::Debug for JournalDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JournalDb({})", self.target())
    }
}

impl JournalDb {
    /// The journal database a `postgres://…` URL (or libpq `key=value`
    /// string) names: what `--journal`, `RUNSHEET_JOURNAL_URL` or the front matter give. What it leaves out comes from the `PG*` variables and
    /// libpq's defaults, and `sslmode` works as for an environment's
    /// database (the same connection helper). Errors never show a password.
    pub fn from_url(url: &str) -> Result<JournalDb, PgError> {
        let source = DatabaseSource::Url(ValueSource::Literal(url.to_string()));
        Ok(JournalDb {
            config: connect::resolve(&source)?,
        })
    }

    /// `host:port/db as user`, for messages.
    pub fn target(&self) -> String {
        connect::describe_target(&self.config)
    }

    /// Connect, creating or migrating runsheet's schema if needed (refused
    /// if the schema is newer than this runsheet).
    pub async fn connect(&self) -> Result<JournalConnection, PgError> {
        self.open(None).await
    }

    /// [`JournalDb::connect`], with the connection's notifications sent to `notifications`.
    pub(crate) async fn connect_listening(
        &self,
        notifications: mpsc::Sender<Notification>,
    ) -> Result<JournalConnection, PgError> {
        self.open(Some(notifications)).await
    }

    async fn open(
        &self,
        notifications: Option<mpsc::Sender<Notification>>,
    ) -> Result<JournalConnection, PgError> {
        let Connected { client, driver, .. } = match notifications {
            None => connect::connect(&self.config).await?,
            Some(tx) => connect::connect_listening(&self.config, tx).await?,
        };
        // Server notices are not read: dropping their receiver (above) makes
        // the connection discard them instead of waiting for a reader.
        let mut conn = JournalConnection {
            client,
            driver,
            target: self.target(),
        };
        schema::migrate(&mut conn).await?;
        Ok(conn)
    }
}

/// An open connection to the journal database, its schema checked.
pub struct JournalConnection {
    client: Client,
    /// Ends when the connection does.
    driver: JoinHandle<Result<(), tokio_postgres::Error>>,
    target: String,
}

impl JournalConnection {
    /// `host:port/db as user`, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The server's process id for this connection (what `pg_stat_activity`
    /// and `pg_terminate_backend` know it by).
    pub async fn backend_pid(&self) -> Result<i32, PgError> {
        self.client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map(|row| row.get(0))
            .map_err(|e| self.error("ask for the connection's process id", &e))
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// Resolves when the connection ends.
    pub(crate) fn closed(&mut self) -> &mut JoinHandle<Result<(), tokio_postgres::Error>> {
        &mut self.driver
    }

    pub(crate) fn error(&self, action: &'static str, e: &tokio_postgres::Error) -> PgError {
        error::query_error(&self.target, action, e)
    }
}
