//! Loading a runbook: file bytes to a [`Runbook`] plus diagnostics.
//!
//! pulldown-cmark reads the document once into blocks ([`super::markdown`]);
//! the headings make them a tree of sections ([`super::sections`]); this
//! module gives the tree its meaning and checks the whole.
//!
//! The rules, in the order they apply:
//! - A top-level section whose *subject* is an environment is that
//!   environment's plan (the seed's shape). Without any, the body is one
//!   plan: for each front-matter environment alike, or for the one
//!   implicit environment when the front matter defines none.
//! - Inside a plan every section is a phase when it holds a procedure
//!   (list items, runnable blocks, or a step-like heading over prose), a
//!   group when only its sub-sections do, and a reference section
//!   otherwise. Descriptive names (Overview, Impact, Meaning, …) are
//!   reference whatever they hold. Known phase names give meaning; unknown
//!   names are plain phases.
//! - Steps are top-level list items (nested items with commands of their
//!   own are sub-steps), blocks after an item at column 0 (a list broken by
//!   its fences) belong to it, and in a section the remaining code blocks
//!   are steps of their own, titled by the paragraph before them.
//! - Whatever does not become a step is reported: a diagnostic where the
//!   author probably meant it to run, a [`NotAStep`] otherwise.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::diagnostic::Diagnostic;
use super::fence;
use super::frontmatter::{self, FrontMatter, Split};
use super::headings::{self, Subject};
use super::include;
use super::markdown::{self, Block, Fence, Item, Note};
use super::model::{
    DatabaseSource, Environment, Layout, Phase, PhaseKind, ReferenceKind, ReferenceSection, Runbook,
    SourcePos, Step, StepKind,
};
use super::sections::{self, Section};
use super::source::{self, SourceMap};
use super::steps::{self, Source, StepBuilder};

/// The result of loading: the runbook when it means something, every
/// diagnostic sorted by position, and what the document shows that did not
/// become a step (a table of contents, items outside any plan).
#[derive(Debug)]
pub struct Loaded {
    pub runbook: Option<Runbook>,
    pub diagnostics: Vec<Diagnostic>,
    pub not_steps: Vec<NotAStep>,
}

/// List items (or a block) that are not steps, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAStep {
    pub pos: SourcePos,
    pub last_line: u32,
    pub reason: String,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

/// How to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Let `{file=…}` read files outside the runbook's folder
    /// (`--allow-outside-files`): only for runbooks the operator trusts.
    pub allow_outside_files: bool,
}

/// The runbook file could not be read at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct LoadError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Load the runbook at `path`.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    load_with(path, LoadOptions::default())
}

/// Load the runbook at `path` with `options`.
pub fn load_with(path: &Path, options: LoadOptions) -> Result<Loaded, LoadError> {
    let bytes = include::read_regular(path).map_err(|source| LoadError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(load_bytes_with(path, &bytes, options))
}

/// Load runbook bytes as if read from `path` (which locates `{file=…}` includes).
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Loaded {
    load_bytes_with(path, bytes, LoadOptions::default())
}

/// Load runbook bytes as if read from `path`, with `options`.
pub fn load_bytes_with(path: &Path, bytes: &[u8], options: LoadOptions) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut not_steps = Vec::new();
    let runbook = match source::decode(bytes) {
        Ok(text) => build(path, text, options, &mut diagnostics, &mut not_steps),
        Err(d) => {
            diagnostics.push(d);
            None
        }
    };
    diagnostics.sort_by_key(|d| d.pos);
    not_steps.sort_by_key(|n| n.pos);
    Loaded {
        runbook,
        diagnostics,
        not_steps,
    }
}

/// Load runbook text as if read from `path`.
pub fn load_str(path: &Path, text: &str) -> Loaded {
    load_bytes(path, text.as_bytes())
}

const FILE_START: SourcePos = SourcePos { line: 1, col: 1 };

/// Where the Markdown of `text` starts: after its front matter when it has
/// one (a `+++` block, or a `---` block that reads as YAML; otherwise that
/// `---` is a thematic break and the Markdown starts at the top).
pub fn markdown_start(text: &str) -> usize {
    match frontmatter::split(text) {
        Split::Absent { body } | Split::Present { body, .. } | Split::Yaml { body, .. } => body,
        Split::Unterminated => text.len(),
    }
}

