//! Turning what the document shows into steps: a list item (with its
//! sub-steps: nested items that have commands of their own) or a runnable
//! block of a section written as prose. A step's kind comes from its fenced
//! blocks, with their attributes, prompts, expected output and included files.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::fence::{self, Attr, Runner};
use super::include;
use super::inline;
use super::markdown::{Fence, Item, Note, dedent_to};
use super::model::{SourcePos, Step, StepKind};
use super::prompts;
use super::source::SourceMap;
use crate::sql_split;

/// Whether a block runs: shell and SQL always, a `console` block when its
/// lines carry prompts.
pub(crate) fn runs(f: &Fence) -> bool {
    match fence::runner(&f.info) {
        Runner::Shell | Runner::Sql => true,
        Runner::Console => prompts::session(&f.content).is_some(),
        Runner::None => false,
    }
}

/// Whether a block shows output rather than commands: `text`, `output`, …,
/// or a `console` block without prompts.
pub(crate) fn shows_output(f: &Fence) -> bool {
    fence::is_output(fence::lang(&f.info)) || (fence::runner(&f.info) == Runner::Console && !runs(f))
}

/// What one step is made of, before its blocks are read.
pub(crate) struct Source<'b> {
    /// Where the step is (an item's marker, a paragraph, a block).
    pub start: usize,
    /// Its text as read, whose first sentence or line is the title.
    pub title: String,
    /// Its Markdown as shown in the detail pane.
    pub body: String,
    pub fences: Vec<&'b Fence>,
    pub notes: Vec<&'b Note>,
    pub checked: bool,
}

/// A list item as a step and its sub-steps: the direct children that have
/// commands of their own. Children without commands stay the parent's
/// text; `extra` are blocks written after the item at column 0 that belong
/// to it (a list broken by its fences), ending at `end`.
pub(crate) fn item_sources<'b>(
    text: &str,
    map: &SourceMap,
    item: &'b Item,
    extra: &[&'b Fence],
) -> (Source<'b>, Vec<Source<'b>>) {
    let (subs, text_children): (Vec<&Item>, Vec<&Item>) =
        item.children.iter().partition(|c| c.any_fence(&runs));
    let mut fences: Vec<&Fence> = item.fences.iter().collect();
    fences.extend(text_children.iter().flat_map(|c| c.all_fences()));
    fences.sort_by_key(|f| f.start);
    fences.extend(extra.iter().copied());
    let end = extra.last().map_or(item.range.end, |f| f.range.end);
    let mut holes: Vec<Range<usize>> = subs.iter().map(|c| c.range.clone()).collect();
    holes.extend(item.notes.iter().map(|n| n.range.clone()));
    let parent = Source {
        start: item.range.start,
        title: item.title.clone(),
        body: item_body(
            text,
            map.line_start(item.range.start),
            item.range.start..end,
            &holes,
        ),
        fences,
        notes: item.notes.iter().collect(),
        checked: item.checked == Some(true),
    };
    let subs = subs
        .into_iter()
        .map(|c| {
            let holes: Vec<Range<usize>> = c.notes.iter().map(|n| n.range.clone()).collect();
            Source {
                start: c.range.start,
                title: c.title.clone(),
                body: item_body(text, map.line_start(c.range.start), c.range.clone(), &holes),
                fences: c.all_fences(),
                notes: c.notes.iter().collect(),
                checked: c.checked == Some(true),
            }
        })
        .collect();
    (parent, subs)
}

/// Builds steps for one runbook, remembering the files they include so
/// the content hash covers them.
pub(crate) struct StepBuilder<'a> {
    map: &'a SourceMap<'a>,
    text: &'a str,
    /// The runbook's folder: `file=` paths are relative to it and stay in it.
    dir: PathBuf,
    allow_outside_files: bool,
    /// `(path as written, bytes)` of every included file, in document order.
    pub includes: Vec<(String, Vec<u8>)>,
}

/// A step and where its id was decided (the `id=` attribute or the item).
pub(crate) struct Built {
    pub step: Step,
    pub id_pos: SourcePos,
    /// The id is the author's (`{id=…}`), not derived from the place.
    pub explicit: bool,
}

