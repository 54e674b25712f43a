//! Env files as Compose reads them: `.env`, `--env-file` and a service's
//! `env_file:` (compose-go's `dotenv` parser), plus `format: raw` env files
//! (Docker's plain `KEY=VALUE` lines, no quotes, no interpolation).

use super::error::LoadError;
use super::interpolate::{go_quote, substitute};
use super::yaml::Pos;
use indexmap::IndexMap;
use std::path::Path;
use std::sync::Arc;

const BOM: char = '\u{feff}';

/// Blanks that separate tokens on one line (never a line break); matches
/// compose-go's notion, which counts NEL and NBSP as spaces.
fn is_blank(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

fn is_key_char(c: char) -> bool {
    matches!(c, '_' | '.' | '-' | '[' | ']') || c.is_alphabetic() || c.is_numeric()
}

fn first_line(s: &str) -> &str {
    s.split('\n').next().unwrap_or("")
}

fn err_at(file: &str, line: usize, key: &str, msg: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        pos: Pos {
            file: Arc::from(file),
            line,
        },
        path: key.to_string(),
        msg: msg.into(),
    }
}

/// Parses a dotenv file. Values may use `${VAR}` referring to `lookup`
/// first, then to keys defined earlier in the same file. A bare `KEY` line
/// takes its value from `lookup` and is left out when `lookup` has none.
pub fn parse_dotenv(
    src: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, LoadError> {
    let src = src.strip_prefix(BOM).unwrap_or(src);
    let mut out: IndexMap<String, String> = IndexMap::new();
    let mut pos = 0;
    // Line numbers are counted incrementally: `line` is the line of `counted`.
    let (mut line, mut counted) = (1, 0);
    // Skip blank lines, whitespace and comment lines.
    while let Some(start) = src[pos..].find(|c: char| !c.is_whitespace()) {
        pos += start;
        if src[pos..].starts_with('#') {
            match src[pos..].find('\n') {
                Some(nl) => {
                    pos += nl;
                    continue;
                }
                None => break,
            }
        }
        line += src[counted..pos].matches('\n').count();
        counted = pos;
        let mut rest = &src[pos..];
        if let Some(after) = rest.strip_prefix("export") {
            // Only `export` followed by whitespace is the shell keyword;
            // `exportFOO=1` is a key.
            if after.starts_with([' ', '\t', '\n', '\r', '\u{c}']) {
                rest = after.trim_start_matches(is_blank);
            }
        }

        // The key ends at `=`, `:` (yaml style) or a line break (bare key).
        let mut terminator = None;
        for (i, c) in rest.char_indices() {
            if is_blank(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    terminator = Some((i, c));
                    break;
                }
                c if is_key_char(c) => {}
                c => {
                    return Err(err_at(
                        file,
                        line,
                        rest[..i].trim_end(),
                        format!(
                            "line {line}: unexpected character {} in variable name {}",
                            go_quote(&c.to_string()),
                            go_quote(first_line(rest))
                        ),
                    ));
                }
            }
        }
        // Compose quirk: a last line with no terminator (`KEY` without a
        // newline) is read as a value for the empty key.
        let (raw_key, after_key, inherited) = match terminator {
            Some((i, c)) => (&rest[..i], &rest[i + c.len_utf8()..], c == '\n'),
            None => ("", rest, false),
        };
        let key = raw_key.trim_end();
        if key.contains(' ') {
            return Err(err_at(
                file,
                line,
                key,
                format!("line {line}: key cannot contain a space"),
            ));
        }
        let after_key = after_key.trim_start_matches(is_blank);

        if inherited {
            if let Some(v) = lookup(key) {
                out.insert(key.to_string(), v);
            }
            pos = src.len() - after_key.len();
            continue;
        }

        let expand = |value: &str, out: &IndexMap<String, String>| {
            let done = substitute(value, &|name| {
                lookup(name).or_else(|| out.get(name).cloned())
            })
            .map_err(|e| err_at(file, line, key, e.to_string()))?;
            for name in &done.unset {
                tracing::warn!(
                    "The {} variable is not set. Defaulting to a blank string.",
                    go_quote(name)
                );
            }
            Ok::<String, LoadError>(done.value)
        };

        let (value, remaining) = match after_key.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let Some((raw, remaining)) = split_quoted(after_key, quote) else {
                    return Err(err_at(
                        file,
                        line,
                        key,
                        format!(
                            "line {line}: unterminated quoted value {}",
                            first_line(after_key)
                        ),
                    ));
                };
                let value = if quote == '"' {
                    expand(&expand_escapes(&raw), &out)?
                } else {
                    raw
                };
                (value, remaining)
            }
            _ => {
                let (text, remaining) = match after_key.find('\n') {
                    Some(nl) => (&after_key[..nl], &after_key[nl + 1..]),
                    None => (after_key, ""),
                };
                // ` #` starts a comment on unquoted values; `a#b` does not.
                let text = text.split(" #").next().unwrap_or("").trim_end();
                (expand(text, &out)?, remaining)
            }
        };
        out.insert(key.to_string(), value);
        pos = src.len() - remaining.len();
    }
    Ok(out)
}

