//! Applying a layer's tar entries under a confined root: `unpack_at`, the
//! `Unpacker` (whiteouts, hard links, metadata, xattrs) and its header budget.

use super::{
    blank_is_zero, clean_path, display_name, fset_xattr, join, lossy, lset_xattr_at, os,
    parse_pax_time, remove_dir_at, Recording, Refusal, UnpackError, UnpackOptions, UnpackStats,
    COPY_BUF, OPAQUE_XATTR, WHITEOUT_META_PREFIX, WHITEOUT_OPAQUE, WHITEOUT_PREFIX,
};
use crate::image::digest::{Algorithm, DigestReader};
use crate::image::tarsplit::Recorder;
use crate::sys::confined::{create_file_at, open_dir_at, walk_dirs, WalkError};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, makedev, mkdirat, mknodat, utimensat, FchmodatFlags, Mode,
    SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

pub(super) fn unpack_at(
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
