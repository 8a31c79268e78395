//! The replay's state and its transitions: the live checklist's [`App`] as
//! it was at the cursor, the timeline, and the playback clock.
//!
//! Like the live TUI's `update`, nothing here draws or waits: inputs come in
//! as [`Input`]s, and the only thing asked of the driver is reading log lines
//! back from the journal ([`LogQuery`]). Seeks restore the nearest
//! [`Checkpoint`](super::timeline::Checkpoint) and fold at most one
//! checkpoint interval of records read at their indexed offsets.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::controls::{self, Control};
use super::timeline::{IndexBatch, Timeline};
use super::view;
use crate::journal::chain::parse_line_unchecked;
use crate::journal::event::{Event, Record};
use crate::session::Update;
use crate::ui::{App, Effect, Level, LogChunk, LogQuery, Modal, Msg, Pane, PhaseKey, RowKey};

/// Forward moves up to this many events are folded one by one, exactly as
/// the live TUI takes them; longer ones restore a checkpoint.
const LIVE_STEPS: usize = 256;

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

/// How a record reaches the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Through `update`, as the live TUI takes an engine record.
    Live,
    /// Output batches (the bulk of any journal) straight into the fold,
    /// skipping the per-record view sync; whoever feeds this way resyncs the
    /// view once at the end ([`Replay`] does, the indexer's app never draws).
    Fast,
}

/// Fold one record into the app; the effects it asks for (log read-backs).
pub fn feed(app: &mut App, record: Record, how: Feed) -> Vec<Effect> {
    if let Event::Resumed { operator, .. } = &record.event {
        // The live TUI of a resumed session is opened by the one who resumed it.
        app.operator = operator.clone();
    }
    if how == Feed::Fast && matches!(record.event, Event::Output { .. }) {
        app.session.apply(&record);
        return Vec::new();
    }
    app.update(Msg::Engine(Update::Record(record)))
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
}

/// The `g` prompt: a time to go to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompt {
    pub text: String,
    pub error: Option<String>,
}

/// A line of feedback in the timeline bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: Level,
    pub text: String,
}

/// What the reviewer has made of the panes, kept across seeks.
struct ViewState {
    focus: Pane,
    bottom: Pane,
    wrap: bool,
    search: Option<String>,
    modal: Option<Modal>,
    follow: bool,
    selected: Option<RowKey>,
    collapsed: HashSet<PhaseKey>,
    checklist_top: usize,
    detail_scroll: u16,
    checks_scroll: u16,
}

impl ViewState {
    fn of(app: &App) -> ViewState {
        ViewState {
            focus: app.focus,
            bottom: app.bottom,
            wrap: app.log.wrap,
            search: app.log.search.clone(),
            modal: app.modal.clone(),
            follow: app.follow,
            selected: app.selected.clone(),
            collapsed: app.collapsed.clone(),
            checklist_top: app.checklist_top,
            detail_scroll: app.detail_scroll,
            checks_scroll: app.checks_scroll,
        }
    }

    /// Put it on a freshly restored app whose log pane was reset. What the
    /// checklist cursor shows stays the recorded one while it follows the
    /// active step, as it did for the operator.
    fn restore(self, app: &mut App) {
        app.focus = self.focus;
        app.bottom = self.bottom;
        app.log.wrap = self.wrap;
        app.log.search = self.search;
        app.modal = self.modal;
        if !self.follow {
            app.follow = false;
            app.selected = self.selected;
            app.collapsed = self.collapsed;
            app.checklist_top = self.checklist_top;
            app.detail_scroll = self.detail_scroll;
            app.checks_scroll = self.checks_scroll;
        }
    }
}

/// The replay of one journal.
pub struct Replay {
    /// The live checklist's state at the cursor; drawn as the operator saw it.
    pub app: App,
    pub timeline: Timeline,
    file: File,
    cursor: usize,
    /// Playback time (see [`Timeline::ctime`]), in milliseconds.
    clock: i64,
    pub speed: Speed,
    pub playing: bool,
    /// At the end: events appended to the journal are shown as they come.
    pub following: bool,
    pub prompt: Option<Prompt>,
    /// The keys overlay, with its scroll.
    pub help: Option<u16>,
    pub notice: Option<Notice>,
    /// The event at the cursor.
    pub current: Record,
    /// The terminal's size.
    pub size: (u16, u16),
    pub quitting: bool,
    /// Something visible changed since the last frame (see also `app.dirty`).
    pub dirty: bool,
}

