//! A container's root filesystem: an overlayfs of the image's unpacked
//! layers (read-only lowers, shared by every container of the image) under a
//! per-container writable `upper/` and overlay's scratch `work/`, both in the
//! container's directory. Also the seeding of empty named volumes from the
//! image's content at their mount target, as Docker does.
//!
//! Mounting uses the new mount API (`fsopen`/`fsconfig`/`fsmount`/
//! `move_mount`) with one `lowerdir+` per layer (Linux ≥ 6.8): absolute
//! paths, no limit of one page for all options, and no chdir (which is
//! process-wide, so unsafe in a multi-threaded process). Older kernels fall
//! back to `mount(2)`, whose options must fit in one 4 kB page: each lower
//! layer is named `/proc/self/fd/N` of an fd we hold, ~18 bytes with its
//! separator, so 100 layers take ~1.8 kB whatever the data root's path.
//! Absolute paths (`/var/lib/wharf/layers/<12 hex>/diff:`, 40 bytes) would
//! need 4.0 kB for 100 layers, over the page, and more under a longer root.

use crate::image::digest::Digest;
use crate::image::store::{ImageRecord, ImageStore, StoreError};
use crate::sys::confined::{self, Confine};
use crate::sys::path_error::{IoAt, PathError};
use crate::sys::xattr::Node;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::{
    fchmod, fchmodat, fstat, fstatat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags,
    FileStat, Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// overlayfs refuses more lower layers than this (OVL_MAX_STACK).
pub const MAX_LAYERS: usize = 500;
/// mount(2) copies at most one page of options.
const MOUNT_DATA_MAX: usize = 4095;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("image {image}: {source}")]
    Store { image: Digest, source: StoreError },
    #[error("image {image}: layer {diff_id} is not in the store (pull the image again)")]
    MissingLayer { image: Digest, diff_id: Digest },
    #[error("image {image} has {count} layers; overlayfs stacks at most {MAX_LAYERS}")]
    TooManyLayers { image: Digest, count: usize },
    #[error("mounting the root filesystem at {target}: {step}: {source}{detail}")]
    Mount {
        target: PathBuf,
        step: String,
        /// The kernel's own message (new mount API), prefixed with "; ".
        detail: String,
        source: io::Error,
    },
    #[error("unmounting {target}: {source}")]
    Unmount { target: PathBuf, source: io::Error },
    #[error("{path} is still in use by a mounted overlay; unmount it first")]
    StillMounted { path: PathBuf },
    #[error("seeding volume {volume} from {target:?}: {path}: {source}")]
    Seed {
        volume: PathBuf,
        target: String,
        /// The entry being copied, relative to the volume.
        path: PathBuf,
        source: io::Error,
    },
}

type Result<T> = std::result::Result<T, RootfsError>;

/// The per-container directories under `container_dir`.
pub fn upper_dir(container_dir: &Path) -> PathBuf {
    container_dir.join("upper")
}

pub fn work_dir(container_dir: &Path) -> PathBuf {
    container_dir.join("work")
}

/// The lower dir of an image without layers (`FROM scratch` with nothing
/// added): overlayfs needs at least one.
fn empty_lower_dir(container_dir: &Path) -> PathBuf {
    container_dir.join("empty-lower")
}

/// Creates `path` with exactly `mode` (whatever the umask), or leaves an
/// existing directory as it is (a restarted container keeps its upper dir).
fn make_dir(path: &Path, mode: u32) -> Result<()> {
    match fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => Ok(fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .at("setting the mode of", path)?),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(PathError::new("creating", path, e).into()),
    }
}

/// Mounts the image's root filesystem at `target` (created if missing):
/// the image's layers, top first, under `container_dir/upper` (0755, so the
/// container's `/` is 0755 root, as with Docker) and `container_dir/work`
/// (0700).
pub fn mount_rootfs(
    store: &ImageStore,
    image: &ImageRecord,
    container_dir: &Path,
    target: &Path,
) -> Result<()> {
    let mut lowers = Vec::with_capacity(image.layers.len());
    // overlayfs lists the top layer first; the record lists the bottom first.
    for diff_id in image.layers.iter().rev().map(|l| &l.diff_id) {
        let layer = store
            .layer(diff_id)
            .map_err(|source| RootfsError::Store {
                image: image.id().clone(),
                source,
            })?
            .ok_or_else(|| RootfsError::MissingLayer {
                image: image.id().clone(),
                diff_id: diff_id.clone(),
            })?;
        lowers.push(layer.path);
    }
    if lowers.len() > MAX_LAYERS {
        return Err(RootfsError::TooManyLayers {
            image: image.id().clone(),
            count: lowers.len(),
        });
    }
    fs::create_dir_all(container_dir).at("creating", container_dir)?;
    if lowers.is_empty() {
        let empty = empty_lower_dir(container_dir);
        make_dir(&empty, 0o755)?;
        lowers.push(empty);
    }
    let upper = upper_dir(container_dir);
    let work = work_dir(container_dir);
    make_dir(&upper, 0o755)?;
    make_dir(&work, 0o700)?;
    if !target.is_dir() {
        fs::create_dir_all(target).at("creating", target)?;
    }
    mount_overlay(&lowers, &upper, &work, target)
}

/// How [`mount_overlay_with`] talks to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    /// fsopen + `lowerdir+` (Linux ≥ 6.8).
    NewApi,
    /// mount(2), lowers named `/proc/self/fd/N`.
    Legacy,
}

