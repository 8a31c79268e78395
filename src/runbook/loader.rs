//! Loading a runbook: file bytes to a [`Runbook`] plus diagnostics.
//!
//! The document is read once by pulldown-cmark into an outline
//! ([`super::markdown`]); this module gives the outline its meaning
//! (sections, environments, phases, steps) and checks the whole.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::diagnostic::Diagnostic;
use super::fence::{self, Runner};
use super::frontmatter::{self, FrontMatter, Split};
use super::headings;
use super::markdown::{self, Block, Fence, Item};
use super::model::{
    DatabaseSource, Environment, Phase, PhaseKind, ReferenceKind, ReferenceSection, Runbook, SourcePos, Step,
    StepKind,
};
use super::source::{self, SourceMap};
use super::steps::StepBuilder;

/// The result of loading: the runbook when it means something, and every
/// diagnostic, sorted by position. A runbook with error diagnostics must not run.
#[derive(Debug)]
pub struct Loaded {
    pub runbook: Option<Runbook>,
    pub diagnostics: Vec<Diagnostic>,
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
    let bytes = std::fs::read(path).map_err(|source| LoadError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(load_bytes(path, &bytes))
}

/// Load runbook bytes as if read from `path` (which locates `{file=…}` includes).
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Loaded {
    let mut diagnostics = Vec::new();
    let runbook = match source::decode(bytes) {
        Ok(text) => build(path, text, &mut diagnostics),
        Err(d) => {
            diagnostics.push(d);
            None
        }
    };
    diagnostics.sort_by_key(|d| d.pos);
    Loaded { runbook, diagnostics }
}

/// Load runbook text as if read from `path`.
pub fn load_str(path: &Path, text: &str) -> Loaded {
    load_bytes(path, text.as_bytes())
}

const FILE_START: SourcePos = SourcePos { line: 1, col: 1 };

fn build(path: &Path, text: &str, diags: &mut Vec<Diagnostic>) -> Option<Runbook> {
    let map = SourceMap::new(text);
    let (fm, body) = match frontmatter::split(text) {
        Split::Unterminated => {
            diags.push(Diagnostic::error(
                FILE_START,
                "the front matter opened by +++ is never closed; end it with a line holding just +++",
            ));
            return None;
        }
        Split::Absent { body } => (FrontMatter::default(), body),
        Split::Present { toml, body } => (frontmatter::parse(&map, text, toml, diags), body),
    };
    let mut asm = Assembler {
        text,
        map: &map,
        fm: &fm,
        steps: StepBuilder::new(&map, text, path),
        diags,
        h1: None,
        envs: Vec::new(),
        prerequisites: None,
        references: Vec::new(),
        section: Section::Preamble,
        open_reference: None,
        ids: Vec::new(),
        skipped: Vec::new(),
        rollback: None,
    };
    for block in markdown::outline(text, body) {
        asm.block(&block);
    }
    asm.close_reference(text.len());
    asm.finish(path)
}

/// The `##` section the walk is in.
enum Section {
    /// Before the first `##`.
    Preamble,
    Env {
        env: usize,
        phase: Slot,
    },
    Shared,
    Reference(usize),
    /// A section already reported as an error (a duplicate).
    Ignored,
}

/// The `###` phase of an environment section the walk is in.
#[derive(Clone, Copy)]
enum Slot {
    /// Before any `###`.
    None,
    Phase(usize),
    /// An unknown or duplicate phase, already reported.
    Unknown,
}

struct Assembler<'a> {
    text: &'a str,
    map: &'a SourceMap<'a>,
    fm: &'a FrontMatter,
    steps: StepBuilder<'a>,
    diags: &'a mut Vec<Diagnostic>,
    h1: Option<String>,
    /// Environments with a section, in document order, with the index of
    /// their settings in `fm.environments`.
    envs: Vec<(usize, Environment)>,
    prerequisites: Option<Phase>,
    references: Vec<ReferenceSection>,
    section: Section,
    /// The reference section whose Markdown runs up to the next `##`.
    open_reference: Option<(usize, usize)>,
    /// Every step id with where it was decided, in document order.
    ids: Vec<(String, SourcePos)>,
    /// Environments with a phase already reported as an error, whose steps
    /// were therefore skipped: "no steps" would only repeat that error.
    skipped: Vec<usize>,
    /// The first Rollback reference section: the one whose steps can run.
    rollback: Option<usize>,
}

