//! Whether a loaded runbook accounts for everything its document shows.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use runsheet::runbook::loader::Loaded;

/// The lines where top-level list items and runnable fenced blocks outside
/// list items start, read with pulldown-cmark directly (not through the
/// loader). `body` is where the Markdown starts, after any front matter.
fn items_and_runnable_blocks(text: &str, body: usize) -> Vec<u32> {
    let line =
        |offset: usize| u32::try_from(text[..body + offset].matches('\n').count() + 1).unwrap_or(u32::MAX);
    let (mut lists, mut quotes, mut items) = (0usize, 0usize, 0usize);
    let mut out = Vec::new();
    let parser = Parser::new_ext(&text[body..], Options::ENABLE_TASKLISTS | Options::ENABLE_TABLES);
    for (event, range) in parser.into_offset_iter() {
        match event {
            Event::Start(Tag::BlockQuote(_)) => quotes += 1,
            Event::End(TagEnd::BlockQuote(_)) => quotes = quotes.saturating_sub(1),
            Event::Start(Tag::List(_)) if quotes == 0 => lists += 1,
            Event::End(TagEnd::List(_)) if quotes == 0 => lists = lists.saturating_sub(1),
            Event::Start(Tag::Item) if quotes == 0 => {
                if lists == 1 {
                    out.push(line(range.start));
                }
                items += 1;
            }
            Event::End(TagEnd::Item) if quotes == 0 => items = items.saturating_sub(1),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) if items == 0 => {
                let lang = info
                    .split(|c: char| c.is_whitespace() || c == '{')
                    .next()
                    .unwrap_or("");
                let runs = matches!(
                    lang.to_ascii_lowercase().as_str(),
                    "sh" | "bash" | "shell" | "sql" | "psql" | "postgresql"
                );
                if runs {
                    out.push(line(range.start));
                }
            }
            _ => {}
        }
    }
    out
}

/// The lines of list items and runnable blocks that vanished: neither a
/// step, nor part of one, nor named by a diagnostic or a "not steps" line,
/// nor in a section the outline lists as a reference. A runbook whose
/// front matter starts the file is read from after its closing line.
pub fn vanished(text: &str, loaded: &Loaded) -> Vec<u32> {
    let Some(rb) = loaded.runbook.as_ref() else {
        return Vec::new();
    };
    // Where the loader starts reading Markdown: a `---` block that does not
    // read as YAML is no front matter, and its lines may hold items.
    let body = runsheet::runbook::loader::markdown_start(text);
    let mut marks: Vec<(u32, bool)> = rb.references.iter().map(|r| (r.pos.line, true)).collect();
    let phases = rb
        .environments
        .iter()
        .flat_map(|e| &e.phases)
        .chain(&rb.phases)
        .chain(&rb.prerequisites);
    marks.extend(phases.map(|p| (p.pos.line, false)));
    marks.sort();
    let steps: Vec<(u32, u32)> = rb
        .all_steps()
        .map(|s| {
            let lines = u32::try_from(s.body.lines().count()).unwrap_or(u32::MAX);
            (s.pos.line, s.pos.line.saturating_add(lines))
        })
        .collect();
    items_and_runnable_blocks(text, body)
        .into_iter()
        .filter(|&line| {
            let in_reference = marks
                .iter()
                .rev()
                .find(|(l, _)| *l <= line)
                .is_some_and(|(_, r)| *r);
            let in_step = steps.iter().any(|(from, to)| (*from..=*to).contains(&line));
            let reported = loaded
                .not_steps
                .iter()
                .any(|n| (n.pos.line..=n.last_line).contains(&line))
                || loaded.diagnostics.iter().any(|d| d.pos.line == line);
            !(in_reference || in_step || reported)
        })
        .collect()
}
