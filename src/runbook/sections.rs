//! The document's headings as a tree: each section owns the blocks up to
//! its first sub-heading, and its sub-sections, whatever levels the
//! document happens to use (`##` then `###`, or `###` then `#####`).

use std::ops::Range;

use super::markdown::Block;

#[derive(Debug)]
pub(crate) struct Section<'b> {
    /// `None` for the root: the text before the first heading.
    pub heading: Option<Heading<'b>>,
    /// The blocks before the first sub-section.
    pub blocks: Vec<&'b Block>,
    pub children: Vec<Section<'b>>,
    /// Where the section's own text starts (after its heading).
    pub body_start: usize,
    /// Where its own text ends: the first sub-section's heading, or `end`.
    pub own_end: usize,
    /// Where the section and its sub-sections end.
    pub end: usize,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Heading<'b> {
    pub level: u8,
    pub text: &'b str,
    pub range: &'b Range<usize>,
}

impl<'b> Section<'b> {
    pub(crate) fn title(&self) -> &'b str {
        self.heading.map_or("", |h| h.text)
    }

    /// Every block of the section and its sub-sections, headings excluded.
    pub(crate) fn all_blocks(&self) -> Vec<&'b Block> {
        let mut all = self.blocks.clone();
        for c in &self.children {
            all.extend(c.all_blocks());
        }
        all
    }
}

/// The tree of `blocks`, the heading at `title` (the runbook's title)
/// left out; `start..end` is the byte range of the Markdown body.
pub(crate) fn tree(blocks: &[Block], title: Option<usize>, start: usize, end: usize) -> Section<'_> {
    let mut stack = vec![Section {
        heading: None,
        blocks: Vec::new(),
        children: Vec::new(),
        body_start: start,
        own_end: end,
        end,
    }];
    for (i, block) in blocks.iter().enumerate() {
        match block {
            Block::Heading { level, text, range } if Some(i) != title => {
                while stack.len() > 1
                    && stack
                        .last()
                        .and_then(|s| s.heading)
                        .is_some_and(|h| h.level >= *level)
                {
                    close(&mut stack, range.start);
                }
                if let Some(parent) = stack.last_mut() {
                    if parent.children.is_empty() {
                        parent.own_end = range.start;
                    }
                }
                stack.push(Section {
                    heading: Some(Heading {
                        level: *level,
                        text,
                        range,
                    }),
                    blocks: Vec::new(),
                    children: Vec::new(),
                    body_start: range.end,
                    own_end: end,
                    end,
                });
            }
            Block::Heading { .. } => {}
            other => {
                if let Some(top) = stack.last_mut() {
                    // Blocks after a sub-section belong to that sub-section.
                    top.blocks.push(other);
                }
            }
        }
    }
    while stack.len() > 1 {
        close(&mut stack, end);
    }
    stack
        .pop()
        .unwrap_or_else(|| unreachable!("the root is never popped"))
}

fn close(stack: &mut Vec<Section<'_>>, at: usize) {
    if let Some(mut done) = stack.pop() {
        done.end = at;
        if done.children.is_empty() {
            done.own_end = at;
        }
        if let Some(parent) = stack.last_mut() {
            parent.children.push(done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::markdown::outline;

    #[test]
    fn levels_nest_whatever_the_document_starts_at() {
        let text = "# T\n\nintro\n\n### A\n\na\n\n##### A1\n\n- x\n\n### B\n\n## C\n";
        let blocks = outline(text, 0);
        let root = tree(&blocks, Some(0), 0, text.len());
        assert_eq!(root.blocks.len(), 1);
        let names: Vec<_> = root.children.iter().map(|s| s.title()).collect();
        assert_eq!(names, ["A", "B", "C"]);
        let a = &root.children[0];
        assert_eq!(a.children[0].title(), "A1");
        assert_eq!(a.blocks.len(), 1);
        assert_eq!(a.own_end, text.find("##### A1").unwrap());
        assert_eq!(a.end, text.find("### B").unwrap());
        assert_eq!(root.children[2].end, text.len());
    }
}
