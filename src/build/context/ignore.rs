//! `.dockerignore`: Docker's glob patterns, `!` exclusions, and the
//! [`ContextFilter`] the walk asks about each path.
use super::{clean_path, io_error, ContextError};
use std::fs;
use std::io::{self};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobToken {
    Literal(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**/` or `**` inside a pattern: nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob: `*`, `?`, `[...]`, `\` escapes, and with `double_star`
/// the `**` forms of `.dockerignore`.
#[derive(Debug, Clone)]
pub struct Glob {
    tokens: Vec<GlobToken>,
    /// No wildcard or escape: a plain string compare will do.
    literal: bool,
}

impl Glob {
    pub fn compile(pattern: &str, double_star: bool) -> Result<Glob, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut literal = true;
        let mut i = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if double_star && chars.get(i) == Some(&'*') => {
                    literal = false;
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    tokens.push(if i == chars.len() {
                        GlobToken::Rest
                    } else {
                        GlobToken::AnyDirs
                    });
                }
                '*' => {
                    literal = false;
                    if tokens.last() != Some(&GlobToken::Star) {
                        tokens.push(GlobToken::Star);
                    }
                }
                '?' => {
                    literal = false;
                    tokens.push(GlobToken::One);
                }
                '\\' => {
                    literal = false;
                    match chars.get(i) {
                        Some(next) => {
                            tokens.push(GlobToken::Literal(*next));
                            i += 1;
                        }
                        None => return Err("syntax error in pattern (trailing \\)".to_string()),
                    }
                }
                '[' => {
                    literal = false;
                    let (token, next) = Self::class(&chars, i)?;
                    tokens.push(token);
                    i = next;
                }
                _ => tokens.push(GlobToken::Literal(ch)),
            }
        }
        Ok(Glob { tokens, literal })
    }

    /// Parses a `[...]` class whose body starts at `i`; returns the token and
    /// the index after `]`.
    fn class(chars: &[char], mut i: usize) -> Result<(GlobToken, usize), String> {
        let bad = || "syntax error in pattern (bad [...] class)".to_string();
        let negated = chars.get(i) == Some(&'^');
        if negated {
            i += 1;
        }
        let mut ranges = Vec::new();
        // As Go's filepath.Match: an unescaped `-` or `]` where a character
        // is expected is a bad pattern.
        let read_char = |i: &mut usize| -> Result<char, String> {
            let mut ch = *chars.get(*i).ok_or_else(bad)?;
            match ch {
                '\\' => {
                    *i += 1;
                    ch = *chars.get(*i).ok_or_else(bad)?;
                }
                '-' | ']' => return Err(bad()),
                _ => {}
            }
            *i += 1;
            Ok(ch)
        };
        loop {
            match chars.get(i) {
                None => return Err(bad()),
                Some(']') if !ranges.is_empty() => {
                    return Ok((GlobToken::Class { negated, ranges }, i + 1))
                }
                Some(_) => {
                    let low = read_char(&mut i)?;
                    let high = if chars.get(i) == Some(&'-') {
                        i += 1;
                        read_char(&mut i)?
                    } else {
                        low
                    };
                    if high < low {
                        return Err(bad());
                    }
                    ranges.push((low, high));
                }
            }
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        // memo[t * (tokens + 1) + p]: whether text[t..] matches tokens[p..].
        let mut memo = vec![None; (text.len() + 1) * (self.tokens.len() + 1)];
        self.match_at(0, 0, &text, &mut memo)
    }

    fn match_at(&self, t: usize, p: usize, text: &[char], memo: &mut [Option<bool>]) -> bool {
        let slot = t * (self.tokens.len() + 1) + p;
        if let Some(known) = memo[slot] {
            return known;
        }
        let result = match self.tokens.get(p) {
            None => t == text.len(),
            Some(GlobToken::Literal(c)) => {
                text.get(t) == Some(c) && self.match_at(t + 1, p + 1, text, memo)
            }
            Some(GlobToken::One) => {
                text.get(t).is_some_and(|c| *c != '/') && self.match_at(t + 1, p + 1, text, memo)
            }
            Some(GlobToken::Class { negated, ranges }) => {
                text.get(t).is_some_and(|c| {
                    *c != '/' && ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *negated
                }) && self.match_at(t + 1, p + 1, text, memo)
            }
            Some(GlobToken::Star) => {
                let mut end = t;
                loop {
                    if self.match_at(end, p + 1, text, memo) {
                        break true;
                    }
                    if end >= text.len() || text[end] == '/' {
                        break false;
                    }
                    end += 1;
                }
            }
            Some(GlobToken::AnyDirs) => {
                self.match_at(t, p + 1, text, memo)
                    || (t..text.len())
                        .filter(|i| text[*i] == '/')
                        .any(|slash| self.match_at(slash + 1, p + 1, text, memo))
            }
            Some(GlobToken::Rest) => true,
        };
        memo[slot] = Some(result);
        result
    }
}

// ---------------------------------------------------------------------------
// .dockerignore

/// How a `.dockerignore` pattern is matched (moby/patternmatcher's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchKind {
    Exact,
    /// `foo/**`: any path under `foo/`.
    Prefix,
    /// `**/foo` (or `**foo`): any path ending so.
    Suffix,
    Glob,
}

#[derive(Debug, Clone)]
pub(super) struct IgnorePattern {
    /// Cleaned, without the leading `!`.
    pattern: String,
    exclusion: bool,
    pub(super) line: usize,
    kind: MatchKind,
    glob: Glob,
}

impl IgnorePattern {
    fn new(raw: &str, line: usize) -> Result<IgnorePattern, String> {
        let (exclusion, body) = match raw.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, raw),
        };
        if exclusion && body.is_empty() {
            return Err("illegal exclusion pattern: \"!\"".to_string());
        }
        let mut pattern = clean_path(body);
        if pattern.len() > 1 {
            if let Some(stripped) = pattern.strip_prefix('/') {
                pattern = stripped.to_string();
            }
        }
        let glob = Glob::compile(&pattern, true)?;
        let kind =
            if pattern.starts_with("**") && !pattern[2..].contains(['*', '?', '[', ']', '\\']) {
                MatchKind::Suffix
            } else if glob.literal {
                MatchKind::Exact
            } else if pattern.ends_with("**")
                && !pattern[..pattern.len() - 2].contains(['*', '?', '[', ']', '\\'])
            {
                MatchKind::Prefix
            } else {
                MatchKind::Glob
            };
        Ok(IgnorePattern {
            pattern,
            exclusion,
            line,
            kind,
            glob,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self.kind {
            MatchKind::Exact => path == self.pattern,
            MatchKind::Prefix => path.starts_with(&self.pattern[..self.pattern.len() - 2]),
            MatchKind::Suffix => {
                let suffix = &self.pattern[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            MatchKind::Glob => self.glob.matches(path),
        }
    }

    /// Whether the pattern could match `dir` or something below it.
    fn could_match_below(&self, dir: &str) -> bool {
        let pattern_parts: Vec<&str> = self.pattern.split('/').collect();
        for (i, dir_part) in dir.split('/').enumerate() {
            let Some(part) = pattern_parts.get(i) else {
                // The pattern names an ancestor of `dir`.
                return true;
            };
            if part.contains("**") {
                return true;
            }
            let matches = Glob::compile(part, false)
                .map(|g| g.matches(dir_part))
                .unwrap_or(true);
            if !matches {
                return false;
            }
        }
        true
    }
}

/// `.dockerignore` patterns: a path is excluded when the last pattern that
/// matches it or one of its parent directories is not a `!` exception.
#[derive(Debug, Clone, Default)]
pub struct ContextFilter {
    patterns: Vec<IgnorePattern>,
    /// The file the patterns came from (for messages).
    pub(super) file: Option<PathBuf>,
}

impl ContextFilter {
    /// A filter that excludes nothing.
    pub fn none() -> ContextFilter {
        ContextFilter::default()
    }

    /// Parses `.dockerignore` text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<ContextFilter, ContextError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            let pattern = IgnorePattern::new(trimmed, index + 1).map_err(|message| {
                ContextError::Pattern {
                    file: file.to_path_buf(),
                    line: index + 1,
                    pattern: trimmed.to_string(),
                    message,
                }
            })?;
            patterns.push(pattern);
        }
        Ok(ContextFilter {
            patterns,
            file: Some(file.to_path_buf()),
        })
    }

    /// Patterns given directly (`COPY --exclude=...`); `origin` names them in errors.
    pub fn from_patterns(patterns: &[String], origin: &str) -> Result<ContextFilter, ContextError> {
        let text = patterns.join("\n");
        let mut filter = ContextFilter::parse(&text, Path::new(origin))?;
        filter.file = None;
        Ok(filter)
    }

    /// The ignore file BuildKit uses for `dockerfile` in `context_dir`:
    /// `<Dockerfile name>.dockerignore` next to the Dockerfile wins over the
    /// context's `.dockerignore`; neither means nothing is excluded.
    pub fn load(
        context_dir: &Path,
        dockerfile: Option<&Path>,
    ) -> Result<ContextFilter, ContextError> {
        let mut candidates = Vec::new();
        if let Some(dockerfile) = dockerfile {
            if let Some(name) = dockerfile.file_name() {
                let mut specific = name.to_os_string();
                specific.push(".dockerignore");
                candidates.push(dockerfile.with_file_name(specific));
            }
        }
        candidates.push(context_dir.join(".dockerignore"));
        for candidate in candidates {
            match fs::read_to_string(&candidate) {
                Ok(text) => return ContextFilter::parse(&text, &candidate),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&candidate)(e)),
            }
        }
        Ok(ContextFilter::none())
    }

    /// The ignore file the patterns came from, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        self.deciding_pattern(path).is_some()
    }

    /// The pattern that excludes `path` (its line), if it is excluded.
    pub(super) fn deciding_pattern(&self, path: &str) -> Option<&IgnorePattern> {
        let path = clean_path(path);
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded_by: Option<&IgnorePattern> = None;
        for pattern in &self.patterns {
            // An exception can only change an excluded path, an exclusion an included one.
            if pattern.exclusion != excluded_by.is_some() {
                continue;
            }
            let matched = pattern.matches(&path)
                || (1..=parents.len()).any(|n| pattern.matches(&parents[..n].join("/")));
            if matched {
                excluded_by = if pattern.exclusion {
                    None
                } else {
                    Some(pattern)
                };
            }
        }
        excluded_by
    }

    /// Whether something below the excluded directory `dir` could be
    /// brought back by a `!` exception (else the walk skips the directory).
    pub fn may_include_below(&self, dir: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.exclusion && p.could_match_below(dir))
    }
}
