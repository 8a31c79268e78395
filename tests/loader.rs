//! The Markdown loader: malformed input, every step kind and annotation,
//! the seed plan unmodified, the sample runbook, and `runsheet check`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use runsheet::runbook::check;
use runsheet::runbook::diagnostic::Severity::{self, Error as E, Warning as W};
use runsheet::runbook::loader::{LoadOptions, Loaded, load, load_bytes, load_str, load_with};
use runsheet::runbook::model::{
    DatabaseSource, Environment, PhaseKind, ReferenceKind, Runbook, Step, StepKind, ValueSource,
};

/// A path in a folder that does not exist, so `{file=…}` finds nothing.
fn fake_path() -> &'static Path {
    Path::new("/nonexistent-runsheet-test/runbook.md")
}

fn load_text(text: &str) -> Loaded {
    load_str(fake_path(), text)
}

fn runbook(text: &str) -> Runbook {
    let loaded = load_text(text);
    assert!(
        loaded.diagnostics.is_empty(),
        "unexpected diagnostics: {:#?}",
        loaded.diagnostics
    );
    loaded.runbook.expect("a runbook")
}

fn env<'a>(rb: &'a Runbook, name: &str) -> &'a Environment {
    rb.environments
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no environment {name}"))
}

fn step<'a>(rb: &'a Runbook, id: &str) -> &'a Step {
    rb.all_steps()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no step {id}"))
}

/// `# T`, a Development section and its Execution phase; items start on line 7.
const ENV: &str = "# T\n\n## Development\n\n### Execution\n\n";

type Expected = &'static [(u32, u32, Severity, &'static str)];

struct Case {
    name: &'static str,
    input: Vec<u8>,
    expect: Expected,
    /// What else must hold, for inputs that load as the format says.
    then: fn(&Loaded),
}

fn case(name: &'static str, input: impl Into<Vec<u8>>, expect: Expected) -> Case {
    Case {
        name,
        input: input.into(),
        expect,
        then: |_| {},
    }
}

fn case_then(name: &'static str, input: impl Into<Vec<u8>>, expect: Expected, then: fn(&Loaded)) -> Case {
    Case {
        name,
        input: input.into(),
        expect,
        then,
    }
}

fn with_env(items: &str) -> String {
    format!("{ENV}{items}")
}

fn no_runbook(l: &Loaded) {
    assert!(l.runbook.is_none());
}

fn ten_megabytes() -> Vec<u8> {
    let mut text = String::from(ENV);
    let mut n = 0;
    while text.len() < 10 * 1024 * 1024 {
        n += 1;
        text.push_str(&format!(
            "{n}. Step number {n}: check that the thing is done, then sign it off\n"
        ));
    }
    text.into_bytes()
}

fn deep_list() -> String {
    let mut text = with_env("1. top\n");
    for level in 1..=20 {
        text.push_str(&format!("{}- level {level}\n", " ".repeat(3 + 2 * (level - 1))));
    }
    text
}

