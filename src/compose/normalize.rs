//! Phases after all files are merged: defaults, semantic checks, Compose's
//! normalization (implicit default network, resource names, implicit
//! dependencies) and the project-level steps `docker compose` applies before
//! printing or running (profiles, env_file resolution, unused resources).

use super::env;
use super::error::LoadError;
use super::yaml::{Mapping, Node, Pos, Value};
use indexmap::IndexMap;
use std::collections::BTreeSet;
use std::path::Path;

fn map_mut<'a>(n: &'a mut Node, key: &str) -> Option<&'a mut Mapping> {
    n.as_map_mut()?.get_mut(key)?.as_map_mut()
}

fn is_true(n: &Node) -> bool {
    match &n.value {
        Value::Bool(b) => *b,
        Value::Str(s) => matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
        Value::Int(i) => *i == 1,
        _ => false,
    }
}

fn dep_entry(restart: bool) -> Node {
    let mut m = Mapping::new();
    m.insert("condition".into(), Node::str("service_started"));
    m.insert("restart".into(), Node::synthetic(Value::Bool(restart)));
    m.insert("required".into(), Node::synthetic(Value::Bool(true)));
    Node::synthetic(Value::Map(m))
}

/// Drops attributes that mean nothing when empty (compose-go `OmitEmpty`).
pub fn omit_empty(dict: &mut Node) {
    if let Some(services) = map_mut(dict, "services") {
        for svc in services.values_mut() {
            if let Some(s) = svc.as_map_mut() {
                let empty = match s.get("dns").map(|d| &d.value) {
                    Some(Value::Seq(v)) => v.is_empty(),
                    Some(Value::Str(v)) => v.is_empty(),
                    Some(Value::Null) => true,
                    _ => false,
                };
                if empty {
                    s.shift_remove("dns");
                }
            }
        }
    }
}

/// `build` without a context builds the project directory.
pub fn set_default_values(dict: &mut Node) {
    if let Some(services) = map_mut(dict, "services") {
        for svc in services.values_mut() {
            if let Some(build) = svc.as_map_mut().and_then(|s| s.get_mut("build")) {
                if let Some(b) = build.as_map_mut() {
                    if b.get("context").is_none_or(Node::is_null) {
                        b.insert("context".into(), Node::str("."));
                    }
                }
            }
        }
    }
}