fn build(
    path: &Path,
    text: &str,
    options: LoadOptions,
    diags: &mut Vec<Diagnostic>,
    not_steps: &mut Vec<NotAStep>,
) -> Option<Runbook> {
    let map = SourceMap::new(text);
    let (fm, body, yaml_title) = match frontmatter::split(text) {
        Split::Unterminated => {
            diags.push(Diagnostic::error(
                FILE_START,
                "the front matter opened by +++ is never closed; end it with a line holding just +++",
            ));
            return None;
        }
        Split::Absent { body } => (FrontMatter::default(), body, None),
        Split::Present { toml, body } => (frontmatter::parse(&map, text, toml, diags), body, None),
        Split::Yaml { yaml, body } => (FrontMatter::default(), body, frontmatter::yaml_title(&text[yaml])),
    };
    let blocks = markdown::outline(text, body);
    let title_index = blocks
        .iter()
        .position(|b| matches!(b, Block::Heading { .. }))
        .filter(|&i| matches!(blocks[i], Block::Heading { level: 1, .. }));
    let h1 = title_index.and_then(|i| match &blocks[i] {
        Block::Heading { text, .. } => Some(text.clone()),
        _ => None,
    });
    let root = sections::tree(&blocks, title_index, body, text.len());
    let mut asm = Assembler {
        text,
        map: &map,
        fm: &fm,
        steps: StepBuilder::new(&map, text, path, options.allow_outside_files),
        diags,
        not_steps,
        envs: Vec::new(),
        prerequisites: None,
        phases: Vec::new(),
        references: Vec::new(),
        rollback: None,
        ids: Vec::new(),
        preamble_notes: Vec::new(),
    };
    asm.unclosed_fences(&blocks);
    let layout = asm.assemble(&root);
    asm.finish(path, layout, fm.title.clone().or(yaml_title).or(h1))
}

struct Assembler<'a> {
    text: &'a str,
    map: &'a SourceMap<'a>,
    fm: &'a FrontMatter,
    steps: StepBuilder<'a>,
    diags: &'a mut Vec<Diagnostic>,
    not_steps: &'a mut Vec<NotAStep>,
    /// Environments with a section, in document order, with the index of
    /// their settings in `fm.environments`.
    envs: Vec<(usize, Environment)>,
    prerequisites: Option<Phase>,
    /// The shared plan, when no section names an environment.
    phases: Vec<Phase>,
    references: Vec<ReferenceSection>,
    /// The first top-level Rollback section: the one whose steps can run.
    rollback: Option<usize>,
    /// Every step id with where it was decided and whether `{id=…}` gave it.
    ids: Vec<(String, SourcePos, bool)>,
    /// Admonitions before the first section: notes of the plan's first phase.
    preamble_notes: Vec<super::model::Note>,
}

/// Where step ids of one plan come from: `ENV.PHASE.N`, or `PHASE.N` for
/// the shared plan; phase segments are unique within the plan.
struct Scope {
    env: Option<String>,
    used: HashSet<String>,
}

