//! Docker's `run`/`create` flags → `ContainerSpec`, the single-container
//! counterpart of src/plan/container.rs (compose service → spec).
//!
//! The flags arrive as a plain struct (`RunOptions`, filled by the CLI);
//! what the conversion must learn from the host or the stores (another
//! container, a network, a volume, an env file) it asks through
//! `RunLookup`, so the rules here are tested without root or stores.

use crate::compose::convert::parse_bytes;
use crate::net::store::DEFAULT_BRIDGE;
use crate::runtime::spec::{
    ContainerSpec, DeviceMapping, MountSpec, NetworkAttachment, NsMode, Resources, RestartSpec,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a lookup failed with (a store's own error, kept as the source).
pub type LookupError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum DockerRunError {
    /// A flag value that does not parse; `message` is the whole sentence
    /// (Docker's wording where it has one).
    #[error("{message}")]
    Invalid { flag: String, message: String },
    #[error("reading env file {}", path.display())]
    EnvFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("volume source {source_path:?}")]
    VolumeSource {
        source_path: String,
        #[source]
        source: std::io::Error,
    },
    /// A container, network or volume the flags name could not be had.
    #[error("{what}")]
    Lookup {
        what: String,
        #[source]
        source: LookupError,
    },
    /// A store failed where Docker's message is the store's own.
    #[error(transparent)]
    Store(LookupError),
}

fn invalid(flag: &str, message: impl Into<String>) -> DockerRunError {
    DockerRunError::Invalid {
        flag: flag.to_string(),
        message: message.into(),
    }
}

/// Docker's `run`/`create` flags, as given (repeatable flags in order).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub image: String,
    pub command: Vec<String>,
    pub entrypoint: Option<String>,
    pub env: Vec<String>,
    pub env_file: Vec<PathBuf>,
    pub volume: Vec<String>,
    pub tmpfs: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub group_add: Vec<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub init: bool,
    pub read_only: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub device: Vec<String>,
    pub sysctl: Vec<String>,
    pub ulimit: Vec<String>,
    pub oom_score_adj: Option<i32>,
    pub shm_size: Option<String>,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub memory_reservation: Option<String>,
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub device_read_bps: Vec<String>,
    pub device_write_bps: Vec<String>,
    pub device_read_iops: Vec<String>,
    pub device_write_iops: Vec<String>,
    pub pids_limit: Option<i64>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub network: Vec<String>,
    pub network_alias: Vec<String>,
    pub ip: Option<std::net::Ipv4Addr>,
    pub ip6: Option<std::net::Ipv6Addr>,
    pub mac_address: Option<String>,
    pub publish: Vec<String>,
    pub volumes_from: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<u64>,
    pub restart: String,
    pub label: Vec<String>,
    pub add_host: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_option: Vec<String>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpuset_mems: Option<String>,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: bool,
    pub blkio_weight: Option<u16>,
    pub device_cgroup_rule: Vec<String>,
    pub health_cmd: Option<String>,
    pub health_interval: Option<String>,
    pub health_retries: Option<u32>,
    pub health_start_period: Option<String>,
    pub health_start_interval: Option<String>,
    pub health_timeout: Option<String>,
    pub no_healthcheck: bool,
    pub uts: Option<String>,
    pub cgroupns: Option<String>,
    pub link: Vec<String>,
    pub mount: Vec<String>,
    pub log_driver: Option<String>,
    pub log_opt: Vec<String>,
    pub userns: Option<String>,
    /// `--gpus`, Docker's syntax (`all`, `2`, `"device=0,1"`, …).
    pub gpus: Option<String>,
    pub cgroup_parent: Option<String>,
}

/// What the conversion needs from outside: the host's environment and
/// files, and the container, network and volume stores. The volume and
/// bridge calls may create what they name, as `docker run` does.
pub trait RunLookup {
    /// A variable of wharf's own environment (`-e KEY` copies it).
    fn host_env(&self, key: &str) -> Option<String>;
    fn read_env_file(&self, path: &std::path::Path) -> std::io::Result<String>;
    /// A host path made absolute against the current directory.
    fn absolute(&self, path: &str) -> std::io::Result<PathBuf>;
    /// The container `name` (name or id): its id and its mounts.
    fn container(&self, name: &str) -> Result<(String, Vec<MountSpec>), LookupError>;
    /// The user network `name` (name or id): its name.
    fn network(&self, name: &str) -> Result<String, LookupError>;
    /// Docker's default `bridge` network, made on first use: its name.
    fn default_bridge(&self) -> Result<String, LookupError>;
    /// The volume `name`, made when missing, or a new anonymous volume:
    /// its name, data directory and local driver options.
    fn volume(&self, name: Option<&str>) -> Result<VolumeFound, LookupError>;
}

/// A volume as `-v NAME:…` finds it.
pub struct VolumeFound {
    pub name: String,
    pub data: PathBuf,
    /// `volume create -o`: mounted as the local driver mounts them.
    pub driver_opts: BTreeMap<String, String>,
}

/// `-e KEY` takes KEY's value from wharf's own environment, as docker
/// does; unset, the entry stays a bare KEY.
/// The variables of an `--env-file`: one `KEY=VALUE` (or `KEY`, taken
/// from the host) a line; blank lines and `#` comments are skipped.
pub fn env_file_entries(text: &str, host_env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| expand_env(l, host_env))
        .collect()
}

pub fn expand_env(e: &str, host_env: &dyn Fn(&str) -> Option<String>) -> String {
    if e.contains('=') {
        e.to_string()
    } else {
        match host_env(e) {
            Some(v) => format!("{e}={v}"),
            None => e.to_string(),
        }
    }
}

