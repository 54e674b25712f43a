//! The image a build stage grows: its config (kept as JSON, so fields of a
//! base image that wharf does not model — Healthcheck, OnBuild, Shell,
//! ArgsEscaped — pass through untouched), its layers and its history, and
//! the commit of that state as an image in the store.

use crate::image::digest::Digest;
use crate::image::platform::Platform;
use crate::image::store::{ImageRecord, ImageStore, LayerRecord, StoreError};
use serde_json::{json, Map, Value};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// BuildKit's history comment for Dockerfile steps.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";
/// What BuildKit puts in Env when the base image has no PATH.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("image {image}: {source}")]
    Store {
        image: String,
        #[source]
        source: StoreError,
    },
    #[error("image {image}: its config is not a JSON object")]
    NotAnObject { image: String },
    #[error("image {image}: its config is not valid JSON: {source}")]
    Config {
        image: String,
        #[source]
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, ImageError>;

/// A stage's image so far.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageState {
    /// The whole image config document (`architecture`, `os`, `config`,
    /// `rootfs`, `history`, ...).
    pub document: Value,
    /// Bottom layer first.
    pub layers: Vec<LayerRecord>,
    pub platform: Platform,
}

impl ImageState {
    /// `FROM scratch`.
    pub fn scratch(platform: Platform) -> ImageState {
        let mut doc = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            // BuildKit's empty image: a default PATH and "/" as working dir.
            "config": { "Env": [DEFAULT_PATH], "WorkingDir": "/" },
            "rootfs": { "type": "layers", "diff_ids": [] },
            "history": [],
        });
        if let Some(v) = &platform.variant {
            doc["variant"] = json!(v);
        }
        ImageState {
            document: doc,
            layers: Vec::new(),
            platform,
        }
    }

    /// A stored image as the base of a stage.
    pub fn from_record(store: &ImageStore, record: &ImageRecord) -> Result<ImageState> {
        let image = record.id().to_string();
        let bytes = store
            .read_blob(&record.config_digest, true)
            .map_err(|source| ImageError::Store {
                image: image.clone(),
                source,
            })?;
        let mut document: Value =
            serde_json::from_slice(&bytes).map_err(|source| ImageError::Config {
                image: image.clone(),
                source,
            })?;
        if !document.is_object() {
            return Err(ImageError::NotAnObject { image });
        }
        if !document["config"].is_object() {
            document["config"] = json!({});
        }
        let env_has_path = document["config"]["Env"].as_array().is_some_and(|env| {
            env.iter()
                .any(|e| e.as_str().is_some_and(|e| e.starts_with("PATH=")))
        });
        if !env_has_path {
            let mut env = document["config"]["Env"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            env.insert(0, json!(DEFAULT_PATH));
            document["config"]["Env"] = Value::Array(env);
        }
        // A build's image is new: the base's creation time and container
        // details are not its.
        if let Some(obj) = document.as_object_mut() {
            for k in ["container", "container_config", "docker_version", "created"] {
                obj.remove(k);
            }
        }
        Ok(ImageState {
            document,
            layers: record.layers.clone(),
            platform: record.platform.clone(),
        })
    }

    /// The runtime config (`config` of the document).
    pub fn config(&self) -> &Value {
        &self.document["config"]
    }

    pub fn config_mut(&mut self) -> &mut Map<String, Value> {
        if !self.document["config"].is_object() {
            self.document["config"] = json!({});
        }
        match self.document["config"].as_object_mut() {
            Some(m) => m,
            // Just made an object above.
            None => unreachable!("config is an object"),
        }
    }

    /// `KEY=VALUE` entries of the config's Env.
    pub fn env(&self) -> Vec<String> {
        self.config()["Env"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value of `key` in Env, if set.
    pub fn env_value(&self, key: &str) -> Option<String> {
        self.env().into_iter().rev().find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        })
    }

    /// Sets `key` in Env, replacing an earlier value in place (Docker keeps the order).
    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        let entry = format!("{key}={value}");
        match env.iter_mut().find(|e| {
            e.split_once('=')
                .map_or(e.as_str() == key, |(k, _)| k == key)
        }) {
            Some(e) => *e = entry,
            None => env.push(entry),
        }
        self.config_mut().insert(
            "Env".into(),
            Value::Array(env.into_iter().map(Value::from).collect()),
        );
    }

    pub fn string_field(&self, key: &str) -> Option<String> {
        self.config()[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    pub fn string_list(&self, key: &str) -> Option<Vec<String>> {
        self.config()[key].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
    }

    /// Adds `key` to a `{ key: {} }` set field (ExposedPorts, Volumes).
    pub fn add_to_set(&mut self, field: &str, key: &str) {
        let cfg = self.config_mut();
        let set = cfg.entry(field.to_string()).or_insert_with(|| json!({}));
        if !set.is_object() {
            *set = json!({});
        }
        if let Some(m) = set.as_object_mut() {
            m.insert(key.to_string(), json!({}));
        }
    }

    /// Appends a history entry; `layer` says whether it made a layer.
    pub fn add_history(&mut self, created_by: &str, created: &str, empty_layer: bool) {
        let mut h = json!({
            "created": created,
            "created_by": created_by,
            "comment": HISTORY_COMMENT,
        });
        if empty_layer {
            h["empty_layer"] = json!(true);
        }
        if !self.document["history"].is_array() {
            self.document["history"] = json!([]);
        }
        if let Some(a) = self.document["history"].as_array_mut() {
            a.push(h);
        }
    }

    pub fn push_layer(&mut self, layer: LayerRecord) {
        self.layers.push(layer);
    }

    /// The config document as stored: diff ids and `created` filled in.
    pub fn config_bytes(&self, created: &str) -> Vec<u8> {
        let mut doc = self.document.clone();
        doc["created"] = json!(created);
        doc["rootfs"] = json!({
            "type": "layers",
            "diff_ids": self.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
        });
        // serde_json keeps insertion order: the same state gives the same bytes.
        serde_json::to_vec(&doc).unwrap_or_default()
    }

    /// Commits the state as an image (config and manifest blobs, then the
    /// record) named by `references`.
    pub fn commit(
        &self,
        store: &ImageStore,
        created: &str,
        references: &[String],
    ) -> Result<ImageRecord> {
        let store_err = |source| ImageError::Store {
            image: references.first().cloned().unwrap_or_default(),
            source,
        };
        let config = self.config_bytes(created);
        let config_digest = Digest::sha256_of(&config);
        store
            .put_blob(&config_digest, &config[..])
            .map_err(store_err)?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": config_digest.to_string(),
                "size": config.len(),
            },
            "layers": self.layers.iter().map(|l| json!({
                "mediaType": l.media_type,
                "digest": l.blob_digest.to_string(),
                "size": l.compressed_size,
            })).collect::<Vec<_>>(),
        }))
        .unwrap_or_default();
        let manifest_digest = Digest::sha256_of(&manifest);
        store
            .put_blob(&manifest_digest, &manifest[..])
            .map_err(store_err)?;
        let record = ImageRecord {
            references: references.to_vec(),
            repo_digests: Vec::new(),
            manifest_digest,
            manifest_media_type: OCI_MANIFEST.to_string(),
            index_digest: None,
            config_digest,
            platform: self.platform.clone(),
            layers: self.layers.clone(),
            created: Some(created.to_string()),
            size: self.layers.iter().map(|l| l.size).sum(),
        };
        store.put_image(record.clone()).map_err(store_err)?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_works_in_the_root_as_buildkit_s_empty_image() {
        let s = ImageState::scratch(Platform::new("linux", "amd64", None));
        assert_eq!(s.document["config"]["WorkingDir"], json!("/"));
        assert_eq!(s.env(), vec![DEFAULT_PATH]);
    }

    #[test]
    fn env_is_replaced_in_place_and_added_at_the_end() {
        let mut s = ImageState::scratch(Platform::new("linux", "amd64", None));
        s.set_env("A", "1");
        s.set_env("PATH", "/bin");
        s.set_env("B", "x=y");
        assert_eq!(s.env(), vec!["PATH=/bin", "A=1", "B=x=y"]);
        assert_eq!(s.env_value("B").as_deref(), Some("x=y"));
        assert_eq!(s.env_value("C"), None);
    }

    #[test]
    fn commit_writes_a_manifest_naming_config_and_layers() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = ImageStore::open(tmp.path()).expect("store");
        let mut s = ImageState::scratch(Platform::new("linux", "amd64", None));
        s.add_to_set("ExposedPorts", "80/tcp");
        s.add_history("EXPOSE map[80/tcp:{}]", "2024-01-01T00:00:00Z", true);
        let r = s
            .commit(
                &store,
                "2024-01-01T00:00:00Z",
                &["docker.io/library/x:latest".into()],
            )
            .expect("commit");
        let config: Value =
            serde_json::from_slice(&store.read_blob(&r.config_digest, true).expect("config"))
                .expect("json");
        assert_eq!(config["config"]["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(config["history"][0]["empty_layer"], json!(true));
        assert_eq!(config["rootfs"]["diff_ids"], json!([]));
        let again = s
            .commit(&store, "2024-01-01T00:00:00Z", &[])
            .expect("again");
        assert_eq!(again.id(), r.id(), "same state, same image");
        assert_eq!(
            store
                .resolve("docker.io/library/x:latest")
                .expect("resolve")
                .map(|r| r.manifest_digest),
            Some(r.manifest_digest)
        );
    }
}
