//! The timeline as inline SVG for the HTML report: no script, no external
//! asset, every bar and mark with a `<title>` tooltip.
//!
//! What a mark means never rests on colour alone: run bars are filled by
//! outcome with different patterns (solid, cross-hatched, striped, empty),
//! a wait for a sign-off is a thin hatched bar, each mark has its own shape,
//! so the picture reads the same printed in black and white or in the page's
//! high-contrast form ([`super::html`]'s palette). The timeline is cut into
//! parts of at most [`PART_LINES`] rows, each with its own time axis, so a
//! printed A4 landscape page holds whole parts and every page has an axis.
//!
//! Elements carry stable classes that tests and style sheets can rely on:
//! `bar attempt OUTCOME` (one per attempt), `bar wait` (one per wait for a
//! sign-off), `mark KIND` (one per failure, sign-off, override, skip, note
//! and the rollback's start), `gap` (an idle gap drawn compressed).

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::html::esc;
use super::time_label;
use super::timeline::{AttemptEnd, BarKind, Group, GroupRole, Mark, MarkKind, Timeline};
use crate::runbook::duration::format_duration;

/// The drawing's width in SVG units; a page scales it to fit.
pub const WIDTH: f64 = 1120.0;
/// Where the labels start, and where the plot starts and ends.
const LABEL_X: f64 = 8.0;
const LABEL_END: f64 = 330.0;
const PLOT_X: f64 = 340.0;
const PLOT_END: f64 = WIDTH - 24.0;
const AXIS_H: f64 = 34.0;
const ROW_H: f64 = 20.0;
const GROUP_H: f64 = 24.0;
const LEGEND_H: f64 = 54.0;
/// Rows (group headers and steps) in one part: at the scale an A4
/// landscape page prints [`WIDTH`] (277 mm), a part is at most ~150 mm high.
pub const PART_LINES: usize = 26;
/// Tick labels closer than this are dropped.
const TICK_MIN_GAP: f64 = 44.0;
/// Characters of a step title shown in its label (the tooltip has all of it).
const TITLE_CHARS: usize = 46;

/// Milliseconds of the time axis per SVG unit: one scale for every timeline
/// drawn to be compared (the deployment report's), so equal lengths mean
/// equal times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    ms_per_unit: f64,
}

impl Scale {
    /// The scale on which `length_ms` of axis fills the plot.
    pub fn fitting(length_ms: i64) -> Scale {
        Scale {
            ms_per_unit: length_ms.max(1_000) as f64 / (PLOT_END - PLOT_X),
        }
    }

    fn x(self, offset_ms: i64) -> f64 {
        (PLOT_X + offset_ms as f64 / self.ms_per_unit).min(PLOT_END)
    }
}

/// One line of a part: a group's header, or a step's row.
#[derive(Debug, Clone, Copy)]
enum Line {
    Header { group: usize, continued: bool },
    Step { group: usize, row: usize },
}

impl Line {
    fn height(self) -> f64 {
        match self {
            Line::Header { .. } => GROUP_H,
            Line::Step { .. } => ROW_H,
        }
    }
}

/// The groups cut into parts of at most [`PART_LINES`] lines: whole groups
/// where they fit, a long group continued in the next part under its header.
fn parts(groups: &[Group]) -> Vec<Vec<Line>> {
    let mut parts: Vec<Vec<Line>> = vec![Vec::new()];
    for (g, group) in groups.iter().enumerate() {
        let needed = 1 + group.rows.len();
        let current = parts.last().map_or(0, Vec::len);
        if current > 0 && current + needed.min(PART_LINES) > PART_LINES {
            parts.push(Vec::new());
        }
        let mut continued = false;
        let mut rows = 0..group.rows.len();
        loop {
            let part = parts.last_mut().expect("there is always a part");
            part.push(Line::Header { group: g, continued });
            for row in rows.by_ref() {
                part.push(Line::Step { group: g, row });
                if part.len() == PART_LINES {
                    break;
                }
            }
            if rows.is_empty() {
                break;
            }
            parts.push(Vec::new());
            continued = true;
        }
    }
    parts
}

/// The timeline as a `<figure>`: its pattern definitions, then its parts.
/// `id` must be unique on the page (it prefixes the patterns' ids).
pub fn figure(timeline: &Timeline, scale: Scale, id: &str, caption: &str) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_figure(&mut out, timeline, scale, id, caption);
    out
}

