//! Dialogs: sign-off, the production guard, reasons, notes, yes/no questions
//! and the log search prompt. Each shows its keys, taken from the key table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};
use ratatui_textarea::TextArea;

use super::{hints, popup};
use crate::ui::app::{
    App, ConfirmEnvDialog, Modal, Question, ReasonDialog, ReasonFor, SignOffDialog, SignOffKind,
};
use crate::ui::keys::{Action, Context, key_for};
use crate::ui::theme::Theme;

pub fn render(app: &App, frame: &mut Frame, area: Rect, modal: &Modal) {
    match modal {
        Modal::SignOff(d) => sign_off(app, frame, area, d),
        Modal::ConfirmEnv(d) => confirm_env(app, frame, area, d),
        Modal::Reason(d) => reason(app, frame, area, d),
        Modal::Note(t) => note(app, frame, area, t),
        Modal::Question(q) => question(app, frame, area, *q),
        Modal::Help { .. } | Modal::Reference { .. } | Modal::Search(_) => {}
    }
}

fn dialog_block<'a>(title: Line<'a>, style: Style) -> Block<'a> {
    Block::bordered()
        .border_type(BorderType::Double)
        .border_style(style)
        .title(title)
}

/// A text field in a box; the focused one is bright.
fn field_box(
    theme: Theme,
    frame: &mut Frame,
    area: Rect,
    input: &TextArea<'static>,
    label: &str,
    focused: bool,
) {
    let style = if focused {
        theme.focus_border()
    } else {
        theme.border()
    };
    let block = Block::bordered()
        .border_style(style)
        .title(Span::styled(format!(" {label} "), style));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(input, inner);
}

fn error_line(theme: Theme, error: Option<&String>) -> Line<'static> {
    match error {
        Some(e) => Line::styled(format!("✗ {e}"), theme.error()),
        None => Line::raw(""),
    }
}

fn sign_off(app: &App, frame: &mut Frame, area: Rect, d: &SignOffDialog) {
    let theme = app.theme;
    let note_height = area.height.saturating_sub(16).clamp(3, 8);
    let rect = popup(frame, area, 72, 14 + note_height);
    let title = match d.kind {
        SignOffKind::Manual => " Sign off ",
        SignOffKind::MarkDone => " Mark done (signed) ",
        SignOffKind::GateOverride => " Override the gate (signed) ",
    };
    let block = dialog_block(Line::styled(title, theme.bold()), theme.focus_border());
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [about, who, role, note, error, keys] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let needs = match (d.kind, d.need, d.signed.as_slice()) {
        (SignOffKind::MarkDone, ..) => {
            "The step did not succeed; signing vouches that it is done.".to_string()
        }
        (SignOffKind::GateOverride, ..) => {
            "The gate did not pass; an override records your name, role and the reason.".to_string()
        }
        (SignOffKind::Manual, 0 | 1, _) => "One sign-off is needed.".to_string(),
        (SignOffKind::Manual, n, []) => format!("Needs {n} sign-offs from different people; none yet."),
        (SignOffKind::Manual, n, signed) => {
            format!(
                "Needs {n} sign-offs from different people; signed: {}.",
                signed.join(", ")
            )
        }
    };
    let about_lines = vec![
        Line::from(vec![
            Span::styled("Step ", theme.dim()),
            Span::styled(d.title.clone(), theme.bold()),
        ]),
        Line::styled(d.step.clone(), theme.dim()),
        Line::raw(needs),
    ];
    frame.render_widget(Paragraph::new(about_lines).wrap(Wrap { trim: true }), about);
    field_box(theme, frame, who, &d.fields[0], "Who", d.field == 0);
    field_box(theme, frame, role, &d.fields[1], "Role", d.field == 1);
    field_box(theme, frame, note, &d.fields[2], "Note", d.field == 2);
    let status = if d.sent {
        Line::styled("signing…", theme.info())
    } else {
        error_line(theme, d.error.as_ref())
    };
    frame.render_widget(Paragraph::new(status), error);
    let k = |a| key_for(Context::SignOff, a);
    let pairs = [
        (format!("{}/Enter", k(Action::NextField)), "next field"),
        (k(Action::Submit), "sign"),
        (k(Action::Cancel), "cancel"),
    ];
    frame.render_widget(Paragraph::new(hints(theme, &pairs)), keys);
}

fn confirm_env(app: &App, frame: &mut Frame, area: Rect, d: &ConfirmEnvDialog) {
    let theme = app.theme;
    let rect = popup(frame, area, 64, 11);
    let block = dialog_block(
        Line::styled(" PRODUCTION GUARD ", theme.production()),
        theme.error(),
    );
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [about, input, error, keys] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let about_lines = vec![
        Line::from(vec![
            Span::raw("The next step changes "),
            Span::styled(d.environment.clone(), theme.production()),
            Span::raw(": "),
            Span::styled(d.step_title.clone(), theme.bold()),
        ]),
        Line::raw("Type the environment's name to go on."),
    ];
    frame.render_widget(Paragraph::new(about_lines).wrap(Wrap { trim: true }), about);
    field_box(theme, frame, input, &d.input, "Environment", true);
    let status = if d.sent {
        Line::styled("confirming…", theme.info())
    } else {
        error_line(theme, d.error.as_ref())
    };
    frame.render_widget(Paragraph::new(status), error);
    let k = |a| key_for(Context::Prompt, a);
    frame.render_widget(
        Paragraph::new(hints(
            theme,
            &[(k(Action::Submit), "confirm"), (k(Action::Cancel), "cancel")],
        )),
        keys,
    );
}

