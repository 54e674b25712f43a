//! An I/O error that says what was being done to which path: the one type
//! each layer's error enum wraps for file system failures
//! (`Io(#[from] PathError)`), so no module builds its own.

use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct PathError {
    /// What was being done: "reading", "creating", "renaming into", …
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl PathError {
    pub fn new(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        PathError {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// `.at("reading", &path)` on an I/O result: its error with the action and
/// the path.
pub trait IoAt<T> {
    fn at(self, action: &'static str, path: impl AsRef<Path>) -> Result<T, PathError>;
}

impl<T> IoAt<T> for io::Result<T> {
    fn at(self, action: &'static str, path: impl AsRef<Path>) -> Result<T, PathError> {
        self.map_err(|source| PathError::new(action, path, source))
    }
}

impl<T> IoAt<T> for nix::Result<T> {
    fn at(self, action: &'static str, path: impl AsRef<Path>) -> Result<T, PathError> {
        self.map_err(|e| PathError::new(action, path, e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_action_and_the_path_and_keeps_the_cause() {
        let missing = Path::new("/nonexistent/wharf-test");
        let e = std::fs::read(missing)
            .at("reading", missing)
            .expect_err("missing");
        assert!(e
            .to_string()
            .starts_with("reading /nonexistent/wharf-test: "));
        let cause = std::error::Error::source(&e).expect("source");
        assert_eq!(
            cause.downcast_ref::<io::Error>().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
    }
}
