//! Command-line front end: parses flags, then calls the library layers.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
