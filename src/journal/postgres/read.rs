//! Reading the journal database: the sessions stored there, a session's
//! records streamed in seq order with bounded memory, and verification of
//! its chain with the file's rules ([`Verifier`]), naming the first bad seq.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::append::{self, Head};
use super::{JournalConnection, JournalDb, PgError};
use crate::journal::chain::{LineError, LineHash, Verifier, line_hash, parse_line_unchecked};
use crate::journal::event::{Event, Header, Mode, Record, SessionOutcome};
use crate::journal::reader::Integrity;
use crate::journal::store::{SessionStatus, SessionSummary, rollback_decided, status_after};

/// A page of records holds at most this many rows…
const PAGE_ROWS: i64 = 2_000;
/// …and stops after the row that passes this many bytes of lines, so a page
/// of huge output events stays small too.
const PAGE_BYTES: i64 = 4 << 20;

/// One session stored in the journal database, as `runsheet sessions` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub id: String,
    pub runbook_path: String,
    pub runbook_sha256: String,
    pub environment: String,
    pub mode: Mode,
    pub operator: String,
    pub host: String,
    pub started: DateTime<Utc>,
    pub last_event: DateTime<Utc>,
    pub outcome: SessionStatus,
    /// How many records the session's chain has.
    pub events: u64,
}

/// A record read back, with its line exactly as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub record: Record,
    pub line: String,
}

/// The first record of a session that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSeq {
    pub seq: u64,
    pub reason: String,
}

/// A session's chain, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub session: String,
    /// Records verified (those before the first bad one).
    pub events: u64,
    /// Hash of the last verified record.
    pub last_hash: String,
    pub broken: Option<BadSeq>,
    /// The last verified record is a seal: the session ended and runsheet closed it.
    pub sealed: bool,
}

impl Verdict {
    /// As the file reader reports it: line N of a journal is seq N-1, the
    /// same line in the local copy.
    pub fn integrity(&self) -> Integrity {
        match &self.broken {
            None => Integrity::Verified,
            Some(bad) => Integrity::Broken {
                line: usize::try_from(bad.seq).map_or(usize::MAX, |s| s.saturating_add(1)),
                reason: bad.reason.clone(),
            },
        }
    }
}

/// A row as stored: its seq and hash columns, and its line.
pub(super) struct Row {
    seq: i64,
    hash: String,
    line: String,
}

/// Up to a page of rows of `session` from seq `from` on.
pub(super) async fn page(
    client: &Client,
    session: &str,
    from: u64,
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT seq, hash, line FROM ( \
               SELECT seq, hash, line, sum(octet_length(line)) OVER (ORDER BY seq) AS upto \
               FROM (SELECT seq, hash, line FROM runsheet.records \
                     WHERE session = $1 AND seq >= $2 ORDER BY seq LIMIT $3) AS first_rows \
             ) AS sized WHERE upto - octet_length(line) < $4 ORDER BY seq",
            &[&session, &from, &PAGE_ROWS, &PAGE_BYTES],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Row {
            seq: r.get(0),
            hash: r.get(1),
            line: r.get(2),
        })
        .collect())
}

/// Check a row against the chain and against its own columns.
pub(super) fn check(verifier: &mut Verifier, row: Row) -> Result<StoredRecord, BadSeq> {
    let seq = verifier.next_seq();
    let bad = |reason: String| BadSeq { seq, reason };
    let record = verifier.check(row.line.as_bytes()).map_err(|e| match e {
        LineError::Malformed(r) | LineError::Broken(r) => bad(r),
    })?;
    if row.seq != i64::try_from(record.seq).unwrap_or(-1) {
        return Err(bad(format!(
            "the row's seq column says {}, its line {}",
            row.seq, record.seq
        )));
    }
    if line_hash(row.line.as_bytes()).is_none_or(|h| h.as_str() != row.hash) {
        return Err(bad(
            "the row's hash column differs from the hash in its line".into()
        ));
    }
    Ok(StoredRecord {
        record,
        line: row.line,
    })
}

