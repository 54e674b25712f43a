//! Containers on disk: one directory per container under `<root>/containers/<id>`
//! holding its record (what was asked for), its state (what happened), its
//! writable layer, its bundle and its logs. Every verb finds containers
//! here, so nothing depends on a process staying alive.

use super::spec::{ContainerSpec, NsMode};
use crate::image::digest::Digest;
use crate::sys::atomic::AtomicError;
use crate::sys::modes::{restricted_dir, ROOT_DIR_MODE};
use crate::sys::path_error::{IoAt, PathError};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such container: {0}")]
    NotFound(String),
    #[error("multiple containers match {query:?}: {}", matches.join(", "))]
    Ambiguous { query: String, matches: Vec<String> },
    #[error("the container name \"/{name}\" is already in use by container \"{id}\"; remove (or rename) that container to be able to reuse that name")]
    NameInUse { name: String, id: String },
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error(transparent)]
    Io(#[from] PathError),
    #[error("cannot join the {kind} namespace of container {other}: it is not running")]
    NotRunning { other: String, kind: &'static str },
    /// Docker's words (moby `getIPCContainer`), with the donor's full id.
    #[error("can't join IPC of container {id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)")]
    NonShareableIpc { id: String },
    #[error(transparent)]
    State(#[from] AtomicError),
}

pub type Result<T> = std::result::Result<T, ContainerError>;

/// What the user asked for; written once at create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's id (manifest digest) at create time.
    pub image_id: Digest,
    pub spec: ContainerSpec,
    /// `builtin`, `crun`, `runc` or a path.
    pub runtime: String,
    /// `--rm`: the monitor removes the container when it exits.
    #[serde(default)]
    pub auto_remove: bool,
}

impl ContainerRecord {
    /// The runtime config of the container's image; `None` with the image
    /// gone (or unreadable).
    pub fn image_config(
        &self,
        store: &crate::image::store::ImageStore,
    ) -> Option<oci_spec::image::Config> {
        store
            .resolve(&self.image_id.to_string())
            .ok()
            .flatten()
            .and_then(|image| crate::image::config::image_config(store, &image).ok())
    }

    /// What the container runs, entrypoint then command, the image's where
    /// the spec gives none: Docker's COMMAND column and `Path` + `Args`.
    /// With the image gone (or unreadable), only what the spec says.
    pub fn command_line(&self, store: &crate::image::store::ImageStore) -> Vec<String> {
        match self.image_config(store) {
            Some(config) => super::bundle::effective_args(&self.spec, &config),
            None => {
                let mut parts = self.spec.entrypoint.clone().unwrap_or_default();
                parts.extend(self.spec.command.clone().unwrap_or_default());
                parts
            }
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Exited,
    /// The monitor vanished while the container ran; `rm -f` still works.
    Dead,
    /// Exited; the monitor brings it back after a back-off (restart policy).
    Restarting,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Restarting => "restarting",
        }
    }
}

/// What happened; rewritten (atomically) by the monitor at each transition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerState {
    pub status: Status,
    /// The container's init process, as the host sees it.
    pub pid: Option<u32>,
    /// The process that owns the container (its subreaper).
    pub monitor_pid: Option<u32>,
    /// Start times (clock ticks since boot) of `pid` and `monitor_pid`:
    /// with them a recycled pid is not taken for the container or its
    /// monitor.
    pub pid_start: Option<u64>,
    pub monitor_start: Option<u64>,
    /// The shim that is the parent of the current run's init (see
    /// `supervise::shim`) and its start time: while it lives, the exit
    /// status is not lost, whatever happens to the monitor.
    pub shim_pid: Option<u32>,
    pub shim_start: Option<u64>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub oom_killed: bool,
    /// Why the last start failed, in the words the user saw.
    pub error: Option<String>,
    pub restart_count: u32,
    /// Present while a healthcheck runs (Docker's State.Health).
    pub health: Option<Health>,
    /// `stop`/`kill` by a user: the restart policy leaves it stopped.
    pub manually_stopped: bool,
    /// The published ports while the container runs, as
    /// `net::ports::publish` resolved them (every host address spelled
    /// out, random ports chosen); `wharf port` and `wharf ps` show these.
    pub ports: Vec<super::spec::PortBinding>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    /// The last five results, oldest first.
    pub log: Vec<HealthResult>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

/// The container directory layout, in one place.
#[derive(Clone, Debug)]
pub struct ContainerDir {
    pub path: PathBuf,
    pub id: String,
}

impl ContainerDir {
    pub fn record(&self) -> PathBuf {
        self.path.join("container.json")
    }
    pub fn state(&self) -> PathBuf {
        self.path.join("state.json")
    }
    pub fn bundle(&self) -> PathBuf {
        self.path.join("bundle")
    }
    /// Where the overlay is mounted (the bundle's `root.path`).
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }
    pub fn log(&self) -> PathBuf {
        self.path.join(format!("{}-json.log", self.id))
    }
    pub fn lock(&self) -> PathBuf {
        self.path.join("lock")
    }
}

