//! The mapping itself: compose services, volumes, configs, secrets and
//! networks → Kubernetes objects.

use super::names::{self, dns_label, is_qualified_key, label_value, with_suffix};
use super::{ConvertError, Expose, Options, Resource, Templated, Warning};
use crate::compose::load::Loaded;
use crate::compose::types::{
    DependencyCondition, FileReferenceConfig, HealthCheckConfig, Project, RestartMode,
    ServiceConfig, VolumeType,
};
use crate::compose::yaml::{path_string, Node, PathSeg, Value as YamlValue};
use crate::plan;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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

/// Service keys that have no Kubernetes form, with why.
const UNMAPPED_SERVICE_KEYS: &[(&str, &str)] = &[
    (
        "blkio_config",
        "block I/O weights and throttles have no Kubernetes form",
    ),
    (
        "cgroup",
        "the cgroup namespace mode is the kubelet's to choose",
    ),
    (
        "cgroup_parent",
        "the cgroup parent is the kubelet's to choose",
    ),
    (
        "container_name",
        "pods are named by their controller; the Service keeps the service name",
    ),
    (
        "cpu_count",
        "Kubernetes sets CPU through resources (use cpus or deploy.resources)",
    ),
    (
        "cpu_percent",
        "Kubernetes sets CPU through resources (use cpus or deploy.resources)",
    ),
    ("cpu_period", "the CFS period is the kubelet's to choose"),
    (
        "cpu_quota",
        "Kubernetes sets CPU through resources (use cpus or deploy.resources)",
    ),
    (
        "cpu_rt_period",
        "real-time scheduling has no Kubernetes form",
    ),
    (
        "cpu_rt_runtime",
        "real-time scheduling has no Kubernetes form",
    ),
    (
        "cpu_shares",
        "Kubernetes derives CPU shares from resources.requests",
    ),
    (
        "cpuset",
        "CPU pinning is the kubelet's CPU manager's to choose",
    ),
    (
        "credential_spec",
        "Windows credential specs have no place in these manifests",
    ),
    (
        "device_cgroup_rules",
        "device cgroup rules have no Kubernetes form",
    ),
    (
        "devices",
        "host devices need a device plugin on the cluster",
    ),
    ("domainname", "pods take their domain from the cluster DNS"),
    (
        "external_links",
        "containers outside the project are not on the cluster",
    ),
    (
        "gpus",
        "GPUs need a device plugin and its resource name on the cluster",
    ),
    (
        "group_add",
        "supplementary groups are pod-wide in Kubernetes; set supplementalGroups yourself",
    ),
    ("init", "Kubernetes runs no init process in the container"),
    ("ipc", "pods share IPC only between their own containers"),
    ("isolation", "isolation technologies are Windows-only"),
    (
        "logging",
        "the cluster's log collection replaces logging drivers",
    ),
    ("mac_address", "pod interfaces are the network plugin's"),
    ("mem_swappiness", "swap behaviour is the kubelet's"),
    ("memswap_limit", "swap behaviour is the kubelet's"),
    ("oom_kill_disable", "the OOM killer is the kubelet's"),
    (
        "oom_score_adj",
        "the kubelet sets OOM scores from the QoS class",
    ),
    (
        "pid",
        "pods share a process table only between their own containers",
    ),
    (
        "pids_limit",
        "the pid limit is the kubelet's (podPidsLimit)",
    ),
    (
        "runtime",
        "the runtime is chosen by a RuntimeClass on the cluster",
    ),
    (
        "security_opt",
        "seccomp/AppArmor/SELinux options need the cluster's profiles",
    ),
    (
        "storage_opt",
        "per-container storage options have no Kubernetes form",
    ),
    (
        "ulimits",
        "ulimits are the container runtime's defaults on each node",
    ),
    (
        "userns_mode",
        "user namespaces are set by hostUsers, not a mode",
    ),
    ("uts", "pods have their own UTS namespace"),
    ("volumes_from", "pods cannot mount another pod's volumes"),
    ("models", "model runners are Docker's, not the cluster's"),
    (
        "provider",
        "provider services are run by Compose plugins, not by the cluster",
    ),
    ("use_api_socket", "pods have no Docker API socket"),
];

/// Deploy keys (swarm orchestration) that have no Kubernetes form here.
const UNMAPPED_DEPLOY_KEYS: &[(&str, &str)] = &[
    (
        "mode",
        "only replicated services are converted (a global service would be a DaemonSet)",
    ),
    ("endpoint_mode", "Services choose their own endpoints"),
    (
        "placement",
        "placement constraints are node labels that the cluster may not have",
    ),
    (
        "restart_policy",
        "the pod restart policy comes from restart",
    ),
    (
        "update_config",
        "rollouts use the Deployment's default strategy",
    ),
    ("rollback_config", "rollbacks are kubectl rollout undo"),
];

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

