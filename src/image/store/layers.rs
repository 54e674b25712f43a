//! Unpacked layers: `layers/<short>/` and their `by-diff-id` commit points,
//! the `LayerBuilder` that makes one, and the overlayfs `lowerdir` option.

use super::{
    remove_tree, valid_short_id, ImageStore, LayerBlob, LayerInfo, Result, StoreError, LAYER_BLOBS,
    SHORT_ID_LEN, TAR_SPLIT,
};
use crate::image::digest::Digest;
use crate::sys::path_error::{IoAt, PathError};
use nix::fcntl::{Flock, FlockArg};
use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

impl ImageStore {
    pub(super) fn diff_id_map_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/by-diff-id").join(format!(
            "{}-{}",
            diff_id.algorithm().as_str(),
            diff_id.hex()
        ))
    }

    /// diff id → short id, from `layers/by-diff-id/`.
    pub(super) fn layer_map(&self) -> Result<BTreeMap<Digest, String>> {
        let dir = self.root.join("layers/by-diff-id");
        let mut map = BTreeMap::new();
        for entry in fs::read_dir(&dir).at("reading", &dir)? {
            let path = entry.at("reading", &dir)?.path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().replacen('-', ":", 1))
                .unwrap_or_default();
            let Ok(diff_id) = name.parse::<Digest>() else {
                continue; // a temp file of an interrupted mapping write
            };
            let short = fs::read_to_string(&path).at("reading", &path)?;
            map.insert(diff_id, short.trim().to_string());
        }
        Ok(map)
    }

    pub(super) fn layer_unlocked(&self, diff_id: &Digest) -> Result<Option<LayerInfo>> {
        let map = self.diff_id_map_path(diff_id);
        let short = match fs::read_to_string(&map) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(PathError::new("reading", &map, e).into()),
        };
        if !valid_short_id(&short) {
            return Err(StoreError::CorruptLayer {
                path: map,
                reason: format!("bad short id {short:?}"),
            });
        }
        let dir = self.layers_dir().join(&short);
        let size_path = dir.join("size");
        let size = match fs::read_to_string(&size_path) {
            Ok(s) => s.trim().parse().unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => tree_size(&dir.join("diff"))?,
            Err(e) => return Err(PathError::new("reading", &size_path, e).into()),
        };
        Ok(Some(LayerInfo {
            diff_id: diff_id.clone(),
            path: dir.join("diff"),
            short_id: short,
            size,
        }))
    }

    /// The unpacked layer with this diff id, if it is committed.
    pub fn layer(&self, diff_id: &Digest) -> Result<Option<LayerInfo>> {
        let _lock = self.lock(FlockArg::LockShared)?;
        self.layer_unlocked(diff_id)
    }

    /// A temp directory to unpack the layer `diff_id` into; verifying the
    /// diff id while unpacking is the unpacker's job.
    pub fn begin_layer(&self, diff_id: &Digest) -> Result<LayerBuilder> {
        let dir = self.tmp_path(&format!("layer-{}", &diff_id.hex()[..12]));
        let _lock = self.lock(FlockArg::LockShared)?;
        fs::create_dir(&dir).at("creating", &dir)?;
        let lock = File::open(&dir)
            .at("opening", &dir)
            .map_err(StoreError::from)
            .and_then(|f| {
                Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, source)| StoreError::Lock {
                    path: dir.clone(),
                    source,
                })
            });
        let lock = match lock {
            Ok(l) => l,
            Err(e) => {
                let _ = remove_tree(&dir);
                return Err(e);
            }
        };
        let diff = dir.join("diff");
        if let Err(e) = fs::create_dir(&diff) {
            let _ = remove_tree(&dir);
            return Err(PathError::new("creating", &diff, e).into());
        }
        Ok(LayerBuilder {
            store: self.clone(),
            diff_id: diff_id.clone(),
            dir,
            lock: Some(lock),
        })
    }

    /// The layer's tar split, if it has one.
    pub fn tar_split(&self, layer: &LayerInfo) -> Option<PathBuf> {
        let p = self.layers_dir().join(&layer.short_id).join(TAR_SPLIT);
        p.is_file().then_some(p)
    }

    /// Bytes of a layer's files besides its tree (tar split, blob notes).
    pub(super) fn layer_meta_size(&self, layer: &LayerInfo) -> Result<u64> {
        let dir = self.layers_dir().join(&layer.short_id);
        let mut total = 0;
        for name in [TAR_SPLIT, LAYER_BLOBS] {
            let p = dir.join(name);
            match fs::metadata(&p) {
                Ok(m) => total += m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(PathError::new("reading", &p, e).into()),
            }
        }
        Ok(total)
    }

    /// Blobs made from this layer for pushes, with where they went.
    pub fn layer_blobs(&self, layer: &LayerInfo) -> Result<Vec<LayerBlob>> {
        let _lock = self.lock(FlockArg::LockShared)?;
        let p = self.layers_dir().join(&layer.short_id).join(LAYER_BLOBS);
        Ok(Self::read_json(&p)?.unwrap_or_default())
    }

    /// Notes that `blob`, made from `layer`, is in `repository` (`registry/repo`).
    pub fn note_layer_blob(
        &self,
        layer: &LayerInfo,
        blob: &LayerBlob,
        repository: &str,
    ) -> Result<()> {
        let _lock = self.lock(FlockArg::LockExclusive)?;
        let dir = self.layers_dir().join(&layer.short_id);
        if !dir.is_dir() {
            return Ok(()); // deleted meanwhile: nothing to note
        }
        let p = dir.join(LAYER_BLOBS);
        let mut blobs: Vec<LayerBlob> = Self::read_json(&p)?.unwrap_or_default();
        match blobs.iter_mut().find(|b| b.digest == blob.digest) {
            Some(b) => {
                b.repositories.insert(repository.to_string());
            }
            None => {
                let mut b = blob.clone();
                b.repositories.insert(repository.to_string());
                blobs.push(b);
            }
        }
        self.write_json(&p, &blobs)
    }

    /// Renames `layers/<short>` away and deletes it (the mapping is already gone).
    pub(super) fn delete_layer_dir(&self, dir: &Path) -> Result<()> {
        let doomed = self.tmp_path("deleted-layer");
        fs::rename(dir, &doomed).at("renaming", dir)?;
        remove_tree(&doomed)
    }
}

