//! The monitor: the process that owns one running container. It starts the
//! container (see [`super::start`]: rootfs, network, bundle, runtime), then
//! — as the container's subreaper — stores its output in
//! the json-file log, forwards signals, collects its exit code, and tears
//! everything down again (runtime state, cgroups, mounts) when it exits.
//!
//! `wharf run` in the foreground runs the monitor in its own process and
//! also copies the output to the terminal; `wharf run -d` and `wharf start`
//! re-exec wharf as a detached monitor (`setsid`), so no daemon is needed.

use super::start::{self, open_fifo, open_log, spawn_resolver, Fifo, StartError};
use crate::image::store::ImageStore;
use crate::runtime::container::{ContainerRecord, ContainerState, Containers, Status};
use crate::runtime::oci_cli::OciRuntime;
use crate::runtime::rootfs;
use crate::supervise::logs::{LogWriter, Stream};
use crate::supervise::pty;
use crate::time::rfc3339_nanos;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

// Their home is `start`; callers know them by these names too.
pub use super::start::{bridged, stdio_dir, Attach};

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Start(Box<StartError>),
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::oci_cli::OciError),
    #[error("{what} of container {id}: {source}")]
    Sys {
        what: &'static str,
        id: String,
        source: nix::Error,
    },
}

impl MonitorError {
    /// The exit code `docker run` gives for a container that could not
    /// start: 127 for a missing command, 126 for one that cannot be run,
    /// 125 for everything else (a failure of wharf itself).
    pub fn exit_code(&self) -> i32 {
        match self {
            MonitorError::Start(e) => e.exit_code(),
            MonitorError::Runtime(e) => e.exit_code().unwrap_or(125),
            _ => 125,
        }
    }
}

type Result<T> = std::result::Result<T, MonitorError>;

impl From<StartError> for MonitorError {
    fn from(e: StartError) -> Self {
        MonitorError::Start(Box::new(e))
    }
}

/// Runs container `id` to completion and returns its exit code (128+N
/// when killed by signal N). `ready` hears "ok\n" once the container runs,
/// or "err CODE MESSAGE\n" if it could not start.
pub fn run(
    containers: &Containers,
    store: &ImageStore,
    id: &str,
    attach: Attach,
    ready: Option<File>,
) -> Result<i32> {
    // Only a detached monitor applies the restart policy; an attached
    // `run` hands the exit code to its user.
    let detached = ready.is_some();
    let result = supervise(containers, store, id, attach, ready, detached, None);
    close_attach_socket();
    result
}

/// The monitor is done: nobody can attach through it any more.
fn close_attach_socket() {
    if let Some(hub) = super::attach::Hub::current() {
        hub.close();
    }
}

/// What a new monitor found when it took over a container whose monitor
/// had died.
enum Found {
    /// Still running: it is ours now.
    Running(Box<Running>),
    /// Gone while nobody watched (its exit code is lost): the restart
    /// policy decides what follows.
    Exited(i32),
    /// Its monitor died during a restart (back-off or start): start it now.
    Restart,
    /// Another monitor took it over first.
    Taken,
}

/// Takes over container `id` after its monitor died (SIGKILL, the OOM
/// killer, a crash): a running container goes on under this process — its
/// output resumes from the FIFOs it has been writing to, its DNS resolver
/// and published ports come back — and one that exited meanwhile is
/// cleaned up and, if its restart policy says so, started again.
pub fn adopt(
    containers: &Containers,
    store: &ImageStore,
    id: &str,
    ready: Option<File>,
) -> Result<i32> {
    let result = adopt_and_supervise(containers, store, id, ready);
    close_attach_socket();
    result
}

