//! Blobs: `blobs/<algo>/<hex>`, written through `BlobWriter` (verified,
//! then renamed into place), and scratch files for blobs of unknown digest.

use super::{remove_tree, ImageStore, Result, StoreError};
use crate::image::digest::{Digest, Hasher};
use crate::sys::path_error::{IoAt, PathError};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

impl ImageStore {
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::MissingBlob {
                digest: digest.clone(),
                path,
            }),
            Err(e) => Err(PathError::new("reading", &path, e).into()),
        }
    }

    /// Opens a blob for streaming.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StoreError::MissingBlob {
                    digest: digest.clone(),
                    path: path.clone(),
                }
            } else {
                PathError::new("opening", &path, e).into()
            }
        })
    }

    /// Reads a whole blob (manifests, configs); `verify` re-hashes it.
    pub fn read_blob(&self, digest: &Digest, verify: bool) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let mut data = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .at("reading", &path)?;
        if verify {
            let actual = Digest::of(digest.algorithm(), &data);
            if &actual != digest {
                return Err(StoreError::DigestMismatch {
                    expected: digest.clone(),
                    actual,
                    size: data.len() as u64,
                });
            }
        }
        Ok(data)
    }

    /// A writer for a blob whose digest is known in advance.
    pub fn blob_writer(&self, expected: &Digest) -> Result<BlobWriter> {
        let (path, file) = self.locked_tmp_file(&format!("blob-{}", &expected.hex()[..12]))?;
        Ok(BlobWriter {
            store: self.clone(),
            expected: expected.clone(),
            hasher: Some(Hasher::new(expected.algorithm())),
            size: 0,
            limit: None,
            file: Some(file),
            tmp: path,
        })
    }

    /// Streams `reader` into the blob `expected`, verifying it on the way.
    /// Returns at once, without reading, when the blob is already stored.
    pub fn put_blob(&self, expected: &Digest, mut reader: impl Read) -> Result<PathBuf> {
        if self.has_blob(expected) {
            return Ok(self.blob_path(expected));
        }
        let mut writer = self.blob_writer(expected)?;
        let tmp = writer.tmp.clone();
        io::copy(&mut reader, &mut writer).at("writing", &tmp)?;
        writer.commit()
    }

    /// A temp file in the store (removed on drop), for a blob whose digest is
    /// known only once it is written.
    pub fn scratch_file(&self) -> Result<ScratchFile> {
        let (path, file) = self.locked_tmp_file("scratch")?;
        Ok(ScratchFile { path, file })
    }

    /// A new file in the store's `tmp/` (read-write, a name that must not
    /// exist yet), flock'ed exclusively so `open()`'s cleaner leaves it
    /// alone; the shared store lock is held until then, so the cleaner
    /// (exclusive) cannot see the file before it is flock'ed.
    fn locked_tmp_file(&self, kind: &str) -> Result<(PathBuf, Flock<fs::File>)> {
        let path = self.tmp_path(kind);
        let _lock = self.lock(FlockArg::LockShared)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .at("creating", &path)?;
        let file = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, source)| {
            let _ = fs::remove_file(&path);
            StoreError::Lock {
                path: path.clone(),
                source,
            }
        })?;
        Ok((path, file))
    }

    /// A private directory in the store's `tmp/` (0700, a fresh name that
    /// must not exist yet, as mkdtemp), removed with its contents on drop
    /// and, after a crash, by the next `open()`: where `load` extracts an
    /// archive, beyond the reach of other users and of a prepared `/tmp`.
    pub fn scratch_dir(&self, kind: &str) -> Result<ScratchDir> {
        let path = self.tmp_path(kind);
        let _lock = self.lock(FlockArg::LockShared)?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .at("creating", &path)?;
        let lock = File::open(&path)
            .at("opening", &path)
            .map_err(StoreError::from)
            .and_then(|f| {
                // Explicit, so the umask does not decide.
                f.set_permissions(fs::Permissions::from_mode(0o700))
                    .at("chmod", &path)?;
                Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, source)| StoreError::Lock {
                    path: path.clone(),
                    source,
                })
            });
        match lock {
            Ok(lock) => Ok(ScratchDir { path, _lock: lock }),
            Err(e) => {
                let _ = remove_tree(&path);
                Err(e)
            }
        }
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    Ok(File::open(dir)
        .and_then(|f| f.sync_all())
        .at("syncing", dir)?)
}

/// A blob being written by a caller that pushes bytes. `commit` verifies and
/// moves it into `blobs/`; dropping it uncommitted removes the temp file.
pub struct BlobWriter {
    store: ImageStore,
    expected: Digest,
    hasher: Option<Hasher>,
    size: u64,
    /// The most bytes the blob may have (its descriptor's size).
    limit: Option<u64>,
    file: Option<Flock<File>>,
    tmp: PathBuf,
}

impl BlobWriter {
    /// Fails a write that would make the blob longer than `max` bytes (the
    /// size its descriptor gives), so an endless source cannot fill the
    /// disk before the digest is checked.
    pub fn with_size_limit(mut self, max: u64) -> Self {
        self.limit = Some(max);
        self
    }

    pub fn bytes_written(&self) -> u64 {
        self.size
    }

    /// Verifies the digest, fsyncs and renames the blob into place. When
    /// another writer committed the same blob first, ours is discarded.
    pub fn commit(mut self) -> Result<PathBuf> {
        let file = self.file.take();
        let hasher = self.hasher.take();
        let (Some(file), Some(hasher)) = (file, hasher) else {
            return Err(PathError::new(
                "committing",
                &self.tmp,
                io::Error::other("blob writer already committed"),
            )
            .into());
        };
        let actual = hasher.finish();
        if actual != self.expected {
            // Drop removes the temp file.
            return Err(StoreError::DigestMismatch {
                expected: self.expected.clone(),
                actual,
                size: self.size,
            });
        }
        file.sync_all().at("syncing", &self.tmp)?;
        let target = self.store.blob_path(&self.expected);
        let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let _lock = self.store.lock(FlockArg::LockShared)?;
        if target.exists() {
            return Ok(target); // another writer won; ours is dropped
        }
        fs::rename(&self.tmp, &target).at("renaming into", &target)?;
        drop(file);
        self.tmp = PathBuf::new();
        sync_dir(&dir)?;
        Ok(target)
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (Some(file), Some(hasher)) = (self.file.as_mut(), self.hasher.as_mut()) else {
            return Err(io::Error::other("blob writer already committed"));
        };
        if let Some(limit) = self.limit {
            if self.size + buf.len() as u64 > limit {
                return Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    format!(
                        "blob {} is longer than the {limit} bytes its descriptor says",
                        self.expected
                    ),
                ));
            }
        }
        // A full disk names the file it filled, not just the blob.
        let n = (&**file)
            .write(buf)
            .map_err(|e| io::Error::new(e.kind(), PathError::new("writing", &self.tmp, e)))?;
        hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => (&**f).flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A temp file under the store's `tmp/`, flock'ed so `open()` leaves it
/// alone, removed when dropped.
pub struct ScratchFile {
    path: PathBuf,
    file: Flock<File>,
}

impl ScratchFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for ScratchFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A private temp directory in the store, removed on drop.
pub struct ScratchDir {
    path: PathBuf,
    _lock: Flock<File>,
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = remove_tree(&self.path);
    }
}
