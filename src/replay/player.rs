//! The replay's state and its transitions: the live checklist's [`App`] as
//! it was at the cursor, the timeline, and the playback clock.
//!
//! Pure like the live TUI's `update`: nothing here draws, waits or reads a
//! file. Inputs come in as [`Input`]s; what the replay needs from the
//! journal it asks for as [`Effect`]s (log lines, the records a seek folds),
//! and the answers come back as inputs. A seek restores the nearest
//! [`Checkpoint`](super::index::Checkpoint) and folds at most one checkpoint
//! interval of records, which [`Reader`](super::Reader) reads at their
//! indexed offsets.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::controls::{self, Control};
use super::index::IndexBatch;
use super::timeline::Timeline;
use super::view;
use super::{Feed, feed};
use crate::journal::event::Record;
use crate::ui::{self, App, Level, LogChunk, LogQuery, Message, Msg, QueryKind, ViewState};

/// Forward moves up to this many events are folded one by one, exactly as
/// the live TUI takes them; longer ones restore a checkpoint.
const LIVE_STEPS: usize = 256;

/// Events the end moves on by, at least, before a replay following it
/// seeks again while the journal is still being indexed.
const FOLLOW_STRIDE: usize = 65_536;

/// Playback speeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Speed {
    X1,
    X2,
    X10,
    X100,
    /// No waiting: one state change per tick.
    Instant,
}

impl Speed {
    const ALL: [Speed; 5] = [Speed::X1, Speed::X2, Speed::X10, Speed::X100, Speed::Instant];

    fn position(self) -> usize {
        Speed::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn faster(self) -> Speed {
        Speed::ALL[(self.position() + 1).min(Speed::ALL.len() - 1)]
    }

    pub fn slower(self) -> Speed {
        Speed::ALL[self.position().saturating_sub(1)]
    }

    /// How many times faster than the journal's own clock, or `None` for instant.
    pub fn factor(self) -> Option<i64> {
        match self {
            Speed::X1 => Some(1),
            Speed::X2 => Some(2),
            Speed::X10 => Some(10),
            Speed::X100 => Some(100),
            Speed::Instant => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Speed::X1 => "1x",
            Speed::X2 => "2x",
            Speed::X10 => "10x",
            Speed::X100 => "100x",
            Speed::Instant => "instant",
        }
    }
}

/// Everything that can happen to the replay.
#[derive(Debug, Clone)]
pub enum Input {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The terminal's new size (columns, rows).
    Resize(u16, u16),
    /// Real time passed (drives playback).
    Tick(Duration),
    /// The indexer read more of the journal.
    Indexed(IndexBatch),
    /// Log lines read back from the journal.
    LogRead(LogChunk),
    /// Records a seek asked for.
    Events(EventsRead),
    /// The indexer stopped sending (it only stops by itself at a break or an error).
    IndexClosed,
    /// A termination signal or a lost terminal: leave.
    Terminate,
}

/// What the replay asks of the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Log lines of a step, for the log pane.
    ReadLog(LogQuery),
    /// The records a seek folds.
    ReadEvents(EventsQuery),
}

/// The records of events `from..=to`, at bytes `bytes` of the journal, for a seek.
#[derive(Debug, Clone, PartialEq)]
pub struct EventsQuery {
    pub from: usize,
    pub to: usize,
    pub bytes: (u64, u64),
    seek: Seek,
}

/// The answer to an [`EventsQuery`].
#[derive(Debug, Clone)]
pub struct EventsRead {
    pub query: EventsQuery,
    /// The records, in order, or why they could not be read.
    pub records: Result<Vec<Record>, String>,
}

/// A seek under way: where to, and how the records read are folded.
#[derive(Debug, Clone, PartialEq)]
struct Seek {
    /// Later seeks make the answers to earlier ones stale.
    generation: u64,
    target: usize,
    clock: Option<i64>,
    how: How,
    /// Playback moved the clock: the app's clock ticks after the fold.
    tick: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum How {
    /// Each record through the app's `update`, as the live TUI took it.
    Live,
    /// Fast, onto the checkpoint of event `base` (or onto the app as it is).
    Restore { base: Option<usize> },
}

/// The `g` prompt: a time to go to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    pub text: String,
    pub error: Option<String>,
}