fn malformed_cases() -> Vec<Case> {
    vec![
        case_then(
            "binary garbage",
            b"\x7fELF\x02\x01\x01\x00\x00\x00garbage\xff\xfe".to_vec(),
            &[(1, 8, E, "binary")],
            no_runbook,
        ),
        case_then(
            "garbage without NUL bytes",
            b"\xc3\x28\xa0\xa1 random \x9c".to_vec(),
            &[(1, 1, E, "not valid UTF-8 (byte 0xC3)")],
            no_runbook,
        ),
        case_then(
            "invalid UTF-8 after multi-byte text",
            b"# T\xc3\xa9st\n\xc3\xa7\xc3\xa0\xff rest\n".to_vec(),
            &[(2, 3, E, "not valid UTF-8 (byte 0xFF)")],
            no_runbook,
        ),
        case_then("NUL in text", "# T\n\nabc\0", &[(3, 4, E, "binary")], no_runbook),
        case_then("a 10 MB runbook", ten_megabytes(), &[], |l| {
            let rb = l.runbook.as_ref().unwrap();
            assert!(rb.all_steps().count() > 100_000);
            assert!(
                step(rb, "development.execution.100000")
                    .title
                    .starts_with("Step number 100000")
            );
        }),
        case_then("20-deep nested lists", deep_list(), &[], |l| {
            let rb = l.runbook.as_ref().unwrap();
            assert_eq!(rb.all_steps().count(), 1);
            let s = step(rb, "development.execution.1");
            assert_eq!(s.title, "top");
            assert!(s.body.contains("- level 20"), "{}", s.body);
        }),
        case_then(
            "unterminated fence inside an item ends with the item",
            with_env("1. Run\n   ```sh\n   echo hi\n2. Next\n"),
            &[(
                8,
                4,
                W,
                "block is never closed, so it swallows the rest of its list item or quote (lines 8-9, 2 lines)",
            )],
            |l| {
                let rb = l.runbook.as_ref().unwrap();
                assert_eq!(
                    step(rb, "development.execution.1").kind,
                    StepKind::Shell {
                        script: "echo hi\n".into()
                    }
                );
                assert_eq!(step(rb, "development.execution.2").kind, StepKind::Manual);
            },
        ),
        case(
            "unterminated fence at top level runs to the end",
            with_env("1. Run\n\n```sql\nselect 1;\n\n## Production\n"),
            &[(
                9,
                1,
                W,
                "block is never closed, so it swallows the rest of the file (lines 9-12, 4 lines)",
            )],
        ),
        case_then(
            "unterminated front matter",
            "+++\ntitle = \"x\"\n# T\n",
            &[(1, 1, E, "never closed")],
            no_runbook,
        ),
        case(
            "bad TOML, position mapped into the file",
            format!("+++\ntitle = \"x\"\nwindow = = 3\n+++\n{}", with_env("1. Go\n")),
            &[(3, 10, E, "front matter: extra `=`")],
        ),
        case(
            "unknown front-matter key",
            format!("+++\ntitel = \"x\"\n+++\n{}", with_env("1. Go\n")),
            &[(
                2,
                1,
                W,
                "front matter key `titel` is not one runsheet reads (did you mean `title`?), so it is ignored",
            )],
        ),
        case(
            "unknown key in an environment",
            format!(
                "+++\n[environments.development]\ncolour = \"red\"\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(3, 1, E, "unknown field `colour`")],
        ),
        case(
            "wrong type for database",
            format!(
                "+++\n[environments.development]\ndatabase = 5\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(3, 12, E, "expected a URL, \"env:VAR\"")],
        ),
        case(
            "unknown attribute",
            with_env("1. Check\n   ```sql {verify colour=red}\n   select true;\n   ```\n"),
            &[(8, 19, E, "unknown attribute 'colour'")],
        ),
        case(
            "unclosed attribute braces",
            with_env("1. X\n   ```sh {verify\n   true\n   ```\n"),
            &[(8, 10, E, "unclosed '{'")],
        ),
        case(
            "words after the language of a runnable block",
            with_env("1. X\n   ```sql verify\n   select 1;\n   ```\n"),
            &[(8, 11, E, "unexpected 'verify' after the language")],
        ),
        case_then(
            "an unknown phase name is a plain phase",
            "# T\n\n## Development\n\n### Documentation\n\n1. x\n",
            &[],
            |l| {
                let rb = l.runbook.as_ref().unwrap();
                let p = &env(rb, "development").phases[0];
                assert_eq!((p.kind, p.title.as_str()), (PhaseKind::Other, "Documentation"));
                step(rb, "development.documentation.1");
            },
        ),
        case_then(
            "a second phase of one kind is a phase of its own",
            "# T\n\n## Development\n\n### Execution\n\n1. a\n\n### Deploy\n\n1. b\n",
            &[],
            |l| {
                let rb = l.runbook.as_ref().unwrap();
                step(rb, "development.execution.1");
                step(rb, "development.deploy.1");
            },
        ),
        case(
            "duplicate id",
            with_env(
                "1. A\n   ```sh {id=same}\n   true\n   ```\n2. B\n   ```sh {id=same}\n   true\n   ```\n",
            ),
            &[(12, 11, E, "duplicate step id 'same' (first used at 8:11)")],
        ),
        case(
            "explicit id colliding with a derived one",
            with_env("1. A\n2. B\n   ```sh {id=development.execution.1}\n   true\n   ```\n"),
            &[(
                9,
                11,
                E,
                "duplicate step id 'development.execution.1' (first used at 7:1)",
            )],
        ),
        case(
            "missing {file}",
            with_env("1. Load\n   ```sql {file=missing.sql}\n   ```\n"),
            &[(8, 12, E, "cannot read file 'missing.sql'")],
        ),
        case(
            "undefined environment in requires",
            "+++\n[environments.production]\nrequires = [\"qa\"]\n+++\n# T\n\n## Production\n\n### Execution\n\n1. Go\n",
            &[(3, 13, E, "'qa' is not an environment of this runbook")],
        ),
        case(
            "undefined environment in requires_rollback_test",
            "+++\n[environments.production]\nrequires_rollback_test = \"stagin\"\n+++\n# T\n\n## Production\n\n### Execution\n\n1. Go\n",
            &[(3, 26, E, "'stagin' is not an environment")],
        ),
        case(
            "an environment requiring itself",
            "+++\n[environments.production]\nrequires = [\"prod\"]\n+++\n# T\n\n## Production\n\n### Execution\n\n1. Go\n",
            &[(3, 13, E, "cannot require itself")],
        ),
        case(
            "SQL with database none",
            format!(
                "+++\n[environments.development]\ndatabase = \"none\"\n+++\n{}",
                with_env("1. Count\n   ```sql\n   select 1;\n   ```\n")
            ),
            &[(11, 1, E, "whose database is \"none\"")],
        ),
        case(
            "shared SQL prerequisite with an environment without a database",
            "+++\n[environments.development]\ndatabase = \"none\"\n+++\n# T\n\n## Prerequisites\n\n1. Ping\n   ```sql\n   select 1;\n   ```\n\n## Development\n\n### Execution\n\n1. Go\n",
            &[(
                9,
                1,
                E,
                "runs for every environment, but 'development' has database = \"none\"",
            )],
        ),
        case_then("empty file", "", &[(1, 1, E, "the runbook is empty")], no_runbook),
        case_then(
            "blank file",
            "\n \n\t\n",
            &[(1, 1, E, "the runbook is empty")],
            no_runbook,
        ),
        case(
            "mixed sh and sql in one item",
            with_env("1. Both\n   ```sh\n   ls\n   ```\n   ```sql\n   select 1;\n   ```\n"),
            &[(11, 4, E, "mixes shell and SQL blocks; split it")],
        ),
        case(
            "bad timeout",
            with_env("1. Wait\n   ```sh {timeout=soon}\n   true\n   ```\n"),
            &[(8, 11, E, "timeout 'soon' is not a duration")],
        ),
        case(
            "flag with a value",
            with_env("1. Wait\n   ```sh {verify=yes}\n   true\n   ```\n"),
            &[(8, 11, E, "attribute 'verify' takes no value")],
        ),
        case(
            "empty sql block",
            with_env("1. Nothing\n   ```sql\n   ```\n"),
            &[(8, 4, E, "empty sql block")],
        ),
        case(
            "bad estimate",
            format!(
                "+++\n[environments.development]\nestimate = \"soon\"\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(3, 12, E, "estimate \"soon\" is not a duration")],
        ),
        case(
            "pinned cluster not digits",
            format!(
                "+++\n[environments.development]\nsystem_identifier = \"73x1\"\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(
                3,
                21,
                E,
                "system_identifier = \"73x1\" is not a cluster's system identifier",
            )],
        ),
        case(
            "signoffs below one",
            format!(
                "+++\n[environments.development]\nsignoffs = 0\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(3, 12, E, "signoffs = 0")],
        ),
        case_then(
            "separation of duties not a boolean",
            format!(
                "+++\n[environments.development]\nseparation_of_duties = \"yes\"\nsignoffs = 2\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(
                3,
                24,
                E,
                "separation_of_duties = \"yes\" is not true or false; write separation_of_duties = true",
            )],
            // The rest of the front matter still applies.
            |l| {
                let dev = env(l.runbook.as_ref().unwrap(), "development");
                assert_eq!((dev.signoffs, dev.separation_of_duties), (2, false));
            },
        ),
        case(
            "alias already taken",
            format!(
                "+++\n[environments.development]\naliases = [\"prod\"]\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(3, 12, E, "alias 'prod' already names environment 'production'")],
        ),
        case(
            "bad variable name",
            format!("+++\n[variables]\n\"1X\" = \"a\"\n+++\n{}", with_env("1. Go\n")),
            &[(3, 1, E, "variable name '1X'")],
        ),
        case(
            "front-matter environment without a section",
            format!(
                "+++\n[environments.qa]\nconfirm = true\n+++\n{}",
                with_env("1. Go\n")
            ),
            &[(2, 15, W, "environment 'qa' has no section naming it")],
        ),
        case_then(
            "steps outside any phase",
            "# T\n\n## Development\n\n1. Loose\n\n### Execution\n\n1. Fine\n",
            &[(5, 1, W, "steps outside any phase in 'Development'")],
            |l| {
                let rb = l.runbook.as_ref().unwrap();
                let kinds: Vec<_> = env(rb, "development").phases.iter().map(|p| p.kind).collect();
                assert_eq!(kinds, [PhaseKind::Unphased, PhaseKind::Execution]);
                assert_eq!(step(rb, "development.steps.1").title, "Loose");
            },
        ),
        case(
            "phases out of order",
            "# T\n\n## Development\n\n### Validation\n\n1. v\n\n### Preparation\n\n1. p\n",
            &[(9, 1, W, "the Preparation phase comes after Validation")],
        ),
        case_then(
            "a runnable block outside a list item is a step of its own",
            with_env("```sh\nls\n```\n"),
            &[],
            |l| {
                let s = step(l.runbook.as_ref().unwrap(), "development.execution.1");
                assert_eq!((s.title.as_str(), s.pos.line), ("ls", 7));
                assert_eq!(
                    s.kind,
                    StepKind::Shell {
                        script: "ls\n".into()
                    }
                );
            },
        ),
        case(
            "runnable block in a reference section",
            format!(
                "{}\n## Success Criteria\n\n1. Rows\n   ```sql {{verify}}\n   select true;\n   ```\n",
                with_env("1. Go\n")
            ),
            &[(12, 4, W, "in the 'Success Criteria' section")],
        ),
        case(
            "two sections for one environment",
            "# T\n\n## Development\n\n### Execution\n\n1. a\n\n## Dev again\n\n### Execution\n\n1. b\n",
            &[(9, 1, E, "environment 'development' already has a section at 3:1")],
        ),
        case_then(
            "a second Rollback section",
            format!(
                "{}\n## Rollback\n\n1. r\n\n## Back-out plan\n\n1. s\n",
                with_env("1. a\n")
            ),
            &[(13, 1, W, "a second Rollback section (the first is at 9:1)")],
            |l| {
                let rb = l.runbook.as_ref().unwrap();
                let ids: Vec<_> = rb
                    .references
                    .iter()
                    .flat_map(|r| &r.steps)
                    .map(|s| s.id.as_str())
                    .collect();
                assert_eq!(ids, ["rollback.1"]);
            },
        ),
        case(
            "heading naming two environments",
            "# T\n\n## Development and Staging\n\n1. a\n",
            &[(3, 1, W, "names several environments")],
        ),
        case(
            "no title",
            "## Development\n\n### Execution\n\n1. a\n",
            &[(1, 1, W, "no title")],
        ),
        case_then(
            "BOM and CRLF line endings",
            "\u{FEFF}+++\r\ntitle = \"CRLF\"\r\n+++\r\n## Development\r\n### Execution\r\n1. Run\r\n   ```sh {id=crlf}\r\n   echo hi\r\n   ```\r\n",
            &[],
            |l| {
                let rb = l.runbook.as_ref().unwrap();
                assert_eq!(rb.title, "CRLF");
                let s = step(rb, "crlf");
                assert!(matches!(&s.kind, StepKind::Shell { script } if script.trim_end() == "echo hi"));
                assert_eq!(s.body.lines().next(), Some("Run"));
            },
        ),
    ]
}

