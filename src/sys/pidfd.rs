//! Process file descriptors (Linux 5.3+): a handle on one process that a
//! recycled pid cannot stand in for. Signalling through one closes the race
//! between "is this pid still our container's init?" and the signal.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `pidfd_open(pid, 0)`.
pub fn open(pid: u32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `pidfd_getfd(pidfd, target, 0)`: a copy of the process's fd `target`
/// (Linux 5.6+; needs the right to ptrace it), close-on-exec.
pub fn get_fd(pidfd: BorrowedFd<'_>, target: i32) -> nix::Result<OwnedFd> {
    // SAFETY: a valid pidfd, an fd number of that process, no flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `pidfd_send_signal(fd, signo, NULL, 0)`: ESRCH once the process is gone.
pub fn send_signal(fd: BorrowedFd<'_>, signo: i32) -> nix::Result<()> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signo,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Sends `signal` to `pid` if `is_ours()` says the pid still names our
/// process; `Ok(false)` when it does not. The pidfd is opened before the
/// check: a process that held the pid from before the open until the check
/// is the one the pidfd names, so a pid recycled in between gets nothing.
/// Where the kernel has no pidfds (ENOSYS), the check and a plain kill(2).
pub fn signal_if_ours(pid: u32, signal: Signal, is_ours: impl Fn() -> bool) -> nix::Result<bool> {
    match open(pid) {
        Ok(fd) => {
            if !is_ours() {
                return Ok(false);
            }
            match send_signal(fd.as_fd(), signal as i32) {
                Ok(()) => Ok(true),
                // It exited after the check.
                Err(Errno::ESRCH) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(Errno::ESRCH) => Ok(false),
        Err(Errno::ENOSYS) => {
            if !is_ours() {
                return Ok(false);
            }
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn signals_only_a_process_that_is_still_ours() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        assert!(!signal_if_ours(pid, Signal::SIGTERM, || false).expect("not ours"));
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "signalled anyway"
        );
        assert!(signal_if_ours(pid, Signal::SIGTERM, || true).expect("ours"));
        let status = child.wait().expect("wait");
        assert_eq!(status.signal(), Some(Signal::SIGTERM as i32));
    }
}
