//! `ContainerSpec` + the image's config + a mounted rootfs → the OCI
//! `config.json` that makes crun, runc and the built-in runtime do what
//! `docker run` does. The rules follow moby's `daemon/oci_linux.go` and
//! `oci/defaults.go` (Docker 25+): same default mounts, masked paths,
//! capabilities, device rules, seccomp profile, env and user resolution.
//! Everything the runtimes would otherwise add on their own (HOME, the
//! default device allow-list) is written out so the three agree.

use super::apparmor;
use super::seccomp::{SeccompError, Target};
use super::spec::{ContainerSpec, NsMode};
use super::user::{self, UserError};
use nix::sys::signal::Signal;
use oci_spec::image::Config;
use oci_spec::runtime::{LinuxCapabilities, Process, Root, Spec, User};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod devices;
mod mounts;
mod namespaces;
mod resources;
mod security;

use devices::devices;
use mounts::mounts;
pub use mounts::{clear_staged_subpaths, stage_subpath, StagedSubpath};
use namespaces::{namespaces, sysctls};
use resources::resources;
use security::{cap_set, caps_for_user, rlimits, seccomp, tweak_caps, SecurityOpts};

/// Where the init binary is bound in the container (Docker uses /sbin/docker-init).
pub const INIT_PATH: &str = "/sbin/wharf-init";
/// Docker's PATH when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Docker's default /dev/shm size (64 MiB).
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;
/// Annotation recording that `HOME` came from passwd (not from the image or
/// the user), so `exec --user` can swap it for the exec user's home.
pub const HOME_ANNOTATION: &str = "io.wharf.home-from-passwd";
/// RLIMIT_NOFILE when the spec sets none. Docker itself sets no rlimits:
/// containers inherit containerd's, which is `1024:524288` since Docker 25 /
/// containerd 2.0 dropped `LimitNOFILE=infinity` from their systemd units
/// (moby#45534, containerd#8924). Being daemonless, we would otherwise
/// inherit whatever shell ran wharf, so the current Docker value is written,
/// with the hard limit capped at wharf's own (raising it needs
/// CAP_SYS_RESOURCE, which crun no longer has when it applies rlimits).
pub const DEFAULT_NOFILE: (u64, u64) = (1024, 524288);

