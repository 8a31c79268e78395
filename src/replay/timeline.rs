//! The replay's timeline: every event indexed so far on the playback time
//! axis (journal time with idle gaps capped), its markers, where its line
//! starts, and the checkpoints to seek from.
//!
//! It is made of what the indexer ([`super::index`]) hands over in
//! [`IndexBatch`]es; everything here is pure and cheap to query.

use super::index::{Checkpoint, IndexBatch, Mark};
use crate::journal::reader::Integrity;
use crate::ui::LineMark;

/// Playback spends at most this long (journal time) on a pause between two
/// events: a wait for a sign-off does not stall the replay for an hour.
pub const IDLE_GAP_MS: i64 = 5_000;

/// A pause as the replay plays it and the report's timeline draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// How long it is shown: its real length, at most [`IDLE_GAP_MS`].
    pub shown_ms: i64,
    /// It was longer than that, so it is compressed and marked.
    pub compressed: bool,
}

/// The idle-gap rule, shared by the replay and the report: a pause longer
/// than [`IDLE_GAP_MS`] is shown as [`IDLE_GAP_MS`] and marked as
/// compressed; a negative one (a clock going back) as none.
pub fn idle_gap(real_ms: i64) -> Gap {
    Gap {
        shown_ms: real_ms.clamp(0, IDLE_GAP_MS),
        compressed: real_ms > IDLE_GAP_MS,
    }
}

/// The events indexed so far, on the playback time axis.
#[derive(Debug, Clone)]
pub struct Timeline {
    offsets: Vec<u64>,
    times: Vec<i64>,
    /// Playback time: journal time with idle gaps capped at [`IDLE_GAP_MS`],
    /// counted from the first event. Never decreases.
    ctimes: Vec<i64>,
    marks: [Vec<usize>; Mark::ALL.len()],
    /// Events that follow a compressed idle gap.
    gaps: Vec<usize>,
    changes: Vec<usize>,
    checkpoints: Vec<Checkpoint>,
    pub end: u64,
    pub file_len: u64,
    pub integrity: Integrity,
    pub torn: Option<String>,
    pub caught_up: bool,
    pub failed: Option<String>,
}

impl Timeline {
    /// The timeline of the first batch, which holds at least the header and
    /// its checkpoint.
    pub fn new(first: IndexBatch) -> Timeline {
        let mut timeline = Timeline {
            offsets: Vec::new(),
            times: Vec::new(),
            ctimes: Vec::new(),
            marks: Default::default(),
            gaps: Vec::new(),
            changes: Vec::new(),
            checkpoints: Vec::new(),
            end: 0,
            file_len: 0,
            integrity: Integrity::Verified,
            torn: None,
            caught_up: false,
            failed: None,
        };
        timeline.extend(first);
        timeline
    }

    /// Add what the indexer found since its last batch.
    pub fn extend(&mut self, batch: IndexBatch) {
        for (offset, time) in batch.offsets.into_iter().zip(batch.times) {
            let ctime = match (self.times.last(), self.ctimes.last()) {
                (Some(&prev), Some(&prev_c)) => {
                    let gap = idle_gap(time - prev);
                    if gap.compressed {
                        self.gaps.push(self.offsets.len());
                    }
                    prev_c + gap.shown_ms
                }
                _ => 0,
            };
            self.offsets.push(offset);
            self.times.push(time);
            self.ctimes.push(ctime);
        }
        for (index, mark) in batch.marks {
            self.marks[mark.slot()].push(index);
        }
        self.changes.extend(batch.changes);
        self.checkpoints.extend(batch.checkpoints);
        self.end = batch.end;
        self.file_len = batch.file_len;
        self.integrity = batch.integrity;
        self.torn = batch.torn;
        self.caught_up |= batch.caught_up;
        self.failed = batch.failed.or(self.failed.take());
    }

    /// Events indexed.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Index of the last event.
    pub fn last(&self) -> usize {
        self.len().saturating_sub(1)
    }

    /// Journal time of event `i` (ms since the epoch).
    pub fn time(&self, i: usize) -> i64 {
        self.times.get(i).or(self.times.last()).copied().unwrap_or(0)
    }

    /// Playback time of event `i`.
    pub fn ctime(&self, i: usize) -> i64 {
        self.ctimes.get(i).or(self.ctimes.last()).copied().unwrap_or(0)
    }

    /// Playback time of the last event: the timeline's length.
    pub fn total(&self) -> i64 {
        self.ctimes.last().copied().unwrap_or(0)
    }

    /// The last event at or before playback time `c` (the first when none is).
    pub fn at_ctime(&self, c: i64) -> usize {
        self.ctimes.partition_point(|&t| t <= c).saturating_sub(1)
    }

    /// The last event at or before journal time `t` (the first when none is).
    pub fn at_time(&self, t: i64) -> usize {
        self.times.partition_point(|&x| x <= t).saturating_sub(1)
    }

    /// Events carrying `mark`, in order.
    pub fn marked(&self, mark: Mark) -> &[usize] {
        &self.marks[mark.slot()]
    }

    /// The first event after `from` carrying `mark`.
    pub fn next_mark(&self, mark: Mark, from: usize) -> Option<usize> {
        let list = self.marked(mark);
        list.get(list.partition_point(|&i| i <= from)).copied()
    }

