//! What a heading means: which environment a top-level heading is about,
//! which phase a heading names, which sections are for reference.

use super::model::{PhaseKind, ReferenceKind};

/// Phase names and their synonyms. The first table entry whose phrase
/// appears in the heading wins, so specific phrases come before generic
/// ones: "Post-Deployment Checks" is post-deployment, "Deployment
/// Validation" is validation, "Pre-deployment" is preparation.
const PHASES: &[(PhaseKind, &[&str])] = &[
    (
        PhaseKind::PostDeployment,
        &[
            "post deployment",
            "postdeployment",
            "after deployment",
            "follow up",
            "followup",
            "wrap up",
            "cleanup",
            "clean up",
        ],
    ),
    (
        PhaseKind::Prerequisites,
        &[
            "prerequisites",
            "prerequisite",
            "pre requisites",
            "pre requisite",
            "pre flight",
            "preflight",
            "requirements",
            "before you start",
        ],
    ),
    (
        PhaseKind::Preparation,
        &[
            "preparation",
            "prepare",
            "pre deployment",
            "predeployment",
            "setup",
            "set up",
        ],
    ),
    (
        PhaseKind::Rollback,
        &[
            "rollback",
            "roll back",
            "rolling back",
            "back out",
            "backout",
            "revert",
        ],
    ),
    (
        PhaseKind::Validation,
        &[
            "validation",
            "validate",
            "verification",
            "verify",
            "testing",
            "tests",
            "checks",
            "qa",
        ],
    ),
    (
        PhaseKind::Execution,
        &[
            "execution",
            "execute",
            "deployment",
            "deploy",
            "implementation",
            "run",
        ],
    ),
];

const REFERENCES: &[(ReferenceKind, &[&str])] = &[
    (
        ReferenceKind::Rollback,
        &["rollback", "roll back", "back out", "backout", "revert"],
    ),
    (
        ReferenceKind::SuccessCriteria,
        &["success criteria", "acceptance criteria"],
    ),
    (ReferenceKind::Communication, &["communication", "communications"]),
    (ReferenceKind::Timeline, &["timeline", "schedule"]),
    (
        ReferenceKind::Contacts,
        &["contact", "contacts", "escalation contacts"],
    ),
    (ReferenceKind::Overview, &["overview", "summary"]),
];

/// Sections that describe rather than instruct, whatever they hold: an
/// alert runbook's "Meaning" and "Impact", a document's "References".
const DESCRIPTIVE: &[&str] = &[
    "about",
    "appendix",
    "background",
    "changelog",
    "context",
    "contents",
    "dashboards",
    "description",
    "faq",
    "further reading",
    "glossary",
    "history",
    "impact",
    "introduction",
    "links",
    "meaning",
    "notes",
    "owners",
    "purpose",
    "references",
    "related",
    "resources",
    "scope",
    "see also",
    "symptoms",
    "table of contents",
    "toc",
];

/// The phase a `###` heading names, if any.
pub(crate) fn phase_kind(heading: &str) -> Option<PhaseKind> {
    let words = phrase_words(heading);
    PHASES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| contains(&words, p)))
        .map(|(k, _)| *k)
}

/// The kind of a reference section.
pub(crate) fn reference_kind(heading: &str) -> ReferenceKind {
    named_reference(heading).unwrap_or(ReferenceKind::Other)
}

/// The reference kind a heading's words name, if they name one: such a
/// section stays reference whatever it holds (phase names aside).
pub(crate) fn named_reference(heading: &str) -> Option<ReferenceKind> {
    let words = phrase_words(heading);
    REFERENCES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| contains(&words, p)))
        .map(|(k, _)| *k)
        .or_else(|| {
            DESCRIPTIVE
                .iter()
                .any(|p| contains(&words, p))
                .then_some(ReferenceKind::Other)
        })
}

/// A heading that names a step rather than a topic: `Step 3: Drain`,
/// `Phase 2`, `5. Mock release`, `2) Upgrade`.
pub(crate) fn is_step_like(heading: &str) -> bool {
    let words = phrase_words(heading);
    let numbered = heading
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .is_some_and(|n| !n.is_empty());
    numbered
        || matches!(
            words.as_slice(),
            [first, n, ..] if matches!(first.as_str(), "step" | "phase" | "stage" | "part")
                && n.chars().all(|c| c.is_ascii_digit())
        )
}

/// Words that may surround an environment's name in a heading whose
/// subject it is: "Deployment to Staging Environment", "Prod rollout".
const ENVIRONMENT_FRAME: &[&str] = &[
    "a",
    "again",
    "checklist",
    "cluster",
    "cutover",
    "deploy",
    "deploying",
    "deployment",
    "deployments",
    "env",
    "environment",
    "environments",
    "for",
    "go",
    "in",
    "into",
    "on",
    "phase",
    "plan",
    "procedure",
    "rehearsal",
    "release",
    "rollout",
    "run",
    "steps",
    "the",
    "to",
    "upgrade",
];

/// What a top-level heading says about environments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// No environment word.
    None,
    /// The environment at this index is the heading's subject.
    Named(usize),
    /// Several environments are.
    Several(Vec<usize>),
    /// An environment word appears, but the heading is about something
    /// else ("Mock stage and Mock release", "Notify the dev mailing list").
    Mentioned(usize, String),
}

