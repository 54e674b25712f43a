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

use crate::image::digest::{Algorithm, Digest, DigestReader};
use crate::image::tarsplit::Recorder;
use crate::sys::confined::{create_file_at, open_dir_at, walk_dirs, WalkError};
use crate::sys::path_error::PathError;
use crate::sys::xattr::Node;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode,
    SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
/// cannot be rebuilt from its tree.
pub fn unpack_layer_with_split(
    tar: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<(UnpackStats, Result<Vec<u8>, String>), UnpackError> {
    let rec = Rc::new(RefCell::new(Recorder::new()));
    let stats = unpack(tar, dest, opts, Some(Rc::clone(&rec)))?;
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
            rec.borrow_mut().observe(&buf[..n]);
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

fn unpack_at(
    tar: impl Read,
    root: OwnedFd,
    opts: &UnpackOptions,
    split: Option<Rc<RefCell<Recorder>>>,
    layer: bool,
) -> Result<UnpackStats, UnpackError> {
    let mut un = Unpacker {
        root,
        layer,
        opts,
        dirs: HashMap::new(),
        cache: None,
        buf: vec![0u8; COPY_BUF],
        stats: Counts::default(),
        split: split.clone(),
    };
    let budget = Rc::new(HeaderBudget::default());
    let mut archive = tar::Archive::new(Budgeted {
        inner: Recording {
            inner: DigestReader::new(tar, Algorithm::Sha256),
            rec: split,
        },
        budget: Rc::clone(&budget),
    });
    {
        let mut last = String::from("<start of layer>");
        let tar_err = |last: &str, source| UnpackError::Tar {
            after: last.to_string(),
            source,
        };
        let mut entries = archive.entries().map_err(|s| tar_err(&last, s))?;
        loop {
            // Only headers and their PAX / GNU long-name records are read
            // inside next(): entry data was drained below.
            budget.start();
            let next = entries.next();
            budget.stop();
            let Some(entry) = next else { break };
            let mut entry = entry.map_err(|s| tar_err(&last, s))?;
            let name = display_name(&entry.path_bytes());
            un.apply(&mut entry, &name)?;
            // Data of entries that carry none in the layer (a hard link or
            // directory with a size): streamed away, not buffered.
            io::copy(&mut entry, &mut io::sink()).map_err(|source| UnpackError::Io {
                entry: name.clone(),
                op: "skipping its data",
                source,
            })?;
            last = name;
        }
        // The tar reader stops at the end-of-archive block; the diff_id covers
        // the whole stream, and reading to the end makes the decompressor check
        // its trailer (CRC, size), so drain it.
        let mut rest = archive.into_inner().inner;
        io::copy(&mut rest, &mut io::sink()).map_err(|s| tar_err(&last, s))?;
        un.finish_dirs()?;
        // The unpacker's handle goes, so the caller can take the recorder back.
        un.split = None;
        let (diff_id, tar_bytes) = rest.inner.finish();
        let c = un.stats;
        Ok(UnpackStats {
            diff_id,
            tar_bytes,
            content_bytes: c.content_bytes,
            entries: c.entries,
            files: c.files,
            dirs: c.dirs,
            symlinks: c.symlinks,
            hard_links: c.hard_links,
            devices: c.devices,
            fifos: c.fifos,
            whiteouts: c.whiteouts,
            opaque_dirs: c.opaque_dirs,
            aufs_skipped: c.aufs_skipped,
            xattrs_skipped: c.xattrs_skipped,
        })
    }
}

/// Most bytes one tar header may take with its PAX and GNU long-name
/// records. The tar crate buffers those records whole, so without a cap a
/// layer could declare a multi-gigabyte PAX record and exhaust memory. Go's
/// archive/tar (Docker, containerd) caps each record at 1 MiB.
const HEADER_BUDGET: u64 = 4 << 20;

/// Counts bytes read while a header is being parsed.
#[derive(Default)]
struct HeaderBudget {
    active: Cell<bool>,
    used: Cell<u64>,
}

impl HeaderBudget {
    fn start(&self) {
        self.used.set(0);
        self.active.set(true);
    }

    fn stop(&self) {
        self.active.set(false);
    }
}

struct Budgeted<R> {
    inner: R,
    budget: Rc<HeaderBudget>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let b = &self.budget;
        if b.active.get() && b.used.get() > HEADER_BUDGET {
            return Err(io::Error::other(format!(
                "a tar header with its PAX / GNU long-name records exceeds {} MiB",
                HEADER_BUDGET >> 20
            )));
        }
        let n = self.inner.read(buf)?;
        if b.active.get() {
            b.used.set(b.used.get() + n as u64);
        }
        Ok(n)
    }
}

#[derive(Default)]
struct Counts {
    content_bytes: u64,
    entries: u64,
    files: u64,
    dirs: u64,
    symlinks: u64,
    hard_links: u64,
    devices: u64,
    fifos: u64,
    whiteouts: u64,
    opaque_dirs: u64,
    aufs_skipped: u64,
    xattrs_skipped: u64,
}

/// Metadata of one entry, from its header and PAX records.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: TimeSpec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Mode and mtime of a directory, applied after everything inside it exists.
struct DirMeta {
    mode: u32,
    mtime: TimeSpec,
}

struct Unpacker<'o> {
    root: OwnedFd,
    /// A layer (whiteouts and AUFS metadata mean something) rather than a
    /// plain tar.
    layer: bool,
    opts: &'o UnpackOptions,
    /// Keyed by the cleaned path ("" is the root).
    dirs: HashMap<Vec<u8>, DirMeta>,
    /// The last parent directory walked to; entries of one directory come in
    /// a row, so this saves most of the walks. Dropped whenever anything is
    /// removed, since a removal can change what a path leads to.
    cache: Option<(Vec<u8>, OwnedFd)>,
    buf: Vec<u8>,
    stats: Counts,
    split: Option<Rc<RefCell<Recorder>>>,
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

enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    Char,
    Block,
    Fifo,
}