impl Scope {
    fn new(env: Option<String>, reserved: &[&str]) -> Scope {
        Scope {
            env,
            used: reserved.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The id prefix of a phase: its kind's slug the first time the kind
    /// appears (so the seed's ids stay `development.execution.1`), else
    /// the heading's words.
    fn prefix(&mut self, kind: PhaseKind, title: &str) -> String {
        let known = !matches!(kind, PhaseKind::Other);
        let base = if known && !self.used.contains(kind.slug()) {
            kind.slug().to_string()
        } else {
            super::inline::slug(title)
        };
        let mut slug = base.clone();
        let mut n = 2;
        while !self.used.insert(slug.clone()) {
            slug = format!("{base}-{n}");
            n += 1;
        }
        match &self.env {
            Some(env) => format!("{env}.{slug}"),
            None => slug,
        }
    }
}

/// A step the blocks of a section make, before it is built.
enum Spec<'b> {
    /// A list item, with blocks written after it at column 0.
    Item { item: &'b Item, extra: Vec<&'b Fence> },
    /// A code block of a section written as prose, with the text since the
    /// previous step and the blocks that show its output.
    Prose {
        title: String,
        start: usize,
        range: Range<usize>,
        fences: Vec<&'b Fence>,
    },
}

/// What the own blocks of a section hold.
#[derive(Default)]
struct Analysis<'b> {
    specs: Vec<Spec<'b>>,
    /// Lists of links only: a table of contents.
    link_lists: Vec<Range<usize>>,
    notes: Vec<&'b Note>,
    /// Runnable blocks inside a quote.
    quoted: Vec<&'b Fence>,
    first_paragraph: Option<(&'b str, usize)>,
}

/// What came just before a block, for the rules that attach blocks.
#[derive(Clone, Copy)]
enum Prev<'b> {
    Nothing,
    /// A list (or a block attached to its last item).
    List,
    Paragraph(&'b str, usize),
    /// A block that runs.
    Command,
    /// A paragraph that introduces a command's output ("You should see:")
    /// right after a block that runs.
    OutputIntro(&'b str, usize),
}

/// Whether a paragraph introduces what a command prints.
fn introduces_output(text: &str) -> bool {
    let text = text.trim_end();
    let lower = text.to_lowercase();
    text.ends_with(':')
        && [
            "output",
            "see",
            "print",
            "return",
            "result",
            "show",
            "look like",
            "respond",
            "answer",
        ]
        .iter()
        .any(|w| lower.contains(w))
}

fn analyze<'b>(blocks: &[&'b Block]) -> Analysis<'b> {
    let mut a = Analysis::default();
    let lists_of_steps = blocks
        .iter()
        .any(|b| matches!(b, Block::List(l) if !l.links_only()));
    let mut prose_start: Option<usize> = None;
    let mut prev = Prev::Nothing;
    for block in blocks {
        match block {
            Block::List(l) if l.links_only() => {
                a.link_lists.push(l.range.clone());
                prev = Prev::Nothing;
                prose_start = None;
            }
            Block::List(l) => {
                a.specs.extend(l.items.iter().map(|item| Spec::Item {
                    item,
                    extra: Vec::new(),
                }));
                prev = Prev::List;
                prose_start = None;
            }
            Block::Paragraph { text, range } => {
                if a.first_paragraph.is_none() && !text.trim().is_empty() {
                    a.first_paragraph = Some((text, range.start));
                }
                prose_start.get_or_insert(range.start);
                prev = match prev {
                    Prev::Command if introduces_output(text) => Prev::OutputIntro(text, range.start),
                    _ => Prev::Paragraph(text, range.start),
                };
            }
            Block::Note(n) => {
                a.notes.push(n);
                prose_start.get_or_insert(n.range.start);
            }
            Block::Fence(f) if f.quoted => {
                if steps::runs(f) {
                    a.quoted.push(f);
                }
                prev = Prev::Nothing;
            }
            Block::Fence(f) => {
                let after_command = matches!(prev, Prev::Command | Prev::OutputIntro(..));
                let attach = match (prev, a.specs.last_mut()) {
                    (Prev::List, Some(Spec::Item { extra, .. })) => Some(extra),
                    (_, Some(Spec::Item { extra, .. })) if after_command && steps::shows_output(f) => {
                        Some(extra)
                    }
                    (_, Some(Spec::Prose { fences, range, .. }))
                        if after_command && steps::shows_output(f) =>
                    {
                        range.end = f.range.end;
                        Some(fences)
                    }
                    _ => None,
                };
                if let Some(fences) = attach {
                    fences.push(f);
                    prose_start = None;
                    if !matches!(prev, Prev::List) {
                        prev = Prev::Nothing;
                    }
                    continue;
                }
                if steps::runs(f) || !lists_of_steps {
                    let (title, start) = match prev {
                        Prev::Paragraph(text, start) | Prev::OutputIntro(text, start) => {
                            (text.to_string(), start)
                        }
                        _ => (String::new(), f.start),
                    };
                    a.specs.push(Spec::Prose {
                        title,
                        start,
                        range: prose_start.unwrap_or(f.start)..f.range.end,
                        fences: vec![f],
                    });
                    prose_start = None;
                    prev = if steps::runs(f) {
                        Prev::Command
                    } else {
                        Prev::Nothing
                    };
                } else {
                    prev = Prev::Nothing;
                }
            }
            Block::Other(range) => {
                prose_start.get_or_insert(range.start);
                prev = Prev::Nothing;
            }
            Block::Heading { .. } => {}
        }
    }
    a
}

