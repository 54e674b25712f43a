//! `${VAR}` substitution, exactly as Compose (compose-go's `template`
//! package) does it, and the type casts Compose applies afterwards at known
//! paths (`privileged: ${P}` becomes a boolean).
//!
//! Compose matches `$` expressions with a regular expression whose braced
//! form ends at the *last* `}` on the line (`.*` is greedy and stops at
//! newlines), then cuts that match at the first balanced `}` and substitutes
//! the remainder recursively. We reproduce that with a small scanner so the
//! odd corners (`${A:-a}b}` → `ab}`, error templates naming only the inner
//! part that failed) behave the same.

use super::error::LoadError;
use super::yaml::{path_string, Node, PathSeg, Value};
use std::collections::BTreeSet;

/// Nesting limit for `${A:-${B:-...}}`, so hostile input cannot overflow the
/// stack; far beyond anything a real compose file uses.
const MAX_NESTING: usize = 256;

/// Result of substituting one string.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Substituted {
    pub value: String,
    /// Variables referenced without a default that were not set, in order
    /// of first use (Compose warns about each and uses an empty string).
    pub unset: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// Malformed `${...}`; `template` is the (sub)string Compose names.
    #[error("Invalid template: {}", go_quote(template))]
    Invalid { template: String },
    /// `${VAR:?reason}` / `${VAR?reason}` with VAR missing.
    #[error("required variable {name} is missing a value{}", if reason.is_empty() { String::new() } else { format!(": {reason}") })]
    MissingRequired { name: String, reason: String },
}

/// Substitutes every `$VAR`, `${VAR...}` and `$$` in `template`.
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Substituted, TemplateError> {
    let mut unset = Vec::new();
    let value = substitute_rec(template, lookup, &mut unset, 0)?;
    Ok(Substituted { value, unset })
}