/// Docker's default capabilities, in Docker's order (CapEff 00000000a80425fb).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability by its kernel number; privileged containers get those
/// up to /proc/sys/kernel/cap_last_cap.
const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths (none when privileged or `systempaths=unconfined`).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device cgroup allow-list of a non-privileged container: Docker's
/// spec list plus the defaults runc and crun append on their own, written
/// out so the built-in runtime allows the same.
const DEFAULT_DEVICE_RULES: &[(char, Option<i64>, Option<i64>, &str)] = &[
    ('c', None, None, "m"),
    ('b', None, None, "m"),
    ('c', Some(1), Some(3), "rwm"),
    ('c', Some(1), Some(5), "rwm"),
    ('c', Some(1), Some(7), "rwm"),
    ('c', Some(5), Some(0), "rwm"),
    ('c', Some(5), Some(1), "rwm"),
    ('c', Some(5), Some(2), "rwm"),
    ('c', Some(1), Some(8), "rwm"),
    ('c', Some(1), Some(9), "rwm"),
    ('c', Some(136), None, "rwm"),
    ('c', Some(10), Some(200), "rwm"),
];

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("container {container}: the namespace of container {other} was not resolved before building the bundle")]
    UnresolvedNamespace { container: String, other: String },
    /// Docker's wording.
    #[error("no command specified")]
    NoCommand { container: String },
    #[error("no exec command specified")]
    NoExecCommand { container: String },
    #[error("container {container}: {source}")]
    User {
        container: String,
        #[source]
        source: UserError,
    },
    #[error("container {container}: {source}")]
    Seccomp {
        container: String,
        #[source]
        source: SeccompError,
    },
    #[error("container {container}: unknown capability: {name:?}")]
    UnknownCapability { container: String, name: String },
    #[error("container {container}: {source}")]
    AppArmor {
        container: String,
        #[source]
        source: apparmor::AppArmorError,
    },
    #[error("container {container}: invalid --security-opt: {opt:?}")]
    SecurityOpt { container: String, opt: String },
    #[error("container {container}: --security-opt {opt:?} cannot be applied: {reason}")]
    SecurityOptUnsupported {
        container: String,
        opt: String,
        reason: String,
    },
    #[error("container {container}: the working directory '{dir}' is invalid, it needs to be an absolute path")]
    WorkingDir { container: String, dir: String },
    #[error("container {container}: init requested but no init binary was given")]
    NoInit { container: String },
    #[error("container {container}: invalid mount config for {target:?}: {reason}")]
    Mount {
        container: String,
        target: String,
        reason: String,
    },
    #[error("container {container}: staging a volume subpath at {path}: {source}")]
    SubpathStaging {
        container: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container {container}: device {path}: {reason}")]
    Device {
        container: String,
        path: PathBuf,
        reason: String,
    },
    #[error("container {container}: invalid device cgroup format {rule:?}")]
    DeviceCgroupRule { container: String, rule: String },
    #[error("container {container}: sysctl {key:?}: {reason}")]
    Sysctl {
        container: String,
        key: String,
        reason: String,
    },
    #[error("container {container}: ulimit {name:?}: {reason}")]
    Ulimit {
        container: String,
        name: String,
        reason: String,
    },
    #[error("container {container}: {reason}")]
    Resources { container: String, reason: String },
    #[error("container {container}: invalid signal {signal:?}")]
    Signal { container: String, signal: String },
    #[error("reading {path}: {source}")]
    Host {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The oci-spec builders only fail on missing required fields, which
    /// we always set; kept as an error rather than a panic.
    #[error("building the OCI spec: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub struct BundleInputs<'a> {
    /// 64-hex container id.
    pub id: &'a str,
    pub spec: &'a ContainerSpec,
    /// `Config::default()` for images without a config.
    pub image: &'a Config,
    /// The mounted merged dir; /etc/passwd and /etc/group are read in it.
    pub rootfs: &'a Path,
    /// Host files bound at /etc/hosts, /etc/hostname, /etc/resolv.conf.
    pub etc: Option<EtcFiles>,
    /// Given by the caller (e.g. "/wharf/<id>").
    pub cgroups_path: String,
    /// Host path of a static init bound at [`INIT_PATH`] when `spec.init`.
    pub init: Option<PathBuf>,
    /// When `spec.namespaces.net` is Private: a netns file made by the network layer.
    pub netns: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct EtcFiles {
    pub hosts: PathBuf,
    pub hostname: PathBuf,
    pub resolv_conf: PathBuf,
}

#[derive(Clone, Debug, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub tty: bool,
    pub privileged: bool,
    /// The container's `group_add`, which Docker applies again when
    /// `user` is given.
    pub group_add: Vec<String>,
}

/// Facts about the host that change the config. [`Host::detect`] reads
/// them; tests build one by hand.
#[derive(Clone, Debug)]
pub struct Host {
    /// /proc/sys/kernel/cap_last_cap.
    pub cap_last_cap: u32,
    /// wharf's own bounding set (CapBnd): a privileged container gets
    /// every capability the kernel knows *and* we still hold, since asking
    /// for more fails in every runtime (e.g. inside a sandbox without
    /// CAP_SYS_RESOURCE).
    pub own_bounding: u64,
    /// /sys/fs/cgroup is cgroup2 (Docker's cgroupns default is private there, host on v1).
    pub cgroup2: bool,
    /// Swap limits work (memsw on v1); Docker drops memory-swap otherwise.
    pub swap_limit: bool,
    /// The blkio controller takes a weight, and a weight per device (on v1
    /// its `blkio.weight`/`blkio.bfq.weight` files exist); Docker discards
    /// the setting with a warning otherwise.
    pub blkio_weight: bool,
    pub blkio_weight_device: bool,
    /// The host's hostname, for `network_mode: host` / `uts: host`.
    pub hostname: String,
    /// net.ipv4.ping_group_range and ip_unprivileged_port_start exist.
    pub ping_group_range: bool,
    pub unprivileged_port_start: bool,
    pub seccomp: Target,
    /// wharf's own RLIMIT_NOFILE hard limit (None = unknown/unlimited).
    pub nofile_hard: Option<u64>,
    /// Where privileged containers' devices come from.
    pub dev_dir: PathBuf,
    /// AppArmor is enabled (`--security-opt apparmor=PROFILE` can apply).
    pub apparmor: bool,
    /// `apparmor_parser`, which loads `wharf-default`: with [`Host::apparmor`]
    /// it makes `wharf-default` every unprivileged container's profile.
    pub apparmor_parser: Option<PathBuf>,
}

impl Host {
    pub fn detect() -> Result<Self, BundleError> {
        let read = |p: &str| {
            std::fs::read_to_string(p).map_err(|source| BundleError::Host {
                path: p.into(),
                source,
            })
        };
        let cap_last_cap = read_cap_last_cap()?;
        let cgroup2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
            .unwrap_or(false);
        let swap_limit = if cgroup2 {
            true
        } else {
            Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        };
        let (blkio_weight, blkio_weight_device) = blkio_weights();
        Ok(Host {
            blkio_weight,
            blkio_weight_device,
            cap_last_cap,
            own_bounding: own_bounding(),
            cgroup2,
            swap_limit,
            hostname: read("/proc/sys/kernel/hostname")?.trim().to_string(),
            ping_group_range: Path::new("/proc/sys/net/ipv4/ping_group_range").exists(),
            unprivileged_port_start: Path::new("/proc/sys/net/ipv4/ip_unprivileged_port_start")
                .exists(),
            seccomp: Target::host(),
            nofile_hard: own_nofile_hard(),
            dev_dir: "/dev".into(),
            apparmor: apparmor::enabled(),
            apparmor_parser: apparmor::parser(),
        })
    }

    fn all_caps(&self) -> Vec<&'static str> {
        held_caps(self.cap_last_cap, self.own_bounding)
    }
}

