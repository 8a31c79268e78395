//! The Markdown side of loading: pulldown-cmark's events reduced to the
//! blocks the loader needs, each with its byte range: headings, lists with
//! their items (nested items kept as children), fenced blocks, paragraphs
//! as a reader sees them, MkDocs admonitions, and everything else as
//! opaque "other" blocks.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use super::inline::{self, InlineHtml};

/// A top-level block of the document (outside any list or quote).
#[derive(Debug)]
pub(crate) enum Block {
    Heading {
        level: u8,
        text: String,
        range: Range<usize>,
    },
    List(List),
    /// A fenced block outside any list item.
    Fence(Fence),
    /// A paragraph, its text as read (soft breaks as spaces, hard breaks as `\n`).
    Paragraph {
        text: String,
        range: Range<usize>,
    },
    /// An MkDocs admonition (`!!! warning "Title"` and its indented body).
    Note(Note),
    /// Tables, quotes, HTML, rules, indented code: text, never steps.
    Other(Range<usize>),
}

#[derive(Debug)]
pub(crate) struct List {
    pub items: Vec<Item>,
    pub range: Range<usize>,
}

impl List {
    /// A list made of links only, such as a table of contents.
    pub(crate) fn links_only(&self) -> bool {
        !self.items.is_empty() && self.items.iter().all(|i| i.links_only)
    }
}

/// A list item, with the items of the lists nested in it as children.
#[derive(Debug)]
pub(crate) struct Item {
    pub range: Range<usize>,
    /// `Some` for a task-list item: whether it is written as done.
    pub checked: Option<bool>,
    /// The item's first paragraph as read.
    pub title: String,
    /// The fenced blocks of the item itself (not of its children), in order.
    pub fences: Vec<Fence>,
    pub children: Vec<Item>,
    pub notes: Vec<Note>,
    /// Nothing but links (and punctuation), its children likewise.
    pub links_only: bool,
}

impl Item {
    /// Whether a fenced block of the item or its descendants satisfies `f`.
    pub(crate) fn any_fence(&self, f: &impl Fn(&Fence) -> bool) -> bool {
        self.fences.iter().any(f) || self.children.iter().any(|c| c.any_fence(f))
    }

    /// Every fenced block of the item and its descendants, in document order.
    pub(crate) fn all_fences(&self) -> Vec<&Fence> {
        let mut all: Vec<&Fence> = self.fences.iter().collect();
        for c in &self.children {
            all.extend(c.all_fences());
        }
        all.sort_by_key(|f| f.start);
        all
    }
}

#[derive(Debug)]
pub(crate) struct Fence {
    /// Where the fence line starts (the first backtick or tilde).
    pub start: usize,
    /// The info string as written in the source, and its offset.
    pub info: String,
    pub info_start: usize,
    pub content: String,
    /// The whole block, fences included.
    pub range: Range<usize>,
    /// Whether a closing fence ends it (otherwise it ran to the end of its container).
    pub closed: bool,
    /// Inside a block quote.
    pub quoted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Note {
    /// `warning`, `note`, `tip`, … as written.
    pub kind: String,
    pub title: String,
    /// The body, dedented, HTML turned into text.
    pub text: String,
    pub range: Range<usize>,
}

impl Note {
    pub(crate) fn to_model(&self) -> super::model::Note {
        super::model::Note {
            kind: self.kind.clone(),
            title: self.title.clone(),
            text: self.text.clone(),
        }
    }
}

/// The blocks of `text[body..]`, with offsets into `text`.
pub(crate) fn outline(text: &str, body: usize) -> Vec<Block> {
    let mut walker = Walker {
        text,
        ..Walker::default()
    };
    let options = Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS | Options::ENABLE_HEADING_ATTRIBUTES;
    let parser = Parser::new_ext(&text[body..], options);
    for (event, range) in parser.into_offset_iter() {
        walker.event(event, range.start + body..range.end + body);
    }
    walker.blocks
}

/// An item being read.
#[derive(Debug, Default)]
struct ItemBuilder {
    range: Range<usize>,
    checked: Option<bool>,
    title: String,
    title_done: bool,
    fences: Vec<Fence>,
    children: Vec<Item>,
    notes: Vec<Note>,
    links: usize,
    plain: bool,
}

impl ItemBuilder {
    fn close_title(&mut self) {
        if !self.title.trim().is_empty() {
            self.title_done = true;
        }
    }