/// All containers of one data root.
#[derive(Clone, Debug)]
pub struct Containers {
    root: PathBuf,
    run_root: PathBuf,
}

impl Containers {
    /// `root` is the data root (`/var/lib/wharf`); runtime state goes to
    /// `/run/wharf` for the default root (gone at reboot, as containers
    /// are), else `<root>/run` so a test root keeps everything together.
    pub fn open(root: &Path) -> Result<Containers> {
        let run_root = if root == Path::new("/var/lib/wharf") {
            PathBuf::from("/run/wharf")
        } else {
            root.join("run")
        };
        let c = Containers {
            root: root.to_path_buf(),
            run_root,
        };
        // Only root enters (see sys::modes), also a root an older wharf made.
        for dir in [c.root.clone(), c.containers_dir(), c.run_root.clone()] {
            restricted_dir(&dir, ROOT_DIR_MODE)?;
        }
        Ok(c)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn run_root(&self) -> &Path {
        &self.run_root
    }

    fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// State directory for an OCI runtime (`--root` of crun/runc).
    pub fn runtime_state_root(&self, runtime: &str) -> PathBuf {
        let name = Path::new(runtime)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "runtime".into());
        self.run_root.join("runtime").join(name)
    }

    pub fn dir(&self, id: &str) -> ContainerDir {
        ContainerDir {
            path: self.containers_dir().join(id),
            id: id.to_string(),
        }
    }

    /// Serializes changes to one container between processes.
    pub fn lock(&self, id: &str) -> Result<Flock<File>> {
        lock_file(&self.dir(id).lock())
    }

    /// Writes a new container's record. The name must be unused; without
    /// one, a Docker-style random name is picked.
    pub fn create(
        &self,
        name: Option<&str>,
        image: &str,
        image_id: Digest,
        spec: ContainerSpec,
        runtime: &str,
        auto_remove: bool,
    ) -> Result<ContainerRecord> {
        let _lock = self.global_lock()?;
        let existing = self.list_records()?;
        let name = match name {
            Some(n) => {
                let n = n.trim_start_matches('/');
                validate_name(n)?;
                if let Some(other) = existing.iter().find(|r| r.name == n) {
                    return Err(ContainerError::NameInUse {
                        name: n.to_string(),
                        id: other.id.clone(),
                    });
                }
                n.to_string()
            }
            None => loop {
                let candidate = random_name()?;
                if !existing.iter().any(|r| r.name == candidate) {
                    break candidate;
                }
            },
        };
        let id = random_id()?;
        let mut spec = spec;
        spec.name = name.clone();
        let record = ContainerRecord {
            id: id.clone(),
            name,
            created: crate::time::rfc3339_nanos(std::time::SystemTime::now()),
            image: image.to_string(),
            image_id,
            spec,
            runtime: runtime.to_string(),
            auto_remove,
        };
        let dir = self.dir(&id);
        restricted_dir(&dir.path, ROOT_DIR_MODE)?;
        write_json(&dir.state(), &ContainerState::default())?;
        // The record goes last: a directory without one is an unfinished
        // create that `list` ignores and `gc` may remove.
        write_json(&dir.record(), &record)?;
        Ok(record)
    }

    /// `docker rename`: the container `id` takes the unused name `new_name`
    /// (checked under the same lock `create` takes); returns the new record.
    pub fn rename(&self, id: &str, new_name: &str) -> Result<ContainerRecord> {
        let _lock = self.global_lock()?;
        let new_name = new_name.trim_start_matches('/');
        validate_name(new_name)?;
        let existing = self.list_records()?;
        if let Some(other) = existing.iter().find(|r| r.name == new_name) {
            return Err(ContainerError::NameInUse {
                name: new_name.to_string(),
                id: other.id.clone(),
            });
        }
        let mut record = self.record(id)?;
        record.name = new_name.to_string();
        record.spec.name = new_name.to_string();
        write_json(&self.dir(id).record(), &record)?;
        Ok(record)
    }