fn reason(app: &App, frame: &mut Frame, area: Rect, d: &ReasonDialog) {
    let theme = app.theme;
    let (title, about, style, submit) = match &d.purpose {
        ReasonFor::Skip { step, title } => (
            " Skip step ".to_string(),
            vec![
                Line::from(vec![
                    Span::raw("Skip "),
                    Span::styled(title.clone(), theme.bold()),
                ]),
                Line::styled(step.clone(), theme.dim()),
            ],
            theme.focus_border(),
            "skip",
        ),
        ReasonFor::Abort => (
            " Abort the session ".to_string(),
            vec![Line::raw("The session ends as aborted and cannot be resumed.")],
            theme.error(),
            "abort",
        ),
        ReasonFor::Rollback => (
            " Start the rollback ".to_string(),
            vec![
                Line::raw(format!(
                    "Runs the runbook's Rollback section ({}) from now on.",
                    crate::text::plural(app.session.plan.rollback.len() as u64, "step")
                )),
                Line::raw("It is recorded in the journal with your reason."),
            ],
            theme.error(),
            "start the rollback",
        ),
    };
    let rect = popup(frame, area, 64, 11);
    let block = dialog_block(Line::styled(title, theme.bold()), style);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [about_area, input, error, keys] = Layout::vertical([
        Constraint::Min(2),
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(about).wrap(Wrap { trim: true }), about_area);
    field_box(theme, frame, input, &d.input, "Reason", true);
    frame.render_widget(Paragraph::new(error_line(theme, d.error.as_ref())), error);
    let k = |a| key_for(Context::Prompt, a);
    frame.render_widget(
        Paragraph::new(hints(
            theme,
            &[(k(Action::Submit), submit), (k(Action::Cancel), "cancel")],
        )),
        keys,
    );
}

fn note(app: &App, frame: &mut Frame, area: Rect, t: &TextArea<'static>) {
    let theme = app.theme;
    let rect = popup(frame, area, 72, 14);
    let block = dialog_block(
        Line::styled(" Note to the journal ", theme.bold()),
        theme.focus_border(),
    );
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [about, text, keys] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)]).areas(inner);
    frame.render_widget(
        Paragraph::new(Line::styled(
            format!("Recorded as {}, with the time.", app.operator),
            theme.dim(),
        )),
        about,
    );
    field_box(theme, frame, text, t, "Note", true);
    let k = |a| key_for(Context::Note, a);
    frame.render_widget(
        Paragraph::new(hints(
            theme,
            &[
                (k(Action::Submit), "save"),
                (k(Action::Cancel), "cancel"),
                ("Enter".into(), "new line"),
            ],
        )),
        keys,
    );
}

fn question(app: &App, frame: &mut Frame, area: Rect, q: Question) {
    let theme = app.theme;
    let running = app.active_step().map(|s| s.title.clone()).unwrap_or_default();
    let session = &app.session.header.session_id;
    let (title, lines, yes) = match q {
        Question::Quit => (
            " Quit? ",
            vec![
                Line::from(vec![
                    Span::raw("A step is running: "),
                    Span::styled(running, theme.bold()),
                ]),
                Line::raw(
                    "Quitting stops it; it is recorded as interrupted and the session stays resumable:",
                ),
                Line::styled(format!("runsheet run … --resume {session}"), theme.code()),
            ],
            "quit",
        ),
        Question::CancelStep => (
            " Cancel the step? ",
            vec![
                Line::from(vec![
                    Span::raw("Stop "),
                    Span::styled(running, theme.bold()),
                    Span::raw(" now?"),
                ]),
                Line::raw("It is recorded as cancelled; then retry, skip or abort."),
            ],
            "cancel the step",
        ),
    };
    let rect = popup(frame, area, 64, 9);
    let block = dialog_block(Line::styled(title, theme.bold()), theme.warning());
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [text, keys] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text);
    let k = |a| key_for(Context::Confirm, a);
    frame.render_widget(
        Paragraph::new(hints(
            theme,
            &[(k(Action::Yes), yes), (k(Action::No), "keep going")],
        )),
        keys,
    );
}

/// The log search prompt, on the row above the footer line.
pub fn search(app: &App, frame: &mut Frame, area: Rect, input: &TextArea<'static>) {
    let theme = app.theme;
    let k = |a| key_for(Context::Prompt, a);
    let hint = hints(
        theme,
        &[(k(Action::Submit), "find"), (k(Action::Cancel), "cancel")],
    );
    let hint_width = u16::try_from(hint.width())
        .unwrap_or(u16::MAX)
        .min(area.width / 2);
    let [label, field, keys] = Layout::horizontal([
        Constraint::Length(13),
        Constraint::Fill(1),
        Constraint::Length(hint_width + 1),
    ])
    .areas(area);
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(Span::styled("Search log: /", theme.bold())), label);
    frame.render_widget(input, field);
    frame.render_widget(Paragraph::new(hint), keys);
}
