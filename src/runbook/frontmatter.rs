//! Front matter. TOML between `+++` lines is runsheet's own: title,
//! variables, contacts and the environments the runbook knows (defaults
//! merged in); keys it does not know (Hugo's `weight`, `date`, …) are
//! warned about and ignored. YAML between `---` lines (Hugo, Jekyll,
//! MkDocs, GitHub issue templates) gives its `title` and nothing else.
//!
//! Values are read through `toml::Spanned` so every problem is reported at
//! its line:col in the runbook file, not in the front matter alone.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::time::Duration;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

use super::diagnostic::Diagnostic;
use super::duration::{parse_duration, parse_estimate};
use super::model::{
    AttachRight, DatabaseSource, Estimate, Hold, IMPLICIT_ENVIRONMENT, Notify, SourcePos, ValueSource,
    Variable, WebhookUrl,
};
use super::source::SourceMap;

/// Where the front matter sits in the file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Split {
    /// No front matter: the Markdown starts at this offset (after a BOM).
    Absent {
        body: usize,
    },
    Present {
        toml: Range<usize>,
        body: usize,
    },
    /// YAML between `---` lines.
    Yaml {
        yaml: Range<usize>,
        body: usize,
    },
    /// `+++` opened and never closed.
    Unterminated,
}

/// Find the front matter: a `+++` first line, up to the next `+++` line;
/// or a `---` first line up to the next `---` (or `...`) line, when what
/// lies between reads as YAML (otherwise the `---` is a thematic break).
pub(crate) fn split(text: &str) -> Split {
    let start = if text.starts_with('\u{FEFF}') {
        '\u{FEFF}'.len_utf8()
    } else {
        0
    };
    let mut lines = LineIter { text, at: start };
    let yaml = match lines.next() {
        Some((_, line)) if line.trim_end() == "+++" => false,
        Some((_, line)) if line.trim_end() == "---" => true,
        _ => return Split::Absent { body: start },
    };
    let inner_start = lines.at;
    for (line_start, line) in lines.by_ref() {
        let line = line.trim_end();
        if !yaml && line == "+++" {
            return Split::Present {
                toml: inner_start..line_start,
                body: lines.at,
            };
        }
        if yaml && (line == "---" || line == "...") {
            return Split::Yaml {
                yaml: inner_start..line_start,
                body: lines.at,
            };
        }
        if yaml && !is_yaml_line(line) {
            break;
        }
    }
    if yaml {
        Split::Absent { body: start }
    } else {
        Split::Unterminated
    }
}

/// A line YAML front matter is made of: `key: value` at the margin, an
/// indented continuation, a list entry, a comment, or nothing.
fn is_yaml_line(line: &str) -> bool {
    if line.trim().is_empty() || line.starts_with([' ', '\t', '#', '-']) {
        return true;
    }
    let key = line.split(':').next().unwrap_or("");
    line.len() > key.len()
        && !key.is_empty()
        && key
            .trim_matches(['"', '\''])
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' ' | '.'))
}

/// The `title` of YAML front matter, if it has a non-empty one: a plain or
/// quoted scalar, or a folded (`>`) / literal (`|`) block joined into a line.
pub(crate) fn yaml_title(yaml: &str) -> Option<String> {
    let mut lines = yaml.lines();
    while let Some(line) = lines.next() {
        let Some(value) = line.strip_prefix("title:") else {
            continue;
        };
        let value = value.trim();
        let title = if value.starts_with(['>', '|']) {
            lines
                .by_ref()
                .take_while(|l| l.starts_with([' ', '\t']) || l.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            let unquoted = if value.len() >= 2
                && ((value.starts_with('"') && value.ends_with('"'))
                    || (value.starts_with('\'') && value.ends_with('\'')))
            {
                &value[1..value.len() - 1]
            } else {
                value.split(" #").next().unwrap_or(value)
            };
            unquoted.to_string()
        };
        let title = title.trim().to_string();
        return (!title.is_empty()).then_some(title);
    }
    None
}

/// The top-level keys runsheet reads from TOML front matter.
const KNOWN_KEYS: [&str; 8] = [
    "title",
    "variables",
    "contacts",
    "environments",
    "journal",
    "notify",
    "notify_url",
    "attach",
];

/// Lines with their start offsets; `at` is where the next line starts.
struct LineIter<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for LineIter<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.text.get(self.at..).filter(|r| !r.is_empty())?;
        let start = self.at;
        let len = rest.find('\n').map_or(rest.len(), |i| i + 1);
        self.at += len;
        Some((start, &rest[..len]))
    }
}

