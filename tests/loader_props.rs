//! Property tests of the loader: no input makes it panic; loading is a
//! function of what the document says (the same text gives the same
//! outline, whatever its line endings, and the plan a journal header
//! stores reads back as it was written); and no list item or runnable
//! block vanishes without a word.

mod common;

use std::path::Path;

use proptest::prelude::*;
use runsheet::runbook::check;
use runsheet::runbook::loader::{Loaded, load_bytes, load_str};
use runsheet::runbook::plan::Plan;

fn path() -> &'static Path {
    Path::new("/nonexistent-runsheet-props/runbook.md")
}

/// Pieces of the Markdown real runbooks are made of, bad ones included.
fn fragment() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "Production",
        "staging",
        "dev",
        "Deployment to",
        "Prerequisites",
        "Execution",
        "Validation",
        "Rollback",
        "Overview",
        "Step 1:",
        "Upgrade masters",
        "<NODE POOL NAME>",
        "{#anchor}",
        "{{< note >}}",
        "Mock stage",
        "é ü 日本",
        "",
    ]);
    let heading = (1usize..=6, word.clone(), word.clone())
        .prop_map(|(level, a, b)| format!("{} {a} {b}\n\n", "#".repeat(level)));
    let setext = (word.clone(), prop::bool::ANY)
        .prop_map(|(w, one)| format!("{w} title\n{}\n\n", if one { "=====" } else { "-----" }));
    let marker = prop::sample::select(vec!["1. ", "2) ", "- ", " - [ ] ", "* [ ] ", "* [x] ", "10. "]);
    let item = (marker, word.clone(), 0usize..3)
        .prop_map(|(m, w, indent)| format!("{}{m}{w} the thing\n", "  ".repeat(indent)));
    let lang = prop::sample::select(vec![
        "sh",
        "bash",
        "console",
        "sql",
        "text",
        "diff",
        "",
        "sh {verify}",
        "sql {id=gate.x}",
        "sh {file=x.sh}",
        "sh {timeout=}",
        "output",
    ]);
    let body = prop::sample::select(vec![
        "echo hi",
        "$ kubectl get pods \\\n  -n kube-system\nNAME READY\npod-1 1/1",
        "(host#) show version\nVersion 1",
        "select 1; vacuum;",
        "CREATE INDEX CONCURRENTLY i ON t (a);",
        "read -p 'ok?' x",
        "- a\n+ b",
        "",
    ]);
    let fence = (lang, body, prop::bool::ANY, 0usize..4).prop_map(|(lang, body, closed, indent)| {
        let pad = " ".repeat(indent);
        let mut s = format!("{pad}```{lang}\n");
        for line in body.lines() {
            s.push_str(&format!("{pad}{line}\n"));
        }
        if closed {
            s.push_str(&format!("{pad}```\n"));
        }
        s
    });
    let fixed = prop::sample::select(vec![
        "+++\ntitle = \"T\"\nweight = 3\n[environments.production]\nconfirm = true\n+++\n",
        "+++\ntitle = \n+++\n",
        "+++\n",
        "---\ntitle: \"A runbook\"\nparams:\n  nested: true\n---\n",
        "---\n",
        "<!-- a comment -->\n",
        "!!! warning \"Careful\"\n    <table><tr><td>x</td></tr></table>\n\n",
        "| a | b |\n|---|---|\n| 1 | 2 |\n",
        "- [Intro](#intro)\n- [Steps](#steps)\n",
        "> quoted\n> ## heading\n",
        "Some prose. Another sentence\nwrapped here.\n\n",
        "\r\n",
        "\t\n",
    ])
    .prop_map(str::to_string);
    prop_oneof![heading, setext, item, fence, fixed]
}

fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..40).prop_map(|parts| parts.concat())
}

/// `check`'s outline without the lines that name the file and its hash.
fn outline(text: &str) -> (String, Vec<String>) {
    let loaded = load_str(path(), text);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    check::print(path(), &loaded, &mut out, &mut err);
    let out = String::from_utf8(out).expect("utf-8");
    let kept = out
        .lines()
        .filter(|l| !l.starts_with("sha256 "))
        .collect::<Vec<_>>()
        .join("\n");
    let diags = loaded
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.pos, d.message))
        .collect();
    (kept, diags)
}

fn plans(loaded: &Loaded) -> Vec<Plan> {
    loaded
        .runbook
        .iter()
        .flat_map(|rb| rb.environments.iter().map(|e| Plan::for_environment(rb, e)))
        .collect()
}

proptest! {
    // 400 cases each by default; PROPTEST_CASES=N for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
        let _ = load_bytes(path(), &bytes);
    }

    #[test]
    fn runbook_shaped_text_never_panics(text in document()) {
        let loaded = load_str(path(), &text);
        for plan in plans(&loaded) {
            let _ = plan.only("verify");
        }
    }

    #[test]
    fn load_check_load_is_stable(text in document()) {
        let first = outline(&text);
        prop_assert_eq!(&first, &outline(&text));
        // Line endings are not content: CRLF gives the same outline.
        let crlf = text.replace("\r\n", "\n").replace('\n', "\r\n");
        let lf = text.replace("\r\n", "\n");
        prop_assert_eq!(outline(&lf), outline(&crlf));
    }

    #[test]
    fn no_item_or_runnable_block_vanishes(text in document()) {
        let loaded = load_str(path(), &text);
        // An error stops the runbook anyway, and says where.
        if !loaded.has_errors() {
            let lost = common::outline::vanished(&text, &loaded);
            prop_assert!(lost.is_empty(), "lines {:?} vanished from:\n{}", lost, text);
        }
    }

    #[test]
    fn session_plans_read_back_as_written(text in document()) {
        for plan in plans(&load_str(path(), &text)) {
            let json = serde_json::to_string(&plan).expect("serialisable");
            let back: Plan = serde_json::from_str(&json).expect("readable");
            prop_assert_eq!(back, plan);
        }
    }
}
