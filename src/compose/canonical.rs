//! Short syntaxes → the long forms `docker compose config` prints, for the
//! structural fields (ports, volumes, depends_on, networks, …).
//!
//! The work is driven by [`RULES`], a table from path patterns
//! (`services.*.ports`) to the function that rewrites the node found there.
//! One walk over the document applies them, so every error names the YAML
//! path and the line of the value at fault. Scalar conversions (durations,
//! byte sizes of limits, command splitting, …) live in `convert.rs`.
//!
//! Port and volume short syntaxes are parsed by [`parse_port_spec`] and
//! [`parse_volume_spec`]; `wharf run -p/-v` use the same functions.

use super::error::LoadError;
use super::yaml::{path_string, pattern_matches, Mapping, Node, PathSeg, Pos, Value};
use std::net::IpAddr;

/// Rewrites the node at a path matched by a rule.
type Transform = fn(&mut Node, &[PathSeg]) -> Result<(), LoadError>;

/// Path patterns and their transforms. `*` matches any key or list index.
/// Children of a rewritten node are still visited, so nested rules apply to
/// the long form (e.g. `services.*.build` then `services.*.build.secrets`).
const RULES: &[(&str, Transform)] = &[
    ("services.*.ports", ports),
    ("services.*.volumes.*", volume_mount),
    ("services.*.depends_on", depends_on),
    ("services.*.networks", list_to_null_map),
    ("services.*.models", list_to_null_map),
    ("services.*.secrets", service_secrets),
    ("services.*.configs.*", file_mount),
    ("services.*.build", build),
    ("services.*.build.secrets.*", file_mount),
    (
        "services.*.build.additional_contexts",
        key_value_list_to_map,
    ),
    ("services.*.env_file", env_file),
    ("services.*.label_file", string_to_list),
    ("services.*.devices.*", device),
    ("services.*.gpus", gpus),
    // Compose gives a device request with neither count nor ids every device, as for gpus.
    ("services.*.deploy.resources.reservations.devices", gpus),
    ("services.*.extra_hosts", extra_hosts),
    ("services.*.build.extra_hosts", extra_hosts),
    ("services.*.tmpfs", string_to_list),
    ("services.*.dns", string_to_list),
    ("services.*.dns_search", string_to_list),
    ("services.*.extends", extends),
    ("volumes.*", top_level_resource),
    ("networks.*", top_level_resource),
    ("secrets.*", top_level_resource),
    ("configs.*", top_level_resource),
    ("include.*", include),
];

/// Deepest path any rule can match; the walk stops below it.
const MAX_RULE_DEPTH: usize = 6;

/// Rewrites every short syntax in `doc` (a merged, interpolated compose
/// document) into its long form.
pub fn canonicalize(doc: &mut Node) -> Result<(), LoadError> {
    let mut path = Vec::new();
    walk(doc, &mut path, false)
}

/// Like [`canonicalize`], but a value that does not parse is kept as it
/// was: without interpolation, `"${PORT}:80"` is not a port yet.
pub fn canonicalize_lenient(doc: &mut Node) {
    let mut path = Vec::new();
    // Cannot fail: every error is swallowed where it happens.
    let _ = walk(doc, &mut path, true);
}

fn walk(node: &mut Node, path: &mut Vec<PathSeg>, lenient: bool) -> Result<(), LoadError> {
    // A null service field means "unset"; whether that is allowed is the
    // schema check's call, not a syntax to rewrite.
    let unset_service_field = node.is_null() && path.len() > 2;
    if let Some((_, transform)) = RULES
        .iter()
        .find(|(pattern, _)| pattern_matches(pattern, path.iter().map(PathSeg::key)))
    {
        if !unset_service_field {
            if lenient {
                let original = node.clone();
                if transform(node, path).is_err() {
                    *node = original;
                }
            } else {
                transform(node, path)?;
            }
        }
    }
    if path.len() >= MAX_RULE_DEPTH {
        return Ok(());
    }
    match &mut node.value {
        Value::Map(map) => {
            for (key, child) in map.iter_mut() {
                path.push(PathSeg::Key(key.clone()));
                let result = walk(child, path, lenient);
                path.pop();
                result?;
            }
        }
        Value::Seq(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                path.push(PathSeg::Index(i));
                let result = walk(child, path, lenient);
                path.pop();
                result?;
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Small node helpers

fn at(pos: &Pos, value: Value) -> Node {
    Node::new(value, pos.clone())
}

fn str_at(pos: &Pos, s: impl Into<String>) -> Node {
    at(pos, Value::Str(s.into()))
}

fn map_at(pos: &Pos, entries: Vec<(&str, Node)>) -> Node {
    at(
        pos,
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        ),
    )
}

fn child_path(path: &[PathSeg], seg: PathSeg) -> Vec<PathSeg> {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

/// Go's `%T` name of a YAML value, for "invalid type" messages.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Seq(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
    }
}

fn invalid_type(node: &Node, path: &[PathSeg], what: &str) -> LoadError {
    LoadError::invalid(
        &node.pos,
        path_string(path),
        format!("invalid type {} for {what}", go_type(&node.value)),
    )
}

/// Inserts `key: value` unless the mapping already has `key`.
fn set_default(map: &mut Mapping, key: &str, value: Node) {
    if !map.contains_key(key) {
        map.insert(key.to_string(), value);
    }
}

// ---------------------------------------------------------------------------
// Ports

/// One published (or exposed) container port, as a short port spec means it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    /// Host address to bind, brackets stripped from IPv6 (`::1`).
    pub host_ip: Option<String>,
    /// Host port, or a range (`9000-9005`) the engine picks one port from.
    pub published: Option<String>,
    /// Container port.
    pub target: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

impl PortMapping {
    /// The long form compose prints (`mode: ingress` is the default).
    pub fn to_node(&self, pos: &Pos) -> Node {
        let mut entries = vec![("mode", str_at(pos, "ingress"))];
        if let Some(ip) = &self.host_ip {
            entries.push(("host_ip", str_at(pos, ip.clone())));
        }
        entries.push(("target", at(pos, Value::Int(i64::from(self.target)))));
        if let Some(published) = &self.published {
            entries.push(("published", str_at(pos, published.clone())));
        }
        entries.push(("protocol", str_at(pos, self.protocol.clone())));
        map_at(pos, entries)
    }
}

/// Parses a short port spec `[[ip:]host[-range]:]container[-range][/proto]`
/// into one mapping per container port, ordered as Docker Compose orders
/// them (by the port number's text, so `100` sorts before `98`). The error
/// text is the one Docker Compose prints.
pub fn parse_port_spec(spec: &str) -> Result<Vec<PortMapping>, String> {
    let (ip, host_port, container) = split_port_parts(spec);
    let (container_port, proto) = match container.split_once('/') {
        Some((port, proto)) => (port, proto),
        None => (container, ""),
    };
    // An empty container port leaves the protocol empty too (so "80:" is
    // reported as an invalid protocol, as Docker does).
    let proto = if container_port.is_empty() {
        String::new()
    } else if proto.is_empty() {
        "tcp".to_string()
    } else {
        proto.to_lowercase()
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }

    let mut ip = ip.to_string();
    if let Some(inner) = ip.strip_prefix('[') {
        match inner.strip_suffix(']') {
            Some(addr) if !addr.contains(['[', ']']) => ip = addr.to_string(),
            _ => {
                return Err(format!(
                    "invalid IP address {ip}: address {ip}:: missing ']' in address"
                ))
            }
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }

    let (start, end) = parse_port_range(container_port)
        .ok_or_else(|| format!("invalid containerPort: {container_port}"))?;
    let host_range = if host_port.is_empty() {
        None
    } else {
        let (host_start, host_end) =
            parse_port_range(host_port).ok_or_else(|| format!("invalid hostPort: {host_port}"))?;
        // A host range with a single container port means "any free port
        // of the range"; otherwise both ranges must have the same size.
        if end - start != host_end - host_start && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container_port} and {host_port}"
            ));
        }
        Some((host_start, host_end))
    };

    let count = u32::from(end) - u32::from(start) + 1;
    let mut mappings: Vec<PortMapping> = (start..=end)
        .map(|target| {
            let published = host_range.map(|(host_start, host_end)| {
                let first = u32::from(host_start) + u32::from(target - start);
                if count == 1 && host_start != host_end {
                    format!("{first}-{host_end}")
                } else {
                    first.to_string()
                }
            });
            PortMapping {
                host_ip: (!ip.is_empty()).then(|| ip.clone()),
                published,
                target,
                protocol: proto.clone(),
            }
        })
        .collect();
    // Docker keys the ports by "80/tcp" strings and sorts those.
    mappings.sort_by_key(|m| m.target.to_string());
    Ok(mappings)
}