/// What a step's blocks add up to.
#[derive(Default)]
struct Gathered {
    runner: Option<Runner>,
    script: String,
    /// Where each block's part of the script starts, the block's position,
    /// and whether the part is written in the block (not read from a file).
    parts: Vec<(usize, SourcePos, bool)>,
    expected: String,
    id: Option<(String, SourcePos)>,
    timeout: Option<Duration>,
    lock_timeout: Option<Duration>,
    verify: bool,
    readonly: bool,
    backup: bool,
    isolated: bool,
    /// The previous block ran, so an output block after it is its output.
    after_command: bool,
}

impl<'a> StepBuilder<'a> {
    pub(crate) fn new(
        map: &'a SourceMap<'a>,
        text: &'a str,
        runbook: &Path,
        allow_outside_files: bool,
    ) -> Self {
        let dir = match runbook.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        StepBuilder {
            map,
            text,
            dir,
            allow_outside_files,
            includes: Vec::new(),
        }
    }

    /// The step made of `src`; `default_id` names it unless it has `{id=…}`.
    pub(crate) fn step(
        &mut self,
        src: Source,
        default_id: String,
        parent: Option<String>,
        diags: &mut Vec<Diagnostic>,
    ) -> Built {
        let pos = self.map.pos(src.start);
        let mut g = Gathered::default();
        for f in &src.fences {
            self.fence(f, &mut g, diags);
        }
        let title = match inline::title(&src.title) {
            t if !t.is_empty() => t,
            _ => {
                let from_code = src
                    .fences
                    .iter()
                    .flat_map(|f| {
                        prompts::session(&f.content)
                            .map_or_else(|| f.content.clone(), |s| s.commands)
                            .lines()
                            .map(|l| l.trim().to_string())
                            .collect::<Vec<_>>()
                    })
                    .find(|l| !l.is_empty());
                match from_code {
                    Some(line) => line,
                    None => {
                        diags.push(Diagnostic::warning(
                            pos,
                            "empty list item; write what the step does, or remove the item",
                        ));
                        "(empty step)".to_string()
                    }
                }
            }
        };
        if g.runner == Some(Runner::Sql) {
            check_transaction(&g, diags);
        }
        let kind = match g.runner {
            Some(Runner::Shell) => StepKind::Shell { script: g.script },
            Some(Runner::Sql) => StepKind::Sql { sql: g.script },
            _ => StepKind::Manual,
        };
        let explicit = g.id.is_some();
        let (id, id_pos) = g.id.unwrap_or((default_id, pos));
        let step = Step {
            id,
            title,
            body: src.body,
            kind,
            parent,
            expected: (!g.expected.trim().is_empty()).then(|| g.expected.trim_end().to_string()),
            notes: src.notes.iter().map(|n| n.to_model()).collect(),
            verify: g.verify,
            readonly: g.readonly,
            backup: g.backup,
            isolated: g.isolated,
            timeout: g.timeout,
            lock_timeout: g.lock_timeout,
            checked: src.checked,
            pos,
        };
        Built {
            step,
            id_pos,
            explicit,
        }
    }

