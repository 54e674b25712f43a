//! The compose keys that have no Kubernetes form, each with why: the
//! warnings `convert` gives for them.

/// Service keys that have no Kubernetes form, with why.
pub(super) const UNMAPPED_SERVICE_KEYS: &[(&str, &str)] = &[
    (
        "attach",
        "which services `up` attaches to has no cluster form; `kubectl logs` reads any pod",
    ),
    (
        "develop",
        "develop.watch is for `wharf watch` on this machine; the cluster runs the images as built",
    ),
    (
        "pull_refresh_after",
        "the kubelet pulls by imagePullPolicy, on no schedule",
    ),
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

/// Service keys the converter maps (see docs/convert.md and the README's
/// coverage table); with `UNMAPPED_SERVICE_KEYS` and `LOADER_KEYS` they
/// must name every service property of the compose-spec schema, so a key
/// the schema gains is never dropped without a word.
#[cfg(test)]
const MAPPED_SERVICE_KEYS: &[&str] = &[
    "annotations",
    "build",
    "cap_add",
    "cap_drop",
    "command",
    "configs",
    "cpus",
    "depends_on",
    "deploy",
    "dns",
    "dns_opt",
    "dns_search",
    "entrypoint",
    "environment",
    "expose",
    "extra_hosts",
    "healthcheck",
    "hostname",
    "image",
    "labels",
    "links",
    "mem_limit",
    "mem_reservation",
    "network_mode",
    "networks",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "scale",
    "secrets",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "sysctls",
    "tmpfs",
    "tty",
    "user",
    "volumes",
    "working_dir",
];

/// Service keys the loader resolves before the converter sees the model.
#[cfg(test)]
const LOADER_KEYS: &[&str] = &["env_file", "extends", "label_file", "profiles"];

/// Deploy keys (swarm orchestration) that have no Kubernetes form here.
pub(super) const UNMAPPED_DEPLOY_KEYS: &[(&str, &str)] = &[
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_schema_service_property_is_mapped_warned_or_resolved_by_the_loader() {
        let schema: serde_json::Value =
            serde_json::from_str(crate::compose::schema::COMPOSE_SPEC_SCHEMA).expect("schema");
        let props = schema["definitions"]["service"]["properties"]
            .as_object()
            .expect("service properties");
        let unmapped: BTreeSet<&str> = UNMAPPED_SERVICE_KEYS.iter().map(|(k, _)| *k).collect();
        let mapped: BTreeSet<&str> = MAPPED_SERVICE_KEYS.iter().copied().collect();
        let loader: BTreeSet<&str> = LOADER_KEYS.iter().copied().collect();
        let unknown: Vec<&String> = props
            .keys()
            .filter(|k| {
                let k = k.as_str();
                !unmapped.contains(k) && !mapped.contains(k) && !loader.contains(k)
            })
            .collect();
        assert!(
            unknown.is_empty(),
            "service keys convert neither maps nor warns about: {unknown:?}"
        );
        let twice: Vec<&&str> = unmapped.intersection(&mapped).collect();
        assert!(
            twice.is_empty(),
            "keys both mapped and warned about: {twice:?}"
        );
    }
}
