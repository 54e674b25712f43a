//! wharf's content-addressed image store.
//!
//! Everything lives under one data root that the caller passes in
//! (`/var/lib/wharf` for root, e.g. `$XDG_DATA_HOME/wharf` rootless; tests use
//! temp dirs). Paths below are relative to that root, so the layout does not
//! change with the mode:
//!
//! ```text
//! lock                          flock: shared for readers, exclusive for mutations
//! blobs/<algo>/<hex>            manifests, indexes, configs, compressed layers (verified)
//! layers/<short>/diff           an unpacked layer: an overlayfs lowerdir
//! layers/<short>/diff-id        its diff id (`sha256:…`)
//! layers/<short>/size           bytes of its files, counted once at commit
//! layers/<short>/tar-split.gz   what rebuilds the layer's exact tar from diff/ (see tarsplit)
//! layers/<short>/blobs.json     compressed blobs made from it for a push, and where they went
//! layers/by-diff-id/<algo>-<hex>  → <short>   (the commit point of a layer)
//! images/<algo>-<hex>.json      one ImageRecord per image, keyed by its id
//! holders/<holder>.json         what a container (or an in-flight pull) keeps alive
//! tmp/                          in-progress writes; each entry is flock'ed by its writer
//! ```
//!
//! `<short>` is the first 12 hex digits of the diff id (longer on a collision):
//! the runtime mounts overlayfs with its working directory at `layers/` and
//! `lowerdir=<short>/diff:…` (as Docker does with `l/`), so 100 layers take
//! ~1.8 kB of the one page the kernel accepts for mount options, whatever the root.
//!
//! Crash safety: blobs, layers and records are built in `tmp/` and renamed into
//! place, so a crash leaves only `tmp/` litter; `open()` removes litter whose
//! writer is gone (its flock is free) and layer dirs that never got a
//! `by-diff-id` entry. An image's id is its manifest digest (as in Docker's
//! containerd image store). References are stored as the caller normalized them
//! (`docker.io/library/busybox:latest`); this module does not parse them.
//!
//! Compressed layer blobs are not kept once a layer is unpacked and its
//! tar split rebuilds the diff id (pull drops them): `push` and `save` make
//! a layer blob from the tree again. So an `ImageRecord`'s layer blob
//! digests name what the registry served, which may not be in `blobs/`.
//!
//! Garbage collection is by reference: a blob or layer is deleted only when no
//! image record and no holder names it. `prune` also sweeps blobs and layers that
//! nothing names (left by failed pulls), so a pull in progress must hold what it
//! fetched (`retain_blobs`/`retain_layers` under e.g. `pull-<pid>`) until its
//! image record is written.

use crate::image::digest::Digest;
use crate::sys::atomic::AtomicError;
use crate::sys::path_error::{IoAt, PathError};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod blobs;
mod images;
mod layers;
pub use layers::tree_size;

pub use blobs::{BlobWriter, ScratchDir, ScratchFile};
pub use layers::{lowerdir_option, LayerBuilder};

/// Hex digits of the diff id used for a layer's directory name.
const SHORT_ID_LEN: usize = 12;
/// Files beside a layer's `diff/`.
const TAR_SPLIT: &str = "tar-split.gz";
const LAYER_BLOBS: &str = "blobs.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("locking {path}: {source}")]
    Lock { path: PathBuf, source: Errno },
    #[error("blob {expected}: content has digest {actual} ({size} bytes); discarded")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        size: u64,
    },
    #[error("blob {digest} is not in the store ({path})")]
    MissingBlob { digest: Digest, path: PathBuf },
    #[error("image {image}: layer {diff_id} is not in the store")]
    MissingLayer { image: Digest, diff_id: Digest },
    #[error(transparent)]
    State(#[from] AtomicError),
    #[error("image config of {image}: {source}")]
    ImageConfig {
        image: String,
        source: serde_json::Error,
    },
    #[error("corrupt layer {path}: {reason}")]
    CorruptLayer { path: PathBuf, reason: String },
    #[error("no such image: {reference}")]
    NotFound { reference: String },
    #[error("{prefix:?} matches {count} images; give more of the id")]
    Ambiguous { prefix: String, count: usize },
    #[error("conflict: unable to remove {reference} ({reason})")]
    Conflict { reference: String, reason: String },
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

pub use super::platform::Platform;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The compressed (or plain) blob as the registry serves it.
    pub blob_digest: Digest,
    pub media_type: String,
    /// Digest of the uncompressed tar: the layer's identity in `layers/`.
    pub diff_id: Digest,
    /// Size of the blob as the manifest gives it.
    pub compressed_size: u64,
    /// Bytes of the unpacked files.
    pub size: u64,
}

/// One image as `images/<id>.json` stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Normalized references (`docker.io/library/busybox:latest`) naming this image.
    #[serde(default)]
    pub references: Vec<String>,
    /// `name@sha256:…` the image was pulled or pushed as.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// The image's id.
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    /// The index (manifest list) the manifest was selected from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<Digest>,
    pub config_digest: Digest,
    pub platform: Platform,
    /// Bottom layer first, as in the manifest.
    pub layers: Vec<LayerRecord>,
    /// The config's `created` (RFC 3339), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Unpacked size of all layers.
    pub size: u64,
}

