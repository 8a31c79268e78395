//! The team journal database as the transport of `runsheet watch` and
//! `runsheet attach` ([`crate::remote`]): records from a [`Follower`]
//! (LISTEN/NOTIFY plus a poll), who is connected from the presence table
//! (this terminal announced in it on a connection it keeps), and requests
//! as `runsheet.commands` rows, whose settlement is read back.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::journal::postgres::commands::CommandStatus;
use crate::journal::postgres::follow::Follower;
use crate::journal::postgres::presence::Role;
use crate::journal::postgres::{JournalConnection, JournalDb, PgError};
use crate::remote::{Fed, Records, Requests, Settled, Trouble};
use crate::seat::Origin;
use crate::session::attached::Request;

/// How often who is connected is looked at again.
pub const PRESENCE: Duration = Duration::from_secs(2);
/// How often a sent request's row is read until the driver settled it.
const SETTLED_POLL: Duration = Duration::from_millis(200);

/// This terminal's announcement: the connection that keeps it alive.
struct Announced {
    conn: Option<JournalConnection>,
    origin: Origin,
    role: Role,
}

/// A session's records and presence from the journal database.
pub struct PgRecords {
    db: JournalDb,
    session: String,
    follower: Follower,
    announced: Announced,
    presence_due: tokio::time::Instant,
}

impl PgRecords {
    /// Follow `session` from its header, announced as `origin` in `role`.
    pub async fn open(
        db: &JournalDb,
        session: &str,
        origin: Origin,
        role: Role,
    ) -> Result<PgRecords, PgError> {
        let follower = Follower::start(db, session, 0).await?;
        Ok(PgRecords {
            db: db.clone(),
            session: session.to_string(),
            follower,
            announced: Announced {
                conn: None,
                origin,
                role,
            },
            presence_due: tokio::time::Instant::now(),
        })
    }

    /// Who is connected now, announcing this terminal first if its
    /// connection is new (a lost one is opened again on the next call).
    async fn presence(&mut self) -> Result<Fed, PgError> {
        let a = &mut self.announced;
        if a.conn.is_none() {
            let conn = self.db.connect().await?;
            conn.announce(&self.session, &a.origin, a.role).await?;
            a.conn = Some(conn);
        }
        let Some(conn) = a.conn.as_ref() else {
            return Ok(Fed::Presence(Vec::new()));
        };
        match conn.present(&self.session).await {
            Ok(present) => Ok(Fed::Presence(present)),
            Err(e) => {
                a.conn = None;
                Err(e)
            }
        }
    }
}

fn trouble(e: PgError) -> Trouble {
    match e {
        PgError::Broken { .. } => Trouble::Final(e.to_string()),
        other => Trouble::Lost(other.to_string()),
    }
}

impl Records for PgRecords {
    async fn next(&mut self) -> Result<Fed, Trouble> {
        if tokio::time::Instant::now() >= self.presence_due {
            self.presence_due = tokio::time::Instant::now() + PRESENCE;
            return self.presence().await.map_err(trouble);
        }
        tokio::select! {
            // The follower keeps what it read until it is asked again, so
            // being interrupted by the presence's turn loses nothing.
            record = self.follower.next() => record
                .map(|stored| Fed::Record {
                    line: stored.line,
                    record: Box::new(stored.record),
                })
                .map_err(trouble),
            () = tokio::time::sleep_until(self.presence_due) => {
                self.presence_due = tokio::time::Instant::now() + PRESENCE;
                self.presence().await.map_err(trouble)
            }
        }
    }
}

/// Requests as rows of `runsheet.commands`, from this terminal's origin.
#[derive(Clone)]
pub struct PgRequests {
    db: JournalDb,
    session: String,
    origin: Origin,
    conn: Arc<Mutex<Option<JournalConnection>>>,
}

impl PgRequests {
    pub fn new(db: &JournalDb, session: &str, origin: Origin) -> PgRequests {
        PgRequests {
            db: db.clone(),
            session: session.to_string(),
            origin,
            conn: Arc::new(Mutex::new(None)),
        }
    }

    async fn submit(&self, request: &Request) -> Result<u64, PgError> {
        let mut kept = self.conn.lock().await;
        let conn = match kept.take() {
            Some(conn) => conn,
            None => self.db.connect().await?,
        };
        let submitted = conn.submit_command(&self.session, &self.origin, request).await;
        if submitted.is_ok() {
            *kept = Some(conn);
        }
        submitted
    }

    /// Wait until the driver settled command `seq`; a lost connection is
    /// opened again (the row waits in the table meanwhile).
    async fn settled(&self, seq: u64) -> Settled {
        loop {
            let row = {
                let mut kept = self.conn.lock().await;
                let conn = match kept.take() {
                    Some(conn) => Some(conn),
                    None => self.db.connect().await.ok(),
                };
                match conn {
                    Some(conn) => match conn.command(&self.session, seq).await {
                        Ok(row) => {
                            *kept = Some(conn);
                            row
                        }
                        Err(_) => None,
                    },
                    None => None,
                }
            };
            match row.map(|r| r.status) {
                Some(CommandStatus::Consumed) => return Settled::Consumed,
                Some(CommandStatus::Refused { reason }) => return Settled::Refused(reason),
                Some(CommandStatus::Pending) | None => tokio::time::sleep(SETTLED_POLL).await,
            }
        }
    }
}

impl Requests for PgRequests {
    async fn send(&self, request: Request) -> Result<Settled, String> {
        let seq = self.submit(&request).await.map_err(|e| {
            format!("not sent: {e}; it was not recorded, try again once the journal database is reachable")
        })?;
        Ok(self.settled(seq).await)
    }
}
