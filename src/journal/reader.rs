//! Reading and verifying a journal.
//!
//! [`JournalStream`] yields verified records one at a time (one reused line
//! buffer, nothing else held), so a journal of millions of lines can be
//! folded without keeping its raw text; [`read_journal`] collects it. Reading
//! stops at the first line that breaks the chain: the records before it are
//! returned with [`Integrity::Broken`]. A torn last line (no newline and not a
//! complete line, as a crash mid-write leaves it) is dropped with a warning.
//! A journal read from its file is also checked against its anchor
//! ([`super::anchor`]): one that ends before the line the anchor names, or
//! has another line there, is [`Integrity::Broken`] too.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::JournalError;
use super::anchor::{self, Anchor};
use super::chain::{LineError, LineHash, Verifier};
use super::event::{Event, FORMAT_VERSION, Record};

/// Read buffer size: large, since journals are read front to back in one go.
const READ_BUFFER: usize = 1 << 20;

/// Whether a journal's hash chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    Verified,
    Broken {
        /// 1-based line number of the first bad line.
        line: usize,
        reason: String,
    },
}

impl Integrity {
    pub fn is_verified(&self) -> bool {
        matches!(self, Integrity::Verified)
    }
}

/// A journal read and verified.
#[derive(Debug, Clone)]
pub struct ReadJournal {
    /// The verified records, in order; when broken, those before the break.
    pub records: Vec<Record>,
    pub integrity: Integrity,
    /// Things worth telling the reader that do not break the chain (a torn last line).
    pub warnings: Vec<String>,
    /// Hash of the last verified line.
    pub last_hash: String,
    /// Byte length of the verified prefix of the file.
    pub good_len: u64,
}

/// Read and verify a whole journal.
pub fn read_journal(path: &Path) -> Result<ReadJournal, JournalError> {
    let mut stream = JournalStream::open(path)?;
    let records = stream.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok(ReadJournal {
        records,
        integrity: stream.integrity().clone(),
        warnings: stream.warnings().to_vec(),
        last_hash: stream.last_hash().to_string(),
        good_len: stream.good_len(),
    })
}

/// Verified records of a journal, one at a time, from a file (or from any
/// buffered reader, as the property tests and fuzz targets use).
///
/// Yields `Err` only for I/O errors. Once it yields `None`, [`integrity`],
/// [`warnings`], [`last_hash`] and [`good_len`] describe the whole journal.
///
/// [`integrity`]: JournalStream::integrity
/// [`warnings`]: JournalStream::warnings
/// [`last_hash`]: JournalStream::last_hash
/// [`good_len`]: JournalStream::good_len
#[derive(Debug)]
pub struct JournalStream<R = BufReader<File>> {
    path: PathBuf,
    reader: R,
    verifier: Verifier,
    line: Vec<u8>,
    line_no: usize,
    good_len: u64,
    integrity: Integrity,
    warnings: Vec<String>,
    done: bool,
    /// The journal's anchor, when it has one.
    anchor: Option<Anchor>,
}

impl JournalStream {
    pub fn open(path: &Path) -> Result<JournalStream, JournalError> {
        let file = File::open(path).map_err(JournalError::io("open the journal", path))?;
        let mut stream = JournalStream::from_reader(BufReader::with_capacity(READ_BUFFER, file), path);
        match anchor::read(path) {
            Ok(anchor) => stream.anchor = anchor,
            Err(why) => stream.warnings.push(why),
        }
        Ok(stream)
    }
}

impl<R: BufRead> JournalStream<R> {
    /// Read a journal from `reader`; `path` names it in errors.
    pub fn from_reader(reader: R, path: &Path) -> JournalStream<R> {
        JournalStream {
            path: path.to_path_buf(),
            reader,
            verifier: Verifier::new(),
            line: Vec::with_capacity(4096),
            line_no: 0,
            good_len: 0,
            integrity: Integrity::Verified,
            warnings: Vec::new(),
            done: false,
            anchor: None,
        }
    }

    /// The verdict so far; final once the stream has ended.
    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Hash of the last verified line (64 '0's before the first).
    pub fn last_hash(&self) -> &LineHash {
        self.verifier.last_hash()
    }

    /// Byte length of the verified prefix read so far.
    pub fn good_len(&self) -> u64 {
        self.good_len
    }

    /// At the end of a journal whose chain held: it must reach its anchor.
    fn check_cut_off(&mut self) {
        if !self.integrity.is_verified() {
            return;
        }
        if let Some(reason) = self
            .anchor
            .as_ref()
            .and_then(|a| anchor::cut_off(a, self.verifier.next_seq()))
        {
            self.integrity = Integrity::Broken {
                line: self.line_no + 1,
                reason,
            };
        }
    }

    fn next_record(&mut self) -> Result<Option<Record>, JournalError> {
        if self.done {
            return Ok(None);
        }
        self.line.clear();
        let read = self.reader.read_until(b'\n', &mut self.line).map_err(|e| {
            self.done = true;
            JournalError::io("read the journal", &self.path)(e)
        })?;
        if read == 0 {
            self.done = true;
            if self.verifier.next_seq() == 0 {
                self.integrity = Integrity::Broken {
                    line: 1,
                    reason: "the journal is empty: it has no session header".into(),
                };
            }
            self.check_cut_off();
            return Ok(None);
        }
        self.line_no += 1;
        let complete = self.line.last() == Some(&b'\n');
        let content = if complete {
            &self.line[..self.line.len() - 1]
        } else {
            &self.line[..]
        };
        match self.verifier.check(content) {
            Ok(record) => {
                if let Some(reason) = self
                    .anchor
                    .as_ref()
                    .and_then(|a| anchor::differs(a, record.seq, self.verifier.last_hash()))
                {
                    self.integrity = Integrity::Broken {
                        line: self.line_no,
                        reason,
                    };
                    self.done = true;
                    return Ok(None);
                }
                self.good_len += read as u64;
                match &record.event {
                    Event::Header(header) if header.format > FORMAT_VERSION => self.warnings.push(format!(
                        "the journal was written in format {} by a newer runsheet; this one knows format {}",
                        header.format, FORMAT_VERSION
                    )),
                    _ => {}
                }
                Ok(Some(record))
            }
            Err(LineError::Malformed(_)) if !complete => {
                self.warnings.push(format!(
                    "line {} is incomplete (torn write?) and was ignored",
                    self.line_no
                ));
                self.done = true;
                if self.verifier.next_seq() == 0 {
                    self.integrity = Integrity::Broken {
                        line: 1,
                        reason: "the journal has no complete session header".into(),
                    };
                }
                self.check_cut_off();
                Ok(None)
            }
            Err(LineError::Malformed(reason) | LineError::Broken(reason)) => {
                self.integrity = Integrity::Broken {
                    line: self.line_no,
                    reason,
                };
                self.done = true;
                Ok(None)
            }
        }
    }
}

impl<R: BufRead> Iterator for JournalStream<R> {
    type Item = Result<Record, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}
