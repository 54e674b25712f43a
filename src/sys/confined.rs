//! Opening a path inside a directory tree that must never be left: a
//! container's rootfs, a volume, an image layer being unpacked. Whatever
//! the tree holds (`..`, absolute symlinks, symlinks to `/proc/self/fd`),
//! the open stays inside it.
//!
//! [`open`] uses `openat2(2)` (Linux 5.6); on a kernel without it, the same
//! lookup is done component by component with `O_NOFOLLOW`, reading each
//! symlink and resolving its target from the root again. [`walk_dirs`] is
//! the stricter walk of the layer unpacker, which follows no symlink at all
//! and can create the directories it lacks.

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, Mode};
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// How a lookup is kept inside its root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confine {
    /// As if the root were `/` (a chroot): `..` at the root stays there and
    /// an absolute symlink starts from the root (`RESOLVE_IN_ROOT`). How a
    /// process in the container would see the path.
    InRoot,
    /// A lookup that would leave the root (`..` above it, an absolute
    /// symlink) fails with `EXDEV` (`RESOLVE_BENEATH`).
    Beneath,
}

/// The most symlinks one lookup follows, as the kernel's limit (ELOOP).
const MAX_SYMLINKS: u32 = 40;

/// Opens `path` below `root` with `flags`, confined as `confine` says (a
/// leading `/` means the root for [`Confine::InRoot`] and is refused with
/// `EXDEV` by [`Confine::Beneath`]; an empty path is `ENOENT`, as with
/// openat2). Symlinks are followed except at
/// the last component when `flags` has `O_NOFOLLOW` (and the path does not
/// end in `/`); magic links are never followed. `O_CLOEXEC` is always set.
/// `O_CREAT` is not supported.
pub fn open(
    root: BorrowedFd<'_>,
    path: impl AsRef<[u8]>,
    flags: OFlag,
    confine: Confine,
) -> nix::Result<OwnedFd> {
    let path = path.as_ref();
    let flags = flags | OFlag::O_CLOEXEC;
    let resolve = ResolveFlag::RESOLVE_NO_MAGICLINKS
        | match confine {
            Confine::InRoot => ResolveFlag::RESOLVE_IN_ROOT,
            Confine::Beneath => ResolveFlag::RESOLVE_BENEATH,
        };
    for _ in 0..16 {
        let how = OpenHow::new().flags(flags).resolve(resolve);
        match openat2(root, OsStr::from_bytes(path), how) {
            // A rename raced the lookup somewhere on the system; retry.
            Err(Errno::EAGAIN) => continue,
            Err(Errno::ENOSYS) => return open_by_walk(root, path, flags, confine),
            r => return r,
        }
    }
    Err(Errno::EAGAIN)
}

/// [`open`] of `path` below the directory `root` names.
pub fn open_at_path(
    root: &Path,
    path: impl AsRef<[u8]>,
    flags: OFlag,
    confine: Confine,
) -> io::Result<OwnedFd> {
    let dir = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Ok(open(dir.as_fd(), path, flags, confine)?)
}

