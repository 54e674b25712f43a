//! Layer unpacking: a layer blob (gzip, zstd or plain tar) becomes a directory
//! that overlayfs can use as a lower layer.
//!
//! Safety model: every file system operation is relative to a directory file
//! descriptor that was reached from the layer root one component at a time
//! with `O_NOFOLLOW | O_DIRECTORY` ([`crate::sys::confined::walk_dirs`], a
//! portable equivalent of `openat2`'s
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, chosen so it works on any kernel
//! and can name the offending component). Entry names are cleaned lexically
//! first (`.` dropped, `a/..` folded, a leading `/` stripped as Docker does);
//! a `..` that would climb above the root is refused. So nothing is ever
//! created, linked or modified through a symlink or outside the root.
//! Symlinks themselves may point anywhere: they are only followed inside the
//! container.
//!
//! On error the destination is left half-made: the caller must remove it with
//! [`remove_tree`] (which also copes with read-only directories) and must not
//! use it as a layer.

use crate::image::digest::Digest;
use crate::image::tarsplit::{Recorder, Split, SplitLimits};
use crate::sys::confined::open_dir_at;
use crate::sys::path_error::PathError;
use crate::sys::xattr::Node;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, Mode};
use nix::sys::time::TimeSpec;
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::cell::RefCell;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

mod apply;

use apply::unpack_at;

pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Not in the schema 2 spec, but moby accepts it for uncompressed layers.
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const OCI_NONDISTRIBUTABLE_PREFIX: &str = "application/vnd.oci.image.layer.nondistributable.";

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Longest cleaned entry path accepted: Linux's PATH_MAX. Longer paths are
/// unusable inside a container and would let a layer nest directories deeply
/// enough to exhaust file descriptors elsewhere.
const MAX_PATH: usize = 4096;
const COPY_BUF: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error(
        "layer media type {media_type} is a foreign (non-distributable) layer: \
         Docker skips it and so must the caller"
    )]
    ForeignLayer { media_type: String },
    #[error("unsupported layer media type {media_type:?}")]
    UnsupportedMediaType { media_type: String },
    #[error("layer blob ({media_type}) is empty: a 0-byte blob is not a valid compressed layer")]
    EmptyBlob { media_type: String },
    #[error("layer blob ({media_type}) is {found}-compressed, which wharf does not support")]
    UnsupportedCompression {
        media_type: String,
        found: &'static str,
    },
    #[error("reading layer blob ({media_type}): {source}")]
    ReadBlob {
        media_type: String,
        source: io::Error,
    },
    #[error("unpack destination {path}: {source}")]
    Destination { path: PathBuf, source: io::Error },
    #[error("reading layer tar after entry {after:?}: {source}")]
    Tar { after: String, source: io::Error },
    #[error("layer entry {entry:?} refused: {reason}")]
    Refused { entry: String, reason: Refusal },
    #[error("layer entry {entry:?}: {op}: {source}")]
    Io {
        entry: String,
        op: &'static str,
        source: io::Error,
    },
    #[error(
        "layer entry {entry:?}: truncated: its header declares {declared} bytes \
         but the stream ended after {read}"
    )]
    Truncated {
        entry: String,
        declared: u64,
        read: u64,
    },
    #[error(
        "refused: what the layer tar holds besides file contents (headers, directory \
         payload, data after its end) exceeds {} MiB compressed",
        cap >> 20
    )]
    SplitTooLarge { cap: u64 },
}

