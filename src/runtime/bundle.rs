//! `ContainerSpec` + the image's config + a mounted rootfs → the OCI
//! `config.json` that makes crun, runc and the built-in runtime do what
//! `docker run` does. The rules follow moby's `daemon/oci_linux.go` and
//! `oci/defaults.go` (Docker 25+): same default mounts, masked paths,
//! capabilities, device rules, seccomp profile, env and user resolution.
//! Everything the runtimes would otherwise add on their own (HOME, the
//! default device allow-list) is written out so the three agree.

use super::seccomp::{Profile, SeccompError, Target};
use super::spec::{ContainerSpec, MountSpec, NsMode};
use super::user::{self, UserError};
use nix::sys::signal::Signal;
use oci_spec::image::Config;
use oci_spec::runtime::{
    Capabilities, Capability, LinuxBlockIo, LinuxCapabilities, LinuxCpu, LinuxDevice,
    LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxNamespace, LinuxNamespaceType, LinuxPids,
    LinuxResources, LinuxSeccomp, LinuxThrottleDevice, LinuxThrottleDeviceBuilder,
    LinuxWeightDeviceBuilder, Mount, PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Process,
    Root, Spec, User,
};
use std::collections::HashMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

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
    #[error("container {container}: invalid --security-opt: {opt:?}")]
    SecurityOpt { container: String, opt: String },
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
        Ok(Host {
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
        })
    }

    fn all_caps(&self) -> Vec<&'static str> {
        held_caps(self.cap_last_cap, self.own_bounding)
    }
}

/// The capabilities up to `last` whose bit is set in `bounding`.
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
    ep.into_iter().chain(cmd).collect()
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
    build_for(inputs, &Host::detect()?)
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
    let sec = SecurityOpts::parse(&spec.security_opt, &cid)?;
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
    process.set_apparmor_profile(None);
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
    out.set_hooks(None);
    out.set_linux(Some(linux));
    Ok(out)
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