/// The front matter, validated, with the default environments merged in.
#[derive(Debug)]
pub(crate) struct FrontMatter {
    pub title: Option<String>,
    pub variables: BTreeMap<String, Variable>,
    pub contacts: BTreeMap<String, String>,
    pub environments: Vec<EnvSettings>,
    /// The team journal database's URL (`journal = "postgres://…"`).
    pub journal: Option<String>,
    /// `notify = "command"` and `notify_url = "http://…"`.
    pub notify: Notify,
    /// What attached terminals may do besides signing and notes (`attach = ["pause", "abort"]`).
    pub attach: Vec<AttachRight>,
}

/// An environment the runbook knows, from the defaults or the front matter.
#[derive(Debug)]
pub(crate) struct EnvSettings {
    pub name: String,
    /// Where the front matter declares it; `None` for a default environment.
    pub declared: Option<SourcePos>,
    pub aliases: Vec<String>,
    pub database: DatabaseSource,
    /// Environment names as written, with their positions; resolved by the loader.
    pub requires: Vec<(String, SourcePos)>,
    pub requires_rollback_test: Option<(String, SourcePos)>,
    pub confirm: bool,
    pub signoffs: u32,
    pub separation_of_duties: bool,
    pub min_backups: u32,
    pub hold: Hold,
    pub lock_timeout: Option<Duration>,
    pub system_identifier: Option<String>,
    pub estimate: Option<Estimate>,
    pub window: Option<String>,
}

impl EnvSettings {
    fn default_named(name: &str, alias: &str) -> Self {
        EnvSettings {
            name: name.to_string(),
            declared: None,
            aliases: vec![alias.to_string()],
            database: DatabaseSource::PgEnv,
            requires: Vec::new(),
            requires_rollback_test: None,
            confirm: false,
            signoffs: 1,
            separation_of_duties: false,
            min_backups: 0,
            hold: Hold::None,
            lock_timeout: None,
            system_identifier: None,
            estimate: None,
            window: None,
        }
    }

    /// An environment with the default settings and no aliases.
    fn without_aliases(name: &str) -> Self {
        EnvSettings {
            aliases: Vec::new(),
            ..EnvSettings::default_named(name, "")
        }
    }

    /// The one environment of a runbook that defines none.
    pub(crate) fn implicit() -> Self {
        EnvSettings::without_aliases(IMPLICIT_ENVIRONMENT)
    }

    pub(crate) fn is_named(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }
}

impl Default for FrontMatter {
    fn default() -> Self {
        FrontMatter {
            title: None,
            variables: BTreeMap::new(),
            contacts: BTreeMap::new(),
            journal: None,
            notify: Notify::default(),
            attach: Vec::new(),
            environments: vec![
                EnvSettings::default_named("development", "dev"),
                EnvSettings::default_named("staging", "stage"),
                EnvSettings::default_named("production", "prod"),
            ],
        }
    }
}