/// The replay of one journal.
pub struct Replay {
    /// The live checklist's state at the cursor; drawn as the operator saw it.
    pub app: App,
    pub timeline: Timeline,
    cursor: usize,
    /// The latest seek asked for.
    seeking: u64,
    /// Playback time (see [`Timeline::ctime`]), in milliseconds.
    clock: i64,
    pub speed: Speed,
    pub playing: bool,
    /// At the end: events appended to the journal are shown as they come.
    pub following: bool,
    pub prompt: Option<Prompt>,
    /// The keys overlay, with its scroll.
    pub help: Option<u16>,
    /// A line of feedback in the timeline bar.
    pub notice: Option<Message>,
    /// The event at the cursor.
    pub current: Record,
    /// The terminal's size.
    pub size: (u16, u16),
    pub quitting: bool,
    /// Why the replay cannot go on (the journal stopped being readable).
    pub failure: Option<String>,
    /// Something visible changed since the last frame (see also `app.dirty`).
    pub dirty: bool,
}

impl Replay {
    /// Open the replay at the journal's first event. `first` is the indexer's
    /// first batch (it holds the header and its checkpoint).
    pub fn new(first: IndexBatch, size: (u16, u16)) -> Result<(Replay, Vec<Effect>), String> {
        let timeline = Timeline::new(first);
        let (app, current) = timeline
            .checkpoint(0)
            .map(|c| ((*c.app).clone(), (*c.record).clone()))
            .ok_or_else(|| "the journal has no session header".to_string())?;
        let mut replay = Replay {
            app,
            timeline,
            cursor: 0,
            seeking: 0,
            clock: 0,
            speed: Speed::X1,
            playing: false,
            following: false,
            prompt: None,
            help: None,
            notice: None,
            current,
            size,
            quitting: false,
            failure: None,
            dirty: true,
        };
        let fx = replay.settle(None);
        Ok((replay, fx))
    }

    /// Index of the event shown.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Playback position, in milliseconds of (compressed) journal time.
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// The journal time the screen shows: the event's own timestamp, moved on
    /// by playback between events.
    pub fn journal_now(&self) -> DateTime<Utc> {
        let ahead = self.clock - self.timeline.ctime(self.cursor);
        if ahead <= 0 {
            return self.current.ts;
        }
        DateTime::from_timestamp_millis(self.timeline.time(self.cursor) + ahead).unwrap_or(self.current.ts)
    }

    /// While playback waits out a compressed idle gap: the gap's real length.
    pub fn idle_gap(&self) -> Option<i64> {
        let next = self.cursor + 1;
        (self.playing && next < self.timeline.len() && self.clock > self.timeline.ctime(self.cursor))
            .then(|| self.timeline.gap_before(next))
            .flatten()
    }

    /// Apply one input; what to read from the journal.
    pub fn update(&mut self, input: Input) -> Vec<Effect> {
        let fx = match input {
            Input::Key(ev) => {
                if ev.kind == KeyEventKind::Release {
                    return Vec::new();
                }
                self.dirty = true;
                self.key(ev)
            }
            Input::Mouse(ev) => self.mouse(ev),
            Input::Paste(text) => self.paste(&text),
            Input::Resize(w, h) => {
                self.size = (w, h);
                self.dirty = true;
                let (w, h) = view::app_size(self.size);
                from_app(self.app.update(Msg::Resize(w, h)))
            }
            Input::Tick(elapsed) => self.tick(elapsed),
            Input::Indexed(batch) => self.indexed(batch),
            Input::LogRead(chunk) => from_app(self.app.update(Msg::LogRead(chunk))),
            Input::Events(read) => self.events(read),
            Input::IndexClosed => {
                let t = &self.timeline;
                if t.integrity.is_verified() && t.failed.is_none() {
                    self.failure = Some("reading the journal stopped unexpectedly".into());
                    self.quitting = true;
                }
                Vec::new()
            }
            Input::Terminate => {
                self.quitting = true;
                Vec::new()
            }
        };
        // The app says when it changed (a wheel scroll does, a mouse move does not).
        self.dirty |= self.app.dirty;
        fx.into_iter().map(|effect| self.marked(effect)).collect()
    }