/// `lowerdir=` value for `layers` (top layer first), relative to
/// [`ImageStore::layers_dir`], which must be the mounting process's cwd.
pub fn lowerdir_option(layers: &[&LayerInfo]) -> String {
    let dirs: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/diff", l.short_id))
        .collect();
    dirs.join(":")
}

/// Bytes of regular files and symlinks under `dir`, hard links counted once.
pub fn tree_size(dir: &Path) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).at("reading", &d)? {
            let entry = entry.at("reading", &d)?;
            let meta = fs::symlink_metadata(entry.path()).at("reading", entry.path())?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if (meta.is_file() || meta.file_type().is_symlink())
                && (meta.nlink() < 2 || seen.insert((meta.dev(), meta.ino())))
            {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// A layer being unpacked into `path()`. `commit` moves it into `layers/`;
/// dropping it uncommitted deletes it.
pub struct LayerBuilder {
    store: ImageStore,
    diff_id: Digest,
    /// `tmp/layer-…`, holding `diff/` and, at commit, `diff-id` and `size`.
    dir: PathBuf,
    lock: Option<Flock<File>>,
}

impl LayerBuilder {
    /// Where to unpack the layer.
    pub fn path(&self) -> PathBuf {
        self.dir.join("diff")
    }

    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }

    /// A directory private to this layer for its scratch files (removed
    /// with the layer if it is not committed).
    pub fn scratch_dir(&self) -> &Path {
        &self.dir
    }

    /// Where the layer's tar split (compressed) is kept with it.
    pub fn tar_split_path(&self) -> PathBuf {
        self.dir.join(TAR_SPLIT)
    }

    /// Moves the layer into place, or discards it when another writer
    /// committed the same diff id first; either way returns the stored layer.
    pub fn commit(mut self) -> Result<LayerInfo> {
        let size = tree_size(&self.path())?;
        for (name, content) in [
            ("diff-id", self.diff_id.to_string()),
            ("size", size.to_string()),
        ] {
            let p = self.dir.join(name);
            fs::write(&p, content).at("writing", &p)?;
        }
        // Data of a committed layer must survive a crash like a blob's: one
        // syncfs flushes everything unpacked (cheaper than an fsync per file).
        if let Some(lock) = &self.lock {
            nix::unistd::syncfs(&**lock).at("syncing", &self.dir)?;
        }
        let store = self.store.clone();
        let _lock = store.lock(FlockArg::LockExclusive)?;
        if let Some(existing) = store.layer_unlocked(&self.diff_id)? {
            return Ok(existing); // Drop removes ours
        }
        let hex = self.diff_id.hex();
        let short = (SHORT_ID_LEN..=hex.len())
            .map(|n| &hex[..n])
            .find(|s| !store.layers_dir().join(s).exists())
            .ok_or_else(|| StoreError::CorruptLayer {
                path: store.layers_dir(),
                reason: format!("every short id of {} is taken", self.diff_id),
            })?
            .to_string();
        let target = store.layers_dir().join(&short);
        fs::rename(&self.dir, &target).at("renaming into", &target)?;
        self.dir = PathBuf::new();
        self.lock = None;
        // The mapping is the commit point (`open()` deletes unmapped layer dirs).
        let map = store.diff_id_map_path(&self.diff_id);
        let tmp = map.with_extension("tmp");
        fs::write(&tmp, &short).at("writing", &tmp)?;
        fs::rename(&tmp, &map).at("renaming into", &map)?;
        Ok(LayerInfo {
            diff_id: self.diff_id.clone(),
            path: target.join("diff"),
            short_id: short,
            size,
        })
    }
}

impl Drop for LayerBuilder {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            if let Err(e) = remove_tree(&self.dir) {
                tracing::warn!("{e}");
            }
        }
        self.lock = None;
    }
}