/// `500m`, `2`: CPUs as a Kubernetes quantity.
fn cpu_quantity(cpus: f32) -> String {
    let milli = (f64::from(cpus) * 1000.0).round() as i64;
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Bytes as the largest binary unit that divides them (`512Mi`).
fn memory_quantity(bytes: i64) -> String {
    for (unit, size) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// A plain Kubernetes quantity: digits, then an optional binary or decimal suffix.
fn is_quantity(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &s[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && matches!(
            suffix,
            "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "k" | "M" | "G" | "T" | "P" | "E"
        )
}

fn ceil_secs(d: &crate::compose::types::Duration) -> u64 {
    let std = d.as_std();
    let secs = std.as_secs() + u64::from(std.subsec_nanos() > 0);
    secs.max(1)
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

/// One container port: (port, protocol), with the host port it is published on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PortSpec {
    target: u16,
    protocol: &'static str,
    published: Option<u16>,
}

fn service_ports(ctx: &mut Ctx, svc: &ServiceConfig) -> Vec<PortSpec> {
    let mut out = Vec::new();
    for (i, p) in svc.ports.iter().enumerate() {
        let path = key_path(&["services", &svc.name, "ports"]);
        let mut path = path;
        path.push(PathSeg::Index(i));
        let published = match p.published_range() {
            Some((lo, hi)) => {
                if hi > lo {
                    ctx.warn(
                        &path,
                        format!("published range {lo}-{hi}: only {lo} is published on the cluster"),
                    );
                }
                Some(lo)
            }
            None => None,
        };
        let mut published = published;
        if let Some(ip) = p
            .host_ip
            .as_deref()
            .filter(|ip| !ip.is_empty() && *ip != "0.0.0.0" && *ip != "::")
        {
            let loopback = ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback());
            if loopback {
                // Reachable from the machine only: exposing it to the
                // world would open what compose kept closed.
                published = None;
                ctx.warn(
                    &path,
                    format!("host_ip {ip}: published on the loopback only, so it is not exposed outside the cluster (kubectl port-forward reaches it)"),
                );
            } else {
                ctx.warn(
                    &path,
                    format!("host_ip {ip}: the cluster publishes on its own addresses"),
                );
            }
        }
        out.push(PortSpec {
            target: p.target,
            protocol: protocol(p.protocol.as_deref()),
            published,
        });
    }
    for (i, e) in svc.expose.iter().enumerate() {
        let (ports, proto) = match e.split_once('/') {
            Some((ports, proto)) => (ports, protocol(Some(proto))),
            None => (e.as_str(), "TCP"),
        };
        let range = match ports.split_once('-') {
            Some((lo, hi)) => lo.parse::<u16>().ok().zip(hi.parse::<u16>().ok()),
            None => ports.parse::<u16>().ok().map(|p| (p, p)),
        };
        match range {
            Some((lo, hi)) if lo <= hi && hi - lo < 100 => {
                for target in lo..=hi {
                    out.push(PortSpec {
                        target,
                        protocol: proto,
                        published: None,
                    });
                }
            }
            _ => {
                let mut path = key_path(&["services", &svc.name, "expose"]);
                path.push(PathSeg::Index(i));
                ctx.warn(
                    &path,
                    format!("expose {e:?}: not a port or a range of at most 100 ports"),
                );
            }
        }
    }
    out.retain(|p| p.target != 0);
    out
}

/// Unique (port, protocol) pairs, sorted.
fn distinct_targets(ports: &[PortSpec]) -> Vec<(u16, &'static str)> {
    let set: BTreeSet<(u16, &'static str)> = ports.iter().map(|p| (p.target, p.protocol)).collect();
    set.into_iter().collect()
}

fn port_name(protocol: &str, port: u16) -> String {
    format!("{}-{port}", protocol.to_ascii_lowercase())
}

/// The compose networks a service's pods join, by their Kubernetes label name.
fn pod_networks(ctx: &mut Ctx, svc: &ServiceConfig) -> Vec<String> {
    let mut nets: Vec<String> = Vec::new();
    let mut source = svc;
    if let Some(mode) = svc.network_mode.as_deref() {
        let path = key_path(&["services", &svc.name, "network_mode"]);
        if let Some(other) = svc.network_mode_service() {
            ctx.warn(
                &path,
                format!("network_mode {mode}: pods cannot share another pod's network namespace; this pod joins {other}'s networks instead"),
            );
            match ctx.project().services.get(other) {
                Some(o) => source = o,
                None => return nets,
            }
        } else if mode == "none" {
            return nets;
        } else {
            ctx.warn(
                &path,
                format!("network_mode {mode}: left out; the pod uses the cluster network"),
            );
            return nets;
        }
    }
    let keys: Vec<String> = source.networks.keys().cloned().collect();
    for key in keys {
        ctx.networks_used.insert(key.clone());
        if let Some(label) = dns_label(&key) {
            nets.push(label);
        }
    }
    nets.sort();
    nets.dedup();
    nets
}

/// The compose networks (keys) a service's pods join, without warnings.
fn network_keys(ctx: &Ctx, svc: &ServiceConfig) -> Vec<String> {
    let source = match svc.network_mode.as_deref() {
        None => svc,
        Some(_) => match svc
            .network_mode_service()
            .and_then(|o| ctx.project().services.get(o))
        {
            Some(o) => o,
            None => return Vec::new(),
        },
    };
    source.networks.keys().cloned().collect()
}

/// The pods of a compose network, as a NetworkPolicy peer.
fn network_members(ctx: &Ctx, label: &str) -> Value {
    json!({PART_OF: ctx.project_label, format!("{NETWORK_LABEL_PREFIX}{label}"): "true"})
}

/// Pods only on `internal: true` networks reach nothing but their networks'
/// pods and the cluster DNS, as compose gives such containers no way out.
fn internal_egress(
    ctx: &mut Ctx,
    svc: &ServiceConfig,
    name: &str,
    networks: &[String],
    origin: &str,
) {
    let mut rules: Vec<Value> = vec![json!({"to": networks
        .iter()
        .map(|n| json!({"podSelector": {"matchLabels": network_members(ctx, n)}}))
        .collect::<Vec<_>>()})];
    rules.push(json!({
        "to": [{
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }));
    let mut comments = vec![format!(
        "{} is only on internal networks: it reaches their pods and the cluster DNS (kube-dns in kube-system), nothing else.",
        svc.name
    )];
    if init_waits_for_job(ctx, svc) {
        rules.push(
            json!({"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}),
        );
        comments.push("Its init container reads a Job through the API: HTTPS to the API server (443, 6443) is let out too.".into());
    }
    let policy_name = with_suffix(name, "internal");
    let manifest = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata(&policy_name, &[(NAME, name)]),
        "spec": {
            "podSelector": {"matchLabels": selector(ctx, name)},
            "policyTypes": ["Egress"],
            "egress": rules,
        },
    });
    ctx.push("NetworkPolicy", &policy_name, origin, comments, manifest);
}

fn selector(ctx: &Ctx, name: &str) -> Value {
    json!({ NAME: name, PART_OF: ctx.project_label })
}

fn convert_service(ctx: &mut Ctx, svc: &ServiceConfig) -> Result<(), ConvertError> {
    let name = ctx.service_names[&svc.name].clone();
    let spath = key_path(&["services", &svc.name]);
    let is_job = ctx.jobs.contains(&svc.name);
    let mut comments: Vec<String> = Vec::new();

    for &(key, why) in UNMAPPED_SERVICE_KEYS {
        let mut path = spath.clone();
        path.push(PathSeg::Key(key.to_string()));
        if ctx.node(&path).is_some_and(is_set) {
            ctx.warn(&path, format!("left out: {why}"));
        }
    }
    for &(key, why) in UNMAPPED_DEPLOY_KEYS {
        let path = key_path(&["services", &svc.name, "deploy", key]);
        let set = ctx.node(&path).is_some_and(is_set);
        let replicated = key == "mode"
            && svc.deploy.as_ref().and_then(|d| d.mode.as_deref()) == Some("replicated");
        if set && !replicated {
            ctx.warn(&path, format!("left out: {why}"));
        }
    }
    for (key, why) in [
        ("pids", "the pid limit is the kubelet's"),
        (
            "devices",
            "device reservations need a device plugin on the cluster",
        ),
        (
            "generic_resources",
            "generic resources need the cluster's extended resource names",
        ),
    ] {
        for kind in ["limits", "reservations"] {
            let path = key_path(&["services", &svc.name, "deploy", "resources", kind, key]);
            if ctx.node(&path).is_some_and(is_set) {
                ctx.warn(&path, format!("left out: {why}"));
            }
        }
    }
    if let Some(links) = ctx
        .node(&key_path(&["services", &svc.name, "links"]))
        .and_then(Node::as_seq)
    {
        let aliased: Vec<String> = links
            .iter()
            .filter_map(Node::as_str)
            .filter(|l| l.contains(':'))
            .map(str::to_string)
            .collect();
        for link in aliased {
            ctx.warn(
                &key_path(&["services", &svc.name, "links"]),
                format!("link alias {link:?}: only the service's own name resolves on the cluster"),
            );
        }
    }
    for (net, cfg) in &svc.networks {
        let Some(cfg) = cfg else { continue };
        let path = key_path(&["services", &svc.name, "networks", net]);
        if !cfg.aliases.is_empty() {
            ctx.warn(
                &path,
                format!(
                    "aliases {}: only the service's own name resolves on the cluster",
                    cfg.aliases.join(", ")
                ),
            );
        }
        if cfg.ipv4_address.is_some()
            || cfg.ipv6_address.is_some()
            || !cfg.link_local_ips.is_empty()
        {
            ctx.warn(
                &path,
                "fixed addresses: pod addresses are the network plugin's",
            );
        }
    }

    // --- the container ---
    let image = match svc.image.as_deref().filter(|i| !i.is_empty()) {
        Some(image) => {
            if svc.build.is_some() {
                comments.push(format!(
                    "{} is built by the compose file: build and push {image} before applying.",
                    svc.name
                ));
            }
            image.to_string()
        }
        None => {
            let default = format!("{}-{}", ctx.project().name, svc.name);
            ctx.warn(
                &key_path(&["services", &svc.name, "build"]),
                format!("build without image: the cluster cannot pull the local image {default}; set image: to a registry name and push it"),
            );
            default
        }
    };
    let pull_policy = match ctx.opts.image_pull_policy {
        Some(p) => p.as_str(),
        None => match svc.pull_policy.as_deref() {
            Some("always") => "Always",
            Some("never") | Some("build") => "Never",
            _ => "IfNotPresent",
        },
    };
    let mut container = json!({
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
    });
    if let Some(entrypoint) = &svc.entrypoint {
        if entrypoint.is_empty() {
            ctx.warn(
                &key_path(&["services", &svc.name, "entrypoint"]),
                "an empty entrypoint (clear the image's ENTRYPOINT) has no Kubernetes form; the image's is kept",
            );
        } else {
            container["command"] = json!(entrypoint
                .iter()
                .map(|s| escape_expansion(s))
                .collect::<Vec<_>>());
        }
    }
    if let Some(command) = &svc.command {
        if command.is_empty() && svc.entrypoint.as_ref().is_none_or(Vec::is_empty) {
            ctx.warn(
                &key_path(&["services", &svc.name, "command"]),
                "an empty command (clear the image's CMD) has no Kubernetes form; the image's is kept",
            );
        } else if !command.is_empty() {
            container["args"] = json!(command
                .iter()
                .map(|s| escape_expansion(s))
                .collect::<Vec<_>>());
        }
    }
    let mut env: Vec<Value> = Vec::new();
    let mut keys: Vec<&String> = svc.environment.keys().collect();
    keys.sort();
    for key in keys {
        if let Some(Some(value)) = svc.environment.get(key) {
            env.push(json!({"name": key, "value": escape_expansion(value)}));
        }
    }
    if !env.is_empty() {
        container["env"] = Value::Array(env);
    }
    if let Some(dir) = svc.working_dir.as_deref().filter(|d| !d.is_empty()) {
        container["workingDir"] = json!(dir);
    }
    if svc.tty {
        container["tty"] = json!(true);
    }
    if svc.stdin_open {
        container["stdin"] = json!(true);
    }
    let ports = service_ports(ctx, svc);
    let targets = distinct_targets(&ports);
    if !targets.is_empty() {
        container["ports"] = json!(targets
            .iter()
            .map(|(port, proto)| json!({"containerPort": port, "protocol": proto}))
            .collect::<Vec<_>>());
    }
    if let Some(security) = security_context(ctx, svc) {
        container["securityContext"] = security;
    }
    if let Some(resources) = resources(svc) {
        container["resources"] = resources;
    }
    if let Some(hc) = &svc.healthcheck {
        probes(ctx, svc, hc, &mut container, &mut comments);
    }
    if let Some(lifecycle) = lifecycle(ctx, svc) {
        container["lifecycle"] = lifecycle;
    }

    // --- volumes ---
    let mut volumes: Vec<Value> = Vec::new();
    let mut mounts: Vec<Value> = Vec::new();
    let mut uses_claim = false;
    for (i, v) in svc.volumes.iter().enumerate() {
        let mut path = key_path(&["services", &svc.name, "volumes"]);
        path.push(PathSeg::Index(i));
        let target = v.target.clone().unwrap_or_default();
        match v.volume_type {
            VolumeType::Volume => match v.source.as_deref().filter(|s| !s.is_empty()) {
                Some(source) => {
                    if ctx
                        .project()
                        .volumes
                        .get(source)
                        .is_some_and(|d| d.external)
                    {
                        comments.push(format!(
                            "Volume {source} is external: claim {} must exist in the namespace.",
                            volume_claim_name(ctx, source).unwrap_or_default()
                        ));
                    }
                    let Some(claim) = volume_claim_name(ctx, source) else {
                        ctx.warn(
                            &path,
                            format!("volume {source:?} has no usable Kubernetes name; left out"),
                        );
                        continue;
                    };
                    let vol_name = with_suffix("volume", &claim);
                    if !volumes.iter().any(|x| x["name"] == json!(vol_name)) {
                        volumes.push(json!({"name": vol_name, "persistentVolumeClaim": {"claimName": claim}}));
                    }
                    let mut mount = json!({"name": vol_name, "mountPath": target});
                    if v.read_only {
                        mount["readOnly"] = json!(true);
                    }
                    if let Some(sub) = v
                        .volume
                        .as_ref()
                        .and_then(|x| x.subpath.as_deref())
                        .filter(|s| !s.is_empty())
                    {
                        mount["subPath"] = json!(sub);
                    }
                    mounts.push(mount);
                    ctx.volume_users
                        .entry(source.to_string())
                        .or_default()
                        .insert(svc.name.clone());
                    uses_claim = true;
                }
                None => {
                    let vol_name = format!("anonymous-{i}");
                    volumes.push(json!({"name": vol_name, "emptyDir": {}}));
                    mounts.push(json!({"name": vol_name, "mountPath": target}));
                }
            },
            VolumeType::Tmpfs => {
                let vol_name = format!("tmpfs-{i}");
                let mut empty = json!({"medium": "Memory"});
                if let Some(size) = v.tmpfs.as_ref().and_then(|t| t.size) {
                    if size.0 > 0 {
                        empty["sizeLimit"] = json!(memory_quantity(size.0));
                    }
                }
                if v.tmpfs.as_ref().and_then(|t| t.mode).is_some() {
                    ctx.warn(&path, "tmpfs mode: emptyDir permissions are not settable");
                }
                volumes.push(json!({"name": vol_name, "emptyDir": empty}));
                mounts.push(json!({"name": vol_name, "mountPath": target}));
            }
            VolumeType::Bind => {
                let source = v.source.clone().unwrap_or_default();
                ctx.warn(
                    &path,
                    format!("bind mount of host path {source}: a cluster node does not have it; left out (ship it in the image or a ConfigMap)"),
                );
            }
            other => {
                let kind = serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                ctx.warn(
                    &path,
                    format!("{kind} volume: no Kubernetes form; left out"),
                );
            }
        }
    }
    for (i, spec) in svc.tmpfs.iter().enumerate() {
        let (target, options) = spec.split_once(':').unwrap_or((spec.as_str(), ""));
        let vol_name = format!("tmpfs-list-{i}");
        let mut empty = json!({"medium": "Memory"});
        for opt in options.split(',') {
            if let Some(size) = opt.strip_prefix("size=") {
                if let Some(bytes) = crate::compose::types::ByteSize::parse(size) {
                    if bytes.0 > 0 {
                        empty["sizeLimit"] = json!(memory_quantity(bytes.0));
                    }
                }
            }
        }
        volumes.push(json!({"name": vol_name, "emptyDir": empty}));
        mounts.push(json!({"name": vol_name, "mountPath": target}));
    }
    if let Some(shm) = svc.shm_size.filter(|s| s.0 > 0) {
        volumes.push(json!({"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": memory_quantity(shm.0)}}));
        mounts.push(json!({"name": "dshm", "mountPath": "/dev/shm"}));
    }
    file_mounts(ctx, svc, true, &mut volumes, &mut mounts);
    file_mounts(ctx, svc, false, &mut volumes, &mut mounts);
    if !mounts.is_empty() {
        container["volumeMounts"] = Value::Array(mounts);
    }

    // --- the pod ---
    let networks = pod_networks(ctx, svc);
    let mut pod_labels = selector(ctx, &name);
    for net in &networks {
        pod_labels[format!("{NETWORK_LABEL_PREFIX}{net}")] = json!("true");
    }
    let mut pod_meta = json!({"labels": pod_labels});
    let annotations = pod_annotations(ctx, svc);
    if !annotations.is_empty() {
        pod_meta["annotations"] = Value::Object(annotations);
    }
    let keys = network_keys(ctx, svc);
    let internal_only = !keys.is_empty()
        && keys
            .iter()
            .all(|k| ctx.project().networks.get(k).is_some_and(|n| n.internal));
    if internal_only {
        internal_egress(ctx, svc, &name, &networks, &path_string(&spath));
    }
    let init = init_containers(ctx, svc, &networks, &mut comments);
    let mut pod = json!({"containers": [container]});
    if !init.is_empty() {
        pod["initContainers"] = Value::Array(init);
    }
    if init_waits_for_job(ctx, svc) {
        pod["serviceAccountName"] = json!(job_waiter_name(ctx));
    }
    if !volumes.is_empty() {
        pod["volumes"] = Value::Array(volumes);
    }
    pod_options(ctx, svc, &mut pod, &mut comments);

    let labels_extra = [(NAME, name.as_str())];
    let origin = path_string(&spath);
    let replicas = if ctx.opts.replicas_from_deploy {
        svc.scale()
    } else {
        1
    };
    let mut templated = vec![
        Templated {
            pointer: "/spec/template/spec/containers/0/image".into(),
            service: name.clone(),
            key: "image",
        },
        Templated {
            pointer: "/spec/template/spec/containers/0/imagePullPolicy".into(),
            service: name.clone(),
            key: "imagePullPolicy",
        },
    ];
    let mut values = json!({"image": image, "imagePullPolicy": pull_policy});

    if is_job {
        let (restart_policy, backoff) = match svc.restart_mode() {
            Some(RestartMode::OnFailure { max_retries }) => ("OnFailure", max_retries.unwrap_or(6)),
            Some(RestartMode::Always) | Some(RestartMode::UnlessStopped) => {
                comments.push(format!(
                    "restart: {}: a Job cannot restart a container that succeeded; it retries failures.",
                    svc.restart.as_deref().unwrap_or_default()
                ));
                ("OnFailure", 6)
            }
            _ => ("Never", 0),
        };
        pod["restartPolicy"] = json!(restart_policy);
        if replicas > 1 {
            comments.push(format!(
                "{replicas} replicas: a one-shot runs once, as one Job pod."
            ));
        }
        comments.insert(
            0,
            format!(
                "{} is a one-shot: other services wait for it to complete (service_completed_successfully), so it runs as a Job.",
                svc.name
            ),
        );
        let manifest = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": ctx.metadata(&name, &labels_extra),
            "spec": {
                "backoffLimit": backoff,
                "template": {"metadata": pod_meta, "spec": pod},
            },
        });
        ctx.resources.push(Resource {
            kind: "Job",
            name: name.clone(),
            origin,
            comments,
            manifest,
            templated,
        });
    } else {
        if let Some(mode) = svc.restart_mode() {
            if matches!(mode, RestartMode::No | RestartMode::OnFailure { .. })
                && svc.restart.is_some()
            {
                comments.push(format!(
                    "restart: {}: pods of a Deployment always restart; only services others wait to complete become Jobs.",
                    svc.restart.as_deref().unwrap_or_default()
                ));
            }
        }
        let mut spec = json!({
            "replicas": replicas,
            "selector": {"matchLabels": selector(ctx, &name)},
            "template": {"metadata": pod_meta, "spec": pod},
        });
        if uses_claim {
            // A ReadWriteOnce claim can be attached to one node at a time:
            // the old pod must let go of it before the new one starts.
            spec["strategy"] = json!({"type": "Recreate"});
            comments.push("Named volumes are PersistentVolumeClaims shared by every service that mounts them, as compose shares a volume (a StatefulSet would give each replica its own); the Recreate strategy lets the old pod release the claim first.".to_string());
        }
        templated.push(Templated {
            pointer: "/spec/replicas".into(),
            service: name.clone(),
            key: "replicas",
        });
        values["replicas"] = json!(replicas);
        let manifest = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": ctx.metadata(&name, &labels_extra),
            "spec": spec,
        });
        ctx.resources.push(Resource {
            kind: "Deployment",
            name: name.clone(),
            origin: origin.clone(),
            comments,
            manifest,
            templated,
        });
        services_for(ctx, svc, &name, &ports, &origin);
    }
    ctx.values.insert(name, values);
    Ok(())
}

