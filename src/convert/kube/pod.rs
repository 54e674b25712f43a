//! Pod and container options: security context, resource requests and
//! limits (and their quantities), lifecycle hooks, pod annotations and the
//! pod-level settings (DNS, hosts, sysctls, ...).

use super::{key_path, Ctx};
use crate::compose::types::ServiceConfig;
use crate::convert::names::{self, is_qualified_key};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

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
pub(super) fn memory_quantity(bytes: i64) -> String {
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
pub(super) fn is_quantity(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &s[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && matches!(
            suffix,
            "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "k" | "M" | "G" | "T" | "P" | "E"
        )
}

pub(super) fn security_context(ctx: &mut Ctx, svc: &ServiceConfig) -> Option<Value> {
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

pub(super) fn resources(svc: &ServiceConfig) -> Option<Value> {
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

pub(super) fn lifecycle(ctx: &mut Ctx, svc: &ServiceConfig) -> Option<Value> {
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

pub(super) fn pod_annotations(ctx: &mut Ctx, svc: &ServiceConfig) -> Map<String, Value> {
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

pub(super) fn pod_options(
    ctx: &mut Ctx,
    svc: &ServiceConfig,
    pod: &mut Value,
    comments: &mut Vec<String>,
) {
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
}
