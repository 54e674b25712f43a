//! The mapping itself: compose services, volumes, configs, secrets and
//! networks → Kubernetes objects. This file holds the conversion context,
//! the entry point and the helpers the concern files below share.

use super::names::{self, dns_label, label_value, with_suffix};
use super::{ConvertError, Options, Resource, Warning};
use crate::compose::load::Loaded;
use crate::compose::types::{DependencyCondition, Project, ServiceConfig};
use crate::compose::yaml::{path_string, Node, PathSeg, Value as YamlValue};
use crate::plan;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

mod files;
mod network;
mod pod;
mod ports;
mod probes;
mod storage;
mod unmapped;
mod workload;

use files::convert_files;
use network::convert_networks;
use pod::is_quantity;
use probes::job_waiter_rbac;
use storage::convert_volumes;
use workload::convert_service;

/// Label every object carries.
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The compose project, on every object and pod: NetworkPolicies select by it.
const PART_OF: &str = "app.kubernetes.io/part-of";
/// The compose service, on its pods: Services and policies select by it.
const NAME: &str = "app.kubernetes.io/name";
/// Prefix of the pod labels that say which compose networks a pod is on.
const NETWORK_LABEL_PREFIX: &str = "network.wharf.io/";
/// Annotation naming the variable a ConfigMap or Secret value came from.
const FROM_ENVIRONMENT: &str = "wharf.io/from-environment";

struct Ctx<'a> {
    loaded: &'a Loaded,
    opts: &'a Options,
    project_label: String,
    warnings: Vec<Warning>,
    renamed: Vec<(String, String, String)>,
    /// Compose service → Kubernetes name.
    service_names: BTreeMap<String, String>,
    /// Services that others wait on to complete: they become Jobs.
    jobs: BTreeSet<String>,
    /// Top-level volumes used by converted services → services using them.
    volume_users: BTreeMap<String, BTreeSet<String>>,
    configs_used: BTreeSet<String>,
    secrets_used: BTreeSet<String>,
    networks_used: BTreeSet<String>,
    needs_job_waiter: bool,
    resources: Vec<Resource>,
    values: Map<String, Value>,
}

fn key_path(parts: &[&str]) -> Vec<PathSeg> {
    parts.iter().map(|p| PathSeg::Key(p.to_string())).collect()
}

/// Whether a model node carries a value (an empty map, list, `false` or
/// `null` counts as absent: the canonical model fills some defaults in).
fn is_set(node: &Node) -> bool {
    match &node.value {
        YamlValue::Null | YamlValue::Bool(false) => false,
        YamlValue::Str(s) => !s.is_empty(),
        YamlValue::Seq(s) => !s.is_empty(),
        YamlValue::Map(m) => !m.is_empty(),
        YamlValue::Int(_) | YamlValue::Float(_) | YamlValue::Bool(true) => true,
    }
}

impl<'a> Ctx<'a> {
    fn project(&self) -> &'a Project {
        &self.loaded.project
    }

    /// The model node at `path`, if it is there.
    fn node(&self, path: &[PathSeg]) -> Option<&Node> {
        let mut cur = &self.loaded.model;
        for seg in path {
            cur = match (seg, &cur.value) {
                (PathSeg::Key(k), YamlValue::Map(m)) => m.get(k)?,
                (PathSeg::Index(i), YamlValue::Seq(s)) => s.get(*i)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    fn location(&self, path: &[PathSeg]) -> String {
        let pos = &self.loaded.model.find(path).pos;
        if pos.file.is_empty() {
            String::new()
        } else {
            pos.to_string()
        }
    }

    fn warn(&mut self, path: &[PathSeg], message: impl Into<String>) {
        let warning = Warning {
            location: self.location(path),
            key: path_string(path),
            message: message.into(),
        };
        if !self.warnings.contains(&warning) {
            self.warnings.push(warning);
        }
    }

    fn common_labels(&self) -> Value {
        json!({ MANAGED_BY: "wharf", PART_OF: self.project_label })
    }

    fn metadata(&self, name: &str, extra_labels: &[(&str, &str)]) -> Value {
        let mut labels = self.common_labels();
        for (k, v) in extra_labels {
            labels[*k] = json!(v);
        }
        let mut meta = json!({ "name": name, "labels": labels });
        if let Some(ns) = self.namespace() {
            meta["namespace"] = json!(ns);
        }
        meta
    }

    /// The namespace written into objects (kustomize sets it in its
    /// kustomization, Helm at install time).
    fn namespace(&self) -> Option<&str> {
        match self.opts.target {
            super::Target::Kubernetes => self.opts.namespace.as_deref(),
            _ => None,
        }
    }

    fn push(
        &mut self,
        kind: &'static str,
        name: &str,
        origin: &str,
        comments: Vec<String>,
        manifest: Value,
    ) {
        self.resources.push(Resource {
            kind,
            name: name.to_string(),
            origin: origin.to_string(),
            comments,
            manifest,
            templated: Vec::new(),
        });
    }

    /// The Kubernetes name for a compose name, reporting a change.
    fn k8s_name(
        &mut self,
        what: &'static str,
        path: &[PathSeg],
        name: &str,
    ) -> Result<String, ConvertError> {
        match dns_label(name) {
            Some(converted) => {
                if converted != name {
                    self.warn(
                        path,
                        format!("{what} name {name:?} is not a DNS-1123 name; it is {converted:?} in Kubernetes"),
                    );
                    self.renamed
                        .push((path_string(path), name.to_string(), converted.clone()));
                }
                Ok(converted)
            }
            None => Err(ConvertError::UnusableName {
                location: self.location(path),
                key: path_string(path),
                what,
                name: name.to_string(),
            }),
        }
    }
}

/// Names of a kind, checked for collisions after conversion.
fn check_collisions<'a>(
    kind: &'static str,
    pairs: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), ConvertError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (compose, k8s) in pairs {
        if let Some(first) = seen.insert(k8s, compose) {
            return Err(ConvertError::NameCollision {
                kind,
                name: k8s.clone(),
                first: first.to_string(),
                second: compose.clone(),
            });
        }
    }
    Ok(())
}