fn is_name_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_name_char(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

fn name_end(b: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < b.len() && is_name_char(b[j]) {
        j += 1;
    }
    j
}

/// Length of the operator (`:-`, `-`, `:+`, `+`, `:?`, `?`) at `b[k..]`.
fn operator_len(b: &[u8], k: usize) -> Option<usize> {
    match b.get(k) {
        Some(b'-' | b'+' | b'?') => Some(1),
        Some(b':') if matches!(b.get(k + 1), Some(b'-' | b'+' | b'?')) => Some(2),
        _ => None,
    }
}

/// End (exclusive) of the braced expression starting at `b[i] == '$'`,
/// `b[i + 1] == '{'`, or `None` when it is malformed.
fn braced_match_end(b: &[u8], i: usize) -> Option<usize> {
    let start = i + 2;
    if !b.get(start).copied().is_some_and(is_name_start) {
        return None;
    }
    let k = name_end(b, start);
    if b.get(k) == Some(&b'}') {
        return Some(k + 1);
    }
    let arg_start = k + operator_len(b, k)?;
    let line_end = b[arg_start..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |p| arg_start + p);
    b[arg_start..line_end]
        .iter()
        .rposition(|&c| c == b'}')
        .map(|p| arg_start + p + 1)
}

/// Compose's "first closing brace": counts `{` (skipping the character after
/// each) against `}` and returns where the count first drops back to zero.
fn first_brace_closing(b: &[u8]) -> Option<usize> {
    let mut open = 0i64;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if b[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

/// A variable a compose file uses, as `config --variables` lists it
/// (compose-go's `template.Variable`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Variable {
    /// `${VAR:-x}` / `${VAR-x}`: `x`.
    pub default_value: String,
    /// `${VAR:+x}` / `${VAR+x}`: `x`.
    pub presence_value: String,
    /// `${VAR:?…}` / `${VAR?…}`.
    pub required: bool,
}

/// Every variable the string values of `node` use (keys are not read, as
/// in compose-go's `ExtractVariables`), with the defaults and alternates
/// written; the names inside a default or alternate count too. A name used
/// twice keeps its last use.
pub fn extract_variables(node: &Node) -> std::collections::BTreeMap<String, Variable> {
    let mut out = std::collections::BTreeMap::new();
    extract_from_node(node, &mut out, 0);
    out
}

fn extract_from_node(
    node: &Node,
    out: &mut std::collections::BTreeMap<String, Variable>,
    depth: usize,
) {
    if depth > MAX_NESTING {
        return;
    }
    match &node.value {
        Value::Str(s) => extract_from_str(s, out, 0),
        Value::Seq(items) => items
            .iter()
            .for_each(|n| extract_from_node(n, out, depth + 1)),
        Value::Map(m) => m
            .values()
            .for_each(|n| extract_from_node(n, out, depth + 1)),
        _ => {}
    }
}

fn extract_from_str(s: &str, out: &mut std::collections::BTreeMap<String, Variable>, depth: usize) {
    if depth > MAX_NESTING {
        return;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => i += 2,
            Some(&c) if is_name_start(c) => {
                let end = name_end(b, i + 1);
                out.insert(s[i + 1..end].to_string(), Variable::default());
                i = end;
            }
            Some(b'{') => {
                let Some(end) = braced_match_end(b, i) else {
                    i += 2;
                    continue;
                };
                // The match is cut at its first balanced `}`; what follows
                // is read again as text (compose-go's recursion).
                let close = first_brace_closing(&b[i..end]).map_or(end - 1, |c| i + c);
                let inner = &s[i + 2..close];
                let name_len = name_end(inner.as_bytes(), 0);
                let (name, rest) = inner.split_at(name_len);
                let mut v = Variable::default();
                for (op, field) in [
                    (":?", 0),
                    ("?", 0),
                    (":-", 1),
                    ("-", 1),
                    (":+", 2),
                    ("+", 2),
                ] {
                    if let Some(arg) = rest.strip_prefix(op) {
                        match field {
                            0 => v.required = true,
                            1 => v.default_value = arg.to_string(),
                            _ => v.presence_value = arg.to_string(),
                        }
                        break;
                    }
                }
                let nested = [v.default_value.clone(), v.presence_value.clone()];
                out.insert(name.to_string(), v);
                for n in nested.iter().filter(|n| !n.is_empty()) {
                    extract_from_str(n, out, depth + 1);
                }
                if close + 1 < end {
                    extract_from_str(&s[close + 1..end], out, depth + 1);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
}

fn lookup_or_unset(
    name: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> String {
    match lookup(name) {
        Some(v) => v,
        None => {
            if !unset.iter().any(|u| u == name) {
                unset.push(name.to_string());
            }
            String::new()
        }
    }
}

fn substitute_rec(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
    depth: usize,
) -> Result<String, TemplateError> {
    if depth > MAX_NESTING {
        return Err(TemplateError::Invalid {
            template: template.to_string(),
        });
    }
    let b = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut literal_from = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                out.push_str(&template[literal_from..i]);
                out.push('$');
                i += 2;
            }
            Some(&c) if is_name_start(c) => {
                out.push_str(&template[literal_from..i]);
                let end = name_end(b, i + 1);
                out.push_str(&lookup_or_unset(&template[i + 1..end], lookup, unset));
                i = end;
            }
            Some(b'{') => {
                let Some(end) = braced_match_end(b, i) else {
                    return Err(TemplateError::Invalid {
                        template: template.to_string(),
                    });
                };
                out.push_str(&template[literal_from..i]);
                out.push_str(&eval_braced(&template[i..end], lookup, unset, depth)?);
                i = end;
            }
            // A lone `$` (end of string, digit, space, ...) stays literal.
            _ => {
                i += 1;
                continue;
            }
        }
        literal_from = i;
    }
    out.push_str(&template[literal_from..]);
    Ok(out)
}

/// Evaluates one matched `${...}` (possibly followed, up to the last `}` of
/// the line, by more text that is substituted on its own).
fn eval_braced(
    matched: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
    depth: usize,
) -> Result<String, TemplateError> {
    let (head, rest) = match first_brace_closing(matched.as_bytes()) {
        Some(close) => (&matched[..=close], &matched[close + 1..]),
        None => (matched, ""),
    };
    let inner = &head[2..head.len() - 1];
    let ib = inner.as_bytes();
    let name_len = name_end(ib, 0);
    let name = &inner[..name_len];
    let mut value = match operator_len(ib, name_len) {
        None => lookup_or_unset(name, lookup, unset),
        Some(op_len) => {
            let op = &inner[name_len..name_len + op_len];
            // The argument is substituted first, whether or not it is used
            // (so its own unset variables are reported, as Compose does).
            let arg = substitute_rec(&inner[name_len + op_len..], lookup, unset, depth + 1)?;
            let current = lookup(name);
            match op {
                ":-" => match current {
                    Some(v) if !v.is_empty() => v,
                    _ => arg,
                },
                "-" => current.unwrap_or(arg),
                ":+" => match current {
                    Some(v) if !v.is_empty() => arg,
                    other => other.unwrap_or_default(),
                },
                "+" => match current {
                    Some(_) => arg,
                    None => String::new(),
                },
                ":?" => match current {
                    Some(v) if !v.is_empty() => v,
                    _ => {
                        return Err(TemplateError::MissingRequired {
                            name: name.to_string(),
                            reason: arg,
                        })
                    }
                },
                _ => match current {
                    Some(v) => v,
                    None => {
                        return Err(TemplateError::MissingRequired {
                            name: name.to_string(),
                            reason: arg,
                        })
                    }
                },
            }
        }
    };
    if !rest.is_empty() {
        value.push_str(&substitute_rec(rest, lookup, unset, depth + 1)?);
    }
    Ok(value)
}

/// Go's `strconv.Quote`, used where Compose prints values with `%q`/`%#v`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------
// Whole documents
// ---------------------------------------------------------------------------

/// How Compose re-types an interpolated string at a known path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cast {
    /// `strconv.Atoi`
    Int,
    /// `strconv.ParseInt(s, 10, 64)`
    Int64,
    /// `strconv.ParseFloat(s, 64)`
    Float,
    /// `strconv.ParseFloat(s, 32)`
    Float32,
    /// YAML 1.1 booleans (true/false, with a warning for yes/no/on/off/y/n).
    Bool,
}

/// compose-go's `interpolateTypeCastMapping` as of Compose v2.40.3 (`*`
/// matches any one segment, `[]` any sequence item). `secrets[].mode` and
/// `configs[].mode` are no longer cast there: they stay strings.
const CAST_TABLE: &[(&str, Cast)] = &[
    ("services.*.cpu_count", Cast::Int64),
    ("services.*.cpu_percent", Cast::Float),
    ("services.*.cpu_period", Cast::Int64),
    ("services.*.cpu_quota", Cast::Int64),
    ("services.*.cpu_rt_period", Cast::Int64),
    ("services.*.cpu_rt_runtime", Cast::Int64),
    ("services.*.cpus", Cast::Float32),
    ("services.*.cpu_shares", Cast::Int64),
    ("services.*.init", Cast::Bool),
    ("services.*.deploy.replicas", Cast::Int),
    ("services.*.deploy.update_config.parallelism", Cast::Int),
    (
        "services.*.deploy.update_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.rollback_config.parallelism", Cast::Int),
    (
        "services.*.deploy.rollback_config.max_failure_ratio",
        Cast::Float,
    ),
    ("services.*.deploy.restart_policy.max_attempts", Cast::Int),
    (
        "services.*.deploy.placement.max_replicas_per_node",
        Cast::Int,
    ),
    ("services.*.healthcheck.retries", Cast::Int),
    ("services.*.healthcheck.disable", Cast::Bool),
    ("services.*.oom_kill_disable", Cast::Bool),
    ("services.*.oom_score_adj", Cast::Int64),
    ("services.*.pids_limit", Cast::Int64),
    ("services.*.ports.[].target", Cast::Int),
    ("services.*.privileged", Cast::Bool),
    ("services.*.read_only", Cast::Bool),
    ("services.*.scale", Cast::Int),
    ("services.*.stdin_open", Cast::Bool),
    ("services.*.tty", Cast::Bool),
    ("services.*.ulimits.*", Cast::Int),
    ("services.*.ulimits.*.hard", Cast::Int),
    ("services.*.ulimits.*.soft", Cast::Int),
    ("services.*.volumes.[].read_only", Cast::Bool),
    ("services.*.volumes.[].volume.nocopy", Cast::Bool),
    ("networks.*.external", Cast::Bool),
    ("networks.*.internal", Cast::Bool),
    ("networks.*.attachable", Cast::Bool),
    ("networks.*.enable_ipv6", Cast::Bool),
    ("volumes.*.external", Cast::Bool),
    ("secrets.*.external", Cast::Bool),
    ("configs.*.external", Cast::Bool),
];

fn cast_for(parts: &[String]) -> Option<Cast> {
    CAST_TABLE.iter().find_map(|(pattern, cast)| {
        let pat: Vec<&str> = pattern.split('.').collect();
        let matches = pat.len() == parts.len()
            && pat
                .iter()
                .zip(parts)
                .all(|(p, part)| *p == "*" || *p == part.as_str());
        matches.then_some(*cast)
    })
}

/// Substitutes every string scalar of a compose document (mapping keys are
/// left alone, as Compose does), then applies Compose's casts. Returns the
/// variables that were used unset.
pub fn interpolate_node(
    root: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeSet<String>, LoadError> {
    let mut unset = BTreeSet::new();
    let mut path = Vec::new();
    let mut parts = Vec::new();
    walk(root, lookup, &mut path, &mut parts, &mut unset)?;
    Ok(unset)
}

fn walk(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    path: &mut Vec<PathSeg>,
    parts: &mut Vec<String>,
    unset: &mut BTreeSet<String>,
) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                path.push(PathSeg::Key(k.clone()));
                parts.push(k.clone());
                let r = walk(v, lookup, path, parts, unset);
                path.pop();
                parts.pop();
                r?;
            }
        }
        Value::Seq(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                path.push(PathSeg::Index(i));
                parts.push("[]".to_string());
                let r = walk(v, lookup, path, parts, unset);
                path.pop();
                parts.pop();
                r?;
            }
        }
        Value::Str(s) => {
            // Compose prints paths with `[]` for sequence items.
            let compose_path = parts.join(".");
            let err = |msg: String| LoadError::Interpolation {
                pos: node.pos.clone(),
                path: path_string(path),
                msg,
            };
            let done =
                substitute(s, lookup).map_err(|e| err(interpolation_message(&compose_path, &e)))?;
            unset.extend(done.unset);
            node.value = match cast_for(parts) {
                None => Value::Str(done.value),
                Some(cast) => apply_cast(cast, &done.value).map_err(|e| {
                    err(format!(
                        "error while interpolating {compose_path}: failed to cast to expected type: {e}"
                    ))
                })?,
            };
        }
        _ => {}
    }
    Ok(())
}