/// Semantic checks Compose runs on the merged model before paths resolve.
pub fn validate_semantics(dict: &Node) -> Result<(), LoadError> {
    let check_external = |kind: &str, name: &str, def: &Node| -> Result<(), LoadError> {
        let Some(m) = def.as_map() else { return Ok(()) };
        if !m.get("external").is_some_and(is_true) {
            return Ok(());
        }
        for k in m.keys() {
            if k == "name" || k == "external" || k.starts_with("x-") {
                continue;
            }
            return Err(LoadError::invalid(
                &def.pos,
                format!("{kind}.{name}"),
                format!("conflicting parameters \"external\" and {k:?} specified"),
            ));
        }
        Ok(())
    };
    let check_file_object =
        |kind: &str, name: &str, def: &Node, keys: &[&str]| -> Result<(), LoadError> {
            let Some(m) = def.as_map() else { return Ok(()) };
            let count = keys.iter().filter(|k| m.contains_key(**k)).count();
            let path = format!("{kind}.{name}");
            if count > 1 {
                return Err(LoadError::invalid(
                    &def.pos,
                    path,
                    format!("{} attributes are mutually exclusive", keys.join("|")),
                ));
            }
            if count == 0 && !m.contains_key("driver") && !m.contains_key("external") {
                return Err(LoadError::invalid(
                    &def.pos,
                    path,
                    format!("one of {} must be set", keys.join("|")),
                ));
            }
            Ok(())
        };
    if let Some(vols) = dict.get("volumes").and_then(Node::as_map) {
        for (name, def) in vols {
            check_external("volumes", name, def)?;
        }
    }
    if let Some(nets) = dict.get("networks").and_then(Node::as_map) {
        for (name, def) in nets {
            check_external("networks", name, def)?;
        }
    }
    if let Some(cfgs) = dict.get("configs").and_then(Node::as_map) {
        for (name, def) in cfgs {
            check_file_object("configs", name, def, &["file", "environment", "content"])?;
        }
    }
    if let Some(secrets) = dict.get("secrets").and_then(Node::as_map) {
        for (name, def) in secrets {
            check_file_object("secrets", name, def, &["file", "environment"])?;
            if let Some(c) = def.get("content") {
                return Err(LoadError::invalid(
                    &c.pos,
                    format!("secrets.{name}"),
                    "content is not allowed for secrets",
                ));
            }
        }
    }
    if let Some(services) = dict.get("services").and_then(Node::as_map) {
        for (name, svc) in services {
            let watch = svc
                .get("develop")
                .and_then(|d| d.get("watch"))
                .and_then(Node::as_seq);
            for (i, w) in watch.into_iter().flatten().enumerate() {
                if let Some(p) = w.get("path") {
                    if p.as_str() == Some("") {
                        return Err(LoadError::invalid(
                            &p.pos,
                            format!("services.{name}.develop.watch[{i}].path"),
                            "value can't be blank",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Resolves `KEY` entries without a value from the project environment.
/// Environment keeps unresolved keys (as null); build args drop them.
fn resolve_from_env(node: &mut Node, env: &IndexMap<String, String>, keep_empty: bool) {
    if let Value::Map(m) = &mut node.value {
        let mut out = Mapping::new();
        for (k, v) in std::mem::take(m) {
            if !v.is_null() {
                out.insert(k, v);
            } else if let Some(val) = env.get(&k) {
                let pos = v.pos.clone();
                out.insert(k, Node::new(Value::Str(val.clone()), pos));
            } else if keep_empty {
                out.insert(k, v);
            }
        }
        *m = out;
    }
}

/// Compose's `Normalize`: implicit default network, pull policy alias,
/// build defaults, environment from the project, implicit dependencies,
/// clean volume targets, resource names from their keys.
pub fn normalize(dict: &mut Node, env: &IndexMap<String, String>) {
    normalize_networks(dict);
    let project = dict
        .get("name")
        .and_then(Node::scalar_string)
        .unwrap_or_default();
    if let Some(services) = map_mut(dict, "services") {
        for svc in services.values_mut() {
            let Some(s) = svc.as_map_mut() else { continue };
            if s.get("pull_policy").and_then(Node::as_str) == Some("if_not_present") {
                s.insert("pull_policy".into(), Node::str("missing"));
            }
            if let Some(b) = s.get_mut("build").and_then(Node::as_map_mut) {
                if b.get("context").is_none_or(Node::is_null) {
                    b.insert("context".into(), Node::str("."));
                }
                if b.get("dockerfile").is_none_or(Node::is_null)
                    && b.get("dockerfile_inline").is_none_or(Node::is_null)
                {
                    b.insert("dockerfile".into(), Node::str("Dockerfile"));
                }
                if let Some(args) = b.get_mut("args") {
                    resolve_from_env(args, env, false);
                }
            }
            if let Some(e) = s.get_mut("environment") {
                resolve_from_env(e, env, true);
            }

            let mut deps: Mapping = s
                .get("depends_on")
                .and_then(Node::as_map)
                .cloned()
                .unwrap_or_default();
            for link in s.get("links").and_then(Node::as_seq).into_iter().flatten() {
                let l = link.scalar_string().unwrap_or_default();
                let parts: Vec<&str> = l.split(':').collect();
                let name = if parts.len() == 2 {
                    parts[0]
                } else {
                    l.as_str()
                };
                if !deps.contains_key(name) {
                    deps.insert(name.to_string(), dep_entry(true));
                }
            }
            for ns in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
                if let Some(shared) = s
                    .get(ns)
                    .and_then(Node::as_str)
                    .and_then(|r| r.strip_prefix("service:"))
                {
                    if !deps.contains_key(shared) {
                        deps.insert(shared.to_string(), dep_entry(true));
                    }
                }
            }
            if let Some(vols) = s.get_mut("volumes").and_then(|v| match &mut v.value {
                Value::Seq(s) => Some(s),
                _ => None,
            }) {
                for v in vols.iter_mut() {
                    if let Some(t) = v.as_map_mut().and_then(|m| m.get_mut("target")) {
                        if let Value::Str(target) = &t.value {
                            t.value = Value::Str(crate::compose::paths::clean(target));
                        }
                    }
                }
            }
            for vf in s
                .get("volumes_from")
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
            {
                let v = vf.scalar_string().unwrap_or_default();
                if !v.starts_with("container:") {
                    let name = v.split(':').next().unwrap_or_default().to_string();
                    if !deps.contains_key(&name) {
                        deps.insert(name, dep_entry(false));
                    }
                }
            }
            if !deps.is_empty() {
                let pos = s
                    .get("depends_on")
                    .map(|d| d.pos.clone())
                    .unwrap_or_default();
                s.insert("depends_on".into(), Node::new(Value::Map(deps), pos));
            }
        }
    }
    set_name_from_key(dict, &project);
}

fn normalize_networks(dict: &mut Node) {
    let mut uses_default = false;
    if let Some(services) = map_mut(dict, "services") {
        for svc in services.values_mut() {
            let Some(s) = svc.as_map_mut() else { continue };
            if s.contains_key("provider") || s.contains_key("network_mode") {
                continue;
            }
            let attach_default = match s.get("networks") {
                None => true,
                Some(n) => match n.as_map() {
                    Some(m) if m.is_empty() => true,
                    Some(m) => {
                        if m.contains_key("default") {
                            uses_default = true;
                        }
                        false
                    }
                    None => n.is_null(),
                },
            };
            if attach_default {
                let mut m = Mapping::new();
                m.insert("default".into(), Node::synthetic(Value::Null));
                s.insert("networks".into(), Node::synthetic(Value::Map(m)));
                uses_default = true;
            }
        }
    }
    let Some(root) = dict.as_map_mut() else {
        return;
    };
    let nets = root
        .entry("networks".to_string())
        .or_insert_with(|| Node::synthetic(Value::Map(Mapping::new())));
    if nets.is_null() {
        nets.value = Value::Map(Mapping::new());
    }
    if let Some(m) = nets.as_map_mut() {
        if uses_default && !m.contains_key("default") {
            m.insert("default".into(), Node::synthetic(Value::Null));
        }
    }
    if root
        .get("networks")
        .and_then(Node::as_map)
        .is_some_and(|m| m.is_empty())
    {
        root.shift_remove("networks");
    }
}

fn set_name_from_key(dict: &mut Node, project: &str) {
    let Some(root) = dict.as_map_mut() else {
        return;
    };
    for kind in ["networks", "volumes", "configs", "secrets"] {
        let Some(top) = root.get_mut(kind).and_then(Node::as_map_mut) else {
            continue;
        };
        for (key, res) in top.iter_mut() {
            if res.is_null() {
                res.value = Value::Map(Mapping::new());
            }
            let Some(m) = res.as_map_mut() else { continue };
            if m.get("name").is_none_or(Node::is_null) {
                let name = if m.get("external").is_some_and(is_true) {
                    key.clone()
                } else {
                    format!("{project}_{key}")
                };
                m.insert("name".into(), Node::str(name));
            }
        }
    }
}

/// Inputs of the project-level steps.
pub struct Finish<'a> {
    pub project_name: &'a str,
    pub env: &'a IndexMap<String, String>,
    pub profiles: &'a [String],
    /// Services named on the command line; empty means all.
    pub selected: &'a [String],
    pub consistency: bool,
    /// Fold `env_file` into `environment` (what `config` prints and `up` runs).
    pub resolve_env_files: bool,
    /// `--all-resources`: unused resources stay.
    pub keep_unused_resources: bool,
    pub working_dir: &'a Path,
}

fn has_profile(svc: &Node, profiles: &[String]) -> bool {
    let Some(ps) = svc.get("profiles").and_then(Node::as_seq) else {
        return true;
    };
    if ps.is_empty() {
        return true;
    }
    profiles.iter().any(|p| {
        p == "*"
            || ps
                .iter()
                .any(|sp| sp.scalar_string().as_deref() == Some(p.as_str()))
    })
}

fn depends_on_names(svc: &Node) -> Vec<(String, bool)> {
    svc.get("depends_on")
        .and_then(Node::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let required = v.get("required").is_none_or(is_true);
                    (k.clone(), required)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Profiles, named services, consistency, env_file resolution and removal of
/// resources no service uses: what `docker compose config` does after loading.
pub fn finish(mut dict: Node, f: &Finish<'_>) -> Result<Node, LoadError> {
    let Some(root) = dict.as_map_mut() else {
        return Ok(dict);
    };
    root.insert("name".into(), Node::str(f.project_name));
    let services = root
        .shift_remove("services")
        .and_then(|s| match s.value {
            Value::Map(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let (mut enabled, mut disabled): (Mapping, Mapping) = (Mapping::new(), Mapping::new());
    for (name, svc) in services {
        if has_profile(&svc, f.profiles) {
            enabled.insert(name, svc);
        } else {
            disabled.insert(name, svc);
        }
    }
    if f.consistency {
        check_consistency(&dict, &enabled, &disabled)?;
    }
    // Services named on the command line are enabled with their dependencies.
    let mut queue: Vec<String> = f.selected.to_vec();
    while let Some(name) = queue.pop() {
        if enabled.contains_key(&name) {
            continue;
        }
        match disabled.shift_remove(&name) {
            Some(svc) => {
                for (d, _) in depends_on_names(&svc) {
                    queue.push(d);
                }
                enabled.insert(name, svc);
            }
            None => return Err(LoadError::Project(format!("no such service: {name}"))),
        }
    }
    if !f.selected.is_empty() {
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let mut queue: Vec<String> = f.selected.to_vec();
        while let Some(n) = queue.pop() {
            if keep.insert(n.clone()) {
                if let Some(svc) = enabled.get(&n) {
                    queue.extend(depends_on_names(svc).into_iter().map(|(d, _)| d));
                }
            }
        }
        enabled.retain(|k, _| keep.contains(k));
    }
    for (name, svc) in enabled.iter_mut() {
        if f.resolve_env_files {
            resolve_service_env(name, svc, f.env)?;
        }
        resolve_label_files(svc)?;
        copy_scale_to_replicas(svc);
    }
    enabled.sort_keys();
    let Some(root) = dict.as_map_mut() else {
        return Ok(dict);
    };
    root.insert("services".into(), Node::synthetic(Value::Map(enabled)));
    if !f.keep_unused_resources {
        drop_unused_resources(&mut dict);
    }
    let _ = f.working_dir;
    Ok(dict)
}

fn check_consistency(dict: &Node, enabled: &Mapping, disabled: &Mapping) -> Result<(), LoadError> {
    let top = |k: &str| dict.get(k).and_then(Node::as_map);
    let invalid = |pos: &Pos, path: String, msg: String| {
        Err(LoadError::invalid(
            pos,
            path,
            format!("{msg}: invalid compose project"),
        ))
    };
    for (name, s) in enabled {
        let path = format!("services.{name}");
        check_watch_targets(name, s)?;
        // An image that interpolated to "" (`image: ${UNSET}`) is no image.
        let image = s.get("image").filter(|i| !i.is_null());
        let empty_image = image.is_some_and(|i| i.as_str() == Some(""));
        if (image.is_none() || empty_image)
            && s.get("build").is_none_or(Node::is_null)
            && s.get("provider").is_none()
        {
            let (pos, path) = match image {
                Some(i) if empty_image => (&i.pos, format!("{path}.image")),
                _ => (&s.pos, path),
            };
            return invalid(
                pos,
                path,
                format!("service {name:?} has neither an image nor a build context specified"),
            );
        }
        if let Some(b) = s.get("build") {
            if b.get("dockerfile_inline").is_some()
                && b.get("dockerfile").is_some_and(|d| !d.is_null())
            {
                return invalid(
                    &b.pos,
                    format!("{path}.build"),
                    format!("service {name:?} declares mutualy exclusive dockerfile and dockerfile_inline"),
                );
            }
            for (add, c) in b
                .get("additional_contexts")
                .and_then(Node::as_map)
                .into_iter()
                .flatten()
            {
                let Some(target) = c.as_str().and_then(|c| c.strip_prefix("service:")) else {
                    continue;
                };
                // Compose's own words, without its usual suffix.
                let msg = match enabled.get(target) {
                    None => format!(
                        "service {name:?} declares unknown service {target:?} as additional contexts {add}"
                    ),
                    Some(t) if t.get("build").is_none_or(Node::is_null) => format!(
                        "service {name:?} declares non-buildable service {target:?} as additional contexts {add}"
                    ),
                    Some(_) => continue,
                };
                return Err(LoadError::invalid(
                    &c.pos,
                    format!("{path}.build.additional_contexts.{add}"),
                    msg,
                ));
            }
            if let (Some(platforms), Some(platform)) = (
                b.get("platforms").and_then(Node::as_seq),
                s.get("platform").and_then(Node::as_str),
            ) {
                if !platforms.is_empty()
                    && !platform.is_empty()
                    && !platforms.iter().any(|p| p.as_str() == Some(platform))
                {
                    let pos = b.get("platforms").map_or(&b.pos, |p| &p.pos);
                    return invalid(
                        pos,
                        format!("{path}.build.platforms"),
                        format!(
                            "service.build.platforms MUST include service.platform {platform:?}"
                        ),
                    );
                }
            }
        }
        if s.get("network_mode").is_some()
            && s.get("networks")
                .and_then(Node::as_map)
                .is_some_and(|m| !m.is_empty())
        {
            let pos = s.get("network_mode").map_or(&s.pos, |n| &n.pos);
            return invalid(
                pos,
                format!("{path}.network_mode"),
                format!("service {name} declares mutually exclusive `network_mode` and `networks`"),
            );
        }
        for (net, n) in s
            .get("networks")
            .and_then(Node::as_map)
            .into_iter()
            .flatten()
        {
            if !top("networks").is_some_and(|m| m.contains_key(net)) {
                return invalid(
                    &n.pos,
                    format!("{path}.networks"),
                    format!("service {name:?} refers to undefined network {net}"),
                );
            }
        }
        if let Some(test) = s
            .get("healthcheck")
            .and_then(|h| h.get("test"))
            .and_then(Node::as_seq)
        {
            if let Some(first) = test.first().and_then(Node::as_str) {
                if !matches!(first, "CMD" | "CMD-SHELL" | "NONE") {
                    return Err(LoadError::invalid(
                        &test[0].pos,
                        format!("{path}.healthcheck.test"),
                        "healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                    ));
                }
            }
        }
        for (dep, required) in depends_on_names(s) {
            if !enabled.contains_key(&dep) {
                if disabled.contains_key(&dep) && !required {
                    continue;
                }
                let (pos, key) = dependency_origin(s, &dep);
                return invalid(
                    &pos,
                    format!("{path}.{key}"),
                    format!("service {name:?} depends on undefined service {dep:?}"),
                );
            }
        }
        if let Some(shared) = s
            .get("network_mode")
            .and_then(Node::as_str)
            .and_then(|r| r.strip_prefix("service:"))
        {
            if !enabled.contains_key(shared) {
                return Err(LoadError::invalid(
                    &s.pos,
                    format!("{path}.network_mode"),
                    format!("service {shared:?} not found for network_mode 'service:{shared}'"),
                ));
            }
        }
        for (i, v) in s
            .get("volumes")
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if v.get("type").and_then(Node::as_str) == Some("volume") {
                if let Some(src) = v
                    .get("source")
                    .and_then(Node::as_str)
                    .filter(|s| !s.is_empty())
                {
                    if !top("volumes").is_some_and(|m| m.contains_key(src)) {
                        return invalid(
                            &v.pos,
                            format!("{path}.volumes[{i}]"),
                            format!("service {name:?} refers to undefined volume {src}"),
                        );
                    }
                }
            }
        }
        for (i, e) in s
            .get("build")
            .and_then(|b| b.get("secrets"))
            .and_then(Node::as_seq)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(src) = e.get("source").and_then(Node::as_str) {
                if !top("secrets").is_some_and(|m| m.contains_key(src)) {
                    return invalid(
                        &e.pos,
                        format!("{path}.build.secrets[{i}]"),
                        format!("service {name:?} refers to undefined build secret {src}"),
                    );
                }
            }
        }
        for (kind, singular) in [("secrets", "secret"), ("configs", "config")] {
            for (i, e) in s
                .get(kind)
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(src) = e.get("source").and_then(Node::as_str) {
                    if !top(kind).is_some_and(|m| m.contains_key(src)) {
                        return invalid(
                            &e.pos,
                            format!("{path}.{kind}[{i}]"),
                            format!("service {name:?} refers to undefined {singular} {src}"),
                        );
                    }
                }
            }
        }
        let scale = s.get("scale").and_then(|n| match n.value {
            Value::Int(i) => Some(i),
            _ => None,
        });
        let replicas = s
            .get("deploy")
            .and_then(|d| d.get("replicas"))
            .and_then(|n| match n.value {
                Value::Int(i) => Some(i),
                _ => None,
            });
        if let (Some(sc), Some(r)) = (scale, replicas) {
            if sc != r {
                return invalid(
                    &s.pos,
                    path,
                    format!("services.{name}: can't set distinct values on 'scale' and 'deploy.replicas'"),
                );
            }
        }
        let effective_scale = scale.or(replicas).unwrap_or(1);
        if effective_scale > 1 && s.get("container_name").is_some() {
            let attr = if scale.is_some() {
                "scale"
            } else {
                "deploy.replicas"
            };
            let pos = s.get("container_name").map_or(&s.pos, |n| &n.pos);
            return invalid(
                pos,
                path,
                format!("services.{attr}: can't set container_name and {name} as container name must be unique"),
            );
        }
    }
    if let Some(secrets) = top("secrets") {
        for (name, sec) in secrets {
            if sec.get("external").is_some_and(is_true) {
                continue;
            }
            let has = |k: &str| {
                sec.get(k)
                    .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
            };
            if !has("file") && !has("environment") {
                return invalid(
                    &sec.pos,
                    format!("secrets.{name}"),
                    format!("secret {name:?} must declare either `file` or `environment`"),
                );
            }
        }
    }
    check_cycles(enabled)
}

/// Where a dependency on `dep` was declared: `depends_on`, or the
/// attribute that implied it (`links`, `network_mode`, `volumes_from`, ...).
/// compose-go's consistency check: only rebuild and restart rules work
/// without a place in the container.
fn check_watch_targets(name: &str, svc: &Node) -> Result<(), LoadError> {
    let watch = svc
        .get("develop")
        .and_then(|d| d.get("watch"))
        .and_then(Node::as_seq);
    for (i, w) in watch.into_iter().flatten().enumerate() {
        let action = w.get("action").and_then(Node::as_str);
        let no_target = w
            .get("target")
            .is_none_or(|t| t.as_str().is_none_or(str::is_empty));
        if no_target && !matches!(action, Some("rebuild" | "restart") | None) {
            return Err(LoadError::invalid(
                &w.pos,
                format!("services.{name}.develop.watch[{i}]"),
                "target is required for non-rebuild actions: invalid compose project",
            ));
        }
    }
    Ok(())
}

fn dependency_origin(svc: &Node, dep: &str) -> (Pos, &'static str) {
    let refers = |n: &Node| {
        n.as_str()
            .and_then(|r| r.strip_prefix("service:"))
            .is_some_and(|r| r == dep)
    };
    for key in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(n) = svc.get(key).filter(|n| refers(n)) {
            return (n.pos.clone(), key);
        }
    }
    for key in ["links", "volumes_from"] {
        for n in svc.get(key).and_then(Node::as_seq).into_iter().flatten() {
            if n.as_str().and_then(|v| v.split(':').next()) == Some(dep) {
                return (n.pos.clone(), key);
            }
        }
    }
    let pos = svc
        .get("depends_on")
        .and_then(|d| d.get(dep).or(Some(d)))
        .map(|n| n.pos.clone())
        .unwrap_or_default();
    (pos, "depends_on")
}

/// Dependency cycles, reported in a reproducible order.
fn check_cycles(services: &Mapping) -> Result<(), LoadError> {
    let names: Vec<&String> = {
        let mut v: Vec<&String> = services.keys().collect();
        v.sort();
        v
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let mut marks: IndexMap<&str, Mark> = names.iter().map(|n| (n.as_str(), Mark::New)).collect();
    fn visit<'a>(
        n: &'a str,
        services: &'a Mapping,
        marks: &mut IndexMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(n) {
            Some(Mark::Done) | None => return None,
            Some(Mark::Active) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            Some(Mark::New) => {}
        }
        marks.insert(n, Mark::Active);
        stack.push(n);
        let mut deps: Vec<&'a String> = services
            .get(n)
            .and_then(|s| s.get("depends_on"))
            .and_then(Node::as_map)
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        deps.sort();
        for d in deps {
            if let Some(c) = visit(d.as_str(), services, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(n, Mark::Done);
        None
    }
    for n in names {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(n.as_str(), services, &mut marks, &mut stack) {
            let first = &cycle[0];
            let pos = services
                .get(first)
                .and_then(|s| s.get("depends_on"))
                .map(|d| d.pos.clone())
                .unwrap_or_default();
            return Err(LoadError::invalid(
                &pos,
                format!("services.{first}.depends_on"),
                format!("dependency cycle detected: {}", cycle.join(" -> ")),
            ));
        }
    }
    Ok(())
}

/// `env_file` entries become environment (service values win) and are dropped.
fn resolve_service_env(
    name: &str,
    svc: &mut Node,
    project_env: &IndexMap<String, String>,
) -> Result<(), LoadError> {
    let Some(s) = svc.as_map_mut() else {
        return Ok(());
    };
    let Some(files) = s.shift_remove("env_file") else {
        return Ok(());
    };
    let mut environment: IndexMap<String, Option<String>> = IndexMap::new();
    for (i, entry) in files.as_seq().into_iter().flatten().enumerate() {
        let (path, required, format) = match &entry.value {
            Value::Str(p) => (p.clone(), true, None),
            Value::Map(m) => (
                m.get("path")
                    .and_then(Node::scalar_string)
                    .unwrap_or_default(),
                m.get("required").is_none_or(is_true),
                m.get("format").and_then(Node::scalar_string),
            ),
            _ => continue,
        };
        let p = Path::new(&path);
        if !p.exists() {
            if !required {
                continue;
            }
            return Err(LoadError::invalid(
                &entry.pos,
                format!("services.{name}.env_file[{i}]"),
                format!("env file {path} not found: stat {path}: no such file or directory"),
            ));
        }
        let vars = if format.as_deref() == Some("raw") {
            let lookup = |k: &str| project_env.get(k).cloned();
            env::read_raw_env_file(p, &lookup)?
        } else {
            let snapshot = environment.clone();
            let lookup = move |k: &str| match snapshot.get(k) {
                Some(Some(v)) => Some(v.clone()),
                _ => project_env.get(k).cloned(),
            };
            env::read_env_file(p, &lookup)?
        };
        for (k, v) in vars {
            environment.insert(k, Some(v));
        }
    }
    let own = s.shift_remove("environment");
    let mut out = Mapping::new();
    for (k, v) in environment {
        out.insert(k, Node::synthetic(v.map(Value::Str).unwrap_or(Value::Null)));
    }
    let pos = own.as_ref().map(|o| o.pos.clone()).unwrap_or_default();
    if let Some(Value::Map(m)) = own.map(|o| o.value) {
        for (k, v) in m {
            out.insert(k, v);
        }
    }
    if !out.is_empty() {
        out.sort_keys();
        s.insert("environment".into(), Node::new(Value::Map(out), pos));
    }
    Ok(())
}

/// `label_file` entries become labels (the service's own labels win).
fn resolve_label_files(svc: &mut Node) -> Result<(), LoadError> {
    let Some(s) = svc.as_map_mut() else {
        return Ok(());
    };
    let Some(files) = s.shift_remove("label_file") else {
        return Ok(());
    };
    let mut labels = Mapping::new();
    let no_lookup = |_: &str| None;
    for f in files.as_seq().into_iter().flatten() {
        let Some(path) = f.scalar_string() else {
            continue;
        };
        for (k, v) in env::read_env_file(Path::new(&path), &no_lookup)? {
            labels.insert(k, Node::str(v));
        }
    }
    let pos = s.get("labels").map(|l| l.pos.clone()).unwrap_or_default();
    if let Some(Value::Map(own)) = s.shift_remove("labels").map(|l| l.value) {
        for (k, v) in own {
            labels.insert(k, v);
        }
    }
    if !labels.is_empty() {
        s.insert("labels".into(), Node::new(Value::Map(labels), pos));
    }
    Ok(())
}

/// The deprecated `scale` is mirrored into `deploy.replicas`.
fn copy_scale_to_replicas(svc: &mut Node) {
    let Some(s) = svc.as_map_mut() else { return };
    let Some(scale) = s.get("scale").cloned() else {
        return;
    };
    if let Some(d) = s.get_mut("deploy").and_then(Node::as_map_mut) {
        d.insert("replicas".into(), scale);
    }
}

fn drop_unused_resources(dict: &mut Node) {
    let mut used: IndexMap<&str, BTreeSet<String>> = IndexMap::new();
    for k in ["networks", "volumes", "secrets", "configs", "models"] {
        used.insert(k, BTreeSet::new());
    }
    if let Some(services) = dict.get("services").and_then(Node::as_map) {
        for s in services.values() {
            let mut add = |k: &str, v: String| {
                if let Some(set) = used.get_mut(k) {
                    set.insert(v);
                }
            };
            for n in s
                .get("networks")
                .and_then(Node::as_map)
                .into_iter()
                .flatten()
            {
                add("networks", n.0.clone());
            }
            for v in s
                .get("volumes")
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
            {
                if v.get("type").and_then(Node::as_str) == Some("volume") {
                    if let Some(src) = v
                        .get("source")
                        .and_then(Node::as_str)
                        .filter(|s| !s.is_empty())
                    {
                        add("volumes", src.to_string());
                    }
                }
            }
            let build_secrets = s
                .get("build")
                .and_then(|b| b.get("secrets"))
                .and_then(Node::as_seq);
            for e in s
                .get("secrets")
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
                .chain(build_secrets.into_iter().flatten())
            {
                if let Some(src) = e.get("source").and_then(Node::scalar_string) {
                    add("secrets", src);
                }
            }
            for e in s
                .get("configs")
                .and_then(Node::as_seq)
                .into_iter()
                .flatten()
            {
                if let Some(src) = e.get("source").and_then(Node::scalar_string) {
                    add("configs", src);
                }
            }
            match s.get("models").map(|m| &m.value) {
                Some(Value::Map(m)) => m.keys().for_each(|k| add("models", k.clone())),
                Some(Value::Seq(items)) => items
                    .iter()
                    .filter_map(Node::scalar_string)
                    .for_each(|k| add("models", k)),
                _ => {}
            }
        }
    }
    let Some(root) = dict.as_map_mut() else {
        return;
    };
    for (kind, keep) in used {
        let now_empty = match root.get_mut(kind).and_then(Node::as_map_mut) {
            Some(m) => {
                m.retain(|k, _| keep.contains(k));
                m.is_empty()
            }
            None => false,
        };
        if now_empty {
            root.shift_remove(kind);
        }
    }
}