pub fn convert(loaded: &Loaded, opts: &Options) -> Result<super::Conversion, ConvertError> {
    if let Some(ns) = &opts.namespace {
        let valid = !ns.is_empty()
            && ns.len() <= names::MAX_LABEL
            && ns
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !ns.starts_with('-')
            && !ns.ends_with('-');
        if !valid {
            return Err(ConvertError::InvalidNamespace(ns.clone()));
        }
    }
    if !is_quantity(&opts.volume_size) {
        return Err(ConvertError::InvalidVolumeSize(opts.volume_size.clone()));
    }
    let project = &loaded.project;
    // Cycles and unknown services are refused here as `up` refuses them.
    let graph = plan::service_graph(project).map_err(|source| ConvertError::Graph { source })?;
    let order = graph.start_order();

    let mut ctx = Ctx {
        loaded,
        opts,
        project_label: label_value(&project.name),
        warnings: Vec::new(),
        renamed: Vec::new(),
        service_names: BTreeMap::new(),
        jobs: BTreeSet::new(),
        volume_users: BTreeMap::new(),
        configs_used: BTreeSet::new(),
        secrets_used: BTreeSet::new(),
        networks_used: BTreeSet::new(),
        needs_job_waiter: false,
        resources: Vec::new(),
        values: Map::new(),
    };

    for name in project.service_names() {
        let k8s = ctx.k8s_name("service", &key_path(&["services", name]), name)?;
        ctx.service_names.insert(name.to_string(), k8s);
    }
    check_collisions("service", ctx.service_names.iter())?;
    for svc in project.services.values() {
        for (dep, d) in &svc.depends_on {
            if d.condition == DependencyCondition::ServiceCompletedSuccessfully
                && project.services.contains_key(dep)
            {
                ctx.jobs.insert(dep.clone());
            }
        }
    }

    // Services in start order, so a reader meets dependencies first.
    for name in &order {
        if let Some(svc) = project.services.get(name) {
            convert_service(&mut ctx, svc)?;
        }
    }
    convert_volumes(&mut ctx)?;
    convert_files(&mut ctx, true)?;
    convert_files(&mut ctx, false)?;
    convert_networks(&mut ctx)?;
    if ctx.needs_job_waiter {
        job_waiter_rbac(&mut ctx);
    }
    if let Some(ns) = opts.namespace.clone() {
        if opts.target != super::Target::Helm {
            let manifest = json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": ctx.common_labels()},
            });
            ctx.push("Namespace", &ns, "--namespace", Vec::new(), manifest);
        }
    }

    let mut resources = std::mem::take(&mut ctx.resources);
    resources.sort_by(|a, b| {
        kind_rank(a.kind)
            .cmp(&kind_rank(b.kind))
            .then_with(|| a.name.cmp(&b.name))
    });
    for pair in resources.windows(2) {
        if pair[0].kind == pair[1].kind && pair[0].name == pair[1].name {
            return Err(ConvertError::DuplicateObject {
                kind: pair[0].kind.to_string(),
                name: pair[0].name.clone(),
                first: pair[0].origin.clone(),
                second: pair[1].origin.clone(),
            });
        }
    }
    // By file and line, as a reader goes through the compose file.
    ctx.warnings.sort_by_cached_key(|w| {
        let (file, line) = w.location.rsplit_once(':').unwrap_or((&w.location, ""));
        (
            file.to_string(),
            line.parse::<usize>().unwrap_or(0),
            w.key.clone(),
        )
    });
    Ok(super::Conversion {
        project: ctx.project_label.clone(),
        resources,
        warnings: ctx.warnings,
        renamed: ctx.renamed,
        values: json!({ "services": Value::Object(ctx.values) }),
        options: opts.clone(),
    })
}

