//! Drawing a replay: the live checklist's screen exactly as the app draws
//! it, in all but the bottom rows, and under it the timeline bar: the
//! integrity badge, the journal's own timestamp and the event shown, the
//! scrub bar with its markers, the play state, speed and messages.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::controls;
use super::index::Mark;
use super::player::Replay;
use super::timeline::{IDLE_GAP_MS, Timeline};
use crate::journal::event::{Event, Outcome, Record};
use crate::journal::reader::Integrity;
use crate::runbook::plan::Plan;
use crate::session::Next;
use crate::text;
use crate::ui::spans;
use crate::ui::{Level, Theme, keys_overlay, view_in};

/// Rows of the timeline bar.
pub const BAR_HEIGHT: u16 = 3;

/// The app's screen size inside a terminal of `size`.
pub fn app_size(size: (u16, u16)) -> (u16, u16) {
    (size.0, size.1.saturating_sub(BAR_HEIGHT))
}

/// The terminal row of the scrub bar, if there is room for the bar.
pub fn scrub_row(size: (u16, u16)) -> Option<u16> {
    (size.1 >= BAR_HEIGHT).then(|| size.1 - BAR_HEIGHT + 1)
}

/// Draw the whole replay screen.
pub fn draw(replay: &Replay, frame: &mut Frame) {
    let area = frame.area();
    let theme = replay.app.theme;
    let (w, h) = app_size((area.width, area.height));
    view_in(&replay.app, frame, Rect::new(area.x, area.y, w, h));
    if area.height >= BAR_HEIGHT {
        let row = |n: u16| Rect::new(area.x, area.y + h + n, area.width, 1);
        frame.render_widget(Paragraph::new(info_line(replay, area.width)), row(0));
        frame.render_widget(Paragraph::new(scrub_line(replay, area.width)), row(1));
        frame.render_widget(Paragraph::new(control_line(replay, theme, area.width)), row(2));
    }
    if let Some(scroll) = replay.help {
        help(theme, frame, area, scroll);
    }
}

/// Integrity badge, journal time, event number and the event itself.
fn info_line(replay: &Replay, width: u16) -> Line<'static> {
    let theme = replay.app.theme;
    let t = &replay.timeline;
    let mut left = vec![Span::styled(" REPLAY ", theme.badge()), Span::raw(" ")];
    left.extend(badge(t, theme));
    let of = if t.caught_up {
        text::count(t.len() as u64)
    } else {
        format!("{}…", text::count(t.len() as u64))
    };
    left.push(Span::styled(" · ", theme.dim()));
    left.push(Span::styled(
        format!("{} UTC", replay.current.ts.format("%Y-%m-%d %H:%M:%S%.3f")),
        theme.bold(),
    ));
    left.push(Span::styled(
        format!(" · #{} of {of} · ", text::count(replay.cursor() as u64 + 1)),
        theme.dim(),
    ));
    left.push(Span::raw(describe(&replay.current, &replay.app.session.plan)));
    spans::spread(left, Vec::new(), usize::from(width))
}

/// The integrity badge: verified, still verifying, or broken at a line.
pub fn badge(t: &Timeline, theme: Theme) -> Vec<Span<'static>> {
    let mut spans = match (&t.integrity, &t.failed) {
        (Integrity::Broken { line, .. }, _) => vec![Span::styled(
            format!(" ✗ CHAIN BROKEN AT LINE {line} "),
            theme.alert(),
        )],
        (_, Some(_)) => vec![Span::styled(" ✗ UNREADABLE ", theme.alert())],
        _ if !t.caught_up => vec![Span::styled(
            format!("⋯ verifying {:.0}%", t.progress() * 100.0),
            theme.warning(),
        )],
        _ => vec![Span::styled("✓ chain verified", theme.ok())],
    };
    if t.torn.is_some() {
        spans.push(Span::styled(" · torn last line ignored", theme.warning()));
    }
    spans
}

/// One cell of the scrub bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Ahead,
    Played,
    Gap,
    Phase,
    Verification,
    SignOff,
    Failure,
    Now,
}

impl Cell {
    fn glyph(self) -> char {
        match self {
            Cell::Ahead => '─',
            Cell::Played => '━',
            Cell::Gap => '≈',
            Cell::Phase => '┃',
            Cell::Verification => '◆',
            Cell::SignOff => '✓',
            Cell::Failure => '✗',
            Cell::Now => '●',
        }
    }

    fn style(self, theme: Theme) -> Style {
        match self {
            Cell::Ahead | Cell::Gap => theme.dim(),
            Cell::Played => theme.info(),
            Cell::Phase => theme.bold(),
            Cell::Verification => theme.info(),
            Cell::SignOff => theme.ok(),
            Cell::Failure => theme.error(),
            Cell::Now => theme.warning(),
        }
    }
}

