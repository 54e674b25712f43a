//! What a container should be, in runtime terms. `plan` turns a compose
//! service into a [`ContainerSpec`]; the CLI's `wharf run` builds one from
//! flags. Nothing here knows about YAML or compose; [`super::bundle`] turns
//! a spec plus the image's config into an OCI `config.json`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A container as the user asked for it. Every `Option` left `None` means
/// "what the image (or Docker's default) says".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerSpec {
    /// Container name (`demo-web-1`); also the default hostname's fallback.
    pub name: String,
    /// The image reference as given (`redis`, `localhost:5000/x:1`).
    pub image: String,
    /// `entrypoint:`; `Some(vec![])` clears the image's entrypoint. Setting
    /// it also drops the image's Cmd unless `command` is given (Docker's rule).
    pub entrypoint: Option<Vec<String>>,
    /// `command:`; an empty list counts as not given (moby's rule), so the
    /// image's Cmd stays.
    pub command: Option<Vec<String>>,
    /// `KEY=VALUE` entries that override the image's Env, in order.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// `uid`, `uid:gid`, `name`, `name:group`.
    pub user: Option<String>,
    /// Supplementary groups (names resolved through the image's /etc/group, or numbers).
    pub group_add: Vec<String>,
    /// Defaults to the first 12 hex digits of the container id, as Docker does.
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub tty: bool,
    pub stdin_open: bool,
    /// Run wharf's minimal init as PID 1 (`init: true`).
    pub init: bool,
    pub read_only: bool,
    pub privileged: bool,
    /// Capability names as Docker accepts them: `NET_ADMIN`, `CAP_NET_ADMIN`, `ALL`.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `no-new-privileges[:true]`, `seccomp=unconfined`, `seccomp=/path.json`,
    /// `label=disable`, `apparmor=unconfined|PROFILE` (`wharf-default` is
    /// the default where the host has AppArmor; runtime::apparmor).
    pub security_opt: Vec<String>,
    pub devices: Vec<DeviceMapping>,
    /// Device cgroup rules (`c 1:3 mr`).
    pub device_cgroup_rules: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    /// `nofile` → (soft, hard).
    pub ulimits: BTreeMap<String, (i64, i64)>,
    pub oom_score_adj: Option<i32>,
    /// Bytes; Docker's default is 64 MiB.
    pub shm_size: Option<u64>,
    /// Stop signal name or number; the image's StopSignal otherwise, else SIGTERM.
    pub stop_signal: Option<String>,
    /// Seconds between the stop signal and SIGKILL (`stop_grace_period`,
    /// `--stop-timeout`); Docker's default is 10.
    pub stop_timeout: Option<u64>,
    pub labels: BTreeMap<String, String>,
    pub mounts: Vec<MountSpec>,
    pub resources: Resources,
    pub namespaces: Namespaces,
    /// Extra `/etc/hosts` lines: (hostname, address); the address may be
    /// [`HOST_GATEWAY`], resolved when the container starts.
    pub extra_hosts: Vec<(String, String)>,
    pub dns: Vec<String>,
    /// Link aliases the embedded DNS answers for this container only
    /// (`links`, `external_links`, `--link`): (alias, container or service name).
    pub links: Vec<(String, String)>,
    pub dns_search: Vec<String>,
    pub dns_opt: Vec<String>,
    /// Bridge networks to join when `namespaces.net` is `Private`, in the
    /// order of their priority (highest first); the first one gives the
    /// default route. Empty means loopback only.
    pub networks: Vec<NetworkAttachment>,
    /// Published ports (`-p`, compose `ports:`), one entry per container port.
    pub ports: Vec<PortBinding>,
    /// The service's healthcheck; `None` means the image's, if any.
    pub healthcheck: Option<HealthSpec>,
    pub restart: RestartSpec,
    /// json-file rotation: `max-size` in bytes (`None`: never rotate) and
    /// `max-file` (`logging.options`, `--log-opt`).
    pub log_max_size: Option<u64>,
    pub log_max_files: Option<u32>,
    /// `logging.driver`, `--log-driver`: `json-file` (also for `None` and
    /// `local`), `none`, `syslog` or `journald`.
    pub log_driver: Option<String>,
    /// The driver's other options (`syslog-address`, `tag`, …).
    pub log_options: BTreeMap<String, String>,
    /// `cgroup_parent`, `--cgroup-parent`: the cgroup the container's goes
    /// under instead of wharf's own.
    pub cgroup_parent: Option<String>,
    /// OCI hooks a CDI device's edits ask for (GPUs), run by the runtime.
    pub hooks: Vec<super::cdi::Hook>,
}

impl ContainerSpec {
    /// The `cgroupsPath` of container `id` made from this spec.
    pub fn cgroups_path(&self, id: &str) -> String {
        super::cgroups::container_path_under(self.cgroup_parent.as_deref(), id)
    }
}

/// The `extra_hosts` address Docker replaces with an address of the host
/// the container can reach (`host.docker.internal:host-gateway`).
pub const HOST_GATEWAY: &str = "host-gateway";

/// A file written into the container's own file system before it starts:
/// a compose secret or config given by `content` or `environment`, which
/// Compose copies in rather than binds. Not part of the stored record, so a
/// secret's value is never written to `container.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedFile {
    /// Absolute path in the container.
    pub target: String,
    pub content: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits; Compose's default is 0444.
    pub mode: u32,
}

/// Docker's restart policy: `no` (or empty), `always`, `unless-stopped`,
/// `on-failure` with at most `max_retries` restarts (0: no limit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartSpec {
    pub name: String,
    pub max_retries: u32,
}

