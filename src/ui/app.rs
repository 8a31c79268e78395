//! The TUI's state and its pure `update`.
//!
//! The session's truth is the fold ([`SessionState`]) kept up to date from
//! the engine's records; everything else here is UI-only: selection, scroll
//! positions, dialogs, the log window. `update` never does I/O: it returns
//! [`Effect`]s for the driver.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui_textarea::TextArea;

use super::keys::{self, Action, Context};
use super::layout::{self, Areas};
use super::log::{Loaded, LogView};
use super::msg::{Effect, Msg};
use super::theme::Theme;
use crate::journal::event::{Event, Mode, Record, SessionOutcome, Signature};
use crate::runbook::duration::format_estimate;
use crate::runbook::model::{PhaseKind, ReferenceKind, Runbook, Step};
use crate::seat::Seat;
use crate::session::protocol::Present;
use crate::session::{ChoiceKind, Command, Next, Refusal, SessionState, Update, choices, decide, rules};
use crate::text;

/// A pane that can have the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Checklist,
    Detail,
    Log,
    Checks,
}

impl Pane {
    const CYCLE: [Pane; 4] = [Pane::Checklist, Pane::Detail, Pane::Log, Pane::Checks];
}

/// A phase of the checklist: a forward phase by index, or the rollback steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhaseKey {
    Forward(usize),
    Rollback,
}

/// A checklist row's identity, stable while the fold changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RowKey {
    Phase(PhaseKey),
    Step(String),
}

/// One row of the checklist as drawn.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    Phase {
        key: PhaseKey,
        title: &'a str,
        kind: PhaseKind,
        /// Steps done and planned in the phase and the phases nested in it.
        done: usize,
        total: usize,
        collapsed: bool,
        /// How deeply the phase is nested in the runbook's headings.
        depth: u32,
    },
    Step {
        step: &'a Step,
        /// Its phase's depth, one more for a sub-step.
        depth: u32,
    },
}

impl Row<'_> {
    pub fn key(&self) -> RowKey {
        match self {
            Row::Phase { key, .. } => RowKey::Phase(*key),
            Row::Step { step, .. } => RowKey::Step(step.id.clone()),
        }
    }
}

/// A reference section of the runbook, for the overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub title: String,
    pub markdown: String,
}

impl Reference {
    /// The runbook's reference sections, the ones an operator reaches for
    /// during a window first; front-matter contacts join the contacts.
    pub fn from_runbook(runbook: &Runbook) -> Vec<Reference> {
        let rank = |k: ReferenceKind| match k {
            ReferenceKind::Communication => 0,
            ReferenceKind::Timeline => 1,
            ReferenceKind::SuccessCriteria => 2,
            ReferenceKind::Contacts => 3,
            ReferenceKind::Rollback => 4,
            ReferenceKind::Overview => 5,
            ReferenceKind::Other => 6,
        };
        let mut sections: Vec<_> = runbook.references.iter().collect();
        sections.sort_by_key(|r| rank(r.kind));
        let contacts: String = runbook
            .contacts
            .iter()
            .map(|(role, who)| format!("- **{role}**: {who}\n"))
            .collect();
        let mut out: Vec<Reference> = sections
            .iter()
            .map(|r| {
                let mut markdown = r.markdown.clone();
                if r.kind == ReferenceKind::Contacts && !contacts.is_empty() {
                    markdown.push_str("\n\n");
                    markdown.push_str(&contacts);
                }
                Reference {
                    title: r.title.clone(),
                    markdown,
                }
            })
            .collect();
        if !contacts.is_empty() && !sections.iter().any(|r| r.kind == ReferenceKind::Contacts) {
            out.push(Reference {
                title: "Contacts".into(),
                markdown: contacts,
            });
        }
        out
    }
}

/// A line of feedback under the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub level: Level,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// What a signature in the sign-off dialog means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOffKind {
    /// A manual step, signed by as many distinct people as the plan asks.
    Manual,
    /// A failed or interrupted step that a person marks done.
    MarkDone,
    /// A failed gate let through: needs a role and the reason.
    GateOverride,
}

/// The sign-off dialog of a manual step (or marking a failed one done).
#[derive(Debug, Clone)]
pub struct SignOffDialog {
    pub step: String,
    pub title: String,
    pub kind: SignOffKind,
    pub signed: Vec<String>,
    pub need: u32,
    /// Who, role, note.
    pub fields: [TextArea<'static>; 3],
    pub field: usize,
    /// Sent to the engine; waiting for the record or a refusal.
    pub sent: bool,
    pub error: Option<String>,
}

/// The production guard: type the environment's name.
#[derive(Debug, Clone)]
pub struct ConfirmEnvDialog {
    pub environment: String,
    pub step_title: String,
    pub input: TextArea<'static>,
    pub sent: bool,
    pub error: Option<String>,
}

/// What a one-line reason prompt is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonFor {
    Skip { step: String, title: String },
    Abort,
    Rollback,
}

#[derive(Debug, Clone)]
pub struct ReasonDialog {
    pub purpose: ReasonFor,
    pub input: TextArea<'static>,
    pub error: Option<String>,
}

/// What a yes/no question is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    Quit,
    CancelStep,
}

/// The dialog or overlay on top, if any. It takes every key.
#[derive(Debug, Clone)]
pub enum Modal {
    Help { scroll: u16 },
    Reference { index: usize, scroll: u16 },
    SignOff(Box<SignOffDialog>),
    ConfirmEnv(Box<ConfirmEnvDialog>),
    Reason(Box<ReasonDialog>),
    Note(Box<TextArea<'static>>),
    Question(Question),
    Search(Box<TextArea<'static>>),
}

/// The engine task, as far as the TUI knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineState {
    Running,
    Stopped,
    Failed(String),
}

/// What the app is built from besides the fold.
#[derive(Debug, Clone)]
pub struct AppSetup {
    /// Who is at the keyboard: the default signer and the author of notes and decisions.
    pub operator: String,
    pub references: Vec<Reference>,
    pub journal_path: PathBuf,
    pub theme: Theme,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    /// Shown once at the start (runbook warnings, unfinished sessions).
    pub notices: Vec<String>,
}

/// The whole TUI state.
#[derive(Debug, Clone)]
pub struct App {
    pub session: SessionState,
    pub theme: Theme,
    pub operator: String,
    pub references: Vec<Reference>,
    pub journal_path: PathBuf,
    /// The clock, moved on by ticks so views never read it themselves.
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    pub spinner: usize,
    pub focus: Pane,
    /// What the shared bottom pane shows on small screens.
    pub bottom: Pane,
    pub selected: Option<RowKey>,
    /// The cursor follows the active step until the operator moves it.
    pub follow: bool,
    pub collapsed: HashSet<PhaseKey>,
    pub checklist_top: usize,
    pub detail_scroll: u16,
    pub checks_scroll: u16,
    pub log: LogView,
    pub modal: Option<Modal>,
    pub message: Option<Message>,
    pub quitting: bool,
    pub engine: EngineState,
    /// Something visible changed since the last frame.
    pub dirty: bool,
    /// The name and role last signed with at this terminal: the sign-off
    /// dialog offers them again, while they have not signed the step.
    pub last_signer: Option<(String, String)>,
    /// A replay draws this app: marked REPLAY, and no hint offers to act.
    pub replay: bool,
    /// What comes next once the session ends well (the next environment's
    /// command), said when it does.
    pub next_after: Option<String>,

