//! The info string of a fenced code block: its language and the attributes
//! in braces after it, e.g. ```` ```sql {verify id=check-rls timeout=10m} ````.

use std::time::Duration;

use super::duration::parse_duration;

/// What runsheet does with a block of this language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runner {
    Shell,
    Sql,
    /// A terminal session as documentation shows one: its `$ ` lines run,
    /// the rest is their output; without prompts, nothing runs.
    Console,
    /// Shown as reference only (plain fences, `bat`, `powershell`, `text`, …).
    None,
}

impl Runner {
    fn of(lang: &str) -> Runner {
        match lang.to_ascii_lowercase().as_str() {
            "sh" | "bash" | "shell" => Runner::Shell,
            "sql" | "postgresql" | "psql" => Runner::Sql,
            "console" | "shell-session" | "shellsession" => Runner::Console,
            _ => Runner::None,
        }
    }
}

/// The language of an info string: its first word, before any braces.
pub(crate) fn lang(info: &str) -> &str {
    let end = info
        .find(|c: char| c.is_whitespace() || c == '{')
        .unwrap_or(info.len());
    &info[..end]
}

/// What runs a block with this info string, without parsing its attributes.
pub(crate) fn runner(info: &str) -> Runner {
    Runner::of(lang(info))
}

/// Languages of blocks that show what a command prints.
pub(crate) fn is_output(lang: &str) -> bool {
    matches!(
        lang.to_ascii_lowercase().as_str(),
        "text" | "txt" | "output" | "plaintext" | "log"
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attr {
    Verify,
    Readonly,
    Backup,
    Isolated,
    Id(String),
    Timeout(Duration),
    /// How long a SQL statement may wait for a lock (`SET lock_timeout`).
    LockTimeout(Duration),
    File(String),
}

impl Attr {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Attr::Verify => "verify",
            Attr::Readonly => "readonly",
            Attr::Backup => "backup",
            Attr::Isolated => "isolated",
            Attr::Id(_) => "id",
            Attr::Timeout(_) => "timeout",
            Attr::LockTimeout(_) => "lock_timeout",
            Attr::File(_) => "file",
        }
    }
}

/// A parsed info string. Offsets are byte offsets into the info string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FenceInfo {
    pub lang: String,
    pub runner: Runner,
    pub attrs: Vec<(Attr, usize)>,
}

/// A problem in an info string, at a byte offset into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InfoError {
    pub offset: usize,
    pub message: String,
}

const KNOWN: &str =
    "verify, readonly, backup, isolated, id=NAME, timeout=DURATION, lock_timeout=DURATION, file=PATH";

/// Parse an info string. Returns the info (with every attribute that parsed)
/// and the problems found, so one bad attribute does not hide the others.
pub(crate) fn parse(info: &str) -> (FenceInfo, Vec<InfoError>) {
    let mut errors = Vec::new();
    let lang_end = lang(info).len();
    let lang = info[..lang_end].to_string();
    let runner = Runner::of(&lang);
    let mut attrs = Vec::new();
    let rest_start = lang_end + (info.len() - lang_end - info[lang_end..].trim_start().len());
    let rest = &info[rest_start..];
    if let Some(inner) = rest.strip_prefix('{') {
        match inner.find('}') {
            None => errors.push(InfoError {
                offset: rest_start,
                message: "unclosed '{' in the code block's attributes; end them with '}'".into(),
            }),
            Some(close) => {
                parse_attrs(&inner[..close], rest_start + 1, &mut attrs, &mut errors);
                let after = &inner[close + 1..];
                if !after.trim().is_empty() {
                    let offset = rest_start + 2 + close + (after.len() - after.trim_start().len());
                    errors.push(InfoError {
                        offset,
                        message: format!(
                            "unexpected text after the attributes: '{}'; put everything inside the braces",
                            after.trim()
                        ),
                    });
                }
            }
        }
    } else if !rest.is_empty() && matches!(runner, Runner::Shell | Runner::Sql) {
        // Other languages may carry any info text (titles, highlighting
        // hints); for a block runsheet runs, stray words are likely a typo.
        errors.push(InfoError {
            offset: rest_start,
            message: format!(
                "unexpected '{}' after the language; write attributes in braces, e.g. ```{lang} {{verify}}",
                rest.trim_end()
            ),
        });
    }
    (FenceInfo { lang, runner, attrs }, errors)
}