/// The front matter's own tables; unknown top-level keys are warned about
/// separately, so they are not denied here.
#[derive(Deserialize)]
struct RawFrontMatter {
    title: Option<String>,
    #[serde(default)]
    variables: BTreeMap<Spanned<String>, Spanned<StrOr<RawVariable>>>,
    #[serde(default)]
    contacts: BTreeMap<String, String>,
    #[serde(default)]
    environments: BTreeMap<Spanned<String>, RawEnvironment>,
    journal: Option<String>,
    notify: Option<String>,
    notify_url: Option<Spanned<String>>,
    #[serde(default)]
    attach: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    value: Option<String>,
    env: Option<String>,
    default: Option<String>,
    #[serde(default)]
    secret: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    #[serde(default)]
    aliases: Vec<Spanned<String>>,
    database: Option<Spanned<StrOr<RawDatabase>>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    requires_rollback_test: Option<Spanned<String>>,
    confirm: Option<bool>,
    signoffs: Option<Spanned<i64>>,
    /// Any TOML value, so that a wrong one is a diagnostic at its place,
    /// not a front matter that fails to parse.
    separation_of_duties: Option<Spanned<toml::Value>>,
    min_backups: Option<Spanned<i64>>,
    hold: Option<Spanned<String>>,
    lock_timeout: Option<Spanned<String>>,
    system_identifier: Option<Spanned<String>>,
    estimate: Option<Spanned<String>>,
    window: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    env: String,
    default: Option<String>,
}

/// What an inline table stands for, for the "expected" part of a type error.
trait Shape {
    const EXPECTING: &'static str;
}

impl Shape for RawVariable {
    const EXPECTING: &'static str =
        "a string or a table like { value = \"...\", secret = true } or { env = \"VAR\", default = \"...\" }";
}

impl Shape for RawDatabase {
    const EXPECTING: &'static str =
        "a URL, \"env:VAR\", \"none\" or a table like { env = \"VAR\", default = \"URL\" }";
}

/// A value written either as a string or as an inline table.
enum StrOr<T> {
    Str(String),
    Table(T),
}

impl<'de, T: Deserialize<'de> + Shape> Deserialize<'de> for StrOr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrOrVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de> + Shape> Visitor<'de> for StrOrVisitor<T> {
            type Value = StrOr<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(StrOr::Str(v.to_string()))
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(StrOr::Table)
            }
        }

        deserializer.deserialize_any(StrOrVisitor(PhantomData))
    }
}

/// Parse and validate the front matter at `toml` (a byte range of the file).
/// Problems become diagnostics; what could be read is kept.
pub(crate) fn parse(
    map: &SourceMap,
    text: &str,
    toml: Range<usize>,
    diags: &mut Vec<Diagnostic>,
) -> FrontMatter {
    let mut fm = FrontMatter::default();
    let base = toml.start;
    let raw: RawFrontMatter = match toml::from_str(&text[toml.clone()]) {
        Ok(raw) => raw,
        Err(e) => {
            let offset = e.span().map_or(0, |s| s.start);
            diags.push(Diagnostic::error(
                map.pos(base + offset),
                format!(
                    "front matter: {}; fix the TOML between the +++ lines",
                    e.message().trim_end()
                ),
            ));
            return fm;
        }
    };
    let at = |span: Range<usize>| map.pos(base + span.start);
    if let Ok(keys) = toml::from_str::<BTreeMap<Spanned<String>, de::IgnoredAny>>(&text[toml.clone()]) {
        for key in keys
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.get_ref().as_str()))
        {
            let hint = KNOWN_KEYS
                .iter()
                .find(|known| edit_distance(known, key.get_ref()) <= 2)
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            diags.push(Diagnostic::warning(
                at(key.span()),
                format!(
                    "front matter key `{}` is not one runsheet reads{hint}, so it is ignored; runsheet reads {}",
                    key.get_ref(),
                    KNOWN_KEYS.join(", ")
                ),
            ));
        }
    }
    fm.title = raw.title;
    fm.contacts = raw.contacts;
    fm.journal = raw.journal.filter(|url| !url.trim().is_empty());
    fm.notify.command = raw.notify.filter(|c| !c.trim().is_empty());
    if let Some(url) = raw.notify_url {
        let pos = at(url.span());
        let url = url.into_inner();
        match webhook_url(&url) {
            Ok(url) => fm.notify.url = Some(url),
            Err(why) => diags.push(Diagnostic::error(pos, format!("notify_url: {why}"))),
        }
    }
    for word in raw.attach {
        match AttachRight::ALL.into_iter().find(|r| r.word() == word.get_ref().trim()) {
            Some(right) if !fm.attach.contains(&right) => fm.attach.push(right),
            Some(_) => {}
            None => diags.push(Diagnostic::error(
                at(word.span()),
                format!(
                    "attach = [..] lists what attached terminals may do besides signing and notes: \"pause\", \"abort\"; not {:?}",
                    word.get_ref()
                ),
            )),
        }
    }
    fm.attach.sort();
    for (name, value) in raw.variables {
        if !is_var_name(name.get_ref()) {
            diags.push(Diagnostic::error(
                at(name.span()),
                format!(
                    "variable name '{}' is not an environment variable name; use letters, digits and '_'",
                    name.get_ref()
                ),
            ));
            continue;
        }
        let pos = at(value.span());
        if let Some(var) = variable(value.into_inner(), pos, diags) {
            fm.variables.insert(name.into_inner(), var);
        }
    }
    for (name, raw_env) in raw.environments {
        let pos = at(name.span());
        let name = name.into_inner();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            diags.push(Diagnostic::error(
                pos,
                format!("environment name '{name}' must be one word of letters, digits, '-' or '_'"),
            ));
            continue;
        }
        let index = match fm
            .environments
            .iter()
            .position(|e| e.name.eq_ignore_ascii_case(&name))
        {
            Some(i) => i,
            None => {
                if let Some(other) = fm.environments.iter().find(|e| e.is_named(&name)) {
                    diags.push(Diagnostic::error(
                        pos,
                        format!(
                            "environment '{name}' is already an alias of '{}'; choose another name",
                            other.name
                        ),
                    ));
                    continue;
                }
                fm.environments.push(EnvSettings::without_aliases(&name));
                fm.environments.len() - 1
            }
        };
        fm.environments[index].declared = Some(pos);
        environment(&mut fm.environments, index, raw_env, &at, diags);
    }
    fm
}

