//! The anchor of a local journal: `<id>.anchor` beside `<id>.jsonl`, the
//! seq and hash of the last line the session made durable.
//!
//! A journal is append-only, so a journal that has fewer lines than its
//! anchor names, or another hash at that seq, lost its tail (cut off,
//! replaced by an older copy or by its first lines, or deleted). Readers
//! check it (see [`super::reader`]); it cannot tell apart a journal and an
//! anchor both rewritten by someone who can write the state directory.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::JournalError;
use super::chain::LineHash;

/// What an anchor file holds: one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Seq of the last durable line.
    pub seq: u64,
    /// Hash of that line.
    pub hash: String,
}

/// The anchor file of the journal at `journal`.
pub fn anchor_path(journal: &Path) -> PathBuf {
    journal.with_extension("anchor")
}

/// Record that the journal at `journal` holds line `seq` with hash `hash`:
/// written beside it and renamed into place, so a reader sees the old
/// anchor or the new one, never half of one. Not synced: after a crash the
/// anchor may name an earlier line, never a line the journal did not sync.
pub(crate) fn write(journal: &Path, seq: u64, hash: &LineHash) -> Result<(), JournalError> {
    let path = anchor_path(journal);
    let tmp = journal.with_extension("anchor.new");
    let mut line = serde_json::to_vec(&Anchor {
        seq,
        hash: hash.to_string(),
    })?;
    line.push(b'\n');
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&line))
        .map_err(JournalError::io("write the journal's anchor", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(JournalError::io("write the journal's anchor", &path))
}

/// The anchor of the journal at `journal`: `Ok(None)` when it has none (an
/// older runsheet's journal, or one copied away from its state directory),
/// `Err` with why when the file is there but unreadable.
pub fn read(journal: &Path) -> Result<Option<Anchor>, String> {
    let path = anchor_path(journal);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("its anchor {} is unreadable: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read its anchor {}: {e}", path.display())),
    }
}

/// Why a journal whose lines end at `next_seq` (exclusive) falls short of
/// its anchor, or `None` when it does not.
pub fn cut_off(anchor: &Anchor, next_seq: u64) -> Option<String> {
    (next_seq <= anchor.seq).then(|| {
        format!(
            "the journal ends after {next_seq} lines but its anchor says the session wrote {} \
             (seq {}): its tail was cut off or it was replaced by an older copy",
            anchor.seq + 1,
            anchor.seq
        )
    })
}

/// Why line `seq` with hash `hash` does not match `anchor`, if it does not.
pub fn differs(anchor: &Anchor, seq: u64, hash: &LineHash) -> Option<String> {
    (seq == anchor.seq && hash.as_str() != anchor.hash).then(|| {
        format!(
            "line {} (seq {seq}) is not the one its anchor recorded (hash {}): \
             the journal was replaced or rewritten",
            seq + 1,
            anchor.hash
        )
    })
}
