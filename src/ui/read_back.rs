//! The terminal loop's log read-backs: one at a time, on a thread of their
//! own, the newest query first.
//!
//! A log pane has at most one read-back outstanding; it asks again only
//! once it has been answered or it was replaced (another step shown, a
//! replay seek), and then the answer to the old query would be stale. So a
//! query still waiting when a newer one comes is dropped unread. Reading
//! one at a time lets each read start where the last one got to (the
//! step's line checkpoints, see `log`), instead of every read of a replay
//! that follows the end while the index is built scanning the journal from
//! its start at the same time as the others.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::mpsc;

use super::log::{LogChunk, LogQuery, read_log};

/// The next query to read, and whether the loop is gone.
#[derive(Default)]
struct Slot {
    next: Option<LogQuery>,
    closed: bool,
}

type Shared = Arc<(Mutex<Slot>, Condvar)>;

/// Reads log lines back from one journal; answers go to the loop's channel.
pub struct ReadBack {
    shared: Shared,
}

impl ReadBack {
    /// Start the reading thread for the journal at `journal`.
    pub fn spawn(journal: PathBuf, answers: mpsc::UnboundedSender<LogChunk>) -> std::io::Result<ReadBack> {
        let shared: Shared = Arc::default();
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("log read-back".into())
            .spawn(move || {
                while let Some(query) = next(&worker) {
                    if answers.send(read_log(&journal, &query)).is_err() {
                        return;
                    }
                }
            })?;
        Ok(ReadBack { shared })
    }

    /// Read `query` next, in place of one still waiting.
    pub fn read(&self, query: LogQuery) {
        let (slot, wake) = &*self.shared;
        if let Ok(mut slot) = slot.lock() {
            slot.next = Some(query);
            wake.notify_one();
        }
    }
}

impl Drop for ReadBack {
    /// The thread stops after the read under way, if any (it is not waited for).
    fn drop(&mut self) {
        let (slot, wake) = &*self.shared;
        if let Ok(mut slot) = slot.lock() {
            slot.closed = true;
            wake.notify_one();
        }
    }
}

/// Wait for the next query; `None` once the loop is gone.
fn next(shared: &Shared) -> Option<LogQuery> {
    let (slot, wake) = &**shared;
    let mut slot = slot.lock().ok()?;
    loop {
        if slot.closed {
            return None;
        }
        if let Some(query) = slot.next.take() {
            return Some(query);
        }
        slot = wake.wait(slot).ok()?;
    }
}
