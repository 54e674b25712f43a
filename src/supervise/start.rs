//! Starting a container, as ordered steps. Each step that leaves something
//! behind records its undo as it begins, and a start that fails undoes the
//! steps done so far, newest first (as netavark sets up its drivers and
//! rolls them back):
//!
//! 1. the state names this process as the container's monitor
//! 2. the rootfs is mounted
//! 3. the network namespace is made and attached (bridge networks only)
//! 4. its DNS resolver on 127.0.0.11 runs (bridge networks other than Docker's
//!    default `bridge` only)
//! 5. its ports are published (bridge networks only)
//! 6. its /etc/hostname, /etc/hosts and /etc/resolv.conf are written
//! 7. missing bind sources are made and empty volumes seeded from the image
//! 8. the OCI bundle is written
//! 9. the runtime creates the container (its output FIFOs or terminal
//!    first) and starts it
//!
//! Steps 6 to 8 need no undo: their files are rewritten by every start,
//! and a seeded volume keeps its content, as with Docker.

use crate::image::store::ImageStore;
use crate::net::attach::Attached;
use crate::net::dns::ResolverHandle;
use crate::net::ports::PublishedPorts;
use crate::runtime::bundle::{self, BundleInputs};
use crate::runtime::container::{
    ContainerDir, ContainerRecord, ContainerState, Containers, Status,
};
use crate::runtime::log_forward;
use crate::runtime::oci_cli::{OciRuntime, ProcessIo};
use crate::runtime::spec::{ContainerSpec, MountSpec, NsMode, HOST_GATEWAY};
use crate::runtime::{etc, init, rootfs};
use crate::supervise::logs::{LogWriter, Rotation, Stream};
use crate::supervise::pty;
use crate::sys::path_error::{IoAt, PathError};
use crate::time::rfc3339_nanos;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Ports(#[from] Box<crate::net::ports::PortError>),
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error("image {0} is not in the store any more; pull it again")]
    ImageGone(String),
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
    #[error(transparent)]
    LogForward(#[from] crate::runtime::log_forward::ForwardError),
    #[error(transparent)]
    Network(#[from] crate::net::attach::AttachError),
    #[error("starting the DNS resolver of {id}: {source}")]
    Dns {
        id: String,
        source: crate::net::dns::DnsError,
    },
    #[error("publishing the ports of {id}: {source}")]
    PortNetwork {
        id: String,
        source: crate::net::store::StoreError,
    },
    #[error("resolving host-gateway in extra_hosts: network {network}: {source}")]
    HostGateway {
        network: String,
        #[source]
        source: crate::net::store::StoreError,
    },
    #[error("publishing the ports of {0}: the container is on no network")]
    NoNetwork(String),
    #[error("becoming the child subreaper: {0}")]
    Subreaper(#[source] io::Error),
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: nix::Error,
    },
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("container {0} is already running")]
    AlreadyRunning(String),
    #[error("container {0} was stopped while it waited to restart")]
    StoppedWhileRestarting(String),
}

impl StartError {
    /// The exit code `docker run` gives for a container that could not
    /// start: 127 for a missing command, 126 for one that cannot be run,
    /// 125 for everything else (a failure of wharf itself).
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Runtime(e) => e.exit_code().unwrap_or(125),
            _ => 125,
        }
    }
}

type Result<T> = std::result::Result<T, StartError>;

/// How long a detached monitor waits for the `run -it` that started it to
/// attach; it connects at once, so only a starter that died makes this
/// matter.
const ATTACH_WAIT: Duration = Duration::from_secs(30);

/// How the foreground process takes part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attach {
    /// Copy the container's stdout to this process's (`-a STDOUT`).
    pub stdout: bool,
    /// Copy the container's stderr to this process's (`-a STDERR`).
    pub stderr: bool,
    /// Copy this process's stdin to the container (`-i`).
    pub stdin: bool,
    /// Signals received here stay here (`run --sig-proxy=false`): the
    /// container does not get them.
    pub keep_signals: bool,
}

impl Attach {
    /// Docker's foreground run: both output streams, stdin with `-i`.
    pub fn output(stdin: bool) -> Attach {
        Attach {
            stdout: true,
            stderr: true,
            stdin,
            keep_signals: false,
        }
    }

    /// Any output at all (a terminal's is one stream).
    pub fn any_output(&self) -> bool {
        self.stdout || self.stderr
    }
}

/// A container that runs, and what its monitor holds for it.
pub struct Started {
    pub record: ContainerRecord,
    pub runtime: OciRuntime,
    pub pid: Pid,
    pub signals: SignalFd,
    pub pumps: Vec<std::thread::JoinHandle<()>>,
    pub log: Arc<Mutex<LogWriter>>,
    pub state: ContainerState,
    /// With a terminal: the pty master, and our terminal's raw mode.
    pub tty: Option<(OwnedFd, Option<pty::RawMode>)>,
    /// The container's 127.0.0.11 (bridge networks only).
    pub resolver: Option<ResolverHandle>,
    /// Published ports: the nftables table and the proxy's sockets.
    pub published: Option<PublishedPorts>,
}