    /// While the team journal database is behind: what the driver says of
    /// it, shown as a banner until it is back.
    pub journal_away: Option<String>,
    /// Where this checklist sits: its sign-offs carry it, and it is offered
    /// no sign-off of a step it may not sign ([`rules::seat_cannot_sign`]).
    pub seat: Seat,
    /// This checklist is attached to another process's driver over its
    /// control socket: leaving it leaves that driver running.
    pub attached: bool,
    /// The terminal is gone: nothing is drawn, and a driver leaves once its engine stops.
    pub screenless: bool,
    /// Who is connected to a team session (the driver, attached and
    /// watching terminals), as last looked at; empty for a session of one.
    pub present: Vec<Present>,
}

/// What a viewer has made of the panes (focus, scroll positions, the
/// cursor, an open overlay): kept by a replay across its seeks.
#[derive(Debug, Clone)]
pub struct ViewState {
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
    /// The log pane: emptied (it counts read-back generations on, so late
    /// answers are stale), or itself when carried to a later moment of the
    /// session, whose lines are still the step's (only newer ones need reading).
    log: LogView,
}

/// A single-line text field.
fn field(text: &str, placeholder: &str) -> TextArea<'static> {
    let mut t = TextArea::new(vec![text.to_string()]);
    t.set_placeholder_text(placeholder);
    t.set_cursor_line_style(Style::new());
    t.move_cursor(ratatui_textarea::CursorMove::End);
    t
}

/// Show the cursor only in the focused field.
fn set_focus(t: &mut TextArea<'static>, focused: bool) {
    let style = if focused {
        Style::new().add_modifier(ratatui::style::Modifier::REVERSED)
    } else {
        Style::new()
    };
    t.set_cursor_style(style);
}

fn field_text(t: &TextArea<'_>) -> String {
    t.lines().join("\n")
}

impl App {
    pub fn new(session: SessionState, setup: AppSetup) -> App {
        let mut collapsed = HashSet::new();
        if !session.rolling_back() {
            collapsed.insert(PhaseKey::Rollback);
        }
        let message = (!setup.notices.is_empty()).then(|| Message {
            level: Level::Warning,
            text: setup.notices.join(" · "),
        });
        let mut app = App {
            session,
            theme: setup.theme,
            operator: setup.operator,
            references: setup.references,
            journal_path: setup.journal_path,
            now: setup.now,
            size: setup.size,
            spinner: 0,
            focus: Pane::Checklist,
            bottom: Pane::Log,
            selected: None,
            follow: true,
            collapsed,
            checklist_top: 0,
            detail_scroll: 0,
            checks_scroll: 0,
            log: LogView::default(),
            modal: None,
            message,
            quitting: false,
            engine: EngineState::Running,
            dirty: true,
            last_signer: None,
            replay: false,
            next_after: None,

            journal_away: None,
            seat: Seat::here(),
            attached: false,
            screenless: false,
            present: Vec::new(),
        };
        // Read-backs are asked for by the first update (`new` returns no effects).
        app.sync_view();
        app
    }

    /// What the viewer has made of the panes, to put on another state later.
    pub fn view_state(&self) -> ViewState {
        ViewState {
            focus: self.focus,
            bottom: self.bottom,
            wrap: self.log.wrap,
            search: self.log.search.clone(),
            modal: self.modal.clone(),
            follow: self.follow,
            selected: self.selected.clone(),
            collapsed: self.collapsed.clone(),
            checklist_top: self.checklist_top,
            detail_scroll: self.detail_scroll,
            checks_scroll: self.checks_scroll,
            log: self.log.emptied(),
        }
    }

    /// [`App::view_state`] with the log pane taken along, for a state later
    /// in the same session (a replay following the end); this app's log
    /// pane is left empty until the view is restored.
    pub fn view_state_with_log(&mut self) -> ViewState {
        let view = self.view_state();
        ViewState {
            log: std::mem::take(&mut self.log),
            ..view
        }
    }

    /// Put a viewer's panes back on this (freshly restored) state, with an
    /// empty log pane or the one taken along (kept while its lines are of
    /// this state's output). While the cursor follows the active step, what
    /// it shows stays this state's own, as it was for the operator.
    pub fn restore_view(&mut self, view: ViewState) {
        let still_true = view.log.follow
            && view
                .log
                .step()
                .is_some_and(|step| view.log.end() <= self.output_lines(step));
        self.log = if still_true { view.log } else { view.log.emptied() };
        self.focus = view.focus;
        self.bottom = view.bottom;
        self.log.wrap = view.wrap;
        self.log.search = view.search;
        self.modal = view.modal;
        if !view.follow {
            self.follow = false;
            self.selected = view.selected;
            self.collapsed = view.collapsed;
            self.checklist_top = view.checklist_top;
            self.detail_scroll = view.detail_scroll;
            self.checks_scroll = view.checks_scroll;
        }
        self.dirty = true;
    }

    /// An empty log pane, to be filled again by read-backs.
    pub fn reset_log(&mut self) {
        self.log = self.log.emptied();
        self.dirty = true;
    }

    /// The checklist cursor and the log follow the active step again.
    pub fn follow_active(&mut self) {
        self.follow = true;
        self.log.follow = true;
        self.dirty = true;
    }

    /// Set the clock the views read (a replay shows the journal's own time).
    pub fn set_clock(&mut self, now: DateTime<Utc>) {
        self.now = now;
    }

    /// Who is at the keyboard from now on.
    pub fn set_operator(&mut self, who: &str) {
        self.operator = who.to_string();
    }

    /// The screen shows the state as it is now.
    pub fn mark_drawn(&mut self) {
        self.dirty = false;
    }

    /// The screen regions for the current size.
    pub fn areas(&self) -> Option<Areas> {
        layout::areas(Rect::new(0, 0, self.size.0, self.size.1), self)
    }