/// The container spec `docker run`/`docker create` with these flags makes.
pub fn container_spec(
    a: &RunOptions,
    lookup: &dyn RunLookup,
) -> Result<ContainerSpec, DockerRunError> {
    let bytes = |flag: &str, v: &Option<String>| -> Result<Option<i64>, DockerRunError> {
        v.as_deref()
            .map(|s| {
                parse_bytes(s).map_err(|e| invalid(flag, format!("invalid {flag} {s:?}: {e}")))
            })
            .transpose()
    };
    let host_env = |key: &str| lookup.host_env(key);
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = lookup
            .read_env_file(f)
            .map_err(|source| DockerRunError::EnvFile {
                path: f.clone(),
                source,
            })?;
        env.extend(env_file_entries(&text, &host_env));
    }
    env.extend(a.env.iter().map(|e| expand_env(e, &host_env)));
    // What the flags name is made (volumes, the default bridge) only once
    // every flag has been found good, so a refused command leaves nothing.
    let volumes = a
        .volume
        .iter()
        .map(|v| ShortVolume::parse(v))
        .collect::<Result<Vec<_>, _>>()?;
    let mount_flags = a
        .mount
        .iter()
        .map(|m| MountFlag::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    let logging = log_options(a)?;
    if let Some(u) = a
        .userns
        .as_deref()
        .filter(|u| !u.is_empty() && *u != "host")
    {
        return Err(invalid(
            "--userns",
            format!("--userns={u}: wharf runs containers in the host's user namespace only (host)"),
        ));
    }
    let gpus = a.gpus.as_deref().map(gpu_request).transpose()?;
    let mut tmpfs = Vec::new();
    for t in &a.tmpfs {
        tmpfs.push(
            crate::plan::container::parse_tmpfs(t)
                .map_err(|e| invalid("--tmpfs", format!("--tmpfs {e}")))?,
        );
    }
    let mut ports = Vec::new();
    for p in &a.publish {
        ports.extend(crate::plan::container::parse_publish(p).map_err(|e| {
            invalid(
                "--publish",
                format!("invalid argument {p:?} for \"-p, --publish\" flag: {e}"),
            )
        })?);
    }
    let devices = a.device.iter().map(|d| device(d)).collect();
    let mut sysctls = BTreeMap::new();
    for s in &a.sysctl {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            invalid(
                "--sysctl",
                format!("invalid --sysctl {s:?}: expected KEY=VALUE"),
            )
        })?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let mut ulimits = BTreeMap::new();
    for u in &a.ulimit {
        let (name, vals) = u.split_once('=').ok_or_else(|| {
            invalid(
                "--ulimit",
                format!("invalid --ulimit {u:?}: expected NAME=SOFT[:HARD]"),
            )
        })?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        let parse = |v: &str| {
            v.parse::<i64>().map_err(|_| {
                invalid(
                    "--ulimit",
                    format!("invalid --ulimit {u:?}: {v:?} is not a number"),
                )
            })
        };
        ulimits.insert(name.to_string(), (parse(soft)?, parse(hard)?));
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut extra_hosts = Vec::new();
    for h in &a.add_host {
        let (name, ip) = h.split_once(':').ok_or_else(|| {
            invalid(
                "--add-host",
                format!("invalid --add-host {h:?}: expected HOST:IP"),
            )
        })?;
        extra_hosts.push((name.to_string(), ip.to_string()));
    }
    // `container:NAME` joins the namespace of another container, found now
    // (Docker keeps its id) and resolved to its process at each start.
    let join = |flag: &str, name: &str| -> Result<NsMode, DockerRunError> {
        let (id, _) = lookup
            .container(name)
            .map_err(|source| DockerRunError::Lookup {
                what: format!("--{flag} container:{name}"),
                source,
            })?;
        Ok(NsMode::Container(id))
    };
    let ns = |flag: &str, v: &Option<String>| -> Result<NsMode, DockerRunError> {
        Ok(match v.as_deref() {
            None | Some("private") | Some("") | Some("shareable") => NsMode::Private,
            Some("host") => NsMode::Host,
            // As Docker: an IPC namespace of its own without /dev/shm.
            Some("none") if flag == "ipc" => NsMode::None,
            Some(other) => match other.strip_prefix("container:") {
                Some(name) => join(flag, name)?,
                None => {
                    return Err(invalid(
                        &format!("--{flag}"),
                        format!(
                        "--{flag} {other:?} is not supported (use host, private or container:NAME)"
                    ),
                    ))
                }
            },
        })
    };
    let (net, mut networks, default_bridge) = network_mode(a, lookup, &join)?;
    // Docker refuses them on its default bridge too.
    if (networks.is_empty() || default_bridge)
        && (a.ip.is_some() || a.ip6.is_some() || !a.network_alias.is_empty())
    {
        return Err(invalid(
            "--network",
            "--ip, --ip6 and --network-alias need a user-defined --network",
        ));
    }
    let mut shared = Vec::new();
    for from in &a.volumes_from {
        let (name, mode) = from.split_once(':').unwrap_or((from, ""));
        let (_, other_mounts) =
            lookup
                .container(name)
                .map_err(|source| DockerRunError::Lookup {
                    what: format!("--volumes-from {from}"),
                    source,
                })?;
        shared.extend(shared_mounts(other_mounts, mode));
    }
    let shm_size = bytes("--shm-size", &a.shm_size)?.map(|b| b.max(0) as u64);
    let restart = parse_restart(&a.restart)?;
    let pid = ns("pid", &a.pid)?;
    let ipc = ns("ipc", &a.ipc)?;
    let resources = Resources {
        memory: bytes("--memory", &a.memory)?,
        memory_swap: match a.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            _ => bytes("--memory-swap", &a.memory_swap)?,
        },
        memory_reservation: bytes("--memory-reservation", &a.memory_reservation)?,
        nano_cpus: a.cpus.map(|c| (c * 1e9).round() as i64),
        cpu_shares: a.cpu_shares,
        cpuset_cpus: a.cpuset_cpus.clone(),
        pids_limit: a.pids_limit,
        blkio_read_bps: throttles("--device-read-bps", &a.device_read_bps, true)?,
        blkio_write_bps: throttles("--device-write-bps", &a.device_write_bps, true)?,
        blkio_read_iops: throttles("--device-read-iops", &a.device_read_iops, false)?,
        blkio_write_iops: throttles("--device-write-iops", &a.device_write_iops, false)?,
        cpu_period: a.cpu_period,
        cpu_quota: a.cpu_quota,
        cpuset_mems: a.cpuset_mems.clone(),
        memory_swappiness: match a.memory_swappiness {
            None | Some(-1) => None,
            Some(v @ 0..=100) => Some(v as u64),
            Some(v) => {
                return Err(invalid(
                    "--memory-swappiness",
                    format!(
                        "invalid --memory-swappiness {v}: valid memory swappiness range is 0-100"
                    ),
                ))
            }
        },
        oom_kill_disable: a.oom_kill_disable,
        blkio_weight: match a.blkio_weight {
            None | Some(0) => None,
            Some(w @ 10..=1000) => Some(w),
            Some(w) => {
                return Err(invalid(
                    "--blkio-weight",
                    format!("invalid --blkio-weight {w}: range of blkio weight is from 10 to 1000"),
                ))
            }
        },
        ..Resources::default()
    };
    let healthcheck = healthcheck(a)?;
    let uts = match a.uts.as_deref() {
        None | Some("") => NsMode::default(),
        Some("host") => NsMode::Host,
        Some(other) => {
            return Err(invalid(
                "--uts",
                format!("--uts={other}: invalid UTS mode (host)"),
            ))
        }
    };
    let cgroupns = match a.cgroupns.as_deref() {
        None | Some("") => None,
        Some("host") => Some(NsMode::Host),
        Some("private") => Some(NsMode::Private),
        Some(other) => {
            return Err(invalid(
                "--cgroupns",
                format!("--cgroupns={other}: invalid cgroup namespace mode (host, private)"),
            ))
        }
    };
    let mut links = Vec::new();
    for l in &a.link {
        let (name, alias) = l.split_once(':').unwrap_or((l, l));
        if name.is_empty() || alias.is_empty() {
            return Err(invalid(
                "--link",
                format!("invalid --link {l:?}: expected NAME[:ALIAS]"),
            ));
        }
        lookup
            .container(name)
            .map_err(|source| DockerRunError::Lookup {
                what: format!("--link {l}"),
                source,
            })?;
        links.push((alias.to_string(), name.to_string()));
    }
    // What the GPUs come to on this host (CDI or the nvidia hook), found
    // as compose's `gpus:` finds it; a host without one is refused here.
    let gpu_edits = match (&gpus, a.gpus.as_deref()) {
        (Some(request), Some(text)) => {
            let service = crate::compose::types::ServiceConfig {
                name: a.image.clone(),
                gpus: vec![request.clone()],
                ..Default::default()
            };
            crate::plan::container::device_edits(&service).map_err(|e| match e {
                crate::plan::container::SpecError::Device { message, .. } => {
                    invalid("--gpus", format!("--gpus {text}: {message}"))
                }
                other => invalid("--gpus", format!("--gpus {text}: {other}")),
            })?
        }
        _ => None,
    };
    // Every flag is good: now the volumes and the bridge are made.
    let mut mounts = Vec::new();
    for short in &volumes {
        mounts.push(volume_mount(short, lookup)?);
    }
    for m in &mount_flags {
        mounts.push(m.mount(lookup)?);
    }
    mounts.extend(tmpfs);
    mounts.extend(shared);
    if default_bridge {
        if let Some(first) = networks.first_mut() {
            first.network = lookup.default_bridge().map_err(DockerRunError::Store)?;
        }
    }
    let mut spec = ContainerSpec {
        image: a.image.clone(),
        entrypoint: a.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                Vec::new()
            } else {
                vec![e.clone()]
            }
        }),
        command: if a.command.is_empty() {
            None
        } else {
            Some(a.command.clone())
        },
        env,
        working_dir: a.workdir.clone(),
        user: a.user.clone(),
        group_add: a.group_add.clone(),
        hostname: a.hostname.clone(),
        domainname: a.domainname.clone(),
        tty: a.tty,
        stdin_open: a.interactive,
        init: a.init,
        read_only: a.read_only,
        privileged: a.privileged,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        security_opt: a.security_opt.clone(),
        devices,
        sysctls,
        ulimits,
        oom_score_adj: a.oom_score_adj,
        shm_size,
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        restart,
        labels,
        mounts,
        extra_hosts,
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_opt: a.dns_option.clone(),
        ports,
        networks,
        resources,
        healthcheck,
        links,
        device_cgroup_rules: a.device_cgroup_rule.clone(),
        log_max_size: logging.max_size,
        log_max_files: logging.max_files,
        log_driver: logging.driver,
        log_options: logging.options,
        cgroup_parent: a.cgroup_parent.clone().filter(|p| !p.is_empty()),
        ..ContainerSpec::default()
    };
    if let Some(edits) = gpu_edits {
        crate::plan::container::apply_device_edits(&mut spec, edits);
    }
    spec.namespaces.pid = pid;
    spec.namespaces.ipc = ipc;
    spec.namespaces.ipc_shareable = Some(a.ipc.as_deref() == Some("shareable"));
    spec.namespaces.net = net;
    spec.namespaces.uts = uts;
    spec.namespaces.cgroup = cgroupns;
    Ok(spec)
}