/// A step done, with what its undo needs.
enum Step {
    MonitorMark,
    RootfsMounted(PathBuf),
    NetworkAttached,
    Resolver(ResolverHandle),
    Ports(PublishedPorts),
    OutputFifos(PathBuf),
    ExitsDir(PathBuf),
    /// The runtime and the container's `cgroupsPath`.
    RuntimeCreated(OciRuntime, String),
    /// Dropped (after the start, or to undo it), it unmounts itself.
    SubpathStaged(bundle::StagedSubpath),
}

/// The steps of one start done so far. Dropped before [`Steps::done`], it
/// undoes them newest first.
struct Steps<'a> {
    containers: &'a Containers,
    id: &'a str,
    done: Vec<Step>,
}

impl<'a> Steps<'a> {
    fn new(containers: &'a Containers, id: &'a str) -> Self {
        Steps {
            containers,
            id,
            done: Vec::new(),
        }
    }

    fn push(&mut self, step: Step) {
        self.done.push(step);
    }

    /// The start succeeded: nothing is undone, and the resolver and the
    /// published ports go on with the running container. Staged subpaths
    /// go: the runtime's mounts of them are in the container now.
    fn done(mut self) -> (Option<ResolverHandle>, Option<PublishedPorts>) {
        let (mut resolver, mut published) = (None, None);
        for step in std::mem::take(&mut self.done) {
            match step {
                Step::Resolver(r) => resolver = Some(r),
                Step::Ports(p) => published = Some(p),
                _ => {}
            }
        }
        (resolver, published)
    }

    fn undo(&self, step: Step) {
        let id = self.id;
        match step {
            // A start that failed leaves no monitor recorded (the error is
            // the starter's to report; nothing is left to adopt).
            Step::MonitorMark => {
                if let Ok(mut state) = self.containers.state(id) {
                    state.monitor_pid = None;
                    state.monitor_start = None;
                    let _ = self.containers.set_state(id, &state);
                }
            }
            Step::RootfsMounted(path) => {
                if let Err(e) = rootfs::unmount_rootfs(&path) {
                    tracing::warn!("undoing the rootfs mount of {id}: {e}");
                }
            }
            Step::NetworkAttached => {
                let (root, run_root) = (self.containers.root(), self.containers.run_root());
                if let Err(e) = crate::net::attach::detach(root, run_root, id) {
                    tracing::warn!("undoing the network of {id}: {e}");
                }
            }
            // Dropping them stops the resolver, removes the port rules,
            // unmounts the staged subpath.
            Step::Resolver(r) => drop(r),
            Step::Ports(p) => drop(p),
            Step::SubpathStaged(s) => drop(s),
            Step::OutputFifos(dir) | Step::ExitsDir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Step::RuntimeCreated(runtime, cgroup_path) => {
                let _ = runtime.delete(id, true);
                crate::runtime::cgroups::remove_or_warn(&cgroup_path, id, id);
            }
        }
    }
}

impl Drop for Steps<'_> {
    fn drop(&mut self) {
        while let Some(step) = self.done.pop() {
            self.undo(step);
        }
    }
}

/// Everything up to a running container; on failure, undoes what it did.
pub fn start(
    containers: &Containers,
    store: &ImageStore,
    id: &str,
    attach: Attach,
) -> Result<Started> {
    let _lock = containers.lock(id)?;
    let record = containers.record(id)?;
    let mut state = claim(containers, id, &record)?;
    let mut steps = Steps::new(containers, id);
    steps.push(Step::MonitorMark);
    let signals = signal_fd()?;
    // Orphans of the runtime (the container's init once `create` returns)
    // are re-parented to the nearest subreaper: our shim, which writes
    // their exit statuses down where we (or a monitor after us) read them,
    // or without one (a foreground `run`) us, so waitpid sees them exit.
    if super::shim::parent().is_some() {
        let exits = super::shim::exits_dir(containers.run_root(), id);
        steps.push(Step::ExitsDir(exits.clone()));
        std::fs::create_dir_all(&exits).at("creating", &exits)?;
    } else {
        crate::runtime::oci_cli::become_subreaper().map_err(StartError::Subreaper)?;
    }
    let dir = containers.dir(id);
    let runtime = OciRuntime::named(
        &record.runtime,
        containers.runtime_state_root(&record.runtime),
    )?;
    let image = store
        .resolve(&record.image_id.to_string())?
        .ok_or_else(|| StartError::ImageGone(record.image.clone()))?;
    let config = crate::image::config::image_config(store, &image)?;

    rootfs::mount_rootfs(store, &image, &dir.path, &dir.rootfs())?;
    steps.push(Step::RootfsMounted(dir.rootfs()));
    let attached = attach_network(&mut steps, containers, id, &record)?;
    let mut ports = Vec::new();
    if let Some(a) = &attached {
        let resolver =
            spawn_resolver(containers.root(), id, &record.spec, a).map_err(|source| {
                StartError::Dns {
                    id: id.to_string(),
                    source,
                }
            })?;
        if let Some(resolver) = resolver {
            steps.push(Step::Resolver(resolver));
        }
        if !record.spec.ports.is_empty() {
            let published = publish_ports(containers, id, &record.spec, a)?;
            ports = published.bindings().to_vec();
            steps.push(Step::Ports(published));
        }
    }
    let gateway = host_gateway(containers.root(), &record.spec, attached.as_ref())?;
    let links = legacy_links(containers, &record.spec, attached.as_ref());
    let etc_files = write_etc_files(
        &dir.path,
        &record.spec,
        id,
        attached.as_ref(),
        gateway,
        links,
    )?;
    prepare_mounts(&dir.rootfs(), &record.spec.mounts)?;
    let mounts = stage_subpaths(&mut steps, containers, id, &record.spec.mounts)?;
    write_bundle(
        containers,
        id,
        &record,
        &mounts,
        &config,
        &dir,
        etc_files,
        attached.as_ref(),
    )?;

    let log = open_log(&dir, &record)?;
    let launch = Launch {
        containers,
        runtime: &runtime,
        id,
        record: &record,
        log: &log,
        attach,
    };
    let launched = if record.spec.tty {
        launch.with_terminal(&mut steps)?
    } else {
        launch.with_fifos(&mut steps)?
    };
    let pid = Pid::from_raw(launched.pid as i32);
    state.status = Status::Running;
    state.ports = ports;
    state.manually_stopped = false;
    state.pid = Some(launched.pid);
    state.monitor_pid = Some(std::process::id());
    state.pid_start = crate::runtime::container::process_start_time(launched.pid);
    state.monitor_start = crate::runtime::container::process_start_time(std::process::id());
    state.started_at = Some(rfc3339_nanos(SystemTime::now()));
    state.finished_at = None;
    state.exit_code = None;
    state.error = None;
    containers.set_state(id, &state)?;
    let (resolver, published) = steps.done();
    Ok(Started {
        record,
        runtime,
        pid,
        signals,
        pumps: launched.pumps,
        log,
        state,
        tty: launched.tty,
        resolver,
        published,
    })
}

