//! Dockerfile text → [`Dockerfile`], with BuildKit's syntax and its error
//! wording (`Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)`).
//!
//! Two phases, as BuildKit has them: lines → logical instructions (directives,
//! continuations, comments, heredoc bodies), then each instruction → its typed
//! form (flags, arguments, checks).

use super::ast::*;
use super::shell::{split_words_raw, Options};

/// A Dockerfile that cannot be parsed, printed as `Dockerfile:7: unknown instruction: RUNN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    let error = |line: usize, instruction: Option<&str>, message: String| ParseError {
        file: file.to_string(),
        line,
        instruction: instruction.map(str::to_string),
        message,
    };
    let scanned = scan(source).map_err(|(line, message)| error(line, None, message))?;
    let mut dockerfile = Dockerfile {
        directives: scanned.directives,
        args_before_from: Vec::new(),
        stages: Vec::new(),
        warnings: scanned.warnings,
    };
    let escape = dockerfile.directives.escape;
    if let Some(syntax) = &dockerfile.directives.syntax {
        dockerfile.warnings.push(ParseWarning {
            line: 1,
            message: format!(
                "the syntax directive ({syntax}) is accepted but its frontend image is not used: wharf parses Dockerfiles itself"
            ),
        });
    }
    for raw in scanned.instructions {
        let keyword = raw.keyword.clone();
        let fail = |message: String| error(raw.start_line, Some(&keyword), message);
        let item = parse_item(&raw, escape).map_err(fail)?;
        match item {
            Item::From { image, name } => {
                let index = dockerfile.stages.len();
                if let Some(name) = &name {
                    if dockerfile.stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                        dockerfile.warnings.push(ParseWarning {
                            line: raw.start_line,
                            message: format!(
                                "Duplicate stage name {name:?}, stage names should be unique"
                            ),
                        });
                    }
                }
                dockerfile.stages.push(Stage {
                    index,
                    name,
                    from: locate(&raw, image),
                    instructions: Vec::new(),
                });
            }
            Item::Instruction(instruction) => match dockerfile.stages.last_mut() {
                Some(stage) => {
                    if let Instruction::Maintainer(_) = instruction {
                        dockerfile.warnings.push(ParseWarning {
                            line: raw.start_line,
                            message: "MAINTAINER is deprecated: use LABEL org.opencontainers.image.authors=... instead".to_string(),
                        });
                    }
                    stage.instructions.push(locate(&raw, instruction));
                }
                None => match instruction {
                    Instruction::Arg(args) => dockerfile.args_before_from.push(locate(&raw, args)),
                    _ => {
                        return Err(error(
                            raw.start_line,
                            Some(&keyword),
                            format!(
                                "{} is not allowed before the first FROM (only ARG is): no build stage in current context",
                                keyword.to_ascii_uppercase()
                            ),
                        ))
                    }
                },
            },
        }
    }
    if dockerfile.stages.is_empty() && dockerfile.args_before_from.is_empty() {
        return Err(error(
            scanned.last_line.max(1),
            None,
            "file with no instructions".to_string(),
        ));
    }
    if dockerfile.stages.is_empty() {
        return Err(error(
            scanned.last_line.max(1),
            None,
            "the Dockerfile has no FROM instruction (no build stage)".to_string(),
        ));
    }
    Ok(dockerfile)
}

fn locate<T>(raw: &RawInstruction, value: T) -> Located<T> {
    Located {
        line: raw.start_line,
        end_line: raw.end_line,
        text: raw.line.trim().to_string(),
        value,
    }
}

/// One logical instruction: its lines joined, its heredoc bodies read.
#[derive(Debug)]
struct RawInstruction {
    start_line: usize,
    end_line: usize,
    /// The joined line (BuildKit's `Original`).
    line: String,
    /// The keyword as written.
    keyword: String,
    /// `--flag[=value]` words before the arguments, quotes removed.
    flags: Vec<String>,
    /// The rest of the line after the keyword and flags, trimmed.
    args: String,
    heredocs: Vec<Heredoc>,
    /// The heredoc bodies as written (before `<<-` tab stripping).
    raw_bodies: Vec<String>,
}

