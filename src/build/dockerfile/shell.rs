//! Variable substitution as BuildKit's shell lexer does it.

/// A word whose substitution fails (`${v:?msg}` unset, bad syntax).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstError {
    #[error("{word}: {message}")]
    Syntax { word: String, message: String },
    #[error("{name}: {message}")]
    Required { name: String, message: String },
}

/// Expands `word` (quotes removed, escapes applied) with `lookup`.
pub fn substitute(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SubstError> {
    let _ = (escape, lookup);
    Ok(word.to_string())
}

/// Expands `text` and splits it into words on unquoted whitespace.
pub fn substitute_words(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SubstError> {
    let _ = (escape, lookup);
    Ok(text.split_whitespace().map(str::to_string).collect())
}
