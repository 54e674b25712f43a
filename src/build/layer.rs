//! A directory of changes becomes an OCI layer in the image store.
//!
//! The directory is either a build container's overlay upper dir (after a
//! RUN) or a tree a COPY staged. Overlay's own markers turn into the OCI
//! forms: a whiteout (a 0/0 character device) becomes an empty `.wh.<name>`
//! file, an opaque directory (`trusted.overlay.opaque=y`) gets a
//! `.wh..wh..opq` entry. Hard links stay links, xattrs travel as PAX
//! records, owners and modes are kept, entries come in byte order of their
//! names, so the same tree always gives the same tar (and, with
//! `SOURCE_DATE_EPOCH`, mtimes are clamped to it as BuildKit does).
//!
//! The tar is gzip-compressed into a store scratch file while both digests
//! are computed, stored as a verified blob, and unpacked into `layers/`
//! with the pull's unpacker, so the next step mounts it like any pulled
//! layer.

use crate::image::digest::{Algorithm, Digest, DigestWriter};
use crate::image::store::{ImageStore, LayerInfo, LayerRecord, StoreError};
use crate::image::unpack::{self, UnpackError, UnpackOptions, OCI_LAYER_GZIP};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
use crate::build::tree::is_opaque;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the layer of {dir}: {source}")]
    Write {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("storing the layer of {dir}: {source}")]
    Store {
        dir: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("unpacking the layer of {dir}: {source}")]
    Unpack {
        dir: PathBuf,
        #[source]
        source: Box<UnpackError>,
    },
    #[error("the layer of {dir} unpacked to {actual}, but {expected} was written")]
    DiffIdMismatch {
        dir: PathBuf,
        expected: Digest,
        actual: Digest,
    },
}

type Result<T> = std::result::Result<T, LayerError>;

/// How the tar is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerOptions {
    /// Clamp every mtime to this (seconds since the epoch).
    pub source_date_epoch: Option<u64>,
    /// Paths (relative to the dir) left out when they are an empty file or
    /// an empty directory: the mount points a container's runtime made,
    /// which `docker commit` leaves out too (they are in its init layer).
    pub skip_stubs: Vec<PathBuf>,
}

/// A layer committed to the store: what a manifest names, and where it is unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLayer {
    pub record: LayerRecord,
    pub info: LayerInfo,
}

/// Whether `dir` has no entries (a RUN that changed nothing).
pub fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut entries = fs::read_dir(dir).map_err(|source| LayerError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(entries.next().is_none())
}

/// Turns `dir` into a layer in `store`. The layer and its blob are retained
/// under `holder` before they exist, so a concurrent prune cannot take them
/// before the caller's image or cache entry names them.
pub fn commit_dir(
    store: &ImageStore,
    dir: &Path,
    opts: &LayerOptions,
    holder: &str,
) -> Result<NewLayer> {
    let store_err = |source| LayerError::Store {
        dir: dir.to_path_buf(),
        source,
    };
    let write_err = |source| LayerError::Write {
        dir: dir.to_path_buf(),
        source,
    };
    let scratch = store.scratch_file().map_err(store_err)?;
    let blob_side = DigestWriter::new(BufWriter::new(scratch.file()), Algorithm::Sha256);
    let gz = flate2::write::GzEncoder::new(blob_side, flate2::Compression::default());
    let tar_side = DigestWriter::new(gz, Algorithm::Sha256);
    let mut tar = TarWriter::new(tar_side, opts);
    tar.tree(dir, Path::new(""))?;
    let tar_side = tar.builder.into_inner().map_err(write_err)?;
    let (gz, diff_id, _) = tar_side.finish();
    let blob_side = gz.finish().map_err(write_err)?;
    let (mut file, blob_digest, blob_size) = blob_side.finish();
    file.flush().map_err(write_err)?;
    drop(file);

    store
        .retain_layers(holder, std::slice::from_ref(&diff_id))
        .map_err(store_err)?;
    store
        .retain_blobs(holder, std::slice::from_ref(&blob_digest))
        .map_err(store_err)?;
    let open_scratch = || {
        File::open(scratch.path()).map_err(|source| LayerError::Read {
            path: scratch.path().to_path_buf(),
            source,
        })
    };
    store
        .put_blob(&blob_digest, BufReader::new(open_scratch()?))
        .map_err(store_err)?;
    let info = match store.layer(&diff_id).map_err(store_err)? {
        Some(info) => info,
        None => {
            let builder = store.begin_layer(&diff_id).map_err(store_err)?;
            let unpack_err = |source| LayerError::Unpack {
                dir: dir.to_path_buf(),
                source: Box::new(source),
            };
            let tar = unpack::decompress(OCI_LAYER_GZIP, BufReader::new(open_scratch()?))
                .map_err(unpack_err)?;
            let stats = unpack::unpack_layer(tar, &builder.path(), &UnpackOptions::default())
                .map_err(unpack_err)?;
            if stats.diff_id != diff_id {
                return Err(LayerError::DiffIdMismatch {
                    dir: dir.to_path_buf(),
                    expected: diff_id,
                    actual: stats.diff_id,
                });
            }
            builder.commit().map_err(store_err)?
        }
    };
    Ok(NewLayer {
        record: LayerRecord {
            blob_digest,
            media_type: OCI_LAYER_GZIP.to_string(),
            diff_id,
            compressed_size: blob_size,
            size: info.size,
        },
        info,
    })
}