    /// A log read-back starts from the index's checkpoint nearest before
    /// its first line: a seek plus a bounded read, however long the journal.
    fn marked(&self, effect: Effect) -> Effect {
        match effect {
            Effect::ReadLog(mut query) => {
                if let QueryKind::Range { from, .. } = query.kind {
                    query.start = self
                        .timeline
                        .line_mark(&query.step, query.first_seq, from, self.cursor);
                }
                Effect::ReadLog(query)
            }
            other => other,
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Message {
            level: Level::Info,
            text: text.into(),
        });
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.notice = Some(Message {
            level: Level::Warning,
            text: text.into(),
        });
    }

    fn key(&mut self, ev: KeyEvent) -> Vec<Effect> {
        let ctrl_c = ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            self.quitting = true;
            return Vec::new();
        }
        if let Some(scroll) = self.help {
            self.help = controls::help_key(scroll, &ev);
            return Vec::new();
        }
        if let Some(prompt) = self.prompt.take() {
            return self.prompt_key(prompt, ev);
        }
        if self.app.modal.is_some() {
            // The app's own search prompt or reference overlay takes every key.
            return from_app(self.app.update(Msg::Key(ev)));
        }
        if let Some(control) = controls::control(&ev) {
            self.notice = None;
            return self.control(control);
        }
        if controls::passes_through(&ev) {
            return from_app(self.app.update(Msg::Key(ev)));
        }
        if controls::is_live_action(&ev) {
            self.warn("a replay is read-only: nothing can be run, signed or changed · ? lists the keys");
        }
        Vec::new()
    }

    /// Act on a timeline control.
    pub fn control(&mut self, control: Control) -> Vec<Effect> {
        self.dirty = true;
        match control {
            Control::PlayPause => {
                if self.playing {
                    self.playing = false;
                } else if self.cursor >= self.timeline.last() && self.timeline.caught_up {
                    self.following = true;
                    self.info("at the end of the journal: new events appear as they are written");
                } else {
                    self.playing = true;
                    self.following = false;
                }
                Vec::new()
            }
            Control::Faster | Control::Slower => {
                self.speed = if control == Control::Faster {
                    self.speed.faster()
                } else {
                    self.speed.slower()
                };
                self.info(format!("speed {}", self.speed.label()));
                Vec::new()
            }
            Control::Next | Control::Prev => {
                self.playing = false;
                let target = if control == Control::Next {
                    (self.cursor + 1 < self.timeline.len()).then_some(self.cursor + 1)
                } else {
                    self.cursor.checked_sub(1)
                };
                match target {
                    Some(t) => self.jump(t, None),
                    None => {
                        let end = if control == Control::Next { "last" } else { "first" };
                        self.info(format!("this is the {end} event{}", self.still_indexing()));
                        Vec::new()
                    }
                }
            }
            Control::NextMark(mark) | Control::PrevMark(mark) => {
                let forward = matches!(control, Control::NextMark(_));
                let target = if forward {
                    self.timeline.next_mark(mark, self.cursor)
                } else {
                    self.timeline.prev_mark(mark, self.cursor)
                };
                match target {
                    Some(t) => self.jump(t, None),
                    None => {
                        let way = if forward { "next" } else { "previous" };
                        self.info(format!("no {way} {}{}", mark.noun(), self.still_indexing()));
                        Vec::new()
                    }
                }
            }
            Control::GoTo => {
                self.playing = false;
                self.prompt = Some(Prompt::default());
                Vec::new()
            }
            Control::Start => self.jump(0, None),
            Control::End => {
                let fx = self.jump(self.timeline.last(), None);
                self.playing = false;
                self.following = true;
                if !self.timeline.caught_up {
                    self.info("still reading the journal: the end moves on as it is indexed");
                }
                fx
            }
            Control::Follow => {
                self.app.follow_active();
                let (w, h) = view::app_size(self.size);
                from_app(self.app.update(Msg::Resize(w, h)))
            }
            Control::Help => {
                self.help = Some(0);
                Vec::new()
            }
            Control::Quit => {
                self.quitting = true;
                Vec::new()
            }
        }
    }

    fn still_indexing(&self) -> &'static str {
        if self.timeline.caught_up {
            ""
        } else {
            " (so far: the journal is still being read)"
        }
    }

    fn prompt_key(&mut self, mut prompt: Prompt, ev: KeyEvent) -> Vec<Effect> {
        match ev.code {
            KeyCode::Esc => {}
            KeyCode::Enter => match parse_time(&prompt.text, self.journal_now()) {
                Ok(at) => return self.go_to_time(at),
                Err(e) => {
                    prompt.error = Some(e);
                    self.prompt = Some(prompt);
                }
            },
            KeyCode::Backspace => {
                prompt.text.pop();
                prompt.error = None;
                self.prompt = Some(prompt);
            }
            KeyCode::Char(c)
                if prompt.text.chars().count() < 32 && (c.is_ascii_digit() || ":- T".contains(c)) =>
            {
                prompt.text.push(c);
                prompt.error = None;
                self.prompt = Some(prompt);
            }
            _ => self.prompt = Some(prompt),
        }
        Vec::new()
    }

    /// Show the screen as it was at `at`: the last event at or before it.
    pub fn go_to_time(&mut self, at: DateTime<Utc>) -> Vec<Effect> {
        let ms = at.timestamp_millis();
        let first = self.timeline.time(0);
        if ms < first {
            let fx = self.jump(0, None);
            self.info("that is before the session started: showing its start");
            return fx;
        }
        let target = self.timeline.at_time(ms);
        let next_c = if target < self.timeline.last() {
            self.timeline.ctime(target + 1) - 1
        } else {
            self.timeline.ctime(target)
        };
        let ahead = (ms - self.timeline.time(target)).max(0);
        let clock = (self.timeline.ctime(target) + ahead).min(next_c.max(self.timeline.ctime(target)));
        let fx = self.jump(target, Some(clock));
        self.info(format!("at {}", at.format("%Y-%m-%d %H:%M:%S UTC")));
        fx
    }

    /// Show the screen right after event `index` (clamped to the last one).
    pub fn go_to(&mut self, index: usize) -> Vec<Effect> {
        self.jump(index, None)
    }

    /// Move to event `target` (a jump: leaves following the end).
    fn jump(&mut self, target: usize, clock: Option<i64>) -> Vec<Effect> {
        self.following = false;
        self.seek(target, clock)
    }

    /// Put the cursor on event `target`, the playback clock at `clock` (by
    /// default the event's own time): at once when nothing needs reading,
    /// otherwise once the records asked for come back.
    fn seek(&mut self, target: usize, clock: Option<i64>) -> Vec<Effect> {
        self.seek_then(target, clock, false)
    }

    fn seek_then(&mut self, target: usize, clock: Option<i64>, tick: bool) -> Vec<Effect> {
        let target = target.min(self.timeline.last());
        self.dirty = true;
        self.seeking += 1;
        let mut seek = Seek {
            generation: self.seeking,
            target,
            clock,
            how: How::Live,
            tick,
        };
        let from = if target == self.cursor {
            return self.arrived(seek, Vec::new());
        } else if target > self.cursor && target - self.cursor <= LIVE_STEPS {
            self.cursor + 1
        } else {
            let Some(checkpoint) = self.timeline.checkpoint(target) else {
                return self.failed("the journal's index has no starting point".into());
            };
            let from_cursor = target > self.cursor && checkpoint.index <= self.cursor;
            if !from_cursor && checkpoint.index == target {
                // The checkpoint is the moment itself: nothing to read.
                let (app, record) = ((*checkpoint.app).clone(), (*checkpoint.record).clone());
                let view = self.app.view_state();
                self.app = app;
                self.cursor = target;
                self.current = record;
                let mut fx = self.settle(Some(view));
                fx.extend(self.arrived(seek, Vec::new()));
                return fx;
            }
            seek.how = How::Restore {
                base: (!from_cursor).then_some(checkpoint.index),
            };
            if from_cursor {
                self.cursor + 1
            } else {
                checkpoint.index + 1
            }
        };
        vec![Effect::ReadEvents(EventsQuery {
            from,
            to: target,
            bytes: self.timeline.bytes(from, target),
            seek,
        })]
    }

    /// The records of a seek came back: fold them as the seek said.
    fn events(&mut self, read: EventsRead) -> Vec<Effect> {
        let EventsRead { query, records } = read;
        let seek = query.seek;
        if seek.generation != self.seeking {
            return Vec::new();
        }
        let records = match records {
            Ok(records) if records.len() == query.to + 1 - query.from => records,
            Ok(_) => {
                return self
                    .failed("the journal changed on disk while it was replayed; open it again".into());
            }
            Err(e) => return self.failed(e),
        };
        let mut fx = Vec::new();
        match seek.how {
            How::Live => {
                for record in records {
                    self.current = record.clone();
                    fx.extend(from_app(feed(&mut self.app, record, Feed::Live)));
                }
                self.cursor = seek.target;
            }
            How::Restore { base } => {
                let restored = match base {
                    Some(base) => match self.timeline.checkpoint(base).filter(|c| c.index == base) {
                        Some(checkpoint) => Some((*checkpoint.app).clone()),
                        None => return self.failed("the journal's index has no starting point".into()),
                    },
                    None => None,
                };
                // Following the end, the log pane moves on with it: only
                // the lines that are new since are read back.
                let view = if self.following {
                    self.app.view_state_with_log()
                } else {
                    self.app.view_state()
                };
                if let Some(app) = restored {
                    self.app = app;
                }
                if let Some(last) = records.last() {
                    self.current = last.clone();
                }
                for record in records {
                    feed(&mut self.app, record, Feed::Fast);
                }
                self.cursor = seek.target;
                fx.extend(self.settle(Some(view)));
            }
        }
        fx.extend(self.arrived(seek, Vec::new()));
        fx
    }

    /// The cursor is where a seek wanted it: set the clock, and finish a tick.
    fn arrived(&mut self, seek: Seek, mut fx: Vec<Effect>) -> Vec<Effect> {
        self.clock = seek.clock.unwrap_or_else(|| self.timeline.ctime(seek.target));
        self.app.set_clock(self.journal_now());
        if seek.tick {
            fx.extend(self.ticked());
        }
        fx
    }

    /// A seek could not be done: playback stops and says why.
    fn failed(&mut self, why: String) -> Vec<Effect> {
        self.playing = false;
        self.notice = Some(Message {
            level: Level::Error,
            text: why,
        });
        Vec::new()
    }

    /// Resync a restored app's view: fresh log pane, the reviewer's own view
    /// state, this screen's size.
    fn settle(&mut self, view: Option<ViewState>) -> Vec<Effect> {
        match view {
            Some(view) => self.app.restore_view(view),
            None => self.app.reset_log(),
        }
        self.app.set_clock(self.journal_now());
        let (w, h) = view::app_size(self.size);
        from_app(self.app.update(Msg::Resize(w, h)))
    }

    /// Playback: move the clock on by `elapsed` at the chosen speed.
    fn tick(&mut self, elapsed: Duration) -> Vec<Effect> {
        if !self.playing {
            return Vec::new();
        }
        match self.speed.factor() {
            None => {
                let target = self
                    .timeline
                    .next_change(self.cursor)
                    .unwrap_or(self.timeline.last());
                self.seek_then(target, None, true)
            }
            Some(factor) => {
                let step = i64::try_from(elapsed.as_millis())
                    .unwrap_or(i64::MAX)
                    .saturating_mul(factor);
                let clock = self.clock.saturating_add(step).min(self.timeline.total());
                let target = self.timeline.at_ctime(clock);
                if target > self.cursor {
                    self.seek_then(target, Some(clock), true)
                } else {
                    self.clock = clock;
                    self.ticked()
                }
            }
        }
    }

    /// After a tick has moved playback on: stop at the end, and let the app's clock tick.
    fn ticked(&mut self) -> Vec<Effect> {
        let t = &self.timeline;
        if self.cursor >= t.last() && self.clock >= t.total() && t.caught_up {
            self.playing = false;
            self.following = true;
            self.info("end of the journal: new events appear as they are written");
        }
        self.dirty = true;
        from_app(self.app.update(Msg::Tick(self.journal_now())))
    }

    fn indexed(&mut self, batch: IndexBatch) -> Vec<Effect> {
        self.timeline.extend(batch);
        self.dirty = true;
        let t = &self.timeline;
        // While the journal is still being read, the end is followed in
        // strides: a seek per batch would cost as much as the indexing.
        let far_enough = t.caught_up || t.last() >= self.cursor + FOLLOW_STRIDE;
        if self.following && self.cursor < t.last() && far_enough {
            let fx = self.seek(self.timeline.last(), None);
            self.following = true;
            return fx;
        }
        Vec::new()
    }

    fn mouse(&mut self, ev: MouseEvent) -> Vec<Effect> {
        if self.help.is_some() || self.prompt.is_some() {
            return Vec::new();
        }
        let (app_w, app_h) = view::app_size(self.size);
        if ev.row < app_h && ev.column < app_w {
            return from_app(self.app.update(Msg::Mouse(ev)));
        }
        let on_scrub = view::scrub_row(self.size) == Some(ev.row);
        if on_scrub && matches!(ev.kind, MouseEventKind::Down(MouseButton::Left)) {
            let width = i64::from(self.size.0.max(2) - 1);
            let clock = self.timeline.total() * i64::from(ev.column) / width;
            let target = self.timeline.at_ctime(clock);
            return self.jump(target, None);
        }
        Vec::new()
    }

    fn paste(&mut self, text: &str) -> Vec<Effect> {
        if let Some(prompt) = &mut self.prompt {
            prompt.text.extend(
                text.chars()
                    .filter(|c| c.is_ascii_digit() || ":- T".contains(*c))
                    .take(32),
            );
            prompt.error = None;
            self.dirty = true;
            Vec::new()
        } else if self.app.modal.is_some() {
            self.dirty = true;
            from_app(self.app.update(Msg::Paste(text.to_string())))
        } else {
            Vec::new()
        }
    }
}