/// [`open`] for kernels without openat2: one component at a time, each
/// opened with `O_NOFOLLOW` from its parent's descriptor; a symlink is read
/// and its target resolved in its place (from the root when absolute).
fn open_by_walk(
    root: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlag,
    confine: Confine,
) -> nix::Result<OwnedFd> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.starts_with(b"/") && confine == Confine::Beneath {
        return Err(Errno::EXDEV);
    }
    let follow_last = !flags.contains(OFlag::O_NOFOLLOW) || path.ends_with(b"/");
    let final_flags = if path.ends_with(b"/") {
        flags | OFlag::O_DIRECTORY
    } else {
        flags
    };
    let mut pending: VecDeque<Vec<u8>> = components(path).collect();
    // The directories walked so far; the first is the root.
    let mut dirs: Vec<OwnedFd> = vec![root.try_clone_to_owned().map_err(errno_of)?];
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        let last = pending.is_empty();
        if name == b".." {
            if dirs.len() > 1 {
                dirs.pop();
            } else if confine == Confine::Beneath {
                return Err(Errno::EXDEV);
            }
            continue;
        }
        let cur = dirs.last().ok_or(Errno::EINVAL)?.as_fd();
        let name_os = OsStr::from_bytes(&name);
        let is_link = match fstatat(cur, name_os, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st.st_mode & libc::S_IFMT == libc::S_IFLNK,
            Err(e) => return Err(e),
        };
        if is_link && (!last || follow_last) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Errno::ELOOP);
            }
            let target = nix::fcntl::readlinkat(cur, name_os)?;
            let target = target.as_bytes();
            if target.starts_with(b"/") {
                if confine == Confine::Beneath {
                    return Err(Errno::EXDEV);
                }
                dirs.truncate(1);
            }
            for c in components(target).rev() {
                pending.push_front(c);
            }
            continue;
        }
        if last {
            return openat(cur, name_os, final_flags | OFlag::O_NOFOLLOW, Mode::empty());
        }
        let next = openat(
            cur,
            name_os,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        dirs.push(next);
    }
    // The path ended at a directory already walked to (the root, `..`, a
    // symlink to a directory): open it with the caller's flags.
    let cur = dirs.last().ok_or(Errno::EINVAL)?.as_fd();
    openat(cur, ".", final_flags, Mode::empty())
}

fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
}