impl Replay {
    /// Open the replay at the journal's first event. `first` is the indexer's
    /// first batch (it holds the header and its checkpoint).
    pub fn new(path: &Path, first: IndexBatch, size: (u16, u16)) -> Result<(Replay, Vec<LogQuery>), String> {
        let timeline = Timeline::new(first);
        let app = timeline
            .checkpoint(0)
            .map(|c| (*c.app).clone())
            .ok_or_else(|| format!("{}: the journal has no session header", path.display()))?;
        let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let header = read_records(&file, &timeline, 0, 0)?;
        let current = header
            .into_iter()
            .next()
            .ok_or_else(|| format!("{}: the journal has no session header", path.display()))?;
        let mut replay = Replay {
            app,
            timeline,
            file,
            cursor: 0,
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
            dirty: true,
        };
        let fx = replay.settle(None);
        Ok((replay, queries(fx)))
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

    /// Apply one input; the log read-backs to perform.
    pub fn update(&mut self, input: Input) -> Vec<LogQuery> {
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
                self.app.update(Msg::Resize(w, h))
            }
            Input::Tick(elapsed) => self.tick(elapsed),
            Input::Indexed(batch) => self.indexed(batch),
            Input::LogRead(chunk) => self.app.update(Msg::LogRead(chunk)),
        };
        // The app says when it changed (a wheel scroll does, a mouse move does not).
        self.dirty |= self.app.dirty;
        queries(fx)
    }

    fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            level: Level::Info,
            text: text.into(),
        });
    }

    fn warn(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
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
            return self.app.update(Msg::Key(ev));
        }
        if let Some(control) = controls::control(&ev) {
            self.notice = None;
            return self.control(control);
        }
        if controls::passes_through(&ev) {
            return self.app.update(Msg::Key(ev));
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
                self.app.follow = true;
                self.app.log.follow = true;
                let (w, h) = view::app_size(self.size);
                self.app.update(Msg::Resize(w, h))
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
    pub fn go_to(&mut self, index: usize) -> Vec<LogQuery> {
        let fx = self.jump(index, None);
        queries(fx)
    }

    /// Move to event `target` (a jump: leaves following the end).
    fn jump(&mut self, target: usize, clock: Option<i64>) -> Vec<Effect> {
        self.following = false;
        self.seek(target, clock)
    }

    /// Put the cursor on event `target`, the playback clock at `clock` (by
    /// default the event's own time).
    fn seek(&mut self, target: usize, clock: Option<i64>) -> Vec<Effect> {
        let target = target.min(self.timeline.last());
        self.dirty = true;
        let result = if target == self.cursor {
            Ok(Vec::new())
        } else if target > self.cursor && target - self.cursor <= LIVE_STEPS {
            self.step_forward(target)
        } else {
            self.restore(target)
        };
        let fx = match result {
            Ok(fx) => fx,
            Err(e) => {
                self.playing = false;
                self.notice = Some(Notice {
                    level: Level::Error,
                    text: e,
                });
                return Vec::new();
            }
        };
        self.clock = clock.unwrap_or_else(|| self.timeline.ctime(target));
        self.app.now = self.journal_now();
        fx
    }

    /// Fold the records after the cursor up to `target` one by one.
    fn step_forward(&mut self, target: usize) -> Result<Vec<Effect>, String> {
        let records = read_records(&self.file, &self.timeline, self.cursor + 1, target)?;
        let mut fx = Vec::new();
        for record in records {
            self.current = record.clone();
            fx.extend(feed(&mut self.app, record, Feed::Live));
        }
        self.cursor = target;
        Ok(fx)
    }

    /// Rebuild the app at `target` from the nearest checkpoint (or from the
    /// cursor, when that is nearer), then resync the view once.
    fn restore(&mut self, target: usize) -> Result<Vec<Effect>, String> {
        let checkpoint = self
            .timeline
            .checkpoint(target)
            .ok_or_else(|| "the journal's index has no starting point".to_string())?;
        let from_cursor = target > self.cursor && checkpoint.index <= self.cursor;
        let start = if from_cursor {
            self.cursor
        } else {
            checkpoint.index
        };
        let records = if start < target {
            read_records(&self.file, &self.timeline, start + 1, target)?
        } else {
            Vec::new()
        };
        let current = match records.last() {
            Some(r) => r.clone(),
            None => read_records(&self.file, &self.timeline, target, target)?
                .pop()
                .ok_or_else(|| "the journal changed while it was replayed".to_string())?,
        };
        let view = ViewState::of(&self.app);
        if !from_cursor {
            self.app = (*checkpoint.app).clone();
        }
        for record in records {
            feed(&mut self.app, record, Feed::Fast);
        }
        self.cursor = target;
        self.current = current;
        Ok(self.settle(Some(view)))
    }

    /// Resync a restored app's view: fresh log pane, the reviewer's own view
    /// state, this screen's size.
    fn settle(&mut self, view: Option<ViewState>) -> Vec<Effect> {
        self.app.log = Default::default();
        if let Some(view) = view {
            view.restore(&mut self.app);
        }
        self.app.now = self.journal_now();
        let (w, h) = view::app_size(self.size);
        self.app.update(Msg::Resize(w, h))
    }

    /// Playback: move the clock on by `elapsed` at the chosen speed.
    fn tick(&mut self, elapsed: Duration) -> Vec<Effect> {
        if !self.playing {
            return Vec::new();
        }
        let last = self.timeline.last();
        let mut fx = match self.speed.factor() {
            None => {
                let target = self.timeline.next_change(self.cursor).unwrap_or(last);
                self.seek(target, None)
            }
            Some(factor) => {
                let step = i64::try_from(elapsed.as_millis())
                    .unwrap_or(i64::MAX)
                    .saturating_mul(factor);
                let clock = self.clock.saturating_add(step).min(self.timeline.total());
                let target = self.timeline.at_ctime(clock);
                if target > self.cursor {
                    self.seek(target, Some(clock))
                } else {
                    self.clock = clock;
                    Vec::new()
                }
            }
        };
        if self.cursor >= last && self.clock >= self.timeline.total() && self.timeline.caught_up {
            self.playing = false;
            self.following = true;
            self.info("end of the journal: new events appear as they are written");
        }
        self.dirty = true;
        fx.extend(self.app.update(Msg::Tick(self.journal_now())));
        fx
    }

    fn indexed(&mut self, batch: IndexBatch) -> Vec<Effect> {
        self.timeline.extend(batch);
        self.dirty = true;
        if self.following && self.cursor < self.timeline.last() {
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
            return self.app.update(Msg::Mouse(ev));
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
            self.app.update(Msg::Paste(text.to_string()))
        } else {
            Vec::new()
        }
    }
}