/// `--gpus` as Docker's CLI reads it (cli/opts/gpus.go): one CSV record
/// of `all` or a count, `count=`, `device=` (IDs, so quoted when more than
/// one: `'"device=0,1"'`), `capabilities=` (`gpu` added) and `driver=`;
/// one GPU when neither a count nor devices are named.
pub fn gpu_request(text: &str) -> Result<crate::compose::types::DeviceRequest, DockerRunError> {
    use crate::compose::types::{DeviceCount, DeviceRequest};
    let bad = |m: String| {
        invalid(
            "--gpus",
            format!("invalid argument {text:?} for \"--gpus\" flag: {m}"),
        )
    };
    let count = |v: &str| -> Result<DeviceCount, DockerRunError> {
        if v == "all" {
            return Ok(DeviceCount::All);
        }
        match v.parse::<i64>() {
            Ok(-1) => Ok(DeviceCount::All),
            Ok(n) if n >= 0 => Ok(DeviceCount::Count(n as u64)),
            _ => Err(bad("count must be an integer".into())),
        }
    };
    let fields = crate::build::dockerfile::csv_fields(text).map_err(bad)?;
    let mut request = DeviceRequest::default();
    let mut seen: Vec<&str> = Vec::new();
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field.as_str(), None),
        };
        if seen.contains(&key) {
            return Err(bad(format!(
                "gpu request key '{key}' can be specified only once"
            )));
        }
        seen.push(key);
        let Some(value) = value else {
            seen.push("count");
            request.count = Some(count(key)?);
            continue;
        };
        match key {
            "driver" => request.driver = Some(value.to_string()),
            "count" => request.count = Some(count(value)?),
            "device" => request.device_ids = value.split(',').map(str::to_string).collect(),
            "capabilities" => {
                request.capabilities = value.split(',').map(str::to_string).collect();
                request.capabilities.push("gpu".into());
            }
            "options" => {
                for o in crate::build::dockerfile::csv_fields(value).map_err(bad)? {
                    let (k, v) = o.split_once('=').unwrap_or((&o, ""));
                    request.options.insert(k.to_string(), v.to_string());
                }
            }
            other => return Err(bad(format!("unexpected key '{other}' in '{field}'"))),
        }
    }
    if !seen.contains(&"count") && request.device_ids.is_empty() {
        request.count = Some(DeviceCount::Count(1));
    }
    if request.capabilities.is_empty() {
        request.capabilities = vec!["gpu".into()];
    }
    Ok(request)
}

/// What `--log-driver` and `--log-opt` come to, in the spec's terms.
#[derive(Debug, Default)]
struct RunLogging {
    /// `json-file`/`local` rotation: the spec's own fields.
    max_size: Option<u64>,
    max_files: Option<u32>,
    /// Any other driver (`none`, `syslog`, `journald`) and its options,
    /// checked as compose's `logging:` is.
    driver: Option<String>,
    options: std::collections::BTreeMap<String, String>,
}

/// `--log-driver` and `--log-opt`: the json-file log wharf keeps (Docker's
/// `local` driver is taken as the same file) and its rotation, or one of
/// the drivers compose's `logging:` has; refused with Docker's words
/// otherwise.
fn log_options(a: &RunOptions) -> Result<RunLogging, DockerRunError> {
    let driver = a.log_driver.as_deref().unwrap_or("");
    // Docker's CLI refuses this before the engine sees it.
    if driver == "none" && !a.log_opt.is_empty() {
        return Err(invalid("--log-opt", "invalid logging opts for driver none"));
    }
    let file_driver = matches!(driver, "" | "json-file" | "local");
    let mut out = RunLogging::default();
    for o in &a.log_opt {
        let Some((key, v)) = o.split_once('=') else {
            return Err(invalid(
                "--log-opt",
                format!("--log-opt {o}: invalid key-value pair (key=value)"),
            ));
        };
        match key {
            "max-size" if file_driver => {
                out.max_size = Some(
                    parse_bytes(v)
                        .map_err(|e| invalid("--log-opt", format!("--log-opt {o}: {e}")))?
                        .max(0) as u64,
                )
            }
            "max-file" if file_driver => {
                out.max_files = Some(v.parse().map_err(|_| {
                    invalid("--log-opt", format!("--log-opt {o}: max-file is a number"))
                })?)
            }
            _ if file_driver => {
                return Err(invalid(
                    "--log-opt",
                    format!("--log-opt {o}: unknown log opt (max-size, max-file)"),
                ))
            }
            _ => {
                out.options.insert(key.to_string(), v.to_string());
            }
        }
    }
    if file_driver {
        out.driver = a.log_driver.clone().filter(|d| !d.is_empty());
        return Ok(out);
    }
    // Docker's own drivers that wharf lacks say so; any other name is what
    // Docker says of a driver nobody has (recorded in
    // tests/data/docker-verbs/log-driver-unknown.txt).
    const DOCKER_DRIVERS: [&str; 7] = [
        "awslogs",
        "etwlogs",
        "fluentd",
        "gcplogs",
        "gelf",
        "logentries",
        "splunk",
    ];
    crate::runtime::log_forward::validate(driver, &out.options).map_err(|e| match e {
        crate::runtime::log_forward::ForwardError::UnknownDriver { .. }
            if !DOCKER_DRIVERS.contains(&driver) =>
        {
            invalid(
                "--log-driver",
                format!("error looking up logging plugin {driver}: plugin {driver:?} not found"),
            )
        }
        crate::runtime::log_forward::ForwardError::UnknownDriver { .. } => invalid(
            "--log-driver",
            format!("--log-driver {driver}: not supported by wharf (json-file, local, none, syslog and journald are)"),
        ),
        other => invalid("--log-opt", other.to_string()),
    })?;
    out.driver = Some(driver.to_string());
    Ok(out)
}

