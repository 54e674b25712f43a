//! Content hashes kept across builds: a file's [`FileStamp`] says whether
//! its stored hash still holds.
use super::ContextError;
use std::collections::HashMap;
use std::fs;
use std::io::{self};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Device, inode, size, and modification and change times in nanoseconds:
/// a file whose stamp is unchanged has unchanged content (the change time
/// moves on every write and cannot be set back), so its hash can be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileStamp {
    pub(super) fn of(meta: &fs::Metadata) -> FileStamp {
        let nanos = |secs: i64, nsecs: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsecs);
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// Content hashes kept across builds, so an unchanged file is not read
/// again (the executor keeps one per context, e.g. with [`HashCacheFile`]).
pub trait ContentHashCache: Send + Sync + std::fmt::Debug {
    /// The sha256 of `path`'s content if it was hashed with this stamp.
    fn get(&self, path: &str, stamp: &FileStamp) -> Option<[u8; 32]>;
    fn put(&self, path: &str, stamp: &FileStamp, hash: [u8; 32]);
}

/// A [`ContentHashCache`] in a JSON file, replaced atomically on save.
#[derive(Debug, Default)]
pub struct HashCacheFile {
    path: PathBuf,
    entries: Mutex<HashMap<String, (FileStamp, String)>>,
    dirty: std::sync::atomic::AtomicBool,
}

impl HashCacheFile {
    /// Reads `path`; a missing or unreadable file is an empty cache (it is
    /// only an optimisation, rebuilt on the next save).
    pub fn load(path: &Path) -> HashCacheFile {
        let entries = fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        HashCacheFile {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
            dirty: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Writes the cache if it changed.
    pub fn save(&self) -> Result<(), ContextError> {
        if !self.dirty.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        let bytes = {
            let entries = self.entries.lock().map_err(|_| ContextError::Source {
                path: self.path.display().to_string(),
                message: "the hash cache lock was poisoned".to_string(),
            })?;
            serde_json::to_vec(&*entries).map_err(|e| ContextError::Io {
                path: self.path.clone(),
                source: io::Error::other(e),
            })?
        };
        crate::sys::atomic::write(&self.path, &bytes)?;
        self.dirty.store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

impl ContentHashCache for HashCacheFile {
    fn get(&self, path: &str, stamp: &FileStamp) -> Option<[u8; 32]> {
        let entries = self.entries.lock().ok()?;
        let (known, hex) = entries.get(path)?;
        if known != stamp || hex.len() != 64 {
            return None;
        }
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(hash)
    }

    fn put(&self, path: &str, stamp: &FileStamp, hash: [u8; 32]) {
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(path.to_string(), (*stamp, hex));
            self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
