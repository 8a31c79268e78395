//! Commands from attached terminals: rows in `runsheet.commands`, numbered
//! per session in the order they were submitted, which the driver consumes
//! in that order, settling each as consumed or refused (with the reason).
//!
//! The payload is JSON: the command type belongs to the rules core, which
//! decides on each one; this layer only carries it, with who sent it from
//! where. Each submission is announced on [`COMMAND_CHANNEL`] as
//! `SESSION SEQ`, so a driver can LISTEN instead of polling.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Json;

use super::lock::{Origin, UNKNOWN_USER, origin_from};
use super::{COMMAND_CHANNEL, JournalConnection, PgError};

/// Where a command stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandStatus {
    Pending,
    Consumed,
    Refused { reason: String },
}

/// How the driver settles a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Passed on to the rules core, which accepted it.
    Consumed,
    /// Refused, for this reason (shown to the terminal that sent it).
    Refused(String),
}

/// A command as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRow {
    pub session: String,
    pub seq: u64,
    pub submitted_at: DateTime<Utc>,
    pub origin: Origin,
    pub command: serde_json::Value,
    pub status: CommandStatus,
}

const COLUMNS: &str =
    "session, seq, submitted_at, operator, os_user, host, terminal, command, status, reason";

fn row_to_command(r: &tokio_postgres::Row) -> CommandRow {
    CommandRow {
        session: r.get(0),
        seq: u64::try_from(r.get::<_, i64>(1)).unwrap_or_default(),
        submitted_at: r.get(2),
        origin: origin_from(r, 3),
        command: r.get::<_, Json<serde_json::Value>>(7).0,
        status: match r.get::<_, &str>(8) {
            "consumed" => CommandStatus::Consumed,
            "refused" => CommandStatus::Refused {
                reason: r.get::<_, Option<String>>(9).unwrap_or_default(),
            },
            _ => CommandStatus::Pending,
        },
    }
}

impl JournalConnection {
    /// Submit `command` to `session` from `origin`; returns its seq.
    pub async fn submit_command<T: Serialize + std::fmt::Debug + Sync>(
        &self,
        session: &str,
        origin: &Origin,
        command: &T,
    ) -> Result<u64, PgError> {
        let rows = self
            .client()
            .query(
                &format!(
                    "WITH numbered AS ( \
                       UPDATE runsheet.sessions SET next_command = next_command + 1 \
                       WHERE id = $1 RETURNING next_command - 1 AS seq), \
                     added AS ( \
                       INSERT INTO runsheet.commands (session, seq, operator, os_user, host, terminal, command) \
                       SELECT $1, numbered.seq, $2, $3, $4, $5, $6 FROM numbered RETURNING seq) \
                     SELECT seq, pg_notify('{COMMAND_CHANNEL}', $1 || ' ' || seq)::text FROM added"
                ),
                &[
                    &session,
                    &origin.operator,
                    &origin.seat.os_user.as_deref().unwrap_or(UNKNOWN_USER),
                    &origin.seat.host,
                    &origin.seat.terminal,
                    &Json(command),
                ],
            )
            .await
            .map_err(|e| self.error("submit a command", &e))?;
        let row = rows.first().ok_or_else(|| PgError::NoSession {
            session: session.to_string(),
            target: self.target().to_string(),
        })?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or_default())
    }

    /// The earliest command of `session` not yet settled.
    pub async fn next_command(&self, session: &str) -> Result<Option<CommandRow>, PgError> {
        let row = self
            .client()
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM runsheet.commands \
                     WHERE session = $1 AND status = 'pending' ORDER BY seq LIMIT 1"
                ),
                &[&session],
            )
            .await
            .map_err(|e| self.error("read the next command", &e))?;
        Ok(row.as_ref().map(row_to_command))
    }

    /// Settle command `seq` of `session`. Only the earliest pending command
    /// can be settled, and only once: anything else is refused, so commands
    /// are consumed in order even by mistake.
    pub async fn settle_command(
        &self,
        session: &str,
        seq: u64,
        settlement: &Settlement,
    ) -> Result<(), PgError> {
        let seq_i = i64::try_from(seq).unwrap_or(i64::MAX);
        let (status, reason) = match settlement {
            Settlement::Consumed => ("consumed", None),
            Settlement::Refused(reason) => ("refused", Some(reason.as_str())),
        };
        let updated = self
            .client()
            .execute(
                "UPDATE runsheet.commands AS c SET status = $3, reason = $4, settled_at = now() \
                 WHERE c.session = $1 AND c.seq = $2 AND c.status = 'pending' \
                   AND NOT EXISTS (SELECT 1 FROM runsheet.commands AS e \
                                   WHERE e.session = $1 AND e.seq < $2 AND e.status = 'pending')",
                &[&session, &seq_i, &status, &reason],
            )
            .await
            .map_err(|e| self.error("settle a command", &e))?;
        if updated == 1 {
            return Ok(());
        }
        let why = match self.next_command(session).await? {
            Some(first) if first.seq < seq => format!("command {} comes first", first.seq),
            _ => "it is not a pending command".to_string(),
        };
        Err(PgError::Command {
            session: session.to_string(),
            seq,
            reason: why,
        })
    }

    /// Command `seq` of `session`, if there is one.
    pub async fn command(&self, session: &str, seq: u64) -> Result<Option<CommandRow>, PgError> {
        let seq_i = i64::try_from(seq).unwrap_or(i64::MAX);
        let row = self
            .client()
            .query_opt(
                &format!("SELECT {COLUMNS} FROM runsheet.commands WHERE session = $1 AND seq = $2"),
                &[&session, &seq_i],
            )
            .await
            .map_err(|e| self.error("read a command", &e))?;
        Ok(row.as_ref().map(row_to_command))
    }

    /// Every command of `session`, in order (for review and tests).
    pub async fn commands(&self, session: &str) -> Result<Vec<CommandRow>, PgError> {
        let rows = self
            .client()
            .query(
                &format!("SELECT {COLUMNS} FROM runsheet.commands WHERE session = $1 ORDER BY seq"),
                &[&session],
            )
            .await
            .map_err(|e| self.error("read the commands", &e))?;
        Ok(rows.iter().map(row_to_command).collect())
    }
}