/// What a `--mount` flag asks for, parsed before anything is made.
#[derive(Debug, PartialEq)]
struct MountFlag {
    kind: String,
    source: Option<String>,
    target: String,
    read_only: bool,
    propagation: Option<String>,
    nocopy: bool,
    subpath: Option<String>,
    tmpfs_size: Option<u64>,
    tmpfs_mode: Option<u32>,
}

impl MountFlag {
    /// Docker's CSV form: `type=bind,source=/src,target=/dst,readonly`.
    fn parse(text: &str) -> Result<MountFlag, DockerRunError> {
        let bad = |m: String| {
            invalid(
                "--mount",
                format!("invalid argument {text:?} for \"--mount\" flag: {m}"),
            )
        };
        let mut m = MountFlag {
            kind: "volume".into(),
            source: None,
            target: String::new(),
            read_only: false,
            propagation: None,
            nocopy: false,
            subpath: None,
            tmpfs_size: None,
            tmpfs_mode: None,
        };
        let truth = |k: &str, v: Option<&str>| match v {
            None | Some("1") | Some("true") => Ok(true),
            Some("0") | Some("false") => Ok(false),
            Some(v) => Err(bad(format!("invalid value for {k}: {v}"))),
        };
        for field in text.split(',').filter(|f| !f.is_empty()) {
            let (k, v) = match field.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (field, None),
            };
            let value = || {
                v.map(str::to_string)
                    .ok_or_else(|| bad(format!("invalid field '{field}' must be a key=value pair")))
            };
            match k.to_ascii_lowercase().as_str() {
                "type" => m.kind = value()?,
                "source" | "src" => m.source = Some(value()?),
                "target" | "destination" | "dst" => m.target = value()?,
                "readonly" | "ro" => m.read_only = truth(k, v)?,
                "bind-propagation" => m.propagation = Some(value()?),
                "volume-nocopy" => m.nocopy = truth(k, v)?,
                "volume-subpath" => m.subpath = Some(value()?),
                "tmpfs-size" => {
                    let s = value()?;
                    m.tmpfs_size = Some(
                        parse_bytes(&s)
                            .map_err(|e| bad(format!("tmpfs-size {s}: {e}")))?
                            .max(0) as u64,
                    )
                }
                "tmpfs-mode" => {
                    let s = value()?;
                    m.tmpfs_mode = Some(
                        u32::from_str_radix(&s, 8)
                            .map_err(|_| bad(format!("tmpfs-mode {s}: not octal")))?,
                    )
                }
                "consistency" => {} // Docker Desktop's; no effect on Linux, as in Docker.
                other => return Err(bad(format!("unexpected key '{other}' in '{field}'"))),
            }
        }
        if m.target.is_empty() {
            return Err(bad("target is required".into()));
        }
        match m.kind.as_str() {
            "bind" if m.source.is_none() => {
                Err(bad("source is required when specifying bind mount".into()))
            }
            "bind" | "volume" => Ok(m),
            "tmpfs" if m.source.is_some() => {
                Err(bad("source is not supported for tmpfs mounts".into()))
            }
            "tmpfs" => Ok(m),
            other => Err(bad(format!(
                "mount type {other:?} is not supported (bind, volume, tmpfs)"
            ))),
        }
    }

    /// The mount, making the volume it names if missing (as Docker does).
    fn mount(&self, lookup: &dyn RunLookup) -> Result<MountSpec, DockerRunError> {
        match self.kind.as_str() {
            "bind" => {
                let src = self.source.as_deref().unwrap_or_default();
                let source =
                    lookup
                        .absolute(src)
                        .map_err(|source| DockerRunError::VolumeSource {
                            source_path: src.to_string(),
                            source,
                        })?;
                if !source.exists() {
                    return Err(invalid(
                        "--mount",
                        format!("invalid mount config for type \"bind\": bind source path does not exist: {}", source.display()),
                    ));
                }
                Ok(MountSpec::Bind {
                    source,
                    target: self.target.clone(),
                    read_only: self.read_only,
                    propagation: self.propagation.clone(),
                    create_host_path: false,
                })
            }
            "tmpfs" => Ok(MountSpec::Tmpfs {
                target: self.target.clone(),
                size: self.tmpfs_size,
                mode: self.tmpfs_mode,
                read_only: self.read_only,
            }),
            _ => {
                let found = lookup
                    .volume(self.source.as_deref())
                    .map_err(DockerRunError::Store)?;
                if !found.driver_opts.is_empty() {
                    let opt = |k: &str| found.driver_opts.get(k).cloned().unwrap_or_default();
                    return crate::plan::container::local_volume_mount(
                        &opt,
                        &self.target,
                        self.read_only,
                    )
                    .map_err(|e| {
                        invalid(
                            "--mount",
                            format!("volume {}: driver options {e}", found.name),
                        )
                    });
                }
                Ok(MountSpec::Volume {
                    name: found.name,
                    source: found.data,
                    target: self.target.clone(),
                    read_only: self.read_only,
                    nocopy: self.nocopy,
                    subpath: self.subpath.clone(),
                })
            }
        }
    }
}

/// `--health-*` and `--no-healthcheck`, as Docker takes them: a check of
/// its own needs `--health-cmd` (run by the shell); unset durations are
/// the defaults (0).
fn healthcheck(a: &RunOptions) -> Result<Option<crate::runtime::spec::HealthSpec>, DockerRunError> {
    let timing_given = a.health_interval.is_some()
        || a.health_retries.is_some()
        || a.health_start_period.is_some()
        || a.health_start_interval.is_some()
        || a.health_timeout.is_some();
    if a.no_healthcheck {
        if a.health_cmd.is_some() || timing_given {
            return Err(invalid(
                "--no-healthcheck",
                "--no-healthcheck conflicts with --health-* options",
            ));
        }
        return Ok(Some(crate::runtime::spec::HealthSpec {
            test: vec!["NONE".into()],
            interval: 0,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 0,
        }));
    }
    let Some(cmd) = &a.health_cmd else {
        if timing_given {
            return Err(invalid(
                "--health-cmd",
                "--health-interval, --health-timeout, --health-retries and --health-start-* need --health-cmd",
            ));
        }
        return Ok(None);
    };
    let ns = |flag: &str, v: &Option<String>| -> Result<u64, DockerRunError> {
        v.as_deref()
            .map(|s| {
                crate::compose::convert::parse_duration(s)
                    .map(|d| d.as_nanos() as u64)
                    .map_err(|e| invalid(flag, format!("invalid {flag} {s:?}: {e}")))
            })
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(Some(crate::runtime::spec::HealthSpec {
        test: vec!["CMD-SHELL".into(), cmd.clone()],
        interval: ns("--health-interval", &a.health_interval)?,
        timeout: ns("--health-timeout", &a.health_timeout)?,
        start_period: ns("--health-start-period", &a.health_start_period)?,
        start_interval: ns("--health-start-interval", &a.health_start_interval)?,
        retries: a.health_retries.unwrap_or(0),
    }))
}

/// `--device HOST[:CONTAINER[:PERMISSIONS]]`.
fn device(d: &str) -> DeviceMapping {
    let mut parts = d.splitn(3, ':');
    let host = PathBuf::from(parts.next().unwrap_or_default());
    let container = parts
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| host.clone());
    let permissions = parts.next().unwrap_or("rwm").to_string();
    DeviceMapping {
        host_path: host,
        container_path: container,
        permissions,
    }
}

