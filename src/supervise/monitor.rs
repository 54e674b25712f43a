//! The monitor: the process that owns one running container. It mounts the
//! rootfs, writes the bundle, has the OCI runtime create and start the
//! container, then — as the container's subreaper — stores its output in
//! the json-file log, forwards signals, collects its exit code, and tears
//! everything down again (runtime state, cgroups, mounts) when it exits.
//!
//! `wharf run` in the foreground runs the monitor in its own process and
//! also copies the output to the terminal; `wharf run -d` and `wharf start`
//! re-exec wharf as a detached monitor (`setsid`), so no daemon is needed.

use crate::image::store::{ImageRecord, ImageStore};
use crate::runtime::bundle::{self, BundleInputs};
use crate::runtime::container::{ContainerRecord, ContainerState, Containers, Status};
use crate::runtime::oci_cli::{OciRuntime, ProcessIo};
use crate::runtime::spec::MountSpec;
use crate::runtime::{etc, init, rootfs};
use crate::supervise::logs::{LogWriter, Rotation, Stream};
use crate::supervise::pty;
use crate::time::rfc3339_nanos;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error(transparent)]
    Ports(#[from] Box<crate::net::ports::PortError>),
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error("image {0} is not in the store any more; pull it again")]
    ImageGone(String),
    #[error("image config of {image}: {message}")]
    ImageConfig { image: String, message: String },
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    #[error(transparent)]
    Etc(#[from] etc::EtcError),
    #[error(transparent)]
    Init(#[from] init::InitError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::oci_cli::OciError),
    #[error(transparent)]
    Log(#[from] crate::supervise::logs::LogError),
    #[error("{0}: {1}")]
    Sys(&'static str, nix::Error),
    #[error(transparent)]
    Network(#[from] crate::net::attach::AttachError),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("container {0} was stopped while it waited to restart")]
    StoppedWhileRestarting(String),
}

impl MonitorError {
    /// The exit code `docker run` gives for a container that could not
    /// start: 127 for a missing command, 126 for one that cannot be run,
    /// 125 for everything else (a failure of wharf itself).
    pub fn exit_code(&self) -> i32 {
        match self {
            MonitorError::Runtime(e) => e.exit_code().unwrap_or(125),
            _ => 125,
        }
    }
}

type Result<T> = std::result::Result<T, MonitorError>;

/// How the foreground process takes part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attach {
    /// Copy the container's output to this process's stdout/stderr.
    pub output: bool,
    /// Copy this process's stdin to the container (`-i`).
    pub stdin: bool,
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
    supervise(containers, store, id, attach, ready, None)
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
    let mut ready = ready;
    match take_over(containers, id) {
        Ok(Found::Running(r)) => {
            supervise(containers, store, id, Attach::default(), ready, Some(*r))
        }
        Ok(Found::Restart) => {
            match supervise(containers, store, id, Attach::default(), ready, None) {
                // A `stop` during the back-off: it stays exited, as asked.
                Err(MonitorError::StoppedWhileRestarting(_)) => Ok(0),
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
                supervise(containers, store, id, Attach::default(), ready, None)
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
    adopted: Option<Running>,
) -> Result<i32> {
    let mut ready = ready;
    // Only a detached monitor applies the restart policy; an attached
    // `run` hands the exit code to its user.
    let detached = ready.is_some();
    let mut backoff = RESTART_BACKOFF_START;
    let mut adopted = adopted;
    loop {
        let took_over = adopted.is_some();
        let started = match adopted.take() {
            Some(r) => Ok(r),
            None => start(containers, store, id, attach),
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
    // Whoever spawned us wrote our pid under this lock; another pid means
    // another monitor won (or the container was removed and recreated).
    // (It also wrote our start time, which is what `monitor_alive` checks.)
    if state.monitor_pid != Some(me) {
        return Ok(Found::Taken);
    }
    if let (Some(pid), Status::Running | Status::Paused) = (state.pid, state.status) {
        if state.init_alive() {
            match pidfd_open(pid) {
                // The pid may have been recycled between the check and the open.
                Ok(fd) if state.init_alive() => {
                    let running = Running::adopted(containers, id, record, state, Some(fd))?;
                    containers.set_state(id, &running.state)?;
                    return Ok(Found::Running(Box::new(running)));
                }
                Ok(_) | Err(nix::errno::Errno::ESRCH) => {}
                // Not knowing is not "it exited": leave it be.
                Err(e) => return Err(MonitorError::Sys("pidfd_open", e)),
            }
        }
    }
    // It exited while nobody watched, or its monitor died half-way through
    // a start: clean up what that monitor would have, under this lock.
    let restarting = state.status == Status::Restarting;
    let running = Running::adopted(containers, id, record, state, None)?;
    let oom_killed = running.tear_down(containers);
    if restarting {
        return Ok(Found::Restart);
    }
    running.record_exit(
        containers,
        EXIT_CODE_LOST,
        oom_killed,
        Some("its monitor was killed; the exit code is unknown"),
    );
    Ok(Found::Exited(EXIT_CODE_LOST))
}

fn pidfd_open(pid: u32) -> nix::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

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
    /// For a container taken over from a dead monitor (not our child, so
    /// no waitpid): readable once it exits.
    pidfd: Option<OwnedFd>,
}

/// Everything up to a running container; on failure, undoes what it did.
fn start(containers: &Containers, store: &ImageStore, id: &str, attach: Attach) -> Result<Running> {
    let _lock = containers.lock(id)?;
    let record = containers.record(id)?;
    let mut state = containers.state(id)?;
    if state.status == Status::Running {
        return Err(MonitorError::AlreadyRunning(record.name.clone()));
    }
    if state.status == Status::Restarting && state.manually_stopped {
        state.status = Status::Exited;
        state.monitor_pid = None;
        state.monitor_start = None;
        let _ = containers.set_state(id, &state);
        return Err(MonitorError::StoppedWhileRestarting(record.name.clone()));
    }
    let me = std::process::id();
    if state.monitor_pid.is_some_and(|m| m != me) && state.monitor_alive() {
        // Another monitor owns it (restarting, or starting it right now).
        return Err(MonitorError::AlreadyRunning(record.name.clone()));
    }
    // Recorded before anything is made: if this process dies half-way,
    // the next command sees a dead monitor and cleans up after it.
    state.monitor_pid = Some(me);
    state.monitor_start = crate::runtime::container::process_start_time(me);
    containers.set_state(id, &state)?;
    let mut owner = MonitorMark {
        containers,
        id,
        armed: true,
    };
    let signals = signal_fd()?;
    // Orphans of the runtime (the container's init once `create` returns)
    // are re-parented to us, so waitpid sees the container exit.
    set_subreaper()?;

    let dir = containers.dir(id);
    let runtime = OciRuntime::named(
        &record.runtime,
        containers.runtime_state_root(&record.runtime),
    )?;
    let mut prepared = Prepared {
        rootfs: None,
        runtime: (
            record.runtime.clone(),
            containers.runtime_state_root(&record.runtime),
        ),
        id,
        created: false,
        network: None,
        io_dir: None,
    };
    let image = store
        .resolve(&record.image_id.to_string())?
        .ok_or_else(|| MonitorError::ImageGone(record.image.clone()))?;
    let config = image_config(store, &image)?;
    rootfs::mount_rootfs(store, &image, &dir.path, &dir.rootfs())?;
    prepared.rootfs = Some(dir.rootfs());
    let attached = if bridged(&record.spec) {
        let hostname = record
            .spec
            .hostname
            .clone()
            .unwrap_or_else(|| id[..12].to_string());
        // Before the bundle: the runtime joins the finished namespace.
        prepared.network = Some((
            containers.root().to_path_buf(),
            containers.run_root().to_path_buf(),
        ));
        Some(crate::net::attach::attach(
            containers.root(),
            containers.run_root(),
            id,
            &record.name,
            &hostname,
            &record.spec.networks,
        )?)
    } else {
        None
    };
    let resolver = match &attached {
        Some(a) => Some(
            spawn_resolver(containers.root(), &record.spec, a)
                .map_err(|e| sys_io("starting the DNS resolver", e.into()))?,
        ),
        None => None,
    };
    let published = match &attached {
        Some(a) if !record.spec.ports.is_empty() => {
            Some(publish_ports(containers, id, &record.spec, a)?)
        }
        _ => None,
    };
    let etc_files = write_etc_files(&dir.path, &record.spec, id, attached.as_ref())?;
    for m in &record.spec.mounts {
        // Docker makes a missing bind source a directory (compose's
        // create_host_path, and every `-v /path:/x`).
        if let MountSpec::Bind {
            source,
            create_host_path: true,
            ..
        } = m
        {
            if !source.exists() {
                std::fs::create_dir_all(source)
                    .map_err(|e| sys_io("creating a bind mount source", e))?;
            }
        }
        if let MountSpec::Volume {
            source,
            target,
            nocopy: false,
            subpath: None,
            ..
        } = m
        {
            rootfs::seed_volume(&dir.rootfs(), target, source)?;
        }
    }
    let init = if record.spec.init {
        Some(init::init_binary(containers.root())?)
    } else {
        None
    };
    // `container:x` / `service:x`: the other container's namespaces as of now.
    let spec = containers.resolve_namespaces(&record.spec)?;
    let oci = bundle::build(&BundleInputs {
        id,
        spec: &spec,
        image: &config,
        rootfs: &dir.rootfs(),
        etc: Some(etc_files),
        cgroups_path: crate::runtime::cgroups::container_path(id),
        init,
        netns: attached.as_ref().map(|a| a.netns.clone()),
    })?;
    std::fs::create_dir_all(dir.bundle()).map_err(|e| {
        MonitorError::Sys(
            "creating the bundle directory",
            nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    })?;
    bundle::write_bundle(&dir.bundle(), &oci)?;

    let log = open_log(&dir, &record)?;
    let mut pumps = Vec::new();
    let mut tty = None;
    let pid = if record.spec.tty {
        // A terminal: the runtime hands us the pty master over a socket;
        // its path must fit a sockaddr_un, so it lives in the short run root.
        let path = containers.run_root().join(format!("{}.console", &id[..12]));
        let _ = std::fs::remove_file(&path);
        let sock = crate::runtime::oci_cli::ConsoleSocket::bind(&path)
            .map_err(|e| sys_io("binding the console socket", e))?;
        let started = runtime.create(id, &dir.bundle(), ProcessIo::Console(&sock))?;
        prepared.created = true;
        let master = started
            .pty
            .ok_or_else(|| sys_io("receiving the pty", io::Error::other("no pty received")))?;
        if attach.output {
            pty::copy_window_size(&master);
        }
        pumps.push(
            pty::pump_output(&master, Some(log.clone()), attach.output)
                .map_err(|e| sys_io("reading the pty", e))?,
        );
        let raw = if attach.stdin && record.spec.stdin_open {
            pty::pump_input(&master).map_err(|e| sys_io("writing the pty", e))?;
            Some(pty::RawMode::enter())
        } else {
            None
        };
        runtime.start(id)?;
        tty = Some((master, raw));
        started.pid
    } else {
        let io_dir = stdio_dir(containers.run_root(), id);
        prepared.io_dir = Some(io_dir.clone());
        let [(out_w, out_r), (err_w, err_r)] =
            stdio_fifos(&io_dir).map_err(|e| sys_io("creating the output FIFOs", e))?;
        let (in_r, in_w) = if attach.stdin && record.spec.stdin_open {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let stdin_fd = match in_r {
            Some(fd) => fd,
            None => File::open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| sys_io("opening /dev/null", e))?,
        };
        let started = runtime.create(
            id,
            &dir.bundle(),
            ProcessIo::Inherit {
                stdin: stdin_fd,
                stdout: out_w,
                stderr: err_w,
            },
        )?;
        prepared.created = true;
        runtime.start(id)?;
        pumps.push(pump(out_r, Stream::Stdout, log.clone(), attach.output));
        pumps.push(pump(err_r, Stream::Stderr, log.clone(), attach.output));
        if let Some(w) = in_w {
            pumps.push(feed_stdin(w));
        }
        started.pid
    };
    let pid = Pid::from_raw(pid as i32);
    state.status = Status::Running;
    state.ports = published
        .as_ref()
        .map(|p| p.bindings().to_vec())
        .unwrap_or_default();
    state.manually_stopped = false;
    state.pid = Some(pid.as_raw() as u32);
    state.monitor_pid = Some(std::process::id());
    state.pid_start = crate::runtime::container::process_start_time(pid.as_raw() as u32);
    state.monitor_start = crate::runtime::container::process_start_time(std::process::id());
    state.started_at = Some(rfc3339_nanos(SystemTime::now()));
    state.finished_at = None;
    state.exit_code = None;
    state.error = None;
    containers.set_state(id, &state)?;
    prepared.disarm();
    owner.armed = false;
    Ok(Running {
        id: id.to_string(),
        record,
        runtime,
        pid,
        pidfd: None,
        signals,
        pumps,
        log,
        state,
        tty,
        resolver,
        published,
    })
}

/// The container's json-file log, rotated as its `logging.options` say.
fn open_log(
    dir: &crate::runtime::container::ContainerDir,
    record: &ContainerRecord,
) -> Result<Arc<Mutex<LogWriter>>> {
    Ok(Arc::new(Mutex::new(LogWriter::open(
        &dir.log(),
        Rotation {
            max_size: record.spec.log_max_size.filter(|&s| s > 0),
            max_files: record.spec.log_max_files.unwrap_or(1).max(1),
        },
    )?)))
}

/// Blocks the signals the monitor forwards or handles and returns a
/// signalfd for them. Blocked before any thread exists, so every thread
/// inherits the mask and they all arrive on the signalfd.
fn signal_fd() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    for s in FORWARDED
        .iter()
        .chain([&Signal::SIGCHLD, &Signal::SIGWINCH])
    {
        mask.add(*s);
    }
    mask.thread_block()
        .map_err(|e| MonitorError::Sys("blocking signals", e))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| MonitorError::Sys("signalfd", e))
}

/// Where a container's stdout and stderr FIFOs live.
pub fn stdio_dir(run_root: &std::path::Path, id: &str) -> std::path::PathBuf {
    run_root.join("io").join(id)
}

const STDIO_NAMES: [&str; 2] = ["stdout", "stderr"];

/// A container writes its stdout and stderr to FIFOs rather than pipes,
/// and holds them read-write: a write never fails for want of a reader,
/// so the container outlives a killed monitor, and what it writes
/// meanwhile waits in the FIFO (1 MiB, then the writer blocks) for the
/// monitor that adopts it. Returns (container end, monitor end) pairs.
fn stdio_fifos(dir: &std::path::Path) -> io::Result<[(OwnedFd, OwnedFd); 2]> {
    use nix::sys::stat::Mode;
    std::fs::create_dir_all(dir)?;
    let open = |name: &str| -> io::Result<(OwnedFd, OwnedFd)> {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))?;
        let writer = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        let reader = open_fifo_reader(&path)?;
        Ok((writer.into(), reader))
    };
    Ok([open(STDIO_NAMES[0])?, open(STDIO_NAMES[1])?])
}

/// Opens a FIFO for reading without waiting for a writer, then makes the
/// descriptor blocking for the pump, and asks for a 1 MiB buffer (what
/// the container may write while it has no monitor).
fn open_fifo_reader(path: &std::path::Path) -> io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    fcntl(&file, FcntlArg::F_SETFL(OFlag::empty())).map_err(io::Error::from)?;
    // Best effort: the limit is /proc/sys/fs/pipe-max-size.
    let _ = fcntl(&file, FcntlArg::F_SETPIPE_SZ(1 << 20));
    Ok(file.into())
}

/// The ports as configured, with the host ports the last publish chose
/// for the random ones (`"8000"`), so an adopted container keeps its
/// addresses. Configured, not as resolved: one `"8080:80"` became two
/// bindings (0.0.0.0 and ::) that would collide if published as given.
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

/// Publishes the container's ports on its first (highest-priority)
/// network's address, as Docker does.
fn publish_ports(
    containers: &Containers,
    id: &str,
    spec: &crate::runtime::spec::ContainerSpec,
    a: &crate::net::attach::Attached,
) -> Result<crate::net::ports::PublishedPorts> {
    let Some(first) = a.endpoints.first() else {
        return Err(sys_io(
            "publishing ports",
            io::Error::other("the container is on no network"),
        ));
    };
    let bridge = crate::net::store::Networks::open(containers.root())
        .and_then(|s| s.find(&first.network_id))
        .map(|n| n.bridge)
        .map_err(|e| sys_io("publishing ports", io::Error::other(e.to_string())))?;
    crate::net::ports::publish(&crate::net::ports::PublishConfig {
        container_id: id,
        ipv4: first.ipv4,
        ipv6: first.ipv6,
        bridge: &bridge,
        ports: &spec.ports,
        mode: crate::net::ports::Mode::Auto,
    })
    .map_err(|e| MonitorError::Ports(Box::new(e)))
}

/// Docker's embedded DNS for a bridged container: names from the networks
/// it is on, everything else forwarded from here (the host's namespace)
/// to `dns:` or the host's resolvers — none for internal-only containers,
/// so names cannot leak out of an internal network.
fn spawn_resolver(
    root: &std::path::Path,
    spec: &crate::runtime::spec::ContainerSpec,
    a: &crate::net::attach::Attached,
) -> std::result::Result<crate::net::dns::ResolverHandle, crate::net::dns::DnsError> {
    use crate::net::dns;
    let networks: Vec<String> = a.endpoints.iter().map(|e| e.network_id.clone()).collect();
    let internal_only = crate::net::store::Networks::open(root)
        .map(|store| {
            networks
                .iter()
                .all(|n| store.find(n).map(|r| r.internal).unwrap_or(false))
        })
        .unwrap_or(false);
    let host = dns::read_resolv_conf(std::path::Path::new("/etc/resolv.conf"))
        .unwrap_or_else(|_| dns::parse_resolv_conf(""));
    let mut cfg = dns::ResolverConfig::new(root, networks);
    cfg.netns = Some(a.netns.clone());
    cfg.upstreams = if internal_only {
        Vec::new()
    } else {
        dns::upstreams(&spec.dns, &host)?
    };
    cfg.search = spec.dns_search.clone();
    cfg.ndots_set = dns::ndots_set(&spec.dns_opt);
    dns::Resolver::spawn(cfg)
}

/// Whether the container gets bridge networking (its own namespace with
/// veths on user networks) rather than none, the host's or another's.
pub fn bridged(spec: &crate::runtime::spec::ContainerSpec) -> bool {
    spec.namespaces.net == crate::runtime::spec::NsMode::Private && !spec.networks.is_empty()
}

fn sys_io(what: &'static str, e: io::Error) -> MonitorError {
    MonitorError::Sys(
        what,
        nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    )
}

/// The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, kept
/// in its directory and bind-mounted by the bundle.
fn write_etc_files(
    dir: &std::path::Path,
    spec: &crate::runtime::spec::ContainerSpec,
    id: &str,
    attached: Option<&crate::net::attach::Attached>,
) -> Result<bundle::EtcFiles> {
    use crate::runtime::spec::NsMode;
    let hostname = spec
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    let files = bundle::EtcFiles {
        hosts: dir.join("hosts"),
        hostname: dir.join("hostname"),
        resolv_conf: dir.join("resolv.conf"),
    };
    etc::write_etc_file(&files.hostname, &etc::hostname_file(&hostname))?;
    let addresses = attached.map(|a| a.addresses()).unwrap_or_default();
    let ipv6 = addresses.iter().any(|a| a.is_ipv6());
    let hosts = etc::hosts_file(&etc::Hosts {
        hostname: &hostname,
        domainname: spec.domainname.as_deref(),
        addresses: &addresses,
        extra_hosts: &spec.extra_hosts,
        ipv6,
    });
    etc::write_etc_file(&files.hosts, &hosts)?;
    let host_path = std::path::Path::new("/etc/resolv.conf");
    let host_text = etc::read_host_resolv_conf(host_path)?;
    let mode = if spec.namespaces.net == NsMode::Host {
        etc::DnsMode::Host
    } else if attached.is_some() {
        // The per-container resolver (net::dns) answers on 127.0.0.11.
        etc::DnsMode::Embedded {
            nameserver: std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 11)),
            ipv6,
        }
    } else {
        etc::DnsMode::Direct { ipv6: false }
    };
    let overrides = etc::DnsOverrides {
        dns: &spec.dns,
        dns_search: &spec.dns_search,
        dns_opt: &spec.dns_opt,
    };
    let resolv = etc::resolv_conf(host_path, &host_text, &overrides, &mode)?;
    etc::write_etc_file(&files.resolv_conf, &resolv)?;
    Ok(files)
}

/// A start that failed leaves no monitor recorded (the error is the
/// starter's to report; nothing is left to adopt).
struct MonitorMark<'a> {
    containers: &'a Containers,
    id: &'a str,
    armed: bool,
}