#[test]
fn malformed_runbooks_give_exact_diagnostics_and_never_panic() {
    let cases = malformed_cases();
    assert!(cases.len() >= 18);
    // Every case is checked, and every mismatch reported at once.
    let mut failures = Vec::new();
    for c in cases {
        let loaded = std::panic::catch_unwind(|| load_bytes(fake_path(), &c.input))
            .unwrap_or_else(|_| panic!("{}: the loader panicked", c.name));
        let got: Vec<_> = loaded
            .diagnostics
            .iter()
            .map(|d| (d.pos.line, d.pos.col, d.severity, d.message.as_str()))
            .collect();
        let matches = got.len() == c.expect.len()
            && got
                .iter()
                .zip(c.expect)
                .all(|(g, e)| (g.0, g.1, g.2) == (e.0, e.1, e.2) && g.3.contains(e.3));
        if !matches {
            failures.push(format!("{}: expected {:#?}\ngot {got:#?}", c.name, c.expect));
        }
        (c.then)(&loaded);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn truncations_of_a_valid_runbook_never_panic() {
    let text = std::fs::read_to_string(sample_path()).unwrap();
    let bytes = text.as_bytes();
    // About 400 cuts, some inside multi-byte characters.
    for cut in (0..bytes.len()).step_by(bytes.len() / 400 + 1) {
        let _ = load_bytes(fake_path(), &bytes[..cut]);
    }
}

// ---- step kinds and annotations ----

#[test]
fn step_kinds_from_fenced_blocks() {
    let rb = runbook(&with_env(
        "1. Just do it\n\
         2. Reference only\n   ```\n   run.bat\n   ```\n   ```powershell\n   Get-Item\n   ```\n   ```text\n   note\n   ```\n\
         3. Shell\n   ```bash\n   echo a\n   ```\n\
         4. Shell too\n   ```shell\n   echo b\n   ```\n   ```sh\n   echo c\n   ```\n\
         5. SQL\n   ```postgresql\n   select 1;\n   ```\n   ```psql\n   select 2;\n   ```\n\
         6. In a nested item\n   - deeper\n     ```sql\n     select 3;\n     ```\n\
         7. Batch\n   ```bat\n   x.bat\n   ```\n",
    ));
    let kind = |n: u32| step(&rb, &format!("development.execution.{n}")).kind.clone();
    assert_eq!(kind(1), StepKind::Manual);
    assert_eq!(kind(2), StepKind::Manual);
    assert!(
        step(&rb, "development.execution.2")
            .body
            .contains("```powershell\nGet-Item\n```")
    );
    assert_eq!(
        kind(3),
        StepKind::Shell {
            script: "echo a\n".into()
        }
    );
    assert_eq!(
        kind(4),
        StepKind::Shell {
            script: "echo b\necho c\n".into()
        }
    );
    assert_eq!(
        kind(5),
        StepKind::Sql {
            sql: "select 1;\nselect 2;\n".into()
        }
    );
    // A nested item with a command of its own is a sub-step; its parent stays manual.
    assert_eq!(kind(6), StepKind::Manual);
    let sub = step(&rb, "development.execution.6.1");
    assert_eq!(
        sub.kind,
        StepKind::Sql {
            sql: "select 3;\n".into()
        }
    );
    assert_eq!(sub.parent.as_deref(), Some("development.execution.6"));
    assert_eq!(sub.title, "deeper");
    assert_eq!(kind(7), StepKind::Manual);
}

#[test]
fn attributes_set_step_fields() {
    let rb = runbook(&with_env(
        "1. Verify RLS\n   ```sql {verify id=check-rls timeout=10m}\n   select true;\n   ```\n\
         2. Back up\n   ```sh {backup, timeout=\"1h30m\"}\n   pg_dump\n   ```\n\
         3. Version\n   ```sh {readonly}\n   pg_dump --version\n   ```\n\
         4. Change\n   ```sql\n   alter table t enable row level security;\n   ```\n\
         5. Named manual step\n   ```text {id=call-the-dba}\n   ring ring\n   ```\n",
    ));
    let rls = step(&rb, "check-rls");
    assert!(rls.verify && !rls.readonly && !rls.backup);
    assert_eq!(rls.timeout, Some(Duration::from_secs(600)));
    assert!(!rls.changes_state());
    let backup = step(&rb, "development.execution.2");
    assert!(backup.backup && backup.changes_state());
    assert_eq!(backup.timeout, Some(Duration::from_secs(5400)));
    assert!(step(&rb, "development.execution.3").readonly);
    assert!(step(&rb, "development.execution.4").changes_state());
    assert_eq!(step(&rb, "call-the-dba").kind, StepKind::Manual);
}

#[test]
fn isolated_is_a_shell_steps_attribute_and_check_shows_it() {
    let loaded = load_text(&with_env(
        "1. Side job\n   ```sh {isolated}\n   cd /tmp\n   ```\n\
         2. Query\n   ```sql {isolated}\n   select 1;\n   ```\n",
    ));
    let rb = loaded.runbook.as_ref().expect("loads");
    assert!(step(rb, "development.execution.1").isolated);
    assert!(!step(rb, "development.execution.2").isolated);
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
    let d = &loaded.diagnostics[0];
    assert_eq!((d.pos.line, d.severity), (12, W));
    assert!(
        d.message.contains("only shell steps carry state"),
        "{}",
        d.message
    );
    let (mut out, mut err) = (Vec::new(), Vec::new());
    runsheet::runbook::check::print(fake_path(), &loaded, &mut out, &mut err);
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        out.contains("[shell isolated] development.execution.1  Side job"),
        "{out}"
    );
}

#[test]
fn attributes_on_blocks_that_do_not_run_are_warned() {
    let loaded = load_text(&with_env("1. Note\n   ```text {verify}\n   x\n   ```\n"));
    assert_eq!(loaded.diagnostics.len(), 1);
    let d = &loaded.diagnostics[0];
    assert_eq!((d.pos.line, d.pos.col, d.severity), (8, 13, W));
    assert!(d.message.contains("no effect on a `text` block"), "{}", d.message);
}

#[test]
fn file_attribute_reads_relative_to_the_runbook_and_feeds_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sql")).unwrap();
    std::fs::write(
        dir.path().join("sql/phase1.sql"),
        "alter table a enable row level security;\n",
    )
    .unwrap();
    let path = dir.path().join("book.md");
    std::fs::write(
        &path,
        with_env("1. Phase 1\n   ```sql {file=sql/phase1.sql}\n   ```\n"),
    )
    .unwrap();
    let first = load(&path).unwrap();
    assert!(first.diagnostics.is_empty(), "{:?}", first.diagnostics);
    let rb = first.runbook.unwrap();
    assert_eq!(
        step(&rb, "development.execution.1").kind,
        StepKind::Sql {
            sql: "alter table a enable row level security;\n".into()
        }
    );
    assert_eq!(rb.content_hash.len(), 64);
    assert_eq!(
        load(&path).unwrap().runbook.unwrap().content_hash,
        rb.content_hash,
        "stable"
    );
    std::fs::write(
        dir.path().join("sql/phase1.sql"),
        "alter table b enable row level security;\n",
    )
    .unwrap();
    assert_ne!(
        load(&path).unwrap().runbook.unwrap().content_hash,
        rb.content_hash,
        "covers the file"
    );

    std::fs::write(
        &path,
        with_env("1. Phase 1\n   ```sql {file=sql/phase1.sql}\n   select 1;\n   ```\n"),
    )
    .unwrap();
    let both = load(&path).unwrap();
    let messages: Vec<_> = both
        .errors()
        .map(|d| (d.pos.line, d.pos.col, d.message.as_str()))
        .collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!((messages[0].0, messages[0].1), (8, 12));
    assert!(messages[0].2.contains("both file= and a body"));
}