impl Unpacker<'_> {
    fn apply<R: Read>(&mut self, e: &mut tar::Entry<'_, R>, name: &str) -> Result<(), UnpackError> {
        let refused = |reason| UnpackError::Refused {
            entry: name.to_string(),
            reason,
        };
        let ioe = |op: &'static str, source: io::Error| UnpackError::Io {
            entry: name.to_string(),
            op,
            source,
        };
        let et = e.header().entry_type();
        if et.is_pax_global_extensions() {
            return Ok(());
        }
        self.stats.entries += 1;
        let kind = match et {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                Kind::File
            }
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::HardLink,
            tar::EntryType::Char => Kind::Char,
            tar::EntryType::Block => Kind::Block,
            tar::EntryType::Fifo => Kind::Fifo,
            other => return Err(refused(Refusal::UnsupportedType(other.as_byte() as char))),
        };
        let raw = e.path_bytes().into_owned();
        let comps = clean_path(&raw).map_err(refused)?;
        let Some((&base, parent)) = comps.split_last() else {
            return match kind {
                Kind::Dir => {
                    let meta = self.meta(e, name)?;
                    let root = self
                        .root
                        .try_clone()
                        .map_err(|s| ioe("duplicating the root descriptor", s))?;
                    self.dir_attrs(root.as_fd(), &meta, name)?;
                    self.dirs.insert(
                        Vec::new(),
                        DirMeta {
                            mode: meta.mode,
                            mtime: meta.mtime,
                        },
                    );
                    Ok(())
                }
                _ => Err(refused(Refusal::ReplacesRoot)),
            };
        };

        // AUFS metadata (`/.wh..wh.plnk/…` and other `.wh..wh.` names): Docker skips it.
        let in_aufs_dir = comps.len() > 1 && comps[0].starts_with(WHITEOUT_META_PREFIX);
        if self.layer
            && (in_aufs_dir || (base.starts_with(WHITEOUT_META_PREFIX) && base != WHITEOUT_OPAQUE))
        {
            self.stats.aufs_skipped += 1;
            return Ok(());
        }

        let dir = self.parent(parent, name)?;
        let dir = dir.as_fd();

        if self.layer && base == WHITEOUT_OPAQUE {
            fset_xattr(dir, OPAQUE_XATTR.as_bytes(), b"y")
                .map_err(|s| ioe("setting trusted.overlay.opaque on its directory", s))?;
            self.stats.opaque_dirs += 1;
            return Ok(());
        }
        if let Some(target) = base.strip_prefix(WHITEOUT_PREFIX).filter(|_| self.layer) {
            if target.is_empty() || target == b"." || target == b".." {
                return Err(refused(Refusal::BadWhiteout { name: lossy(base) }));
            }
            let mut key = join(parent);
            if !key.is_empty() {
                key.push(b'/');
            }
            key.extend_from_slice(target);
            self.clear_existing(dir, target, &key, false, name)?;
            // An overlayfs whiteout: char device 0:0, mode 0, owned by root.
            mknodat(dir, os(target), SFlag::S_IFCHR, Mode::empty(), 0)
                .map_err(|s| ioe("creating the whiteout device", s.into()))?;
            if self.opts.preserve_owners {
                fchownat(
                    dir,
                    os(target),
                    Some(Uid::from_raw(0)),
                    Some(Gid::from_raw(0)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|s| ioe("chown of the whiteout device", s.into()))?;
            }
            self.stats.whiteouts += 1;
            return Ok(());
        }

        let key = join(&comps);
        let meta = self.meta(e, name)?;
        match kind {
            Kind::Dir => {
                let kept = self.clear_existing(dir, base, &key, true, name)?;
                if !kept {
                    mkdirat(dir, os(base), Mode::from_bits_truncate(0o700))
                        .map_err(|s| ioe("creating the directory", s.into()))?;
                }
                let fd =
                    open_dir_at(dir, base).map_err(|s| ioe("opening the directory", s.into()))?;
                self.dir_attrs(fd.as_fd(), &meta, name)?;
                self.dirs.insert(
                    key,
                    DirMeta {
                        mode: meta.mode,
                        mtime: meta.mtime,
                    },
                );
                self.stats.dirs += 1;
            }
            Kind::File => {
                self.clear_existing(dir, base, &key, false, name)?;
                let fd = create_file_at(dir, base, Mode::from_bits_truncate(0o600))
                    .map_err(|s| ioe("creating the file", s.into()))?;
                let mut file = File::from(fd);
                let declared = e.size();
                if let Some(rec) = &self.split {
                    let mut rec = rec.borrow_mut();
                    if et == tar::EntryType::GNUSparse {
                        rec.unsplittable(format!("{name} is a GNU sparse file"));
                    } else {
                        rec.file(e.raw_file_position(), declared, &key);
                    }
                }
                let mut read = 0u64;
                loop {
                    let n = match e.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(s) if s.kind() == io::ErrorKind::Interrupted => continue,
                        Err(s) => return Err(ioe("reading its data from the layer", s)),
                    };
                    file.write_all(&self.buf[..n])
                        .map_err(|s| ioe("writing the file", s))?;
                    read += n as u64;
                }
                if read != declared {
                    return Err(UnpackError::Truncated {
                        entry: name.to_string(),
                        declared,
                        read,
                    });
                }
                self.stats.content_bytes += read;
                // Owner before mode (chown clears setuid/setgid), xattrs after
                // chown (it clears security.capability), times last.
                if self.opts.preserve_owners {
                    fchown(
                        file.as_fd(),
                        Some(Uid::from_raw(meta.uid)),
                        Some(Gid::from_raw(meta.gid)),
                    )
                    .map_err(|s| ioe("chown", s.into()))?;
                }
                fchmod(file.as_fd(), Mode::from_bits_truncate(meta.mode))
                    .map_err(|s| ioe("chmod", s.into()))?;
                for (k, v) in &meta.xattrs {
                    let r = fset_xattr(file.as_fd(), k, v);
                    self.xattr_result(r, k, name)?;
                }
                futimens(file.as_fd(), &meta.mtime, &meta.mtime)
                    .map_err(|s| ioe("setting times", s.into()))?;
                self.stats.files += 1;
            }
            Kind::Symlink => {
                let target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if target.contains(&0) {
                    return Err(refused(Refusal::NulByte));
                }
                self.clear_existing(dir, base, &key, false, name)?;
                symlinkat(os(&target), dir, os(base))
                    .map_err(|s| ioe("creating the symlink", s.into()))?;
                self.node_attrs(dir, base, &meta, false, name)?;
                self.stats.symlinks += 1;
            }
            Kind::HardLink => {
                let raw_target = e
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let target = lossy(&raw_target);
                let tcomps = match clean_path(&raw_target) {
                    Ok(c) => c,
                    Err(Refusal::EscapesRoot) => {
                        return Err(refused(Refusal::LinkEscapes { target }))
                    }
                    Err(r) => return Err(refused(r)),
                };
                if tcomps == comps {
                    return Err(refused(Refusal::LinkToSelf));
                }
                let Some((&tbase, tparent)) = tcomps.split_last() else {
                    return Err(refused(Refusal::LinkTargetMissing { target }));
                };
                let tdir = match walk_dirs(self.root.as_fd(), tparent, false) {
                    Ok(fd) => fd,
                    Err(WalkError::Symlink(component)) => {
                        return Err(refused(Refusal::LinkThroughSymlink { target, component }))
                    }
                    Err(WalkError::Missing(_) | WalkError::NotDir(_)) => {
                        return Err(refused(Refusal::LinkTargetMissing { target }))
                    }
                    Err(WalkError::Io(op, s)) => return Err(ioe(op, s)),
                };
                match fstatat(tdir.as_fd(), os(tbase), AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(_) => {}
                    Err(Errno::ENOENT) => {
                        return Err(refused(Refusal::LinkTargetMissing { target }))
                    }
                    Err(s) => return Err(ioe("looking up the hard link target", s.into())),
                }
                self.clear_existing(dir, base, &key, false, name)?;
                // Flags 0: a symlink target is linked itself, never followed.
                linkat(tdir.as_fd(), os(tbase), dir, os(base), AtFlags::empty())
                    .map_err(|s| ioe("creating the hard link", s.into()))?;
                self.stats.hard_links += 1;
            }
            Kind::Char | Kind::Block | Kind::Fifo => {
                let (sflag, is_dev) = match kind {
                    Kind::Char => (SFlag::S_IFCHR, true),
                    Kind::Block => (SFlag::S_IFBLK, true),
                    _ => (SFlag::S_IFIFO, false),
                };
                if is_dev && !self.opts.allow_devices {
                    return Err(refused(Refusal::DeviceNotAllowed));
                }
                // A fifo's device fields are often blank; only devices need them.
                let (major, minor) = if is_dev {
                    let h = e.header();
                    let major = h
                        .device_major()
                        .map_err(|s| ioe("parsing the device major", s))?
                        .unwrap_or(0);
                    let minor = h
                        .device_minor()
                        .map_err(|s| ioe("parsing the device minor", s))?
                        .unwrap_or(0);
                    (major, minor)
                } else {
                    (0, 0)
                };
                self.clear_existing(dir, base, &key, false, name)?;
                mknodat(
                    dir,
                    os(base),
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    makedev(major.into(), minor.into()),
                )
                .map_err(|s| ioe("creating the node", s.into()))?;
                self.node_attrs(dir, base, &meta, true, name)?;
                if is_dev {
                    self.stats.devices += 1;
                } else {
                    self.stats.fifos += 1;
                }
            }
        }
        Ok(())
    }

    /// The directory holding an entry, created if missing.
    fn parent(&mut self, comps: &[&[u8]], entry: &str) -> Result<OwnedFd, UnpackError> {
        let key = join(comps);
        if let Some((k, fd)) = &self.cache {
            if *k == key {
                return fd.try_clone().map_err(|source| UnpackError::Io {
                    entry: entry.to_string(),
                    op: "duplicating a directory descriptor",
                    source,
                });
            }
        }
        let refused = |reason| UnpackError::Refused {
            entry: entry.to_string(),
            reason,
        };
        let fd = match walk_dirs(self.root.as_fd(), comps, true) {
            Ok(fd) => fd,
            Err(WalkError::Symlink(component)) => {
                return Err(refused(Refusal::ThroughSymlink { component }))
            }
            Err(WalkError::NotDir(component) | WalkError::Missing(component)) => {
                return Err(refused(Refusal::NotADirectory { component }))
            }
            Err(WalkError::Io(op, source)) => {
                return Err(UnpackError::Io {
                    entry: entry.to_string(),
                    op,
                    source,
                })
            }
        };
        let dup = fd.try_clone().map_err(|source| UnpackError::Io {
            entry: entry.to_string(),
            op: "duplicating a directory descriptor",
            source,
        })?;
        self.cache = Some((key, dup));
        Ok(fd)
    }

    /// Makes room for a new entry `name` in `dir`: a later tar entry replaces
    /// an earlier one, except that a directory over a directory merges.
    /// Returns whether an existing directory was kept.
    fn clear_existing(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        key: &[u8],
        is_dir: bool,
        entry: &str,
    ) -> Result<bool, UnpackError> {
        let ioe = |op, source| UnpackError::Io {
            entry: entry.to_string(),
            op,
            source,
        };
        let st = match fstatat(dir, os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(ioe("looking up an existing entry", e.into())),
        };
        let existing_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if existing_dir && is_dir {
            return Ok(true);
        }
        self.cache = None;
        if existing_dir {
            remove_dir_at(dir, name).map_err(|e| ioe("removing the directory it replaces", e))?;
            let mut prefix = key.to_vec();
            prefix.push(b'/');
            self.dirs
                .retain(|k, _| k.as_slice() != key && !k.starts_with(&prefix));
        } else {
            unlinkat(dir, os(name), UnlinkatFlags::NoRemoveDir)
                .map_err(|e| ioe("removing the entry it replaces", e.into()))?;
        }
        Ok(false)
    }

    fn meta<R: Read>(
        &mut self,
        e: &mut tar::Entry<'_, R>,
        entry: &str,
    ) -> Result<Meta, UnpackError> {
        let ioe = |op, source| UnpackError::Io {
            entry: entry.to_string(),
            op,
            source,
        };
        let h = e.header();
        let old = h.as_old();
        let mode =
            blank_is_zero(h.mode(), &old.mode).map_err(|s| ioe("parsing the mode", s))? & 0o7777;
        let id = |v: u64| {
            u32::try_from(v).map_err(|_| UnpackError::Refused {
                entry: entry.to_string(),
                reason: Refusal::IdTooLarge(v),
            })
        };
        let uid = id(blank_is_zero(h.uid(), &old.uid).map_err(|s| ioe("parsing the uid", s))?)?;
        let gid = id(blank_is_zero(h.gid(), &old.gid).map_err(|s| ioe("parsing the gid", s))?)?;
        let secs = blank_is_zero(h.mtime(), &old.mtime).map_err(|s| ioe("parsing the mtime", s))?;
        let mut mtime = TimeSpec::new(i64::try_from(secs).unwrap_or(i64::MAX), 0);
        let mut xattrs = Vec::new();
        if let Some(pax) = e
            .pax_extensions()
            .map_err(|s| ioe("reading PAX records", s))?
        {
            for ext in pax {
                let ext = ext.map_err(|s| ioe("parsing PAX records", s))?;
                let k = ext.key_bytes();
                if k == b"mtime" {
                    if let Some(t) = parse_pax_time(ext.value_bytes()) {
                        mtime = t;
                    }
                } else if let Some(x) = k.strip_prefix(b"SCHILY.xattr.") {
                    if x.starts_with(b"trusted.overlay.") || x.starts_with(b"user.overlay.") {
                        tracing::warn!(entry, xattr = %lossy(x), "overlayfs xattr in a layer ignored");
                        self.stats.xattrs_skipped += 1;
                    } else {
                        xattrs.push((x.to_vec(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// Owner and xattrs of a directory; mode and times come at the end.
    fn dir_attrs(
        &mut self,
        fd: BorrowedFd<'_>,
        meta: &Meta,
        entry: &str,
    ) -> Result<(), UnpackError> {
        if self.opts.preserve_owners {
            fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(|s| UnpackError::Io {
                entry: entry.to_string(),
                op: "chown",
                source: s.into(),
            })?;
        }
        for (k, v) in &meta.xattrs {
            let r = fset_xattr(fd, k, v);
            self.xattr_result(r, k, entry)?;
        }
        Ok(())
    }

    /// Owner, mode, xattrs and times of a symlink, device or fifo, by name.
    fn node_attrs(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        meta: &Meta,
        chmod: bool,
        entry: &str,
    ) -> Result<(), UnpackError> {
        let ioe = |op, source: Errno| UnpackError::Io {
            entry: entry.to_string(),
            op,
            source: source.into(),
        };
        if self.opts.preserve_owners {
            fchownat(
                dir,
                os(name),
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(|s| ioe("chown", s))?;
        }
        if chmod {
            // Only called for nodes just created by us (not symlinks), so
            // following is moot; Linux has no lchmod.
            fchmodat(
                dir,
                os(name),
                Mode::from_bits_truncate(meta.mode),
                FchmodatFlags::FollowSymlink,
            )
            .map_err(|s| ioe("chmod", s))?;
        }
        for (k, v) in &meta.xattrs {
            let r = lset_xattr_at(dir, name, k, v);
            self.xattr_result(r, k, entry)?;
        }
        utimensat(
            dir,
            os(name),
            &meta.mtime,
            &meta.mtime,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|s| ioe("setting times", s))
    }

    /// Docker ignores xattrs the file system refuses (ENOTSUP, EPERM); so do
    /// we, counting them. overlayfs' own xattrs from a tar are never set:
    /// they would change how overlayfs reads the layer (redirects, metacopy)
    /// in ways OCI layers cannot express.
    fn xattr_result(
        &mut self,
        r: io::Result<()>,
        key: &[u8],
        entry: &str,
    ) -> Result<(), UnpackError> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {
                tracing::warn!(entry, xattr = %lossy(key), error = %e, "xattr not set");
                self.stats.xattrs_skipped += 1;
                Ok(())
            }
            Err(source) => Err(UnpackError::Io {
                entry: entry.to_string(),
                op: "setting an xattr",
                source,
            }),
        }
    }

    /// Applies directory modes and mtimes after all entries, so creating
    /// their contents neither changed the mtimes nor was blocked by the modes.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        self.cache = None;
        for (key, m) in &self.dirs {
            let name = lossy(key);
            let comps: Vec<&[u8]> = key
                .split(|&b| b == b'/')
                .filter(|c| !c.is_empty())
                .collect();
            let ioe = |op, source: io::Error| UnpackError::Io {
                entry: name.clone(),
                op,
                source,
            };
            let fd = match walk_dirs(self.root.as_fd(), &comps, false) {
                Ok(fd) => fd,
                Err(WalkError::Io(op, s)) => return Err(ioe(op, s)),
                Err(_) => {
                    return Err(ioe(
                        "reopening the directory",
                        io::Error::from(io::ErrorKind::NotFound),
                    ))
                }
            };
            fchmod(fd.as_fd(), Mode::from_bits_truncate(m.mode))
                .map_err(|s| ioe("chmod", s.into()))?;
            futimens(fd.as_fd(), &m.mtime, &m.mtime).map_err(|s| ioe("setting times", s.into()))?;
        }
        Ok(())
    }
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
fn remove_dir_at(parent: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
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