/// The message Compose prints for a substitution failure at `path`.
fn interpolation_message(path: &str, e: &TemplateError) -> String {
    match e {
        TemplateError::Invalid { template } => format!(
            "invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{template}"
        ),
        TemplateError::MissingRequired { .. } => {
            format!("error while interpolating {path}: {e}")
        }
    }
}

fn apply_cast(cast: Cast, s: &str) -> Result<Value, String> {
    match cast {
        Cast::Int => parse_go_decimal_int(s)
            .map(Value::Int)
            .map_err(|why| format!("strconv.Atoi: parsing {}: {why}", go_quote(s))),
        Cast::Int64 => parse_go_decimal_int(s)
            .map(Value::Int)
            .map_err(|why| format!("strconv.ParseInt: parsing {}: {why}", go_quote(s))),
        Cast::Float | Cast::Float32 => {
            let f = parse_go_float(s).ok_or_else(|| {
                format!(
                    "strconv.ParseFloat: parsing {}: invalid syntax",
                    go_quote(s)
                )
            })?;
            let out_of_range = || {
                format!(
                    "strconv.ParseFloat: parsing {}: value out of range",
                    go_quote(s)
                )
            };
            if f.is_infinite() && !is_go_infinity_literal(s) {
                return Err(out_of_range());
            }
            if cast == Cast::Float32 {
                let narrowed = f as f32;
                if narrowed.is_infinite() && f.is_finite() {
                    return Err(out_of_range());
                }
                // Go keeps a float32; its shortest decimal form is what
                // Compose prints (0.1, not 0.10000000149011612).
                Ok(Value::Float(
                    narrowed
                        .to_string()
                        .parse::<f64>()
                        .unwrap_or(f64::from(narrowed)),
                ))
            } else {
                Ok(Value::Float(f))
            }
        }
        Cast::Bool => match s.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "y" | "yes" | "on" => {
                tracing::warn!(
                    "{} for boolean is not supported by YAML 1.2, please use `true`",
                    go_quote(s)
                );
                Ok(Value::Bool(true))
            }
            "n" | "no" | "off" => {
                tracing::warn!(
                    "{} for boolean is not supported by YAML 1.2, please use `false`",
                    go_quote(s)
                );
                Ok(Value::Bool(false))
            }
            _ => Err(format!("invalid boolean: {s}")),
        },
    }
}