#[test]
fn task_list_items_and_titles() {
    let rb = runbook(&with_env(
        "- [ ] Open the **maintenance** page\n- [x] Stop `api` and [web](http://x) servers\n  with care\n- Plain\n",
    ));
    let open = step(&rb, "development.execution.1");
    assert_eq!(open.title, "Open the maintenance page");
    assert!(!open.checked);
    assert_eq!(open.body, "Open the **maintenance** page");
    let stop = step(&rb, "development.execution.2");
    // As a reader sees it: the source line break is not the end of the title.
    assert_eq!(stop.title, "Stop api and web servers with care");
    assert!(stop.checked);
    assert_eq!(stop.body, "Stop `api` and [web](http://x) servers\nwith care");
    assert!(!step(&rb, "development.execution.3").checked);
}

#[test]
fn nested_items_and_paragraphs_are_the_steps_text() {
    let rb = runbook(&with_env(
        "1. Restart services\n\n   In this order:\n\n   - backend\n   - API\n     1. check health\n\n2. Watch\n",
    ));
    assert_eq!(rb.all_steps().count(), 2);
    let s = step(&rb, "development.execution.1");
    assert_eq!(s.title, "Restart services");
    assert_eq!(
        s.body,
        "Restart services\n\nIn this order:\n\n- backend\n- API\n  1. check health"
    );
    assert_eq!(s.pos.line, 7);
    assert_eq!(step(&rb, "development.execution.2").pos.line, 15);
}

