//! The shim: the one process that stays a detached container's parent for
//! as long as the container is supervised, so its exit status is never
//! lost (conmon's approach). It does nothing else, and stays small:
//!
//! - it is a child subreaper and the parent of the monitor, which is not
//!   one, so the container's init (orphaned by the runtime's `create`) is
//!   re-parented to the shim, whoever runs the runtime;
//! - it reaps every child it inherits and writes each one's exit status
//!   to `exits/<container>/<pid>` (with the process's start time, so a
//!   recycled pid is not mistaken for it) before anyone can see the pid
//!   gone for good: the monitor waits for that file;
//! - it holds a copy of a `tty: true` container's pty master, so the
//!   terminal outlives a monitor (the container would get SIGHUP with the
//!   master's last close), and hands it to the next monitor; `attach`
//!   takes a copy of it too ([`held_pty`]) to type into the container;
//! - when the monitor is killed it starts a new one (`--adopt`) at once, so
//!   restart policies act without waiting for a wharf command; when the
//!   monitor exits, its work is done and so is the shim's.
//!
//! `wharf container-shim EXITS_DIR ROOT ID [--adopt]` is dispatched from
//! `main` before the command-line parser, so the shim maps little of the
//! wharf binary; it runs `wharf --root ROOT container-monitor ID`.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The hidden verb the shim runs as.
pub const SUBCOMMAND: &str = "container-shim";

/// Where a monitor finds its end of the socket to its shim (an fd number).
const SOCKET_ENV: &str = "WHARF_SHIM_SOCKET";
/// Where a monitor started by its shim finds the container's pty master.
const PTY_ENV: &str = "WHARF_SHIM_PTY";
/// The fds the shim places them at in a monitor (3 is the ready pipe).
const SOCKET_FD: RawFd = 4;
const PTY_FD: RawFd = 5;

/// Where the shim of container `id` writes the exit statuses it collects.
pub fn exits_dir(run_root: &Path, id: &str) -> PathBuf {
    run_root.join("exits").join(id)
}

/// The command that starts a shim for container `id` of data root `root`,
/// which runs its monitor (`adopt`: one that takes the container over).
pub fn command(exe: &Path, exits: &Path, root: &Path, id: &str, adopt: bool) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND)
        .arg(exits)
        .arg(root)
        .arg(id)
        .args(adopt.then_some("--adopt"));
    cmd
}

/// The exit code the shim recorded for process `pid` (128+N when killed by
/// signal N), if it has; `start` (its start time, when known) rules out an
/// earlier process with the same pid.
pub fn recorded_exit(exits: &Path, pid: u32, start: Option<u64>) -> Option<i32> {
    let text = std::fs::read_to_string(exits.join(pid.to_string())).ok()?;
    let (recorded_start, code) = text.trim().split_once(' ')?;
    let recorded_start: u64 = recorded_start.parse().ok()?;
    if start.is_some_and(|s| s != recorded_start) {
        return None;
    }
    code.parse().ok()
}

/// The shim this process runs under, as a monitor started by one sees it.
pub struct Parent {
    pub pid: u32,
    pub start: Option<u64>,
    socket: Option<OwnedFd>,
    pty: Mutex<Option<OwnedFd>>,
}

static PARENT: OnceLock<Option<Parent>> = OnceLock::new();

/// The shim that started this process, if one did. The descriptors it
/// passed are taken over once and kept from the processes we spawn.
pub fn parent() -> Option<&'static Parent> {
    PARENT
        .get_or_init(|| {
            let socket = inherited_fd(SOCKET_ENV)?;
            let pid = std::os::unix::process::parent_id();
            Some(Parent {
                pid,
                start: crate::runtime::container::process_start_time(pid),
                socket: Some(socket),
                pty: Mutex::new(inherited_fd(PTY_ENV)),
            })
        })
        .as_ref()
}

/// An fd our shim placed for us, named by `var`; close-on-exec from here.
fn inherited_fd(var: &str) -> Option<OwnedFd> {
    let fd: RawFd = std::env::var(var).ok()?.parse().ok()?;
    // Only an open descriptor is taken (F_GETFD fails on any other).
    nix::fcntl::fcntl(
        // SAFETY: borrowed only for this call; fcntl(F_SETFD) changes no ownership.
        unsafe { BorrowedFd::borrow_raw(fd) },
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .ok()?;
    // SAFETY: our shim put this descriptor here for us alone.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Parent {
    /// Gives the shim a copy of the container's pty master to hold.
    pub fn hand_pty(&self, master: BorrowedFd<'_>) {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let Some(socket) = &self.socket else {
            return;
        };
        let fds = [master.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [std::io::IoSlice::new(b"pty")];
        if let Err(e) = sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None) {
            tracing::warn!("handing the pty to the shim: {e}");
        }
    }

    /// The pty master the shim held for us (a monitor it started again).
    pub fn take_pty(&self) -> Option<OwnedFd> {
        self.pty.lock().ok()?.take()
    }
}

