//! Fitting styled lines into columns: how many rows they take, and a line
//! spread across a width.

use ratatui::text::{Line, Span};

use crate::text::truncate;

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