/// `--network`: the network namespace, the networks joined, and whether
/// the first is Docker's default `bridge` (made on first use, by the
/// caller). As Docker's, a container given no `--network` (or `default`,
/// or `bridge`) joins that bridge; `none` keeps it to loopback only.
fn network_mode(
    a: &RunOptions,
    lookup: &dyn RunLookup,
    join: &dyn Fn(&str, &str) -> Result<NsMode, DockerRunError>,
) -> Result<(NsMode, Vec<NetworkAttachment>, bool), DockerRunError> {
    let mut networks = Vec::new();
    let first_net = a.network.first().map(String::as_str);
    let default_bridge =
        a.network.len() <= 1 && matches!(first_net, None | Some("default" | "bridge"));
    let net = match first_net {
        _ if default_bridge => {
            networks.push(NetworkAttachment {
                network: DEFAULT_BRIDGE.to_string(),
                aliases: a.network_alias.clone(),
                ipv4_address: a.ip,
                ipv6_address: a.ip6,
                mac_address: a.mac_address.clone(),
                priority: 0,
            });
            NsMode::Private
        }
        Some("none") if a.network.len() == 1 => NsMode::None,
        Some("host") if a.network.len() == 1 => NsMode::Host,
        Some(other) if a.network.len() == 1 && other.starts_with("container:") => {
            join("network", &other["container:".len()..])?
        }
        _ => {
            for (i, name) in a.network.iter().enumerate() {
                if matches!(name.as_str(), "none" | "host" | "bridge" | "default")
                    || name.starts_with("container:")
                {
                    return Err(invalid(
                        "--network",
                        format!("--network {name}: cannot be combined with other networks"),
                    ));
                }
                // Docker stores the network's name even when given by id.
                let found = lookup
                    .network(name)
                    .map_err(|source| DockerRunError::Lookup {
                        what: "Error response from daemon".into(),
                        source,
                    })?;
                let first = i == 0;
                networks.push(NetworkAttachment {
                    network: found,
                    aliases: if first {
                        a.network_alias.clone()
                    } else {
                        Vec::new()
                    },
                    ipv4_address: a.ip.filter(|_| first),
                    ipv6_address: a.ip6.filter(|_| first),
                    mac_address: a.mac_address.clone().filter(|_| first),
                    priority: 0,
                });
            }
            NsMode::Private
        }
    };
    Ok((net, networks, default_bridge))
}

/// `--volumes-from NAME[:ro|rw]` (and compose's `volumes_from`): the other
/// container's bind mounts and volumes (also those of another file
/// system type; not its tmpfs), read-only as
/// `mode` says, else as they were.
pub fn shared_mounts(mounts: Vec<MountSpec>, mode: &str) -> Vec<MountSpec> {
    let ro = |own: bool| if mode.is_empty() { own } else { mode == "ro" };
    mounts
        .into_iter()
        .filter_map(|m| match m {
            MountSpec::Bind {
                read_only,
                source,
                target,
                propagation,
                create_host_path,
            } => Some(MountSpec::Bind {
                read_only: ro(read_only),
                source,
                target,
                propagation,
                create_host_path,
            }),
            MountSpec::Volume {
                read_only,
                name,
                source,
                target,
                nocopy,
                subpath,
            } => Some(MountSpec::Volume {
                read_only: ro(read_only),
                name,
                source,
                target,
                nocopy,
                subpath,
            }),
            MountSpec::Filesystem {
                target,
                fstype,
                device,
                options,
                read_only,
            } => Some(MountSpec::Filesystem {
                target,
                fstype,
                device,
                options,
                read_only: ro(read_only),
            }),
            MountSpec::Tmpfs { .. } => None,
        })
        .collect()
}

/// `-v SRC:DST[:OPTS]` of `docker run`: a path (absolute or `.`-relative)
/// is a bind mount, a name a volume (made when missing), a lone target an
/// anonymous volume.
fn volume_mount(short: &ShortVolume, lookup: &dyn RunLookup) -> Result<MountSpec, DockerRunError> {
    match short.src {
        Some(s) if s.starts_with('/') || s.starts_with('.') => {
            let source = lookup
                .absolute(s)
                .map_err(|source| DockerRunError::VolumeSource {
                    source_path: s.to_string(),
                    source,
                })?;
            Ok(short.bind(source))
        }
        src => {
            let found = lookup.volume(src).map_err(DockerRunError::Store)?;
            if found.driver_opts.is_empty() {
                return Ok(short.volume(found.name, found.data));
            }
            let opt = |k: &str| found.driver_opts.get(k).cloned().unwrap_or_default();
            crate::plan::container::local_volume_mount(&opt, short.dst, short.read_only).map_err(
                |e| {
                    invalid(
                        "--volume",
                        format!("volume {}: driver options {e}", found.name),
                    )
                },
            )
        }
    }
}

/// `PATH:RATE` of docker's `--device-{read,write}-{bps,iops}`; byte rates
/// take go-units sizes (`1mb`), operation counts plain numbers.
pub fn throttles(
    flag: &str,
    values: &[String],
    bytes: bool,
) -> Result<Vec<(PathBuf, u64)>, DockerRunError> {
    values
        .iter()
        .map(|v| {
            let bad = || invalid(flag, format!("invalid {flag} {v:?}: expected PATH:RATE"));
            let (path, rate) = v.rsplit_once(':').ok_or_else(bad)?;
            if !path.starts_with('/') {
                return Err(bad());
            }
            let rate = if bytes {
                parse_bytes(rate)
                    .map_err(|e| invalid(flag, format!("invalid {flag} {v:?}: {e}")))?
            } else {
                rate.parse::<i64>().map_err(|_| bad())?
            };
            let rate = u64::try_from(rate).map_err(|_| bad())?;
            Ok((PathBuf::from(path), rate))
        })
        .collect()
}

/// `--restart no|always|unless-stopped|on-failure[:N]`, Docker's forms.
pub fn parse_restart(r: &str) -> Result<RestartSpec, DockerRunError> {
    let (name, max) = r.split_once(':').unwrap_or((r, ""));
    let valid = matches!(name, "no" | "always" | "unless-stopped" | "on-failure");
    if !valid || (!max.is_empty() && name != "on-failure") {
        return Err(invalid(
            "--restart",
            format!("invalid restart policy {r:?}: use no, always, unless-stopped or on-failure[:max-retries]"),
        ));
    }
    let max_retries = if max.is_empty() {
        0
    } else {
        max.parse().map_err(|_| {
            invalid(
                "--restart",
                format!("invalid restart policy {r:?}: {max:?} is not a number"),
            )
        })?
    };
    Ok(RestartSpec {
        name: if name == "no" {
            String::new()
        } else {
            name.to_string()
        },
        max_retries,
    })
}

/// `-v [SRC:]DST[:OPTS]`, the short syntax `run -v` and `compose run -v`
/// share; what SRC names (a path, a volume) is up to each.
#[derive(Debug, PartialEq, Eq)]
pub struct ShortVolume<'a> {
    pub src: Option<&'a str>,
    dst: &'a str,
    read_only: bool,
    nocopy: bool,
}