    /// Rewrites the record of `id` with `change` applied (`docker update`);
    /// the caller holds the container's lock.
    pub fn update_record(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord> {
        let mut record = self.record(id)?;
        change(&mut record);
        write_json(&self.dir(id).record(), &record)?;
        Ok(record)
    }

    fn global_lock(&self) -> Result<Flock<File>> {
        lock_file(&self.containers_dir().join(".lock"))
    }

    pub fn record(&self, id: &str) -> Result<ContainerRecord> {
        read_json(&self.dir(id).record())?.ok_or_else(|| ContainerError::NotFound(id.to_string()))
    }

    pub fn state(&self, id: &str) -> Result<ContainerState> {
        let mut state: ContainerState = read_json(&self.dir(id).state())?.unwrap_or_default();
        // A running container whose monitor is gone can no longer report
        // its exit: say so instead of showing "running" forever.
        if matches!(state.status, Status::Running | Status::Paused)
            && state.monitor_pid.is_some()
            && !state.monitor_alive()
            && !state.init_alive()
        {
            state.status = Status::Dead;
        }
        Ok(state)
    }

    pub fn set_state(&self, id: &str, state: &ContainerState) -> Result<()> {
        write_json(&self.dir(id).state(), state)
    }

    /// The names of the containers that mount volume `volume`.
    pub fn mounting(&self, volume: &str) -> Result<Vec<String>> {
        Ok(self
            .list_records()?
            .into_iter()
            .filter(|r| {
                r.spec.mounts.iter().any(
                    |m| matches!(m, crate::runtime::spec::MountSpec::Volume { name, .. } if name == volume),
                )
            })
            .map(|r| r.name)
            .collect())
    }

    /// Every container, oldest first.
    pub fn list_records(&self) -> Result<Vec<ContainerRecord>> {
        let dir = self.containers_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).at("reading", &dir)? {
            let entry = entry.at("reading", &dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(r) = read_json::<ContainerRecord>(&self.dir(&name).record())? {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.created.cmp(&b.created));
        Ok(out)
    }

    /// Finds a container by full id, name, or unique id prefix (Docker's order).
    pub fn find(&self, query: &str) -> Result<ContainerRecord> {
        let all = self.list_records()?;
        let q = query.trim_start_matches('/');
        if let Some(r) = all.iter().find(|r| r.id == q || r.name == q) {
            return Ok(r.clone());
        }
        let matches: Vec<&ContainerRecord> = all.iter().filter(|r| r.id.starts_with(q)).collect();
        match matches.as_slice() {
            [one] if !q.is_empty() => Ok((*one).clone()),
            [] | [_] => Err(ContainerError::NotFound(query.to_string())),
            many => Err(ContainerError::Ambiguous {
                query: query.to_string(),
                matches: many.iter().map(|r| r.id[..12].to_string()).collect(),
            }),
        }
    }

    /// `spec` with every [`NsMode::Container`] turned into the namespace file
    /// of that container's running process (`/proc/<pid>/ns/<kind>`), at
    /// start: the other container may have restarted with a new pid since
    /// this one was created.
    pub fn resolve_namespaces(&self, spec: &ContainerSpec) -> Result<ContainerSpec> {
        let mut out = spec.clone();
        let ns = &mut out.namespaces;
        let mut cgroup = ns.cgroup.take();
        for (mode, kind) in [
            (&mut ns.pid, "pid"),
            (&mut ns.ipc, "ipc"),
            (&mut ns.uts, "uts"),
            (&mut ns.net, "net"),
        ]
        .into_iter()
        .chain(cgroup.as_mut().map(|m| (m, "cgroup")))
        {
            if let NsMode::Container(other) = mode {
                *mode = NsMode::Path(self.namespace_file(other, kind)?);
            }
        }
        ns.cgroup = cgroup;
        Ok(out)
    }

    fn namespace_file(&self, other: &str, kind: &'static str) -> Result<PathBuf> {
        let record = self.find(other)?;
        let state = self.state(&record.id)?;
        // By name: the CLI keeps the id, which says little to the user.
        let not_running = || ContainerError::NotRunning {
            other: record.name.clone(),
            kind,
        };
        let pid = state
            .pid
            .filter(|&pid| state.status == Status::Running && process_alive(pid))
            .ok_or_else(not_running)?;
        // As Docker: only an IPC namespace made to be shared (or the
        // host's, or one the donor itself joined) may be joined.
        let donor = &record.spec.namespaces;
        if kind == "ipc"
            && donor.ipc_shareable == Some(false)
            && !matches!(
                donor.ipc,
                NsMode::Host | NsMode::Container(_) | NsMode::Path(_)
            )
        {
            return Err(ContainerError::NonShareableIpc {
                id: record.id.clone(),
            });
        }
        let file = PathBuf::from(format!("/proc/{pid}/ns/{kind}"));
        // It may have exited since its state was read.
        if !file.exists() {
            return Err(not_running());
        }
        Ok(file)
    }

    /// Removes container directories that have no record: a create or a
    /// removal killed half-way. Nothing lists them, so nothing else would.
    /// Skipped while a create holds the containers' lock (its directory has
    /// no record yet), for a directory whose lock a removal holds, and for
    /// one with anything mounted below it. Returns how many went.
    pub fn remove_unfinished(&self) -> Result<usize> {
        let Some(_creating) = try_lock_file(&self.containers_dir().join(".lock"))? else {
            return Ok(0);
        };
        let containers = self.containers_dir();
        let mut removed = 0;
        for entry in fs::read_dir(&containers).at("reading", &containers)? {
            let entry = entry.at("reading", &containers)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = self.dir(&name);
            if fs::symlink_metadata(dir.record()).is_ok() {
                continue;
            }
            let Some(_removing) = try_lock_file(&dir.lock())? else {
                continue;
            };
            if crate::sys::mountinfo::has_mount_under(&dir.path)
                .at("reading", "/proc/self/mountinfo")?
            {
                continue;
            }
            tracing::debug!(id = %name, "removing the directory of an unfinished create or removal");
            crate::image::unpack::remove_tree(&dir.path)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Deletes the container's directory; the caller has already stopped
    /// it, unmounted its rootfs and released its image.
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        // Drop the record first so a crash mid-removal leaves an
        // unfinished directory, not a half-removed container.
        match fs::remove_file(dir.record()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(PathError::new("removing", dir.record(), e).into()),
        }
        crate::image::unpack::remove_tree(&dir.path)?;
        Ok(())
    }
}

/// An exclusive flock on `path` (created if missing), held until dropped.
pub fn lock_file(path: &Path) -> Result<Flock<File>> {
    Flock::lock(open_lock_file(path)?, FlockArg::LockExclusive).map_err(|(_, e)| {
        ContainerError::Io(PathError {
            action: "locking",
            path: path.to_path_buf(),
            source: e.into(),
        })
    })
}

/// An exclusive flock on `path` (created if missing), or `None` when
/// another holds it.
fn try_lock_file(path: &Path) -> Result<Option<Flock<File>>> {
    match Flock::lock(open_lock_file(path)?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(ContainerError::Io(PathError {
            action: "locking",
            path: path.to_path_buf(),
            source: e.into(),
        })),
    }
}

fn open_lock_file(path: &Path) -> Result<File> {
    Ok(OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at("opening", path)?)
}

/// Docker's rule for container names.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::InvalidName(name.to_string()))
    }
}

impl ContainerState {
    /// Whether the recorded monitor still runs (the same process, not a
    /// recycled pid).
    pub fn monitor_alive(&self) -> bool {
        self.monitor_pid
            .is_some_and(|p| same_process(p, self.monitor_start))
    }

