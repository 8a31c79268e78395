//! What a heading means: which environment a `##` names, which phase a
//! `###` is, which kind of reference section a `##` is.

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
        &["rollback", "roll back", "back out", "backout", "revert"],
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
    (ReferenceKind::Contacts, &["contact", "contacts"]),
    (ReferenceKind::Overview, &["overview", "summary"]),
];

/// The phase a `###` heading names, if any.
pub(crate) fn phase_kind(heading: &str) -> Option<PhaseKind> {
    let words = phrase_words(heading);
    PHASES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| contains(&words, p)))
        .map(|(k, _)| *k)
}

/// The phase names a heading may use, for the "unknown phase" message.
pub(crate) fn phase_names() -> String {
    [
        PhaseKind::Prerequisites,
        PhaseKind::Preparation,
        PhaseKind::Execution,
        PhaseKind::Validation,
        PhaseKind::PostDeployment,
        PhaseKind::Rollback,
    ]
    .map(PhaseKind::label)
    .join(", ")
}

/// The kind of a reference `##` section.
pub(crate) fn reference_kind(heading: &str) -> ReferenceKind {
    let words = phrase_words(heading);
    REFERENCES
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| contains(&words, p)))
        .map_or(ReferenceKind::Other, |(k, _)| *k)
}

/// Whether `name` (one of an environment's names, possibly several words)
/// appears in `heading` as whole words, ignoring case. Words keep their
/// inner hyphens, so "pre-production" does not name "production".
pub(crate) fn names(heading: &str, name: &str) -> bool {
    let words = name_words(heading);
    let name = name_words(name);
    !name.is_empty() && words.windows(name.len()).any(|w| w == name.as_slice())
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
    fn environment_names_are_whole_words() {
        assert!(names("Deployment to Production Environment", "production"));
        assert!(names("Prod rollout", "prod"));
        assert!(!names("Pre-production checks", "production"));
        assert!(!names("Products", "prod"));
        assert!(names("Deploy to EU West", "eu west"));
    }

    #[test]
    fn reference_kinds() {
        assert_eq!(reference_kind("Rollback Procedure"), ReferenceKind::Rollback);
        assert_eq!(reference_kind("Communication Plan"), ReferenceKind::Communication);
        assert_eq!(reference_kind("Contact Information"), ReferenceKind::Contacts);
        assert_eq!(reference_kind("Success Criteria"), ReferenceKind::SuccessCriteria);
        assert_eq!(reference_kind("Appendix"), ReferenceKind::Other);
    }
}