impl Drop for MonitorMark<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(mut state) = self.containers.state(self.id) {
            state.monitor_pid = None;
            state.monitor_start = None;
            let _ = self.containers.set_state(self.id, &state);
        }
    }
}

/// Undo for a start that failed half-way.
struct Prepared<'a> {
    rootfs: Option<std::path::PathBuf>,
    /// Runtime name and state root.
    runtime: (String, std::path::PathBuf),
    id: &'a str,
    created: bool,
    /// Data root and run root, once the network attach began.
    network: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The output FIFOs' directory, once made.
    io_dir: Option<std::path::PathBuf>,
}

impl Prepared<'_> {
    fn disarm(&mut self) {
        self.io_dir = None;
        self.rootfs = None;
        self.created = false;
        self.network = None;
    }
}

impl Drop for Prepared<'_> {
    fn drop(&mut self) {
        if self.created {
            if let Ok(rt) = OciRuntime::named(&self.runtime.0, &self.runtime.1) {
                let _ = rt.delete(self.id, true);
            }
        }
        if let Some(r) = self.rootfs.take() {
            let _ = rootfs::unmount_rootfs(&r);
        }
        if let Some(d) = self.io_dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some((root, run_root)) = self.network.take() {
            if let Err(e) = crate::net::attach::detach(&root, &run_root, self.id) {
                tracing::warn!("undoing the network of {}: {e}", self.id);
            }
        }
    }
}

