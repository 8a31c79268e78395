//! Command-line interface: argument parsing and dispatch only.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