/// Why an entry was refused (as opposed to failing on I/O).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("its path climbs above the layer root with `..`")]
    EscapesRoot,
    #[error("its path contains a NUL byte")]
    NulByte,
    #[error("its path is longer than {MAX_PATH} bytes")]
    TooLong,
    #[error("parent {component:?} is a symlink; nothing is written through a symlink")]
    ThroughSymlink { component: String },
    #[error("parent {component:?} is not a directory")]
    NotADirectory { component: String },
    #[error("it would replace the layer root with a non-directory")]
    ReplacesRoot,
    #[error("hard link target {target:?} climbs above the layer root")]
    LinkEscapes { target: String },
    #[error("hard link target {target:?} goes through symlink {component:?}")]
    LinkThroughSymlink { target: String, component: String },
    #[error(
        "hard link target {target:?} is not in this layer (it must be extracted before the link)"
    )]
    LinkTargetMissing { target: String },
    #[error("hard link to itself")]
    LinkToSelf,
    #[error("whiteout names no file ({name:?})")]
    BadWhiteout { name: String },
    #[error("device nodes are not allowed (UnpackOptions::allow_devices is false)")]
    DeviceNotAllowed,
    #[error("unsupported tar entry type {0:?}")]
    UnsupportedType(char),
    #[error("uid/gid {0} does not fit in 32 bits")]
    IdTooLarge(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackOptions {
    /// Create char/block device nodes (needs CAP_MKNOD). When false a device
    /// entry is refused. Whiteouts are always created.
    pub allow_devices: bool,
    /// chown entries to the uid/gid in the tar (needs CAP_CHOWN).
    pub preserve_owners: bool,
}

impl Default for UnpackOptions {
    /// wharf runs as root, so both are on.
    fn default() -> Self {
        UnpackOptions {
            allow_devices: true,
            preserve_owners: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackStats {
    /// sha256 of the uncompressed tar stream (all of it, end padding included).
    pub diff_id: Digest,
    /// Size of the uncompressed tar stream.
    pub tar_bytes: u64,
    /// Bytes of regular file content written.
    pub content_bytes: u64,
    /// Tar entries processed (global PAX headers excluded).
    pub entries: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub devices: u64,
    pub fifos: u64,
    pub whiteouts: u64,
    pub opaque_dirs: u64,
    /// AUFS metadata entries (`.wh..wh.*` other than the opaque marker), skipped as Docker does.
    pub aufs_skipped: u64,
    /// xattrs not set: overlay's own (`trusted.overlay.*`, `user.overlay.*`)
    /// from the tar, and ones the file system refused (ENOTSUP/EPERM), which
    /// Docker also tolerates.
    pub xattrs_skipped: u64,
}

/// Wraps a decompressor so its errors say what was being decoded.
struct Labelled<R> {
    inner: R,
    what: &'static str,
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), format!("{} layer data: {e}", self.what)))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Claimed {
    Tar,
    Gzip,
    Zstd,
}

/// Returns a reader of the uncompressed tar stream of a layer blob.
///
/// Layers registries do not serve (Windows base layers): Docker skips them.
pub fn is_foreign_media_type(media_type: &str) -> bool {
    let mt = media_type.split(';').next().unwrap_or("").trim();
    mt == DOCKER_FOREIGN_LAYER_GZIP || mt.starts_with(OCI_NONDISTRIBUTABLE_PREFIX)
}

/// The media type must be a layer type; the actual codec is chosen by the
/// data's magic bytes, as Docker and containerd do, so a "gzip" layer that is
/// really plain tar (which Docker tolerates) still unpacks.
pub fn decompress<'a>(
    media_type: &str,
    blob: impl Read + 'a,
) -> Result<Box<dyn Read + 'a>, UnpackError> {
    let mt = media_type.split(';').next().unwrap_or("").trim();
    if is_foreign_media_type(mt) {
        return Err(UnpackError::ForeignLayer {
            media_type: media_type.to_string(),
        });
    }
    let claimed = match mt {
        OCI_LAYER_TAR | DOCKER_LAYER_TAR => Claimed::Tar,
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => Claimed::Gzip,
        OCI_LAYER_ZSTD => Claimed::Zstd,
        _ => {
            return Err(UnpackError::UnsupportedMediaType {
                media_type: media_type.to_string(),
            })
        }
    };
    let mut blob = blob;
    let mut magic = [0u8; 6];
    let mut have = 0;
    while have < magic.len() {
        match blob.read(&mut magic[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(UnpackError::ReadBlob {
                    media_type: media_type.to_string(),
                    source,
                })
            }
        }
    }
    if have == 0 && claimed != Claimed::Tar {
        return Err(UnpackError::EmptyBlob {
            media_type: media_type.to_string(),
        });
    }
    let prefix = magic[..have].to_vec();
    let unsupported = |found| UnpackError::UnsupportedCompression {
        media_type: media_type.to_string(),
        found,
    };
    let stream = io::Cursor::new(prefix.clone()).chain(blob);
    if prefix.starts_with(&[0x1f, 0x8b]) {
        // Multi-member, like Go's gzip reader.
        Ok(Box::new(Labelled {
            inner: flate2::read::MultiGzDecoder::new(stream),
            what: "gzip",
        }))
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let dec =
            zstd::stream::read::Decoder::new(stream).map_err(|source| UnpackError::ReadBlob {
                media_type: media_type.to_string(),
                source,
            })?;
        Ok(Box::new(Labelled {
            inner: dec,
            what: "zstd",
        }))
    } else if prefix.starts_with(b"BZh") {
        Err(unsupported("bzip2"))
    } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Err(unsupported("xz"))
    } else {
        Ok(Box::new(stream))
    }
}