/// The capabilities up to `last` whose bit is set in `bounding`.
/// Whether this host's blkio controller takes a weight and a weight per
/// device: as moby's sysinfo, either file of the v1 controller; always on
/// cgroup v2.
pub fn blkio_weights() -> (bool, bool) {
    let cgroup2 = nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false);
    let has = |files: [&str; 2]| {
        cgroup2
            || files
                .iter()
                .any(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists())
    };
    (
        has(["blkio.weight", "blkio.bfq.weight"]),
        has(["blkio.weight_device", "blkio.bfq.weight_device"]),
    )
}

/// Docker's warnings when [`blkio_weights`] says no; the setting is dropped.
pub const BLKIO_WEIGHT_DISCARDED: &str =
    "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.";
pub const BLKIO_WEIGHT_DEVICE_DISCARDED: &str = "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.";

fn held_caps(last: u32, bounding: u64) -> Vec<&'static str> {
    ALL_CAPS
        .iter()
        .take(last as usize + 1)
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// CapBnd of /proc/self/status; all bits when it cannot be read.
fn own_bounding() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX)
}

fn read_cap_last_cap() -> Result<u32, BundleError> {
    const PATH: &str = "/proc/sys/kernel/cap_last_cap";
    let text = std::fs::read_to_string(PATH).map_err(|source| BundleError::Host {
        path: PATH.into(),
        source,
    })?;
    text.trim().parse().map_err(|_| BundleError::Host {
        path: PATH.into(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, text.trim().to_string()),
    })
}

/// The hard "Max open files" of /proc/self/limits.
fn own_nofile_hard() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    // "Max open files  <soft>  <hard>  files"
    line.split_whitespace().nth(4)?.parse().ok()
}