/// The scrub bar's cells: playback time spread over `width` columns, the
/// weightier marker winning a shared cell, and the playhead above all.
pub fn scrub_cells(t: &Timeline, clock: i64, width: usize) -> Vec<Cell> {
    if width == 0 {
        return Vec::new();
    }
    let total = t.total().max(1);
    let last = width as i64 - 1;
    let col = |c: i64| (c.clamp(0, total) * last / total) as usize;
    let now = col(clock);
    let mut cells: Vec<Cell> = (0..width)
        .map(|x| if x <= now { Cell::Played } else { Cell::Ahead })
        .collect();
    let mut put = |i: usize, cell: Cell| {
        let x = col(t.ctime(i));
        cells[x] = cells[x].max(cell);
    };
    for &i in t.gaps() {
        put(i, Cell::Gap);
    }
    for (mark, cell) in [
        (Mark::Phase, Cell::Phase),
        (Mark::Verification, Cell::Verification),
        (Mark::SignOff, Cell::SignOff),
        (Mark::Failure, Cell::Failure),
    ] {
        for &i in t.marked(mark) {
            put(i, cell);
        }
    }
    cells[now] = Cell::Now;
    cells
}

fn scrub_line(replay: &Replay, width: u16) -> Line<'static> {
    let theme = replay.app.theme;
    let cells = scrub_cells(&replay.timeline, replay.clock(), usize::from(width));
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut run = String::new();
    let mut kind = None;
    for cell in cells {
        if kind.is_some_and(|k| k != cell) {
            spans.push(Span::styled(
                std::mem::take(&mut run),
                kind.map_or(theme.dim(), |k: Cell| k.style(theme)),
            ));
        }
        kind = Some(cell);
        run.push(cell.glyph());
    }
    if let Some(k) = kind {
        spans.push(Span::styled(run, k.style(theme)));
    }
    Line::from(spans)
}

/// Play state, speed, then the prompt, a message or the main keys.
fn control_line(replay: &Replay, theme: Theme, width: u16) -> Line<'static> {
    let ended = matches!(replay.app.session.next(), Next::Ended);
    let state = if replay.playing {
        Span::styled(format!(" ▶ {} ", replay.speed.label()), theme.live())
    } else if replay.following && !ended {
        Span::styled(" ● LIVE END ", theme.live())
    } else if replay.following {
        Span::styled(" ■ END ", theme.badge())
    } else {
        Span::styled(format!(" ❚❚ {} ", replay.speed.label()), theme.badge())
    };
    let mut left = vec![state, Span::raw(" ")];
    if let Some(gap) = replay.idle_gap() {
        left.push(Span::styled(
            format!(
                "≈ idle {} (plays as {}s) ",
                text::duration(std::time::Duration::from_millis(gap.max(0) as u64)),
                IDLE_GAP_MS / 1000
            ),
            theme.warning(),
        ));
    }
    let room = usize::from(width);
    if let Some(prompt) = &replay.prompt {
        left.push(Span::styled("go to (UTC, HH:MM[:SS]): ", theme.bold()));
        left.push(Span::raw(prompt.text.clone()));
        left.push(Span::styled("█", theme.dim()));
        if let Some(e) = &prompt.error {
            left.push(Span::styled(format!("  ✗ {e}"), theme.error()));
        } else {
            left.push(Span::styled("  Enter go · Esc cancel", theme.dim()));
        }
        return spans::spread(left, Vec::new(), room);
    }
    if let Some(n) = &replay.notice {
        let (mark, style) = match n.level {
            Level::Info => ("•", theme.info()),
            Level::Warning => ("⚠", theme.warning()),
            Level::Error => ("✗", theme.error()),
        };
        left.push(Span::styled(format!("{mark} {}", n.text), style));
        return spans::spread(left, Vec::new(), room);
    }
    let mut pairs = vec![
        ("Space", "play"),
        ("←→", "event"),
        ("[ ]", "step"),
        ("f/F", "failure"),
        ("s/S", "sign-off"),
        ("v/V", "check"),
        ("g", "time"),
        ("+/-", "speed"),
        ("?", "keys"),
        ("q", "quit"),
    ];
    let used: usize = left.iter().map(Span::width).sum();
    let hint = |pairs: &[(&str, &str)]| -> Vec<Span<'static>> {
        let mut spans = Vec::new();
        for (i, (key, does)) in pairs.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" · ", theme.dim()));
            }
            spans.push(Span::styled(key.to_string(), theme.bold()));
            spans.push(Span::styled(format!(" {does}"), theme.dim()));
        }
        spans
    };
    // Drop whole hints from the middle (never "keys" and "quit") until they fit.
    while pairs.len() > 2 && used + hint(&pairs).iter().map(Span::width).sum::<usize>() > room {
        pairs.remove(pairs.len() - 3);
    }
    left.extend(hint(&pairs));
    spans::spread(left, Vec::new(), room)
}