/// An empty file or an empty directory.
fn is_stub(path: &Path, meta: &fs::Metadata) -> bool {
    if meta.is_dir() {
        fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
    } else {
        meta.is_file() && meta.len() == 0
    }
}

/// Writes a tree as layer entries.
struct TarWriter<W: Write> {
    builder: tar::Builder<W>,
    /// (dev, ino) → the first name written, for hard links.
    links: HashMap<(u64, u64), PathBuf>,
    epoch: Option<u64>,
    skip_stubs: Vec<PathBuf>,
}

impl<W: Write> TarWriter<W> {
    fn new(w: W, opts: &LayerOptions) -> Self {
        TarWriter {
            builder: tar::Builder::new(w),
            links: HashMap::new(),
            epoch: opts.source_date_epoch,
            skip_stubs: opts.skip_stubs.clone(),
        }
    }

    fn header(&self, meta: &fs::Metadata) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(u64::from(meta.uid()));
        h.set_gid(u64::from(meta.gid()));
        let mtime = meta.mtime().max(0) as u64;
        h.set_mtime(self.epoch.map_or(mtime, |e| mtime.min(e)));
        h.set_size(0);
        h
    }

    /// The entries of directory `dir` (on the host), named under `name` in the tar.
    fn tree(&mut self, dir: &Path, name: &Path) -> Result<()> {
        let read_err = |source| LayerError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut names: Vec<OsString> = fs::read_dir(dir)
            .map_err(read_err)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(read_err)?;
        // Byte order, whatever the locale: the same tree gives the same tar.
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            self.entry(&dir.join(&n), &name.join(&n), &n)?;
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, name: &Path, base: &OsString) -> Result<()> {
        let read_err = |source| LayerError::Read {
            path: path.to_path_buf(),
            source,
        };
        let write_err = |source| LayerError::Write {
            dir: path.to_path_buf(),
            source,
        };
        let meta = fs::symlink_metadata(path).map_err(read_err)?;
        let ft = meta.file_type();
        if self.skip_stubs.iter().any(|s| s == name) && is_stub(path, &meta) {
            return Ok(());
        }
        let mut h = self.header(&meta);
        if ft.is_char_device() && meta.rdev() == 0 {
            // An overlay whiteout: Docker writes an empty regular file, mode 0600.
            let mut wh = name.to_path_buf();
            let mut wh_name = OsString::from(WHITEOUT_PREFIX);
            wh_name.push(base);
            wh.set_file_name(wh_name);
            h.set_mode(0o600);
            h.set_entry_type(tar::EntryType::Regular);
            return self
                .builder
                .append_data(&mut h, wh, io::empty())
                .map_err(write_err);
        }
        self.xattrs(path)?;
        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key).cloned() {
                h.set_entry_type(tar::EntryType::Link);
                return self
                    .builder
                    .append_link(&mut h, name, first)
                    .map_err(write_err);
            }
            self.links.insert(key, name.to_path_buf());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            self.builder
                .append_data(&mut h, name, io::empty())
                .map_err(write_err)?;
            if is_opaque(path) {
                let mut o = h.clone();
                o.set_entry_type(tar::EntryType::Regular);
                o.set_mode(h.mode().unwrap_or(0o755) & 0o777);
                self.builder
                    .append_data(&mut o, name.join(WHITEOUT_OPAQUE), io::empty())
                    .map_err(write_err)?;
            }
            return self.tree(path, name);
        }
        if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            let size = meta.len();
            h.set_size(size);
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(read_err)?;
            // Exactly `size` bytes, even if the file changed since its stat.
            let data = file.take(size).chain(io::repeat(0)).take(size);
            return self
                .builder
                .append_data(&mut h, name, data)
                .map_err(write_err);
        }
        if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(path).map_err(read_err)?;
            return self
                .builder
                .append_link(&mut h, name, target)
                .map_err(write_err);
        }
        if ft.is_char_device() || ft.is_block_device() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            });
            let rdev = meta.rdev();
            h.set_device_major(libc::major(rdev)).map_err(write_err)?;
            h.set_device_minor(libc::minor(rdev)).map_err(write_err)?;
            return self
                .builder
                .append_data(&mut h, name, io::empty())
                .map_err(write_err);
        }
        if ft.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            return self
                .builder
                .append_data(&mut h, name, io::empty())
                .map_err(write_err);
        }
        // Sockets are skipped, as Docker's archiver does.
        Ok(())
    }

    /// The entry's xattrs as a PAX header before it; overlay's own are
    /// dropped (they describe the upper dir, not the file).
    fn xattrs(&mut self, path: &Path) -> Result<()> {
        let read_err = |source| LayerError::Read {
            path: path.to_path_buf(),
            source,
        };
        let parent = path.parent().unwrap_or(Path::new("/"));
        let base = path.file_name().map(OsStrExt::as_bytes).unwrap_or(b".");
        let dir = File::open(parent).map_err(read_err)?;
        let node = crate::sys::xattr::Node::At(std::os::fd::AsFd::as_fd(&dir), base);
        let mut keys = node.list().map_err(read_err)?;
        keys.retain(|k| !k.starts_with(b"trusted.overlay.") && !k.starts_with(b"user.overlay."));
        if keys.is_empty() {
            return Ok(());
        }
        keys.sort();
        let mut records: Vec<(String, Vec<u8>)> = Vec::with_capacity(keys.len());
        for k in keys {
            let value = node.get(&k).map_err(read_err)?;
            records.push((
                format!("SCHILY.xattr.{}", String::from_utf8_lossy(&k)),
                value,
            ));
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|source| LayerError::Write {
                dir: path.to_path_buf(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::tree::OPAQUE_XATTR;
    use std::os::unix::fs::PermissionsExt;

    fn entries(blob: &Path) -> Vec<(String, char, u32, u64)> {
        let f = File::open(blob).expect("blob");
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
        a.entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let h = e.header();
                (
                    String::from_utf8_lossy(&e.path_bytes()).into_owned(),
                    match h.entry_type() {
                        tar::EntryType::Directory => 'd',
                        tar::EntryType::Regular => 'f',
                        tar::EntryType::Symlink => 'l',
                        tar::EntryType::Link => 'h',
                        tar::EntryType::Char => 'c',
                        _ => '?',
                    },
                    h.mode().expect("mode"),
                    h.mtime().expect("mtime"),
                )
            })
            .collect()
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn upper_dir_becomes_an_oci_layer_with_whiteouts_and_links() {
        if !is_root() {
            eprintln!("skipped: needs root (whiteouts are device nodes)");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let store = ImageStore::open(tmp.path().join("root")).expect("store");
        let upper = tmp.path().join("upper");
        fs::create_dir_all(upper.join("etc/opq")).expect("dirs");
        fs::write(upper.join("etc/b.conf"), b"b").expect("b");
        fs::write(upper.join("etc/a.conf"), b"a").expect("a");
        fs::set_permissions(upper.join("etc/a.conf"), fs::Permissions::from_mode(0o640))
            .expect("chmod");
        fs::hard_link(upper.join("etc/a.conf"), upper.join("etc/z-link")).expect("link");
        std::os::unix::fs::symlink("a.conf", upper.join("etc/sym")).expect("symlink");
        nix::sys::stat::mknod(
            &upper.join("etc/gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .expect("whiteout");
        let opq = File::open(upper.join("etc/opq")).expect("opq");
        crate::sys::xattr::Node::Fd(std::os::fd::AsFd::as_fd(&opq))
            .set(OPAQUE_XATTR, b"y")
            .expect("opaque xattr");

        let layer = commit_dir(
            &store,
            &upper,
            &LayerOptions {
                source_date_epoch: Some(1000),
                ..LayerOptions::default()
            },
            "build-test",
        )
        .expect("commit");
        let blob = store.blob_path(&layer.record.blob_digest);
        let got = entries(&blob);
        let names: Vec<(&str, char)> = got.iter().map(|(n, t, _, _)| (n.as_str(), *t)).collect();
        assert_eq!(
            names,
            vec![
                ("etc", 'd'),
                ("etc/a.conf", 'f'),
                ("etc/b.conf", 'f'),
                // Where `gone` sorts in the upper dir, as Docker's walk writes it.
                ("etc/.wh.gone", 'f'),
                ("etc/opq", 'd'),
                ("etc/opq/.wh..wh..opq", 'f'),
                ("etc/sym", 'l'),
                ("etc/z-link", 'h'),
            ]
        );
        assert_eq!(got[1].2, 0o640, "mode kept");
        assert!(got.iter().all(|e| e.3 <= 1000), "mtimes clamped: {got:?}");
        // Unpacked like a pulled layer: overlay's forms again.
        let unpacked = &layer.info.path;
        let gone = fs::symlink_metadata(unpacked.join("etc/gone")).expect("whiteout");
        assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
        assert_eq!(
            fs::read(unpacked.join("etc/z-link")).expect("link"),
            b"a".to_vec()
        );
        assert_eq!(
            fs::symlink_metadata(unpacked.join("etc/z-link"))
                .expect("z")
                .ino(),
            fs::symlink_metadata(unpacked.join("etc/a.conf"))
                .expect("a")
                .ino()
        );

        // The same tree gives the same layer.
        let again = commit_dir(
            &store,
            &upper,
            &LayerOptions {
                source_date_epoch: Some(1000),
                ..LayerOptions::default()
            },
            "build-test",
        )
        .expect("again");
        assert_eq!(again.record, layer.record);
    }

    #[test]
    fn empty_dir_is_detected() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert!(is_empty_dir(tmp.path()).expect("empty"));
        fs::write(tmp.path().join("x"), b"").expect("x");
        assert!(!is_empty_dir(tmp.path()).expect("not empty"));
    }
}
