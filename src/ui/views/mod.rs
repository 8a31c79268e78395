//! Drawing: a pure function of [`App`]. Nothing here reads a clock, the
//! terminal or the journal, so a state always draws the same screen.

mod checklist;
mod detail;
mod dialogs;
pub(crate) mod help;
mod log;
mod overlay;
mod status;
mod verification;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::app::{App, Modal, Pane};
use super::layout::{self, MIN_HEIGHT, MIN_WIDTH};
use super::theme::Theme;

/// Draw the whole screen.
pub fn view(app: &App, frame: &mut Frame) {
    view_in(app, frame, frame.area());
}

/// Draw the screen into `area` (replay puts its timeline below it). The
/// app's `size` must be `area`'s, since `update` lays out from it.
pub fn view_in(app: &App, frame: &mut Frame, area: Rect) {
    let Some(areas) = layout::areas(area, app) else {
        too_small(app.theme, frame, area);
        return;
    };
    status::render(app, frame, areas.status);
    if let Some(banner) = areas.banner {
        status::render_banner(app, frame, banner);
    }
    checklist::render(app, frame, areas.checklist);
    detail::render(app, frame, areas.detail);
    if let Some(r) = areas.log {
        log::render(app, frame, r, areas.tabbed);
    }
    if let Some(r) = areas.checks {
        verification::render(app, frame, r, areas.tabbed);
    }
    status::render_footer(app, frame, areas.footer);
    match &app.modal {
        None => {}
        Some(Modal::Help { scroll }) => help::render(app, frame, area, *scroll),
        Some(Modal::Reference { index, scroll }) => overlay::render(app, frame, area, *index, *scroll),
        Some(Modal::Search(input)) => {
            // The row above the hint line: the prompt never hides the hints.
            let above = Rect {
                y: areas.footer.y.saturating_sub(1),
                ..areas.footer
            };
            dialogs::search(app, frame, above, input);
        }
        Some(modal) => dialogs::render(app, frame, area, modal),
    }
}

/// The notice shown instead of a garbled screen.
fn too_small(theme: Theme, frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::styled("Terminal too small", theme.warning()),
        Line::raw(format!(
            "{}×{}: runsheet needs at least {MIN_WIDTH}×{MIN_HEIGHT}.",
            area.width, area.height
        )),
        Line::raw("Enlarge the window; q quits."),
    ];
    let height = (text.len() as u16).min(area.height);
    let [middle] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        middle,
    );
}

/// A pane's frame: a thicker, brighter border when it has the focus.
fn pane_block<'a>(title: Line<'a>, focused: bool, theme: Theme) -> Block<'a> {
    let block = Block::bordered().title(title);
    if focused {
        block
            .border_type(BorderType::Thick)
            .border_style(theme.focus_border())
    } else {
        block.border_style(theme.border())
    }
}

/// A pane title; the focused pane's is bold.
fn pane_title<'a>(spans: Vec<Span<'a>>, app: &App, pane: Pane) -> Line<'a> {
    let line = Line::from(spans);
    if app.focus == pane {
        line.patch_style(app.theme.bold())
    } else {
        line
    }
}

/// A box of at most `width`×`height` centred in `area`, cleared.
fn popup(frame: &mut Frame, area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width.saturating_sub(2));
    let height = height.min(area.height.saturating_sub(2));
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, rect);
    rect
}

/// The hint of a dialog: `key does · key does`.
fn hints<'a>(theme: Theme, pairs: &[(String, &'a str)]) -> Line<'a> {
    let mut spans = Vec::new();
    for (i, (key, does)) in pairs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim()));
        }
        spans.push(Span::styled(key.clone(), theme.bold()));
        spans.push(Span::styled(format!(" {does}"), theme.dim()));
    }
    Line::from(spans)
}
