//! The build cache: step key → the image state after that step.
//!
//! A key is a sha256 over the parent's key, the instruction after
//! substitution, the build args it uses and the content hash of its COPY/ADD
//! sources (never mtimes). An entry is `build-cache/<hex>.json` under the
//! store's root, written to a temp file and renamed, so an interrupted build
//! leaves either no entry or a whole one. The layer an entry made is kept
//! alive by a store holder (`build-cache-<hex>`), written before the entry:
//! `image prune` cannot delete a layer the cache still names. A hit whose
//! layers are gone (an `rmi` of the base) counts as a miss.

use crate::build::image::ImageState;
use crate::image::digest::{Digest, Hasher};
use crate::image::platform::Platform;
use crate::image::store::{ImageStore, LayerRecord, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("build cache entry {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("build cache entry {key}: {source}")]
    Store {
        key: String,
        #[source]
        source: StoreError,
    },
    #[error("build cache entry: {0}")]
    State(#[from] crate::sys::atomic::AtomicError),
}

/// A step's cache key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey(pub Digest);

impl CacheKey {
    /// The key of a stage's starting point: the base image's id (or scratch).
    pub fn base(image: Option<&Digest>, platform: &Platform) -> CacheKey {
        let mut h = Hasher::new(crate::image::digest::Algorithm::Sha256);
        h.update(b"wharf-build-cache-v1\0");
        h.update(format!("{}/{}\0", platform.os, platform.architecture).as_bytes());
        h.update(image.map(|d| d.to_string()).unwrap_or_default().as_bytes());
        CacheKey(h.finish())
    }

    /// The key of a step on top of `self`. `parts` are what the step's result
    /// depends on besides its parent, each length-prefixed so no two lists
    /// of parts hash alike.
    pub fn child<S: AsRef<str>>(&self, parts: &[S]) -> CacheKey {
        let mut h = Hasher::new(crate::image::digest::Algorithm::Sha256);
        h.update(self.0.to_string().as_bytes());
        for p in parts {
            let p = p.as_ref();
            h.update(&(p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        CacheKey(h.finish())
    }

    fn hex(&self) -> &str {
        self.0.hex()
    }
}

/// What a cache entry stores.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    document: serde_json::Value,
    layers: Vec<LayerRecord>,
    platform: Platform,
}

/// The cache under a store root.
#[derive(Clone, Debug)]
pub struct BuildCache {
    store: ImageStore,
    dir: PathBuf,
}

impl BuildCache {
    pub fn open(store: &ImageStore) -> Result<BuildCache, CacheError> {
        let dir = store.root().join("build-cache");
        std::fs::create_dir_all(&dir).map_err(|source| CacheError::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(BuildCache {
            store: store.clone(),
            dir,
        })
    }

    fn path(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.hex()))
    }

    /// The holder that keeps an entry's layer.
    pub fn holder(key: &CacheKey) -> String {
        format!("build-cache-{}", key.hex())
    }

    /// The state after the step `key`, if it is cached and its layers are all there.
    pub fn get(&self, key: &CacheKey) -> Option<ImageState> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        for l in &entry.layers {
            if !matches!(self.store.layer(&l.diff_id), Ok(Some(_))) {
                return None;
            }
        }
        Some(ImageState {
            document: entry.document,
            layers: entry.layers,
            platform: entry.platform,
        })
    }

    /// Records the state after step `key`; `new_layer` (if the step made one)
    /// is retained for the entry first.
    pub fn put(
        &self,
        key: &CacheKey,
        state: &ImageState,
        new_layer: Option<&LayerRecord>,
    ) -> Result<(), CacheError> {
        let store_err = |source| CacheError::Store {
            key: key.0.to_string(),
            source,
        };
        if let Some(l) = new_layer {
            let holder = Self::holder(key);
            self.store
                .retain_layers(&holder, std::slice::from_ref(&l.diff_id))
                .map_err(store_err)?;
            self.store
                .retain_blobs(&holder, std::slice::from_ref(&l.blob_digest))
                .map_err(store_err)?;
        }
        let entry = Entry {
            document: state.document.clone(),
            layers: state.layers.clone(),
            platform: state.platform.clone(),
        };
        Ok(crate::sys::atomic::write_json(&self.path(key), &entry)?)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `builder prune`: drops every entry (and the content-hash files and
    /// the `RUN --mount=type=cache` directories), then the layers only the
    /// cache kept. Returns the entries removed and the store's deletions.
    /// Entries go before their holders, so a build running meanwhile sees a
    /// miss, never an entry whose layer is gone.
    pub fn prune(&self) -> Result<(usize, crate::image::store::Removed), CacheError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CacheError::Io { path, source }
        };
        let mut entries = 0;
        let mut holders = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let e = e.map_err(io(&self.dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(hex) = name.strip_suffix(".json") {
                if let Ok(d) = format!("sha256:{hex}").parse::<Digest>() {
                    holders.push(Self::holder(&CacheKey(d)));
                    entries += 1;
                }
                std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
            }
        }
        let mounts = self.store.root().join("build-cache-mounts");
        if mounts.exists() {
            crate::image::unpack::remove_tree(&mounts).map_err(|e| CacheError::Io {
                path: mounts.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        let mut removed = crate::image::store::Removed::default();
        for h in holders {
            let r = self.store.release(&h).map_err(|source| CacheError::Store {
                key: h.clone(),
                source,
            })?;
            removed.deleted_layers.extend(r.deleted_layers);
            removed.deleted_blobs.extend(r.deleted_blobs);
        }
        Ok((entries, removed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_part_and_their_boundaries() {
        let p = Platform::new("linux", "amd64", None);
        let base = CacheKey::base(None, &p);
        assert_eq!(base.child(&["RUN a"]), base.child(&["RUN a"]));
        assert_ne!(base.child(&["RUN a"]), base.child(&["RUN b"]));
        assert_ne!(base.child(&["ab", "c"]), base.child(&["a", "bc"]));
        assert_ne!(
            base.child(&["RUN a"]).child(&["RUN b"]),
            base.child(&["RUN b"]).child(&["RUN a"])
        );
    }

    #[test]
    fn entries_round_trip_and_are_whole_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = ImageStore::open(tmp.path()).expect("store");
        let cache = BuildCache::open(&store).expect("cache");
        let p = Platform::new("linux", "amd64", None);
        let key = CacheKey::base(None, &p).child(&["ENV A=1"]);
        assert!(cache.get(&key).is_none());
        let mut state = ImageState::scratch(p);
        state.set_env("A", "1");
        cache.put(&key, &state, None).expect("put");
        assert_eq!(cache.get(&key).map(|s| s.env()), Some(state.env()));
        let names: Vec<_> = std::fs::read_dir(cache.dir())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temp file left: {names:?}");
        let (pruned, _) = cache.prune().expect("prune");
        assert_eq!(pruned, 1);
        assert!(cache.get(&key).is_none());
    }
}