/// The final argv Docker would run, without the init (moby's `merge`: an
/// entrypoint given by the user drops the image's Cmd unless a command is
/// given too; an empty entrypoint clears the image's and keeps its Cmd; an
/// empty command counts as not given).
pub fn effective_args(spec: &ContainerSpec, image: &Config) -> Vec<String> {
    let (ep, cmd) = effective_entrypoint_and_cmd(spec, image);
    ep.into_iter().chain(cmd).collect()
}

/// [`effective_args`] kept apart: the entrypoint and the command Docker
/// shows as `Config.Entrypoint` and `Config.Cmd`.
pub fn effective_entrypoint_and_cmd(
    spec: &ContainerSpec,
    image: &Config,
) -> (Vec<String>, Vec<String>) {
    // `entrypoint: ""` arrives as [""] from some front ends: the same as [].
    let user_ep = spec.entrypoint.as_ref().map(|e| {
        if e.len() == 1 && e[0].is_empty() {
            &[][..]
        } else {
            &e[..]
        }
    });
    let (ep, cmd): (Vec<String>, Vec<String>) = match user_ep {
        Some(ep) if !ep.is_empty() => (ep.to_vec(), spec.command.clone().unwrap_or_default()),
        _ => {
            let cmd = match &spec.command {
                Some(c) if !c.is_empty() => c.clone(),
                _ => image.cmd().clone().unwrap_or_default(),
            };
            let ep = match user_ep {
                None => image.entrypoint().clone().unwrap_or_default(),
                Some(_) => Vec::new(),
            };
            (ep, cmd)
        }
    };
    (ep, cmd)
}

/// The signal `stop` sends: the spec's, else the image's, else SIGTERM.
/// [`build`] has already refused invalid names, so an invalid one here
/// falls back to SIGTERM.
pub fn stop_signal(spec: &ContainerSpec, image: &Config) -> Signal {
    spec.stop_signal
        .as_deref()
        .or(image.stop_signal().as_deref())
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or(Signal::SIGTERM)
}

/// `SIGTERM`, `term`, `15` → SIGTERM (Docker's `signal.ParseSignal`).
pub fn parse_signal(s: &str) -> Result<Signal, BundleError> {
    let err = || BundleError::Signal {
        container: String::new(),
        signal: s.to_string(),
    };
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| err());
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    Signal::from_str(&format!("SIG{name}")).map_err(|_| err())
}

pub fn build(inputs: &BundleInputs) -> Result<Spec, BundleError> {
    let host = Host::detect()?;
    let spec = build_for(inputs, &host)?;
    let profile = spec
        .process()
        .as_ref()
        .and_then(|p| p.apparmor_profile().clone());
    if profile.as_deref() == Some(apparmor::DEFAULT_PROFILE) {
        apparmor::ensure_default_loaded(host.apparmor_parser.as_deref()).map_err(|source| {
            BundleError::AppArmor {
                container: inputs.id.to_string(),
                source,
            }
        })?;
    }
    Ok(spec)
}