/// The log read-backs among an app's effects. The app never asks for
/// anything else here: no key that could send a command reaches it.
fn queries(fx: Vec<Effect>) -> Vec<LogQuery> {
    fx.into_iter()
        .filter_map(|e| match e {
            Effect::ReadLog(q) => Some(q),
            Effect::Send(_) | Effect::Quit => None,
        })
        .collect()
}

/// The records of events `from..=to`, read at their indexed offsets. They
/// were verified when indexed; a line that no longer parses means the file
/// changed underneath.
fn read_records(file: &File, timeline: &Timeline, from: usize, to: usize) -> Result<Vec<Record>, String> {
    if from > to {
        return Ok(Vec::new());
    }
    let (start, end) = timeline.bytes(from, to);
    let len = usize::try_from(end - start).map_err(|_| "the journal is too large to read".to_string())?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, start)
        .map_err(|e| format!("cannot read the journal: {e}"))?;
    let mut records = Vec::with_capacity(to - from + 1);
    for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let record = parse_line_unchecked(line)
            .ok_or_else(|| "the journal changed on disk while it was replayed; open it again".to_string())?;
        records.push(record);
    }
    if records.len() != to - from + 1 {
        return Err("the journal changed on disk while it was replayed; open it again".into());
    }
    Ok(records)
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
