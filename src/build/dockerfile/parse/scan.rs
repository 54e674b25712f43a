//! Phase one: lines → logical instructions (parser directives, line
//! continuations, comments, heredoc bodies).
use super::words::{parse_json_array, split_command};
use crate::build::dockerfile::ast::*;
use crate::build::dockerfile::shell::{split_words_raw, Options};

/// One logical instruction: its lines joined, its heredoc bodies read.
#[derive(Debug)]
pub(super) struct RawInstruction {
    pub(super) start_line: usize,
    pub(super) end_line: usize,
    /// The joined line (BuildKit's `Original`).
    pub(super) line: String,
    /// The keyword as written.
    pub(super) keyword: String,
    /// `--flag[=value]` words before the arguments, quotes removed.
    pub(super) flags: Vec<String>,
    /// The rest of the line after the keyword and flags, trimmed.
    pub(super) args: String,
    pub(super) heredocs: Vec<Heredoc>,
    /// The heredoc bodies as written (before `<<-` tab stripping).
    pub(super) raw_bodies: Vec<String>,
}

pub(super) struct Scanned {
    pub(super) directives: Directives,
    pub(super) instructions: Vec<RawInstruction>,
    pub(super) warnings: Vec<ParseWarning>,
    pub(super) last_line: usize,
}

/// Reads `# key=value` lines at the top of the file until the first line
/// that is not one.
#[derive(Default)]
struct DirectiveReader {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveReader {
    /// Returns a known directive on `line` while directives may still appear.
    fn read(&mut self, line: &str) -> Result<Option<(String, String)>, String> {
        if self.done {
            return Ok(None);
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(None);
        };
        let rest = rest.trim_start();
        let name_len = rest
            .char_indices()
            .take_while(|(i, c)| {
                if *i == 0 {
                    c.is_ascii_alphabetic()
                } else {
                    c.is_ascii_alphanumeric()
                }
            })
            .count();
        let (name, after) = rest.split_at(name_len);
        let value = after.trim_start().strip_prefix('=').map(str::trim);
        let (Some(value), false) = (value, name.is_empty()) else {
            self.done = true;
            return Ok(None);
        };
        let name = name.to_ascii_lowercase();
        if value.is_empty() || !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        self.seen.push(name.clone());
        Ok(Some((name, value.to_string())))
    }
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing continuation escape (and blanks after it); returns
/// whether the line continues. An escaped escape (`\\`) does not continue.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let Some(before) = trimmed.strip_suffix(escape) else {
        return (line, false);
    };
    if before.is_empty() || !before.ends_with(escape) {
        (before, true)
    } else {
        (line, false)
    }
}

