//! Variable substitution as BuildKit's shell lexer does it (the builder's
//! own expansion of `$v`, `${v:-x}`, quotes and escapes in ADD, COPY, ENV,
//! EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG words).
//!
//! It is deliberately not a shell: no command substitution, no arithmetic,
//! no globbing; `$1`, `$@` and the other special parameters are never set.

/// A word whose substitution fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstError {
    /// Bad syntax (`${}`, unterminated quote or brace, unknown modifier).
    #[error("failed to process {word:?}: {message}")]
    Syntax { word: String, message: String },
    /// `${v?msg}` / `${v:?msg}` with `v` unset (or empty).
    #[error("failed to process {word:?}: {name}: {message}")]
    Required {
        word: String,
        name: String,
        message: String,
    },
}

/// Expands `word` with `lookup`: quotes are removed, escapes (with the
/// Dockerfile's escape character) applied, unset variables are empty.
pub fn substitute(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SubstError> {
    Lexer::new(word, escape, lookup, Options::default())
        .run(word)
        .map(|(text, _)| text)
}

/// Expands `text` like [`substitute`] and splits the result into words on
/// whitespace that is neither quoted, escaped, nor part of a quoted value.
pub fn substitute_words(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, SubstError> {
    Lexer::new(text, escape, lookup, Options::default())
        .run(text)
        .map(|(_, words)| words)
}

/// Knobs the parser needs to find heredoc words in a line without
/// changing it (BuildKit's RawQuotes/RawEscapes/SkipUnsetEnv).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Options {
    /// Keep quote characters in the output.
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
    /// Quotes are ordinary characters (heredoc bodies).
    pub skip_quotes: bool,
}

/// Splits `text` into words with `options`, no variable being set.
pub(crate) fn split_words_raw(
    text: &str,
    escape: char,
    options: Options,
) -> Result<Vec<String>, SubstError> {
    let no_variables = |_: &str| None;
    Lexer::new(text, escape, &no_variables, options)
        .run(text)
        .map(|(_, words)| words)
}

/// Expands the body of an unquoted heredoc (`COPY <<EOF`): `$v` and
/// `${v...}` with `\` escapes; quotes are kept as they are.
pub fn substitute_heredoc(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, SubstError> {
    let options = Options {
        skip_quotes: true,
        ..Options::default()
    };
    Lexer::new(content, '\\', lookup, options)
        .run(content)
        .map(|(text, _)| text)
}

/// The variable names `word` refers to, in order (to know which build args
/// a word depends on without expanding it).
pub fn referenced_variables(word: &str, escape: char) -> Vec<String> {
    let seen = std::cell::RefCell::new(Vec::<String>::new());
    let record = |name: &str| {
        let mut seen = seen.borrow_mut();
        if !seen.iter().any(|n| n == name) {
            seen.push(name.to_string());
        }
        None
    };
    // A syntax error still leaves the names seen before it.
    let _ = Lexer::new(word, escape, &record, Options::default()).run(word);
    seen.into_inner()
}

/// Collects the words of [`substitute_words`]: expanded text splits on
/// whitespace, quoted or escaped text does not.
#[derive(Default)]
struct Words {
    current: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.current.is_empty() {
                self.words.push(std::mem::take(&mut self.current));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, text: &str) {
        for ch in text.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, text: &str) {
        self.current.push_str(text);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.words.push(std::mem::take(&mut self.current));
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    options: Options,
    raw_escapes: bool,
}

/// A lexer failure before it is tied to its word.
enum Failure {
    Syntax(String),
    Required { name: String, message: String },
}

fn syntax(message: impl Into<String>) -> Failure {
    Failure::Syntax(message.into())
}

impl<'a> Lexer<'a> {
    fn new(
        text: &str,
        escape: char,
        lookup: &'a dyn Fn(&str) -> Option<String>,
        options: Options,
    ) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            escape,
            lookup,
            options,
            raw_escapes: options.raw_escapes,
        }
    }

    fn run(mut self, word: &str) -> Result<(String, Vec<String>), SubstError> {
        let raw_escapes = self.raw_escapes;
        self.until(None, raw_escapes)
            .map_err(|failure| match failure {
                Failure::Syntax(message) => SubstError::Syntax {
                    word: word.to_string(),
                    message,
                },
                Failure::Required { name, message } => SubstError::Required {
                    word: word.to_string(),
                    name,
                    message,
                },
            })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    /// Processes up to `stop` (consumed) or the end of input when `stop` is None.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), Failure> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), Failure> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    words.add_string(&value);
                }
                '<' => {
                    let value = self.possible_heredoc();
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '\'' | '"' if self.options.skip_quotes => {
                    self.next();
                    words.add_char(ch);
                    result.push(ch);
                }
                '\'' => {
                    let value = self.single_quoted()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                '"' => {
                    let value = self.double_quoted()?;
                    result.push_str(&value);
                    words.add_raw_string(&value);
                }
                _ => {
                    self.next();
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // A trailing escape is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(syntax(format!(
                "unexpected end of statement while looking for matching {stop}"
            ))),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Result<String, Failure> {
        let mut result = String::new();
        let open = self.next();
        if self.options.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(syntax(
                        "unexpected end of statement while looking for matching single-quote",
                    ))
                }
                Some('\'') => {
                    if self.options.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(ch) => result.push(ch),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, Failure> {
        let mut result = String::new();
        let open = self.next();
        if self.options.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(syntax(
                        "unexpected end of statement while looking for matching double-quote",
                    ))
                }
                Some('"') => {
                    self.next();
                    if self.options.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                }
                Some(_) => {
                    let Some(mut ch) = self.next() else { continue };
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        // Inside double quotes only `"`, `$` and the escape
                        // character itself are escaped; others keep it.
                        match self.peek() {
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.next();
                                ch = next;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    /// `<<` and the blanks after it stay one word, so `<< EOF` is seen as a heredoc.
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut result = "<<".to_string();
        while let Some(ch @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(ch);
            self.next();
        }
        result
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    fn dollar(&mut self) -> Result<String, Failure> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.get(&name) {
                Some(value) => value,
                None if self.options.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(syntax("syntax error: missing '}'")),
            Some('{' | '}' | ':') => return Err(syntax("syntax error: bad substitution")),
            Some(_) => {}
        }
        let name = self.name();
        let Some(mut op) = self.next() else {
            return Err(syntax("syntax error: missing '}'"));
        };
        let mut modifier = op.to_string();
        let mut null_is_unset = false;
        match op {
            '}' => {
                return Ok(match self.get(&name) {
                    Some(value) => value,
                    None if self.options.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                });
            }
            '/' => return self.replace(&name),
            ':' => {
                null_is_unset = true;
                match self.next() {
                    Some(next) => {
                        op = next;
                        modifier.push(next);
                    }
                    None => return Err(syntax("syntax error: missing '}'")),
                }
            }
            '+' | '-' | '?' | '#' | '%' => {}
            _ => {
                return Err(syntax(format!(
                    "unsupported modifier ({modifier}) in substitution"
                )))
            }
        }
        // The pattern of `#` and `%` keeps its escapes for the matcher.
        let pattern_escapes = op == '#' || op == '%';
        if null_is_unset && pattern_escapes {
            return Err(syntax(format!(
                "unsupported modifier ({modifier}) in substitution"
            )));
        }
        let word = match self.until(Some('}'), pattern_escapes) {
            Ok((word, _)) => word,
            Err(_) if self.peek().is_none() => return Err(syntax("syntax error: missing '}'")),
            Err(failure) => return Err(failure),
        };
        let value = self.get(&name);
        if self.options.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' => Ok(if unset {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if unset { String::new() } else { word }),
            '?' => {
                if value.is_none() || unset {
                    let message = if !word.is_empty() {
                        word
                    } else if value.is_none() {
                        "is not allowed to be unset".to_string()
                    } else {
                        "is not allowed to be empty".to_string()
                    };
                    return Err(Failure::Required { name, message });
                }
                Ok(value.unwrap_or_default())
            }
            '%' | '#' => {
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest.to_string()),
                    None => (false, word),
                };
                let pattern = Pattern::parse(&pattern)?;
                let value: Vec<char> = value.unwrap_or_default().chars().collect();
                Ok(if op == '%' {
                    pattern.trim_suffix(&value, longest)
                } else {
                    pattern.trim_prefix(&value, longest)
                })
            }
            _ => Err(syntax(format!(
                "unsupported modifier ({modifier}) in substitution"
            ))),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn replace(&mut self, name: &str) -> Result<String, Failure> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pattern = match self.until(Some('/'), true) {
            Ok((pattern, _)) => pattern,
            Err(_) if self.peek().is_none() => {
                return Err(syntax("syntax error: missing '/' in ${}"))
            }
            Err(failure) => return Err(failure),
        };
        let replacement = match self.until(Some('}'), true) {
            Ok((replacement, _)) => replacement,
            Err(_) if self.peek().is_none() => return Err(syntax("syntax error: missing '}'")),
            Err(failure) => return Err(failure),
        };
        let value = self.get(name);
        let Some(value) = value else {
            if self.options.skip_unset {
                return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
            }
            return Ok(String::new());
        };
        let pattern = Pattern::parse(&pattern)?;
        Ok(pattern.replace(&value.chars().collect::<Vec<_>>(), &replacement, all))
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(digit) = self.peek().filter(char::is_ascii_digit) {
                    name.push(digit);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }
}

/// A shell pattern of `${v#p}`, `${v%p}`, `${v/p/r}`: `*`, `?` and literals
/// (`\*`, `\?`, `\\` escape them; `\}` and `\/` are the plain characters).
#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternToken {
    Star,
    Any,
    Literal(char),
}

struct Pattern(Vec<PatternToken>);

impl Pattern {
    fn parse(pattern: &str) -> Result<Pattern, Failure> {
        let invalid = |what: &str| {
            syntax(format!(
                "invalid pattern ({pattern}) in substitution: invalid escape '{what}'"
            ))
        };
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(ch) = chars.next() {
            match ch {
                '*' => tokens.push(PatternToken::Star),
                '?' => tokens.push(PatternToken::Any),
                '\\' => match chars.peek().copied() {
                    Some('}' | '/') => {}
                    Some(next @ ('*' | '?' | '\\')) => {
                        chars.next();
                        tokens.push(PatternToken::Literal(next));
                    }
                    Some(other) => return Err(invalid(&format!("\\{other}"))),
                    None => return Err(invalid("\\")),
                },
                _ => tokens.push(PatternToken::Literal(ch)),
            }
        }
        Ok(Pattern(tokens))
    }

    /// Whether the pattern matches all of `text`.
    fn matches(&self, text: &[char]) -> bool {
        let tokens = &self.0;
        let (mut t, mut p) = (0usize, 0usize);
        // Where to resume after the last star: (pattern index after it, text index).
        let mut resume: Option<(usize, usize)> = None;
        while t < text.len() {
            match tokens.get(p) {
                Some(PatternToken::Star) => {
                    resume = Some((p + 1, t));
                    p += 1;
                }
                Some(PatternToken::Any) => {
                    p += 1;
                    t += 1;
                }
                Some(PatternToken::Literal(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match resume {
                    Some((after_star, from)) => {
                        p = after_star;
                        t = from + 1;
                        resume = Some((after_star, from + 1));
                    }
                    None => return false,
                },
            }
        }
        tokens[p..].iter().all(|token| *token == PatternToken::Star)
    }

    fn trim_prefix(&self, value: &[char], longest: bool) -> String {
        let lengths: Box<dyn Iterator<Item = usize>> = if longest {
            Box::new((0..=value.len()).rev())
        } else {
            Box::new(0..=value.len())
        };
        for len in lengths {
            if self.matches(&value[..len]) {
                return value[len..].iter().collect();
            }
        }
        value.iter().collect()
    }

    fn trim_suffix(&self, value: &[char], longest: bool) -> String {
        let starts: Box<dyn Iterator<Item = usize>> = if longest {
            Box::new(0..=value.len())
        } else {
            Box::new((0..=value.len()).rev())
        };
        for start in starts {
            if self.matches(&value[start..]) {
                return value[..start].iter().collect();
            }
        }
        value.iter().collect()
    }

    /// The longest match starting at or after `from`, leftmost first.
    fn find(&self, value: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=value.len()).find_map(|start| {
            (start..=value.len())
                .rev()
                .find(|end| self.matches(&value[start..*end]))
                .map(|end| (start, end))
        })
    }

    fn replace(&self, value: &[char], replacement: &str, all: bool) -> String {
        let mut out = String::new();
        let mut pos = 0;
        let mut last_match_end: Option<usize> = None;
        while pos <= value.len() {
            let Some((start, end)) = self.find(value, pos) else {
                break;
            };
            // An empty match right after a previous match is not a match (as Go's ReplaceAll).
            if start == end && last_match_end == Some(start) {
                if start < value.len() {
                    out.push(value[start]);
                }
                pos = start + 1;
                continue;
            }
            out.extend(&value[pos..start]);
            out.push_str(replacement);
            last_match_end = Some(end);
            if !all {
                pos = end;
                break;
            }
            if start == end {
                if start < value.len() {
                    out.push(value[start]);
                }
                pos = start + 1;
            } else {
                pos = end;
            }
        }
        if pos <= value.len() {
            out.extend(&value[pos..]);
        }
        out
    }
}
