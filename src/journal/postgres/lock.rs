//! One driver per session: a session-level advisory lock, plus a row in
//! `runsheet.drivers` saying who holds it.
//!
//! **The lock is the proof, the row is the description.** The server
//! releases a session-level advisory lock when the connection that took it
//! ends, whatever the reason (process killed, host gone, connection
//! terminated), so a holder row whose lock nobody holds is stale by
//! definition, and one whose lock is held is live; pids, hosts and times in
//! the row are never used to decide, since they cannot be checked from
//! another machine. Acquiring:
//!
//! - lock taken and no row: acquired;
//! - lock not taken (someone holds it): refused with the row's holder;
//! - lock taken but a row is there: its holder died without releasing;
//!   refused (the lock is let go again) unless the caller asked to take
//!   over, which replaces the row, keeps the old holder in
//!   `taken_over_from`, and returns it so that the caller journals it.
//!
//! A driver whose connection is cut off loses its lock with it; on
//! reconnecting it takes the lock again only if the row is still its own
//! (its random token), and otherwise stops ([`PgError::DriverLost`]).
//! Transaction-pooling connection poolers (pgbouncer `pool_mode =
//! transaction`) cannot keep session locks: connect to the server directly.

use std::fmt;
use std::io::Read;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

use super::{JournalConnection, PgError};
pub use crate::seat::Origin;
use crate::seat::Seat;

/// Who holds (or held) a session's driver lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    #[serde(flatten)]
    pub origin: Origin,
    /// The driver's process id on its host.
    pub pid: u32,
    /// The server's process id of the connection holding the lock.
    pub backend_pid: i32,
    pub since: DateTime<Utc>,
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.origin;
        write!(
            f,
            "{} (OS user {} on {}, pid {}",
            o.operator,
            o.seat.os_user.as_deref().unwrap_or(UNKNOWN_USER),
            o.seat.host,
            self.pid
        )?;
        if let Some(t) = &o.seat.terminal {
            write!(f, ", terminal {t}")?;
        }
        write!(f, ") since {}", self.since.format("%Y-%m-%d %H:%M:%S UTC"))
    }
}

/// Take the lock only if nobody holds it, or also take over from a holder
/// whose connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Acquire,
    TakeOver,
}

/// A held driver lock. It lasts as long as the connection that took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverLock {
    pub session: String,
    pub holder: Holder,
    /// The crashed holder this lock was taken over from; the caller journals it.
    pub taken_over_from: Option<Holder>,
    /// Random; tells this holder's row from any other.
    pub(crate) token: String,
}

