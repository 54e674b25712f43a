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

/// The variable names `word` refers to, each once (to know which build args
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    /// BuildKit's shell/envVarTest table (the Unix rows), with its
    /// environment: each row is (word, expected result or None for an error).
    #[test]
    fn buildkit_env_var_table() {
        let lookup = env(&[
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("KOREAN", "한국어"),
            ("NULL", ""),
        ]);
        let table: &[(&str, Option<&str>)] = &[
            ("hello", Some("hello")),
            ("he'll'o", Some("hello")),
            ("he'llo", None),
            ("he\\'llo", Some("he'llo")),
            ("he\\\\'llo", None),
            ("abc\\tdef", Some("abctdef")),
            ("\"abc\\tdef\"", Some("abc\\tdef")),
            ("\"abc\\\\tdef\"", Some("abc\\tdef")),
            ("'abc\\tdef'", Some("abc\\tdef")),
            ("hello\\", Some("hello")),
            ("hello\\\\", Some("hello\\")),
            ("\"hello", None),
            ("\"hello\\\"", None),
            ("\"hel'lo\"", Some("hel'lo")),
            ("'hello", None),
            ("'hello\\'", Some("hello\\")),
            ("'hello\\there'", Some("hello\\there")),
            ("'hello\\\\there'", Some("hello\\\\there")),
            ("\"''\"", Some("''")),
            ("$.", Some("$.")),
            ("he$1x", Some("hex")),
            ("he$.x", Some("he$.x")),
            ("he$pwd.", Some("he.")),
            ("he$PWD", Some("he/home")),
            ("he\\$PWD", Some("he$PWD")),
            ("he\\\\$PWD", Some("he\\/home")),
            ("\"he\\$PWD\"", Some("he$PWD")),
            ("\"he\\\\$PWD\"", Some("he\\/home")),
            ("\\${}", Some("${}")),
            ("\\${}aaa", Some("${}aaa")),
            ("he\\${}", Some("he${}")),
            ("he\\${}xx", Some("he${}xx")),
            ("${}", None),
            ("${}aaa", None),
            ("he${}", None),
            ("he${}xx", None),
            ("he${hi}", Some("he")),
            ("he${hi}xx", Some("hexx")),
            ("he${PWD}", Some("he/home")),
            ("he${.}", None),
            ("he${XXX:-000}xx", Some("he000xx")),
            ("he${PWD:-000}xx", Some("he/homexx")),
            ("he${XXX:-$PWD}xx", Some("he/homexx")),
            ("he${XXX:-${PWD:-yyy}}xx", Some("he/homexx")),
            ("he${XXX:-${YYY:-yyy}}xx", Some("heyyyxx")),
            ("he${XXX:YYY}", None),
            ("he${XXX?}", None),
            ("he${XXX:?}", None),
            ("he${PWD?}", Some("he/home")),
            ("he${PWD:?}", Some("he/home")),
            ("he${NULL?}", Some("he")),
            ("he${NULL:?}", None),
            ("he${XXX:+${PWD}}xx", Some("hexx")),
            ("he${PWD:+${XXX}}xx", Some("hexx")),
            ("he${PWD:+${SHELL}}xx", Some("hebashxx")),
            ("he${XXX:+000}xx", Some("hexx")),
            ("he${PWD:+000}xx", Some("he000xx")),
            ("'he${XX}'", Some("he${XX}")),
            ("\"he${PWD}\"", Some("he/home")),
            ("\"he'$PWD'\"", Some("he'/home'")),
            ("\"$PWD\"", Some("/home")),
            ("'$PWD'", Some("$PWD")),
            ("'\\$PWD'", Some("\\$PWD")),
            ("'\"hello\"'", Some("\"hello\"")),
            ("he\\$PWD", Some("he$PWD")),
            ("\"he\\$PWD\"", Some("he$PWD")),
            ("'he\\$PWD'", Some("he\\$PWD")),
            ("he${PWD", None),
            ("he${PWD:=000}xx", None),
            ("he${PWD:+${PWD}:}xx", Some("he/home:xx")),
            ("he${XXX:-\\$PWD:}xx", Some("he$PWD:xx")),
            ("he${XXX:-\\${PWD}z}xx", Some("he${PWDz}xx")),
            ("안녕하세요", Some("안녕하세요")),
            ("안'녕'하세요", Some("안녕하세요")),
            ("안'녕하세요", None),
            ("안녕\\'하세요", Some("안녕'하세요")),
            ("안\\\\'녕하세요", None),
            ("안녕\\t하세요", Some("안녕t하세요")),
            ("\"안녕\\t하세요\"", Some("안녕\\t하세요")),
            ("'안녕\\t하세요", None),
            ("안녕하세요\\", Some("안녕하세요")),
            ("안녕하세요\\\\", Some("안녕하세요\\")),
            ("\"안녕하세요", None),
            ("\"안녕하세요\\\"", None),
            ("\"안녕'하세요\"", Some("안녕'하세요")),
            ("'안녕하세요", None),
            ("'안녕하세요\\'", Some("안녕하세요\\")),
            ("안녕$1x", Some("안녕x")),
            ("안녕$.x", Some("안녕$.x")),
            ("안녕$pwd.", Some("안녕.")),
            ("안녕$PWD", Some("안녕/home")),
            ("안녕\\$PWD", Some("안녕$PWD")),
            ("안녕\\\\$PWD", Some("안녕\\/home")),
            ("안녕\\${}", Some("안녕${}")),
            ("안녕\\${}xx", Some("안녕${}xx")),
            ("안녕${}", None),
            ("안녕${}xx", None),
            ("안녕${hi}", Some("안녕")),
            ("안녕${hi}xx", Some("안녕xx")),
            ("안녕${PWD}", Some("안녕/home")),
            ("안녕${.}", None),
            ("안녕${XXX:-000}xx", Some("안녕000xx")),
            ("안녕${PWD:-000}xx", Some("안녕/homexx")),
            ("안녕${XXX:-$PWD}xx", Some("안녕/homexx")),
            ("안녕${XXX:-${PWD:-yyy}}xx", Some("안녕/homexx")),
            ("안녕${XXX:-${YYY:-yyy}}xx", Some("안녕yyyxx")),
            ("안녕${XXX:YYY}", None),
            ("안녕${XXX:+${PWD}}xx", Some("안녕xx")),
            ("안녕${PWD:+${XXX}}xx", Some("안녕xx")),
            ("안녕${PWD:+${SHELL}}xx", Some("안녕bashxx")),
            ("안녕${XXX:+000}xx", Some("안녕xx")),
            ("안녕${PWD:+000}xx", Some("안녕000xx")),
            ("'안녕${XX}'", Some("안녕${XX}")),
            ("\"안녕${PWD}\"", Some("안녕/home")),
            ("\"안녕'$PWD'\"", Some("안녕'/home'")),
            ("'\"안녕\"'", Some("\"안녕\"")),
            ("안녕\\$PWD", Some("안녕$PWD")),
            ("\"안녕\\$PWD\"", Some("안녕$PWD")),
            ("'안녕\\$PWD'", Some("안녕\\$PWD")),
            ("안녕${PWD", None),
            ("안녕${PWD:=000}xx", None),
            ("안녕${PWD:+${PWD}:}xx", Some("안녕/home:xx")),
            ("안녕${XXX:-\\$PWD:}xx", Some("안녕$PWD:xx")),
            ("안녕${XXX:-\\${PWD}z}xx", Some("안녕${PWDz}xx")),
            ("$KOREAN", Some("한국어")),
            ("안녕$KOREAN", Some("안녕한국어")),
            ("${{aaa}", None),
            ("${aaa}}", Some("}")),
            ("${aaa", None),
            ("${{aaa:-bbb}", None),
            ("${aaa:-bbb}}", Some("bbb}")),
            ("${aaa:-bbb", None),
            ("${aaa:-bbb}", Some("bbb")),
            ("${aaa:-${bbb:-ccc}}", Some("ccc")),
            ("${aaa:-bbb ${foo}", None),
            ("${aaa:-bbb {foo}", Some("bbb {foo")),
            ("${:}", None),
            ("${:-bbb}", None),
            ("${:+bbb}", None),
            ("$1", Some("")),
            ("${1}", Some("")),
            ("${1:+bbb}", Some("")),
            ("${1:-bbb}", Some("bbb")),
            ("$2", Some("")),
            ("${2}", Some("")),
            ("${2:+bbb}", Some("")),
            ("${2:-bbb}", Some("bbb")),
            ("$3", Some("")),
            ("${3}", Some("")),
            ("${3:+bbb}", Some("")),
            ("${3:-bbb}", Some("bbb")),
            ("$4", Some("")),
            ("${4}", Some("")),
            ("${4:+bbb}", Some("")),
            ("${4:-bbb}", Some("bbb")),
            ("$5", Some("")),
            ("${5}", Some("")),
            ("${5:+bbb}", Some("")),
            ("${5:-bbb}", Some("bbb")),
            ("$6", Some("")),
            ("${6}", Some("")),
            ("${6:+bbb}", Some("")),
            ("${6:-bbb}", Some("bbb")),
            ("$7", Some("")),
            ("${7}", Some("")),
            ("${7:+bbb}", Some("")),
            ("${7:-bbb}", Some("bbb")),
            ("$8", Some("")),
            ("${8}", Some("")),
            ("${8:+bbb}", Some("")),
            ("${8:-bbb}", Some("bbb")),
            ("$9", Some("")),
            ("${9}", Some("")),
            ("${9:+bbb}", Some("")),
            ("${9:-bbb}", Some("bbb")),
            ("$999", Some("")),
            ("${999}", Some("")),
            ("${999:+bbb}", Some("")),
            ("${999:-bbb}", Some("bbb")),
            ("$999aaa", Some("aaa")),
            ("${999}aaa", Some("aaa")),
            ("${999:+bbb}aaa", Some("aaa")),
            ("${999:-bbb}aaa", Some("bbbaaa")),
            ("$001", Some("")),
            ("${001}", Some("")),
            ("${001:+bbb}", Some("")),
            ("${001:-bbb}", Some("bbb")),
            ("$001aaa", Some("aaa")),
            ("${001}aaa", Some("aaa")),
            ("${001:+bbb}aaa", Some("aaa")),
            ("${001:-bbb}aaa", Some("bbbaaa")),
            ("$@", Some("")),
            ("${@}", Some("")),
            ("${@:+bbb}", Some("")),
            ("${@:-bbb}", Some("bbb")),
            ("$@@@", Some("@@")),
            ("$@aaa", Some("aaa")),
            ("${@}aaa", Some("aaa")),
            ("${@:+bbb}aaa", Some("aaa")),
            ("${@:-bbb}aaa", Some("bbbaaa")),
            ("$*", Some("")),
            ("${*}", Some("")),
            ("${*:+bbb}", Some("")),
            ("${*:-bbb}", Some("bbb")),
            ("$#", Some("")),
            ("${#}", Some("")),
            ("${#:+bbb}", Some("")),
            ("${#:-bbb}", Some("bbb")),
            ("$?", Some("")),
            ("${?}", Some("")),
            ("${?:+bbb}", Some("")),
            ("${?:-bbb}", Some("bbb")),
            ("$-", Some("")),
            ("${-}", Some("")),
            ("${-:+bbb}", Some("")),
            ("${-:-bbb}", Some("bbb")),
            ("$$", Some("")),
            ("${$}", Some("")),
            ("${$:+bbb}", Some("")),
            ("${$:-bbb}", Some("bbb")),
            ("$!", Some("")),
            ("${!}", Some("")),
            ("${!:+bbb}", Some("")),
            ("${!:-bbb}", Some("bbb")),
            ("$0", Some("")),
            ("${0}", Some("")),
            ("${0:+bbb}", Some("")),
            ("${0:-bbb}", Some("bbb")),
        ];
        for (word, expected) in table {
            let result = substitute(word, '\\', &lookup);
            match expected {
                Some(expected) => assert_eq!(result.as_deref(), Ok(*expected), "word {word:?}"),
                None => assert!(result.is_err(), "word {word:?} should fail, got {result:?}"),
            }
        }
    }

    /// BuildKit's shell/wordsTest table: (how many of the ENV lines are set,
    /// text, expected words or None for an error).
    #[test]
    fn buildkit_words_table() {
        let envs: &[(&str, &str)] = &[
            ("hi", "hi"),
            ("space", "abc  def"),
            ("leading", "  ab c"),
            ("trailing", "ab c   "),
        ];
        let table: &[(usize, &str, Option<&[&str]>)] = &[
            (0, "hello", Some(&["hello"][..])),
            (0, "hello${hi}bye", Some(&["hellobye"][..])),
            (1, "hello${hi}bye", Some(&["hellohibye"][..])),
            (2, "hello${space}bye", Some(&["helloabc", "defbye"][..])),
            (2, "hello\"${space}\"bye", Some(&["helloabc  defbye"][..])),
            (
                2,
                "hello \"${space}\"bye",
                Some(&["hello", "abc  defbye"][..]),
            ),
            (3, "hello${leading}def", Some(&["hello", "ab", "cdef"][..])),
            (
                3,
                "hello\"${leading}\" def",
                Some(&["hello  ab c", "def"][..]),
            ),
            (3, "hello\"${leading}\"", Some(&["hello  ab c"][..])),
            (3, "hello${leading}", Some(&["hello", "ab", "c"][..])),
            (4, "hello${trailing}", Some(&["helloab", "c"][..])),
            (4, "hello${trailing}d", Some(&["helloab", "c", "d"][..])),
            (4, "hello\"${trailing}\"d", Some(&["helloab c   d"][..])),
            (4, "hel\"lo${trailing}\"", Some(&["helloab c   "][..])),
            (4, "hello\" there  \"", Some(&["hello there  "][..])),
            (4, "hello there", Some(&["hello", "there"][..])),
            (4, "hello\\ there", Some(&["hello there"][..])),
            (4, "hello\" there", None),
            (4, "hello\\\" there", Some(&["hello\"", "there"][..])),
            (4, "hello\"\\\\there\"", Some(&["hello\\there"][..])),
            (4, "hello\"\\there\"", Some(&["hello\\there"][..])),
            (4, "hello'\\\\there'", Some(&["hello\\\\there"][..])),
            (4, "hello'\\there'", Some(&["hello\\there"][..])),
            (4, "hello'$there'", Some(&["hello$there"][..])),
        ];
        for (set, text, expected) in table {
            let lookup = env(&envs[..*set]);
            let result = substitute_words(text, '\\', &lookup);
            match expected {
                Some(expected) => {
                    let words = result.unwrap_or_else(|e| panic!("{text:?}: {e}"));
                    assert_eq!(words, *expected, "text {text:?}");
                }
                None => assert!(result.is_err(), "text {text:?} should fail, got {result:?}"),
            }
        }
    }

    /// BuildKit's ProcessWithMatches cases: `-`/`+`/`?` modifiers, prefix and
    /// suffix trimming with patterns, and replacement.
    /// (word, variables, expected result or None for an error)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);

    #[test]
    fn modifiers_patterns_and_replacement() {
        let cases: &[Case] = &[
            ("x", &[("DUMMY", "dummy")], Some("x")),
            ("x ${UNUSED}", &[], Some("x ")),
            ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx  ccc")),
            ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("xxx bbb ccc")),
            ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("aaa bbb ")),
            ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", &[("FOO", "xxx"), ("BAR", "")], Some("aaa  ")),
            ("${FOO=:aaa}", &[("FOO", "xxx")], None),
            ("${FOO=}", &[], None),
            ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", &[("FOO", "()[]{}^$.*?|\\x")], Some("x")),
            ("${FOO%%\\**}", &[("FOO", "xx**")], Some("xx")),
            ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y")),
            ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy")),
            ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy")),
            ("${FOO#}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy")),
            ("${FOO##}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y")),
            ("${ABC:-.}${FOO%x}${ABC:-.}", &[("FOO", "xxyy")], Some(".xxyy.")),
            ("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], Some("a")),
            ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO%y}", &[("FOO", "xxyy")], Some("xxy")),
            ("${FOO%%y*}", &[("FOO", "xxyy")], Some("xx")),
            ("${FOO%y*}", &[("FOO", "xxyy")], Some("xxy")),
            ("${FOO%%$BAR}", &[("FOO", "xxyy"), ("BAR", "")], Some("xxyy")),
            ("${FOO:#}", &[], None),
            ("${FOO:##}", &[], None),
            ("${FOO:%}", &[], None),
            ("${FOO:%%}", &[], None),
            ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")], Some("/foo.*/*.txt - /foo..*.txt")),
            ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")], Some("/tmp/bar.txt - /bar.txt")),
            ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}", &[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("REPLACEMENT", "/")], Some("/foo/b/c.txt - /foo/c.txt")),
            ("${FOO/$NEEDLE/$REPLACEMENT}", &[("FOO", "http://google.de"), ("NEEDLE", "http://"), ("REPLACEMENT", "https://")], Some("https://google.de")),
            ("${FOO//\\//\\/}", &[("FOO", "/tmp/foo.txt")], Some("\\/tmp\\/foo.txt")),
            ("${FOO/$BAR/ww}", &[("FOO", "xxyy"), ("BAR", "")], Some("wwxxyy")),
            ("${FOO//ww}", &[("FOO", "xxyy")], None),
            ("${FOO//}", &[("FOO", "xxyy")], None),
            ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO///}", &[], Some("")),
            (
                "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
                &[("VERSION", "v1.2.3"), ("TARGETOS", "linux"), ("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")],
                Some("something-v1.2.3.linux-arm-v7.tar.gz"),
            ),
            (
                "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
                &[("VERSION", "v1.2.3"), ("TARGETOS", "linux"), ("TARGETARCH", "arm64"), ("TARGETVARIANT", "")],
                Some("something-v1.2.3.linux-arm64.tar.gz"),
            ),
        ];
        for (word, vars, expected) in cases {
            let result = substitute(word, '\\', &env(vars));
            match expected {
                Some(expected) => assert_eq!(
                    result.as_deref(),
                    Ok(*expected),
                    "word {word:?} with {vars:?}"
                ),
                None => assert!(result.is_err(), "word {word:?} should fail, got {result:?}"),
            }
        }
    }

    #[test]
    fn required_variables_name_the_variable_and_the_message() {
        let set = env(&[("VAR", "plain"), ("ARG", "x")]);
        let empty = env(&[("VAR", ""), ("ARG", "x")]);
        let unset = env(&[("ARG", "x")]);
        let no_empty = "${VAR:?message here$ARG}";
        let no_unset = "${VAR?message here$ARG}";
        assert_eq!(substitute(no_empty, '\\', &set).as_deref(), Ok("plain"));
        for lookup in [&empty, &unset] {
            let error = substitute(no_empty, '\\', lookup).unwrap_err();
            assert!(error.to_string().contains("VAR: message herex"), "{error}");
        }
        assert_eq!(substitute(no_unset, '\\', &set).as_deref(), Ok("plain"));
        assert_eq!(substitute(no_unset, '\\', &empty).as_deref(), Ok(""));
        let error = substitute(no_unset, '\\', &unset).unwrap_err();
        assert!(
            matches!(&error, SubstError::Required { name, .. } if name == "VAR"),
            "{error:?}"
        );
        let error = substitute("${VAR:?}", '\\', &empty).unwrap_err();
        assert!(
            error.to_string().contains("is not allowed to be empty"),
            "{error}"
        );
        let error = substitute("${VAR?}", '\\', &unset).unwrap_err();
        assert!(
            error.to_string().contains("is not allowed to be unset"),
            "{error}"
        );
    }

    #[test]
    fn backtick_escape_escapes_and_backslash_is_plain() {
        let lookup = env(&[("PWD", "/home")]);
        let cases: &[(&str, &str)] = &[
            ("he`$PWD", "he$PWD"),
            ("c:\\dir\\$PWD", "c:\\dir\\/home"),
            ("\"a`\"b\"", "a\"b"),
            ("a` b", "a b"),
        ];
        for (word, expected) in cases {
            assert_eq!(
                substitute(word, '`', &lookup).as_deref(),
                Ok(*expected),
                "{word:?}"
            );
        }
    }

    #[test]
    fn heredoc_bodies_expand_variables_and_keep_quotes() {
        let lookup = env(&[("NAME", "world")]);
        let body = "hello \"$NAME\" and '${NAME}'\nliteral \\$NAME\n";
        assert_eq!(
            substitute_heredoc(body, &lookup).as_deref(),
            Ok("hello \"world\" and 'world'\nliteral $NAME\n")
        );
    }

    #[test]
    fn referenced_variables_lists_each_name_once() {
        let mut names = referenced_variables("${A:-$B}/$A/${C#x}'$D'", '\\');
        names.sort();
        assert_eq!(
            names,
            vec!["A".to_string(), "B".to_string(), "C".to_string()]
        );
    }
}
