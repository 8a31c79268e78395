//! Watching a SQL step's backend for lock waits. A statement blocked by
//! another session's lock looks exactly like a slow one, for up to the
//! step's timeout; so while a SQL step runs, a second connection asks the
//! server every [`POLL`] whether the step's backend waits for a lock, on
//! which relation, and which backend holds it. A wait longer than
//! [`REPORT_AFTER`] goes to the step's `lock` stream (the log, the journal,
//! the status line), once per change of relation or holder, and its end once.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, SimpleQueryMessage};

use super::OutputSender;
use crate::connect;
use crate::journal::event::{LOCK_WAIT_ENDED, Stream};

/// How often the step's backend is looked at.
pub const POLL: Duration = Duration::from_millis(300);
/// A lock wait shorter than this is not worth a line.
pub const REPORT_AFTER: Duration = Duration::from_secs(1);
/// Longest first line of the holder's query shown.
const QUERY_CHARS: usize = 120;

/// What the step's backend waits for, and who holds it. The first blocker
/// is enough to act on (`pg_blocking_pids` lists them all).
const WAIT_QUERY: &str = "\
SELECT coalesce(w.relation::regclass::text, w.locktype), w.mode,
       extract(epoch FROM now() - coalesce(w.waitstart, a.state_change))::float8::text,
       b.pid::text, coalesce(b.usename::text, ''), coalesce(b.application_name, ''), coalesce(b.state, ''),
       coalesce(to_char(b.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', ''),
       coalesce(b.query, '')
  FROM pg_locks w
  JOIN pg_stat_activity a ON a.pid = w.pid
  CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocker(pid)
  JOIN pg_stat_activity b ON b.pid = blocker.pid
 WHERE w.pid = $PID AND NOT w.granted
 LIMIT 1";

/// A lock wait of the step's backend, as the server described it.
#[derive(Debug, Clone, PartialEq)]
struct LockWait {
    relation: String,
    mode: String,
    waited: Duration,
    holder_pid: String,
    holder_user: String,
    holder_application: String,
    holder_state: String,
    holder_query_start: String,
    holder_query: String,
}

impl LockWait {
    fn from_row(row: &[String]) -> Option<LockWait> {
        let cell = |i: usize| row.get(i).cloned().unwrap_or_default();
        let waited = cell(2)
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)?;
        Some(LockWait {
            relation: cell(0),
            mode: cell(1),
            waited: Duration::from_secs_f64(waited),
            holder_pid: cell(3),
            holder_user: cell(4),
            holder_application: cell(5),
            holder_state: cell(6),
            holder_query_start: cell(7),
            holder_query: cell(8),
        })
    }

    /// What a change is: another relation or another holder.
    fn same_wait(&self, other: &LockWait) -> bool {
        self.relation == other.relation && self.holder_pid == other.holder_pid
    }

    fn describe(&self) -> String {
        let query = self
            .holder_query
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        let query = crate::text::truncate(&crate::text::sanitize(query), QUERY_CHARS);
        format!(
            "waiting {} for {} on {}, held by pid {} (user {}, application {}, state {}, query started {}): {query}",
            crate::text::duration(self.waited),
            self.mode,
            self.relation,
            self.holder_pid,
            or_unknown(&self.holder_user),
            or_unknown(&self.holder_application),
            or_unknown(&self.holder_state),
            or_unknown(&self.holder_query_start),
        )
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "?" } else { s }
}

/// The watcher of one step's backend; it stops when dropped.
pub struct Watch(JoinHandle<()>);

impl Drop for Watch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watch backend `pid` on the server `config` reaches, reporting lock
/// waits to `out` as lines of the `lock` stream.
pub fn watch(config: &Config, pid: i32, out: impl OutputSender) -> Watch {
    let mut config = config.clone();
    config.application_name("runsheet (lock watch)");
    Watch(tokio::spawn(async move {
        let say = |text: String| {
            let out = out.clone();
            async move { out.send_lines(Stream::Lock, vec![text]).await }
        };
        // A wait shorter than REPORT_AFTER is never reported, so most steps
        // (done in milliseconds) end before the watcher costs a connection.
        tokio::time::sleep(REPORT_AFTER.saturating_sub(POLL)).await;
        let connected = match connect::connect(&config).await {
            Ok(c) => c,
            Err(e) => {
                out.send_lines(Stream::Notice, vec![format!("lock waits are not watched: {e}")])
                    .await;
                return;
            }
        };
        let query = WAIT_QUERY.replace("$PID", &pid.to_string());
        let mut reported: Option<LockWait> = None;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(row) = first_row(&connected.client, &query).await else {
                // The watcher's own connection failed: the step goes on unwatched.
                return;
            };
            let wait = row
                .as_deref()
                .and_then(LockWait::from_row)
                .filter(|w| w.waited >= REPORT_AFTER);
            match wait {
                Some(now) => {
                    if !reported.as_ref().is_some_and(|before| now.same_wait(before)) {
                        say(now.describe()).await;
                    }
                    // The same wait, longer: remembered for how long it lasted.
                    reported = Some(now);
                }
                None => {
                    if let Some(before) = reported.take() {
                        say(format!(
                            "{LOCK_WAIT_ENDED} after about {} (on {}, held by pid {})",
                            crate::text::duration(before.waited),
                            before.relation,
                            before.holder_pid
                        ))
                        .await;
                    }
                }
            }
        }
    }))
}

/// The step's backend pid, as the server numbers it.
pub async fn backend_pid(client: &Client) -> Option<i32> {
    first_row(client, "SELECT pg_backend_pid()::text")
        .await
        .ok()
        .flatten()
        .and_then(|row| row.first().and_then(|pid| pid.parse().ok()))
}

/// The first row of `sql`'s result, as text.
async fn first_row(client: &Client, sql: &str) -> Result<Option<Vec<String>>, tokio_postgres::Error> {
    Ok(client.simple_query(sql).await?.into_iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(
            (0..row.len())
                .map(|i| row.get(i).unwrap_or("").to_string())
                .collect(),
        ),
        _ => None,
    }))
}
