//! The line format and the hash chain.
//!
//! A journal line is the JSON of a [`Record`] with one extra, final member:
//! `"hash"`, the hex SHA-256 of the previous line's hash (as 64 ASCII hex
//! digits; 64 `'0'`s before the first line) followed by the line's *body*,
//! the record's JSON without that member. The writer serialises the record
//! to the body and splices `,"hash":"…"` in before its closing brace; the
//! verifier never re-serialises: it cuts the member off the raw line, puts
//! the brace back and hashes those exact bytes, so any edited byte, deleted,
//! reordered or inserted line breaks the chain.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::event::{Event, Record, Stream};

/// `,"hash":"` — what precedes the hash digits at the end of a line.
const HASH_PREFIX: &[u8] = b",\"hash\":\"";
/// Bytes from the start of the hash member to the end of the line (no newline).
const SUFFIX_LEN: usize = HASH_PREFIX.len() + 64 + 2;

/// A line hash: 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineHash([u8; 64]);

impl LineHash {
    /// The "previous hash" of the first line.
    pub const GENESIS: LineHash = LineHash([b'0'; 64]);

    /// Parse 64 lowercase hex digits.
    pub fn parse(hex: &[u8]) -> Option<LineHash> {
        let digits: [u8; 64] = hex.try_into().ok()?;
        digits
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .then_some(LineHash(digits))
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII hex digits.
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }

    /// The hash of a line whose body is `body`, chained after `self`.
    pub fn next(&self, body: &[u8]) -> LineHash {
        self.next_parts(body, b"")
    }

    /// Like [`LineHash::next`] for a body given in two pieces, so the verifier
    /// can hash "line without the hash member" + `}` without copying.
    fn next_parts(&self, head: &[u8], tail: &[u8]) -> LineHash {
        let digest = Sha256::new()
            .chain_update(self.0)
            .chain_update(head)
            .chain_update(tail)
            .finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (i, byte) in digest.iter().enumerate() {
            out[2 * i] = HEX[usize::from(byte >> 4)];
            out[2 * i + 1] = HEX[usize::from(byte & 0x0f)];
        }
        LineHash(out)
    }
}

impl fmt::Display for LineHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for LineHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LineHash({})", self.as_str())
    }
}

/// Append the line of `record`, chained after `prev`, to `out` (with its
/// newline) and return its hash. On error `out` is left as it was.
pub fn encode_line(
    record: &Record,
    prev: &LineHash,
    out: &mut Vec<u8>,
) -> Result<LineHash, serde_json::Error> {
    let start = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, record) {
        out.truncate(start);
        return Err(e);
    }
    // A struct always serialises to an object, so the body ends with `}`.
    debug_assert_eq!(out.last(), Some(&b'}'));
    let hash = prev.next(&out[start..]);
    out.pop();
    out.extend_from_slice(HASH_PREFIX);
    out.extend_from_slice(&hash.0);
    out.extend_from_slice(b"\"}\n");
    Ok(hash)
}

/// Split a line (without its newline) into the body minus its closing brace
/// and the hash it carries; `None` if it does not end with a hash member.
fn split_line(line: &[u8]) -> Option<(&[u8], LineHash)> {
    let cut = line.len().checked_sub(SUFFIX_LEN)?;
    let (head, suffix) = line.split_at(cut);
    let digits = suffix.strip_prefix(HASH_PREFIX)?.strip_suffix(b"\"}")?;
    Some((head, LineHash::parse(digits)?))
}

/// An output event, the bulk of any journal, read straight into its fields:
/// the derived reader of [`Record`] buffers every line twice (flattened,
/// internally tagged enum), which made reading a journal ~40% slower.
#[derive(Deserialize)]
struct OutputRecord<'a> {
    seq: u64,
    ts: DateTime<Utc>,
    #[serde(rename = "type")]
    kind: &'a str,
    step: String,
    attempt: u32,
    stream: Stream,
    lines: Vec<String>,
}

/// Parse a record's JSON: output events by the fast path, anything else
/// (or anything the fast path refuses) by the record's own deserialiser.
fn parse_record(json: &[u8]) -> serde_json::Result<Record> {
    match serde_json::from_slice::<OutputRecord>(json) {
        Ok(OutputRecord {
            seq,
            ts,
            kind: "output",
            step,
            attempt,
            stream,
            lines,
        }) => Ok(Record {
            seq,
            ts,
            event: Event::Output {
                step,
                attempt,
                stream,
                lines,
            },
            origin: None,
        }),
        _ => serde_json::from_slice(json),
    }
}

/// The hash a line (without its newline) carries in its last member, unchecked.
pub fn line_hash(line: &[u8]) -> Option<LineHash> {
    split_line(line).map(|(_, hash)| hash)
}

/// Parse a line without checking its hash (for a quick look at a journal's
/// tail). The hash member is ignored by the record's deserialiser.
pub fn parse_line_unchecked(line: &[u8]) -> Option<Record> {
    split_line(line)?;
    parse_record(line).ok()
}

/// Why a line failed verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// The line is not a complete journal line (a torn write looks like this).
    Malformed(String),
    /// The line is well formed but does not belong in the chain here.
    Broken(String),
}

