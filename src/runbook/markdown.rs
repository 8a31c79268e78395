//! The Markdown side of loading: pulldown-cmark's events reduced to the
//! outline the loader needs (section headings, top-level list items with
//! their code blocks, stray code blocks), each with its byte range.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// A top-level block of the document that matters to the runbook structure.
#[derive(Debug)]
pub(crate) enum Block {
    /// A heading outside any list or quote.
    Heading {
        level: u8,
        text: String,
        range: Range<usize>,
    },
    /// The items of a top-level list.
    List(Vec<Item>),
    /// A fenced block outside any top-level list item.
    LooseFence(Fence),
}

/// A top-level list item: a step candidate.
#[derive(Debug)]
pub(crate) struct Item {
    pub range: Range<usize>,
    /// `Some` for a task-list item: whether it is written as done.
    pub checked: Option<bool>,
    /// The item's first line of text, inline markup stripped.
    pub title: String,
    /// Every fenced block inside the item, at any depth, in order.
    pub fences: Vec<Fence>,
}

#[derive(Debug)]
pub(crate) struct Fence {
    /// Where the fence line starts (the first backtick or tilde).
    pub start: usize,
    /// The info string as written in the source, and its offset.
    pub info: String,
    pub info_start: usize,
    pub content: String,
}

/// The outline of `text[body..]`, with offsets into `text`.
pub(crate) fn outline(text: &str, body: usize) -> Vec<Block> {
    let mut walker = Walker::default();
    let parser = Parser::new_ext(&text[body..], Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS);
    for (event, range) in parser.into_offset_iter() {
        walker.event(text, event, range.start + body..range.end + body);
    }
    walker.blocks
}

#[derive(Default)]
struct Walker {
    blocks: Vec<Block>,
    lists: usize,
    quotes: usize,
    heading: Option<(u8, String, usize)>,
    list: Option<Vec<Item>>,
    item: Option<Item>,
    title_done: bool,
    fence: Option<Fence>,
}

impl Walker {
    fn event(&mut self, text: &str, event: Event<'_>, range: Range<usize>) {
        match event {
            Event::Start(tag) => self.start(text, tag, range),
            Event::End(tag) => self.end(tag, range),
            Event::Text(t) | Event::Code(t) => {
                if let Some(fence) = &mut self.fence {
                    fence.content.push_str(&t);
                } else if let Some((_, heading, _)) = &mut self.heading {
                    heading.push_str(&t);
                } else if self.collecting_title() {
                    if let Some(item) = &mut self.item {
                        item.title.push_str(&t);
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, heading, _)) = &mut self.heading {
                    heading.push(' ');
                } else {
                    self.close_title();
                }
            }
            Event::TaskListMarker(checked) if self.lists == 1 => {
                if let Some(item) = self
                    .item
                    .as_mut()
                    .filter(|i| i.checked.is_none() && i.title.is_empty())
                {
                    item.checked = Some(checked);
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, text: &str, tag: Tag<'_>, range: Range<usize>) {
        if !matches!(tag, Tag::Paragraph | Tag::Item) && !is_inline(&tag) {
            self.close_title();
        }
        match tag {
            Tag::Heading { level, .. } if self.lists == 0 && self.quotes == 0 => {
                self.heading = Some((level as u8, String::new(), range.start));
            }
            Tag::BlockQuote(_) => self.quotes += 1,
            Tag::List(_) => {
                if self.lists == 0 && self.quotes == 0 {
                    self.list = Some(Vec::new());
                }
                self.lists += 1;
            }
            Tag::Item if self.lists == 1 && self.list.is_some() => {
                self.item = Some(Item {
                    range,
                    checked: None,
                    title: String::new(),
                    fences: Vec::new(),
                });
                self.title_done = false;
            }
            Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                self.fence = Some(fence_at(text, range.start, &info));
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd, range: Range<usize>) {
        match tag {
            TagEnd::Heading(_) => {
                if let Some((level, heading, start)) = self.heading.take() {
                    let text = heading.trim().to_string();
                    self.blocks.push(Block::Heading {
                        level,
                        text,
                        range: start..range.end,
                    });
                }
            }
            TagEnd::BlockQuote(_) => self.quotes = self.quotes.saturating_sub(1),
            TagEnd::List(_) => {
                self.lists = self.lists.saturating_sub(1);
                if self.lists == 0 {
                    if let Some(items) = self.list.take() {
                        self.blocks.push(Block::List(items));
                    }
                }
            }
            TagEnd::Item if self.lists == 1 => {
                if let (Some(item), Some(list)) = (self.item.take(), &mut self.list) {
                    list.push(item);
                }
            }
            TagEnd::CodeBlock => match (self.fence.take(), &mut self.item) {
                (Some(fence), Some(item)) => item.fences.push(fence),
                (Some(fence), None) => self.blocks.push(Block::LooseFence(fence)),
                (None, _) => {}
            },
            TagEnd::Paragraph | TagEnd::TableCell => self.close_title(),
            _ => {}
        }
    }

    /// Title text comes from the item's own first line, not from nested
    /// lists or code blocks.
    fn collecting_title(&self) -> bool {
        self.item.is_some() && self.lists == 1 && !self.title_done
    }

    fn close_title(&mut self) {
        if let Some(item) = &self.item {
            if !item.title.trim().is_empty() {
                self.title_done = true;
            }
        }
    }
}

fn is_inline(tag: &Tag<'_>) -> bool {
    matches!(
        tag,
        Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::Link { .. }
            | Tag::Image { .. }
    )
}

/// Locate a fence's info string in the source, so attribute positions are
/// exact. Falls back to pulldown's (unescaped) info at the block start.
fn fence_at(text: &str, start: usize, parsed_info: &str) -> Fence {
    let line = &text[start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    if let Some(marker) = line.find(['`', '~']) {
        let fence_char = line[marker..].chars().next().unwrap_or('`');
        let after = marker + line[marker..].len() - line[marker..].trim_start_matches(fence_char).len();
        let raw = &line[after..];
        let lead = raw.len() - raw.trim_start().len();
        return Fence {
            start: start + marker,
            info: raw.trim().to_string(),
            info_start: start + after + lead,
            content: String::new(),
        };
    }
    Fence {
        start,
        info: parsed_info.trim().to_string(),
        info_start: start,
        content: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlines_headings_items_and_fences() {
        let text = "# T\n\n## Env\n\n1. First *line*\n   more\n   ```sql {verify}\n   select 1;\n   ```\n   - nested\n2. [x] Done\n\n```sh\nls\n```\n";
        let blocks = outline(text, 0);
        assert_eq!(blocks.len(), 4, "{blocks:?}");
        let Block::List(items) = &blocks[2] else {
            panic!("{blocks:?}")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].title, "First line");
        assert_eq!(items[0].fences[0].info, "sql {verify}");
        assert_eq!(&text[items[0].fences[0].info_start..][..3], "sql");
        assert_eq!(items[0].fences[0].content, "select 1;\n");
        assert_eq!(items[1].checked, Some(true));
        assert_eq!(items[1].title, "Done");
        let Block::LooseFence(f) = &blocks[3] else {
            panic!("{blocks:?}")
        };
        assert_eq!(f.info, "sh");
    }
}
