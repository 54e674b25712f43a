//! Value conversions: turns the values of a merged, interpolated compose
//! document into the forms `docker compose config --format json` prints
//! (durations as Go's `time.Duration.String()`, byte sizes as decimal
//! strings, commands split into words, `KEY=VAL` lists into maps, strings
//! that stand for numbers or booleans into numbers and booleans, ...).
//!
//! Structural short syntaxes (ports, volumes, depends_on, ...) are expanded
//! by `canonical`; this phase only rewrites values in place. Every
//! conversion is registered in [`RULES`] under the path pattern it applies
//! to, so an error always names the YAML path and line of the bad value.
//! Conversions are idempotent: running them on their own output changes
//! nothing, so it is safe to run this phase on a document that another
//! phase has already partly converted.
//!
//! Zero values are kept (`shm_size: 0` stays `"0"`): dropping the fields Go
//! omits when empty (`omitempty`) is the job of the typed layer.

use super::error::LoadError;
use super::yaml::{format_go_float, path_string, Mapping, Node, PathSeg, Value};
use std::fmt;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------

/// A signed duration in nanoseconds, parsed and printed the way compose-go
/// does (`str2duration` parsing, Go's `time.Duration.String()` printing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct GoDuration(pub i64);

const NANOS_PER_SEC: u64 = 1_000_000_000;

fn duration_unit(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        // Go accepts both the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3_600 * NANOS_PER_SEC,
        // str2duration's extensions over time.ParseDuration.
        "d" => 86_400 * NANOS_PER_SEC,
        "w" => 7 * 86_400 * NANOS_PER_SEC,
        _ => return None,
    })
}

impl GoDuration {
    /// Parses Go duration syntax (`1h30m`, `2.5s`, `500ms`, `-1m`, `1d`,
    /// `1w`); a bare `0` is the only number accepted without a unit.
    pub fn parse(input: &str) -> Result<GoDuration, String> {
        let invalid = || format!("invalid duration {}", go_quote(input));
        let mut s = input;
        let mut neg = false;
        if let Some(c) = s.chars().next() {
            if c == '-' || c == '+' {
                neg = c == '-';
                s = &s[1..];
            }
        }
        if s == "0" {
            return Ok(GoDuration(0));
        }
        if s.is_empty() {
            return Err(invalid());
        }
        // str2duration follows an older time.ParseDuration: every partial
        // sum must fit an int64, whatever the sign.
        const LIMIT: u64 = i64::MAX as u64;
        let mut total: u64 = 0;
        while !s.is_empty() {
            let b = s.as_bytes();
            if !(b[0] == b'.' || b[0].is_ascii_digit()) {
                return Err(invalid());
            }
            // Integer part.
            let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut whole: u64 = 0;
            for &c in &b[..int_len] {
                if whole > LIMIT / 10 {
                    return Err(invalid());
                }
                whole = whole * 10 + u64::from(c - b'0');
                if whole > LIMIT {
                    return Err(invalid());
                }
            }
            s = &s[int_len..];
            // Fraction part: extra digits beyond u64 precision are ignored.
            let mut frac: u64 = 0;
            let mut scale: f64 = 1.0;
            let mut frac_len = 0;
            if s.starts_with('.') {
                s = &s[1..];
                let fb = s.as_bytes();
                frac_len = fb.iter().take_while(|c| c.is_ascii_digit()).count();
                let mut overflow = false;
                for &c in &fb[..frac_len] {
                    if overflow {
                        continue;
                    }
                    if frac > LIMIT / 10 {
                        overflow = true;
                        continue;
                    }
                    let next = frac * 10 + u64::from(c - b'0');
                    if next > LIMIT {
                        overflow = true;
                        continue;
                    }
                    frac = next;
                    scale *= 10.0;
                }
                s = &s[frac_len..];
            }
            if int_len == 0 && frac_len == 0 {
                return Err(invalid());
            }
            let unit_len = s
                .bytes()
                .take_while(|c| !(*c == b'.' || c.is_ascii_digit()))
                .count();
            if unit_len == 0 {
                return Err(format!("missing unit in duration {}", go_quote(input)));
            }
            let unit_name = &s[..unit_len];
            s = &s[unit_len..];
            let unit = duration_unit(unit_name).ok_or_else(|| {
                format!(
                    "unknown unit {} in duration {}",
                    go_quote(unit_name),
                    go_quote(input)
                )
            })?;
            if whole > LIMIT / unit {
                return Err(invalid());
            }
            let mut v = whole * unit;
            if frac > 0 {
                // Go computes the fractional part in float64 too.
                v += (frac as f64 * (unit as f64 / scale)) as u64;
                if v > LIMIT {
                    return Err(invalid());
                }
            }
            total += v;
            if total > LIMIT {
                return Err(invalid());
            }
        }
        let total = i64::try_from(total).map_err(|_| invalid())?;
        Ok(GoDuration(if neg { -total } else { total }))
    }

    pub fn from_std(d: Duration) -> GoDuration {
        GoDuration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// The duration as `std::time::Duration`; `None` when negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }
}

/// Writes `v / 10^prec` with trailing zeros (and a lone point) removed.
fn push_int_frac(out: &mut String, v: u64, prec: u32) {
    let div = 10u64.pow(prec);
    out.push_str(&(v / div).to_string());
    let frac = v % div;
    if prec > 0 && frac != 0 {
        let digits = format!("{frac:0width$}", width = prec as usize);
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

impl fmt::Display for GoDuration {
    /// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = self.0 < 0;
        let u = self.0.unsigned_abs();
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if u == 0 {
            return f.write_str("0s");
        }
        if u < NANOS_PER_SEC {
            let (prec, unit) = if u < 1_000 {
                (0, "ns")
            } else if u < 1_000_000 {
                (3, "\u{b5}s")
            } else {
                (6, "ms")
            };
            push_int_frac(&mut out, u, prec);
            out.push_str(unit);
        } else {
            let secs = u / NANOS_PER_SEC;
            let (hours, mins) = (secs / 3600, (secs / 60) % 60);
            if hours > 0 {
                out.push_str(&format!("{hours}h"));
            }
            if hours > 0 || mins > 0 {
                out.push_str(&format!("{mins}m"));
            }
            push_int_frac(&mut out, u % (60 * NANOS_PER_SEC), 9);
            out.push('s');
        }
        f.write_str(&out)
    }
}

/// Parses a (non-negative) Go duration; see [`GoDuration::parse`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = GoDuration::parse(s)?;
    d.to_std()
        .ok_or_else(|| format!("negative duration {}", go_quote(s)))
}

/// Prints a duration as Go's `time.Duration.String()` does (`1m30s`).
pub fn format_duration(d: Duration) -> String {
    GoDuration::from_std(d).to_string()
}

// ---------------------------------------------------------------------------
// Byte sizes
// ---------------------------------------------------------------------------

/// Parses a byte size as go-units' `RAMInBytes` (what compose-go uses for
/// every `UnitBytes` field): a decimal number, an optional space, then an
/// optional binary suffix `b`, `k`, `kb`, `kib`, ... `p` (case-insensitive,
/// powers of 1024). Fractions are truncated (`1.5` is 1 byte).
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let sep = s
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit() || *c == '.' || *c == ' ')
        .map(|(i, _)| i)
        .next_back()
        .ok_or_else(|| format!("invalid size {}", go_quote(s)))?;
    let (num, suffix) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let size = parse_go_float(num).ok_or_else(|| {
        format!(
            "invalid size {}: {} is not a number",
            go_quote(s),
            go_quote(num)
        )
    })?;
    if size < 0.0 {
        return Err(format!("invalid size {}: negative", go_quote(s)));
    }
    let bad_suffix = |sfx: &str| {
        format!(
            "invalid size {}: unknown suffix {}",
            go_quote(s),
            go_quote(sfx)
        )
    };
    if suffix.is_empty() {
        return Ok(go_float_to_i64(size));
    }
    if suffix.len() > 3 {
        return Err(bad_suffix(suffix));
    }
    let lower = suffix.to_ascii_lowercase();
    let mut chars = lower.chars();
    let first = chars.next().unwrap_or('b');
    let rest: String = chars.collect();
    if first == 'b' {
        return if rest.is_empty() {
            Ok(go_float_to_i64(size))
        } else {
            Err(bad_suffix(&lower))
        };
    }
    let shift = match first {
        'k' => 10,
        'm' => 20,
        'g' => 30,
        't' => 40,
        'p' => 50,
        _ => return Err(bad_suffix(&lower)),
    };
    if !(rest.is_empty() || rest == "b" || rest == "ib") {
        return Err(bad_suffix(&lower));
    }
    Ok(go_float_to_i64(size * (1u64 << shift) as f64))
}

/// Go's float64 → int64 conversion on amd64: truncates, and anything out of
/// range becomes `i64::MIN` (Rust would saturate instead).
fn go_float_to_i64(f: f64) -> i64 {
    let limit = (1u64 << 63) as f64;
    if f.is_nan() || !(-limit..limit).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// `strconv.ParseFloat(s, 64)` for decimal input: rejects what Go rejects
/// that Rust would accept (out-of-range values, which Go reports as errors).
fn parse_go_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    let lower = s.to_ascii_lowercase();
    let named_infinity = lower.trim_start_matches(['+', '-']).starts_with("inf");
    if f.is_infinite() && !named_infinity {
        return None;
    }
    Some(f)
}

