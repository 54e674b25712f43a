//! The loader's one error type. Every variant that stems from a document
//! carries the position and the YAML path, so messages read like
//! `compose.yaml:14: services.web.ports[1]: invalid port "80:80:80"`.

use super::yaml::{Pos, YamlError};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Yaml(#[from] YamlError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value that does not have the expected shape or syntax.
    #[error("{}", located(pos, path, msg))]
    Invalid { pos: Pos, path: String, msg: String },
    /// `${VAR:?err}` and malformed `${...}` expressions.
    #[error("{}", located(pos, path, msg))]
    Interpolation { pos: Pos, path: String, msg: String },
    /// A problem with the project as a whole (cycles, ...).
    #[error("{0}")]
    Project(String),
    /// No `-f`, and no compose file in `dir` or above it (Compose's words).
    #[error("no configuration file provided: not found")]
    NoConfigFile { dir: PathBuf },
}

/// `file:line: path: msg`, leaving out what is unknown (values the loader
/// made itself have no position).
fn located(pos: &Pos, path: &str, msg: &str) -> String {
    let mut out = String::new();
    if !pos.file.is_empty() {
        out.push_str(&format!("{pos}: "));
    }
    if !path.is_empty() {
        out.push_str(&format!("{path}: "));
    }
    out.push_str(msg);
    out
}

impl LoadError {
    pub fn invalid(pos: &Pos, path: impl Into<String>, msg: impl Into<String>) -> Self {
        LoadError::Invalid {
            pos: pos.clone(),
            path: path.into(),
            msg: msg.into(),
        }
    }
}