fn write_figure(out: &mut String, t: &Timeline, scale: Scale, id: &str, caption: &str) -> std::fmt::Result {
    writeln!(out, "<figure class=\"timeline\" id=\"{id}\">")?;
    writeln!(
        out,
        "<svg class=\"defs\" width=\"0\" height=\"0\" aria-hidden=\"true\" focusable=\"false\"><defs>"
    )?;
    for (name, body) in PATTERNS {
        writeln!(
            out,
            "<pattern id=\"{id}-{name}\" patternUnits=\"userSpaceOnUse\" width=\"8\" height=\"8\">{body}</pattern>"
        )?;
    }
    writeln!(out, "</defs></svg>")?;
    let parts = parts(&t.groups);
    let count = parts.len();
    for (n, lines) in parts.iter().enumerate() {
        let first = n == 0;
        let last = n + 1 == count;
        let rows_top = AXIS_H + if first { ROW_H } else { 0.0 };
        let rows_end = rows_top + lines.iter().map(|l| l.height()).sum::<f64>();
        let height = rows_end + if last { LEGEND_H } else { 6.0 };
        let part = Part {
            t,
            scale,
            id,
            top: AXIS_H,
            bottom: rows_end,
        };
        writeln!(
            out,
            "<svg class=\"part\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
             width=\"{WIDTH}\" height=\"{height:.0}\" role=\"img\" aria-labelledby=\"{id}-title-{n}\">"
        )?;
        let of = if count > 1 {
            format!(", part {} of {count}", n + 1)
        } else {
            String::new()
        };
        writeln!(out, "<title id=\"{id}-title-{n}\">{}{of}</title>", esc(caption))?;
        // Backgrounds, then the axis's grid and the idle gaps over them, then
        // what happened on top.
        let mut y = rows_top;
        for (i, line) in lines.iter().enumerate() {
            background(out, *line, &t.groups, i, y)?;
            y += line.height();
        }
        part.axis(out)?;
        part.gaps(out)?;
        let mut y = AXIS_H;
        if first {
            part.session_row(out, y)?;
            y += ROW_H;
        }
        for line in lines {
            match *line {
                Line::Header { group, continued } => part.header(out, &t.groups[group], continued, y)?,
                Line::Step { group, row } => part.step(out, &t.groups[group], row, y)?,
            }
            y += line.height();
        }
        part.guides(out)?;
        if last {
            legend(out, id, rows_end + 10.0)?;
        }
        writeln!(out, "</svg>")?;
    }
    writeln!(out, "</figure>")
}

/// Fill patterns, by name: `PREFIX-NAME` is the id each figure gives them.
/// Each is a background and a texture, coloured by the page's palette.
const PATTERNS: [(&str, &str); 5] = [
    ("succeeded", "<rect class=\"f-good\" width=\"8\" height=\"8\"/>"),
    (
        "failed",
        "<rect class=\"f-bad\" width=\"8\" height=\"8\"/><path class=\"s-paper\" d=\"M0,0L8,8M8,0L0,8\"/>",
    ),
    (
        "stopped",
        "<rect class=\"f-warn\" width=\"8\" height=\"8\"/><path class=\"s-ink\" d=\"M-2,2L2,-2M0,8L8,0M6,10L10,6\"/>",
    ),
    ("running", "<rect class=\"f-running\" width=\"8\" height=\"8\"/>"),
    (
        "wait",
        "<rect class=\"f-wait\" width=\"8\" height=\"8\"/><path class=\"s-wait\" d=\"M-2,6L2,10M0,0L8,8M6,-2L10,2\"/>",
    ),
];

/// The pattern a bar of this kind is filled with.
fn pattern(kind: BarKind) -> &'static str {
    match kind {
        BarKind::Attempt(AttemptEnd::Succeeded) => "succeeded",
        BarKind::Attempt(AttemptEnd::Failed | AttemptEnd::TimedOut) => "failed",
        BarKind::Attempt(AttemptEnd::Cancelled | AttemptEnd::Interrupted) => "stopped",
        BarKind::Attempt(AttemptEnd::Running) => "running",
        BarKind::SignOffWait => "wait",
    }
}