    fn fence(&mut self, f: &Fence, g: &mut Gathered, diags: &mut Vec<Diagnostic>) {
        let (info, errors) = fence::parse(&f.info);
        for e in errors {
            diags.push(Diagnostic::error(
                self.map.pos(f.info_start + e.offset),
                e.message,
            ));
        }
        let fence_pos = self.map.pos(f.start);
        if g.after_command && shows_output(f) {
            g.expected.push_str(&f.content);
            return;
        }
        let session = match info.runner {
            Runner::Shell | Runner::Console => prompts::session(&f.content),
            _ => None,
        };
        let runner = match info.runner {
            Runner::Console if session.is_some() => Runner::Shell,
            Runner::Console => Runner::None,
            r => r,
        };
        let runs = runner != Runner::None;
        g.after_command = runs;
        if runs {
            match g.runner {
                Some(r) if r != runner => {
                    diags.push(Diagnostic::error(
                        fence_pos,
                        "this list item mixes shell and SQL blocks; split it into two steps (one list item each)",
                    ));
                    return;
                }
                _ => g.runner = Some(runner),
            }
        }
        let mut content = Some(f.content.as_str())
            .filter(|c| !c.trim().is_empty())
            .map(str::to_string);
        if let Some(s) = &session {
            content = Some(s.commands.clone()).filter(|c| !c.trim().is_empty());
            g.expected.push_str(&s.output);
        }
        let mut from_file = false;
        for (attr, offset) in info.attrs {
            let pos = self.map.pos(f.info_start + offset);
            if !runs && !matches!(attr, Attr::Id(_)) {
                diags.push(Diagnostic::warning(
                    pos,
                    format!(
                        "attribute '{}' has no effect on a {} block, which runsheet does not run; use sh, bash or sql",
                        attr.name(),
                        describe_lang(&info.lang)
                    ),
                ));
                continue;
            }
            match attr {
                Attr::Verify => g.verify = true,
                Attr::Readonly => g.readonly = true,
                Attr::Backup => g.backup = true,
                Attr::Isolated if runner == Runner::Sql => diags.push(Diagnostic::warning(
                    pos,
                    "attribute 'isolated' has no effect on a sql block: only shell steps carry state to the next ones",
                )),
                Attr::Isolated => g.isolated = true,
                Attr::Id(id) => match &g.id {
                    Some((first, _)) if *first != id => diags.push(Diagnostic::error(
                        pos,
                        format!("this step already has id '{first}'; give one id per list item"),
                    )),
                    _ => g.id = Some((id, pos)),
                },
                Attr::Timeout(t) => match g.timeout {
                    Some(first) if first != t => diags.push(Diagnostic::error(
                        pos,
                        "this step already has a timeout; give one timeout per list item",
                    )),
                    _ => g.timeout = Some(t),
                },
                Attr::LockTimeout(t) => match g.lock_timeout {
                    Some(first) if first != t => diags.push(Diagnostic::error(
                        pos,
                        "this step already has a lock_timeout; give one per list item",
                    )),
                    _ => g.lock_timeout = Some(t),
                },
                Attr::File(path) => {
                    if content.is_some() && !from_file {
                        diags.push(Diagnostic::error(
                            pos,
                            "this block has both file= and a body; keep one of them (the body of a file= block stays empty)",
                        ));
                    }
                    content = self.include(&path, pos, diags);
                    from_file = true;
                }
            }
        }
        if !runs {
            return;
        }
        if runner == Runner::Shell && !from_file {
            self.lint_terminal(f, session.as_ref(), diags);
        }
        match content {
            Some(code) => {
                if !g.script.is_empty() && !g.script.ends_with('\n') {
                    g.script.push('\n');
                }
                g.parts.push((g.script.len(), fence_pos, !from_file));
                g.script.push_str(&code);
                if !g.script.ends_with('\n') {
                    g.script.push('\n');
                }
            }
            // A missing file was reported where the attribute is.
            None if from_file => {}
            None => diags.push(Diagnostic::error(
                fence_pos,
                format!(
                    "empty {} block; write the commands, or read them from a file with {{file=PATH}}",
                    info.lang
                ),
            )),
        }
    }

    /// Warn about commands that wait for a terminal: steps run with no
    /// standard input, so they would hang until their timeout.
    fn lint_terminal(&self, f: &Fence, session: Option<&prompts::Session>, diags: &mut Vec<Diagnostic>) {
        let lines: Vec<&str> = f.content.lines().collect();
        // (line in the block, byte where the command starts)
        let commands: Vec<(usize, usize)> = match session {
            Some(s) => s.origins.clone(),
            None => (0..lines.len()).map(|i| (i, 0)).collect(),
        };
        let source_lines: Vec<&str> = self.text[f.start..f.range.end.max(f.start)]
            .split('\n')
            .skip(1)
            .collect();
        let mut heredoc: Option<String> = None;
        let mut joined_from: Option<(usize, usize, String)> = None;
        for &(i, at) in &commands {
            let Some(line) = lines.get(i) else { continue };
            let command = &line[at.min(line.len())..];
            if let Some(end) = &heredoc {
                if command.trim() == end {
                    heredoc = None;
                }
                continue;
            }
            let (first_i, first_at, mut logical) = joined_from.take().unwrap_or((i, at, String::new()));
            logical.push_str(command.trim_end_matches('\\'));
            if command.trim_end().ends_with('\\') {
                logical.push(' ');
                joined_from = Some((first_i, first_at, logical));
                continue;
            }
            if let Some(word) = logical.split("<<").nth(1) {
                let word = word.trim_start_matches(['-', '~']).trim();
                let word = word
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_matches(['\'', '"']);
                if !word.is_empty() {
                    heredoc = Some(word.to_string());
                }
            }
            let Some((col, why)) = prompts::needs_terminal(&logical) else {
                continue;
            };
            let source = source_lines.get(first_i).map_or("", |l| l.trim_end_matches('\r'));
            let content_line = lines.get(first_i).copied().unwrap_or("");
            let shift = source.len().saturating_sub(content_line.len());
            let offset = f.start + self.text[f.start..].find('\n').map_or(0, |n| n + 1);
            let line_offset: usize = source_lines.iter().take(first_i).map(|l| l.len() + 1).sum();
            let pos = self.map.pos(offset + line_offset + shift + first_at + col);
            diags.push(Diagnostic::warning(
                pos,
                format!(
                    "{why}, but steps run with no terminal and no input, so it would hang until its timeout; pass what it asks for on the command line, or make this a manual step"
                ),
            ));
        }
    }