/// Mounts an overlay of `lowers` (top first) at `target`: with the new
/// mount API where overlayfs has `lowerdir+`, else (or where fsopen is
/// missing or forbidden) with mount(2).
pub fn mount_overlay(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    // Decided by version, not by trying: before 6.5 overlayfs took fsconfig
    // keys blindly and failed only at create time, with the same EINVAL a
    // real error gives.
    let first = if kernel_has_lowerdir_plus() {
        Method::NewApi
    } else {
        Method::Legacy
    };
    match mount_overlay_with(first, lowers, upper, work, target) {
        Err(Fallback::Unsupported(why)) => {
            tracing::debug!(%why, "new mount API unavailable for overlay; using mount(2)");
            mount_overlay_with(Method::Legacy, lowers, upper, work, target)
                .map_err(Fallback::into_error)
        }
        other => other.map_err(Fallback::into_error),
    }
}

/// Whether the running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let maj: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let min: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (maj, min) >= (major, minor)
}

/// overlayfs learned `lowerdir+` in Linux 6.8.
fn kernel_has_lowerdir_plus() -> bool {
    kernel_at_least(6, 8)
}

/// A failed mount attempt: either the method is not available on this
/// kernel (so try the next) or a real error.
#[derive(Debug)]
pub(crate) enum Fallback {
    Unsupported(String),
    Failed(RootfsError),
}

impl Fallback {
    fn into_error(self) -> RootfsError {
        match self {
            Fallback::Failed(e) => e,
            Fallback::Unsupported(why) => RootfsError::Mount {
                target: PathBuf::new(),
                step: "overlay".into(),
                detail: String::new(),
                source: io::Error::new(io::ErrorKind::Unsupported, why),
            },
        }
    }
}

pub(crate) fn mount_overlay_with(
    method: Method,
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> std::result::Result<(), Fallback> {
    match method {
        Method::NewApi => mount_new_api(lowers, upper, work, target),
        Method::Legacy => mount_legacy(lowers, upper, work, target).map_err(Fallback::Failed),
    }
}

// The new mount API's ABI (include/uapi/linux/mount.h), stable since 5.2.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

fn cstr(s: &[u8]) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

/// Drains the messages the kernel queued on an fs context fd ("e overlayfs:
/// failed to resolve '…': -2"), for the error shown to the user.
fn fs_context_messages(fd: BorrowedFd<'_>) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: reading into a local buffer from a valid fd.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let msg = String::from_utf8_lossy(&buf[..n as usize])
            .trim()
            .to_string();
        // Each message starts with a severity letter: "e ", "w " or "i ".
        match msg.split_once(' ') {
            Some((level, text)) if level.len() == 1 => out.push(text.to_string()),
            _ => out.push(msg),
        }
    }
    if out.is_empty() {
        String::new()
    } else {
        format!("; kernel: {}", out.join("; "))
    }
}

fn mount_new_api(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> std::result::Result<(), Fallback> {
    let failed = |step: String, detail: String, source: io::Error| {
        Fallback::Failed(RootfsError::Mount {
            target: target.to_path_buf(),
            step,
            detail,
            source,
        })
    };
    let fstype = c"overlay";
    // SAFETY: NUL-terminated string, flags per the ABI.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) => {
                Err(Fallback::Unsupported(format!("fsopen: {e}")))
            }
            _ => Err(failed("fsopen(overlay)".into(), String::new(), e)),
        };
    }
    // SAFETY: the syscall just returned this fd, which nothing else owns.
    let fs_fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let set = |key: &str, value: &[u8]| -> io::Result<()> {
        let k = cstr(key.as_bytes())?;
        let v = cstr(value)?;
        // SAFETY: valid fd and NUL-terminated key/value.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs_fd.as_raw_fd(),
                FSCONFIG_SET_STRING,
                k.as_ptr(),
                v.as_ptr(),
                0,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    for lower in lowers {
        if let Err(e) = set("lowerdir+", lower.as_os_str().as_bytes()) {
            let detail = fs_context_messages(fs_fd.as_fd());
            return Err(failed(
                format!("lower layer {}", lower.display()),
                detail,
                e,
            ));
        }
    }
    for (key, dir) in [("upperdir", upper), ("workdir", work)] {
        if let Err(e) = set(key, dir.as_os_str().as_bytes()) {
            let detail = fs_context_messages(fs_fd.as_fd());
            return Err(failed(format!("{key} {}", dir.display()), detail, e));
        }
    }
    // What mountinfo shows as the source, as for `mount -t overlay overlay`.
    if let Err(e) = set("source", b"overlay") {
        let detail = fs_context_messages(fs_fd.as_fd());
        return Err(failed("source".into(), detail, e));
    }
    // No inode index: lowers are shared by many containers and the index
    // would tie them to the first upper dir (Docker mounts with index=off).
    if set("index", b"off").is_err() {
        // Kernels without the option behave as index=off anyway.
        let _ = fs_context_messages(fs_fd.as_fd());
    }
    // SAFETY: valid fd; the other arguments are null as the command requires.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs_fd.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        let mut detail = fs_context_messages(fs_fd.as_fd());
        if detail.is_empty() {
            // overlayfs logs its checks of the directories to the kernel log only.
            detail = "; the kernel log (dmesg) has overlayfs' reason".into();
        }
        return Err(failed("creating the overlay".into(), detail, e));
    }
    // SAFETY: valid fs context fd.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fs_fd.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if m < 0 {
        let e = io::Error::last_os_error();
        let detail = fs_context_messages(fs_fd.as_fd());
        return Err(failed("fsmount".into(), detail, e));
    }
    // SAFETY: the syscall just returned this fd.
    let mnt_fd = unsafe { OwnedFd::from_raw_fd(m as libc::c_int) };
    let target_c = cstr(target.as_os_str().as_bytes())
        .map_err(|e| failed("target".into(), String::new(), e))?;
    let empty = c"";
    // SAFETY: valid fds and NUL-terminated paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt_fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(failed(
            "attaching the mount".into(),
            String::new(),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// `/proc/self/fd/N` for an fd we hold open on `dir`: short, and pinned to