/// `ip:host:container`, where the IP itself may contain colons (IPv6).
fn split_port_parts(spec: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [container] => ("", "", container),
        [host, container] => ("", host, container),
        _ => {
            let n = parts.len();
            let ip_len = spec.len() - parts[n - 2].len() - parts[n - 1].len() - 2;
            (&spec[..ip_len], parts[n - 2], parts[n - 1])
        }
    }
}

/// `80` or `8000-8010`; like Docker, anything after a second `-` is ignored.
fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (start, end) = match s.split_once('-') {
        None => {
            let port = parse_port_number(s)?;
            (port, port)
        }
        Some((start, rest)) => {
            let end = rest.split('-').next().unwrap_or(rest);
            (parse_port_number(start)?, parse_port_number(end)?)
        }
    };
    (end >= start).then_some((start, end))
}

/// Go's `strconv.ParseUint(s, 10, 16)`: ASCII digits only.
fn parse_port_number(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn ports(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let Value::Seq(entries) = &node.value else {
        return Err(invalid_type(node, path, "port"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let spec = match &entry.value {
            Value::Str(s) => s.clone(),
            Value::Int(n) => n.to_string(),
            Value::Map(map) => {
                out.push(at(&entry.pos, Value::Map(long_port(map))));
                continue;
            }
            _ => {
                return Err(invalid_type(
                    entry,
                    &child_path(path, PathSeg::Index(i)),
                    "port",
                ))
            }
        };
        let mappings = parse_port_spec(&spec).map_err(|msg| {
            LoadError::invalid(
                &entry.pos,
                path_string(&child_path(path, PathSeg::Index(i))),
                format!("invalid port {spec:?}: {msg}"),
            )
        })?;
        out.extend(mappings.iter().map(|m| m.to_node(&entry.pos)));
    }
    node.value = Value::Seq(out);
    Ok(())
}

/// Long-form port: `published` is always text, `target` a number, and the
/// defaults compose applies are filled in.
fn long_port(map: &Mapping) -> Mapping {
    let mut map = map.clone();
    if let Some(published) = map.get_mut("published") {
        if let Some(text) = published.scalar_string() {
            published.value = Value::Str(text);
        }
    }
    if let Some(target) = map.get_mut("target") {
        if let Some(port) = target.as_str().and_then(parse_port_number) {
            target.value = Value::Int(i64::from(port));
        }
    }
    set_default(&mut map, "mode", Node::str("ingress"));
    set_default(&mut map, "protocol", Node::str("tcp"));
    map
}

// ---------------------------------------------------------------------------
// Volumes

/// What a service volume mounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeKind {
    /// A host path.
    Bind,
    /// A named or anonymous volume.
    Volume,
}

impl VolumeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeKind::Bind => "bind",
            VolumeKind::Volume => "volume",
        }
    }
}

/// Bind options a short spec can carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// `rprivate`, `private`, `rshared`, `shared`, `rslave` or `slave`.
    pub propagation: Option<String>,
    /// `z` (shared label) or `Z` (private label).
    pub selinux: Option<String>,
    /// Short syntax creates a missing host directory (legacy behaviour).
    pub create_host_path: bool,
}

/// A parsed short volume spec `[source:]target[:options]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSpec {
    pub kind: VolumeKind,
    /// Host path or volume name; `None` for an anonymous volume.
    pub source: Option<String>,
    /// Mount point in the container, cleaned (`/a/../b/` → `/b`).
    pub target: String,
    pub read_only: bool,
    pub bind: Option<BindOptions>,
    /// `Some(nocopy)` when compose prints a `volume` section.
    pub volume_nocopy: Option<bool>,
}

impl VolumeSpec {
    /// The long form compose prints for this spec.
    pub fn to_node(&self, pos: &Pos) -> Node {
        let mut entries = vec![("type", str_at(pos, self.kind.as_str()))];
        if let Some(source) = &self.source {
            entries.push(("source", str_at(pos, source.clone())));
        }
        entries.push(("target", str_at(pos, self.target.clone())));
        if self.read_only {
            entries.push(("read_only", at(pos, Value::Bool(true))));
        }
        if let Some(bind) = &self.bind {
            let mut opts = Vec::new();
            if let Some(p) = &bind.propagation {
                opts.push(("propagation", str_at(pos, p.clone())));
            }
            if let Some(s) = &bind.selinux {
                opts.push(("selinux", str_at(pos, s.clone())));
            }
            if bind.create_host_path {
                opts.push(("create_host_path", at(pos, Value::Bool(true))));
            }
            entries.push(("bind", map_at(pos, opts)));
        }
        if let Some(nocopy) = self.volume_nocopy {
            let opts = if nocopy {
                vec![("nocopy", at(pos, Value::Bool(true)))]
            } else {
                Vec::new()
            };
            entries.push(("volume", map_at(pos, opts)));
        }
        map_at(pos, entries)
    }
}

const PROPAGATIONS: [&str; 6] = [
    "rprivate", "private", "rshared", "shared", "rslave", "slave",
];

/// Parses a short volume spec the way Docker Compose does: `:` separates
/// source, target and a comma-separated option list, except after a lone
/// drive letter (`C:\data`) and inside `${...}`. Unknown options (including
/// the consistency modes `cached`/`delegated`/`consistent`) are ignored.
pub fn parse_volume_spec(spec: &str) -> Result<VolumeSpec, String> {
    let mut volume = VolumeSpec {
        kind: VolumeKind::Volume,
        source: None,
        target: String::new(),
        read_only: false,
        bind: None,
        volume_nocopy: None,
    };
    match spec.len() {
        0 => return Err("invalid empty volume spec".to_string()),
        // Too short to hold a separator: an anonymous volume.
        1 | 2 => {
            volume.target = crate::compose::paths::clean(spec);
            return Ok(volume);
        }
        _ => {}
    }

    let bytes = spec.as_bytes();
    let mut buffer = String::new();
    let mut var_depth = 0usize;
    // `None` marks the end of the spec, which closes the last field.
    let chars = spec.char_indices().map(|(i, c)| (i, Some(c)));
    for (i, ch) in chars.chain([(spec.len(), None)]) {
        if ch == Some('$') && bytes.get(i + 1) == Some(&b'{') {
            var_depth += 1;
            buffer.push('$');
            continue;
        }
        if ch == Some('}') && var_depth > 0 {
            var_depth -= 1;
            buffer.push('}');
            continue;
        }
        // An unclosed `${` swallows the rest, last field included (as in
        // Docker Compose).
        let is_separator = (ch.is_none() || ch == Some(':')) && var_depth == 0;
        if ch == Some(':') && is_drive_letter(&buffer) {
            buffer.push(':');
        } else if is_separator {
            fill_volume_field(&mut volume, &buffer, ch.is_none())
                .map_err(|e| format!("invalid spec: {spec}: {e}"))?;
            buffer.clear();
        } else if let Some(c) = ch {
            buffer.push(c);
        }
    }

    if is_file_path(volume.source.as_deref().unwrap_or("")) {
        volume.kind = VolumeKind::Bind;
        volume
            .bind
            .get_or_insert_with(BindOptions::default)
            .create_host_path = true;
    } else {
        volume.kind = VolumeKind::Volume;
        volume.volume_nocopy.get_or_insert(false);
    }
    volume.target = crate::compose::paths::clean(&volume.target);
    Ok(volume)
}