    /// The text of an included file, recorded for the content hash.
    fn include(&mut self, path: &str, pos: SourcePos, diags: &mut Vec<Diagnostic>) -> Option<String> {
        let real = match include::locate(&self.dir, path, self.allow_outside_files) {
            Ok(real) => real,
            Err(message) => {
                diags.push(Diagnostic::error(pos, message));
                return None;
            }
        };
        let bytes = match include::read_regular(&real) {
            Ok(bytes) => bytes,
            Err(e) => {
                diags.push(Diagnostic::error(
                    pos,
                    format!(
                        "cannot read file '{path}' ({}: {e}); include a regular text file",
                        real.display()
                    ),
                ));
                return None;
            }
        };
        let text = match String::from_utf8(bytes.clone()) {
            Ok(text) => text,
            Err(_) => {
                diags.push(Diagnostic::error(
                    pos,
                    format!("file '{path}' is not UTF-8 text; save it as UTF-8"),
                ));
                return None;
            }
        };
        self.includes.push((path.to_string(), bytes));
        Some(text)
    }
}

/// A SQL step runs in one transaction; a statement PostgreSQL refuses to
/// run inside one makes runsheet commit what came before and run it on its
/// own, so the step is no longer all or nothing.
fn check_transaction(g: &Gathered, diags: &mut Vec<Diagnostic>) {
    let statements = sql_split::split(&g.script);
    if statements.len() < 2 {
        return;
    }
    for stmt in statements
        .iter()
        .filter(|s| sql_split::needs_no_transaction(&s.text))
    {
        let pos = match g.parts.iter().rev().find(|(start, ..)| *start <= stmt.offset) {
            // Written in the block: the statement's own line, one line per script line.
            Some((start, fence, true)) => {
                let lines = g.script[*start..stmt.offset].matches('\n').count();
                SourcePos {
                    line: fence
                        .line
                        .saturating_add(u32::try_from(lines + 1).unwrap_or(u32::MAX)),
                    col: fence.col,
                }
            }
            Some((_, fence, false)) => *fence,
            None => SourcePos::default(),
        };
        let words: Vec<&str> = stmt.text.split_whitespace().take(3).collect();
        diags.push(Diagnostic::warning(
            pos,
            format!(
                "`{}` cannot run inside a transaction, so this SQL step commits the statements before it and is not all-or-nothing; give it a step of its own",
                words.join(" ")
            ),
        ));
    }
}

fn describe_lang(lang: &str) -> String {
    if lang.is_empty() {
        "plain".to_string()
    } else {
        format!("`{lang}`")
    }
}