/// A copy of the pty master that shim `pid` (started at `start`) holds for
/// its `tty: true` container, taken with pidfd_getfd: how `attach` types
/// into a container that runs detached. `None` when it holds none (or is
/// gone, or another process has its pid now).
pub fn held_pty(pid: u32, start: Option<u64>) -> std::io::Result<Option<OwnedFd>> {
    use nix::errno::Errno;
    let pidfd = match crate::sys::pidfd::open(pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Checked after the open: the pidfd names the process checked.
    if start.is_some_and(|s| crate::runtime::container::process_start_time(pid) != Some(s)) {
        return Ok(None);
    }
    let dir = PathBuf::from(format!("/proc/{pid}/fd"));
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let is_master = std::fs::read_link(entry.path())
            .is_ok_and(|l| l.file_name().is_some_and(|n| n == "ptmx"));
        let fd = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok());
        if let (true, Some(fd)) = (is_master, fd) {
            return crate::sys::pidfd::get_fd(pidfd.as_fd(), fd)
                .map(Some)
                .map_err(std::io::Error::from);
        }
    }
    Ok(None)
}

/// The body of `wharf container-shim`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let (Some(exits), Some(root), Some(id)) = (args.get(2), args.get(3), args.get(4)) else {
        eprintln!("usage: wharf {SUBCOMMAND} EXITS_DIR ROOT ID [--adopt]");
        return ExitCode::from(125);
    };
    let exe = match std::env::current_exe() {
        Ok(e) => e.into_os_string(),
        Err(e) => {
            eprintln!("wharf {SUBCOMMAND}: finding the wharf binary: {e}");
            return ExitCode::from(125);
        }
    };
    let mut monitor = vec![
        exe,
        "--root".into(),
        root.clone(),
        "container-monitor".into(),
        id.clone(),
    ];
    monitor.extend(args.get(5).filter(|a| *a == "--adopt").cloned());
    match Shim::new(PathBuf::from(exits), monitor).and_then(Shim::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wharf {SUBCOMMAND}: {e}");
            ExitCode::from(125)
        }
    }
}

/// A monitor killed again and again is started again at most this often.
const RESPAWN_BACKOFF_START: Duration = Duration::from_millis(100);
const RESPAWN_BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A monitor that lived this long resets the back-off.
const RESPAWN_RESET_AFTER: Duration = Duration::from_secs(10);

struct Shim {
    exits: PathBuf,
    monitor_argv: Vec<OsString>,
    signals: nix::sys::signalfd::SignalFd,
    /// Our end of the socket to the current monitor, while it is open.
    socket: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    monitor: Option<(u32, Instant)>,
    /// When to start a monitor again after one was killed.
    respawn_at: Option<Instant>,
    backoff: Duration,
}

impl Shim {
    fn new(exits: PathBuf, monitor_argv: Vec<OsString>) -> std::io::Result<Shim> {
        use nix::sys::signal::{SigSet, Signal};
        use nix::sys::signalfd::{SfdFlags, SignalFd};
        nix::sys::prctl::set_child_subreaper(true)?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block()?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        Ok(Shim {
            exits,
            monitor_argv,
            signals,
            socket: None,
            pty: None,
            monitor: None,
            respawn_at: None,
            backoff: RESPAWN_BACKOFF_START,
        })
    }

    fn run(mut self) -> std::io::Result<()> {
        self.spawn_monitor(false)?;
        // The starter waits for EOF on the ready pipe: only the monitor may
        // hold it from here.
        if std::env::var_os("WHARF_READY_FD").is_some() {
            // SAFETY: fd 3 is the ready pipe our starter placed; we drop
            // our copy of it and never use that number again as it.
            unsafe { libc::close(3) };
        }
        loop {
            if self.monitor.is_none() && self.respawn_at.is_none() {
                return Ok(());
            }
            self.wait_for_events();
            self.receive_pty();
            self.reap();
            if self.respawn_at.is_some_and(|at| Instant::now() >= at) {
                self.respawn_at = None;
                if let Err(e) = self.spawn_monitor(true) {
                    eprintln!("wharf {SUBCOMMAND}: starting a monitor again: {e}");
                    self.respawn_at = Some(Instant::now() + RESPAWN_BACKOFF_MAX);
                }
            }
        }
    }

    fn wait_for_events(&self) {
        use nix::poll::{poll, PollFd, PollFlags};
        let timeout = match self.respawn_at {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(60),
        };
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = &self.socket {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, ms);
        while let Ok(Some(_)) = self.signals.read_signal() {}
    }

    /// Each pty master the monitor sent replaces the one we held (what it
    /// sent before it died is still queued); a closed socket (the monitor
    /// is gone) is dropped.
    fn receive_pty(&mut self) {
        while self.receive_one() {}
    }