/// [`build`] against given host facts.
pub fn build_for(inputs: &BundleInputs, host: &Host) -> Result<Spec, BundleError> {
    let spec = inputs.spec;
    let cid = if spec.name.is_empty() {
        inputs.id.to_string()
    } else {
        spec.name.clone()
    };
    let ns = &spec.namespaces;
    // The caller turns them into /proc/<pid>/ns files when it starts the
    // container (Containers::resolve_namespaces); a bundle cannot name one.
    for mode in [&ns.pid, &ns.ipc, &ns.uts, &ns.net]
        .into_iter()
        .chain(ns.cgroup.as_ref())
    {
        if let NsMode::Container(other) = mode {
            return Err(BundleError::UnresolvedNamespace {
                container: cid,
                other: other.clone(),
            });
        }
    }
    let sec = SecurityOpts::parse(&spec.security_opt, &cid, host.apparmor)?;
    if let Some(s) = &spec.stop_signal {
        parse_signal(s).map_err(|_| BundleError::Signal {
            container: cid.clone(),
            signal: s.clone(),
        })?;
    }

    // argv
    let mut args = effective_args(spec, inputs.image);
    if args.is_empty() {
        return Err(BundleError::NoCommand { container: cid });
    }
    // Docker adds its init only in a private pid namespace: elsewhere there
    // already is a pid 1.
    let with_init = spec.init && ns.pid == NsMode::Private;
    if with_init {
        if inputs.init.is_none() {
            return Err(BundleError::NoInit { container: cid });
        }
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }

    // hostname: with the host's network or uts, Docker shows the host's name.
    let hostname = match spec.hostname.as_ref().filter(|h| !h.is_empty()) {
        Some(h) => h.clone(),
        None if ns.uts == NsMode::Host || ns.net == NsMode::Host => host.hostname.clone(),
        None => inputs.id.chars().take(12).collect(),
    };

    // user
    let image_user = inputs.image.user().as_deref().filter(|u| !u.is_empty());
    let user_spec = spec
        .user
        .as_deref()
        .filter(|u| !u.is_empty())
        .or(image_user);
    let resolved = user::resolve(inputs.rootfs, user_spec, &spec.group_add).map_err(|source| {
        BundleError::User {
            container: cid.clone(),
            source,
        }
    })?;

    // env
    let mut env = container_env(spec, inputs.image, &hostname);
    let mut annotations = HashMap::new();
    if !env.iter().any(|e| env_key(e) == "HOME") {
        // runc and crun add HOME from passwd when missing; written here so
        // the built-in runtime does the same.
        env.push(format!("HOME={}", resolved.home));
        annotations.insert(HOME_ANNOTATION.to_string(), "true".to_string());
    }

    if let Some(w) = spec.working_dir.as_deref().filter(|w| !w.is_empty()) {
        if !w.starts_with('/') {
            // Docker's check, message included.
            return Err(BundleError::WorkingDir {
                container: cid,
                dir: w.to_string(),
            });
        }
    }
    let cwd = spec
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| inputs.image.working_dir().clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".to_string());

    // capabilities
    let caps = tweak_caps(spec, host, &cid)?;
    let capabilities = caps_for_user(&caps, resolved.uid, &cid)?;

    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    user.set_additional_gids(Some(resolved.additional_gids.clone()));

    let mut process = Process::default();
    process.set_terminal(Some(spec.tty));
    process.set_console_size(None);
    process.set_user(user);
    process.set_args(Some(args));
    process.set_env(Some(env));
    process.set_cwd(PathBuf::from(cwd));
    process.set_capabilities(Some(capabilities));
    process.set_rlimits(Some(rlimits(spec, host, &cid)?));
    // Absent, not `false`, when off: libcontainer takes any value here as
    // "no_new_privs is set" and loads seccomp only after dropping
    // CAP_SYS_ADMIN, which the kernel then refuses. runc and crun read
    // absent as false too.
    process.set_no_new_privileges(sec.no_new_privileges.then_some(true));
    process.set_apparmor_profile(sec.apparmor_profile(spec.privileged, host));
    process.set_selinux_label(None);
    // Docker always writes the score, 0 by default, so a container does not
    // inherit wharf's own.
    process.set_oom_score_adj(Some(spec.oom_score_adj.unwrap_or(0)));

    let mut root = Root::default();
    root.set_path(inputs.rootfs.to_path_buf());
    root.set_readonly(Some(spec.read_only));

    let (mounts, rootfs_propagation) = mounts(inputs, with_init, &cid)?;

    let mut linux = oci_spec::runtime::Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_namespaces(Some(namespaces(inputs, host)));
    linux.set_cgroups_path(Some(PathBuf::from(&inputs.cgroups_path)));
    linux.set_sysctl(Some(sysctls(spec, host, &cid)?));
    linux.set_rootfs_propagation(rootfs_propagation);
    if spec.privileged || sec.unconfined_paths {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    } else {
        linux.set_masked_paths(Some(MASKED_PATHS.iter().map(|s| s.to_string()).collect()));
        linux.set_readonly_paths(Some(READONLY_PATHS.iter().map(|s| s.to_string()).collect()));
    }
    let (devices, device_rules) = devices(spec, host, &cid)?;
    linux.set_devices(Some(devices));
    let mut resources = resources(spec, host, &cid)?;
    resources.set_devices(Some(device_rules));
    linux.set_resources(Some(resources));
    linux.set_seccomp(seccomp(spec, &sec, &caps, host, &cid)?);

    let mut out = Spec::default();
    out.set_version("1.0.2".to_string());
    out.set_root(Some(root));
    out.set_mounts(Some(mounts));
    out.set_process(Some(process));
    // Without its own uts namespace a runtime cannot (and must not) set a hostname.
    let own_uts = ns.uts == NsMode::Private || ns.uts == NsMode::None;
    out.set_hostname(own_uts.then_some(hostname));
    out.set_domainname(spec.domainname.clone().filter(|d| own_uts && !d.is_empty()));
    out.set_annotations(Some(annotations));
    out.set_hooks(hooks(&spec.hooks));
    out.set_linux(Some(linux));
    Ok(out)
}