/// `notify_url`, split: `http://` or `https://`, a host, an optional port,
/// a path. `Err` says what is wrong (without echoing the URL: its path may
/// hold the hook's token).
fn webhook_url(url: &str) -> Result<WebhookUrl, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else {
        return Err("write an http:// or https:// URL".into());
    };
    let (authority, path) = rest.find(['/', '?']).map_or((rest, "/"), |i| rest.split_at(i));
    if authority.contains('@') {
        return Err("credentials in the URL are not supported; put a token in its path or use `notify` with a command".into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or("an IPv6 host needs its closing `]`")?;
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or("after an IPv6 host's `]` comes `:PORT` or the path")?,
                ),
            };
            (host, port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        None => {
            if tls {
                443
            } else {
                80
            }
        }
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("the port {port:?} is not a number from 1 to 65535"))?,
    };
    if host.is_empty() || host.contains(char::is_whitespace) || path.contains(char::is_whitespace) {
        return Err("the URL needs a host and no spaces, like http://chat.example/hook".into());
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(WebhookUrl {
        tls,
        host: host.to_string(),
        port,
        path,
    })
}

fn environment(
    envs: &mut [EnvSettings],
    index: usize,
    raw: RawEnvironment,
    at: &dyn Fn(Range<usize>) -> SourcePos,
    diags: &mut Vec<Diagnostic>,
) {
    for alias in raw.aliases {
        let pos = at(alias.span());
        let alias = alias.into_inner();
        if alias.trim().is_empty() {
            diags.push(Diagnostic::error(pos, "empty alias; remove it or write a word"));
        } else if let Some(other) = envs.iter().find(|e| e.is_named(&alias)) {
            if other.name != envs[index].name {
                diags.push(Diagnostic::error(
                    pos,
                    format!(
                        "alias '{alias}' already names environment '{}'; choose another alias",
                        other.name
                    ),
                ));
            }
        } else {
            envs[index].aliases.push(alias);
        }
    }
    let env = &mut envs[index];
    if let Some(db) = raw.database {
        let pos = at(db.span());
        if let Some(source) = database(db.into_inner(), pos, diags) {
            env.database = source;
        }
    }
    let located = |s: Spanned<String>| {
        let pos = at(s.span());
        (s.into_inner(), pos)
    };
    env.requires = raw.requires.into_iter().map(located).collect();
    env.requires_rollback_test = raw.requires_rollback_test.map(located);
    if let Some(confirm) = raw.confirm {
        env.confirm = confirm;
    }
    if let Some(n) = raw.signoffs {
        match u32::try_from(*n.get_ref()) {
            Ok(v) if v >= 1 => env.signoffs = v,
            _ => diags.push(Diagnostic::error(
                at(n.span()),
                format!(
                    "signoffs = {} is not a number of people; use 1 or more",
                    n.get_ref()
                ),
            )),
        }
    }
    if let Some(value) = raw.separation_of_duties {
        match value.get_ref() {
            toml::Value::Boolean(on) => env.separation_of_duties = *on,
            other => diags.push(Diagnostic::error(
                at(value.span()),
                format!(
                    "separation_of_duties = {other} is not true or false; write separation_of_duties = true \
                     to have a manual step signed by someone other than who ran the step before it"
                ),
            )),
        }
    }
    if let Some(n) = raw.min_backups {
        match u32::try_from(*n.get_ref()) {
            Ok(v) => env.min_backups = v,
            Err(_) => diags.push(Diagnostic::error(
                at(n.span()),
                format!("min_backups = {} is not a count; use 0 or more", n.get_ref()),
            )),
        }
    }
    if let Some(hold) = raw.hold {
        match hold.get_ref().as_str() {
            "phase" => env.hold = Hold::Phase,
            "none" => env.hold = Hold::None,
            other => diags.push(Diagnostic::error(
                at(hold.span()),
                format!("hold = \"{other}\" is not known; use \"phase\" (stop after each phase) or \"none\""),
            )),
        }
    }
    if let Some(text) = raw.lock_timeout {
        match parse_duration(text.get_ref()) {
            Some(d) if !d.is_zero() => env.lock_timeout = Some(d),
            _ => diags.push(Diagnostic::error(
                at(text.span()),
                format!(
                    "lock_timeout = \"{}\" is not a duration; write e.g. \"5s\" or \"1m\"",
                    text.get_ref()
                ),
            )),
        }
    }
    if let Some(id) = raw.system_identifier {
        let digits = id.get_ref().trim();
        if digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u64>().is_ok() {
            env.system_identifier = Some(digits.to_string());
        } else {
            diags.push(Diagnostic::error(
                at(id.span()),
                format!(
                    "system_identifier = \"{}\" is not a cluster's system identifier; write the digits `SELECT system_identifier FROM pg_control_system()` gives on that server",
                    id.get_ref()
                ),
            ));
        }
    }
    if let Some(estimate) = raw.estimate {
        match parse_estimate(estimate.get_ref()) {
            Ok(e) => env.estimate = Some(e),
            Err(message) => diags.push(Diagnostic::error(at(estimate.span()), message)),
        }
    }
    env.window = raw.window;
}