/// Step 1, under the container's lock: checks that the container may be
/// started by this process and records it as the container's monitor —
/// before anything is made, so if this process dies half-way the next
/// command sees a dead monitor and cleans up after it.
fn claim(containers: &Containers, id: &str, record: &ContainerRecord) -> Result<ContainerState> {
    let mut state = containers.state(id)?;
    if state.status == Status::Running {
        return Err(StartError::AlreadyRunning(record.name.clone()));
    }
    if state.status == Status::Restarting && state.manually_stopped {
        state.status = Status::Exited;
        state.monitor_pid = None;
        state.monitor_start = None;
        let _ = containers.set_state(id, &state);
        return Err(StartError::StoppedWhileRestarting(record.name.clone()));
    }
    let me = std::process::id();
    if state.monitor_pid.is_some_and(|m| m != me) && state.monitor_alive() {
        // Another monitor owns it (restarting, or starting it right now).
        return Err(StartError::AlreadyRunning(record.name.clone()));
    }
    state.monitor_pid = Some(me);
    state.monitor_start = crate::runtime::container::process_start_time(me);
    // The shim we run under will be the parent of this run's init.
    let shim = super::shim::parent();
    state.shim_pid = shim.map(|s| s.pid);
    state.shim_start = shim.and_then(|s| s.start);
    containers.set_state(id, &state)?;
    Ok(state)
}

/// Step 3: the container's network namespace on its bridge networks, made
/// before the bundle (the runtime joins the finished namespace). Its undo
/// is recorded first: a failed attach may have made part of it.
fn attach_network(
    steps: &mut Steps<'_>,
    containers: &Containers,
    id: &str,
    record: &ContainerRecord,
) -> Result<Option<Attached>> {
    if !bridged(&record.spec) {
        return Ok(None);
    }
    let hostname = record
        .spec
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    steps.push(Step::NetworkAttached);
    Ok(Some(crate::net::attach::attach(
        containers.root(),
        containers.run_root(),
        id,
        &record.name,
        &hostname,
        &record.spec.networks,
    )?))
}

