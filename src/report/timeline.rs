//! The session in time: every attempt and every wait for a sign-off as a
//! bar on its step's row, every failure, sign-off, override, skip, note and
//! the rollback as a mark, the rows grouped by phase with planned against
//! actual time, on an axis whose idle gaps are compressed by the replay's
//! rule ([`idle_gap`]).
//!
//! Idle means that nothing ran and nobody was waited for: a failed step
//! waiting for a decision, a session left overnight, the pause before a
//! resume. Time inside a bar is never compressed: an hour spent waiting for
//! a sign-off is what a review wants to see, so the report draws it to scale
//! (the replay, which plays time back, shortens it like any pause).
//!
//! Built from the report's own parts, so from the fold alone; the SVG
//! ([`super::svg`]) and the Markdown sketch ([`Timeline::strip`]) only draw
//! it. A hold after a phase is a session mark where it was released (or,
//! still waiting, where it began).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::layout::{UNPLANNED, describe_attempt};
use super::{GroupStats, PhaseReport, RollbackReport, SessionInfo, StepReport, attempt_failed, time_label};
use crate::journal::event::Outcome;
use crate::replay::timeline::idle_gap;
use crate::session::{Attempt, Note};

/// A session laid out in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub start: DateTime<Utc>,
    /// The session's end, or its last event.
    pub end: DateTime<Utc>,
    pub axis: Axis,
    /// Marks about the whole session: notes and the rollback's start.
    pub session_marks: Vec<Mark>,
    pub groups: Vec<Group>,
}

/// What a group of rows is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRole {
    Phase,
    Rollback,
    /// Steps the journal recorded that the plan no longer has.
    Unplanned,
}

/// A phase (or the rollback): a header row and one row per step.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub title: String,
    pub role: GroupRole,
    /// The estimate's share, where the runbook gives an estimate.
    pub planned: Option<Duration>,
    /// From the group's first event to its latest.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub done: usize,
    pub stats: GroupStats,
    pub rows: Vec<Row>,
}

impl Group {
    /// Actual time: the length of the span.
    pub fn actual(&self) -> Option<Duration> {
        self.span.and_then(|(a, b)| (b - a).to_std().ok())
    }
}

/// One step's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub step: String,
    pub title: String,
    /// The step in words (id, title, kind, status), for its label's tooltip.
    pub text: String,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
}

/// A stretch of time on a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub kind: BarKind,
    /// Not ended where the report ends: still running, still waiting.
    pub open: bool,
    /// What it was, in words, for its tooltip.
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// One run of an automated step, by how it ended.
    Attempt(AttemptEnd),
    /// A manual step waiting for its sign-off.
    SignOffWait,
}

/// How an attempt ended, as its bar is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    /// Running when the session stopped.
    Interrupted,
    /// Still running where the report ends.
    Running,
}

impl AttemptEnd {
    fn of(a: &Attempt) -> AttemptEnd {
        match (a.outcome, a.interrupted) {
            (Some(Outcome::Succeeded), _) => AttemptEnd::Succeeded,
            (Some(Outcome::Failed), _) => AttemptEnd::Failed,
            (Some(Outcome::TimedOut), _) => AttemptEnd::TimedOut,
            (Some(Outcome::Cancelled), _) => AttemptEnd::Cancelled,
            (None, true) => AttemptEnd::Interrupted,
            (None, false) => AttemptEnd::Running,
        }
    }

    pub const ALL: [AttemptEnd; 6] = [
        AttemptEnd::Succeeded,
        AttemptEnd::Failed,
        AttemptEnd::TimedOut,
        AttemptEnd::Cancelled,
        AttemptEnd::Interrupted,
        AttemptEnd::Running,
    ];

    /// Its name in words and, with `-` for spaces, as a class name.
    pub fn label(self) -> &'static str {
        match self {
            AttemptEnd::Succeeded => "succeeded",
            AttemptEnd::Failed => "failed",
            AttemptEnd::TimedOut => "timed out",
            AttemptEnd::Cancelled => "cancelled",
            AttemptEnd::Interrupted => "interrupted",
            AttemptEnd::Running => "running",
        }
    }
}

/// What a mark marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarkKind {
    /// An attempt that did not succeed, where it ended.
    Failure,
    /// A signature on a step.
    SignOff,
    /// A signature that overrode a gate or a failed automated step.
    Override,
    Skip,
    Note,
    /// The rollback's start.
    Rollback,
    /// A hold after a phase, where an operator confirmed going on.
    Hold,
}

