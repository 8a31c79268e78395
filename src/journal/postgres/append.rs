//! One append: a batch of consecutive journal lines added to a session's
//! chain in one transaction, checked against the chain's head.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_postgres::Client;

use crate::journal::chain::{LineHash, line_hash};

/// A journal line as it is stored: its exact text and what is copied out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredLine {
    pub seq: u64,
    pub ts: DateTime<Utc>,
    /// The event's `type`.
    pub kind: String,
    pub hash: LineHash,
    /// The line without its newline.
    pub text: String,
    /// Where the line starts in the local file, when there is one.
    pub offset: u64,
}

/// The members of a line that are copied into columns.
#[derive(Deserialize)]
struct Columns {
    seq: u64,
    ts: DateTime<Utc>,
    #[serde(rename = "type")]
    kind: String,
}

impl StoredLine {
    /// A line as written by the chain's encoder (without its newline);
    /// `None` if it is not one. The hash is read, not checked.
    pub fn parse(line: &[u8], offset: u64) -> Option<StoredLine> {
        let hash = line_hash(line)?;
        let Columns { seq, ts, kind } = serde_json::from_slice(line).ok()?;
        let text = std::str::from_utf8(line).ok()?.to_string();
        Some(StoredLine {
            seq,
            ts,
            kind,
            hash,
            text,
            offset,
        })
    }

    /// Where the line after this one starts in the local file.
    pub fn end_offset(&self) -> u64 {
        self.offset + self.text.len() as u64 + 1
    }
}

/// The head of a session's chain: the seq the next record must carry and
/// the hash of the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub next_seq: u64,
    pub last_hash: LineHash,
}

impl Head {
    /// The head of a chain with nothing in it.
    pub const EMPTY: Head = Head {
        next_seq: 0,
        last_hash: LineHash::GENESIS,
    };
}

/// How an append went, when the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Committed; the new head.
    Done(Head),
    /// Not written: the chain's head is elsewhere (`None`: no such session).
    Refused(Option<Head>),
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn parse_head(seq: Option<i64>, hash: Option<String>) -> Option<Head> {
    Some(Head {
        next_seq: u64::try_from(seq?).ok()?,
        last_hash: LineHash::parse(hash?.as_bytes())?,
    })
}

/// Append `lines` (consecutive, non-empty) after `prev` in one statement.
pub(crate) async fn append(
    client: &Client,
    session: &str,
    prev: &LineHash,
    lines: &[StoredLine],
) -> Result<Appended, tokio_postgres::Error> {
    let seqs: Vec<i64> = lines.iter().map(|l| to_i64(l.seq)).collect();
    let ts: Vec<DateTime<Utc>> = lines.iter().map(|l| l.ts).collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l.kind.as_str()).collect();
    let hashes: Vec<&str> = lines.iter().map(|l| l.hash.as_str()).collect();
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let row = client
        .query_one(
            "SELECT r_appended, r_next_seq, r_last_hash \
             FROM runsheet.append_records($1, $2, $3, $4, $5, $6, $7)",
            &[&session, &prev.as_str(), &seqs, &ts, &kinds, &hashes, &texts],
        )
        .await?;
    let head = parse_head(row.get(1), row.get(2));
    Ok(match (row.get::<_, bool>(0), head) {
        (true, Some(head)) => Appended::Done(head),
        (_, head) => Appended::Refused(head),
    })
}

/// The head of `session`'s chain, `None` if the session is not there.
pub(crate) async fn head(client: &Client, session: &str) -> Result<Option<Head>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT next_seq, last_hash FROM runsheet.sessions WHERE id = $1",
            &[&session],
        )
        .await?;
    Ok(row.and_then(|r| parse_head(r.get(0), r.get(1))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::chain::encode_line;
    use crate::journal::event::{Event, Record};

    #[test]
    fn a_stored_line_copies_its_columns_out_of_the_line() {
        let record = Record {
            seq: 7,
            ts: Utc::now(),
            event: Event::Note {
                who: "ana".into(),
                text: "hé \"x\"".into(),
            },
            origin: None,
        };
        let mut out = Vec::new();
        let hash = encode_line(&record, &LineHash::GENESIS, &mut out).unwrap();
        let line = out.strip_suffix(b"\n").unwrap();
        let stored = StoredLine::parse(line, 100).unwrap();
        assert_eq!(
            (stored.seq, stored.ts, stored.kind.as_str()),
            (7, record.ts, "note")
        );
        assert_eq!(stored.hash, hash);
        assert_eq!(stored.text.as_bytes(), line);
        assert_eq!(stored.end_offset(), 100 + out.len() as u64);
        assert!(StoredLine::parse(b"{\"seq\":1}", 0).is_none());
    }
}