/// The advisory lock key of a session: the first 8 bytes of SHA-256 of
/// `runsheet driver <id>`, so keys of other applications are unlikely to
/// collide and no server-internal hash function is relied upon.
pub(crate) fn lock_key(session: &str) -> i64 {
    let digest = Sha256::new()
        .chain_update(b"runsheet driver ")
        .chain_update(session.as_bytes())
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn new_token() -> String {
    let mut random = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .is_err()
    {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        random[..8].copy_from_slice(&nanos.to_le_bytes());
        random[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    }
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `os_user` column of a seat whose OS user has no name.
pub(crate) const UNKNOWN_USER: &str = "unknown";

/// The origin stored in the columns `operator, os_user, host, terminal` from `at`.
pub(crate) fn origin_from(row: &tokio_postgres::Row, at: usize) -> Origin {
    Origin {
        operator: row.get(at),
        seat: Seat {
            os_user: Some(row.get(at + 1)),
            host: row.get(at + 2),
            terminal: row.get(at + 3),
        },
    }
}

const HOLDER_COLUMNS: &str = "operator, os_user, host, terminal, pid, backend_pid, since";

fn holder_from(row: &tokio_postgres::Row) -> Holder {
    Holder {
        origin: origin_from(row, 0),
        pid: u32::try_from(row.get::<_, i64>(4)).unwrap_or_default(),
        backend_pid: row.get(5),
        since: row.get(6),
    }
}

async fn try_lock(client: &Client, key: i64) -> Result<bool, tokio_postgres::Error> {
    Ok(client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .await?
        .get(0))
}

async fn unlock(client: &Client, key: i64) -> Result<(), tokio_postgres::Error> {
    client
        .query_one("SELECT pg_advisory_unlock($1)", &[&key])
        .await
        .map(drop)
}

/// The holder row of `session` and its token.
async fn row_of(client: &Client, session: &str) -> Result<Option<(Holder, String)>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {HOLDER_COLUMNS}, token FROM runsheet.drivers WHERE session = $1"),
            &[&session],
        )
        .await?;
    Ok(row.map(|r| (holder_from(&r), r.get(7))))
}

/// Take `session`'s driver lock on `client`'s connection.
pub(crate) async fn acquire(
    client: &Client,
    target: &str,
    session: &str,
    origin: &Origin,
    claim: Claim,
) -> Result<DriverLock, PgError> {
    let err = |action| move |e: tokio_postgres::Error| super::error::query_error(target, action, &e);
    let key = lock_key(session);
    if !try_lock(client, key)
        .await
        .map_err(err("take the session's driver lock"))?
    {
        let holder = row_of(client, session)
            .await
            .map_err(err("read who drives the session"))?;
        return Err(PgError::DriverBusy {
            session: session.to_string(),
            holder: holder.map(|(h, _)| Box::new(h)),
        });
    }
    let previous = row_of(client, session)
        .await
        .map_err(err("read who drove the session"))?;
    if let (Some((stale, _)), Claim::Acquire) = (&previous, claim) {
        unlock(client, key)
            .await
            .map_err(err("let go of the session's driver lock"))?;
        return Err(PgError::DriverStale {
            session: session.to_string(),
            holder: Box::new(stale.clone()),
        });
    }
    let token = new_token();
    let taken_over_from = previous.map(|(h, _)| h);
    let stale_json = taken_over_from
        .as_ref()
        .map(|h| serde_json::to_value(h).unwrap_or_default());
    let row = client
        .query_one(
            &format!(
                "INSERT INTO runsheet.drivers AS d \
                   (session, operator, os_user, host, terminal, pid, backend_pid, token, since, taken_over_from) \
                 VALUES ($1, $2, $3, $4, $5, $6, pg_backend_pid(), $7, now(), $8) \
                 ON CONFLICT (session) DO UPDATE SET operator = excluded.operator, os_user = excluded.os_user, \
                   host = excluded.host, terminal = excluded.terminal, pid = excluded.pid, \
                   backend_pid = excluded.backend_pid, token = excluded.token, since = excluded.since, \
                   taken_over_from = excluded.taken_over_from \
                 RETURNING {HOLDER_COLUMNS}"
            ),
            &[
                &session,
                &origin.operator,
                &origin.seat.os_user.as_deref().unwrap_or(UNKNOWN_USER),
                &origin.seat.host,
                &origin.seat.terminal,
                &i64::from(std::process::id()),
                &token,
                &stale_json,
            ],
        )
        .await
        .map_err(err("record who drives the session"))?;
    Ok(DriverLock {
        session: session.to_string(),
        holder: holder_from(&row),
        taken_over_from,
        token,
    })
}

/// After a reconnect, take the lock of `lock` again: only if nobody took
/// the session over in between (the row still carries its token).
pub(crate) async fn reclaim(client: &Client, target: &str, lock: &DriverLock) -> Result<(), PgError> {
    let err = |action| move |e: tokio_postgres::Error| super::error::query_error(target, action, &e);
    let key = lock_key(&lock.session);
    let lost = |holder: Option<Holder>| PgError::DriverLost {
        session: lock.session.clone(),
        holder: holder.map(Box::new),
    };
    if !try_lock(client, key)
        .await
        .map_err(err("take the session's driver lock again"))?
    {
        let row = row_of(client, &lock.session)
            .await
            .map_err(err("read who drives the session"))?;
        return Err(lost(row.map(|(h, _)| h)));
    }
    let updated = client
        .execute(
            "UPDATE runsheet.drivers SET backend_pid = pg_backend_pid() WHERE session = $1 AND token = $2",
            &[&lock.session, &lock.token],
        )
        .await
        .map_err(err("record the driver's new connection"))?;
    if updated == 1 {
        return Ok(());
    }
    let row = row_of(client, &lock.session)
        .await
        .map_err(err("read who drives the session"))?;
    unlock(client, key)
        .await
        .map_err(err("let go of the session's driver lock"))?;
    Err(lost(row.map(|(h, _)| h)))
}

/// Give the lock back and remove its row (a driver that ends normally).
pub(crate) async fn release(client: &Client, lock: &DriverLock) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM runsheet.drivers WHERE session = $1 AND token = $2",
            &[&lock.session, &lock.token],
        )
        .await?;
    unlock(client, lock_key(&lock.session)).await
}

impl JournalConnection {
    /// Take `session`'s driver lock on this connection; it is held until
    /// [`JournalConnection::release_driver_lock`] or until the connection ends.
    pub async fn acquire_driver_lock(
        &self,
        session: &str,
        origin: &Origin,
        claim: Claim,
    ) -> Result<DriverLock, PgError> {
        acquire(self.client(), self.target(), session, origin, claim).await
    }

    /// Give back a lock taken on this connection.
    pub async fn release_driver_lock(&self, lock: &DriverLock) -> Result<(), PgError> {
        release(self.client(), lock)
            .await
            .map_err(|e| self.error("release the session's driver lock", &e))
    }

    /// Who drives `session`, and whether that holder is alive (its lock
    /// held); `None` if nobody has.
    pub async fn driver_of(&self, session: &str) -> Result<Option<(Holder, bool)>, PgError> {
        let err = |action| move |e: tokio_postgres::Error| self.error(action, &e);
        let Some((holder, _)) = row_of(self.client(), session)
            .await
            .map_err(err("read who drives the session"))?
        else {
            return Ok(None);
        };
        let key = lock_key(session);
        let live: bool = self
            .client()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1)",
                &[&key],
            )
            .await
            .map_err(err("check the session's driver lock"))?
            .get(0);
        Ok(Some((holder, live)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(
            lock_key("20261124-021503-ab12cd"),
            lock_key("20261124-021503-ab12cd")
        );
        assert_ne!(lock_key("a"), lock_key("b"));
        assert_eq!(new_token().len(), 32);
        assert_ne!(new_token(), new_token());
    }

    #[test]
    fn a_holder_reads_as_a_sentence() {
        let holder = Holder {
            origin: Origin {
                operator: "Ana".into(),
                seat: Seat {
                    os_user: Some("ana".into()),
                    host: "laptop".into(),
                    terminal: Some("/dev/pts/3".into()),
                },
            },
            pid: 4242,
            backend_pid: 77,
            since: "2026-11-24T02:15:03Z".parse().unwrap(),
        };
        assert_eq!(
            holder.to_string(),
            "Ana (OS user ana on laptop, pid 4242, terminal /dev/pts/3) since 2026-11-24 02:15:03 UTC"
        );
    }
}
