//! `wharf cp`: files between the host and a container's file system, with
//! `docker cp`'s semantics (a directory is copied into an existing
//! directory or becomes a missing one; `SRC/.` copies the contents; a
//! symlink is copied as a link unless asked to follow it).
//!
//! Safety model: every container path is resolved with `openat2(2)`'s
//! `RESOLVE_IN_ROOT` ([`crate::sys::confined`]), so `..` and symlinks
//! (absolute ones too) stay inside the container's root, as they would for
//! a process in the container.
//! Below the resolved directory, the tree is read entry by entry with
//! `O_NOFOLLOW` and written by the layer unpacker
//! ([`crate::image::unpack::extract_at`]), which never writes through a
//! symlink or above its root. So a container cannot make a copy read or
//! write a host file by planting a symlink.
//!
//! Which file system: for a running container, `/proc/<pid>/root` of its
//! init, which is its own view, volumes and bind mounts included (as
//! `docker cp` does). A stopped container's rootfs is mounted for the copy
//! under the run root with the container's lock held (so it cannot start
//! meanwhile); its volumes are not mounted then, so a path on one is
//! refused rather than silently written under the mount point.

use super::container::{ContainerError, ContainerRecord, Containers, Status};
use super::rootfs::{self, RootfsError};
use crate::image::store::{ImageStore, StoreError};
use crate::image::unpack::{self, UnpackError, UnpackOptions};
use crate::sys::confined::{self, Confine};
use crate::sys::path_error::{IoAt, PathError};
use nix::errno::Errno;
use nix::fcntl::{openat, Flock, OFlag, AT_FDCWD};
use nix::sys::stat::{fstat, FileStat, Mode};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Container(#[from] Box<ContainerError>),
    #[error("Could not find the file {path} in container {container}")]
    NotInContainer { container: String, path: String },
    #[error("lstat {path}: no such file or directory")]
    NotOnHost { path: String },
    #[error("resolving {path}: {source}")]
    Resolve { path: String, source: Errno },
    #[error("{path}: not a directory")]
    NotADirectory { path: String },
    #[error("cannot copy directory {src} onto file {path}")]
    DirOntoFile { src: String, path: String },
    #[error("no such directory: the parent of {path} does not exist")]
    ParentMissing { path: String },
    #[error("destination directory {path} does not exist")]
    DestDirMissing { path: String },
    #[error("{path} is on a volume or mount ({target}) of stopped container {container}: start it to copy there")]
    OnMountOfStopped {
        container: String,
        path: String,
        target: String,
    },
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("writing {path}: {source}")]
    Extract {
        path: String,
        source: Box<UnpackError>,
    },
    #[error("mounting the file system of stopped container {container}: {source}")]
    Mount {
        container: String,
        source: Box<RootfsError>,
    },
    #[error("image of container {container}: {source}")]
    Store {
        container: String,
        source: Box<StoreError>,
    },
    #[error("the image of container {0} is gone, so its file system cannot be mounted")]
    ImageGone(String),
}

pub type Result<T> = std::result::Result<T, CopyError>;

impl From<ContainerError> for CopyError {
    fn from(e: ContainerError) -> Self {
        CopyError::Container(Box::new(e))
    }
}

/// Where one side of a copy resolves its paths.
pub enum Fs {
    /// The host: paths resolve as usual (relative to the working directory).
    Host,
    /// A container's root, paths confined to it.
    Container(ContainerFs),
}

/// An open container root (see the module comment).
pub struct ContainerFs {
    name: String,
    root: OwnedFd,
    /// Mount targets of a stopped container's volumes (not mounted now).
    unmounted: Vec<String>,
    /// The rootfs mounted for a stopped container.
    mounted: Option<PathBuf>,
    /// Held while a stopped container's rootfs is mounted.
    _lock: Option<Flock<File>>,
}

