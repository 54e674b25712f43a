//! Merging compose documents (`-f a.yaml -f b.yaml`, `extends`) the way
//! Docker Compose v2 does.
//!
//! Compose merges the raw YAML trees before they are canonicalized, so both
//! short and long syntaxes meet here. The rules live in two tables keyed by
//! path patterns (`services.*.ports`): [`MERGE_RULES`] says how two values at
//! a path combine, [`UNIQUE_RULES`] says how sequence entries are identified
//! so that a later definition replaces an earlier one in place
//! (compose-go's `EnforceUnicity`). Everything else follows the defaults:
//! mappings merge key by key, sequences append, scalars are replaced, and a
//! `null` override keeps the base value.
//!
//! `!reset` removes the inherited value and `!override` replaces it without
//! merging; both tags are consumed here.

use super::error::LoadError;
use super::yaml::{pattern_matches, Mapping, MergeTag, Node, Pos, Value};

/// How two values found at the same path are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MergeRule {
    /// The override replaces the base (`command`, `entrypoint`, ...).
    Replace,
    /// Both sides are turned into `key=value` sequences and appended; the
    /// unicity pass then keeps the last definition of each key.
    ToSequence,
    /// Like [`MergeRule::ToSequence`] but drops exact duplicates instead.
    ExtraHosts,
    /// List form becomes `{name: {condition: service_started, required: true}}`,
    /// then mappings merge.
    DependsOn,
    /// List form becomes `{name: null}`, then mappings merge.
    ToMapping,
    /// A string is `{context: string}`, then mappings merge.
    Build,
    /// Options merge only when both sides use the same driver (or one has none).
    Logging,
    /// Each ulimit is taken whole from the override.
    Ulimit,
    /// IPAM pools are matched by subnet.
    IpamConfig,
}

/// Path patterns → merge rule; `*` matches any one key.
const MERGE_RULES: &[(&str, MergeRule)] = &[
    ("networks.*.ipam.config", MergeRule::IpamConfig),
    ("networks.*.labels", MergeRule::ToSequence),
    ("volumes.*.labels", MergeRule::ToSequence),
    ("services.*.annotations", MergeRule::ToSequence),
    ("services.*.build", MergeRule::Build),
    ("services.*.build.args", MergeRule::ToSequence),
    (
        "services.*.build.additional_contexts",
        MergeRule::ToSequence,
    ),
    ("services.*.build.extra_hosts", MergeRule::ExtraHosts),
    ("services.*.build.labels", MergeRule::ToSequence),
    ("services.*.command", MergeRule::Replace),
    ("services.*.depends_on", MergeRule::DependsOn),
    ("services.*.deploy.labels", MergeRule::ToSequence),
    ("services.*.dns", MergeRule::ToSequence),
    ("services.*.dns_opt", MergeRule::ToSequence),
    ("services.*.dns_search", MergeRule::ToSequence),
    ("services.*.entrypoint", MergeRule::Replace),
    ("services.*.env_file", MergeRule::ToSequence),
    ("services.*.label_file", MergeRule::ToSequence),
    ("services.*.environment", MergeRule::ToSequence),
    ("services.*.extra_hosts", MergeRule::ExtraHosts),
    ("services.*.healthcheck.test", MergeRule::Replace),
    ("services.*.labels", MergeRule::ToSequence),
    ("services.*.volumes.*.volume.labels", MergeRule::ToSequence),
    ("services.*.logging", MergeRule::Logging),
    ("services.*.models", MergeRule::ToMapping),
    ("services.*.networks", MergeRule::ToMapping),
    ("services.*.sysctls", MergeRule::ToSequence),
    ("services.*.tmpfs", MergeRule::ToSequence),
    ("services.*.ulimits.*", MergeRule::Ulimit),
];

/// How an entry of a de-duplicated sequence is identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryKey {
    /// `KEY=value` or `KEY`: the part before `=`.
    KeyValue,
    /// The mount target, from either syntax.
    VolumeTarget,
    /// The container path of a device mapping.
    DeviceTarget,
    /// The port as written.
    Expose,
    /// The mount target, defaulting to `<dir>/<source>`.
    Mount(&'static str),
    /// host ip, published port, target port and protocol.
    Port,
    /// The env file path.
    EnvFile,
}

/// Path patterns → how entries of the sequence there are identified.
const UNIQUE_RULES: &[(&str, EntryKey)] = &[
    ("networks.*.labels", EntryKey::KeyValue),
    ("networks.*.ipam.options", EntryKey::KeyValue),
    ("services.*.annotations", EntryKey::KeyValue),
    ("services.*.build.args", EntryKey::KeyValue),
    ("services.*.build.additional_contexts", EntryKey::KeyValue),
    ("services.*.build.tags", EntryKey::KeyValue),
    ("services.*.build.labels", EntryKey::KeyValue),
    ("services.*.cap_add", EntryKey::KeyValue),
    ("services.*.cap_drop", EntryKey::KeyValue),
    ("services.*.devices", EntryKey::DeviceTarget),
    ("services.*.configs", EntryKey::Mount("")),
    ("services.*.deploy.labels", EntryKey::KeyValue),
    ("services.*.dns", EntryKey::KeyValue),
    ("services.*.dns_opt", EntryKey::KeyValue),
    ("services.*.dns_search", EntryKey::KeyValue),
    ("services.*.environment", EntryKey::KeyValue),
    ("services.*.env_file", EntryKey::EnvFile),
    ("services.*.expose", EntryKey::Expose),
    ("services.*.labels", EntryKey::KeyValue),
    ("services.*.links", EntryKey::KeyValue),
    ("services.*.networks.*.aliases", EntryKey::KeyValue),
    ("services.*.networks.*.link_local_ips", EntryKey::KeyValue),
    ("services.*.ports", EntryKey::Port),
    ("services.*.profiles", EntryKey::KeyValue),
    ("services.*.secrets", EntryKey::Mount("/run/secrets")),
    ("services.*.sysctls", EntryKey::KeyValue),
    ("services.*.tmpfs", EntryKey::KeyValue),
    ("services.*.volumes", EntryKey::VolumeTarget),
];

