//! Named network namespaces: a namespace kept alive by a bind mount of its
//! `/proc/<tid>/ns/net` onto a file `<run_root>/netns/<container-id>`, as
//! `ip netns add` does. The container's runtime joins it by path, so the
//! network is fully set up (veths, addresses, routes) before the container's
//! first process runs.
//!
//! Namespaces are per thread: creating one or working inside one happens on
//! a short-lived std::thread, never on a tokio worker or the caller's
//! thread, so the caller never ends up in the wrong namespace.

use crate::sys::path_error::{IoAt, PathError};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("{action} {}: {source}", path.display())]
    Sys {
        action: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("the thread working in network namespace {} panicked", path.display())]
    Thread { path: PathBuf },
}

pub type Result<T> = std::result::Result<T, NetnsError>;

fn sys_err(action: &'static str, path: &Path) -> impl FnOnce(nix::Error) -> NetnsError {
    let path = path.to_path_buf();
    move |source| NetnsError::Sys {
        action,
        path,
        source,
    }
}

/// The directory holding the namespace files of one run root.
pub fn netns_dir(run_root: &Path) -> PathBuf {
    run_root.join("netns")
}

/// The namespace file of one container.
pub fn netns_path(run_root: &Path, container_id: &str) -> PathBuf {
    netns_dir(run_root).join(container_id)
}

/// Creates a new network namespace bound to `path` with `lo` up. An
/// existing namespace at `path` is replaced (a crash may have left one).
pub fn create(path: &Path) -> Result<()> {
    remove(path)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).at("creating", dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at("creating", path)?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> Result<()> {
        // unshare(CLONE_NEWNET) moves only this thread; it ends right after.
        unshare(CloneFlags::CLONE_NEWNET).map_err(sys_err("unsharing the network of", &target))?;
        let tid = nix::unistd::gettid();
        let own = PathBuf::from(format!("/proc/self/task/{tid}/ns/net"));
        mount(
            Some(&own),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(sys_err("bind-mounting the network namespace on", &target))?;
        set_up(&target, "lo")
    })
    .join()
    .map_err(|_| NetnsError::Thread {
        path: path.to_path_buf(),
    })
    .and_then(|r| r);
    if made.is_err() {
        let _ = remove(path);
    }
    made
}

/// Brings interface `name` of the current thread's namespace up (SIOCSIFFLAGS).
fn set_up(ns: &Path, name: &str) -> Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(sys_err("opening a socket in", ns))?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we own.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(sys_err("reading the flags of lo in", ns)(nix::Error::last()));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(sys_err("bringing lo up in", ns)(nix::Error::last()));
        }
    }
    Ok(())
}

/// Removes the namespace at `path`: unmount and unlink. Missing is fine, so
/// this is safe to repeat after a crash. The namespace itself (and every
/// veth in it) goes when its last user (the container) is gone.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        // EINVAL: not a mount point (a crash between create and mount).
        Ok(()) | Err(nix::Error::ENOENT) | Err(nix::Error::EINVAL) => {}
        Err(e) => return Err(sys_err("unmounting", path)(e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PathError::new("removing", path, e).into()),
    }
}

/// Runs `f` on a dedicated thread that has joined the namespace at `path`,
/// and returns what it returns. Sockets made inside `f` stay in that
/// namespace for their whole life, whichever thread uses them later.
pub fn in_netns<T, F>(path: &Path, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let file = File::open(path).at("opening", path)?;
    let target = path.to_path_buf();
    std::thread::spawn(move || -> Result<T> {
        // CLONE_FS is not shared with a netns switch, so setns on this
        // thread alone is allowed even in a multi-threaded process.
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(sys_err("joining", &target))?;
        Ok(f())
    })
    .join()
    .map_err(|_| NetnsError::Thread {
        path: path.to_path_buf(),
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn create_join_and_remove() {
        if !is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let path = netns_path(dir.path(), "abc");
        create(&path).expect("create");
        let ours = fs::read_link("/proc/thread-self/ns/net").expect("own ns");
        let (theirs, lo) = in_netns(&path, || {
            let ns = fs::read_link("/proc/thread-self/ns/net").expect("ns link");
            // A child forked from this thread lives in the same namespace.
            let out = std::process::Command::new("ip")
                .args(["-o", "link", "show", "lo"])
                .output()
                .expect("ip link");
            (ns, String::from_utf8_lossy(&out.stdout).into_owned())
        })
        .expect("in netns");
        let lo_up = lo.contains(",UP") || lo.contains("<UP");
        assert!(lo_up, "lo is not up: {lo}");
        assert_ne!(ours, theirs, "in_netns ran in our own namespace");
        assert_eq!(
            fs::read_link("/proc/thread-self/ns/net").expect("own ns"),
            ours,
            "the caller's thread moved"
        );
        remove(&path).expect("remove");
        assert!(!path.exists());
        remove(&path).expect("remove again");
        let mounts = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(!mounts.contains(&path.to_string_lossy().into_owned()));
    }
}
