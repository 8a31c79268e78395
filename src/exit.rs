//! Process exit codes, documented in the README.

/// Success: the runbook is valid, the session completed, the journal is intact.
pub const OK: u8 = 0;
/// The session did not complete: a step failed, or it waits for a sign-off or decision.
pub const INCOMPLETE: u8 = 1;
/// Bad input: wrong arguments, a runbook with errors, a session that cannot be resumed.
pub const USAGE: u8 = 2;
/// The journal cannot be trusted or written: broken hash chain, I/O failure.
pub const JOURNAL: u8 = 3;
/// The database server cannot be reached.
pub const DATABASE: u8 = 4;
/// Another runsheet drives the session (its driver lock is held or was left by a crash).
pub const BUSY: u8 = 5;

/// Why a command failed: one sentence saying what to do next, and the exit
/// code it ends the process with. Every command returns it; `main` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    /// `None` when the command already said what happened.
    pub message: Option<String>,
    /// The command it is printed for (`runsheet demo: …`), if not plain `runsheet: …`.
    pub command: Option<&'static str>,
}

impl CliError {
    pub fn new(code: u8, message: impl std::fmt::Display) -> CliError {
        CliError {
            code,
            message: Some(message.to_string()),
            command: None,
        }
    }

    /// Bad input: wrong arguments, a session that cannot be found or resumed.
    pub fn usage(message: impl std::fmt::Display) -> CliError {
        CliError::new(USAGE, message)
    }

    /// A failure the command has already reported on its own.
    pub fn silent(code: u8) -> CliError {
        CliError {
            code,
            message: None,
            command: None,
        }
    }

    /// Printed as `runsheet COMMAND: …`.
    pub fn during(self, command: &'static str) -> CliError {
        CliError {
            command: Some(command),
            ..self
        }
    }

    /// Say it on stderr; the exit code.
    pub fn report(&self) -> u8 {
        if let Some(message) = &self.message {
            // Messages quote names and paths from the runbook and the journal:
            // each line goes through the terminal sanitiser.
            let message: Vec<String> = message.lines().map(crate::text::sanitize).collect();
            let message = message.join("\n");
            match self.command {
                Some(command) => eprintln!("runsheet {command}: {message}"),
                None => eprintln!("runsheet: {message}"),
            }
        }
        self.code
    }
}

impl From<crate::journal::JournalError> for CliError {
    /// A session that cannot be found is bad input; a journal that cannot be
    /// read or written cannot be trusted.
    fn from(e: crate::journal::JournalError) -> CliError {
        use crate::journal::JournalError as E;
        let code = match &e {
            E::NoStateDir
            | E::NoJournal { .. }
            | E::NoSession { .. }
            | E::AmbiguousSession { .. }
            | E::InvalidSessionId { .. } => USAGE,
            _ => JOURNAL,
        };
        CliError::new(code, e)
    }
}
