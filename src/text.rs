//! Text for people: one sanitiser for whatever a step or a journal may
//! hold on its way to a terminal, one duration formatter, display widths.
//! Used by every front end (checklist, replay, headless, report), so each
//! shows the same text the same way.

use std::time::Duration;

use chrono::{DateTime, Utc};
use unicode_width::UnicodeWidthChar;

/// Characters kept of one line (the journal has the rest).
pub const MAX_LINE_CHARS: usize = 2_000;

/// A measured duration: `0.4s`, `42s`, `12m05s`, `2h03m`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 10 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    }
}

/// Elapsed wall-clock time as `HH:MM:SS` (hours grow past 99 if need be).
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// A journal timestamp as the time of day (UTC, as in the journal).
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%H:%M:%S").to_string()
}

/// `1234567` as `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n` of `what`, pluralised the English way: `1 line`, `2 lines`, `1,200 rows`.
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{} {what}s", count(n))
    }
}

/// Display width of a string in terminal columns.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// `s` cut to at most `max` columns, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = char_width(c);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `text` broken at spaces into lines of at most `max` columns (a word
/// longer than that gets a line of its own).
pub fn wrap_words(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && width(&line) + 1 + width(word) > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Make text safe for one line of a terminal: escape sequences of every
/// kind (CSI, OSC, DCS, APC, PM, SOS, character-set selections) are
/// dropped, tabs become spaces to the next multiple of 8, a carriage
/// return keeps what was drawn last (progress bars), a newline becomes a
/// space, any other control character becomes `�`, and a line longer than
/// [`MAX_LINE_CHARS`] columns is cut with `…`. The sequences are read by
/// `vte`, the parser terminal emulators use, so what it drops is what a
/// terminal would have acted on.
pub fn sanitize(raw: &str) -> String {
    sanitized(raw).into_owned()
}

/// [`sanitize`], borrowing the line when it has nothing to change: plain
/// printable ASCII, as almost every line of a flood is.
pub fn sanitized(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.len() <= MAX_LINE_CHARS && raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return std::borrow::Cow::Borrowed(raw);
    }
    std::borrow::Cow::Owned(drawn(raw))
}

/// The line as a terminal would draw it, escape sequences read and dropped.
fn drawn(raw: &str) -> String {
    let mut line = Line {
        out: String::with_capacity(raw.len().min(MAX_LINE_CHARS)),
        width: 0,
        carriage_return: false,
        full: false,
    };
    let mut parser = vte::Parser::new();
    // Once the line is full, the rest is not looked at.
    let _rest = parser.advance_until_terminated(&mut line, raw.as_bytes());
    line.out
}

/// The sanitiser's line as `vte` draws it.
struct Line {
    out: String,
    /// Columns used so far.
    width: usize,
    /// A carriage return came: the next character starts the line again.
    carriage_return: bool,
    /// The line reached its limit and ends with `…`.
    full: bool,
}

impl Line {
    fn push(&mut self, c: char, w: usize) {
        if self.full {
            return;
        }
        if self.carriage_return {
            self.carriage_return = false;
            self.out.clear();
            self.width = 0;
        }
        if self.width >= MAX_LINE_CHARS {
            self.out.push('…');
            self.full = true;
            return;
        }
        self.out.push(c);
        self.width += w;
    }
}

impl vte::Perform for Line {
    fn print(&mut self, c: char) {
        if c.is_control() {
            self.push('\u{fffd}', 1);
        } else {
            self.push(c, char_width(c));
        }
    }

    fn execute(&mut self, byte: u8) {
        match byte {
            b'\t' => {
                let spaces = 8 - self.width % 8;
                for _ in 0..spaces {
                    self.push(' ', 1);
                }
            }
            b'\r' => self.carriage_return = true,
            b'\n' => self.push(' ', 1),
            _ => self.push('\u{fffd}', 1),
        }
    }

    fn terminated(&self) -> bool {
        self.full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(duration(Duration::from_millis(400)), "0.4s");
        assert_eq!(duration(Duration::from_secs(42)), "42s");
        assert_eq!(duration(Duration::from_secs(725)), "12m05s");
        assert_eq!(duration(Duration::from_secs(7380)), "2h03m");
        assert_eq!(clock(Duration::from_secs(3723)), "01:02:03");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(count(999), "999");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("日本語です", 5), "日本…");
        assert_eq!(width("日本a"), 5);
        assert_eq!(
            wrap_words("run the next step now", 10),
            vec!["run the", "next step", "now"]
        );
    }

    #[test]
    fn sanitize_keeps_the_screen_safe() {
        assert_eq!(sanitize("a\tb"), "a       b");
        assert_eq!(sanitize("\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok"), "red ok");
        assert_eq!(sanitize("50%\r100%\r"), "100%");
        assert_eq!(sanitize("line\r"), "line");
        assert_eq!(sanitize("bell\x07"), "bell\u{fffd}");
        assert_eq!(sanitize("a\nb"), "a b");
        assert_eq!(sanitize(&"x".repeat(5_000)).chars().count(), MAX_LINE_CHARS + 1);
    }

    /// Sequences the hand-written sanitiser let through: a device control
    /// string, an application program command, a character-set selection,
    /// OSC 52 (clipboard) ended by ST, and C1 controls.
    #[test]
    fn sanitize_drops_every_kind_of_sequence() {
        assert_eq!(sanitize("a\x1bP1$tx\x1b\\b"), "ab", "DCS");
        assert_eq!(sanitize("a\x1b_hidden\x1b\\b"), "ab", "APC");
        assert_eq!(sanitize("a\x1b^pm\x1b\\b\x1bXsos\x1b\\c"), "abc", "PM, SOS");
        assert_eq!(sanitize("\x1b(Bplain\x1b(0"), "plain", "no stray B");
        assert_eq!(sanitize("x\x1b]52;c;aGk=\x1b\\y"), "xy", "OSC 52");
        assert_eq!(sanitize("a\u{9b}b"), "a\u{fffd}b", "a C1 control");
        assert_eq!(sanitize("a\x1b7b\x1b8c"), "abc", "save/restore cursor");
        assert!(!sanitize("\u{85}x").chars().any(|c| c.is_control()));
    }
}