fn errno_of(e: io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Why [`walk_dirs`] stopped; the components named are the path up to
/// the one that failed.
#[derive(Debug)]
pub enum WalkError {
    Symlink(String),
    NotDir(String),
    Missing(String),
    Io(&'static str, io::Error),
}

/// Opens the directory `comps` below `root`, following no symlink on the
/// way (a symlinked component is an error, never a way out); missing
/// directories are made (0755, owned by us) when `create`.
pub fn walk_dirs(
    root: BorrowedFd<'_>,
    comps: &[&[u8]],
    create: bool,
) -> Result<OwnedFd, WalkError> {
    let mut cur = root
        .try_clone_to_owned()
        .map_err(|e| WalkError::Io("duplicating the root descriptor", e))?;
    for (i, c) in comps.iter().enumerate() {
        let here = || String::from_utf8_lossy(&comps[..=i].join(&b'/')).into_owned();
        let next = match open_dir_at(cur.as_fd(), c) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if create => {
                match mkdirat(
                    cur.as_fd(),
                    OsStr::from_bytes(c),
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(WalkError::Io("creating a parent directory", e.into())),
                }
                let fd = open_dir_at(cur.as_fd(), c)
                    .map_err(|e| WalkError::Io("opening a parent directory", e.into()))?;
                // Explicit, so the umask does not decide.
                fchmod(fd.as_fd(), Mode::from_bits_truncate(0o755))
                    .map_err(|e| WalkError::Io("chmod of a parent directory", e.into()))?;
                fd
            }
            Err(Errno::ENOENT) => return Err(WalkError::Missing(here())),
            Err(Errno::ELOOP | Errno::ENOTDIR) => {
                return Err(if is_symlink_at(cur.as_fd(), c) {
                    WalkError::Symlink(here())
                } else {
                    WalkError::NotDir(here())
                })
            }
            Err(e) => return Err(WalkError::Io("opening a parent directory", e.into())),
        };
        cur = next;
    }
    Ok(cur)
}

/// Opens directory `name` in `dir` for reading, not through a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &[u8]) -> nix::Result<OwnedFd> {
    openat(
        dir,
        OsStr::from_bytes(name),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Creates the new regular file `name` in `dir` for writing: never through
/// a symlink, never over an existing file.
pub fn create_file_at(dir: BorrowedFd<'_>, name: &[u8], mode: Mode) -> nix::Result<OwnedFd> {
    openat(
        dir,
        OsStr::from_bytes(name),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        mode,
    )
}

/// Whether `name` in `dir` is a symlink (false when it cannot be read).
pub fn is_symlink_at(dir: BorrowedFd<'_>, name: &[u8]) -> bool {
    fstatat(dir, OsStr::from_bytes(name), AtFlags::AT_SYMLINK_NOFOLLOW)
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
        .unwrap_or(false)
}

/// Opens the regular file `path` below `root` for reading, following no
/// symlink anywhere on the way (the layer unpacker's tree, read back).
pub fn open_file_no_follow(root: &Path, path: &[u8]) -> io::Result<File> {
    let comps: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let Some((&base, parent)) = comps.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    };
    let rootfd = nix::fcntl::open(
        root,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let dir = walk_dirs(rootfd.as_fd(), parent, false).map_err(|e| match e {
        WalkError::Symlink(c) => io::Error::other(format!("{c} is a symlink")),
        WalkError::NotDir(c) => io::Error::other(format!("{c} is not a directory")),
        WalkError::Missing(c) => io::Error::new(io::ErrorKind::NotFound, format!("{c} is missing")),
        WalkError::Io(_, e) => e,
    })?;
    let fd = openat(
        dir.as_fd(),
        OsStr::from_bytes(base),
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Opens `path` below `root` for reading, only if it is a regular file:
/// an untrusted tree (an extracted image archive) read back. The lookup is
/// [`Confine::Beneath`], so a symlink leading out of the tree is `EXDEV`
/// while one inside it is followed (Docker's own legacy archives link shared
/// layers); `O_NONBLOCK` keeps a FIFO from hanging the open, and anything
/// but a regular file (FIFO, device, directory, socket) is refused.
pub fn open_regular_beneath(root: &Path, path: &str) -> io::Result<File> {
    let fd = open_at_path(
        root,
        path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK,
        Confine::Beneath,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::EXDEV) => io::Error::new(
            io::ErrorKind::PermissionDenied,
            "a symlink or `..` leads out of the tree",
        ),
        _ => e,
    })?;
    let file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    // Back to blocking reads (only a FIFO or device would notice).
    nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_RDONLY))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A root with a file, a directory, and the symlinks a hostile image
    /// plants: absolute, relative, escaping with `..`, a loop.
    fn tree() -> (tempfile::TempDir, OwnedFd) {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::create_dir_all(root.join("data/sub")).expect("mkdir");
        std::fs::write(root.join("etc/passwd"), "inside").expect("write");
        // Beside the root: what an escape would reach.
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/passwd"), "outside").expect("write");
        symlink("/etc", root.join("abs")).expect("symlink");
        symlink("../../etc", root.join("data/up")).expect("symlink");
        symlink("sub", root.join("data/rel")).expect("symlink");
        symlink("loop", root.join("loop")).expect("symlink");
        symlink("/proc/self/root/etc", root.join("magic")).expect("symlink");
        let fd = nix::fcntl::open(
            &root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open root");
        (dir, fd)
    }

    fn read(fd: OwnedFd) -> String {
        std::fs::read_to_string(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        ))
        .expect("read")
    }

    /// Both lookups — openat2 and the walk — give the same answers.
    fn both(
        root: &OwnedFd,
        path: &str,
        flags: OFlag,
        confine: Confine,
    ) -> [nix::Result<OwnedFd>; 2] {
        [
            open(root.as_fd(), path, flags, confine),
            open_by_walk(
                root.as_fd(),
                path.as_bytes(),
                flags | OFlag::O_CLOEXEC,
                confine,
            ),
        ]
    }

    #[test]
    fn in_root_keeps_every_lookup_inside() {
        let (_dir, root) = tree();
        for path in [
            "/etc/passwd",
            "etc/passwd",
            "../../etc/passwd",
            "/abs/passwd",
            "data/up/passwd",
            "data/../../etc/./passwd",
        ] {
            for r in both(&root, path, OFlag::O_RDONLY, Confine::InRoot) {
                assert_eq!(read(r.expect(path)), "inside", "{path}");
            }
        }
        for r in both(&root, "data/rel/", OFlag::O_RDONLY, Confine::InRoot) {
            r.expect("a symlink to a directory, with a trailing slash");
        }
        // A magic link's target is only a path, looked up inside too.
        for r in both(&root, "magic/passwd", OFlag::O_RDONLY, Confine::InRoot) {
            assert_eq!(r.err(), Some(Errno::ENOENT));
        }
        for r in both(&root, "loop", OFlag::O_RDONLY, Confine::InRoot) {
            assert_eq!(r.err(), Some(Errno::ELOOP));
        }
        for r in both(&root, "etc/missing", OFlag::O_RDONLY, Confine::InRoot) {
            assert_eq!(r.err(), Some(Errno::ENOENT));
        }
        for r in both(&root, "etc/passwd/", OFlag::O_RDONLY, Confine::InRoot) {
            assert_eq!(r.err(), Some(Errno::ENOTDIR));
        }
    }

    #[test]
    fn nofollow_opens_the_last_symlink_itself() {
        let (_dir, root) = tree();
        for r in both(
            &root,
            "abs",
            OFlag::O_PATH | OFlag::O_NOFOLLOW,
            Confine::InRoot,
        ) {
            let fd = r.expect("the link");
            let st = nix::sys::stat::fstat(fd.as_fd()).expect("fstat");
            assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
        }
        for r in both(
            &root,
            "abs",
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
            Confine::InRoot,
        ) {
            assert_eq!(r.err(), Some(Errno::ELOOP));
        }
    }

    #[test]
    fn beneath_refuses_what_would_leave_the_root() {
        let (_dir, root) = tree();
        for path in ["../etc/passwd", "abs/passwd", "data/up/passwd"] {
            for r in both(&root, path, OFlag::O_RDONLY, Confine::Beneath) {
                assert_eq!(r.err(), Some(Errno::EXDEV), "{path}");
            }
        }
        for r in both(&root, "data/rel/../sub", OFlag::O_PATH, Confine::Beneath) {
            r.expect("relative links inside are fine");
        }
        for r in both(&root, "/etc", OFlag::O_PATH, Confine::Beneath) {
            assert_eq!(r.err(), Some(Errno::EXDEV));
        }
        for r in both(&root, ".", OFlag::O_PATH, Confine::Beneath) {
            r.expect("the root itself");
        }
        for r in both(&root, "", OFlag::O_PATH, Confine::InRoot) {
            assert_eq!(r.err(), Some(Errno::ENOENT));
        }
    }

    #[test]
    fn walk_dirs_follows_no_symlink_and_makes_what_is_missing() {
        let (dir, root) = tree();
        let rootfd = nix::fcntl::open(
            &dir.path().join("root"),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .expect("open");
        assert!(matches!(
            walk_dirs(rootfd.as_fd(), &[b"data", b"rel"], false),
            Err(WalkError::Symlink(c)) if c == "data/rel"
        ));
        assert!(matches!(
            walk_dirs(rootfd.as_fd(), &[b"etc", b"passwd"], false),
            Err(WalkError::NotDir(c)) if c == "etc/passwd"
        ));
        assert!(matches!(
            walk_dirs(rootfd.as_fd(), &[b"new", b"deeper"], false),
            Err(WalkError::Missing(c)) if c == "new"
        ));
        walk_dirs(rootfd.as_fd(), &[b"new", b"deeper"], true).expect("made");
        let made = dir.path().join("root/new/deeper");
        assert!(made.is_dir());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            made.metadata().expect("stat").permissions().mode() & 0o777,
            0o755
        );
        drop(root);
    }

    #[test]
    fn open_file_no_follow_reads_only_regular_files_inside() {
        let (dir, _root) = tree();
        let root = dir.path().join("root");
        let mut text = String::new();
        io::Read::read_to_string(
            &mut open_file_no_follow(&root, b"etc/passwd").expect("open"),
            &mut text,
        )
        .expect("read");
        assert_eq!(text, "inside");
        assert!(open_file_no_follow(&root, b"abs/passwd").is_err());
        assert!(open_file_no_follow(&root, b"data").is_err());
        assert_eq!(
            open_file_no_follow(&root, b"nothing/x")
                .expect_err("missing")
                .kind(),
            io::ErrorKind::NotFound
        );
    }
}