// ---------------------------------------------------------------------------
// Shell words
// ---------------------------------------------------------------------------

/// Splits a command line the way compose-go does (mattn/go-shellwords with
/// its defaults): blanks separate words, `'...'` and `"..."` quote, a
/// backslash escapes the next character (outside single quotes), `$(...)`
/// and backticks are kept verbatim, and an unquoted `;`, `&`, `|`, `<` or
/// `>` ends the command (`2>` drops the `2`). `$` is not expanded.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let invalid = || format!("invalid command line {}", go_quote(line));
    let mut args = Vec::new();
    let mut buf = String::new();
    let mut has_word = false;
    let (mut escaped, mut double, mut single, mut back, mut dollar) =
        (false, false, false, false, false);
    for c in line.chars() {
        if escaped {
            buf.push(c);
            escaped = false;
            has_word = true;
            continue;
        }
        if c == '\\' {
            if single {
                buf.push(c);
            } else {
                escaped = true;
            }
            continue;
        }
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            if single || double || back || dollar {
                buf.push(c);
            } else if has_word {
                args.push(std::mem::take(&mut buf));
                has_word = false;
            }
            continue;
        }
        match c {
            '`' if !single && !double && !dollar => back = !back,
            ')' if !single && !double && !back => dollar = !dollar,
            '(' if !single && !double && !back => {
                if !dollar && buf.ends_with('$') {
                    dollar = true;
                } else {
                    return Err(invalid());
                }
            }
            '"' if !single && !dollar => {
                if double {
                    has_word = true;
                }
                double = !double;
                continue;
            }
            '\'' if !double && !dollar => {
                if single {
                    has_word = true;
                }
                single = !single;
                continue;
            }
            ';' | '&' | '|' | '<' | '>' if !(single || double || back || dollar) => {
                // `2>file`: the digits name a file descriptor, not a word.
                if c == '>' && buf.starts_with(|d: char| d.is_ascii_digit()) {
                    has_word = false;
                }
                if has_word {
                    args.push(buf);
                }
                return Ok(args);
            }
            _ => {}
        }
        has_word = true;
        buf.push(c);
    }
    if escaped || single || double || back || dollar {
        return Err(invalid());
    }
    if has_word {
        args.push(buf);
    }
    Ok(args)
}

// ---------------------------------------------------------------------------
// Go formatting helpers
// ---------------------------------------------------------------------------

