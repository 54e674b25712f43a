//! One compose service → its workload: a Deployment, or a Job for a
//! one-shot others wait on, with its containers, env, mounts and Services.

use super::files::file_mounts;
use super::network::{internal_egress, network_keys, pod_networks};
use super::pod::{
    lifecycle, memory_quantity, pod_annotations, pod_options, resources, security_context,
};
use super::ports::{distinct_targets, service_ports, services_for};
use super::probes::{init_containers, probes};
use super::storage::volume_claim_name;
use super::unmapped::{UNMAPPED_DEPLOY_KEYS, UNMAPPED_SERVICE_KEYS};
use super::{
    escape_expansion, init_waits_for_job, is_set, job_waiter_name, key_path, selector, Ctx, NAME,
    NETWORK_LABEL_PREFIX,
};
use crate::compose::types::{RestartMode, ServiceConfig, VolumeType};
use crate::compose::yaml::{path_string, Node, PathSeg};
use crate::convert::names::with_suffix;
use crate::convert::{ConvertError, Resource, Templated};
use serde_json::{json, Value};

pub(super) fn convert_service(ctx: &mut Ctx, svc: &ServiceConfig) -> Result<(), ConvertError> {
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