/// The OCI hooks of the spec (CDI devices' edits), by stage.
fn hooks(list: &[super::cdi::Hook]) -> Option<oci_spec::runtime::Hooks> {
    if list.is_empty() {
        return None;
    }
    let mut out = oci_spec::runtime::Hooks::default();
    for (stage, hooks) in super::cdi::hooks_by_stage(list) {
        let oci: Vec<oci_spec::runtime::Hook> = hooks
            .iter()
            .map(|h| {
                let mut o = oci_spec::runtime::Hook::default();
                o.set_path(PathBuf::from(&h.path));
                o.set_args((!h.args.is_empty()).then(|| h.args.clone()));
                o.set_env((!h.env.is_empty()).then(|| h.env.clone()));
                o.set_timeout(h.timeout);
                o
            })
            .collect();
        match stage.as_str() {
            "prestart" => out.set_prestart(Some(oci)),
            "createRuntime" => out.set_create_runtime(Some(oci)),
            "createContainer" => out.set_create_container(Some(oci)),
            "startContainer" => out.set_start_container(Some(oci)),
            "poststart" => out.set_poststart(Some(oci)),
            // The CDI spec was checked on load: nothing else is left.
            _ => out.set_poststop(Some(oci)),
        };
    }
    Some(out)
}

/// Writes `dir/config.json` atomically (temp file, fsync, rename), with
/// sets and maps sorted so the same spec always gives the same bytes.
pub fn write_bundle(dir: &Path, spec: &Spec) -> Result<(), BundleError> {
    use std::io::Write;
    let path = dir.join("config.json");
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Write { path, source }
    };
    let mut value = serde_json::to_value(spec)
        .map_err(|e| werr(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    canonicalize(&mut value, None);
    let text = serde_json::to_vec_pretty(&value)
        .map_err(|e| werr(&path)(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    let tmp = dir.join(".config.json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(werr(&tmp))?;
    f.write_all(&text).map_err(werr(&tmp))?;
    f.sync_all().map_err(werr(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(werr(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(werr(dir))?;
    Ok(())
}

fn canonicalize(v: &mut serde_json::Value, key: Option<&str>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if matches!(key, Some("sysctl" | "annotations" | "unified")) {
                map.sort_keys();
            }
            let parent_is_caps = key == Some("capabilities");
            for (k, child) in map.iter_mut() {
                if parent_is_caps {
                    if let Value::Array(a) = child {
                        a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
                    }
                }
                canonicalize(child, Some(k.as_str()));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| canonicalize(c, None)),
        _ => {}
    }
}

/// The process for `runtime exec --process`: the container's process with
/// Docker's exec rules applied (moby `ContainerExecStart` copies the
/// container's process, then replaces args, env, cwd, terminal, and the
/// user when one is given; privileged adds every capability).
pub fn exec_process(
    container: &Spec,
    rootfs: &Path,
    opts: &ExecOptions,
) -> Result<Process, BundleError> {
    let cid = container
        .hostname()
        .clone()
        .unwrap_or_else(|| rootfs.display().to_string());
    if opts.args.is_empty() {
        return Err(BundleError::NoExecCommand { container: cid });
    }
    let mut p = container.process().clone().unwrap_or_default();
    let container_tty = p.terminal().unwrap_or(false);
    let mut env = p.env().clone().unwrap_or_default();
    // The container's TERM=xterm came from its own tty (slot 2, after PATH
    // and HOSTNAME); an exec without a tty does not get it, one with does.
    if container_tty && !opts.tty && env.get(2).map(String::as_str) == Some("TERM=xterm") {
        env.remove(2);
    }
    if opts.tty && !env.iter().any(|e| env_key(e) == "TERM") {
        let at = env.len().min(2);
        env.insert(at, "TERM=xterm".to_string());
    }
    if let Some(u) = &opts.user {
        let r = user::resolve(rootfs, Some(u), &opts.group_add).map_err(|source| {
            BundleError::User {
                container: cid.clone(),
                source,
            }
        })?;
        let home_from_passwd = container
            .annotations()
            .as_ref()
            .is_some_and(|a| a.contains_key(HOME_ANNOTATION));
        if home_from_passwd {
            for e in env.iter_mut() {
                if env_key(e) == "HOME" {
                    *e = format!("HOME={}", r.home);
                }
            }
        }
        let mut user = User::default();
        user.set_uid(r.uid);
        user.set_gid(r.gid);
        user.set_additional_gids(Some(r.additional_gids));
        p.set_user(user);
    }
    replace_or_append(&mut env, &opts.env);
    if opts.privileged {
        let all = held_caps(read_cap_last_cap()?, own_bounding());
        let set = cap_set(&all, &cid)?;
        let mut c = LinuxCapabilities::default();
        c.set_bounding(Some(set.clone()));
        c.set_effective(Some(set.clone()));
        c.set_permitted(Some(set));
        c.set_inheritable(None);
        c.set_ambient(None);
        p.set_capabilities(Some(c));
    }
    p.set_args(Some(opts.args.clone()));
    p.set_env(Some(env));
    if let Some(w) = opts.working_dir.as_ref().filter(|w| !w.is_empty()) {
        p.set_cwd(PathBuf::from(w));
    }
    p.set_terminal(Some(opts.tty));
    Ok(p)
}

// ---------------------------------------------------------------- env

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

/// moby's `ReplaceOrAppendEnvValues`: same key replaces in place, new keys
/// append, a bare `KEY` removes it.
fn replace_or_append(base: &mut Vec<String>, overrides: &[String]) {
    for o in overrides {
        match o.split_once('=') {
            None => base.retain(|e| env_key(e) != o),
            Some((k, _)) => match base.iter_mut().find(|e| env_key(e) == k) {
                Some(slot) => *slot = o.clone(),
                None => base.push(o.clone()),
            },
        }
    }
}

/// The container's env as Docker keeps it in `Config.Env` (moby's
/// `merge`): the user's entries, then the image's the user did not set.
pub fn config_env(spec: &ContainerSpec, image: &Config) -> Vec<String> {
    let mut env = spec.env.clone();
    for e in image.env().iter().flatten() {
        if !spec.env.iter().any(|u| env_key(u) == env_key(e)) {
            env.push(e.clone());
        }
    }
    env
}

/// Docker's container env: PATH, HOSTNAME (and TERM with a tty) first,
/// then the user's env, then the image's entries the user did not set.
fn container_env(spec: &ContainerSpec, image: &Config, hostname: &str) -> Vec<String> {
    let config_env = config_env(spec, image);
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    if spec.tty {
        env.push("TERM=xterm".to_string());
    }
    replace_or_append(&mut env, &config_env);
    env
}

#[cfg(test)]
mod tests;