fn variable(raw: StrOr<RawVariable>, pos: SourcePos, diags: &mut Vec<Diagnostic>) -> Option<Variable> {
    let (value, secret) = match raw {
        StrOr::Str(s) => (value_source(&s, pos, diags)?, false),
        StrOr::Table(t) => {
            let source = match (t.value, t.env) {
                (Some(v), None) if t.default.is_none() => value_source(&v, pos, diags)?,
                (None, Some(var)) => env_source(var, t.default, pos, diags)?,
                _ => {
                    diags.push(Diagnostic::error(
                        pos,
                        "a variable needs either value = \"...\" or env = \"VAR\" (with an optional default)",
                    ));
                    return None;
                }
            };
            (source, t.secret)
        }
    };
    Some(Variable { value, secret })
}

fn database(raw: StrOr<RawDatabase>, pos: SourcePos, diags: &mut Vec<Diagnostic>) -> Option<DatabaseSource> {
    match raw {
        StrOr::Str(s) if s == "none" => Some(DatabaseSource::None),
        StrOr::Str(s) if s.trim().is_empty() => {
            diags.push(Diagnostic::error(
                pos,
                "empty database; write a URL, \"env:VAR\", or \"none\" for an environment without one",
            ));
            None
        }
        StrOr::Str(s) => {
            let source = value_source(&s, pos, diags)?;
            if let ValueSource::Literal(url) = &source {
                warn_password(url, pos, diags);
            }
            Some(DatabaseSource::Url(source))
        }
        StrOr::Table(t) => {
            if let Some(url) = &t.default {
                warn_password(url, pos, diags);
            }
            env_source(t.env, t.default, pos, diags).map(DatabaseSource::Url)
        }
    }
}

