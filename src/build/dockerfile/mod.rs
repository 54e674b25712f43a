//! The Dockerfile frontend: parse (BuildKit syntax) into [`ast`], and expand
//! words with [`shell`]'s substitution when the executor builds.

pub mod ast;
pub mod expand;
mod parse;
pub mod shell;

pub use ast::*;
pub use expand::{expand_from, expand_instruction, resolve_mount, ExpandError};
pub use parse::{parse, ParseError};
pub use shell::{
    referenced_variables, substitute, substitute_heredoc, substitute_words, SubstError,
};
