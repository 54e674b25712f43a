//! Named and anonymous volumes: directories under `<root>/volumes/<name>/_data`
//! (Docker's layout), with a small JSON record for labels and creation time.

use crate::sys::atomic::AtomicError;
use crate::sys::path_error::{IoAt, PathError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("invalid volume name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("get {0}: no such volume")]
    NotFound(String),
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse { name: String, users: Vec<String> },
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    State(#[from] AtomicError),
}

type Result<T> = std::result::Result<T, VolumeError>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VolumeOptions {
    pub labels: BTreeMap<String, String>,
    /// `volume create -o`: the local driver's options (type, o, device).
    pub driver_opts: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// The directory containers mount (`…/_data`).
    pub data: PathBuf,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
    /// The local driver's options it was created with (`-o type=…`): a
    /// bind or tmpfs mount instead of `_data`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn open(root: &Path) -> Result<Volumes> {
        let dir = root.join("volumes");
        fs::create_dir_all(&dir).at("creating", &dir)?;
        Ok(Volumes { dir })
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    pub fn get(&self, name: &str) -> Result<Option<Volume>> {
        Ok(crate::sys::atomic::read_json(&self.record_path(name))?)
    }

    /// The volume `name`, created if it does not exist (as `docker run -v
    /// name:/x` and `docker volume create` do).
    pub fn ensure(&self, name: &str, opts: VolumeOptions) -> Result<Volume> {
        validate(name)?;
        if let Some(v) = self.get(name)? {
            return Ok(v);
        }
        self.make(name, opts, false)
    }

    pub fn create_anonymous(&self) -> Result<Volume> {
        let name = super::container::random_id().map_err(|e| {
            VolumeError::Io(PathError {
                action: "naming",
                path: self.dir.clone(),
                source: io::Error::other(e),
            })
        })?;
        self.make(&name, VolumeOptions::default(), true)
    }

    fn make(&self, name: &str, opts: VolumeOptions, anonymous: bool) -> Result<Volume> {
        let base = self.dir.join(name);
        let data = base.join("_data");
        fs::create_dir_all(&data).at("creating", &data)?;
        let volume = Volume {
            name: name.to_string(),
            data,
            created: crate::time::rfc3339_nanos(std::time::SystemTime::now()),
            labels: opts.labels,
            anonymous,
            driver_opts: opts.driver_opts,
        };
        crate::sys::atomic::write_json(&self.record_path(name), &volume)?;
        Ok(volume)
    }

    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).at("reading", &self.dir)? {
            let entry = entry.at("reading", &self.dir)?;
            if let Some(v) = self.get(&entry.file_name().to_string_lossy())? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume; `users` are the containers that still mount it.
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        if self.get(name)?.is_none() {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                users: users.to_vec(),
            });
        }
        let base = self.dir.join(name);
        fs::remove_file(self.record_path(name)).at("removing", &base)?;
        Ok(crate::image::unpack::remove_tree(&base)?)
    }
}

fn validate(name: &str) -> Result<()> {
    super::container::validate_name(name).map_err(|_| VolumeError::InvalidName(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_created_once_and_refuse_removal_in_use() {
        let dir = tempfile::tempdir().expect("tmp");
        let v = Volumes::open(dir.path()).expect("open");
        let a = v.ensure("data", VolumeOptions::default()).expect("create");
        fs::write(a.data.join("f"), b"x").expect("write");
        let again = v.ensure("data", VolumeOptions::default()).expect("again");
        assert_eq!(a, again);
        assert!(again.data.join("f").exists(), "data kept");
        let err = v.remove("data", &["web".into()]).expect_err("in use");
        assert!(err.to_string().contains("in use"), "{err}");
        v.remove("data", &[]).expect("rm");
        assert!(v.get("data").expect("get").is_none());
        assert!(!a.data.exists());
        assert!(v.ensure("../x", VolumeOptions::default()).is_err());
        let anon = v.create_anonymous().expect("anon");
        assert!(anon.anonymous && anon.name.len() == 64);
        assert_eq!(v.list().expect("list").len(), 1);
    }
}
