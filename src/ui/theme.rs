//! Colours and text styles, in one place so `NO_COLOR` is honoured everywhere.
//!
//! Every style has a colourless fallback made of modifiers (bold, reversed,
//! underline), and no state is ever told by colour alone: glyphs and words
//! carry it too, so the colourless theme loses nothing but decoration.

use ratatui::style::{Color, Modifier, Style};

use crate::journal::event::Stream;
use crate::session::StepStatus;

/// The styles the views draw with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    color: bool,
}

impl Theme {
    /// Colours unless `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
    pub fn from_env() -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    pub fn colored() -> Theme {
        Theme { color: true }
    }

    pub fn monochrome() -> Theme {
        Theme { color: false }
    }

    /// `color` when colours are on, else `plain`.
    fn pick(self, color: Style, plain: Style) -> Style {
        if self.color { color } else { plain }
    }

    fn fg(self, color: Color) -> Style {
        self.pick(Style::new().fg(color), Style::new())
    }

    pub fn text(self) -> Style {
        Style::new()
    }

    pub fn dim(self) -> Style {
        self.pick(
            Style::new().fg(Color::DarkGray),
            Style::new().add_modifier(Modifier::DIM),
        )
    }

    pub fn bold(self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn heading(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn code(self) -> Style {
        self.pick(Style::new().fg(Color::LightYellow), Style::new())
    }

    pub fn link(self) -> Style {
        self.fg(Color::LightBlue).add_modifier(Modifier::UNDERLINED)
    }

    /// The border of the focused pane.
    pub fn focus_border(self) -> Style {
        self.pick(Style::new().fg(Color::Cyan), Style::new())
            .add_modifier(Modifier::BOLD)
    }

    pub fn border(self) -> Style {
        self.dim()
    }

    /// The selected row of a list.
    pub fn selected(self) -> Style {
        self.pick(
            Style::new()
                .bg(Color::Rgb(40, 52, 72))
                .add_modifier(Modifier::BOLD),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }

    /// The program name badge at the left of the status bar.
    pub fn badge(self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Cyan),
            Style::new().add_modifier(Modifier::REVERSED),
        )
        .add_modifier(Modifier::BOLD)
    }

    /// Production (or any confirm-guarded environment): loud.
    pub fn production(self) -> Style {
        self.pick(
            Style::new().fg(Color::White).bg(Color::Red),
            Style::new().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED),
        )
        .add_modifier(Modifier::BOLD)
    }

    pub fn environment(self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Blue),
            Style::new().add_modifier(Modifier::REVERSED),
        )
        .add_modifier(Modifier::BOLD)
    }

    pub fn live(self) -> Style {
        self.pick(Style::new().fg(Color::Black).bg(Color::Green), Style::new())
            .add_modifier(Modifier::BOLD)
    }

    /// Dry-run badge and banner: never to be mistaken for a live session.
    pub fn dry_run(self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Yellow),
            Style::new().add_modifier(Modifier::REVERSED),
        )
        .add_modifier(Modifier::BOLD)
    }

    pub fn alert(self) -> Style {
        self.pick(
            Style::new().fg(Color::White).bg(Color::Red),
            Style::new().add_modifier(Modifier::REVERSED),
        )
        .add_modifier(Modifier::BOLD)
    }

    pub fn rollback(self) -> Style {
        self.pick(
            Style::new().fg(Color::White).bg(Color::Magenta),
            Style::new().add_modifier(Modifier::REVERSED),
        )
        .add_modifier(Modifier::BOLD)
    }

    pub fn error(self) -> Style {
        self.fg(Color::LightRed).add_modifier(Modifier::BOLD)
    }

    pub fn warning(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn info(self) -> Style {
        self.fg(Color::Cyan)
    }

    pub fn gauge_done(self) -> Style {
        self.fg(Color::Green)
    }

    pub fn search_match(self) -> Style {
        self.pick(
            Style::new().fg(Color::Black).bg(Color::Yellow),
            Style::new().add_modifier(Modifier::REVERSED),
        )
    }

    /// A step's status glyph and word.
    pub fn status(self, status: StepStatus) -> Style {
        match status {
            StepStatus::Pending => self.dim(),
            StepStatus::Running => self.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            StepStatus::Succeeded => self.ok(),
            StepStatus::SignedOff => self.fg(Color::LightGreen),
            StepStatus::Failed | StepStatus::TimedOut => self.error(),
            StepStatus::Cancelled | StepStatus::Interrupted => self.warning(),
            StepStatus::AwaitingSignOff => self.fg(Color::Magenta).add_modifier(Modifier::BOLD),
            StepStatus::Skipped => self.fg(Color::Gray).add_modifier(Modifier::ITALIC),
        }
    }

    /// A log line by the stream it came from.
    pub fn stream(self, stream: Stream) -> Style {
        match stream {
            Stream::Stdout => self.text(),
            Stream::Stderr => self.fg(Color::LightRed),
            Stream::Info => self.fg(Color::Cyan),
            Stream::Notice => self.fg(Color::Yellow),
            Stream::Error => self.error(),
            Stream::Lock => self.warning(),
        }
    }

    /// Whether colours are on (tests check `NO_COLOR`).
    pub fn has_color(self) -> bool {
        self.color
    }
}

/// The glyph of a step status (the word is [`StepStatus::label`]).
pub fn status_glyph(status: StepStatus, spinner: usize) -> &'static str {
    match status {
        StepStatus::Pending => "○",
        StepStatus::Running => SPINNER[spinner % SPINNER.len()],
        StepStatus::Succeeded => "✓",
        StepStatus::Failed => "✗",
        StepStatus::TimedOut => "⧗",
        StepStatus::Cancelled => "⊘",
        StepStatus::Interrupted => "↯",
        StepStatus::AwaitingSignOff => "✎",
        StepStatus::SignedOff => "☑",
        StepStatus::Skipped => "↷",
    }
}

/// The gutter mark of a log line, so streams differ without colour.
pub fn stream_mark(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => " ",
        Stream::Stderr => "!",
        Stream::Info => "·",
        Stream::Notice => "~",
        Stream::Error => "✗",
        Stream::Lock => "⧖",
    }
}

/// Braille spinner frames; the frame is chosen from state, never a clock.
pub const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