/// A session's records, verified, one at a time, a page in memory at most.
/// Reading stops at the first record that breaks the chain; [`broken`]
/// says where.
///
/// [`broken`]: RecordStream::broken
pub struct RecordStream<'a> {
    conn: &'a JournalConnection,
    session: String,
    verifier: Verifier,
    rows: VecDeque<Row>,
    ended: bool,
    broken: Option<BadSeq>,
}

impl RecordStream<'_> {
    /// The next verified record; `None` at the end or at the first bad one.
    pub async fn next(&mut self) -> Option<Result<StoredRecord, PgError>> {
        if self.broken.is_some() {
            return None;
        }
        if self.rows.is_empty() && !self.ended {
            match page(self.conn.client(), &self.session, self.verifier.next_seq()).await {
                Ok(rows) => {
                    self.ended = rows.is_empty();
                    self.rows.extend(rows);
                }
                Err(e) => return Some(Err(self.conn.error("read the session's records", &e))),
            }
        }
        let row = self.rows.pop_front()?;
        match check(&mut self.verifier, row) {
            Ok(record) => Some(Ok(record)),
            Err(bad) => {
                self.broken = Some(bad);
                self.rows.clear();
                None
            }
        }
    }

    /// The first bad record, once reading stopped there.
    pub fn broken(&self) -> Option<&BadSeq> {
        self.broken.as_ref()
    }

    /// The seq after the last verified record.
    pub fn next_seq(&self) -> u64 {
        self.verifier.next_seq()
    }

    pub fn last_hash(&self) -> &LineHash {
        self.verifier.last_hash()
    }
}

/// A line's RFC 3339 `ts`, or the column's time when it does not parse.
fn exact_time(line_ts: Option<&str>, column: DateTime<Utc>) -> DateTime<Utc> {
    line_ts
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(column, |t| t.with_timezone(&Utc))
}

fn status_of(text: &str) -> SessionStatus {
    match text {
        "detached" => SessionStatus::Detached,
        "completed" => SessionStatus::Ended(SessionOutcome::Completed),
        "failed" => SessionStatus::Ended(SessionOutcome::Failed),
        "aborted" => SessionStatus::Ended(SessionOutcome::Aborted),
        "rolled_back" => SessionStatus::Ended(SessionOutcome::RolledBack),
        _ => SessionStatus::Unfinished,
    }
}

impl JournalConnection {
    /// The sessions stored in the journal database, oldest first.
    pub async fn list_sessions(&self) -> Result<Vec<StoredSession>, PgError> {
        let rows = self
            .client()
            .query(
                // The times come from the lines themselves (nanoseconds;
                // the columns keep microseconds) when they are there: the
                // `ts` every line starts with, matched rather than cast to
                // JSON, which would fail the whole list on one line that is
                // not JSON.
                "SELECT id, runbook_path, runbook_sha256, environment, mode, operator, host, \
                        started_at, last_at, status, next_seq, \
                        (SELECT substring(r.line FROM '^\\{\"seq\":[0-9]+,\"ts\":\"([^\"]+)\"') \
                           FROM runsheet.records AS r WHERE r.session = s.id AND r.seq = 0), \
                        (SELECT substring(r.line FROM '^\\{\"seq\":[0-9]+,\"ts\":\"([^\"]+)\"') \
                           FROM runsheet.records AS r WHERE r.session = s.id AND r.seq = s.next_seq - 1) \
                 FROM runsheet.sessions AS s ORDER BY started_at, id",
                &[],
            )
            .await
            .map_err(|e| self.error("list the sessions", &e))?;
        Ok(rows
            .into_iter()
            .map(|r| StoredSession {
                id: r.get(0),
                runbook_path: r.get(1),
                runbook_sha256: r.get(2),
                environment: r.get(3),
                mode: match r.get::<_, &str>(4) {
                    "live" => Mode::Live,
                    _ => Mode::DryRun,
                },
                operator: r.get(5),
                host: r.get(6),
                started: exact_time(r.get(11), r.get(7)),
                last_event: exact_time(r.get(12), r.get(8)),
                outcome: status_of(r.get(9)),
                events: u64::try_from(r.get::<_, i64>(10)).unwrap_or_default(),
            })
            .collect())
    }

