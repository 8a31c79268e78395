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
