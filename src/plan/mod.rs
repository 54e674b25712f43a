//! From a loaded project to what must happen: the service graph (order,
//! parallelism, cycles) and the config hash that decides recreation.

pub mod graph;

use sha2::{Digest, Sha256};

/// The hash stored in `com.docker.compose.config-hash`, computed like
/// Compose's `ServiceHash`: the service's JSON without the attributes that
/// do not change the running container (build, pull policy, scale).
pub fn config_hash(service: &serde_json::Value) -> String {
    let mut s = service.clone();
    if let Some(m) = s.as_object_mut() {
        m.remove("build");
        m.remove("pull_policy");
        m.remove("scale");
        if let Some(d) = m.get_mut("deploy").and_then(|d| d.as_object_mut()) {
            d.insert("replicas".into(), serde_json::Value::from(1));
        }
    }
    let bytes = serde_json::to_vec(&s).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_hash_ignores_build_and_scale_but_not_image() {
        let a = json!({"image": "x", "build": {"context": "/a"}, "scale": 3});
        let b = json!({"image": "x", "build": {"context": "/b"}});
        let c = json!({"image": "y"});
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_ne!(config_hash(&a), config_hash(&c));
        assert_eq!(config_hash(&a).len(), 64);
    }
}