/// Checks lines one by one against the chain: well-formed, next seq, hash.
#[derive(Debug)]
pub struct Verifier {
    prev: LineHash,
    next_seq: u64,
    /// Reused buffer for the body of the line being checked.
    body: Vec<u8>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

impl Verifier {
    /// A verifier for a journal's first line.
    pub fn new() -> Verifier {
        Verifier::resume(LineHash::GENESIS, 0)
    }

    /// A verifier for the line `next_seq` of a journal whose line before it
    /// hashed to `prev`: checks a chain from the middle, trusting that start.
    pub fn resume(prev: LineHash, next_seq: u64) -> Verifier {
        Verifier {
            prev,
            next_seq,
            body: Vec::new(),
        }
    }

    /// Hash of the last line accepted (genesis before any).
    pub fn last_hash(&self) -> &LineHash {
        &self.prev
    }

    /// Seq the next line must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Verify one raw line (without its newline) and return its record.
    /// The verifier only advances when the line is accepted.
    pub fn check(&mut self, line: &[u8]) -> Result<Record, LineError> {
        let (head, claimed) = split_line(line).ok_or_else(|| {
            LineError::Malformed("the line does not end with a `\"hash\"` member of 64 hex digits".into())
        })?;
        self.body.clear();
        self.body.extend_from_slice(head);
        self.body.push(b'}');
        let record = parse_record(&self.body)
            .map_err(|e| LineError::Malformed(format!("not a valid journal record: {e}")))?;
        if record.seq != self.next_seq {
            return Err(LineError::Broken(format!(
                "expected seq {}, found seq {} (a line was deleted, duplicated or moved)",
                self.next_seq, record.seq
            )));
        }
        let first = self.next_seq == 0;
        match (&record.event, first) {
            (Event::Header(_), false) => {
                return Err(LineError::Broken(
                    "a second session header in the middle of the journal".into(),
                ));
            }
            (Event::Header(_), true) | (_, false) => {}
            (_, true) => return Err(LineError::Broken("the first line is not a session header".into())),
        }
        let actual = self.prev.next_parts(head, b"}");
        if actual != claimed {
            return Err(LineError::Broken(
                "the hash does not match the chain (this line was edited, or inserted here)".into(),
            ));
        }
        self.prev = actual;
        self.next_seq += 1;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn note(seq: u64) -> Record {
        Record {
            seq,
            ts: Utc::now(),
            event: Event::Note {
                who: "ana".into(),
                text: "hi \"there\"".into(),
            },
            origin: None,
        }
    }

    #[test]
    fn genesis_and_parse() {
        assert_eq!(LineHash::GENESIS.as_str(), "0".repeat(64));
        assert!(LineHash::parse(&[b'a'; 64]).is_some());
        assert!(LineHash::parse(&[b'A'; 64]).is_none());
        assert!(LineHash::parse(&[b'a'; 63]).is_none());
    }

    #[test]
    fn encoded_line_has_the_documented_hash() {
        let mut out = Vec::new();
        let hash = encode_line(&note(3), &LineHash::GENESIS, &mut out).unwrap();
        let line = out.strip_suffix(b"\n").unwrap();
        let body_str = std::str::from_utf8(&line[..line.len() - SUFFIX_LEN])
            .unwrap()
            .to_string()
            + "}";
        let mut input = "0".repeat(64).into_bytes();
        input.extend_from_slice(body_str.as_bytes());
        let digest = Sha256::digest(&input);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hash.as_str(), hex);
        assert!(
            std::str::from_utf8(line)
                .unwrap()
                .ends_with(&format!(",\"hash\":\"{hex}\"}}"))
        );
        assert_eq!(parse_line_unchecked(line).unwrap().seq, 3);
    }

    #[test]
    fn the_output_fast_path_agrees_with_the_record_deserialiser() {
        let events = [
            Event::Output {
                step: "1.1".into(),
                attempt: 2,
                stream: Stream::Stderr,
                lines: vec!["a\"b".into()],
            },
            Event::StepStarted {
                step: "1.1".into(),
                attempt: 1,
            },
            Event::AwaitingSignOff { step: "1.2".into() },
        ];
        for (seq, event) in events.into_iter().enumerate() {
            let record = Record {
                seq: seq as u64,
                ts: Utc::now(),
                event,
                origin: None,
            };
            let json = serde_json::to_vec(&record).unwrap();
            assert_eq!(parse_record(&json).unwrap(), record);
            assert_eq!(serde_json::from_slice::<Record>(&json).unwrap(), record);
        }
        // An escaped tag cannot be borrowed: the general path reads it.
        let json = br#"{"seq":0,"ts":"2026-01-01T00:00:00Z","type":"outp\u0075t","step":"s","attempt":1,"stream":"info","lines":[]}"#;
        assert!(matches!(parse_record(json).unwrap().event, Event::Output { .. }));
    }

    #[test]
    fn verifier_rejects_a_non_header_first_line_and_garbage() {
        let mut out = Vec::new();
        encode_line(&note(0), &LineHash::GENESIS, &mut out).unwrap();
        let mut v = Verifier::new();
        assert!(matches!(
            v.check(out.strip_suffix(b"\n").unwrap()),
            Err(LineError::Broken(_))
        ));
        for junk in [&b""[..], b"{", b"\xff\xfe", &[b'}'; SUFFIX_LEN]] {
            assert!(matches!(v.check(junk), Err(LineError::Malformed(_))));
        }
        assert_eq!(v.next_seq(), 0);
        assert_eq!(v.last_hash(), &LineHash::GENESIS);
    }
}