/// The Service named after the compose service (ClusterIP with its ports,
/// headless without), and one for its published ports.
fn services_for(ctx: &mut Ctx, svc: &ServiceConfig, name: &str, ports: &[PortSpec], origin: &str) {
    let targets = distinct_targets(ports);
    let mut spec = json!({"selector": selector(ctx, name)});
    let mut comments = Vec::new();
    if targets.is_empty() {
        spec["clusterIP"] = json!("None");
        comments.push(format!(
            "{} has no ports: a headless Service, so its name resolves to its ready pods as on the compose network.",
            svc.name
        ));
    } else {
        spec["ports"] = json!(targets
            .iter()
            .map(|(port, proto)| json!({"name": port_name(proto, *port), "port": port, "targetPort": port, "protocol": proto}))
            .collect::<Vec<_>>());
    }
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(name, &[(NAME, name)]),
        "spec": spec,
    });
    ctx.push("Service", name, origin, comments, manifest);

    let mut published: Vec<&PortSpec> = ports.iter().filter(|p| p.published.is_some()).collect();
    published.sort();
    published.dedup_by_key(|p| (p.published, p.protocol));
    if published.is_empty() {
        return;
    }
    if ctx.opts.expose == Expose::None {
        return;
    }
    let mut comments = Vec::new();
    let mut entries = Vec::new();
    for p in &published {
        let host = p.published.unwrap_or(p.target);
        let mut entry = json!({
            "name": port_name(p.protocol, host),
            "port": host,
            "targetPort": p.target,
            "protocol": p.protocol,
        });
        if ctx.opts.expose == Expose::NodePort {
            if (30000..=32767).contains(&host) {
                entry["nodePort"] = json!(host);
            } else {
                comments.push(format!(
                    "Port {host} is outside the NodePort range (30000-32767): the cluster picks the node port."
                ));
            }
        }
        entries.push(entry);
    }
    let kind = match ctx.opts.expose {
        Expose::NodePort => "NodePort",
        _ => "LoadBalancer",
    };
    comments.insert(
        0,
        format!(
            "The ports {} publishes on the host, reachable from outside the cluster.",
            svc.name
        ),
    );
    let pub_name = with_suffix(name, "published");
    let manifest = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(&pub_name, &[(NAME, name)]),
        "spec": {"type": kind, "selector": selector(ctx, name), "ports": entries},
    });
    ctx.push("Service", &pub_name, origin, comments, manifest);

    // Published ports take traffic from anywhere, as on the host.
    let policy_ports: BTreeSet<(u16, &str)> =
        published.iter().map(|p| (p.target, p.protocol)).collect();
    let manifest = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata(&pub_name, &[(NAME, name)]),
        "spec": {
            "podSelector": {"matchLabels": selector(ctx, name)},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": policy_ports.iter().map(|(port, proto)| json!({"port": port, "protocol": proto})).collect::<Vec<_>>()}],
        },
    });
    ctx.push(
        "NetworkPolicy",
        &pub_name,
        origin,
        vec![format!(
            "Published ports of {} accept traffic from anywhere, as on the host.",
            svc.name
        )],
        manifest,
    );
}