/// The order `kubectl apply` of a stream needs: what others refer to first.
fn kind_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "ServiceAccount" => 1,
        "Role" => 2,
        "RoleBinding" => 3,
        "ConfigMap" => 4,
        "Secret" => 5,
        "PersistentVolumeClaim" => 6,
        "Service" => 7,
        "NetworkPolicy" => 8,
        "Job" => 9,
        "Deployment" => 10,
        _ => 11,
    }
}

/// Kubernetes expands `$(VAR)` in command, args and env values; `$$` is
/// its escape for a literal `$`, so doubling every `$` keeps text as written.
fn escape_expansion(s: &str) -> String {
    s.replace('$', "$$")
}

/// A container port list entry's protocol in Kubernetes spelling.
fn protocol(p: Option<&str>) -> &'static str {
    match p.map(str::to_ascii_lowercase).as_deref() {
        Some("udp") => "UDP",
        Some("sctp") => "SCTP",
        _ => "TCP",
    }
}

fn selector(ctx: &Ctx, name: &str) -> Value {
    json!({ NAME: name, PART_OF: ctx.project_label })
}

fn job_waiter_name(ctx: &Ctx) -> String {
    with_suffix(
        &dns_label(&ctx.project_label).unwrap_or_else(|| "wharf".into()),
        "job-waiter",
    )
}

/// Whether one of the service's dependencies is a Job it must wait for.
fn init_waits_for_job(ctx: &Ctx, svc: &ServiceConfig) -> bool {
    svc.depends_on.iter().any(|(dep, d)| {
        d.condition == DependencyCondition::ServiceCompletedSuccessfully && ctx.jobs.contains(dep)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_signs_survive_kubernetes_expansion() {
        assert_eq!(escape_expansion("$(HOME) and $$"), "$$(HOME) and $$$$");
        assert_eq!(escape_expansion("plain"), "plain");
    }

    fn convert_text(text: &str) -> super::super::Conversion {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), text).unwrap();
        let opts = crate::compose::load::LoadOptions {
            files: vec!["compose.yaml".into()],
            cwd: dir.path().to_path_buf(),
            ..Default::default()
        };
        let loaded = crate::compose::load::load(&opts).unwrap();
        convert(&loaded, &Options::default()).unwrap()
    }

    fn init_commands(conv: &super::super::Conversion, deployment: &str) -> Vec<String> {
        let d = conv
            .resources
            .iter()
            .find(|r| r.kind == "Deployment" && r.name == deployment)
            .unwrap();
        d.manifest["spec"]["template"]["spec"]["initContainers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["command"][2].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn waits_use_the_first_tcp_port_else_the_name() {
        let conv = convert_text(
            "services:\n  app:\n    image: a\n    depends_on: [tcp, udp]\n  \
             tcp:\n    image: b\n    expose: ['6000', '5432']\n  \
             udp:\n    image: c\n    expose: ['53/udp']\n",
        );
        let waits = init_commands(&conv, "app");
        assert!(
            waits[0].contains("until nc -z -w 2 tcp 5432;"),
            "{}",
            waits[0]
        );
        assert!(waits[1].contains("until nslookup udp "), "{}", waits[1]);
        assert!(conv.warnings.is_empty(), "{:?}", conv.warnings);
    }

    #[test]
    fn no_wait_without_a_shared_network() {
        let conv = convert_text(
            "services:\n  app:\n    image: a\n    networks: [front]\n    depends_on: [db]\n  \
             db:\n    image: b\n    networks: [back]\nnetworks:\n  front:\n  back:\n",
        );
        let d = conv.resources.iter().find(|r| r.name == "app").unwrap();
        assert!(d.manifest["spec"]["template"]["spec"]["initContainers"].is_null());
        assert_eq!(conv.warnings.len(), 1, "{:?}", conv.warnings);
        assert_eq!(conv.warnings[0].key, "services.app.depends_on.db");
        assert!(
            conv.warnings[0].location.ends_with("compose.yaml:5"),
            "{:?}",
            conv.warnings[0]
        );
        assert!(conv.warnings[0].message.contains("share no network"));
    }

    #[test]
    fn restart_on_dependency_is_reported() {
        let conv = convert_text(
            "services:\n  app:\n    image: a\n    depends_on:\n      db:\n        condition: service_started\n        restart: true\n  db:\n    image: b\n",
        );
        let keys: Vec<&str> = conv.warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(keys, ["services.app.depends_on.db.restart"]);
    }
}