impl Assembler<'_> {
    fn block(&mut self, block: &Block) {
        match block {
            Block::Heading {
                level: 1,
                text,
                range,
            } => self.title(text, range),
            Block::Heading {
                level: 2,
                text,
                range,
            } => self.section(text, range),
            Block::Heading {
                level: 3,
                text,
                range,
            } => self.phase(text, range),
            Block::Heading { .. } => {}
            Block::List(items) => self.list(items),
            Block::LooseFence(f) => {
                let (info, _) = fence::parse(&f.info);
                if info.runner != Runner::None {
                    self.diags.push(Diagnostic::warning(
                        self.map.pos(f.start),
                        format!(
                            "this {} block is not inside a list item, so it never runs; make it part of a numbered step",
                            info.lang
                        ),
                    ));
                }
            }
        }
    }

    fn title(&mut self, text: &str, range: &Range<usize>) {
        if self.h1.is_none() {
            self.h1 = Some(text.to_string());
        } else {
            self.diags.push(Diagnostic::warning(
                self.map.pos(range.start),
                "a second `#` title; a runbook has one title, so use `##` for sections",
            ));
        }
    }

    fn section(&mut self, heading: &str, range: &Range<usize>) {
        self.close_reference(range.start);
        let pos = self.map.pos(range.start);
        let named: Vec<usize> = (0..self.fm.environments.len())
            .filter(|&i| {
                let s = &self.fm.environments[i];
                headings::names(heading, &s.name) || s.aliases.iter().any(|a| headings::names(heading, a))
            })
            .collect();
        if let [settings] = named[..] {
            self.section = match self.envs.iter().find(|(s, _)| *s == settings) {
                Some((_, first)) => {
                    self.diags.push(Diagnostic::error(
                        pos,
                        format!(
                            "environment '{}' already has a section at {}; merge the two sections",
                            first.name, first.pos
                        ),
                    ));
                    Section::Ignored
                }
                None => {
                    self.envs.push((
                        settings,
                        environment(&self.fm.environments[settings], heading, pos),
                    ));
                    Section::Env {
                        env: self.envs.len() - 1,
                        phase: Slot::None,
                    }
                }
            };
            return;
        }
        if named.len() > 1 {
            let names: Vec<&str> = named
                .iter()
                .map(|&i| self.fm.environments[i].name.as_str())
                .collect();
            self.diags.push(Diagnostic::warning(
                pos,
                format!(
                    "heading names several environments ({}), so it is read as a reference section; give each environment its own `##` section",
                    names.join(", ")
                ),
            ));
        } else if headings::phase_kind(heading) == Some(PhaseKind::Prerequisites) {
            self.section = match &self.prerequisites {
                Some(first) => {
                    self.diags.push(Diagnostic::error(
                        pos,
                        format!(
                            "the shared prerequisites already start at {}; merge the two sections",
                            first.pos
                        ),
                    ));
                    Section::Ignored
                }
                None => {
                    self.prerequisites = Some(phase(PhaseKind::Prerequisites, heading, pos));
                    Section::Shared
                }
            };
            return;
        }
        let kind = headings::reference_kind(heading);
        if kind == ReferenceKind::Rollback {
            match self.rollback {
                Some(first) => self.diags.push(Diagnostic::warning(
                    pos,
                    format!(
                        "a second Rollback section (the first is at {}); only the first one's steps can run, so merge them",
                        self.references[first].pos
                    ),
                )),
                None => self.rollback = Some(self.references.len()),
            }
        }
        self.references.push(ReferenceSection {
            kind,
            title: heading.to_string(),
            pos,
            markdown: String::new(),
            steps: Vec::new(),
        });
        self.open_reference = Some((self.references.len() - 1, range.end));
        self.section = Section::Reference(self.references.len() - 1);
    }

    fn phase(&mut self, heading: &str, range: &Range<usize>) {
        let Section::Env { env, phase: slot } = &mut self.section else {
            return;
        };
        let pos = self.map.pos(range.start);
        let environment = &mut self.envs[*env].1;
        let Some(kind) = headings::phase_kind(heading) else {
            self.diags.push(Diagnostic::error(
                pos,
                format!(
                    "unknown phase '{heading}'; expected one of {} (or a synonym such as Setup, Deploy, Verification)",
                    headings::phase_names()
                ),
            ));
            *slot = Slot::Unknown;
            self.skipped.push(*env);
            return;
        };
        if let Some(first) = environment.phases.iter().find(|p| p.kind == kind) {
            self.diags.push(Diagnostic::error(
                pos,
                format!(
                    "environment '{}' already has its {} phase at {}; merge the two",
                    environment.name,
                    kind.label(),
                    first.pos
                ),
            ));
            *slot = Slot::Unknown;
            self.skipped.push(*env);
            return;
        }
        let forward = |k: PhaseKind| k != PhaseKind::Rollback && k != PhaseKind::Unphased;
        let later = environment
            .phases
            .iter()
            .map(|p| p.kind)
            .filter(|&k| forward(k) && k > kind)
            .max();
        if let (true, Some(later)) = (forward(kind), later) {
            self.diags.push(Diagnostic::warning(
                pos,
                format!(
                    "the {} phase comes after {}; phases run in the order written, so move it up (the natural order is Prerequisites, Preparation, Execution, Validation, Post-Deployment)",
                    kind.label(),
                    later.label()
                ),
            ));
        }
        environment.phases.push(phase(kind, heading, pos));
        *slot = Slot::Phase(environment.phases.len() - 1);
    }

    fn list(&mut self, items: &[Item]) {
        match self.section {
            Section::Env { env, phase: slot } => {
                let p = match slot {
                    Slot::Phase(p) => p,
                    Slot::Unknown => return,
                    Slot::None => {
                        let environment = &mut self.envs[env].1;
                        let pos = items
                            .first()
                            .map_or(environment.pos, |i| self.map.pos(i.range.start));
                        self.diags.push(Diagnostic::warning(
                            pos,
                            format!(
                                "steps outside any phase in '{}'; put them under a `###` phase heading such as `### Execution`",
                                environment.heading
                            ),
                        ));
                        environment
                            .phases
                            .push(phase(PhaseKind::Unphased, PhaseKind::Unphased.label(), pos));
                        let p = environment.phases.len() - 1;
                        self.section = Section::Env {
                            env,
                            phase: Slot::Phase(p),
                        };
                        p
                    }
                };
                for item in items {
                    let environment = &self.envs[env].1;
                    let phase = &environment.phases[p];
                    let id = format!(
                        "{}.{}.{}",
                        environment.name,
                        phase.kind.slug(),
                        phase.steps.len() + 1
                    );
                    let step = self.step(item, id);
                    self.envs[env].1.phases[p].steps.push(step);
                }
            }
            Section::Shared => {
                for item in items {
                    let n = self.prerequisites.as_ref().map_or(0, |p| p.steps.len()) + 1;
                    let step = self.step(item, format!("prerequisites.{n}"));
                    if let Some(p) = &mut self.prerequisites {
                        p.steps.push(step);
                    }
                }
            }
            Section::Reference(r) if self.rollback == Some(r) => {
                for item in items {
                    let step = self.step(item, format!("rollback.{}", self.references[r].steps.len() + 1));
                    self.references[r].steps.push(step);
                }
            }
            Section::Reference(r) => {
                let place = format!("the '{}' section", self.references[r].title);
                self.warn_never_runs(items, &place);
            }
            Section::Preamble => self.warn_never_runs(items, "the text before the first `##` section"),
            Section::Ignored => {}
        }
    }

    fn step(&mut self, item: &Item, default_id: String) -> Step {
        let built = self.steps.step(item, default_id, self.diags);
        self.ids.push((built.step.id.clone(), built.id_pos));
        built.step
    }

    /// Runnable blocks where nothing runs deserve a word: the author meant them to.
    fn warn_never_runs(&mut self, items: &[Item], place: &str) {
        for f in items.iter().flat_map(|i| &i.fences) {
            let (info, _) = fence::parse(&f.info);
            if info.runner != Runner::None {
                self.diags.push(never_runs(self.map, f, &info.lang, place));
            }
        }
    }

    fn close_reference(&mut self, end: usize) {
        if let Some((r, start)) = self.open_reference.take() {
            self.references[r].markdown = self.text.get(start..end).unwrap_or_default().trim().to_string();
        }
    }

    fn finish(self, path: &Path) -> Option<Runbook> {
        let Assembler {
            text,
            fm,
            steps,
            diags,
            h1,
            envs,
            prerequisites,
            references,
            ids,
            skipped,
            ..
        } = self;
        if fm.title.is_none()
            && h1.is_none()
            && envs.is_empty()
            && prerequisites.is_none()
            && references.is_empty()
        {
            diags.push(Diagnostic::error(
                FILE_START,
                "the runbook is empty; start it with a `# Title` and an environment section such as `## Development` with numbered steps",
            ));
            return None;
        }
        let title = match fm.title.clone().or(h1) {
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
        if envs.is_empty() {
            diags.push(Diagnostic::warning(
                FILE_START,
                "no `##` section names an environment, so nothing can run; name one in a heading, e.g. `## Deployment to Development`",
            ));
        }
        let environments = environments(fm, envs, &skipped, diags);
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
            references,
        })
    }
}