/// A mark's shape, drawn around (0, 0): a white halo first so it stands
/// out on any bar, then the glyph.
fn glyph(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Failure => {
            "<path class=\"halo\" d=\"M-4,-4L4,4M4,-4L-4,4\"/><path class=\"g-failure\" d=\"M-4,-4L4,4M4,-4L-4,4\"/>"
        }
        MarkKind::SignOff => {
            "<path class=\"halo\" d=\"M-4.5,0.5L-1.5,3.5L4.5,-3.5\"/><path class=\"g-signoff\" d=\"M-4.5,0.5L-1.5,3.5L4.5,-3.5\"/>"
        }
        MarkKind::Override => {
            "<path class=\"g-override\" d=\"M0,-6.5L6.5,0L0,6.5L-6.5,0Z\"/><path class=\"g-override-bang\" d=\"M0,-3.4V1M0,3V3.4\"/>"
        }
        MarkKind::Skip => {
            "<path class=\"halo\" d=\"M-5,-4L-1,0L-5,4M0,-4L4,0L0,4\"/><path class=\"g-skip\" d=\"M-5,-4L-1,0L-5,4M0,-4L4,0L0,4\"/>"
        }
        MarkKind::Note => "<path class=\"g-note\" d=\"M-5,-5H5V2H0L-3,5V2H-5Z\"/>",
        MarkKind::Rollback => "<path class=\"g-rollback\" d=\"M5,-5.5L-4,0L5,5.5Z\"/>",
        MarkKind::Hold => "<path class=\"g-hold\" d=\"M-5,-5H-1V5H-5ZM1,-5H5V5H1Z\"/>",
    }
}

/// One SVG part of a figure, between its axis and its legend.
struct Part<'a> {
    t: &'a Timeline,
    scale: Scale,
    id: &'a str,
    /// Where the rows start and end.
    top: f64,
    bottom: f64,
}