impl<'a> ShortVolume<'a> {
    pub fn parse(v: &'a str) -> Result<ShortVolume<'a>, DockerRunError> {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [dst] => (None, *dst, ""),
            [src, dst] => (Some(*src), *dst, ""),
            [src, dst, opts] => (Some(*src), *dst, *opts),
            _ => {
                return Err(invalid(
                    "--volume",
                    format!("invalid volume specification {v:?}"),
                ))
            }
        };
        if !dst.starts_with('/') {
            return Err(invalid(
                "--volume",
                format!("invalid volume specification {v:?}: the mount point {dst:?} must be an absolute path"),
            ));
        }
        Ok(ShortVolume {
            src,
            dst,
            read_only: opts.split(',').any(|o| o == "ro"),
            nocopy: opts.split(',').any(|o| o == "nocopy"),
        })
    }

    /// A bind mount of the (absolute) host path `source`.
    pub fn bind(&self, source: PathBuf) -> MountSpec {
        MountSpec::Bind {
            source,
            target: self.dst.to_string(),
            read_only: self.read_only,
            propagation: None,
            create_host_path: true,
        }
    }

    /// The volume `name` (its data at `source`, when already known).
    pub fn volume(&self, name: String, source: PathBuf) -> MountSpec {
        MountSpec::Volume {
            source,
            name,
            target: self.dst.to_string(),
            read_only: self.read_only,
            nocopy: self.nocopy,
            subpath: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::path::Path;

    /// Stores as a test sets them up; records what it was asked to make.
    #[derive(Default)]
    struct Fake {
        env: BTreeMap<String, String>,
        files: BTreeMap<PathBuf, String>,
        containers: BTreeMap<String, (String, Vec<MountSpec>)>,
        networks: BTreeMap<String, String>,
        made: RefCell<Vec<String>>,
    }

    impl RunLookup for Fake {
        fn host_env(&self, key: &str) -> Option<String> {
            self.env.get(key).cloned()
        }
        fn read_env_file(&self, path: &Path) -> std::io::Result<String> {
            self.files
                .get(path)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        }
        fn absolute(&self, path: &str) -> std::io::Result<PathBuf> {
            Ok(Path::new("/here").join(path.trim_start_matches("./")))
        }
        fn container(&self, name: &str) -> Result<(String, Vec<MountSpec>), LookupError> {
            self.containers
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no such container: {name}").into())
        }
        fn network(&self, name: &str) -> Result<String, LookupError> {
            self.networks
                .get(name)
                .cloned()
                .ok_or_else(|| format!("network {name} not found").into())
        }
        fn default_bridge(&self) -> Result<String, LookupError> {
            self.made.borrow_mut().push("network bridge".into());
            Ok("bridge".into())
        }
        fn volume(&self, name: Option<&str>) -> Result<VolumeFound, LookupError> {
            let name = name.unwrap_or("anon0").to_string();
            self.made.borrow_mut().push(format!("volume {name}"));
            let mut driver_opts = BTreeMap::new();
            if name == "bindvol" {
                driver_opts.insert("type".to_string(), "none".to_string());
                driver_opts.insert("o".to_string(), "bind".to_string());
                driver_opts.insert("device".to_string(), "/srv/data".to_string());
            }
            Ok(VolumeFound {
                data: PathBuf::from("/vol").join(&name),
                name,
                driver_opts,
            })
        }
    }

    fn opts(f: impl FnOnce(&mut RunOptions)) -> RunOptions {
        let mut o = RunOptions {
            image: "busybox".into(),
            restart: "no".into(),
            ..RunOptions::default()
        };
        f(&mut o);
        o
    }

    fn err(o: &RunOptions, lookup: &Fake) -> String {
        let e = container_spec(o, lookup).expect_err("refused");
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    }

    #[test]
    fn env_comes_from_files_then_flags_with_bare_keys_copied() {
        let mut fake = Fake::default();
        fake.env.insert("HOME".into(), "/root".into());
        fake.files.insert(
            PathBuf::from("/e.env"),
            "# comment\n\nA=1\n  HOME  \nMISSING\n".into(),
        );
        let o = opts(|o| {
            o.env_file = vec![PathBuf::from("/e.env")];
            o.env = vec!["B=2".into(), "HOME".into()];
        });
        let spec = container_spec(&o, &fake).expect("valid");
        assert_eq!(
            spec.env,
            vec!["A=1", "HOME=/root", "MISSING", "B=2", "HOME=/root"]
        );
        let o = opts(|o| o.env_file = vec![PathBuf::from("/none.env")]);
        assert!(err(&o, &fake).starts_with("reading env file /none.env: "));
    }

    #[test]
    fn volumes_are_binds_named_or_anonymous() {
        let fake = Fake::default();
        let o = opts(|o| {
            o.volume = vec!["./data:/data:ro".into(), "cache:/c".into(), "/tmp2".into()];
        });
        let spec = container_spec(&o, &fake).expect("valid");
        assert_eq!(
            spec.mounts,
            vec![
                MountSpec::Bind {
                    source: PathBuf::from("/here/data"),
                    target: "/data".into(),
                    read_only: true,
                    propagation: None,
                    create_host_path: true,
                },
                MountSpec::Volume {
                    source: PathBuf::from("/vol/cache"),
                    name: "cache".into(),
                    target: "/c".into(),
                    read_only: false,
                    nocopy: false,
                    subpath: None,
                },
                MountSpec::Volume {
                    source: PathBuf::from("/vol/anon0"),
                    name: "anon0".into(),
                    target: "/tmp2".into(),
                    read_only: false,
                    nocopy: false,
                    subpath: None,
                },
            ]
        );
        let o = opts(|o| o.volume = vec!["a:relative".into()]);
        assert_eq!(
            err(&o, &fake),
            "invalid volume specification \"a:relative\": the mount point \"relative\" must be an absolute path"
        );
        let o = opts(|o| o.volume = vec!["a:/b:ro:x".into()]);
        assert_eq!(err(&o, &fake), "invalid volume specification \"a:/b:ro:x\"");
    }

    #[test]
    fn default_bridge_unless_another_network_is_named() {
        // As `docker run`: no --network (or `default`, `bridge`) is the
        // default bridge, made on first use.
        for network in [
            vec![],
            vec!["default".to_string()],
            vec!["bridge".to_string()],
        ] {
            let fake = Fake::default();
            let o = opts(|o| o.network = network.clone());
            let spec = container_spec(&o, &fake).expect("valid");
            assert_eq!(spec.namespaces.net, NsMode::Private, "{network:?}");
            let names: Vec<&str> = spec.networks.iter().map(|n| n.network.as_str()).collect();
            assert_eq!(names, ["bridge"], "{network:?}");
            assert_eq!(fake.made.borrow().as_slice(), ["network bridge"]);
        }
        let fake = Fake::default();
        let spec =
            container_spec(&opts(|o| o.network = vec!["none".into()]), &fake).expect("valid");
        assert_eq!(spec.namespaces.net, NsMode::None);
        assert!(spec.networks.is_empty());
        assert!(fake.made.borrow().is_empty(), "{:?}", fake.made.borrow());

        let spec =
            container_spec(&opts(|o| o.publish = vec!["8080:80".into()]), &fake).expect("valid");
        assert_eq!(spec.namespaces.net, NsMode::Private);
        assert_eq!(spec.networks.len(), 1);
        assert_eq!(spec.networks[0].network, "bridge");
        assert_eq!(spec.ports.len(), 1);
        assert_eq!(fake.made.borrow().as_slice(), ["network bridge"]);

        let spec =
            container_spec(&opts(|o| o.network = vec!["host".into()]), &fake).expect("valid");
        assert_eq!(spec.namespaces.net, NsMode::Host);
    }

    #[test]
    fn mount_flags_parse_as_docker_s() {
        let fake = Fake::default();
        let spec = container_spec(
            &opts(|o| {
                o.mount = vec![
                    "type=volume,source=cache,target=/c,readonly,volume-nocopy".into(),
                    "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700".into(),
                    "target=/anon".into(),
                ]
            }),
            &fake,
        )
        .expect("valid");
        assert_eq!(
            spec.mounts,
            vec![
                MountSpec::Volume {
                    name: "cache".into(),
                    source: PathBuf::from("/vol/cache"),
                    target: "/c".into(),
                    read_only: true,
                    nocopy: true,
                    subpath: None,
                },
                MountSpec::Tmpfs {
                    target: "/t".into(),
                    size: Some(1 << 20),
                    mode: Some(0o700),
                    read_only: false,
                },
                MountSpec::Volume {
                    name: "anon0".into(),
                    source: PathBuf::from("/vol/anon0"),
                    target: "/anon".into(),
                    read_only: false,
                    nocopy: false,
                    subpath: None,
                },
            ]
        );
        for (bad, needle) in [
            ("type=bind,target=/x", "source is required"),
            ("type=volume,source=v", "target is required"),
            ("type=npipe,target=/x", "npipe"),
            ("type=tmpfs,source=x,target=/t", "source is not supported"),
            ("type=volume,target=/x,color=red", "color"),
            ("type=volume,target=/x,readonly=maybe", "readonly"),
        ] {
            let e = container_spec(&opts(|o| o.mount = vec![bad.into()]), &fake)
                .expect_err(bad)
                .to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
        let e = container_spec(&opts(|o| o.log_opt = vec!["labels=x".into()]), &fake)
            .expect_err("log opt")
            .to_string();
        assert!(e.contains("--log-opt labels=x"), "{e}");
        // Docker's words for a driver it does not have, and for options
        // given to none; compose's drivers and their options are taken.
        let e = container_spec(&opts(|o| o.log_driver = Some("nosuch".into())), &fake)
            .expect_err("log driver")
            .to_string();
        assert!(
            e.contains("error looking up logging plugin nosuch: plugin \"nosuch\" not found"),
            "{e}"
        );
        let e = container_spec(&opts(|o| o.log_driver = Some("fluentd".into())), &fake)
            .expect_err("docker's driver")
            .to_string();
        assert!(
            e.contains("--log-driver fluentd: not supported by wharf (json-file, local, none, syslog and journald are)"),
            "{e}"
        );
        let e = container_spec(
            &opts(|o| {
                o.log_driver = Some("none".into());
                o.log_opt = vec!["max-size=1m".into()];
            }),
            &fake,
        )
        .expect_err("none with opts")
        .to_string();
        assert!(e.contains("invalid logging opts for driver none"), "{e}");
        let e = container_spec(
            &opts(|o| {
                o.log_driver = Some("syslog".into());
                o.log_opt = vec!["max-size=1m".into()];
            }),
            &fake,
        )
        .expect_err("syslog with a file option")
        .to_string();
        assert!(e.contains("max-size"), "{e}");
        let spec = container_spec(
            &opts(|o| {
                o.log_driver = Some("syslog".into());
                o.log_opt = vec![
                    "syslog-address=udp://127.0.0.1:5514".into(),
                    "tag={{.Name}}".into(),
                ];
            }),
            &fake,
        )
        .expect("syslog");
        assert_eq!(spec.log_driver.as_deref(), Some("syslog"));
        assert_eq!(spec.log_options["syslog-address"], "udp://127.0.0.1:5514");
        assert_eq!(spec.log_options["tag"], "{{.Name}}");
        let none =
            container_spec(&opts(|o| o.log_driver = Some("none".into())), &fake).expect("none");
        assert_eq!(none.log_driver.as_deref(), Some("none"));
        let spec = container_spec(
            &opts(|o| o.log_opt = vec!["max-size=1m".into(), "max-file=3".into()]),
            &fake,
        )
        .expect("log opts");
        assert_eq!(
            (spec.log_max_size, spec.log_max_files),
            (Some(1 << 20), Some(3))
        );
    }

    #[test]
    fn a_volume_created_with_driver_options_mounts_as_the_local_driver_does() {
        let fake = Fake::default();
        let spec = container_spec(&opts(|o| o.volume = vec!["bindvol:/data:ro".into()]), &fake)
            .expect("valid");
        assert_eq!(
            spec.mounts,
            vec![MountSpec::Bind {
                source: PathBuf::from("/srv/data"),
                target: "/data".into(),
                read_only: true,
                propagation: None,
                create_host_path: false,
            }]
        );
    }

    #[test]
    fn a_refused_command_makes_no_volume_and_no_bridge() {
        let fake = Fake::default();
        for bad in [
            opts(|o| o.restart = "sometimes".into()),
            opts(|o| o.memory = Some("lots".into())),
            opts(|o| o.device_read_bps = vec!["sda:1mb".into()]),
            opts(|o| o.ipc = Some("weird".into())),
        ] {
            let o = RunOptions {
                volume: vec!["cache:/c".into(), "/anon".into()],
                publish: vec!["8080:80".into()],
                ..bad
            };
            assert!(container_spec(&o, &fake).is_err());
            assert!(fake.made.borrow().is_empty(), "{:?}", fake.made.borrow());
        }
        let o = opts(|o| {
            o.volume = vec!["cache:/c".into(), "/anon".into()];
            o.publish = vec!["8080:80".into()];
        });
        container_spec(&o, &fake).expect("valid");
        assert_eq!(
            fake.made.borrow().as_slice(),
            ["volume cache", "volume anon0", "network bridge"]
        );
    }

    #[test]
    fn user_networks_take_address_and_aliases_on_the_first() {
        let mut fake = Fake::default();
        fake.networks.insert("front".into(), "front".into());
        fake.networks.insert("0123abcd".into(), "back".into());
        let o = opts(|o| {
            o.network = vec!["front".into(), "0123abcd".into()];
            o.network_alias = vec!["web".into()];
            o.ip = Some("10.0.0.5".parse().expect("ip"));
        });
        let spec = container_spec(&o, &fake).expect("valid");
        let names: Vec<&str> = spec.networks.iter().map(|n| n.network.as_str()).collect();
        assert_eq!(names, ["front", "back"]);
        assert_eq!(spec.networks[0].aliases, ["web"]);
        assert_eq!(spec.networks[0].ipv4_address, o.ip);
        assert!(spec.networks[1].aliases.is_empty());
        assert_eq!(spec.networks[1].ipv4_address, None);

        let o = opts(|o| o.network = vec!["front".into(), "host".into()]);
        assert_eq!(
            err(&o, &fake),
            "--network host: cannot be combined with other networks"
        );
        let o = opts(|o| o.network = vec!["nowhere".into()]);
        assert_eq!(
            err(&o, &fake),
            "Error response from daemon: network nowhere not found"
        );
        let o = opts(|o| o.network_alias = vec!["x".into()]);
        assert_eq!(
            err(&o, &fake),
            "--ip, --ip6 and --network-alias need a user-defined --network"
        );
        // Docker refuses them on its default bridge, named or not.
        let o = opts(|o| {
            o.network = vec!["bridge".into()];
            o.ip = Some("172.17.0.9".parse().expect("ip"));
        });
        assert_eq!(
            err(&o, &fake),
            "--ip, --ip6 and --network-alias need a user-defined --network"
        );
        let o = opts(|o| o.network = vec!["bridge".into(), "front".into()]);
        assert_eq!(
            err(&o, &fake),
            "--network bridge: cannot be combined with other networks"
        );
    }

    #[test]
    fn namespaces_and_volumes_from_name_other_containers() {
        let mut fake = Fake::default();
        let bind = MountSpec::Bind {
            source: PathBuf::from("/srv"),
            target: "/srv".into(),
            read_only: false,
            propagation: None,
            create_host_path: true,
        };
        let tmp = MountSpec::Tmpfs {
            target: "/t".into(),
            size: None,
            mode: None,
            read_only: false,
        };
        fake.containers
            .insert("db".into(), ("d".repeat(64), vec![bind.clone(), tmp]));
        let o = opts(|o| {
            o.pid = Some("container:db".into());
            o.ipc = Some("host".into());
            o.volumes_from = vec!["db:ro".into()];
        });
        let spec = container_spec(&o, &fake).expect("valid");
        assert_eq!(spec.namespaces.pid, NsMode::Container("d".repeat(64)));
        assert_eq!(spec.namespaces.ipc, NsMode::Host);
        let MountSpec::Bind { read_only, .. } = &spec.mounts[0] else {
            panic!("{:?}", spec.mounts);
        };
        assert!(*read_only, "ro from --volumes-from db:ro");
        assert_eq!(spec.mounts.len(), 1, "tmpfs is not shared");

        let o = opts(|o| o.pid = Some("container:ghost".into()));
        assert_eq!(
            err(&o, &fake),
            "--pid container:ghost: no such container: ghost"
        );
        let o = opts(|o| o.ipc = Some("none".into()));
        assert_eq!(
            container_spec(&o, &fake).expect("ipc none").namespaces.ipc,
            NsMode::None
        );
        let o = opts(|o| o.pid = Some("none".into()));
        assert!(err(&o, &fake).contains("--pid \"none\" is not supported"));
        let o = opts(|o| o.ipc = Some("weird".into()));
        assert_eq!(
            err(&o, &fake),
            "--ipc \"weird\" is not supported (use host, private or container:NAME)"
        );
    }

    #[test]
    fn limits_and_throttles_parse_dockers_units() {
        let fake = Fake::default();
        let o = opts(|o| {
            o.memory = Some("64m".into());
            o.memory_swap = Some("-1".into());
            o.cpus = Some(1.5);
            o.device_read_bps = vec!["/dev/sda:1mb".into()];
            o.device_write_iops = vec!["/dev/sda:100".into()];
            o.ulimit = vec!["nofile=1024:2048".into(), "nproc=10".into()];
        });
        let spec = container_spec(&o, &fake).expect("valid");
        let r = &spec.resources;
        assert_eq!(r.memory, Some(64 * 1024 * 1024));
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.nano_cpus, Some(1_500_000_000));
        assert_eq!(
            r.blkio_read_bps,
            vec![(PathBuf::from("/dev/sda"), 1024 * 1024)]
        );
        assert_eq!(r.blkio_write_iops, vec![(PathBuf::from("/dev/sda"), 100)]);
        assert_eq!(spec.ulimits.get("nofile"), Some(&(1024, 2048)));
        assert_eq!(spec.ulimits.get("nproc"), Some(&(10, 10)));

        for (flag, value, expected) in [
            (
                "--device-read-bps",
                "sda:1mb",
                "invalid --device-read-bps \"sda:1mb\": expected PATH:RATE",
            ),
            (
                "--device-read-bps",
                "/dev/sda",
                "invalid --device-read-bps \"/dev/sda\": expected PATH:RATE",
            ),
            (
                "--device-read-iops",
                "/dev/sda:1k",
                "invalid --device-read-iops \"/dev/sda:1k\": expected PATH:RATE",
            ),
            (
                "--device-read-iops",
                "/dev/sda:-1",
                "invalid --device-read-iops \"/dev/sda:-1\": expected PATH:RATE",
            ),
        ] {
            let bytes = flag.ends_with("bps");
            let e = throttles(flag, &[value.to_string()], bytes).expect_err(value);
            assert_eq!(e.to_string(), expected);
        }
        let o = opts(|o| o.ulimit = vec!["nofile=many".into()]);
        assert_eq!(
            err(&o, &fake),
            "invalid --ulimit \"nofile=many\": \"many\" is not a number"
        );
        let o = opts(|o| o.memory = Some("lots".into()));
        assert!(err(&o, &fake).starts_with("invalid --memory \"lots\": "));
    }

    /// Docker's CLI parsing of `--gpus` (cli/opts/gpus.go), written from
    /// its source and its tests (opts/gpus_test.go).
    #[test]
    fn gpu_requests_parse_as_dockers() {
        use crate::compose::types::DeviceCount;
        let all = gpu_request("all").expect("all");
        assert_eq!(all.count, Some(DeviceCount::All));
        assert_eq!(all.capabilities, vec!["gpu"]);
        assert_eq!(
            gpu_request("2").expect("2").count,
            Some(DeviceCount::Count(2))
        );
        let ids = gpu_request("\"device=0,1\"").expect("ids");
        assert_eq!(
            (ids.count, ids.device_ids),
            (None, vec!["0".into(), "1".into()])
        );
        let caps = gpu_request("driver=nvidia,\"capabilities=compute,utility\"").expect("caps");
        assert_eq!(caps.driver.as_deref(), Some("nvidia"));
        assert_eq!(caps.capabilities, vec!["compute", "utility", "gpu"]);
        // Neither a count nor devices: one GPU.
        assert_eq!(caps.count, Some(DeviceCount::Count(1)));
        for (bad, why) in [
            ("many", "count must be an integer"),
            ("count=x", "count must be an integer"),
            (
                "all,count=2",
                "gpu request key 'count' can be specified only once",
            ),
            ("vendor=x", "unexpected key 'vendor' in 'vendor=x'"),
        ] {
            let e = gpu_request(bad).expect_err(bad).to_string();
            assert!(
                e.starts_with(&format!("invalid argument {bad:?} for \"--gpus\" flag: ")),
                "{e}"
            );
            assert!(e.ends_with(why), "{bad}: {e}");
        }
        // A bad request is refused before anything is made.
        let fake = Fake::default();
        let o = opts(|o| {
            o.gpus = Some("many".into());
            o.volume = vec!["data:/d".into()];
        });
        assert!(err(&o, &fake).contains("--gpus"));
        assert!(fake.made.borrow().is_empty());
    }

    #[test]
    fn cgroup_parent_reaches_the_spec() {
        let fake = Fake::default();
        let spec =
            container_spec(&opts(|o| o.cgroup_parent = Some("/ci".into())), &fake).expect("spec");
        assert_eq!(spec.cgroup_parent.as_deref(), Some("/ci"));
        let spec =
            container_spec(&opts(|o| o.cgroup_parent = Some(String::new())), &fake).expect("spec");
        assert_eq!(spec.cgroup_parent, None);
    }

    #[test]
    fn restart_policies_are_dockers() {
        assert_eq!(parse_restart("no").expect("no").name, "");
        let r = parse_restart("on-failure:3").expect("on-failure");
        assert_eq!((r.name.as_str(), r.max_retries), ("on-failure", 3));
        assert_eq!(parse_restart("always").expect("always").name, "always");
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
        assert_eq!(
            parse_restart("on-failure:x").expect_err("x").to_string(),
            "invalid restart policy \"on-failure:x\": \"x\" is not a number"
        );
    }
}