/// Splits `"value"rest` (or single-quoted) into the value and what follows
/// the closing quote. A backslash before the quote character escapes it
/// (and is dropped); before anything else the backslash is kept for later.
fn split_quoted(src: &str, quote: char) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut escaped = false;
    for (i, c) in src.char_indices().skip(1) {
        if escaped {
            escaped = false;
            if c != quote {
                value.push('\\');
            }
            value.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            c if c == quote => return Some((value, &src[i + c.len_utf8()..])),
            c => value.push(c),
        }
    }
    None
}

/// Shell-style escapes in double-quoted values: `\n \t \r \a \b \f \v \\ \"`,
/// `\$` (a literal `$`, kept out of interpolation) and `\0NNN` octal. Other
/// backslashes stay as written.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some(e @ ('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '"' | '\\')) => {
                chars.next();
                out.push(match e {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    other => other,
                });
            }
            Some('$') => {
                chars.next();
                out.push_str("$$");
            }
            Some('0') => {
                chars.next();
                let mut digits = String::new();
                while digits.len() < 3 {
                    match chars.peek() {
                        Some(d) if d.is_ascii_digit() => {
                            digits.push(*d);
                            chars.next();
                        }
                        _ => break,
                    }
                }
                // `\0NNN` is the octal escape `\NNN`; anything else keeps
                // its text minus the `0`, as Compose does.
                let decoded = (digits.len() == 3)
                    .then(|| u32::from_str_radix(&digits, 8).ok())
                    .flatten()
                    .filter(|v| *v <= 0xff)
                    .and_then(char::from_u32);
                match decoded {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push('\\');
                        out.push_str(&digits);
                    }
                }
            }
            _ => out.push('\\'),
        }
    }
    out
}