    /// The last event before `from` carrying `mark`.
    pub fn prev_mark(&self, mark: Mark, from: usize) -> Option<usize> {
        let list = self.marked(mark);
        list[..list.partition_point(|&i| i < from)].last().copied()
    }

    /// The first event after `from` that changes state (not an output batch).
    pub fn next_change(&self, from: usize) -> Option<usize> {
        self.changes
            .get(self.changes.partition_point(|&i| i <= from))
            .copied()
    }

    /// Events that come after a compressed idle gap.
    pub fn gaps(&self) -> &[usize] {
        &self.gaps
    }

    /// The real length of the idle gap before event `i`, when it was compressed.
    pub fn gap_before(&self, i: usize) -> Option<i64> {
        self.gaps
            .binary_search(&i)
            .ok()
            .map(|_| self.time(i) - self.time(i.saturating_sub(1)))
    }

    /// The checkpoint nearest before (or at) event `i`.
    pub fn checkpoint(&self, i: usize) -> Option<&Checkpoint> {
        let n = self.checkpoints.partition_point(|c| c.index <= i);
        n.checked_sub(1).map(|n| &self.checkpoints[n])
    }

    /// Where a read of `step`'s output from line `from` on can start,
    /// among the checkpoints at or before event `upto`: the latest whose
    /// fold of the step (begun at seq `first_seq`) had no more than `from`
    /// lines, as that count and where the event after the checkpoint starts.
    pub fn line_mark(&self, step: &str, first_seq: u64, from: u64, upto: usize) -> Option<LineMark> {
        let lines = |c: &Checkpoint| {
            c.app
                .session
                .steps
                .get(step)
                .filter(|s| s.first_seq == Some(first_seq))
                .map_or(0, |s| s.output_lines)
        };
        let before = &self.checkpoints[..self.checkpoints.partition_point(|c| c.index <= upto)];
        let n = before.partition_point(|c| lines(c) <= from);
        let checkpoint = &before[n.checked_sub(1)?];
        Some(LineMark {
            line: lines(checkpoint),
            offset: self.bytes(checkpoint.index + 1, checkpoint.index + 1).0,
        })
    }

    /// Byte range of the lines of events `from..=to`.
    pub fn bytes(&self, from: usize, to: usize) -> (u64, u64) {
        let start = self.offsets.get(from).copied().unwrap_or(self.end);
        let end = self.offsets.get(to + 1).copied().unwrap_or(self.end);
        (start, end.max(start))
    }

    /// How much of the file has been indexed, 0.0 to 1.0.
    pub fn progress(&self) -> f64 {
        if self.caught_up || self.file_len == 0 {
            1.0
        } else {
            (self.end as f64 / self.file_len as f64).min(1.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(times: &[i64], marks: &[(usize, Mark)]) -> IndexBatch {
        let mut b = IndexBatch::empty(Integrity::Verified);
        b.offsets = (0..times.len() as u64).map(|i| i * 100).collect();
        b.times = times.to_vec();
        b.marks = marks.to_vec();
        b.end = times.len() as u64 * 100;
        b
    }

    #[test]
    fn idle_gaps_are_capped_and_remembered() {
        let t = Timeline::new(batch(&[0, 1_000, 61_000, 62_000, 61_500], &[]));
        assert_eq!(
            (0..5).map(|i| t.ctime(i)).collect::<Vec<_>>(),
            [0, 1_000, 6_000, 7_000, 7_000],
            "a minute of waiting plays as five seconds; a clock going back as none"
        );
        assert_eq!(t.gaps(), [2]);
        assert_eq!(t.gap_before(2), Some(60_000));
        assert_eq!(t.gap_before(3), None);
        assert_eq!(t.total(), 7_000);
    }

    #[test]
    fn positions_in_time() {
        let t = Timeline::new(batch(&[10, 20, 20, 30], &[]));
        assert_eq!(t.at_ctime(-5), 0);
        assert_eq!(t.at_ctime(10), 2, "the last of the events at that time");
        assert_eq!(t.at_ctime(1_000), 3);
        assert_eq!(t.at_time(25), 2);
        assert_eq!(t.at_time(0), 0);
    }

    #[test]
    fn marks_are_found_both_ways_and_extended() {
        let mut t = Timeline::new(batch(
            &[0, 1, 2, 3],
            &[(1, Mark::Failure), (3, Mark::Failure), (2, Mark::SignOff)],
        ));
        assert_eq!(t.next_mark(Mark::Failure, 0), Some(1));
        assert_eq!(t.next_mark(Mark::Failure, 1), Some(3));
        assert_eq!(t.next_mark(Mark::Failure, 3), None);
        assert_eq!(t.prev_mark(Mark::Failure, 3), Some(1));
        assert_eq!(t.prev_mark(Mark::Failure, 1), None);
        assert_eq!(t.next_mark(Mark::Verification, 0), None);
        let mut more = batch(&[4, 5], &[(5, Mark::Failure)]);
        more.offsets = vec![400, 500];
        more.end = 600;
        t.extend(more);
        assert_eq!(t.len(), 6);
        assert_eq!(t.next_mark(Mark::Failure, 3), Some(5));
        assert_eq!(t.bytes(4, 5), (400, 600));
        assert_eq!(t.bytes(1, 2), (100, 300));
    }
}