fn adopt_and_supervise(
    containers: &Containers,
    store: &ImageStore,
    id: &str,
    ready: Option<File>,
) -> Result<i32> {
    let mut ready = ready;
    match take_over(containers, id) {
        Ok(Found::Running(r)) => supervise(
            containers,
            store,
            id,
            Attach::default(),
            ready,
            true,
            Some(*r),
        ),
        Ok(Found::Restart) => {
            match supervise(containers, store, id, Attach::default(), ready, true, None) {
                // A `stop` during the back-off: it stays exited, as asked.
                Err(MonitorError::Start(e))
                    if matches!(*e, StartError::StoppedWhileRestarting(_)) =>
                {
                    Ok(0)
                }
                r => r,
            }
        }
        Ok(Found::Taken) => {
            if let Some(mut r) = ready.take() {
                let _ = r.write_all(b"ok\n");
            }
            Ok(0)
        }
        Ok(Found::Exited(code)) => {
            let mut backoff = RESTART_BACKOFF_START;
            if restart_after(containers, id, code, &mut backoff, Duration::ZERO) {
                supervise(containers, store, id, Attach::default(), ready, true, None)
            } else {
                if let Some(mut r) = ready.take() {
                    let _ = r.write_all(b"ok\n");
                }
                Ok(code)
            }
        }
        Err(e) => {
            if let Some(r) = ready.as_mut() {
                let msg = e.to_string().replace('\n', " ");
                let _ = writeln!(r, "err {} {msg}", e.exit_code());
            }
            Err(e)
        }
    }
}

/// The monitor's life: start (or go on with an adopted container), wait,
/// and start again as the restart policy says.
fn supervise(
    containers: &Containers,
    store: &ImageStore,
    id: &str,
    attach: Attach,
    ready: Option<File>,
    detached: bool,
    adopted: Option<Running>,
) -> Result<i32> {
    let mut ready = ready;
    let mut backoff = RESTART_BACKOFF_START;
    let mut adopted = adopted;
    loop {
        let took_over = adopted.is_some();
        let started = match adopted.take() {
            Some(r) => Ok(r),
            None => start::start(containers, store, id, attach)
                .map(|s| Running::started(id, s))
                .map_err(MonitorError::from),
        };
        let running = match started {
            Ok(r) => r,
            Err(e) => {
                if let Some(r) = ready.as_mut() {
                    let msg = e.to_string().replace('\n', " ");
                    let _ = writeln!(r, "err {} {msg}", e.exit_code());
                }
                return Err(e);
            }
        };
        if !took_over {
            crate::runtime::events::emit(containers.root(), &running.record, "start", &[]);
        }
        if let Some(mut r) = ready.take() {
            let _ = r.write_all(b"ok\n");
        }
        let health = if super::health::active(&running.record.spec.healthcheck) {
            super::health::spawn(containers, id)
        } else {
            None
        };
        let began = std::time::Instant::now();
        let code = running.wait(containers);
        if let Some(mut h) = health {
            let _ = h.kill();
            let _ = h.wait();
        }
        if !detached || !restart_after(containers, id, code, &mut backoff, began.elapsed()) {
            return Ok(code);
        }
    }
}

/// The exit code recorded for a container that exited while it had no
/// monitor: only its parent could have read the real one. 255 is what
/// Docker reports when it lost track of a container's exit.
pub const EXIT_CODE_LOST: i32 = 255;