fn security_context(ctx: &mut Ctx, svc: &ServiceConfig) -> Option<Value> {
    let mut sc = Map::new();
    if let Some(user) = svc.user.as_deref().filter(|u| !u.is_empty()) {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        match (uid.parse::<i64>(), gid.map(str::parse::<i64>)) {
            (Ok(u), None) => {
                sc.insert("runAsUser".into(), json!(u));
            }
            (Ok(u), Some(Ok(g))) => {
                sc.insert("runAsUser".into(), json!(u));
                sc.insert("runAsGroup".into(), json!(g));
            }
            _ => ctx.warn(
                &key_path(&["services", &svc.name, "user"]),
                format!(
                    "user {user:?}: Kubernetes needs numeric ids (runAsUser/runAsGroup); left out"
                ),
            ),
        }
    }
    let caps = |list: &[String]| -> Vec<String> {
        let mut v: Vec<String> = list
            .iter()
            .map(|c| c.to_ascii_uppercase())
            .map(|c| c.strip_prefix("CAP_").map(str::to_string).unwrap_or(c))
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let mut capabilities = Map::new();
    if !svc.cap_add.is_empty() {
        capabilities.insert("add".into(), json!(caps(&svc.cap_add)));
    }
    if !svc.cap_drop.is_empty() {
        capabilities.insert("drop".into(), json!(caps(&svc.cap_drop)));
    }
    if !capabilities.is_empty() {
        sc.insert("capabilities".into(), Value::Object(capabilities));
    }
    if svc.read_only {
        sc.insert("readOnlyRootFilesystem".into(), json!(true));
    }
    if svc.privileged {
        sc.insert("privileged".into(), json!(true));
    }
    (!sc.is_empty()).then_some(Value::Object(sc))
}

fn resources(svc: &ServiceConfig) -> Option<Value> {
    let res = svc.deploy.as_ref().map(|d| &d.resources);
    let mut limits = Map::new();
    let mut requests = Map::new();
    let limit_cpus = res
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.cpus)
        .or(svc.cpus);
    let limit_mem = res
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.memory)
        .or(svc.mem_limit);
    let req_cpus = res
        .and_then(|r| r.reservations.as_ref())
        .and_then(|l| l.cpus);
    let req_mem = res
        .and_then(|r| r.reservations.as_ref())
        .and_then(|l| l.memory)
        .or(svc.mem_reservation);
    if let Some(c) = limit_cpus.filter(|c| *c > 0.0) {
        limits.insert("cpu".into(), json!(cpu_quantity(c)));
    }
    if let Some(m) = limit_mem.filter(|m| m.0 > 0) {
        limits.insert("memory".into(), json!(memory_quantity(m.0)));
    }
    if let Some(c) = req_cpus.filter(|c| *c > 0.0) {
        requests.insert("cpu".into(), json!(cpu_quantity(c)));
    }
    if let Some(m) = req_mem.filter(|m| m.0 > 0) {
        requests.insert("memory".into(), json!(memory_quantity(m.0)));
    }
    let mut out = Map::new();
    if !limits.is_empty() {
        out.insert("limits".into(), Value::Object(limits));
    }
    if !requests.is_empty() {
        out.insert("requests".into(), Value::Object(requests));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// Docker's healthcheck defaults (`docker run --help`, engine API).
const HEALTH_INTERVAL_SECS: u64 = 30;
const HEALTH_TIMEOUT_SECS: u64 = 30;
const HEALTH_RETRIES: u64 = 3;
const HEALTH_START_INTERVAL_SECS: u64 = 5;

fn probes(
    ctx: &mut Ctx,
    svc: &ServiceConfig,
    hc: &HealthCheckConfig,
    container: &mut Value,
    comments: &mut Vec<String>,
) {
    if hc.disable {
        return;
    }
    let path = key_path(&["services", &svc.name, "healthcheck", "test"]);
    let command: Vec<String> = match hc.test.first().map(String::as_str) {
        Some("NONE") => return,
        Some("CMD") => hc.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), hc.test[1..].join(" ")],
        _ => {
            ctx.warn(
                &key_path(&["services", &svc.name, "healthcheck"]),
                "healthcheck without test relies on the image's HEALTHCHECK, which Kubernetes ignores; no probe",
            );
            return;
        }
    };
    if command.is_empty() {
        ctx.warn(&path, "empty healthcheck command; no probe");
        return;
    }
    let period = hc.interval.as_ref().map_or(HEALTH_INTERVAL_SECS, ceil_secs);
    let timeout = hc.timeout.as_ref().map_or(HEALTH_TIMEOUT_SECS, ceil_secs);
    let retries = hc.retries.unwrap_or(HEALTH_RETRIES).max(1);
    let probe = json!({
        "exec": {"command": command},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": retries,
    });
    container["readinessProbe"] = probe.clone();
    container["livenessProbe"] = probe.clone();
    let start = hc.start_period.as_ref().map_or(0, |d| d.as_std().as_secs());
    if start > 0 {
        // Failures during start_period do not count in compose: a startup
        // probe holds the other two back until the first success.
        let every = hc
            .start_interval
            .as_ref()
            .map_or(HEALTH_START_INTERVAL_SECS.min(period), ceil_secs);
        let mut startup = probe;
        startup["periodSeconds"] = json!(every);
        startup["failureThreshold"] = json!(start.div_ceil(every) + retries);
        container["startupProbe"] = startup;
    }
    comments.push(format!(
        "The healthcheck of {} is its readiness probe (dependents and Services wait for it) and its liveness probe (Kubernetes restarts a container that fails it, which Docker does not).",
        svc.name
    ));
}