impl ImageRecord {
    pub fn id(&self) -> &Digest {
        &self.manifest_digest
    }

    /// Every blob this image keeps alive.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.manifest_digest, &self.config_digest]
            .into_iter()
            .chain(self.index_digest.as_ref())
            .chain(self.layers.iter().map(|l| &l.blob_digest))
    }

    pub fn diff_ids(&self) -> impl Iterator<Item = &Digest> {
        self.layers.iter().map(|l| &l.diff_id)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    pub diff_id: Digest,
    /// Directory name under `layers/`.
    pub short_id: String,
    /// The unpacked tree (`layers/<short>/diff`).
    pub path: PathBuf,
    pub size: u64,
}

/// A compressed blob made from an unpacked layer (its original blob was
/// dropped), and the repositories (`registry/repo`) known to hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBlob {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    #[serde(default)]
    pub repositories: BTreeSet<String>,
}

/// What a holder (a container, an in-flight pull) keeps alive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    #[serde(default)]
    pub images: BTreeSet<Digest>,
    #[serde(default)]
    pub layers: BTreeSet<Digest>,
    #[serde(default)]
    pub blobs: BTreeSet<Digest>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub untagged: Vec<String>,
    pub deleted_images: Vec<Digest>,
    pub deleted_blobs: Vec<Digest>,
    /// Diff ids of the deleted layers.
    pub deleted_layers: Vec<Digest>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub count: u64,
    /// Items a holder keeps alive (directly, or through a held image).
    pub active: u64,
    pub size: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// `size`: unpacked layers referenced by images, each counted once.
    pub images: Usage,
    pub layers: Usage,
    pub blobs: Usage,
    /// Bytes `prune(true)` would free.
    pub reclaimable: u64,
}

/// The store under one data root. Cheap to clone; every call takes the lock it needs.
#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl ImageStore {
    /// Opens (creating if needed) the store under `root` and removes what a
    /// crashed writer left behind.
    pub fn open(root: impl Into<PathBuf>) -> Result<ImageStore> {
        let store = ImageStore { root: root.into() };
        // The root and `layers/` (trees with setuid binaries and devices)
        // only root enters (see sys::modes), also where an older wharf made
        // them wider; `tmp/` holds archives being loaded.
        for dir in [
            store.root.clone(),
            store.layers_dir(),
            store.root.join("tmp"),
        ] {
            crate::sys::modes::restricted_dir(&dir, crate::sys::modes::ROOT_DIR_MODE)?;
        }
        for dir in [
            store.root.join("blobs"),
            store.root.join("layers/by-diff-id"),
            store.root.join("images"),
            store.root.join("holders"),
        ] {
            fs::create_dir_all(&dir).at("creating", &dir)?;
        }
        let _lock = store.lock(FlockArg::LockExclusive)?;
        store.clean_tmp()?;
        store.reap_dead_pull_holders()?;
        store.clean_orphan_layers()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `layers/`: the working directory for a mount with short `lowerdir`s.
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn lock(&self, arg: FlockArg) -> Result<Flock<File>> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at("opening", &path)?;
        Flock::lock(file, arg).map_err(|(_, source)| StoreError::Lock { path, source })
    }

    /// A fresh path in `tmp/` (not created).
    fn tmp_path(&self, kind: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.tmp_dir()
            .join(format!("{kind}-{}-{nanos:08x}-{n}", std::process::id()))
    }

    /// Removes `tmp/` entries whose writer no longer holds their flock.
    /// Called with the exclusive store lock, so no writer is between creating
    /// its entry and locking it.
    fn clean_tmp(&self) -> Result<()> {
        let tmp = self.tmp_dir();
        for entry in fs::read_dir(&tmp).at("reading", &tmp)? {
            let path = entry.at("reading", &tmp)?.path();
            let Ok(file) = File::open(&path) else {
                // Unreadable (e.g. a dir made read-only): nobody can be using it as ours.
                remove_tree(&path)?;
                continue;
            };
            if let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                tracing::debug!(path = %path.display(), "removing litter of an interrupted write");
                remove_tree(&path)?;
                drop(lock);
            }
        }
        Ok(())
    }

    /// Removes layer dirs without a `by-diff-id` entry (a crash between rename
    /// and mapping, or mid-delete) and mappings to missing dirs.
    fn clean_orphan_layers(&self) -> Result<()> {
        let mapped = self.layer_map()?;
        let mapped_shorts: HashSet<&String> = mapped.values().collect();
        let dir = self.layers_dir();
        for entry in fs::read_dir(&dir).at("reading", &dir)? {
            let entry = entry.at("reading", &dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "by-diff-id" || mapped_shorts.contains(&name) {
                continue;
            }
            tracing::debug!(layer = %name, "removing unmapped layer dir");
            self.delete_layer_dir(&entry.path())?;
        }
        // Temp files of an interrupted mapping write.
        let by_diff_id = dir.join("by-diff-id");
        for entry in fs::read_dir(&by_diff_id).at("reading", &by_diff_id)? {
            let path = entry.at("reading", &by_diff_id)?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                remove_file_if_exists(&path)?;
            }
        }
        for (diff_id, short) in &mapped {
            if !dir.join(short).join("diff").is_dir() {
                let map = self.diff_id_map_path(diff_id);
                remove_file_if_exists(&map)?;
            }
        }
        Ok(())
    }

    /// Writes `value` as JSON to `path` through a temp file (in the
    /// store's `tmp/`, cleaned after a crash) and rename.
    fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        Ok(crate::sys::atomic::write_json_via(
            &self.tmp_path("record"),
            path,
            value,
        )?)
    }

    fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
        Ok(crate::sys::atomic::read_json(path)?)
    }
}

