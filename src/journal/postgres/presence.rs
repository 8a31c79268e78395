//! Who is connected to a session: its driver (the holder of its driver
//! lock, see [`super::lock`]) and the terminals that attached to it or
//! watch it, each announced by a row in `runsheet.presence` on the
//! connection it keeps open.
//!
//! As with the driver lock, the row describes and the connection proves:
//! a row counts only while the server still has its connection
//! (`pg_stat_activity`, a backend started no later than the row), so a
//! terminal killed or cut off drops out of the list by itself, and stale
//! rows are removed whenever a terminal announces itself.

use chrono::{DateTime, Utc};

use super::lock::{Origin, UNKNOWN_USER, origin_from};
use super::{JournalConnection, PgError};

/// How a terminal is connected to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Runs the session's steps (holds its driver lock).
    Driver,
    /// May sign, add notes and what the front matter allows (`runsheet attach`).
    Attached,
    /// Reads only (`runsheet watch`).
    Watching,
}

impl Role {
    /// The word on the checklist (and in the `role` column).
    pub fn label(self) -> &'static str {
        match self {
            Role::Driver => "driving",
            Role::Attached => "attached",
            Role::Watching => "watching",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Role::Driver => "driver",
            Role::Attached => "attached",
            Role::Watching => "watching",
        }
    }
}

/// A terminal connected to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    pub role: Role,
    pub origin: Origin,
    pub since: DateTime<Utc>,
}

/// A row's connection is still the server's: alive, and not a later
/// connection that was given the same process id.
const ALIVE: &str = "EXISTS (SELECT 1 FROM pg_stat_activity AS a \
                     WHERE a.pid = p.backend_pid AND a.backend_start <= p.since)";

impl JournalConnection {
    /// Announce `origin` as `role` (attached or watching) of `session` for as
    /// long as this connection lasts; rows of connections gone are removed.
    pub async fn announce(&self, session: &str, origin: &Origin, role: Role) -> Result<(), PgError> {
        let err = |e: tokio_postgres::Error| self.error("announce this terminal", &e);
        self.client()
            .execute(
                &format!("DELETE FROM runsheet.presence AS p WHERE p.session = $1 AND NOT {ALIVE}"),
                &[&session],
            )
            .await
            .map_err(err)?;
        self.client()
            .execute(
                "INSERT INTO runsheet.presence AS p (session, backend_pid, role, operator, os_user, host, terminal, since) \
                 VALUES ($1, pg_backend_pid(), $2, $3, $4, $5, $6, now()) \
                 ON CONFLICT (session, backend_pid) DO UPDATE SET role = excluded.role, \
                   operator = excluded.operator, os_user = excluded.os_user, host = excluded.host, \
                   terminal = excluded.terminal, since = excluded.since",
                &[
                    &session,
                    &role.column(),
                    &origin.operator,
                    &origin.seat.os_user.as_deref().unwrap_or(UNKNOWN_USER),
                    &origin.seat.host,
                    &origin.seat.terminal,
                ],
            )
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Who is connected to `session` now: its driver first (while its lock
    /// is held), then attached and watching terminals, earliest first.
    pub async fn present(&self, session: &str) -> Result<Vec<Present>, PgError> {
        let mut out = Vec::new();
        if let Some((holder, true)) = self.driver_of(session).await? {
            out.push(Present {
                role: Role::Driver,
                origin: holder.origin,
                since: holder.since,
            });
        }
        let rows = self
            .client()
            .query(
                &format!(
                    "SELECT operator, os_user, host, terminal, role, since FROM runsheet.presence AS p \
                     WHERE p.session = $1 AND {ALIVE} ORDER BY since, backend_pid"
                ),
                &[&session],
            )
            .await
            .map_err(|e| self.error("read who is connected", &e))?;
        out.extend(rows.iter().map(|r| Present {
            role: match r.get::<_, &str>(4) {
                "attached" => Role::Attached,
                _ => Role::Watching,
            },
            origin: origin_from(r, 0),
            since: r.get(5),
        }));
        Ok(out)
    }
}
