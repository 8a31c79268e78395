//! Small text helpers shared by the views: durations, times, widths.

use std::time::Duration;

use chrono::{DateTime, Utc};
use ratatui::text::{Line, Span};

/// A step duration: `0.4s`, `42s`, `12m05s`, `2h03m`.
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

/// Display width of a string in terminal columns.
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
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
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let w = width(c.encode_utf8(&mut buf));
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

/// Rows `lines` take when wrapped at `width` (a close estimate: word
/// wrapping can take a little more).
pub fn rows(lines: &[Line<'_>], width: u16) -> usize {
    let width = usize::from(width.max(1));
    lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum()
}

/// A line of `width` columns: `left` (its last span cut to fit) and `right` flush right.
pub fn spread<'a>(mut left: Vec<Span<'a>>, right: Vec<Span<'a>>, total: usize) -> Line<'a> {
    let right_width: usize = right.iter().map(Span::width).sum();
    let room = total.saturating_sub(right_width + 1);
    let mut used: usize = left.iter().map(Span::width).sum();
    if used > room {
        if let Some(last) = left.pop() {
            let before = used - last.width();
            let cut = truncate(&last.content, room.saturating_sub(before));
            left.push(Span::styled(cut, last.style));
        }
        used = left.iter().map(Span::width).sum();
    }
    let pad = total.saturating_sub(used + right_width);
    let mut spans = left;
    spans.push(Span::raw(" ".repeat(pad)));
    spans.extend(right);
    Line::from(spans)
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
        assert_eq!(
            wrap_words("run the next step now", 10),
            vec!["run the", "next step", "now"]
        );
    }
}