impl MarkKind {
    pub const ALL: [MarkKind; 7] = [
        MarkKind::Failure,
        MarkKind::SignOff,
        MarkKind::Override,
        MarkKind::Skip,
        MarkKind::Note,
        MarkKind::Rollback,
        MarkKind::Hold,
    ];

    /// The class name the SVG gives it.
    pub fn slug(self) -> &'static str {
        match self {
            MarkKind::Failure => "failure",
            MarkKind::SignOff => "signoff",
            MarkKind::Override => "override",
            MarkKind::Skip => "skip",
            MarkKind::Note => "note",
            MarkKind::Rollback => "rollback",
            MarkKind::Hold => "hold",
        }
    }

    /// Its name in a legend.
    pub fn noun(self) -> &'static str {
        match self {
            MarkKind::Failure => "failure",
            MarkKind::SignOff => "sign-off",
            MarkKind::Override => "override",
            MarkKind::Skip => "skip",
            MarkKind::Note => "note",
            MarkKind::Rollback => "rollback",
            MarkKind::Hold => "hold after a phase",
        }
    }
}

/// A moment worth marking.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub at: DateTime<Utc>,
    pub kind: MarkKind,
    /// What happened, in words, for its tooltip.
    pub text: String,
}

/// A stretch in which nothing ran and nobody was waited for, longer than
/// the idle-gap rule lets through: drawn compressed, and marked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdleGap {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// How long it is drawn.
    pub shown_ms: i64,
}

impl IdleGap {
    pub fn real_ms(&self) -> i64 {
        (self.to - self.from).num_milliseconds()
    }

    /// "idle 29m57s (03:04:05 to 03:34:02 UTC), drawn as 5s".
    pub fn describe(&self) -> String {
        format!(
            "idle {} ({} to {}), drawn as {}",
            crate::text::duration(ms(self.real_ms())),
            time_label(self.from),
            time_label(self.to),
            crate::text::duration(ms(self.shown_ms))
        )
    }
}

fn ms(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Real time to the timeline's time: milliseconds since the origin, with
/// the idle gaps compressed.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub origin: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub gaps: Vec<IdleGap>,
}

