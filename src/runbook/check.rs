//! `runsheet check`: validate a runbook and print its outline.
//!
//! Diagnostics go to `err` as `path:line:col: severity: message`, sorted by
//! position; the outline goes to `out`, one fact per line so it can be grepped.

use std::io::{self, Write};
use std::path::Path;

use super::duration::{format_duration, format_estimate};
use super::loader::{self, LoadOptions, Loaded};
use super::model::{
    DatabaseSource, Environment, Hold, IMPLICIT_ENVIRONMENT, Layout, Note, Phase, PhaseKind, ReferenceKind,
    Runbook, Step, ValueSource,
};
use crate::secrets::redact_connection_passwords;

/// Exit status: the runbook is valid (warnings allowed) (`exit::OK`).
pub const OK: u8 = 0;
/// Exit status: the runbook has errors: bad input (`exit::USAGE`, as the README says).
pub const INVALID: u8 = 2;
/// Exit status: the file cannot be read: bad input too (`exit::USAGE`).
pub const UNREADABLE: u8 = 2;

/// Check the runbook at `path`; returns the exit status ([`OK`],
/// [`INVALID`] or [`UNREADABLE`]). Failures to write output are ignored:
/// the status still tells the truth.
pub fn run(path: &Path, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    run_with(path, LoadOptions::default(), out, err)
}

/// [`run`] with load options (`--allow-outside-files`).
pub fn run_with(path: &Path, options: LoadOptions, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let loaded = match loader::load_with(path, options) {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = writeln!(err, "runsheet: {e}; check the path and permissions");
            return UNREADABLE;
        }
    };
    print(path, &loaded, out, err)
}

/// Print what loading `path` gave: diagnostics to `err`, the outline to
/// `out`; returns [`OK`] or [`INVALID`].
pub fn print(path: &Path, loaded: &Loaded, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    for d in &loaded.diagnostics {
        let _ = writeln!(err, "{}", d.display(path));
    }
    match &loaded.runbook {
        Some(runbook) => {
            let _ = outline(runbook, loaded, out);
        }
        None => {
            let _ = writeln!(
                err,
                "runsheet: {} cannot be loaded; fix the errors above",
                path.display()
            );
        }
    }
    if loaded.has_errors() { INVALID } else { OK }
}

fn outline(rb: &Runbook, loaded: &Loaded, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "runbook   {}", rb.title)?;
    writeln!(out, "file      {}", rb.path.display())?;
    writeln!(out, "sha256    {}", rb.content_hash)?;
    if !rb.variables.is_empty() {
        writeln!(out, "\nvariables")?;
        for (name, var) in &rb.variables {
            let value = if var.secret {
                "*** (secret)".to_string()
            } else {
                value_source(&var.value)
            };
            writeln!(out, "  {name} = {value}")?;
        }
    }
    if !rb.contacts.is_empty() {
        writeln!(out, "\ncontacts")?;
        for (role, who) in &rb.contacts {
            writeln!(out, "  {role}: {who}")?;
        }
    }
    if let Some(p) = &rb.prerequisites {
        writeln!(
            out,
            "\nprerequisites  \"{}\"  (line {}, every environment)",
            p.title, p.pos.line
        )?;
        steps(&p.steps, "  ", out)?;
    }
    match rb.layout {
        Layout::Sections => {}
        Layout::Shared => {
            let names: Vec<&str> = rb.environments.iter().map(|e| e.name.as_str()).collect();
            writeln!(
                out,
                "\nplan      one plan for every environment ({}): no section names an environment",
                names.join(", ")
            )?;
        }
        Layout::Implicit => writeln!(
            out,
            "\nplan      one plan, for the single implicit environment '{IMPLICIT_ENVIRONMENT}': no section names an environment and the front matter defines none"
        )?,
    }
    for env in &rb.environments {
        environment(env, out)?;
    }
    if rb.layout != Layout::Sections {
        writeln!(out)?;
        for p in &rb.phases {
            phase(p, "", out)?;
        }
    }
    if !rb.references.is_empty() {
        writeln!(out)?;
    }
    for r in &rb.references {
        writeln!(
            out,
            "reference {}  \"{}\"  (line {})",
            reference_kind(r.kind),
            r.title,
            r.pos.line
        )?;
        steps(&r.steps, "  ", out)?;
    }
    if !loaded.not_steps.is_empty() {
        writeln!(out, "\nnot steps")?;
        for n in &loaded.not_steps {
            let lines = if n.last_line > n.pos.line {
                format!("lines {}-{}", n.pos.line, n.last_line)
            } else {
                format!("line {}", n.pos.line)
            };
            writeln!(out, "  {lines}: {}", n.reason)?;
        }
    }
    let all: Vec<&Step> = rb.all_steps().collect();
    let count = |label: &str| all.iter().filter(|s| s.kind.label() == label).count();
    let phases = rb.environments.iter().map(|e| e.phases.len()).sum::<usize>()
        + rb.phases.len()
        + rb.prerequisites.iter().count();
    writeln!(
        out,
        "\nsummary: {} environments, {} phases, {} steps ({} manual, {} shell, {} sql; {} verify), {} warnings, {} errors",
        rb.environments.len(),
        phases,
        all.len(),
        count("manual"),
        count("shell"),
        count("sql"),
        all.iter().filter(|s| s.verify).count(),
        loaded.warnings().count(),
        loaded.errors().count(),
    )
}