/// Step 7: Docker makes a missing bind source a directory (compose's
/// create_host_path, and every `-v /path:/x`), and copies the image's
/// content at the mount point into an empty volume.
fn prepare_mounts(rootfs_dir: &Path, mounts: &[MountSpec]) -> Result<()> {
    for m in mounts {
        match m {
            MountSpec::Bind {
                source,
                create_host_path: true,
                ..
            } if !source.exists() => {
                std::fs::create_dir_all(source).at("creating the bind mount source", source)?;
            }
            MountSpec::Volume {
                source,
                target,
                nocopy: false,
                subpath: None,
                ..
            } => {
                rootfs::seed_volume(rootfs_dir, target, source)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Where a container's volume subpaths are staged while it starts.
pub fn subpath_staging_dir(run_root: &Path, id: &str) -> PathBuf {
    run_root.join("subpaths").join(id)
}

/// Step 7b: the container's mounts, each volume `subpath` replaced by its
/// staged mount (see [`bundle::StagedSubpath`]).
fn stage_subpaths(
    steps: &mut Steps<'_>,
    containers: &Containers,
    id: &str,
    mounts: &[MountSpec],
) -> Result<Vec<MountSpec>> {
    let dir = subpath_staging_dir(containers.run_root(), id);
    bundle::clear_staged_subpaths(&dir).at("clearing", &dir)?;
    let mut out = mounts.to_vec();
    for (i, m) in out.iter_mut().enumerate() {
        let MountSpec::Volume {
            source,
            subpath,
            name,
            target,
            ..
        } = m
        else {
            continue;
        };
        let Some(sub) = subpath.take().filter(|s| !s.is_empty()) else {
            continue;
        };
        let staged =
            bundle::stage_subpath(id, target, name, source, &sub, &dir.join(i.to_string()))?;
        *source = staged.path().to_path_buf();
        steps.push(Step::SubpathStaged(staged));
    }
    Ok(out)
}

/// Step 8: the OCI bundle (`config.json`) the runtime runs, with `mounts`
/// for the spec's.
#[allow(clippy::too_many_arguments)]
fn write_bundle(
    containers: &Containers,
    id: &str,
    record: &ContainerRecord,
    mounts: &[MountSpec],
    config: &oci_spec::image::Config,
    dir: &ContainerDir,
    etc_files: bundle::EtcFiles,
    attached: Option<&Attached>,
) -> Result<()> {
    let init = if record.spec.init {
        Some(init::init_binary(containers.root())?)
    } else {
        None
    };
    // `container:x` / `service:x`: the other container's namespaces as of now.
    let mut spec = containers.resolve_namespaces(&record.spec)?;
    spec.mounts = mounts.to_vec();
    let oci = bundle::build(&BundleInputs {
        id,
        spec: &spec,
        image: config,
        rootfs: &dir.rootfs(),
        etc: Some(etc_files),
        cgroups_path: record.spec.cgroups_path(id),
        init,
        netns: attached.map(|a| a.netns.clone()),
    })?;
    let bundle_dir = dir.bundle();
    std::fs::create_dir_all(&bundle_dir).at("creating", &bundle_dir)?;
    bundle::write_bundle(&bundle_dir, &oci)?;
    Ok(())
}

/// What step 9 hands on: the container's init and the threads that carry
/// its input and output.
struct Launched {
    pid: u32,
    pumps: Vec<std::thread::JoinHandle<()>>,
    tty: Option<(OwnedFd, Option<pty::RawMode>)>,
}

/// Step 9: what the runtime needs to create and start the container.
struct Launch<'a> {
    containers: &'a Containers,
    runtime: &'a OciRuntime,
    id: &'a str,
    record: &'a ContainerRecord,
    log: &'a Arc<Mutex<LogWriter>>,
    attach: Attach,
}

impl Launch<'_> {
    /// With a terminal: the runtime hands us the pty master over a
    /// socket; its path must fit a sockaddr_un, so it lives in the short run
    /// root.
    fn with_terminal(&self, steps: &mut Steps<'_>) -> Result<Launched> {
        let path = self
            .containers
            .run_root()
            .join(format!("{}.console", &self.id[..12]));
        let _ = std::fs::remove_file(&path);
        let sock = crate::runtime::oci_cli::ConsoleSocket::bind(&path)
            .at("binding the console socket", &path)?;
        let bundle_dir = self.containers.dir(self.id).bundle();
        // Before create: a create that fails half-way can leave state and
        // cgroups, and a forced delete of nothing succeeds.
        steps.push(Step::RuntimeCreated(
            self.runtime.clone(),
            self.record.spec.cgroups_path(self.id),
        ));
        let created = self
            .runtime
            .create(self.id, &bundle_dir, ProcessIo::Console(&sock))?;
        let master = created.pty.ok_or_else(|| {
            PathError::new(
                "receiving the pty on",
                &path,
                io::Error::other("no pty received"),
            )
        })?;
        if self.attach.any_output() {
            pty::copy_window_size(&master);
        }
        // Held by the shim too, the terminal outlives this monitor.
        if let Some(shim) = super::shim::parent() {
            use std::os::fd::AsFd;
            shim.hand_pty(master.as_fd());
        }
        // Listening once the shim holds the terminal: a client that got in
        // can take its copy of the master at once.
        let hub = super::attach::Hub::get(self.containers.run_root(), self.id);
        let pumps = vec![pty::pump_output(
            &master,
            Some(self.log.clone()),
            hub.clone(),
            self.attach.any_output(),
        )
        .at("reading the pty of", &bundle_dir)?];
        if let Some(hub) = &hub {
            hub.wait_for_first_client(Some(&master), ATTACH_WAIT);
        }
        let raw = if self.attach.stdin && self.record.spec.stdin_open {
            pty::pump_input(&master).at("writing the pty of", &bundle_dir)?;
            Some(pty::RawMode::enter())
        } else {
            None
        };
        self.runtime.start(self.id)?;
        Ok(Launched {
            pid: created.pid,
            pumps,
            tty: Some((master, raw)),
        })
    }

    /// Without a terminal: output through FIFOs (see [`stdio_fifos`]),
    /// input from our stdin (`-i`) or /dev/null.
    fn with_fifos(&self, steps: &mut Steps<'_>) -> Result<Launched> {
        let io_dir = stdio_dir(self.containers.run_root(), self.id);
        steps.push(Step::OutputFifos(io_dir.clone()));
        let [(out_w, out_r), (err_w, err_r)] =
            stdio_fifos(&io_dir).at("creating the output FIFOs in", &io_dir)?;
        let (in_r, in_w) = if self.attach.stdin && self.record.spec.stdin_open {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|source| {
                StartError::Sys {
                    what: "pipe",
                    source,
                }
            })?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let dev_null = Path::new("/dev/null");
        let stdin_fd = match in_r {
            Some(fd) => fd,
            None if self.record.spec.stdin_open => {
                stdin_fifo(&io_dir).at("creating the stdin FIFO in", &io_dir)?
            }
            None => File::open(dev_null)
                .map(OwnedFd::from)
                .at("opening", dev_null)?,
        };
        // Before create, as with a terminal.
        steps.push(Step::RuntimeCreated(
            self.runtime.clone(),
            self.record.spec.cgroups_path(self.id),
        ));
        let created = self.runtime.create(
            self.id,
            &self.containers.dir(self.id).bundle(),
            ProcessIo::Inherit {
                stdin: stdin_fd,
                stdout: out_w,
                stderr: err_w,
            },
        )?;
        // A `run` that follows a detached monitor (`--sig-proxy=false`)
        // hears the exit code here; its output it reads from the log.
        if std::env::var_os(super::attach::WAIT_ENV).is_some() {
            if let Some(hub) = super::attach::Hub::get(self.containers.run_root(), self.id) {
                hub.wait_for_first_client(None, ATTACH_WAIT);
            }
        }
        self.runtime.start(self.id)?;
        let mut pumps = vec![
            pump(out_r, Stream::Stdout, self.log.clone(), self.attach.stdout),
            pump(err_r, Stream::Stderr, self.log.clone(), self.attach.stderr),
        ];
        if let Some(w) = in_w {
            pumps.push(feed_stdin(w));
        }
        Ok(Launched {
            pid: created.pid,
            pumps,
            tty: None,
        })
    }
}

/// Without `logging.options`, a log rotates at this size and keeps
/// [`DEFAULT_LOG_MAX_FILES`] files (Docker's `local` driver defaults), so a
/// chatty container cannot fill the disk; `max-size: -1` turns it off.
pub const DEFAULT_LOG_MAX_SIZE: u64 = 20 << 20;
pub const DEFAULT_LOG_MAX_FILES: u32 = 5;

/// With the `none` driver the output still streams to whoever is attached
/// (`up` in the foreground, `attach`), as Docker's attach does; only this
/// much is kept at a time, in two files, for the followers to read from,
/// and `logs` refuses to read it.
const LIVE_ONLY_LOG_SIZE: u64 = 512 << 10;

/// The container's json-file log, rotated as its `logging.options` say,
/// and its syslog or journald connection (`logging.driver`); for the `none`
/// driver only a small rolling window for attached followers.
pub fn open_log(dir: &ContainerDir, record: &ContainerRecord) -> Result<Arc<Mutex<LogWriter>>> {
    let driver = record.spec.log_driver.as_deref().unwrap_or_default();
    if driver == "none" {
        let window = Rotation {
            max_size: Some(LIVE_ONLY_LOG_SIZE),
            max_files: 2,
        };
        return Ok(Arc::new(Mutex::new(LogWriter::open(&dir.log(), window)?)));
    }
    let (max_size, default_files) = match record.spec.log_max_size {
        None => (Some(DEFAULT_LOG_MAX_SIZE), DEFAULT_LOG_MAX_FILES),
        Some(0) => (None, 1),
        Some(size) => (Some(size), 1),
    };
    let origin = log_forward::Origin {
        id: record.id.clone(),
        name: record.name.clone(),
        image: record.image.clone(),
        image_id: record.image_id.hex().to_string(),
    };
    let forward = log_forward::Forwarder::open(
        driver,
        &record.spec.log_options,
        &origin,
        std::path::Path::new(log_forward::JOURNALD_SOCKET),
    )?;
    Ok(Arc::new(Mutex::new(
        LogWriter::open(
            &dir.log(),
            Rotation {
                max_size,
                max_files: record.spec.log_max_files.unwrap_or(default_files).max(1),
            },
        )?
        .forwarding(forward),
    )))
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

/// Blocks the signals the monitor forwards or handles and returns a
/// signalfd for them. Blocked before any thread exists, so every thread
/// inherits the mask and they all arrive on the signalfd.
pub fn signal_fd() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    for s in FORWARDED
        .iter()
        .chain([&Signal::SIGCHLD, &Signal::SIGWINCH])
    {
        mask.add(*s);
    }
    mask.thread_block().map_err(|source| StartError::Sys {
        what: "blocking signals",
        source,
    })?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(|source| {
        StartError::Sys {
            what: "signalfd",
            source,
        }
    })
}

/// Where a container's stdout and stderr FIFOs live.
pub fn stdio_dir(run_root: &Path, id: &str) -> PathBuf {
    run_root.join("io").join(id)
}

pub const STDIO_NAMES: [&str; 2] = ["stdout", "stderr"];

/// A container writes its stdout and stderr to FIFOs rather than pipes,
/// and holds them read-write: a write never fails for want of a reader,
/// so the container outlives a killed monitor, and what it writes
/// meanwhile waits in the FIFO (1 MiB, then the writer blocks) for the
/// monitor that adopts it. Returns (container end, monitor end) pairs.
fn stdio_fifos(dir: &Path) -> io::Result<[(OwnedFd, OwnedFd); 2]> {
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
        let reader = open_fifo(&path, Fifo::Read)?;
        Ok((writer.into(), reader))
    };
    Ok([open(STDIO_NAMES[0])?, open(STDIO_NAMES[1])?])
}

/// The FIFO a detached `stdin_open` (`-i`) container without a terminal
/// reads its input from: `attach` opens it to type into the container.
pub const STDIN_NAME: &str = "stdin";

/// Docker keeps a detached `-i` container's stdin open (a `cat` waits for
/// input instead of reading end-of-file at once). The container gets the
/// FIFO read-write: it is a writer itself, so its reads never see the end
/// of input, whoever comes and goes to write into it.
fn stdin_fifo(dir: &Path) -> io::Result<OwnedFd> {
    use nix::sys::stat::Mode;
    let path = dir.join(STDIN_NAME);
    let _ = std::fs::remove_file(&path);
    nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))?;
    let fd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)?;
    Ok(fd.into())
}