fn valid_short_id(s: &str) -> bool {
    (SHORT_ID_LEN..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn remove_file_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(PathError::new("removing", path, e).into()),
    }
}

/// Removes a layer tree with the unpacker's remover, which never follows
/// symlinks and gets through directories a layer made read-only.
fn remove_tree(path: &Path) -> Result<()> {
    Ok(super::unpack::remove_tree(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::Algorithm;
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Arc, Barrier};

    fn store() -> (tempfile::TempDir, ImageStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::open(dir.path().join("root")).expect("open");
        (dir, store)
    }

    fn tmp_entries(store: &ImageStore) -> Vec<PathBuf> {
        fs::read_dir(store.tmp_dir())
            .expect("tmp")
            .map(|e| e.expect("entry").path())
            .collect()
    }

    fn blob_count(store: &ImageStore) -> usize {
        store.all_blobs().expect("blobs").0.len()
    }

    fn layer_count(store: &ImageStore) -> usize {
        store.layer_map().expect("layers").len()
    }

    /// A reader that yields `good` bytes and then fails, like a dropped connection.
    struct FailingReader {
        good: usize,
    }

    impl Read for FailingReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "peer reset"));
            }
            let n = buf.len().min(self.good);
            buf[..n].fill(b'x');
            self.good -= n;
            Ok(n)
        }
    }

    #[test]
    fn put_blob_stores_verified_content_at_its_digest() {
        let (_d, store) = store();
        let data = b"{\"schemaVersion\":2}".to_vec();
        let digest = Digest::sha256_of(&data);
        let path = store.put_blob(&digest, &data[..]).expect("put");
        assert_eq!(path, store.root().join("blobs/sha256").join(digest.hex()));
        assert_eq!(fs::read(&path).expect("read"), data);
        assert!(store.has_blob(&digest));
        assert_eq!(store.blob_size(&digest).expect("size"), data.len() as u64);
        assert_eq!(store.read_blob(&digest, true).expect("read"), data);
        assert!(tmp_entries(&store).is_empty());
    }

    #[test]
    fn reader_failing_midway_leaves_no_blob_and_no_temp_file() {
        let (_d, store) = store();
        let digest = Digest::sha256_of(&vec![b'x'; 200_000]);
        let err = store
            .put_blob(&digest, FailingReader { good: 100_000 })
            .expect_err("reader fails");
        assert!(err.to_string().contains("peer reset"), "{err}");
        assert!(!store.has_blob(&digest));
        assert_eq!(blob_count(&store), 0);
        assert!(tmp_entries(&store).is_empty());
        // The same digest can then be stored whole.
        store
            .put_blob(&digest, &vec![b'x'; 200_000][..])
            .expect("retry");
        assert!(store.has_blob(&digest));
    }

    #[test]
    fn digest_mismatch_is_rejected_and_names_both_digests() {
        let (_d, store) = store();
        let expected = Digest::sha256_of(b"what the manifest promised");
        let actual = Digest::sha256_of(b"what the registry sent");
        let err = store
            .put_blob(&expected, &b"what the registry sent"[..])
            .expect_err("mismatch");
        match &err {
            StoreError::DigestMismatch {
                expected: e,
                actual: a,
                size,
            } => {
                assert_eq!(e, &expected);
                assert_eq!(a, &actual);
                assert_eq!(*size, 22);
            }
            other => panic!("unexpected {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(&expected.to_string()) && msg.contains(&actual.to_string()));
        assert_eq!(blob_count(&store), 0);
        assert!(tmp_entries(&store).is_empty());
    }

    #[test]
    fn blob_writer_commits_pushed_bytes_and_drop_discards() {
        let (_d, store) = store();
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let digest = Digest::sha256_of(&data);
        let mut w = store.blob_writer(&digest).expect("writer");
        for chunk in data.chunks(7777) {
            w.write_all(chunk).expect("write");
        }
        assert_eq!(w.bytes_written(), data.len() as u64);
        w.commit().expect("commit");
        assert_eq!(store.read_blob(&digest, true).expect("read"), data);

        let other = Digest::sha256_of(b"never finished");
        let mut w = store.blob_writer(&other).expect("writer");
        w.write_all(b"never").expect("write");
        assert_eq!(tmp_entries(&store).len(), 1);
        drop(w);
        assert!(tmp_entries(&store).is_empty());
        assert!(!store.has_blob(&other));
    }

    #[test]
    fn blob_writer_refuses_bytes_past_the_descriptor_size() {
        let (_d, store) = store();
        let digest = Digest::sha256_of(b"twelve bytes");
        let mut w = store
            .blob_writer(&digest)
            .expect("writer")
            .with_size_limit(12);
        w.write_all(b"twelve bytes").expect("up to the size");
        let err = w.write_all(b"and more").expect_err("past the size");
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("12 bytes"), "{err}");
        assert_eq!(w.bytes_written(), 12);
        drop(w);
        assert!(tmp_entries(&store).is_empty());
    }

    #[test]
    fn scratch_dir_is_private_and_removed_on_drop() {
        let (_d, store) = store();
        let dir = store.scratch_dir("load").expect("scratch");
        let mode = fs::metadata(dir.path()).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        fs::create_dir_all(dir.path().join("blobs/sha256")).expect("mkdir");
        fs::write(dir.path().join("blobs/sha256/x"), b"x").expect("write");
        // Another `open()` (a concurrent wharf) leaves a live one alone.
        ImageStore::open(store.root()).expect("reopen");
        assert!(dir.path().join("blobs/sha256/x").exists());
        drop(dir);
        assert!(tmp_entries(&store).is_empty());
    }

    #[test]
    fn a_killed_pulls_holder_keeps_nothing_alive() {
        let (d, store) = store();
        let blob = Digest::sha256_of(b"pinned by a pull");
        store
            .put_blob(&blob, &b"pinned by a pull"[..])
            .expect("put");
        // A process that has exited: its pid names no process now.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let mine = format!("pull-{}-0", std::process::id());
        store
            .retain_blobs(&format!("pull-{dead}-0"), std::slice::from_ref(&blob))
            .expect("retain");
        store
            .retain_blobs(&mine, std::slice::from_ref(&blob))
            .expect("retain");
        let holders = d.path().join("root/holders");
        ImageStore::open(d.path().join("root")).expect("reopen");
        assert!(!holders.join(format!("pull-{dead}-0.json")).exists());
        assert!(
            holders.join(format!("{mine}.json")).exists(),
            "a live pull keeps its holder"
        );
        store.release(&mine).expect("release");
        assert!(!store.has_blob(&blob), "nothing else holds the blob");
    }

    #[test]
    fn open_tightens_a_root_left_wide() {
        let (d, store) = store();
        for p in [store.root().to_path_buf(), store.layers_dir()] {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        ImageStore::open(d.path().join("root")).expect("reopen");
        for p in [store.root().to_path_buf(), store.layers_dir()] {
            let mode = fs::metadata(&p).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o710, "{}", p.display());
        }
    }

    #[test]
    fn read_blob_with_verify_detects_a_corrupted_file() {
        let (_d, store) = store();
        let digest = Digest::sha256_of(b"config");
        store.put_blob(&digest, &b"config"[..]).expect("put");
        fs::write(store.blob_path(&digest), b"tampered").expect("tamper");
        assert_eq!(store.read_blob(&digest, false).expect("read"), b"tampered");
        let err = store.read_blob(&digest, true).expect_err("verify");
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        let missing = Digest::sha256_of(b"absent");
        assert!(matches!(
            store.read_blob(&missing, false),
            Err(StoreError::MissingBlob { .. })
        ));
    }

    #[test]
    fn concurrent_puts_of_one_blob_end_with_one_correct_blob() {
        let (_d, store) = store();
        let data: Arc<Vec<u8>> = Arc::new((0..2_000_000u32).map(|i| (i % 251) as u8).collect());
        let digest = Digest::sha256_of(&data);
        let barrier = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, data, digest, barrier) =
                    (store.clone(), data.clone(), digest.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    // Bypass the early exists check: every thread really writes.
                    let mut w = store.blob_writer(&digest)?;
                    for chunk in data.chunks(65536) {
                        w.write_all(chunk).at("writing", Path::new("t"))?;
                    }
                    w.commit()
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread").expect("put");
        }
        assert_eq!(blob_count(&store), 1);
        assert_eq!(store.read_blob(&digest, true).expect("read"), *data);
        assert!(tmp_entries(&store).is_empty());
    }

    #[test]
    fn layer_commit_race_keeps_one_layer() {
        let (_d, store) = store();
        let diff_id = Digest::sha256_of(b"layer tar");
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (store, diff_id, barrier) = (store.clone(), diff_id.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let b = store.begin_layer(&diff_id)?;
                    fs::write(b.path().join("who"), format!("{i}"))
                        .at("writing", Path::new("who"))?;
                    barrier.wait();
                    b.commit()
                })
            })
            .collect();
        let infos: Vec<LayerInfo> = threads
            .into_iter()
            .map(|t| t.join().expect("thread").expect("commit"))
            .collect();
        assert_eq!(infos[0], infos[1]);
        assert_eq!(layer_count(&store), 1);
        let dirs: Vec<_> = fs::read_dir(store.layers_dir())
            .expect("layers")
            .map(|e| e.expect("e").file_name())
            .filter(|n| n != "by-diff-id")
            .collect();
        assert_eq!(dirs, vec![std::ffi::OsString::from(&infos[0].short_id)]);
        assert_eq!(infos[0].short_id, diff_id.hex()[..12]);
        let who = fs::read_to_string(infos[0].path.join("who")).expect("who");
        assert!(who == "0" || who == "1");
        let info = store.layer(&diff_id).expect("layer").expect("present");
        assert_eq!(info, infos[0]);
        assert_eq!(
            fs::read_to_string(store.layers_dir().join(&info.short_id).join("diff-id"))
                .expect("diff-id"),
            diff_id.to_string()
        );
        assert!(tmp_entries(&store).is_empty());
    }

    #[test]
    fn dropped_layer_builder_removes_read_only_trees() {
        let (_d, store) = store();
        let b = store
            .begin_layer(&Digest::sha256_of(b"abandoned"))
            .expect("begin");
        let ro = b.path().join("usr/share/ro");
        fs::create_dir_all(&ro).expect("mkdir");
        fs::write(ro.join("file"), b"data").expect("write");
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).expect("chmod");
        fs::set_permissions(b.path().join("usr"), fs::Permissions::from_mode(0o500))
            .expect("chmod");
        drop(b);
        assert!(tmp_entries(&store).is_empty());
        assert_eq!(layer_count(&store), 0);
    }

    #[test]
    fn short_id_collisions_get_longer_names() {
        let (_d, store) = store();
        let a: Digest = format!("sha256:{}{}", "ab".repeat(6), "0".repeat(52))
            .parse()
            .expect("digest");
        let b: Digest = format!("sha256:{}{}", "ab".repeat(6), "1".repeat(52))
            .parse()
            .expect("digest");
        let la = store.begin_layer(&a).expect("a").commit().expect("a");
        let lb = store.begin_layer(&b).expect("b").commit().expect("b");
        assert_eq!(la.short_id, "abababababab");
        assert_eq!(lb.short_id, "abababababab1");
        assert_eq!(
            store.layer(&b).expect("b").expect("b").short_id,
            lb.short_id
        );
    }

    #[test]
    fn lowerdir_option_for_100_layers_fits_in_a_page() {
        let (_d, store) = store();
        let layers: Vec<LayerInfo> = (0..100)
            .map(|i| {
                let d = Digest::sha256_of(format!("layer {i}").as_bytes());
                store
                    .begin_layer(&d)
                    .expect("begin")
                    .commit()
                    .expect("commit")
            })
            .collect();
        let refs: Vec<&LayerInfo> = layers.iter().rev().collect();
        let lower = lowerdir_option(&refs);
        let container = "f".repeat(64);
        for root in [
            "/var/lib/wharf",
            "/home/a-rather-long-user-name/.local/share/wharf",
        ] {
            let opts = format!(
                "lowerdir={lower},upperdir={root}/containers/{container}/upper,workdir={root}/containers/{container}/work,index=off"
            );
            println!("{root}: 100-layer mount options are {} bytes", opts.len());
            assert!(opts.len() < 4096, "{} bytes", opts.len());
        }
        // Each lowerdir resolves from layers/ to the unpacked tree.
        for (l, part) in refs.iter().zip(lower.split(':')) {
            assert_eq!(store.layers_dir().join(part), l.path);
            assert!(l.path.is_dir());
        }
    }

    /// Stores an image whose layers have the given contents (bottom first).
    fn add_image(store: &ImageStore, name: &str, layers: &[&str]) -> ImageRecord {
        let mut records = Vec::new();
        for content in layers {
            let blob = format!("gzip of {content}");
            let blob_digest = Digest::sha256_of(blob.as_bytes());
            store
                .put_blob(&blob_digest, blob.as_bytes())
                .expect("layer blob");
            let diff_id = Digest::sha256_of(format!("tar of {content}").as_bytes());
            if store.layer(&diff_id).expect("layer").is_none() {
                let b = store.begin_layer(&diff_id).expect("begin");
                fs::write(b.path().join("file"), content).expect("write");
                b.commit().expect("commit");
            }
            records.push(LayerRecord {
                blob_digest,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                diff_id,
                compressed_size: blob.len() as u64,
                size: content.len() as u64,
            });
        }
        let config = format!("{{\"config of\":\"{name}\"}}");
        let config_digest = Digest::sha256_of(config.as_bytes());
        store
            .put_blob(&config_digest, config.as_bytes())
            .expect("config");
        let manifest = format!("{{\"manifest of\":\"{name}\",\"layers\":{}}}", layers.len());
        let manifest_digest = Digest::sha256_of(manifest.as_bytes());
        store
            .put_blob(&manifest_digest, manifest.as_bytes())
            .expect("manifest");
        let record = ImageRecord {
            references: vec![name.to_string()],
            repo_digests: vec![],
            manifest_digest,
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            index_digest: None,
            config_digest,
            platform: Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            },
            size: records.iter().map(|l| l.size).sum(),
            layers: records,
            created: Some("2025-05-20T00:00:00Z".into()),
        };
        store.put_image(record.clone()).expect("put image");
        record
    }

    const REDIS: &str = "docker.io/library/redis:latest";
    const POSTGRES: &str = "docker.io/library/postgres:latest";

    #[test]
    fn put_image_requires_its_blobs_and_layers() {
        let (_d, store) = store();
        let mut r = add_image(&store, REDIS, &["base"]);
        r.layers[0].diff_id = Digest::sha256_of(b"not unpacked");
        r.manifest_digest = Digest::sha256_of(b"other manifest");
        store
            .put_blob(&r.manifest_digest, &b"other manifest"[..])
            .expect("put");
        let err = store.put_image(r.clone()).expect_err("missing layer");
        assert!(matches!(err, StoreError::MissingLayer { .. }), "{err}");
        r.config_digest = Digest::sha256_of(b"absent config");
        let err = store.put_image(r).expect_err("missing config");
        assert!(matches!(err, StoreError::MissingBlob { .. }), "{err}");
    }

    #[test]
    fn rmi_keeps_shared_layers_until_the_last_image_goes() {
        let (_d, store) = store();
        let redis = add_image(&store, REDIS, &["debian-base", "redis"]);
        let postgres = add_image(&store, POSTGRES, &["debian-base", "postgres"]);
        assert_eq!(blob_count(&store), 7); // 1 shared + 2 app layers, 2 configs, 2 manifests
        assert_eq!(layer_count(&store), 3);

        let removed = store.remove(REDIS, false).expect("rmi redis");
        assert_eq!(removed.untagged, vec![REDIS.to_string()]);
        assert_eq!(removed.deleted_images, vec![redis.id().clone()]);
        assert_eq!(
            removed.deleted_layers,
            vec![redis.layers[1].diff_id.clone()]
        );
        let mut expect_blobs = vec![
            redis.manifest_digest.clone(),
            redis.config_digest.clone(),
            redis.layers[1].blob_digest.clone(),
        ];
        expect_blobs.sort();
        let mut got = removed.deleted_blobs.clone();
        got.sort();
        assert_eq!(got, expect_blobs);
        let base = &postgres.layers[0];
        assert!(store.layer(&base.diff_id).expect("l").is_some());
        assert!(store.has_blob(&base.blob_digest));
        assert_eq!(
            store.resolve(POSTGRES).expect("resolve"),
            Some(postgres.clone())
        );
        assert_eq!(store.resolve(REDIS).expect("resolve"), None);

        let removed = store.remove(POSTGRES, false).expect("rmi postgres");
        assert_eq!(removed.deleted_layers.len(), 2);
        assert_eq!(removed.deleted_blobs.len(), 4);
        assert_eq!(blob_count(&store), 0);
        assert_eq!(layer_count(&store), 0);
        assert!(store.list().expect("list").is_empty());
        let leftover: Vec<_> = fs::read_dir(store.layers_dir())
            .expect("layers")
            .map(|e| e.expect("e").file_name())
            .collect();
        assert_eq!(leftover, vec![std::ffi::OsString::from("by-diff-id")]);
        assert!(tmp_entries(&store).is_empty());
        assert!(matches!(
            store.remove(POSTGRES, false),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn held_layers_survive_rmi_until_released() {
        let (_d, store) = store();
        let redis = add_image(&store, REDIS, &["debian-base", "redis"]);
        let diff_ids: Vec<Digest> = redis.diff_ids().cloned().collect();
        store
            .retain_layers("container-1", &diff_ids)
            .expect("retain");
        let removed = store.remove(REDIS, false).expect("rmi");
        assert_eq!(removed.deleted_images, vec![redis.id().clone()]);
        assert!(removed.deleted_layers.is_empty());
        assert_eq!(removed.deleted_blobs.len(), 4); // the layers are held, not their blobs
        for d in &diff_ids {
            assert!(store.layer(d).expect("layer").is_some());
        }
        let released = store.release("container-1").expect("release");
        let mut got = released.deleted_layers.clone();
        got.sort();
        let mut want = diff_ids.clone();
        want.sort();
        assert_eq!(got, want);
        assert_eq!(layer_count(&store), 0);
        assert!(store
            .release("container-1")
            .expect("again")
            .deleted_layers
            .is_empty());
    }

    #[test]
    fn an_image_used_by_a_container_needs_force() {
        let (_d, store) = store();
        let redis = add_image(&store, REDIS, &["debian-base", "redis"]);
        store.retain_image("web-1", &redis).expect("retain");
        let err = store.remove(REDIS, false).expect_err("in use");
        assert!(err.to_string().contains("web-1"), "{err}");
        assert!(store.resolve(REDIS).expect("resolve").is_some());
        let removed = store.remove(REDIS, true).expect("forced");
        assert_eq!(removed.deleted_images, vec![redis.id().clone()]);
        assert!(removed.deleted_layers.is_empty());
        assert_eq!(layer_count(&store), 2);
        assert_eq!(
            store
                .release("web-1")
                .expect("release")
                .deleted_layers
                .len(),
            2
        );
        assert!(store.retain_layers("../escape", &[]).is_err());
    }

    #[test]
    fn tags_move_and_rmi_by_tag_only_untags_while_others_remain() {
        let (_d, store) = store();
        let a = add_image(&store, "example.com/a:1", &["x"]);
        let b = add_image(&store, "example.com/b:1", &["y"]);
        store
            .tag("example.com/a:latest", "example.com/a:1")
            .expect("tag");
        // Moving a tag leaves the old image dangling.
        store
            .tag("example.com/b:1", a.id().hex())
            .expect("tag by id");
        let a_now = store
            .resolve(&a.id().hex()[..8])
            .expect("resolve")
            .expect("a");
        assert_eq!(
            a_now.references,
            vec!["example.com/a:1", "example.com/a:latest", "example.com/b:1"]
        );
        let b_now = store
            .resolve(&b.id().to_string())
            .expect("resolve")
            .expect("b");
        assert!(b_now.references.is_empty());
        assert_eq!(
            store
                .resolve(&b.config_digest.hex()[..12])
                .expect("r")
                .map(|r| r.manifest_digest),
            Some(b.manifest_digest.clone())
        );

        let removed = store.remove("example.com/a:1", false).expect("rmi tag");
        assert_eq!(removed.untagged, vec!["example.com/a:1"]);
        assert!(removed.deleted_images.is_empty());
        let err = store
            .remove(&a.id().to_string(), false)
            .expect_err("two names");
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        store.untag("example.com/b:1").expect("untag");
        assert!(store.untag("example.com/b:1").is_err());
        let removed = store.remove(&a.id().hex()[..12], true).expect("forced");
        assert_eq!(removed.untagged, vec!["example.com/a:latest"]);
        assert_eq!(removed.deleted_images, vec![a.id().clone()]);
        assert_eq!(store.list().expect("list").len(), 1);
    }

    #[test]
    fn ambiguous_id_prefix_is_an_error() {
        let (_d, store) = store();
        let mut ids = BTreeSet::new();
        // Enough images that two share a first hex digit.
        for i in 0..20 {
            ids.insert(add_image(&store, &format!("r/{i}:1"), &["l"]).id().clone());
        }
        let digit = (b'0'..=b'f')
            .map(char::from)
            .find(|c| ids.iter().filter(|d| d.hex().starts_with(*c)).count() > 1)
            .expect("pigeonhole");
        let err = store.resolve(&digit.to_string()).expect_err("ambiguous");
        assert!(
            matches!(err, StoreError::Ambiguous { count, .. } if count > 1),
            "{err}"
        );
        assert_eq!(store.resolve("zzz").expect("resolve"), None);
    }

    #[test]
    fn prune_removes_dangling_then_unused_images_and_orphans() {
        let (_d, store) = store();
        let used = add_image(&store, REDIS, &["debian-base", "redis"]);
        let tagged = add_image(&store, POSTGRES, &["debian-base", "postgres"]);
        let dangling = add_image(&store, "old:1", &["old"]);
        store.untag("old:1").expect("untag");
        store.retain_image("db-1", &used).expect("retain");
        let orphan = Digest::sha256_of(b"from a failed pull");
        store
            .put_blob(&orphan, &b"from a failed pull"[..])
            .expect("put");
        let pulling = Digest::sha256_of(b"from a pull in progress");
        store
            .put_blob(&pulling, &b"from a pull in progress"[..])
            .expect("put");
        store
            .retain_blobs("pull-42", std::slice::from_ref(&pulling))
            .expect("hold");

        let removed = store.prune(false).expect("prune");
        assert_eq!(removed.deleted_images, vec![dangling.id().clone()]);
        assert!(removed.deleted_blobs.contains(&orphan));
        assert_eq!(
            removed.deleted_layers,
            vec![dangling.layers[0].diff_id.clone()]
        );
        assert_eq!(store.list().expect("list").len(), 2);

        let removed = store.prune(true).expect("prune -a");
        assert_eq!(removed.deleted_images, vec![tagged.id().clone()]);
        assert_eq!(removed.untagged, vec![POSTGRES.to_string()]);
        assert_eq!(
            removed.deleted_layers,
            vec![tagged.layers[1].diff_id.clone()]
        );
        let left = store.list().expect("list");
        assert_eq!(left, vec![used.clone()]);
        assert_eq!(blob_count(&store), 5);
        assert!(store.has_blob(&pulling), "a held blob survives prune");
        assert_eq!(
            store.release("pull-42").expect("release").deleted_blobs,
            vec![pulling]
        );
        assert_eq!(blob_count(&store), 4);
        assert_eq!(layer_count(&store), 2);
    }

    #[test]
    fn disk_usage_counts_sizes_and_reclaimable_bytes() {
        let (_d, store) = store();
        let used = add_image(&store, REDIS, &["debian-base", "redis-server"]);
        add_image(&store, POSTGRES, &["debian-base", "postgresql-15"]);
        store.retain_image("c1", &used).expect("retain");
        let u = store.disk_usage().expect("df");
        assert_eq!(
            u.images,
            Usage {
                count: 2,
                active: 1,
                size: 11 + 12 + 13
            }
        );
        assert_eq!(
            u.layers,
            Usage {
                count: 3,
                active: 2,
                size: 11 + 12 + 13
            }
        );
        let blob_bytes: u64 = store.all_blobs().expect("b").0.iter().map(|b| b.1).sum();
        assert_eq!(u.blobs.count, 7);
        assert_eq!(u.blobs.active, 4); // used's manifest, config and 2 layer blobs
        assert_eq!(u.blobs.size, blob_bytes);
        let before = u.reclaimable;
        let removed = store.prune(true).expect("prune");
        let freed: u64 = removed.deleted_layers.len() as u64 * 13
            + (blob_bytes
                - store
                    .all_blobs()
                    .expect("b")
                    .0
                    .iter()
                    .map(|b| b.1)
                    .sum::<u64>());
        assert_eq!(before, freed);
        assert_eq!(store.disk_usage().expect("df").reclaimable, 0);
    }

    #[test]
    fn reopen_after_a_crash_removes_litter_but_not_live_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let store = ImageStore::open(&root).expect("open");
        let kept = add_image(&store, REDIS, &["base"]);

        // What a killed writer leaves: a partial blob, a half-unpacked layer
        // with a read-only dir, a record temp, a renamed but unmapped layer, a
        // mapping temp.
        fs::write(root.join("tmp/blob-0123-999-0-0"), b"partial").expect("w");
        let half = root.join("tmp/layer-4567-999-0-1/diff/etc");
        fs::create_dir_all(&half).expect("mkdir");
        fs::set_permissions(&half, fs::Permissions::from_mode(0o555)).expect("chmod");
        fs::write(root.join("tmp/record-999-0-2"), b"{").expect("w");
        fs::create_dir_all(root.join("layers/89abcdef0123/diff")).expect("mkdir");
        fs::write(root.join("layers/by-diff-id/sha256-00.tmp"), b"x").expect("w");
        // A writer still running (in another process, as far as flock can tell).
        let live = Digest::sha256_of(b"in flight");
        let mut writer = store.blob_writer(&live).expect("writer");
        writer.write_all(b"in ").expect("w");

        let reopened = ImageStore::open(&root).expect("reopen");
        assert_eq!(tmp_entries(&reopened).len(), 1, "only the live write stays");
        assert!(!root.join("layers/89abcdef0123").exists());
        assert!(!root.join("layers/by-diff-id/sha256-00.tmp").exists());
        assert_eq!(
            reopened.resolve(REDIS).expect("resolve"),
            Some(kept.clone())
        );
        assert!(reopened
            .layer(&kept.layers[0].diff_id)
            .expect("l")
            .is_some());
        writer.write_all(b"flight").expect("w");
        writer.commit().expect("commit after reopen");
        assert!(reopened.has_blob(&live));
        assert!(tmp_entries(&reopened).is_empty());
    }

    #[test]
    fn fixture_layout_blobs_import_with_matching_digests() {
        let cache = Path::new("/var/cache/wharf-fixtures/oci");
        if !cache.is_dir() {
            println!(
                "skipped: {} is missing (run scripts/fixtures/build-images)",
                cache.display()
            );
            return;
        }
        let (_d, store) = store();
        let mut imported = 0;
        for name in ["busybox", "busybox-zstd", "multiarch", "whiteout"] {
            let blobs = cache.join(name).join("blobs/sha256");
            let Ok(entries) = fs::read_dir(&blobs) else {
                println!("skipped fixture {name}: {} is missing", blobs.display());
                continue;
            };
            for entry in entries {
                let path = entry.expect("entry").path();
                let name = path.file_name().expect("name").to_string_lossy();
                let digest: Digest = format!("sha256:{name}").parse().expect("digest name");
                let file = File::open(&path).expect("open");
                let stored = store.put_blob(&digest, file).expect("import");
                assert_eq!(
                    fs::metadata(&stored).expect("m").len(),
                    fs::metadata(&path).expect("m").len()
                );
                imported += 1;
            }
        }
        assert!(imported > 0);
        let (all, _) = store.all_blobs().expect("blobs");
        for (digest, _) in &all {
            let mut r = crate::image::digest::DigestReader::new(
                store.open_blob(digest).expect("open"),
                Algorithm::Sha256,
            );
            io::copy(&mut r, &mut io::sink()).expect("read");
            assert_eq!(&r.finish().0, digest);
        }
        println!("imported {imported} fixture blobs ({} distinct)", all.len());
        assert!(tmp_entries(&store).is_empty());
    }
}