/// Which environment, if any, `heading` is about; `names[i]` are the
/// name and aliases of environment `i`.
pub(crate) fn subject(heading: &str, names: &[Vec<&str>]) -> Subject {
    // A qualifier in parentheses does not change what the heading is about:
    // "Production (EU)" is about production.
    let mut plain = String::with_capacity(heading.len());
    let mut depth = 0usize;
    for c in heading.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let words = name_words(if plain.trim().is_empty() { heading } else { &plain });
    let mut covered = vec![false; words.len()];
    let mut found: Vec<(usize, String)> = Vec::new();
    for (env, env_names) in names.iter().enumerate() {
        for name in env_names {
            let name = name_words(name);
            if name.is_empty() || name.len() > words.len() {
                continue;
            }
            for start in 0..=words.len() - name.len() {
                if words[start..start + name.len()] == name[..] {
                    covered[start..start + name.len()]
                        .iter_mut()
                        .for_each(|c| *c = true);
                    if !found.iter().any(|(e, _)| *e == env) {
                        found.push((env, name.join(" ")));
                    }
                }
            }
        }
    }
    let framed = words.iter().zip(&covered).all(|(w, &c)| {
        c || ENVIRONMENT_FRAME.contains(&w.as_str())
            || w.chars().all(|c| c.is_ascii_digit())
            || (found.len() > 1 && matches!(w.as_str(), "and" | "or"))
    });
    match (found.as_slice(), framed) {
        ([], _) => Subject::None,
        ([(env, _)], true) => Subject::Named(*env),
        ([(env, word)], false) => Subject::Mentioned(*env, word.clone()),
        (several, true) => Subject::Several(several.iter().map(|(e, _)| *e).collect()),
        ([(env, word), ..], false) => Subject::Mentioned(*env, word.clone()),
    }
}

/// Lowercase words split on anything but letters and digits, so that
/// "Pre-Flight", "pre flight" and "PRE_FLIGHT" read the same.
fn phrase_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn name_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .map(|w| w.trim_matches(['-', '_']))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn contains(words: &[String], phrase: &str) -> bool {
    let phrase: Vec<&str> = phrase.split(' ').collect();
    words
        .windows(phrase.len())
        .any(|w| w.iter().zip(&phrase).all(|(a, b)| a == b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_synonyms() {
        let cases = [
            ("Preparation", PhaseKind::Preparation),
            ("Pre-Deployment Checks", PhaseKind::Preparation),
            ("Pre-flight", PhaseKind::Prerequisites),
            ("Before you start", PhaseKind::Prerequisites),
            ("3. Execution", PhaseKind::Execution),
            ("Deploy", PhaseKind::Execution),
            ("Deployment Validation", PhaseKind::Validation),
            ("QA", PhaseKind::Validation),
            ("Post-Deployment", PhaseKind::PostDeployment),
            ("Wrap-up", PhaseKind::PostDeployment),
            ("Back-out", PhaseKind::Rollback),
        ];
        for (heading, kind) in cases {
            assert_eq!(phase_kind(heading), Some(kind), "{heading}");
        }
        assert_eq!(phase_kind("Notes"), None);
        assert_eq!(phase_kind("Rerun"), None);
    }

    #[test]
    fn environments_only_where_they_are_the_subject() {
        let names = [
            vec!["development", "dev"],
            vec!["staging", "stage"],
            vec!["production", "prod"],
            vec!["eu west"],
        ];
        let s = |h: &str| subject(h, &names);
        assert_eq!(s("Deployment to Production Environment"), Subject::Named(2));
        assert_eq!(s("Production"), Subject::Named(2));
        assert_eq!(s("Prod rollout"), Subject::Named(2));
        assert_eq!(s("3. Deploy to EU West"), Subject::Named(3));
        assert_eq!(s("Stage rehearsal"), Subject::Named(1));
        assert_eq!(s("Pre-production checks"), Subject::None);
        assert_eq!(s("Products"), Subject::None);
        assert_eq!(
            s("5. Mock stage and Mock release"),
            Subject::Mentioned(1, "stage".into())
        );
        assert_eq!(
            s("Notify the dev mailing list"),
            Subject::Mentioned(0, "dev".into())
        );
        assert_eq!(s("Development and Staging"), Subject::Several(vec![0, 1]));
        assert_eq!(s("Production (EU region, weekend window)"), Subject::Named(2));
        assert_eq!(s("Staging validation"), Subject::Mentioned(1, "staging".into()));
    }

    #[test]
    fn step_like_headings() {
        for h in [
            "Step 3: Drain the node",
            "5. Mock release",
            "2) Upgrade",
            "Phase 1",
        ] {
            assert!(is_step_like(h), "{h}");
        }
        for h in ["Upgrade masters", "Stepping stones", "Phase out v1"] {
            assert!(!is_step_like(h), "{h}");
        }
    }

    #[test]
    fn reference_kinds() {
        assert_eq!(reference_kind("Rollback Procedure"), ReferenceKind::Rollback);
        assert_eq!(reference_kind("Communication Plan"), ReferenceKind::Communication);
        assert_eq!(reference_kind("Contact Information"), ReferenceKind::Contacts);
        assert_eq!(reference_kind("Success Criteria"), ReferenceKind::SuccessCriteria);
        assert_eq!(reference_kind("Appendix"), ReferenceKind::Other);
        assert_eq!(named_reference("Meaning"), Some(ReferenceKind::Other));
        assert_eq!(named_reference("Upgrade masters"), None);
    }
}