impl RestartSpec {
    /// Whether a container that exited with `code`, after `restarts`
    /// restarts, comes back (a manual stop is checked by the caller).
    pub fn wants_restart(&self, code: i32, restarts: u32) -> bool {
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => code != 0 && (self.max_retries == 0 || restarts < self.max_retries),
            _ => false,
        }
    }
}

// Docker's healthcheck is one type for images and containers; its home
// is the image config.
pub use crate::image::config::HealthSpec;

/// One network a container joins (`networks:` of a service, `--network`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkAttachment {
    /// The network's full name (`demo_default`, `mynet`).
    pub network: String,
    /// Extra DNS names on this network (service name, `aliases:`).
    pub aliases: Vec<String>,
    pub ipv4_address: Option<std::net::Ipv4Addr>,
    pub ipv6_address: Option<std::net::Ipv6Addr>,
    pub mac_address: Option<String>,
    pub priority: i32,
}

/// A container port published on the host. A host port of 0 means "pick a
/// free one"; ranges are expanded by the caller into one binding per port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// `None` = every host address (0.0.0.0 and ::).
    pub host_ip: Option<std::net::IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceMapping {
    pub host_path: PathBuf,
    pub container_path: PathBuf,
    /// Some of `r`, `w`, `m`; Docker's default is `rwm`.
    pub permissions: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountSpec {
    /// A host path bound into the container.
    Bind {
        source: PathBuf,
        target: String,
        #[serde(default)]
        read_only: bool,
        /// `rprivate` (Docker's default), `private`, `rshared`, `shared`, `rslave`, `slave`.
        #[serde(default)]
        propagation: Option<String>,
        /// `create_host_path`: make a missing source as a directory (compose's default for short syntax).
        #[serde(default)]
        create_host_path: bool,
    },
    /// A named (or anonymous) volume; `source` is its `_data` directory on
    /// the host, already created by the volume layer.
    Volume {
        name: String,
        source: PathBuf,
        target: String,
        #[serde(default)]
        read_only: bool,
        /// Do not seed an empty volume from the image's content at `target`.
        #[serde(default)]
        nocopy: bool,
        /// Subpath inside the volume.
        #[serde(default)]
        subpath: Option<String>,
    },
    Tmpfs {
        target: String,
        /// Bytes; None = the kernel's default (half of RAM).
        #[serde(default)]
        size: Option<u64>,
        /// Octal mode, Docker's default 1777.
        #[serde(default)]
        mode: Option<u32>,
        #[serde(default)]
        read_only: bool,
    },
    /// A `driver: local` volume of another file system type
    /// (`driver_opts: {type: nfs, o: "addr=…", device: ":/export"}`):
    /// mounted with mount(2) from `device` with the options of `o`, as
    /// Docker's local driver mounts it (here in each container that uses
    /// it, as wharf's tmpfs volumes are).
    Filesystem {
        target: String,
        fstype: String,
        device: String,
        /// `o`, comma-separated: flags (`ro`, `nosuid`, …) and the file
        /// system's own data (`addr=`, `vers=`, …).
        #[serde(default)]
        options: String,
        #[serde(default)]
        read_only: bool,
    },
}

impl MountSpec {
    pub fn target(&self) -> &str {
        match self {
            MountSpec::Bind { target, .. }
            | MountSpec::Volume { target, .. }
            | MountSpec::Tmpfs { target, .. }
            | MountSpec::Filesystem { target, .. } => target,
        }
    }
}

/// Resource limits in the units cgroups take. `None` = unlimited / default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    /// Bytes (`mem_limit`, `deploy.resources.limits.memory`).
    pub memory: Option<i64>,
    /// Memory + swap in bytes (`memswap_limit`); -1 = unlimited swap.
    pub memory_swap: Option<i64>,
    /// Soft limit in bytes (`mem_reservation`).
    pub memory_reservation: Option<i64>,
    pub memory_swappiness: Option<u64>,
    pub oom_kill_disable: bool,
    /// `cpus: 1.5` → quota 150000 over period 100000.
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids_limit: Option<i64>,
    pub blkio_weight: Option<u16>,
    /// (device path, weight).
    pub blkio_weight_device: Vec<(PathBuf, u16)>,
    /// (device path, bytes or ops per second) for the four throttles.
    pub blkio_read_bps: Vec<(PathBuf, u64)>,
    pub blkio_write_bps: Vec<(PathBuf, u64)>,
    pub blkio_read_iops: Vec<(PathBuf, u64)>,
    pub blkio_write_iops: Vec<(PathBuf, u64)>,
}

/// How the container shares namespaces with the host or other containers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Namespaces {
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
    pub net: NsMode,
    /// `cgroupns: host|private`; Docker's default is private on cgroup v2,
    /// host on v1.
    pub cgroup: Option<NsMode>,
    /// `ipc: shareable`: whether other containers may join this one's IPC
    /// namespace (Docker refuses a `private` one, its default). `None` in
    /// the records of a wharf that did not keep it: joined as then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_shareable: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NsMode {
    /// A new namespace of its own.
    #[default]
    Private,
    /// The host's namespace (`pid: host`, `network_mode: host`).
    Host,
    /// No network at all but loopback (`network_mode: none`); for ipc, no
    /// /dev/shm at all (Docker's `ipc: none`).
    None,
    /// Join an existing namespace file (`/proc/<pid>/ns/net`, a bind-mounted
    /// netns).
    Path(PathBuf),
    /// Join the namespace of another container, by name or id
    /// (`container:x`, compose's `service:x`). Resolved each time this
    /// container starts, from the other one's running process, so a restart
    /// of the other container does not leave a stale `/proc/<pid>` behind.
    Container(String),
}
