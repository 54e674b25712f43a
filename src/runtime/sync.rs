//! `watch`'s sync: one host path made the same at one path of a running
//! container, the way `docker compose watch` syncs a changed file.
//!
//! Lookups go through the container root `wharf cp` opens
//! ([`ContainerFs`]) with `RESOLVE_IN_ROOT`, so a symlink in the container
//! resolves as the container sees it and never leads out of it. A file is
//! written to a temporary name in its directory and renamed over the old
//! one, so a process in the container reads the old content or the new,
//! never half of it. A path gone from the host is removed in the container.

use super::copy::ContainerFs;
use crate::image::unpack::remove_dir_at;
use crate::sys::confined::{self, create_file_at, Confine};
use nix::errno::Errno;
use nix::fcntl::{renameat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstat, fstatat, mkdirat, Mode};
use nix::unistd::{fchown, fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync target {target:?} is not an absolute path")]
    RelativeTarget { target: String },
    #[error("sync target {target:?} leaves the root of container {container}")]
    OutsideRoot { container: String, target: String },
    #[error("reading {}: {source}", host.display())]
    Host {
        host: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{action} {target} in container {container}: {source}")]
    Container {
        action: &'static str,
        container: String,
        target: String,
        #[source]
        source: io::Error,
    },
}

pub type Result<T> = std::result::Result<T, SyncError>;

/// Who owns what a sync creates in a directory that belongs to the
/// container's user (elsewhere: root, as `docker cp` leaves it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// What a sync did to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synced {
    Written,
    Directory,
    Removed,
    /// Nothing there to remove, or a host entry that is not a file, a
    /// directory or a symlink (a socket, a fifo).
    Nothing,
}

/// Makes `target` in `fs` what `host` is now: a file (content and mode),
/// a directory (created with its mode when missing; its entries are synced
/// one by one by the caller), a symlink, or, when `host` is gone, nothing.
pub fn sync_path(
    fs: &ContainerFs,
    host: &Path,
    target: &str,
    owner: Option<Owner>,
) -> Result<Synced> {
    let comps = components(fs, target)?;
    let meta = match std::fs::symlink_metadata(host) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(SyncError::Host {
                host: host.to_path_buf(),
                source,
            })
        }
    };
    let Some((name, parent)) = comps.split_last() else {
        // The container's root itself: only its entries can be synced.
        return Ok(if meta.as_ref().is_some_and(|m| m.is_dir()) {
            Synced::Directory
        } else {
            Synced::Nothing
        });
    };
    let err = |action: &'static str| {
        move |source: io::Error| SyncError::Container {
            action,
            container: fs.name().to_string(),
            target: target.to_string(),
            source,
        }
    };
    let Some(meta) = meta else {
        let Some(dir) = open_dir(fs, parent).map_err(err("opening the directory of"))? else {
            return Ok(Synced::Nothing);
        };
        return remove_entry(dir.as_fd(), name).map_err(err("removing"));
    };
    let dir = make_dirs(fs, parent, owner).map_err(err("creating the directory of"))?;
    let dir = dir.as_fd();
    let ft = meta.file_type();
    if ft.is_dir() {
        let mode = meta.permissions().mode() & 0o7777;
        make_dir_at(dir, name, mode, owner).map_err(err("creating directory"))?;
        return Ok(Synced::Directory);
    }
    if !ft.is_file() && !ft.is_symlink() {
        return Ok(Synced::Nothing);
    }
    let tmp = temp_name(name);
    let placed = if ft.is_file() {
        write_temp(dir, &tmp, host, &meta, owner)
    } else {
        link_temp(dir, &tmp, host, owner)
    };
    let replaced = placed.and_then(|()| replace(dir, &tmp, name));
    if let Err(e) = replaced {
        let _ = unlinkat(dir, OsStr::from_bytes(&tmp), UnlinkatFlags::NoRemoveDir);
        return Err(match e {
            Placement::Host(source) => SyncError::Host {
                host: host.to_path_buf(),
                source,
            },
            Placement::Container(source) => err("writing")(source),
        });
    }
    Ok(Synced::Written)
}