impl Drop for ContainerFs {
    fn drop(&mut self) {
        if let Some(m) = self.mounted.take() {
            if let Err(e) = rootfs::unmount_rootfs(&m) {
                tracing::warn!("unmounting {}: {e}", m.display());
            }
            let _ = std::fs::remove_dir(&m);
        }
    }
}

impl ContainerFs {
    pub fn open(
        containers: &Containers,
        store: &ImageStore,
        record: &ContainerRecord,
    ) -> Result<Self> {
        let id = &record.id;
        let state = containers.state(id)?;
        if let (Status::Running | Status::Paused, Some(pid)) = (state.status, state.pid) {
            let root = nix::fcntl::open(
                format!("/proc/{pid}/root").as_str(),
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            );
            // Checked again after the open: the pid must still be this
            // container's init, not a recycled one.
            let again = containers.state(id)?;
            if let Ok(root) = root {
                if again.pid == Some(pid) && super::container::process_alive(pid) {
                    return Ok(ContainerFs {
                        name: record.name.clone(),
                        root,
                        unmounted: Vec::new(),
                        mounted: None,
                        _lock: None,
                    });
                }
            }
        }
        // Stopped: it cannot start while we hold its lock.
        let lock = containers.lock(id)?;
        let state = containers.state(id)?;
        if state.status == Status::Running {
            // It started between the two looks: its own view is there now.
            drop(lock);
            return Self::open(containers, store, record);
        }
        let image = store
            .resolve(&record.image_id.to_string())
            .map_err(|source| CopyError::Store {
                container: record.name.clone(),
                source: Box::new(source),
            })?
            .ok_or_else(|| CopyError::ImageGone(record.name.clone()))?;
        let target = containers.run_root().join("cp").join(format!(
            "{}-{}",
            &id[..12.min(id.len())],
            std::process::id()
        ));
        let dir = containers.dir(id);
        rootfs::mount_rootfs(store, &image, &dir.path, &target).map_err(|source| {
            let _ = std::fs::remove_dir(&target);
            CopyError::Mount {
                container: record.name.clone(),
                source: Box::new(source),
            }
        })?;
        let mut fs = ContainerFs {
            name: record.name.clone(),
            root: OwnedFd::from(File::open("/dev/null").at("opening", "/dev/null")?),
            unmounted: record
                .spec
                .mounts
                .iter()
                .map(|m| m.target().to_string())
                .collect(),
            mounted: Some(target.clone()),
            _lock: Some(lock),
        };
        fs.root = nix::fcntl::open(
            &target,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            CopyError::Io(PathError {
                action: "opening",
                path: target.display().to_string().into(),
                source: e.into(),
            })
        })?;
        Ok(fs)
    }

    /// The container's name (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The container's root, for lookups confined to it.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// A directory standing in for a container root (tests).
    #[cfg(test)]
    pub(crate) fn at_dir(dir: &Path, name: &str) -> ContainerFs {
        ContainerFs {
            name: name.to_string(),
            root: nix::fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap(),
            unmounted: vec!["/vol".to_string()],
            mounted: None,
            _lock: None,
        }
    }

    /// Refuses a path on a volume of a stopped container (lexically: a
    /// symlink could still lead there, and then the write lands in the
    /// container's own layer, under the mount point).
    fn check_mounts(&self, path: &str) -> Result<()> {
        let clean = lexical(path);
        for t in &self.unmounted {
            let t = lexical(t);
            if clean == t || clean.starts_with(&format!("{t}/")) || t == "/" {
                return Err(CopyError::OnMountOfStopped {
                    container: self.name.clone(),
                    path: path.to_string(),
                    target: t,
                });
            }
        }
        Ok(())
    }
}