impl Part<'_> {
    fn x(&self, at: DateTime<Utc>) -> f64 {
        self.scale.x(self.t.axis.offset_ms(at))
    }

    /// Ticks of time since the start, every 1 s … 1 day (whichever keeps
    /// them apart), placed through the compressed axis.
    fn axis(&self, out: &mut String) -> std::fmt::Result {
        let t = self.t;
        writeln!(
            out,
            "<text class=\"axis-label\" x=\"{LABEL_X}\" y=\"{:.1}\">time since the start, {}</text>",
            AXIS_H - 12.0,
            esc(&time_label(t.start))
        )?;
        const STEPS_S: [i64; 18] = [
            1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        ];
        let step_ms = STEPS_S
            .iter()
            .map(|s| s * 1000)
            .find(|&ms| ms as f64 / self.scale.ms_per_unit >= 64.0)
            .unwrap_or(86_400_000);
        let real_ms = (t.end - t.start).num_milliseconds();
        let mut last_x = f64::NEG_INFINITY;
        let mut k = 0i64;
        // Bounded: a day-long step over a week of idle gaps is a few hundred ticks.
        while k * step_ms <= real_ms && k < 100_000 {
            let at = t.start + chrono::Duration::milliseconds(k * step_ms);
            k += 1;
            if t.axis.gaps.iter().any(|g| at > g.from && at < g.to) {
                continue;
            }
            let x = self.x(at);
            if x - last_x < TICK_MIN_GAP {
                continue;
            }
            last_x = x;
            let label = format_duration(std::time::Duration::from_millis((k - 1) as u64 * step_ms as u64));
            writeln!(
                out,
                "<g class=\"tick\"><line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
                 <text x=\"{x:.1}\" y=\"{:.1}\">{}</text></g>",
                AXIS_H - 6.0,
                self.bottom,
                AXIS_H - 12.0,
                if k == 1 { "0".to_string() } else { label }
            )?;
        }
        Ok(())
    }

    /// The idle gaps: a band the width they are drawn, across all rows.
    fn gaps(&self, out: &mut String) -> std::fmt::Result {
        for gap in &self.t.axis.gaps {
            let (x1, x2) = (self.x(gap.from), self.x(gap.to));
            let mid = (x1 + x2) / 2.0;
            let (top, bottom) = (self.top - 4.0, self.bottom);
            writeln!(
                out,
                "<g class=\"gap\"><title>{}</title>\
                 <rect class=\"gap-band\" x=\"{x1:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\
                 <path class=\"gap-cut\" d=\"M{:.1},{top:.1}l3,4l-6,4l3,4M{:.1},{top:.1}l3,4l-6,4l3,4\"/>\
                 <text class=\"gap-label\" x=\"{mid:.1}\" y=\"{:.1}\">≈ {}</text></g>",
                esc(&gap.describe()),
                (x2 - x1).max(1.0),
                bottom - top,
                mid - 2.0,
                mid + 2.0,
                AXIS_H - 24.0,
                esc(&crate::text::duration(std::time::Duration::from_millis(
                    gap.real_ms().max(0) as u64
                )))
            )?;
        }
        Ok(())
    }

    /// The session's own row: its notes and the rollback's start.
    fn session_row(&self, out: &mut String, y: f64) -> std::fmt::Result {
        writeln!(
            out,
            "<text class=\"label group-label\" x=\"{LABEL_X}\" y=\"{:.1}\">Session</text>",
            y + ROW_H / 2.0 + 4.0
        )?;
        for mark in &self.t.session_marks {
            self.mark(out, mark, y + ROW_H / 2.0)?;
            if mark.kind == MarkKind::Rollback {
                writeln!(
                    out,
                    "<text class=\"rollback-label\" x=\"{:.1}\" y=\"{:.1}\">rollback</text>",
                    self.x(mark.at) + 8.0,
                    y + ROW_H / 2.0 + 4.0
                )?;
            }
        }
        Ok(())
    }

    /// A group's header: its title and numbers, its actual span and its plan.
    fn header(&self, out: &mut String, group: &Group, continued: bool, y: f64) -> std::fmt::Result {
        let mid = y + GROUP_H / 2.0;
        let mut numbers = vec![format!("{}/{}", group.done, group.rows.len())];
        if let Some(planned) = group.planned {
            numbers.push(format!(
                "plan {}",
                crate::runbook::duration::format_duration(planned)
            ));
        }
        numbers.push(
            group
                .actual()
                .map_or_else(|| "not started".to_string(), crate::text::duration),
        );
        let numbers = numbers.join(" · ");
        let title = if continued {
            format!("{} (continued)", group.title)
        } else {
            group.title.clone()
        };
        // Bold title characters are about 7.5 units wide, the numbers 6.
        let room = ((LABEL_END - LABEL_X - numbers.chars().count() as f64 * 6.0 - 12.0) / 7.5).max(8.0);
        writeln!(
            out,
            "<text class=\"label group-label\" x=\"{LABEL_X}\" y=\"{:.1}\"><title>{}</title>{}</text>\
             <text class=\"group-numbers\" x=\"{LABEL_END}\" y=\"{:.1}\">{}</text>",
            mid + 4.0,
            esc(&group_text(group)),
            esc(&truncate(&title, room as usize)),
            mid + 4.0,
            esc(&numbers)
        )?;
        let Some((from, to)) = group.span else {
            return Ok(());
        };
        let x1 = self.x(from);
        let x2 = self.x(to).max(x1 + 1.5);
        write!(
            out,
            "<g class=\"plan\"><title>{}</title>",
            esc(&group_text(group))
        )?;
        if let Some(planned) = group.planned {
            let w = planned.as_millis() as f64 / self.scale.ms_per_unit;
            let end = (x1 + w).min(PLOT_END);
            write!(
                out,
                "<rect class=\"planned\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\"/>",
                mid - 6.0,
                (end - x1).max(1.0)
            )?;
            if x1 + w > PLOT_END {
                // The plan runs past the drawing: an arrow says so.
                write!(
                    out,
                    "<path class=\"planned-more\" d=\"M{:.1},{:.1}l6,6l-6,6Z\"/>",
                    PLOT_END - 6.0,
                    mid - 6.0
                )?;
            }
        }
        writeln!(
            out,
            "<rect class=\"actual\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"4\"/></g>",
            mid - 2.0,
            x2 - x1
        )
    }

    /// A step's row: its label, its bars, then its marks on top.
    fn step(&self, out: &mut String, group: &Group, index: usize, y: f64) -> std::fmt::Result {
        let row = &group.rows[index];
        let mid = y + ROW_H / 2.0;
        writeln!(
            out,
            "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\"><title>{}</title>{}</text>",
            LABEL_X + 10.0,
            mid + 4.0,
            esc(&row.text),
            esc(&truncate(&row.title, TITLE_CHARS))
        )?;
        for bar in &row.bars {
            let x1 = self.x(bar.from);
            let w = (self.x(bar.to) - x1).max(2.0);
            let (class, h) = match bar.kind {
                BarKind::Attempt(end) => (format!("attempt {}", end.label().replace(' ', "-")), 12.0),
                BarKind::SignOffWait => ("wait".to_string(), 6.0),
            };
            writeln!(
                out,
                "<rect class=\"bar {class}{}\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h}\" \
                 fill=\"url(#{}-{})\"><title>{}</title></rect>",
                if bar.open { " open" } else { "" },
                mid - h / 2.0,
                self.id,
                pattern(bar.kind),
                esc(&bar.text)
            )?;
        }
        for mark in &row.marks {
            self.mark(out, mark, mid)?;
        }
        Ok(())
    }

    fn mark(&self, out: &mut String, mark: &Mark, y: f64) -> std::fmt::Result {
        writeln!(
            out,
            "<g class=\"mark {}\" transform=\"translate({:.1} {y:.1})\"><title>{}</title>{}</g>",
            mark.kind.slug(),
            self.x(mark.at),
            esc(&mark.text),
            glyph(mark.kind)
        )
    }

    /// The rollback's start as a line across every row of the part.
    fn guides(&self, out: &mut String) -> std::fmt::Result {
        for mark in self.t.marks().filter(|m| m.kind == MarkKind::Rollback) {
            let x = self.x(mark.at);
            writeln!(
                out,
                "<line class=\"rollback-line\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"><title>{}</title></line>",
                self.top,
                self.bottom,
                esc(&mark.text)
            )?;
        }
        Ok(())
    }
}