#[test]
fn phase_synonyms() {
    let rb = runbook(
        "# T\n\n## Development\n\n### Pre-flight\n\n1. a\n\n### Setup\n\n1. b\n\n### Deploy\n\n1. c\n\n\
         ### Verification\n\n1. d\n\n### Wrap-up\n\n1. e\n\n### Back-out\n\n1. f\n",
    );
    let phases: Vec<_> = env(&rb, "development")
        .phases
        .iter()
        .map(|p| (p.kind, p.title.as_str()))
        .collect();
    assert_eq!(
        phases,
        [
            (PhaseKind::Prerequisites, "Pre-flight"),
            (PhaseKind::Preparation, "Setup"),
            (PhaseKind::Execution, "Deploy"),
            (PhaseKind::Validation, "Verification"),
            (PhaseKind::PostDeployment, "Wrap-up"),
            (PhaseKind::Rollback, "Back-out"),
        ]
    );
    for id in [
        "development.prerequisites.1",
        "development.preparation.1",
        "development.execution.1",
        "development.validation.1",
        "development.post-deployment.1",
        "development.rollback.1",
    ] {
        step(&rb, id);
    }
    let e = env(&rb, "development");
    assert_eq!(rb.rollback_steps(e)[0].id, "development.rollback.1");
}

#[test]
fn environment_aliases_from_defaults_and_front_matter() {
    let rb = runbook(
        "+++\n[environments.production]\naliases = [\"live\"]\n[environments.qa]\naliases = [\"test-bed\"]\n+++\n\
         # T\n\n## Go Live\n\n### Execution\n\n1. a\n\n## Stage rehearsal\n\n### Execution\n\n1. b\n\n\
         ## The Test-Bed\n\n### Execution\n\n1. c\n",
    );
    let names: Vec<_> = rb.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["production", "staging", "qa"]);
    assert_eq!(env(&rb, "production").aliases, ["prod", "live"]);
    assert_eq!(env(&rb, "production").heading, "Go Live");
    assert!(rb.environment("test-bed").is_some());
    step(&rb, "qa.execution.1");
}

#[test]
fn environments_from_headings_without_front_matter() {
    let rb = runbook(
        "# T\n\n## Dev\n\n### Execution\n\n1. a\n\n## STAGING\n\n### Execution\n\n1. b\n\n## Prod rollout\n\n### Execution\n\n1. c\n",
    );
    let names: Vec<_> = rb.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["development", "staging", "production"]);
    for e in &rb.environments {
        assert_eq!(e.database, DatabaseSource::PgEnv);
        assert_eq!((e.signoffs, e.min_backups, e.confirm), (1, 0, false));
        assert!(e.requires.is_empty() && e.estimate.is_none());
    }
    assert_eq!(step(&rb, "production.execution.1").pos.line, 19);
}

#[test]
fn front_matter_settings() {
    let rb = runbook(
        "+++\ntitle = \"From front matter\"\n\
         [variables]\nBACKUP_DIR = \"backups\"\nTOKEN = { value = \"env:API_TOKEN\", secret = true }\nHOST = { env = \"HOST\", default = \"localhost\" }\n\
         [contacts]\ndba = \"Ann, 555-0100\"\n\
         [environments.staging]\ndatabase = \"env:STAGING_URL\"\nestimate = \"45m\"\nsystem_identifier = \"7312345678901234567\"\n\
         [environments.production]\ndatabase = { env = \"PROD_URL\", default = \"postgres://p@h/db\" }\n\
         requires = [\"dev\", \"staging\"]\nrequires_rollback_test = \"stage\"\nconfirm = true\nsignoffs = 2\nmin_backups = 3\n\
         separation_of_duties = true\nestimate = \"6h-8h\"\nwindow = \"Weekend maintenance window\"\n\
         [environments.development]\ndatabase = \"none\"\n\
         +++\n# Ignored title\n\n## Development\n\n### Execution\n\n1. a\n\n## Staging\n\n### Execution\n\n1. b\n\n\
         ## Production\n\n### Execution\n\n1. c\n",
    );
    assert_eq!(rb.title, "From front matter");
    assert_eq!(
        rb.variables["BACKUP_DIR"].value,
        ValueSource::Literal("backups".into())
    );
    assert!(rb.variables["TOKEN"].secret);
    assert_eq!(
        rb.variables["TOKEN"].value,
        ValueSource::Env {
            var: "API_TOKEN".into(),
            default: None
        }
    );
    assert_eq!(
        rb.variables["HOST"].value,
        ValueSource::Env {
            var: "HOST".into(),
            default: Some("localhost".into())
        }
    );
    assert_eq!(rb.contacts["dba"], "Ann, 555-0100");
    assert_eq!(env(&rb, "development").database, DatabaseSource::None);
    let staging = env(&rb, "staging");
    assert_eq!(rb.pin_of("stage"), Some("7312345678901234567"));
    assert_eq!(rb.pin_of("production"), None);
    assert_eq!(
        staging.database,
        DatabaseSource::Url(ValueSource::Env {
            var: "STAGING_URL".into(),
            default: None
        })
    );
    assert_eq!(
        staging.estimate.map(|e| (e.min, e.max)),
        Some((Duration::from_secs(2700), Duration::from_secs(2700)))
    );
    let prod = env(&rb, "production");
    assert_eq!(
        prod.database,
        DatabaseSource::Url(ValueSource::Env {
            var: "PROD_URL".into(),
            default: Some("postgres://p@h/db".into())
        })
    );
    assert_eq!(prod.requires, ["development", "staging"]);
    assert_eq!(prod.requires_rollback_test.as_deref(), Some("staging"));
    assert!(prod.confirm);
    assert_eq!((prod.signoffs, prod.min_backups), (2, 3));
    assert!(prod.separation_of_duties && !staging.separation_of_duties);
    let e = prod.estimate.unwrap();
    assert_eq!((e.min.as_secs(), e.max.as_secs()), (6 * 3600, 8 * 3600));
    assert_eq!(prod.window.as_deref(), Some("Weekend maintenance window"));
}