impl Assembler<'_> {
    /// Give the tree its meaning; returns the layout it has.
    fn assemble(&mut self, root: &Section) -> Layout {
        let names: Vec<Vec<&str>> = self
            .fm
            .environments
            .iter()
            .map(|e| {
                std::iter::once(e.name.as_str())
                    .chain(e.aliases.iter().map(String::as_str))
                    .collect()
            })
            .collect();
        let subjects: Vec<Subject> = root
            .children
            .iter()
            .map(|s| headings::subject(s.title(), &names))
            .collect();
        for (s, subject) in root.children.iter().zip(&subjects) {
            let pos = self.pos_of(s);
            match subject {
                Subject::Several(envs) => {
                    let names: Vec<&str> = envs
                        .iter()
                        .map(|&i| self.fm.environments[i].name.as_str())
                        .collect();
                    self.diags.push(Diagnostic::warning(
                        pos,
                        format!(
                            "heading names several environments ({}), so it is no environment's plan; give each environment its own section",
                            names.join(", ")
                        ),
                    ));
                }
                Subject::Mentioned(env, word) => {
                    let name = &self.fm.environments[*env].name;
                    self.diags.push(Diagnostic::warning(
                        pos,
                        format!(
                            "'{}' mentions '{word}' but is not about the {name} environment, so it is read as a section, not as {name}'s plan; if it is, name the environment alone in the heading, e.g. `## {}`",
                            s.title(),
                            capitalised(name)
                        ),
                    ));
                }
                Subject::None | Subject::Named(_) => {}
            }
        }
        if subjects.iter().any(|s| matches!(s, Subject::Named(_))) {
            self.environment_sections(root, &subjects);
            Layout::Sections
        } else {
            self.shared_plan(root);
            if self.fm.environments.iter().any(|e| e.declared.is_some()) {
                Layout::Shared
            } else {
                Layout::Implicit
            }
        }
    }

    fn pos_of(&self, s: &Section) -> SourcePos {
        self.map.pos(s.heading.map_or(s.body_start, |h| h.range.start))
    }

    /// The seed's shape: environment sections, shared prerequisites, references.
    fn environment_sections(&mut self, root: &Section, subjects: &[Subject]) {
        self.outside(&root.blocks, "the text before the first section");
        self.preamble_notes = notes(&analyze(&root.blocks).notes);
        for (s, subject) in root.children.iter().zip(subjects) {
            match subject {
                Subject::Named(env) => self.environment_section(s, *env),
                _ if headings::phase_kind(s.title()) == Some(PhaseKind::Prerequisites) => {
                    self.shared_prerequisites(s);
                }
                _ => self.top_section(s, true),
            }
        }
    }

    fn environment_section(&mut self, s: &Section, settings: usize) {
        let pos = self.pos_of(s);
        if let Some((_, first)) = self.envs.iter().find(|(i, _)| *i == settings) {
            self.diags.push(Diagnostic::error(
                pos,
                format!(
                    "environment '{}' already has a section at {}; merge the two sections",
                    first.name, first.pos
                ),
            ));
            return;
        }
        let mut env = environment(&self.fm.environments[settings], s.title(), pos);
        let own = analyze(&s.blocks);
        let mut scope = Scope::new(Some(env.name.clone()), &[]);
        if !own.specs.is_empty() {
            let first = self.map.pos(spec_start(&own.specs[0]));
            // Alone they are the plan; before phases they are easily missed.
            if !s.children.is_empty() {
                self.diags.push(Diagnostic::warning(
                    first,
                    format!(
                        "steps outside any phase in '{}'; put them under a phase heading such as `### Execution`",
                        env.heading
                    ),
                ));
            }
            let prefix = scope.prefix(PhaseKind::Unphased, "");
            let mut phase = phase(PhaseKind::Unphased, PhaseKind::Unphased.label(), first, 0);
            self.fill(&mut phase, &own, &prefix);
            env.phases.push(phase);
        } else {
            self.report(&own);
        }
        self.plan(&s.children, 0, &mut scope, &mut env.phases, true);
        self.envs.push((settings, env));
    }

    /// A Prerequisites section outside any environment: every environment
    /// runs its steps first (those of its sub-sections too).
    fn shared_prerequisites(&mut self, s: &Section) {
        let pos = self.pos_of(s);
        if let Some(first) = &self.prerequisites {
            self.diags.push(Diagnostic::error(
                pos,
                format!(
                    "the shared prerequisites already start at {}; merge the two sections",
                    first.pos
                ),
            ));
            return;
        }
        let all = s.all_blocks();
        let own = analyze(&all);
        let mut p = phase(PhaseKind::Prerequisites, s.title(), pos, 0);
        self.fill(&mut p, &own, "prerequisites");
        self.prerequisites = Some(p);
    }

    /// A top-level section that is neither an environment's plan nor the
    /// shared prerequisites: a reference section (the Rollback one runs on
    /// demand). In a runbook of environment sections, a procedure here is
    /// outside every plan, and said so.
    fn top_section(&mut self, s: &Section, outside_plans: bool) {
        let kind = headings::reference_kind(s.title());
        let r = self.reference(s, kind);
        if kind == ReferenceKind::Rollback {
            match self.rollback {
                Some(first) => self.diags.push(Diagnostic::warning(
                    self.references[r].pos,
                    format!(
                        "a second Rollback section (the first is at {}); only the first one's steps can run, so merge them",
                        self.references[first].pos
                    ),
                )),
                None => {
                    self.rollback = Some(r);
                    let all = s.all_blocks();
                    let own = analyze(&all);
                    let mut p = phase(PhaseKind::Rollback, s.title(), self.references[r].pos, 0);
                    self.fill(&mut p, &own, "rollback");
                    self.references[r].steps = p.steps;
                }
            }
            return;
        }
        let all = s.all_blocks();
        let place = format!("the '{}' section", s.title());
        if outside_plans && headings::named_reference(s.title()).is_none() {
            self.outside(&all, &place);
        } else {
            self.never_runs(&all, &place);
        }
    }

    /// A runbook without environment sections: the body is one plan.
    fn shared_plan(&mut self, root: &Section) {
        let top_rollback = root
            .children
            .iter()
            .any(|s| headings::reference_kind(s.title()) == ReferenceKind::Rollback);
        let reserved: &[&str] = if top_rollback {
            &["gate", "rollback"]
        } else {
            &["gate"]
        };
        let mut scope = Scope::new(None, reserved);
        let own = analyze(&root.blocks);
        if own.specs.is_empty() {
            self.report(&own);
            self.preamble_notes = notes(&own.notes);
        } else {
            let prefix = scope.prefix(PhaseKind::Unphased, "");
            let start = self.map.pos(spec_start(&own.specs[0]));
            let mut p = phase(PhaseKind::Unphased, "Steps", start, 0);
            self.fill(&mut p, &own, &prefix);
            self.phases.push(p);
        }
        let mut phases = std::mem::take(&mut self.phases);
        let plan_children: Vec<&Section> = root
            .children
            .iter()
            .filter(|s| {
                let rollback = headings::reference_kind(s.title()) == ReferenceKind::Rollback
                    && headings::phase_kind(s.title()).is_none_or(|k| k == PhaseKind::Rollback);
                if rollback {
                    self.top_section(s, false);
                }
                !rollback
            })
            .collect();
        for s in plan_children {
            self.plan_one(s, 0, &mut scope, &mut phases, false);
        }
        self.phases = phases;
    }

    /// The sections of a plan, each a phase, a group or a reference.
    fn plan(
        &mut self,
        sections: &[Section],
        depth: u32,
        scope: &mut Scope,
        out: &mut Vec<Phase>,
        compat: bool,
    ) {
        for s in sections {
            self.plan_one(s, depth, scope, out, compat);
        }
    }

    /// One section of a plan. `compat`: a known phase name is a phase even
    /// without steps, as in the environment sections of the seed's shape.
    fn plan_one(&mut self, s: &Section, depth: u32, scope: &mut Scope, out: &mut Vec<Phase>, compat: bool) {
        let title = s.title();
        let kind = headings::phase_kind(title);
        let named = headings::named_reference(title);
        let procedure = holds_procedure(s);
        if let Some(named) = named.filter(|_| kind.is_none() || !procedure) {
            self.reference(s, named);
            self.never_runs(&s.all_blocks(), &format!("the '{title}' section"));
            return;
        }
        let phase_anyway = compat && kind.is_some();
        if !(procedure || phase_anyway) {
            self.reference(s, ReferenceKind::Other);
            // Only quoted blocks can run here; they are text, and said so.
            self.never_runs(&s.all_blocks(), &format!("a quote in the '{title}' section"));
            return;
        }
        let kind = kind.unwrap_or(PhaseKind::Other);
        let own = analyze(&s.blocks);
        let prefix = scope.prefix(kind, title);
        let pos = self.pos_of(s);
        let mut p = phase(kind, title, pos, depth);
        self.fill(&mut p, &own, &prefix);
        if p.steps.is_empty() && step_like_prose(s, &own) {
            if let Some((para, start)) = own.first_paragraph {
                let holes: Vec<Range<usize>> = own.notes.iter().map(|n| n.range.clone()).collect();
                let src = Source {
                    start,
                    title: para.to_string(),
                    body: steps::prose_body(self.text, s.body_start..s.own_end, &holes),
                    fences: Vec::new(),
                    notes: Vec::new(),
                    checked: false,
                };
                let step = self.build(src, format!("{prefix}.1"), None);
                p.steps.push(step);
            }
        }
        if let Some(later) = out
            .iter()
            .rev()
            .take_while(|q| q.depth >= depth)
            .filter(|q| q.depth == depth && is_forward(q.kind) && q.kind > kind)
            .map(|q| q.kind)
            .max()
            .filter(|_| is_forward(kind))
        {
            self.diags.push(Diagnostic::warning(
                pos,
                format!(
                    "the {} phase comes after {}; phases run in the order written, so move it up (the natural order is Prerequisites, Preparation, Execution, Validation, Post-Deployment)",
                    kind.label(),
                    later.label()
                ),
            ));
        }
        out.push(p);
        self.plan(&s.children, depth + 1, scope, out, compat);
    }

    /// Build the steps of `own` into `p`, with ids `PREFIX.N` (sub-steps
    /// `PREFIX.N.M`); notes not inside a step are the phase's.
    fn fill(&mut self, p: &mut Phase, own: &Analysis, prefix: &str) {
        let mut step_notes: Vec<Range<usize>> = Vec::new();
        let mut n = 0;
        for spec in &own.specs {
            n += 1;
            let id = format!("{prefix}.{n}");
            match spec {
                Spec::Item { item, extra } => {
                    let (parent, subs) = steps::item_sources(self.text, self.map, item, extra);
                    let step = self.build(parent, id, None);
                    let parent_id = step.id.clone();
                    p.steps.push(step);
                    for (m, sub) in subs.into_iter().enumerate() {
                        let step = self.build(sub, format!("{parent_id}.{}", m + 1), Some(parent_id.clone()));
                        p.steps.push(step);
                    }
                }
                Spec::Prose {
                    title,
                    start,
                    range,
                    fences,
                } => {
                    // A block right under a heading in the author's words is
                    // what the heading says; under a generic phase name
                    // ("Execution") its command says more.
                    let title = if title.is_empty() && n == 1 && p.kind == PhaseKind::Other {
                        &p.title
                    } else {
                        title
                    };
                    let inside: Vec<&Note> = own
                        .notes
                        .iter()
                        .copied()
                        .filter(|note| range.start <= note.range.start && note.range.start < range.end)
                        .collect();
                    step_notes.extend(inside.iter().map(|note| note.range.clone()));
                    let holes: Vec<Range<usize>> = inside.iter().map(|note| note.range.clone()).collect();
                    let src = Source {
                        start: *start,
                        title: title.clone(),
                        body: steps::prose_body(self.text, range.clone(), &holes),
                        fences: fences.clone(),
                        notes: inside,
                        checked: false,
                    };
                    let step = self.build(src, id, None);
                    p.steps.push(step);
                }
            }
        }
        let own_notes: Vec<&Note> = own
            .notes
            .iter()
            .copied()
            .filter(|note| !step_notes.contains(&note.range))
            .collect();
        p.notes = notes(&own_notes);
        self.report(own);
    }

    fn build(&mut self, src: Source, default_id: String, parent: Option<String>) -> Step {
        let built = self.steps.step(src, default_id, parent, self.diags);
        self.ids
            .push((built.step.id.clone(), built.id_pos, built.explicit));
        built.step
    }

    /// Report what of `a` is not a step: tables of contents, quoted commands.
    fn report(&mut self, a: &Analysis) {
        for range in &a.link_lists {
            self.not_step(
                range.clone(),
                "a list of links only (a table of contents), not steps".to_string(),
            );
        }
        for f in &a.quoted {
            self.diags.push(Diagnostic::warning(
                self.map.pos(f.start),
                "this block is inside a quote, so it is shown as text and never runs; take it out of the quote to make it a step",
            ));
        }
    }

    fn not_step(&mut self, range: Range<usize>, reason: String) {
        let end = self.text[..range.end].trim_end().len().max(range.start);
        self.not_steps.push(NotAStep {
            pos: self.map.pos(range.start),
            last_line: self.map.pos(end).line,
            reason,
        });
    }

    /// Blocks of a section outside every plan (`place`, e.g. "the 'Notes'
    /// section"): items reported, runnable blocks warned about.
    fn outside(&mut self, blocks: &[&Block], place: &str) {
        let a = analyze(blocks);
        self.report(&a);
        for block in blocks {
            if let Block::List(l) = block
                && !l.links_only()
            {
                let n = l.items.len();
                let what = if n == 1 { "a list item" } else { "list items" };
                self.not_step(
                    l.range.clone(),
                    format!("{n} {what} in {place}, which is outside any environment's plan, not steps"),
                );
            }
        }
        self.never_runs(blocks, place);
    }

    /// Runnable blocks where nothing runs deserve a word: the author meant them to.
    fn never_runs(&mut self, blocks: &[&Block], place: &str) {
        for f in fences_of(blocks.iter().copied())
            .into_iter()
            .filter(|f| steps::runs(f))
        {
            self.diags.push(Diagnostic::warning(
                self.map.pos(f.start),
                format!(
                    "this {} block is in {place}, which is not a phase of any plan or the Rollback section, so it never runs; move it",
                    fence::lang(&f.info)
                ),
            ));
        }
    }

    /// A reference section: the Markdown of it and its sub-sections.
    fn reference(&mut self, s: &Section, kind: ReferenceKind) -> usize {
        let markdown = self
            .text
            .get(s.body_start..s.end)
            .unwrap_or_default()
            .trim()
            .to_string();
        self.references.push(ReferenceSection {
            kind,
            title: s.title().to_string(),
            pos: self.pos_of(s),
            markdown,
            steps: Vec::new(),
        });
        self.references.len() - 1
    }

    /// A fence never closed swallows everything after it; say how much.
    fn unclosed_fences(&mut self, blocks: &[Block]) {
        for f in fences_of(blocks.iter()).into_iter().filter(|f| !f.closed) {
            let from = self.map.pos(f.start);
            let end = self.text[..f.range.end].trim_end().len().max(f.start);
            let to = self.map.pos(end).line;
            let marker: String = self.text[f.start..]
                .chars()
                .take_while(|&c| c == '`' || c == '~')
                .collect();
            let whole = self.text[f.range.end..].trim().is_empty();
            let extent = if whole {
                "the rest of the file"
            } else {
                "the rest of its list item or quote"
            };
            self.diags.push(Diagnostic::warning(
                from,
                format!(
                    "this {marker} block is never closed, so it swallows {extent} (lines {}-{to}, {} lines) as code; end it with a line holding {marker}",
                    from.line,
                    to - from.line + 1
                ),
            ));
        }
    }

    fn finish(self, path: &Path, layout: Layout, title: Option<String>) -> Option<Runbook> {
        let Assembler {
            text,
            fm,
            steps,
            diags,
            mut envs,
            mut prerequisites,
            mut phases,
            references,
            ids,
            preamble_notes,
            ..
        } = self;
        if !preamble_notes.is_empty() {
            let firsts: Vec<&mut Phase> = match (&mut prerequisites, layout) {
                (Some(p), _) => vec![p],
                (None, Layout::Sections) => envs
                    .iter_mut()
                    .filter_map(|(_, e)| e.phases.first_mut())
                    .collect(),
                (None, _) => phases.first_mut().into_iter().collect(),
            };
            for p in firsts {
                p.notes.splice(0..0, preamble_notes.iter().cloned());
            }
        }
        let nothing =
            envs.is_empty() && prerequisites.is_none() && references.is_empty() && phases.is_empty();
        if title.is_none() && nothing {
            diags.push(Diagnostic::error(
                FILE_START,
                "the runbook is empty; start it with a `# Title` and a list of steps",
            ));
            return None;
        }
        let title = match title {
            Some(title) => title,
            None => {
                diags.push(Diagnostic::warning(
                    FILE_START,
                    "the runbook has no title; add a `# Title` line",
                ));
                path.file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
            }
        };
        let environments = match layout {
            Layout::Sections => environments(fm, envs, true, diags),
            Layout::Shared => {
                let declared = (0..fm.environments.len())
                    .filter_map(|i| {
                        let s = &fm.environments[i];
                        s.declared.map(|pos| (i, environment(s, "", pos)))
                    })
                    .collect();
                environments(fm, declared, false, diags)
            }
            Layout::Implicit => vec![environment(&frontmatter::EnvSettings::implicit(), "", FILE_START)],
        };
        if layout != Layout::Sections && phases.iter().all(|p| p.steps.is_empty()) {
            diags.push(Diagnostic::warning(
                FILE_START,
                "the runbook has no steps: write them as a list (`1. Do this`), or as code blocks under headings",
            ));
        }
        for env in &environments {
            let own = match layout {
                Layout::Sections => &env.phases,
                _ => &phases,
            };
            check_environment(env, own, layout == Layout::Sections, diags);
        }
        let shared = prerequisites
            .iter()
            .flat_map(|p| &p.steps)
            .chain(references.iter().flat_map(|r| &r.steps));
        check_shared_sql(shared, &environments, diags);
        check_ids(&ids, diags);
        Some(Runbook {
            path: path.to_path_buf(),
            content_hash: content_hash(text, &steps.includes),
            title,
            variables: fm.variables.clone(),
            contacts: fm.contacts.clone(),
            prerequisites,
            environments,
            layout,
            phases,
            references,
            journal: fm.journal.clone(),
            notify: fm.notify.clone(),
            attach: fm.attach.clone(),
        })
    }
}