impl Axis {
    /// The axis from `origin` to `end` (not before it) on which `busy`
    /// stretches keep their length and the idle ones between them follow
    /// the idle-gap rule.
    fn new(origin: DateTime<Utc>, end: DateTime<Utc>, mut busy: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> Axis {
        busy.sort_by_key(|b| b.0);
        let mut gaps = Vec::new();
        let mut idle = |from: DateTime<Utc>, to: DateTime<Utc>| {
            let gap = idle_gap((to - from).num_milliseconds());
            if gap.compressed {
                gaps.push(IdleGap {
                    from,
                    to,
                    shown_ms: gap.shown_ms,
                });
            }
        };
        let mut cursor = origin;
        for (from, to) in busy {
            let (from, to) = (from.clamp(origin, end), to.clamp(origin, end));
            if from > cursor {
                idle(cursor, from);
            }
            cursor = cursor.max(to);
        }
        if end > cursor {
            idle(cursor, end);
        }
        Axis { origin, end, gaps }
    }

    /// Where `t` lies on the axis, in milliseconds from its origin; a moment
    /// inside an idle gap lies proportionally inside its compressed length.
    pub fn offset_ms(&self, t: DateTime<Utc>) -> i64 {
        let t = t.clamp(self.origin, self.end);
        let mut offset = (t - self.origin).num_milliseconds();
        for gap in &self.gaps {
            let real = gap.real_ms().max(1);
            if t >= gap.to {
                offset -= real - gap.shown_ms;
            } else if t > gap.from {
                let into = (t - gap.from).num_milliseconds();
                offset -= into - into * gap.shown_ms / real;
            }
        }
        offset
    }

    /// The axis's length, in milliseconds.
    pub fn length_ms(&self) -> i64 {
        self.offset_ms(self.end)
    }
}

impl Timeline {
    /// The timeline of a report's parts.
    pub fn new(
        session: &SessionInfo,
        phases: &[PhaseReport],
        rollback: Option<&RollbackReport>,
        unplanned: &[StepReport],
        notes: &[Note],
    ) -> Timeline {
        let start = session.started;
        let end = session.ended.unwrap_or(session.last_event).max(start);
        let resumes: Vec<DateTime<Utc>> = session.resumes.iter().map(|r| r.at).collect();
        let rows =
            |steps: &[StepReport]| -> Vec<Row> { steps.iter().map(|s| row(s, end, &resumes)).collect() };
        let mut groups: Vec<Group> = phases
            .iter()
            .map(|p| Group {
                title: p.title.clone(),
                role: GroupRole::Phase,
                planned: p.planned,
                span: p.span,
                done: p.done,
                stats: p.stats,
                rows: rows(&p.steps),
            })
            .collect();
        if let Some(r) = rollback {
            groups.push(Group {
                title: "Rollback".to_string(),
                role: GroupRole::Rollback,
                planned: None,
                span: Some((r.started, r.finished.unwrap_or(end).max(r.started))),
                done: r.steps.iter().filter(|s| s.status.is_done()).count(),
                stats: GroupStats::of(&r.steps),
                rows: rows(&r.steps),
            });
        }
        if !unplanned.is_empty() {
            let rows = rows(unplanned);
            let times = rows.iter().flat_map(|r| {
                r.bars
                    .iter()
                    .flat_map(|b| [b.from, b.to])
                    .chain(r.marks.iter().map(|m| m.at))
            });
            groups.push(Group {
                title: UNPLANNED.to_string(),
                role: GroupRole::Unplanned,
                planned: None,
                span: times.clone().min().zip(times.max()),
                done: unplanned.iter().filter(|s| s.status.is_done()).count(),
                stats: GroupStats::of(unplanned),
                rows,
            });
        }

        let mut session_marks: Vec<Mark> = notes
            .iter()
            .map(|n| Mark {
                at: n.at,
                kind: MarkKind::Note,
                text: format!("note by {}, {}: {}", n.who, time_label(n.at), n.text),
            })
            .collect();
        if let Some(r) = rollback {
            session_marks.push(Mark {
                at: r.started,
                kind: MarkKind::Rollback,
                text: format!("rollback {}", r.describe()),
            });
        }
        session_marks.extend(session.holds.iter().filter_map(|h| {
            let at = h.released.as_ref().map(|r| r.at).or(h.reached)?;
            Some(Mark {
                at,
                kind: MarkKind::Hold,
                text: format!("hold {}", h.describe()),
            })
        }));
        session_marks.sort_by_key(|m| m.at);

        let busy = groups
            .iter()
            .flat_map(|g| &g.rows)
            .flat_map(|r| &r.bars)
            .map(|b| (b.from, b.to))
            .collect();
        Timeline {
            start,
            end,
            axis: Axis::new(start, end, busy),
            session_marks,
            groups,
        }
    }

    /// Every mark of the timeline: the session's, then each row's.
    pub fn marks(&self) -> impl Iterator<Item = &Mark> {
        self.session_marks
            .iter()
            .chain(self.groups.iter().flat_map(|g| &g.rows).flat_map(|r| &r.marks))
    }