#[test]
fn rollback_section_steps_run_on_demand() {
    let rb = runbook(&format!(
        "{}\n## Rollback\n\nDecide first.\n\n1. Maintenance page on\n2. Restore\n   ```sh {{timeout=2h}}\n   ./restore.sh\n   ```\n",
        with_env("1. a\n")
    ));
    let r = rb.reference(ReferenceKind::Rollback).unwrap();
    let ids: Vec<_> = r.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["rollback.1", "rollback.2"]);
    assert!(r.markdown.starts_with("Decide first."));
    assert_eq!(rb.rollback_steps(env(&rb, "development")).len(), 2);
}

#[test]
fn headings_inside_items_and_quotes_do_not_split_sections() {
    let rb = runbook(&with_env(
        "1. Item\n   ## Not a section\n\n> ## Quoted\n\n2. Still here\n",
    ));
    assert_eq!(rb.references.len(), 0);
    assert_eq!(env(&rb, "development").phases[0].steps.len(), 2);
}

// ---- the seed plan and the sample runbook ----

fn seed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/DATABASE_REMEDIATION_DEPLOYMENT_PLAN.md")
}

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/cryoprotect-remediation.md")
}

#[test]
fn seed_plan_loads_unmodified() {
    let loaded = load(&seed_path()).expect("the seed plan is readable");
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    let rb = loaded.runbook.unwrap();
    assert_eq!(rb.title, "CryoProtect v2 - Database Remediation Deployment Plan");
    let shared = rb.prerequisites.as_ref().unwrap();
    assert_eq!(shared.kind, PhaseKind::Prerequisites);
    assert_eq!(shared.steps.len(), 4);
    let names: Vec<_> = rb.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["development", "staging", "production"]);
    let order = [
        PhaseKind::Preparation,
        PhaseKind::Execution,
        PhaseKind::Validation,
        PhaseKind::PostDeployment,
    ];
    for (name, counts) in [
        ("development", [3, 3, 3, 2]),
        ("staging", [4, 3, 4, 3]),
        ("production", [6, 3, 4, 4]),
    ] {
        let e = env(&rb, name);
        let kinds: Vec<_> = e.phases.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, order, "{name}");
        let got: Vec<_> = e.phases.iter().map(|p| p.steps.len()).collect();
        assert_eq!(got, counts, "{name}");
    }
    assert_eq!(rb.all_steps().count(), 46);
    assert!(rb.all_steps().all(|s| s.kind == StepKind::Manual));
    let dry_run = step(&rb, "production.execution.1");
    assert_eq!(dry_run.title, "Run the remediation process in dry-run mode first");
    assert!(
        dry_run
            .body
            .contains("```\ndatabase_remediation_quickstart.bat\n```"),
        "{}",
        dry_run.body
    );
    assert!(dry_run.body.contains("Select option 2"));
    assert!(
        step(&rb, "production.execution.3")
            .body
            .contains("Execute phases in order (1-5)")
    );
    let refs: Vec<_> = rb.references.iter().map(|r| (r.kind, r.title.as_str())).collect();
    assert_eq!(
        refs,
        [
            (ReferenceKind::Overview, "Overview"),
            (ReferenceKind::Rollback, "Rollback Procedure"),
            (ReferenceKind::Communication, "Communication Plan"),
            (ReferenceKind::Timeline, "Timeline"),
            (ReferenceKind::SuccessCriteria, "Success Criteria"),
            (ReferenceKind::Contacts, "Contact Information"),
        ]
    );
    let timeline = rb.reference(ReferenceKind::Timeline).unwrap();
    assert!(
        timeline
            .markdown
            .starts_with("| Environment | Estimated Duration |")
    );
    assert!(
        rb.reference(ReferenceKind::Communication)
            .unwrap()
            .markdown
            .contains("### Staging Deployment")
    );
}

#[test]
fn sample_runbook_loads_cleanly_with_every_step_kind() {
    let loaded = load(&sample_path()).expect("the sample runbook is readable");
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    let rb = loaded.runbook.unwrap();
    let has = |f: fn(&Step) -> bool| rb.all_steps().any(f);
    assert!(has(|s| s.kind == StepKind::Manual));
    assert!(has(|s| matches!(s.kind, StepKind::Shell { .. })));
    assert!(has(|s| matches!(s.kind, StepKind::Sql { .. })));
    assert!(has(|s| s.verify));
    let prod = env(&rb, "production");
    assert_eq!(prod.requires, ["development", "staging"]);
    assert!(prod.confirm);
    assert_eq!((prod.signoffs, prod.min_backups), (2, 3));
    for e in &rb.environments {
        assert!(matches!(
            &e.database,
            DatabaseSource::Url(ValueSource::Env { default: Some(_), .. })
        ));
        assert!(e.estimate.is_some() && e.window.is_some());
    }
}

// ---- runsheet check ----

