//! Verbs on containers that already exist: start (as a detached monitor),
//! stop, kill, wait, exec, remove. They work from the container's files
//! and its processes, so any wharf command can act on any container.

use super::monitor::{self, MonitorError};
use crate::image::store::ImageStore;
use crate::runtime::bundle::{self, ExecOptions};
use crate::runtime::container::{ContainerError, ContainerState, Containers, Status};
use crate::runtime::oci_cli::{OciRuntime, ProcessIo};
use crate::runtime::rootfs;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::oci_cli::OciError),
    #[error(transparent)]
    Bundle(#[from] crate::runtime::bundle::BundleError),
    #[error(transparent)]
    Rootfs(#[from] rootfs::RootfsError),
    #[error(transparent)]
    Network(#[from] crate::net::attach::AttachError),
    #[error(transparent)]
    Volume(#[from] crate::runtime::volume::VolumeError),
    #[error("reading {}: {source}", path.display())]
    BundleRead {
        path: std::path::PathBuf,
        source: oci_spec::OciSpecError,
    },
    #[error("{message}")]
    StartFailed { code: i32, message: String },
    #[error("starting the monitor of {name}: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("Container {0} is not running")]
    NotRunning(String),
    #[error("Container {0} is paused, unpause the container before exec")]
    PausedExec(String),
    #[error("cannot start a paused container, try unpause instead")]
    PausedStart(String),
    #[error("Container {0} is already paused")]
    AlreadyPaused(String),
    #[error("Container {0} is not paused")]
    NotPaused(String),
    #[error("You cannot remove a running container {0}. Stop the container before attempting removal or force remove")]
    RunningNoForce(String),
    #[error("invalid signal {0:?}")]
    BadSignal(String),
    #[error("sending {signal} to {name}: {source}")]
    Kill {
        name: String,
        signal: String,
        source: nix::Error,
    },
    #[error("no command specified")]
    NoCommand,
    #[error("timed out after {secs} s waiting for {name} to stop")]
    StopTimeout { name: String, secs: u64 },
}

impl ControlError {
    /// The exit code a CLI verb gives for this error (Docker's: 125 for
    /// its own failures, 126/127 when the command cannot run).
    pub fn exit_code(&self) -> i32 {
        match self {
            ControlError::StartFailed { code, .. } => *code,
            ControlError::Monitor(e) => e.exit_code(),
            ControlError::Runtime(e) => e.exit_code().unwrap_or(125),
            _ => 125,
        }
    }
}

type Result<T> = std::result::Result<T, ControlError>;

/// The holder name under which a container keeps its image alive.
pub fn image_holder(id: &str) -> String {
    format!("container-{id}")
}

/// Starts `id` under a detached monitor (a re-exec of wharf in its own
/// session) and returns once the container runs, or with the error that
/// kept it from starting.
pub fn start_detached(containers: &Containers, id: &str) -> Result<()> {
    let record = containers.record(id)?;
    let state = containers.state(id)?;
    if state.status == Status::Running {
        return Ok(());
    }
    if state.status == Status::Paused {
        return Err(ControlError::PausedStart(record.name));
    }
    let (_child, ready) = spawn_monitor(containers, &record.name, id, false, None)?;
    await_ready(ready, &record.name)
}

/// Starts `id` as [`start_detached`] does, attached before it runs, as
/// Docker's `run -it` attaches before it starts: the monitor waits for
/// our connection, so not a byte of the terminal's output is missed.
/// `size`: our terminal's, the container's gets it first.
pub fn start_attached(
    containers: &Containers,
    id: &str,
    size: Option<(u16, u16)>,
) -> Result<super::attach::Client> {
    let record = containers.record(id)?;
    let state = containers.state(id)?;
    if state.status == Status::Paused {
        return Err(ControlError::PausedStart(record.name));
    }
    let never_listened = |name: &str| ControlError::StartFailed {
        code: 125,
        message: format!("attaching to {name}: its monitor does not listen"),
    };
    // Running already (`start -ai` of a running one): Docker attaches.
    if state.status == Status::Running {
        return super::attach::Client::connect(containers.run_root(), id)
            .map_err(|_| never_listened(&record.name));
    }
    let wait = super::attach::wait_value(size);
    let (mut shim, ready) = spawn_monitor(containers, &record.name, id, false, Some(&wait))?;
    // The socket appears once the monitor has the terminal; a monitor that
    // fails before that ends, and so does its shim.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let client = loop {
        if let Ok(c) = super::attach::Client::connect(containers.run_root(), id) {
            break Some(c);
        }
        let ended = shim.try_wait().map_or(true, |s| s.is_some());
        if ended || std::time::Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    await_ready(ready, &record.name)?;
    client.ok_or_else(|| never_listened(&record.name))
}

/// Re-execs wharf as the detached monitor of `id` (`adopt`: of a container
/// whose monitor died), under a shim of its own (see [`super::shim`]): the
/// returned child is the shim. The pipe hears from the monitor once the
/// container runs.
fn spawn_monitor(
    containers: &Containers,
    name: &str,
    id: &str,
    adopt: bool,
    attach_wait: Option<&str>,
) -> Result<(std::process::Child, std::io::PipeReader)> {
    let spawn_err = |source| ControlError::Spawn {
        name: name.to_string(),
        source,
    };
    let exe = std::env::current_exe().map_err(spawn_err)?;
    let (ready_r, ready_w) = std::io::pipe().map_err(spawn_err)?;
    let ready_fd = std::os::fd::AsRawFd::as_raw_fd(&ready_w);
    let exits = super::shim::exits_dir(containers.run_root(), id);
    let mut cmd = super::shim::command(&exe, &exits, containers.root(), id, adopt);
    if let Some(wait) = attach_wait {
        cmd.env(super::attach::WAIT_ENV, wait);
    }
    cmd.env("WHARF_READY_FD", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (setsid,
    // dup2, sigprocmask) run.
    unsafe {
        cmd.pre_exec(move || {
            // A caller that blocks SIGINT/SIGTERM to sigwait for them (a
            // foreground `up`) must not hand that mask down to the monitor
            // and, through it, to the container.
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if libc::dup2(ready_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(spawn_err)?;
    drop(ready_w);
    Ok((child, ready_r))
}

/// Waits for a monitor's "ok", or turns its "err CODE MESSAGE" into the
/// error that kept the container from starting.
fn await_ready(mut ready: std::io::PipeReader, name: &str) -> Result<()> {
    let mut answer = String::new();
    let _ = ready.read_to_string(&mut answer);
    let answer = answer.trim();
    if answer == "ok" {
        return Ok(());
    }
    let (code, message) = match answer.strip_prefix("err ") {
        Some(rest) => {
            let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            (code.parse().unwrap_or(125), msg.to_string())
        }
        None => (
            125,
            format!("the monitor of {name} exited before starting it"),
        ),
    };
    Err(ControlError::StartFailed { code, message })
}

/// A container whose recorded monitor is gone (SIGKILLed, OOM-killed,
/// crashed) and whose shim is too: a live shim starts a monitor itself.
fn orphaned(state: &ContainerState) -> bool {
    // Any status: a monitor that died half-way through a start left a
    // Created or Exited container with its mounts and endpoints.
    state.monitor_pid.is_some() && !state.monitor_alive() && !state.shim_alive()
}

/// Gives every container whose monitor died a new one that adopts it (see
/// `monitor::adopt`): wharf has no daemon, so the next wharf command is
/// what notices. Returns once each new monitor has taken over. Holding
/// the container's lock while the new pid is recorded makes two commands
/// at once spawn one monitor, not two.
pub fn recover(containers: &Containers) -> Result<usize> {
    // The leftovers of a command killed mid-create or mid-removal go too,
    // or their directories would stay for good.
    if let Err(e) = containers.remove_unfinished() {
        tracing::warn!("removing unfinished container directories: {e}");
    }
    let mut waiting = Vec::new();
    for record in containers.list_records()? {
        // One container that cannot be taken over (removed meanwhile, …)
        // does not keep the others from it.
        let adopt = || -> Result<Option<std::io::PipeReader>> {
            if !orphaned(&containers.state(&record.id)?) {
                return Ok(None);
            }
            let _lock = containers.lock(&record.id)?;
            let mut state = containers.state(&record.id)?;
            if !orphaned(&state) {
                return Ok(None);
            }
            tracing::info!("{}: its monitor is gone; a new one takes over", record.name);
            // The new monitor knows itself by its shim's pid, recorded here.
            let (child, ready) = spawn_monitor(containers, &record.name, &record.id, true, None)?;
            state.monitor_pid = Some(child.id());
            state.monitor_start = crate::runtime::container::process_start_time(child.id());
            containers.set_state(&record.id, &state)?;
            Ok(Some(ready))
        };
        match adopt() {
            Ok(Some(ready)) => waiting.push((record.name, ready)),
            Ok(None) => {}
            Err(e) => tracing::warn!("taking over {}: {e}", record.name),
        }
    }
    let n = waiting.len();
    for (name, ready) in waiting {
        if let Err(e) = await_ready(ready, &name) {
            tracing::warn!("taking over {name}: {e}");
        }
    }
    Ok(n)
}

/// What `wharf system restore` did.
#[derive(Debug, Default)]
pub struct Restored {
    /// Containers whose monitor and shim were gone (they were running when
    /// the host went down) and that a new monitor took over: each was
    /// recorded as exited and, if its restart policy says so, started.
    pub taken_over: usize,
    /// Stopped containers started because their policy brings them back at
    /// boot.
    pub started: Vec<String>,
}

/// The boot hook (`wharf system restore`, run by the unit `wharf system
/// install` writes): what a Docker daemon does when it starts. Containers
/// that were running when the host went down are taken over as after any
/// monitor's death — their end recorded, their restart policy applied —
/// and stopped ones come back as Docker's rule for a daemon start says:
/// `always` even after a manual stop, `unless-stopped` unless one. Networks
/// and mounts come back with each start.
pub fn restore(containers: &Containers) -> Result<Restored> {
    let taken_over = recover(containers)?;
    let mut started = Vec::new();
    for record in containers.list_records()? {
        let state = match containers.state(&record.id) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("restoring {}: {e}", record.name);
                continue;
            }
        };
        let stopped = state.status == Status::Exited && !state.monitor_alive();
        if !stopped || !back_at_boot(&record.spec.restart, state.manually_stopped) {
            continue;
        }
        match start_detached(containers, &record.id) {
            Ok(()) => started.push(record.name),
            Err(e) => tracing::warn!("restoring {}: {e}", record.name),
        }
    }
    Ok(Restored {
        taken_over,
        started,
    })
}

/// Whether a stopped container is started when the host (Docker: the
/// daemon) starts.
fn back_at_boot(policy: &crate::runtime::spec::RestartSpec, manually_stopped: bool) -> bool {
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !manually_stopped,
        _ => false,
    }
}

/// The body of the hidden `container-monitor` verb.
pub fn monitor_main(containers: &Containers, store: &ImageStore, id: &str, adopt: bool) -> i32 {
    // Before any thread: the descriptors our shim passed are taken over.
    let _ = super::shim::parent();
    let ready = std::env::var("WHARF_READY_FD")
        .ok()
        .and_then(|fd| fd.parse::<i32>().ok())
        // SAFETY: the parent put the write end of a pipe at this fd for us
        // alone; we own it from here.
        .map(|fd| unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
    // The runtime and probes we spawn must not hold the starter's pipe open.
    if let Some(f) = &ready {
        let _ = nix::fcntl::fcntl(
            f,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }
    let result = if adopt {
        monitor::adopt(containers, store, id, ready)
    } else {
        monitor::run(containers, store, id, monitor::Attach::default(), ready)
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e}");
            return e.exit_code();
        }
    };
    // `run -d --rm`: nobody is attached to remove the container, so its
    // monitor does once it has exited (and not when another monitor took
    // it over meanwhile).
    let exited = containers
        .state(id)
        .is_ok_and(|s| s.monitor_pid.is_none() && s.status == Status::Exited);
    if exited && containers.record(id).is_ok_and(|r| r.auto_remove) {
        if let Err(e) = remove_auto(containers, store, id) {
            tracing::warn!("removing {id} after it exited: {e}");
        }
    }
    code
}

/// What `--rm` does once a container exits: removes it and its anonymous
/// volumes (named volumes stay), as Docker does.
pub fn remove_auto(containers: &Containers, store: &ImageStore, id: &str) -> Result<()> {
    remove_with_volumes(containers, store, id, true)
}

/// `rm -v`: the container, then its anonymous volumes that no other
/// container mounts (Docker keeps those, and says so).
pub fn remove_with_volumes(
    containers: &Containers,
    store: &ImageStore,
    id: &str,
    force: bool,
) -> Result<()> {
    let record = containers.record(id)?;
    remove(containers, store, id, force)?;
    let volumes = crate::runtime::volume::Volumes::open(containers.root())?;
    for m in &record.spec.mounts {
        if let crate::runtime::spec::MountSpec::Volume { name, .. } = m {
            if let Ok(Some(v)) = volumes.get(name) {
                if v.anonymous {
                    let users = containers.mounting(name).unwrap_or_default();
                    if let Err(e) = volumes.remove(name, &users) {
                        tracing::warn!("removing anonymous volume {name}: {e}");
                    }
                }
            }
        }
    }
    Ok(())
}

/// `TERM`, `sigterm`, `15` → SIGTERM (the bundle's parser, with this module's error).
pub fn parse_signal(s: &str) -> Result<Signal> {
    bundle::parse_signal(s).map_err(|_| ControlError::BadSignal(s.to_string()))
}

/// Sends `signal` to the container's init. A paused container is thawed
/// after a signal meant to end it (SIGKILL, its stop signal, or any signal
/// when it has none), as Docker does: a frozen process cannot act on it.
pub fn kill(containers: &Containers, id: &str, signal: Signal) -> Result<()> {
    let record = containers.record(id)?;
    let state = containers.state(id)?;
    // The same process as started, not a recycled pid.
    let up = matches!(state.status, Status::Running | Status::Paused) && state.init_alive();
    let Some(pid) = state.pid.filter(|_| up) else {
        return Err(ControlError::NotRunning(record.name));
    };
    // Through a pidfd: the init may exit and its pid be reused between the
    // check above and the signal.
    let sent = crate::sys::pidfd::signal_if_ours(pid, signal, || state.init_alive()).map_err(
        |source| ControlError::Kill {
            name: record.name.clone(),
            signal: signal.to_string(),
            source,
        },
    )?;
    if !sent {
        return Err(ControlError::NotRunning(record.name));
    }
    let signo = (signal as i32).to_string();
    crate::runtime::events::emit(containers.root(), &record, "kill", &[("signal", signo)]);
    if state.status == Status::Paused {
        let stop_signal = record.spec.stop_signal.as_deref().map(parse_signal);
        let ends_it = match stop_signal {
            _ if signal == Signal::SIGKILL => true,
            None => true,
            Some(s) => s.ok() == Some(signal),
        };
        if ends_it {
            match unpause(containers, id) {
                // cgroup v2 lets SIGKILL end a frozen task: it may be gone.
                Ok(()) | Err(ControlError::NotPaused(_)) => {}
                Err(e) => tracing::warn!("Cannot unpause container {}: {e}", record.name),
            }
        }
    }
    Ok(())
}

/// `wharf kill`: [`kill`], and for SIGKILL, as Docker's engine does, the
/// wait until the end of the run it killed is recorded (exited, or
/// restarted by its policy), so what runs next (`ps`, `inspect`, `rm`)
/// sees its exit code. A live shim whose monitor was killed starts one
/// that records it; with neither, the next command's `recover` does.
pub fn kill_and_wait(containers: &Containers, id: &str, signal: Signal) -> Result<()> {
    let killed = containers.state(id)?;
    kill(containers, id, signal)?;
    if signal != Signal::SIGKILL {
        return Ok(());
    }
    let recorded = poll_state(containers, id, KILL_WAIT, |state| {
        let same_run = state.pid == killed.pid && state.pid_start == killed.pid_start;
        let unrecorded = matches!(
            state.status,
            Status::Running | Status::Paused | Status::Dead
        );
        same_run && unrecorded && (state.monitor_alive() || state.shim_alive())
    })?;
    if recorded {
        return Ok(());
    }
    Err(ControlError::StopTimeout {
        name: containers.record(id)?.name,
        secs: KILL_WAIT.as_secs(),
    })
}

/// How long a SIGKILLed container gets to be recorded as exited.
const KILL_WAIT: Duration = Duration::from_secs(30);

/// Freezes every process of a running container (`docker pause`).
pub fn pause(containers: &Containers, id: &str) -> Result<()> {
    let record = containers.record(id)?;
    let _lock = containers.lock(id)?;
    let mut state = containers.state(id)?;
    match state.status {
        Status::Running => {}
        Status::Paused => return Err(ControlError::AlreadyPaused(record.name)),
        _ => return Err(ControlError::NotRunning(record.name)),
    }
    runtime_of(containers, &record)?.pause(id)?;
    state.status = Status::Paused;
    containers.set_state(id, &state)?;
    Ok(())
}

/// Thaws a paused container (`docker unpause`).
pub fn unpause(containers: &Containers, id: &str) -> Result<()> {
    let record = containers.record(id)?;
    let _lock = containers.lock(id)?;
    let mut state = containers.state(id)?;
    if state.status != Status::Paused {
        return Err(ControlError::NotPaused(record.name));
    }
    runtime_of(containers, &record)?.resume(id)?;
    state.status = Status::Running;
    containers.set_state(id, &state)?;
    Ok(())
}

fn runtime_of(
    containers: &Containers,
    record: &crate::runtime::container::ContainerRecord,
) -> Result<OciRuntime> {
    Ok(OciRuntime::named(
        &record.runtime,
        containers.runtime_state_root(&record.runtime),
    )?)
}

/// Whether `pid`'s process has a handler for `signal`. The kernel drops a
/// signal a namespace's init does not handle, so waiting for it to act
/// on one would only burn the grace period.
pub fn catches(pid: u32, signal: Signal) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return true;
    };
    let Some(mask) = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
    else {
        return true;
    };
    mask & (1u64 << (signal as u32 - 1)) != 0
}

/// Stops `id`: its stop signal, then SIGKILL after `timeout`. Returns at
/// once when the container is not running.
pub fn stop(containers: &Containers, id: &str, timeout: Duration) -> Result<()> {
    stop_with(containers, id, timeout, None)
}

/// [`stop`] with `signal` (`docker stop -s`) instead of the container's own
/// stop signal.
pub fn stop_with(
    containers: &Containers,
    id: &str,
    timeout: Duration,
    signal: Option<Signal>,
) -> Result<()> {
    let record = containers.record(id)?;
    let state = mark_stopped(containers, id)?;
    if state.status == Status::Restarting {
        // The monitor sees the mark during its back-off and ends.
        wait_stopped(containers, id, Duration::from_secs(5))?;
        return Ok(());
    }
    // The same process as started, not a recycled pid.
    let up = matches!(state.status, Status::Running | Status::Paused) && state.init_alive();
    let Some(pid) = state.pid.filter(|_| up) else {
        return Ok(());
    };
    let signal = match signal {
        Some(s) => s,
        None => record
            .spec
            .stop_signal
            .as_deref()
            .map(parse_signal)
            .transpose()?
            .unwrap_or(Signal::SIGTERM),
    };
    let private_pid_ns = record.spec.namespaces.pid == crate::runtime::spec::NsMode::Private;
    if timeout.is_zero() || (private_pid_ns && !catches(pid, signal)) {
        tracing::debug!("{} does not handle {signal}; killing at once", record.name);
    } else {
        // kill() thaws a paused container once the signal is queued.
        let _ = kill(containers, id, signal);
        if wait_stopped(containers, id, timeout)? {
            crate::runtime::events::emit(containers.root(), &record, "stop", &[]);
            return Ok(());
        }
    }
    let _ = kill(containers, id, Signal::SIGKILL);
    if wait_stopped(containers, id, KILL_WAIT)? {
        crate::runtime::events::emit(containers.root(), &record, "stop", &[]);
        Ok(())
    } else {
        Err(ControlError::StopTimeout {
            name: record.name,
            secs: KILL_WAIT.as_secs(),
        })
    }
}

/// Records a user's stop, so the restart policy leaves the container be.
fn mark_stopped(containers: &Containers, id: &str) -> Result<ContainerState> {
    let _lock = containers.lock(id)?;
    let mut state = containers.state(id)?;
    if matches!(
        state.status,
        Status::Running | Status::Paused | Status::Restarting
    ) {
        state.manually_stopped = true;
        containers.set_state(id, &state)?;
    }
    Ok(state)
}

/// Polls until the container is no longer running and, while anyone can
/// still record how it ended, until its exit is recorded; false on timeout.
fn wait_stopped(containers: &Containers, id: &str, timeout: Duration) -> Result<bool> {
    // Without a live monitor (its adoption failed) the container's own
    // process says whether it still runs. A live shim whose monitor was
    // killed starts another that records the exit (the shim wrote it
    // down), so until then the container is not stopped yet: the state
    // says `Dead`, or `Running` with its init gone.
    poll_state(containers, id, timeout, |state| match state.status {
        Status::Running | Status::Paused | Status::Restarting => {
            state.monitor_alive() || state.init_alive() || state.shim_alive()
        }
        Status::Dead => state.shim_alive(),
        _ => false,
    })
}

/// Reads the container's state every 20 ms while `pending` says so; false
/// when `timeout` passed first.
fn poll_state(
    containers: &Containers,
    id: &str,
    timeout: Duration,
    pending: impl Fn(&ContainerState) -> bool,
) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if !pending(&containers.state(id)?) {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Blocks until `id` exits; its exit code.
pub fn wait(containers: &Containers, id: &str) -> Result<i32> {
    loop {
        if wait_stopped(containers, id, Duration::from_secs(3600))? {
            return Ok(containers.state(id)?.exit_code.unwrap_or(-1));
        }
    }
}

/// Removes a container and all it holds: runtime state, mounts, cgroups
/// (the runtime's delete), the writable layer, and its claim on the image.
pub fn remove(containers: &Containers, store: &ImageStore, id: &str, force: bool) -> Result<()> {
    let record = containers.record(id)?;
    // A monitor may be starting it right now (its `up` was killed after
    // spawning it), holding the lock until it runs: what the state says is
    // checked again under the lock, and a container that runs by then is
    // stopped first, or its monitor would wait for an exit code that the
    // removal took away.
    let mut attempts = 0;
    let _lock = loop {
        let state = containers.state(id)?;
        if matches!(
            state.status,
            Status::Running | Status::Paused | Status::Restarting
        ) {
            if !force {
                return Err(ControlError::RunningNoForce(record.name));
            }
            stop(containers, id, Duration::ZERO)?;
        }
        let lock = match containers.lock(id) {
            Ok(l) => l,
            // Removed meanwhile (a `--rm` monitor, another `rm`): done.
            Err(_) if containers.record(id).is_err() => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if containers.record(id).is_err() {
            return Ok(());
        }
        let now = containers.state(id)?;
        let started_meanwhile = matches!(now.status, Status::Running | Status::Paused)
            && now.init_alive()
            && now.monitor_alive();
        attempts += 1;
        if !started_meanwhile || attempts >= 3 {
            break lock;
        }
    };
    let dir = containers.dir(id);
    let _ = std::fs::remove_dir_all(monitor::stdio_dir(containers.run_root(), id));
    let _ = std::fs::remove_dir_all(super::shim::exits_dir(containers.run_root(), id));
    // A start killed half-way leaves staged subpaths (mounts: never
    // remove_dir_all them, that would empty the volume).
    let staging = super::start::subpath_staging_dir(containers.run_root(), id);
    if let Err(e) = bundle::clear_staged_subpaths(&staging) {
        tracing::warn!(
            "removing the staged volume subpaths of {}: {e}",
            record.name
        );
    }
    // A container whose monitor died leaves runtime state and mounts.
    if let Ok(runtime) = OciRuntime::named(
        &record.runtime,
        containers.runtime_state_root(&record.runtime),
    ) {
        if let Ok(Some(_)) = runtime.state(id) {
            let _ = runtime.delete(id, true);
        }
    }
    crate::runtime::cgroups::remove_or_warn(&record.spec.cgroups_path(id), id, &record.name);
    rootfs::unmount_rootfs(&dir.rootfs())?;
    // A monitor that died cannot have removed its port rules.
    if !record.spec.ports.is_empty() {
        if let Err(e) = crate::net::ports::unpublish(id) {
            tracing::warn!("removing the published ports of {}: {e}", record.name);
        }
    }
    // A crashed monitor never detached; detach is idempotent.
    if crate::supervise::monitor::bridged(&record.spec) {
        crate::net::attach::detach(containers.root(), containers.run_root(), id)?;
    }
    rootfs::remove_container_fs(&dir.path)?;
    store.release(&image_holder(id))?;
    containers.remove_dir(id)?;
    crate::runtime::events::emit(containers.root(), &record, "destroy", &[]);
    Ok(())
}

/// A running container to exec in, and its bundle's spec (the process
/// joins what the container was made with).
fn exec_target(
    containers: &Containers,
    id: &str,
) -> Result<(
    crate::runtime::container::ContainerRecord,
    oci_spec::runtime::Spec,
)> {
    let record = containers.record(id)?;
    let state = containers.state(id)?;
    if state.status == Status::Paused {
        return Err(ControlError::PausedExec(record.name));
    }
    if state.status != Status::Running {
        return Err(ControlError::NotRunning(record.name));
    }
    let config = containers.dir(id).bundle().join("config.json");
    let spec =
        oci_spec::runtime::Spec::load(&config).map_err(|source| ControlError::BundleRead {
            path: config,
            source,
        })?;
    Ok((record, spec))
}

/// Runs a process inside running container `id` and returns its exit code.
/// `interactive` (`-i`) passes this process's stdin through.
pub fn exec(
    containers: &Containers,
    id: &str,
    opts: &ExecOptions,
    detach: bool,
    interactive: bool,
) -> Result<i32> {
    let (record, spec) = exec_target(containers, id)?;
    let dir = containers.dir(id);
    let mut opts = opts.clone();
    // Docker applies the container's group_add again for `exec --user`.
    opts.group_add = record.spec.group_add.clone();
    let process = bundle::exec_process(&spec, &dir.rootfs(), &opts)?;
    let runtime = runtime_of(containers, &record)?;
    let spawn_err = |source| ControlError::Spawn {
        name: record.name.clone(),
        source,
    };
    // The exec'd process is re-parented to us once the runtime returns.
    crate::runtime::oci_cli::become_subreaper().map_err(spawn_err)?;
    use std::os::fd::AsFd;
    let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map_err(spawn_err);
    if opts.tty && !detach {
        let path = containers
            .run_root()
            .join(format!("{}.exec-{}", &id[..12], std::process::id()));
        let _ = std::fs::remove_file(&path);
        let sock = crate::runtime::oci_cli::ConsoleSocket::bind(&path).map_err(spawn_err)?;
        let started = runtime.exec(id, &process, ProcessIo::Console(&sock))?;
        let Some(master) = started.pty else {
            return Err(spawn_err(std::io::Error::other("the runtime sent no pty")));
        };
        super::pty::copy_window_size(&master);
        let output = super::pty::pump_output(&master, None, None, true).map_err(spawn_err)?;
        let raw = if interactive {
            super::pty::pump_input(&master).map_err(spawn_err)?;
            Some(super::pty::RawMode::enter())
        } else {
            None
        };
        let code = wait_child(started.pid);
        drop(master);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !output.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(raw);
        return Ok(code);
    }
    let stdin = if detach || !interactive {
        std::fs::File::open("/dev/null")
            .map(std::os::fd::OwnedFd::from)
            .map_err(spawn_err)?
    } else {
        dup(std::io::stdin().as_fd())?
    };
    let started = runtime.exec(
        id,
        &process,
        ProcessIo::Inherit {
            stdin,
            stdout: dup(std::io::stdout().as_fd())?,
            stderr: dup(std::io::stderr().as_fd())?,
        },
    )?;
    if detach {
        return Ok(0);
    }
    Ok(wait_child(started.pid))
}

/// Runs a process inside running container `id` with its output captured
/// (the first [`super::health::MAX_OUTPUT`] bytes) and a time limit; on
/// timeout the process is killed and the code is -1, as Docker reports a
/// probe that ran too long. The caller must be a child subreaper.
pub fn exec_captured(
    containers: &Containers,
    id: &str,
    opts: &ExecOptions,
    timeout: Duration,
) -> Result<(i32, String)> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use std::io::Read as _;
    let (record, spec) = exec_target(containers, id)?;
    let dir = containers.dir(id);
    let process = bundle::exec_process(&spec, &dir.rootfs(), opts)?;
    let runtime = runtime_of(containers, &record)?;
    let spawn_err = |source| ControlError::Spawn {
        name: record.name.clone(),
        source,
    };
    let (mut out_r, out_w) = std::io::pipe().map_err(spawn_err)?;
    let err_w = out_w.try_clone().map_err(spawn_err)?;
    let stdin = std::fs::File::open("/dev/null")
        .map(std::os::fd::OwnedFd::from)
        .map_err(spawn_err)?;
    let started = runtime.exec(
        id,
        &process,
        ProcessIo::Inherit {
            stdin,
            stdout: out_w.into(),
            stderr: err_w.into(),
        },
    )?;
    let reader = std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = out_r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = super::health::MAX_OUTPUT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        String::from_utf8_lossy(&kept).into_owned()
    });
    let pid = Pid::from_raw(started.pid as i32);
    let deadline = Instant::now() + timeout;
    let code = loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => break Some(c),
            Ok(WaitStatus::Signaled(_, sig, _)) => break Some(128 + sig as i32),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break Some(125),
        }
        if Instant::now() >= deadline {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    match code {
        Some(c) => Ok((c, reader.join().unwrap_or_default())),
        // The probe's children may still hold the pipe: do not wait on it.
        None => Ok((
            -1,
            format!(
                "Health check exceeded timeout ({})",
                crate::time::human_duration(timeout)
            ),
        )),
    }
}

/// The body of `wharf container-health ID`: the health process of
/// [`super::health`], probing with [`exec_captured`].
pub fn health_main(containers: &Containers, id: &str) -> i32 {
    use super::health::Probe;
    super::health::main(containers, id, &|opts, timeout| {
        match exec_captured(containers, id, opts, timeout) {
            Ok((code, output)) => Probe::Ran { code, output },
            // Docker skips probes while a container is paused.
            Err(ControlError::PausedExec(_)) => Probe::Paused,
            Err(ControlError::NotRunning(_)) => Probe::NotRunning,
            Err(e) => Probe::Ran {
                code: -1,
                output: e.to_string(),
            },
        }
    })
}

/// Waits for a child (or a re-parented orphan) and returns its exit code
/// the way a shell reports it: 128+N when killed by signal N.
pub fn wait_child(pid: u32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    let pid = Pid::from_raw(pid as i32);
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 125,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::spec::RestartSpec;

    #[test]
    fn at_boot_always_comes_back_and_unless_stopped_unless_stopped() {
        let policy = |name: &str| RestartSpec {
            name: name.into(),
            max_retries: 0,
        };
        assert!(back_at_boot(&policy("always"), false));
        // Docker: a manually stopped `always` container comes back when
        // the daemon starts.
        assert!(back_at_boot(&policy("always"), true));
        assert!(back_at_boot(&policy("unless-stopped"), false));
        assert!(!back_at_boot(&policy("unless-stopped"), true));
        assert!(!back_at_boot(&policy("on-failure"), false));
        assert!(!back_at_boot(&policy("no"), false));
        assert!(!back_at_boot(&policy(""), false));
    }
}
