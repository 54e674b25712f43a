//! Dockerfile text → [`Dockerfile`].

use super::ast::*;

/// A Dockerfile that cannot be parsed, printed as `Dockerfile:7: unknown instruction: RUNN`.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    /// The name the user knows the file by (`Dockerfile`, `app/Dockerfile.dev`).
    pub file: String,
    /// 1-based line of the offending instruction (or of the problem itself).
    pub line: usize,
    /// The instruction keyword as written, when the error is about one.
    pub instruction: Option<String>,
    pub message: String,
}

/// Parses `source`; `file` is only used in error messages.
pub fn parse(source: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let _ = source;
    Err(ParseError {
        file: file.to_string(),
        line: 1,
        instruction: None,
        message: "the Dockerfile parser is not written yet".to_string(),
    })
}
