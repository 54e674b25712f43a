//! Healthchecks as probes, `depends_on` conditions as init containers,
//! and the RBAC those init containers need to wait for a Job.

use super::network::pod_networks;
use super::ports::{distinct_targets, service_ports_quiet};
use super::{job_waiter_name, key_path, Ctx};
use crate::compose::types::{DependencyCondition, HealthCheckConfig, ServiceConfig};
use crate::compose::yaml::PathSeg;
use crate::convert::names::with_suffix;
use serde_json::{json, Value};

fn ceil_secs(d: &crate::compose::types::Duration) -> u64 {
    let std = d.as_std();
    let secs = std.as_secs() + u64::from(std.subsec_nanos() > 0);
    secs.max(1)
}

/// Docker's healthcheck defaults (`docker run --help`, engine API).
const HEALTH_INTERVAL_SECS: u64 = 30;
const HEALTH_TIMEOUT_SECS: u64 = 30;
const HEALTH_RETRIES: u64 = 3;
const HEALTH_START_INTERVAL_SECS: u64 = 5;

pub(super) fn probes(
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

/// One init container per `depends_on` entry, in name order.
pub(super) fn init_containers(
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

pub(super) fn job_waiter_rbac(ctx: &mut Ctx) {
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