/// A line's background: a band under a group's header, every other step row striped.
fn background(out: &mut String, line: Line, groups: &[Group], index: usize, y: f64) -> std::fmt::Result {
    match line {
        Line::Header { group, .. } => {
            let role = match groups[group].role {
                GroupRole::Phase => "phase",
                GroupRole::Rollback => "rollback",
                GroupRole::Unplanned => "unplanned",
            };
            writeln!(
                out,
                "<rect class=\"band {role}\" x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{GROUP_H}\"/>"
            )
        }
        Line::Step { .. } if index % 2 == 0 => writeln!(
            out,
            "<rect class=\"stripe\" x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{ROW_H}\"/>"
        ),
        Line::Step { .. } => Ok(()),
    }
}

/// A group's numbers in words, for its tooltips.
fn group_text(group: &Group) -> String {
    let mut out = format!(
        "{}: {} of {} steps done",
        group.title,
        group.done,
        group.rows.len()
    );
    if let Some(planned) = group.planned {
        out.push_str(&format!(
            "; planned {}",
            crate::runbook::duration::format_duration(planned)
        ));
    }
    match (group.actual(), group.span) {
        (Some(actual), Some((from, to))) => out.push_str(&format!(
            "; actual {} ({} to {})",
            crate::text::duration(actual),
            time_label(from),
            time_label(to)
        )),
        _ => out.push_str("; not started"),
    }
    let s = group.stats;
    if s.signoff_waits > 0 {
        out.push_str(&format!(
            "; {} sign-off wait(s), {} in all",
            s.signoff_waits,
            crate::text::duration(s.waited)
        ));
    }
    if s.failed_attempts > 0 {
        out.push_str(&format!("; {} failed attempt(s)", s.failed_attempts));
    }
    out
}

