//! Markdown (a step's text, a reference section) as styled lines.
//!
//! Enough CommonMark for runbooks: headings, emphasis, inline code, code
//! blocks, nested lists, task lists, quotes, rules and tables. Wrapping is
//! left to the paragraph that shows the lines.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::theme::Theme;
use crate::runbook::inline::{self, InlineHtml};
use crate::text::sanitize;

/// Render `markdown` into lines styled with `theme`.
pub fn render(markdown: &str, theme: Theme) -> Vec<Line<'static>> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS | Options::ENABLE_STRIKETHROUGH;
    let mut r = Renderer {
        theme,
        lines: Vec::new(),
        spans: Vec::new(),
        styles: Vec::new(),
        lists: Vec::new(),
        indents: Vec::new(),
        marker: None,
        quotes: 0,
        code: false,
        row: None,
        header_row: false,
    };
    // Cleaned line by line first: escape sequences split across parser events
    // could not be recognised afterwards.
    let clean: Vec<String> = markdown
        .lines()
        .map(|l| sanitize(&l.replace('\t', "    ")))
        .collect();
    let clean = clean.join("\n");
    for event in Parser::new_ext(&clean, options) {
        r.event(event);
    }
    r.flush();
    while r.lines.last().is_some_and(|l| l.spans.is_empty()) {
        r.lines.pop();
    }
    r.lines
}

struct Renderer {
    theme: Theme,
    lines: Vec<Line<'static>>,
    spans: Vec<Span<'static>>,
    styles: Vec<Style>,
    /// Open lists: the next number of an ordered one, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Width of each open item's marker, for continuation lines.
    indents: Vec<usize>,
    /// The marker of an item whose first line is not written yet.
    marker: Option<String>,
    quotes: usize,
    code: bool,
    /// Cells of the table row being read.
    row: Option<Vec<String>>,
    header_row: bool,
}

impl Renderer {
    fn style(&self) -> Style {
        self.styles.iter().fold(Style::new(), |acc, s| acc.patch(*s))
    }

    fn push_style(&mut self, style: Style) {
        self.styles.push(style);
    }

    fn pop_style(&mut self) {
        self.styles.pop();
    }