fn merge_rule(path: &[String]) -> Option<MergeRule> {
    MERGE_RULES
        .iter()
        .find(|(p, _)| pattern_matches(p, path.iter().map(|k| Some(k.as_str()))))
        .map(|(_, r)| *r)
}

fn entry_key_rule(path: &[String]) -> Option<EntryKey> {
    UNIQUE_RULES
        .iter()
        .find(|(p, _)| pattern_matches(p, path.iter().map(|k| Some(k.as_str()))))
        .map(|(_, r)| *r)
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

/// Merges the compose document `over` into `base` (a later `-f` file into
/// the earlier ones), then removes redefined sequence entries.
pub fn merge(base: Node, over: Node) -> Result<Node, LoadError> {
    let mut path = Vec::new();
    let mut merged = merge_value(base, over, &mut path, false)?;
    enforce_unicity(&mut merged)?;
    Ok(merged)
}

/// Merges one service definition over the service it extends. Merge tags of
/// `service` stay on the result (a `!reset` key becomes a tagged null) so
/// that merging this file over earlier ones still resets their values, as
/// Compose does.
pub fn merge_service(base: Node, service: Node) -> Result<Node, LoadError> {
    // Compose merges extended services as if they were `services.x`.
    let mut path = vec!["services".to_string(), "x".to_string()];
    let mut merged = merge_value(base, service, &mut path, true)?;
    enforce_unicity_at(&mut merged, &mut path)?;
    Ok(merged)
}

/// Applies `!reset` / `!override` within a single document: tagged `!reset`
/// keys are dropped, every tag is cleared. Compose does this when it reads
/// a file, so even the first (or only) file honours `!reset`.
pub fn strip_reset_tags(doc: &mut Node) {
    doc.tag = None;
    match &mut doc.value {
        Value::Map(m) => {
            m.retain(|_, v| v.tag != Some(MergeTag::Reset));
            for v in m.values_mut() {
                strip_reset_tags(v);
            }
        }
        Value::Seq(s) => {
            for v in s.iter_mut() {
                strip_reset_tags(v);
            }
        }
        _ => {}
    }
}

fn stripped(mut n: Node) -> Node {
    strip_reset_tags(&mut n);
    n
}

fn merge_value(
    base: Node,
    over: Node,
    path: &mut Vec<String>,
    keep_tags: bool,
) -> Result<Node, LoadError> {
    if let Some(rule) = merge_rule(path) {
        return apply_rule(rule, base, over, path, keep_tags);
    }
    if over.is_null() {
        return Ok(base);
    }
    match base.value {
        Value::Map(m) => match over.value {
            Value::Map(o) => merge_mappings(m, base.pos, o, path, keep_tags),
            _ => Err(cannot_override(&over.pos, path)),
        },
        Value::Seq(mut s) => match over.value {
            Value::Seq(o) => {
                s.extend(o.into_iter().map(stripped));
                Ok(Node::new(Value::Seq(s), base.pos))
            }
            _ => Err(cannot_override(&over.pos, path)),
        },
        _ => Ok(stripped(over)),
    }
}

fn cannot_override(pos: &Pos, path: &[String]) -> LoadError {
    LoadError::invalid(
        pos,
        dotted(path),
        "cannot override: value has a different type than in the file it overrides",
    )
}

fn merge_mappings(
    mut base: Mapping,
    pos: Pos,
    over: Mapping,
    path: &mut Vec<String>,
    keep_tags: bool,
) -> Result<Node, LoadError> {
    for (key, value) in over {
        match value.tag {
            Some(MergeTag::Reset) => {
                if keep_tags {
                    let mut tombstone = Node::new(Value::Null, value.pos.clone());
                    tombstone.tag = Some(MergeTag::Reset);
                    base.insert(key, tombstone);
                } else {
                    base.shift_remove(&key);
                }
                continue;
            }
            Some(MergeTag::Override) => {
                let tag = value.tag;
                let mut value = stripped(value);
                if keep_tags {
                    value.tag = tag;
                }
                base.insert(key, value);
                continue;
            }
            None => {}
        }
        let Some(existing) = base.get_mut(&key) else {
            base.insert(key, stripped(value));
            continue;
        };
        let current = std::mem::replace(existing, Node::synthetic(Value::Null));
        path.push(key);
        let merged = merge_value(current, value, path, keep_tags);
        path.pop();
        *existing = merged?;
    }
    Ok(Node::new(Value::Map(base), pos))
}

fn apply_rule(
    rule: MergeRule,
    base: Node,
    over: Node,
    path: &mut Vec<String>,
    keep_tags: bool,
) -> Result<Node, LoadError> {
    if rule == MergeRule::Replace {
        return Ok(stripped(over));
    }
    if over.is_null() {
        return Ok(base);
    }
    match rule {
        MergeRule::Replace => Ok(stripped(over)),
        MergeRule::ToSequence => {
            let pos = base.pos.clone();
            // `KEY: !reset` in a mapping form removes that key's entries.
            let mut over = over;
            let mut resets: Vec<String> = Vec::new();
            if let Value::Map(m) = &mut over.value {
                m.retain(|k, v| {
                    let reset = v.tag == Some(MergeTag::Reset);
                    if reset {
                        resets.push(k.clone());
                    }
                    !reset
                });
            }
            let mut seq = into_sequence(base);
            if !resets.is_empty() {
                seq.retain(|n| {
                    let key = n.as_str().map(|s| s.split('=').next().unwrap_or(s));
                    !key.is_some_and(|k| resets.iter().any(|r| r == k))
                });
            }
            seq.extend(into_sequence(over).into_iter().map(stripped));
            Ok(Node::new(Value::Seq(seq), pos))
        }
        MergeRule::ExtraHosts => {
            let pos = base.pos.clone();
            let mut seq = into_sequence(base);
            let right: Vec<serde_json::Value> = seq.iter().map(Node::to_json).collect();
            seq.extend(
                into_sequence(over)
                    .into_iter()
                    .filter(|n| !right.contains(&n.to_json()))
                    .map(stripped),
            );
            Ok(Node::new(Value::Seq(seq), pos))
        }
        MergeRule::DependsOn => {
            let started = || {
                let mut m = Mapping::new();
                m.insert("condition".into(), Node::str("service_started"));
                m.insert("required".into(), Node::synthetic(Value::Bool(true)));
                Node::synthetic(Value::Map(m))
            };
            let pos = base.pos.clone();
            let b = into_mapping(base, &started);
            let o = into_mapping(over, &started);
            merge_mappings(b, pos, o, path, keep_tags)
        }
        MergeRule::ToMapping => {
            let none = || Node::synthetic(Value::Null);
            let pos = base.pos.clone();
            let b = into_mapping(base, &none);
            let o = into_mapping(over, &none);
            merge_mappings(b, pos, o, path, keep_tags)
        }
        MergeRule::Build => {
            let pos = base.pos.clone();
            merge_mappings(
                build_mapping(base),
                pos,
                build_mapping(over),
                path,
                keep_tags,
            )
        }
        MergeRule::Logging => {
            let driver = |n: &Node| n.get("driver").map(Node::to_json);
            let same_or_unset = match (driver(&base), driver(&over)) {
                (Some(b), Some(o)) => b == o,
                _ => true,
            };
            if !same_or_unset {
                return Ok(stripped(over));
            }
            match (base.value, over.value) {
                (Value::Map(b), Value::Map(o)) => merge_mappings(b, base.pos, o, path, keep_tags),
                (_, value) => Ok(stripped(Node::new(value, over.pos))),
            }
        }
        // Compose merges the override with itself here, so the whole
        // ulimit comes from the override (soft without hard is invalid).
        MergeRule::Ulimit => Ok(stripped(over)),
        MergeRule::IpamConfig => merge_ipam_config(base, over, path),
    }
}

/// Sequence form of a list-or-mapping value: `{K: v}` → sorted `["K=v"]`,
/// `{K: null}` → `["K"]`, `{K: [a, b]}` → `["K=a", "K=b"]`, a string → `[s]`.
fn into_sequence(node: Node) -> Vec<Node> {
    match node.value {
        Value::Seq(s) => s,
        Value::Map(m) => {
            let mut seq: Vec<Node> = Vec::new();
            for (k, v) in m {
                match &v.value {
                    Value::Null => seq.push(Node::new(Value::Str(k), v.pos.clone())),
                    Value::Seq(items) => {
                        for item in items {
                            seq.push(Node::new(
                                Value::Str(format!("{k}={}", go_sprint(item))),
                                item.pos.clone(),
                            ));
                        }
                    }
                    _ => seq.push(Node::new(
                        Value::Str(format!("{k}={}", go_sprint(&v))),
                        v.pos.clone(),
                    )),
                }
            }
            seq.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            seq
        }
        Value::Str(_) => vec![node],
        _ => Vec::new(),
    }
}

/// `fmt.Sprintf("%v")` of a YAML value.
fn go_sprint(n: &Node) -> String {
    match n.scalar_string() {
        Some(s) => s,
        None => match &n.value {
            Value::Null => "<nil>".into(),
            _ => n.to_json().to_string(),
        },
    }
}

/// Mapping form of a list-or-mapping value; list entries get `default()`.
fn into_mapping(node: Node, default: &dyn Fn() -> Node) -> Mapping {
    match node.value {
        Value::Map(m) => m,
        Value::Seq(s) => s
            .into_iter()
            .filter_map(|n| n.scalar_string())
            .map(|k| (k, default()))
            .collect(),
        _ => Mapping::new(),
    }
}

fn build_mapping(node: Node) -> Mapping {
    match node.value {
        Value::Map(m) => m,
        Value::Str(s) => {
            let mut m = Mapping::new();
            m.insert("context".into(), Node::new(Value::Str(s), node.pos));
            m
        }
        _ => Mapping::new(),
    }
}

/// IPAM pools are matched by `subnet`: a pool redefined with the same
/// subnet is merged, a new subnet is added.
fn merge_ipam_config(base: Node, over: Node, path: &[String]) -> Result<Node, LoadError> {
    let pos = base.pos.clone();
    let (Value::Seq(base_pools), Value::Seq(over_pools)) = (base.value, over.value) else {
        return Err(LoadError::invalid(
            &over.pos,
            dotted(path),
            "ipam config must be a sequence",
        ));
    };
    let subnet = |n: &Node| n.get("subnet").map(Node::to_json);
    let mut pools: Vec<Node> = Vec::new();
    for original in base_pools {
        let mut right = original;
        for pool in &over_pools {
            let pool = stripped(pool.clone());
            if subnet(&pool) != subnet(&right) && !pools.iter().any(|p| subnet(p) == subnet(&pool))
            {
                pools.push(pool);
                continue;
            }
            right = match (right.value, pool.value) {
                (Value::Map(r), Value::Map(o)) => {
                    merge_mappings(r, right.pos, o, &mut path.to_vec(), false)?
                }
                (_, value) => Node::new(value, pool.pos),
            };
            match pools.iter().position(|p| subnet(p) == subnet(&right)) {
                Some(i) => pools[i] = right.clone(),
                None => pools.push(right.clone()),
            }
        }
    }
    Ok(Node::new(Value::Seq(pools), pos))
}

/// Removes redefinitions from the sequences listed in [`UNIQUE_RULES`]: an
/// entry whose key was already seen replaces the earlier one in place.
/// Compose runs this after every merge and again after canonicalization
/// (port ranges can reveal duplicates), so it is public.
pub fn enforce_unicity(doc: &mut Node) -> Result<(), LoadError> {
    enforce_unicity_at(doc, &mut Vec::new())
}

fn enforce_unicity_at(node: &mut Node, path: &mut Vec<String>) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Map(m) => {
            for (k, v) in m.iter_mut() {
                path.push(k.clone());
                let r = enforce_unicity_at(v, path);
                path.pop();
                r?;
            }
        }
        Value::Seq(seq) => {
            let Some(rule) = entry_key_rule(path) else {
                return Ok(());
            };
            let mut out: Vec<Node> = Vec::with_capacity(seq.len());
            let mut seen: indexmap::IndexMap<String, usize> = indexmap::IndexMap::new();
            for (i, entry) in std::mem::take(seq).into_iter().enumerate() {
                let key = entry_key(rule, &entry, path, i)?;
                match seen.get(&key) {
                    Some(&j) => out[j] = entry,
                    None => {
                        seen.insert(key, out.len());
                        out.push(entry);
                    }
                }
            }
            *seq = out;
        }
        _ => {}
    }
    Ok(())
}