/// The target's components; `..` is refused rather than resolved, so a
/// mapping can never name a place above the root it was meant for.
fn components<'a>(fs: &ContainerFs, target: &'a str) -> Result<Vec<&'a [u8]>> {
    if !target.starts_with('/') {
        return Err(SyncError::RelativeTarget {
            target: target.to_string(),
        });
    }
    let comps: Vec<&[u8]> = target
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::as_bytes)
        .collect();
    if comps.contains(&b"..".as_slice()) {
        return Err(SyncError::OutsideRoot {
            container: fs.name().to_string(),
            target: target.to_string(),
        });
    }
    Ok(comps)
}

fn in_root(comps: &[&[u8]]) -> Vec<u8> {
    let mut p = Vec::new();
    for c in comps {
        p.push(b'/');
        p.extend_from_slice(c);
    }
    if p.is_empty() {
        p.push(b'/');
    }
    p
}

/// The directory `comps` names in the container, if it exists.
fn open_dir(fs: &ContainerFs, comps: &[&[u8]]) -> io::Result<Option<OwnedFd>> {
    match confined::open(
        fs.root(),
        in_root(comps),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Confine::InRoot,
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The directory `comps` names, made (0755) where missing. Each level is
/// looked up again from the root, so a symlink planted meanwhile still
/// resolves inside the container.
fn make_dirs(fs: &ContainerFs, comps: &[&[u8]], owner: Option<Owner>) -> io::Result<OwnedFd> {
    if let Some(fd) = open_dir(fs, comps)? {
        return Ok(fd);
    }
    let mut cur = open_dir(fs, &[])?.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    for i in 0..comps.len() {
        let next = match open_dir(fs, &comps[..=i])? {
            Some(fd) => fd,
            None => {
                // A dangling symlink (or a file) in the way is the
                // container's: left alone, the sync fails.
                if fstatat(
                    cur.as_fd(),
                    OsStr::from_bytes(comps[i]),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .is_ok()
                {
                    return Err(Errno::ENOTDIR.into());
                }
                make_dir_at(cur.as_fd(), comps[i], 0o755, owner)?;
                open_dir(fs, &comps[..=i])?
                    .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?
            }
        };
        cur = next;
    }
    Ok(cur)
}

/// Makes directory `name` in `dir` with `mode` unless it is one already.
fn make_dir_at(
    dir: BorrowedFd<'_>,
    name: &[u8],
    mode: u32,
    owner: Option<Owner>,
) -> io::Result<()> {
    match mkdirat(dir, OsStr::from_bytes(name), Mode::from_bits_truncate(mode)) {
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            let st = fstatat(dir, OsStr::from_bytes(name), AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                return Ok(());
            }
            // A file where the host now has a directory.
            unlinkat(dir, OsStr::from_bytes(name), UnlinkatFlags::NoRemoveDir)?;
            mkdirat(dir, OsStr::from_bytes(name), Mode::from_bits_truncate(mode))?;
        }
        Err(e) => return Err(e.into()),
    }
    let fd = confined::open_dir_at(dir, name)?;
    // Explicit, so the umask does not decide.
    fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))?;
    if let Some(o) = owner_for(dir, owner)? {
        fchown(
            fd.as_fd(),
            Some(Uid::from_raw(o.uid)),
            Some(Gid::from_raw(o.gid)),
        )?;
    }
    Ok(())
}

/// `owner` when the directory belongs to that user, else nobody to chown to.
fn owner_for(dir: BorrowedFd<'_>, owner: Option<Owner>) -> io::Result<Option<Owner>> {
    let Some(o) = owner else { return Ok(None) };
    let st = fstat(dir)?;
    Ok((st.st_uid == o.uid && o.uid != 0).then_some(o))
}

/// `.NAME.wharf-sync-PID`: hidden, and one per watching process.
fn temp_name(name: &[u8]) -> Vec<u8> {
    let mut t = b".".to_vec();
    t.extend_from_slice(name);
    t.extend_from_slice(format!(".wharf-sync-{}", std::process::id()).as_bytes());
    t
}

/// Which side a failed write stems from.
enum Placement {
    Host(io::Error),
    Container(io::Error),
}

impl From<Errno> for Placement {
    fn from(e: Errno) -> Self {
        Placement::Container(e.into())
    }
}