/// The app's effects as the replay's: only log read-backs. The app never
/// asks for anything else here: no key that could send a command reaches it.
fn from_app(fx: Vec<ui::Effect>) -> Vec<Effect> {
    fx.into_iter()
        .filter_map(|e| match e {
            ui::Effect::ReadLog(q) => Some(Effect::ReadLog(q)),
            ui::Effect::Send(_) | ui::Effect::Quit => None,
        })
        .collect()
}

/// A time typed at the `g` prompt: `HH:MM`, `HH:MM:SS`, or with a date
/// (`YYYY-MM-DD HH:MM[:SS]`), in UTC like the journal. A time without a date
/// is the occurrence nearest to `shown`.
pub fn parse_time(text: &str, shown: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let bad = || format!("“{text}” is not a time: type HH:MM[:SS] or YYYY-MM-DD HH:MM[:SS] (UTC)");
    let time = |t: &str| {
        NaiveTime::parse_from_str(t, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
            .ok()
    };
    if let Some((date, clock)) = text.split_once([' ', 'T']) {
        let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").map_err(|_| bad())?;
        let clock = time(clock.trim()).ok_or_else(bad)?;
        return Ok(NaiveDateTime::new(date, clock).and_utc());
    }
    let clock = time(text).ok_or_else(bad)?;
    let day = shown.date_naive();
    let candidates = [day.pred_opt(), Some(day), day.succ_opt()];
    candidates
        .into_iter()
        .flatten()
        .map(|d| NaiveDateTime::new(d, clock).and_utc())
        .min_by_key(|t| (*t - shown).num_milliseconds().abs())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn speeds_go_up_and_down_and_stop_at_the_ends() {
        assert_eq!(Speed::X1.slower(), Speed::X1);
        assert_eq!(Speed::X1.faster(), Speed::X2);
        assert_eq!(Speed::X100.faster(), Speed::Instant);
        assert_eq!(Speed::Instant.faster(), Speed::Instant);
        assert_eq!(Speed::Instant.factor(), None);
        assert_eq!(Speed::X10.factor(), Some(10));
    }

    #[test]
    fn times_are_read_in_utc_nearest_to_the_one_shown() {
        let shown = Utc
            .with_ymd_and_hms(2025, 3, 1, 23, 50, 0)
            .single()
            .expect("time");
        let at = |s: &str| parse_time(s, shown).map(|t| t.to_rfc3339());
        assert_eq!(at("23:10").as_deref(), Ok("2025-03-01T23:10:00+00:00"));
        assert_eq!(
            at("00:10:30").as_deref(),
            Ok("2025-03-02T00:10:30+00:00"),
            "just after midnight is the next day's"
        );
        assert_eq!(at("2025-02-28 09:00").as_deref(), Ok("2025-02-28T09:00:00+00:00"));
        assert_eq!(
            at(" 2025-02-28T09:00:05 ").as_deref(),
            Ok("2025-02-28T09:00:05+00:00")
        );
        for bad in ["", "25:00", "9", "12:61", "2025-13-01 10:00", "nonsense"] {
            assert!(parse_time(bad, shown).is_err(), "{bad:?}");
        }
    }
}
