//! Phase two: one logical instruction → its typed [`Instruction`], with
//! BuildKit's checks and error wording.
use super::flags::{suggest, FlagKind, Flags};
use super::scan::{parse_heredoc_word, RawInstruction};
use super::words::{is_blank, parse_json_array, quoted_words, split_blanks, split_command};
use crate::build::dockerfile::ast::*;

/// The result of parsing one instruction.
pub(super) enum Item {
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

pub(super) fn parse_item(raw: &RawInstruction, escape: char) -> Result<Item, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