/// Signals a user sends to `wharf run` (or the monitor) that reach the
/// container, as `docker run`'s sig-proxy does.
const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

impl Running {
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
        let signals = signal_fd()?;
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
            pidfd: None,
            record,
        };
        let Some(pidfd) = pidfd else {
            // Its port rules outlived the monitor that owned them.
            if !running.record.spec.ports.is_empty() {
                if let Err(e) = crate::net::ports::unpublish(id) {
                    tracing::warn!("removing the published ports of {id}: {e}");
                }
            }
            return Ok(running);
        };
        running.pidfd = Some(pidfd);
        // One with FIFOs has kept writing to them. A container with a
        // terminal lost it with its monitor (the pty master was ours alone)
        // and its output with it.
        if running.record.spec.tty {
            tracing::info!("{id} has a terminal: its output since its monitor died is lost");
        } else {
            let io_dir = stdio_dir(containers.run_root(), id);
            for (name, stream) in STDIO_NAMES.iter().zip([Stream::Stdout, Stream::Stderr]) {
                match open_fifo_reader(&io_dir.join(name)) {
                    Ok(fd) => running
                        .pumps
                        .push(pump(fd, stream, running.log.clone(), false)),
                    Err(e) => tracing::warn!("the {name} of {id} is lost: {e}"),
                }
            }
        }
        // Its DNS and published ports matter less than supervising it at
        // all: a failure here is reported and the container kept.
        if bridged(&running.record.spec) {
            match crate::net::attach::current(containers.root(), containers.run_root(), id) {
                Ok(attached) => {
                    match spawn_resolver(containers.root(), &running.record.spec, &attached) {
                        Ok(r) => running.resolver = Some(r),
                        Err(e) => tracing::warn!("the DNS resolver of {id}: {e}"),
                    }
                    if !running.record.spec.ports.is_empty() {
                        let mut spec = running.record.spec.clone();
                        spec.ports = same_host_ports(&spec.ports, &state.ports);
                        match publish_ports(containers, id, &spec, &attached) {
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

    fn wait(self, containers: &Containers) -> i32 {
        let code = loop {
            if let Some(code) = self.reap() {
                break code;
            }
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

    /// Forwards a signal to the container's init: through the pidfd when it
    /// is not our child (a recycled pid cannot get it), else by pid.
    fn signal(&self, signo: i32) {
        match &self.pidfd {
            Some(fd) => {
                // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
                let _ = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        signo,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
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
    fn reap(&self) -> Option<i32> {
        let mut result = None;
        if let Some(p) = &self.pidfd {
            let mut fds = [nix::poll::PollFd::new(
                p.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            if nix::poll::poll(&mut fds, 0u16).is_ok_and(|n| n > 0) {
                result = Some(EXIT_CODE_LOST);
            }
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == self.pid => result = Some(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p == self.pid => {
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
        // The pipes reach EOF when every process holding them is gone; a
        // daemon left behind (pid: host) must not keep us forever.
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
        let _lock = containers.lock(&self.id);
        let oom_killed = self.tear_down(containers);
        self.record_exit(containers, code, oom_killed, None);
    }

    /// Under the container's lock: what a container that is gone leaves
    /// behind (runtime state, cgroups, output FIFOs, the rootfs mount, its
    /// network endpoints). Safe to repeat. Whether the kernel's OOM killer
    /// struck, read before its cgroup goes.
    fn tear_down(&self, containers: &Containers) -> bool {
        let oom_killed =
            crate::runtime::cgroups::oom_killed(std::path::Path::new("/sys/fs/cgroup"), &self.id);
        if let Err(e) = self.runtime.delete(&self.id, true) {
            tracing::warn!("removing the runtime state of {}: {e}", self.record.name);
        }
        let _ = std::fs::remove_dir_all(stdio_dir(containers.run_root(), &self.id));
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

fn pump(
    fd: OwnedFd,
    stream: Stream,
    log: Arc<Mutex<LogWriter>>,
    echo: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut file = File::from(fd);
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if let Ok(mut log) = log.lock() {
                if let Err(e) = log.write(stream, &buf[..n]) {
                    tracing::warn!("{e}");
                }
            }
            if echo {
                let _ = match stream {
                    Stream::Stdout => io::stdout()
                        .write_all(&buf[..n])
                        .and_then(|_| io::stdout().flush()),
                    Stream::Stderr => io::stderr().write_all(&buf[..n]),
                };
            }
        }
    })
}

fn feed_stdin(fd: OwnedFd) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut w = File::from(fd);
        let _ = io::copy(&mut io::stdin().lock(), &mut w);
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| MonitorError::Sys("pipe", e))
}

fn set_subreaper() -> Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(MonitorError::Sys(
            "becoming the child subreaper",
            nix::Error::last(),
        ))
    }
}

/// The image's runtime config (`config` of the config blob).
/// The image's own healthcheck (Docker's `config.Healthcheck`, which the
/// OCI config type does not carry).
pub fn image_healthcheck(
    store: &ImageStore,
    image: &ImageRecord,
) -> Option<crate::runtime::spec::HealthSpec> {
    let bytes = store.read_blob(&image.config_digest, false).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let h = v.get("config")?.get("Healthcheck")?;
    let n = |k: &str| h.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    Some(crate::runtime::spec::HealthSpec {
        test: serde_json::from_value(h.get("Test")?.clone()).ok()?,
        interval: n("Interval"),
        timeout: n("Timeout"),
        start_period: n("StartPeriod"),
        start_interval: n("StartInterval"),
        retries: n("Retries") as u32,
    })
}

pub fn image_config(store: &ImageStore, image: &ImageRecord) -> Result<oci_spec::image::Config> {
    let bytes = store.read_blob(&image.config_digest, false)?;
    let cfg: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(&bytes).map_err(|e| MonitorError::ImageConfig {
            image: image.id().to_string(),
            message: e.to_string(),
        })?;
    Ok(cfg.config().clone().unwrap_or_default())
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
