//! A small deterministic YAML writer for Kubernetes manifests.
//!
//! Manifests are built as `serde_json::Value`s and written here with sorted
//! keys, two-space indentation and block style, so the same project always
//! gives the same bytes. Strings that could read back as another type (`"no"`,
//! `"8080"`, `"1e3"`) or that hold special characters are double-quoted with
//! JSON escapes, which YAML reads the same way; multi-line text (config files)
//! is written as a literal block so it stays readable.

use serde_json::Value;

/// One YAML document: optional `#` comment lines, then the value.
pub fn document(comments: &[String], value: &Value) -> String {
    let mut out = String::new();
    for comment in comments {
        for line in comment.lines() {
            if line.is_empty() {
                out.push_str("#\n");
            } else {
                out.push_str("# ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    write_block(&mut out, value, 0);
    out
}

/// Documents joined into one stream with `---` separators.
pub fn stream(documents: &[String]) -> String {
    let mut out = String::new();
    for (i, doc) in documents.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(doc);
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Writes `value` as the content of a block at `level` (the caller has
/// already written the key or `- ` that owns it, if any).
fn write_block(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                indent(out, level);
                write_entry(out, key, &map[key.as_str()], level);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                indent(out, level);
                out.push_str("- ");
                write_item(out, item, level + 2);
            }
        }
        other => {
            indent(out, level);
            write_scalar(out, other, level);
            out.push('\n');
        }
    }
}

/// `key: value` at the current position (indentation already written).
fn write_entry(out: &mut String, key: &str, value: &Value, level: usize) {
    out.push_str(&key_text(key));
    out.push(':');
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_block(out, value, level + 2);
        }
        // Sequences under a key sit at the key's own indentation, as
        // kubectl writes them.
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_block(out, value, level);
        }
        other => {
            out.push(' ');
            write_scalar(out, other, level + 2);
            out.push('\n');
        }
    }
}

/// A sequence item after `- `: its first line continues the dash's line.
fn write_item(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    indent(out, level);
                }
                write_entry(out, key, &map[key.as_str()], level);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    indent(out, level);
                }
                out.push_str("- ");
                write_item(out, item, level + 2);
            }
        }
        other => {
            write_scalar(out, other, level);
            out.push('\n');
        }
    }
}

/// A scalar (or an empty collection) in flow position. `level` is the
/// indentation of a literal block's content.
fn write_scalar(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, level),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_string(out: &mut String, s: &str, level: usize) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if let Some(block) = literal_block(s, level) {
        out.push_str(&block);
    } else {
        out.push_str(&quoted(s));
    }
}

fn key_text(key: &str) -> String {
    if is_plain_safe(key) {
        key.to_string()
    } else {
        quoted(key)
    }
}

/// JSON string syntax is valid YAML double-quoted syntax.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{}\"", s.escape_default()))
}

/// Words YAML 1.1 or 1.2 readers take for booleans or null.
const RESERVED_WORDS: [&str; 22] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
];

/// Whether `s` reads back as the same string when written without quotes:
/// a conservative character set, nothing that a YAML reader would take for
/// a number, boolean, null, or syntax.
fn is_plain_safe(s: &str) -> bool {
    if s.is_empty() || RESERVED_WORDS.contains(&s) || matches!(s, "null" | "Null" | "NULL" | "~") {
        return false;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_alphabetic() || first == b'/' || first == b'_') {
        // Digits, signs and dots may start numbers (`1e3`, `-1`, `.5`, `0x1f`).
        return false;
    }
    if s.ends_with(':') || s.contains(": ") || s.contains(" #") {
        return false;
    }
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'='))
        && !looks_numeric(s)
}

/// YAML 1.1 readers take `.inf`, `.nan` and sexagesimal-looking values for numbers.
fn looks_numeric(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    matches!(lower.as_str(), ".inf" | ".nan")
}

/// A literal block (`|`) for multi-line text, when it can hold `s` exactly.
fn literal_block(s: &str, level: usize) -> Option<String> {
    if !s.contains('\n') {
        return None;
    }
    // Control characters other than newline and tab need escapes; spaces
    // at the end of lines or whitespace-only lines are lost or ambiguous.
    if s.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{feff}')
    {
        return None;
    }
    let body = s.trim_end_matches('\n');
    if body.is_empty() {
        return None;
    }
    for line in body.split('\n') {
        if line.ends_with(' ') || line.ends_with('\t') || line.starts_with('\t') {
            return None;
        }
    }
    // A first line that starts with a space would need an indentation indicator.
    if body.starts_with(' ') {
        return None;
    }
    let trailing = s.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}\n");
    let lines: Vec<&str> = s.strip_suffix('\n').unwrap_or(s).split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if !line.is_empty() {
            for _ in 0..level {
                out.push(' ');
            }
            out.push_str(line);
        }
        if i + 1 < lines.len() {
            out.push('\n');
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_nesting_is_block_style() {
        let v = json!({"kind": "Service", "apiVersion": "v1", "spec": {"ports": [{"port": 80, "name": "http"}], "selector": {}}});
        assert_eq!(
            document(&["a comment".into()], &v),
            "# a comment\napiVersion: v1\nkind: Service\nspec:\n  ports:\n  - name: http\n    port: 80\n  selector: {}\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "no", "true", "8080", "1e3", "-1", ".5", "", "a: b", "a #b", "null", "~", "x:",
        ] {
            let text = document(&[], &json!({ "k": s }));
            let value = text.strip_prefix("k: ").unwrap().trim_end();
            assert!(value.starts_with('"'), "{s:?} written as {value}");
            let back: String = serde_json::from_str(value).unwrap();
            assert_eq!(back, s);
        }
        assert_eq!(
            document(&[], &json!({"k": "nginx:1.27"})),
            "k: nginx:1.27\n"
        );
    }

    #[test]
    fn multi_line_text_is_a_literal_block_with_the_right_chomping() {
        let v = json!({"data": {"a": "x\n  y\n", "b": "x\ny", "c": "x\n\n"}});
        assert_eq!(
            document(&[], &v),
            "data:\n  a: |\n    x\n      y\n  b: |-\n    x\n    y\n  c: |+\n    x\n\n"
        );
        // Trailing spaces would be ambiguous: fall back to a quoted string.
        let v = json!({"a": "x \ny\n"});
        assert_eq!(document(&[], &v), "a: \"x \\ny\\n\"\n");
    }

    #[test]
    fn nested_sequences_and_empty_collections() {
        let v = json!({"a": [["x", "z"], {"b": []}], "c": {}});
        assert_eq!(document(&[], &v), "a:\n- - x\n  - z\n- b: []\nc: {}\n");
    }
}