    fn finish(self) -> Item {
        let links_only = self.links > 0
            && !self.plain
            && self.fences.is_empty()
            && self.notes.is_empty()
            && self.children.iter().all(|c| c.links_only);
        Item {
            range: self.range,
            checked: self.checked,
            title: self.title,
            fences: self.fences,
            children: self.children,
            notes: self.notes,
            links_only,
        }
    }
}

#[derive(Default)]
struct Walker<'t> {
    text: &'t str,
    blocks: Vec<Block>,
    quotes: usize,
    /// Open lists outside quotes.
    lists: Vec<Range<usize>>,
    items: Vec<ItemBuilder>,
    /// Finished items of the open top-level list.
    top_items: Vec<Item>,
    heading: Option<(u8, String, usize)>,
    paragraph: Option<(String, Range<usize>)>,
    fence: Option<Fence>,
    /// Inside an indented code block or an HTML block: text that is no one's title.
    opaque: usize,
    links: usize,
    /// The extent of an admonition: its events are its note, nothing else.
    skip: Option<Range<usize>>,
}

impl Walker<'_> {
    fn at_top(&self) -> bool {
        self.items.is_empty() && self.quotes == 0 && self.lists.is_empty()
    }

    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        if let Some(skip) = &self.skip {
            if range.start >= skip.end {
                self.skip = None;
            } else if range.start >= skip.start {
                return;
            }
        }
        match event {
            Event::Start(tag) => self.start(tag, range),
            Event::End(tag) => self.end(tag, range),
            Event::Text(t) | Event::Code(t) => self.text(&t, false),
            Event::InlineHtml(h) => match inline::inline_html(&h) {
                InlineHtml::Text => self.text(&h, false),
                InlineHtml::Markup { line_break: true } => self.text("\n", true),
                InlineHtml::Markup { .. } => {}
            },
            Event::SoftBreak => self.text(" ", true),
            Event::HardBreak => self.text("\n", true),
            Event::TaskListMarker(checked) => {
                if let Some(item) = self
                    .items
                    .last_mut()
                    .filter(|i| i.checked.is_none() && i.title.is_empty())
                {
                    item.checked = Some(checked);
                }
            }
            _ => {}
        }
    }

    /// Inline text: a fence's content, a heading's words, a paragraph's, an item's title.
    fn text(&mut self, t: &str, is_break: bool) {
        if let Some(fence) = &mut self.fence {
            if !is_break {
                fence.content.push_str(t);
            }
            return;
        }
        if self.opaque > 0 {
            return;
        }
        if let Some((_, heading, _)) = &mut self.heading {
            heading.push_str(if t == "\n" { " " } else { t });
            return;
        }
        if let Some(item) = self.items.last_mut() {
            if !is_break && self.links == 0 && t.chars().any(char::is_alphanumeric) {
                item.plain = true;
            }
            if !item.title_done {
                item.title.push_str(t);
            }
            return;
        }
        if let Some((para, _)) = &mut self.paragraph {
            para.push_str(t);
        }
    }

    fn start(&mut self, tag: Tag<'_>, range: Range<usize>) {
        let block_level = !matches!(tag, Tag::Item) && !is_inline(&tag);
        if block_level && !matches!(tag, Tag::Paragraph) {
            if let Some(item) = self.items.last_mut() {
                item.close_title();
            }
        }
        if matches!(tag, Tag::Paragraph) {
            if let Some(item) = self.items.last_mut() {
                item.close_title();
            }
            if let Some(note) = self.admonition(&range) {
                self.skip = Some(note.range.clone());
                match self.items.last_mut() {
                    Some(item) => item.notes.push(note),
                    None if self.quotes == 0 => self.blocks.push(Block::Note(note)),
                    None => {}
                }
                return;
            }
        }
        let top = self.at_top();
        match tag {
            Tag::Heading { level, .. } if top => {
                self.heading = Some((level as u8, String::new(), range.start));
            }
            Tag::Paragraph if top => self.paragraph = Some((String::new(), range)),
            Tag::BlockQuote(_) => {
                if top {
                    self.blocks.push(Block::Other(range));
                }
                self.quotes += 1;
            }
            Tag::List(_) if self.quotes == 0 => self.lists.push(range),
            Tag::Item if self.quotes == 0 => self.items.push(ItemBuilder {
                range,
                ..ItemBuilder::default()
            }),
            Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
                self.fence = Some(fence_at(self.text, range, &info, self.quotes > 0));
            }
            Tag::CodeBlock(CodeBlockKind::Indented) | Tag::HtmlBlock => {
                if top {
                    self.blocks.push(Block::Other(range));
                }
                self.opaque += 1;
            }
            Tag::Link { .. } | Tag::Image { .. } => {
                self.links += 1;
                if let Some(item) = self.items.last_mut() {
                    item.links += 1;
                }
            }
            Tag::Table(_) | Tag::FootnoteDefinition(_) | Tag::DefinitionList | Tag::MetadataBlock(_)
                if top =>
            {
                self.blocks.push(Block::Other(range));
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd, range: Range<usize>) {
        match tag {
            TagEnd::Heading(_) => {
                if let Some((level, heading, start)) = self.heading.take() {
                    self.blocks.push(Block::Heading {
                        level,
                        text: inline::heading(&heading),
                        range: start..range.end,
                    });
                }
            }
            TagEnd::Paragraph => {
                if self.at_top() {
                    if let Some((text, range)) = self.paragraph.take() {
                        self.blocks.push(Block::Paragraph { text, range });
                    }
                } else if let Some(item) = self.items.last_mut() {
                    item.close_title();
                }
            }
            TagEnd::BlockQuote(_) => self.quotes = self.quotes.saturating_sub(1),
            TagEnd::List(_) if self.quotes == 0 => {
                if let Some(range) = self.lists.pop() {
                    if self.lists.is_empty() {
                        self.blocks.push(Block::List(List {
                            items: std::mem::take(&mut self.top_items),
                            range,
                        }));
                    }
                }
            }
            TagEnd::Item if self.quotes == 0 => {
                if let Some(done) = self.items.pop() {
                    let item = done.finish();
                    match self.items.last_mut() {
                        Some(parent) => parent.children.push(item),
                        None => self.top_items.push(item),
                    }
                }
            }
            TagEnd::CodeBlock if self.fence.is_some() => {
                if let Some(mut fence) = self.fence.take() {
                    fence.closed = is_closed(self.text, &fence);
                    match self.items.last_mut() {
                        Some(item) => item.fences.push(fence),
                        None => self.blocks.push(Block::Fence(fence)),
                    }
                }
            }
            TagEnd::CodeBlock | TagEnd::HtmlBlock => self.opaque = self.opaque.saturating_sub(1),
            TagEnd::Link | TagEnd::Image => self.links = self.links.saturating_sub(1),
            TagEnd::TableCell => {
                if let Some(item) = self.items.last_mut() {
                    item.close_title();
                }
            }
            _ => {}
        }
    }

    /// The admonition starting with the paragraph at `range`, if its first
    /// line is `!!! kind "title"` (or `???`/`???+`, collapsible ones). Its
    /// body is every following line indented four more columns than the
    /// marker, or blank.
    fn admonition(&self, range: &Range<usize>) -> Option<Note> {
        let text = self.text;
        let rest = &text[range.start..];
        let first = rest.split('\n').next().unwrap_or("");
        let marker = ["!!! ", "???+ ", "??? "]
            .iter()
            .find_map(|m| first.strip_prefix(m))?
            .trim();
        let (kind, title) = match marker.split_once(char::is_whitespace) {
            Some((kind, title)) => (kind, title.trim().trim_matches('"').to_string()),
            None => (marker, String::new()),
        };
        if kind.is_empty() || !kind.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            return None;
        }
        let line_start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
        let indent = width(&text[line_start..range.start]) + 4;
        let mut at = range.start + first.len();
        let mut end = at;
        let mut body = Vec::new();
        while at < text.len() {
            let line_begin = at + 1;
            let line_end = text[line_begin..]
                .find('\n')
                .map_or(text.len(), |i| line_begin + i);
            let line = &text[line_begin..line_end];
            if line.trim().is_empty() {
                body.push("");
            } else if width_of_indent(line) >= indent {
                body.push(dedent_to(line, indent));
                end = line_end;
            } else {
                break;
            }
            at = line_end;
        }
        let body = body.join("\n");
        let title = if title.is_empty() {
            let mut c = kind.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect())
                .unwrap_or_default()
        } else {
            title
        };
        Some(Note {
            kind: kind.to_ascii_lowercase(),
            title,
            text: inline::html_to_text(body.trim()),
            range: range.start..end.max(range.end),
        })
    }
}