/// An item's Markdown without its list marker (and task box), continuation
/// lines dedented by the item's content indent, the lines of `holes`
/// (sub-steps and admonitions, shown on their own) left out, Hugo
/// shortcodes removed, trailing blank lines dropped.
pub(crate) fn item_body(
    text: &str,
    line_start: usize,
    range: Range<usize>,
    holes: &[Range<usize>],
) -> String {
    // Only spaces can precede a top-level marker, so bytes are columns here.
    let marker_col = range.start.saturating_sub(line_start);
    let src = &text[range.clone()];
    let (first, rest) = src.split_once('\n').unwrap_or((src, ""));
    let marker_len = first.find(|c: char| c.is_whitespace()).unwrap_or(first.len());
    let after_marker = &first[marker_len..];
    let content = after_marker.trim_start_matches([' ', '\t']);
    // CommonMark: content starts 1-4 spaces after the marker; a blank first
    // line or a longer gap means one space.
    let gap = after_marker.len() - content.len();
    let gap = if content.trim().is_empty() || gap > 4 {
        1
    } else {
        gap
    };
    let indent = marker_col + marker_len + gap;
    let content = content
        .strip_prefix("[ ] ")
        .or_else(|| content.strip_prefix("[x] "))
        .or_else(|| content.strip_prefix("[X] "))
        .unwrap_or(content);
    let mut lines = vec![content.trim_end_matches('\r')];
    let mut at = range.start + first.len() + 1;
    for line in rest.split('\n') {
        if !in_holes(text, at, holes) {
            lines.push(dedent_to(line, indent).trim_end_matches('\r'));
        }
        at += line.len() + 1;
    }
    finish_body(&lines)
}

/// Whether the line starting at `at` is part of a hole: the hole starts
/// on it after its indentation, or started on an earlier line.
fn in_holes(text: &str, at: usize, holes: &[Range<usize>]) -> bool {
    holes.iter().any(|h| {
        at < h.end
            && (h.start <= at
                || text
                    .get(at..h.start)
                    .is_some_and(|lead| !lead.contains('\n') && lead.trim().is_empty()))
    })
}

/// Markdown of a prose step or section (`range` of the source), the lines
/// of `holes` left out.
pub(crate) fn prose_body(text: &str, range: Range<usize>, holes: &[Range<usize>]) -> String {
    let mut lines = Vec::new();
    let mut at = range.start;
    for line in text[range].split('\n') {
        if !in_holes(text, at, holes) {
            lines.push(line.trim_end_matches('\r'));
        }
        at += line.len() + 1;
    }
    finish_body(&lines)
}

/// Shortcodes out of the text lines (code blocks keep everything), blank
/// runs at either end dropped.
fn finish_body(lines: &[&str]) -> String {
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    let mut fence: Option<&str> = None;
    let mut dropped_blank = false;
    for &line in lines {
        let t = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| t.starts_with(m));
        let stripped;
        let shown = match (fence, marker) {
            (Some(open), Some(m)) if m == open => {
                fence = None;
                line
            }
            (Some(_), _) => line,
            (None, Some(m)) => {
                fence = Some(m);
                line
            }
            (None, None) if line.contains("{{") => {
                stripped = inline::strip_shortcodes(line);
                if stripped.trim().is_empty() && !line.trim().is_empty() {
                    dropped_blank = true;
                    continue;
                }
                &*stripped
            }
            (None, None) => line,
        };
        if dropped_blank && shown.trim().is_empty() && out.ends_with("\n\n") {
            continue;
        }
        dropped_blank = false;
        out.push_str(shown);
        out.push('\n');
    }
    let trimmed = out.trim_end().trim_start_matches(['\n', '\r']);
    if trimmed.len() == out.len() {
        out
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_drops_marker_and_dedents() {
        let text = "intro\n1. Run it:\n   ```\n   x.bat\n   ```\n     deeper\n\n";
        assert_eq!(
            item_body(text, 6, 6..text.len(), &[]),
            "Run it:\n```\nx.bat\n```\n  deeper"
        );
        let text = "  - [x] Done\n    more\n";
        assert_eq!(item_body(text, 0, 2..text.len(), &[]), "Done\nmore");
        let text = "10.\n    code\n";
        assert_eq!(item_body(text, 0, 0..text.len(), &[]), "code");
        let text = "1. Parent\n   - [ ] child\n     ```sh\n     ls\n     ```\n   after\n";
        let hole = text.find("- [ ]").unwrap()..text.find("   after").unwrap();
        assert_eq!(item_body(text, 0, 0..text.len(), &[hole]), "Parent\nafter");
        let text = "{{< note >}}\nKeep {{% x %}}this\n{{< /note >}}\n```\n{{< y >}}\n```\n";
        assert_eq!(
            prose_body(text, 0..text.len(), &[]),
            "Keep this\n```\n{{< y >}}\n```"
        );
    }
}