/// Go's `fmt.Sprint` of a scalar node; `None` for null and collections.
fn go_sprint(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(format_go_float(*f)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Quotes a value for an error message, like Go's `%q`.
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// A float32 value as Go's encoding/json prints it, as a node: integral
/// values become integers so `2` stays `2` rather than `2.0`.
fn float32_node_value(f: f64) -> Value {
    let narrowed = f as f32;
    if narrowed.fract() == 0.0 && narrowed.abs() < 9.0e15 {
        return Value::Int(narrowed as i64);
    }
    // The shortest decimal that round-trips through f32 is what Go prints.
    let shortest = narrowed.to_string();
    Value::Float(shortest.parse().unwrap_or(f64::from(narrowed)))
}

// ---------------------------------------------------------------------------
// The rule table
// ---------------------------------------------------------------------------

/// The path of the node being converted, for error messages.
pub struct KeyPath(Vec<PathSeg>);

impl KeyPath {
    /// Runs `f` with `seg` appended to the path.
    fn with<T>(&mut self, seg: PathSeg, f: impl FnOnce(&mut KeyPath) -> T) -> T {
        self.0.push(seg);
        let out = f(self);
        self.0.pop();
        out
    }
}

type Convert = fn(&mut Node, &mut KeyPath) -> Result<(), LoadError>;

/// A conversion and the paths it applies to: `*` matches any mapping key,
/// `[]` any sequence item.
pub struct Rule {
    pub pattern: &'static str,
    convert: Convert,
}

const fn rule(pattern: &'static str, convert: Convert) -> Rule {
    Rule { pattern, convert }
}

/// Every value conversion, by path.
pub static RULES: &[Rule] = &[
    // Durations.
    rule("services.*.healthcheck.interval", to_duration),
    rule("services.*.healthcheck.timeout", to_duration),
    rule("services.*.healthcheck.start_period", to_duration),
    rule("services.*.healthcheck.start_interval", to_duration),
    rule("services.*.stop_grace_period", to_duration),
    rule("services.*.deploy.restart_policy.delay", to_duration),
    rule("services.*.deploy.restart_policy.window", to_duration),
    rule("services.*.deploy.update_config.delay", to_duration),
    rule("services.*.deploy.update_config.monitor", to_duration),
    rule("services.*.deploy.rollback_config.delay", to_duration),
    rule("services.*.deploy.rollback_config.monitor", to_duration),
    // Byte sizes.
    rule("services.*.mem_limit", to_bytes),
    rule("services.*.mem_reservation", to_bytes),
    rule("services.*.memswap_limit", to_bytes),
    rule("services.*.mem_swappiness", to_bytes),
    rule("services.*.shm_size", to_bytes),
    rule("services.*.build.shm_size", to_bytes),
    rule("services.*.deploy.resources.limits.memory", to_bytes),
    rule("services.*.deploy.resources.reservations.memory", to_bytes),
    rule("services.*.volumes[].tmpfs.size", to_bytes),
    rule("services.*.blkio_config.weight", to_int),
    rule("services.*.blkio_config.weight_device", to_weight_devices),
    rule(
        "services.*.blkio_config.device_read_bps",
        to_throttle_devices,
    ),
    rule(
        "services.*.blkio_config.device_write_bps",
        to_throttle_devices,
    ),
    rule(
        "services.*.blkio_config.device_read_iops",
        to_throttle_devices,
    ),
    rule(
        "services.*.blkio_config.device_write_iops",
        to_throttle_devices,
    ),
    // Commands.
    rule("services.*.command", to_command),
    rule("services.*.entrypoint", to_command),
    rule("services.*.post_start[].command", to_command),
    rule("services.*.pre_stop[].command", to_command),
    rule("services.*.develop.watch[].exec.command", to_command),
    rule(
        "services.*.develop.watch[].exec.environment",
        to_env_mapping,
    ),
    rule("services.*.healthcheck.test", to_healthcheck_test),
    // Mappings whose keys without value stay null.
    rule("services.*.environment", to_env_mapping),
    rule("services.*.build.args", to_env_mapping),
    rule("services.*.post_start[].environment", to_env_mapping),
    rule("services.*.pre_stop[].environment", to_env_mapping),
    // Mappings of strings (a key without value is "").
    rule("services.*.labels", to_string_mapping),
    rule("services.*.annotations", to_string_mapping),
    rule("services.*.sysctls", to_string_mapping),
    rule("services.*.storage_opt", to_string_mapping),
    rule("services.*.logging.options", to_string_mapping),
    rule("services.*.deploy.labels", to_string_mapping),
    rule("services.*.build.labels", to_string_mapping),
    rule("services.*.build.additional_contexts", to_string_mapping),
    rule("services.*.networks.*.driver_opts", to_string_mapping),
    rule("services.*.volumes[].volume.labels", to_string_mapping),
    rule(
        "services.*.deploy.resources.limits.devices[].options",
        to_string_mapping,
    ),
    rule(
        "services.*.deploy.resources.reservations.devices[].options",
        to_string_mapping,
    ),
    rule("services.*.gpus[].options", to_string_mapping),
    rule("services.*.provider.options", to_multi_options),
    rule("networks.*.labels", to_string_mapping),
    rule("networks.*.driver_opts", to_string_mapping),
    rule("networks.*.ipam.config[].aux_addresses", to_string_mapping),
    rule("networks.*.ipam.options", to_string_mapping),
    rule("volumes.*.labels", to_string_mapping),
    rule("volumes.*.driver_opts", to_string_mapping),
    rule("secrets.*.labels", to_string_mapping),
    rule("secrets.*.driver_opts", to_string_mapping),
    rule("configs.*.labels", to_string_mapping),
    // Ulimits.
    rule("services.*.ulimits.*", to_ulimit),
    rule("services.*.build.ulimits.*", to_ulimit),
    // Integers given as strings.
    rule("services.*.cpu_count", to_int),
    rule("services.*.cpu_period", to_int),
    rule("services.*.cpu_quota", to_int),
    rule("services.*.cpu_rt_period", to_int),
    rule("services.*.cpu_rt_runtime", to_int),
    rule("services.*.cpu_shares", to_int),
    rule("services.*.oom_score_adj", to_int),
    rule("services.*.pids_limit", to_int),
    rule("services.*.scale", to_int),
    rule("services.*.healthcheck.retries", to_int),
    rule("services.*.deploy.replicas", to_int),
    rule("services.*.deploy.update_config.parallelism", to_int),
    rule("services.*.deploy.rollback_config.parallelism", to_int),
    rule("services.*.deploy.restart_policy.max_attempts", to_int),
    rule("services.*.deploy.placement.max_replicas_per_node", to_int),
    rule("services.*.deploy.resources.limits.pids", to_int),
    rule("services.*.deploy.resources.reservations.pids", to_int),
    // float32 fields.
    rule("services.*.cpus", to_float32),
    rule("services.*.cpu_percent", to_float32),
    rule("services.*.deploy.resources.limits.cpus", to_float32),
    rule("services.*.deploy.resources.reservations.cpus", to_float32),
    rule(
        "services.*.deploy.update_config.max_failure_ratio",
        to_float32,
    ),
    rule(
        "services.*.deploy.rollback_config.max_failure_ratio",
        to_float32,
    ),
    // Booleans given as strings.
    rule("services.*.attach", to_bool),
    rule("services.*.init", to_bool),
    rule("services.*.build.no_cache", to_bool),
    rule("services.*.build.pull", to_bool),
    rule("services.*.build.privileged", to_bool),
    rule("services.*.volumes[].bind.create_host_path", to_bool),
    rule("services.*.oom_kill_disable", to_bool),
    rule("services.*.privileged", to_bool),
    rule("services.*.read_only", to_bool),
    rule("services.*.stdin_open", to_bool),
    rule("services.*.tty", to_bool),
    rule("services.*.healthcheck.disable", to_bool),
    rule("services.*.volumes[].read_only", to_bool),
    rule("services.*.volumes[].volume.nocopy", to_bool),
    rule("networks.*.external", to_bool),
    rule("networks.*.internal", to_bool),
    rule("networks.*.attachable", to_bool),
    rule("networks.*.enable_ipv4", to_bool),
    rule("networks.*.enable_ipv6", to_bool),
    rule("volumes.*.external", to_bool),
    rule("secrets.*.external", to_bool),
    rule("configs.*.external", to_bool),
    // Device counts (`all` is -1).
    rule(
        "services.*.deploy.resources.limits.devices[].count",
        to_device_count,
    ),
    rule(
        "services.*.deploy.resources.reservations.devices[].count",
        to_device_count,
    ),
    rule("services.*.gpus[].count", to_device_count),
    // File modes print as octal strings.
    rule("services.*.secrets[].mode", to_file_mode),
    rule("services.*.configs[].mode", to_file_mode),
    rule("services.*.build.secrets[].mode", to_file_mode),
    // A single string where a list is expected.
    rule("services.*.tmpfs", to_string_list),
    rule("services.*.dns", to_string_list),
    rule("services.*.dns_search", to_string_list),
    rule("services.*.label_file", to_string_list),
    rule("services.*.build.cache_from", to_string_list),
    rule("services.*.build.cache_to", to_string_list),
    rule("services.*.build.no_cache_filter", to_string_list),
    rule("services.*.build.tags", to_string_list),
    rule("services.*.build.platforms", to_string_list),
    // Lists of strings that may be written as numbers.
    rule("services.*.group_add", to_string_list),
    rule("services.*.expose", to_string_list),
];

/// Applies every conversion in [`RULES`] to `doc` in place.
pub fn convert(doc: &mut Node) -> Result<(), LoadError> {
    for r in RULES {
        let pattern = parse_pattern(r.pattern);
        apply(doc, &pattern, &mut KeyPath(Vec::new()), r.convert)?;
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
enum PatternSeg {
    Key(&'static str),
    AnyKey,
    AnyIndex,
}

fn parse_pattern(pattern: &'static str) -> Vec<PatternSeg> {
    let mut segs = Vec::new();
    for part in pattern.split('.') {
        let (key, list) = match part.strip_suffix("[]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        segs.push(if key == "*" {
            PatternSeg::AnyKey
        } else {
            PatternSeg::Key(key)
        });
        if list {
            segs.push(PatternSeg::AnyIndex);
        }
    }
    segs
}

/// Walks the nodes matching `pattern` and converts each non-null one.
fn apply(
    node: &mut Node,
    pattern: &[PatternSeg],
    path: &mut KeyPath,
    convert: Convert,
) -> Result<(), LoadError> {
    let Some((first, rest)) = pattern.split_first() else {
        if node.is_null() {
            return Ok(());
        }
        return convert(node, path);
    };
    match (first, &mut node.value) {
        (PatternSeg::Key(k), Value::Map(m)) => {
            if let Some(child) = m.get_mut(*k) {
                path.with(PathSeg::Key((*k).to_string()), |p| {
                    apply(child, rest, p, convert)
                })?;
            }
        }
        (PatternSeg::AnyKey, Value::Map(m)) => {
            for (k, child) in m.iter_mut() {
                path.with(PathSeg::Key(k.clone()), |p| apply(child, rest, p, convert))?;
            }
        }
        (PatternSeg::AnyIndex, Value::Seq(items)) => {
            for (i, child) in items.iter_mut().enumerate() {
                path.with(PathSeg::Index(i), |p| apply(child, rest, p, convert))?;
            }
        }
        // Shapes the schema rejects; nothing to convert here.
        _ => {}
    }
    Ok(())
}

fn invalid(node: &Node, path: &KeyPath, msg: impl Into<String>) -> LoadError {
    LoadError::invalid(&node.pos, path_string(&path.0), msg)
}

/// What a node is, for "expected X, got Y" messages.
fn kind(node: &Node) -> &'static str {
    match node.value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Str(_) => "a string",
        Value::Seq(_) => "a list",
        Value::Map(_) => "a mapping",
    }
}

// ---------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------

fn to_duration(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    let Some(text) = go_sprint(node) else {
        return Err(invalid(
            node,
            path,
            format!("expected a duration, got {}", kind(node)),
        ));
    };
    let d = GoDuration::parse(&text).map_err(|e| invalid(node, path, e))?;
    node.value = Value::Str(d.to_string());
    Ok(())
}

fn to_bytes(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    let bytes = match &node.value {
        Value::Int(i) => *i,
        Value::Str(s) => parse_bytes(s).map_err(|e| invalid(node, path, e))?,
        // compose-go ignores floats here, leaving the size unset.
        Value::Float(_) => 0,
        _ => {
            return Err(invalid(
                node,
                path,
                format!("expected a byte size, got {}", kind(node)),
            ));
        }
    };
    node.value = Value::Str(bytes.to_string());
    Ok(())
}

fn to_command(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    match &node.value {
        Value::Str(s) => {
            let words = split_command(s).map_err(|e| invalid(node, path, e))?;
            node.value = Value::Seq(words.into_iter().map(|w| sibling(node, w)).collect());
            Ok(())
        }
        Value::Seq(_) => stringify_items(node, path),
        _ => Err(invalid(
            node,
            path,
            format!("expected a command, got {}", kind(node)),
        )),
    }
}

fn to_healthcheck_test(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    match &node.value {
        Value::Str(s) => {
            let items = vec![sibling(node, "CMD-SHELL"), sibling(node, s.clone())];
            node.value = Value::Seq(items);
            Ok(())
        }
        Value::Seq(_) => stringify_items(node, path),
        _ => Err(invalid(
            node,
            path,
            format!("expected a test command, got {}", kind(node)),
        )),
    }
}

/// A new string node at the position of `node`.
fn sibling(node: &Node, s: impl Into<String>) -> Node {
    Node::new(Value::Str(s.into()), node.pos.clone())
}

/// Turns every scalar item of a list into a string (`[1, a]` → `["1", "a"]`);
/// a lone string becomes a one-item list.
fn to_string_list(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    if let Value::Str(_) | Value::Int(_) | Value::Float(_) = node.value {
        let item = node.clone();
        node.value = Value::Seq(vec![item]);
    }
    stringify_items(node, path)
}

fn stringify_items(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    let Value::Seq(items) = &mut node.value else {
        return Err(invalid(
            node,
            path,
            format!("expected a list, got {}", kind(node)),
        ));
    };
    for (i, item) in items.iter_mut().enumerate() {
        match go_sprint(item) {
            Some(s) => item.value = Value::Str(s),
            None => {
                return Err(path.with(PathSeg::Index(i), |p| {
                    invalid(item, p, format!("expected a string, got {}", kind(item)))
                }));
            }
        }
    }
    Ok(())
}

/// How a `KEY` written without `=` (or a null value) is represented.
#[derive(Clone, Copy)]
enum Unset {
    /// `environment`, `build.args`: stays null (resolved later from the
    /// environment).
    Null,
    /// labels, options, ...: the empty string.
    Empty,
}

fn to_env_mapping(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    to_mapping(node, path, Unset::Null)
}

fn to_string_mapping(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    to_mapping(node, path, Unset::Empty)
}

fn unset_value(unset: Unset) -> Value {
    match unset {
        Unset::Null => Value::Null,
        Unset::Empty => Value::Str(String::new()),
    }
}

/// `[KEY=VAL, KEY]` or `{KEY: VAL}` → `{KEY: "VAL"}`, with numbers and
/// booleans printed as Go prints them (`1.0` → `"1"`, `true` → `"true"`).
fn to_mapping(node: &mut Node, path: &mut KeyPath, unset: Unset) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                if v.is_null() {
                    v.value = unset_value(unset);
                    continue;
                }
                match go_sprint(v) {
                    Some(s) => v.value = Value::Str(s),
                    None => {
                        return Err(path.with(PathSeg::Key(k.clone()), |p| {
                            invalid(v, p, format!("expected a string, got {}", kind(v)))
                        }));
                    }
                }
            }
            Ok(())
        }
        Value::Seq(items) => {
            let mut map = Mapping::new();
            for (i, item) in items.iter().enumerate() {
                let Some(entry) = go_sprint(item) else {
                    return Err(path.with(PathSeg::Index(i), |p| {
                        invalid(item, p, format!("expected KEY=VALUE, got {}", kind(item)))
                    }));
                };
                let value = match entry.split_once('=') {
                    Some((k, v)) => (k.to_string(), Value::Str(v.to_string())),
                    None => (entry, unset_value(unset)),
                };
                // A later entry for the same key wins, at the earlier place.
                map.insert(value.0, Node::new(value.1, item.pos.clone()));
            }
            node.value = Value::Map(map);
            Ok(())
        }
        _ => Err(invalid(
            node,
            path,
            format!("expected a mapping or a list, got {}", kind(node)),
        )),
    }
}