/// A buffer holding exactly one letter before `:` is a Windows drive.
fn is_drive_letter(buffer: &str) -> bool {
    let mut chars = buffer.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic())
}

fn fill_volume_field(volume: &mut VolumeSpec, field: &str, at_end: bool) -> Result<(), String> {
    if field.is_empty() {
        return Err("empty section between colons".to_string());
    }
    if volume.source.is_none() {
        if at_end {
            volume.target = field.to_string();
        } else {
            volume.source = Some(field.to_string());
        }
        return Ok(());
    }
    if volume.target.is_empty() {
        volume.target = field.to_string();
        return Ok(());
    }
    if !at_end {
        return Err("too many colons".to_string());
    }
    for option in field.split(',') {
        match option {
            "ro" => volume.read_only = true,
            "rw" => volume.read_only = false,
            "nocopy" => volume.volume_nocopy = Some(true),
            "z" | "Z" => {
                volume.bind.get_or_insert_with(BindOptions::default).selinux =
                    Some(option.to_string())
            }
            p if PROPAGATIONS.contains(&p) => {
                volume
                    .bind
                    .get_or_insert_with(BindOptions::default)
                    .propagation = Some(option.to_string())
            }
            _ => {}
        }
    }
    Ok(())
}

/// Sources starting like a path (`.`, `/`, `~`, `\\`, `C:`) are binds;
/// anything else names a volume.
fn is_file_path(source: &str) -> bool {
    if source.starts_with(['.', '/', '~']) || source.starts_with("\\\\") {
        return true;
    }
    let mut chars = source.chars();
    matches!((chars.next(), chars.next()), (Some(c), Some(':')) if c.is_alphabetic())
}

fn volume_mount(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    match &mut node.value {
        Value::Str(spec) => {
            let spec = spec.clone();
            let parsed = parse_volume_spec(&spec).map_err(|msg| {
                LoadError::invalid(
                    &node.pos,
                    path_string(path),
                    format!("invalid volume {spec:?}: {msg}"),
                )
            })?;
            *node = parsed.to_node(&node.pos);
            Ok(())
        }
        Value::Map(map) => long_volume(map, path),
        _ => Err(invalid_type(node, path, "service volume mount")),
    }
}

fn long_volume(map: &mut Mapping, path: &[PathSeg]) -> Result<(), LoadError> {
    if let Some(target) = map.get_mut("target") {
        if let Value::Str(t) = &target.value {
            if !t.is_empty() {
                target.value = Value::Str(crate::compose::paths::clean(t));
            }
        }
    }
    let Some(tmpfs) = map.get_mut("tmpfs").and_then(Node::as_map_mut) else {
        return Ok(());
    };
    let Some(size) = tmpfs.get("size") else {
        return Ok(());
    };
    let bytes = match &size.value {
        Value::Int(n) => Some(*n),
        Value::Str(s) => Some(parse_ram_size(s).ok_or_else(|| {
            let p = child_path(
                &child_path(path, PathSeg::Key("tmpfs".into())),
                PathSeg::Key("size".into()),
            );
            LoadError::invalid(&size.pos, path_string(&p), format!("invalid size: '{s}'"))
        })?),
        // Docker Compose does not decode a float size; the field is dropped.
        _ => None,
    };
    match bytes {
        Some(n) if n != 0 => {
            let pos = size.pos.clone();
            tmpfs.insert("size".into(), str_at(&pos, n.to_string()));
        }
        _ => {
            tmpfs.shift_remove("size");
        }
    }
    Ok(())
}

/// Docker's `RAMInBytes`: a decimal number with an optional binary unit
/// (`b`, `k`, `m`, `g`, `t`, `p`, optionally followed by `b` or `ib`).
fn parse_ram_size(s: &str) -> Option<i64> {
    let split = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')?;
    let (number, suffix) = s.split_at(split + 1);
    let number = number.strip_suffix(' ').unwrap_or(number);
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let size: f64 = number.parse().ok()?;
    let suffix = suffix.to_ascii_lowercase();
    let multiplier: f64 = match suffix.as_bytes() {
        [] => 1.0,
        [b'b'] => 1.0,
        [unit, rest @ ..] if rest.is_empty() || rest == b"b" || rest == b"ib" => {
            let power = match unit {
                b'k' => 1,
                b'm' => 2,
                b'g' => 3,
                b't' => 4,
                b'p' => 5,
                _ => return None,
            };
            1024f64.powi(power)
        }
        _ => return None,
    };
    Some((size * multiplier) as i64)
}

// ---------------------------------------------------------------------------
// Service fields

fn depends_on(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let pos = node.pos.clone();
    match &mut node.value {
        Value::Seq(items) => {
            let mut map = Mapping::new();
            for (i, item) in items.iter().enumerate() {
                let Some(name) = item.as_str() else {
                    return Err(invalid_type(
                        item,
                        &child_path(path, PathSeg::Index(i)),
                        "depends_on entry",
                    ));
                };
                let entry = map_at(
                    &item.pos,
                    vec![
                        ("condition", str_at(&item.pos, "service_started")),
                        ("required", at(&item.pos, Value::Bool(true))),
                    ],
                );
                map.insert(name.to_string(), entry);
            }
            node.value = Value::Map(map);
            Ok(())
        }
        Value::Map(map) => {
            for (name, entry) in map.iter_mut() {
                if entry.is_null() {
                    entry.value = Value::Map(Mapping::new());
                }
                let entry_pos = entry.pos.clone();
                let Some(fields) = entry.as_map_mut() else {
                    return Err(invalid_type(
                        entry,
                        &child_path(path, PathSeg::Key(name.clone())),
                        "depends_on entry",
                    ));
                };
                set_default(fields, "condition", str_at(&entry_pos, "service_started"));
                set_default(fields, "required", at(&entry_pos, Value::Bool(true)));
            }
            Ok(())
        }
        _ => Err(LoadError::invalid(
            &pos,
            path_string(path),
            format!("invalid type {} for depends_on", go_type(&node.value)),
        )),
    }
}

/// `[a, b]` → `{a: null, b: null}` (service networks and models).
fn list_to_null_map(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let Value::Seq(items) = &node.value else {
        return Ok(());
    };
    let mut map = Mapping::new();
    for (i, item) in items.iter().enumerate() {
        let Some(name) = item.as_str() else {
            return Err(invalid_type(
                item,
                &child_path(path, PathSeg::Index(i)),
                "list entry",
            ));
        };
        map.insert(name.to_string(), at(&item.pos, Value::Null));
    }
    node.value = Value::Map(map);
    Ok(())
}

/// A secret or config reference: `name` → `{source: name}`.
fn file_mount(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    match &node.value {
        Value::Str(source) => {
            *node = map_at(
                &node.pos,
                vec![("source", str_at(&node.pos, source.clone()))],
            );
            Ok(())
        }
        Value::Map(_) => Ok(()),
        other => Err(LoadError::invalid(
            &node.pos,
            path_string(path),
            format!("unsupported type {}", go_type(other)),
        )),
    }
}