fn lifecycle(ctx: &mut Ctx, svc: &ServiceConfig) -> Option<Value> {
    let mut out = Map::new();
    for (key, k8s, hooks) in [
        ("post_start", "postStart", &svc.post_start),
        ("pre_stop", "preStop", &svc.pre_stop),
    ] {
        let Some(first) = hooks.first() else { continue };
        let path = key_path(&["services", &svc.name, key]);
        if hooks.len() > 1 {
            ctx.warn(
                &path,
                "Kubernetes runs one hook of each kind; only the first is kept",
            );
        }
        if first.user.is_some()
            || first.privileged
            || first.working_dir.is_some()
            || !first.environment.is_empty()
        {
            ctx.warn(&path, "hook user, privileged, working_dir and environment have no Kubernetes form; left out");
        }
        if let Some(cmd) = first.command.as_ref().filter(|c| !c.is_empty()) {
            out.insert(k8s.into(), json!({"exec": {"command": cmd}}));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

fn pod_annotations(ctx: &mut Ctx, svc: &ServiceConfig) -> Map<String, Value> {
    let mut out = Map::new();
    for (field, map) in [("labels", &svc.labels), ("annotations", &svc.annotations)] {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        for key in keys {
            if is_qualified_key(key) {
                out.insert(key.clone(), json!(map[key.as_str()]));
            } else {
                ctx.warn(
                    &key_path(&["services", &svc.name, field, key]),
                    "not a valid Kubernetes annotation key; left out",
                );
            }
        }
    }
    out
}

fn pod_options(ctx: &mut Ctx, svc: &ServiceConfig, pod: &mut Value, comments: &mut Vec<String>) {
    if let Some(h) = svc.hostname.as_deref().filter(|h| !h.is_empty()) {
        if names::is_dns_label(h) {
            pod["hostname"] = json!(h);
        } else {
            ctx.warn(
                &key_path(&["services", &svc.name, "hostname"]),
                format!("hostname {h:?} is not a DNS-1123 label; left out"),
            );
        }
    }
    if !svc.extra_hosts.is_empty() {
        let mut by_ip: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (host, ips) in svc.extra_hosts.iter() {
            for ip in ips {
                if ip == "host-gateway" {
                    ctx.warn(
                        &key_path(&["services", &svc.name, "extra_hosts"]),
                        format!("{host}:host-gateway: pods have no host gateway; left out"),
                    );
                    continue;
                }
                by_ip.entry(ip.clone()).or_default().insert(host.clone());
            }
        }
        if !by_ip.is_empty() {
            pod["hostAliases"] = json!(by_ip
                .into_iter()
                .map(|(ip, hosts)| json!({"ip": ip, "hostnames": hosts}))
                .collect::<Vec<_>>());
        }
    }
    let mut dns = Map::new();
    if !svc.dns.is_empty() {
        dns.insert("nameservers".into(), json!(svc.dns));
    }
    if !svc.dns_search.is_empty() {
        dns.insert("searches".into(), json!(svc.dns_search));
    }
    if !svc.dns_opt.is_empty() {
        dns.insert(
            "options".into(),
            json!(svc
                .dns_opt
                .iter()
                .map(|o| match o.split_once(':') {
                    Some((n, v)) => json!({"name": n, "value": v}),
                    None => json!({"name": o}),
                })
                .collect::<Vec<_>>()),
        );
    }
    if !dns.is_empty() {
        pod["dnsConfig"] = Value::Object(dns);
    }
    if !svc.sysctls.is_empty() {
        let mut keys: Vec<&String> = svc.sysctls.keys().collect();
        keys.sort();
        pod["securityContext"] = json!({"sysctls": keys
            .iter()
            .map(|k| json!({"name": k, "value": svc.sysctls[k.as_str()]}))
            .collect::<Vec<_>>()});
        comments.push("sysctls outside Kubernetes' safe set must be allowed by the kubelet (--allowed-unsafe-sysctls).".into());
    }
    if let Some(grace) = &svc.stop_grace_period {
        pod["terminationGracePeriodSeconds"] = json!(grace.as_std().as_secs());
    }
    if let Some(signal) = svc.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        comments.push(format!(
            "stop_signal {signal}: Kubernetes stops containers with SIGTERM (or the image's STOPSIGNAL); make sure {} handles it.",
            svc.name
        ));
    }
    if let Some(platform) = svc.platform.as_deref().filter(|p| !p.is_empty()) {
        let mut parts = platform.split('/');
        let os = parts.next().unwrap_or_default();
        let arch = parts.next();
        let mut selector = Map::new();
        if !os.is_empty() {
            selector.insert("kubernetes.io/os".into(), json!(os));
        }
        if let Some(arch) = arch.filter(|a| !a.is_empty()) {
            selector.insert("kubernetes.io/arch".into(), json!(arch));
        }
        if !selector.is_empty() {
            pod["nodeSelector"] = Value::Object(selector);
        }
    }
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

/// One init container per `depends_on` entry, in name order.
fn init_containers(
    ctx: &mut Ctx,
    svc: &ServiceConfig,
    networks: &[String],
    comments: &mut Vec<String>,
) -> Vec<Value> {
    let mut out = Vec::new();
    let timeout = ctx.opts.wait_timeout_secs;
    let mut deps: Vec<(&String, &crate::compose::types::ServiceDependency)> =
        svc.depends_on.iter().collect();
    deps.sort_by(|a, b| a.0.cmp(b.0));
    for (dep, d) in deps {
        let Some(dep_svc) = ctx.project().services.get(dep).cloned() else {
            continue;
        };
        let dep_name = ctx.service_names[dep].clone();
        let init_name = with_suffix("wait-for", &dep_name);
        let path = key_path(&["services", &svc.name, "depends_on", dep]);
        if d.restart {
            let mut restart_path = path.clone();
            restart_path.push(PathSeg::Key("restart".into()));
            ctx.warn(
                &restart_path,
                format!(
                    "Kubernetes does not restart {} when {dep} restarts",
                    svc.name
                ),
            );
        }
        if ctx.jobs.contains(dep) {
            if d.condition != DependencyCondition::ServiceCompletedSuccessfully {
                comments.push(format!(
                    "depends_on {dep} ({}): {dep} is a Job; {} does not wait for it.",
                    d.condition.as_str(),
                    svc.name
                ));
                continue;
            }
            ctx.needs_job_waiter = true;
            out.push(json!({
                "name": init_name,
                "image": ctx.opts.kubectl_image,
                "command": ["kubectl", "wait", "--for=condition=complete", format!("--timeout={timeout}s"), format!("job/{dep_name}")],
            }));
            comments.push(format!(
                "depends_on {dep} (service_completed_successfully): init container {init_name} waits up to {timeout}s for Job {dep_name} to complete, through the API (ServiceAccount {}).",
                job_waiter_name(ctx)
            ));
            continue;
        }
        // The wait goes over the network, so it needs a network in common.
        let dep_networks = pod_networks(ctx, &dep_svc);
        if !networks.iter().any(|n| dep_networks.contains(n)) {
            ctx.warn(
                &path,
                format!("{} and {dep} share no network, so {} cannot reach {dep} to wait for it; no wait", svc.name, svc.name),
            );
            continue;
        }
        let ports = distinct_targets(&service_ports_quiet(&dep_svc));
        let tcp = ports
            .iter()
            .find(|(_, proto)| *proto == "TCP")
            .map(|(p, _)| *p);
        let (check, what) = match tcp {
            Some(port) => (
                format!("nc -z -w 2 {dep_name} {port}"),
                format!("{dep_name}:{port} to accept connections"),
            ),
            // A headless Service's name resolves only to ready pods.
            None => (
                format!("nslookup {dep_name} >/dev/null 2>&1"),
                format!("{dep_name} to resolve to a ready pod"),
            ),
        };
        let script = format!(
            "timeout {timeout} sh -c 'until {check}; do sleep 1; done' || {{ echo 'wharf: gave up waiting for {what} after {timeout}s' >&2; exit 1; }}"
        );
        out.push(json!({
            "name": init_name,
            "image": ctx.opts.wait_image,
            "command": ["sh", "-c", script],
        }));
        let healthy = d.condition == DependencyCondition::ServiceHealthy;
        let note = if healthy && dep_svc.healthcheck.as_ref().is_none_or(|h| h.disable) {
            format!("; {dep} has no healthcheck, so ready means running")
        } else if healthy {
            format!("; ready means {dep}'s healthcheck passes (its readiness probe)")
        } else {
            String::new()
        };
        comments.push(format!(
            "depends_on {dep} ({}): init container {init_name} waits up to {timeout}s for {what}{note}.",
            d.condition.as_str()
        ));
    }
    out
}

/// The same ports, without reporting warnings twice (for a dependency).
fn service_ports_quiet(svc: &ServiceConfig) -> Vec<PortSpec> {
    let mut out: Vec<PortSpec> = svc
        .ports
        .iter()
        .map(|p| PortSpec {
            target: p.target,
            protocol: protocol(p.protocol.as_deref()),
            published: None,
        })
        .collect();
    for e in &svc.expose {
        let (ports, proto) = match e.split_once('/') {
            Some((ports, proto)) => (ports, protocol(Some(proto))),
            None => (e.as_str(), "TCP"),
        };
        let first = ports.split('-').next().and_then(|p| p.parse::<u16>().ok());
        if let Some(target) = first {
            out.push(PortSpec {
                target,
                protocol: proto,
                published: None,
            });
        }
    }
    out.retain(|p| p.target != 0);
    out
}

/// The claim a named volume mounts: external volumes by their own name.
fn volume_claim_name(ctx: &Ctx, key: &str) -> Option<String> {
    let def = ctx.project().volumes.get(key);
    match def {
        Some(v) if v.external => dns_label(v.name.as_deref().unwrap_or(key)),
        _ => dns_label(key),
    }
}

fn convert_volumes(ctx: &mut Ctx) -> Result<(), ConvertError> {
    let users = std::mem::take(&mut ctx.volume_users);
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (key, services) in &users {
        let path = key_path(&["volumes", key]);
        let def = ctx.project().volumes.get(key).cloned().unwrap_or_default();
        let Some(claim) = volume_claim_name(ctx, key) else {
            continue;
        };
        if claim != *key && !def.external {
            ctx.warn(
                &path,
                format!("volume name {key:?} is not a DNS-1123 name; its claim is {claim:?}"),
            );
            ctx.renamed
                .push((path_string(&path), key.clone(), claim.clone()));
        }
        names.insert(key.clone(), claim.clone());
        let pods: u32 = services
            .iter()
            .filter_map(|s| ctx.project().services.get(s))
            .map(|s| {
                if ctx.opts.replicas_from_deploy {
                    s.scale().max(1)
                } else {
                    1
                }
            })
            .sum();
        if pods > 1 {
            ctx.warn(
                &path,
                format!(
                    "mounted by {pods} pods ({}): a ReadWriteOnce claim attaches to one node, so they must run there or the storage class must allow ReadWriteMany",
                    services.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if def.external {
            continue;
        }
        if def
            .driver
            .as_deref()
            .is_some_and(|d| !d.is_empty() && d != "local")
            || !def.driver_opts.is_empty()
        {
            ctx.warn(
                &path,
                "volume driver and driver_opts: the claim uses the storage class instead",
            );
        }
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": ctx.opts.volume_size}},
        });
        if let Some(class) = &ctx.opts.storage_class {
            spec["storageClassName"] = json!(class);
        }
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": ctx.metadata(&claim, &[]),
            "spec": spec,
        });
        let comments = vec![format!(
            "Volume {key}: compose volumes have no size; {} is requested (--volume-size). Unlike Docker, Kubernetes does not copy the image's files into a new volume.",
            ctx.opts.volume_size
        )];
        ctx.push(
            "PersistentVolumeClaim",
            &claim,
            &path_string(&path),
            comments,
            manifest,
        );
    }
    check_collisions("volume", names.iter())
}

/// The key a file has in its ConfigMap or Secret: `[-._a-zA-Z0-9]+`.
fn data_key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() || key == "." || key == ".." {
        "content".into()
    } else {
        key
    }
}

/// Volumes and mounts for a service's `configs` (`is_config`) or `secrets`.
fn file_mounts(
    ctx: &mut Ctx,
    svc: &ServiceConfig,
    is_config: bool,
    volumes: &mut Vec<Value>,
    mounts: &mut Vec<Value>,
) {
    let (field, refs): (&str, &Vec<FileReferenceConfig>) = if is_config {
        ("configs", &svc.configs)
    } else {
        ("secrets", &svc.secrets)
    };
    for (i, r) in refs.iter().enumerate() {
        let mut path = key_path(&["services", &svc.name, field]);
        path.push(PathSeg::Index(i));
        let external = if is_config {
            ctx.project()
                .configs
                .get(&r.source)
                .map(|c| (c.external, c.name.clone()))
        } else {
            ctx.project()
                .secrets
                .get(&r.source)
                .map(|c| (c.external, c.name.clone()))
        };
        let Some((external, engine_name)) = external else {
            continue;
        };
        let object = if external {
            dns_label(engine_name.as_deref().unwrap_or(&r.source))
        } else {
            dns_label(&r.source)
        };
        let Some(object) = object else {
            ctx.warn(
                &path,
                format!("{:?} has no usable Kubernetes name; left out", r.source),
            );
            continue;
        };
        if is_config {
            ctx.configs_used.insert(r.source.clone());
        } else {
            ctx.secrets_used.insert(r.source.clone());
        }
        if r.uid.is_some() || r.gid.is_some() {
            ctx.warn(
                &path,
                "uid and gid: mounted files belong to the pod's fsGroup; left out",
            );
        }
        let key = data_key(&r.source);
        let target = match r.target.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) if is_config => format!("/{t}"),
            Some(t) => format!("/run/secrets/{t}"),
            None if is_config => format!("/{}", r.source),
            None => format!("/run/secrets/{}", r.source),
        };
        let vol_name = with_suffix(
            if is_config { "config" } else { "secret" },
            &format!("{i}-{object}"),
        );
        let mut item = json!({"key": key, "path": key});
        if let Some(mode) = r.mode {
            item["mode"] = json!(mode.0);
        }
        let source = if is_config {
            json!({"configMap": {"name": object, "items": [item]}})
        } else {
            json!({"secret": {"secretName": object, "items": [item]}})
        };
        let mut volume = json!({"name": vol_name});
        if let (Value::Object(v), Value::Object(s)) = (&mut volume, source) {
            v.extend(s);
        }
        volumes.push(volume);
        mounts
            .push(json!({"name": vol_name, "mountPath": target, "subPath": key, "readOnly": true}));
    }
}