/// `provider.options`: every value becomes a list of strings.
fn to_multi_options(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    let Value::Map(m) = &mut node.value else {
        return Err(invalid(
            node,
            path,
            format!("expected a mapping, got {}", kind(node)),
        ));
    };
    for (k, v) in m.iter_mut() {
        path.with(PathSeg::Key(k.clone()), |p| to_string_list(v, p))?;
    }
    Ok(())
}

/// A ulimit is a single integer or `{soft, hard}`.
fn to_ulimit(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Map(m) => {
            for key in ["soft", "hard"] {
                if let Some(v) = m.get_mut(key) {
                    path.with(PathSeg::Key(key.to_string()), |p| {
                        if v.is_null() {
                            Ok(())
                        } else {
                            to_int(v, p)
                        }
                    })?;
                }
            }
            Ok(())
        }
        // compose-go rejects a float limit even when it is integral.
        Value::Float(_) => Err(invalid(
            node,
            path,
            format!("expected an integer, got {}", kind(node)),
        )),
        _ => to_int(node, path),
    }
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
fn parse_go_decimal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn to_int(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    match &node.value {
        Value::Int(_) => Ok(()),
        // `scale: 2.0` passes the schema; the decoder truncates it.
        Value::Float(f) if f.is_finite() => {
            node.value = Value::Int(*f as i64);
            Ok(())
        }
        Value::Str(s) => {
            let i = parse_go_decimal(s)
                .ok_or_else(|| invalid(node, path, format!("invalid integer {}", go_quote(s))))?;
            node.value = Value::Int(i);
            Ok(())
        }
        _ => Err(invalid(
            node,
            path,
            format!("expected an integer, got {}", kind(node)),
        )),
    }
}

fn to_float32(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    let f = match &node.value {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Str(s) => parse_go_float(s)
            .ok_or_else(|| invalid(node, path, format!("invalid number {}", go_quote(s))))?,
        _ => {
            return Err(invalid(
                node,
                path,
                format!("expected a number, got {}", kind(node)),
            ));
        }
    };
    // Go cannot print NaN or infinities as JSON, so they never get through.
    if !(f as f32).is_finite() {
        return Err(invalid(
            node,
            path,
            format!("invalid number {}", format_go_float(f)),
        ));
    }
    node.value = float32_node_value(f);
    Ok(())
}

fn to_bool(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    let Value::Str(s) = &node.value else {
        // `external: {name: x}` (legacy) and real booleans stay as they are.
        return Ok(());
    };
    // compose-go still accepts YAML 1.1 spellings here (with a warning).
    let b = match s.to_ascii_lowercase().as_str() {
        "true" | "y" | "yes" | "on" => true,
        "false" | "n" | "no" | "off" => false,
        _ => {
            return Err(invalid(
                node,
                path,
                format!("invalid boolean {}", go_quote(s)),
            ))
        }
    };
    node.value = Value::Bool(b);
    Ok(())
}

fn to_device_count(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    match &node.value {
        Value::Int(_) => Ok(()),
        Value::Str(s) if s.eq_ignore_ascii_case("all") => {
            node.value = Value::Int(-1);
            Ok(())
        }
        Value::Str(s) => {
            let i = parse_go_decimal(s).ok_or_else(|| {
                invalid(
                    node,
                    path,
                    format!(
                        "invalid value {}, the only value allowed is 'all' or a number",
                        go_quote(s)
                    ),
                )
            })?;
            node.value = Value::Int(i);
            Ok(())
        }
        _ => Err(invalid(
            node,
            path,
            format!("expected 'all' or a number, got {}", kind(node)),
        )),
    }
}

/// File modes print as octal strings (`0440`); a string is read as octal.
fn to_file_mode(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    let mode = match &node.value {
        Value::Int(i) => *i,
        Value::Str(s) => {
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            let parsed = if digits.is_empty() {
                None
            } else {
                i64::from_str_radix(digits, 8).ok()
            };
            match parsed {
                Some(m) if s.starts_with('-') => -m,
                Some(m) => m,
                None => {
                    return Err(invalid(
                        node,
                        path,
                        format!("invalid file mode {}", go_quote(s)),
                    ))
                }
            }
        }
        _ => {
            return Err(invalid(
                node,
                path,
                format!("expected a file mode, got {}", kind(node)),
            ))
        }
    };
    node.value = Value::Str(if mode < 0 {
        format!("0-{:o}", mode.unsigned_abs())
    } else {
        format!("0{mode:o}")
    });
    Ok(())
}

/// `blkio_config.weight_device`: `{path, weight}` items print as
/// `{Path, Weight}` (the Go struct has no JSON tags).
fn to_weight_devices(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    blkio_devices(node, path, "weight", "Weight", to_int)
}

/// `blkio_config.device_*_{bps,iops}`: `{path, rate}` items print as
/// `{Path, Rate}` with the rate as a byte-size string.
fn to_throttle_devices(node: &mut Node, path: &mut KeyPath) -> Result<(), LoadError> {
    blkio_devices(node, path, "rate", "Rate", to_bytes)
}

fn blkio_devices(
    node: &mut Node,
    path: &mut KeyPath,
    key: &str,
    printed_key: &str,
    convert: Convert,
) -> Result<(), LoadError> {
    let Value::Seq(items) = &mut node.value else {
        return Err(invalid(
            node,
            path,
            format!("expected a list, got {}", kind(node)),
        ));
    };
    for (i, item) in items.iter_mut().enumerate() {
        path.with(PathSeg::Index(i), |p| {
            blkio_device(item, p, key, printed_key, convert)
        })?;
    }
    Ok(())
}