/// Unpacks an uncompressed layer tar into `dest`, a fresh empty directory.
///
/// On error `dest` is half-made; the caller removes it with [`remove_tree`].
/// The returned `diff_id` must be checked by the caller against the image
/// config's `rootfs.diff_ids`.
pub fn unpack_layer(
    tar: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    unpack(tar, dest, opts, None)
}

/// [`unpack_layer`], also recording the layer's tar split (see
/// [`super::tarsplit`]): `Err(reason)` in the second value when this tar
/// cannot be rebuilt from its tree. A large split spills to an unnamed file
/// in `scratch`, a directory private to this layer.
pub fn unpack_layer_with_split(
    tar: impl Read,
    dest: &Path,
    scratch: &Path,
    opts: &UnpackOptions,
) -> Result<(UnpackStats, Result<Split, String>), UnpackError> {
    unpack_layer_with_split_limits(tar, dest, scratch, opts, SplitLimits::default())
}

pub(crate) fn unpack_layer_with_split_limits(
    tar: impl Read,
    dest: &Path,
    scratch: &Path,
    opts: &UnpackOptions,
    limits: SplitLimits,
) -> Result<(UnpackStats, Result<Split, String>), UnpackError> {
    let rec = Rc::new(RefCell::new(Recorder::new(scratch, limits)));
    let stats = match unpack(tar, dest, opts, Some(Rc::clone(&rec))) {
        Ok(stats) => stats,
        // Whichever read hit the cap, the cap is the reason.
        Err(e) => {
            return Err(match rec.borrow().over_cap() {
                Some(cap) => UnpackError::SplitTooLarge { cap },
                None => e,
            })
        }
    };
    let split = match Rc::try_unwrap(rec) {
        Ok(cell) => cell.into_inner().finish(),
        Err(_) => Err("the split recorder is still shared".to_string()),
    };
    Ok((stats, split))
}

/// Feeds every byte the tar reader reads to the split recorder.
struct Recording<R> {
    inner: R,
    rec: Option<Rc<RefCell<Recorder>>>,
}