fn entry_key(rule: EntryKey, entry: &Node, path: &[String], i: usize) -> Result<String, LoadError> {
    let err = |msg: &str| LoadError::invalid(&entry.pos, format!("{}[{i}]", dotted(path)), msg);
    match rule {
        EntryKey::KeyValue => match entry.scalar_string() {
            Some(s) => Ok(s.split_once('=').map_or(s.clone(), |(k, _)| k.to_string())),
            None => Err(err("expected a string")),
        },
        EntryKey::Expose => entry
            .scalar_string()
            .ok_or_else(|| err("unsupported expose value")),
        EntryKey::EnvFile => match &entry.value {
            Value::Map(m) => m
                .get("path")
                .and_then(Node::scalar_string)
                .ok_or_else(|| err("env_file entry is missing a path")),
            _ => Ok(entry.scalar_string().unwrap_or_default()),
        },
        EntryKey::Mount(dir) => match &entry.value {
            Value::Map(m) => match m.get("target").and_then(Node::scalar_string) {
                Some(t) => Ok(t),
                None => Ok(format!(
                    "{dir}/{}",
                    m.get("source").map(go_sprint).unwrap_or_default()
                )),
            },
            _ => match entry.scalar_string() {
                Some(s) => Ok(format!("{dir}/{s}")),
                None => Err(err("expected a string or a mapping")),
            },
        },
        EntryKey::VolumeTarget => match &entry.value {
            Value::Map(m) => m
                .get("target")
                .and_then(Node::as_str)
                .map(str::to_string)
                .ok_or_else(|| err("service volume is missing a mount target")),
            Value::Str(s) => Ok(short_volume_target(s).to_string()),
            _ => Ok(String::new()),
        },
        EntryKey::DeviceTarget => match &entry.value {
            Value::Map(m) => m
                .get("target")
                .and_then(Node::as_str)
                .map(str::to_string)
                .ok_or_else(|| err("service device is missing a mount target")),
            Value::Str(s) => {
                let mut parts = s.split(':');
                let first = parts.next().unwrap_or_default();
                Ok(parts.next().unwrap_or(first).to_string())
            }
            _ => Ok(String::new()),
        },
        EntryKey::Port => {
            port_key(entry).ok_or_else(|| err("service port is missing a target port"))
        }
    }
}