/// Phase one: directives, comments, continuations and heredoc bodies.
pub(super) fn scan(source: &str) -> Result<Scanned, (usize, String)> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let lines: Vec<&str> = source.split_inclusive('\n').collect();
    let mut directives = Directives::default();
    let mut reader = DirectiveReader::default();
    let mut instructions = Vec::new();
    let mut warnings = Vec::new();
    let mut index = 0;

    let mut read_directive = |line: &str, number: usize, d: &mut Directives| {
        if let Some((name, value)) = reader.read(line).map_err(|m| (number, m))? {
            match name.as_str() {
                "escape" => {
                    d.escape = match value.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err((
                                number,
                                format!("invalid escape token '{value}' does not match ` or \\"),
                            ))
                        }
                    }
                }
                "syntax" => d.syntax = Some(value),
                _ => d.check = Some(value),
            }
        }
        Ok::<(), (usize, String)>(())
    };

    while index < lines.len() {
        let first = trim_newline(lines[index]).trim_start();
        index += 1;
        let start_line = index;
        read_directive(first, start_line, &mut directives)?;
        let first = if is_comment(first) { "" } else { first };
        let (piece, mut continues) = trim_continuation(first, directives.escape);
        if !continues && piece.is_empty() {
            continue;
        }
        let mut line = piece.to_string();
        let mut empty_continuation = false;
        while continues && index < lines.len() {
            let raw = lines[index];
            index += 1;
            if is_comment(raw) {
                continue;
            }
            let text = trim_newline(raw);
            if text.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (piece, more) = trim_continuation(text, directives.escape);
            line.push_str(piece);
            continues = more;
        }
        if empty_continuation {
            warnings.push(ParseWarning {
                line: index,
                message: format!("empty continuation line found in: {line}"),
            });
        }
        let (keyword, flags, args) =
            split_command(&line, directives.escape).map_err(|m| (start_line, m))?;
        let mut heredocs = Vec::new();
        let mut raw_bodies = Vec::new();
        if can_contain_heredoc(&keyword, &args, directives.escape) && line.contains("<<") {
            for mut heredoc in heredocs_in_line(&line) {
                let mut content = String::new();
                let mut terminated = false;
                while index < lines.len() {
                    let raw = lines[index];
                    index += 1;
                    let candidate = trim_newline(raw);
                    let candidate = if heredoc.strip_tabs {
                        candidate.trim_start_matches('\t')
                    } else {
                        candidate
                    };
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err((
                        start_line,
                        format!(
                            "unterminated heredoc <<{} (no line {} after it)",
                            heredoc.name, heredoc.name
                        ),
                    ));
                }
                heredoc.content = if heredoc.strip_tabs {
                    strip_leading_tabs(&content)
                } else {
                    content.clone()
                };
                raw_bodies.push(content);
                heredocs.push(heredoc);
            }
        }
        instructions.push(RawInstruction {
            start_line,
            end_line: index,
            line,
            keyword,
            flags,
            args,
            heredocs,
            raw_bodies,
        });
    }
    Ok(Scanned {
        directives,
        instructions,
        warnings,
        last_line: lines.len(),
    })
}

fn strip_leading_tabs(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|line| line.trim_start_matches('\t'))
        .collect()
}

/// RUN, COPY and ADD (also as ONBUILD triggers) take heredocs, unless in JSON form.
fn can_contain_heredoc(keyword: &str, args: &str, escape: char) -> bool {
    let (keyword, args) = if keyword.eq_ignore_ascii_case("onbuild") {
        match split_command(args, escape) {
            Ok((inner, _, inner_args)) => (inner, inner_args),
            Err(_) => return false,
        }
    } else {
        (keyword.to_string(), args.to_string())
    };
    let lower = keyword.to_ascii_lowercase();
    if !matches!(lower.as_str(), "run" | "copy" | "add") {
        return false;
    }
    parse_json_array(&args).is_none_or(|r| r.is_err())
}

/// The heredocs a line opens, in order (`<<EOF`, `<<-EOF`, `3<<"EOF"`).
fn heredocs_in_line(line: &str) -> Vec<Heredoc> {
    let options = Options {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        skip_quotes: false,
    };
    // A line the lexer cannot split has no heredocs (as BuildKit).
    let words = split_words_raw(line, '\\', options).unwrap_or_default();
    words
        .iter()
        .filter_map(|word| parse_heredoc_word(word))
        .collect()
}

/// `[fd]<<[-]WORD` → the heredoc it opens (`content` empty).
pub(crate) fn parse_heredoc_word(word: &str) -> Option<Heredoc> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let (fd, rest) = word.split_at(digits);
    let rest = rest.strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let plain = split_words_raw(
        rest,
        '\\',
        Options {
            skip_unset: true,
            ..Options::default()
        },
    )
    .ok()?;
    let [name] = plain.as_slice() else {
        return None;
    };
    let raw = split_words_raw(
        rest,
        '\\',
        Options {
            raw_quotes: true,
            skip_unset: true,
            ..Options::default()
        },
    )
    .ok()?;
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let expand = raw.len() == 1 && quotes(name) == quotes(&raw[0]);
    Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        expand,
        strip_tabs,
        fd: if fd.is_empty() { None } else { fd.parse().ok() },
    })
}