/// Parses an `env_file` with `format: raw`: each line is `KEY=VALUE` taken
/// verbatim (no quotes, comments only at line start, no interpolation). A
/// bare `KEY` takes its value from `lookup`, if any.
pub fn parse_raw_env(
    src: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, LoadError> {
    let src = src.strip_prefix(BOM).unwrap_or(src);
    let mut out = IndexMap::new();
    for (idx, raw_line) in src.split('\n').enumerate() {
        let line_no = idx + 1;
        let raw_line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = raw_line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (variable, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let variable = variable.trim_start_matches([' ', '\t']);
        if variable.contains([' ', '\t']) {
            return Err(err_at(
                file,
                line_no,
                variable,
                format!("variable '{variable}' contains whitespaces"),
            ));
        }
        if variable.is_empty() {
            return Err(err_at(
                file,
                line_no,
                "",
                format!("no variable name on line '{line}'"),
            ));
        }
        match value {
            Some(v) => {
                out.insert(variable.to_string(), v.to_string());
            }
            None => {
                if let Some(v) = lookup(variable) {
                    out.insert(variable.to_string(), v);
                }
            }
        }
    }
    Ok(out)
}

fn read_text(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses a dotenv file (see [`parse_dotenv`]).
pub fn read_env_file(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, LoadError> {
    let bytes = read_text(path)?;
    // Go passes invalid UTF-8 through byte for byte; we cannot hold that in
    // a String, so such bytes become U+FFFD.
    let text = String::from_utf8_lossy(&bytes);
    parse_dotenv(&text, &path.display().to_string(), lookup)
}

/// Reads and parses a `format: raw` env file (see [`parse_raw_env`]).
pub fn read_raw_env_file(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, LoadError> {
    let bytes = read_text(path)?;
    let file = path.display().to_string();
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let bad = e.as_bytes();
            let line_start = bad[..e.utf8_error().valid_up_to()]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let line_end = bad[line_start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bad.len(), |p| line_start + p);
            let line_no = 1 + bad[..line_start].iter().filter(|&&b| b == b'\n').count();
            let line_bytes: Vec<String> = bad[line_start..line_end]
                .iter()
                .map(|b| b.to_string())
                .collect();
            return Err(err_at(
                &file,
                line_no,
                "",
                format!(
                    "invalid utf8 bytes at line {line_no}: [{}]",
                    line_bytes.join(" ")
                ),
            ));
        }
    };
    parse_raw_env(&text, &file, lookup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(src: &str) -> IndexMap<String, String> {
        parse_dotenv(src, "a.env", &no_env).expect("parse")
    }

    fn parse_with(src: &str, env: &[(&str, &str)]) -> IndexMap<String, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_dotenv(src, "a.env", &|k| env.get(k).cloned()).expect("parse")
    }

    fn get<'a>(m: &'a IndexMap<String, String>, k: &str) -> Option<&'a str> {
        m.get(k).map(String::as_str)
    }

    fn parse_err(src: &str) -> (usize, String, String) {
        match parse_dotenv(src, "a.env", &no_env) {
            Err(LoadError::Invalid { pos, path, msg }) => {
                assert_eq!(&*pos.file, "a.env");
                (pos.line, path, msg)
            }
            other => panic!("expected an error for {src:?}, got {other:?}"),
        }
    }

    #[test]
    fn simple_pairs_keep_file_order() {
        let m = parse("B=2\nA=1\n");
        assert_eq!(m.keys().collect::<Vec<_>>(), vec!["B", "A"]);
        assert_eq!(get(&m, "A"), Some("1"));
    }

    #[test]
    fn export_prefix_is_dropped_only_before_whitespace() {
        let m = parse("export A=1\nexport\tB=2\nexportC=3\nexport  D=4\n");
        assert_eq!(get(&m, "A"), Some("1"));
        assert_eq!(get(&m, "B"), Some("2"));
        assert_eq!(get(&m, "exportC"), Some("3"));
        assert_eq!(get(&m, "D"), Some("4"));
    }

    #[test]
    fn whitespace_around_key_and_unquoted_value_is_trimmed() {
        let m = parse("  C = 3  \n\tD=\t4\t\n");
        assert_eq!(get(&m, "C"), Some("3"));
        assert_eq!(get(&m, "D"), Some("4"));
    }

    #[test]
    fn yaml_style_colon_separator() {
        assert_eq!(get(&parse("K: yaml\n"), "K"), Some("yaml"));
    }

    #[test]
    fn value_may_contain_equals_and_colons() {
        let m = parse("URL=http://h:80/?a=b\n");
        assert_eq!(get(&m, "URL"), Some("http://h:80/?a=b"));
    }

    #[test]
    fn full_line_comments_and_blank_lines_are_skipped() {
        let m = parse("# top\n\n   # indented\nA=1\n\n\n#B=2\n");
        assert_eq!(m.len(), 1);
        assert_eq!(get(&m, "A"), Some("1"));
    }

    #[test]
    fn trailing_comment_needs_a_space_before_hash() {
        let m = parse("D=4 # trailing\nE=5#nospace\nF=a\t#tab\n");
        assert_eq!(get(&m, "D"), Some("4"));
        assert_eq!(get(&m, "E"), Some("5#nospace"));
        // Only ` #` starts a comment; a tab before `#` does not.
        assert_eq!(get(&m, "F"), Some("a\t#tab"));
    }

    #[test]
    fn empty_value() {
        let m = parse("H=\nI=   \n");
        assert_eq!(get(&m, "H"), Some(""));
        assert_eq!(get(&m, "I"), Some(""));
    }

    #[test]
    fn single_quotes_are_literal() {
        let m = parse_with("F='lit $A \\n ${B}'\n", &[("A", "x")]);
        assert_eq!(get(&m, "F"), Some("lit $A \\n ${B}"));
    }

    #[test]
    fn escaped_single_quote_inside_single_quotes() {
        assert_eq!(get(&parse("M='a\\'b'\n"), "M"), Some("a'b"));
    }

    #[test]
    fn double_quotes_process_escapes() {
        let m = parse("G=\"n\\n t\\t q\\\" b\\\\ r\\r\"\n");
        assert_eq!(get(&m, "G"), Some("n\n t\t q\" b\\ r\r"));
    }

    #[test]
    fn double_quotes_rare_escapes_and_unknown_ones() {
        let m = parse("A=\"\\a|\\b|\\f|\\v|\\x|\\c|\\u0041\"\n");
        assert_eq!(
            get(&m, "A"),
            Some("\u{7}|\u{8}|\u{c}|\u{b}|\\x|\\c|\\u0041")
        );
    }

    #[test]
    fn octal_escapes_follow_compose() {
        // Checked with docker compose: "\0123|\012|\0|\0777" → "S|\12|\|\777".
        let m = parse("A=\"\\0123|\\012|\\0|\\0777\"\n");
        assert_eq!(get(&m, "A"), Some("S|\\12|\\|\\777"));
    }

    #[test]
    fn escaped_dollar_is_literal() {
        let m = parse_with("G=\"\\$A and $A\"\n", &[("A", "x")]);
        assert_eq!(get(&m, "G"), Some("$A and x"));
    }

    #[test]
    fn unquoted_backslashes_are_kept() {
        assert_eq!(get(&parse("A=a\\tb\\n\n"), "A"), Some("a\\tb\\n"));
    }

    #[test]
    fn double_quoted_value_spans_lines() {
        let m = parse("L=\"multi\nline\"\nN=1\n");
        assert_eq!(get(&m, "L"), Some("multi\nline"));
        assert_eq!(get(&m, "N"), Some("1"));
    }

    #[test]
    fn quoted_values_keep_inner_whitespace_and_hash() {
        let m = parse("A=\"  x # y  \" # comment\nB=' z '\n");
        assert_eq!(get(&m, "A"), Some("  x # y  "));
        assert_eq!(get(&m, "B"), Some(" z "));
    }

    #[test]
    fn text_after_closing_quote_becomes_a_bare_key() {
        // `B="y"junk` → B=y; `junk` is then a bare key with no value.
        let m = parse("A=\"x\" # c\nB=\"y\"junk\nC=3\n");
        assert_eq!(get(&m, "A"), Some("x"));
        assert_eq!(get(&m, "B"), Some("y"));
        assert_eq!(get(&m, "C"), Some("3"));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn interpolation_uses_earlier_keys() {
        let m = parse("A=1\nB=$A\nC=${A}-${UNSET:-d}\nD=\"q${A}\"\n");
        assert_eq!(get(&m, "B"), Some("1"));
        assert_eq!(get(&m, "C"), Some("1-d"));
        assert_eq!(get(&m, "D"), Some("q1"));
    }

    #[test]
    fn lookup_wins_over_earlier_keys_in_interpolation() {
        let m = parse_with("A=1\nJ=${A}\n", &[("A", "osA")]);
        // The key itself keeps the file's value ...
        assert_eq!(get(&m, "A"), Some("1"));
        // ... but references resolve through the lookup first.
        assert_eq!(get(&m, "J"), Some("osA"));
    }

    #[test]
    fn later_keys_are_not_visible_to_earlier_values() {
        let m = parse("A=${B:-x}\nB=${A}y\n");
        assert_eq!(get(&m, "A"), Some("x"));
        assert_eq!(get(&m, "B"), Some("xy"));
    }

    #[test]
    fn unset_reference_is_blank() {
        assert_eq!(get(&parse("X=a${NOPE}b\n"), "X"), Some("ab"));
    }

    #[test]
    fn bare_key_takes_lookup_value_or_is_omitted() {
        let m = parse_with("I\nJ\nK=1\n", &[("I", "fromhost")]);
        assert_eq!(get(&m, "I"), Some("fromhost"));
        assert!(!m.contains_key("J"));
        assert_eq!(get(&m, "K"), Some("1"));
    }

    #[test]
    fn bare_key_on_last_line_without_newline_is_compose_quirk() {
        // docker compose yields {"": "I", "A": "1"} for "A=1\nI".
        let m = parse("A=1\nI");
        assert_eq!(get(&m, ""), Some("I"));
        assert_eq!(get(&m, "A"), Some("1"));
    }

    #[test]
    fn keys_allow_dots_dashes_brackets_and_leading_digits() {
        let m = parse("1A=1\nB-C=2\nD.E=3\nF[0]=4\nÉté=5\n");
        assert_eq!(get(&m, "1A"), Some("1"));
        assert_eq!(get(&m, "B-C"), Some("2"));
        assert_eq!(get(&m, "D.E"), Some("3"));
        assert_eq!(get(&m, "F[0]"), Some("4"));
        assert_eq!(get(&m, "Été"), Some("5"));
    }

    #[test]
    fn duplicate_key_last_value_wins() {
        let m = parse("A=1\nA=2\n");
        assert_eq!(get(&m, "A"), Some("2"));
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn bom_and_crlf() {
        let m = parse("\u{feff}A=1\r\nB=\"2\"\r\n");
        assert_eq!(get(&m, "A"), Some("1"));
        assert_eq!(get(&m, "B"), Some("2"));
    }

    #[test]
    fn key_with_space_is_an_error() {
        let (line, key, msg) = parse_err("A=1\nA B=2\n");
        assert_eq!(line, 2);
        assert_eq!(key, "A B");
        assert_eq!(msg, "line 2: key cannot contain a space");
    }

    #[test]
    fn bad_character_in_key_is_an_error() {
        let (line, _, msg) = parse_err("A=1\nA!B=2\n");
        assert_eq!(line, 2);
        assert_eq!(
            msg,
            "line 2: unexpected character \"!\" in variable name \"A!B=2\""
        );
    }

    #[test]
    fn unterminated_quote_is_an_error_at_its_statement() {
        let (line, key, msg) = parse_err("A=1\nB=\"unterminated\nC=3\n");
        assert_eq!(line, 2);
        assert_eq!(key, "B");
        assert_eq!(msg, "line 2: unterminated quoted value \"unterminated");
    }

    #[test]
    fn doubled_single_quote_is_not_an_escape() {
        let (_, _, msg) = parse_err("A='it''s'\n");
        assert_eq!(
            msg,
            "line 1: unexpected character \"'\" in variable name \"'s'\""
        );
    }

    #[test]
    fn garbage_after_closing_quote_is_reported_on_that_line() {
        // docker compose: `line 1: unexpected character "\\" in variable name "\\"`.
        let (line, _, msg) = parse_err("A=\"x\"\\\nB=2\n");
        assert_eq!(line, 1);
        assert_eq!(
            msg,
            "line 1: unexpected character \"\\\\\" in variable name \"\\\\\""
        );
    }

    #[test]
    fn lone_export_line_is_ignored() {
        let m = parse("A=1\nexport\nB=2\n");
        assert_eq!(m.len(), 2);
        assert_eq!(get(&m, "B"), Some("2"));
    }

    #[test]
    fn lookup_is_used_for_interpolation_in_double_quotes_only() {
        let m = parse_with("A=\"${X}\"\nB='${X}'\nC=${X:-d}\n", &[("X", "x")]);
        assert_eq!(get(&m, "A"), Some("x"));
        assert_eq!(get(&m, "B"), Some("${X}"));
        assert_eq!(get(&m, "C"), Some("x"));
    }

    #[test]
    fn interpolation_errors_name_the_key() {
        let (line, key, msg) = parse_err("A=1\nX=${NOPE:?needed}\n");
        assert_eq!((line, key.as_str()), (2, "X"));
        assert_eq!(msg, "required variable NOPE is missing a value: needed");
        let (_, _, msg) = parse_err("X=${NOPE\n");
        assert_eq!(msg, "Invalid template: \"${NOPE\"");
    }

    #[test]
    fn error_display_names_file_line_and_key() {
        let e = parse_dotenv("A=1\nA B=2\n", "conf/.env", &no_env).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "conf/.env:2: A B: line 2: key cannot contain a space"
        );
    }

    // --- raw format ------------------------------------------------------

    fn raw(src: &str, env: &[(&str, &str)]) -> Result<IndexMap<String, String>, LoadError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_raw_env(src, "r.env", &|k| env.get(k).cloned())
    }

    #[test]
    fn raw_values_are_verbatim() {
        let m = raw(
            "A=1\nD=4 # trailing  \nF='lit $A'\nG=\"dq $A \\n\"\nJ=${A}\nL=a=b\n",
            &[],
        )
        .expect("raw");
        assert_eq!(get(&m, "A"), Some("1"));
        assert_eq!(get(&m, "D"), Some("4 # trailing  "));
        assert_eq!(get(&m, "F"), Some("'lit $A'"));
        assert_eq!(get(&m, "G"), Some("\"dq $A \\n\""));
        assert_eq!(get(&m, "J"), Some("${A}"));
        assert_eq!(get(&m, "L"), Some("a=b"));
    }

    #[test]
    fn raw_skips_comments_blank_lines_bom_and_crlf() {
        let m = raw("\u{feff}A=1\r\n  # comment\n\n   \nB=2\r\n", &[]).expect("raw");
        assert_eq!(m.len(), 2);
        assert_eq!(get(&m, "A"), Some("1"));
        assert_eq!(get(&m, "B"), Some("2"));
    }

    #[test]
    fn raw_bare_key_uses_lookup() {
        let m = raw("I\nNOTSET\nH=\n", &[("I", "fromhost")]).expect("raw");
        assert_eq!(get(&m, "I"), Some("fromhost"));
        assert!(!m.contains_key("NOTSET"));
        assert_eq!(get(&m, "H"), Some(""));
    }

    #[test]
    fn raw_rejects_whitespace_in_names() {
        let cases = [
            ("export B=2\n", "variable 'export B' contains whitespaces"),
            ("A B\n", "variable 'A B' contains whitespaces"),
            ("A\tB=1\n", "variable 'A\tB' contains whitespaces"),
            ("C = 3\n", "variable 'C ' contains whitespaces"),
        ];
        for (src, want) in cases {
            match raw(src, &[]) {
                Err(LoadError::Invalid { msg, pos, .. }) => {
                    assert_eq!(msg, want, "{src:?}");
                    assert_eq!(pos.line, 1);
                }
                other => panic!("{src:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn raw_rejects_missing_name_with_line() {
        match raw("A=1\n=1\n", &[]) {
            Err(LoadError::Invalid { msg, pos, .. }) => {
                assert_eq!(msg, "no variable name on line '=1'");
                assert_eq!(pos.line, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    // --- files -----------------------------------------------------------

    #[test]
    fn read_env_file_parses_and_names_missing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("app.env");
        std::fs::write(&p, "A=1\nB=\"${A}2\"\n").expect("write");
        let m = read_env_file(&p, &no_env).expect("read");
        assert_eq!(get(&m, "B"), Some("12"));

        let missing = dir.path().join("nope.env");
        let e = read_env_file(&missing, &no_env).expect_err("missing");
        assert!(matches!(e, LoadError::Io { .. }));
        assert!(e.to_string().contains("nope.env"), "{e}");
    }

    #[test]
    fn read_env_file_errors_carry_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("bad.env");
        std::fs::write(&p, "OK=1\nA B=2\n").expect("write");
        let e = read_env_file(&p, &no_env).expect_err("bad");
        let msg = e.to_string();
        assert!(msg.contains("bad.env:2"), "{msg}");
    }

    #[test]
    fn read_raw_env_file_reports_invalid_utf8_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("raw.env");
        std::fs::write(&p, b"X=1\nA=\xff\n").expect("write");
        match read_raw_env_file(&p, &no_env) {
            Err(LoadError::Invalid { msg, pos, .. }) => {
                assert_eq!(msg, "invalid utf8 bytes at line 2: [65 61 255]");
                assert_eq!(pos.line, 2);
            }
            other => panic!("{other:?}"),
        }
    }
}