/// One line on what an event is, for the bar.
pub fn describe(record: &Record, plan: &Plan) -> String {
    let step = |id: &str| match plan.step(id) {
        Some(s) => format!("{id} {}", s.title),
        None => id.to_string(),
    };
    let what = match &record.event {
        Event::Header(h) => format!(
            "session {} opened by {} on {} ({}, {})",
            h.session_id,
            h.operator,
            h.host,
            h.environment,
            h.mode.label()
        ),
        Event::Resumed {
            operator,
            host,
            plan,
            taken_over_from,
            ..
        } => format!(
            "resumed by {operator} on {host}{}{}",
            if plan.is_some() {
                " with a changed runbook"
            } else {
                ""
            },
            taken_over_from
                .as_ref()
                .map(|from| format!(", taking over from {from}"))
                .unwrap_or_default()
        ),
        Event::HoldReached { after, .. } => {
            format!(
                "hold after {}: the next phase waits for a confirmation",
                step(after)
            )
        }
        Event::HoldReleased {
            after,
            who,
            preapproved,
        } => format!(
            "{who} confirmed going on after {}{}",
            step(after),
            if *preapproved { " (pre-approved)" } else { "" }
        ),
        Event::Run { who } => format!("{who} ran the session: steps start one after another"),
        Event::Pause { who } => format!("{who} paused the session: no new step starts"),
        Event::StepInterrupted { step: s, attempt } => format!("{} interrupted (attempt {attempt})", step(s)),
        Event::StepStarted { step: s, attempt } => format!("{} started (attempt {attempt})", step(s)),
        Event::StepProcess {
            step: s,
            attempt,
            pgid,
        } => format!("{} runs as process group {pgid} (attempt {attempt})", step(s)),
        Event::Output {
            step: s,
            stream,
            lines,
            ..
        } => format!(
            "{} output: {} {} on {}",
            step(s),
            lines.len(),
            if lines.len() == 1 { "line" } else { "lines" },
            stream.label()
        ),
        Event::ShellState { step: s, state, .. } => {
            format!("{} leaves its shell state: {}", step(s), state.summary())
        }
        Event::StepFinished {
            step: s,
            outcome,
            exit_code,
            duration_ms,
            error,
            ..
        } => {
            let mut out = format!(
                "{} {} after {}",
                step(s),
                outcome_word(*outcome),
                text::duration(std::time::Duration::from_millis(*duration_ms))
            );
            if let Some(code) = exit_code {
                out.push_str(&format!(", exit {code}"));
            }
            if let Some(e) = error {
                out.push_str(&format!(": {e}"));
            }
            out
        }
        Event::Verification {
            step: s,
            name,
            passed,
            ..
        } => format!(
            "check {} {name} ({})",
            if *passed { "PASS" } else { "FAIL" },
            step(s)
        ),
        Event::AwaitingSignOff { step: s } => format!("{} waits for sign-off", step(s)),
        Event::SignedOff { step: s, signature } => {
            let mut out = format!("{} signed off by {}", step(s), signature.who);
            if !signature.role.is_empty() {
                out.push_str(&format!(" ({})", signature.role));
            }
            if signature.preapproved {
                out.push_str(", approved in advance");
            }
            if !signature.note.is_empty() {
                out.push_str(&format!(": {}", signature.note));
            }
            out
        }
        Event::Skipped { step: s, who, reason } => format!("{} skipped by {who}: {reason}", step(s)),
        Event::EnvironmentConfirmed { who } => format!("environment confirmed by {who}"),
        Event::Note { who, text } => format!("note by {who}: {text}"),
        Event::RollbackStarted { who, reason } => format!("rollback started by {who}: {reason}"),
        Event::RollbackFinished { outcome } => format!("rollback finished: {}", outcome.label()),
        Event::Warning { message, .. } => format!("warning: {message}"),
        Event::Detached { who } => format!("{who} left the session (resumable)"),
        Event::DriverDetached { who, reason, .. } => {
            format!("{who}'s terminal went away ({reason}): the driver goes on without a screen")
        }
        Event::DriverAttached { who, seat } => {
            format!("{who} took the driver's seat from {}", seat.describe())
        }
        Event::Seal { sealed_seq, .. } => format!("journal sealed at line {}", sealed_seq + 1),
        Event::SessionEnded { outcome, reason } => match reason {
            Some(r) => format!("session {}: {r}", outcome.label()),
            None => format!("session {}", outcome.label()),
        },
    };
    text::sanitize(&what)
}