/// the directory we opened.
fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// How mount(2) options name a directory: by its absolute path where that
/// is safe in an option string, so /proc/self/mountinfo shows the real
/// upper dir (which [`remove_container_fs`] checks); else through an fd.
enum Named {
    Path(String),
    Fd(OwnedFd),
}

impl Named {
    fn new(dir: &Path) -> Result<Named> {
        match dir.to_str() {
            Some(s) if s.starts_with('/') && !s.contains([',', ':', '\\', '\n']) => {
                Ok(Named::Path(s.to_string()))
            }
            _ => open_path_fd(dir).map(Named::Fd),
        }
    }

    fn text(&self) -> String {
        match self {
            Named::Path(p) => p.clone(),
            Named::Fd(fd) => fd_path(fd),
        }
    }
}

fn open_path_fd(dir: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| PathError::new("opening", dir, e.into()).into())
}

/// The mount(2) option string: the lowers (top first) through fds, which
/// keeps 100 layers at ~1.8 kB whatever the store's path.
fn legacy_options(lowers: &[OwnedFd], upper: &Named, work: &Named, index_off: bool) -> String {
    let lower: Vec<String> = lowers.iter().map(fd_path).collect();
    let mut opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.text(),
        work.text()
    );
    if index_off {
        opts.push_str(",index=off");
    }
    opts
}

fn mount_legacy(lowers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let fds = lowers
        .iter()
        .map(|l| open_path_fd(l))
        .collect::<Result<Vec<_>>>()?;
    let (upper, work) = (Named::new(upper)?, Named::new(work)?);
    let mut last = Errno::EINVAL;
    for index_off in [true, false] {
        let opts = legacy_options(&fds, &upper, &work, index_off);
        if opts.len() > MOUNT_DATA_MAX {
            return Err(RootfsError::Mount {
                target: target.to_path_buf(),
                step: format!("{} layers", lowers.len()),
                detail: String::new(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("mount options take {} bytes, over one page", opts.len()),
                ),
            });
        }
        match nix::mount::mount(
            Some("overlay"),
            target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        ) {
            Ok(()) => return Ok(()),
            // Kernels before 4.13 reject `index`.
            Err(Errno::EINVAL) if index_off => last = Errno::EINVAL,
            Err(e) => {
                last = e;
                break;
            }
        }
    }
    Err(RootfsError::Mount {
        target: target.to_path_buf(),
        step: "mount(overlay)".into(),
        detail: String::new(),
        source: last.into(),
    })
}

/// Unmounts the root filesystem at `target`. Not mounted (or missing) is
/// success, so cleanup can be repeated. A busy mount (a process still has a
/// cwd or file in it) is detached lazily, with a warning: it goes away when
/// the last user does.
pub fn unmount_rootfs(target: &Path) -> Result<()> {
    match umount2(target, MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) => Ok(()),
        Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => {
            tracing::warn!(target = %target.display(), "root filesystem busy; detaching it lazily");
            umount2(target, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW).map_err(|e| {
                RootfsError::Unmount {
                    target: target.to_path_buf(),
                    source: e.into(),
                }
            })
        }
        Err(e) => Err(RootfsError::Unmount {
            target: target.to_path_buf(),
            source: e.into(),
        }),
    }
}

/// Whether a mounted overlay names `upper` as its upper dir.
fn upper_in_use(upper: &Path) -> Result<bool> {
    let mi = Path::new("/proc/self/mountinfo");
    let text = fs::read_to_string(mi).at("reading", mi)?;
    let want = upper.as_os_str().to_string_lossy();
    Ok(text.lines().any(|line| {
        let Some((_, rest)) = line.split_once(" - ") else {
            return false;
        };
        let mut f = rest.split(' ');
        if f.next() != Some("overlay") {
            return false;
        }
        let super_opts = f.nth(1).unwrap_or("");
        super_opts
            .split(',')
            .filter_map(|o| o.strip_prefix("upperdir="))
            .any(|u| crate::sys::mountinfo::unescape(u) == want)
    }))
}

/// Removes the container's writable layer (`upper/`, `work/` and the empty
/// lower of a layerless image). Copes with read-only directories and
/// overlay whiteout devices; refuses while an overlay still uses `upper/`.
pub fn remove_container_fs(container_dir: &Path) -> Result<()> {
    let upper = upper_dir(container_dir);
    if upper_in_use(&upper)? {
        return Err(RootfsError::StillMounted { path: upper });
    }
    for dir in [
        upper,
        work_dir(container_dir),
        empty_lower_dir(container_dir),
    ] {
        crate::image::unpack::remove_tree(&dir)?;
    }
    Ok(())
}

// ---- volume seeding ----

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

fn open_dir_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(crate::sys::confined::open_dir_at(dir, name)?)
}

/// Names in a directory, without `.` and `..`, sorted (for a stable order).
fn dir_names(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    // A fresh open: a dup would share (and move) the caller's offset.
    let fd = open_dir_at(dir, b".")?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for ent in d.iter() {
        let n = ent?.file_name().to_bytes().to_vec();
        if n != b"." && n != b".." {
            out.push(n);
        }
    }
    out.sort();
    Ok(out)
}

