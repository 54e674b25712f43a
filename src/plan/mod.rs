//! From a loaded project to what must happen: the service graph (order,
//! parallelism, cycles) and the config hash that decides recreation.

pub mod build;
pub mod container;
pub mod converge;
pub mod docker_run;
pub mod graph;
pub mod pull;

use crate::compose::types::{to_go_json, Project, ServiceConfig};
use graph::{Edge, EdgeKind, GraphError, ServiceGraph};
use sha2::{Digest, Sha256};

/// The project's services as a graph: `depends_on` plus the implicit edges
/// (`network_mode`/`ipc`/`pid: service:x`, `volumes_from`, `links`).
pub fn service_graph(project: &Project) -> Result<ServiceGraph, GraphError> {
    let mut edges = Vec::new();
    for (name, svc) in &project.services {
        let mut add = |to: &str, kind: EdgeKind| {
            edges.push(Edge {
                from: name.clone(),
                to: to.to_string(),
                kind,
            })
        };
        for (dep, d) in &svc.depends_on {
            add(
                dep,
                EdgeKind::DependsOn {
                    condition: d.condition,
                    required: d.required,
                    restart: d.restart,
                },
            );
        }
        let shared = |v: &Option<String>| {
            v.as_deref()
                .and_then(|s| s.strip_prefix("service:"))
                .map(str::to_string)
        };
        if let Some(s) = shared(&svc.network_mode) {
            add(&s, EdgeKind::NetworkMode);
        }
        if let Some(s) = shared(&svc.ipc) {
            add(&s, EdgeKind::Ipc);
        }
        if let Some(s) = shared(&svc.pid) {
            add(&s, EdgeKind::Pid);
        }
        for v in &svc.volumes_from {
            if !v.starts_with("container:") {
                add(v.split(':').next().unwrap_or(v), EdgeKind::VolumesFrom);
            }
        }
        for l in &svc.links {
            add(l.split(':').next().unwrap_or(l), EdgeKind::Links);
        }
    }
    ServiceGraph::new(project.services.keys().cloned(), edges)
}

/// The hash stored in `com.docker.compose.config-hash`, computed like
/// Compose's `ServiceHash` (so a stack started by either tool is seen as
/// unchanged by the other): the service's JSON in field order, without the
/// attributes that do not change the running container (build, pull policy,
/// scale, replica count, dependencies, profiles), encoded as Go's encoder
/// does. Checked against `docker compose config --hash` on the corpus.
pub fn config_hash(service: &ServiceConfig) -> String {
    let mut s = service.clone();
    s.build = None;
    s.pull_policy = None;
    s.scale = None;
    s.depends_on.clear();
    s.profiles.clear();
    if let Some(d) = s.deploy.as_mut() {
        d.replicas = None;
    }
    let json = to_go_json(&s, false).unwrap_or_default();
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_hash_ignores_build_and_scale_but_not_image() {
        let svc =
            |v: serde_json::Value| -> ServiceConfig { serde_json::from_value(v).expect("service") };
        let a = svc(json!({"image": "x", "build": {"context": "/a"}, "scale": 3}));
        let b = svc(json!({"image": "x", "build": {"context": "/b"}}));
        let c = svc(json!({"image": "y"}));
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_ne!(config_hash(&a), config_hash(&c));
        assert_eq!(config_hash(&a).len(), 64);
    }

    /// `count: -1`/`all` of GPU requests is kept as -1, so the hash is
    /// Compose's. Expected hashes recorded from Docker Compose v2.40.3:
    /// `scripts/reference-compose config --hash '*'` in a directory
    /// `rk2hash` holding this file.
    #[test]
    fn gpu_count_all_hashes_as_compose_does() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("compose.yaml"),
            "services:\n  web:\n    image: busybox\n    gpus: all\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - capabilities: [gpu]\n              count: -1\n  two:\n    image: busybox\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - capabilities: [gpu]\n              count: all\n              driver: nvidia\n",
        )
        .expect("write");
        let loaded = crate::compose::load::load(&crate::compose::load::LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("rk2hash".into()),
            ..Default::default()
        })
        .expect("load");
        let hash = |s: &str| config_hash(&loaded.project.services[s]);
        assert_eq!(
            hash("web"),
            "3239f08c176eb7407a0667ea518ad188d1bb9f6ad8cc492d725aec21030eb2ed"
        );
        assert_eq!(
            hash("two"),
            "2b9d749ef392f57de17b81c84f6d4f5f4985f482abfabebd4d1403f0074582ae"
        );
    }
}