/// ConfigMaps (`is_config`) or Secrets for the configs/secrets services use.
fn convert_files(ctx: &mut Ctx, is_config: bool) -> Result<(), ConvertError> {
    let used: Vec<String> = if is_config {
        ctx.configs_used.iter().cloned().collect()
    } else {
        ctx.secrets_used.iter().cloned().collect()
    };
    let field = if is_config { "configs" } else { "secrets" };
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for key in used {
        let path = key_path(&[field, &key]);
        let (external, file, environment, content) = if is_config {
            let Some(c) = ctx.project().configs.get(&key) else {
                continue;
            };
            (
                c.external,
                c.file.clone(),
                c.environment.clone(),
                c.content.clone(),
            )
        } else {
            let Some(c) = ctx.project().secrets.get(&key) else {
                continue;
            };
            (
                c.external,
                c.file.clone(),
                c.environment.clone(),
                c.content.clone(),
            )
        };
        if external {
            continue;
        }
        let Some(object) = dns_label(&key) else {
            continue;
        };
        if object != key {
            ctx.warn(
                &path,
                format!("name {key:?} is not a DNS-1123 name; it is {object:?} in Kubernetes"),
            );
            ctx.renamed
                .push((path_string(&path), key.clone(), object.clone()));
        }
        names.insert(key.clone(), object.clone());
        let mut annotations = Map::new();
        let bytes: Vec<u8> = if let Some(var) = environment.as_deref().filter(|v| !v.is_empty()) {
            annotations.insert(FROM_ENVIRONMENT.into(), json!(var));
            match content.or_else(|| ctx.loaded.environment.get(var).cloned()) {
                Some(v) => v.into_bytes(),
                None => {
                    ctx.warn(
                        &path,
                        format!("environment variable {var} is not set; the value is empty"),
                    );
                    Vec::new()
                }
            }
        } else if let Some(file) = file.as_deref().filter(|f| !f.is_empty()) {
            let p = Path::new(file);
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                ctx.loaded.working_dir.join(p)
            };
            std::fs::read(&abs).map_err(|source| ConvertError::ReadFile {
                key: path_string(&path),
                path: abs.clone(),
                source,
            })?
        } else {
            content.unwrap_or_default().into_bytes()
        };
        let data_key = data_key(&key);
        let mut meta = ctx.metadata(&object, &[]);
        if !annotations.is_empty() {
            meta["annotations"] = Value::Object(annotations);
        }
        let origin = path_string(&path);
        if is_config {
            let mut manifest = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta});
            match String::from_utf8(bytes) {
                Ok(text) => manifest["data"] = json!({ data_key: text }),
                Err(e) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(e.as_bytes());
                    manifest["binaryData"] = json!({ data_key: b64 });
                }
            }
            let mut comments = vec![format!("Config {key}, with its content embedded.")];
            if environment.is_some() {
                comments.push(format!(
                    "Its value came from the environment ({FROM_ENVIRONMENT} says which variable)."
                ));
            }
            ctx.push("ConfigMap", &object, &origin, comments, manifest);
        } else {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let manifest = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "type": "Opaque",
                "data": { data_key: b64 },
            });
            let mut comments = vec![format!(
                "Secret {key}, with its content embedded (base64 is no encryption): keep this file out of version control."
            )];
            if environment.is_some() {
                comments.push(format!(
                    "Its value came from the environment ({FROM_ENVIRONMENT} says which variable)."
                ));
            }
            ctx.push("Secret", &object, &origin, comments, manifest);
        }
    }
    check_collisions(if is_config { "config" } else { "secret" }, names.iter())
}

