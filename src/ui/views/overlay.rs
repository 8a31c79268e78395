//! The reference overlay: the runbook's other sections (communication plan,
//! timeline, success criteria, contacts, …), one at a time.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

use super::popup;
use crate::ui::app::App;
use crate::ui::markdown;
use crate::ui::spans;

pub fn render(app: &App, frame: &mut Frame, area: Rect, index: usize, scroll: u16) {
    let theme = app.theme;
    let Some(section) = app.references.get(index) else {
        return;
    };
    let rect = popup(frame, area, 100, area.height);
    let mut tabs = vec![Span::raw(" ")];
    for (i, r) in app.references.iter().enumerate() {
        let style = if i == index { theme.selected() } else { theme.dim() };
        tabs.push(Span::styled(format!(" {} ", r.title), style));
    }
    tabs.push(Span::styled(" · Tab next · Esc closes ", theme.dim()));
    let block = Block::bordered()
        .border_type(BorderType::Double)
        .border_style(theme.focus_border())
        .title(Line::from(tabs));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines = vec![
        Line::styled(section.title.clone(), theme.heading()),
        Line::raw(""),
    ];
    lines.extend(markdown::render(&section.markdown, theme));
    let max = spans::rows(&lines, inner.width).saturating_sub(usize::from(inner.height));
    let scroll = scroll.min(u16::try_from(max).unwrap_or(u16::MAX));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}