/// `/a/./b//c/` → `/a/b/c` (no `..` folding: RESOLVE_IN_ROOT decides those).
fn lexical(p: &str) -> String {
    let parts: Vec<&str> = p
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

impl Fs {
    fn open(&self, path: &str, flags: OFlag) -> std::result::Result<OwnedFd, Errno> {
        let flags = flags | OFlag::O_CLOEXEC;
        match self {
            Fs::Host => openat(AT_FDCWD, path, flags, Mode::empty()),
            Fs::Container(c) => {
                let path = if path.is_empty() { "/" } else { path };
                confined::open(c.root.as_fd(), path, flags, Confine::InRoot)
            }
        }
    }

    /// `open` of a path that must exist, with cp's message for what
    /// stops it.
    fn open_existing(&self, path: &str, flags: OFlag) -> Result<OwnedFd> {
        self.open(path, flags).map_err(|e| self.open_error(path, e))
    }

    fn open_error(&self, path: &str, e: Errno) -> CopyError {
        match e {
            Errno::ENOENT => self.not_found(path),
            Errno::ENOTDIR => CopyError::NotADirectory {
                path: path.to_string(),
            },
            source => CopyError::Resolve {
                path: path.to_string(),
                source,
            },
        }
    }

    fn not_found(&self, path: &str) -> CopyError {
        match self {
            Fs::Host => CopyError::NotOnHost {
                path: path.to_string(),
            },
            Fs::Container(c) => CopyError::NotInContainer {
                container: c.name.clone(),
                path: path.to_string(),
            },
        }
    }

    fn check_write(&self, path: &str) -> Result<()> {
        match self {
            Fs::Host => Ok(()),
            Fs::Container(c) => c.check_mounts(path),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct CopyOptions {
    /// `-a`: keep the source's uid/gid in the container (else root owns
    /// what is copied in). Files copied to the host are owned by the user
    /// running wharf either way, as with `docker cp`.
    pub archive: bool,
    /// `-L`: follow a symlink named as the source.
    pub follow_link: bool,
}

/// What a source path names.
struct Source {
    fd: OwnedFd,
    st: FileStat,
    /// Its name in the archive when it goes in whole.
    base: String,
    /// `SRC/.` (or `/`): the contents go, not the directory.
    contents_only: bool,
}

fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn resolve_source(fs: &Fs, path: &str, follow: bool) -> Result<Source> {
    let trimmed = path.trim_end_matches('/');
    let contents_only = trimmed.ends_with("/.") || trimmed == "." || trimmed.is_empty();
    let stem = trimmed.trim_end_matches("/.").trim_end_matches('/');
    let base = stem.rsplit('/').next().unwrap_or("").to_string();
    let mut flags = OFlag::O_PATH;
    if !follow && !path.ends_with('/') {
        flags |= OFlag::O_NOFOLLOW;
    }
    let fd = fs.open_existing(path, flags)?;
    let st = fstat(fd.as_fd()).at("stat of", path)?;
    if !is_dir(&st) && (path.ends_with('/') || contents_only) {
        return Err(CopyError::NotADirectory {
            path: path.to_string(),
        });
    }
    // `..` or the root as the last component: there is no name to give it.
    let contents_only = contents_only || base.is_empty() || base == "..";
    Ok(Source {
        fd,
        st,
        base,
        contents_only,
    })
}

/// The directory to extract into, and the name the source takes there
/// (`None`: its contents go straight in).
fn resolve_dest(
    fs: &Fs,
    path: &str,
    src: &Source,
    src_path: &str,
) -> Result<(OwnedFd, Option<String>)> {
    fs.check_write(path)?;
    let src_dir = is_dir(&src.st);
    let trailing = path.ends_with('/') || path.ends_with("/.");
    let open_dir = |p: &str| -> Result<OwnedFd> {
        fs.open(p, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .map_err(|e| match e {
                Errno::ENOENT => CopyError::ParentMissing {
                    path: path.to_string(),
                },
                Errno::ENOTDIR => CopyError::NotADirectory {
                    path: p.to_string(),
                },
                source => CopyError::Resolve {
                    path: p.to_string(),
                    source,
                },
            })
    };
    match fs.open(path, OFlag::O_PATH) {
        Ok(fd) => {
            let st = fstat(fd.as_fd()).at("stat of", path)?;
            if is_dir(&st) {
                let name = if src.contents_only {
                    None
                } else {
                    Some(src.base.clone())
                };
                return Ok((open_dir(path)?, name));
            }
            if src_dir {
                return Err(CopyError::DirOntoFile {
                    src: src_path.to_string(),
                    path: path.to_string(),
                });
            }
            if trailing {
                return Err(CopyError::NotADirectory {
                    path: path.to_string(),
                });
            }
        }
        Err(Errno::ENOENT) => {
            if trailing && !src_dir {
                return Err(CopyError::DestDirMissing {
                    path: path.to_string(),
                });
            }
        }
        // ENOENT is handled above; the rest as for any path.
        Err(e) => return Err(fs.open_error(path, e)),
    }
    // A new (or replaced) entry `name` in the parent.
    let stem = path.trim_end_matches('/').trim_end_matches("/.");
    let (parent, name) = match stem.rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((p, n)) => (p, n),
        None => (if matches!(fs, Fs::Host) { "." } else { "/" }, stem),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(CopyError::NotADirectory {
            path: path.to_string(),
        });
    }
    Ok((open_dir(parent)?, Some(name.to_string())))
}

/// Copies `src_path` on `src` to `dst_path` on `dst`.
pub fn copy(
    src: &Fs,
    src_path: &str,
    dst: &Fs,
    dst_path: &str,
    opts: CopyOptions,
) -> Result<unpack::UnpackStats> {
    let source = resolve_source(src, src_path, opts.follow_link)?;
    let (dir, name) = resolve_dest(dst, dst_path, &source, src_path)?;
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).at("creating a pipe for", src_path)?;
    let label = src_path.to_string();
    // Out of a container onto the host, a safer default than Docker's: no
    // device node an image or container made, no setuid/setgid bit, unless
    // `-a` asks for the tree as it is.
    let host_safe = matches!(dst, Fs::Host) && matches!(src, Fs::Container(_)) && !opts.archive;
    let writer = std::thread::spawn(move || -> Result<()> {
        let top = if source.contents_only { None } else { name };
        let mut a = Archiver::new(File::from(w));
        a.host_safe = host_safe;
        a.add_top(source, top.as_deref(), &label)?;
        a.finish(&label)
    });
    let extracted = unpack::extract_at(
        File::from(r),
        dir,
        &UnpackOptions {
            allow_devices: true,
            // Host side: owned by whoever runs wharf, as `docker cp` does.
            preserve_owners: opts.archive && matches!(dst, Fs::Container(_)),
        },
    );
    let written = writer.join().unwrap_or_else(|_| {
        Err(CopyError::Io(PathError {
            action: "archiving",
            path: src_path.to_string().into(),
            source: io::Error::other("the archiving thread panicked"),
        }))
    });
    match (written, extracted) {
        (Ok(()), Ok(stats)) => Ok(stats),
        // The extractor stopped reading (it refused an entry or could not
        // write): the archiver's broken pipe is only the echo of that.
        (Err(CopyError::Io(PathError { source, .. })), Err(x))
            if source.kind() == io::ErrorKind::BrokenPipe =>
        {
            Err(CopyError::Extract {
                path: dst_path.to_string(),
                source: Box::new(x),
            })
        }
        // Reading the source failed: that is why the stream broke.
        (Err(w), _) => Err(w),
        (Ok(()), Err(x)) => Err(CopyError::Extract {
            path: dst_path.to_string(),
            source: Box::new(x),
        }),
    }
}

/// `wharf cp SRC -`: a tar of `src_path` (named by its base name) on `out`.
pub fn archive_to(src: &Fs, src_path: &str, follow: bool, out: impl Write) -> Result<()> {
    let source = resolve_source(src, src_path, follow)?;
    let top = if source.contents_only {
        None
    } else {
        Some(source.base.clone())
    };
    let mut a = Archiver::new(out);
    a.add_top(source, top.as_deref(), src_path)?;
    a.finish(src_path)
}

/// `wharf cp - DEST`: a tar from `input` extracted into the existing
/// directory `dst_path`.
pub fn extract_to(
    dst: &Fs,
    dst_path: &str,
    input: impl Read,
    opts: CopyOptions,
) -> Result<unpack::UnpackStats> {
    dst.check_write(dst_path)?;
    let dir = dst.open_existing(dst_path, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    unpack::extract_at(
        input,
        dir,
        &UnpackOptions {
            allow_devices: true,
            preserve_owners: opts.archive && matches!(dst, Fs::Container(_)),
        },
    )
    .map_err(|source| CopyError::Extract {
        path: dst_path.to_string(),
        source: Box::new(source),
    })
}

/// Writes a tree as tar, reading every entry through descriptors opened
/// with `O_NOFOLLOW` from its parent's, so nothing outside it is read.
struct Archiver<W: Write> {
    b: tar::Builder<W>,
    /// (dev, ino) → first name, for hard links.
    links: HashMap<(u64, u64), PathBuf>,
    /// Leave out device nodes and setuid/setgid bits (see `copy`).
    host_safe: bool,
}

impl<W: Write> Archiver<W> {
    fn new(w: W) -> Self {
        Archiver {
            b: tar::Builder::new(w),
            links: HashMap::new(),
            host_safe: false,
        }
    }

    fn finish(self, label: &str) -> Result<()> {
        let mut w = self.b.into_inner().at("finishing the archive of", label)?;
        Ok(w.flush().at("finishing the archive of", label)?)
    }

    fn add_top(&mut self, s: Source, name: Option<&str>, label: &str) -> Result<()> {
        match name {
            Some(n) => self.add(s.fd, &s.st, Path::new(n), label),
            None => self.children(s.fd.as_fd(), Path::new(""), label),
        }
    }

    fn add(&mut self, fd: OwnedFd, st: &FileStat, name: &Path, label: &str) -> Result<()> {
        let e = |source: io::Error| {
            CopyError::Io(PathError {
                action: "archiving",
                path: format!("{label} ({})", name.display()).into(),
                source,
            })
        };
        let fmt = st.st_mode & libc::S_IFMT;
        if self.host_safe && (fmt == libc::S_IFCHR || fmt == libc::S_IFBLK) {
            tracing::debug!(path = %name.display(), "device node left out (cp -a keeps it)");
            return Ok(());
        }
        let mut h = tar::Header::new_gnu();
        let special = if self.host_safe {
            libc::S_ISUID | libc::S_ISGID
        } else {
            0
        };
        h.set_mode(st.st_mode & 0o7777 & !special);
        h.set_uid(st.st_uid as u64);
        h.set_gid(st.st_gid as u64);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        if fmt != libc::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return self.b.append_link(&mut h, name, first).map_err(e);
            }
            self.links.insert(key, name.to_path_buf());
        }
        match fmt {
            libc::S_IFDIR => {
                h.set_entry_type(tar::EntryType::Directory);
                self.b.append_data(&mut h, name, io::empty()).map_err(e)?;
                self.children(fd.as_fd(), name, label)
            }
            libc::S_IFREG => {
                h.set_entry_type(tar::EntryType::Regular);
                let size = st.st_size.max(0) as u64;
                h.set_size(size);
                // The O_PATH descriptor reopened for reading: the same inode,
                // no second path walk.
                let file = File::open(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(e)?;
                // Exactly `size` bytes whatever the file does meanwhile.
                let data = file.take(size).chain(io::repeat(0)).take(size);
                self.b.append_data(&mut h, name, data).map_err(e)
            }
            libc::S_IFLNK => {
                h.set_entry_type(tar::EntryType::Symlink);
                let target = nix::fcntl::readlinkat(fd.as_fd(), "").map_err(|x| e(x.into()))?;
                self.b.append_link(&mut h, name, target).map_err(e)
            }
            libc::S_IFCHR | libc::S_IFBLK => {
                h.set_entry_type(if fmt == libc::S_IFCHR {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                });
                h.set_device_major(libc::major(st.st_rdev)).map_err(e)?;
                h.set_device_minor(libc::minor(st.st_rdev)).map_err(e)?;
                self.b.append_data(&mut h, name, io::empty()).map_err(e)
            }
            libc::S_IFIFO => {
                h.set_entry_type(tar::EntryType::Fifo);
                self.b.append_data(&mut h, name, io::empty()).map_err(e)
            }
            // Sockets are skipped, as Docker's archiver does.
            _ => Ok(()),
        }
    }

    fn children(&mut self, dir: BorrowedFd<'_>, name: &Path, label: &str) -> Result<()> {
        let e = |source: io::Error| {
            CopyError::Io(PathError {
                action: "listing",
                path: format!("{label} ({})", name.display()).into(),
                source,
            })
        };
        let dfd = openat(
            dir,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|x| e(x.into()))?;
        let mut names: Vec<OsString> = Vec::new();
        {
            let mut d =
                nix::dir::Dir::from_fd(dfd.try_clone().map_err(e)?).map_err(|x| e(x.into()))?;
            for entry in d.iter() {
                let entry = entry.map_err(|x| e(x.into()))?;
                let n = entry.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(OsString::from_vec(n.to_vec()));
                }
            }
        }
        names.sort();
        for n in names {
            let child = name.join(&n);
            let fd = match openat(
                dfd.as_fd(),
                n.as_os_str(),
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                // Gone since the listing.
                Err(Errno::ENOENT) => continue,
                Err(x) => return Err(e(x.into())),
            };
            let st = fstat(fd.as_fd()).map_err(|x| e(x.into()))?;
            self.add(fd, &st, &child, label)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    #[test]
    fn lexical_cleans_without_folding_dotdot() {
        assert_eq!(lexical("data//./x/"), "/data/x");
        assert_eq!(lexical("/"), "/");
        assert_eq!(lexical("/a/../b"), "/a/../b");
    }

    /// Host to host through the same code paths: modes, mtimes, a nested
    /// file, a symlink kept as a link, `dir/.` and dest-exists semantics.
    #[test]
    fn host_copy_keeps_tree_and_follows_docker_dir_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/nested.txt"), b"nested").unwrap();
        std::fs::set_permissions(
            src.join("sub/nested.txt"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        symlink("/etc/passwd", src.join("link")).unwrap();
        let t = nix::sys::time::TimeSpec::new(1_000_000_000, 0);
        nix::sys::stat::utimensat(
            AT_FDCWD,
            &src.join("sub/nested.txt"),
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
        let s = src.to_str().unwrap();
        // Missing dest: becomes the directory.
        let d1 = tmp.path().join("d1");
        copy(
            &Fs::Host,
            s,
            &Fs::Host,
            d1.to_str().unwrap(),
            CopyOptions::default(),
        )
        .unwrap();
        let m = std::fs::metadata(d1.join("sub/nested.txt")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(m.mtime(), 1_000_000_000);
        assert_eq!(
            std::fs::read_link(d1.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        // Existing dest: the directory goes inside.
        let d2 = tmp.path().join("d2");
        std::fs::create_dir(&d2).unwrap();
        copy(
            &Fs::Host,
            s,
            &Fs::Host,
            d2.to_str().unwrap(),
            CopyOptions::default(),
        )
        .unwrap();
        assert!(d2.join("src/sub/nested.txt").is_file());
        // `src/.`: the contents go.
        let dot = format!("{s}/.");
        copy(
            &Fs::Host,
            &dot,
            &Fs::Host,
            d2.to_str().unwrap(),
            CopyOptions::default(),
        )
        .unwrap();
        assert_eq!(std::fs::read(d2.join("sub/nested.txt")).unwrap(), b"nested");
        // A directory onto a file is refused.
        let f = tmp.path().join("file");
        std::fs::write(&f, b"x").unwrap();
        let err = copy(
            &Fs::Host,
            s,
            &Fs::Host,
            f.to_str().unwrap(),
            CopyOptions::default(),
        );
        assert!(matches!(err, Err(CopyError::DirOntoFile { .. })), "{err:?}");
        // A file to a missing dir path with a trailing slash is refused.
        let err = copy(
            &Fs::Host,
            f.to_str().unwrap(),
            &Fs::Host,
            &format!("{}/nope/", tmp.path().display()),
            CopyOptions::default(),
        );
        assert!(
            matches!(err, Err(CopyError::DestDirMissing { .. })),
            "{err:?}"
        );
        // A file onto a file replaces it.
        copy(
            &Fs::Host,
            d1.join("sub/nested.txt").to_str().unwrap(),
            &Fs::Host,
            f.to_str().unwrap(),
            CopyOptions::default(),
        )
        .unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"nested");
    }

    /// A container whose symlinks point at a host directory: copying in
    /// through them must not touch the host, copying out must not read it.
    #[test]
    fn container_symlinks_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let host = tmp.path().join("host-probe");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), b"host secret").unwrap();
        // Absolute and relative escapes.
        symlink(&host, root.join("abs")).unwrap();
        symlink("../../../../../../../../../..", root.join("etc/up")).unwrap();
        std::fs::write(root.join("etc/inside"), b"inside").unwrap();
        let ctr = Fs::Container(ContainerFs::at_dir(&root, "c"));
        let payload = tmp.path().join("payload");
        std::fs::write(&payload, b"evil").unwrap();
        let p = payload.to_str().unwrap();
        let host_in_ctr = host.to_str().unwrap().to_string();
        for dest in [
            "/abs/secret".to_string(),
            "/abs/new".to_string(),
            format!("/etc/up{host_in_ctr}/secret"),
            format!("/etc/up{host_in_ctr}/"),
        ] {
            let _ = copy(&Fs::Host, p, &ctr, &dest, CopyOptions::default());
        }
        assert_eq!(std::fs::read(host.join("secret")).unwrap(), b"host secret");
        assert_eq!(std::fs::read_dir(&host).unwrap().count(), 1);
        // `..` above the root lands on the root: the file is in the container.
        copy(&Fs::Host, p, &ctr, "/etc/up/landed", CopyOptions::default()).unwrap();
        assert_eq!(std::fs::read(root.join("landed")).unwrap(), b"evil");
        // Out: the link itself, never the host file it names.
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        copy(
            &ctr,
            "/abs",
            &Fs::Host,
            out.to_str().unwrap(),
            CopyOptions::default(),
        )
        .unwrap();
        assert_eq!(std::fs::read_link(out.join("abs")).unwrap(), host);
        let err = copy(
            &ctr,
            "/abs/secret",
            &Fs::Host,
            out.to_str().unwrap(),
            CopyOptions::default(),
        );
        assert!(
            matches!(err, Err(CopyError::NotInContainer { .. })),
            "{err:?}"
        );
        // -L follows inside the root only: /abs names nothing there.
        let err = copy(
            &ctr,
            "/abs",
            &Fs::Host,
            out.join("followed").to_str().unwrap(),
            CopyOptions {
                follow_link: true,
                ..Default::default()
            },
        );
        assert!(err.is_err());
        assert!(!out.join("followed").exists());
        // A path on an unmounted volume of a stopped container is refused.
        let err = copy(&Fs::Host, p, &ctr, "/vol/x", CopyOptions::default());
        assert!(
            matches!(err, Err(CopyError::OnMountOfStopped { .. })),
            "{err:?}"
        );
        // Through `-`, a tar entry that climbs out is refused too.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(4);
        h.set_mode(0o644);
        b.append_data(&mut h, "abs/secret", &b"evil"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let err = extract_to(&ctr, "/", &tar[..], CopyOptions::default());
        assert!(err.is_err());
        assert_eq!(std::fs::read(host.join("secret")).unwrap(), b"host secret");
    }
}