fn take_over(containers: &Containers, id: &str) -> Result<Found> {
    let _lock = containers.lock(id)?;
    let record = containers.record(id)?;
    let state = containers.state(id)?;
    let me = std::process::id();
    // Whoever spawned us wrote our pid, or that of the shim it started us
    // under, under this lock; the container's own shim starting us again
    // writes nothing: it finds the monitor it replaces dead. Anything else
    // means another monitor won (or the container was removed and
    // recreated).
    let parent = std::os::unix::process::parent_id();
    let our_shim = super::shim::parent().is_some_and(|s| state.shim_pid == Some(s.pid));
    let ours = state.monitor_pid == Some(me)
        || state.monitor_pid == Some(parent)
        || (our_shim && state.shim_alive() && !state.monitor_alive());
    if !ours {
        return Ok(Found::Taken);
    }
    if let (Some(pid), Status::Running | Status::Paused) = (state.pid, state.status) {
        if state.init_alive() {
            match crate::sys::pidfd::open(pid) {
                // The pid may have been recycled between the check and the open.
                Ok(fd) if state.init_alive() => {
                    let running = Running::adopted(containers, id, record, state, Some(fd))?;
                    containers.set_state(id, &running.state)?;
                    return Ok(Found::Running(Box::new(running)));
                }
                Ok(_) | Err(nix::errno::Errno::ESRCH) => {}
                // Not knowing is not "it exited": leave it be.
                Err(source) => {
                    return Err(MonitorError::Sys {
                        what: "pidfd_open",
                        id: id.to_string(),
                        source,
                    })
                }
            }
        }
    }
    // It exited while nobody watched, or its monitor died half-way through
    // a start: clean up what that monitor would have, under this lock.
    let restarting = state.status == Status::Restarting;
    // Its shim wrote down how it ended (read before the teardown removes it).
    // (`Dead`: what the state says of a running one whose init and monitor
    // are both gone.)
    let recorded = match state.status {
        Status::Running | Status::Paused | Status::Dead => exit_from_shim(containers, id, &state),
        _ => None,
    };
    let mut running = Running::adopted(containers, id, record, state, None)?;
    running.drain_pumps();
    let oom_killed = running.tear_down(containers);
    if restarting {
        return Ok(Found::Restart);
    }
    let code = recorded.unwrap_or(EXIT_CODE_LOST);
    let unknown = recorded
        .is_none()
        .then_some("its monitor was killed; the exit code is unknown");
    running.record_exit(containers, code, oom_killed, unknown);
    Ok(Found::Exited(code))
}