/// Every fenced block of `blocks`, those inside list items included.
fn fences_of<'b>(blocks: impl Iterator<Item = &'b Block>) -> Vec<&'b Fence> {
    let mut fences = Vec::new();
    for block in blocks {
        match block {
            Block::Fence(f) => fences.push(f),
            Block::List(l) => fences.extend(l.items.iter().flat_map(Item::all_fences)),
            _ => {}
        }
    }
    fences
}

fn notes(notes: &[&Note]) -> Vec<super::model::Note> {
    notes.iter().map(|n| n.to_model()).collect()
}

fn spec_start(spec: &Spec) -> usize {
    match spec {
        Spec::Item { item, .. } => item.range.start,
        Spec::Prose { start, .. } => *start,
    }
}

fn is_forward(kind: PhaseKind) -> bool {
    !matches!(kind, PhaseKind::Rollback | PhaseKind::Unphased | PhaseKind::Other)
}

/// A section with prose only that still reads as one thing to do: a known
/// phase name (`### Validation` over "Check the dashboards") or a
/// step-like heading (`### Step 3: Celebrate`).
fn step_like_prose(s: &Section, own: &Analysis) -> bool {
    own.specs.is_empty() && own.first_paragraph.is_some() && step_like_heading(s.title())
}

fn step_like_heading(title: &str) -> bool {
    headings::named_reference(title).is_none()
        && (headings::phase_kind(title).is_some() || headings::is_step_like(title))
}