/// An attempt's outcome for the timeline bar: failures loud.
fn outcome_word(outcome: Outcome) -> String {
    match outcome {
        Outcome::Failed | Outcome::TimedOut => outcome.label().to_uppercase(),
        Outcome::Succeeded | Outcome::Cancelled => outcome.label().to_string(),
    }
}

/// The keys overlay.
fn help(theme: Theme, frame: &mut Frame, area: Rect, scroll: u16) {
    let width = area.width.saturating_sub(2).min(100);
    let height = area.height.saturating_sub(2);
    let rect = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    frame.render_widget(Clear, rect);
    keys_overlay(
        theme,
        frame,
        rect,
        "Replay keys",
        |width| help_lines(theme, width),
        scroll,
    );
}

fn help_lines(theme: Theme, width: usize) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (title, entries) in controls::sections() {
        let key_width = entries.iter().map(|(k, _)| text::width(k)).max().unwrap_or(8) + 2;
        let help_width = width.saturating_sub(key_width + 2).max(10);
        lines.push(Line::styled(title, theme.heading()));
        for (key, does) in entries {
            for (i, part) in text::wrap_words(&does, help_width).into_iter().enumerate() {
                let key = if i == 0 { key.as_str() } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {key:<key_width$}"), theme.bold()),
                    Span::raw(part),
                ]));
            }
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("Timeline markers", theme.heading()));
    let legend = [
        (Cell::Now, "the moment shown"),
        (
            Cell::Phase,
            "a phase begins, the rollback starts, the session ends",
        ),
        (Cell::Failure, "a failure"),
        (Cell::SignOff, "a sign-off"),
        (Cell::Verification, "a verification result"),
        (Cell::Gap, "an idle gap, compressed"),
        (Cell::Played, "played"),
    ];
    for (cell, what) in legend {
        lines.push(Line::from(vec![
            Span::raw("  "),
            Span::styled(cell.glyph().to_string(), cell.style(theme)),
            Span::raw(format!(" {what}")),
        ]));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::index::IndexBatch;

    fn timeline(times: &[i64], marks: &[(usize, Mark)]) -> Timeline {
        let mut b = IndexBatch::empty(Integrity::Verified);
        b.offsets = (0..times.len() as u64).collect();
        b.times = times.to_vec();
        b.marks = marks.to_vec();
        b.caught_up = true;
        Timeline::new(b)
    }

    #[test]
    fn the_scrub_bar_places_markers_and_the_playhead() {
        let t = timeline(
            &[0, 1_000, 2_000, 60_000, 64_000],
            &[(1, Mark::Failure), (1, Mark::Phase), (4, Mark::SignOff)],
        );
        // Playback time: 0, 1s, 2s, 7s (58 s idle capped at 5 s), 11s.
        let cells = scrub_cells(&t, 0, 12);
        assert_eq!(cells[0], Cell::Now);
        assert_eq!(cells[1], Cell::Failure, "failure outweighs the phase mark");
        assert_eq!(cells[7], Cell::Gap);
        assert_eq!(cells[11], Cell::SignOff);
        assert!(cells[2..7].iter().all(|c| *c == Cell::Ahead));
        let cells = scrub_cells(&t, 8_000, 12);
        assert_eq!(cells[8], Cell::Now);
        assert!(cells[2..7].iter().all(|c| *c == Cell::Played));
        assert_eq!(scrub_cells(&t, 0, 0), Vec::new());
    }

    #[test]
    fn the_badge_tells_verified_verifying_and_broken_apart() {
        let theme = Theme::monochrome();
        let words = |t: &Timeline| {
            badge(t, theme)
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        let mut t = timeline(&[0], &[]);
        assert_eq!(words(&t), "✓ chain verified");
        t.torn = Some("line 2 is incomplete".into());
        assert_eq!(words(&t), "✓ chain verified · torn last line ignored");
        t.torn = None;
        t.integrity = Integrity::Broken {
            line: 7,
            reason: "edited".into(),
        };
        assert_eq!(words(&t), " ✗ CHAIN BROKEN AT LINE 7 ");
        let mut t = timeline(&[0], &[]);
        t.caught_up = false;
        t.file_len = 400;
        t.end = 100;
        assert_eq!(words(&t), "⋯ verifying 25%");
    }
}