impl<R: Read> Read for Recording<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(rec) = &self.rec {
            rec.borrow_mut().observe(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Extracts a plain tar (not a layer: `.wh.` names are ordinary files, as
/// in `docker cp`) into the directory `root` is open on, with the same
/// safety model as a layer: nothing is written through a symlink or above
/// `root`. The caller reaches `root` safely (`wharf cp` resolves it inside
/// the container's root).
pub fn extract_at(
    tar: impl Read,
    root: OwnedFd,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    unpack_at(tar, root, opts, None, false)
}

fn unpack(
    tar: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
    split: Option<Rc<RefCell<Recorder>>>,
) -> Result<UnpackStats, UnpackError> {
    let dest_err = |source: io::Error| UnpackError::Destination {
        path: dest.to_path_buf(),
        source,
    };
    let root = nix::fcntl::open(
        dest,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| dest_err(e.into()))?;
    unpack_at(tar, root, opts, split, true)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

/// An entry name for errors and logs, cut short: a hostile name can be
/// megabytes long.
fn display_name(b: &[u8]) -> String {
    const MAX: usize = 300;
    if b.len() <= MAX {
        return lossy(b);
    }
    format!("{}…({} bytes)", String::from_utf8_lossy(&b[..MAX]), b.len())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Lexically cleans an entry name into components below the root.
fn clean_path(raw: &[u8]) -> Result<Vec<&[u8]>, Refusal> {
    if raw.contains(&0) {
        return Err(Refusal::NulByte);
    }
    let mut out: Vec<&[u8]> = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(Refusal::EscapesRoot);
                }
            }
            c => out.push(c),
        }
    }
    if out.iter().map(|c| c.len() + 1).sum::<usize>() > MAX_PATH {
        return Err(Refusal::TooLong);
    }
    Ok(out)
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

/// Sets an xattr on an open file or directory.
fn fset_xattr(fd: BorrowedFd<'_>, name: &[u8], value: &[u8]) -> io::Result<()> {
    Node::Fd(fd).set(name, value)
}

/// Sets an xattr on `name` in directory `dir` without following a symlink at
/// `name` (symlinks and device nodes cannot be opened for fsetxattr).
fn lset_xattr_at(dir: BorrowedFd<'_>, name: &[u8], key: &[u8], value: &[u8]) -> io::Result<()> {
    Node::At(dir, name).set(key, value)
}

/// Go's archive/tar (so Docker) reads a blank numeric field as 0; the tar
/// crate errors. Some tar writers leave uid/gid/mtime blank.
fn blank_is_zero<T: Default>(parsed: io::Result<T>, field: &[u8]) -> io::Result<T> {
    match parsed {
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Ok(T::default()),
        other => other,
    }
}

/// Parses a PAX time ("1700000000" or "1700000000.123456789").
fn parse_pax_time(v: &[u8]) -> Option<TimeSpec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i64 = 0;
    for (i, ch) in frac.chars().take(9).enumerate() {
        let d = ch.to_digit(10)? as i64;
        nanos += d * 10i64.pow(8 - i as u32);
    }
    if secs < 0 && nanos > 0 {
        // "-1.5" is 1.5 s before the epoch.
        return Some(TimeSpec::new(secs - 1, 1_000_000_000 - nanos));
    }
    Some(TimeSpec::new(secs, nanos))
}

/// Names in a directory, without `.` and `..`.
fn list_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<(Vec<u8>, bool)>> {
    let mut d = nix::dir::Dir::from_fd(fd.try_clone_to_owned()?)?;
    let mut out = Vec::new();
    for ent in d.iter() {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        let is_dir = match ent.file_type() {
            Some(nix::dir::Type::Directory) => true,
            Some(_) => false,
            None => fstatat(fd, os(n), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)?,
        };
        out.push((n.to_vec(), is_dir));
    }
    Ok(out)
}

/// Empties and removes directory `name` in `parent` without following
/// symlinks. Iterative and holding one directory descriptor at a time (going
/// back up through `..`), so arbitrarily deep trees cannot exhaust
/// descriptors.
pub fn remove_dir_at(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let mut cur = open_dir_at(parent, name)?;
    // Per level: the name we entered by and the subdirectories still to do.
    let mut stack: Vec<(Vec<u8>, Vec<Vec<u8>>)> = Vec::new();
    let mut entered = name.to_vec();
    loop {
        let st = nix::sys::stat::fstat(cur.as_fd())?;
        // Read-only directories (possible when not root) cannot be emptied.
        if st.st_mode & 0o700 != 0o700 {
            fchmod(cur.as_fd(), Mode::from_bits_truncate(0o700))?;
        }
        let mut subdirs = Vec::new();
        for (n, is_dir) in list_dir(cur.as_fd())? {
            if is_dir {
                subdirs.push(n);
            } else {
                unlinkat(cur.as_fd(), os(&n), UnlinkatFlags::NoRemoveDir)?;
            }
        }
        stack.push((entered, subdirs));
        // Descend into the next pending subdirectory, or go up when done.
        loop {
            let Some((_, pending)) = stack.last_mut() else {
                return Ok(());
            };
            if let Some(next) = pending.pop() {
                cur = open_dir_at(cur.as_fd(), &next)?;
                entered = next;
                break;
            }
            let (done, _) = stack.pop().unwrap_or_default();
            if stack.is_empty() {
                // Back at the top: `parent` is still open.
                drop(cur);
                unlinkat(parent, os(&done), UnlinkatFlags::RemoveDir)?;
                return Ok(());
            }
            let up = open_dir_at(cur.as_fd(), b"..")?;
            unlinkat(up.as_fd(), os(&done), UnlinkatFlags::RemoveDir)?;
            cur = up;
        }
    }
}

/// Removes a half-made (or any) unpacked layer directory: never follows
/// symlinks, copes with read-only directories, and succeeds if `path` does
/// not exist. Unpacking never sets immutable/append-only inode flags, so none
/// need clearing.
pub fn remove_tree(path: &Path) -> Result<(), PathError> {
    let err = |source: io::Error| PathError::new("removing", path, source);
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    if !meta.is_dir() {
        return std::fs::remove_file(path).map_err(err);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "path has no final component",
        )));
    };
    let pfd = nix::fcntl::open(
        parent,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err(e.into()))?;
    remove_dir_at(pfd.as_fd(), name.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests;
