//! Turning a top-level list item into a step: its kind from the fenced
//! blocks inside it, their attributes, included files, and its Markdown body.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::fence::{self, Attr, Runner};
use super::markdown::{Fence, Item};
use super::model::{SourcePos, Step, StepKind};
use super::source::SourceMap;

/// Builds steps for one runbook, remembering the files they include so
/// the content hash covers them.
pub(crate) struct StepBuilder<'a> {
    map: &'a SourceMap<'a>,
    text: &'a str,
    /// The runbook's folder: `file=` paths are relative to it.
    dir: PathBuf,
    /// `(path as written, bytes)` of every included file, in document order.
    pub includes: Vec<(String, Vec<u8>)>,
}

/// A step and where its id was decided (the `id=` attribute or the item).
pub(crate) struct Built {
    pub step: Step,
    pub id_pos: SourcePos,
}

/// The attributes gathered from an item's blocks.
#[derive(Default)]
struct Gathered {
    runner: Option<Runner>,
    script: String,
    id: Option<(String, SourcePos)>,
    timeout: Option<Duration>,
    verify: bool,
    readonly: bool,
    backup: bool,
}

impl<'a> StepBuilder<'a> {
    pub(crate) fn new(map: &'a SourceMap<'a>, text: &'a str, runbook: &Path) -> Self {
        let dir = runbook.parent().map(Path::to_path_buf).unwrap_or_default();
        StepBuilder {
            map,
            text,
            dir,
            includes: Vec::new(),
        }
    }

    /// The step for `item`; `default_id` names it unless it has `{id=…}`.
    pub(crate) fn step(&mut self, item: &Item, default_id: String, diags: &mut Vec<Diagnostic>) -> Built {
        let pos = self.map.pos(item.range.start);
        let mut g = Gathered::default();
        for f in &item.fences {
            self.fence(f, &mut g, diags);
        }
        let title = match item.title.trim() {
            "" => {
                let from_code = item
                    .fences
                    .iter()
                    .flat_map(|f| f.content.lines())
                    .find(|l| !l.trim().is_empty());
                match from_code {
                    Some(line) => line.trim().to_string(),
                    None => {
                        diags.push(Diagnostic::warning(
                            pos,
                            "empty list item; write what the step does, or remove the item",
                        ));
                        "(empty step)".to_string()
                    }
                }
            }
            // "Run the verification process:" reads better as a checklist line without the colon.
            t => t.trim_end_matches(':').trim_end().to_string(),
        };
        let kind = match g.runner {
            Some(Runner::Shell) => StepKind::Shell { script: g.script },
            Some(Runner::Sql) => StepKind::Sql { sql: g.script },
            _ => StepKind::Manual,
        };
        let (id, id_pos) = g.id.unwrap_or((default_id, pos));
        let step = Step {
            id,
            title,
            body: body(
                self.text,
                self.map.line_start(item.range.start),
                item.range.clone(),
            ),
            kind,
            verify: g.verify,
            readonly: g.readonly,
            backup: g.backup,
            timeout: g.timeout,
            checked: item.checked == Some(true),
            pos,
        };
        Built { step, id_pos }
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
        let runs = info.runner != Runner::None;
        if runs {
            match g.runner {
                Some(r) if r != info.runner => {
                    diags.push(Diagnostic::error(
                        fence_pos,
                        "this list item mixes shell and SQL blocks; split it into two steps (one list item each)",
                    ));
                    return;
                }
                _ => g.runner = Some(info.runner),
            }
        }
        let mut content = Some(f.content.as_str())
            .filter(|c| !c.trim().is_empty())
            .map(str::to_string);
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
        match content {
            Some(code) => {
                if !g.script.is_empty() && !g.script.ends_with('\n') {
                    g.script.push('\n');
                }
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

    /// The text of an included file, recorded for the content hash.
    fn include(&mut self, path: &str, pos: SourcePos, diags: &mut Vec<Diagnostic>) -> Option<String> {
        let full = self.dir.join(path);
        let bytes = match std::fs::read(&full) {
            Ok(bytes) => bytes,
            Err(e) => {
                diags.push(Diagnostic::error(
                    pos,
                    format!(
                        "cannot read file '{path}' ({}: {e}); the path is relative to the runbook's folder",
                        full.display()
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

fn describe_lang(lang: &str) -> String {
    if lang.is_empty() {
        "plain".to_string()
    } else {
        format!("`{lang}`")
    }
}

/// The item's Markdown without its list marker (and task box), continuation
/// lines dedented by the item's content indent, trailing blank lines dropped.
fn body(text: &str, line_start: usize, range: std::ops::Range<usize>) -> String {
    // Only spaces can precede a top-level marker, so bytes are columns here.
    let marker_col = range.start.saturating_sub(line_start);
    let src = &text[range];
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
    let mut out = String::with_capacity(src.len());
    out.push_str(content.trim_end_matches('\r'));
    for line in rest.split('\n') {
        out.push('\n');
        out.push_str(dedent(line, indent).trim_end_matches('\r'));
    }
    out.trim_end().trim_start_matches(['\n', '\r']).to_string()
}

/// `line` without up to `indent` columns of leading whitespace (tabs to the
/// next multiple of four, as CommonMark counts them).
fn dedent(line: &str, indent: usize) -> &str {
    let mut width = 0;
    for (i, c) in line.char_indices() {
        if width >= indent {
            return &line[i..];
        }
        match c {
            ' ' => width += 1,
            '\t' => width += 4 - width % 4,
            _ => return &line[i..],
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_drops_marker_and_dedents() {
        let text = "intro\n1. Run it:\n   ```\n   x.bat\n   ```\n     deeper\n\n";
        assert_eq!(body(text, 6, 6..text.len()), "Run it:\n```\nx.bat\n```\n  deeper");
        let text = "  - [x] Done\n    more\n";
        assert_eq!(body(text, 0, 2..text.len()), "Done\nmore");
        let text = "10.\n    code\n";
        assert_eq!(body(text, 0, 0..text.len()), "code");
    }
}
