//! CVE-2019-5736: while the built-in runtime enters a container, a process
//! in it can open the runtime's own binary through `/proc/<pid>/exe` and,
//! once the runtime has exited, write to it — replacing wharf on the host.
//!
//! So before `create` and `exec` join a container, the runtime re-executes
//! itself from a read-only view of its binary: a bind mount of the file,
//! remounted read-only, opened `O_PATH` and detached at once (runc's
//! "bindfd"). `/proc/<pid>/exe` of the runtime and of the container's init
//! (a fork of it) then names a file on a read-only mount, and every write
//! through it fails with EROFS. A sealed memfd copy, the other known fix,
//! would hold a copy of a 200 MB binary in memory per container start.

use std::ffi::{CString, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

/// Set in the environment of the re-executed runtime, so it does not
/// re-execute again.
pub const MARKER_ENV: &str = "_WHARF_RUNTIME_READONLY_EXE";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("a read-only view of {file} at {at}: {what}: {source}")]
    View {
        file: PathBuf,
        at: PathBuf,
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("re-executing from the read-only view of the runtime binary: {0}")]
    Exec(#[source] nix::Error),
    #[error("argument or environment with a NUL byte: {0}")]
    Nul(#[from] std::ffi::NulError),
}

/// An `O_PATH` descriptor of `file` as seen through a read-only bind
/// mount that no longer exists in any mount table (detached at once);
/// the mount point is a fresh file in `scratch`, removed before returning.
pub fn readonly_view(file: &Path, scratch: &Path) -> Result<OwnedFd, SealError> {
    let at = scratch.join(format!(".exe-view-{}", std::process::id()));
    let err = |what: &'static str| {
        let (file, at) = (file.to_owned(), at.clone());
        move |source| SealError::View {
            file,
            at,
            what,
            source,
        }
    };
    let target = open(
        &at,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(err("creating the mount point"))?;
    drop(target);
    let result = (|| {
        mount(
            Some(file),
            &at,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(err("bind mount"))?;
        let opened = mount(
            None::<&str>,
            &at,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .map_err(err("read-only remount"))
        .and_then(|()| {
            open(&at, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).map_err(err("open"))
        });
        // Detached, the mount lives on only through the descriptor.
        let detached = umount2(&at, MntFlags::MNT_DETACH).map_err(err("detach"));
        let fd = opened?;
        detached?;
        Ok(fd)
    })();
    let _ = std::fs::remove_file(&at);
    result
}

/// Replaces this process with the same program and arguments, executed
/// from `exe` (see [`readonly_view`]), with [`MARKER_ENV`] set. Returns
/// only on failure. File descriptors without close-on-exec (the runtime's
/// stdio, `--preserve-fds`, a console socket) carry over as with any exec.
pub fn reexec(exe: &OwnedFd, args: &[OsString]) -> SealError {
    let run = || -> Result<std::convert::Infallible, SealError> {
        let argv = args
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut envp = Vec::new();
        for (k, v) in std::env::vars_os() {
            if k != MARKER_ENV {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                envp.push(CString::new(kv)?);
            }
        }
        envp.push(CString::new(format!("{MARKER_ENV}=1"))?);
        nix::unistd::execveat(exe, c"", &argv, &envp, nix::fcntl::AtFlags::AT_EMPTY_PATH)
            .map_err(SealError::Exec)
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Whether this process already runs from the read-only view.
pub fn reexecuted() -> bool {
    std::env::var_os(MARKER_ENV).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// Whether `fd` lies on a read-only mount.
    fn on_readonly_mount(fd: &OwnedFd) -> Result<bool, nix::Error> {
        let st = nix::sys::statvfs::fstatvfs(fd)?;
        Ok(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    }

    #[test]
    fn the_view_cannot_be_written_and_leaves_no_mount() {
        if !nix::unistd::Uid::effective().is_root() {
            println!("SKIPPED: needs root to mount");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"original").unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let fd = readonly_view(&victim, scratch.path()).unwrap();
        assert!(on_readonly_mount(&fd).unwrap());
        // The attack: reopen the descriptor for writing once the runtime
        // is gone (no ETXTBSY then) and rewrite the binary.
        let through = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&through)
            .expect_err("a write through the view");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
        // Reading through it works: it is the same file.
        assert_eq!(std::fs::read(&through).unwrap(), b"original");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&victim)
            .unwrap();
        f.write_all(b"+").unwrap();
        assert_eq!(std::fs::read(&through).unwrap(), b"original+");
        // Nothing left behind: no mount point file, no mount.
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let s = scratch.path().to_string_lossy();
        assert!(!mounts.contains(s.as_ref()), "{mounts}");
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it_and_leaves_nothing() {
        if !nix::unistd::Uid::effective().is_root() {
            println!("SKIPPED: needs root to mount");
            return;
        }
        let scratch = tempfile::tempdir().unwrap();
        let err = readonly_view(Path::new("/nonexistent/wharf"), scratch.path())
            .expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/wharf"), "{err}");
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }
}
