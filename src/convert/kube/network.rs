//! Compose networks → pod labels and NetworkPolicies (membership, and
//! egress for pods only on internal networks).

use super::{
    check_collisions, init_waits_for_job, key_path, selector, Ctx, NAME, NETWORK_LABEL_PREFIX,
    PART_OF,
};
use crate::compose::types::ServiceConfig;
use crate::compose::yaml::path_string;
use crate::convert::names::{dns_label, with_suffix};
use crate::convert::ConvertError;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The compose networks a service's pods join, by their Kubernetes label name.
pub(super) fn pod_networks(ctx: &mut Ctx, svc: &ServiceConfig) -> Vec<String> {
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
pub(super) fn network_keys(ctx: &Ctx, svc: &ServiceConfig) -> Vec<String> {
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
pub(super) fn internal_egress(
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

pub(super) fn convert_networks(ctx: &mut Ctx) -> Result<(), ConvertError> {
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