/// `strconv.ParseInt(s, 10, 64)`: optional sign, ASCII digits only.
fn parse_go_decimal_int(s: &str) -> Result<i64, &'static str> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err("invalid syntax");
    }
    s.parse::<i64>().map_err(|_| "value out of range")
}

fn is_go_infinity_literal(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s).to_ascii_lowercase();
    body == "inf" || body == "infinity"
}

/// `strconv.ParseFloat` syntax: decimal (with `_` between digits), hex with
/// a `p` exponent, `inf`/`infinity`/`nan` in any case. Returns `None` on a
/// syntax error; out-of-range values come back infinite.
fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let magnitude = if lower == "inf" || lower == "infinity" {
        f64::INFINITY
    } else if lower == "nan" {
        // Go accepts no sign on NaN.
        if s.len() != body.len() {
            return None;
        }
        f64::NAN
    } else if let Some(hex) = lower.strip_prefix("0x") {
        parse_hex_float(&strip_digit_underscores(hex, true)?)?
    } else {
        let plain = strip_digit_underscores(&lower, false)?;
        let valid = {
            let b = plain.as_bytes();
            let mut i = 0;
            let mut mantissa_digits = 0;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
                mantissa_digits += 1;
            }
            if i < b.len() && b[i] == b'.' {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                    mantissa_digits += 1;
                }
            }
            let mut ok = mantissa_digits > 0;
            if ok && i < b.len() && b[i] == b'e' {
                i += 1;
                if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                    i += 1;
                }
                let exp_start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                ok = i > exp_start;
            }
            ok && i == b.len()
        };
        if !valid {
            return None;
        }
        plain.parse::<f64>().ok()?
    };
    Some(if neg { -magnitude } else { magnitude })
}

/// Removes `_` separators, which Go allows only between digits (or after a
/// hex prefix).
fn strip_digit_underscores(s: &str, after_prefix: bool) -> Option<String> {
    if !s.contains('_') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let is_digit = |c: u8| c.is_ascii_hexdigit();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let before_ok = if i == 0 {
                after_prefix
            } else {
                is_digit(b[i - 1])
            };
            let after_ok = b.get(i + 1).copied().is_some_and(is_digit);
            if !before_ok || !after_ok {
                return None;
            }
        }
    }
    Some(s.replace('_', ""))
}

/// Hex float body after `0x` (lower-cased): `h.hhhp±d`, exponent required.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = exp - 4 * i32::try_from(frac_part.len()).ok()?;
    Some(value * 2f64.powi(scale))
}

#[cfg(test)]
mod tests {
    #[test]
    fn variables_are_extracted_as_compose_go_lists_them() {
        let doc = super::super::yaml::parse(
            "a: \"x${TAG:-latest}y $$ESC $PLAIN\"\nb: [\"${REQ:?why}\", \"${ALT:+on}\"]\nc: ${N:-${INNER-d}}tail}\n${KEY}: v\n",
            "t.yaml",
        )
        .expect("yaml");
        let vars = extract_variables(&doc);
        let names: Vec<&str> = vars.keys().map(String::as_str).collect();
        // Keys are not read; `$$` escapes; a default's variables count.
        assert_eq!(names, ["ALT", "INNER", "N", "PLAIN", "REQ", "TAG"]);
        assert_eq!(vars["TAG"].default_value, "latest");
        assert!(vars["REQ"].required);
        assert_eq!(vars["ALT"].presence_value, "on");
        assert_eq!(vars["N"].default_value, "${INNER-d}");
        assert_eq!(vars["INNER"].default_value, "d");
        assert_eq!(vars["PLAIN"], Variable::default());
    }

    use super::*;
    use crate::compose::yaml;
    use std::collections::HashMap;