/// Which end of a FIFO to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fifo {
    Read,
    Write,
}

/// Opens a FIFO without waiting for the other end (for writing: fails when
/// nobody reads it), then makes the descriptor blocking for the pump: a
/// full FIFO waits for its reader. A reader asks for a 1 MiB buffer (what
/// the container may write while it has no monitor).
pub fn open_fifo(path: &Path, end: Fifo) -> io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(end == Fifo::Read)
        .write(end == Fifo::Write)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let flags = OFlag::from_bits_truncate(fcntl(&file, FcntlArg::F_GETFL)?) & !OFlag::O_NONBLOCK;
    fcntl(&file, FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    if end == Fifo::Read {
        // Best effort: the limit is /proc/sys/fs/pipe-max-size.
        let _ = fcntl(&file, FcntlArg::F_SETPIPE_SZ(1 << 20));
    }
    Ok(file.into())
}

/// Copies one output stream of the container to its log (and, attached,
/// to ours) until every writer has closed it.
pub fn pump(
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

/// Step 5: publishes the container's ports on its first (highest-priority)
/// non-internal network's address, as Docker does. A container only on
/// internal networks publishes nothing: no proxy or DNAT may carry traffic
/// into a network that is meant to be closed.
pub fn publish_ports(
    containers: &Containers,
    id: &str,
    spec: &ContainerSpec,
    a: &Attached,
) -> Result<PublishedPorts> {
    if a.endpoints.is_empty() {
        return Err(StartError::NoNetwork(id.to_string()));
    }
    let port_network = |source| StartError::PortNetwork {
        id: id.to_string(),
        source,
    };
    let networks = crate::net::store::Networks::open(containers.root()).map_err(port_network)?;
    let mut open = None;
    for e in &a.endpoints {
        let net = networks.find(&e.network_id).map_err(port_network)?;
        if !net.internal {
            open = Some((e, net.bridge));
            break;
        }
    }
    let (endpoint, bridge, ports) = match open {
        Some((e, bridge)) => (e, bridge, spec.ports.as_slice()),
        None => {
            tracing::warn!(
                "container {id}: published ports are ignored: it is only on internal networks"
            );
            (&a.endpoints[0], String::new(), &[][..])
        }
    };
    crate::net::ports::publish(&crate::net::ports::PublishConfig {
        container_id: id,
        ipv4: endpoint.ipv4,
        ipv6: endpoint.ipv6,
        bridge: &bridge,
        ports,
        mode: crate::net::ports::Mode::Auto,
    })
    .map_err(|e| StartError::Ports(Box::new(e)))
}

/// Step 4: Docker's embedded DNS for a bridged container: names from the
/// networks it is on, everything else forwarded from here (the host's
/// namespace) to `dns:` or the host's resolvers — none for internal-only
/// containers, so names cannot leak out of an internal network. `None`
/// for a container without one (see [`embedded_dns`]).
pub fn spawn_resolver(
    root: &Path,
    id: &str,
    spec: &ContainerSpec,
    a: &Attached,
) -> std::result::Result<Option<ResolverHandle>, crate::net::dns::DnsError> {
    use crate::net::dns;
    if !embedded_dns(spec) {
        return Ok(None);
    }
    let networks: Vec<String> = a.endpoints.iter().map(|e| e.network_id.clone()).collect();
    let internal_only = crate::net::store::Networks::open(root)
        .map(|store| {
            networks
                .iter()
                .all(|n| store.find(n).map(|r| r.internal).unwrap_or(false))
        })
        .unwrap_or(false);
    let host = dns::read_resolv_conf(Path::new("/etc/resolv.conf"))
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
    cfg.links = spec.links.clone();
    // The networks it is on as `network connect`/`disconnect` change them;
    // as Docker's, the default bridge gives no names (recorded in
    // tests/data/docker-verbs/connect-default-bridge-dns.txt), it is
    // searched only for `--link` targets.
    cfg.follow = Some(dns::Follow {
        container_id: id.to_string(),
        default_bridge: !spec.links.is_empty(),
    });
    dns::Resolver::spawn(cfg).map(Some)
}

/// Whether a bridged container gets the resolver on 127.0.0.11. As Docker,
/// not when Docker's default `bridge` is its only network: its
/// /etc/resolv.conf lists the host's resolvers, and other containers are
/// reached by address. `--link` aliases still need the resolver here
/// (Docker writes them into /etc/hosts instead).
pub fn embedded_dns(spec: &ContainerSpec) -> bool {
    !spec.links.is_empty()
        || spec
            .networks
            .iter()
            .any(|n| n.network != crate::net::store::DEFAULT_BRIDGE)
}

/// Whether the container gets bridge networking (its own namespace with
/// veths on user networks) rather than none, the host's or another's.
pub fn bridged(spec: &ContainerSpec) -> bool {
    spec.namespaces.net == NsMode::Private && !spec.networks.is_empty()
}

/// What `host-gateway` in `extra_hosts` stands for: an address of the host
/// the container reaches. Docker uses its default bridge's gateway; a
/// bridged container here gets the gateway of its first network (the host's
/// side of that bridge, so no other network needs to exist), a container on
/// the host's network the loopback address. Other containers have no route
/// to the host: `None`.
fn host_gateway(
    root: &Path,
    spec: &ContainerSpec,
    attached: Option<&Attached>,
) -> Result<Option<std::net::IpAddr>> {
    use std::net::{IpAddr, Ipv4Addr};
    if !spec.extra_hosts.iter().any(|(_, ip)| ip == HOST_GATEWAY) {
        return Ok(None);
    }
    if spec.namespaces.net == NsMode::Host {
        return Ok(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    let Some(first) = attached.and_then(|a| a.endpoints.first()) else {
        return Ok(None);
    };
    let network = crate::net::store::Networks::open(root)
        .and_then(|store| store.find(&first.network_id))
        .map_err(|source| StartError::HostGateway {
            network: first.network_name.clone(),
            source,
        })?;
    Ok(Some(IpAddr::V4(network.gateway)))
}

/// The resolv.conf of a container whose resolver (net::dns) answers on
/// 127.0.0.11.
fn embedded_mode(ipv6: bool) -> etc::DnsMode {
    etc::DnsMode::Embedded {
        nameserver: std::net::IpAddr::V4(EMBEDDED_NAMESERVER),
        ipv6,
    }
}

/// The container's resolv.conf in its directory.
const RESOLV_CONF: &str = "resolv.conf";

/// The address the embedded resolver answers on inside the container.
const EMBEDDED_NAMESERVER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 11);

/// Writes the container's /etc/resolv.conf (`path`, in its directory) for
/// `mode`, from the host's and the spec's `dns`, `dns_search`, `dns_opt`.
fn write_resolv_conf(path: &Path, spec: &ContainerSpec, mode: &etc::DnsMode) -> Result<()> {
    let host_path = Path::new("/etc/resolv.conf");
    let host_text = etc::read_host_resolv_conf(host_path)?;
    let overrides = etc::DnsOverrides {
        dns: &spec.dns,
        dns_search: &spec.dns_search,
        dns_opt: &spec.dns_opt,
    };
    let resolv = etc::resolv_conf(host_path, &host_text, &overrides, mode)?;
    etc::write_etc_file(path, &resolv)?;
    Ok(())
}

/// The resolver of a running container that had none: one on Docker's
/// default bridge alone, since `network connect`ed to a user network
/// (`spec`, its record now). As Docker does then, it gets the resolver on
/// 127.0.0.11, listening before its resolv.conf (written here) points
/// there; the servers that file listed become the resolver's upstreams.
/// `None` when `spec` still needs no resolver.
pub fn resolver_after_connect(
    containers: &Containers,
    id: &str,
    spec: &ContainerSpec,
) -> Result<Option<ResolverHandle>> {
    if !embedded_dns(spec) {
        return Ok(None);
    }
    let attached = crate::net::attach::current(containers.root(), containers.run_root(), id)?;
    let resolver = spawn_resolver(containers.root(), id, spec, &attached).map_err(|source| {
        StartError::Dns {
            id: id.to_string(),
            source,
        }
    })?;
    if resolver.is_some() {
        let ipv6 = attached.addresses().iter().any(|a| a.is_ipv6());
        write_resolv_conf(
            &resolv_conf_path(containers, id),
            spec,
            &embedded_mode(ipv6),
        )?;
    }
    Ok(resolver)
}

/// The container's /etc/resolv.conf, as kept in its directory.
fn resolv_conf_path(containers: &Containers, id: &str) -> PathBuf {
    containers.dir(id).path.join(RESOLV_CONF)
}

/// Whether the resolv.conf of container `id` points at its embedded
/// resolver: what `network connect` waits for after the monitor was to
/// start one ([`resolver_after_connect`]).
pub fn resolv_conf_is_embedded(containers: &Containers, id: &str) -> bool {
    std::fs::read_to_string(resolv_conf_path(containers, id)).is_ok_and(|text| {
        crate::net::dns::parse_resolv_conf(&text)
            .nameservers
            .contains(&std::net::IpAddr::V4(EMBEDDED_NAMESERVER))
    })
}

/// Docker's legacy links (`--link` on the default bridge) are in
/// /etc/hosts too, after `extra_hosts`: `ADDR\tALIAS HOSTNAME NAME` (the
/// name only when the alias is not it), as (names, address). Links on
/// other networks are names in the embedded DNS only, as with Docker.
fn legacy_links(
    containers: &Containers,
    spec: &ContainerSpec,
    attached: Option<&Attached>,
) -> Vec<(String, String)> {
    let bridge = attached.and_then(|a| {
        a.endpoints
            .iter()
            .find(|e| e.network_name == crate::net::store::DEFAULT_BRIDGE)
    });
    let Some(bridge) = bridge else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (alias, name) in &spec.links {
        let Ok(child) = containers.find(name) else {
            continue;
        };
        let address =
            crate::net::attach::current(containers.root(), containers.run_root(), &child.id)
                .ok()
                .and_then(|a| {
                    a.endpoints
                        .into_iter()
                        .find(|e| e.network_id == bridge.network_id)
                        .and_then(|e| e.ipv4)
                });
        let Some(address) = address else {
            continue;
        };
        let hostname = child
            .spec
            .hostname
            .clone()
            .unwrap_or_else(|| child.id[..12].to_string());
        let mut names = format!("{alias} {hostname}");
        if *alias != child.name {
            names.push(' ');
            names.push_str(&child.name);
        }
        out.push((names, address.to_string()));
    }
    out
}

/// Step 6: the container's /etc/hostname, /etc/hosts and /etc/resolv.conf,
/// kept in its directory and bind-mounted by the bundle.
fn write_etc_files(
    dir: &Path,
    spec: &ContainerSpec,
    id: &str,
    attached: Option<&Attached>,
    gateway: Option<std::net::IpAddr>,
    links: Vec<(String, String)>,
) -> Result<bundle::EtcFiles> {
    let hostname = spec
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    let files = bundle::EtcFiles {
        hosts: dir.join("hosts"),
        hostname: dir.join("hostname"),
        resolv_conf: dir.join(RESOLV_CONF),
    };
    etc::write_etc_file(&files.hostname, &etc::hostname_file(&hostname))?;
    let addresses = attached.map(|a| a.addresses()).unwrap_or_default();
    let ipv6 = addresses.iter().any(|a| a.is_ipv6());
    let mut extra_hosts = Vec::with_capacity(spec.extra_hosts.len());
    for (name, ip) in &spec.extra_hosts {
        match (ip.as_str(), gateway) {
            (HOST_GATEWAY, Some(g)) => extra_hosts.push((name.clone(), g.to_string())),
            (HOST_GATEWAY, None) => tracing::warn!(
                "extra_hosts {name}:{HOST_GATEWAY}: container {id} has no route to the host (network_mode none or container:); left out of /etc/hosts"
            ),
            _ => extra_hosts.push((name.clone(), ip.clone())),
        }
    }
    extra_hosts.extend(links);
    let hosts = etc::hosts_file(&etc::Hosts {
        hostname: &hostname,
        domainname: spec.domainname.as_deref(),
        addresses: &addresses,
        extra_hosts: &extra_hosts,
        ipv6,
    });
    etc::write_etc_file(&files.hosts, &hosts)?;
    let mode = if spec.namespaces.net == NsMode::Host {
        etc::DnsMode::Host
    } else if attached.is_some() && embedded_dns(spec) {
        embedded_mode(ipv6)
    } else if attached.is_some() {
        etc::DnsMode::Direct { ipv6 }
    } else {
        etc::DnsMode::Direct { ipv6: false }
    };
    write_resolv_conf(&files.resolv_conf, spec, &mode)?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::Digest;

    fn container(c: &Containers) -> String {
        c.create(
            Some("web"),
            "busybox",
            Digest::sha256_of(b"image"),
            ContainerSpec::default(),
            "builtin",
            false,
        )
        .expect("create")
        .id
    }

    #[test]
    fn the_default_bridge_alone_has_no_embedded_dns() {
        let on = |names: &[&str]| ContainerSpec {
            networks: names
                .iter()
                .map(|n| crate::runtime::spec::NetworkAttachment {
                    network: n.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..ContainerSpec::default()
        };
        assert!(!embedded_dns(&on(&["bridge"])));
        assert!(embedded_dns(&on(&["proj_default"])));
        assert!(embedded_dns(&on(&["bridge", "front"])));
        // `--link` aliases are answered by the resolver.
        let mut linked = on(&["bridge"]);
        linked.links = vec![("db".into(), "postgres".into())];
        assert!(embedded_dns(&linked));
    }

    #[test]
    fn a_failed_start_undoes_its_steps_and_a_finished_one_keeps_them() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Containers::open(dir.path()).expect("open");
        let id = container(&c);
        let record = c.record(&id).expect("record");
        let io_dir = stdio_dir(c.run_root(), &id);

        // Failed after step 1 and the output FIFOs: no monitor is recorded
        // (nothing is left to adopt) and the FIFOs are gone.
        {
            let state = claim(&c, &id, &record).expect("claim");
            assert_eq!(state.monitor_pid, Some(std::process::id()));
            let mut steps = Steps::new(&c, &id);
            steps.push(Step::MonitorMark);
            steps.push(Step::OutputFifos(io_dir.clone()));
            stdio_fifos(&io_dir).expect("fifos");
        }
        assert_eq!(c.state(&id).expect("state").monitor_pid, None);
        assert!(!io_dir.exists());

        // Finished: everything stays.
        claim(&c, &id, &record).expect("claim");
        let mut steps = Steps::new(&c, &id);
        steps.push(Step::MonitorMark);
        steps.push(Step::OutputFifos(io_dir.clone()));
        stdio_fifos(&io_dir).expect("fifos");
        let (resolver, published) = steps.done();
        assert!(resolver.is_none() && published.is_none());
        assert_eq!(
            c.state(&id).expect("state").monitor_pid,
            Some(std::process::id())
        );
        assert!(io_dir.join(STDIO_NAMES[0]).exists());
    }

    #[test]
    fn a_running_container_is_not_claimed_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Containers::open(dir.path()).expect("open");
        let id = container(&c);
        let record = c.record(&id).expect("record");
        let mut state = c.state(&id).expect("state");
        state.status = Status::Running;
        c.set_state(&id, &state).expect("set");
        assert!(matches!(
            claim(&c, &id, &record),
            Err(StartError::AlreadyRunning(name)) if name == "web"
        ));
        assert_eq!(c.state(&id).expect("state").monitor_pid, None);
    }
}