/// Columns taken by `s` (tabs to the next multiple of four).
fn width(s: &str) -> usize {
    s.chars()
        .fold(0, |w, c| if c == '\t' { w + 4 - w % 4 } else { w + 1 })
}

fn width_of_indent(line: &str) -> usize {
    width(&line[..line.len() - line.trim_start().len()])
}

/// `line` without up to `indent` columns of leading whitespace.
pub(crate) fn dedent_to(line: &str, indent: usize) -> &str {
    let mut w = 0;
    for (i, c) in line.char_indices() {
        if w >= indent {
            return &line[i..];
        }
        match c {
            ' ' => w += 1,
            '\t' => w += 4 - w % 4,
            _ => return &line[i..],
        }
    }
    ""
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
fn fence_at(text: &str, range: Range<usize>, parsed_info: &str, quoted: bool) -> Fence {
    let start = range.start;
    let line = &text[start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let mut fence = Fence {
        start,
        info: parsed_info.trim().to_string(),
        info_start: start,
        content: String::new(),
        range,
        closed: true,
        quoted,
    };
    if let Some(marker) = line.find(['`', '~']) {
        let fence_char = line[marker..].chars().next().unwrap_or('`');
        let after = marker + line[marker..].len() - line[marker..].trim_start_matches(fence_char).len();
        let raw = &line[after..];
        let lead = raw.len() - raw.trim_start().len();
        fence.start = start + marker;
        fence.info = raw.trim().to_string();
        fence.info_start = start + after + lead;
    }
    fence
}

/// Whether the block's last line is a closing fence: the opening character,
/// at least as many times, and nothing else.
fn is_closed(text: &str, fence: &Fence) -> bool {
    let block = &text[fence.start..fence.range.end.max(fence.start)];
    let open = block.split('\n').next().unwrap_or("");
    let Some(c) = open.chars().next() else {
        return true;
    };
    let count = open.len() - open.trim_start_matches(c).len();
    let lines: Vec<&str> = block.split('\n').collect();
    lines.len() > 1
        && lines.last().is_some_and(|last| {
            let last = last.trim();
            last.len() >= count && last.chars().all(|x| x == c)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(blocks: &[Block], n: usize) -> &List {
        match blocks.iter().filter(|b| matches!(b, Block::List(_))).nth(n) {
            Some(Block::List(l)) => l,
            _ => panic!("no list {n}: {blocks:#?}"),
        }
    }

    #[test]
    fn outlines_headings_items_and_fences() {
        let text = "# T\n\n## Env\n\n1. First *line*\n   more\n   ```sql {verify}\n   select 1;\n   ```\n   - nested\n2. [x] Done\n\n```sh\nls\n```\n";
        let blocks = outline(text, 0);
        assert_eq!(blocks.len(), 4, "{blocks:?}");
        let items = &list(&blocks, 0).items;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].title, "First line more");
        assert_eq!(items[0].fences[0].info, "sql {verify}");
        assert_eq!(&text[items[0].fences[0].info_start..][..3], "sql");
        assert_eq!(items[0].fences[0].content, "select 1;\n");
        assert!(items[0].fences[0].closed);
        assert_eq!(items[0].children.len(), 1);
        assert_eq!(items[0].children[0].title, "nested");
        assert_eq!(items[1].checked, Some(true));
        assert_eq!(items[1].title, "Done");
        let Block::Fence(f) = &blocks[3] else {
            panic!("{blocks:?}")
        };
        assert_eq!(f.info, "sh");
    }

    #[test]
    fn placeholders_anchors_and_breaks() {
        let text =
            "## Resize <NODE POOL NAME> {#resize}\n\n- Drain <b>every</b> node\n  of the pool<br>then wait\n";
        let blocks = outline(text, 0);
        let Block::Heading { text: h, .. } = &blocks[0] else {
            panic!()
        };
        assert_eq!(h, "Resize <NODE POOL NAME>");
        assert_eq!(
            list(&blocks, 0).items[0].title,
            "Drain every node of the pool\nthen wait"
        );
    }

    #[test]
    fn links_only_lists_and_unclosed_fences() {
        let text = "- [Prepare](#prepare)\n  - [Backup](#backup)\n- [Upgrade](#upgrade)\n\nMore:\n\n- [Docs](x) for more\n\n```sh\nls\n";
        let blocks = outline(text, 0);
        assert!(list(&blocks, 0).links_only());
        assert!(!list(&blocks, 1).links_only());
        let Some(Block::Fence(f)) = blocks.last() else {
            panic!()
        };
        assert!(!f.closed);
    }

    #[test]
    fn admonitions_are_notes_with_their_indented_body() {
        let text = "!!! warning \"Mind the pool\"\n\n    <table><tr><td><POOL></td></tr></table>\n\n    Second paragraph.\n\nAfter.\n\n1. Step\n\n    !!! tip\n        Inside.\n\n   Still the step.\n";
        let blocks = outline(text, 0);
        let Block::Note(n) = &blocks[0] else {
            panic!("{blocks:#?}")
        };
        assert_eq!((n.kind.as_str(), n.title.as_str()), ("warning", "Mind the pool"));
        assert_eq!(n.text, "<POOL>\nSecond paragraph.");
        assert!(matches!(&blocks[1], Block::Paragraph { text, .. } if text == "After."));
        let item = &list(&blocks, 0).items[0];
        assert_eq!(item.notes.len(), 1);
        assert_eq!(item.notes[0].title, "Tip");
        assert_eq!(item.notes[0].text, "Inside.");
    }
}