/// Attributes separated by spaces or commas: `key` or `key=value`, value
/// optionally in double quotes (for paths with spaces).
fn parse_attrs(text: &str, base: usize, attrs: &mut Vec<(Attr, usize)>, errors: &mut Vec<InfoError>) {
    let is_sep = |c: char| c.is_whitespace() || c == ',';
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let skip = rest.len() - rest.trim_start_matches(is_sep).len();
        if skip > 0 {
            i += skip;
            continue;
        }
        let start = i;
        let key_len = rest.find(|c: char| is_sep(c) || c == '=').unwrap_or(rest.len());
        let key = &rest[..key_len];
        i += key_len;
        let mut value = None;
        if text[i..].starts_with('=') {
            i += 1;
            let vrest = &text[i..];
            if let Some(quoted) = vrest.strip_prefix('"') {
                match quoted.find('"') {
                    Some(end) => {
                        value = Some(quoted[..end].to_string());
                        i += end + 2;
                    }
                    None => {
                        errors.push(InfoError {
                            offset: base + i,
                            message: format!("unclosed quote in attribute '{key}'; close it with '\"'"),
                        });
                        return;
                    }
                }
            } else {
                let len = vrest.find(is_sep).unwrap_or(vrest.len());
                value = Some(vrest[..len].to_string());
                i += len;
            }
        }
        match attr(key, value) {
            Ok(a) => attrs.push((a, base + start)),
            Err(message) => errors.push(InfoError {
                offset: base + start,
                message,
            }),
        }
    }
}

fn attr(key: &str, value: Option<String>) -> Result<Attr, String> {
    let flag = |a: Attr| match &value {
        None => Ok(a),
        Some(_) => Err(format!("attribute '{key}' takes no value; write just '{key}'")),
    };
    let needs = |what: &str| match &value {
        Some(v) if !v.is_empty() => Ok(v.clone()),
        _ => Err(format!("attribute '{key}' needs a value, e.g. {key}={what}")),
    };
    match key {
        "verify" => flag(Attr::Verify),
        "readonly" => flag(Attr::Readonly),
        "backup" => flag(Attr::Backup),
        "isolated" => flag(Attr::Isolated),
        "id" => {
            let id = needs("check-rls")?;
            if id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                Ok(Attr::Id(id))
            } else {
                Err(format!(
                    "step id '{id}' may only use letters, digits, '-', '_' and '.'"
                ))
            }
        }
        "timeout" => positive_duration(key, &needs("10m")?, "30s, 10m or 2h").map(Attr::Timeout),
        "lock_timeout" => positive_duration(key, &needs("5s")?, "5s or 1m").map(Attr::LockTimeout),
        "file" => needs("scripts/phase1.sql").map(Attr::File),
        _ => Err(format!("unknown attribute '{key}'; known attributes are {KNOWN}")),
    }
}

/// A duration attribute's value: more than zero.
fn positive_duration(key: &str, text: &str, examples: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("{key} '{text}' is not a duration; write e.g. {examples}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_and_attributes() {
        let (info, errors) = parse("sql {verify id=check-rls timeout=10m file=\"a b.sql\" readonly, backup}");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(info.lang, "sql");
        assert_eq!(info.runner, Runner::Sql);
        let names: Vec<_> = info.attrs.iter().map(|(a, _)| a.name()).collect();
        assert_eq!(names, ["verify", "id", "timeout", "file", "readonly", "backup"]);
        assert_eq!(info.attrs[3].0, Attr::File("a b.sql".into()));
        assert_eq!(info.attrs[1].1, 12);
    }

    #[test]
    fn problems_are_located() {
        let (_, errors) = parse("sh {verify colour=red}");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].offset, 11);
        assert!(errors[0].message.contains("unknown attribute 'colour'"));
        let (_, errors) = parse("sql {timeout=soon}");
        assert!(errors[0].message.contains("timeout 'soon'"));
        let (_, errors) = parse("sql {verify");
        assert!(errors[0].message.contains("unclosed"));
        let (_, errors) = parse("sql verify");
        assert_eq!(errors[0].offset, 4);
        let (info, errors) = parse("python title=\"x.py\"");
        assert!(errors.is_empty());
        assert_eq!(info.runner, Runner::None);
        let (info, errors) = parse("{id=x}");
        assert!(errors.is_empty());
        assert_eq!(info.lang, "");
    }
}