fn convert_networks(ctx: &mut Ctx) -> Result<(), ConvertError> {
    let project_name = dns_label(&ctx.project_label).unwrap_or_else(|| "wharf".into());
    let comments = vec![
        "Pods of the project take traffic only from pods that share a compose network with them (the policies below), as on compose's bridge networks.".to_string(),
    ];
    if ctx.project().services.is_empty() {
        return Ok(());
    }
    let deny = with_suffix(&project_name, "default-deny");
    let manifest = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": ctx.metadata(&deny, &[]),
        "spec": {
            "podSelector": {"matchLabels": {PART_OF: ctx.project_label}},
            "policyTypes": ["Ingress"],
        },
    });
    ctx.push("NetworkPolicy", &deny, "networks", comments, manifest);

    let used: Vec<String> = ctx.networks_used.iter().cloned().collect();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for key in used {
        let path = key_path(&["networks", &key]);
        let Some(label) = dns_label(&key) else {
            ctx.warn(
                &path,
                "network name has no usable Kubernetes name; no policy",
            );
            continue;
        };
        if label != key {
            ctx.warn(
                &path,
                format!("network name {key:?} is not a DNS-1123 name; its label is {label:?}"),
            );
        }
        names.insert(key.clone(), label.clone());
        let def = ctx
            .project()
            .networks
            .get(&key)
            .cloned()
            .unwrap_or_default();
        let mut comments = vec![format!(
            "Compose network {key}: its members reach each other."
        )];
        if def.external {
            comments.push(
                "It is external in compose: containers outside the project are not converted."
                    .into(),
            );
        }
        if def.internal {
            comments.push(
                "It is internal: services only on internal networks get an egress policy too."
                    .into(),
            );
        }
        let net_label = format!("{NETWORK_LABEL_PREFIX}{label}");
        let members = json!({PART_OF: ctx.project_label, net_label.clone(): "true"});
        let name = with_suffix(&project_name, &format!("network-{label}"));
        let manifest = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": ctx.metadata(&name, &[]),
            "spec": {
                "podSelector": {"matchLabels": members},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": members}}]}],
            },
        });
        ctx.push(
            "NetworkPolicy",
            &name,
            &path_string(&path),
            comments,
            manifest,
        );
    }
    check_collisions("network", names.iter())
}