    /// `session`'s records from the first, verified as they are read.
    pub fn records(&self, session: &str) -> RecordStream<'_> {
        RecordStream {
            conn: self,
            session: session.to_string(),
            verifier: Verifier::new(),
            rows: VecDeque::new(),
            ended: false,
            broken: None,
        }
    }

    /// The chain's head of `session`; [`PgError::NoSession`] if it is not there.
    pub(crate) async fn head(&self, session: &str) -> Result<Head, PgError> {
        append::head(self.client(), session)
            .await
            .map_err(|e| self.error("read the session's chain", &e))?
            .ok_or_else(|| PgError::NoSession {
                session: session.to_string(),
                target: self.target().to_string(),
            })
    }

    /// Verify `session`'s whole chain as `runsheet verify` does a file, and
    /// that it ends where the session's head says: a cut-off tail is caught
    /// unless the head was rewritten too.
    pub async fn verify(&self, session: &str) -> Result<Verdict, PgError> {
        self.verify_each(session, |_| {}).await
    }

    /// [`verify`](Self::verify), showing `each` every verified record as it goes.
    async fn verify_each(&self, session: &str, mut each: impl FnMut(&Record)) -> Result<Verdict, PgError> {
        let head = self.head(session).await?;
        let mut stream = self.records(session);
        let mut sealed = false;
        while let Some(record) = stream.next().await {
            let record = record?.record;
            sealed = matches!(record.event, Event::Seal { .. });
            each(&record);
        }
        let broken = stream.broken().cloned().or_else(|| {
            let (next, last) = (stream.next_seq(), *stream.last_hash());
            if next == 0 {
                Some(BadSeq {
                    seq: 0,
                    reason: "the session has no records, not even its header".into(),
                })
            } else if next != head.next_seq || last != head.last_hash {
                Some(BadSeq {
                    seq: next,
                    reason: format!(
                        "the chain ends at seq {}, but the session's head says {} records ending in hash {} (records are missing at the end, or the head was changed)",
                        next - 1,
                        head.next_seq,
                        head.last_hash
                    ),
                })
            } else {
                None
            }
        });
        Ok(Verdict {
            session: session.to_string(),
            events: stream.next_seq(),
            last_hash: stream.last_hash().to_string(),
            broken,
            sealed,
        })
    }
}