fn environment(env: &Environment, out: &mut dyn Write) -> io::Result<()> {
    let or_dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    if env.heading.is_empty() {
        let whence = if env.name == IMPLICIT_ENVIRONMENT && env.aliases.is_empty() {
            "implicit".to_string()
        } else {
            format!("front matter, line {}", env.pos.line)
        };
        writeln!(out, "\nenvironment {}  ({whence})", env.name)?;
    } else {
        writeln!(
            out,
            "\nenvironment {}  \"{}\"  (line {})",
            env.name, env.heading, env.pos.line
        )?;
    }
    writeln!(out, "  aliases       {}", or_dash(env.aliases.join(", ")))?;
    writeln!(out, "  database      {}", database(&env.database))?;
    writeln!(out, "  requires      {}", or_dash(env.requires.join(", ")))?;
    if let Some(r) = &env.requires_rollback_test {
        writeln!(out, "  rollback test {r}")?;
    }
    writeln!(out, "  confirm       {}", yes_no(env.confirm))?;
    writeln!(out, "  signoffs      {}", env.signoffs)?;
    if env.separation_of_duties {
        writeln!(
            out,
            "  separation    a manual step's signer is not who ran the step before it"
        )?;
    }
    writeln!(out, "  min backups   {}", env.min_backups)?;
    if env.hold == Hold::Phase {
        writeln!(out, "  hold          after each phase's verification")?;
    }
    writeln!(
        out,
        "  estimate      {}",
        or_dash(env.estimate.as_ref().map(format_estimate).unwrap_or_default())
    )?;
    writeln!(
        out,
        "  window        {}",
        or_dash(env.window.clone().unwrap_or_default())
    )?;
    for p in &env.phases {
        phase(p, "  ", out)?;
    }
    Ok(())
}

/// A phase at its depth: `phase KIND`, `phase plain` for a name runsheet
/// gives no meaning, `group` for one that only holds sub-phases.
fn phase(p: &Phase, indent: &str, out: &mut dyn Write) -> io::Result<()> {
    let indent = format!("{indent}{}", "  ".repeat(usize::try_from(p.depth).unwrap_or(0)));
    let what = match p.kind {
        PhaseKind::Other if p.steps.is_empty() => "group".to_string(),
        kind => format!("phase {}", kind.slug()),
    };
    writeln!(out, "{indent}{what}  \"{}\"  (line {})", p.title, p.pos.line)?;
    let inner = format!("{indent}  ");
    for n in &p.notes {
        writeln!(out, "{inner}{}", note(n))?;
    }
    steps(&p.steps, &inner, out)
}

fn steps(steps: &[Step], indent: &str, out: &mut dyn Write) -> io::Result<()> {
    for s in steps {
        let indent = if s.parent.is_some() {
            format!("{indent}  ")
        } else {
            indent.to_string()
        };
        let mut kind = s.kind.label().to_string();
        for (on, flag) in [
            (s.verify, "verify"),
            (s.readonly, "readonly"),
            (s.backup, "backup"),
            (s.isolated, "isolated"),
        ] {
            if on {
                kind.push(' ');
                kind.push_str(flag);
            }
        }
        let timeout = s
            .timeout
            .map(|t| format!("  (timeout {})", format_duration(t)))
            .unwrap_or_default();
        writeln!(out, "{indent}[{kind}] {}  {}{timeout}", s.id, s.title)?;
        if let Some(expected) = &s.expected {
            let n = expected.lines().count();
            writeln!(
                out,
                "{indent}    expects {n} line{} of output",
                if n == 1 { "" } else { "s" }
            )?;
        }
        for n in &s.notes {
            writeln!(out, "{indent}    {}", note(n))?;
        }
    }
    Ok(())
}

/// `! warning: Capacity`, or `! note` when the title is just the kind.
fn note(n: &Note) -> String {
    if n.title.eq_ignore_ascii_case(&n.kind) {
        format!("! {}", n.kind)
    } else {
        format!("! {}: {}", n.kind, n.title)
    }
}

fn reference_kind(kind: ReferenceKind) -> &'static str {
    match kind {
        ReferenceKind::Overview => "overview",
        ReferenceKind::Rollback => "rollback",
        ReferenceKind::Communication => "communication",
        ReferenceKind::Timeline => "timeline",
        ReferenceKind::SuccessCriteria => "success-criteria",
        ReferenceKind::Contacts => "contacts",
        ReferenceKind::Other => "other",
    }
}

fn database(db: &DatabaseSource) -> String {
    match db {
        DatabaseSource::PgEnv => "PG* environment variables".to_string(),
        DatabaseSource::Url(source) => value_source(source),
        DatabaseSource::None => "none".to_string(),
    }
}

/// A value for display, with any password in a connection string masked.
fn value_source(source: &ValueSource) -> String {
    let text = match source {
        ValueSource::Literal(v) => v.clone(),
        ValueSource::Env { var, default: None } => format!("env:{var}"),
        ValueSource::Env {
            var,
            default: Some(d),
        } => format!("env:{var} (default {d})"),
    };
    redact_connection_passwords(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::model::StepKind;

    #[test]
    fn values_never_show_passwords() {
        let v = ValueSource::Env {
            var: "DB".into(),
            default: Some("postgres://u:hunter2@h/db".into()),
        };
        assert_eq!(value_source(&v), "env:DB (default postgres://u:***@h/db)");
        assert_eq!(
            database(&DatabaseSource::Url(ValueSource::Literal(
                "host=h password=x".into()
            ))),
            "host=h password=***"
        );
    }

    #[test]
    fn step_lines_carry_kind_flags_and_timeout() {
        let step = Step {
            verify: true,
            timeout: Some(std::time::Duration::from_secs(600)),
            ..Step::new(
                "a.b.1",
                "Check",
                StepKind::Sql {
                    sql: "select true".into(),
                },
            )
        };
        let mut out = Vec::new();
        steps(&[step], "  ", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  [sql verify] a.b.1  Check  (timeout 10m)\n"
        );
    }
}