fn blkio_device(
    item: &mut Node,
    path: &mut KeyPath,
    key: &str,
    printed_key: &str,
    convert: Convert,
) -> Result<(), LoadError> {
    let Value::Map(m) = &mut item.value else {
        return Err(invalid(
            item,
            path,
            format!("expected a mapping, got {}", kind(item)),
        ));
    };
    let mut out = Mapping::new();
    for (k, mut v) in std::mem::take(m) {
        let new_key = if k == "path" {
            "Path".to_string()
        } else if k == key {
            path.with(PathSeg::Key(k.clone()), |p| {
                if v.is_null() {
                    Ok(())
                } else {
                    convert(&mut v, p)
                }
            })?;
            printed_key.to_string()
        } else {
            k
        };
        out.insert(new_key, v);
    }
    *m = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Expected values were taken from `docker compose config --format json`
    //! (v2.40.3) run on the same input.

    use super::*;
    use crate::compose::yaml;
    use serde_json::{json, Value as J};

    fn convert_doc(src: &str) -> Result<J, LoadError> {
        let mut doc = yaml::parse(src, "compose.yaml").unwrap();
        convert(&mut doc)?;
        Ok(doc.to_json())
    }

    /// Converts a service body (indented by four spaces) and returns the
    /// service as JSON.
    fn service(body: &str) -> J {
        let src = format!("services:\n  s:\n{body}");
        convert_doc(&src).unwrap()["services"]["s"].clone()
    }

    fn service_err(body: &str) -> String {
        let src = format!("services:\n  s:\n{body}");
        convert_doc(&src).unwrap_err().to_string()
    }

    fn dur(s: &str) -> String {
        GoDuration::parse(s).unwrap().to_string()
    }

    // --- durations -------------------------------------------------------

    #[test]
    fn durations_print_like_go() {
        let cases = [
            ("90s", "1m30s"),
            ("3600s", "1h0m0s"),
            ("120s", "2m0s"),
            ("1m", "1m0s"),
            ("10s", "10s"),
            ("1h2m", "1h2m0s"),
            ("1.5h", "1h30m0s"),
            ("1h30m", "1h30m0s"),
            ("61m", "1h1m0s"),
            ("25h", "25h0m0s"),
            ("2.5s", "2.5s"),
            ("59.999s", "59.999s"),
            ("1m0.5s", "1m0.5s"),
            ("1.000000001s", "1.000000001s"),
            ("500ms", "500ms"),
            (".5s", "500ms"),
            ("1.s", "1s"),
            ("1ms", "1ms"),
            ("1234567ns", "1.234567ms"),
            ("1us", "1\u{b5}s"),
            ("1500ns", "1.5\u{b5}s"),
            ("100ns", "100ns"),
            ("0.1ns", "0s"),
            ("999999h", "999999h0m0s"),
            ("2562047h", "2562047h0m0s"),
        ];
        for (input, want) in cases {
            assert_eq!(dur(input), want, "input {input:?}");
        }
    }

    #[test]
    fn durations_accept_signs_zero_and_day_week_units() {
        assert_eq!(dur("0"), "0s");
        assert_eq!(dur("+0"), "0s");
        assert_eq!(dur("-0"), "0s");
        assert_eq!(dur("0h"), "0s");
        assert_eq!(dur("0s"), "0s");
        assert_eq!(dur("-5s"), "-5s");
        assert_eq!(dur("+5s"), "5s");
        assert_eq!(dur("-1.5h"), "-1h30m0s");
        assert_eq!(dur("1d12h"), "36h0m0s");
        assert_eq!(dur("0.5d"), "12h0m0s");
        assert_eq!(dur("1w"), "168h0m0s");
        assert_eq!(dur("1.5w"), "252h0m0s");
        assert_eq!(dur("1w2d3h"), "219h0m0s");
        assert_eq!(dur("1\u{b5}s"), "1\u{b5}s");
        assert_eq!(dur("1\u{3bc}s"), "1\u{b5}s");
    }

    #[test]
    fn invalid_durations_are_rejected_with_go_messages() {
        let cases = [
            ("5", "missing unit in duration \"5\""),
            ("1.5.5s", "missing unit in duration \"1.5.5s\""),
            ("abc", "invalid duration \"abc\""),
            ("", "invalid duration \"\""),
            ("-", "invalid duration \"-\""),
            (".s", "invalid duration \".s\""),
            ("1x", "unknown unit \"x\" in duration \"1x\""),
            ("1H", "unknown unit \"H\" in duration \"1H\""),
            ("1h 30m", "unknown unit \"h \" in duration \"1h 30m\""),
            ("1e3s", "unknown unit \"e\" in duration \"1e3s\""),
            ("2562048h", "invalid duration \"2562048h\""),
            (
                "-2562047h47m16.854775808s",
                "invalid duration \"-2562047h47m16.854775808s\"",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                GoDuration::parse(input).unwrap_err(),
                want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn std_duration_helpers_round_trip() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn service_durations_are_normalized() {
        let s = service(
            "    stop_grace_period: 3600s
    healthcheck:
      interval: 90s
      timeout: 1.5s
      start_period: 1h2m
      start_interval: 500ms
    deploy:
      restart_policy:
        delay: 5s
        window: 120s
      update_config:
        delay: 10s
        monitor: 1m
      rollback_config:
        delay: 2m
        monitor: 0s
",
        );
        assert_eq!(s["stop_grace_period"], "1h0m0s");
        assert_eq!(
            s["healthcheck"],
            json!({"interval": "1m30s", "timeout": "1.5s", "start_period": "1h2m0s", "start_interval": "500ms"})
        );
        assert_eq!(
            s["deploy"]["restart_policy"],
            json!({"delay": "5s", "window": "2m0s"})
        );
        assert_eq!(
            s["deploy"]["update_config"],
            json!({"delay": "10s", "monitor": "1m0s"})
        );
        assert_eq!(
            s["deploy"]["rollback_config"],
            json!({"delay": "2m0s", "monitor": "0s"})
        );
    }

    #[test]
    fn bad_duration_error_names_file_line_and_path() {
        let err = service_err("    image: x\n    healthcheck:\n      interval: 10\n");
        assert_eq!(
            err,
            "compose.yaml:5: services.s.healthcheck.interval: missing unit in duration \"10\""
        );
    }

    // --- byte sizes ------------------------------------------------------

    #[test]
    fn byte_sizes_parse_like_ram_in_bytes() {
        let cases = [
            ("1g", 1_073_741_824),
            ("512m", 536_870_912),
            ("1.5gb", 1_610_612_736),
            ("100k", 102_400),
            ("2048", 2048),
            ("1GiB", 1_073_741_824),
            ("1 GB", 1_073_741_824),
            ("1b", 1),
            ("1B", 1),
            ("1.5", 1),
            ("1kib", 1024),
            ("1tb", 1_099_511_627_776),
            ("1p", 1_125_899_906_842_624),
            ("1e3", 1000),
            ("0", 0),
            ("50M", 52_428_800),
            ("12mb", 12_582_912),
            // Go's float → int64 conversion overflows to the minimum.
            ("9223372036854775807", i64::MIN),
        ];
        for (input, want) in cases {
            assert_eq!(parse_bytes(input), Ok(want), "input {input:?}");
        }
    }

    #[test]
    fn invalid_byte_sizes_are_rejected() {
        for input in [
            "-1", "-1m", "", "1zz", "8e", "1.5.5m", " 1m", "1m ", "0x10", "1kbb", "1ABCD", "1e400",
        ] {
            assert!(parse_bytes(input).is_err(), "input {input:?} should fail");
        }
        assert_eq!(
            parse_bytes("1zz").unwrap_err(),
            "invalid size \"1zz\": unknown suffix \"zz\""
        );
        assert_eq!(
            parse_bytes("-1").unwrap_err(),
            "invalid size \"-1\": negative"
        );
    }

    #[test]
    fn service_sizes_print_as_decimal_strings() {
        let s = service(
            "    mem_limit: 1g
    memswap_limit: 1.5gb
    mem_reservation: 100k
    shm_size: 2048
    mem_swappiness: 60
    build:
      context: .
      shm_size: 1g
    deploy:
      resources:
        limits:
          memory: 1.5g
        reservations:
          memory: \"1024\"
    volumes:
      - type: tmpfs
        target: /t
        tmpfs:
          size: 1m
",
        );
        assert_eq!(s["mem_limit"], "1073741824");
        assert_eq!(s["memswap_limit"], "1610612736");
        assert_eq!(s["mem_reservation"], "102400");
        assert_eq!(s["shm_size"], "2048");
        assert_eq!(s["mem_swappiness"], "60");
        assert_eq!(s["build"]["shm_size"], "1073741824");
        assert_eq!(s["deploy"]["resources"]["limits"]["memory"], "1610612736");
        assert_eq!(s["deploy"]["resources"]["reservations"]["memory"], "1024");
        assert_eq!(s["volumes"][0]["tmpfs"]["size"], "1048576");
    }

    #[test]
    fn negative_integer_sizes_are_kept_and_float_sizes_are_zero() {
        let s = service("    mem_limit: -1\n    shm_size: 1.5\n");
        assert_eq!(s["mem_limit"], "-1");
        assert_eq!(s["shm_size"], "0");
    }

    #[test]
    fn bad_size_error_names_path_and_value() {
        let err = service_err("    image: x\n    mem_limit: 1zz\n");
        assert!(
            err.starts_with("compose.yaml:4: services.s.mem_limit: "),
            "{err}"
        );
        assert!(err.contains("\"1zz\""), "{err}");
    }

    #[test]
    fn blkio_devices_print_go_field_names_and_byte_rates() {
        let s = service(
            "    blkio_config:
      weight: 300
      weight_device:
        - path: /dev/sda
          weight: 400
      device_read_bps:
        - path: /dev/sda
          rate: 12mb
      device_write_bps:
        - path: /dev/sda
          rate: 1024
      device_read_iops:
        - path: /dev/sda
          rate: 120
      device_write_iops:
        - path: /dev/sda
          rate: \"30\"
",
        );
        assert_eq!(
            s["blkio_config"],
            json!({
                "weight": 300,
                "weight_device": [{"Path": "/dev/sda", "Weight": 400}],
                "device_read_bps": [{"Path": "/dev/sda", "Rate": "12582912"}],
                "device_write_bps": [{"Path": "/dev/sda", "Rate": "1024"}],
                "device_read_iops": [{"Path": "/dev/sda", "Rate": "120"}],
                "device_write_iops": [{"Path": "/dev/sda", "Rate": "30"}],
            })
        );
    }

    // --- commands --------------------------------------------------------

    fn words(line: &str) -> Vec<String> {
        split_command(line).unwrap()
    }

    #[test]
    fn commands_split_like_go_shellwords() {
        let cases: &[(&str, &[&str])] = &[
            (
                r#"echo "hello world" 'a b' c\ d"#,
                &["echo", "hello world", "a b", "c d"],
            ),
            (r#"echo "a\"b" x\ y"#, &["echo", "a\"b", "x y"]),
            (
                r#"echo "a\nb" "a\\b" x\ny"#,
                &["echo", "anb", "a\\b", "xny"],
            ),
            (r"echo 'a\b' 'it''s'", &["echo", "a\\b", "its"]),
            (r#"echo 'a"b' "a'b""#, &["echo", "a\"b", "a'b"]),
            (r#"sh -c "echo a; echo b""#, &["sh", "-c", "echo a; echo b"]),
            (r#"echo "a;b" c"#, &["echo", "a;b", "c"]),
            (r#"a"b c"d"#, &["ab cd"]),
            (r#""""#, &[""]),
            (r#"echo "" b"#, &["echo", "", "b"]),
            ("echo\ttab", &["echo", "tab"]),
            ("a\r\nb", &["a", "b"]),
            ("x\u{a0}y", &["x\u{a0}y"]),
            ("echo #comment", &["echo", "#comment"]),
            (r"echo a\\nb", &["echo", "a\\nb"]),
            ("echo $HOME `date`", &["echo", "$HOME", "`date`"]),
            ("echo $(a b)c d", &["echo", "$(a b)c", "d"]),
            ("/bin/sh -c", &["/bin/sh", "-c"]),
        ];
        for (line, want) in cases {
            assert_eq!(words(line), *want, "line {line:?}");
        }
    }

    #[test]
    fn commands_stop_at_unquoted_shell_operators() {
        let cases: &[(&str, &[&str])] = &[
            ("echo a; echo b", &["echo", "a"]),
            ("echo a && b", &["echo", "a"]),
            ("echo a|b", &["echo", "a"]),
            ("echo 2>&1", &["echo"]),
            ("echo a 2>/dev/null", &["echo", "a"]),
            ("a 12>x", &["a"]),
            ("a b2>x", &["a", "b2"]),
            ("echo x>y", &["echo", "x"]),
            ("a > b", &["a"]),
            ("2>x", &[]),
            (";a", &[]),
            ("a;", &["a"]),
            (r"a\;b", &["a;b"]),
            ("", &[]),
            ("   ", &[]),
        ];
        for (line, want) in cases {
            assert_eq!(words(line), *want, "line {line:?}");
        }
    }

    #[test]
    fn malformed_command_lines_are_rejected() {
        for line in [
            r#"echo "unterminated"#,
            "echo 'unterminated",
            r"a\",
            "echo (a)",
            "x ) y",
            "x $(a",
            "x `a",
        ] {
            assert!(split_command(line).is_err(), "line {line:?} should fail");
        }
    }

    #[test]
    fn service_commands_become_lists() {
        let s = service(
            "    command: echo \"hello world\"
    entrypoint: [\"/bin/sh\", -c, 1]
    post_start:
      - command: echo \"a b\" c
    pre_stop:
      - command: [x, y]
",
        );
        assert_eq!(s["command"], json!(["echo", "hello world"]));
        assert_eq!(s["entrypoint"], json!(["/bin/sh", "-c", "1"]));
        assert_eq!(s["post_start"][0]["command"], json!(["echo", "a b", "c"]));
        assert_eq!(s["pre_stop"][0]["command"], json!(["x", "y"]));
    }

    #[test]
    fn null_and_empty_commands_are_kept() {
        let s = service("    command: null\n    entrypoint: \"\"\n");
        assert_eq!(s["command"], J::Null);
        assert_eq!(s["entrypoint"], json!([]));
    }

    #[test]
    fn malformed_command_error_names_path() {
        let err = service_err("    image: x\n    command: echo \"oops\n");
        assert!(
            err.starts_with("compose.yaml:4: services.s.command: invalid command line"),
            "{err}"
        );
    }

    #[test]
    fn healthcheck_test_string_becomes_cmd_shell() {
        let cases = [
            ("curl -f http://x", json!(["CMD-SHELL", "curl -f http://x"])),
            ("NONE", json!(["CMD-SHELL", "NONE"])),
            ("\"a; b\"", json!(["CMD-SHELL", "a; b"])),
            ("\"\"", json!(["CMD-SHELL", ""])),
            ("[\"NONE\"]", json!(["NONE"])),
            ("[\"CMD\", \"a b\"]", json!(["CMD", "a b"])),
        ];
        for (test, want) in cases {
            let s = service(&format!("    healthcheck:\n      test: {test}\n"));
            assert_eq!(s["healthcheck"]["test"], want, "test {test}");
        }
    }

    #[test]
    fn healthcheck_string_fields_are_cast() {
        let s = service("    healthcheck:\n      retries: \"3\"\n      disable: \"true\"\n");
        assert_eq!(s["healthcheck"], json!({"retries": 3, "disable": true}));
    }

    // --- mappings --------------------------------------------------------

    #[test]
    fn environment_list_becomes_mapping_with_null_for_bare_keys() {
        let s = service("    environment:\n      - A=1\n      - B\n      - C=\n      - D=x=y\n");
        assert_eq!(
            s["environment"],
            json!({"A": "1", "B": null, "C": "", "D": "x=y"})
        );
    }

    #[test]
    fn environment_map_values_print_like_go() {
        let s = service(
            "    environment:
      A: 1
      B: 1.0
      C: 0x10
      D: true
      E: null
      F: \"\"
      G: 1e21
      H: 0.1
      I: 1.5e-7
      K: 123456789012
      L: .inf
      M: 1000000.0
      N: 123456.0
      O: 1234567.5
      P: 0.0001
      Q: 0.00001
      R: -0.0
",
        );
        assert_eq!(
            s["environment"],
            json!({
                "A": "1", "B": "1", "C": "16", "D": "true", "E": null, "F": "",
                "G": "1e+21", "H": "0.1", "I": "1.5e-07", "K": "123456789012", "L": "+Inf",
                "M": "1e+06", "N": "123456", "O": "1.2345675e+06", "P": "0.0001",
                "Q": "1e-05", "R": "-0",
            })
        );
    }

    #[test]
    fn labels_and_string_maps_use_empty_string_for_missing_values() {
        let s = service(
            "    labels:
      - a=b
      - c
    annotations:
      - a=1
      - b
      - c=
    sysctls:
      a: 1
      b: null
      c: 1.0
    storage_opt:
      size: 1
    logging:
      driver: json-file
      options:
        max-size: 10m
        max-file: 3
        x: null
        y: 1.0
    deploy:
      labels:
        - a=b
        - c
",
        );
        assert_eq!(s["labels"], json!({"a": "b", "c": ""}));
        assert_eq!(s["annotations"], json!({"a": "1", "b": "", "c": ""}));
        assert_eq!(s["sysctls"], json!({"a": "1", "b": "", "c": "1"}));
        assert_eq!(s["storage_opt"], json!({"size": "1"}));
        assert_eq!(
            s["logging"]["options"],
            json!({"max-size": "10m", "max-file": "3", "x": "", "y": "1"})
        );
        assert_eq!(s["deploy"]["labels"], json!({"a": "b", "c": ""}));
    }

    #[test]
    fn build_args_keep_null_and_build_labels_do_not() {
        let s = service(
            "    build:
      context: .
      args:
        - A=1
        - B
        - C=
      labels:
        - a=1
        - b
",
        );
        assert_eq!(s["build"]["args"], json!({"A": "1", "B": null, "C": ""}));
        assert_eq!(s["build"]["labels"], json!({"a": "1", "b": ""}));
        let s =
            service("    build:\n      args:\n        A: 1\n        B: null\n        C: true\n");
        assert_eq!(
            s["build"]["args"],
            json!({"A": "1", "B": null, "C": "true"})
        );
    }

    #[test]
    fn top_level_labels_and_driver_opts_become_string_maps() {
        let doc = convert_doc(
            "networks:
  n:
    labels: [a=1, b]
    driver_opts:
      x: 1
      y: 2.50
    ipam:
      config:
        - subnet: 10.0.0.0/24
          aux_addresses:
            a: 1.2.3.4
volumes:
  v:
    labels:
      a: 1
      b: null
    driver_opts:
      x: 1.0
services:
  s:
    networks:
      n:
        driver_opts:
          a: 1
    volumes:
      - type: volume
        source: v
        target: /v
        volume:
          labels: [a=1, b]
",
        )
        .unwrap();
        assert_eq!(doc["networks"]["n"]["labels"], json!({"a": "1", "b": ""}));
        assert_eq!(
            doc["networks"]["n"]["driver_opts"],
            json!({"x": "1", "y": "2.5"})
        );
        assert_eq!(
            doc["networks"]["n"]["ipam"]["config"][0]["aux_addresses"],
            json!({"a": "1.2.3.4"})
        );
        assert_eq!(doc["volumes"]["v"]["labels"], json!({"a": "1", "b": ""}));
        assert_eq!(doc["volumes"]["v"]["driver_opts"], json!({"x": "1"}));
        let s = &doc["services"]["s"];
        assert_eq!(s["networks"]["n"]["driver_opts"], json!({"a": "1"}));
        assert_eq!(
            s["volumes"][0]["volume"]["labels"],
            json!({"a": "1", "b": ""})
        );
    }

    #[test]
    fn provider_options_become_lists_of_strings() {
        let s = service(
            "    provider:\n      type: x\n      options:\n        a: 1\n        b: [1, x, true]\n",
        );
        assert_eq!(
            s["provider"]["options"],
            json!({"a": ["1"], "b": ["1", "x", "true"]})
        );
    }

    #[test]
    fn nested_mapping_value_is_an_error_with_its_path() {
        let err = service_err("    image: x\n    labels:\n      a:\n        b: c\n");
        assert_eq!(
            err,
            "compose.yaml:5: services.s.labels.a: expected a string, got a mapping"
        );
    }

    // --- numbers, booleans, lists ---------------------------------------

    #[test]
    fn ulimits_keep_single_values_and_cast_strings() {
        let s = service(
            "    ulimits:
      nproc: 65535
      nofile:
        soft: 20000
        hard: 40000
      b: \"12\"
      c: {soft: \"1\", hard: 2}
      d: -1
    build:
      ulimits:
        nofile: \"5\"
",
        );
        assert_eq!(
            s["ulimits"],
            json!({"nproc": 65535, "nofile": {"soft": 20000, "hard": 40000}, "b": 12, "c": {"soft": 1, "hard": 2}, "d": -1})
        );
        assert_eq!(s["build"]["ulimits"], json!({"nofile": 5}));
    }

    #[test]
    fn numeric_strings_become_numbers() {
        let s = service(
            "    cpu_count: \"2\"
    pids_limit: \"5\"
    oom_score_adj: \"-500\"
    scale: \"2\"
    cpu_percent: \"50\"
    cpus: \"0.5\"
    cpu_period: \"100\"
    deploy:
      replicas: \"3\"
      restart_policy:
        max_attempts: \"3\"
      update_config:
        parallelism: \"2\"
        max_failure_ratio: \"0.5\"
      placement:
        max_replicas_per_node: \"4\"
      resources:
        limits:
          cpus: \"0.333333333\"
          pids: \"10\"
        reservations:
          cpus: 2
",
        );
        assert_eq!(s["cpu_count"], 2);
        assert_eq!(s["pids_limit"], 5);
        assert_eq!(s["oom_score_adj"], -500);
        assert_eq!(s["scale"], 2);
        assert_eq!(s["cpu_percent"], 50);
        assert_eq!(s["cpus"], 0.5);
        assert_eq!(s["cpu_period"], 100);
        let d = &s["deploy"];
        assert_eq!(d["replicas"], 3);
        assert_eq!(d["restart_policy"]["max_attempts"], 3);
        assert_eq!(
            d["update_config"],
            json!({"parallelism": 2, "max_failure_ratio": 0.5})
        );
        assert_eq!(d["placement"]["max_replicas_per_node"], 4);
        assert_eq!(
            d["resources"]["limits"],
            json!({"cpus": 0.33333334, "pids": 10})
        );
        assert_eq!(d["resources"]["reservations"]["cpus"], 2);
    }

    #[test]
    fn cpus_are_rounded_to_float32_like_go() {
        assert_eq!(service("    cpus: 0.123456789\n")["cpus"], 0.12345679);
        assert_eq!(service("    cpus: 1.5\n")["cpus"], 1.5);
        assert_eq!(service("    cpus: 0.1\n")["cpus"], 0.1);
        assert_eq!(service("    cpus: 2.0\n")["cpus"], 2);
    }

    #[test]
    fn non_finite_cpus_are_rejected() {
        for v in ["\"nan\"", ".inf", "\"1e39\""] {
            let err = service_err(&format!("    image: x\n    cpus: {v}\n"));
            assert!(
                err.starts_with("compose.yaml:4: services.s.cpus: invalid number"),
                "{err}"
            );
        }
    }

    #[test]
    fn invalid_numeric_string_is_an_error() {
        let err = service_err("    image: x\n    cpu_count: lots\n");
        assert_eq!(
            err,
            "compose.yaml:4: services.s.cpu_count: invalid integer \"lots\""
        );
        let err = service_err("    image: x\n    cpus: fast\n");
        assert_eq!(
            err,
            "compose.yaml:4: services.s.cpus: invalid number \"fast\""
        );
    }

    #[test]
    fn boolean_strings_become_booleans() {
        let s = service(
            "    tty: \"true\"
    privileged: \"yes\"
    init: \"off\"
    read_only: \"TRUE\"
    stdin_open: \"on\"
    oom_kill_disable: false
",
        );
        assert_eq!(s["tty"], true);
        assert_eq!(s["privileged"], true);
        assert_eq!(s["init"], false);
        assert_eq!(s["read_only"], true);
        assert_eq!(s["stdin_open"], true);
        assert_eq!(s["oom_kill_disable"], false);
        let err = service_err("    image: x\n    tty: maybe\n");
        assert_eq!(
            err,
            "compose.yaml:4: services.s.tty: invalid boolean \"maybe\""
        );
    }

    #[test]
    fn top_level_external_strings_become_booleans_and_maps_stay() {
        let doc = convert_doc(
            "networks:\n  n:\n    external: \"true\"\n  m:\n    internal: \"false\"\n    attachable: \"yes\"\nvolumes:\n  v:\n    external:\n      name: x\n",
        )
        .unwrap();
        assert_eq!(doc["networks"]["n"]["external"], true);
        assert_eq!(doc["networks"]["m"]["internal"], false);
        assert_eq!(doc["networks"]["m"]["attachable"], true);
        assert_eq!(doc["volumes"]["v"]["external"], json!({"name": "x"}));
    }

    #[test]
    fn device_counts_accept_all_and_numeric_strings() {
        let s = service(
            "    deploy:
      resources:
        reservations:
          devices:
            - capabilities: [gpu]
              count: all
            - capabilities: [gpu]
              count: \"2\"
              options:
                a: 1
    gpus:
      - driver: nvidia
        count: 2
      - count: ALL
",
        );
        assert_eq!(
            s["deploy"]["resources"]["reservations"]["devices"],
            json!([{"capabilities": ["gpu"], "count": -1}, {"capabilities": ["gpu"], "count": 2, "options": {"a": "1"}}])
        );
        assert_eq!(
            s["gpus"],
            json!([{"driver": "nvidia", "count": 2}, {"count": -1}])
        );
        let err = service_err("    image: x\n    gpus:\n      - count: some\n");
        assert!(
            err.starts_with("compose.yaml:5: services.s.gpus[0].count: "),
            "{err}"
        );
    }

    #[test]
    fn file_modes_print_as_octal_strings() {
        let s = service(
            "    secrets:
      - source: a
        mode: 0440
      - source: b
        mode: \"0440\"
      - source: c
        mode: 288
    configs:
      - source: c
        mode: \"440\"
",
        );
        let modes: Vec<&J> = s["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| &x["mode"])
            .collect();
        assert_eq!(modes, [&json!("0440"), &json!("0440"), &json!("0440")]);
        assert_eq!(s["configs"][0]["mode"], "0440");
    }

    #[test]
    fn string_lists_accept_a_single_string_and_numbers() {
        let s = service(
            "    tmpfs: /run
    dns: 8.8.8.8
    dns_search: example.com
    expose: [80, \"90\", 100-200]
    group_add: [1000, mail]
    build:
      tags: x:1
",
        );
        assert_eq!(s["tmpfs"], json!(["/run"]));
        assert_eq!(s["dns"], json!(["8.8.8.8"]));
        assert_eq!(s["dns_search"], json!(["example.com"]));
        assert_eq!(s["expose"], json!(["80", "90", "100-200"]));
        assert_eq!(s["group_add"], json!(["1000", "mail"]));
        assert_eq!(s["build"]["tags"], json!(["x:1"]));
    }

    // --- the walker ------------------------------------------------------

    #[test]
    fn conversion_is_idempotent() {
        let src = "services:
  s:
    command: echo \"a b\"
    healthcheck:
      test: curl x
      interval: 90s
    mem_limit: 1g
    environment: [A=1, B]
    labels: [a]
    blkio_config:
      device_read_bps:
        - path: /dev/sda
          rate: 1m
    secrets:
      - source: a
        mode: 0440
    cpus: \"0.5\"
    tmpfs: /run
";
        let mut doc = yaml::parse(src, "compose.yaml").unwrap();
        convert(&mut doc).unwrap();
        let once = doc.to_json();
        convert(&mut doc).unwrap();
        assert_eq!(doc.to_json(), once);
    }

    #[test]
    fn null_values_and_other_keys_are_left_alone() {
        let s = service(
            "    image: nginx
    mem_limit: null
    environment: null
    x-custom:
      mem_limit: 1g
      command: a b
",
        );
        assert_eq!(s["mem_limit"], J::Null);
        assert_eq!(s["environment"], J::Null);
        assert_eq!(s["image"], "nginx");
        assert_eq!(s["x-custom"], json!({"mem_limit": "1g", "command": "a b"}));
    }

    #[test]
    fn patterns_expand_wildcards_and_list_items() {
        assert_eq!(
            parse_pattern("services.*.post_start[].command"),
            vec![
                PatternSeg::Key("services"),
                PatternSeg::AnyKey,
                PatternSeg::Key("post_start"),
                PatternSeg::AnyIndex,
                PatternSeg::Key("command"),
            ]
        );
    }

    #[test]
    fn every_rule_pattern_is_well_formed() {
        for r in RULES {
            let segs = parse_pattern(r.pattern);
            assert!(
                segs.iter()
                    .all(|s| !matches!(s, PatternSeg::Key(k) if k.is_empty() || k.contains('['))),
                "bad pattern {}",
                r.pattern
            );
        }
    }

    #[test]
    fn go_float_formatting_matches_fmt_sprint() {
        let cases = [
            (1.0, "1"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e6, "1e+06"),
            (123456.0, "123456"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (-0.0, "-0"),
            (2.5, "2.5"),
            (-1234567.0, "-1.234567e+06"),
            (1e100, "1e+100"),
        ];
        for (f, want) in cases {
            assert_eq!(format_go_float(f), want, "float {f}");
        }
    }

    // --- more cases checked against the reference -------------------------

    #[test]
    fn later_list_entries_win_for_duplicate_keys() {
        let s = service("    environment: [A=1, B=x, A=2]\n    labels: [a=1, a=2]\n");
        assert_eq!(s["environment"], json!({"A": "2", "B": "x"}));
        assert_eq!(s["labels"], json!({"a": "2"}));
    }

    #[test]
    fn sizes_with_a_space_before_the_unit() {
        let s = service("    shm_size: 2.5 MiB\n    mem_limit: \"1 kb\"\n");
        assert_eq!(s["shm_size"], "2621440");
        assert_eq!(s["mem_limit"], "1024");
    }

    #[test]
    fn negative_sub_second_durations_print_like_go() {
        assert_eq!(dur("-1.5ms"), "-1.5ms");
        assert_eq!(dur("-100ns"), "-100ns");
        assert_eq!(
            service("    stop_grace_period: \"-1.5ms\"\n")["stop_grace_period"],
            "-1.5ms"
        );
    }

    #[test]
    fn go_duration_converts_to_and_from_std() {
        assert_eq!(
            GoDuration::parse("1h").unwrap().to_std(),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(GoDuration::parse("-1h").unwrap().to_std(), None);
        assert_eq!(
            GoDuration::from_std(Duration::from_millis(1500)),
            GoDuration(1_500_000_000)
        );
        assert_eq!(GoDuration::from_std(Duration::MAX), GoDuration(i64::MAX));
    }

    #[test]
    fn float32_ratios_are_cast_and_rounded() {
        let s = service(
            "    cpu_percent: \"12\"
    deploy:
      update_config:
        max_failure_ratio: 0.1
      rollback_config:
        max_failure_ratio: \"0.3\"
",
        );
        assert_eq!(s["cpu_percent"], 12);
        assert_eq!(s["deploy"]["update_config"]["max_failure_ratio"], 0.1);
        assert_eq!(s["deploy"]["rollback_config"]["max_failure_ratio"], 0.3);
    }

    #[test]
    fn more_boolean_fields_accept_strings() {
        let s = service(
            "    attach: \"false\"
    build:
      context: .
      pull: \"true\"
      no_cache: \"yes\"
      privileged: \"true\"
    volumes:
      - type: bind
        source: /a
        target: /b
        read_only: \"true\"
        bind:
          create_host_path: \"false\"
      - type: volume
        source: v
        target: /v
        volume:
          nocopy: \"true\"
",
        );
        assert_eq!(s["attach"], false);
        assert_eq!(
            s["build"],
            json!({"context": ".", "pull": true, "no_cache": true, "privileged": true})
        );
        assert_eq!(s["volumes"][0]["read_only"], true);
        assert_eq!(s["volumes"][0]["bind"]["create_host_path"], false);
        assert_eq!(s["volumes"][1]["volume"]["nocopy"], true);
    }

    #[test]
    fn ulimit_error_points_at_the_bad_limit() {
        let err = service_err("    image: x\n    ulimits:\n      nofile:\n        soft: many\n");
        assert_eq!(
            err,
            "compose.yaml:6: services.s.ulimits.nofile.soft: invalid integer \"many\""
        );
    }

    #[test]
    fn environment_list_item_that_is_not_a_scalar_is_an_error() {
        let err = service_err("    image: x\n    environment:\n      - A=1\n      - {B: 2}\n");
        assert_eq!(
            err,
            "compose.yaml:6: services.s.environment[1]: expected KEY=VALUE, got a mapping"
        );
    }

    #[test]
    fn wrong_shapes_are_errors_naming_what_was_expected() {
        let err = service_err("    image: x\n    stop_grace_period: [1s]\n");
        assert_eq!(
            err,
            "compose.yaml:4: services.s.stop_grace_period: expected a duration, got a list"
        );
        let err = service_err("    image: x\n    command: {a: b}\n");
        assert_eq!(
            err,
            "compose.yaml:4: services.s.command: expected a command, got a mapping"
        );
        let err = service_err("    image: x\n    shm_size: true\n");
        assert_eq!(
            err,
            "compose.yaml:4: services.s.shm_size: expected a byte size, got a boolean"
        );
        let err = service_err("    image: x\n    labels: yes-please\n");
        assert_eq!(
            err,
            "compose.yaml:4: services.s.labels: expected a mapping or a list, got a string"
        );
    }

    #[test]
    fn invalid_file_mode_is_an_error() {
        let err =
            service_err("    image: x\n    secrets:\n      - source: a\n        mode: \"0999\"\n");
        assert_eq!(
            err,
            "compose.yaml:6: services.s.secrets[0].mode: invalid file mode \"0999\""
        );
    }

    #[test]
    fn hook_environment_is_an_env_mapping() {
        let s = service(
            "    post_start:
      - command: echo \"a b\" c
        user: root
        environment:
          - A=1
          - B
",
        );
        assert_eq!(
            s["post_start"][0],
            json!({"command": ["echo", "a b", "c"], "user": "root", "environment": {"A": "1", "B": null}})
        );
    }

    #[test]
    fn limit_device_counts_are_converted_too() {
        let s = service(
            "    deploy:\n      resources:\n        limits:\n          devices:\n            - count: \"all\"\n",
        );
        assert_eq!(
            s["deploy"]["resources"]["limits"]["devices"][0]["count"],
            -1
        );
    }

    #[test]
    fn top_level_secret_and_config_labels_become_string_maps() {
        let doc = convert_doc(
            "secrets:\n  s:\n    file: ./x\n    labels: [a=1]\nconfigs:\n  c:\n    file: ./x\n    labels:\n      a: null\n      b: 2\n",
        )
        .unwrap();
        assert_eq!(doc["secrets"]["s"]["labels"], json!({"a": "1"}));
        assert_eq!(doc["configs"]["c"]["labels"], json!({"a": "", "b": "2"}));
    }

    #[test]
    fn additional_contexts_list_becomes_mapping() {
        let s =
            service("    build:\n      context: .\n      additional_contexts:\n        - a=b\n");
        assert_eq!(s["build"]["additional_contexts"], json!({"a": "b"}));
    }

    #[test]
    fn tmpfs_size_integer_prints_as_string() {
        let s = service("    volumes:\n      - type: tmpfs\n        target: /t\n        tmpfs:\n          size: 100\n");
        assert_eq!(s["volumes"][0]["tmpfs"]["size"], "100");
    }

    #[test]
    fn healthcheck_test_list_items_become_strings() {
        let s = service("    healthcheck:\n      test: [CMD, sleep, 1]\n");
        assert_eq!(s["healthcheck"]["test"], json!(["CMD", "sleep", "1"]));
    }

    #[test]
    fn converted_values_keep_their_source_line() {
        let mut doc = yaml::parse(
            "services:\n  s:\n    environment:\n      - A=1\n    command: a b\n",
            "compose.yaml",
        )
        .unwrap();
        convert(&mut doc).unwrap();
        let s = doc.get("services").and_then(|n| n.get("s")).unwrap();
        assert_eq!(
            s.get("environment")
                .and_then(|e| e.get("A"))
                .unwrap()
                .pos
                .line,
            4
        );
        assert_eq!(
            s.get("command").and_then(|c| c.as_seq()).unwrap()[1]
                .pos
                .line,
            5
        );
    }

    #[test]
    fn integral_floats_become_integers_except_ulimits() {
        let s = service("    scale: 2.0\n    cpu_count: 2.0\n    deploy:\n      replicas: 2.0\n");
        assert_eq!(s["scale"], 2);
        assert_eq!(s["cpu_count"], 2);
        assert_eq!(s["deploy"]["replicas"], 2);
        let err = service_err("    image: x\n    ulimits:\n      nofile: 2.0\n");
        assert_eq!(
            err,
            "compose.yaml:5: services.s.ulimits.nofile: expected an integer, got a number"
        );
    }

    #[test]
    fn every_rule_starts_at_a_top_level_section() {
        for r in RULES {
            let top = r.pattern.split('.').next().unwrap_or_default();
            assert!(
                ["services", "networks", "volumes", "secrets", "configs"].contains(&top),
                "unexpected root in {}",
                r.pattern
            );
        }
    }
}