/// Splits a short volume spec `[SOURCE:]TARGET[:MODE]` into its parts,
/// keeping Windows drive letters (`C:\data`) inside their part.
pub(crate) fn split_short_volume(spec: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    let mut start = 0;
    let bytes = spec.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b':' {
            continue;
        }
        // Like Compose, a single letter before `:` is a drive letter, so
        // `v:/data` is one target, not volume `v` on `/data`.
        let is_drive = i == start + 1 && bytes[start].is_ascii_alphabetic();
        if is_drive {
            continue;
        }
        parts.push(&spec[start..i]);
        start = i + 1;
    }
    parts.push(&spec[start..]);
    parts
}

fn short_volume_target(spec: &str) -> &str {
    let parts = split_short_volume(spec);
    match parts.len() {
        0 | 1 => parts.first().copied().unwrap_or(spec),
        _ => parts[1],
    }
}

/// `host_ip:published:target/protocol` for either port syntax. Short
/// entries are keyed as the long form Compose's canonical step makes of
/// them, so `"80:80"` and `{target: 80, published: "80"}` are the same port.
/// Long entries are keyed as Compose's Go `%s`/`%d` formatting sees the raw
/// values: a numeric `published` or a missing one prints differently from
/// a string, which is why `{published: 7000}` and `"7000:7000"` both stay.
/// Ranges keep their text; they are compared again after canonicalization.
fn port_key(entry: &Node) -> Option<String> {
    const NIL: &str = "%!s(<nil>)";
    let key = |host: &str, published: &str, target: &str, protocol: &str| {
        format!("{host}:{published}:{target}/{protocol}")
    };
    match &entry.value {
        Value::Map(m) => {
            let target = match &m.get("target")?.value {
                Value::Int(i) => i.to_string(),
                Value::Str(s) => format!("%!d(string={s})"),
                _ => go_sprint(m.get("target")?),
            };
            let go_s = |n: Option<&Node>, default: &str| match n.map(|n| &n.value) {
                None => default.to_string(),
                Some(Value::Str(s)) => s.clone(),
                Some(Value::Int(i)) => format!("%!s(int={i})"),
                Some(Value::Null) => NIL.to_string(),
                Some(_) => n.map(go_sprint).unwrap_or_default(),
            };
            Some(key(
                &go_s(m.get("host_ip"), "0.0.0.0"),
                &go_s(m.get("published"), NIL),
                &target,
                &go_s(m.get("protocol"), "tcp"),
            ))
        }
        Value::Int(i) => Some(key("0.0.0.0", NIL, &i.to_string(), "tcp")),
        Value::Str(s) => {
            let (spec, protocol) = s.split_once('/').unwrap_or((s, "tcp"));
            if spec.contains('-') {
                return Some(s.clone());
            }
            let mut parts: Vec<&str> = spec.rsplitn(3, ':').collect();
            parts.reverse();
            let (host, published, target) = match parts.as_slice() {
                [t] => ("", "", *t),
                [p, t] => ("", *p, *t),
                [h, p, t] => (*h, *p, *t),
                _ => return Some(s.clone()),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            let published = if published.is_empty() { NIL } else { published };
            Some(key(host, published, target, protocol))
        }
        _ => Some(entry.to_json().to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! Expected values come from `docker compose -f a.yaml -f b.yaml config
    //! --format json` (v2.40.3) on the same inputs; where Compose prints the
    //! canonical long form, the comment shows what it printed and the test
    //! checks the pre-canonical value that leads to it.
    use super::*;
    use crate::compose::yaml::parse;
    use serde_json::json;

    fn merged(a: &str, b: &str) -> serde_json::Value {
        let a = parse(a, "a.yaml").unwrap();
        let b = parse(b, "b.yaml").unwrap();
        merge(a, b).unwrap().to_json()
    }

    fn web(a: &str, b: &str) -> serde_json::Value {
        merged(a, b)["services"]["web"].clone()
    }

    #[test]
    fn scalars_are_replaced_and_null_keeps_base() {
        let w = web(
            "services: {web: {image: nginx, user: root, init: true}}",
            "services: {web: {image: redis, user: null}}",
        );
        assert_eq!(w, json!({"image": "redis", "user": "root", "init": true}));
    }

    #[test]
    fn mappings_merge_recursively_and_add_new_keys() {
        let d = merged(
            "services: {web: {image: a}}\nx-top: {a: 1}",
            "services: {db: {image: pg}}\nx-top: {b: 2}",
        );
        assert_eq!(d["services"]["db"]["image"], "pg");
        assert_eq!(d["services"]["web"]["image"], "a");
        // reference: "x-top": {"a": 1, "b": 2}
        assert_eq!(d["x-top"], json!({"a": 1, "b": 2}));
    }

    #[test]
    fn command_entrypoint_and_healthcheck_test_are_replaced() {
        let w = web(
            "services: {web: {command: [a, b], entrypoint: /x, healthcheck: {test: [CMD, a], interval: 10s}}}",
            "services: {web: {command: c, entrypoint: [/y], healthcheck: {test: CMD-SHELL true}}}",
        );
        assert_eq!(w["command"], json!("c"));
        assert_eq!(w["entrypoint"], json!(["/y"]));
        assert_eq!(
            w["healthcheck"],
            json!({"test": "CMD-SHELL true", "interval": "10s"})
        );
    }

    #[test]
    fn environment_map_and_list_merge_by_key() {
        // reference: "environment": {"A": "1", "B": "3", "C": "4"}
        let w = web(
            "services: {web: {environment: {B: '2', A: 1}}}",
            "services: {web: {environment: [B=3, C=4]}}",
        );
        assert_eq!(w["environment"], json!(["A=1", "B=3", "C=4"]));
    }

    #[test]
    fn environment_null_value_becomes_bare_key() {
        let w = web(
            "services: {web: {environment: {A: null, B: x}}}",
            "services: {web: {environment: {A: y}}}",
        );
        assert_eq!(w["environment"], json!(["A=y", "B=x"]));
    }

    #[test]
    fn labels_list_and_map_merge_by_key() {
        // reference: "labels": {"l1": "a", "l2": "c", "l3": "d"}
        let w = web(
            "services: {web: {labels: [l1=a, l2=b]}}",
            "services: {web: {labels: {l2: c, l3: d}}}",
        );
        assert_eq!(w["labels"], json!(["l1=a", "l2=c", "l3=d"]));
    }

    #[test]
    fn sysctls_and_annotations_merge_by_key() {
        // reference: "sysctls": {"net.a": "1", "net.b": "2"}
        let w = web(
            "services: {web: {sysctls: {net.a: 1}, annotations: {a: '1'}}}",
            "services: {web: {sysctls: [net.b=2, net.a=1], annotations: [a=2]}}",
        );
        assert_eq!(w["sysctls"], json!(["net.a=1", "net.b=2"]));
        assert_eq!(w["annotations"], json!(["a=2"]));
    }

    #[test]
    fn extra_hosts_drop_exact_duplicates_only() {
        // reference: ["h1=1.1.1.1", "h2=2.2.2.2", "h3=3.3.3.3"]
        let w = web(
            "services: {web: {extra_hosts: [h1=1.1.1.1, 'h2:2.2.2.2']}}",
            "services: {web: {extra_hosts: [h1=1.1.1.1, h3=3.3.3.3]}}",
        );
        assert_eq!(
            w["extra_hosts"],
            json!(["h1=1.1.1.1", "h2:2.2.2.2", "h3=3.3.3.3"])
        );
    }

    #[test]
    fn extra_hosts_map_form_expands_lists() {
        let w = web(
            "services: {web: {extra_hosts: {h1: [1.1.1.1, '::1']}}}",
            "services: {web: {extra_hosts: [h2=2.2.2.2]}}",
        );
        assert_eq!(
            w["extra_hosts"],
            json!(["h1=1.1.1.1", "h1=::1", "h2=2.2.2.2"])
        );
    }

    #[test]
    fn dns_and_cap_add_append_without_duplicates() {
        // reference: "dns": ["8.8.8.8", "1.1.1.1", "9.9.9.9"], "cap_add": ["NET_ADMIN", "SYS_ADMIN"]
        let w = web(
            "services: {web: {dns: [8.8.8.8, 1.1.1.1], cap_add: [NET_ADMIN]}}",
            "services: {web: {dns: [8.8.8.8, 9.9.9.9], cap_add: [NET_ADMIN, SYS_ADMIN]}}",
        );
        assert_eq!(w["dns"], json!(["8.8.8.8", "1.1.1.1", "9.9.9.9"]));
        assert_eq!(w["cap_add"], json!(["NET_ADMIN", "SYS_ADMIN"]));
    }

    #[test]
    fn dns_string_form_is_a_one_entry_list() {
        let w = web(
            "services: {web: {dns: 8.8.8.8}}",
            "services: {web: {dns: [9.9.9.9, 8.8.8.8]}}",
        );
        assert_eq!(w["dns"], json!(["8.8.8.8", "9.9.9.9"]));
    }

    #[test]
    fn tmpfs_string_and_list_merge_without_duplicates() {
        // reference: "tmpfs": ["/t1", "/t2"]
        let w = web(
            "services: {web: {tmpfs: /t1}}",
            "services: {web: {tmpfs: [/t2, /t1]}}",
        );
        assert_eq!(w["tmpfs"], json!(["/t1", "/t2"]));
    }

    #[test]
    fn profiles_and_expose_deduplicate() {
        // reference: "profiles": ["p1", "p2"], "expose": ["1", "2", "3"]
        let w = web(
            "services: {web: {profiles: [p1], expose: [1, '2']}}",
            "services: {web: {profiles: [p1, p2], expose: ['1', 3]}}",
        );
        assert_eq!(w["profiles"], json!(["p1", "p2"]));
        assert_eq!(w["expose"], json!(["1", "2", 3]));
    }

    #[test]
    fn ports_short_and_long_forms_share_keys() {
        // reference: 80->80, 443->443, 9000->9000, 8080->80 (four entries)
        let w = web(
            "services: {web: {ports: ['80:80', '443:443', {target: 9000, published: '9000'}]}}",
            "services: {web: {ports: ['80:80', {target: 443, published: '443'}, '9000:9000', '8080:80']}}",
        );
        assert_eq!(
            w["ports"],
            json!(["80:80", {"target": 443, "published": "443"}, "9000:9000", "8080:80"])
        );
    }

    #[test]
    fn ports_default_host_ip_and_protocol_match_explicit_ones() {
        // reference: 0.0.0.0:80:80 replaces "80:80" in place; 127.0.0.1:80:80 is new
        let w = web(
            "services: {web: {ports: ['80:80', '53:53/udp']}}",
            "services: {web: {ports: ['0.0.0.0:80:80/tcp', '127.0.0.1:80:80', '53:53']}}",
        );
        assert_eq!(
            w["ports"],
            json!(["0.0.0.0:80:80/tcp", "53:53/udp", "127.0.0.1:80:80", "53:53"])
        );
    }

    #[test]
    fn ports_numeric_published_and_ipv6_keys() {
        // reference: [80 (no published), [::1]:8080:80, 9000/udp,
        // {127.0.0.1 7000 from the long form}, 9000/tcp, 127.0.0.1:7000:7000]
        let w = web(
            "services: {web: {ports: [80, '[::1]:8080:80', '9000:9000/udp', {target: 7000, host_ip: 127.0.0.1, published: 7000}]}}",
            "services: {web: {ports: ['80', '[::1]:8080:80/tcp', '9000:9000', '127.0.0.1:7000:7000']}}",
        );
        assert_eq!(
            w["ports"],
            json!([
                "80",
                "[::1]:8080:80/tcp",
                "9000:9000/udp",
                {"target": 7000, "host_ip": "127.0.0.1", "published": 7000},
                "9000:9000",
                "127.0.0.1:7000:7000"
            ])
        );
    }

    #[test]
    fn volumes_merge_by_target_across_syntaxes() {
        // reference: /data from ./other, /named read_only, /x kept
        let w = web(
            "services: {web: {volumes: ['./data:/data', 'named:/named', {type: bind, source: ./x, target: /x}]}}",
            "services: {web: {volumes: ['./other:/data:ro', {type: volume, source: named, target: /named, read_only: true}]}}",
        );
        assert_eq!(
            w["volumes"],
            json!([
                "./other:/data:ro",
                {"type": "volume", "source": "named", "target": "/named", "read_only": true},
                {"type": "bind", "source": "./x", "target": "/x"}
            ])
        );
    }

    #[test]
    fn anonymous_volume_keyed_by_its_target() {
        let w = web(
            "services: {web: {volumes: [/anon, 'C:\\data:/win', 'v:/anon']}}",
            "services: {web: {volumes: ['vv:/anon', 'D:\\other:/win']}}",
        );
        // reference: `v:/anon` is an anonymous volume whose target is `v:/anon`
        assert_eq!(
            w["volumes"],
            json!(["vv:/anon", "D:\\other:/win", "v:/anon"])
        );
    }

    #[test]
    fn volume_without_target_is_an_error() {
        let a = parse(
            "services: {web: {volumes: [{type: bind, source: /x}]}}",
            "a.yaml",
        )
        .unwrap();
        let err = merge(Node::synthetic(Value::Map(Mapping::new())), a).unwrap_err();
        assert!(err.to_string().contains("services.web.volumes[0]"), "{err}");
        assert!(err.to_string().contains("a.yaml:1"), "{err}");
    }

    #[test]
    fn secrets_merge_by_target_with_default_dir() {
        // reference: s1 string (/run/secrets/s1) and {source: s1, target: s1} both kept;
        // s2 string and {source: s2, target: /t2} both kept
        let w = web(
            "services: {web: {secrets: [s1, {source: s2, target: /t2}, s3]}}",
            "services: {web: {secrets: [{source: s1, target: s1}, s2, {source: s3, mode: 0400}]}}",
        );
        assert_eq!(
            w["secrets"],
            json!([
                "s1",
                {"source": "s2", "target": "/t2"},
                {"source": "s3", "mode": 256},
                {"source": "s1", "target": "s1"},
                "s2"
            ])
        );
    }

    #[test]
    fn configs_default_target_is_source_under_root() {
        let w = web(
            "services: {web: {configs: [c1, {source: c2, target: /c1}]}}",
            "services: {web: {configs: [{source: c1, target: /c1, mode: 0444}]}}",
        );
        assert_eq!(
            w["configs"],
            json!([{"source": "c1", "target": "/c1", "mode": 292}])
        );
    }

    #[test]
    fn devices_merge_by_container_path() {
        // reference: "devices": [{"source": "/dev/b", "target": "/dev/a", ...}]
        let w = web(
            "services: {web: {devices: ['/dev/a:/dev/a', /dev/c]}}",
            "services: {web: {devices: ['/dev/b:/dev/a:rwm']}}",
        );
        assert_eq!(w["devices"], json!(["/dev/b:/dev/a:rwm", "/dev/c"]));
    }

    #[test]
    fn env_file_appends_without_duplicate_paths() {
        let w = web(
            "services: {web: {env_file: a.env}}",
            "services: {web: {env_file: [b.env, {path: a.env, required: false}]}}",
        );
        assert_eq!(
            w["env_file"],
            json!([{"path": "a.env", "required": false}, "b.env"])
        );
    }

    #[test]
    fn depends_on_list_over_map_resets_condition() {
        // reference: {"db": {"condition": "service_started", "restart": true, "required": true}}
        let w = web(
            "services: {web: {depends_on: {db: {condition: service_healthy, restart: true}}}}",
            "services: {web: {depends_on: [db]}}",
        );
        assert_eq!(
            w["depends_on"],
            json!({"db": {"condition": "service_started", "restart": true, "required": true}})
        );
    }

    #[test]
    fn depends_on_map_over_list() {
        // reference: {"db": {"condition": "service_healthy", "required": true}}
        let w = web(
            "services: {web: {depends_on: [db, cache]}}",
            "services: {web: {depends_on: {db: {condition: service_healthy}}}}",
        );
        assert_eq!(
            w["depends_on"],
            json!({
                "db": {"condition": "service_healthy", "required": true},
                "cache": {"condition": "service_started", "required": true}
            })
        );
    }

    #[test]
    fn networks_list_and_map_merge() {
        // reference: "networks": {"back": {"aliases": ["x"]}, "front": null}
        let w = web(
            "services: {web: {networks: [front]}}",
            "services: {web: {networks: {back: {aliases: [x]}}}}",
        );
        assert_eq!(
            w["networks"],
            json!({"front": null, "back": {"aliases": ["x"]}})
        );
    }

    #[test]
    fn network_aliases_deduplicate() {
        let w = web(
            "services: {web: {networks: {n: {aliases: [a, b]}}}}",
            "services: {web: {networks: {n: {aliases: [b, c], ipv4_address: 10.0.0.2}}}}",
        );
        assert_eq!(
            w["networks"],
            json!({"n": {"aliases": ["a", "b", "c"], "ipv4_address": "10.0.0.2"}})
        );
    }

    #[test]
    fn build_string_merges_with_mapping() {
        // reference: "build": {"context": "/tmp/mx", "dockerfile": "D", "args": {"X": "1", "Y": "2"}}
        let w = web(
            "services: {web: {build: {context: ., args: {X: '1'}}}}",
            "services: {web: {build: {args: [Y=2], dockerfile: D}}}",
        );
        assert_eq!(
            w["build"],
            json!({"context": ".", "args": ["X=1", "Y=2"], "dockerfile": "D"})
        );
        let w = web(
            "services: {web: {build: ./a}}",
            "services: {web: {build: {dockerfile: D}}}",
        );
        assert_eq!(w["build"], json!({"context": "./a", "dockerfile": "D"}));
    }

    #[test]
    fn logging_same_driver_merges_options() {
        let w = web(
            "services: {web: {logging: {driver: syslog, options: {a: b}}}}",
            "services: {web: {logging: {driver: syslog, options: {c: d}}}}",
        );
        assert_eq!(
            w["logging"],
            json!({"driver": "syslog", "options": {"a": "b", "c": "d"}})
        );
    }

    #[test]
    fn logging_driver_change_drops_old_options() {
        // reference: "logging": {"driver": "syslog", "options": {"tag": "t"}}
        let w = web(
            "services: {web: {logging: {driver: json-file, options: {max-size: 1m}}}}",
            "services: {web: {logging: {driver: syslog, options: {tag: t}}}}",
        );
        assert_eq!(
            w["logging"],
            json!({"driver": "syslog", "options": {"tag": "t"}})
        );
    }

    #[test]
    fn logging_without_base_driver_merges() {
        // reference: {"driver": "syslog", "options": {"a": "b", "c": "d"}}
        let w = web(
            "services: {web: {logging: {options: {a: b}}}}",
            "services: {web: {logging: {driver: syslog, options: {c: d}}}}",
        );
        assert_eq!(
            w["logging"],
            json!({"options": {"a": "b", "c": "d"}, "driver": "syslog"})
        );
    }

    #[test]
    fn ulimits_entries_come_whole_from_the_override() {
        // reference: {"nofile": {"soft": 3, "hard": 4}, "nproc": {"soft": 6, "hard": 7}, "core": 0}
        let w = web(
            "services: {web: {ulimits: {nofile: {soft: 1, hard: 2}, nproc: 5, core: 0}}}",
            "services: {web: {ulimits: {nofile: {soft: 3, hard: 4}, nproc: {soft: 6, hard: 7}}}}",
        );
        assert_eq!(
            w["ulimits"],
            json!({"nofile": {"soft": 3, "hard": 4}, "nproc": {"soft": 6, "hard": 7}, "core": 0})
        );
    }

    #[test]
    fn plain_sequences_append() {
        let w = web(
            "services: {web: {volumes_from: [a], security_opt: [x]}}",
            "services: {web: {volumes_from: [b], security_opt: [x]}}",
        );
        assert_eq!(w["volumes_from"], json!(["a", "b"]));
        assert_eq!(w["security_opt"], json!(["x", "x"]));
    }

    #[test]
    fn type_mismatch_is_an_error_with_position() {
        let a = parse("services:\n  web:\n    volumes_from: [a]\n", "a.yaml").unwrap();
        let b = parse("services:\n  web:\n    volumes_from: {x: 1}\n", "b.yaml").unwrap();
        let err = merge(a, b).unwrap_err().to_string();
        assert!(
            err.starts_with("b.yaml:3: services.web.volumes_from:"),
            "{err}"
        );
    }

    #[test]
    fn reset_removes_inherited_values() {
        // reference: ports/volumes/labels gone, build never set
        let w = web(
            "services: {web: {image: nginx, ports: ['80:80'], volumes: [/h:/c], labels: {x: y}}}",
            "services:\n  web:\n    ports: !reset []\n    volumes: !reset\n    labels: !reset {}\n    build: !reset\n",
        );
        assert_eq!(w, json!({"image": "nginx"}));
    }

    #[test]
    fn override_replaces_without_merging() {
        // reference: "environment": {"C": "3"}, "networks": {"front": null}
        let w = web(
            "services: {web: {environment: {A: '1'}, networks: {front: {aliases: [a]}}}}",
            "services:\n  web:\n    environment: !override {C: '3'}\n    networks: !override [front]\n",
        );
        assert_eq!(w["environment"], json!({"C": "3"}));
        assert_eq!(w["networks"], json!(["front"]));
    }

    #[test]
    fn reset_whole_service() {
        let d = merged(
            "services: {web: {image: a}, db: {image: b}}",
            "services:\n  web: !reset\n",
        );
        assert_eq!(d["services"], json!({"db": {"image": "b"}}));
    }

    #[test]
    fn reset_in_a_single_file_drops_the_key() {
        // reference (one file): image `!reset nginx` is dropped
        let mut d = parse(
            "services:\n  web:\n    image: !reset nginx\n    ports: !override ['1:1']\n",
            "d.yaml",
        )
        .unwrap();
        strip_reset_tags(&mut d);
        assert_eq!(
            d.to_json(),
            json!({"services": {"web": {"ports": ["1:1"]}}})
        );
        assert!(d
            .find(&[])
            .get("services")
            .unwrap()
            .get("web")
            .unwrap()
            .get("ports")
            .unwrap()
            .tag
            .is_none());
        let first = merge(
            Node::synthetic(Value::Map(Mapping::new())),
            parse("services:\n  web:\n    image: !reset nginx\n", "d.yaml").unwrap(),
        )
        .unwrap();
        assert_eq!(first.to_json(), json!({"services": {"web": {}}}));
    }

    #[test]
    fn single_file_duplicates_are_removed() {
        let d = merge(
            Node::synthetic(Value::Map(Mapping::new())),
            parse(
                "services: {web: {ports: ['80:80', '80:80'], environment: [A=1, A=2]}}",
                "a.yaml",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(d.to_json()["services"]["web"]["ports"], json!(["80:80"]));
        assert_eq!(
            d.to_json()["services"]["web"]["environment"],
            json!(["A=2"])
        );
    }

    #[test]
    fn top_level_labels_merge_by_key() {
        let d = merged(
            "networks: {n: {labels: {a: '1'}}}\nvolumes: {v: {labels: [b=1]}}",
            "networks: {n: {labels: [a=2]}}\nvolumes: {v: {labels: {c: '3'}}}",
        );
        assert_eq!(d["networks"]["n"]["labels"], json!(["a=2"]));
        assert_eq!(d["volumes"]["v"]["labels"], json!(["b=1", "c=3"]));
    }

    #[test]
    fn ipam_config_matches_pools_by_subnet() {
        let d = merged(
            "networks: {n: {ipam: {config: [{subnet: 10.0.0.0/24, gateway: 10.0.0.1}]}}}",
            "networks: {n: {ipam: {config: [{subnet: 10.0.0.0/24, ip_range: 10.0.0.0/25}, {subnet: 10.1.0.0/24}]}}}",
        );
        assert_eq!(
            d["networks"]["n"]["ipam"]["config"],
            json!([
                {"subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "ip_range": "10.0.0.0/25"},
                {"subnet": "10.1.0.0/24"}
            ])
        );
    }

    #[test]
    fn merge_service_keeps_reset_as_tombstone() {
        let base = parse("{image: a, ports: ['80:80']}", "a.yaml").unwrap();
        let svc = parse("{ports: !reset [], user: root}", "b.yaml").unwrap();
        let m = merge_service(base, svc).unwrap();
        let ports = m.get("ports").unwrap();
        assert_eq!(ports.tag, Some(MergeTag::Reset));
        assert!(ports.is_null());
        // Merging the file then resets the key in earlier files too.
        let earlier = parse("services: {s: {ports: ['1:1'], image: z}}", "0.yaml").unwrap();
        let mut file = Mapping::new();
        let mut services = Mapping::new();
        services.insert("s".into(), m);
        file.insert("services".into(), Node::synthetic(Value::Map(services)));
        let out = merge(earlier, Node::synthetic(Value::Map(file))).unwrap();
        assert_eq!(
            out.to_json()["services"]["s"],
            json!({"image": "a", "user": "root"})
        );
    }
}
#[cfg(test)]
mod reset_env_regression {
    use super::*;
    use crate::compose::yaml::parse;

    #[test]
    fn reset_of_one_environment_key_removes_it() {
        let base = parse(
            "services:\n  app:\n    environment:\n      DROP: '1'\n      K: '2'\n",
            "b.yaml",
        )
        .expect("b");
        let over = parse(
            "services:\n  app:\n    environment:\n      DROP: !reset null\n",
            "o.yaml",
        )
        .expect("o");
        let m = merge(base, over).expect("merge");
        let env = m
            .get("services")
            .and_then(|s| s.get("app"))
            .and_then(|a| a.get("environment"))
            .expect("env");
        // Merged key/value lists come out in sequence form.
        assert_eq!(env.to_json(), serde_json::json!(["K=2"]));
    }
}