    /// The left margin of the next line: quote bars, list indents, the item marker.
    fn prefix(&mut self) -> Vec<Span<'static>> {
        let mut out = Vec::new();
        if self.quotes > 0 {
            out.push(Span::styled("│ ".repeat(self.quotes), self.theme.dim()));
        }
        if let Some((last, outer)) = self.indents.split_last() {
            let outer: usize = outer.iter().sum();
            let lead = match self.marker.take() {
                Some(marker) => format!("{}{marker}", " ".repeat(outer)),
                None => " ".repeat(outer + last),
            };
            out.push(Span::styled(lead, self.theme.dim()));
        }
        out
    }

    fn flush(&mut self) {
        if self.spans.is_empty() && self.marker.is_none() {
            return;
        }
        let mut spans = self.prefix();
        spans.append(&mut self.spans);
        self.lines.push(Line::from(spans));
    }

    fn blank(&mut self) {
        if self.lines.last().is_some_and(|l| !l.spans.is_empty()) {
            self.lines.push(Line::default());
        }
    }

    /// A blank line between blocks, but not inside tight lists.
    fn end_block(&mut self) {
        self.flush();
        if self.indents.is_empty() {
            self.blank();
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(row) = &mut self.row {
            if let Some(cell) = row.last_mut() {
                cell.push_str(&sanitize(text));
            }
            return;
        }
        if self.code {
            for line in text.lines() {
                let mut spans = self.prefix();
                spans.push(Span::styled(format!("  {}", sanitize(line)), self.theme.code()));
                self.lines.push(Line::from(spans));
            }
            return;
        }
        let style = self.style();
        self.spans.push(Span::styled(sanitize(text), style));
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(t) => {
                if let Some(cell) = self.row.as_mut().and_then(|r| r.last_mut()) {
                    cell.push_str(&sanitize(&t));
                } else {
                    let style = self.style().patch(self.theme.code());
                    self.spans.push(Span::styled(sanitize(&t), style));
                }
            }
            // `<NODE POOL NAME>` is the author's placeholder, to be read as text.
            Event::InlineHtml(t) if inline::inline_html(&t) == InlineHtml::Text => self.text(&t),
            Event::Html(t) | Event::InlineHtml(t) => {
                let dim = self.theme.dim();
                self.spans.push(Span::styled(sanitize(t.trim_end()), dim));
            }
            Event::SoftBreak => self.text(" "),
            Event::HardBreak => self.flush(),
            Event::Rule => {
                self.flush();
                self.lines.push(Line::styled("─".repeat(24), self.theme.dim()));
                self.blank();
            }
            Event::TaskListMarker(done) => {
                let style = if done { self.theme.ok() } else { self.theme.text() };
                self.spans
                    .push(Span::styled(if done { "[x] " } else { "[ ] " }, style));
            }
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Heading { .. } => {
                self.flush();
                self.push_style(self.theme.heading());
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.quotes += 1;
            }
            Tag::CodeBlock(_) => {
                self.flush();
                self.code = true;
            }
            Tag::List(first) => {
                self.flush();
                self.lists.push(first);
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                self.indents.push(marker.chars().count());
                self.marker = Some(marker);
            }
            Tag::Emphasis => self.push_style(Style::new().add_modifier(Modifier::ITALIC)),
            Tag::Strong => self.push_style(Style::new().add_modifier(Modifier::BOLD)),
            Tag::Strikethrough => self.push_style(Style::new().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { .. } => self.push_style(self.theme.link()),
            Tag::Table(_) => self.flush(),
            Tag::TableHead => {
                self.row = Some(Vec::new());
                self.header_row = true;
            }
            Tag::TableRow => self.row = Some(Vec::new()),
            Tag::TableCell => {
                if let Some(row) = &mut self.row {
                    row.push(String::new());
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.end_block(),
            TagEnd::Heading(_) => {
                self.pop_style();
                self.end_block();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.quotes = self.quotes.saturating_sub(1);
                self.blank();
            }
            TagEnd::CodeBlock => {
                self.code = false;
                if self.indents.is_empty() {
                    self.blank();
                }
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank();
                }
            }
            TagEnd::Item => {
                self.flush();
                self.indents.pop();
                self.marker = None;
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => self.pop_style(),
            TagEnd::TableHead | TagEnd::TableRow => {
                let cells = self.row.take().unwrap_or_default();
                let style = if self.header_row {
                    self.theme.bold()
                } else {
                    self.theme.text()
                };
                self.header_row = false;
                let mut spans = self.prefix();
                spans.push(Span::styled(cells.join(" │ "), style));
                self.lines.push(Line::from(spans));
            }
            TagEnd::Table => self.blank(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn lists_code_and_emphasis() {
        let md = "Run the **remediation** in *dry-run* mode:\n\n1. first `step`\n   - nested\n2. second\n\n```sh\necho hi\n```\n";
        let lines = render(md, Theme::monochrome());
        assert_eq!(
            plain(&lines),
            vec![
                "Run the remediation in dry-run mode:",
                "",
                "1. first step",
                "   • nested",
                "2. second",
                "",
                "  echo hi",
            ]
        );
        let bold = &lines[0].spans[1];
        assert_eq!(bold.content, "remediation");
        assert!(bold.style.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn tables_and_task_lists() {
        let md = "| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] open\n";
        let lines = plain(&render(md, Theme::monochrome()));
        assert_eq!(lines, vec!["a │ b", "1 │ 2", "", "• [x] done", "• [ ] open"]);
    }

    #[test]
    fn control_characters_never_reach_the_screen() {
        let lines = plain(&render("bad \x1b[31mred\x1b[0m text", Theme::monochrome()));
        assert_eq!(lines, vec!["bad red text"]);
    }
}