fn write_temp(
    dir: BorrowedFd<'_>,
    tmp: &[u8],
    host: &Path,
    meta: &std::fs::Metadata,
    owner: Option<Owner>,
) -> std::result::Result<(), Placement> {
    let mut src = File::open(host).map_err(Placement::Host)?;
    let _ = unlinkat(dir, OsStr::from_bytes(tmp), UnlinkatFlags::NoRemoveDir);
    let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
    let fd = create_file_at(dir, tmp, Mode::from_bits_truncate(0o600))?;
    let mut out = File::from(fd);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Placement::Host(e)),
        };
        out.write_all(&buf[..n]).map_err(Placement::Container)?;
    }
    fchmod(out.as_fd(), mode)?;
    if let Some(o) = owner_for(dir, owner).map_err(Placement::Container)? {
        fchown(
            out.as_fd(),
            Some(Uid::from_raw(o.uid)),
            Some(Gid::from_raw(o.gid)),
        )?;
        // chown clears set-id bits: put the host's mode back.
        fchmod(out.as_fd(), mode)?;
    }
    Ok(())
}

fn link_temp(
    dir: BorrowedFd<'_>,
    tmp: &[u8],
    host: &Path,
    owner: Option<Owner>,
) -> std::result::Result<(), Placement> {
    let to = std::fs::read_link(host).map_err(Placement::Host)?;
    let _ = unlinkat(dir, OsStr::from_bytes(tmp), UnlinkatFlags::NoRemoveDir);
    symlinkat(to.as_os_str(), dir, OsStr::from_bytes(tmp))?;
    if let Some(o) = owner_for(dir, owner).map_err(Placement::Container)? {
        fchownat(
            dir,
            OsStr::from_bytes(tmp),
            Some(Uid::from_raw(o.uid)),
            Some(Gid::from_raw(o.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
    }
    Ok(())
}

/// Renames `tmp` over `name`; a directory in the way is removed first.
fn replace(dir: BorrowedFd<'_>, tmp: &[u8], name: &[u8]) -> std::result::Result<(), Placement> {
    let (from, to) = (OsStr::from_bytes(tmp), OsStr::from_bytes(name));
    match renameat(dir, from, dir, to) {
        Err(Errno::EISDIR | Errno::ENOTEMPTY | Errno::EEXIST) => {
            remove_dir_at(dir, name).map_err(Placement::Container)?;
            renameat(dir, from, dir, to)?;
            Ok(())
        }
        r => Ok(r?),
    }
}

/// Removes `name` in `dir`, a whole tree if it is a directory.
fn remove_entry(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Synced> {
    match unlinkat(dir, OsStr::from_bytes(name), UnlinkatFlags::NoRemoveDir) {
        Ok(()) => Ok(Synced::Removed),
        Err(Errno::ENOENT) => Ok(Synced::Nothing),
        Err(Errno::EISDIR) => {
            remove_dir_at(dir, name)?;
            Ok(Synced::Removed)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, ContainerFs) {
        let t = tempfile::tempdir().expect("tmp");
        let host = t.path().join("host");
        let root = t.path().join("root");
        std::fs::create_dir_all(&host).expect("mkdir");
        std::fs::create_dir_all(root.join("app")).expect("mkdir");
        let fs = ContainerFs::at_dir(&root, "web-1");
        (t, host, root, fs)
    }

    #[test]
    fn a_file_is_replaced_whole_with_its_mode_and_no_temp_is_left() {
        let (_t, host, root, fs) = setup();
        std::fs::write(host.join("a.py"), "new").expect("write");
        std::fs::set_permissions(host.join("a.py"), std::fs::Permissions::from_mode(0o750))
            .expect("chmod");
        std::fs::write(root.join("app/a.py"), "old").expect("write");
        let r = sync_path(&fs, &host.join("a.py"), "/app/a.py", None).expect("sync");
        assert_eq!(r, Synced::Written);
        assert_eq!(
            std::fs::read_to_string(root.join("app/a.py")).expect("read"),
            "new"
        );
        let mode = std::fs::metadata(root.join("app/a.py"))
            .expect("stat")
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o750);
        let names: Vec<_> = std::fs::read_dir(root.join("app"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.py")]);
    }

    #[test]
    fn missing_directories_are_made_and_a_gone_file_is_removed() {
        let (_t, host, root, fs) = setup();
        std::fs::create_dir_all(host.join("pkg/sub")).expect("mkdir");
        std::fs::write(host.join("pkg/sub/m.py"), "x").expect("write");
        sync_path(&fs, &host.join("pkg/sub/m.py"), "/app/pkg/sub/m.py", None).expect("sync");
        assert_eq!(
            std::fs::read_to_string(root.join("app/pkg/sub/m.py")).expect("read"),
            "x"
        );
        std::fs::remove_file(host.join("pkg/sub/m.py")).expect("rm");
        let r =
            sync_path(&fs, &host.join("pkg/sub/m.py"), "/app/pkg/sub/m.py", None).expect("sync");
        assert_eq!(r, Synced::Removed);
        assert!(!root.join("app/pkg/sub/m.py").exists());
        // A directory gone from the host goes whole.
        std::fs::remove_dir_all(host.join("pkg")).expect("rm");
        let r = sync_path(&fs, &host.join("pkg"), "/app/pkg", None).expect("sync");
        assert_eq!(r, Synced::Removed);
        assert!(!root.join("app/pkg").exists());
        // Removing what is not there is nothing.
        let r = sync_path(&fs, &host.join("pkg"), "/app/pkg", None).expect("sync");
        assert_eq!(r, Synced::Nothing);
    }

    #[test]
    fn symlinks_in_the_container_resolve_inside_it() {
        let (t, host, root, fs) = setup();
        let outside = t.path().join("outside");
        std::fs::create_dir_all(&outside).expect("mkdir");
        // An absolute symlink pointing at the host directory's path: in the
        // container it means <root>/<that path>, not the host's.
        symlink(&outside, root.join("app/link")).expect("symlink");
        std::fs::write(host.join("f"), "data").expect("write");
        // Dangling in the container: refused, and nothing on the host.
        sync_path(&fs, &host.join("f"), "/app/link/f", None).expect_err("dangling");
        assert!(
            !outside.join("f").exists(),
            "wrote through a symlink to the host"
        );
        assert!(
            root.join("app/link").is_symlink(),
            "the container's link was replaced"
        );
        // Once the link resolves in the container, the file lands there.
        let inside = root.join(outside.strip_prefix("/").expect("abs"));
        std::fs::create_dir_all(&inside).expect("mkdir");
        sync_path(&fs, &host.join("f"), "/app/link/f", None).expect("sync");
        assert!(
            !outside.join("f").exists(),
            "wrote through a symlink to the host"
        );
        assert_eq!(
            std::fs::read_to_string(inside.join("f")).expect("read"),
            "data"
        );
    }

    #[test]
    fn targets_that_are_relative_or_climb_are_refused() {
        let (_t, host, _root, fs) = setup();
        std::fs::write(host.join("f"), "x").expect("write");
        assert!(matches!(
            sync_path(&fs, &host.join("f"), "app/f", None),
            Err(SyncError::RelativeTarget { .. })
        ));
        let e = sync_path(&fs, &host.join("f"), "/app/../../etc/f", None).expect_err("refused");
        assert!(matches!(e, SyncError::OutsideRoot { .. }));
        assert!(e.to_string().contains("web-1"), "{e}");
    }

    #[test]
    fn a_file_replaces_a_directory_and_a_directory_a_file() {
        let (_t, host, root, fs) = setup();
        std::fs::create_dir_all(root.join("app/x/deep")).expect("mkdir");
        std::fs::write(host.join("x"), "file").expect("write");
        sync_path(&fs, &host.join("x"), "/app/x", None).expect("sync");
        assert_eq!(
            std::fs::read_to_string(root.join("app/x")).expect("read"),
            "file"
        );
        std::fs::remove_file(host.join("x")).expect("rm");
        std::fs::create_dir(host.join("x")).expect("mkdir");
        let r = sync_path(&fs, &host.join("x"), "/app/x", None).expect("sync");
        assert_eq!(r, Synced::Directory);
        assert!(root.join("app/x").is_dir());
    }

    #[test]
    fn new_entries_belong_to_the_user_who_owns_the_directory() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let (_t, host, root, fs) = setup();
        std::os::unix::fs::chown(root.join("app"), Some(1000), Some(1000)).expect("chown");
        std::fs::create_dir(root.join("etc")).expect("mkdir");
        std::fs::write(host.join("f"), "x").expect("write");
        let owner = Some(Owner {
            uid: 1000,
            gid: 1000,
        });
        sync_path(&fs, &host.join("f"), "/app/f", owner).expect("sync");
        sync_path(&fs, &host.join("f"), "/etc/f", owner).expect("sync");
        let app = std::fs::metadata(root.join("app/f")).expect("stat");
        assert_eq!((app.uid(), app.gid()), (1000, 1000));
        let etc = std::fs::metadata(root.join("etc/f")).expect("stat");
        assert_eq!((etc.uid(), etc.gid()), (0, 0));
    }
}