    /// The step the session is busy with or waits on.
    pub fn active_step(&self) -> Option<&Step> {
        self.session.next().step()
    }

    pub fn is_running(&self) -> bool {
        matches!(self.session.next(), Next::Running(_))
    }

    /// The checklist rows: forward phases (a collapsed one hides the
    /// phases nested in it), then the rollback steps.
    pub fn rows(&self) -> Vec<Row<'_>> {
        let mut rows = Vec::new();
        let plan = &self.session.plan;
        let mut hidden_below: Option<u32> = None;
        for (i, phase) in plan.phases.iter().enumerate() {
            match hidden_below {
                Some(d) if phase.depth > d => continue,
                _ => hidden_below = None,
            }
            let key = PhaseKey::Forward(i);
            let (done, total) = plan
                .subtree(i)
                .map(|j| self.session.phase_progress(j))
                .fold((0, 0), |(d, t), (dj, tj)| (d + dj, t + tj));
            let collapsed = self.collapsed.contains(&key);
            rows.push(Row::Phase {
                key,
                title: &phase.title,
                kind: phase.kind,
                done,
                total,
                collapsed,
                depth: phase.depth,
            });
            if collapsed {
                hidden_below = Some(phase.depth);
            } else {
                rows.extend(phase.steps.iter().map(|step| Row::Step {
                    step,
                    depth: phase.depth + u32::from(step.parent.is_some()),
                }));
            }
        }
        if !plan.rollback.is_empty() {
            let key = PhaseKey::Rollback;
            let done = plan
                .rollback
                .iter()
                .filter(|s| self.session.step(&s.id).status().is_done())
                .count();
            let collapsed = self.collapsed.contains(&key);
            rows.push(Row::Phase {
                key,
                title: "Rollback",
                kind: PhaseKind::Rollback,
                done,
                total: plan.rollback.len(),
                collapsed,
                depth: 0,
            });
            if !collapsed {
                rows.extend(plan.rollback.iter().map(|step| Row::Step {
                    step,
                    depth: u32::from(step.parent.is_some()),
                }));
            }
        }
        rows
    }

    /// The phases a step is in, outermost first: its phase and the groups
    /// around it.
    fn phases_around(&self, id: &str) -> Vec<PhaseKey> {
        match self.session.plan.phase_of(id) {
            Some(i) => self
                .session
                .plan
                .lineage(i)
                .into_iter()
                .map(PhaseKey::Forward)
                .collect(),
            None => self.phase_of(id).into_iter().collect(),
        }
    }

    /// The phase a step belongs to.
    fn phase_of(&self, id: &str) -> Option<PhaseKey> {
        match self.session.plan.phase_of(id) {
            Some(i) => Some(PhaseKey::Forward(i)),
            None => self
                .session
                .plan
                .rollback
                .iter()
                .any(|s| s.id == id)
                .then_some(PhaseKey::Rollback),
        }
    }

    /// The step under the cursor.
    pub fn selected_step(&self) -> Option<&Step> {
        match &self.selected {
            Some(RowKey::Step(id)) => self.session.plan.step(id),
            _ => None,
        }
    }

    /// Lines `step` has printed so far (all attempts).
    pub fn output_lines(&self, step: &str) -> u64 {
        self.session.steps.get(step).map_or(0, |s| s.output_lines)
    }

    /// The log pane's height inside its border (0 when it is not shown).
    pub fn log_height(&self) -> usize {
        self.areas().map_or(0, |a| a.inner_height(Pane::Log))
    }

    /// The banners above the panes: what must not be missed.
    pub fn banners(&self) -> Vec<(Banner, String)> {
        let mut out = Vec::new();
        if let Some(away) = &self.journal_away {
            out.push((Banner::Alert, away.clone()));
        }
        if self.session.header.mode == Mode::DryRun {
            out.push((
                Banner::DryRun,
                "DRY-RUN · every SQL transaction is rolled back · this session is not evidence".to_string(),
            ));
        }
        if let Some((outcome, reason)) = &self.session.outcome {
            let mut text = format!("SESSION {}", outcome.label().to_uppercase());
            if let Some(r) = reason {
                text.push_str(&format!(": {r}"));
            }
            let ended_well = *outcome == SessionOutcome::Completed
                || (*outcome == SessionOutcome::RolledBack && self.session.header.rollback_only);
            if let Some(next) = self.next_after.as_ref().filter(|_| ended_well) {
                text.push_str(&format!(" · {next}"));
            }
            text.push_str(" · q leaves");
            let kind = if *outcome == SessionOutcome::Completed {
                Banner::Done
            } else {
                Banner::Alert
            };
            out.push((kind, text));
        } else if let Some(r) = self.session.rollback.as_ref().filter(|r| r.finished.is_none()) {
            out.push((
                Banner::Rollback,
                format!("ROLLBACK IN PROGRESS · started by {}: {}", r.who, r.reason),
            ));
        }
        if let Some(e) = &self.session.plan.estimate {
            let elapsed = self.session.elapsed(self.now);
            if self.session.outcome.is_none() && elapsed > e.max * 2 {
                out.push((
                    Banner::Alert,
                    format!(
                        "⚠ elapsed {} is past twice the estimate ({}): a rollback criterion",
                        text::duration(elapsed),
                        format_estimate(e)
                    ),
                ));
            }
        }
        out
    }

    fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            level: Level::Info,
            text: text.into(),
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            level: Level::Error,
            text: text.into(),
        });
    }

    /// Apply one message; return what the driver must do.
    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let mut fx = Vec::new();
        match msg {
            Msg::Key(ev) => {
                if ev.kind != KeyEventKind::Release {
                    self.key(ev, &mut fx);
                    self.dirty = true;
                }
            }
            Msg::Mouse(ev) => self.mouse(ev),
            Msg::Paste(text) => self.paste(&text),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.dirty = true;
            }
            Msg::Tick(now) => {
                let second_changed = now.timestamp() != self.now.timestamp();
                self.now = now;
                if self.is_running() {
                    self.spinner = self.spinner.wrapping_add(1);
                    self.dirty = true;
                } else if second_changed {
                    self.dirty = true;
                }
            }
            Msg::Engine(Update::Record(record)) => {
                self.record(record);
                self.dirty = true;
            }
            Msg::Engine(Update::Refused(why)) => {
                self.refused(why);
                self.dirty = true;
            }
            Msg::Engine(Update::Presence(present)) => {
                self.dirty |= self.present != present;
                self.present = present;
            }
            Msg::Engine(Update::Replica(status)) => {
                let notice = crate::team::replica_notice(&status);
                if status.is_degraded() {
                    self.journal_away = Some(notice);
                } else {
                    self.journal_away = None;
                    self.info(notice);
                }
                self.dirty = true;
            }
            Msg::EngineStopped(result) => {
                self.engine = match result {
                    Ok(()) => EngineState::Stopped,
                    Err(why) => {
                        self.error(format!(
                            "the engine stopped: {why}; quit and resume the session with --resume {}",
                            self.session.header.session_id
                        ));
                        EngineState::Failed(why)
                    }
                };
                if self.screenless && !self.quitting {
                    // Nobody reads this screen: leave with the engine.
                    self.quit(&mut fx);
                }
                if matches!(self.engine, EngineState::Failed(_)) && !self.quitting {
                    // A crashed engine is fatal: nothing the operator does can be recorded.
                    self.info("the engine crashed: leaving the session resumable");
                    self.quit(&mut fx);
                }
                self.dirty = true;
            }
            Msg::LogRead(chunk) => {
                self.log_loaded(chunk);
                self.dirty = true;
            }
            Msg::Terminate(why) => {
                self.info(format!("{why}: leaving the session resumable"));
                self.quit(&mut fx);
                self.dirty = true;
            }
            Msg::TerminalLost(why) => {
                self.screenless = true;
                if self.attached || self.engine != EngineState::Running {
                    self.quit(&mut fx);
                } else {
                    // The session goes on: the running step runs, manual steps wait.
                    self.send(
                        &mut fx,
                        Command::DriverGone {
                            who: self.operator.clone(),
                            reason: why.to_string(),
                            seat: Some(self.seat.clone()),
                        },
                    );
                }
            }
        }
        fx.extend(self.sync());
        fx
    }

    /// Keep derived UI state consistent with the fold, then ask for what
    /// the log pane lacks.
    fn sync(&mut self) -> Vec<Effect> {
        self.sync_view();
        self.log_requests()
    }

    /// Follow the active step, keep the cursor visible, point the log at
    /// the selected step.
    fn sync_view(&mut self) {
        let before = self.selected.clone();
        if self.follow
            && let Some(id) = self.active_step().map(|s| s.id.clone())
        {
            for phase in self.phases_around(&id) {
                self.collapsed.remove(&phase);
            }
            self.selected = Some(RowKey::Step(id));
        }
        let keys: Vec<RowKey> = self.rows().iter().map(Row::key).collect();
        let index = match self
            .selected
            .as_ref()
            .and_then(|k| keys.iter().position(|r| r == k))
        {
            Some(i) => Some(i),
            None => {
                // A step hidden in a collapsed phase: the outermost collapsed
                // phase around it stands in for it.
                let phase = match &self.selected {
                    Some(RowKey::Step(id)) => self
                        .phases_around(id)
                        .into_iter()
                        .find(|p| self.collapsed.contains(p))
                        .map(RowKey::Phase),
                    _ => None,
                };
                let i = phase
                    .and_then(|p| keys.iter().position(|r| *r == p))
                    .or((!keys.is_empty()).then_some(0));
                self.selected = i.map(|i| keys[i].clone());
                i
            }
        };
        if self.selected != before {
            self.detail_scroll = 0;
        }
        let height = self.areas().map_or(1, |a| a.inner_height(Pane::Checklist).max(1));
        if let Some(i) = index {
            if i < self.checklist_top {
                self.checklist_top = i;
            } else if i >= self.checklist_top + height {
                self.checklist_top = i + 1 - height;
            }
        }
        self.checklist_top = self.checklist_top.min(keys.len().saturating_sub(height));
        if let Some(RowKey::Step(id)) = &self.selected {
            let id = id.clone();
            self.log.show(&id, self.session.steps.get(&id));
        }
    }

    /// Ask for the log lines in view that are not in memory.
    fn log_requests(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        if let Some(step) = self.log.step().map(str::to_string) {
            let height = self.log_height();
            if height > 0 {
                let first_seq = self.session.steps.get(&step).and_then(|s| s.first_seq);
                if let Some(q) = self.log.request(first_seq, self.output_lines(&step), height) {
                    fx.push(Effect::ReadLog(q));
                }
            }
        }
        fx
    }

    fn record(&mut self, record: Record) {
        if let Event::Output { step, .. } = &record.event {
            let before = self.output_lines(step);
            self.session.apply(&record);
            if let Event::Output {
                step, stream, lines, ..
            } = record.event
            {
                self.log.push(&step, stream, lines, before);
            }
            return;
        }
        self.session.apply(&record);
        match &record.event {
            Event::SignedOff { step, signature } => {
                // Closed when it was this one, or the step needs no more
                // (signed at another terminal); else it shows who has signed.
                let done = self.session.step(step).status().is_done();
                match &mut self.modal {
                    Some(Modal::SignOff(d)) if d.step == *step && (d.sent || done) => self.modal = None,
                    Some(Modal::SignOff(d)) if d.step == *step => {
                        d.signed = self
                            .session
                            .step(step)
                            .signers()
                            .iter()
                            .map(|s| s.to_string())
                            .collect();
                    }
                    _ => {}
                }
                self.info(format!("{step} signed off by {}", signature.who));
            }
            Event::EnvironmentConfirmed { who } => {
                if matches!(self.modal, Some(Modal::ConfirmEnv(_))) {
                    self.modal = None;
                }
                self.info(format!(
                    "environment {} confirmed by {who}",
                    self.session.plan.environment
                ));
            }
            Event::HoldReached { title, .. } => {
                self.message = Some(Message {
                    level: Level::Warning,
                    text: format!(
                        "hold: \"{title}\" passed; {} runs phase by phase{}",
                        self.session.plan.environment,
                        choices_hint(self).map(|h| format!(" · {h}")).unwrap_or_default()
                    ),
                });
            }
            Event::HoldReleased { who, .. } => {
                self.info(format!("{who} confirmed going on to the next phase"))
            }
            Event::Note { .. } => self.info("note recorded in the journal"),
            Event::Skipped { step, .. } => self.info(format!("{step} skipped")),
            Event::StepFinished {
                step, outcome, error, ..
            } if self.session.step(step).status().needs_decision() => {
                let why = error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
                let hint = choices_hint(self).map(|h| format!(" · {h}")).unwrap_or_default();
                self.error(format!("{step} {}{why}{hint}", outcome.label()));
            }
            Event::StepInterrupted { step, .. } => {
                self.message = Some(Message {
                    level: Level::Warning,
                    text: format!(
                        "{step} was interrupted{}",
                        choices_hint(self).map(|h| format!(": {h}")).unwrap_or_default()
                    ),
                });
            }
            Event::RollbackStarted { who, .. } => {
                self.collapsed.remove(&PhaseKey::Rollback);
                self.follow = true;
                self.info(format!("rollback started by {who}"));
            }
            Event::Warning { message, .. } => {
                self.message = Some(Message {
                    level: Level::Warning,
                    text: message.clone(),
                });
            }
            Event::SessionEnded { outcome, .. } => {
                self.info(format!("the session {}; q leaves", outcome.label()));
            }
            _ => {}
        }
        // A run the operator started reached the production guard: ask at once
        // rather than waiting for another `r`.
        if self.session.auto
            && self.modal.is_none()
            && let Next::Confirm(step) = self.session.next()
        {
            let title = step.title.clone();
            self.open_confirm(title);
        }
    }

    fn refused(&mut self, why: Refusal) {
        match &mut self.modal {
            Some(Modal::SignOff(d)) if d.sent => {
                d.sent = false;
                d.error = Some(why.to_string());
            }
            Some(Modal::ConfirmEnv(d)) if d.sent => {
                d.sent = false;
                d.error = Some(why.to_string());
            }
            _ => {}
        }
        self.error(format!("refused: {why}"));
    }

    /// Whether the rules would take `command` now; if not, why not.
    fn allowed(&self, command: &Command) -> Result<(), Refusal> {
        decide(&self.session, command, self.now).map(drop)
    }

    /// The step a key acts on: the one the session is busy with or waits on.
    fn active_id(&self) -> String {
        self.active_step().map(|s| s.id.clone()).unwrap_or_default()
    }

    fn log_loaded(&mut self, chunk: super::log::LogChunk) {
        let error = chunk.error.clone();
        let pattern = self.log.search.clone().unwrap_or_default();
        let step = chunk.step.clone();
        match self.log.loaded(chunk) {
            Loaded::Found(index) => {
                let total = self.output_lines(&step);
                self.log.reveal(index, total, self.log_height());
            }
            Loaded::NotFound => self.info(format!("no match for “{pattern}”")),
            Loaded::Failed => self.error(error.unwrap_or_default()),
            Loaded::Stale | Loaded::Lines => {}
        }
    }

    /// Leave: detach the session unless it has ended (or this checklist is
    /// attached to another driver, which goes on), and tell the driver.
    fn quit(&mut self, fx: &mut Vec<Effect>) {
        if self.quitting {
            return;
        }
        self.quitting = true;
        self.modal = None;
        if !self.attached
            && self.engine == EngineState::Running
            && self.session.outcome.is_none()
            && !self.session.detached
        {
            fx.push(Effect::Send(Command::Detach {
                who: self.operator.clone(),
            }));
        }
        fx.push(Effect::Quit);
    }

    fn key(&mut self, ev: KeyEvent, fx: &mut Vec<Effect>) {
        if self.quitting {
            return;
        }
        if let Some(modal) = self.modal.take() {
            self.modal_key(modal, ev, fx);
            return;
        }
        self.message = None;
        let contexts: &[Context] = match self.focus {
            Pane::Checklist => &[Context::Checklist, Context::Navigate, Context::Global],
            _ => &[Context::Navigate, Context::Global],
        };
        if let Some(action) = keys::action(contexts, &ev) {
            self.act(action, fx);
        }
    }

    fn send(&self, fx: &mut Vec<Effect>, command: Command) {
        fx.push(Effect::Send(command));
    }

    fn act(&mut self, action: Action, fx: &mut Vec<Effect>) {
        match action {
            Action::Help => self.modal = Some(Modal::Help { scroll: 0 }),
            Action::Quit => {
                // An attached checklist's quit stops nothing: no question to ask.
                if self.is_running() && self.engine == EngineState::Running && !self.attached {
                    self.modal = Some(Modal::Question(Question::Quit));
                } else {
                    self.quit(fx);
                }
            }
            Action::FocusNext | Action::FocusPrev => {
                let i = Pane::CYCLE.iter().position(|p| *p == self.focus).unwrap_or(0);
                let n = Pane::CYCLE.len();
                let next = if action == Action::FocusNext {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.focus_pane(Pane::CYCLE[next]);
            }
            Action::Run => self.run(fx),
            Action::Pause => {
                let who = self.operator.clone();
                self.send(fx, Command::Pause { who });
                self.info("paused: no new step starts (a running one finishes); r continues");
            }
            Action::SignOff => self.open_sign_off(),
            Action::Retry => {
                let command = Command::Retry {
                    step: self.active_id(),
                };
                match self.allowed(&command) {
                    Ok(()) => {
                        self.follow = true;
                        self.send(fx, command);
                    }
                    Err(why) => self.info(why.to_string()),
                }
            }
            Action::Skip => {
                let skip = Command::Skip {
                    step: self.active_id(),
                    who: self.operator.clone(),
                    reason: String::new(),
                };
                match (self.allowed(&skip), self.active_step()) {
                    (Err(why), _) if !why.needs_input() => self.info(why.to_string()),
                    (_, Some(step)) => {
                        let purpose = ReasonFor::Skip {
                            step: step.id.clone(),
                            title: step.title.clone(),
                        };
                        self.open_reason(purpose);
                    }
                    (_, None) => self.info(Refusal::NothingLeft.to_string()),
                }
            }
            Action::CancelStep => match self.allowed(&Command::Cancel) {
                Ok(()) => self.modal = Some(Modal::Question(Question::CancelStep)),
                Err(why) => self.info(why.to_string()),
            },
            Action::Abort => {
                let abort = Command::Abort {
                    who: self.operator.clone(),
                    reason: String::new(),
                };
                match self.allowed(&abort) {
                    Err(why) if !why.needs_input() => self.info(why.to_string()),
                    _ => self.open_reason(ReasonFor::Abort),
                }
            }
            Action::Note => {
                let mut t = TextArea::default();
                t.set_cursor_line_style(Style::new());
                t.set_placeholder_text("What happened, what was decided, who was told…");
                self.modal = Some(Modal::Note(Box::new(t)));
            }
            Action::Rollback => {
                let rollback = Command::StartRollback {
                    who: self.operator.clone(),
                    reason: String::new(),
                };
                match self.allowed(&rollback) {
                    Err(why) if !why.needs_input() => self.info(why.to_string()),
                    _ => self.open_reason(ReasonFor::Rollback),
                }
            }
            Action::References => {
                if self.references.is_empty() {
                    self.info("the runbook has no reference sections");
                } else {
                    self.modal = Some(Modal::Reference { index: 0, scroll: 0 });
                }
            }
            Action::Follow => {
                self.follow = true;
                self.follow_log();
            }
            Action::ShowLog => self.focus_pane(Pane::Log),
            Action::ShowChecks => self.focus_pane(Pane::Checks),
            Action::Search => {
                // A new search each time; n and N repeat the last one.
                let t = field("", "text to find in the log");
                self.modal = Some(Modal::Search(Box::new(t)));
            }
            Action::SearchNext => self.search(true, fx),
            Action::SearchPrev => self.search(false, fx),
            Action::Wrap => self.log.wrap = !self.log.wrap,
            Action::Up => self.scroll(-1),
            Action::Down => self.scroll(1),
            Action::PageUp => self.scroll(-self.page()),
            Action::PageDown => self.scroll(self.page()),
            Action::Top => self.scroll(i64::MIN / 2),
            Action::Bottom => self.scroll(i64::MAX / 2),
            Action::Toggle | Action::Collapse | Action::Expand => self.toggle(action),
            // Dialog and overlay actions are handled by `modal_key`.
            Action::NextField
            | Action::PrevField
            | Action::Submit
            | Action::Cancel
            | Action::Yes
            | Action::No
            | Action::Close
            | Action::NextSection
            | Action::PrevSection => {}
        }
    }

    fn focus_pane(&mut self, pane: Pane) {
        self.focus = pane;
        if matches!(pane, Pane::Log | Pane::Checks) {
            self.bottom = pane;
        }
    }

    /// The production guard: type the environment's name before `step_title` changes it.
    fn open_confirm(&mut self, step_title: String) {
        let environment = self.session.plan.environment.clone();
        let mut input = field("", &format!("type {environment}"));
        set_focus(&mut input, true);
        self.modal = Some(Modal::ConfirmEnv(Box::new(ConfirmEnvDialog {
            environment,
            step_title,
            input,
            sent: false,
            error: None,
        })));
    }

    /// "Run / continue": whatever the session waits for next.
    fn run(&mut self, fx: &mut Vec<Effect>) {
        self.follow = true;
        match self.session.next() {
            Next::Ended => self.info("the session has ended; q leaves"),
            Next::AllDone => self.info("every step is done"),
            Next::Running(step) => {
                let id = step.id.clone();
                self.info(format!("{id} is running"));
            }
            Next::Start(_) => self.send(
                fx,
                Command::Run {
                    who: self.operator.clone(),
                },
            ),
            Next::Confirm(step) => {
                let step_title = step.title.clone();
                self.send(
                    fx,
                    Command::Run {
                        who: self.operator.clone(),
                    },
                );
                self.open_confirm(step_title);
            }
            Next::SignOff { .. } => {
                self.send(
                    fx,
                    Command::Run {
                        who: self.operator.clone(),
                    },
                );
                self.open_sign_off();
            }
            Next::Decide(step) => {
                let id = step.id.clone();
                let status = self.session.step(&id).status().label();
                let hint = choices_hint(self).map(|h| format!(": {h}")).unwrap_or_default();
                self.info(format!("{id} {status}{hint}"));
            }
            // The operator's run key at a hold is the confirmation to go on.
            Next::Hold { .. } => {
                let who = self.operator.clone();
                self.send(
                    fx,
                    Command::ReleaseHold {
                        who: who.clone(),
                        preapproved: false,
                    },
                );
                self.send(fx, Command::Run { who });
            }
        }
    }

    fn open_sign_off(&mut self) {
        let offered = choices(&self.session, &self.seat).into_iter().find_map(|c| {
            let kind = match c.kind {
                ChoiceKind::SignOff => SignOffKind::Manual,
                ChoiceKind::MarkDone => SignOffKind::MarkDone,
                ChoiceKind::Override => SignOffKind::GateOverride,
                _ => return None,
            };
            Some((c.step, kind))
        });
        let Some((id, kind)) = offered else {
            // A step this seat has signed says what to do instead.
            let why = match self.session.next() {
                Next::SignOff { step, .. } => rules::seat_cannot_sign(&self.session, &step.id, &self.seat),
                _ => None,
            };
            self.info(why.unwrap_or(Refusal::NoSignOffDue).to_string());
            return;
        };
        let Some(step) = self.session.plan.step(&id) else {
            return;
        };
        let need = match kind {
            SignOffKind::Manual => self.session.needed_signoffs(),
            SignOffKind::MarkDone | SignOffKind::GateOverride => 1,
        };
        let signed = self.session.step(&step.id).signers();
        let unsigned =
            |name: &str| !name.trim().is_empty() && !signed.iter().any(|s| rules::same_person(s, name));
        let (who, role) = match &self.last_signer {
            Some((name, role)) if unsigned(name) => (name.clone(), role.clone()),
            _ if unsigned(&self.operator) => (self.operator.clone(), String::new()),
            _ => (String::new(), String::new()),
        };
        let mut fields = [
            field(&who, "your name (each sign-off needs a different one)"),
            field(&role, "your role, e.g. DBA, on-call lead"),
            TextArea::default(),
        ];
        fields[2].set_cursor_line_style(Style::new());
        fields[2].set_placeholder_text(match kind {
            SignOffKind::GateOverride => "why the gate may be overridden (required)",
            _ => "what you checked (Enter starts a new line)",
        });
        for (i, f) in fields.iter_mut().enumerate() {
            set_focus(f, i == 0);
        }
        self.modal = Some(Modal::SignOff(Box::new(SignOffDialog {
            step: step.id.clone(),
            title: step.title.clone(),
            kind,
            signed: signed.iter().map(|s| s.to_string()).collect(),
            need,
            fields,
            field: 0,
            sent: false,
            error: None,
        })));
    }

    fn open_reason(&mut self, purpose: ReasonFor) {
        let placeholder = match purpose {
            ReasonFor::Skip { .. } => "why it is skipped (required)",
            ReasonFor::Abort => "why (optional)",
            ReasonFor::Rollback => "which rollback criterion is met (required)",
        };
        let mut input = field("", placeholder);
        set_focus(&mut input, true);
        self.modal = Some(Modal::Reason(Box::new(ReasonDialog {
            purpose,
            input,
            error: None,
        })));
    }

    fn follow_log(&mut self) {
        if let Some(step) = self.log.step().map(str::to_string) {
            let total = self.output_lines(&step);
            self.log.follow_tail(total, self.session.steps.get(&step));
        }
    }

    /// Rows a page-up or page-down moves in the focused pane.
    fn page(&self) -> i64 {
        let h = self.areas().map_or(10, |a| a.inner_height(self.focus));
        (h.max(2) - 1) as i64
    }

    fn scroll(&mut self, delta: i64) {
        match self.focus {
            Pane::Checklist => {
                let keys: Vec<RowKey> = self.rows().iter().map(Row::key).collect();
                if keys.is_empty() {
                    return;
                }
                let current = self
                    .selected
                    .as_ref()
                    .and_then(|k| keys.iter().position(|r| r == k))
                    .unwrap_or(0);
                let target = (current as i64)
                    .saturating_add(delta)
                    .clamp(0, keys.len() as i64 - 1) as usize;
                self.selected = Some(keys[target].clone());
                self.follow = false;
            }
            Pane::Detail => self.detail_scroll = add(self.detail_scroll, delta),
            Pane::Checks => self.checks_scroll = add(self.checks_scroll, delta),
            Pane::Log => {
                let Some(step) = self.log.step().map(str::to_string) else {
                    return;
                };
                let total = self.output_lines(&step);
                if delta >= i64::MAX / 2 {
                    self.follow_log();
                } else if delta <= i64::MIN / 2 {
                    self.log.scroll_to_top();
                } else {
                    self.log.scroll(delta, total, self.log_height());
                }
            }
        }
    }

    fn toggle(&mut self, action: Action) {
        let phase = match &self.selected {
            Some(RowKey::Phase(p)) => Some(*p),
            Some(RowKey::Step(id)) if action == Action::Collapse => self.phase_of(id),
            _ => None,
        };
        let Some(phase) = phase else { return };
        let collapse = match action {
            Action::Collapse => true,
            Action::Expand => false,
            _ => !self.collapsed.contains(&phase),
        };
        if collapse {
            self.collapsed.insert(phase);
            self.selected = Some(RowKey::Phase(phase));
            self.follow = false;
        } else {
            self.collapsed.remove(&phase);
        }
    }

    fn search(&mut self, forward: bool, fx: &mut Vec<Effect>) {
        let Some(pattern) = self.log.search.clone() else {
            self.info("no search yet: / searches the log");
            return;
        };
        let Some(step) = self.log.step().map(str::to_string) else {
            return;
        };
        let total = self.output_lines(&step);
        let height = self.log_height();
        let last = total.saturating_sub(1);
        let from = match self.log.matched {
            Some(m) if forward => {
                if m >= last {
                    0
                } else {
                    m + 1
                }
            }
            Some(m) => {
                if m == 0 {
                    last
                } else {
                    m - 1
                }
            }
            None if forward => self.log.first_visible(total, height),
            None => (self.log.first_visible(total, height) + height as u64).saturating_sub(1),
        };
        let in_window = self.log.find_in_window(&pattern, from, forward);
        if let Some(index) = in_window {
            self.log.matched = Some(index);
            self.log.reveal(index, total, height);
        } else if !self.log.holds_all(total) {
            // The journal has the rest (and wraps around by itself).
            let first_seq = self.session.steps.get(&step).and_then(|s| s.first_seq);
            if let Some(q) = self.log.find_query(first_seq, &pattern, from, forward) {
                fx.push(Effect::ReadLog(q));
            }
        } else {
            let again = if forward { 0 } else { total.saturating_sub(1) };
            match self.log.find_in_window(&pattern, again, forward) {
                Some(index) => {
                    self.log.matched = Some(index);
                    self.log.reveal(index, total, height);
                    let end = if forward { "top" } else { "bottom" };
                    self.info(format!("search went on from the {end}"));
                }
                None => self.info(format!("no match for “{pattern}”")),
            }
        }
    }

    fn modal_key(&mut self, modal: Modal, ev: KeyEvent, fx: &mut Vec<Effect>) {
        let overlay = [Context::Overlay, Context::Navigate];
        self.modal = match modal {
            Modal::Help { scroll } => match keys::action(&overlay, &ev) {
                Some(Action::Close) => None,
                Some(a) => Some(Modal::Help {
                    scroll: scroll_overlay(scroll, a),
                }),
                None => Some(Modal::Help { scroll }),
            },
            Modal::Reference { index, scroll } => {
                let n = self.references.len().max(1);
                match keys::action(&overlay, &ev) {
                    Some(Action::Close) => None,
                    Some(Action::NextSection) => Some(Modal::Reference {
                        index: (index + 1) % n,
                        scroll: 0,
                    }),
                    Some(Action::PrevSection) => Some(Modal::Reference {
                        index: (index + n - 1) % n,
                        scroll: 0,
                    }),
                    Some(a) => Some(Modal::Reference {
                        index,
                        scroll: scroll_overlay(scroll, a),
                    }),
                    None => Some(Modal::Reference { index, scroll }),
                }
            }
            Modal::Question(q) => match keys::action(&[Context::Confirm], &ev) {
                Some(Action::Yes) => {
                    match q {
                        Question::Quit => self.quit(fx),
                        Question::CancelStep => {
                            self.send(fx, Command::Cancel);
                        }
                    }
                    None
                }
                Some(Action::No) => None,
                _ => Some(Modal::Question(q)),
            },
            Modal::SignOff(d) => self.sign_off_key(d, ev, fx),
            Modal::ConfirmEnv(mut d) => match keys::action(&[Context::Prompt], &ev) {
                Some(Action::Cancel) => None,
                Some(Action::Submit) => {
                    let command = Command::Confirm {
                        who: self.operator.clone(),
                        typed: field_text(&d.input).trim().to_string(),
                    };
                    match self.allowed(&command) {
                        Ok(()) => {
                            d.sent = true;
                            d.error = None;
                            self.send(fx, command);
                        }
                        Err(why) => d.error = Some(why.to_string()),
                    }
                    Some(Modal::ConfirmEnv(d))
                }
                _ => {
                    d.input.input(ev);
                    Some(Modal::ConfirmEnv(d))
                }
            },
            Modal::Reason(mut d) => match keys::action(&[Context::Prompt], &ev) {
                Some(Action::Cancel) => None,
                Some(Action::Submit) => {
                    let reason = field_text(&d.input).trim().to_string();
                    let who = self.operator.clone();
                    let command = match &d.purpose {
                        ReasonFor::Skip { step, .. } => Command::Skip {
                            step: step.clone(),
                            who,
                            reason,
                        },
                        ReasonFor::Abort => Command::Abort { who, reason },
                        ReasonFor::Rollback => Command::StartRollback { who, reason },
                    };
                    match self.allowed(&command) {
                        Err(why) => {
                            d.error = Some(why.to_string());
                            Some(Modal::Reason(d))
                        }
                        Ok(()) => {
                            if d.purpose == ReasonFor::Rollback {
                                self.follow = true;
                            }
                            self.send(fx, command);
                            None
                        }
                    }
                }
                _ => {
                    d.input.input(ev);
                    Some(Modal::Reason(d))
                }
            },
            Modal::Note(mut t) => match keys::action(&[Context::Note], &ev) {
                Some(Action::Cancel) => None,
                Some(Action::Submit) => {
                    let command = Command::Note {
                        who: self.operator.clone(),
                        text: field_text(&t).trim().to_string(),
                    };
                    if self.allowed(&command).is_ok() {
                        self.send(fx, command);
                        None
                    } else {
                        Some(Modal::Note(t))
                    }
                }
                _ => {
                    t.input(ev);
                    Some(Modal::Note(t))
                }
            },
            Modal::Search(mut t) => match keys::action(&[Context::Prompt], &ev) {
                Some(Action::Cancel) => None,
                Some(Action::Submit) => {
                    let pattern = field_text(&t).trim().to_string();
                    self.log.search = (!pattern.is_empty()).then_some(pattern);
                    self.log.matched = None;
                    if self.log.search.is_some() {
                        self.search(true, fx);
                    }
                    None
                }
                _ => {
                    t.input(ev);
                    Some(Modal::Search(t))
                }
            },
        };
    }

    fn sign_off_key(
        &mut self,
        mut d: Box<SignOffDialog>,
        ev: KeyEvent,
        fx: &mut Vec<Effect>,
    ) -> Option<Modal> {
        let in_note = d.field == 2;
        let action = keys::action(&[Context::SignOff], &ev)
            .filter(|a| !(in_note && *a == Action::NextField && ev.code == KeyCode::Enter));
        match action {
            Some(Action::Cancel) => return None,
            Some(Action::NextField) => d.field = (d.field + 1) % 3,
            Some(Action::PrevField) => d.field = (d.field + 2) % 3,
            Some(Action::Submit) => {
                let signature = Signature {
                    who: field_text(&d.fields[0]).trim().to_string(),
                    role: field_text(&d.fields[1]).trim().to_string(),
                    note: field_text(&d.fields[2]).trim_end().to_string(),
                    preapproved: false,
                    seat: Some(self.seat.clone()),
                };
                let step = d.step.clone();
                let command = match d.kind {
                    SignOffKind::Manual => Command::SignOff { step, signature },
                    SignOffKind::MarkDone => Command::MarkDone { step, signature },
                    SignOffKind::GateOverride => Command::Override { step, signature },
                };
                match self.allowed(&command) {
                    Ok(()) => {
                        d.sent = true;
                        d.error = None;
                        self.last_signer = Some((
                            field_text(&d.fields[0]).trim().to_string(),
                            field_text(&d.fields[1]).trim().to_string(),
                        ));
                        self.send(fx, command);
                    }
                    Err(why) => {
                        d.field = match why {
                            Refusal::OverrideNeedsRoleAndReason
                                if field_text(&d.fields[1]).trim().is_empty() =>
                            {
                                1
                            }
                            Refusal::OverrideNeedsRoleAndReason => 2,
                            _ => 0,
                        };
                        d.error = Some(why.to_string());
                    }
                }
            }
            _ => {
                d.fields[d.field].input(ev);
            }
        }
        let focused = d.field;
        for (i, f) in d.fields.iter_mut().enumerate() {
            set_focus(f, i == focused);
        }
        Some(Modal::SignOff(d))
    }

    fn paste(&mut self, text: &str) {
        let one_line = text.replace(['\r', '\n'], " ");
        match &mut self.modal {
            Some(Modal::SignOff(d)) if d.field == 2 => {
                d.fields[2].insert_str(text.replace('\r', ""));
            }
            Some(Modal::SignOff(d)) => {
                let f = d.field;
                d.fields[f].insert_str(&one_line);
            }
            Some(Modal::Note(t)) => {
                t.insert_str(text.replace('\r', ""));
            }
            Some(Modal::ConfirmEnv(d)) => {
                d.input.insert_str(&one_line);
            }
            Some(Modal::Reason(d)) => {
                d.input.insert_str(&one_line);
            }
            Some(Modal::Search(t)) => {
                t.insert_str(&one_line);
            }
            _ => return,
        }
        self.dirty = true;
    }

    fn mouse(&mut self, ev: MouseEvent) {
        let wheel = match ev.kind {
            MouseEventKind::ScrollUp => Some(-3),
            MouseEventKind::ScrollDown => Some(3),
            MouseEventKind::Down(MouseButton::Left) => None,
            _ => return,
        };
        self.dirty = true;
        if let Some(modal) = &mut self.modal {
            if let (Modal::Help { scroll } | Modal::Reference { scroll, .. }, Some(d)) = (modal, wheel) {
                *scroll = add(*scroll, d);
            }
            return;
        }
        let Some(areas) = self.areas() else { return };
        let Some(pane) = areas.pane_at(ev.column, ev.row) else {
            return;
        };
        match wheel {
            Some(delta) => {
                let focus = self.focus;
                self.focus = pane;
                if pane == Pane::Checklist {
                    // The wheel scrolls the list, not the cursor.
                    let rows = self.rows().len();
                    let height = areas.inner_height(Pane::Checklist);
                    self.checklist_top = (self.checklist_top as i64 + delta)
                        .clamp(0, rows.saturating_sub(height) as i64)
                        as usize;
                } else {
                    self.scroll(delta);
                }
                self.focus = focus;
            }
            None => {
                self.focus_pane(pane);
                if pane == Pane::Checklist {
                    let row = ev.row.saturating_sub(areas.checklist.y + 1) as usize + self.checklist_top;
                    let inside = ev.row > areas.checklist.y && ev.row + 1 < areas.checklist.bottom();
                    let key = self.rows().get(row).map(Row::key);
                    if let (true, Some(key)) = (inside, key) {
                        let toggle = matches!(key, RowKey::Phase(_));
                        self.selected = Some(key);
                        self.follow = false;
                        if toggle {
                            self.toggle(Action::Toggle);
                        }
                    }
                }
            }
        }
    }
}

/// The decisions open now as a hint: `R retry · s mark done · …`; none in
/// a replay, which acts on nothing.
pub fn choices_hint(app: &App) -> Option<String> {
    if app.replay {
        return None;
    }
    let hints: Vec<String> = choices(&app.session, &app.seat)
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                keys::key_for(Context::Global, keys::choice_action(c.kind)),
                c.label
            )
        })
        .collect();
    (!hints.is_empty()).then(|| hints.join(" · "))
}

/// Scroll an overlay.
fn scroll_overlay(scroll: u16, action: Action) -> u16 {
    match action {
        Action::Up => scroll.saturating_sub(1),
        Action::Down => scroll.saturating_add(1),
        Action::PageUp => scroll.saturating_sub(10),
        Action::PageDown => scroll.saturating_add(10),
        Action::Top => 0,
        _ => scroll,
    }
}

fn add(value: u16, delta: i64) -> u16 {
    (i64::from(value) + delta).clamp(0, i64::from(u16::MAX)) as u16
}

/// What a banner warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Banner {
    DryRun,
    Rollback,
    Alert,
    Done,
}