/// Service secrets also get the default mount point `/run/secrets/<source>`.
fn service_secrets(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let Value::Seq(items) = &mut node.value else {
        return Ok(());
    };
    for (i, item) in items.iter_mut().enumerate() {
        file_mount(item, &child_path(path, PathSeg::Index(i)))?;
        let pos = item.pos.clone();
        if let Some(fields) = item.as_map_mut() {
            if let Some(source) = fields.get("source").and_then(Node::scalar_string) {
                set_default(
                    fields,
                    "target",
                    str_at(&pos, format!("/run/secrets/{source}")),
                );
            }
        }
    }
    Ok(())
}

fn build(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let pos = node.pos.clone();
    match &mut node.value {
        Value::Str(context) => {
            *node = map_at(
                &pos,
                vec![
                    ("context", str_at(&pos, context.clone())),
                    ("dockerfile", str_at(&pos, "Dockerfile")),
                ],
            );
            Ok(())
        }
        Value::Map(map) => {
            set_default(map, "context", str_at(&pos, "."));
            if !map.contains_key("dockerfile_inline") {
                set_default(map, "dockerfile", str_at(&pos, "Dockerfile"));
            }
            Ok(())
        }
        _ => Err(invalid_type(node, path, "build")),
    }
}

/// `["name=value", …]` → `{name: value}` (build.additional_contexts).
fn key_value_list_to_map(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let Value::Seq(items) = &node.value else {
        return Ok(());
    };
    let mut map = Mapping::new();
    for item in items {
        let text = item.scalar_string().unwrap_or_default();
        let Some((key, value)) = text.split_once('=') else {
            return Err(LoadError::invalid(
                &item.pos,
                path_string(path),
                format!("invalid value {text}, expected key=value"),
            ));
        };
        map.insert(key.to_string(), str_at(&item.pos, value));
    }
    node.value = Value::Map(map);
    Ok(())
}

fn env_file(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    fn entry(item: &mut Node) {
        let pos = item.pos.clone();
        match &mut item.value {
            Value::Str(p) => {
                *item = map_at(
                    &pos,
                    vec![
                        ("path", str_at(&pos, p.clone())),
                        ("required", at(&pos, Value::Bool(true))),
                    ],
                );
            }
            Value::Map(fields) => set_default(fields, "required", at(&pos, Value::Bool(true))),
            _ => {}
        }
    }
    match &mut node.value {
        Value::Str(_) => {
            let mut item = node.clone();
            entry(&mut item);
            node.value = Value::Seq(vec![item]);
            Ok(())
        }
        Value::Seq(items) => {
            items.iter_mut().for_each(entry);
            Ok(())
        }
        _ => Err(invalid_type(node, path, "env_file")),
    }
}

fn string_to_list(node: &mut Node, _path: &[PathSeg]) -> Result<(), LoadError> {
    if let Value::Str(_) = node.value {
        node.value = Value::Seq(vec![node.clone()]);
    }
    Ok(())
}

/// Device short syntax `host[:container[:permissions]]`.
fn device(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let spec = match &node.value {
        Value::Str(s) => s.clone(),
        Value::Map(_) => return Ok(()),
        _ => return Err(invalid_type(node, path, "device")),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, permissions) = match parts.as_slice() {
        [source] => (*source, "", "rwm"),
        [source, target] => (*source, *target, "rwm"),
        [source, target, permissions] => (*source, *target, *permissions),
        _ => {
            return Err(LoadError::invalid(
                &node.pos,
                path_string(path),
                format!("confusing device mapping, please use long syntax: {spec}"),
            ))
        }
    };
    let target = if target.is_empty() { source } else { target };
    let pos = node.pos.clone();
    *node = map_at(
        &pos,
        vec![
            ("source", str_at(&pos, source)),
            ("target", str_at(&pos, target)),
            ("permissions", str_at(&pos, permissions)),
        ],
    );
    Ok(())
}

/// `gpus: all` → one request for every GPU; a count of `all` is printed -1.
fn gpus(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let pos = node.pos.clone();
    match &mut node.value {
        Value::Str(_) => {
            node.value = Value::Seq(vec![map_at(
                &pos,
                vec![("count", at(&pos, Value::Int(-1)))],
            )]);
            Ok(())
        }
        Value::Seq(items) => {
            for item in items.iter_mut() {
                let item_pos = item.pos.clone();
                let Some(fields) = item.as_map_mut() else {
                    continue;
                };
                let has_ids = fields.contains_key("device_ids");
                match fields.get_mut("count") {
                    Some(count) if count.as_str() == Some("all") => count.value = Value::Int(-1),
                    Some(_) => {}
                    None if !has_ids => {
                        fields.insert("count".into(), at(&item_pos, Value::Int(-1)));
                    }
                    None => {}
                }
            }
            Ok(())
        }
        _ => Err(invalid_type(node, path, "gpus")),
    }
}

/// Both `["host:ip", "host=ip"]` and `{host: ip | [ip, …]}` become the
/// sorted `host=ip` list compose prints (one entry per address).
fn extra_hosts(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    let mut hosts: Vec<(String, String)> = Vec::new();
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                let text = item.scalar_string().unwrap_or_default();
                let Some((host, ips)) = text.split_once('=').or_else(|| text.split_once(':'))
                else {
                    return Err(LoadError::invalid(
                        &item.pos,
                        path_string(path),
                        format!("invalid additional host, missing IP: {text}"),
                    ));
                };
                hosts.extend(ips.split(',').map(|ip| (host.to_string(), ip.to_string())));
            }
        }
        Value::Map(map) => {
            for (host, value) in map {
                match &value.value {
                    Value::Seq(ips) => hosts.extend(
                        ips.iter()
                            .map(|ip| (host.clone(), ip.scalar_string().unwrap_or_default())),
                    ),
                    _ => hosts.push((host.clone(), value.scalar_string().unwrap_or_default())),
                }
            }
        }
        _ => return Err(invalid_type(node, path, "extra_hosts")),
    }
    let mut entries = Vec::with_capacity(hosts.len());
    for (host, ip) in hosts {
        if host.is_empty() || host.contains([':', '=']) {
            return Err(LoadError::invalid(
                &node.pos,
                path_string(path),
                format!("bad host name '{host}'"),
            ));
        }
        let ip = match ip.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            Some(inner) if ip.len() > 2 => inner.to_string(),
            _ => ip,
        };
        entries.push(format!("{host}={ip}"));
    }
    entries.sort();
    let pos = node.pos.clone();
    node.value = Value::Seq(entries.into_iter().map(|e| str_at(&pos, e)).collect());
    Ok(())
}

fn extends(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    match &node.value {
        Value::Str(service) => {
            *node = map_at(
                &node.pos,
                vec![("service", str_at(&node.pos, service.clone()))],
            );
            Ok(())
        }
        Value::Map(_) => Ok(()),
        _ => Err(invalid_type(node, path, "extends")),
    }
}

fn include(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    match &node.value {
        Value::Str(file) => {
            let file = str_at(&node.pos, file.clone());
            *node = map_at(
                &node.pos,
                vec![("path", at(&node.pos, Value::Seq(vec![file])))],
            );
            Ok(())
        }
        Value::Map(map) => {
            let mut map = map.clone();
            for key in ["path", "env_file"] {
                if let Some(value) = map.get_mut(key) {
                    string_to_list(value, path)?;
                }
            }
            node.value = Value::Map(map);
            Ok(())
        }
        _ => Err(invalid_type(node, path, "include")),
    }
}