fn job_waiter_rbac(ctx: &mut Ctx) {
    let name = job_waiter_name(ctx);
    let why = vec![
        "Init containers that wait for a one-shot Job read Jobs through the API with this account."
            .to_string(),
    ];
    let meta = ctx.metadata(&name, &[]);
    ctx.push(
        "ServiceAccount",
        &name,
        "depends_on",
        why.clone(),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}),
    );
    let meta = ctx.metadata(&name, &[]);
    ctx.push(
        "Role",
        &name,
        "depends_on",
        why.clone(),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch"]}],
        }),
    );
    let meta = ctx.metadata(&name, &[]);
    let mut subject = json!({"kind": "ServiceAccount", "name": name});
    if let Some(ns) = ctx.namespace() {
        subject["namespace"] = json!(ns);
    }
    ctx.push(
        "RoleBinding",
        &name,
        "depends_on",
        why,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [subject],
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_quantity(0.5), "500m");
        assert_eq!(cpu_quantity(2.0), "2");
        assert_eq!(cpu_quantity(0.25), "250m");
        assert_eq!(memory_quantity(512 << 20), "512Mi");
        assert_eq!(memory_quantity(1 << 30), "1Gi");
        assert_eq!(memory_quantity(1000), "1000");
        assert!(is_quantity("1Gi"));
        assert!(is_quantity("500M"));
        assert!(!is_quantity("1 Gi"));
        assert!(!is_quantity("big"));
    }

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

    #[test]
    fn data_keys_are_valid() {
        assert_eq!(data_key("nginx_conf"), "nginx_conf");
        assert_eq!(data_key("a b"), "a_b");
        assert_eq!(data_key(".."), "content");
    }
}