/// The environments with a section, their requirements resolved to
/// environment names; front-matter environments without a section are
/// warned about, and their requirements checked all the same.
fn environments(
    fm: &FrontMatter,
    envs: Vec<(usize, Environment)>,
    skipped: &[usize],
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
            diags.push(Diagnostic::warning(
                declared,
                format!(
                    "environment '{}' has no `##` section naming it; add one, e.g. `## Deployment to {}`",
                    settings.name, settings.name
                ),
            ));
            for r in settings.requires.iter().chain(&settings.requires_rollback_test) {
                resolve(i, r, diags);
            }
        }
    }
    let mut environments = Vec::with_capacity(envs.len());
    for (index, (settings, mut env)) in envs.into_iter().enumerate() {
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
        check_environment(&env, skipped.contains(&index), diags);
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

/// Ids must be unique: sessions and journals refer to steps by id.
fn check_ids(ids: &[(String, SourcePos)], diags: &mut Vec<Diagnostic>) {
    let mut first_use: HashMap<&str, SourcePos> = HashMap::with_capacity(ids.len());
    for (id, pos) in ids {
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

fn never_runs(map: &SourceMap, f: &Fence, lang: &str, place: &str) -> Diagnostic {
    Diagnostic::warning(
        map.pos(f.start),
        format!(
            "this {lang} block is in {place}, which is not an environment's phase or the Rollback section, so it never runs; move it"
        ),
    )
}

/// Problems inside one environment's plan.
fn check_environment(env: &Environment, had_bad_phase: bool, diags: &mut Vec<Diagnostic>) {
    if !had_bad_phase && env.phases.iter().all(|p| p.steps.is_empty()) {
        diags.push(Diagnostic::warning(
            env.pos,
            format!(
                "environment '{}' has no steps; add `###` phases with numbered steps under its heading",
                env.name
            ),
        ));
    }
    if env.database == DatabaseSource::None {
        for step in env
            .phases
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
        min_backups: s.min_backups,
        estimate: s.estimate,
        window: s.window.clone(),
        phases: Vec::new(),
    }
}

fn phase(kind: PhaseKind, title: &str, pos: SourcePos) -> Phase {
    Phase {
        kind,
        title: title.to_string(),
        pos,
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
