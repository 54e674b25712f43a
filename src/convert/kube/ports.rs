//! Container ports and the Services that expose them (ClusterIP, plus
//! LoadBalancer or NodePort for published ports).

use super::{key_path, protocol, selector, Ctx, NAME};
use crate::compose::types::ServiceConfig;
use crate::compose::yaml::PathSeg;
use crate::convert::names::with_suffix;
use crate::convert::Expose;
use serde_json::json;
use std::collections::BTreeSet;

/// One container port: (port, protocol), with the host port it is published on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct PortSpec {
    pub(super) target: u16,
    pub(super) protocol: &'static str,
    pub(super) published: Option<u16>,
}

pub(super) fn service_ports(ctx: &mut Ctx, svc: &ServiceConfig) -> Vec<PortSpec> {
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
pub(super) fn distinct_targets(ports: &[PortSpec]) -> Vec<(u16, &'static str)> {
    let set: BTreeSet<(u16, &'static str)> = ports.iter().map(|p| (p.target, p.protocol)).collect();
    set.into_iter().collect()
}

fn port_name(protocol: &str, port: u16) -> String {
    format!("{}-{port}", protocol.to_ascii_lowercase())
}

/// The Service named after the compose service (ClusterIP with its ports,
/// headless without), and one for its published ports.
pub(super) fn services_for(
    ctx: &mut Ctx,
    svc: &ServiceConfig,
    name: &str,
    ports: &[PortSpec],
    origin: &str,
) {
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

/// The same ports, without reporting warnings twice (for a dependency).
pub(super) fn service_ports_quiet(svc: &ServiceConfig) -> Vec<PortSpec> {
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