/// The exit code the shim of the container's run recorded for its init,
/// once that init is gone. The shim writes it as soon as it has reaped the
/// init, so while the shim lives it is worth waiting for; a shim that is
/// gone (or a container started with none) never will.
fn exit_from_shim(containers: &Containers, id: &str, state: &ContainerState) -> Option<i32> {
    let pid = state.pid?;
    let dir = super::shim::exits_dir(containers.run_root(), id);
    let deadline = std::time::Instant::now() + SHIM_EXIT_WAIT;
    loop {
        if let Some(code) = super::shim::recorded_exit(&dir, pid, state.pid_start) {
            return Some(code);
        }
        if !state.shim_alive() || std::time::Instant::now() >= deadline {
            // It may have written it just before it went.
            return super::shim::recorded_exit(&dir, pid, state.pid_start);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long a live shim gets to write down an exit it has seen; it does so
/// at once, so only a shim that hangs makes this matter.
const SHIM_EXIT_WAIT: Duration = Duration::from_secs(30);

/// Docker's back-off: 100 ms doubling to one minute, reset once a
/// container has stayed up for 10 s.
const RESTART_BACKOFF_START: Duration = Duration::from_millis(100);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(60);
const RESTART_RESET_AFTER: Duration = Duration::from_secs(10);

/// Whether the policy brings the container back; if so, waits out the
/// back-off as `restarting` (a `stop` or `rm` meanwhile ends it).
fn restart_after(
    containers: &Containers,
    id: &str,
    code: i32,
    backoff: &mut Duration,
    ran: Duration,
) -> bool {
    let Ok(record) = containers.record(id) else {
        return false;
    };
    {
        let Ok(_lock) = containers.lock(id) else {
            return false;
        };
        let Ok(mut state) = containers.state(id) else {
            return false;
        };
        // Started again meanwhile (by a user's `start`): not ours to restart.
        if state.status != Status::Exited
            || state.manually_stopped
            || !record.spec.restart.wants_restart(code, state.restart_count)
        {
            return false;
        }
        state.status = Status::Restarting;
        state.restart_count += 1;
        // Restarting has a monitor: if this one dies during the back-off,
        // the next command sees it and a new one carries on.
        let me = std::process::id();
        state.monitor_pid = Some(me);
        state.monitor_start = crate::runtime::container::process_start_time(me);
        if containers.set_state(id, &state).is_err() {
            return false;
        }
    }
    if ran >= RESTART_RESET_AFTER {
        *backoff = RESTART_BACKOFF_START;
    }
    let until = std::time::Instant::now() + *backoff;
    *backoff = (*backoff * 2).min(RESTART_BACKOFF_MAX);
    while std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
        match containers.state(id) {
            Ok(s) if !s.manually_stopped => {}
            Ok(mut s) => {
                // Stopped while waiting: it stays exited.
                let _lock = containers.lock(id);
                s.status = Status::Exited;
                let _ = containers.set_state(id, &s);
                return false;
            }
            Err(_) => return false,
        }
    }
    true
}

struct Running {
    id: String,
    record: ContainerRecord,
    runtime: OciRuntime,
    pid: Pid,
    signals: SignalFd,
    pumps: Vec<std::thread::JoinHandle<()>>,
    log: Arc<Mutex<LogWriter>>,
    state: ContainerState,
    /// With a terminal: the pty master, and our terminal's raw mode.
    tty: Option<(OwnedFd, Option<pty::RawMode>)>,
    /// The container's 127.0.0.11 (bridge networks only); it lives as
    /// long as the container does.
    resolver: Option<crate::net::dns::ResolverHandle>,
    /// Published ports: the nftables table and the proxy's sockets.
    published: Option<crate::net::ports::PublishedPorts>,
    /// The init is not our child (a shim is its parent, or it was taken
    /// over from a dead monitor): its end shows on `pidfd`, its exit code
    /// comes from the shim.
    watched: bool,
    /// Readable once the init exits.
    pidfd: Option<OwnedFd>,
    /// The record file's inode and mtime when last read (`None`: not yet):
    /// `network connect` rewrites it (see
    /// [`Running::start_resolver_on_connect`]).
    record_stamp: Option<(u64, SystemTime)>,
}

/// What identifies one version of container `id`'s record file: it is
/// replaced by rename, so the inode changes even within one mtime tick.
fn record_stamp(containers: &Containers, id: &str) -> Option<(u64, SystemTime)> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(containers.dir(id).record()).ok()?;
    Some((meta.ino(), meta.modified().ok()?))
}

/// Everything up to a running container; on failure, undoes what it did.
fn same_host_ports(
    configured: &[crate::runtime::spec::PortBinding],
    resolved: &[crate::runtime::spec::PortBinding],
) -> Vec<crate::runtime::spec::PortBinding> {
    configured
        .iter()
        .map(|c| {
            let mut b = c.clone();
            if b.host_port == 0 {
                if let Some(r) = resolved.iter().find(|r| {
                    r.container_port == c.container_port
                        && r.protocol == c.protocol
                        && c.host_ip.is_none_or(|ip| Some(ip) == r.host_ip)
                }) {
                    b.host_port = r.host_port;
                }
            }
            b
        })
        .collect()
}

impl Running {
    fn started(id: &str, s: start::Started) -> Running {
        // Under a shim the init is the shim's child. The pid may have been
        // recycled between the start and the open: then it is gone already.
        let watched = super::shim::parent().is_some();
        let pidfd = if watched {
            crate::sys::pidfd::open(s.pid.as_raw() as u32)
                .ok()
                .filter(|_| s.state.init_alive())
        } else {
            None
        };
        Running {
            id: id.to_string(),
            record: s.record,
            runtime: s.runtime,
            pid: s.pid,
            signals: s.signals,
            pumps: s.pumps,
            log: s.log,
            state: s.state,
            tty: s.tty,
            resolver: s.resolver,
            published: s.published,
            watched,
            pidfd,
            record_stamp: None,
        }
    }

    /// A container started by a monitor that died. With `pidfd` it still
    /// runs: its output, DNS resolver and published ports are taken up
    /// again; without, only what `finish` needs is set up.
    fn adopted(
        containers: &Containers,
        id: &str,
        record: ContainerRecord,
        mut state: ContainerState,
        pidfd: Option<OwnedFd>,
    ) -> Result<Running> {
        let signals = start::signal_fd()?;
        let runtime = OciRuntime::named(
            &record.runtime,
            containers.runtime_state_root(&record.runtime),
        )?;
        let log = open_log(&containers.dir(id), &record)?;
        let mut running = Running {
            id: id.to_string(),
            pid: Pid::from_raw(state.pid.unwrap_or_default() as i32),
            runtime,
            signals,
            pumps: Vec::new(),
            log,
            state: state.clone(),
            tty: None,
            resolver: None,
            published: None,
            watched: true,
            pidfd: None,
            record_stamp: None,
            record,
        };
        let Some(pidfd) = pidfd else {
            // Its port rules outlived the monitor that owned them.
            if !running.record.spec.ports.is_empty() {
                if let Err(e) = crate::net::ports::unpublish(id) {
                    tracing::warn!("removing the published ports of {id}: {e}");
                }
            }
            // What it wrote after its monitor died waits in its FIFOs or
            // terminal: into the log before they go.
            if matches!(
                running.state.status,
                Status::Running | Status::Paused | Status::Dead
            ) {
                running.take_up_output(containers);
            }
            return Ok(running);
        };
        running.pidfd = Some(pidfd);
        running.take_up_output(containers);
        // Its DNS and published ports matter less than supervising it at
        // all: a failure here is reported and the container kept.
        if bridged(&running.record.spec) {
            match crate::net::attach::current(containers.root(), containers.run_root(), id) {
                Ok(attached) => {
                    match spawn_resolver(containers.root(), id, &running.record.spec, &attached) {
                        Ok(r) => running.resolver = r,
                        Err(e) => tracing::warn!("the DNS resolver of {id}: {e}"),
                    }
                    if !running.record.spec.ports.is_empty() {
                        let mut spec = running.record.spec.clone();
                        spec.ports = same_host_ports(&spec.ports, &state.ports);
                        match start::publish_ports(containers, id, &spec, &attached) {
                            Ok(p) => {
                                state.ports = p.bindings().to_vec();
                                running.published = Some(p);
                            }
                            Err(e) => {
                                tracing::warn!("publishing the ports of {id} again: {e}");
                                state.ports.clear();
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("the networks of {id}: {e}"),
            }
        }
        state.monitor_pid = Some(std::process::id());
        state.monitor_start = crate::runtime::container::process_start_time(std::process::id());
        running.state = state;
        Ok(running)
    }

    /// Takes up the output of a container whose monitor died.
    fn take_up_output(&mut self, containers: &Containers) {
        // One with FIFOs has kept writing to them. One with a terminal kept
        // it if its shim held the pty master for it (only the shim that is
        // its parent has that one); else its output is lost.
        if self.record.spec.tty {
            let held = super::shim::parent()
                .filter(|s| self.state.shim_pid == Some(s.pid))
                .and_then(|s| s.take_pty());
            match held {
                Some(master) => {
                    let hub = super::attach::Hub::get(containers.run_root(), &self.id);
                    match pty::pump_output(&master, Some(self.log.clone()), hub, false) {
                        Ok(p) => self.pumps.push(p),
                        Err(e) => tracing::warn!("the terminal output of {} is lost: {e}", self.id),
                    }
                    self.tty = Some((master, None));
                }
                None => {
                    tracing::info!(
                        "{} has a terminal: its output since its monitor died is lost",
                        self.id
                    )
                }
            }
        } else {
            let io_dir = stdio_dir(containers.run_root(), &self.id);
            for (name, stream) in start::STDIO_NAMES
                .iter()
                .zip([Stream::Stdout, Stream::Stderr])
            {
                match open_fifo(&io_dir.join(name), Fifo::Read) {
                    Ok(fd) => self
                        .pumps
                        .push(start::pump(fd, stream, self.log.clone(), false)),
                    Err(e) => tracing::warn!("the {name} of {} is lost: {e}", self.id),
                }
            }
        }
    }

    /// Waits for the output pumps to reach EOF (every writer gone), 2 s at
    /// most: a daemon left behind (pid: host) must not keep us forever.
    fn drain_pumps(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        for p in std::mem::take(&mut self.pumps) {
            while !p.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if p.is_finished() {
                let _ = p.join();
            }
        }
        if let Ok(mut log) = self.log.lock() {
            let _ = log.flush_partial();
        }
    }

    fn wait(mut self, containers: &Containers) -> i32 {
        let code = loop {
            if let Some(code) = self.reap(containers) {
                break code;
            }
            self.start_resolver_on_connect(containers);
            // The signalfd wakes us for SIGCHLD; the timeout covers a
            // SIGCHLD taken by a thread that did not block it.
            let mut fds = vec![nix::poll::PollFd::new(
                self.signals.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            if let Some(p) = &self.pidfd {
                fds.push(nix::poll::PollFd::new(
                    p.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                ));
            }
            let _ = nix::poll::poll(&mut fds, 200u16);
            while let Ok(Some(info)) = self.signals.read_signal() {
                let signo = info.ssi_signo as i32;
                if signo == Signal::SIGWINCH as i32 {
                    if let Some((master, _)) = &self.tty {
                        pty::copy_window_size(master);
                    }
                } else if signo != Signal::SIGCHLD as i32 {
                    self.signal(signo);
                }
            }
        };
        self.finish(containers, code);
        code
    }

    /// A container on Docker's default bridge alone has no resolver (its
    /// resolv.conf lists the host's servers); `network connect` to a user
    /// network gives it one on 127.0.0.11 at once, as Docker does (recorded
    /// in tests/data/docker-verbs/connect-default-bridge-dns.txt). The
    /// connect rewrites the record, which is checked here each turn of the
    /// loop (a stat) while there is no resolver; read once at first, for a
    /// connect made while the container was still starting.
    fn start_resolver_on_connect(&mut self, containers: &Containers) {
        if self.resolver.is_some() || !bridged(&self.record.spec) {
            return;
        }
        let stamp = record_stamp(containers, &self.id);
        if stamp == self.record_stamp {
            return;
        }
        self.record_stamp = stamp;
        let Ok(record) = containers.record(&self.id) else {
            return;
        };
        match start::resolver_after_connect(containers, &self.id, &record.spec) {
            Ok(resolver) => self.resolver = resolver,
            Err(e) => tracing::warn!("the DNS resolver of {}: {e}", self.id),
        }
    }

    /// Forwards a signal to the container's init: through the pidfd when it
    /// is not our child (a recycled pid cannot get it), else by pid.
    fn signal(&self, signo: i32) {
        match &self.pidfd {
            Some(fd) => {
                let _ = crate::sys::pidfd::send_signal(fd.as_fd(), signo);
            }
            None => {
                if let Ok(sig) = Signal::try_from(signo) {
                    let _ = nix::sys::signal::kill(self.pid, sig);
                }
            }
        }
    }

    /// Reaps every exited child; returns the container's exit code once
    /// its init is gone.
    fn reap(&self, containers: &Containers) -> Option<i32> {
        let mut result = None;
        if self.watched {
            let gone = match &self.pidfd {
                Some(p) => {
                    let mut fds = [nix::poll::PollFd::new(
                        p.as_fd(),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    nix::poll::poll(&mut fds, 0u16).is_ok_and(|n| n > 0)
                }
                None => !self.state.init_alive(),
            };
            if gone {
                result = Some(
                    exit_from_shim(containers, &self.id, &self.state).unwrap_or(EXIT_CODE_LOST),
                );
            }
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == self.pid && !self.watched => {
                    result = Some(code)
                }
                Ok(WaitStatus::Signaled(p, sig, _)) if p == self.pid && !self.watched => {
                    result = Some(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        result
    }

    fn finish(mut self, containers: &Containers, code: i32) {
        // Its sockets keep the network namespace alive: gone before detach.
        drop(self.resolver.take());
        drop(self.published.take());
        // Our terminal leaves raw mode as soon as the container is gone.
        if let Some((_, raw)) = self.tty.as_mut() {
            raw.take();
        }
        // The pipes reach EOF when every process holding them is gone.
        self.drain_pumps();
        let _lock = containers.lock(&self.id);
        let oom_killed = self.tear_down(containers);
        self.record_exit(containers, code, oom_killed, None);
        // After the record: a client that looks finds it exited.
        if let Some(hub) = super::attach::Hub::current() {
            hub.exited(code);
        }
    }

    /// Under the container's lock: what a container that is gone leaves
    /// behind (runtime state, cgroups, output FIFOs, the rootfs mount, its
    /// network endpoints). Safe to repeat. Whether the kernel's OOM killer
    /// struck, read before its cgroup goes.
    fn tear_down(&self, containers: &Containers) -> bool {
        let oom_killed = crate::runtime::cgroups::oom_killed(
            std::path::Path::new("/sys/fs/cgroup"),
            &self.record.spec.cgroups_path(&self.id),
            &self.id,
        );
        if let Err(e) = self.runtime.delete(&self.id, true) {
            tracing::warn!("removing the runtime state of {}: {e}", self.record.name);
        }
        crate::runtime::cgroups::remove_or_warn(
            &self.record.spec.cgroups_path(&self.id),
            &self.id,
            &self.record.name,
        );
        let _ = std::fs::remove_dir_all(stdio_dir(containers.run_root(), &self.id));
        let _ = std::fs::remove_dir_all(super::shim::exits_dir(containers.run_root(), &self.id));
        let dir = containers.dir(&self.id);
        if let Err(e) = rootfs::unmount_rootfs(&dir.rootfs()) {
            tracing::warn!("unmounting the rootfs of {}: {e}", self.record.name);
        }
        if bridged(&self.record.spec) {
            if let Err(e) =
                crate::net::attach::detach(containers.root(), containers.run_root(), &self.id)
            {
                tracing::warn!("detaching {} from its networks: {e}", self.record.name);
            }
        }
        oom_killed
    }

    /// Under the container's lock: the state says it exited with `code`.
    fn record_exit(
        self,
        containers: &Containers,
        code: i32,
        oom_killed: bool,
        error: Option<&str>,
    ) {
        // The file, not our copy: a `stop` meanwhile marked it manually
        // stopped, and the restart count lives there.
        let mut state = containers.state(&self.id).unwrap_or(self.state);
        state.health = None;
        state.ports.clear();
        state.status = Status::Exited;
        state.exit_code = Some(code);
        state.oom_killed = oom_killed;
        state.pid = None;
        state.pid_start = None;
        state.monitor_pid = None;
        state.monitor_start = None;
        state.finished_at = Some(rfc3339_nanos(SystemTime::now()));
        if let Some(e) = error {
            state.error = Some(e.to_string());
        }
        // Before the state says exited, so `stop` (which waits for that)
        // records its "stop" after this "die", as Docker orders them.
        crate::runtime::events::emit(
            containers.root(),
            &self.record,
            "die",
            &[("exitCode", code.to_string())],
        );
        if let Err(e) = containers.set_state(&self.id, &state) {
            tracing::warn!("recording the exit of {}: {e}", self.record.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::spec::{PortBinding, Protocol};

    fn b(ip: Option<&str>, host: u16, container: u16) -> PortBinding {
        PortBinding {
            host_ip: ip.map(|i| i.parse().expect("ip")),
            host_port: host,
            container_port: container,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn adoption_republishes_as_configured_with_the_chosen_ports() {
        // "8080:80", "8000" and "127.0.0.1::9000" as configured; publish
        // resolved each to per-family bindings with chosen random ports.
        let configured = [
            b(None, 8080, 80),
            b(None, 0, 8000),
            b(Some("127.0.0.1"), 0, 9000),
        ];
        let resolved = [
            b(Some("0.0.0.0"), 8080, 80),
            b(Some("::"), 8080, 80),
            b(Some("0.0.0.0"), 32768, 8000),
            b(Some("::"), 32768, 8000),
            b(Some("127.0.0.1"), 32769, 9000),
        ];
        assert_eq!(
            same_host_ports(&configured, &resolved),
            [
                b(None, 8080, 80),
                b(None, 32768, 8000),
                b(Some("127.0.0.1"), 32769, 9000)
            ]
        );
        // Nothing resolved yet: as configured.
        assert_eq!(same_host_ports(&configured, &[]), configured);
    }
}