/// A password written in the runbook ends up in every copy of it.
fn warn_password(url: &str, pos: SourcePos, diags: &mut Vec<Diagnostic>) {
    if crate::secrets::redact_connection_passwords(url) != url {
        diags.push(Diagnostic::warning(
            pos,
            "the database URL contains a password; read it from the environment with \"env:VAR\" instead",
        ));
    }
}

/// A literal, or `env:VAR` to read the process environment.
fn value_source(text: &str, pos: SourcePos, diags: &mut Vec<Diagnostic>) -> Option<ValueSource> {
    match text.strip_prefix("env:") {
        Some(var) => env_source(var.to_string(), None, pos, diags),
        None => Some(ValueSource::Literal(text.to_string())),
    }
}

fn env_source(
    var: String,
    default: Option<String>,
    pos: SourcePos,
    diags: &mut Vec<Diagnostic>,
) -> Option<ValueSource> {
    if is_var_name(&var) {
        Some(ValueSource::Env { var, default })
    } else {
        diags.push(Diagnostic::error(
            pos,
            format!("'{var}' is not an environment variable name; use letters, digits and '_'"),
        ));
        None
    }
}

/// Levenshtein distance, for "did you mean" on short keys.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_split_into_host_port_and_path() {
        let url = webhook_url("http://127.0.0.1:8080/hook?t=1").unwrap();
        assert_eq!(
            (url.tls, url.place(), url.path.as_str()),
            (false, "127.0.0.1:8080".into(), "/hook?t=1")
        );
        let url = webhook_url("https://chat.example").unwrap();
        assert_eq!(
            (url.tls, url.place(), url.path.as_str()),
            (true, "chat.example:443".into(), "/")
        );
        let url = webhook_url("http://[::1]?x").unwrap();
        assert_eq!((url.place(), url.path.as_str()), ("::1:80".into(), "/?x"));
        for bad in [
            "ftp://x/",
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://[::1/",
        ] {
            assert!(webhook_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn splits_front_matter() {
        assert_eq!(split("# T\n"), Split::Absent { body: 0 });
        assert_eq!(
            split("+++\na = 1\n+++\n# T"),
            Split::Present {
                toml: 4..10,
                body: 14
            }
        );
        assert_eq!(
            split("\u{FEFF}+++\r\n+++\r\n"),
            Split::Present { toml: 8..8, body: 13 }
        );
        assert_eq!(split("+++\na = 1\n"), Split::Unterminated);
        assert_eq!(split("+++"), Split::Unterminated);
        assert_eq!(
            split("---\ntitle: x\n---\n# T"),
            Split::Yaml {
                yaml: 4..13,
                body: 17
            }
        );
        // A thematic break, not front matter.
        assert_eq!(split("---\nSome text.\n---\n"), Split::Absent { body: 0 });
        assert_eq!(split("---\n"), Split::Absent { body: 0 });
    }

    #[test]
    fn yaml_titles() {
        assert_eq!(
            yaml_title("weight: 3\ntitle: \"Upgrade: etcd\"\n"),
            Some("Upgrade: etcd".into())
        );
        assert_eq!(
            yaml_title("title: Plain words # comment\n"),
            Some("Plain words".into())
        );
        assert_eq!(
            yaml_title("title: >\n  Folded\n  title\nnext: 1\n"),
            Some("Folded title".into())
        );
        assert_eq!(yaml_title("name: Bug\ntitle: ''\n"), None);
        assert_eq!(yaml_title("params:\n  title: nested\n"), None);
    }
}