impl JournalConnection {
    /// The sessions stored here as the promotion gates judge them, oldest
    /// first. Those that can count as evidence for runbook content
    /// `runbook_sha256` (that content, ended completed or rolled back) have
    /// their whole chain verified, a page at a time; the others are not
    /// read past their header. What the gates judge comes from the records
    /// (the header, and the status the last records say), never from the
    /// `runsheet.sessions` row, which the hash chain does not cover: a row
    /// that says otherwise makes the session count for nothing.
    pub async fn evidence(&self, runbook_sha256: &str) -> Result<Vec<SessionSummary>, PgError> {
        let mut out = Vec::new();
        for s in self.list_sessions().await? {
            // A session whose header cannot be read says nothing that could
            // count (`verify` names what is wrong with it); the others still do.
            let header = match self.header(&s.id).await {
                Ok(header) => header,
                Err(PgError::Broken { .. }) => continue,
                Err(e) => return Err(e),
            };
            let mut rollback_only = header.rollback_only;
            let candidate = s.runbook_sha256 == runbook_sha256
                && matches!(
                    s.outcome,
                    SessionStatus::Ended(SessionOutcome::Completed | SessionOutcome::RolledBack)
                );
            let team_chain = if candidate {
                let (mut decided, mut recorded) = (None, SessionStatus::Unfinished);
                let verdict = self
                    .verify_each(&s.id, |r| {
                        decided = decided.or_else(|| rollback_decided(&r.event));
                        recorded = status_after(&r.event).unwrap_or(recorded);
                    })
                    .await?;
                if s.outcome == SessionStatus::Ended(SessionOutcome::RolledBack) {
                    rollback_only |= decided == Some(true);
                }
                match verdict.broken {
                    Some(bad) => Err(format!(
                        "its hash chain in the team journal is broken at seq {}: {}",
                        bad.seq, bad.reason
                    )),
                    None if recorded != s.outcome => Err(format!(
                        "its session row in the team journal says {}, but its records say {} (the row was changed)",
                        s.outcome.label(),
                        recorded.label()
                    )),
                    None => Ok(()),
                }
            } else {
                Err("its chain in the team journal was not checked (it cannot count)".to_string())
            };
            out.push(SessionSummary {
                id: s.id,
                path: std::path::PathBuf::new(),
                runbook_path: header.runbook_path,
                runbook_sha256: header.runbook_sha256,
                environment: header.environment,
                mode: header.mode,
                only: header.only,
                rollback_only,
                operator: s.operator,
                started: s.started,
                last_event: s.last_event,
                outcome: s.outcome,
                targets: header.targets,
                cut_off: None,
                team_chain: Some(team_chain),
            });
        }
        Ok(out)
    }

    /// `session`'s header, from its first record.
    async fn header(&self, session: &str) -> Result<Header, PgError> {
        let row = self
            .client()
            .query_opt(
                "SELECT line FROM runsheet.records WHERE session = $1 AND seq = 0",
                &[&session],
            )
            .await
            .map_err(|e| self.error("read the session's header", &e))?;
        let header = row
            .and_then(|row| parse_line_unchecked(row.get::<_, &str>(0).as_bytes()))
            .and_then(|record| match record.event {
                Event::Header(header) => Some(header),
                _ => None,
            });
        header.map(|h| *h).ok_or_else(|| PgError::Broken {
            session: session.to_string(),
            seq: 0,
            reason: "its first record is not a session header".into(),
        })
    }
}

/// A whole session read for resuming it.
pub(crate) struct ReadSession {
    pub records: Vec<Record>,
    pub next_seq: u64,
    pub last_hash: LineHash,
}

/// Read and verify all of `session` (to continue it); a broken chain is an error.
pub(crate) async fn read_verified(db: &JournalDb, session: &str) -> Result<ReadSession, PgError> {
    let conn = db.connect().await?;
    let mut stream = conn.records(session);
    let mut records = Vec::new();
    while let Some(record) = stream.next().await {
        records.push(record?.record);
    }
    if let Some(bad) = stream.broken() {
        return Err(PgError::Broken {
            session: session.to_string(),
            seq: bad.seq,
            reason: bad.reason.clone(),
        });
    }
    Ok(ReadSession {
        records,
        next_seq: stream.next_seq(),
        last_hash: *stream.last_hash(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_status_has_its_meaning() {
        assert_eq!(status_of("unfinished"), SessionStatus::Unfinished);
        assert_eq!(status_of("detached"), SessionStatus::Detached);
        assert_eq!(
            status_of("rolled_back"),
            SessionStatus::Ended(SessionOutcome::RolledBack)
        );
        assert_eq!(status_of("completed").label(), "completed");
    }

    #[test]
    fn line_numbers_of_the_copy_are_seqs_plus_one() {
        let verdict = Verdict {
            session: "s".into(),
            events: 3,
            last_hash: String::new(),
            broken: Some(BadSeq {
                seq: 3,
                reason: "x".into(),
            }),
            sealed: false,
        };
        assert_eq!(
            verdict.integrity(),
            Integrity::Broken {
                line: 4,
                reason: "x".into()
            }
        );
    }
}