/// Copies xattrs, except overlayfs' own. A destination that cannot hold one
/// (ENOTSUP, or EPERM for a namespace we may not write) is tolerated, as
/// Docker tolerates it.
fn copy_xattrs(src: &Node<'_>, dst: &Node<'_>) -> io::Result<()> {
    for key in src.list()? {
        if key.starts_with(b"trusted.overlay.") || key.starts_with(b"user.overlay.") {
            continue;
        }
        let value = match src.get(&key) {
            Ok(v) => v,
            // Removed since listing, or not readable by design (some security.*).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA) | Some(libc::ENOTSUP)) => {
                continue
            }
            Err(e) => return Err(e),
        };
        match dst.set(&key, &value) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => {
                tracing::debug!(key = %String::from_utf8_lossy(&key), "xattr not copied: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

struct Copier {
    /// The volume root, for hard links to files copied earlier.
    dst_root: OwnedFd,
    /// (dev, ino) of multiply-linked source files → their path in the volume.
    links: HashMap<(u64, u64), PathBuf>,
}

impl Copier {
    /// Copies the entries of `src` into `dst` (both open directories), `rel`
    /// being their path relative to the volume. Nothing is followed: each
    /// entry is reached with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW from its
    /// parent's fd. Errors carry the path of the entry that failed.
    fn copy_dir(
        &mut self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        rel: &Path,
    ) -> std::result::Result<(), (PathBuf, io::Error)> {
        let names = dir_names(src).map_err(|e| (rel.to_path_buf(), e))?;
        for name in names {
            let path = rel.join(os(&name));
            let at = |e: io::Error| (path.clone(), e);
            if let Some((s, d, st)) = self.copy_entry(src, dst, &name, &path).map_err(at)? {
                self.copy_dir(s.as_fd(), d.as_fd(), &path)?;
                finish_dir(&s, &d, &st).map_err(at)?;
            }
        }
        Ok(())
    }

    /// Copies one entry; for a directory, only creates it and returns both
    /// open directories for the caller to fill and then finish.
    fn copy_entry(
        &mut self,
        src: BorrowedFd<'_>,
        dst: BorrowedFd<'_>,
        name: &[u8],
        path: &Path,
    ) -> io::Result<Option<(OwnedFd, OwnedFd, FileStat)>> {
        let st = fstatat(src, os(name), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = st.st_mode & libc::S_IFMT;
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        let (atime, mtime) = times(&st);
        let owner = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        match kind {
            libc::S_IFDIR => {
                // Private until finished: its real mode may not let us fill it.
                mkdirat(dst, os(name), Mode::from_bits_truncate(0o700))?;
                let s = open_dir_at(src, name)?;
                let d = open_dir_at(dst, name)?;
                return Ok(Some((s, d, st)));
            }
            libc::S_IFREG => {
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                        linkat(
                            self.dst_root.as_fd(),
                            first.as_path(),
                            dst,
                            os(name),
                            AtFlags::empty(),
                        )?;
                        return Ok(None);
                    }
                    self.links
                        .insert((st.st_dev, st.st_ino), path.to_path_buf());
                }
                let s = openat(
                    src,
                    os(name),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                let d = confined::create_file_at(dst, name, Mode::from_bits_truncate(0o600))?;
                let mut sf = fs::File::from(s);
                let mut df = fs::File::from(d);
                // std uses copy_file_range/sendfile here when it can.
                io::copy(&mut sf, &mut df)?;
                // chown before chmod: chown clears set-id bits.
                fchown(df.as_fd(), owner.0, owner.1)?;
                fchmod(df.as_fd(), perm)?;
                copy_xattrs(&Node::Fd(sf.as_fd()), &Node::Fd(df.as_fd()))?;
                futimens(df.as_fd(), &atime, &mtime)?;
            }
            libc::S_IFLNK => {
                // Copied as a link, never resolved: its target means
                // something only inside the container.
                let target = readlinkat(src, os(name))?;
                symlinkat(target.as_os_str(), dst, os(name))?;
                fchownat(
                    dst,
                    os(name),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                copy_xattrs(&Node::At(src, name), &Node::At(dst, name))?;
                utimensat(
                    dst,
                    os(name),
                    &atime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )?;
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO | libc::S_IFSOCK => {
                let sflag = SFlag::from_bits_truncate(kind);
                mknodat(dst, os(name), sflag, perm, st.st_rdev)?;
                fchownat(
                    dst,
                    os(name),
                    owner.0,
                    owner.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
                // mknod applied the umask; not a symlink, so following is moot.
                fchmodat(dst, os(name), perm, FchmodatFlags::FollowSymlink)?;
                copy_xattrs(&Node::At(src, name), &Node::At(dst, name))?;
                utimensat(
                    dst,
                    os(name),
                    &atime,
                    &mtime,
                    UtimensatFlags::NoFollowSymlink,
                )?;
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("unknown file type {kind:o}"),
                ))
            }
        }
        Ok(None)
    }
}

/// Gives a filled directory its source's owner, mode, xattrs and times.
fn finish_dir(src: &OwnedFd, dst: &OwnedFd, st: &FileStat) -> io::Result<()> {
    fchown(
        dst.as_fd(),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    fchmod(dst.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    copy_xattrs(&Node::Fd(src.as_fd()), &Node::Fd(dst.as_fd()))?;
    // Last: filling the directory changed its mtime.
    let (atime, mtime) = times(st);
    futimens(dst.as_fd(), &atime, &mtime)?;
    Ok(())
}

/// Seeds an empty named volume from the image, as Docker does the first
/// time a volume is mounted (unless `nocopy`): when `target_in_container`
/// exists in `rootfs` as a directory and `volume_data` is empty, copies its
/// content with modes, owners, times, xattrs, symlinks (as links) and hard
/// links, and gives `volume_data` the target directory's owner and mode
/// (postgres' data dir owned by postgres). Returns whether it copied.
///
/// The target is resolved as inside the container: symlinks are followed
/// but never out of `rootfs`.
pub fn seed_volume(rootfs: &Path, target_in_container: &str, volume_data: &Path) -> Result<bool> {
    let seed_err = |path: PathBuf, source: io::Error| RootfsError::Seed {
        volume: volume_data.to_path_buf(),
        target: target_in_container.to_string(),
        path,
        source,
    };
    let dst_root = nix::fcntl::open(
        volume_data,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .at("opening", volume_data)?;
    if !dir_names(dst_root.as_fd())
        .at("reading", volume_data)?
        .is_empty()
    {
        return Ok(false);
    }
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .at("opening", rootfs)?;
    // As the container would see it: symlinks are followed, but `/` and
    // `..` stay at `rootfs`, so an image's symlink to `/etc` means the
    // image's /etc, never the host's.
    let found = match confined::open(
        root.as_fd(),
        target_in_container,
        OFlag::O_PATH,
        Confine::InRoot,
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(false),
        Err(e) => return Err(seed_err(PathBuf::new(), e.into())),
    };
    let st = fstat(found.as_fd()).map_err(|e| seed_err(PathBuf::new(), e.into()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Ok(false);
    }
    // From the O_PATH handle to a readable one, without another lookup.
    let src = open_dir_at(found.as_fd(), b".").map_err(|e| seed_err(PathBuf::new(), e))?;
    let mut copier = Copier {
        dst_root: dst_root
            .try_clone()
            .map_err(|e| seed_err(PathBuf::new(), e))?,
        links: HashMap::new(),
    };
    copier
        .copy_dir(src.as_fd(), dst_root.as_fd(), Path::new(""))
        .map_err(|(p, e)| seed_err(p, e))?;
    // The volume's root takes the target directory's owner and mode.
    let root_meta = (|| -> io::Result<()> {
        fchown(
            dst_root.as_fd(),
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        )?;
        fchmod(
            dst_root.as_fd(),
            Mode::from_bits_truncate(st.st_mode & 0o7777),
        )?;
        copy_xattrs(&Node::Fd(src.as_fd()), &Node::Fd(dst_root.as_fd()))
    })();
    root_meta.map_err(|e| seed_err(PathBuf::from("."), e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::store::{LayerRecord, Platform};
    use crate::image::unpack::{unpack_layer, UnpackOptions};
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use tar::{Builder, EntryType, Header};

    /// (type, path, mode, uid = gid, data or link target)
    type Entry<'a> = (EntryType, &'a str, u32, u64, &'a [u8]);

    fn tar_of(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut b = Builder::new(Vec::new());
        for (kind, path, mode, owner, data) in entries {
            let mut h = Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_path(path).expect("path");
            h.set_mode(*mode);
            h.set_uid(*owner);
            h.set_gid(*owner);
            h.set_mtime(1_700_000_000);
            if *kind == EntryType::Symlink {
                h.set_link_name(std::str::from_utf8(data).expect("utf8"))
                    .expect("link");
                h.set_size(0);
                h.set_cksum();
                b.append(&h, &[][..]).expect("append");
            } else {
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, *data).expect("append");
            }
        }
        b.into_inner().expect("tar")
    }

    /// Commits `tar` to the store as a layer, through the unpacker.
    fn commit_layer(store: &ImageStore, tar: &[u8]) -> LayerRecord {
        let diff_id = Digest::sha256_of(tar);
        let builder = store.begin_layer(&diff_id).expect("begin");
        let stats = unpack_layer(tar, &builder.path(), &UnpackOptions::default()).expect("unpack");
        assert_eq!(stats.diff_id, diff_id);
        let info = builder.commit().expect("commit");
        LayerRecord {
            blob_digest: diff_id.clone(),
            media_type: crate::image::unpack::OCI_LAYER_TAR.into(),
            diff_id,
            compressed_size: tar.len() as u64,
            size: info.size,
        }
    }

    fn image(layers: Vec<LayerRecord>) -> ImageRecord {
        ImageRecord {
            references: vec!["test/rootfs:latest".into()],
            repo_digests: vec![],
            manifest_digest: Digest::sha256_of(format!("{layers:?}").as_bytes()),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            index_digest: None,
            config_digest: Digest::sha256_of(b"{}"),
            platform: Platform {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            },
            size: layers.iter().map(|l| l.size).sum(),
            layers,
            created: None,
        }
    }

    fn is_mounted(target: &Path) -> bool {
        let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let want = target.to_string_lossy();
        text.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .any(|m| crate::sys::mountinfo::unescape(m) == want)
    }

    /// Unmounts on drop, so a failing test leaves no mount behind.
    struct Mounted(PathBuf);

    impl Drop for Mounted {
        fn drop(&mut self) {
            while is_mounted(&self.0) {
                if umount2(&self.0, MntFlags::MNT_DETACH).is_err() {
                    break;
                }
            }
        }
    }

    struct Fixture {
        _tmp: tempfile::TempDir,
        store: ImageStore,
        container: PathBuf,
        target: PathBuf,
    }

    fn fixture() -> Fixture {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = ImageStore::open(tmp.path().join("store")).expect("store");
        let container = tmp.path().join("containers/c1");
        let target = container.join("rootfs");
        Fixture {
            _tmp: tmp,
            store,
            container,
            target,
        }
    }

    #[test]
    fn merged_view_hides_whiteouts_and_writes_go_to_the_upper_dir() {
        let f = fixture();
        let lower = tar_of(&[
            (EntryType::Directory, "etc/", 0o755, 0, b""),
            (EntryType::Regular, "etc/os-release", 0o644, 0, b"lower\n"),
            (EntryType::Regular, "etc/gone", 0o644, 0, b"deleted above\n"),
            (EntryType::Directory, "data/", 0o700, 999, b""),
            (EntryType::Regular, "data/x", 0o600, 999, b"x"),
        ]);
        let upper = tar_of(&[
            (EntryType::Directory, "etc/", 0o755, 0, b""),
            (EntryType::Regular, "etc/.wh.gone", 0o644, 0, b""),
            (EntryType::Regular, "etc/added", 0o644, 0, b"upper layer\n"),
        ]);
        let layers = vec![
            commit_layer(&f.store, &lower),
            commit_layer(&f.store, &upper),
        ];
        let img = image(layers);

        mount_rootfs(&f.store, &img, &f.container, &f.target).expect("mount");
        let guard = Mounted(f.target.clone());
        assert!(is_mounted(&f.target));
        let t = &f.target;
        assert_eq!(
            fs::read_to_string(t.join("etc/os-release")).expect("read"),
            "lower\n"
        );
        assert_eq!(
            fs::read_to_string(t.join("etc/added")).expect("read"),
            "upper layer\n"
        );
        assert!(
            !t.join("etc/gone").exists(),
            "whiteout must hide the lower file"
        );
        let data = fs::metadata(t.join("data")).expect("data");
        assert_eq!((data.uid(), data.mode() & 0o7777), (999, 0o700));
        assert_eq!(fs::metadata(t).expect("root").mode() & 0o7777, 0o755);

        // Writes land in the container's upper dir, never in a layer.
        fs::write(t.join("etc/new"), "written\n").expect("write");
        fs::remove_file(t.join("etc/os-release")).expect("rm");
        let up = upper_dir(&f.container);
        assert_eq!(
            fs::read_to_string(up.join("etc/new")).expect("upper"),
            "written\n"
        );
        let wh = fs::symlink_metadata(up.join("etc/os-release")).expect("whiteout");
        assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
        let lower_info = f
            .store
            .layer(&img.layers[0].diff_id)
            .expect("layer")
            .expect("some");
        assert_eq!(
            fs::read_to_string(lower_info.path.join("etc/os-release")).expect("lower"),
            "lower\n"
        );
        assert_eq!(fs::metadata(&up).expect("upper").mode() & 0o7777, 0o755);
        assert_eq!(
            fs::metadata(work_dir(&f.container)).expect("work").mode() & 0o7777,
            0o700
        );

        // Removing the container's layer while mounted is refused.
        assert!(matches!(
            remove_container_fs(&f.container),
            Err(RootfsError::StillMounted { .. })
        ));
        unmount_rootfs(&f.target).expect("unmount");
        assert!(!is_mounted(&f.target));
        unmount_rootfs(&f.target).expect("unmounting twice is fine");
        drop(guard);

        remove_container_fs(&f.container).expect("remove");
        assert!(!up.exists() && !work_dir(&f.container).exists());
        // The image's layers are untouched.
        assert!(lower_info.path.join("etc/gone").exists());
    }

    /// 100 layers: layer i adds `layer-i` and rewrites `top`.
    fn hundred_layers(store: &ImageStore) -> ImageRecord {
        let mut layers = Vec::new();
        for i in 0..100 {
            let name = format!("layer-{i}");
            let content = format!("{i}\n");
            let tar = tar_of(&[
                (EntryType::Regular, &name, 0o644, 0, content.as_bytes()),
                (EntryType::Regular, "top", 0o644, 0, content.as_bytes()),
            ]);
            layers.push(commit_layer(store, &tar));
        }
        image(layers)
    }

    fn check_hundred(target: &Path) {
        assert_eq!(fs::read_to_string(target.join("top")).expect("top"), "99\n");
        for i in 0..100 {
            assert!(target.join(format!("layer-{i}")).is_file(), "layer-{i}");
        }
    }

    #[test]
    fn a_hundred_layer_image_mounts_with_either_method() {
        let f = fixture();
        let img = hundred_layers(&f.store);
        mount_rootfs(&f.store, &img, &f.container, &f.target).expect("mount");
        let guard = Mounted(f.target.clone());
        check_hundred(&f.target);
        unmount_rootfs(&f.target).expect("unmount");
        assert!(!is_mounted(&f.target));
        drop(guard);

        // The mount(2) fallback for kernels before 6.8, forced.
        let mut lowers = Vec::new();
        for d in img.layers.iter().rev().map(|l| &l.diff_id) {
            lowers.push(f.store.layer(d).expect("layer").expect("some").path);
        }
        let fds: Vec<OwnedFd> = lowers
            .iter()
            .map(|p| open_path_fd(p).expect("open"))
            .collect();
        let up = Named::new(&upper_dir(&f.container)).expect("upper");
        let work = Named::new(&work_dir(&f.container)).expect("work");
        let opts = legacy_options(&fds, &up, &work, true);
        assert!(
            opts.len() < 2048 + 2 * 200,
            "{} bytes for 100 layers",
            opts.len()
        );
        drop(fds);
        mount_overlay_with(
            Method::Legacy,
            &lowers,
            &upper_dir(&f.container),
            &work_dir(&f.container),
            &f.target,
        )
        .expect("legacy mount");
        let guard = Mounted(f.target.clone());
        check_hundred(&f.target);
        assert!(matches!(
            remove_container_fs(&f.container),
            Err(RootfsError::StillMounted { .. })
        ));
        unmount_rootfs(&f.target).expect("unmount");
        assert!(!is_mounted(&f.target));
        drop(guard);
        remove_container_fs(&f.container).expect("remove");
    }

    #[test]
    fn the_new_mount_api_is_used_where_the_kernel_has_lowerdir_plus() {
        if !kernel_at_least(6, 8) {
            eprintln!("kernel before 6.8: mount_rootfs uses the mount(2) fallback");
            return;
        }
        let f = fixture();
        let layer = tar_of(&[(EntryType::Regular, "a", 0o644, 0, b"a")]);
        let img = image(vec![commit_layer(&f.store, &layer)]);
        let lower = f
            .store
            .layer(&img.layers[0].diff_id)
            .expect("layer")
            .expect("some")
            .path;
        let (up, work) = (upper_dir(&f.container), work_dir(&f.container));
        fs::create_dir_all(&up).expect("mkdir");
        fs::create_dir_all(&work).expect("mkdir");
        fs::create_dir_all(&f.target).expect("mkdir");
        let r = mount_overlay_with(
            Method::NewApi,
            std::slice::from_ref(&lower),
            &up,
            &work,
            &f.target,
        );
        let guard = Mounted(f.target.clone());
        assert!(r.is_ok(), "{r:?}");
        let line = fs::read_to_string("/proc/self/mountinfo")
            .expect("mountinfo")
            .lines()
            .find(|l| l.contains(&*f.target.to_string_lossy()))
            .map(str::to_string)
            .expect("mounted");
        // Absolute paths, as given; the source named as mount(8) names it.
        assert!(
            line.contains(&format!("upperdir={}", up.display())),
            "{line}"
        );
        assert!(line.contains(" - overlay overlay "), "{line}");
        unmount_rootfs(&f.target).expect("unmount");
        drop(guard);

        // Errors name the step and path, and carry the kernel's own message
        // when it gives one.
        let missing = f.container.join("no-such-layer");
        let err = match mount_overlay_with(Method::NewApi, &[missing], &up, &work, &f.target) {
            Err(Fallback::Failed(e)) => e.to_string(),
            other => panic!("expected a failure, got {other:?}"),
        };
        assert!(
            err.contains("lower layer") && err.contains("no-such-layer"),
            "{err}"
        );
        let err = match mount_overlay_with(Method::NewApi, &[lower], &up, &up, &f.target) {
            Err(Fallback::Failed(e)) => e.to_string(),
            other => panic!("expected a failure, got {other:?}"),
        };
        assert!(
            err.contains("creating the overlay") && err.contains("dmesg"),
            "{err}"
        );
        // Parameter errors come back in the fs context's own log.
        // SAFETY: fsopen/fsconfig with NUL-terminated strings.
        let fd = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: the syscall returned a fresh fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        // SAFETY: valid fd, NUL-terminated key and value.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fd.as_raw_fd(),
                FSCONFIG_SET_STRING,
                c"no-such-option".as_ptr(),
                c"x".as_ptr(),
                0,
            )
        };
        assert!(r < 0);
        assert_eq!(
            fs_context_messages(fd.as_fd()),
            "; kernel: overlay: Unknown parameter 'no-such-option'"
        );
        assert!(!is_mounted(&f.target));
        remove_container_fs(&f.container).expect("remove");
    }

    #[test]
    fn a_layerless_image_mounts_an_empty_writable_root() {
        let f = fixture();
        let img = image(vec![]);
        mount_rootfs(&f.store, &img, &f.container, &f.target).expect("mount");
        let guard = Mounted(f.target.clone());
        assert_eq!(fs::read_dir(&f.target).expect("ls").count(), 0);
        fs::write(f.target.join("hello"), "hi").expect("write");
        assert!(upper_dir(&f.container).join("hello").is_file());
        unmount_rootfs(&f.target).expect("unmount");
        drop(guard);
        remove_container_fs(&f.container).expect("remove");
        assert!(!f.container.join("empty-lower").exists());
    }

    #[test]
    fn a_missing_layer_is_a_clear_error_and_mounts_nothing() {
        let f = fixture();
        let mut img = image(vec![]);
        let tar = tar_of(&[(EntryType::Regular, "a", 0o644, 0, b"a")]);
        img.layers.push(LayerRecord {
            blob_digest: Digest::sha256_of(&tar),
            media_type: crate::image::unpack::OCI_LAYER_TAR.into(),
            diff_id: Digest::sha256_of(&tar),
            compressed_size: 1,
            size: 1,
        });
        let err = mount_rootfs(&f.store, &img, &f.container, &f.target).expect_err("missing");
        assert!(matches!(err, RootfsError::MissingLayer { .. }), "{err}");
        assert!(!is_mounted(&f.target));
    }

    fn chown(path: &Path, uid: u32, gid: u32) {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .expect("chown");
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn set_xattr(path: &Path, key: &str, value: &[u8]) {
        let p = cstr(path.as_os_str().as_bytes()).expect("path");
        let k = cstr(key.as_bytes()).expect("key");
        // SAFETY: NUL-terminated strings, value from a slice.
        let r = unsafe {
            libc::lsetxattr(
                p.as_ptr(),
                k.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        assert_eq!(r, 0, "setxattr: {}", io::Error::last_os_error());
    }

    fn get_xattr(path: &Path, key: &str) -> Option<Vec<u8>> {
        let p = cstr(path.as_os_str().as_bytes()).expect("path");
        let k = cstr(key.as_bytes()).expect("key");
        let mut buf = [0u8; 256];
        // SAFETY: as above, into a local buffer.
        let n =
            unsafe { libc::lgetxattr(p.as_ptr(), k.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        (n >= 0).then(|| buf[..n as usize].to_vec())
    }

    #[test]
    fn seeding_copies_content_owners_modes_links_and_the_target_dir_itself() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let rootfs = tmp.path().join("rootfs");
        let data = rootfs.join("var/lib/postgresql/data");
        fs::create_dir_all(data.join("base/1")).expect("mkdir");
        fs::write(data.join("PG_VERSION"), "16\n").expect("write");
        chown(&data.join("PG_VERSION"), 999, 998);
        chmod(&data.join("PG_VERSION"), 0o640);
        set_xattr(&data.join("PG_VERSION"), "user.wharf-test", b"kept");
        fs::write(data.join("base/1/rel"), "rows").expect("write");
        fs::hard_link(data.join("base/1/rel"), data.join("base/alias")).expect("link");
        chown(&data.join("base"), 999, 999);
        chmod(&data.join("base"), 0o750);
        std::os::unix::fs::symlink("/etc/passwd", data.join("abs-link")).expect("symlink");
        chown(&data.join("abs-link"), 999, 999);
        nix::unistd::mkfifo(&data.join("fifo"), Mode::from_bits_truncate(0o620)).expect("fifo");
        fs::set_permissions(data.join("fifo"), fs::Permissions::from_mode(0o620)).expect("chmod");
        chmod(&data.join("PG_VERSION"), 0o2640);
        chown(&data, 999, 999);
        chmod(&data, 0o700);
        // An image symlink on the way: /var/lib/pg → postgresql (relative).
        std::os::unix::fs::symlink("postgresql", rootfs.join("var/lib/pg")).expect("symlink");

        let volume = tmp.path().join("volume/_data");
        fs::create_dir_all(&volume).expect("mkdir");
        chmod(&volume, 0o755);
        assert!(seed_volume(&rootfs, "/var/lib/pg/data", &volume).expect("seed"));

        let v = |p: &str| fs::symlink_metadata(volume.join(p)).expect(p);
        let root = fs::metadata(&volume).expect("root");
        assert_eq!(
            (root.uid(), root.gid(), root.mode() & 0o7777),
            (999, 999, 0o700)
        );
        let pg = v("PG_VERSION");
        assert_eq!((pg.uid(), pg.gid(), pg.mode() & 0o7777), (999, 998, 0o2640));
        assert_eq!(
            fs::read_to_string(volume.join("PG_VERSION")).expect("read"),
            "16\n"
        );
        assert_eq!(
            get_xattr(&volume.join("PG_VERSION"), "user.wharf-test").as_deref(),
            Some(&b"kept"[..])
        );
        let src_mtime = fs::metadata(data.join("PG_VERSION")).expect("src").mtime();
        assert_eq!(pg.mtime(), src_mtime);
        let base = v("base");
        assert_eq!((base.uid(), base.mode() & 0o7777), (999, 0o750));
        assert_eq!(
            v("base/1/rel").ino(),
            v("base/alias").ino(),
            "hard link kept"
        );
        assert_eq!(v("base/1/rel").nlink(), 2);
        let link = v("abs-link");
        assert!(link.file_type().is_symlink());
        assert_eq!(link.uid(), 999);
        assert_eq!(
            fs::read_link(volume.join("abs-link")).expect("readlink"),
            Path::new("/etc/passwd")
        );
        let fifo = v("fifo");
        assert!(fifo.file_type().is_fifo());
        assert_eq!(fifo.mode() & 0o7777, 0o620);

        // A volume that already has content is left alone.
        fs::write(volume.join("PG_VERSION"), "mine\n").expect("write");
        assert!(!seed_volume(&rootfs, "/var/lib/pg/data", &volume).expect("seed"));
        assert_eq!(
            fs::read_to_string(volume.join("PG_VERSION")).expect("read"),
            "mine\n"
        );
    }

    #[test]
    fn seeding_never_follows_a_symlink_out_of_the_rootfs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // A probe directory on the "host", outside the rootfs.
        let probe = tmp.path().join("host-secret");
        fs::create_dir_all(&probe).expect("mkdir");
        fs::write(probe.join("secret"), "host data").expect("write");
        let rootfs = tmp.path().join("rootfs");
        fs::create_dir_all(&rootfs).expect("mkdir");
        // The hostile image points its volume target at the probe's absolute
        // host path, and climbs with `..` in another.
        std::os::unix::fs::symlink(&probe, rootfs.join("data")).expect("symlink");
        std::os::unix::fs::symlink("../../../../../../host-secret", rootfs.join("up"))
            .expect("symlink");
        let empty_volume = |name: &str| {
            let v = tmp.path().join(name);
            fs::create_dir_all(&v).expect("mkdir");
            v
        };

        // Resolved inside the rootfs, where that path does not exist.
        let v1 = empty_volume("v1");
        assert!(!seed_volume(&rootfs, "/data", &v1).expect("seed"));
        assert_eq!(fs::read_dir(&v1).expect("ls").count(), 0);
        let v2 = empty_volume("v2");
        assert!(!seed_volume(&rootfs, "/up", &v2).expect("seed"));
        assert!(!seed_volume(&rootfs, "/../host-secret", &v2).expect("seed"));
        assert_eq!(fs::read_dir(&v2).expect("ls").count(), 0);

        // Where the rootfs does have that path, its own content is copied.
        let inner = rootfs.join(probe.strip_prefix("/").expect("abs"));
        fs::create_dir_all(&inner).expect("mkdir");
        fs::write(inner.join("image-file"), "image data").expect("write");
        let v3 = empty_volume("v3");
        assert!(seed_volume(&rootfs, "/data", &v3).expect("seed"));
        assert_eq!(
            fs::read_to_string(v3.join("image-file")).expect("read"),
            "image data"
        );
        assert!(!v3.join("secret").exists());
        // The probe is untouched.
        assert_eq!(fs::read_dir(&probe).expect("ls").count(), 1);
    }

    #[test]
    fn seeding_from_a_mounted_image_rootfs() {
        let f = fixture();
        let layer = tar_of(&[
            (EntryType::Directory, "var/", 0o755, 0, b""),
            (EntryType::Directory, "var/lib/", 0o755, 0, b""),
            (EntryType::Directory, "var/lib/redis/", 0o750, 999, b""),
            (
                EntryType::Regular,
                "var/lib/redis/dump.rdb",
                0o640,
                999,
                b"REDIS",
            ),
        ]);
        let img = image(vec![commit_layer(&f.store, &layer)]);
        mount_rootfs(&f.store, &img, &f.container, &f.target).expect("mount");
        let guard = Mounted(f.target.clone());
        let volume = f.container.join("vol");
        fs::create_dir_all(&volume).expect("mkdir");
        assert!(seed_volume(&f.target, "var/lib/redis", &volume).expect("seed"));
        let m = fs::metadata(volume.join("dump.rdb")).expect("copied");
        assert_eq!((m.uid(), m.mode() & 0o7777), (999, 0o640));
        let root = fs::metadata(&volume).expect("root");
        assert_eq!((root.uid(), root.mode() & 0o7777), (999, 0o750));
        // A target that is not in the image copies nothing.
        let other = f.container.join("vol2");
        fs::create_dir_all(&other).expect("mkdir");
        assert!(!seed_volume(&f.target, "/srv/none", &other).expect("seed"));
        unmount_rootfs(&f.target).expect("unmount");
        drop(guard);
        remove_container_fs(&f.container).expect("remove");
    }
}
