//! Splitting an instruction line into words: keyword, `--flags`, JSON
//! arrays, blank- and quote-separated arguments.

pub(super) fn is_blank(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Keyword, builder flags (`--x=y` words) and the rest of the line.
pub(super) fn split_command(
    line: &str,
    escape: char,
) -> Result<(String, Vec<String>, String), String> {
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
pub(super) fn parse_json_array(args: &str) -> Option<Result<Vec<String>, String>> {
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
pub(super) fn split_blanks(text: &str) -> Vec<String> {
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
pub(super) fn quoted_words(text: &str, escape: char) -> Vec<String> {
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