/// At most `max` characters, with `…` where it was cut.
fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// What the bars, marks and bands mean, at the foot of the last part.
fn legend(out: &mut String, id: &str, y: f64) -> std::fmt::Result {
    enum Sample {
        Bar(BarKind, &'static str),
        Mark(MarkKind),
        Gap,
        Plan,
    }
    let samples = [
        Sample::Bar(BarKind::Attempt(AttemptEnd::Succeeded), "succeeded"),
        Sample::Bar(BarKind::Attempt(AttemptEnd::Failed), "failed, timed out"),
        Sample::Bar(BarKind::Attempt(AttemptEnd::Cancelled), "cancelled, interrupted"),
        Sample::Bar(BarKind::Attempt(AttemptEnd::Running), "still running"),
        Sample::Bar(BarKind::SignOffWait, "waiting for sign-off"),
        Sample::Plan,
        Sample::Mark(MarkKind::Failure),
        Sample::Mark(MarkKind::SignOff),
        Sample::Mark(MarkKind::Override),
        Sample::Mark(MarkKind::Skip),
        Sample::Mark(MarkKind::Note),
        Sample::Mark(MarkKind::Rollback),
        Sample::Mark(MarkKind::Hold),
        Sample::Gap,
    ];
    writeln!(out, "<g class=\"legend\">")?;
    let (mut x, mut line_y) = (LABEL_X, y + 10.0);
    for sample in samples {
        let text = match &sample {
            Sample::Bar(_, text) => text,
            Sample::Mark(kind) => kind.noun(),
            Sample::Gap => "idle gap over 5s, drawn as 5s",
            Sample::Plan => "phase: planned (outline), actual",
        };
        let width = 30.0 + text.chars().count() as f64 * 6.2 + 16.0;
        if x + width > WIDTH {
            x = LABEL_X;
            line_y += 22.0;
        }
        match sample {
            Sample::Bar(kind, _) => {
                let h = if kind == BarKind::SignOffWait { 6.0 } else { 12.0 };
                let open = if kind == BarKind::Attempt(AttemptEnd::Running) {
                    " open"
                } else {
                    ""
                };
                write!(
                    out,
                    "<rect class=\"sample{}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"24\" height=\"{h}\" fill=\"url(#{id}-{})\"/>",
                    if kind == BarKind::SignOffWait {
                        " wait"
                    } else {
                        open
                    },
                    line_y - h / 2.0,
                    pattern(kind)
                )?;
            }
            Sample::Mark(kind) => write!(
                out,
                "<g transform=\"translate({:.1} {line_y:.1})\">{}</g>",
                x + 12.0,
                glyph(kind)
            )?,
            Sample::Gap => write!(
                out,
                "<rect class=\"gap-band\" x=\"{x:.1}\" y=\"{:.1}\" width=\"24\" height=\"16\"/>\
                 <path class=\"gap-cut\" d=\"M{:.1},{:.1}l3,4l-6,4l3,4M{:.1},{:.1}l3,4l-6,4l3,4\"/>",
                line_y - 8.0,
                x + 10.0,
                line_y - 6.0,
                x + 14.0,
                line_y - 6.0
            )?,
            Sample::Plan => write!(
                out,
                "<rect class=\"planned\" x=\"{x:.1}\" y=\"{:.1}\" width=\"24\" height=\"12\"/>\
                 <rect class=\"actual\" x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"4\"/>",
                line_y - 6.0,
                line_y - 2.0
            )?,
        }
        writeln!(
            out,
            "<text class=\"legend-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 30.0,
            line_y + 4.0,
            esc(text)
        )?;
        x += width;
    }
    writeln!(out, "</g>")
}

/// The timeline's style: the page's palette variables give every colour.
pub const STYLE: &str = r#"
figure.timeline { margin: .6rem 0 1rem; }
figure.timeline svg.defs { position: absolute; width: 0; height: 0; overflow: hidden; }
figure.timeline svg.part { display: block; width: 100%; height: auto;
  font-family: "DejaVu Sans", "Liberation Sans", system-ui, sans-serif; }
.timeline text { fill: var(--fg); font-size: 12px; }
.timeline .axis-label, .timeline .tick text, .timeline .group-numbers, .timeline .legend-label { font-size: 11px; fill: var(--muted); }
.timeline .tick text { text-anchor: middle; }
.timeline .tick line { stroke: var(--grid); stroke-width: .6; }
.timeline .group-label { font-weight: 700; }
.timeline .group-numbers { text-anchor: end; }
.timeline .band { fill: var(--band); }
.timeline .stripe { fill: var(--stripe); }
.timeline .bar, .timeline .sample { stroke: var(--fg); stroke-width: .7; }
.timeline .bar.wait, .timeline .sample.wait { stroke: var(--wait); }
.timeline .bar.open, .timeline .sample.open { stroke-dasharray: 3 2; }
.timeline .planned { fill: none; stroke: var(--fg); stroke-width: .9; stroke-dasharray: 4 2; }
.timeline .planned-more { fill: var(--fg); }
.timeline .actual { fill: var(--fg); }
.timeline .gap-band { fill: var(--paper); stroke: var(--grid); stroke-width: .6; }
.timeline .gap-cut { fill: none; stroke: var(--fg); stroke-width: 1; }
.timeline .gap-label { font-size: 11px; text-anchor: middle; fill: var(--fg); }
.timeline .rollback-line { stroke: var(--bad); stroke-width: 1.4; stroke-dasharray: 5 3; }
.timeline .rollback-label { font-size: 11px; font-weight: 700; fill: var(--bad); }
.timeline .halo { fill: none; stroke: var(--paper); stroke-width: 4.5; stroke-linecap: round; stroke-linejoin: round; }
.timeline .g-failure { fill: none; stroke: var(--bad); stroke-width: 2.2; stroke-linecap: round; }
.timeline .g-signoff { fill: none; stroke: var(--good); stroke-width: 2.2; stroke-linecap: round; stroke-linejoin: round; }
.timeline .g-override { fill: var(--warn-fill); stroke: var(--fg); stroke-width: 1; }
.timeline .g-override-bang { fill: none; stroke: var(--fg); stroke-width: 1.6; }
.timeline .g-skip { fill: none; stroke: var(--muted); stroke-width: 1.8; stroke-linejoin: round; }
.timeline .g-note { fill: var(--note); stroke: var(--fg); stroke-width: .6; }
.timeline .g-rollback { fill: var(--bad); stroke: var(--fg); stroke-width: .6; }
.timeline .g-hold { fill: var(--warn); stroke: var(--fg); stroke-width: .6; }
.timeline .f-good { fill: var(--good-fill); }
.timeline .f-bad { fill: var(--bad-fill); }
.timeline .f-warn { fill: var(--warn-fill); }
.timeline .f-running { fill: var(--running-fill); }
.timeline .f-wait { fill: var(--wait-fill); }
.timeline .s-paper { stroke: var(--paper); stroke-width: 1.3; }
.timeline .s-ink { stroke: var(--fg); stroke-width: 1.5; }
.timeline .s-wait { stroke: var(--wait); stroke-width: 1.1; }
@media print { figure.timeline svg.part { break-inside: avoid; } }
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::GroupStats;
    use crate::report::timeline::Row;

    fn group(title: &str, rows: usize) -> Group {
        Group {
            title: title.into(),
            role: GroupRole::Phase,
            planned: None,
            span: None,
            done: 0,
            stats: GroupStats::default(),
            rows: (0..rows)
                .map(|i| Row {
                    step: format!("{title}.{i}"),
                    title: format!("step {i}"),
                    text: String::new(),
                    bars: Vec::new(),
                    marks: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn parts_hold_whole_groups_and_continue_a_long_one_under_its_header() {
        let groups = [group("a", 10), group("b", 20), group("c", 40), group("d", 1)];
        let parts = parts(&groups);
        let lines: Vec<usize> = parts.iter().map(Vec::len).collect();
        assert!(lines.iter().all(|&n| n <= PART_LINES), "{lines:?}");
        // a fits, b does not fit after it, c needs two parts, d fits after c's rest.
        assert_eq!(lines, [11, 21, 26, 18]);
        let headers: Vec<(usize, bool)> = parts
            .iter()
            .flatten()
            .filter_map(|l| match *l {
                Line::Header { group, continued } => Some((group, continued)),
                Line::Step { .. } => None,
            })
            .collect();
        assert_eq!(
            headers,
            [(0, false), (1, false), (2, false), (2, true), (3, false)]
        );
        let steps = parts
            .iter()
            .flatten()
            .filter(|l| matches!(l, Line::Step { .. }))
            .count();
        assert_eq!(steps, 71, "every row once");
    }

    #[test]
    fn a_shared_scale_gives_equal_times_equal_lengths() {
        let scale = Scale::fitting(60_000);
        assert_eq!(scale.x(0), PLOT_X);
        assert_eq!(scale.x(60_000), PLOT_END);
        assert!((scale.x(30_000) - (PLOT_X + PLOT_END) / 2.0).abs() < 1e-9);
        assert_eq!(scale.x(120_000), PLOT_END, "past the end stays in the plot");
    }
}