fn run_check(path: &Path) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = check::run(path, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn check_prints_the_outline_of_a_good_runbook() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("verify.sql"), "select true;\n").unwrap();
    let path = dir.path().join("good.md");
    std::fs::write(
        &path,
        "+++\ntitle = \"Good\"\n[variables]\nTOKEN = { value = \"s3cret-token\", secret = true }\n\
         [environments.production]\ndatabase = { env = \"PROD_URL\", default = \"postgres://u@h/db\" }\n\
         requires = [\"staging\"]\nconfirm = true\nsignoffs = 2\nestimate = \"6-8 hours\"\nwindow = \"Weekend\"\n+++\n\
         # Ignored\n\n## Prerequisites\n\n1. Tools:\n   ```sh {readonly}\n   pg_dump --version\n   ```\n\n\
         ## Staging\n\n### Execution\n\n1. Go\n\n\
         ## Production\n\n### Execution\n\n1. Back up\n   ```sh {backup id=prod-backup timeout=2h}\n   pg_dump\n   ```\n\
         2. Check\n   ```sql {verify file=verify.sql}\n   ```\n\n## Timeline\n\nSoon.\n",
    )
    .unwrap();
    let (code, out, err) = run_check(&path);
    assert_eq!(code, check::OK, "{err}");
    assert_eq!(err, "");
    let hash = load(&path).unwrap().runbook.unwrap().content_hash;
    let p = path.display();
    let expected = format!(
        "runbook   Good\nfile      {p}\nsha256    {hash}\n\n\
         variables\n  TOKEN = *** (secret)\n\n\
         prerequisites  \"Prerequisites\"  (line 15, every environment)\n  [shell readonly] prerequisites.1  Tools\n\n\
         environment staging  \"Staging\"  (line 22)\n  aliases       stage\n  database      PG* environment variables\n\
         \x20 requires      -\n  confirm       no\n  signoffs      1\n  min backups   0\n  estimate      -\n  window        -\n\
         \x20 phase execution  \"Execution\"  (line 24)\n    [manual] staging.execution.1  Go\n\n\
         environment production  \"Production\"  (line 28)\n  aliases       prod\n\
         \x20 database      env:PROD_URL (default postgres://u@h/db)\n  requires      staging\n  confirm       yes\n\
         \x20 signoffs      2\n  min backups   0\n  estimate      6h-8h\n  window        Weekend\n\
         \x20 phase execution  \"Execution\"  (line 30)\n\
         \x20   [shell backup] prod-backup  Back up  (timeout 2h)\n    [sql verify] production.execution.2  Check\n\n\
         reference timeline  \"Timeline\"  (line 40)\n\n\
         summary: 2 environments, 3 phases, 4 steps (1 manual, 2 shell, 1 sql; 1 verify), 0 warnings, 0 errors\n"
    );
    assert_eq!(out, expected);
    assert!(!out.contains("s3cret"));

    let (code, _, err) = run_check(&sample_path());
    assert_eq!(
        (code, err.as_str()),
        (check::OK, ""),
        "the sample runbook checks clean"
    );
}

#[test]
fn check_reports_errors_sorted_and_redacts_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.md");
    std::fs::write(
        &path,
        "+++\n[environments.development]\ndatabase = \"postgres://admin:hunter2@db/app\"\n+++\n# T\n\n## Development\n\n### Execution\n\n1. x\n   ```sh {id=gate.requires.staging}\n   true\n   ```\n2. y\n   ```sh {colour}\n   true\n   ```\n",
    )
    .unwrap();
    let (code, out, err) = run_check(&path);
    assert_eq!(code, check::INVALID);
    let p = path.display();
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "{p}:3:12: warning: the database URL contains a password"
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{p}:12:11: error: step id 'gate.requires.staging' is reserved"
        )),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!("{p}:16:11: error: unknown attribute 'colour'")),
        "{err}"
    );
    assert!(!out.contains("hunter2") && !err.contains("hunter2"));
    assert!(out.contains("postgres://admin:***@db/app"), "{out}");
    assert!(out.contains("2 errors"), "{out}");
}

#[test]
fn check_exit_codes_for_unreadable_and_unloadable_files() {
    let (code, out, err) = run_check(Path::new("/nonexistent-runsheet-test/none.md"));
    assert_eq!(code, check::UNREADABLE);
    assert_eq!(out, "");
    assert!(
        err.contains("cannot read /nonexistent-runsheet-test/none.md"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.md");
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let (code, out, err) = run_check(&path);
    assert_eq!(code, check::INVALID);
    assert_eq!(out, "");
    assert!(
        err.starts_with(&format!(
            "{}:3:1: error: the file contains a NUL byte",
            path.display()
        )),
        "{err}"
    );
}

// ---- {file=…} is confined (issue 12) ----

/// Load with a deadline: a FIFO must not make the loader wait for a writer.
fn load_within(path: &Path, options: LoadOptions) -> Loaded {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(load_with(&path, options).map_err(|e| e.to_string()));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(e)) => panic!("cannot load: {e}"),
        Err(_) => panic!("loading did not finish within 20 s: it hangs"),
    }
}

fn include_errors(loaded: &Loaded) -> Vec<(u32, u32, String)> {
    loaded
        .errors()
        .map(|d| (d.pos.line, d.pos.col, d.message.clone()))
        .collect()
}

#[test]
fn included_files_stay_in_the_runbook_folder_unless_allowed() {
    let top = tempfile::tempdir().unwrap();
    let book_dir = top.path().join("book");
    std::fs::create_dir_all(book_dir.join("sql")).unwrap();
    std::fs::write(top.path().join("secret.txt"), "hunter2\n").unwrap();
    std::fs::write(book_dir.join("sql/ok.sql"), "select 1;\n").unwrap();
    std::os::unix::fs::symlink(top.path().join("secret.txt"), book_dir.join("sql/escape.sql")).unwrap();
    std::os::unix::fs::symlink(book_dir.join("sql/ok.sql"), book_dir.join("inside.sql")).unwrap();
    let path = book_dir.join("book.md");
    std::fs::write(
        &path,
        with_env(
            "1. Up\n   ```sql {file=../secret.txt}\n   ```\n\
             2. Abs\n   ```sql {file=/etc/passwd}\n   ```\n\
             3. Link\n   ```sql {file=sql/escape.sql}\n   ```\n\
             4. Fine\n   ```sql {file=sql/ok.sql}\n   ```\n\
             5. Fine link\n   ```sql {file=inside.sql}\n   ```\n",
        ),
    )
    .unwrap();
    let confined = load_within(&path, LoadOptions::default());
    let errors = include_errors(&confined);
    let at: Vec<(u32, u32)> = errors.iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(at, [(8, 12), (11, 12), (14, 12)], "{errors:#?}");
    for (_, _, message) in &errors {
        assert!(message.contains("is outside the runbook's folder"), "{message}");
        assert!(message.contains("--allow-outside-files"), "{message}");
    }
    let rb = confined.runbook.unwrap();
    assert_eq!(
        step(&rb, "development.execution.4").kind,
        StepKind::Sql {
            sql: "select 1;\n".into()
        }
    );
    assert_eq!(
        step(&rb, "development.execution.5").kind,
        step(&rb, "development.execution.4").kind
    );
    assert!(
        rb.all_steps()
            .all(|s| !format!("{:?}", s.kind).contains("hunter2"))
    );

    let allowed = load_within(
        &path,
        LoadOptions {
            allow_outside_files: true,
        },
    );
    assert!(include_errors(&allowed).is_empty(), "{:#?}", allowed.diagnostics);
    let rb = allowed.runbook.unwrap();
    assert_eq!(
        step(&rb, "development.execution.1").kind,
        StepKind::Sql {
            sql: "hunter2\n".into()
        }
    );
}

