//! Where each pane goes, as a pure function of the terminal size and the
//! state, so the view draws and the update hit-tests mouse clicks with the
//! same rectangles.

use ratatui::layout::{Constraint, Layout, Position, Rect};

use super::app::{App, Pane};

/// Below this the screen shows a "terminal too small" notice instead.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 20;

/// The screen's regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub status: Rect,
    /// Dry-run, rollback, overtime and end-of-session banners, when any.
    pub banner: Option<Rect>,
    pub checklist: Rect,
    pub detail: Rect,
    pub log: Option<Rect>,
    pub checks: Option<Rect>,
    pub footer: Rect,
    /// The log and the verification results share one pane (small screens).
    pub tabbed: bool,
}

impl Areas {
    /// The pane at a screen position.
    pub fn pane_at(&self, x: u16, y: u16) -> Option<Pane> {
        let p = Position::new(x, y);
        let hit = |r: Option<Rect>| r.is_some_and(|r| r.contains(p));
        if hit(Some(self.checklist)) {
            Some(Pane::Checklist)
        } else if hit(Some(self.detail)) {
            Some(Pane::Detail)
        } else if hit(self.log) {
            Some(Pane::Log)
        } else if hit(self.checks) {
            Some(Pane::Checks)
        } else {
            None
        }
    }

    /// Rows inside a pane's border.
    pub fn inner_height(&self, pane: Pane) -> usize {
        let rect = match pane {
            Pane::Checklist => Some(self.checklist),
            Pane::Detail => Some(self.detail),
            Pane::Log => self.log,
            Pane::Checks => self.checks,
        };
        rect.map_or(0, |r| usize::from(r.height.saturating_sub(2)))
    }
}

/// The regions of a screen of `size`, or `None` when it is too small.
pub fn areas(size: Rect, app: &App) -> Option<Areas> {
    if size.width < MIN_WIDTH || size.height < MIN_HEIGHT {
        return None;
    }
    let banner = u16::from(!app.banners().is_empty());
    let [status, banner_area, main, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(size);
    let banner = (banner > 0).then_some(banner_area);
    let wide = size.width >= 160 && size.height >= 30;
    let tall = size.width >= 100 && size.height >= 36;
    let mut out = Areas {
        status,
        banner,
        checklist: Rect::default(),
        detail: Rect::default(),
        log: None,
        checks: None,
        footer,
        tabbed: false,
    };
    if wide {
        let [left, middle, right] = Layout::horizontal([
            Constraint::Percentage(30),
            Constraint::Percentage(33),
            Constraint::Fill(1),
        ])
        .areas(main);
        let [detail, checks] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]).areas(middle);
        out.checklist = left;
        out.detail = detail;
        out.checks = Some(checks);
        out.log = Some(right);
        return Some(out);
    }
    let checklist_width = (size.width * 2 / 5).clamp(28, 56);
    let [left, right] =
        Layout::horizontal([Constraint::Length(checklist_width), Constraint::Fill(1)]).areas(main);
    out.checklist = left;
    if tall {
        let [detail, log, checks] = Layout::vertical([
            Constraint::Percentage(35),
            Constraint::Fill(1),
            Constraint::Percentage(28),
        ])
        .areas(right);
        out.detail = detail;
        out.log = Some(log);
        out.checks = Some(checks);
    } else {
        let [detail, bottom] =
            Layout::vertical([Constraint::Percentage(40), Constraint::Fill(1)]).areas(right);
        out.detail = detail;
        out.tabbed = true;
        if app.bottom == Pane::Checks {
            out.checks = Some(bottom);
        } else {
            out.log = Some(bottom);
        }
    }
    Some(out)
}