/// Whether a section of a plan is a phase (or a group of phases). Cheaper
/// than [`analyze`] and the same answer: a list that is not only links
/// makes steps, and so does any block outside a quote in a section without one.
fn holds_procedure(s: &Section) -> bool {
    let title = s.title();
    if headings::named_reference(title).is_some() && headings::phase_kind(title).is_none() {
        return false;
    }
    let makes_steps = s.blocks.iter().any(|b| match b {
        Block::List(l) => !l.links_only(),
        Block::Fence(f) => !f.quoted,
        _ => false,
    });
    let prose = || {
        s.blocks
            .iter()
            .any(|b| matches!(b, Block::Paragraph { text, .. } if !text.trim().is_empty()))
    };
    makes_steps || (step_like_heading(title) && prose()) || s.children.iter().any(holds_procedure)
}

fn capitalised(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The environments, their requirements resolved to environment names.
/// With `sections`, front-matter environments without a section are
/// warned about, and their requirements checked all the same.
fn environments(
    fm: &FrontMatter,
    envs: Vec<(usize, Environment)>,
    sections: bool,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Environment> {
    let has_section = |i: usize| envs.iter().any(|(s, _)| *s == i);
    let defined: Vec<usize> = (0..fm.environments.len())
        .filter(|&i| fm.environments[i].declared.is_some() || has_section(i))
        .collect();
    let resolve = |owner: usize, (word, pos): &(String, SourcePos), diags: &mut Vec<Diagnostic>| match defined
        .iter()
        .find(|&&d| fm.environments[d].is_named(word))
    {
        Some(&d) if d == owner => {
            diags.push(Diagnostic::error(
                *pos,
                format!(
                    "environment '{}' cannot require itself; name another environment",
                    fm.environments[owner].name
                ),
            ));
            None
        }
        Some(&d) => Some(fm.environments[d].name.clone()),
        None => {
            let known: Vec<&str> = defined
                .iter()
                .map(|&d| fm.environments[d].name.as_str())
                .collect();
            diags.push(Diagnostic::error(
                *pos,
                format!(
                    "'{word}' is not an environment of this runbook; use one of: {}",
                    known.join(", ")
                ),
            ));
            None
        }
    };
    for &i in &defined {
        let settings = &fm.environments[i];
        if let (Some(declared), false) = (settings.declared, has_section(i)) {
            if sections {
                diags.push(Diagnostic::warning(
                    declared,
                    format!(
                        "environment '{}' has no section naming it; add one, e.g. `## Deployment to {}`",
                        settings.name, settings.name
                    ),
                ));
            }
            for r in settings.requires.iter().chain(&settings.requires_rollback_test) {
                resolve(i, r, diags);
            }
        }
    }
    let mut environments = Vec::with_capacity(envs.len());
    for (settings, mut env) in envs {
        let s = &fm.environments[settings];
        env.requires = s
            .requires
            .iter()
            .filter_map(|r| resolve(settings, r, diags))
            .collect();
        env.requires_rollback_test = s
            .requires_rollback_test
            .as_ref()
            .and_then(|r| resolve(settings, r, diags));
        environments.push(env);
    }
    environments
}

/// Shared prerequisites and rollback steps run in every environment, so
/// their SQL needs every environment to have a database.
fn check_shared_sql<'a>(
    steps: impl Iterator<Item = &'a Step>,
    environments: &[Environment],
    diags: &mut Vec<Diagnostic>,
) {
    let Some(env) = environments.iter().find(|e| e.database == DatabaseSource::None) else {
        return;
    };
    for step in steps.filter(|s| matches!(s.kind, StepKind::Sql { .. })) {
        diags.push(Diagnostic::error(
            step.pos,
            format!(
                "this SQL step runs for every environment, but '{}' has database = \"none\"; give it a database or make the step a shell or manual one",
                env.name
            ),
        ));
    }
}

/// Ids must be unique: sessions and journals refer to steps by id. Ids
/// under `gate.` are runsheet's own (the promotion gates it adds to a
/// plan); a runbook may not take them.
fn check_ids(ids: &[(String, SourcePos, bool)], diags: &mut Vec<Diagnostic>) {
    let mut first_use: HashMap<&str, SourcePos> = HashMap::with_capacity(ids.len());
    for (id, pos, explicit) in ids {
        if *explicit && super::plan::is_generated_id(id) {
            diags.push(Diagnostic::error(
                *pos,
                format!(
                    "step id '{id}' is reserved: runsheet names its own promotion gates gate.…; choose another {{id=NAME}}"
                ),
            ));
        }
        match first_use.get(id.as_str()) {
            Some(first) => diags.push(Diagnostic::error(
                *pos,
                format!(
                    "duplicate step id '{id}' (first used at {first}); give this step its own {{id=NAME}}"
                ),
            )),
            None => {
                first_use.insert(id, *pos);
            }
        }
    }
}

/// Problems inside one environment's plan (`phases`: the phases it runs).
fn check_environment(env: &Environment, phases: &[Phase], own_section: bool, diags: &mut Vec<Diagnostic>) {
    if own_section && phases.iter().all(|p| p.steps.is_empty()) {
        diags.push(Diagnostic::warning(
            env.pos,
            format!(
                "environment '{}' has no steps; add phases with numbered steps under its heading",
                env.name
            ),
        ));
    }
    if env.database == DatabaseSource::None {
        for step in phases
            .iter()
            .flat_map(|p| &p.steps)
            .filter(|s| matches!(s.kind, StepKind::Sql { .. }))
        {
            diags.push(Diagnostic::error(
                step.pos,
                format!(
                    "SQL step in environment '{}', whose database is \"none\"; give the environment a database or remove the SQL",
                    env.name
                ),
            ));
        }
    }
}

fn environment(s: &frontmatter::EnvSettings, heading: &str, pos: SourcePos) -> Environment {
    Environment {
        name: s.name.clone(),
        aliases: s.aliases.clone(),
        heading: heading.to_string(),
        pos,
        database: s.database.clone(),
        requires: Vec::new(),
        requires_rollback_test: None,
        confirm: s.confirm,
        signoffs: s.signoffs,
        separation_of_duties: s.separation_of_duties,
        min_backups: s.min_backups,
        hold: s.hold,
        lock_timeout: s.lock_timeout,
        system_identifier: s.system_identifier.clone(),
        estimate: s.estimate,
        window: s.window.clone(),
        phases: Vec::new(),
    }
}

fn phase(kind: PhaseKind, title: &str, pos: SourcePos, depth: u32) -> Phase {
    Phase {
        kind,
        title: title.to_string(),
        pos,
        depth,
        notes: Vec::new(),
        steps: Vec::new(),
    }
}

/// SHA-256 over the runbook and every included file (path as written and
/// bytes, length-prefixed so no two different inputs hash alike).
fn content_hash(text: &str, includes: &[(String, Vec<u8>)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    for (path, bytes) in includes {
        for part in [path.as_bytes(), bytes] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
