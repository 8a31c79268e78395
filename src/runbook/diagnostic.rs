//! Diagnostics: what is wrong with a runbook, where, and what to do.

use std::fmt;
use std::path::Path;

use super::model::SourcePos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The runbook cannot be run until this is fixed.
    Error,
    /// Suspicious but runnable.
    Warning,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding at a position of the runbook file, worded as one sentence
/// saying what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: SourcePos,
    pub message: String,
}

impl Diagnostic {
    pub fn error(pos: SourcePos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            pos,
            message: message.into(),
        }
    }

    pub fn warning(pos: SourcePos, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            pos,
            message: message.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Displays as `path:line:col: error: message`, the form editors and
    /// terminals turn into a link.
    pub fn display<'a>(&'a self, path: &'a Path) -> impl fmt::Display + 'a {
        DisplayWithPath {
            diagnostic: self,
            path,
        }
    }
}

struct DisplayWithPath<'a> {
    diagnostic: &'a Diagnostic,
    path: &'a Path,
}

impl fmt::Display for DisplayWithPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.diagnostic;
        write!(
            f,
            "{}:{}: {}: {}",
            self.path.display(),
            d.pos,
            d.severity.label(),
            d.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_a_compiler() {
        let d = Diagnostic::warning(SourcePos { line: 3, col: 7 }, "something odd");
        assert_eq!(
            d.display(Path::new("a/b.md")).to_string(),
            "a/b.md:3:7: warning: something odd"
        );
    }
}