struct Scanned {
    directives: Directives,
    instructions: Vec<RawInstruction>,
    warnings: Vec<ParseWarning>,
    last_line: usize,
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
fn scan(source: &str) -> Result<Scanned, (usize, String)> {
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

fn is_blank(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Keyword, builder flags (`--x=y` words) and the rest of the line.
fn split_command(line: &str, escape: char) -> Result<(String, Vec<String>, String), String> {
    let line = line.trim();
    let Some(split) = line.find(is_blank) else {
        return Ok((line.to_string(), Vec::new(), String::new()));
    };
    let keyword = &line[..split];
    let rest = line[split..].trim_start_matches(is_blank);
    let (args, flags) = extract_flags(rest, escape);
    Ok((keyword.to_string(), flags, args.trim().to_string()))
}

/// Leading words starting with `--` are flags (quotes and escapes removed);
/// a bare `--` ends them.
fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].1.is_whitespace() {
            i += 1;
        }
        if i == chars.len() {
            return (String::new(), flags);
        }
        let starts_flag = chars[i].1 == '-' && chars.get(i + 1).is_some_and(|c| c.1 == '-');
        if !starts_flag {
            return (line[chars[i].0..].to_string(), flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while i < chars.len() {
            let ch = chars[i].1;
            match quote {
                None if ch.is_whitespace() => break,
                None if ch == '\'' || ch == '"' => {
                    quote = Some(ch);
                    blank_ok = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == escape => {
                    if i + 1 == chars.len() {
                        // An escape at the end of the line is dropped.
                    } else {
                        i += 1;
                        word.push(chars[i].1);
                    }
                }
                _ => word.push(ch),
            }
            i += 1;
        }
        if word == "--" {
            let rest = chars.get(i).map(|(pos, _)| &line[*pos..]).unwrap_or("");
            return (rest.to_string(), flags);
        }
        if blank_ok || !word.is_empty() {
            flags.push(word);
        }
    }
}

/// `Some(Ok(strings))` for a JSON array of strings, `Some(Err)` for a JSON
/// array with other values, `None` when the text is not a JSON array.
fn parse_json_array(args: &str) -> Option<Result<Vec<String>, String>> {
    let text = args.trim_start();
    if !text.starts_with('[') {
        return None;
    }
    let values: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    Some(
        values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(
                    "when using JSON array syntax, arrays must be comprised of strings only"
                        .to_string(),
                ),
            })
            .collect(),
    )
}

/// Splits on runs of blanks (BuildKit's `[\t\v\f\r ]+`).
fn split_blanks(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(is_blank)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Words split on unquoted whitespace, quotes and escapes kept (they are
/// removed later, by substitution): BuildKit's `parseWords`.
fn quoted_words(text: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        match quote {
            None => {
                if ch.is_whitespace() {
                    if in_word && (blank_ok || !word.is_empty()) {
                        words.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    in_word = false;
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                in_word = true;
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                    word.push(ch);
                } else if ch == escape && q != '\'' {
                    if i + 1 == chars.len() {
                        quote = None;
                        i += 1;
                        continue;
                    }
                    word.push(ch);
                    i += 1;
                    word.push(chars[i]);
                } else {
                    word.push(ch);
                }
            }
        }
        i += 1;
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// The result of parsing one instruction.
enum Item {
    From {
        image: FromImage,
        name: Option<String>,
    },
    Instruction(Instruction),
}

const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn parse_item(raw: &RawInstruction, escape: char) -> Result<Item, String> {
    let lower = raw.keyword.to_ascii_lowercase();
    let request = Request {
        keyword: raw.keyword.as_str(),
        flags: &raw.flags,
        args: raw.args.as_str(),
        heredocs: &raw.heredocs,
        raw_bodies: &raw.raw_bodies,
        escape,
        line: raw.line.as_str(),
    };
    if lower == "from" {
        return parse_from(&request);
    }
    parse_instruction(&lower, &request).map(Item::Instruction)
}

/// What an instruction's parser gets.
struct Request<'a> {
    keyword: &'a str,
    flags: &'a [String],
    args: &'a str,
    heredocs: &'a [Heredoc],
    raw_bodies: &'a [String],
    escape: char,
    line: &'a str,
}

fn parse_instruction(lower: &str, req: &Request) -> Result<Instruction, String> {
    match lower {
        "run" => parse_run(req).map(Instruction::Run),
        "copy" => parse_copy(req, false).map(Instruction::Copy),
        "add" => parse_copy(req, true).map(Instruction::Add),
        "workdir" => {
            no_flags(req)?;
            exactly_one(req, "WORKDIR").map(Instruction::Workdir)
        }
        "env" => {
            no_flags(req)?;
            key_values(req, "ENV").map(Instruction::Env)
        }
        "label" => {
            no_flags(req)?;
            key_values(req, "LABEL").map(Instruction::Label)
        }
        "arg" => {
            no_flags(req)?;
            parse_arg(req).map(Instruction::Arg)
        }
        "expose" => {
            no_flags(req)?;
            let ports = split_blanks(req.args);
            if ports.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Ok(Instruction::Expose(ports))
        }
        "user" => {
            no_flags(req)?;
            exactly_one(req, "USER").map(Instruction::User)
        }
        "volume" => {
            no_flags(req)?;
            parse_volume(req).map(Instruction::Volume)
        }
        "cmd" => {
            no_flags(req)?;
            Ok(Instruction::Cmd(command_form(req.args)?))
        }
        "entrypoint" => {
            no_flags(req)?;
            Ok(Instruction::Entrypoint(command_form(req.args)?))
        }
        "healthcheck" => parse_healthcheck(req).map(Instruction::Healthcheck),
        "shell" => {
            no_flags(req)?;
            match parse_json_array(req.args) {
                Some(Ok(shell)) if !shell.is_empty() => Ok(Instruction::Shell(shell)),
                Some(Err(message)) => Err(message),
                Some(Ok(_)) => Err(at_least_one("SHELL")),
                None if req.args.is_empty() => Err(at_least_one("SHELL")),
                None => Err("SHELL requires the arguments to be in JSON form".to_string()),
            }
        }
        "stopsignal" => {
            no_flags(req)?;
            exactly_one(req, "STOPSIGNAL").map(Instruction::StopSignal)
        }
        "maintainer" => {
            no_flags(req)?;
            exactly_one(req, "MAINTAINER").map(Instruction::Maintainer)
        }
        "onbuild" => parse_onbuild(req),
        _ => {
            let mut message = format!("unknown instruction: {}", req.keyword);
            if let Some(suggestion) = suggest(req.keyword, INSTRUCTIONS, false) {
                message.push_str(&format!(" (did you mean {suggestion}?)"));
            }
            Err(message)
        }
    }
}

fn at_least_one(keyword: &str) -> String {
    format!("{keyword} requires at least one argument")
}

/// Instructions with one free-text argument (BuildKit's `parseString`: the
/// whole rest of the line, blanks included).
fn exactly_one(req: &Request, keyword: &str) -> Result<String, String> {
    if req.args.is_empty() {
        return Err(format!("{keyword} requires exactly one argument"));
    }
    Ok(req.args.to_string())
}

fn no_flags(req: &Request) -> Result<(), String> {
    Flags::parse(req.flags, &[]).map(|_| ())
}

/// Shell form (the text) or exec form (a JSON array of strings).
fn command_form(args: &str) -> Result<CommandForm, String> {
    match parse_json_array(args) {
        Some(Ok(words)) => Ok(CommandForm::Exec(words)),
        Some(Err(message)) => Err(message),
        None => Ok(CommandForm::Shell(args.to_string())),
    }
}

/// `ENV`/`LABEL`: `k=v ...` or the legacy `k v` (the value is the rest of the line).
fn key_values(req: &Request, keyword: &str) -> Result<Vec<(String, String)>, String> {
    let words = quoted_words(req.args, req.escape);
    let Some(first) = words.first() else {
        return Err(at_least_one(keyword));
    };
    let pairs = if !first.contains('=') {
        let mut parts = req.args.splitn(2, is_blank);
        let key = parts.next().unwrap_or_default();
        let value = parts
            .next()
            .map(|v| v.trim_start_matches(is_blank))
            .unwrap_or("");
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        vec![(key.to_string(), value.to_string())]
    } else {
        let mut pairs = Vec::new();
        for word in &words {
            let Some((key, value)) = word.split_once('=') else {
                return Err(format!(
                    "Syntax error - can't find = in {word:?}. Must be of the form: name=value"
                ));
            };
            pairs.push((key.to_string(), value.to_string()));
        }
        pairs
    };
    if pairs.iter().any(|(k, _)| k.is_empty()) {
        return Err(format!("{keyword} names can not be blank"));
    }
    Ok(pairs)
}

fn parse_arg(req: &Request) -> Result<Vec<ArgDecl>, String> {
    let words = quoted_words(req.args, req.escape);
    if words.is_empty() {
        return Err(at_least_one("ARG"));
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err("ARG names can not be blank".to_string()),
            Some((name, default)) => Ok(ArgDecl {
                name: name.to_string(),
                default: Some(default.to_string()),
            }),
            None => Ok(ArgDecl {
                name: word,
                default: None,
            }),
        })
        .collect()
}

/// Words of VOLUME/COPY/ADD: a JSON array, or blank-separated words.
fn word_list(args: &str) -> Result<(Vec<String>, bool), String> {
    match parse_json_array(args) {
        Some(Ok(words)) => Ok((words, true)),
        Some(Err(message)) => Err(message),
        None => Ok((split_blanks(args), false)),
    }
}

fn parse_volume(req: &Request) -> Result<Vec<String>, String> {
    let (words, _) = word_list(req.args)?;
    if words.is_empty() {
        return Err(at_least_one("VOLUME"));
    }
    words
        .into_iter()
        .map(|v| {
            let v = v.trim().to_string();
            if v.is_empty() {
                Err("VOLUME specified can not be an empty string".to_string())
            } else {
                Ok(v)
            }
        })
        .collect()
}

fn parse_from(req: &Request) -> Result<Item, String> {
    let flags = Flags::parse(req.flags, &[("platform", FlagKind::String)])?;
    let args = split_blanks(req.args);
    let name = match args.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            if !valid_stage_name(&lower) {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(lower)
        }
        _ => return Err("FROM requires either one or three arguments".to_string()),
    };
    Ok(Item::From {
        image: FromImage {
            image: args[0].clone(),
            platform: flags.string("platform"),
        },
        name,
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn parse_run(req: &Request) -> Result<Run, String> {
    let flags = Flags::parse(
        req.flags,
        &[
            ("mount", FlagKind::Strings),
            ("network", FlagKind::String),
            ("security", FlagKind::String),
            ("device", FlagKind::Strings),
        ],
    )?;
    if !flags.strings("device").is_empty() {
        return Err("RUN --device (CDI devices) is not supported by wharf".to_string());
    }
    let network = match flags.string("network").as_deref() {
        None | Some("default") => RunNetwork::Default,
        Some("none") => RunNetwork::None,
        Some("host") => RunNetwork::Host,
        Some(other) => return Err(format!("invalid network mode {other:?}")),
    };
    let security = match flags.string("security").as_deref() {
        None | Some("sandbox") => RunSecurity::Sandbox,
        Some("insecure") => RunSecurity::Insecure,
        Some(other) => return Err(format!("security {other:?} is not valid")),
    };
    let mounts = flags
        .strings("mount")
        .iter()
        .map(|raw| {
            let from = mount_from(raw)?;
            Ok(MountSpec {
                raw: raw.clone(),
                from,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let command = command_form(req.args)?;
    if let CommandForm::Shell(text) = &command {
        if text.is_empty() && req.heredocs.is_empty() {
            return Err(at_least_one("RUN"));
        }
    }
    if let CommandForm::Exec(words) = &command {
        if words.is_empty() {
            return Err(at_least_one("RUN"));
        }
    }
    Ok(Run {
        command,
        heredocs: req.heredocs.to_vec(),
        mounts,
        network,
        security,
    })
}

/// The `from=` of a mount, which the stage graph needs before any expansion.
fn mount_from(raw: &str) -> Result<Option<String>, String> {
    let fields = csv_fields(raw).map_err(|m| format!("failed to parse csv mounts: {m}"))?;
    let mut from = None;
    for field in fields {
        if let Some((key, value)) = field.split_once('=') {
            if key.eq_ignore_ascii_case("from") {
                if let Some(i) = value.find('$') {
                    if i != value.len() - 1 {
                        return Err(
                            "'from' doesn't support variable expansion, define alias stage instead"
                                .to_string(),
                        );
                    }
                }
                from = Some(value.to_string());
            }
        }
    }
    Ok(from)
}

/// One CSV record (the format of `--mount` values): `,`-separated fields,
/// `"..."` quoting with `""` for a quote.
pub(crate) fn csv_fields(text: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut at_field_start = true;
    while let Some(ch) = chars.next() {
        if at_field_start && ch == '"' {
            at_field_start = false;
            loop {
                match chars.next() {
                    None => {
                        return Err(format!("extraneous or missing \" in quoted-field: {text}"))
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.peek() {
                None | Some(',') => {}
                Some(_) => return Err(format!("extraneous or missing \" in quoted-field: {text}")),
            }
            continue;
        }
        at_field_start = false;
        if ch == ',' {
            fields.push(std::mem::take(&mut field));
            at_field_start = true;
        } else if ch == '"' {
            return Err(format!("bare \" in non-quoted-field: {text}"));
        } else {
            field.push(ch);
        }
    }
    fields.push(field);
    Ok(fields)
}

fn parse_copy(req: &Request, add: bool) -> Result<CopyArgs, String> {
    let keyword = if add { "ADD" } else { "COPY" };
    let spec: &[(&str, FlagKind)] = if add {
        &[
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("keep-git-dir", FlagKind::Bool),
            ("checksum", FlagKind::String),
            ("unpack", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
        ]
    } else {
        &[
            ("chown", FlagKind::String),
            ("from", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
            ("parents", FlagKind::Bool),
        ]
    };
    let (words, json) = word_list(req.args)?;
    if words.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let flags = Flags::parse(req.flags, spec)?;
    let Some((dest, sources)) = words.split_last() else {
        return Err(format!("{keyword} requires at least two arguments"));
    };
    if !json && parse_heredoc_word(dest).is_some() {
        return Err(format!(
            "{keyword} cannot accept a heredoc as a destination"
        ));
    }
    let mut paths = Vec::new();
    let mut heredocs = Vec::new();
    for source in sources {
        match parse_heredoc_word(source).filter(|_| !json) {
            Some(opened) => {
                let body = req.heredocs.iter().find(|h| h.name == opened.name);
                heredocs.push(Heredoc {
                    content: body.map(|h| h.content.clone()).unwrap_or_default(),
                    ..opened
                });
            }
            None => paths.push(source.clone()),
        }
    }
    Ok(CopyArgs {
        sources: paths,
        heredocs,
        dest: dest.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link").unwrap_or(false),
        exclude: flags.strings("exclude").to_vec(),
        parents: flags.bool("parents").unwrap_or(false),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        unpack: flags.bool("unpack"),
        json,
    })
}

fn parse_healthcheck(req: &Request) -> Result<Healthcheck, String> {
    let args = req.args;
    let split = args.find(char::is_whitespace).unwrap_or(args.len());
    let kind = &args[..split];
    let rest = args[split..].trim_start();
    if kind.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let kind_upper = kind.to_ascii_uppercase();
    if kind_upper == "NONE" {
        if !rest.is_empty() || !req.flags.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".to_string());
        }
        return Ok(Healthcheck::None);
    }
    let flags = Flags::parse(
        req.flags,
        &[
            ("interval", FlagKind::String),
            ("timeout", FlagKind::String),
            ("start-period", FlagKind::String),
            ("start-interval", FlagKind::String),
            ("retries", FlagKind::String),
        ],
    )?;
    if kind_upper != "CMD" {
        return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"));
    }
    let command = command_form(rest)?;
    let empty = match &command {
        CommandForm::Shell(text) => text.is_empty(),
        CommandForm::Exec(words) => words.is_empty(),
    };
    if empty {
        return Err("Missing command after HEALTHCHECK CMD".to_string());
    }
    let interval = |name: &str| -> Result<Option<u64>, String> {
        let Some(text) = flags.string(name) else {
            return Ok(None);
        };
        if text.is_empty() {
            return Ok(None);
        }
        let nanos =
            parse_duration(&text).map_err(|m| format!("invalid value for --{name}: {m}"))?;
        if nanos == 0 {
            return Ok(None);
        }
        if nanos < 1_000_000 {
            return Err(format!("Interval {name:?} cannot be less than 1ms"));
        }
        Ok(Some(nanos as u64))
    };
    let retries = match flags.string("retries").filter(|r| !r.is_empty()) {
        None => None,
        Some(text) => {
            let n: i64 = text
                .parse()
                .map_err(|_| format!("invalid value for --retries: {text:?} (a whole number)"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            let n = u32::try_from(n).map_err(|_| format!("--retries is too large ({n})"))?;
            (n != 0).then_some(n)
        }
    };
    Ok(Healthcheck::Cmd(HealthcheckCmd {
        command,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    }))
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<number><unit>`
/// (`ns us µs ms s m h`), or plain `0`. Nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {text:?}")),
            _ => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        let mut divisor: i128 = 1;
        let mut frac_value: i128 = 0;
        for digit in fraction.chars().take(18) {
            divisor *= 10;
            frac_value = frac_value * 10 + i128::from(digit as u8 - b'0');
        }
        value += frac_value * scale / divisor;
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if negative { -total } else { total })
}

fn parse_onbuild(req: &Request) -> Result<Instruction, String> {
    no_flags(req)?;
    if req.args.is_empty() {
        return Err(at_least_one("ONBUILD"));
    }
    let (keyword, flags, args) = split_command(req.args, req.escape)?;
    let upper = keyword.to_ascii_uppercase();
    match upper.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
        "MAINTAINER" | "FROM" => {
            return Err(format!("{upper} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    let inner = Request {
        keyword: &keyword,
        flags: &flags,
        args: &args,
        heredocs: req.heredocs,
        raw_bodies: req.raw_bodies,
        escape: req.escape,
        line: req.args,
    };
    let instruction = parse_instruction(&keyword.to_ascii_lowercase(), &inner)?;
    let mut expression = strip_onbuild_keyword(req.line).to_string();
    // As BuildKit stores the trigger: bodies as written, then each delimiter.
    for (heredoc, body) in req.heredocs.iter().zip(req.raw_bodies) {
        expression.push('\n');
        expression.push_str(body);
        expression.push_str(&heredoc.name);
    }
    Ok(Instruction::Onbuild {
        expression,
        instruction: Box::new(instruction),
    })
}

/// The line without its leading `ONBUILD` keyword (case-insensitive) and blanks.
fn strip_onbuild_keyword(line: &str) -> &str {
    let trimmed = line.trim_start();
    match trimmed.get(..7) {
        Some(word) if word.eq_ignore_ascii_case("onbuild") => trimmed[7..].trim_start(),
        _ => trimmed,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Bool,
    String,
    Strings,
}

/// Parsed builder flags (BuildKit's BFlags, with its error wording).
struct Flags {
    values: Vec<(String, Vec<String>)>,
}

impl Flags {
    fn parse(words: &[String], spec: &[(&str, FlagKind)]) -> Result<Flags, String> {
        let mut values: Vec<(String, Vec<String>)> = Vec::new();
        for word in words {
            if word == "--" {
                break;
            }
            let Some(body) = word.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {word}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (body, None),
            };
            let Some((_, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                let mut message = format!("unknown flag: --{name}");
                let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
                if let Some(s) = suggest(name, &names, true) {
                    message.push_str(&format!(" (did you mean {s}?)"));
                }
                return Err(message);
            };
            let seen = values.iter().position(|(n, _)| n == name);
            if seen.is_some() && *kind != FlagKind::Strings {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let value = match kind {
                FlagKind::Bool => match value.map(str::to_ascii_lowercase).as_deref() {
                    Some("") => return Err(format!("missing a value on flag: --{name}")),
                    None | Some("true") => "true".to_string(),
                    Some("false") => "false".to_string(),
                    Some(_) => {
                        return Err(format!(
                            "expecting boolean value for flag --{name}, not: {}",
                            value.unwrap_or_default()
                        ))
                    }
                },
                FlagKind::String | FlagKind::Strings => match value {
                    Some(value) => value.to_string(),
                    None => return Err(format!("missing a value on flag: --{name}")),
                },
            };
            match seen {
                Some(i) => values[i].1.push(value),
                None => values.push((name.to_string(), vec![value])),
            }
        }
        Ok(Flags { values })
    }

    fn strings(&self, name: &str) -> &[String] {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    fn string(&self, name: &str) -> Option<String> {
        self.strings(name).last().cloned()
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}

/// The closest of `options` within edit distance 2 (BuildKit's suggestions).
fn suggest(value: &str, options: &[&str], case_sensitive: bool) -> Option<String> {
    let normalize = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_ascii_lowercase()
        }
    };
    let value_n = normalize(value);
    let mut best: Option<(usize, &str)> = None;
    for option in options {
        let option_n = normalize(option);
        if option_n == value_n {
            return None;
        }
        let distance = levenshtein(&value_n, &option_n);
        if distance < 3 && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, option));
        }
    }
    best.map(|(_, option)| {
        if !case_sensitive && value == value.to_ascii_lowercase() {
            option.to_ascii_lowercase()
        } else {
            option.to_string()
        }
    })
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Dockerfile {
        parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// The instructions of the only stage of `FROM base` + `body`.
    fn instructions(body: &str) -> Vec<Instruction> {
        let dockerfile = parse_ok(&format!("FROM base\n{body}"));
        assert_eq!(dockerfile.stages.len(), 1);
        dockerfile.stages[0]
            .instructions
            .iter()
            .map(|l| l.value.clone())
            .collect()
    }

    fn one(body: &str) -> Instruction {
        let mut all = instructions(body);
        assert_eq!(all.len(), 1, "{body:?} gave {all:?}");
        all.remove(0)
    }

    fn error(text: &str) -> ParseError {
        match parse(text, "Dockerfile") {
            Ok(d) => panic!("{text:?} should not parse, got {d:?}"),
            Err(e) => e,
        }
    }

    fn run(body: &str) -> Run {
        match one(body) {
            Instruction::Run(run) => run,
            other => panic!("not a RUN: {other:?}"),
        }
    }

    fn copy(body: &str) -> CopyArgs {
        match one(body) {
            Instruction::Copy(c) | Instruction::Add(c) => c,
            other => panic!("not a COPY/ADD: {other:?}"),
        }
    }

    fn shell(text: &str) -> CommandForm {
        CommandForm::Shell(text.to_string())
    }

    fn exec(words: &[&str]) -> CommandForm {
        CommandForm::Exec(words.iter().map(|w| w.to_string()).collect())
    }

    #[test]
    fn stages_names_and_lines() {
        let d = parse_ok(
            "# comment\nARG BASE=debian\nFROM --platform=$BUILDPLATFORM $BASE AS Build\nRUN make\n\nfrom scratch\ncopy --from=build /out /\n",
        );
        assert_eq!(d.args_before_from.len(), 1);
        assert_eq!(
            d.args_before_from[0].value,
            vec![ArgDecl {
                name: "BASE".into(),
                default: Some("debian".into())
            }]
        );
        assert_eq!(d.stages.len(), 2);
        let build = &d.stages[0];
        assert_eq!((build.index, build.name.as_deref()), (0, Some("build")));
        assert_eq!(build.from.line, 3);
        assert_eq!(
            build.from.value,
            FromImage {
                image: "$BASE".into(),
                platform: Some("$BUILDPLATFORM".into())
            }
        );
        assert_eq!(build.instructions[0].line, 4);
        assert_eq!(d.stages[1].name, None);
        assert_eq!(d.stages[1].from.value.image, "scratch");
        assert_eq!(d.stages[1].instructions[0].line, 7);
        assert_eq!(d.stage("BUILD").map(|s| s.index), Some(0));
        assert_eq!(d.stage("1").map(|s| s.index), Some(1));
        assert!(d.stage("2").is_none());
        let d = parse_ok("FROM a AS x\nFROM b AS X\n");
        assert!(d
            .warnings
            .iter()
            .any(|w| w.line == 2 && w.message.contains("Duplicate stage name \"x\"")));
    }

    #[test]
    fn continuations_comments_and_text() {
        let d = parse_ok(
            "FROM a\nRUN echo hello \\\n  # a comment inside\n    world \\\n\n  done\nRUN x\n",
        );
        let run = &d.stages[0].instructions[0];
        assert_eq!((run.line, run.end_line), (2, 6));
        assert_eq!(run.text, "RUN echo hello     world   done");
        assert_eq!(d.stages[0].instructions[1].line, 7);
        assert_eq!(d.warnings.len(), 1, "{:?}", d.warnings);
        assert!(d.warnings[0].message.contains("empty continuation line"));
        // A continuation at the end of the file ends the instruction.
        assert_eq!(
            run_of(&parse_ok("FROM a\nRUN echo a \\")).command,
            shell("echo a")
        );
        // An escaped escape at the end of a line is no continuation.
        let all = instructions("ENV A=a\\\\\nENV B=b\n");
        assert_eq!(all.len(), 2);
        // Windows line endings.
        assert_eq!(
            instructions("RUN a \\\r\n  b\r\nUSER x\r\n"),
            vec![
                Instruction::Run(Run {
                    command: shell("a   b"),
                    heredocs: vec![],
                    mounts: vec![],
                    network: RunNetwork::Default,
                    security: RunSecurity::Sandbox
                }),
                Instruction::User("x".into())
            ]
        );
    }

    fn run_of(d: &Dockerfile) -> Run {
        match &d.stages[0].instructions[0].value {
            Instruction::Run(r) => r.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn directives() {
        let d = parse_ok(
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo\n",
        );
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert!(d
            .warnings
            .iter()
            .any(|w| w.message.contains("syntax directive")));
        assert_eq!(run_of(&d).command, shell("dir c:\\   && echo"));
        // Directives only count before anything else, even a blank line.
        let d = parse_ok("\n# escape=`\nFROM a\nRUN a \\\n b\n");
        assert_eq!(d.directives.escape, '\\');
        // ... or a comment that is not a directive.
        let d = parse_ok("# hello\n# escape=`\nFROM a\n");
        assert_eq!(d.directives.escape, '\\');
        // Case and blanks around `=` do not matter.
        let d = parse_ok("#  ESCAPE = `\nFROM a\n");
        assert_eq!(d.directives.escape, '`');
        let e = error("# escape=x\nFROM a\n");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("invalid escape token 'x'"), "{e}");
        let e = error("# escape=`\n# escape=\\\nFROM a\n");
        assert_eq!(
            (e.line, e.message.as_str()),
            (2, "only one escape parser directive can be used")
        );
        // A byte order mark is ignored.
        assert_eq!(
            parse_ok("\u{feff}# escape=`\nFROM a\n").directives.escape,
            '`'
        );
    }

    #[test]
    fn run_forms_and_flags() {
        assert_eq!(run("RUN apt-get update").command, shell("apt-get update"));
        assert_eq!(
            run(r#"RUN ["echo", "a b"]"#).command,
            exec(&["echo", "a b"])
        );
        // Not valid JSON: shell form, as written.
        assert_eq!(run("RUN [\"echo\", 'a']").command, shell("[\"echo\", 'a']"));
        let r = run("RUN --network=none --security=insecure --mount=type=cache,target=/root/.cache --mount=type=bind,from=build,source=/out,target=/in make");
        assert_eq!(r.network, RunNetwork::None);
        assert_eq!(r.security, RunSecurity::Insecure);
        assert_eq!(r.mounts.len(), 2);
        assert_eq!(r.mounts[0].raw, "type=cache,target=/root/.cache");
        assert_eq!(r.mounts[0].from, None);
        assert_eq!(r.mounts[1].from.as_deref(), Some("build"));
        assert_eq!(r.command, shell("make"));
        assert_eq!(run("RUN --network=host x").network, RunNetwork::Host);
        // Quotes around a flag value are removed.
        assert_eq!(
            run("RUN --mount=\"type=tmpfs,target=/t\" x").mounts[0].raw,
            "type=tmpfs,target=/t"
        );
        // `--` ends the flags.
        assert_eq!(run("RUN -- --not-a-flag").command, shell("--not-a-flag"));
    }

    #[test]
    fn heredocs() {
        let r = run("RUN <<EOF\necho hello\n  echo $HOME\nEOF\n");
        assert_eq!(r.command, shell("<<EOF"));
        assert_eq!(
            r.heredocs,
            vec![Heredoc {
                name: "EOF".into(),
                content: "echo hello\n  echo $HOME\n".into(),
                expand: true,
                strip_tabs: false,
                fd: None
            }]
        );
        let r = run("RUN <<-'END' 3<<\"two\" cat\n\tfirst $X\n\tEND\nsecond\ntwo\n");
        assert_eq!(r.heredocs.len(), 2);
        assert_eq!(r.heredocs[0].name, "END");
        assert_eq!(r.heredocs[0].content, "first $X\n");
        assert!(r.heredocs[0].strip_tabs && !r.heredocs[0].expand);
        assert_eq!(r.heredocs[1].name, "two");
        assert_eq!(r.heredocs[1].fd, Some(3));
        assert!(!r.heredocs[1].expand);
        // Quoting part of the word disables expansion; an escaped quote does not.
        assert!(!run("RUN <<eo'f'\nx\neof\n").heredocs[0].expand);
        let r = run("RUN <<eo\\'f\nx\neo'f\n");
        assert_eq!(r.heredocs[0].name, "eo'f");
        assert!(r.heredocs[0].expand);
        // Blanks after << and a redirect after the word.
        assert_eq!(run("RUN <<  EOF  > foo\nEOF\n").heredocs[0].name, "EOF");
        // A quoted << is no heredoc.
        assert!(run("RUN echo \"<<NO\"").heredocs.is_empty());
        // Bodies keep comment lines and are followed by the next instruction.
        let all = instructions(
            "RUN --mount=type=cache,target=/c <<SCRIPT\n# not a comment\nSCRIPT\nUSER me\n",
        );
        match &all[0] {
            Instruction::Run(r) => assert_eq!(r.heredocs[0].content, "# not a comment\n"),
            other => panic!("{other:?}"),
        }
        assert_eq!(all[1], Instruction::User("me".into()));
        // Heredoc lines count for the instruction's end line.
        let d = parse_ok("FROM a\nRUN <<EOF\na\nb\nEOF\nUSER x\n");
        assert_eq!(d.stages[0].instructions[0].end_line, 5);
        assert_eq!(d.stages[0].instructions[1].line, 6);
        let e = error("FROM a\nRUN <<EOF\necho\n");
        assert_eq!(e.line, 2);
        assert!(e.message.contains("unterminated heredoc"), "{e}");
        // JSON form and other instructions take no heredoc.
        assert!(run("RUN [\"cat\", \"<<EOF\"]").heredocs.is_empty());
        let e = error("FROM a\nUSER <<X\nX\n");
        assert!(e.message.contains("unknown instruction: X"), "{e}");
    }

    #[test]
    fn copy_and_add() {
        let c = copy("COPY --from=build --chown=app:app --chmod=644 --link --exclude=*.md --exclude=tmp a b/ /dest/");
        assert_eq!(c.sources, vec!["a", "b/"]);
        assert_eq!(c.dest, "/dest/");
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(c.chown.as_deref(), Some("app:app"));
        assert_eq!(c.chmod.as_deref(), Some("644"));
        assert!(c.link && !c.parents && !c.json);
        assert_eq!(c.exclude, vec!["*.md", "tmp"]);
        let c = copy("COPY [\"a b\", \"c\", \"/d e/\"]");
        assert_eq!(
            (c.sources, c.dest, c.json),
            (
                vec!["a b".to_string(), "c".to_string()],
                "/d e/".to_string(),
                true
            )
        );
        let c = copy("COPY --parents --link=false src/*.go /app/");
        assert!(c.parents && !c.link);
        let c = copy(
            "ADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tar.gz /opt/",
        );
        assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
        assert_eq!((c.keep_git_dir, c.unpack), (Some(true), Some(false)));
        let c = copy("COPY <<one <<-two /dest/\nfirst\none\n\tsecond $X\ntwo\n");
        assert!(c.sources.is_empty());
        assert_eq!(c.heredocs.len(), 2);
        assert_eq!(
            (c.heredocs[0].name.as_str(), c.heredocs[0].content.as_str()),
            ("one", "first\n")
        );
        assert_eq!(c.heredocs[1].content, "second $X\n");
        assert_eq!(c.dest, "/dest/");
        let c = copy("COPY local <<EOF /dest/\nx\nEOF\n");
        assert_eq!(c.sources, vec!["local"]);
        assert_eq!(c.heredocs.len(), 1);
    }

    #[test]
    fn metadata_instructions() {
        assert_eq!(
            one("WORKDIR /app dir"),
            Instruction::Workdir("/app dir".into())
        );
        assert_eq!(one("USER 1000:1000"), Instruction::User("1000:1000".into()));
        assert_eq!(
            one("STOPSIGNAL SIGKILL"),
            Instruction::StopSignal("SIGKILL".into())
        );
        assert_eq!(
            one("MAINTAINER Me <me@x>"),
            Instruction::Maintainer("Me <me@x>".into())
        );
        assert_eq!(
            one("EXPOSE 80 443/tcp $P"),
            Instruction::Expose(vec!["80".into(), "443/tcp".into(), "$P".into()])
        );
        assert_eq!(
            one("VOLUME /a /b"),
            Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            one("VOLUME [\"/a b\"]"),
            Instruction::Volume(vec!["/a b".into()])
        );
        assert_eq!(
            one("CMD [\"run\", \"-x\"]"),
            Instruction::Cmd(exec(&["run", "-x"]))
        );
        assert_eq!(one("CMD echo $HOME"), Instruction::Cmd(shell("echo $HOME")));
        assert_eq!(
            one("ENTRYPOINT [\"/bin/app\"]"),
            Instruction::Entrypoint(exec(&["/bin/app"]))
        );
        assert_eq!(
            one("SHELL [\"/bin/bash\", \"-c\"]"),
            Instruction::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
        assert_eq!(
            one("ARG A B=2 C=\"x y\""),
            Instruction::Arg(vec![
                ArgDecl {
                    name: "A".into(),
                    default: None
                },
                ArgDecl {
                    name: "B".into(),
                    default: Some("2".into())
                },
                ArgDecl {
                    name: "C".into(),
                    default: Some("\"x y\"".into())
                },
            ])
        );
        let d = parse_ok("FROM a\nMAINTAINER me\n");
        assert!(d
            .warnings
            .iter()
            .any(|w| w.line == 2 && w.message.contains("deprecated")));
    }

    #[test]
    fn env_and_label_forms() {
        assert_eq!(
            one("ENV A=1 B=\"two words\" C=x\\ y"),
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "x\\ y".into()),
            ])
        );
        // The legacy form: the value is the rest of the line.
        assert_eq!(
            one("ENV PATH /usr/local/bin:$PATH  more"),
            Instruction::Env(vec![("PATH".into(), "/usr/local/bin:$PATH  more".into())])
        );
        assert_eq!(
            one("LABEL version=1 \"com.x.desc\"=\"a b\""),
            Instruction::Label(vec![
                ("version".into(), "1".into()),
                ("\"com.x.desc\"".into(), "\"a b\"".into()),
            ])
        );
        assert_eq!(
            one("LABEL maintainer me@x"),
            Instruction::Label(vec![("maintainer".into(), "me@x".into())])
        );
    }

    #[test]
    fn healthcheck() {
        assert_eq!(
            one("HEALTHCHECK NONE"),
            Instruction::Healthcheck(Healthcheck::None)
        );
        assert_eq!(
            one("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=500ms --start-interval=1.5s --retries=3 CMD curl -f http://localhost/"),
            Instruction::Healthcheck(Healthcheck::Cmd(HealthcheckCmd {
                command: shell("curl -f http://localhost/"),
                interval: Some(5_000_000_000),
                timeout: Some(90_000_000_000),
                start_period: Some(500_000_000),
                start_interval: Some(1_500_000_000),
                retries: Some(3),
            }))
        );
        assert_eq!(
            one("HEALTHCHECK cmd [\"check\"]"),
            Instruction::Healthcheck(Healthcheck::Cmd(HealthcheckCmd {
                command: exec(&["check"]),
                interval: None,
                timeout: None,
                start_period: None,
                start_interval: None,
                retries: None,
            }))
        );
    }

    #[test]
    fn onbuild() {
        match one("ONBUILD RUN echo $X") {
            Instruction::Onbuild {
                expression,
                instruction,
            } => {
                assert_eq!(expression, "RUN echo $X");
                assert_eq!(
                    *instruction,
                    Instruction::Run(Run {
                        command: shell("echo $X"),
                        heredocs: vec![],
                        mounts: vec![],
                        network: RunNetwork::Default,
                        security: RunSecurity::Sandbox,
                    })
                );
            }
            other => panic!("{other:?}"),
        }
        match one("ONBUILD RUN <<-EOF\n\techo\n\tEOF\n") {
            Instruction::Onbuild { expression, .. } => {
                assert_eq!(expression, "RUN <<-EOF\n\techo\nEOF")
            }
            other => panic!("{other:?}"),
        }
        match one("onbuild COPY <<EOF /x\nhi\nEOF\n") {
            Instruction::Onbuild {
                expression,
                instruction,
            } => {
                assert_eq!(expression, "COPY <<EOF /x\nhi\nEOF");
                assert!(
                    matches!(*instruction, Instruction::Copy(ref c) if c.heredocs[0].content == "hi\n")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// Bad input: (Dockerfile, line, message fragment).
    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "FROM a\nRUNN x\n",
                2,
                "unknown instruction: RUNN (did you mean RUN?)",
            ),
            (
                "FROM a\ncopyy a b\n",
                2,
                "unknown instruction: copyy (did you mean copy?)",
            ),
            ("FROM a\nBOGUS x\n", 2, "unknown instruction: BOGUS"),
            ("", 1, "file with no instructions"),
            ("# only a comment\n\n", 2, "file with no instructions"),
            ("ARG A\n", 1, "no FROM"),
            (
                "RUN x\nFROM a\n",
                1,
                "RUN is not allowed before the first FROM",
            ),
            ("FROM\n", 1, "FROM requires either one or three arguments"),
            (
                "FROM a b\n",
                1,
                "FROM requires either one or three arguments",
            ),
            (
                "FROM a AS 1st\n",
                1,
                "invalid name for build stage: \"1st\"",
            ),
            ("FROM a AS b$c\n", 1, "invalid name for build stage"),
            (
                "FROM --platfrom=x a\n",
                1,
                "unknown flag: --platfrom (did you mean platform?)",
            ),
            (
                "FROM a\nCOPY --fro=x a b\n",
                2,
                "unknown flag: --fro (did you mean from?)",
            ),
            ("FROM a\nADD --from=x a b\n", 2, "unknown flag: --from"),
            (
                "FROM a\nCOPY --checksum=x a b\n",
                2,
                "unknown flag: --checksum",
            ),
            (
                "FROM a\nCOPY a\n",
                2,
                "COPY requires at least two arguments",
            ),
            (
                "FROM a\nCOPY a <<EOF\nx\nEOF\n",
                2,
                "COPY cannot accept a heredoc as a destination",
            ),
            (
                "FROM a\nCOPY --link=maybe a b\n",
                2,
                "expecting boolean value for flag --link, not: maybe",
            ),
            (
                "FROM a\nCOPY --link= a b\n",
                2,
                "missing a value on flag: --link",
            ),
            (
                "FROM a\nCOPY --chown a b\n",
                2,
                "missing a value on flag: --chown",
            ),
            (
                "FROM a\nCOPY --chown=a --chown=b a b\n",
                2,
                "duplicate flag specified: --chown",
            ),
            (
                "FROM a\nRUN --network=bridge x\n",
                2,
                "invalid network mode \"bridge\"",
            ),
            (
                "FROM a\nRUN --security=x y\n",
                2,
                "security \"x\" is not valid",
            ),
            (
                "FROM a\nRUN --mount=from=$X,target=/t y\n",
                2,
                "'from' doesn't support variable expansion",
            ),
            ("FROM a\nRUN\n", 2, "RUN requires at least one argument"),
            (
                "FROM a\nRUN [\"a\", 1]\n",
                2,
                "arrays must be comprised of strings only",
            ),
            ("FROM a\nENV\n", 2, "ENV requires at least one argument"),
            ("FROM a\nENV A\n", 2, "ENV must have two arguments"),
            ("FROM a\nENV A=1 B\n", 2, "can't find = in \"B\""),
            ("FROM a\nENV =1\n", 2, "ENV names can not be blank"),
            ("FROM a\nLABEL\n", 2, "LABEL requires at least one argument"),
            ("FROM a\nARG\n", 2, "ARG requires at least one argument"),
            ("FROM a\nARG =x\n", 2, "ARG names can not be blank"),
            (
                "FROM a\nWORKDIR\n",
                2,
                "WORKDIR requires exactly one argument",
            ),
            ("FROM a\nUSER\n", 2, "USER requires exactly one argument"),
            (
                "FROM a\nEXPOSE\n",
                2,
                "EXPOSE requires at least one argument",
            ),
            (
                "FROM a\nVOLUME\n",
                2,
                "VOLUME requires at least one argument",
            ),
            (
                "FROM a\nVOLUME [\"\"]\n",
                2,
                "VOLUME specified can not be an empty string",
            ),
            (
                "FROM a\nSHELL /bin/sh -c\n",
                2,
                "SHELL requires the arguments to be in JSON form",
            ),
            (
                "FROM a\nSHELL []\n",
                2,
                "SHELL requires at least one argument",
            ),
            (
                "FROM a\nHEALTHCHECK\n",
                2,
                "HEALTHCHECK requires at least one argument",
            ),
            (
                "FROM a\nHEALTHCHECK NONE x\n",
                2,
                "HEALTHCHECK NONE takes no arguments",
            ),
            (
                "FROM a\nHEALTHCHECK CMD\n",
                2,
                "Missing command after HEALTHCHECK CMD",
            ),
            (
                "FROM a\nHEALTHCHECK CONNECT x\n",
                2,
                "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)",
            ),
            (
                "FROM a\nHEALTHCHECK --interval=1us CMD x\n",
                2,
                "Interval \"interval\" cannot be less than 1ms",
            ),
            ("FROM a\nHEALTHCHECK --timeout=5 CMD x\n", 2, "missing unit"),
            (
                "FROM a\nHEALTHCHECK --retries=-1 CMD x\n",
                2,
                "--retries cannot be negative (-1)",
            ),
            (
                "FROM a\nHEALTHCHECK --intervall=1s CMD x\n",
                2,
                "unknown flag: --intervall (did you mean interval?)",
            ),
            (
                "FROM a\nONBUILD ONBUILD RUN x\n",
                2,
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            ),
            (
                "FROM a\nONBUILD FROM b\n",
                2,
                "FROM isn't allowed as an ONBUILD trigger",
            ),
            (
                "FROM a\nONBUILD maintainer me\n",
                2,
                "MAINTAINER isn't allowed as an ONBUILD trigger",
            ),
            (
                "FROM a\nONBUILD\n",
                2,
                "ONBUILD requires at least one argument",
            ),
            ("FROM a\nONBUILD RUNN x\n", 2, "unknown instruction: RUNN"),
            (
                "FROM a\nSTOPSIGNAL\n",
                2,
                "STOPSIGNAL requires exactly one argument",
            ),
            (
                "FROM a\nRUN --device=nvidia.com/gpu=all x\n",
                2,
                "not supported",
            ),
            (
                "FROM a\nRUN echo \\\n\n  x\nRUNN\n",
                5,
                "unknown instruction: RUNN",
            ),
        ];
        for (text, line, fragment) in cases {
            let e = error(text);
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(
                e.message.contains(fragment),
                "{text:?}: {e} (expected {fragment:?})"
            );
            assert!(
                e.to_string().starts_with(&format!("Dockerfile:{line}: ")),
                "{e}"
            );
        }
        let e = error("FROM a\nRUNN x\n");
        assert_eq!(e.instruction.as_deref(), Some("RUNN"));
        assert_eq!(
            e.to_string(),
            "Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)"
        );
    }

    #[test]
    fn go_durations() {
        let cases: &[(&str, Option<i128>)] = &[
            ("0", Some(0)),
            ("1s", Some(1_000_000_000)),
            ("1.5h", Some(5_400_000_000_000)),
            ("2m3s", Some(123_000_000_000)),
            ("100us", Some(100_000)),
            ("100µs", Some(100_000)),
            (".5s", Some(500_000_000)),
            ("-1s", Some(-1_000_000_000)),
            ("1", None),
            ("s", None),
            ("1x", None),
            ("", None),
            ("1..2s", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text).ok(), *expected, "{text:?}");
        }
    }

    #[test]
    fn csv_fields_of_mount_values() {
        assert_eq!(
            csv_fields("type=bind,target=/x").unwrap(),
            vec!["type=bind", "target=/x"]
        );
        assert_eq!(
            csv_fields("\"target=/a,b\",ro").unwrap(),
            vec!["target=/a,b", "ro"]
        );
        assert_eq!(csv_fields("\"a\"\"b\"").unwrap(), vec!["a\"b"]);
        assert!(csv_fields("\"open").is_err());
        assert!(csv_fields("a\"b").is_err());
    }
}