    /// Whether the shim of the current run still runs.
    pub fn shim_alive(&self) -> bool {
        self.shim_pid
            .is_some_and(|p| same_process(p, self.shim_start))
    }

    /// Whether the container's init still runs.
    pub fn init_alive(&self) -> bool {
        self.pid.is_some_and(|p| same_process(p, self.pid_start))
    }
}

fn same_process(pid: u32, start: Option<u64>) -> bool {
    process_alive(pid) && start.is_none_or(|s| process_start_time(pid) == Some(s))
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks
/// since boot. With the pid it names one process for good.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count from after it.
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // A zombie still answers kill(0); /proc's state tells them apart.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok(),
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    let path = Path::new("/dev/urandom");
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .at("reading", path)?;
    Ok(buf)
}

/// 64 hex digits, as Docker's ids.
pub fn random_id() -> Result<String> {
    let bytes = random_bytes::<32>()?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

const ADJECTIVES: &[&str] = &[
    "admiring", "brave", "busy", "calm", "clever", "eager", "elated", "festive", "gallant",
    "happy", "jolly", "keen", "lucid", "modest", "nifty", "quirky", "serene", "sharp", "stoic",
    "tender", "upbeat", "vibrant", "wizardly", "zealous",
];
const NAMES: &[&str] = &[
    "babbage", "curie", "darwin", "einstein", "euler", "fermi", "galileo", "hopper", "hypatia",
    "kepler", "lamport", "lovelace", "mendel", "newton", "noether", "pascal", "ritchie", "shannon",
    "tesla", "thompson", "torvalds", "turing", "wozniak", "yalow",
];

fn random_name() -> Result<String> {
    let b = random_bytes::<3>()?;
    let adj = ADJECTIVES[b[0] as usize % ADJECTIVES.len()];
    let name = NAMES[b[1] as usize % NAMES.len()];
    Ok(format!("{adj}_{name}{}", b[2] % 10))
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    Ok(crate::sys::atomic::read_json(path)?)
}

/// Write to a temporary file, then rename: readers never see half a file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    Ok(crate::sys::atomic::write_json(path, value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::sha256_of(b"image")
    }