    /// Takes one message off the socket; whether there may be another.
    fn receive_one(&mut self) -> bool {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let Some(socket) = &self.socket else {
            return false;
        };
        let mut buf = [0u8; 16];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let received = recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
        );
        let mut fds = Vec::new();
        let closed = match &received {
            Ok(msg) => {
                if let Ok(cmsgs) = msg.cmsgs() {
                    for cmsg in cmsgs {
                        if let ControlMessageOwned::ScmRights(got) = cmsg {
                            fds.extend(got);
                        }
                    }
                }
                msg.bytes == 0 && fds.is_empty()
            }
            Err(nix::errno::Errno::EAGAIN) => false,
            Err(_) => true,
        };
        let more = received.is_ok() && !closed;
        for fd in fds {
            // SAFETY: the kernel just installed this descriptor for us.
            self.pty = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        if closed {
            self.socket = None;
        }
        more
    }

    /// Reaps every child that exited: the monitor, or a process we
    /// inherited (the container's init among them), whose status is
    /// written down first.
    fn reap(&mut self) {
        loop {
            // SAFETY: a zeroed siginfo_t is a valid out-parameter.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // WNOWAIT: the zombie stays, so its start time can still be read.
            // SAFETY: waitid with a valid out-pointer.
            let r = unsafe {
                libc::waitid(
                    libc::P_ALL,
                    0,
                    &mut info,
                    libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                )
            };
            // SAFETY: waitid filled si_pid (0 when no child has exited).
            let pid = unsafe { info.si_pid() };
            if r != 0 || pid <= 0 {
                return;
            }
            let start = crate::runtime::container::process_start_time(pid as u32);
            let status = match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
                Ok(s) => s,
                Err(_) => continue,
            };
            let (code, killed) = match status {
                nix::sys::wait::WaitStatus::Exited(_, c) => (c, false),
                nix::sys::wait::WaitStatus::Signaled(_, sig, _) => (128 + sig as i32, true),
                _ => continue,
            };
            match self.monitor {
                Some((m, since)) if m == pid as u32 => {
                    self.monitor = None;
                    self.receive_pty();
                    self.socket = None;
                    if killed {
                        if since.elapsed() >= RESPAWN_RESET_AFTER {
                            self.backoff = RESPAWN_BACKOFF_START;
                        }
                        self.respawn_at = Some(Instant::now() + self.backoff);
                        self.backoff = (self.backoff * 2).min(RESPAWN_BACKOFF_MAX);
                    }
                }
                _ => self.record(pid as u32, start, code),
            }
        }
    }

    /// Writes down an exit status, whole or not at all, and only while the
    /// container's exit directory exists (its monitor makes it before each
    /// start and removes it with the container's run state).
    fn record(&self, pid: u32, start: Option<u64>, code: i32) {
        if !self.exits.is_dir() {
            return;
        }
        let text = format!("{} {code}\n", start.unwrap_or(0));
        let _ = crate::sys::atomic::write(&self.exits.join(pid.to_string()), text.as_bytes());
    }

    /// Starts the monitor (`adopt`: again, after one was killed), with our
    /// socket at fd 4, the pty master we hold at fd 5, and for the first
    /// one the starter's ready pipe at fd 3.
    fn spawn_monitor(&mut self, adopt: bool) -> std::io::Result<()> {
        use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let theirs = high_fd(theirs)?;
        let pty = self.pty.as_ref().map(|p| p.try_clone()).transpose()?;
        let pty = pty.map(high_fd).transpose()?;
        let Some((exe, rest)) = self.monitor_argv.split_first() else {
            return Err(std::io::Error::other("no monitor command"));
        };
        let mut cmd = Command::new(exe);
        cmd.args(rest)
            .env(SOCKET_ENV, SOCKET_FD.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if adopt {
            if !rest.iter().any(|a| a == "--adopt") {
                cmd.arg("--adopt");
            }
            cmd.env_remove("WHARF_READY_FD")
                .env_remove(super::attach::WAIT_ENV);
        }
        match &pty {
            Some(_) => cmd.env(PTY_ENV, PTY_FD.to_string()),
            None => cmd.env_remove(PTY_ENV),
        };
        let socket_fd = theirs.as_raw_fd();
        let pty_fd = pty.as_ref().map(|p| p.as_raw_fd());
        // SAFETY: only dup2 (async-signal-safe) runs between fork and exec;
        // the sources are at 10 and above, so no target clobbers a source.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(socket_fd, SOCKET_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(fd) = pty_fd {
                    if libc::dup2(fd, PTY_FD) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        self.monitor = Some((child.id(), Instant::now()));
        self.socket = Some(ours);
        Ok(())
    }
}

/// The same socket or pty at fd 10 or above, clear of the fds a monitor
/// gets them at.
fn high_fd(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    let raw = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))?;
    // SAFETY: fcntl just made this descriptor for us.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exit_is_read_back_only_for_the_same_process() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("42"), "1234 3\n").expect("write");
        assert_eq!(recorded_exit(dir.path(), 42, Some(1234)), Some(3));
        // Unknown start time (it exited before it was read): the pid decides.
        assert_eq!(recorded_exit(dir.path(), 42, None), Some(3));
        // A recycled pid: another process.
        assert_eq!(recorded_exit(dir.path(), 42, Some(99)), None);
        assert_eq!(recorded_exit(dir.path(), 43, None), None);
        std::fs::write(dir.path().join("44"), "garbage").expect("write");
        assert_eq!(recorded_exit(dir.path(), 44, None), None);
    }
}