/// Docker's container env: PATH, HOSTNAME (and TERM with a tty) first,
/// then the user's env, then the image's entries the user did not set.
fn container_env(spec: &ContainerSpec, image: &Config, hostname: &str) -> Vec<String> {
    let mut config_env = spec.env.clone();
    for e in image.env().iter().flatten() {
        if !spec.env.iter().any(|u| env_key(u) == env_key(e)) {
            config_env.push(e.clone());
        }
    }
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

// ---------------------------------------------------------------- security

#[derive(Default)]
struct SecurityOpts {
    no_new_privileges: bool,
    seccomp: SeccompChoice,
    /// `systempaths=unconfined`: no masked or read-only /proc paths.
    unconfined_paths: bool,
}

#[derive(Default)]
enum SeccompChoice {
    #[default]
    Default,
    Unconfined,
    File(PathBuf),
}

impl SecurityOpts {
    fn parse(opts: &[String], cid: &str) -> Result<Self, BundleError> {
        let bad = |o: &str| BundleError::SecurityOpt {
            container: cid.to_string(),
            opt: o.to_string(),
        };
        let mut out = SecurityOpts::default();
        for o in opts {
            if o == "no-new-privileges" {
                out.no_new_privileges = true;
                continue;
            }
            // Docker accepts `key=value` and the legacy `key:value`.
            let (k, v) = o
                .split_once('=')
                .or_else(|| o.split_once(':'))
                .ok_or_else(|| bad(o))?;
            match k {
                "no-new-privileges" => {
                    out.no_new_privileges = v.parse::<bool>().map_err(|_| bad(o))?;
                }
                "seccomp" if v == "unconfined" => out.seccomp = SeccompChoice::Unconfined,
                "seccomp" if !v.is_empty() => out.seccomp = SeccompChoice::File(v.into()),
                "systempaths" if v == "unconfined" => out.unconfined_paths = true,
                // Neither is enforced by wharf; accepted so compose files run.
                "apparmor" | "label" => {}
                _ => return Err(bad(o)),
            }
        }
        Ok(out)
    }
}

fn normalize_cap(name: &str) -> String {
    let up = name.to_ascii_uppercase();
    if up == "ALL" || up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// moby's `TweakCapabilities`.
fn tweak_caps(spec: &ContainerSpec, host: &Host, cid: &str) -> Result<Vec<String>, BundleError> {
    let all = host.all_caps();
    if spec.privileged {
        return Ok(all.iter().map(|s| s.to_string()).collect());
    }
    let norm = |list: &[String]| -> Result<Vec<String>, BundleError> {
        list.iter()
            .map(|c| {
                let n = normalize_cap(c);
                if n == "ALL" || ALL_CAPS.contains(&n.as_str()) {
                    Ok(n)
                } else {
                    Err(BundleError::UnknownCapability {
                        container: cid.to_string(),
                        name: n,
                    })
                }
            })
            .collect()
    };
    let add = norm(&spec.cap_add)?;
    let drop = norm(&spec.cap_drop)?;
    let has = |l: &[String], c: &str| l.iter().any(|x| x == c);
    let mut caps: Vec<String> = if has(&add, "ALL") {
        all.iter()
            .filter(|c| !has(&drop, c))
            .map(|s| s.to_string())
            .collect()
    } else if has(&drop, "ALL") {
        add.clone()
    } else {
        DEFAULT_CAPS
            .iter()
            .filter(|c| !has(&drop, c))
            .map(|s| s.to_string())
            .chain(add.iter().cloned())
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

fn cap_set<S: AsRef<str>>(names: &[S], cid: &str) -> Result<Capabilities, BundleError> {
    names
        .iter()
        .map(|n| {
            serde_json::from_value::<Capability>(serde_json::Value::String(n.as_ref().to_string()))
                .map_err(|_| BundleError::UnknownCapability {
                    container: cid.to_string(),
                    name: n.as_ref().to_string(),
                })
        })
        .collect()
}

/// moby's `SetCapabilities` (20.10.14+): root gets the set in bounding,
/// effective and permitted; other users only in bounding, as execve would
/// leave them. Never inheritable or ambient (CVE-2022-24769).
fn caps_for_user(caps: &[String], uid: u32, cid: &str) -> Result<LinuxCapabilities, BundleError> {
    let set = cap_set(caps, cid)?;
    let mut c = LinuxCapabilities::default();
    c.set_bounding(Some(set.clone()));
    if uid == 0 {
        c.set_effective(Some(set.clone()));
        c.set_permitted(Some(set));
    } else {
        c.set_effective(None);
        c.set_permitted(None);
    }
    c.set_inheritable(None);
    c.set_ambient(None);
    Ok(c)
}

fn seccomp(
    spec: &ContainerSpec,
    sec: &SecurityOpts,
    caps: &[String],
    host: &Host,
    cid: &str,
) -> Result<Option<LinuxSeccomp>, BundleError> {
    if spec.privileged {
        return Ok(None);
    }
    let wrap = |source| BundleError::Seccomp {
        container: cid.to_string(),
        source,
    };
    let profile = match &sec.seccomp {
        SeccompChoice::Unconfined => return Ok(None),
        SeccompChoice::Default => Profile::docker_default().map_err(wrap)?,
        SeccompChoice::File(p) => Profile::load(p).map_err(wrap)?,
    };
    profile.to_oci(caps, &host.seccomp).map_err(wrap)
}

// ---------------------------------------------------------------- rlimits, sysctls

fn rlimits(spec: &ContainerSpec, host: &Host, cid: &str) -> Result<Vec<PosixRlimit>, BundleError> {
    let mut out = Vec::new();
    let bad = |name: &str, reason: String| BundleError::Ulimit {
        container: cid.to_string(),
        name: name.to_string(),
        reason,
    };
    // -1 is unlimited (RLIM_INFINITY), as in go-units.
    let value = |name: &str, v: i64| -> Result<u64, BundleError> {
        match v {
            -1 => Ok(u64::MAX),
            v if v >= 0 => Ok(v as u64),
            v => Err(bad(name, format!("invalid value {v}"))),
        }
    };
    for (name, &(soft, hard)) in &spec.ulimits {
        let typ = match name.as_str() {
            "as" => PosixRlimitType::RlimitAs,
            "core" => PosixRlimitType::RlimitCore,
            "cpu" => PosixRlimitType::RlimitCpu,
            "data" => PosixRlimitType::RlimitData,
            "fsize" => PosixRlimitType::RlimitFsize,
            "locks" => PosixRlimitType::RlimitLocks,
            "memlock" => PosixRlimitType::RlimitMemlock,
            "msgqueue" => PosixRlimitType::RlimitMsgqueue,
            "nice" => PosixRlimitType::RlimitNice,
            "nofile" => PosixRlimitType::RlimitNofile,
            "nproc" => PosixRlimitType::RlimitNproc,
            "rss" => PosixRlimitType::RlimitRss,
            "rtprio" => PosixRlimitType::RlimitRtprio,
            "rttime" => PosixRlimitType::RlimitRttime,
            "sigpending" => PosixRlimitType::RlimitSigpending,
            "stack" => PosixRlimitType::RlimitStack,
            _ => return Err(bad(name, "invalid ulimit type".into())),
        };
        let (s, h) = (value(name, soft)?, value(name, hard)?);
        if s > h {
            return Err(bad(
                name,
                format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                ),
            ));
        }
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(s)
                .hard(h)
                .build()?,
        );
    }
    if !spec.ulimits.contains_key("nofile") {
        let hard = host
            .nofile_hard
            .map_or(DEFAULT_NOFILE.1, |h| h.min(DEFAULT_NOFILE.1));
        out.push(
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(DEFAULT_NOFILE.0.min(hard))
                .hard(hard)
                .build()?,
        );
    }
    Ok(out)
}

const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

fn sysctls(
    spec: &ContainerSpec,
    host: &Host,
    cid: &str,
) -> Result<HashMap<String, String>, BundleError> {
    let ns = &spec.namespaces;
    let mut out = HashMap::new();
    // Docker's defaults in a new network namespace: ping without NET_RAW and
    // ports below 1024 without NET_BIND_SERVICE.
    if matches!(ns.net, NsMode::Private | NsMode::None) {
        if host.ping_group_range {
            out.insert(
                "net.ipv4.ping_group_range".to_string(),
                "0 2147483647".to_string(),
            );
        }
        if host.unprivileged_port_start {
            out.insert(
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "0".to_string(),
            );
        }
    }
    // runc's rule: only sysctls of namespaces the container has of its own.
    for (k, v) in &spec.sysctls {
        let bad = |reason: &str| BundleError::Sysctl {
            container: cid.to_string(),
            key: k.clone(),
            reason: reason.to_string(),
        };
        if IPC_SYSCTLS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            if ns.ipc == NsMode::Host {
                return Err(bad("not allowed in the host's IPC namespace"));
            }
        } else if k.starts_with("net.") {
            if ns.net == NsMode::Host {
                return Err(bad("not allowed in the host's network namespace"));
            }
        } else if k == "kernel.domainname" {
            if ns.uts == NsMode::Host {
                return Err(bad("not allowed in the host's UTS namespace"));
            }
        } else if k == "kernel.hostname" {
            return Err(bad("not allowed, use hostname instead"));
        } else {
            return Err(bad("not in a separate kernel namespace"));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

// ---------------------------------------------------------------- namespaces

fn namespaces(inputs: &BundleInputs, host: &Host) -> Vec<LinuxNamespace> {
    let ns = &inputs.spec.namespaces;
    let mk = |typ, path: Option<PathBuf>| {
        let mut n = LinuxNamespace::default();
        n.set_typ(typ);
        n.set_path(path);
        n
    };
    let mut out = vec![mk(LinuxNamespaceType::Mount, None)];
    let mut add = |typ, mode: &NsMode, private_path: Option<PathBuf>| match mode {
        NsMode::Host => {}
        NsMode::Path(p) => out.push(mk(typ, Some(p.clone()))),
        // Refused by build_for before this point.
        NsMode::Container(_) => {}
        NsMode::Private => out.push(mk(typ, private_path)),
        NsMode::None => out.push(mk(typ, None)),
    };
    // Docker's order: network, uts, pid, ipc, cgroup.
    add(LinuxNamespaceType::Network, &ns.net, inputs.netns.clone());
    add(LinuxNamespaceType::Uts, &ns.uts, None);
    add(LinuxNamespaceType::Pid, &ns.pid, None);
    add(LinuxNamespaceType::Ipc, &ns.ipc, None);
    let default_cg = if host.cgroup2 {
        NsMode::Private
    } else {
        NsMode::Host
    };
    add(
        LinuxNamespaceType::Cgroup,
        ns.cgroup.as_ref().unwrap_or(&default_cg),
        None,
    );
    out
}

// ---------------------------------------------------------------- mounts

fn mnt(dest: &str, typ: &str, source: impl Into<PathBuf>, opts: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.into()));
    m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
    m
}

/// Path depth as moby's mount sort counts it (`/` separators of the clean path).
fn depth(dest: &str) -> usize {
    Path::new(dest)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

fn clean_target(t: &str) -> String {
    let mut out = PathBuf::from("/");
    for c in Path::new(t).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.display().to_string()
}

/// `size=` as Docker writes it: the largest of g/m/k dividing evenly.
fn tmpfs_size(bytes: u64) -> String {
    for (suffix, div) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes.is_multiple_of(div) {
            return format!("size={}{suffix}", bytes / div);
        }
    }
    format!("size={bytes}")
}

/// Resolves `sub` inside `base` without leaving it (symlinks included) and
/// returns the real path, which must exist.
fn resolve_beneath(base: &Path, sub: &str) -> std::io::Result<PathBuf> {
    use crate::sys::confined::{self, Confine};
    use std::os::fd::{AsFd, AsRawFd};
    let dir = std::fs::File::open(base)?;
    let fd = confined::open(
        dir.as_fd(),
        sub.trim_start_matches('/'),
        nix::fcntl::OFlag::O_PATH,
        Confine::Beneath,
    )?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

type MountList = (Vec<Mount>, Option<String>);

fn mounts(inputs: &BundleInputs, with_init: bool, cid: &str) -> Result<MountList, BundleError> {
    let spec = inputs.spec;
    let ns = &spec.namespaces;
    let bad = |target: &str, reason: String| BundleError::Mount {
        container: cid.to_string(),
        target: target.to_string(),
        reason,
    };

    // The caller's mounts (user mounts, /etc files, host /dev/shm), sorted
    // by depth after the defaults, as moby's `WithMounts` does.
    let mut extra: Vec<Mount> = Vec::new();
    let mut user_targets: Vec<String> = Vec::new();
    let mut propagation: Option<String> = None;
    for m in &spec.mounts {
        let raw = m.target();
        if !raw.starts_with('/') {
            return Err(bad(raw, "mount path must be absolute".into()));
        }
        let target = clean_target(raw);
        if target == "/" {
            return Err(bad(raw, "cannot mount over /".into()));
        }
        if user_targets.contains(&target) {
            return Err(bad(raw, "duplicate mount point".into()));
        }
        user_targets.push(target.clone());
        match m {
            MountSpec::Bind {
                source,
                read_only,
                propagation: prop,
                ..
            } => {
                let prop = prop.as_deref().unwrap_or("rprivate");
                match prop {
                    "private" | "rprivate" => {}
                    "shared" | "rshared" => propagation = Some("shared".into()),
                    "slave" | "rslave" => {
                        if propagation.is_none() {
                            propagation = Some("rslave".into());
                        }
                    }
                    other => return Err(bad(raw, format!("invalid propagation mode {other:?}"))),
                }
                let mut opts = vec!["rbind"];
                if *read_only {
                    opts.push("ro");
                }
                opts.push(prop);
                extra.push(mnt(&target, "bind", source.clone(), &opts));
            }
            MountSpec::Volume {
                source,
                read_only,
                subpath,
                name,
                ..
            } => {
                let src = match subpath.as_deref().filter(|s| !s.is_empty()) {
                    None => source.clone(),
                    Some(sub) => resolve_beneath(source, sub).map_err(|e| {
                        bad(
                            raw,
                            format!("cannot access subpath {sub:?} of volume {name}: {e}"),
                        )
                    })?,
                };
                let mut opts = vec!["rbind"];
                if *read_only {
                    opts.push("ro");
                }
                extra.push(mnt(&target, "bind", src, &opts));
            }
            MountSpec::Tmpfs {
                size,
                mode,
                read_only,
                ..
            } => {
                let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if *read_only {
                    opts.push("ro".into());
                }
                if let Some(m) = mode {
                    opts.push(format!("mode={m:o}"));
                }
                if let Some(s) = size.filter(|s| *s > 0) {
                    opts.push(tmpfs_size(s));
                }
                let mut t = mnt(&target, "tmpfs", "tmpfs", &[]);
                t.set_options(Some(opts));
                extra.push(t);
            }
        }
    }

    // ipc: host → the host's /dev/shm; none → no /dev/shm at all.
    if ns.ipc == NsMode::Host && !user_targets.iter().any(|t| t == "/dev/shm") {
        extra.push(mnt("/dev/shm", "bind", "/dev/shm", &["rbind", "rprivate"]));
        user_targets.push("/dev/shm".into());
    }

    if let Some(etc) = &inputs.etc {
        for (target, src) in [
            ("/etc/resolv.conf", &etc.resolv_conf),
            ("/etc/hostname", &etc.hostname),
            ("/etc/hosts", &etc.hosts),
        ] {
            // A user mount of the same file wins, as in Docker.
            if user_targets.iter().any(|t| t == target) {
                continue;
            }
            let mut opts = vec!["rbind"];
            if spec.read_only {
                opts.push("ro");
            }
            opts.push("rprivate");
            extra.push(mnt(target, "bind", src.clone(), &opts));
            user_targets.push(target.to_string());
        }
    }
    extra.sort_by_key(|m| depth(&m.destination().to_string_lossy()));

    let shm_size = spec.shm_size.filter(|s| *s > 0).unwrap_or(DEFAULT_SHM_SIZE);
    let shm_opt = format!("size={shm_size}");
    let mut defaults = vec![
        mnt("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mnt(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mnt(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mnt(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mnt(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mnt(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mnt(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_opt],
        ),
    ];
    if with_init {
        if let Some(init) = &inputs.init {
            defaults.push(mnt(INIT_PATH, "bind", init.clone(), &["bind", "ro"]));
        }
    }
    let user_dev = user_targets.iter().any(|t| t == "/dev");
    defaults.retain(|m| {
        let d = m.destination().to_string_lossy().to_string();
        let overridden = user_targets.contains(&d) || (user_dev && d.starts_with("/dev/"));
        let no_shm = d == "/dev/shm" && ns.ipc == NsMode::None;
        !overridden && !no_shm
    });
    for m in defaults.iter_mut() {
        let d = m.destination().to_string_lossy().to_string();
        let opts = m.options().clone().unwrap_or_default();
        let mut opts: Vec<String> = opts;
        if spec.read_only
            && !matches!(
                d.as_str(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            )
            && !opts.iter().any(|o| o == "ro")
        {
            opts.push("ro".into());
        }
        if spec.privileged && (d == "/sys" || m.typ().as_deref() == Some("cgroup")) {
            opts.retain(|o| o != "ro");
        }
        m.set_options(Some(opts));
    }
    defaults.extend(extra);
    Ok((defaults, propagation))
}

// ---------------------------------------------------------------- devices

fn device_type(ft: &std::fs::FileType) -> Option<LinuxDeviceType> {
    if ft.is_char_device() {
        Some(LinuxDeviceType::C)
    } else if ft.is_block_device() {
        Some(LinuxDeviceType::B)
    } else {
        None
    }
}

fn linux_device(path: &Path, meta: &std::fs::Metadata, typ: LinuxDeviceType) -> LinuxDevice {
    let mut d = LinuxDevice::default();
    d.set_path(path.to_path_buf());
    d.set_typ(typ);
    d.set_major(nix::sys::stat::major(meta.rdev()) as i64);
    d.set_minor(nix::sys::stat::minor(meta.rdev()) as i64);
    d.set_file_mode(Some(meta.mode() & 0o7777));
    d.set_uid(Some(meta.uid()));
    d.set_gid(Some(meta.gid()));
    d
}

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// runc's `HostDevices`: every char and block device under `dir`, minus
/// the directories every container gets its own of.
fn host_devices(dir: &Path, out: &mut Vec<LinuxDevice>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let ft = e.file_type()?;
        let path = e.path();
        if ft.is_dir() {
            if matches!(
                name.to_str(),
                Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")
            ) {
                continue;
            }
            host_devices(&path, out)?;
            continue;
        }
        if name == "console" {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Devices come and go (hotplug) while we walk.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(t) = device_type(&meta.file_type()) {
            out.push(linux_device(&path, &meta, t));
        }
    }
    Ok(())
}

/// Docker's `DevicesFromPath`: a device node, or every device under a directory.
fn devices_from_path(
    host_path: &Path,
    container_path: &Path,
    cid: &str,
) -> Result<Vec<(LinuxDevice, LinuxDeviceType)>, BundleError> {
    let bad = |reason: String| BundleError::Device {
        container: cid.to_string(),
        path: host_path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(host_path).map_err(|e| bad(e.to_string()))?;
    if let Some(t) = device_type(&meta.file_type()) {
        return Ok(vec![(linux_device(container_path, &meta, t), t)]);
    }
    if !meta.is_dir() {
        return Err(bad("not a device node".into()));
    }
    let mut found = Vec::new();
    host_devices(host_path, &mut found).map_err(|e| bad(e.to_string()))?;
    Ok(found
        .into_iter()
        .map(|mut d| {
            let rel = d
                .path()
                .strip_prefix(host_path)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            d.set_path(container_path.join(rel));
            let t = d.typ();
            (d, t)
        })
        .collect())
}

/// `c 1:3 mr`, `a *:* rwm`, `b 8:* rw`.
fn parse_cgroup_rule(s: &str, cid: &str) -> Result<LinuxDeviceCgroup, BundleError> {
    let bad = || BundleError::DeviceCgroupRule {
        container: cid.to_string(),
        rule: s.to_string(),
    };
    let f: Vec<&str> = s.split_whitespace().collect();
    let [t, mm, access] = f[..] else {
        return Err(bad());
    };
    let typ = match t {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (ma, mi) = mm.split_once(':').ok_or_else(bad)?;
    let num = |x: &str| -> Result<Option<i64>, BundleError> {
        if x == "*" {
            Ok(None)
        } else {
            x.parse::<i64>().map(Some).map_err(|_| bad())
        }
    };
    if !valid_access(access) {
        return Err(bad());
    }
    Ok(rule(true, Some(typ), num(ma)?, num(mi)?, access))
}

fn valid_access(a: &str) -> bool {
    !a.is_empty() && a.len() <= 3 && a.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

fn devices(
    spec: &ContainerSpec,
    host: &Host,
    cid: &str,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), BundleError> {
    let mut devs = Vec::new();
    if spec.privileged {
        host_devices(&host.dev_dir, &mut devs).map_err(|e| BundleError::Device {
            container: cid.to_string(),
            path: host.dev_dir.clone(),
            reason: e.to_string(),
        })?;
        for d in &spec.devices {
            // Already there through the host's /dev.
            if d.host_path == d.container_path {
                continue;
            }
            devs.extend(
                devices_from_path(&d.host_path, &d.container_path, cid)?
                    .into_iter()
                    .map(|(d, _)| d),
            );
        }
        return Ok((devs, vec![rule(true, None, None, None, "rwm")]));
    }
    let mut rules = vec![rule(false, None, None, None, "rwm")];
    for &(t, ma, mi, acc) in DEFAULT_DEVICE_RULES {
        let typ = if t == 'b' {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        };
        rules.push(rule(true, Some(typ), ma, mi, acc));
    }
    for d in &spec.devices {
        let perms = if d.permissions.is_empty() {
            "rwm"
        } else {
            d.permissions.as_str()
        };
        if !valid_access(perms) {
            return Err(BundleError::Device {
                container: cid.to_string(),
                path: d.host_path.clone(),
                reason: format!("invalid device permissions {perms:?}"),
            });
        }
        for (dev, typ) in devices_from_path(&d.host_path, &d.container_path, cid)? {
            rules.push(rule(
                true,
                Some(typ),
                Some(dev.major()),
                Some(dev.minor()),
                perms,
            ));
            devs.push(dev);
        }
    }
    for r in &spec.device_cgroup_rules {
        rules.push(parse_cgroup_rule(r, cid)?);
    }
    Ok((devs, rules))
}

// ---------------------------------------------------------------- resources

fn resources(spec: &ContainerSpec, host: &Host, cid: &str) -> Result<LinuxResources, BundleError> {
    let r = &spec.resources;
    let bad = |reason: &str| BundleError::Resources {
        container: cid.to_string(),
        reason: reason.to_string(),
    };
    let mut out = LinuxResources::default();

    let mut mem = LinuxMemory::default();
    let limit = r.memory.filter(|m| *m > 0);
    mem.set_limit(limit);
    mem.set_reservation(r.memory_reservation.filter(|m| *m > 0));
    // Docker: memory without memory-swap gets swap = 2 × memory; none at
    // all where the kernel cannot limit swap.
    let swap = match (r.memory_swap.filter(|s| *s != 0), limit) {
        (Some(s), _) => Some(s),
        (None, Some(l)) => Some(l.saturating_mul(2)),
        (None, None) => None,
    };
    if let (Some(s), Some(l)) = (swap, limit) {
        if s != -1 && s < l {
            return Err(bad(
                "minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
    }
    mem.set_swap(swap.filter(|_| host.swap_limit));
    if let Some(s) = r.memory_swappiness {
        if s > 100 {
            return Err(bad(&format!(
                "invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
        mem.set_swappiness(Some(s));
    }
    if r.oom_kill_disable {
        mem.set_disable_oom_killer(Some(true));
    }
    if mem != LinuxMemory::default() {
        out.set_memory(Some(mem));
    }

    let mut cpu = LinuxCpu::default();
    cpu.set_shares(r.cpu_shares.filter(|s| *s > 0));
    if let Some(n) = r.nano_cpus.filter(|n| *n > 0) {
        if r.cpu_quota.is_some_and(|q| q != 0) || r.cpu_period.is_some_and(|p| p != 0) {
            return Err(bad(
                "conflicting options: Nano CPUs cannot be set together with CPU period or quota",
            ));
        }
        let period: u64 = 100_000;
        cpu.set_period(Some(period));
        cpu.set_quota(Some(n.saturating_mul(period as i64) / 1_000_000_000));
    } else {
        cpu.set_quota(r.cpu_quota.filter(|q| *q != 0));
        cpu.set_period(r.cpu_period.filter(|p| *p != 0));
    }
    cpu.set_cpus(r.cpuset_cpus.clone().filter(|s| !s.is_empty()));
    cpu.set_mems(r.cpuset_mems.clone().filter(|s| !s.is_empty()));
    if cpu != LinuxCpu::default() {
        out.set_cpu(Some(cpu));
    }

    if let Some(p) = r.pids_limit {
        let mut pids = LinuxPids::default();
        // Docker: 0 and negatives mean unlimited, which runtimes spell -1.
        pids.set_limit(if p <= 0 { -1 } else { p });
        out.set_pids(Some(pids));
    }

    let dev_numbers = |path: &Path| -> Result<(i64, i64), BundleError> {
        let m = std::fs::metadata(path).map_err(|e| BundleError::Device {
            container: cid.to_string(),
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok((
            nix::sys::stat::major(m.rdev()) as i64,
            nix::sys::stat::minor(m.rdev()) as i64,
        ))
    };
    let throttle =
        |list: &[(PathBuf, u64)]| -> Result<Option<Vec<LinuxThrottleDevice>>, BundleError> {
            if list.is_empty() {
                return Ok(None);
            }
            list.iter()
                .map(|(p, rate)| {
                    let (ma, mi) = dev_numbers(p)?;
                    Ok(LinuxThrottleDeviceBuilder::default()
                        .major(ma)
                        .minor(mi)
                        .rate(*rate)
                        .build()?)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        };
    let weight_ok = |w: u16| (10..=1000).contains(&w);
    let mut blkio = LinuxBlockIo::default();
    if let Some(w) = r.blkio_weight.filter(|w| *w > 0) {
        if !weight_ok(w) {
            return Err(bad("range of blkio weight is from 10 to 1000"));
        }
        blkio.set_weight(Some(w));
    }
    if !r.blkio_weight_device.is_empty() {
        let mut wd = Vec::new();
        for (p, w) in &r.blkio_weight_device {
            if !weight_ok(*w) {
                return Err(bad("range of blkio weight is from 10 to 1000"));
            }
            let (ma, mi) = dev_numbers(p)?;
            wd.push(
                LinuxWeightDeviceBuilder::default()
                    .major(ma)
                    .minor(mi)
                    .weight(*w)
                    .build()?,
            );
        }
        blkio.set_weight_device(Some(wd));
    }
    blkio.set_throttle_read_bps_device(throttle(&r.blkio_read_bps)?);
    blkio.set_throttle_write_bps_device(throttle(&r.blkio_write_bps)?);
    blkio.set_throttle_read_iops_device(throttle(&r.blkio_read_iops)?);
    blkio.set_throttle_write_iops_device(throttle(&r.blkio_write_iops)?);
    if blkio != LinuxBlockIo::default() {
        out.set_block_io(Some(blkio));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