    #[test]
    fn shared_namespaces_resolve_to_the_running_process_at_start() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Containers::open(dir.path()).expect("open");
        let mut shareable = ContainerSpec::default();
        shareable.namespaces.ipc_shareable = Some(true);
        let a = c
            .create(Some("db"), "busybox", digest(), shareable, "builtin", false)
            .expect("create");
        let mut spec = ContainerSpec::default();
        spec.namespaces.ipc = NsMode::Container("db".into());
        spec.namespaces.net = NsMode::Container(a.id[..12].to_string());
        spec.namespaces.pid = NsMode::Host;
        // Created, never started: nothing to join, and the error says whose
        // namespace and why.
        let err = c.resolve_namespaces(&spec).expect_err("not running");
        assert!(
            err.to_string()
                .contains("ipc namespace of container db: it is not running"),
            "{err}"
        );
        // "Running" as this test process; a restart gives a new pid, and the
        // next resolution follows it.
        let me = std::process::id();
        let running = |pid| ContainerState {
            status: Status::Running,
            pid: Some(pid),
            monitor_pid: Some(me),
            ..ContainerState::default()
        };
        c.set_state(&a.id, &running(me)).expect("state");
        let r = c.resolve_namespaces(&spec).expect("resolve");
        assert_eq!(
            r.namespaces.ipc,
            NsMode::Path(format!("/proc/{me}/ns/ipc").into())
        );
        assert_eq!(
            r.namespaces.net,
            NsMode::Path(format!("/proc/{me}/ns/net").into())
        );
        assert_eq!(r.namespaces.pid, NsMode::Host);
        assert_eq!(r.namespaces.uts, NsMode::Private);
        // The record keeps the name, so the next start resolves afresh.
        assert_eq!(spec.namespaces.ipc, NsMode::Container("db".into()));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        c.set_state(&a.id, &running(child.id())).expect("state");
        let r = c.resolve_namespaces(&spec).expect("resolve");
        assert_eq!(
            r.namespaces.ipc,
            NsMode::Path(format!("/proc/{}/ns/ipc", child.id()).into())
        );
        child.kill().expect("kill");
        child.wait().expect("wait");
        // Its process is gone though the state still says running.
        assert!(c.resolve_namespaces(&spec).is_err());
        let mut missing = ContainerSpec::default();
        missing.namespaces.pid = NsMode::Container("nope".into());
        let err = c.resolve_namespaces(&missing).expect_err("missing");
        assert!(err.to_string().contains("No such container: nope"), "{err}");
    }

    #[test]
    fn only_a_shareable_ipc_namespace_is_joined_as_docker_joins_it() {
        use crate::runtime::spec::Namespaces;
        let dir = tempfile::tempdir().expect("tmp");
        let c = Containers::open(dir.path()).expect("open");
        let me = std::process::id();
        let running = ContainerState {
            status: Status::Running,
            pid: Some(me),
            monitor_pid: Some(me),
            ..ContainerState::default()
        };
        let donor = |name: &str, ns: Namespaces| {
            let spec = ContainerSpec {
                namespaces: ns,
                ..ContainerSpec::default()
            };
            let r = c
                .create(Some(name), "busybox", digest(), spec, "builtin", false)
                .expect("create");
            c.set_state(&r.id, &running).expect("state");
            r.id
        };
        let private = donor(
            "private",
            Namespaces {
                ipc_shareable: Some(false),
                ..Namespaces::default()
            },
        );
        let shareable = donor(
            "shareable",
            Namespaces {
                ipc_shareable: Some(true),
                ..Namespaces::default()
            },
        );
        // Recorded before wharf kept the mode: joined as it was then.
        donor("older", Namespaces::default());
        donor(
            "host",
            Namespaces {
                ipc: NsMode::Host,
                ipc_shareable: Some(false),
                ..Namespaces::default()
            },
        );
        donor(
            "joined",
            Namespaces {
                ipc: NsMode::Container(shareable.clone()),
                ipc_shareable: Some(false),
                ..Namespaces::default()
            },
        );
        let join = |ipc: &str, net: &str| {
            let mut spec = ContainerSpec::default();
            spec.namespaces.ipc = NsMode::Container(ipc.into());
            spec.namespaces.net = NsMode::Container(net.into());
            c.resolve_namespaces(&spec)
        };
        let err = join("private", "shareable").expect_err("private ipc");
        assert_eq!(
            err.to_string(),
            format!("can't join IPC of container {private}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)")
        );
        // Only IPC is guarded: the private one's network is joined.
        for (ipc, net) in [
            ("shareable", "private"),
            ("host", "private"),
            ("joined", "private"),
            ("older", "private"),
        ] {
            let r = join(ipc, net).expect(ipc);
            assert_eq!(
                r.namespaces.ipc,
                NsMode::Path(format!("/proc/{me}/ns/ipc").into())
            );
        }
    }

    #[test]
    fn names_are_unique_and_found_by_prefix() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Containers::open(dir.path()).expect("open");
        let a = c
            .create(
                Some("web"),
                "busybox",
                digest(),
                ContainerSpec::default(),
                "builtin",
                false,
            )
            .expect("create");
        assert_eq!(a.id.len(), 64);
        assert_eq!(a.spec.name, "web");
        let err = c
            .create(
                Some("web"),
                "busybox",
                digest(),
                ContainerSpec::default(),
                "builtin",
                false,
            )
            .expect_err("dup");
        assert!(err.to_string().contains("already in use"), "{err}");
        let b = c
            .create(
                None,
                "busybox",
                digest(),
                ContainerSpec::default(),
                "builtin",
                false,
            )
            .expect("random name");
        assert!(b.name.contains('_'), "{}", b.name);
        assert_eq!(c.find("web").expect("by name").id, a.id);
        assert_eq!(c.find(&a.id[..10]).expect("by prefix").id, a.id);
        assert!(matches!(c.find("nope"), Err(ContainerError::NotFound(_))));
        assert_eq!(c.list_records().expect("list").len(), 2);
        c.remove_dir(&a.id).expect("rm");
        assert!(matches!(c.find("web"), Err(ContainerError::NotFound(_))));
    }

    /// A create killed before its record, a removal killed after dropping
    /// it: both directories go; a whole container and a directory whose
    /// removal still holds its lock stay.
    #[test]
    fn unfinished_directories_are_removed() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = Containers::open(dir.path()).expect("open");
        let whole = c
            .create(
                Some("web"),
                "busybox",
                digest(),
                ContainerSpec::default(),
                "builtin",
                false,
            )
            .expect("create");
        let killed_create = c.dir(&"a".repeat(64));
        fs::create_dir(&killed_create.path).expect("mkdir");
        write_json(&killed_create.state(), &ContainerState::default()).expect("state");
        fs::write(killed_create.path.join("container.tmp1-2-3"), "{").expect("temp record");
        let removing = c.dir(&"b".repeat(64));
        fs::create_dir(&removing.path).expect("mkdir");
        let held = lock_file(&removing.lock()).expect("lock");
        {
            let _creating = c.global_lock().expect("lock");
            assert_eq!(c.remove_unfinished().expect("gc"), 0, "a create is running");
        }
        assert_eq!(c.remove_unfinished().expect("gc"), 1);
        assert!(!killed_create.path.exists());
        assert!(removing.path.exists());
        assert_eq!(c.find("web").expect("whole").id, whole.id);
        drop(held);
        assert_eq!(c.remove_unfinished().expect("gc"), 1);
        assert!(!removing.path.exists());
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["-x", "a b", "", "é"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        validate_name("db_1.x-y").expect("valid");
    }
}