    /// The environment the expectations below were checked with against
    /// `docker compose` v2.40.3: SETV=val, EMPTYV= (set, empty), others unset.
    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([("SETV", "val"), ("EMPTYV", ""), ("N", "3")])
    }

    fn sub(t: &str) -> Result<Substituted, TemplateError> {
        let e = env();
        substitute(t, &|k| e.get(k).map(|v| v.to_string()))
    }

    fn val(t: &str) -> String {
        sub(t).expect("substitution").value
    }

    fn invalid_template(t: &str) -> String {
        match sub(t) {
            Err(TemplateError::Invalid { template }) => template,
            other => panic!("expected invalid template for {t:?}, got {other:?}"),
        }
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(val("$SETV"), "val");
        assert_eq!(val("${SETV}"), "val");
        assert_eq!(val("pre${SETV}post$SETV"), "prevalpostval");
    }

    #[test]
    fn unbraced_name_stops_at_first_non_name_char() {
        // `$SETV-` is SETV then a literal dash; `$SETV_` is the variable SETV_.
        let s = sub("$SETV-$SETV_").expect("ok");
        assert_eq!(s.value, "val-");
        assert_eq!(s.unset, vec!["SETV_".to_string()]);
    }

    #[test]
    fn unset_variables_are_blank_and_reported_once() {
        let s = sub("${NOPE}/$NOPE/${OTHER}").expect("ok");
        assert_eq!(s.value, "//");
        assert_eq!(s.unset, vec!["NOPE".to_string(), "OTHER".to_string()]);
    }

    #[test]
    fn set_but_empty_is_not_reported_unset() {
        let s = sub("[${EMPTYV}]").expect("ok");
        assert_eq!(s.value, "[]");
        assert!(s.unset.is_empty());
    }

    #[test]
    fn soft_default_applies_when_unset_or_empty() {
        assert_eq!(val("${SETV:-def}"), "val");
        assert_eq!(val("${EMPTYV:-def}"), "def");
        assert_eq!(val("${NOPE:-def}"), "def");
    }

    #[test]
    fn hard_default_applies_only_when_unset() {
        assert_eq!(val("${SETV-def}"), "val");
        assert_eq!(val("${EMPTYV-def}"), "");
        assert_eq!(val("${NOPE-def}"), "def");
    }

    #[test]
    fn defaults_do_not_report_the_variable_unset() {
        assert!(sub("${NOPE:-x}${NOPE-y}").expect("ok").unset.is_empty());
    }

    #[test]
    fn alternative_when_set_and_non_empty() {
        assert_eq!(val("${SETV:+alt}"), "alt");
        assert_eq!(val("${EMPTYV:+alt}"), "");
        assert_eq!(val("${NOPE:+alt}"), "");
    }

    #[test]
    fn alternative_when_set_even_if_empty() {
        assert_eq!(val("${SETV+alt}"), "alt");
        assert_eq!(val("${EMPTYV+alt}"), "alt");
        assert_eq!(val("${NOPE+alt}"), "");
    }

    #[test]
    fn empty_default_and_alternative() {
        assert_eq!(val("${NOPE:-}"), "");
        assert_eq!(val("${SETV:+}"), "");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(val("${NOPE:-${SETV:-x}}"), "val");
        assert_eq!(val("${NOPE:-${NOPE2:-x}}"), "x");
        assert_eq!(val("${NOPE:-${NOPE2:-${SETV}}}z"), "valz");
        assert_eq!(val("${NOPE:-a ${SETV} b}"), "a val b");
    }

    #[test]
    fn default_is_substituted_even_when_unused() {
        // Compose warns about UNSET_Z although SETV is set.
        let s = sub("${SETV:-$UNSET_Z}").expect("ok");
        assert_eq!(s.value, "val");
        assert_eq!(s.unset, vec!["UNSET_Z".to_string()]);
    }

    #[test]
    fn double_dollar_escapes() {
        assert_eq!(val("$$HOME $${SETV}"), "$HOME ${SETV}");
        assert_eq!(val("$$$SETV"), "$val");
        assert_eq!(val("${NOPE:-$$}"), "$");
    }

    #[test]
    fn lone_dollar_stays_literal() {
        assert_eq!(val("$"), "$");
        assert_eq!(val("a $ b"), "a $ b");
        assert_eq!(val("$1A"), "$1A");
        assert_eq!(val("cost: 5$"), "cost: 5$");
    }

    #[test]
    fn text_after_the_balanced_brace_is_kept() {
        assert_eq!(val("${NOPE:-a}b}"), "ab}");
        assert_eq!(val("${SETV}}"), "val}");
        assert_eq!(val("${NOPE:-{a}}"), "{a}");
        assert_eq!(val("${NOPE:-{}"), "{");
    }

    #[test]
    fn two_expressions_on_one_line() {
        assert_eq!(val("${NOPE:-a}${NOPE:-b}"), "ab");
        assert_eq!(val("${NOPE:-a} and ${SETV:+b}"), "a and b");
        assert_eq!(val("${SETV}-${NOPE:-x}"), "val-x");
    }

    #[test]
    fn variable_names_are_case_sensitive_and_may_be_lowercase() {
        let e: HashMap<&str, &str> = HashMap::from([("lower_1", "l"), ("LOWER_1", "U")]);
        let got =
            substitute("$lower_1 ${LOWER_1}", &|k| e.get(k).map(|v| v.to_string())).expect("ok");
        assert_eq!(got.value, "l U");
    }

    #[test]
    fn multi_line_strings_substitute_each_line() {
        assert_eq!(val("a=${SETV}\nb=${NOPE:-x}\n"), "a=val\nb=x\n");
    }

    #[test]
    fn default_cannot_span_lines() {
        assert_eq!(invalid_template("${NOPE:-x\ny}"), "${NOPE:-x\ny}");
    }

    #[test]
    fn invalid_templates_name_the_whole_string() {
        assert_eq!(invalid_template("${"), "${");
        assert_eq!(invalid_template("${A"), "${A");
        assert_eq!(invalid_template("${ A}"), "${ A}");
        assert_eq!(invalid_template("${A B}"), "${A B}");
        assert_eq!(invalid_template("${A:x}"), "${A:x}");
        assert_eq!(invalid_template("${}"), "${}");
        assert_eq!(invalid_template("${1A}"), "${1A}");
        assert_eq!(invalid_template("${SETV} ${B y}"), "${SETV} ${B y}");
    }

    #[test]
    fn invalid_template_inside_a_default_names_the_inner_part() {
        assert_eq!(invalid_template("${A:-${B}x"), "${B");
        assert_eq!(invalid_template("x ${SETV:-${B y}"), "${B y");
        // The text after a balanced expression is checked on its own.
        assert_eq!(invalid_template("${SETV:-a} ${B y}"), " ${B y}");
    }

    #[test]
    fn invalid_template_message_quotes_like_go() {
        let e = sub("${A").expect_err("invalid");
        assert_eq!(e.to_string(), "Invalid template: \"${A\"");
    }

    #[test]
    fn required_when_empty_or_unset() {
        assert_eq!(val("${SETV:?boom}"), "val");
        let e = sub("${EMPTYV:?boom}").expect_err("empty");
        assert_eq!(
            e.to_string(),
            "required variable EMPTYV is missing a value: boom"
        );
        let e = sub("${NOPE:?}").expect_err("unset");
        assert_eq!(e.to_string(), "required variable NOPE is missing a value");
    }

    #[test]
    fn required_when_unset_accepts_empty() {
        assert_eq!(val("[${EMPTYV?boom}]"), "[]");
        let e = sub("${NOPE?boom}").expect_err("unset");
        assert_eq!(
            e.to_string(),
            "required variable NOPE is missing a value: boom"
        );
    }

    #[test]
    fn required_message_is_itself_substituted() {
        let e = sub("${NOPE:?boom $SETV}").expect_err("unset");
        assert_eq!(
            e,
            TemplateError::MissingRequired {
                name: "NOPE".into(),
                reason: "boom val".into()
            }
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let t = format!("{}x{}", "${A:-".repeat(5000), "}".repeat(5000));
        assert!(matches!(sub(&t), Err(TemplateError::Invalid { .. })));
        let ok = format!("{}x{}", "${A:-".repeat(50), "}".repeat(50));
        assert_eq!(val(&ok), "x");
    }

    #[test]
    fn non_ascii_text_is_preserved() {
        assert_eq!(val("héllo ${SETV} wörld ${NOPE:-ü}"), "héllo val wörld ü");
    }

    // --- documents -------------------------------------------------------

    fn doc(src: &str) -> Node {
        yaml::parse(src, "compose.yaml").expect("yaml")
    }

    fn interp(src: &str) -> Result<(Node, BTreeSet<String>), LoadError> {
        let mut n = doc(src);
        let e = env();
        let unset = interpolate_node(&mut n, &|k| e.get(k).map(|v| v.to_string()))?;
        Ok((n, unset))
    }

    fn at<'a>(n: &'a Node, path: &str) -> &'a Value {
        let mut cur = n;
        for part in path.split('.') {
            cur = match part.parse::<usize>() {
                Ok(i) => &cur.as_seq().expect("seq")[i],
                Err(_) => cur.get(part).expect(part),
            };
        }
        &cur.value
    }

    fn interp_err(src: &str) -> (String, String, usize) {
        match interp(src) {
            Err(LoadError::Interpolation { pos, path, msg }) => (path, msg, pos.line),
            other => panic!("expected interpolation error, got {other:?}"),
        }
    }

    #[test]
    fn document_strings_are_substituted_everywhere() {
        let (n, unset) = interp(
            "name: ${SETV}\nx-ext: {a: [\"$SETV\"]}\nservices:\n  web:\n    image: \"img:${NOPE:-1}\"\n    command: [echo, $NOPE2]\n",
        )
        .expect("ok");
        assert_eq!(at(&n, "name"), &Value::Str("val".into()));
        assert_eq!(at(&n, "x-ext.a.0"), &Value::Str("val".into()));
        assert_eq!(at(&n, "services.web.image"), &Value::Str("img:1".into()));
        assert_eq!(at(&n, "services.web.command.1"), &Value::Str(String::new()));
        assert_eq!(
            unset.into_iter().collect::<Vec<_>>(),
            vec!["NOPE2".to_string()]
        );
    }

    #[test]
    fn mapping_keys_are_not_interpolated() {
        let (n, _) = interp("services:\n  web:\n    environment:\n      ${SETV}: x\n").expect("ok");
        let envm = n
            .get("services")
            .and_then(|s| s.get("web"))
            .and_then(|w| w.get("environment"))
            .expect("env");
        assert!(envm.get("${SETV}").is_some());
    }

    #[test]
    fn non_string_scalars_are_untouched() {
        let (n, _) =
            interp("services:\n  web:\n    scale: 2\n    tty: true\n    x: null\n").expect("ok");
        assert_eq!(at(&n, "services.web.scale"), &Value::Int(2));
        assert_eq!(at(&n, "services.web.tty"), &Value::Bool(true));
        assert_eq!(at(&n, "services.web.x"), &Value::Null);
    }

    #[test]
    fn invalid_format_error_names_path_and_line() {
        let (path, msg, line) =
            interp_err("services:\n  web:\n    image: x\n    environment:\n      A: \"${A\"\n");
        assert_eq!(path, "services.web.environment.A");
        assert_eq!(line, 5);
        assert_eq!(
            msg,
            "invalid interpolation format for services.web.environment.A.\nYou may need to escape any $ with another $.\n${A"
        );
    }

    #[test]
    fn sequence_items_show_brackets_in_compose_message() {
        let (path, msg, _) = interp_err("services:\n  web:\n    environment: [\"A=${B y}\"]\n");
        assert_eq!(path, "services.web.environment[0]");
        assert!(
            msg.starts_with("invalid interpolation format for services.web.environment.[].\n"),
            "{msg}"
        );
        assert!(msg.ends_with("\nA=${B y}"), "{msg}");
    }

    #[test]
    fn required_variable_error_message() {
        let (path, msg, _) =
            interp_err("services:\n  web:\n    environment:\n      A: ${UNSET_X:?boom $SETV}\n");
        assert_eq!(path, "services.web.environment.A");
        assert_eq!(
            msg,
            "error while interpolating services.web.environment.A: required variable UNSET_X is missing a value: boom val"
        );
    }

    #[test]
    fn booleans_are_cast_at_known_paths() {
        let (n, _) = interp(
            "services:\n  web:\n    privileged: ${P:-true}\n    tty: \"on\"\n    init: \"FALSE\"\n    read_only: \"N\"\n    stdin_open: \"True\"\n",
        )
        .expect("ok");
        assert_eq!(at(&n, "services.web.privileged"), &Value::Bool(true));
        assert_eq!(at(&n, "services.web.tty"), &Value::Bool(true));
        assert_eq!(at(&n, "services.web.init"), &Value::Bool(false));
        assert_eq!(at(&n, "services.web.read_only"), &Value::Bool(false));
        assert_eq!(at(&n, "services.web.stdin_open"), &Value::Bool(true));
    }

    #[test]
    fn plain_yes_string_is_cast_too() {
        // yaml 1.2 leaves `yes` a string; Compose's cast turns it into true.
        let (n, _) = interp("services:\n  web:\n    privileged: yes\n").expect("ok");
        assert_eq!(at(&n, "services.web.privileged"), &Value::Bool(true));
    }

    #[test]
    fn invalid_boolean_names_the_path() {
        let (path, msg, line) = interp_err("services:\n  web:\n    privileged: ${SETV}\n");
        assert_eq!(path, "services.web.privileged");
        assert_eq!(line, 3);
        assert_eq!(
            msg,
            "error while interpolating services.web.privileged: failed to cast to expected type: invalid boolean: val"
        );
        let (_, msg, _) = interp_err("services:\n  web:\n    privileged: \"\"\n");
        assert!(msg.ends_with("invalid boolean: "), "{msg}");
    }

    #[test]
    fn top_level_resource_booleans() {
        let (n, _) = interp(
            "networks:\n  n: {external: \"true\", internal: \"false\", attachable: \"yes\", enable_ipv6: \"no\"}\nvolumes:\n  v: {external: \"true\"}\nsecrets:\n  s: {external: \"true\"}\nconfigs:\n  c: {external: \"true\"}\n",
        )
        .expect("ok");
        assert_eq!(at(&n, "networks.n.external"), &Value::Bool(true));
        assert_eq!(at(&n, "networks.n.internal"), &Value::Bool(false));
        assert_eq!(at(&n, "networks.n.attachable"), &Value::Bool(true));
        assert_eq!(at(&n, "networks.n.enable_ipv6"), &Value::Bool(false));
        assert_eq!(at(&n, "volumes.v.external"), &Value::Bool(true));
        assert_eq!(at(&n, "secrets.s.external"), &Value::Bool(true));
        assert_eq!(at(&n, "configs.c.external"), &Value::Bool(true));
    }

    #[test]
    fn integers_are_cast_at_known_paths() {
        let (n, _) = interp(
            "services:\n  web:\n    scale: ${N}\n    pids_limit: \"+80\"\n    cpu_count: \"-1\"\n    oom_score_adj: \"-5\"\n    deploy: {replicas: \"2\", restart_policy: {max_attempts: \"4\"}}\n    healthcheck: {retries: \"3\", disable: \"true\"}\n    ports: [{target: \"80\", published: \"8080\"}]\n    ulimits: {nproc: \"3\", nofile: {soft: \"1\", hard: \"2\"}}\n",
        )
        .expect("ok");
        assert_eq!(at(&n, "services.web.scale"), &Value::Int(3));
        assert_eq!(at(&n, "services.web.pids_limit"), &Value::Int(80));
        assert_eq!(at(&n, "services.web.cpu_count"), &Value::Int(-1));
        assert_eq!(at(&n, "services.web.oom_score_adj"), &Value::Int(-5));
        assert_eq!(at(&n, "services.web.deploy.replicas"), &Value::Int(2));
        assert_eq!(
            at(&n, "services.web.deploy.restart_policy.max_attempts"),
            &Value::Int(4)
        );
        assert_eq!(at(&n, "services.web.healthcheck.retries"), &Value::Int(3));
        assert_eq!(
            at(&n, "services.web.healthcheck.disable"),
            &Value::Bool(true)
        );
        assert_eq!(at(&n, "services.web.ports.0.target"), &Value::Int(80));
        // `published` is not in Compose's table: it stays a string.
        assert_eq!(
            at(&n, "services.web.ports.0.published"),
            &Value::Str("8080".into())
        );
        assert_eq!(at(&n, "services.web.ulimits.nproc"), &Value::Int(3));
        assert_eq!(at(&n, "services.web.ulimits.nofile.soft"), &Value::Int(1));
        assert_eq!(at(&n, "services.web.ulimits.nofile.hard"), &Value::Int(2));
    }

    #[test]
    fn paths_outside_the_table_stay_strings() {
        let (n, _) = interp(
            "services:\n  web:\n    mem_swappiness: \"10\"\n    shm_size: \"1g\"\n    secrets: [{source: s, mode: \"0440\"}]\n    environment: {A: \"1\"}\n",
        )
        .expect("ok");
        assert_eq!(
            at(&n, "services.web.mem_swappiness"),
            &Value::Str("10".into())
        );
        assert_eq!(at(&n, "services.web.shm_size"), &Value::Str("1g".into()));
        assert_eq!(
            at(&n, "services.web.secrets.0.mode"),
            &Value::Str("0440".into())
        );
        assert_eq!(
            at(&n, "services.web.environment.A"),
            &Value::Str("1".into())
        );
    }

    #[test]
    fn integer_cast_errors_match_go() {
        let cases = [
            (
                "scale: \"0x10\"",
                "services.web.scale",
                "strconv.Atoi: parsing \"0x10\": invalid syntax",
            ),
            (
                "scale: \"1_000\"",
                "services.web.scale",
                "strconv.Atoi: parsing \"1_000\": invalid syntax",
            ),
            (
                "scale: \" 3\"",
                "services.web.scale",
                "strconv.Atoi: parsing \" 3\": invalid syntax",
            ),
            (
                "scale: \"99999999999999999999\"",
                "services.web.scale",
                "strconv.Atoi: parsing \"99999999999999999999\": value out of range",
            ),
            (
                "cpu_count: \"9223372036854775808\"",
                "services.web.cpu_count",
                "strconv.ParseInt: parsing \"9223372036854775808\": value out of range",
            ),
            (
                "pids_limit: ${SETV}",
                "services.web.pids_limit",
                "strconv.ParseInt: parsing \"val\": invalid syntax",
            ),
            (
                "ports: [{target: x}]",
                "services.web.ports.[].target",
                "strconv.Atoi: parsing \"x\": invalid syntax",
            ),
        ];
        for (field, compose_path, why) in cases {
            let (_, msg, _) = interp_err(&format!("services:\n  web:\n    {field}\n"));
            assert_eq!(
                msg,
                format!("error while interpolating {compose_path}: failed to cast to expected type: {why}"),
                "{field}"
            );
        }
    }

    #[test]
    fn float_casts() {
        let (n, _) = interp(
            "services:\n  web:\n    cpus: \"0.1\"\n    cpu_percent: \"1e1\"\n    deploy: {update_config: {max_failure_ratio: \"0.5\"}}\n",
        )
        .expect("ok");
        // float32 like Compose, printed by its shortest form.
        assert_eq!(at(&n, "services.web.cpus"), &Value::Float(0.1));
        assert_eq!(at(&n, "services.web.cpu_percent"), &Value::Float(10.0));
        assert_eq!(
            at(&n, "services.web.deploy.update_config.max_failure_ratio"),
            &Value::Float(0.5)
        );
    }

    #[test]
    fn go_float_syntax() {
        assert_eq!(parse_go_float(".5"), Some(0.5));
        assert_eq!(parse_go_float("1_0.5"), Some(10.5));
        assert_eq!(parse_go_float("0x1p-2"), Some(0.25));
        assert_eq!(parse_go_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_go_float("0x10"), None);
        assert_eq!(parse_go_float("1__0"), None);
        assert_eq!(parse_go_float("_1"), None);
        assert_eq!(parse_go_float("1e"), None);
        assert_eq!(parse_go_float("."), None);
        assert_eq!(parse_go_float(""), None);
    }

    #[test]
    fn float_cast_errors_match_go() {
        let (_, msg, _) = interp_err("services:\n  web:\n    cpus: ${SETV}\n");
        assert_eq!(
            msg,
            "error while interpolating services.web.cpus: failed to cast to expected type: strconv.ParseFloat: parsing \"val\": invalid syntax"
        );
        let (_, msg, _) = interp_err("services:\n  web:\n    cpus: \"1e40\"\n");
        assert!(
            msg.ends_with("strconv.ParseFloat: parsing \"1e40\": value out of range"),
            "{msg}"
        );
        let (_, msg, _) = interp_err("services:\n  web:\n    cpu_percent: \"0x10\"\n");
        assert!(msg.ends_with("parsing \"0x10\": invalid syntax"), "{msg}");
    }

    #[test]
    fn cast_applies_to_list_items_and_any_service_name() {
        let (n, _) = interp(
            "services:\n  a:\n    volumes: [{type: volume, source: v, target: /x, read_only: \"true\", volume: {nocopy: \"true\"}}]\n  b-2:\n    tty: \"false\"\n",
        )
        .expect("ok");
        assert_eq!(at(&n, "services.a.volumes.0.read_only"), &Value::Bool(true));
        assert_eq!(
            at(&n, "services.a.volumes.0.volume.nocopy"),
            &Value::Bool(true)
        );
        assert_eq!(at(&n, "services.b-2.tty"), &Value::Bool(false));
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c\n\t"), "\"a\\\"b\\\\c\\n\\t\"");
        assert_eq!(go_quote("\u{1}é"), "\"\\x01é\"");
    }
}