    /// A group as one line of `cells` characters over the first
    /// `length_ms` of the axis (longer than this timeline's own when it
    /// shares an axis with others): `█` an attempt ran, `░` a sign-off was
    /// waited for, `✕` a failure, `!` an override, `≈` an idle gap drawn
    /// compressed, `·` the rest of the phase's span. Where several meet in
    /// one character, the one listed first wins.
    pub fn strip(&self, group: &Group, cells: usize, length_ms: i64) -> String {
        let cells = cells.max(1);
        let length = length_ms.max(1);
        let cell = |t: DateTime<Utc>| {
            let at = self.axis.offset_ms(t) * cells as i64 / length;
            at.clamp(0, cells as i64 - 1) as usize
        };
        // (character, rank): a higher rank paints over a lower one.
        let mut line = vec![(' ', 0u8); cells];
        let mut paint = |from: usize, to: usize, c: char, rank: u8| {
            for slot in &mut line[from..=to.max(from)] {
                if slot.1 < rank {
                    *slot = (c, rank);
                }
            }
        };
        if let Some((from, to)) = group.span {
            paint(cell(from), cell(to), '·', 1);
        }
        for gap in &self.axis.gaps {
            paint(cell(gap.from), cell(gap.to), '≈', 2);
        }
        for row in &group.rows {
            for bar in &row.bars {
                let (c, rank) = match bar.kind {
                    BarKind::Attempt(_) => ('█', 4),
                    BarKind::SignOffWait => ('░', 3),
                };
                paint(cell(bar.from), cell(bar.to), c, rank);
            }
            for mark in &row.marks {
                match mark.kind {
                    MarkKind::Failure => paint(cell(mark.at), cell(mark.at), '✕', 6),
                    MarkKind::Override => paint(cell(mark.at), cell(mark.at), '!', 5),
                    _ => {}
                }
            }
        }
        line.into_iter().map(|(c, _)| c).collect()
    }
}

/// A step's row: its attempts and wait as bars, its failures, signatures and skip as marks.
fn row(step: &StepReport, end: DateTime<Utc>, resumes: &[DateTime<Utc>]) -> Row {
    let name = format!("{} {}", step.id, step.title);
    let mut bars = Vec::new();
    let mut marks = Vec::new();
    for a in &step.attempts {
        // When an interrupted attempt really stopped is not recorded: it is
        // drawn up to the resume that found it interrupted.
        let (to, open) = match (a.finished, a.interrupted) {
            (Some(finished), _) => (finished, false),
            (None, true) => (
                resumes.iter().copied().find(|&r| r >= a.started).unwrap_or(end),
                false,
            ),
            (None, false) => (end, true),
        };
        let to = to.max(a.started);
        let outcome = describe_attempt(a);
        bars.push(Bar {
            from: a.started,
            to,
            kind: BarKind::Attempt(AttemptEnd::of(a)),
            open,
            text: format!(
                "{name}: attempt {}, {} to {} ({}): {outcome}",
                a.number,
                time_label(a.started),
                time_label(to),
                crate::text::duration((to - a.started).to_std().unwrap_or_default())
            ),
        });
        if attempt_failed(a) {
            marks.push(Mark {
                at: to,
                kind: MarkKind::Failure,
                text: format!("{name}: attempt {} {outcome}", a.number),
            });
        }
    }
    if let Some(w) = &step.wait {
        bars.push(Bar {
            from: w.from,
            to: w.to,
            kind: BarKind::SignOffWait,
            open: w.open,
            text: format!(
                "{name}: waited for sign-off {} from {} to {}{}",
                crate::text::duration(w.duration()),
                time_label(w.from),
                time_label(w.to),
                if w.open { ", and still waits" } else { "" }
            ),
        });
    }
    // `decisions` says the signatures first, then the skip.
    let decisions = step.decisions();
    let kind = if step.overridden {
        MarkKind::Override
    } else {
        MarkKind::SignOff
    };
    for (sign, text) in step.signoffs.iter().zip(&decisions) {
        marks.push(Mark {
            at: sign.at,
            kind,
            text: format!("{name}: {text}"),
        });
    }
    if let (Some(skip), Some(text)) = (&step.skip, decisions.last()) {
        marks.push(Mark {
            at: skip.at,
            kind: MarkKind::Skip,
            text: format!("{name}: {text}"),
        });
    }
    Row {
        step: step.id.clone(),
        title: step.title.clone(),
        text: format!("{name} ({}): {}", step.kind, step.status_label()),
        bars,
        marks,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .expect("a valid time")
    }

    #[test]
    fn only_idle_stretches_longer_than_the_rule_are_compressed() {
        // Busy 0-10 s and 100-3700 s (an hour of waiting: kept), idle 10-100 s
        // (compressed to 5 s) and 3700-3703 s (too short to compress).
        let axis = Axis::new(at(0), at(3703), vec![(at(100), at(3700)), (at(0), at(10))]);
        assert_eq!(axis.gaps.len(), 1);
        assert_eq!((axis.gaps[0].from, axis.gaps[0].to), (at(10), at(100)));
        assert_eq!(axis.gaps[0].shown_ms, 5_000);
        assert_eq!(axis.offset_ms(at(10)), 10_000);
        assert_eq!(axis.offset_ms(at(55)), 12_500, "halfway through the gap");
        assert_eq!(axis.offset_ms(at(100)), 15_000);
        assert_eq!(axis.offset_ms(at(3700)), 3_615_000);
        assert_eq!(axis.length_ms(), 3_618_000);
        assert_eq!(axis.offset_ms(at(-5)), 0, "before the start is the start");
        assert_eq!(axis.offset_ms(at(9_999)), axis.length_ms());
    }
}