#[test]
fn only_regular_files_of_at_most_16_mib_are_read() {
    let dir = tempfile::tempdir().unwrap();
    nix::unistd::mkfifo(&dir.path().join("pipe.sql"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.sql")).unwrap();
    std::fs::create_dir(dir.path().join("folder.sql")).unwrap();
    let big = std::fs::File::create(dir.path().join("big.sql")).unwrap();
    big.set_len(16 * 1024 * 1024 + 1).unwrap();
    let path = dir.path().join("book.md");
    std::fs::write(
        &path,
        with_env(
            "1. Fifo\n   ```sql {file=pipe.sql}\n   ```\n\
             2. Zero\n   ```sql {file=zero.sql}\n   ```\n\
             3. Folder\n   ```sql {file=folder.sql}\n   ```\n\
             4. Big\n   ```sql {file=big.sql}\n   ```\n",
        ),
    )
    .unwrap();
    // Allowed outside, /dev/zero is still refused: it is not a regular file.
    let loaded = load_within(
        &path,
        LoadOptions {
            allow_outside_files: true,
        },
    );
    let errors = include_errors(&loaded);
    let got: Vec<(u32, u32, bool)> = errors
        .iter()
        .zip(["a FIFO", "a device", "a directory", "larger than 16 MiB"])
        .map(|(e, what)| (e.0, e.1, e.2.contains(what)))
        .collect();
    assert_eq!(
        got,
        [(8, 12, true), (11, 12, true), (14, 12, true), (17, 12, true)],
        "{errors:#?}"
    );

    // The runbook itself: a FIFO or a device is refused at once.
    for (name, what) in [("pipe.sql", "a FIFO"), ("zero.sql", "a device")] {
        let (code, out, err) = run_check(&dir.path().join(name));
        assert_eq!(code, check::UNREADABLE, "{err}");
        assert_eq!(out, "");
        assert!(err.contains(what), "{err}");
    }
}

#[test]
fn ids_runsheet_generates_are_reserved() {
    let loaded = load_text(
        "+++\n[environments.staging]\nrequires = [\"development\"]\n+++\n# T\n\n## Development\n\n### Execution\n\n1. A\n\n\
         ## Staging\n\n### Execution\n\n1. Mine\n   ```sh {id=gate.requires.development}\n   true\n   ```\n\
         2. Also mine\n   ```text {id=gate.backups}\n   x\n   ```\n",
    );
    let errors = include_errors(&loaded);
    let at: Vec<(u32, u32)> = errors.iter().map(|e| (e.0, e.1)).collect();
    assert_eq!(at, [(18, 11), (22, 13)], "{errors:#?}");
    assert!(
        errors[0].2.contains("'gate.requires.development' is reserved"),
        "{}",
        errors[0].2
    );
}

#[test]
fn an_environment_section_without_phases_is_its_plan() {
    let rb = runbook(
        "# T\n\n## Production\n\n1. Drain the pool\n2. Restart\n   ```sh\n   systemctl restart app\n   ```\n",
    );
    let prod = env(&rb, "production");
    assert_eq!(prod.phases.len(), 1);
    assert_eq!(prod.phases[0].kind, PhaseKind::Unphased);
    assert_eq!(step(&rb, "production.steps.2").title, "Restart");
}

#[test]
fn notify_and_notify_url_are_read_and_a_bad_url_is_an_error_at_its_place() {
    let rb = runbook(
        "+++\nnotify = \"logger -t runsheet\"\nnotify_url = \"https://chat.example:8443/hooks/abc?x=1\"\n+++\n# T\n\n1. Step\n",
    );
    assert_eq!(rb.notify.command.as_deref(), Some("logger -t runsheet"));
    let url = rb.notify.url.expect("a webhook");
    assert_eq!(
        (url.tls, url.place(), url.path.as_str()),
        (true, "chat.example:8443".into(), "/hooks/abc?x=1")
    );
    let loaded = load_text("+++\ntitle = \"T\"\nnotify_url = \"chat.example/hook\"\n+++\n# T\n\n1. Step\n");
    let found: Vec<_> = loaded
        .diagnostics
        .iter()
        .map(|d| (d.pos.line, d.pos.col, d.severity, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [(3, 14, E, "notify_url: write an http:// or https:// URL")]
    );
    // IPv6: the port after the brackets, and nothing else there.
    let v6 = runbook("+++\nnotify_url = \"http://[::1]:8080/h\"\n+++\n# T\n\n1. Step\n");
    assert_eq!(v6.notify.url.expect("a webhook").place(), "::1:8080");
    for odd in [
        "http://[::1]x/h",
        "http://[::1]8080/h",
        "http://[::1/h",
        "http://[]/h",
    ] {
        let loaded = load_text(&format!(
            "+++\ntitle = \"T\"\nnotify_url = \"{odd}\"\n+++\n# T\n\n1. Step\n"
        ));
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| d.severity == E && d.message.starts_with("notify_url: ")),
            "{odd}: {:?}",
            loaded.diagnostics
        );
    }
}

#[test]
fn the_front_matter_says_what_attached_terminals_may_ask_besides_signing() {
    use runsheet::runbook::model::AttachRight;
    let body = "# T\n\n1. Check\n";
    assert!(
        runbook(body).attach.is_empty(),
        "by default: sign and add notes only"
    );
    let rb = runbook(&format!(
        "+++\nattach = [\"abort\", \"pause\", \"pause\"]\n+++\n{body}"
    ));
    assert_eq!(rb.attach, [AttachRight::Pause, AttachRight::Abort]);
    let wrong = load_text(&format!("+++\nattach = [\"skip\"]\n+++\n{body}"));
    assert!(
        wrong
            .diagnostics
            .iter()
            .any(|d| d.pos.line == 2 && d.message.contains("\"pause\", \"abort\"; not \"skip\"")),
        "{:#?}",
        wrong.diagnostics
    );
}
