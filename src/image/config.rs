//! What an image's config blob says about running it: the OCI runtime
//! config (entrypoint, env, user, stop signal, …) and Docker's
//! healthcheck, which the OCI type does not carry.

use super::store::{ImageRecord, ImageStore, StoreError};

/// The largest image config read: real ones are kilobytes (a long history
/// makes a few hundred); more is a broken or hostile image, refused before
/// it is held in memory.
pub const MAX_CONFIG_BYTES: usize = 8 << 20;

/// The image's runtime config (`config` of the config blob); the default
/// config when the blob has none.
pub fn image_config(
    store: &ImageStore,
    image: &ImageRecord,
) -> Result<oci_spec::image::Config, StoreError> {
    let bytes = store.read_blob(&image.config_digest, false)?;
    let cfg: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(&bytes).map_err(|source| StoreError::ImageConfig {
            image: image.id().to_string(),
            source,
        })?;
    Ok(cfg.config().clone().unwrap_or_default())
}

/// A healthcheck as Docker stores it, in an image's config or a container's
/// spec: `test` is `["CMD", args…]`, `["CMD-SHELL", line]` or `["NONE"]`;
/// durations in nanoseconds, 0 meaning Docker's default (interval 30 s,
/// timeout 30 s, start interval 5 s, retries 3).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub start_interval: u64,
    pub retries: u32,
}

/// The image's own healthcheck; `None` when it has none (or its config
/// cannot be read: then the container simply runs unchecked, as before).
pub fn image_healthcheck(store: &ImageStore, image: &ImageRecord) -> Option<HealthSpec> {
    let bytes = store.read_blob(&image.config_digest, false).ok()?;
    healthcheck_of(&bytes)
}

fn healthcheck_of(config_blob: &[u8]) -> Option<HealthSpec> {
    let v: serde_json::Value = serde_json::from_slice(config_blob).ok()?;
    let h = v.get("config")?.get("Healthcheck")?;
    let n = |k: &str| h.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Some(HealthSpec {
        test: serde_json::from_value(h.get("Test")?.clone()).ok()?,
        interval: n("Interval"),
        timeout: n("Timeout"),
        start_period: n("StartPeriod"),
        start_interval: n("StartInterval"),
        retries: n("Retries") as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_from_a_docker_config_blob() {
        let blob = br#"{"config":{"Healthcheck":{"Test":["CMD-SHELL","pg_isready"],
            "Interval":1000000000,"Retries":4}}}"#;
        assert_eq!(
            healthcheck_of(blob),
            Some(HealthSpec {
                test: vec!["CMD-SHELL".into(), "pg_isready".into()],
                interval: 1_000_000_000,
                retries: 4,
                ..HealthSpec::default()
            })
        );
        assert_eq!(healthcheck_of(br#"{"config":{"Env":[]}}"#), None);
        assert_eq!(healthcheck_of(b"not json"), None);
    }
}