/// Top-level volumes/networks/secrets/configs: `null` → `{}`, and the legacy
/// `external: {name: x}` → `external: true` + `name: x`.
fn top_level_resource(node: &mut Node, path: &[PathSeg]) -> Result<(), LoadError> {
    if node.is_null() {
        node.value = Value::Map(Mapping::new());
        return Ok(());
    }
    let pos = node.pos.clone();
    let Some(map) = node.as_map_mut() else {
        return Ok(());
    };
    let Some(external) = map.get_mut("external") else {
        return Ok(());
    };
    let Some(legacy) = external.as_map() else {
        return Ok(());
    };
    let legacy_name = legacy.get("name").cloned();
    external.value = Value::Bool(true);
    let Some(legacy_name) = legacy_name else {
        return Ok(());
    };
    tracing::warn!(
        "{}: external.name is deprecated. Please set name and external: true",
        path_string(path)
    );
    match map.get("name") {
        Some(name) if name.value != legacy_name.value => Err(LoadError::invalid(
            &pos,
            path_string(path),
            "name and external.name conflict; only use name",
        )),
        Some(_) => Ok(()),
        None => {
            map.insert("name".into(), legacy_name);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    //! Expectations are what `docker compose config --format json` (v2.40.3)
    //! printed for the same input. Where later phases change the printed
    //! value (relative paths made absolute, unused resources dropped, project
    //! names added), the test keeps the value as this phase leaves it.
    use super::*;
    use crate::compose::yaml::parse;
    use serde_json::{json, Value as J};

    #[test]
    fn every_rule_is_within_the_walked_depth() {
        for (pattern, _) in RULES {
            assert!(
                pattern.split('.').count() <= MAX_RULE_DEPTH,
                "{pattern} is deeper than MAX_RULE_DEPTH"
            );
        }
    }

    fn canonical(src: &str) -> Result<J, LoadError> {
        let mut doc = parse(src, "compose.yaml").expect("test YAML parses");
        canonicalize(&mut doc)?;
        Ok(doc.to_json())
    }

    /// Canonical form of one field of service `web`, written as YAML.
    fn field(name: &str, yaml_value: &str) -> J {
        let src = format!("services:\n  web:\n    image: nginx\n    {name}: {yaml_value}\n");
        let doc = canonical(&src).expect("canonicalizes");
        doc["services"]["web"][name].clone()
    }

    fn field_error(name: &str, yaml_value: &str) -> String {
        let src = format!("services:\n  web:\n    image: nginx\n    {name}: {yaml_value}\n");
        canonical(&src).expect_err("must fail").to_string()
    }

    fn port(spec: &str) -> J {
        field("ports", &format!("[{spec:?}]"))
    }

    fn volume(spec: &str) -> J {
        field("volumes", &format!("[{spec:?}]"))[0].clone()
    }

    // --- ports -------------------------------------------------------------

    #[test]
    fn port_container_only() {
        assert_eq!(
            port("80"),
            json!([{"mode": "ingress", "target": 80, "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_integer_entry() {
        assert_eq!(
            field("ports", "[81]"),
            json!([{"mode": "ingress", "target": 81, "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_host_and_container() {
        assert_eq!(
            port("8080:80"),
            json!([{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_with_ipv4() {
        assert_eq!(
            port("127.0.0.1:8081:80"),
            json!([{"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8081", "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_with_bracketed_ipv6() {
        assert_eq!(
            port("[::1]:8082:80"),
            json!([{"mode": "ingress", "host_ip": "::1", "target": 80, "published": "8082", "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_with_bare_ipv6() {
        assert_eq!(
            port("::1:8083:80"),
            json!([{"mode": "ingress", "host_ip": "::1", "target": 80, "published": "8083", "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_equal_ranges_expand() {
        assert_eq!(
            port("8000-8002:8000-8002"),
            json!([
                {"mode": "ingress", "target": 8000, "published": "8000", "protocol": "tcp"},
                {"mode": "ingress", "target": 8001, "published": "8001", "protocol": "tcp"},
                {"mode": "ingress", "target": 8002, "published": "8002", "protocol": "tcp"},
            ])
        );
    }

    #[test]
    fn port_shifted_ranges() {
        assert_eq!(
            port("9090-9091:8080-8081"),
            json!([
                {"mode": "ingress", "target": 8080, "published": "9090", "protocol": "tcp"},
                {"mode": "ingress", "target": 8081, "published": "9091", "protocol": "tcp"},
            ])
        );
    }

    #[test]
    fn port_range_sorted_as_text_like_docker() {
        let targets: Vec<i64> = port("98-101:98-101")
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|p| p["target"].as_i64())
            .collect();
        assert_eq!(targets, vec![100, 101, 98, 99]);
    }

    #[test]
    fn port_udp() {
        assert_eq!(
            port("53:53/udp"),
            json!([{"mode": "ingress", "target": 53, "published": "53", "protocol": "udp"}])
        );
    }

    #[test]
    fn port_sctp_and_uppercase_protocol() {
        assert_eq!(port("8084:80/sctp")[0]["protocol"], "sctp");
        assert_eq!(port("80:80/TCP")[0]["protocol"], "tcp");
    }

    #[test]
    fn port_empty_protocol_means_tcp() {
        assert_eq!(port("8080:80/")[0]["protocol"], "tcp");
    }

    #[test]
    fn port_ip_without_host_port() {
        assert_eq!(
            port("127.0.0.1::82"),
            json!([{"mode": "ingress", "host_ip": "127.0.0.1", "target": 82, "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_host_range_for_single_container_port() {
        assert_eq!(
            port("9000-9005:83"),
            json!([{"mode": "ingress", "target": 83, "published": "9000-9005", "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_leading_zeros_normalised() {
        assert_eq!(
            port("00080:0080"),
            json!([{"mode": "ingress", "target": 80, "published": "80", "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_extra_range_parts_ignored_like_docker() {
        let targets: Vec<i64> = port("1-2-3")
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|p| p["target"].as_i64())
            .collect();
        assert_eq!(targets, vec![1, 2]);
    }

    #[test]
    fn port_empty_host_port() {
        assert_eq!(
            port(":80"),
            json!([{"mode": "ingress", "target": 80, "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_long_form_published_int_becomes_string() {
        assert_eq!(
            field("ports", "[{target: 90, published: 9090}]"),
            json!([{"target": 90, "published": "9090", "mode": "ingress", "protocol": "tcp"}])
        );
    }

    #[test]
    fn port_long_form_keeps_everything() {
        let got = field(
            "ports",
            "[{target: 91, published: \"9091\", host_ip: 0.0.0.0, protocol: udp, mode: host, name: web, app_protocol: http}]",
        );
        assert_eq!(
            got,
            json!([{"target": 91, "published": "9091", "host_ip": "0.0.0.0", "protocol": "udp",
                    "mode": "host", "name": "web", "app_protocol": "http"}])
        );
    }

    #[test]
    fn port_long_form_string_target_and_range() {
        assert_eq!(
            field("ports", "[{target: \"80\", published: 8080-8081}]"),
            json!([{"target": 80, "published": "8080-8081", "mode": "ingress", "protocol": "tcp"}])
        );
    }

    #[test]
    fn parse_port_spec_is_reusable() {
        let parsed = parse_port_spec("127.0.0.1:8080:80/udp").expect("valid");
        assert_eq!(
            parsed,
            vec![PortMapping {
                host_ip: Some("127.0.0.1".into()),
                published: Some("8080".into()),
                target: 80,
                protocol: "udp".into(),
            }]
        );
    }

    #[test]
    fn port_full_range_does_not_overflow() {
        assert_eq!(parse_port_spec("0-65535").expect("valid").len(), 65536);
    }

    #[test]
    fn port_error_too_many_parts_names_path_and_value() {
        let src = "services:\n  web:\n    image: nginx\n    ports:\n      - \"80\"\n      - \"80:80:80\"\n";
        let err = canonical(src).expect_err("invalid").to_string();
        assert_eq!(
            err,
            "compose.yaml:6: services.web.ports[1]: invalid port \"80:80:80\": invalid IP address: 80"
        );
    }

    #[test]
    fn port_error_messages_match_docker() {
        for (spec, msg) in [
            ("abc", "invalid containerPort: abc"),
            ("80/foo", "invalid proto: foo"),
            ("1.2.3:80:80", "invalid IP address: 1.2.3"),
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
            ("70000", "invalid containerPort: 70000"),
            ("", "invalid proto: "),
            ("80:", "invalid proto: "),
            ("81-80", "invalid containerPort: 81-80"),
            ("0.0.0.0:80:80:80", "invalid IP address: 0.0.0.0:80"),
            ("-1", "invalid containerPort: -1"),
            ("80-", "invalid containerPort: 80-"),
            (" 80", "invalid containerPort:  80"),
            ("+80", "invalid containerPort: +80"),
            ("x:80", "invalid hostPort: x"),
            (
                "[::1:80:80",
                "invalid IP address [::1: address [::1:: missing ']' in address",
            ),
        ] {
            assert_eq!(parse_port_spec(spec), Err(msg.to_string()), "spec {spec:?}");
        }
    }

    #[test]
    fn port_error_for_out_of_range_integer() {
        let err = field_error("ports", "[70000]");
        assert!(
            err.ends_with(
                "services.web.ports[0]: invalid port \"70000\": invalid containerPort: 70000"
            ),
            "{err}"
        );
    }

    #[test]
    fn port_error_for_float() {
        let err = field_error("ports", "[80.5]");
        assert_eq!(
            err,
            "compose.yaml:4: services.web.ports[0]: invalid type float64 for port"
        );
    }

    // --- volumes -----------------------------------------------------------

    #[test]
    fn volume_anonymous() {
        assert_eq!(
            volume("/data"),
            json!({"type": "volume", "target": "/data", "volume": {}})
        );
    }

    #[test]
    fn volume_named() {
        assert_eq!(
            volume("db:/var/lib/db"),
            json!({"type": "volume", "source": "db", "target": "/var/lib/db", "volume": {}})
        );
    }

    #[test]
    fn volume_named_read_only() {
        assert_eq!(
            volume("db:/var/lib/db2:ro"),
            json!({"type": "volume", "source": "db", "target": "/var/lib/db2", "read_only": true, "volume": {}})
        );
    }

    #[test]
    fn volume_relative_bind() {
        // docker compose then makes the source absolute (paths phase).
        assert_eq!(
            volume("./src:/src"),
            json!({"type": "bind", "source": "./src", "target": "/src", "bind": {"create_host_path": true}})
        );
        assert_eq!(volume("../up:/up:rw")["type"], "bind");
        assert_eq!(volume("../up:/up:rw").get("read_only"), None);
    }

    #[test]
    fn volume_home_bind_with_selinux() {
        assert_eq!(
            volume("~/home:/h:z"),
            json!({"type": "bind", "source": "~/home", "target": "/h", "bind": {"selinux": "z", "create_host_path": true}})
        );
        assert_eq!(volume("/abs:/abs:Z")["bind"]["selinux"], "Z");
    }

    #[test]
    fn volume_propagation() {
        assert_eq!(
            volume("/p:/p:rshared"),
            json!({"type": "bind", "source": "/p", "target": "/p", "bind": {"propagation": "rshared", "create_host_path": true}})
        );
        assert_eq!(
            volume("/q:/q:ro,rslave"),
            json!({"type": "bind", "source": "/q", "target": "/q", "read_only": true, "bind": {"propagation": "rslave", "create_host_path": true}})
        );
        assert_eq!(
            volume("/a:/b:private,slave")["bind"]["propagation"],
            "slave"
        );
    }

    #[test]
    fn volume_all_bind_options() {
        assert_eq!(
            volume("/a:/b:ro,rprivate,Z"),
            json!({"type": "bind", "source": "/a", "target": "/b", "read_only": true,
                   "bind": {"propagation": "rprivate", "selinux": "Z", "create_host_path": true}})
        );
    }

    #[test]
    fn volume_nocopy() {
        assert_eq!(
            volume("db:/n:nocopy"),
            json!({"type": "volume", "source": "db", "target": "/n", "volume": {"nocopy": true}})
        );
        assert_eq!(
            volume("db:/x:nocopy,ro"),
            json!({"type": "volume", "source": "db", "target": "/x", "read_only": true, "volume": {"nocopy": true}})
        );
    }

    #[test]
    fn volume_nocopy_on_bind_keeps_both_sections() {
        assert_eq!(
            volume("/a:/b:ro,z,nocopy"),
            json!({"type": "bind", "source": "/a", "target": "/b", "read_only": true,
                   "bind": {"selinux": "z", "create_host_path": true}, "volume": {"nocopy": true}})
        );
    }

    #[test]
    fn volume_propagation_on_named_volume() {
        assert_eq!(
            volume("db:/x:shared"),
            json!({"type": "volume", "source": "db", "target": "/x", "bind": {"propagation": "shared"}, "volume": {}})
        );
    }

    #[test]
    fn volume_last_rw_ro_wins() {
        assert_eq!(volume("/a:/b:rw,ro")["read_only"], true);
        assert_eq!(volume("db:/x:ro,nocopy,rw").get("read_only"), None);
    }

    #[test]
    fn volume_consistency_and_unknown_options_ignored() {
        for spec in ["/c:/c:cached", "/a:/b:consistent", "/d:/d:delegated"] {
            let v = volume(spec);
            assert_eq!(v.get("consistency"), None, "{spec}");
            assert_eq!(v["bind"], json!({"create_host_path": true}), "{spec}");
        }
        assert_eq!(
            volume("db:/x:unknownopt"),
            json!({"type": "volume", "source": "db", "target": "/x", "volume": {}})
        );
        assert_eq!(volume("db:/x:RO").get("read_only"), None);
    }

    #[test]
    fn volume_windows_paths() {
        assert_eq!(
            volume("C:\\win:/win"),
            json!({"type": "bind", "source": "C:\\win", "target": "/win", "bind": {"create_host_path": true}})
        );
        assert_eq!(
            volume("C:\\a:D:\\b"),
            json!({"type": "bind", "source": "C:\\a", "target": "D:\\b", "bind": {"create_host_path": true}})
        );
        assert_eq!(volume("\\\\host\\share:/x")["type"], "bind");
    }

    #[test]
    fn volume_single_letter_before_colon_is_a_drive() {
        assert_eq!(
            volume("c:/x"),
            json!({"type": "volume", "target": "c:/x", "volume": {}})
        );
        assert_eq!(
            volume("a:b"),
            json!({"type": "volume", "target": "a:b", "volume": {}})
        );
        assert_eq!(
            volume("/a:b:ro"),
            json!({"type": "bind", "source": "/a", "target": "b:ro", "bind": {"create_host_path": true}})
        );
        assert_eq!(
            volume("x:/b:Z,z"),
            json!({"type": "bind", "source": "x:/b", "target": "Z,z", "bind": {"create_host_path": true}})
        );
    }

    #[test]
    fn volume_very_short_specs_have_no_volume_section() {
        assert_eq!(volume("a"), json!({"type": "volume", "target": "a"}));
        assert_eq!(volume("ab"), json!({"type": "volume", "target": "ab"}));
        assert_eq!(
            volume("abc"),
            json!({"type": "volume", "target": "abc", "volume": {}})
        );
    }

    #[test]
    fn volume_target_is_cleaned() {
        assert_eq!(volume("/t:/t/../t2/")["target"], "/t2");
        assert_eq!(volume("/a:/b/")["target"], "/b");
        assert_eq!(volume("/a:/")["target"], "/");
        assert_eq!(volume("/a://x//y/.")["target"], "/x/y");
        assert_eq!(volume("db:relative")["target"], "relative");
    }

    #[test]
    fn volume_variable_syntax_is_not_split() {
        // `$${X:-ro}` in YAML is the literal `${X:-ro}` after interpolation.
        assert_eq!(
            volume("/a:/b:${X:-ro}"),
            json!({"type": "bind", "source": "/a", "target": "/b", "bind": {"create_host_path": true}})
        );
    }

    #[test]
    fn volume_errors_match_docker() {
        for (spec, msg) in [
            (
                "db:/x:ro:extra",
                "invalid spec: db:/x:ro:extra: too many colons",
            ),
            (
                "db::/x",
                "invalid spec: db::/x: empty section between colons",
            ),
            ("db:", "invalid spec: db:: empty section between colons"),
            (":/x", "invalid spec: :/x: empty section between colons"),
            (
                "/a:/b:",
                "invalid spec: /a:/b:: empty section between colons",
            ),
            ("", "invalid empty volume spec"),
        ] {
            assert_eq!(
                parse_volume_spec(spec),
                Err(msg.to_string()),
                "spec {spec:?}"
            );
        }
    }

    #[test]
    fn volume_error_names_path_and_line() {
        let src = "services:\n  web:\n    image: nginx\n    volumes:\n      - /ok:/ok\n      - \"db:/x:ro:extra\"\n";
        let err = canonical(src).expect_err("invalid").to_string();
        assert_eq!(
            err,
            "compose.yaml:6: services.web.volumes[1]: invalid volume \"db:/x:ro:extra\": invalid spec: db:/x:ro:extra: too many colons"
        );
    }

    #[test]
    fn parse_volume_spec_is_reusable() {
        let spec = parse_volume_spec("/host:/ctr:ro").expect("valid");
        assert_eq!(spec.kind, VolumeKind::Bind);
        assert_eq!(spec.source.as_deref(), Some("/host"));
        assert_eq!(spec.target, "/ctr");
        assert!(spec.read_only);
    }

    #[test]
    fn volume_long_form_tmpfs_size_in_bytes() {
        let got = field(
            "volumes",
            "[{type: tmpfs, target: /tmp, tmpfs: {size: 1g, mode: 1023}}, {type: tmpfs, target: /tmp2, tmpfs: {size: 1024}}]",
        );
        assert_eq!(
            got,
            json!([
                {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": "1073741824", "mode": 1023}},
                {"type": "tmpfs", "target": "/tmp2", "tmpfs": {"size": "1024"}},
            ])
        );
    }

    #[test]
    fn volume_tmpfs_size_units() {
        for (size, bytes) in [
            ("1.5g", "1610612736"),
            ("100M", "104857600"),
            ("1gb", "1073741824"),
            ("1GiB", "1073741824"),
            ("\"10\"", "10"),
            ("\"1 k\"", "1024"),
            ("1kB", "1024"),
            ("10b", "10"),
            ("\"1.7\"", "1"),
        ] {
            let got = field(
                "volumes",
                &format!("[{{type: tmpfs, target: /t/, tmpfs: {{size: {size}}}}}]"),
            );
            assert_eq!(got[0]["tmpfs"]["size"], bytes, "size {size}");
            assert_eq!(got[0]["target"], "/t", "size {size}");
        }
    }

    #[test]
    fn volume_tmpfs_zero_size_dropped() {
        let got = field("volumes", "[{type: tmpfs, target: /t, tmpfs: {size: 0}}]");
        assert_eq!(got[0]["tmpfs"], json!({}));
    }

    #[test]
    fn volume_tmpfs_invalid_size() {
        let err = field_error("volumes", "[{type: tmpfs, target: /t, tmpfs: {size: abc}}]");
        assert_eq!(
            err,
            "compose.yaml:4: services.web.volumes[0].tmpfs.size: invalid size: 'abc'"
        );
    }

    #[test]
    fn volume_long_forms_kept() {
        let got = field(
            "volumes",
            "[{type: volume, source: db, target: /y, read_only: true, volume: {nocopy: true, subpath: sub}},
              {type: image, source: alpine, target: /img, image: {subpath: etc}},
              {type: bind, source: /b, target: /b/./c/, consistency: cached, bind: {create_host_path: false, propagation: shared, selinux: z}}]",
        );
        assert_eq!(
            got,
            json!([
                {"type": "volume", "source": "db", "target": "/y", "read_only": true, "volume": {"nocopy": true, "subpath": "sub"}},
                {"type": "image", "source": "alpine", "target": "/img", "image": {"subpath": "etc"}},
                {"type": "bind", "source": "/b", "target": "/b/c", "consistency": "cached",
                 "bind": {"create_host_path": false, "propagation": "shared", "selinux": "z"}},
            ])
        );
    }

    #[test]
    fn volume_invalid_type() {
        let err = field_error("volumes", "[42]");
        assert_eq!(
            err,
            "compose.yaml:4: services.web.volumes[0]: invalid type int for service volume mount"
        );
    }

    // --- other service fields ----------------------------------------------

    #[test]
    fn depends_on_list() {
        assert_eq!(
            field("depends_on", "[db]"),
            json!({"db": {"condition": "service_started", "required": true}})
        );
    }

    #[test]
    fn depends_on_map_keeps_condition_and_restart() {
        assert_eq!(
            field(
                "depends_on",
                "{db: {condition: service_healthy, restart: true}, cache: {condition: service_started, required: false}}"
            ),
            json!({
                "db": {"condition": "service_healthy", "restart": true, "required": true},
                "cache": {"condition": "service_started", "required": false},
            })
        );
    }

    #[test]
    fn networks_list_to_map() {
        assert_eq!(
            field("networks", "[front, back]"),
            json!({"front": null, "back": null})
        );
        assert_eq!(
            field("networks", "{front: {aliases: [x]}, back: null}"),
            json!({"front": {"aliases": ["x"]}, "back": null})
        );
    }

    #[test]
    fn models_list_to_map() {
        assert_eq!(field("models", "[m1]"), json!({"m1": null}));
        assert_eq!(
            field("models", "{m1: {endpoint_var: URL}}"),
            json!({"m1": {"endpoint_var": "URL"}})
        );
    }

    #[test]
    fn secrets_short_get_source_and_default_target() {
        assert_eq!(
            field("secrets", "[s1, {source: s2, target: /x}]"),
            json!([{"source": "s1", "target": "/run/secrets/s1"}, {"source": "s2", "target": "/x"}])
        );
    }

    #[test]
    fn configs_short_get_source_only() {
        assert_eq!(field("configs", "[c1]"), json!([{"source": "c1"}]));
    }

    #[test]
    fn env_file_string_and_list() {
        assert_eq!(
            field("env_file", ".env.web"),
            json!([{"path": ".env.web", "required": true}])
        );
        assert_eq!(
            field(
                "env_file",
                "[a.env, {path: b.env, required: false, format: raw}]"
            ),
            json!([{"path": "a.env", "required": true}, {"path": "b.env", "required": false, "format": "raw"}])
        );
    }

    #[test]
    fn build_string_gets_default_dockerfile() {
        assert_eq!(
            field("build", "./dir"),
            json!({"context": "./dir", "dockerfile": "Dockerfile"})
        );
    }

    #[test]
    fn build_mapping_defaults() {
        assert_eq!(
            field("build", "{dockerfile: Foo}"),
            json!({"dockerfile": "Foo", "context": "."})
        );
        assert_eq!(
            field("build", "{context: ., dockerfile_inline: FROM x}"),
            json!({"context": ".", "dockerfile_inline": "FROM x"})
        );
    }

    #[test]
    fn build_secrets_and_additional_contexts() {
        assert_eq!(
            field("build", "{context: ., secrets: [s1], additional_contexts: [\"a=./x\", \"b=docker-image://y\"]}"),
            json!({"context": ".", "secrets": [{"source": "s1"}],
                   "additional_contexts": {"a": "./x", "b": "docker-image://y"}, "dockerfile": "Dockerfile"})
        );
        let err = field_error("build", "{context: ., additional_contexts: [a]}");
        assert!(
            err.ends_with(
                "services.web.build.additional_contexts: invalid value a, expected key=value"
            ),
            "{err}"
        );
    }

    #[test]
    fn devices_short_forms() {
        assert_eq!(
            field(
                "devices",
                "[/dev/fuse, \"/dev/a:/dev/b\", \"/dev/c:/dev/d:rw\", \"/dev/e::r\"]"
            ),
            json!([
                {"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"},
                {"source": "/dev/a", "target": "/dev/b", "permissions": "rwm"},
                {"source": "/dev/c", "target": "/dev/d", "permissions": "rw"},
                {"source": "/dev/e", "target": "/dev/e", "permissions": "r"},
            ])
        );
        assert_eq!(
            field("devices", "[{source: /dev/a, target: /dev/b}]"),
            json!([{"source": "/dev/a", "target": "/dev/b"}])
        );
    }

    #[test]
    fn devices_too_many_colons() {
        let err = field_error("devices", "[\"/dev/a:/dev/b:r:x\"]");
        assert_eq!(
            err,
            "compose.yaml:4: services.web.devices[0]: confusing device mapping, please use long syntax: /dev/a:/dev/b:r:x"
        );
    }

    #[test]
    fn gpus_all_and_list() {
        assert_eq!(field("gpus", "all"), json!([{"count": -1}]));
        assert_eq!(
            field("gpus", "[{driver: nvidia, count: 1}, {capabilities: [gpu]}, {device_ids: [\"0\"]}, {count: all}]"),
            json!([
                {"driver": "nvidia", "count": 1},
                {"capabilities": ["gpu"], "count": -1},
                {"device_ids": ["0"]},
                {"count": -1},
            ])
        );
    }

    #[test]
    fn extra_hosts_list_sorted_with_equals() {
        assert_eq!(
            field(
                "extra_hosts",
                "[\"h1:1.2.3.4\", \"h2=5.6.7.8\", \"h1:::1\", \"h3=::2\", \"h4:[::3]\"]"
            ),
            json!(["h1=1.2.3.4", "h1=::1", "h2=5.6.7.8", "h3=::2", "h4=::3"])
        );
    }

    #[test]
    fn extra_hosts_map_with_several_ips() {
        assert_eq!(
            field("extra_hosts", "{h2: [\"5.6.7.8\", \"::1\"], h1: 1.2.3.4}"),
            json!(["h1=1.2.3.4", "h2=5.6.7.8", "h2=::1"])
        );
        assert_eq!(
            field("extra_hosts", "[\"h=1.1.1.1,2.2.2.2\"]"),
            json!(["h=1.1.1.1", "h=2.2.2.2"])
        );
    }

    #[test]
    fn extra_hosts_errors() {
        let err = field_error("extra_hosts", "[nohost]");
        assert!(
            err.ends_with("invalid additional host, missing IP: nohost"),
            "{err}"
        );
        let err = field_error("extra_hosts", "[\"=1.2.3.4\"]");
        assert!(
            err.ends_with("services.web.extra_hosts: bad host name ''"),
            "{err}"
        );
    }

    #[test]
    fn string_or_list_fields() {
        assert_eq!(field("tmpfs", "/run"), json!(["/run"]));
        assert_eq!(field("tmpfs", "[/a, /b]"), json!(["/a", "/b"]));
        assert_eq!(field("dns", "8.8.8.8"), json!(["8.8.8.8"]));
        assert_eq!(field("dns_search", "example.com"), json!(["example.com"]));
        assert_eq!(field("cap_add", "[NET_ADMIN]"), json!(["NET_ADMIN"]));
    }

    #[test]
    fn extends_string() {
        assert_eq!(field("extends", "base"), json!({"service": "base"}));
        assert_eq!(
            field("extends", "{service: base, file: b.yaml}"),
            json!({"service": "base", "file": "b.yaml"})
        );
    }

    // --- top level -----------------------------------------------------------

    #[test]
    fn top_level_null_becomes_empty_mapping() {
        let doc = canonical("volumes:\n  v1:\nnetworks:\n  n1:\nsecrets:\n  s: {file: ./s}\n")
            .expect("valid");
        assert_eq!(doc["volumes"]["v1"], json!({}));
        assert_eq!(doc["networks"]["n1"], json!({}));
        assert_eq!(doc["secrets"]["s"], json!({"file": "./s"}));
    }

    #[test]
    fn top_level_external_legacy_name() {
        let doc = canonical(
            "networks:\n  n2:\n    external: true\n  n3:\n    external:\n      name: real3\nvolumes:\n  v3:\n    name: x\n    external:\n      name: x\nsecrets:\n  s2:\n    external: {}\n",
        )
        .expect("valid");
        assert_eq!(doc["networks"]["n2"], json!({"external": true}));
        assert_eq!(
            doc["networks"]["n3"],
            json!({"external": true, "name": "real3"})
        );
        assert_eq!(doc["volumes"]["v3"], json!({"name": "x", "external": true}));
        assert_eq!(doc["secrets"]["s2"], json!({"external": true}));
    }

    #[test]
    fn top_level_external_name_conflict() {
        let err = canonical("networks:\n  n:\n    name: a\n    external:\n      name: b\n")
            .expect_err("conflict")
            .to_string();
        assert_eq!(
            err,
            "compose.yaml:2: networks.n: name and external.name conflict; only use name"
        );
    }

    #[test]
    fn include_short_and_long() {
        let doc =
            canonical("include:\n  - sub.yaml\n  - path: [a.yaml, b.yaml]\n    env_file: x.env\n")
                .expect("valid");
        assert_eq!(
            doc["include"],
            json!([{"path": ["sub.yaml"]}, {"path": ["a.yaml", "b.yaml"], "env_file": ["x.env"]}])
        );
    }

    #[test]
    fn top_level_models_untouched() {
        let doc = canonical("models:\n  m1:\n    model: ai/smollm2\n").expect("valid");
        assert_eq!(doc["models"], json!({"m1": {"model": "ai/smollm2"}}));
    }

    #[test]
    fn extension_fields_left_alone() {
        let doc = canonical(
            "x-ports: \"80:80:80\"\nservices:\n  web:\n    image: x\n    x-volumes: \"a::b\"\n",
        )
        .expect("valid");
        assert_eq!(doc["x-ports"], "80:80:80");
        assert_eq!(doc["services"]["web"]["x-volumes"], "a::b");
    }

    #[test]
    fn null_service_fields_left_for_the_schema_check() {
        for name in [
            "ports",
            "volumes",
            "depends_on",
            "env_file",
            "build",
            "extra_hosts",
            "gpus",
        ] {
            assert_eq!(field(name, "null"), J::Null, "{name}");
        }
    }

    #[test]
    fn canonicalize_is_idempotent() {
        let src = "services:\n  web:\n    image: nginx\n    ports: [\"8080:80\", 81]\n    volumes: [\"db:/x:ro\", /data]\n    depends_on: [db]\n    networks: [a]\n    secrets: [s]\n    build: .\n    gpus: all\n    extra_hosts: [\"h:1.1.1.1\"]\n";
        let mut doc = parse(src, "compose.yaml").expect("parses");
        canonicalize(&mut doc).expect("first pass");
        let once = doc.to_json();
        canonicalize(&mut doc).expect("second pass");
        assert_eq!(doc.to_json(), once);
    }

    #[test]
    fn generated_nodes_keep_source_line() {
        let src = "services:\n  web:\n    image: nginx\n    ports:\n      - \"8080:80\"\n";
        let mut doc = parse(src, "compose.yaml").expect("parses");
        canonicalize(&mut doc).expect("valid");
        let path = [
            PathSeg::Key("services".into()),
            PathSeg::Key("web".into()),
            PathSeg::Key("ports".into()),
            PathSeg::Index(0),
            PathSeg::Key("published".into()),
        ];
        assert_eq!(doc.find(&path).pos.line, 5);
    }
}
