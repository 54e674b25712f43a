//! Single-container verbs, with Docker's flags: `run`, `create`, `start`,
//! `ps`, `logs`, `stop`, `kill`, `rm`, `exec`, `inspect`, `wait`.

use super::GlobalArgs;
use crate::compose::convert::parse_bytes;
use crate::image::store::ImageStore;
use crate::runtime::bundle::ExecOptions;
use crate::runtime::container::{ContainerRecord, Containers, Status};
use crate::runtime::spec::{ContainerSpec, DeviceMapping, MountSpec, NsMode, PortBinding};
use crate::supervise::control::{self, ControlError};
use crate::supervise::{logs, monitor};
use anyhow::{bail, Context as _};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// The flags `docker run` and `docker create` share.
#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from here)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read environment variables from a file
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Bind mount or volume: SRC:DST[:ro], VOLUME:DST, or DST for an anonymous volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs: DST[:size=…,mode=…]
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Overwrite the image's entrypoint
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID[:GID]
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    #[arg(long)]
    pub domainname: Option<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep STDIN open
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security options (no-new-privileges, seccomp=unconfined|PROFILE.json)
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Add a host device: HOST[:CONTAINER[:PERMISSIONS]]
    #[arg(long)]
    pub device: Vec<String>,
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Ulimit options: NAME=SOFT[:HARD]
    #[arg(long)]
    pub ulimit: Vec<String>,
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory plus swap; -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Limit read rate from a device: PATH:RATE (bytes, with an optional unit: 1mb)
    #[arg(long = "device-read-bps")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate to a device: PATH:RATE
    #[arg(long = "device-write-bps")]
    pub device_write_bps: Vec<String>,
    /// Limit read operations per second from a device: PATH:COUNT
    #[arg(long = "device-read-iops")]
    pub device_read_iops: Vec<String>,
    /// Limit write operations per second to a device: PATH:COUNT
    #[arg(long = "device-write-iops")]
    pub device_write_iops: Vec<String>,
    /// Tune the container's pids limit (-1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// PID namespace: host
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC namespace: private, shareable, host
    #[arg(long)]
    pub ipc: Option<String>,
    /// Network: a user network (repeatable), none, host or container:NAME
    #[arg(long = "network", alias = "net")]
    pub network: Vec<String>,
    /// Extra DNS name of the container on its (first) network
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address on the (first) network
    #[arg(long = "ip")]
    pub ip: Option<std::net::Ipv4Addr>,
    /// IPv6 address on the (first) network
    #[arg(long = "ip6")]
    pub ip6: Option<std::net::Ipv6Addr>,
    /// MAC address on the (first) network
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Publish a container's port(s) to the host: [IP:][HOST[-END]:]CONTAINER[-END][/PROTO]
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// Mount the volumes of another container: NAME[:ro|rw]
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds to wait after the stop signal before SIGKILL
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u64>,
    /// Restart policy: no, always, unless-stopped, on-failure[:max-retries]
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Set metadata: KEY=VALUE
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Add a host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    #[arg(long)]
    pub dns: Vec<String>,
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// OCI runtime: builtin (default), crun, runc, or a path
    #[arg(long, env = "WHARF_RUNTIME", default_value = "builtin")]
    pub runtime: String,
    /// Image to run (in a compose project: services, for `create`)
    #[arg(default_value = "", hide_default_value = true)]
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Compose run: no pseudo-TTY (default: one when stdin and stdout are terminals)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Compose run: publish the service's ports (none by default)
    #[arg(long = "service-ports")]
    pub service_ports: bool,
    /// Compose run: do not start the services the service depends on
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Compose run: keep the service's network aliases for the one-off container
    #[arg(long = "use-aliases")]
    pub use_aliases: bool,
    /// Compose run: pull without printing progress
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
    #[command(flatten)]
    pub create: CreateArgs,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Containers, or services of the compose project
    pub containers: Vec<String>,
    /// Attach to the output and return the exit code
    #[arg(short = 'a', long)]
    pub attach: bool,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// With a compose project: only these services
    pub services: Vec<String>,
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Filter by KEY=VALUE: status=STATUS, service=SERVICE (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Only containers in this status (created, running, paused, restarting, exited, dead; repeatable)
    #[arg(long)]
    pub status: Vec<String>,
    /// Display the services of the project (those with a container that passes the filters)
    #[arg(long = "services")]
    pub services_only: bool,
    /// Only display container ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: super::image::ListFormat,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// A container, or services of the compose project (all by default)
    pub targets: Vec<String>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Do not prefix lines with the container name
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Only the container with this replica number
    #[arg(long)]
    pub index: Option<u32>,
    /// Only lines since this time (RFC 3339) or this long ago (`10m`, `1h30m`)
    #[arg(long)]
    pub since: Option<String>,
    /// Only lines before this time (RFC 3339) or this long ago
    #[arg(long)]
    pub until: Option<String>,
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Containers, or services of the compose project (all by default)
    pub containers: Vec<String>,
    /// Seconds to wait before killing the container
    /// (default: the container's stop timeout, else 10)
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u64>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Containers, or services of the compose project (all by default)
    pub containers: Vec<String>,
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Containers, or services of the compose project (all stopped ones by default)
    pub containers: Vec<String>,
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// With a compose project: stop the containers first
    #[arg(short = 's', long)]
    pub stop: bool,
    /// Remove the anonymous volumes of the containers
    #[arg(short = 'v', long)]
    pub volumes: bool,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(short = 't', long)]
    pub tty: bool,
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    #[arg(long)]
    pub privileged: bool,
    /// Compose exec: no pseudo-TTY (default: one when stdin and stdout are terminals)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Compose exec: which replica of the service (default: the first running)
    #[arg(long)]
    pub index: Option<u32>,
    /// A container, or a service of the compose project
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// A container, or a service of the compose project
    pub container: String,
    /// Compose attach: which replica of the service (default: the first running)
    #[arg(long)]
    pub index: Option<u32>,
    /// Do not attach stdin (wharf attaches output only)
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Pass SIGINT and SIGTERM received here on to the container
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
}

pub(super) fn open(global: &GlobalArgs) -> anyhow::Result<(Containers, ImageStore)> {
    let root = global.root();
    let containers = Containers::open(root)
        .with_context(|| format!("opening the container store under {}", root.display()))?;
    let store = ImageStore::open(root)
        .with_context(|| format!("opening the image store under {}", root.display()))?;
    Ok((containers, store))
}

/// Docker's exit code for an error of wharf itself is 125.
pub(super) fn fail(e: impl std::fmt::Display, code: i32) -> ExitCode {
    eprintln!("wharf: {e}");
    exit(code)
}

pub(super) fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(125))
}

fn control_fail(e: ControlError) -> ExitCode {
    let code = e.exit_code();
    fail(e, code)
}

pub fn run(global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<ExitCode> {
    if args.create.image.is_empty() {
        return Ok(fail("\"wharf run\" requires at least 1 argument", 1));
    }
    // `run SERVICE` in a compose project is Compose's one-off run.
    let target = std::slice::from_ref(&args.create.image);
    if let Some(super::compose::Selected::Loaded(l)) = super::compose::project_mode(global, target)?
    {
        return super::compose::run(global, &l, args);
    }
    if args.service_ports || args.no_deps || args.use_aliases {
        return Ok(fail(
            format!(
                "--service-ports, --no-deps and --use-aliases need a service of a compose project ({:?} is none)",
                args.create.image
            ),
            125,
        ));
    }
    let (containers, store) = open(global)?;
    let record = match create_container(global, &store, &args.create, args.rm) {
        Ok(r) => r,
        Err(e) => return Ok(fail(format!("{e:#}"), 125)),
    };
    if args.detach {
        if let Err(e) = control::start_detached(&containers, &record.id) {
            let code = e.exit_code();
            cleanup_failed(&containers, &store, &record, args.rm);
            return Ok(fail(e, code));
        }
        println!("{}", record.id);
        return Ok(ExitCode::SUCCESS);
    }
    let attach = monitor::Attach {
        output: true,
        stdin: args.create.interactive,
    };
    let result = monitor::run(&containers, &store, &record.id, attach, None);
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let code = e.exit_code();
            cleanup_failed(&containers, &store, &record, args.rm);
            return Ok(fail(e, code));
        }
    };
    if args.rm {
        if let Err(e) = control::remove_auto(&containers, &store, &record.id) {
            eprintln!("wharf: removing {}: {e}", record.name);
        }
    }
    Ok(exit(code))
}

/// A container that never started is removed again under `--rm`, and
/// otherwise kept in `created` state, as Docker does.
fn cleanup_failed(containers: &Containers, store: &ImageStore, record: &ContainerRecord, rm: bool) {
    if rm {
        let _ = control::remove(containers, store, &record.id, true);
    }
}

pub fn create(global: &GlobalArgs, args: &CreateArgs) -> anyhow::Result<ExitCode> {
    // `create [SERVICE…]` in a compose project is Compose's: `up --no-start`.
    let services: Vec<String> = std::iter::once(&args.image)
        .chain(&args.command)
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    if let Some(super::compose::Selected::Loaded(_)) =
        super::compose::project_mode(global, &services)?
    {
        return super::compose::create(global, &services);
    }
    if args.image.is_empty() {
        return Ok(fail("\"wharf create\" requires at least 1 argument", 1));
    }
    let (_, store) = open(global)?;
    match create_container(global, &store, args, false) {
        Ok(r) => {
            println!("{}", r.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Ok(fail(format!("{e:#}"), 125)),
    }
}

fn create_container(
    global: &GlobalArgs,
    store: &ImageStore,
    args: &CreateArgs,
    auto_remove: bool,
) -> anyhow::Result<ContainerRecord> {
    let image = super::image::ensure_image(global, store, &args.image)?;
    let spec = spec_from_args(global, args)?;
    let env = crate::exec::Env::open(global.root(), &args.runtime)?;
    Ok(crate::exec::create_container(
        &env,
        args.name.as_deref(),
        &args.image,
        &image,
        spec,
        auto_remove,
    )?)
}

fn spec_from_args(global: &GlobalArgs, a: &CreateArgs) -> anyhow::Result<ContainerSpec> {
    let bytes = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(|s| parse_bytes(s).map_err(|e| anyhow::anyhow!("invalid {flag} {s:?}: {e}")))
            .transpose()
    };
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading env file {}", f.display()))?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            env.push(expand_env(line));
        }
    }
    env.extend(a.env.iter().map(|e| expand_env(e)));
    let mut mounts = Vec::new();
    for v in &a.volume {
        mounts.push(parse_volume(global, v)?);
    }
    for t in &a.tmpfs {
        mounts.push(
            crate::plan::container::parse_tmpfs(t).map_err(|e| anyhow::anyhow!("--tmpfs {e}"))?,
        );
    }
    let mut ports = Vec::new();
    for p in &a.publish {
        ports.extend(crate::plan::container::parse_publish(p).map_err(|e| {
            anyhow::anyhow!("invalid argument {p:?} for \"-p, --publish\" flag: {e}")
        })?);
    }
    let mut devices = Vec::new();
    for d in &a.device {
        let mut parts = d.splitn(3, ':');
        let host = PathBuf::from(parts.next().unwrap_or_default());
        let container = parts
            .next()
            .map(PathBuf::from)
            .unwrap_or_else(|| host.clone());
        let permissions = parts.next().unwrap_or("rwm").to_string();
        devices.push(DeviceMapping {
            host_path: host,
            container_path: container,
            permissions,
        });
    }
    let mut sysctls = std::collections::BTreeMap::new();
    for s in &a.sysctl {
        let (k, v) = s
            .split_once('=')
            .with_context(|| format!("invalid --sysctl {s:?}: expected KEY=VALUE"))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let mut ulimits = std::collections::BTreeMap::new();
    for u in &a.ulimit {
        let (name, vals) = u
            .split_once('=')
            .with_context(|| format!("invalid --ulimit {u:?}: expected NAME=SOFT[:HARD]"))?;
        let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
        let parse = |v: &str| {
            v.parse::<i64>()
                .with_context(|| format!("invalid --ulimit {u:?}: {v:?} is not a number"))
        };
        ulimits.insert(name.to_string(), (parse(soft)?, parse(hard)?));
    }
    let mut labels = std::collections::BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    let mut extra_hosts = Vec::new();
    for h in &a.add_host {
        let (name, ip) = h
            .split_once(':')
            .with_context(|| format!("invalid --add-host {h:?}: expected HOST:IP"))?;
        extra_hosts.push((name.to_string(), ip.to_string()));
    }
    let containers = Containers::open(global.root())?;
    // `container:NAME` joins the namespace of another container, found now
    // (Docker keeps its id) and resolved to its process at each start.
    let join = |flag: &str, _kind: &str, name: &str| -> anyhow::Result<NsMode> {
        let other = containers
            .find(name)
            .with_context(|| format!("--{flag} container:{name}"))?;
        Ok(NsMode::Container(other.id))
    };
    let ns = |flag: &str, kind: &str, v: &Option<String>| -> anyhow::Result<NsMode> {
        Ok(match v.as_deref() {
            None | Some("private") | Some("") | Some("shareable") => NsMode::Private,
            Some("host") => NsMode::Host,
            Some(other) => match other.strip_prefix("container:") {
                Some(name) => join(flag, kind, name)?,
                None => bail!(
                    "--{flag} {other:?} is not supported (use host, private or container:NAME)"
                ),
            },
        })
    };
    let mut networks = Vec::new();
    let first_net = a.network.first().map(String::as_str);
    // Docker's default network is its `bridge`; wharf joins it when asked
    // by name or when ports are published, and otherwise keeps a container
    // to loopback only (the cheapest start).
    let wants_bridge = first_net == Some("bridge")
        || (matches!(first_net, None | Some("default")) && !a.publish.is_empty());
    let net = match first_net {
        None | Some("default") | Some("bridge") if a.network.len() <= 1 && wants_bridge => {
            networks.push(crate::runtime::spec::NetworkAttachment {
                network: default_bridge(global)?,
                aliases: a.network_alias.clone(),
                ipv4_address: a.ip,
                ipv6_address: a.ip6,
                mac_address: a.mac_address.clone(),
                priority: 0,
            });
            NsMode::Private
        }
        None | Some("none") | Some("default") if a.network.len() <= 1 => NsMode::None,
        Some("host") if a.network.len() == 1 => NsMode::Host,
        Some(other) if a.network.len() == 1 && other.starts_with("container:") => {
            join("network", "net", &other["container:".len()..])?
        }
        _ => {
            let store = crate::net::store::Networks::open(global.root())?;
            for (i, name) in a.network.iter().enumerate() {
                if matches!(name.as_str(), "none" | "host" | "bridge" | "default")
                    || name.starts_with("container:")
                {
                    bail!("--network {name}: cannot be combined with other networks");
                }
                // Docker stores the network's name even when given by id.
                let n = store
                    .find(name)
                    .map_err(|e| anyhow::anyhow!("Error response from daemon: {e}"))?;
                let first = i == 0;
                networks.push(crate::runtime::spec::NetworkAttachment {
                    network: n.name,
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
    if networks.is_empty() && (a.ip.is_some() || a.ip6.is_some() || !a.network_alias.is_empty()) {
        bail!("--ip, --ip6 and --network-alias need a user-defined --network");
    }
    for from in &a.volumes_from {
        let (name, mode) = from.split_once(':').unwrap_or((from, ""));
        let other = containers
            .find(name)
            .with_context(|| format!("--volumes-from {from}"))?;
        let ro = |own: bool| if mode.is_empty() { own } else { mode == "ro" };
        for m in other.spec.mounts {
            mounts.push(match m {
                MountSpec::Bind {
                    read_only,
                    source,
                    target,
                    propagation,
                    create_host_path,
                } => MountSpec::Bind {
                    read_only: ro(read_only),
                    source,
                    target,
                    propagation,
                    create_host_path,
                },
                MountSpec::Volume {
                    read_only,
                    name,
                    source,
                    target,
                    nocopy,
                    subpath,
                } => MountSpec::Volume {
                    read_only: ro(read_only),
                    name,
                    source,
                    target,
                    nocopy,
                    subpath,
                },
                MountSpec::Tmpfs { .. } => continue,
            });
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
        shm_size: bytes("--shm-size", &a.shm_size)?.map(|b| b.max(0) as u64),
        stop_signal: a.stop_signal.clone(),
        stop_timeout: a.stop_timeout,
        restart: parse_restart(&a.restart)?,
        labels,
        mounts,
        extra_hosts,
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_opt: a.dns_option.clone(),
        ports,
        ..ContainerSpec::default()
    };
    spec.namespaces.pid = ns("pid", "pid", &a.pid)?;
    spec.namespaces.ipc = ns("ipc", "ipc", &a.ipc)?;
    spec.namespaces.net = net;
    spec.networks = networks;
    let r = &mut spec.resources;
    r.memory = bytes("--memory", &a.memory)?;
    r.memory_swap = match a.memory_swap.as_deref() {
        Some("-1") => Some(-1),
        _ => bytes("--memory-swap", &a.memory_swap)?,
    };
    r.memory_reservation = bytes("--memory-reservation", &a.memory_reservation)?;
    r.nano_cpus = a.cpus.map(|c| (c * 1e9).round() as i64);
    r.cpu_shares = a.cpu_shares;
    r.cpuset_cpus = a.cpuset_cpus.clone();
    r.pids_limit = a.pids_limit;
    r.blkio_read_bps = throttles("--device-read-bps", &a.device_read_bps, true)?;
    r.blkio_write_bps = throttles("--device-write-bps", &a.device_write_bps, true)?;
    r.blkio_read_iops = throttles("--device-read-iops", &a.device_read_iops, false)?;
    r.blkio_write_iops = throttles("--device-write-iops", &a.device_write_iops, false)?;
    Ok(spec)
}

/// `PATH:RATE` of docker's `--device-{read,write}-{bps,iops}`; byte rates
/// take go-units sizes (`1mb`), operation counts plain numbers.
fn throttles(flag: &str, values: &[String], bytes: bool) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    values
        .iter()
        .map(|v| {
            let bad = || anyhow::anyhow!("invalid {flag} {v:?}: expected PATH:RATE");
            let (path, rate) = v.rsplit_once(':').ok_or_else(bad)?;
            if !path.starts_with('/') {
                return Err(bad());
            }
            let rate = if bytes {
                parse_bytes(rate).map_err(|e| anyhow::anyhow!("invalid {flag} {v:?}: {e}"))?
            } else {
                rate.parse::<i64>().map_err(|_| bad())?
            };
            let rate = u64::try_from(rate).map_err(|_| bad())?;
            Ok((PathBuf::from(path), rate))
        })
        .collect()
}

/// `-e KEY` copies KEY from wharf's own environment, as docker does.
pub(super) fn expand_env(e: &str) -> String {
    if e.contains('=') {
        e.to_string()
    } else {
        match std::env::var(e) {
            Ok(v) => format!("{e}={v}"),
            Err(_) => e.to_string(),
        }
    }
}

/// `-v [SRC:]DST[:OPTS]`, the short syntax `run -v` and `compose run -v`
/// share; what SRC names (a path, a volume) is up to each.
pub(super) struct ShortVolume<'a> {
    pub src: Option<&'a str>,
    dst: &'a str,
    read_only: bool,
    nocopy: bool,
}

impl<'a> ShortVolume<'a> {
    pub(super) fn parse(v: &'a str) -> anyhow::Result<ShortVolume<'a>> {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [dst] => (None, *dst, ""),
            [src, dst] => (Some(*src), *dst, ""),
            [src, dst, opts] => (Some(*src), *dst, *opts),
            _ => bail!("invalid volume specification {v:?}"),
        };
        if !dst.starts_with('/') {
            bail!(
                "invalid volume specification {v:?}: the mount point {dst:?} must be an absolute path"
            );
        }
        Ok(ShortVolume {
            src,
            dst,
            read_only: opts.split(',').any(|o| o == "ro"),
            nocopy: opts.split(',').any(|o| o == "nocopy"),
        })
    }

    /// A bind mount of the host path `source` (relative to here).
    pub(super) fn bind(&self, source: &str) -> anyhow::Result<MountSpec> {
        Ok(MountSpec::Bind {
            source: std::path::absolute(source)
                .with_context(|| format!("volume source {source:?}"))?,
            target: self.dst.to_string(),
            read_only: self.read_only,
            propagation: None,
            create_host_path: true,
        })
    }

    /// The volume `name` (its data at `source`, when already known).
    pub(super) fn volume(&self, name: String, source: PathBuf) -> MountSpec {
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

fn parse_volume(global: &GlobalArgs, v: &str) -> anyhow::Result<MountSpec> {
    let short = ShortVolume::parse(v)?;
    match short.src {
        Some(s) if s.starts_with('/') || s.starts_with('.') => short.bind(s),
        src => {
            let volumes = crate::runtime::volume::Volumes::open(global.root())?;
            let volume = match src {
                Some(name) => volumes.ensure(name, Default::default())?,
                None => volumes.create_anonymous()?,
            };
            Ok(short.volume(volume.name, volume.data))
        }
    }
}

pub fn start(global: &GlobalArgs, args: &StartArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.containers)? {
        return super::compose::start(global, &sel, &args.containers);
    }
    need_args(&args.containers, "start")?;
    let (containers, store) = open(global)?;
    let mut code = ExitCode::SUCCESS;
    for q in &args.containers {
        let record = match containers.find(q) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
                continue;
            }
        };
        if args.attach {
            let attach = monitor::Attach {
                output: true,
                stdin: false,
            };
            return match monitor::run(&containers, &store, &record.id, attach, None) {
                Ok(c) => Ok(exit(c)),
                Err(e) => Ok(fail(&e, e.exit_code())),
            };
        }
        match control::start_detached(&containers, &record.id) {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

/// `Up 5 seconds`, `Exited (0) 2 minutes ago`, `Created`.
pub(super) fn status_text(state: &crate::runtime::container::ContainerState) -> String {
    let since = |t: &Option<String>| {
        t.as_deref()
            .and_then(crate::time::parse_rfc3339)
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(crate::time::human_duration)
            .unwrap_or_default()
    };
    match state.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let health = match state.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)",
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                _ => "",
            };
            format!("Up {}{health}", since(&state.started_at))
        }
        Status::Paused => format!("Up {} (Paused)", since(&state.started_at)),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            state.exit_code.unwrap_or(-1),
            since(&state.finished_at)
        ),
        Status::Dead => "Dead".into(),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            state.exit_code.unwrap_or(-1),
            since(&state.finished_at)
        ),
    }
}

/// What `ps --filter`/`--status` keep.
#[derive(Debug, Default)]
pub(super) struct PsFilter {
    statuses: Vec<String>,
    services: Vec<String>,
    names: Vec<String>,
}

impl PsFilter {
    pub(super) fn parse(args: &PsArgs) -> anyhow::Result<PsFilter> {
        const STATUSES: &[&str] = &[
            "created",
            "restarting",
            "running",
            "removing",
            "paused",
            "exited",
            "dead",
        ];
        let mut f = PsFilter {
            statuses: args.status.clone(),
            ..PsFilter::default()
        };
        for kv in &args.filter {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("arguments to --filter should be in form KEY=VAL");
            };
            match k {
                "status" => f.statuses.push(v.to_string()),
                "service" => f.services.push(v.to_string()),
                "name" => f.names.push(v.to_string()),
                other => bail!("unknown filter {other}"),
            }
        }
        if let Some(bad) = f.statuses.iter().find(|s| !STATUSES.contains(&s.as_str())) {
            bail!("Unrecognised filter value for status: {bad}");
        }
        Ok(f)
    }

    /// A status filter looks at stopped containers too, as `-a` would.
    pub(super) fn implies_all(&self) -> bool {
        !self.statuses.is_empty()
    }

    pub(super) fn keeps(&self, record: &ContainerRecord, status: Status) -> bool {
        let service = record
            .spec
            .labels
            .get(crate::plan::container::LABEL_SERVICE)
            .map(String::as_str)
            .unwrap_or("");
        (self.statuses.is_empty() || self.statuses.iter().any(|s| s == status.as_str()))
            && (self.services.is_empty() || self.services.iter().any(|s| s == service))
            && (self.names.is_empty() || self.names.iter().any(|n| record.name.contains(n)))
    }
}

pub fn ps(global: &GlobalArgs, args: &PsArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.services)? {
        return super::compose::ps(global, &sel, args);
    }
    let filter = PsFilter::parse(args)?;
    let all = args.all || filter.implies_all();
    let (containers, _store) = open(global)?;
    let mut rows = Vec::new();
    for r in containers.list_records()?.into_iter().rev() {
        let state = containers.state(&r.id)?;
        if !all && !matches!(state.status, Status::Running | Status::Paused) {
            continue;
        }
        if !filter.keeps(&r, state.status) {
            continue;
        }
        rows.push((r, state));
    }
    if args.quiet {
        for (r, _) in &rows {
            println!(
                "{}",
                if args.no_trunc {
                    &r.id[..]
                } else {
                    &r.id[..12]
                }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == super::image::ListFormat::Json {
        for (r, s) in &rows {
            let line = serde_json::json!({
                "ID": &r.id[..12],
                "Names": r.name,
                "Image": r.image,
                "Command": command_text(r),
                "CreatedAt": r.created,
                "State": s.status.as_str(),
                "Status": status_text(s),
                "ExitCode": s.exit_code,
                "Labels": r.spec.labels,
                "Ports": ports_column(&s.ports),
            });
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    for (r, s) in &rows {
        let mut cmd = command_text(r);
        if !args.no_trunc && cmd.chars().count() > 20 {
            cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
        }
        table.push(vec![
            if args.no_trunc {
                r.id.clone()
            } else {
                r.id[..12].to_string()
            },
            r.image.clone(),
            format!("\"{cmd}\""),
            status_text(s),
            ports_column(&s.ports),
            r.name.clone(),
        ]);
    }
    print_table(&table);
    Ok(ExitCode::SUCCESS)
}

fn proto_text(b: &PortBinding) -> &'static str {
    match b.protocol {
        crate::runtime::spec::Protocol::Tcp => "tcp",
        crate::runtime::spec::Protocol::Udp => "udp",
        crate::runtime::spec::Protocol::Sctp => "sctp",
    }
}

fn host_ip_text(b: &PortBinding) -> String {
    b.host_ip
        .map(crate::net::ports::show_ip)
        .unwrap_or_else(|| "0.0.0.0".into())
}

/// Docker's PORTS column (its `DisplayablePorts`): ports published on the
/// same host port as the container port are grouped into ranges per
/// address and protocol (`0.0.0.0:8000-8001->8000-8001/tcp`); the others
/// follow one by one (`0.0.0.0:32768->80/tcp`).
pub(super) fn ports_column(ports: &[PortBinding]) -> String {
    let mut sorted: Vec<&PortBinding> = ports.iter().collect();
    sorted.sort_by_key(|b| {
        (
            b.container_port,
            host_ip_text(b),
            b.host_port,
            proto_text(b),
        )
    });
    // (address, protocol) → (first, last) of the running range.
    type Range = (u16, u16);
    let mut groups: Vec<((String, &str), Range)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    let form = |(ip, proto): &(String, &str), (first, last): (u16, u16)| {
        let range = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        format!("{ip}:{range}->{range}/{proto}")
    };
    for b in sorted {
        let ip = host_ip_text(b);
        let proto = proto_text(b);
        if b.host_port != b.container_port {
            mappings.push(format!(
                "{ip}:{}->{}/{proto}",
                b.host_port, b.container_port
            ));
            continue;
        }
        let key = (ip, proto);
        let port = b.container_port;
        match groups.iter_mut().find(|(k, _)| *k == key) {
            None => groups.push((key, (port, port))),
            Some((_, range)) if range.1.checked_add(1) == Some(port) => range.1 = port,
            Some((k, range)) => {
                result.push(form(k, *range));
                *range = (port, port);
            }
        }
    }
    result.extend(groups.iter().map(|(k, r)| form(k, *r)));
    result.extend(mappings);
    result.join(", ")
}

/// `docker port`: every published port (`80/tcp -> 0.0.0.0:32768`), or
/// the host addresses of one (`0.0.0.0:32768`).
pub fn port(
    global: &GlobalArgs,
    container: &str,
    private: Option<&str>,
    index: Option<u32>,
    protocol: &str,
) -> anyhow::Result<ExitCode> {
    let (containers, _store) = open(global)?;
    let target = std::slice::from_ref(&container.to_string()).to_vec();
    if let Some(sel) = super::compose::project_mode(global, &target)? {
        // Compose's `port SERVICE PRIVATE_PORT`: the first host address.
        let Some(private) = private else {
            bail!("\"wharf port\" on a service requires SERVICE and PRIVATE_PORT");
        };
        let key = if private.contains('/') {
            private.to_string()
        } else {
            format!("{private}/{protocol}")
        };
        let env = crate::exec::Env::open(global.root(), "builtin")?;
        let c = super::compose::running_container(&env, &sel, container, index)?
            .map_err(|e| anyhow::anyhow!(e))?;
        let first = port_lines(&c.state.ports, Some(&key))
            .ok()
            .and_then(|l| l.into_iter().next());
        return match first {
            Some(l) => {
                println!("{l}");
                Ok(ExitCode::SUCCESS)
            }
            None => bail!("no port {key} for container {}", c.record.name),
        };
    }
    let record = containers.find(container)?;
    let state = containers.state(&record.id)?;
    let live = matches!(state.status, Status::Running | Status::Paused);
    let ports: &[PortBinding] = if live { &state.ports } else { &[] };
    let lines = port_lines(ports, private).map_err(|key| {
        anyhow::anyhow!("Error: No public port '{key}' published for {container}")
    })?;
    for l in lines {
        println!("{l}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines `wharf port` prints; `Err(key)` when `private` is not published.
fn port_lines(ports: &[PortBinding], private: Option<&str>) -> Result<Vec<String>, String> {
    let mut sorted: Vec<&PortBinding> = ports.iter().collect();
    sorted.sort_by_key(|b| {
        (
            b.container_port,
            proto_text(b),
            matches!(b.host_ip, Some(std::net::IpAddr::V6(_))),
            host_ip_text(b),
            b.host_port,
        )
    });
    let host = |b: &PortBinding| format!("{}:{}", host_ip_text(b), b.host_port);
    match private {
        None => Ok(sorted
            .iter()
            .map(|b| format!("{}/{} -> {}", b.container_port, proto_text(b), host(b)))
            .collect()),
        Some(p) => {
            let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            let key = format!("{port}/{proto}");
            let lines: Vec<String> = sorted
                .iter()
                .filter(|b| b.container_port.to_string() == port && proto_text(b) == proto)
                .map(|b| host(b))
                .collect();
            if lines.is_empty() {
                Err(key)
            } else {
                Ok(lines)
            }
        }
    }
}

pub(super) fn command_text(r: &ContainerRecord) -> String {
    let mut parts = r.spec.entrypoint.clone().unwrap_or_default();
    parts.extend(r.spec.command.clone().unwrap_or_default());
    parts.join(" ")
}

pub fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map(|r| r.len()).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// The `bridge` network, made on first use.
pub(super) fn default_bridge(global: &GlobalArgs) -> anyhow::Result<String> {
    let store = crate::net::store::Networks::open(global.root())?;
    if let Ok(n) = store.find("bridge") {
        return Ok(n.name);
    }
    let opts = crate::net::store::NetworkOptions {
        name: "bridge".into(),
        ..Default::default()
    };
    if let Err(e) = crate::net::attach::create_network(global.root(), &opts) {
        // Another wharf may have made it meanwhile.
        if store.find("bridge").is_err() {
            return Err(e).context("creating the default bridge network");
        }
    }
    Ok("bridge".into())
}

/// `--restart no|always|unless-stopped|on-failure[:N]`, Docker's forms.
fn parse_restart(r: &str) -> anyhow::Result<crate::runtime::spec::RestartSpec> {
    let (name, max) = r.split_once(':').unwrap_or((r, ""));
    let valid = matches!(name, "no" | "always" | "unless-stopped" | "on-failure");
    if !valid || (!max.is_empty() && name != "on-failure") {
        bail!("invalid restart policy {r:?}: use no, always, unless-stopped or on-failure[:max-retries]");
    }
    let max_retries = if max.is_empty() {
        0
    } else {
        max.parse()
            .with_context(|| format!("invalid restart policy {r:?}: {max:?} is not a number"))?
    };
    Ok(crate::runtime::spec::RestartSpec {
        name: if name == "no" {
            String::new()
        } else {
            name.to_string()
        },
        max_retries,
    })
}

/// `--since`/`--until`: an RFC 3339 time or a duration ago, as Docker takes them.
/// `--since` and `--until`, each parsed by `parse` (which names the flag
/// in its error).
pub(super) fn time_window(
    since: Option<&str>,
    until: Option<&str>,
    parse: fn(&str, &str) -> anyhow::Result<SystemTime>,
) -> anyhow::Result<(Option<SystemTime>, Option<SystemTime>)> {
    Ok((
        since.map(|v| parse("since", v)).transpose()?,
        until.map(|v| parse("until", v)).transpose()?,
    ))
}

pub(super) fn parse_when(flag: &str, v: &str) -> anyhow::Result<SystemTime> {
    if let Some(t) = crate::time::parse_rfc3339(v) {
        return Ok(t);
    }
    let d = crate::compose::convert::parse_duration(v)
        .map_err(|e| anyhow::anyhow!("invalid --{flag} {v:?}: {e}"))?;
    Ok(SystemTime::now() - d)
}

/// The lines of a container's log between `since` and `until`, last `tail`.
pub(super) fn select_lines(
    lines: Vec<logs::LogLine>,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
    tail: Option<usize>,
) -> Vec<logs::LogLine> {
    let kept: Vec<logs::LogLine> = lines
        .into_iter()
        .filter(|l| {
            let t = crate::time::parse_rfc3339(&l.time);
            since.is_none_or(|s| t.is_some_and(|t| t >= s))
                && until.is_none_or(|u| t.is_some_and(|t| t < u))
        })
        .collect();
    let skip = tail.map(|t| kept.len().saturating_sub(t)).unwrap_or(0);
    kept.into_iter().skip(skip).collect()
}

/// `--tail N`: `all` (or -1) is every line.
pub(super) fn parse_tail(t: &str) -> anyhow::Result<Option<usize>> {
    match t {
        "all" | "-1" => Ok(None),
        n => Ok(Some(
            n.parse().with_context(|| format!("invalid --tail {n:?}"))?,
        )),
    }
}

/// Docker's complaint when a container verb gets no container.
fn need_args(args: &[String], verb: &str) -> anyhow::Result<()> {
    if args.is_empty() {
        bail!("\"wharf {verb}\" requires at least 1 argument (a container, or run it in a compose project)");
    }
    Ok(())
}

pub fn logs(global: &GlobalArgs, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.targets)? {
        return super::compose::logs(global, &sel, args);
    }
    let [container] = args.targets.as_slice() else {
        bail!("\"wharf logs\" requires exactly 1 container (or services of a compose project)");
    };
    let (containers, _store) = open(global)?;
    let record = containers.find(container)?;
    let path = containers.dir(&record.id).log();
    let tail = parse_tail(&args.tail)?;
    let print = |l: &logs::LogLine| {
        use std::io::Write as _;
        let text = if args.timestamps {
            format!("{} {}", l.time, l.log)
        } else {
            l.log.clone()
        };
        let _ = match l.stream {
            logs::Stream::Stdout => std::io::stdout().write_all(text.as_bytes()),
            logs::Stream::Stderr => std::io::stderr().write_all(text.as_bytes()),
        };
    };
    let (since, until) = time_window(args.since.as_deref(), args.until.as_deref(), parse_when)?;
    let (lines, mut follower) = logs::read_and_follow(&path)?;
    select_lines(lines, since, until, tail)
        .iter()
        .for_each(print);
    if args.follow {
        loop {
            let running = matches!(
                containers.state(&record.id)?.status,
                Status::Running | Status::Paused
            );
            select_lines(follower.poll(), since, until, None)
                .iter()
                .for_each(print);
            if !running || until.is_some_and(|u| SystemTime::now() >= u) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn each(
    global: &GlobalArgs,
    names: &[String],
    mut f: impl FnMut(&Containers, &ImageStore, &ContainerRecord) -> Result<(), ControlError>,
) -> anyhow::Result<ExitCode> {
    let (containers, store) = open(global)?;
    let mut code = ExitCode::SUCCESS;
    for q in names {
        let result = containers
            .find(q)
            .map_err(ControlError::from)
            .and_then(|r| f(&containers, &store, &r));
        match result {
            Ok(()) => println!("{q}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

pub fn stop(global: &GlobalArgs, args: &StopArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.containers)? {
        return super::compose::stop(global, &sel, &args.containers, args.time);
    }
    need_args(&args.containers, "stop")?;
    each(global, &args.containers, |c, _, r| {
        let secs = args.time.or(r.spec.stop_timeout).unwrap_or(10);
        control::stop(c, &r.id, Duration::from_secs(secs))
    })
}

pub fn kill(global: &GlobalArgs, args: &KillArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.containers)? {
        return super::compose::kill(global, &sel, &args.containers, &args.signal);
    }
    need_args(&args.containers, "kill")?;
    let signal = control::parse_signal(&args.signal)?;
    each(global, &args.containers, |c, _, r| {
        control::kill(c, &r.id, signal)
    })
}

pub fn restart(global: &GlobalArgs, args: &StopArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.containers)? {
        return super::compose::restart(global, &sel, &args.containers, args.time);
    }
    need_args(&args.containers, "restart")?;
    each(global, &args.containers, |c, _, r| {
        let secs = args.time.or(r.spec.stop_timeout).unwrap_or(10);
        control::stop(c, &r.id, Duration::from_secs(secs))?;
        control::start_detached(c, &r.id)?;
        crate::runtime::events::emit(c.root(), r, "restart", &[]);
        Ok(())
    })
}

pub fn rm(global: &GlobalArgs, args: &RmArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.containers)? {
        return super::compose::rm(
            global,
            &sel,
            &args.containers,
            args.force,
            args.stop,
            args.volumes,
        );
    }
    need_args(&args.containers, "rm")?;
    each(global, &args.containers, |c, s, r| {
        control::remove(c, s, &r.id, args.force)
    })
}

pub fn wait(global: &GlobalArgs, containers_q: &[String]) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, containers_q)? {
        return wait_services(global, &sel, containers_q);
    }
    let (containers, _) = open(global)?;
    let mut code = ExitCode::SUCCESS;
    for q in containers_q {
        match containers
            .find(q)
            .map_err(ControlError::from)
            .and_then(|r| control::wait(&containers, &r.id))
        {
            Ok(c) => println!("{c}"),
            Err(e) => {
                eprintln!("Error response from daemon: {e}");
                code = ExitCode::from(1);
            }
        }
    }
    Ok(code)
}

pub fn exec(global: &GlobalArgs, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let target = std::slice::from_ref(&args.container);
    if let Some(sel) = super::compose::project_mode(global, target)? {
        return super::compose::exec(global, &sel, args);
    }
    let (containers, _) = open(global)?;
    let record = match containers.find(&args.container) {
        Ok(r) => r,
        Err(e) => return Ok(fail(e, 1)),
    };
    let opts = ExecOptions {
        args: args.command.clone(),
        env: args.env.iter().map(|e| expand_env(e)).collect(),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        tty: args.tty,
        privileged: args.privileged,
        group_add: Vec::new(),
    };
    match control::exec(
        &containers,
        &record.id,
        &opts,
        args.detach,
        args.interactive,
    ) {
        Ok(code) => Ok(exit(code)),
        Err(e) => Ok(control_fail(e)),
    }
}

pub fn inspect(global: &GlobalArgs, names: &[String]) -> anyhow::Result<ExitCode> {
    let (containers, _) = open(global)?;
    let mut out = Vec::new();
    for q in names {
        let r = containers.find(q)?;
        let s = containers.state(&r.id)?;
        out.push(serde_json::json!({
            "Id": r.id,
            "Name": format!("/{}", r.name),
            "Created": r.created,
            "Image": r.image_id.to_string(),
            "Config": {
                "Image": r.image,
                "Labels": r.spec.labels,
                "Env": r.spec.env,
                "Hostname": r.spec.hostname,
            },
            "State": {
                "Status": s.status.as_str(),
                "Running": matches!(s.status, Status::Running | Status::Paused),
                "Paused": s.status == Status::Paused,
                "Pid": s.pid.unwrap_or(0),
                "ExitCode": s.exit_code.unwrap_or(0),
                "OOMKilled": s.oom_killed,
                "Error": s.error.clone().unwrap_or_default(),
                "StartedAt": s.started_at,
                "FinishedAt": s.finished_at,
                "Restarting": s.status == Status::Restarting,
                "Health": s.health.as_ref().map(|h| serde_json::json!({
                    "Status": h.status,
                    "FailingStreak": h.failing_streak,
                    "Log": h.log.iter().map(|l| serde_json::json!({
                        "Start": l.start,
                        "End": l.end,
                        "ExitCode": l.exit_code,
                        "Output": l.output,
                    })).collect::<Vec<_>>(),
                })),
            },
            "RestartCount": s.restart_count,
            "HostConfig": {
                "Runtime": r.runtime,
                "AutoRemove": r.auto_remove,
                "NetworkMode": network_mode(&r.spec),
            },
            "NetworkSettings": network_settings(
                global,
                &r,
                matches!(s.status, Status::Running | Status::Paused),
            )?,
            "Spec": r.spec,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// The hidden verb a container's healthcheck prober runs as.
pub fn health_main(global: &GlobalArgs, id: &str) -> anyhow::Result<ExitCode> {
    let containers = Containers::open(global.root())?;
    Ok(exit(crate::supervise::health::main(&containers, id)))
}

fn network_mode(spec: &ContainerSpec) -> String {
    match &spec.namespaces.net {
        NsMode::Host => "host".into(),
        NsMode::None => "none".into(),
        NsMode::Path(p) => format!("container:{}", p.display()),
        NsMode::Container(c) => format!("container:{c}"),
        NsMode::Private => spec
            .networks
            .first()
            .map(|n| n.network.clone())
            .unwrap_or_else(|| "none".into()),
    }
}

/// Docker's NetworkSettings: one entry per network the container is on;
/// addresses only while it runs (they are freed when it stops).
fn network_settings(
    global: &GlobalArgs,
    r: &ContainerRecord,
    running: bool,
) -> anyhow::Result<serde_json::Value> {
    let live = if running {
        crate::net::attach::endpoints_of(global.root(), &r.id)?
    } else {
        Vec::new()
    };
    let store = crate::net::store::Networks::open(global.root())?;
    let mut nets = serde_json::Map::new();
    for a in &r.spec.networks {
        let found = live.iter().find(|(n, _)| n.name == a.network);
        let net_id = match found {
            Some((n, _)) => n.id.clone(),
            None => store.find(&a.network).map(|n| n.id).unwrap_or_default(),
        };
        let mut e = serde_json::json!({
            "IPAMConfig": if a.ipv4_address.is_some() || a.ipv6_address.is_some() {
                serde_json::json!({
                    "IPv4Address": a.ipv4_address.map(|i| i.to_string()).unwrap_or_default(),
                    "IPv6Address": a.ipv6_address.map(|i| i.to_string()).unwrap_or_default(),
                })
            } else {
                serde_json::Value::Null
            },
            "Aliases": a.aliases,
            "MacAddress": a.mac_address.clone().unwrap_or_default(),
            "NetworkID": net_id,
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": serde_json::Value::Null,
        });
        if let Some((n, ep)) = found {
            e["EndpointID"] = serde_json::json!(super::network::endpoint_id(&r.id, &n.id));
            e["MacAddress"] = serde_json::json!(ep.mac);
            e["Gateway"] = serde_json::json!(n.gateway.to_string());
            e["IPAddress"] = serde_json::json!(ep.ipv4.map(|i| i.to_string()).unwrap_or_default());
            e["IPPrefixLen"] = serde_json::json!(n.subnet.prefix());
            if let (Some(v6), Some(cfg)) = (ep.ipv6, &n.ipv6) {
                e["IPv6Gateway"] = serde_json::json!(cfg.gateway.to_string());
                e["GlobalIPv6Address"] = serde_json::json!(v6.to_string());
                e["GlobalIPv6PrefixLen"] = serde_json::json!(cfg.prefix);
            }
            e["DNSNames"] = serde_json::json!(ep.names);
        }
        nets.insert(a.network.clone(), e);
    }
    let sandbox = if running && crate::supervise::monitor::bridged(&r.spec) {
        crate::net::netns::netns_path(Containers::open(global.root())?.run_root(), &r.id)
            .display()
            .to_string()
    } else {
        String::new()
    };
    Ok(serde_json::json!({ "SandboxKey": sandbox, "Networks": nets }))
}

/// The hidden verb a detached container's monitor runs as.
/// Adopts containers whose monitor died; a failure here must not keep the
/// verb itself from running, so it is only reported.
pub fn recover(global: &GlobalArgs) {
    if !global.root().join("containers").is_dir() {
        return;
    }
    match Containers::open(global.root()) {
        Ok(containers) => {
            if let Err(e) = control::recover(&containers) {
                tracing::warn!("taking over containers whose monitor died: {e}");
            }
        }
        Err(e) => tracing::warn!("opening the container store: {e}"),
    }
}

pub fn monitor_main(global: &GlobalArgs, id: &str, adopt: bool) -> anyhow::Result<ExitCode> {
    let (containers, store) = open(global)?;
    Ok(exit(control::monitor_main(&containers, &store, id, adopt)))
}

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Containers, or services of the compose project (all by default)
    pub targets: Vec<String>,
}

/// `pause`/`unpause`: the cgroup freezer, through the container's runtime.
pub fn pause(global: &GlobalArgs, targets: &[String], freeze: bool) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, targets)? {
        return super::compose::pause(global, &sel, targets, freeze);
    }
    need_args(targets, if freeze { "pause" } else { "unpause" })?;
    each(global, targets, |c, _, r| {
        if freeze {
            control::pause(c, &r.id)
        } else {
            control::unpause(c, &r.id)
        }
    })
}

/// `docker compose wait SERVICE…`: every container of the services, each
/// reported as it exits; the exit status is the last one's code.
fn wait_services(
    global: &GlobalArgs,
    sel: &super::compose::Selected,
    services: &[String],
) -> anyhow::Result<ExitCode> {
    let list = project_list(global, sel, services)?;
    if list.is_empty() {
        bail!("no containers for project {:?}", sel.name());
    }
    let (containers, _) = open(global)?;
    let (tx, rx) = std::sync::mpsc::channel();
    for c in list {
        let tx = tx.clone();
        let containers = containers.clone();
        std::thread::spawn(move || {
            let r = control::wait(&containers, &c.record.id);
            let _ = tx.send((c.record.id, r));
        });
    }
    drop(tx);
    let mut last = 0;
    for (id, r) in rx {
        match r {
            Ok(code) => {
                println!("container {id:?} exited with status code {code}");
                last = code;
            }
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(42));
            }
        }
    }
    Ok(ExitCode::from(last.clamp(0, 255) as u8))
}

/// The containers of project `sel`, of `services` (all when empty),
/// one-offs left out, in service then number order.
fn project_list(
    global: &GlobalArgs,
    sel: &super::compose::Selected,
    services: &[String],
) -> anyhow::Result<Vec<crate::exec::ProjectContainer>> {
    let env = crate::exec::Env::open(global.root(), "builtin")?;
    let mut list: Vec<_> = crate::exec::project_containers(&env.containers, sel.name())?
        .into_iter()
        .filter(|c| !c.oneoff && (services.is_empty() || services.contains(&c.service)))
        .collect();
    list.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
    Ok(list)
}

/// `wharf top`: the container's processes (its cgroup), shown by ps(1)
/// with the columns `docker top` prints by default; in a compose project,
/// those of every running container of the services, each under its name.
pub fn top(global: &GlobalArgs, targets: &[String]) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, targets)? {
        return super::compose::top(global, &sel, targets);
    }
    let [container] = targets else {
        bail!("\"wharf top\" requires exactly 1 container (or services of a compose project)");
    };
    let (containers, _) = open(global)?;
    let record = containers.find(container)?;
    let state = containers.state(&record.id)?;
    if !matches!(state.status, Status::Running | Status::Paused) {
        return Ok(fail(format!("container {} is not running", record.name), 1));
    }
    Ok(if print_top(&record.id)? {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// ps(1) on the processes of a container's cgroup; whether it succeeded.
pub(super) fn print_top(id: &str) -> anyhow::Result<bool> {
    let pids = crate::runtime::cgroups::procs(
        std::path::Path::new("/sys/fs/cgroup"),
        &crate::runtime::cgroups::container_path(id),
    )?;
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    let status = std::process::Command::new("ps")
        .args([
            "-o",
            "uid,pid,ppid,c,stime,tty,time,cmd",
            "-p",
            &list.join(","),
        ])
        .status()
        .context("running ps")?;
    Ok(status.success())
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Containers (default: all running)
    pub containers: Vec<String>,
    /// Print one sample and exit
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: super::image::ListFormat,
}

/// `wharf stats`: CPU, memory and pids per container, from its cgroup.
pub fn stats(global: &GlobalArgs, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    use crate::runtime::cgroups;
    let (containers, _) = open(global)?;
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut records = Vec::new();
    if let Some(sel) = super::compose::project_mode(global, &args.containers)? {
        // `docker compose stats [SERVICE…]`: the project's running containers.
        for c in project_list(global, &sel, &args.containers)? {
            if c.state.status == Status::Running {
                records.push(c.record);
            }
        }
    } else if args.containers.is_empty() {
        for r in containers.list_records()? {
            if containers.state(&r.id)?.status == Status::Running {
                records.push(r);
            }
        }
    } else {
        for q in &args.containers {
            records.push(containers.find(q)?);
        }
    }
    loop {
        // CPU % is usage over an interval, as docker computes it.
        let interval = Duration::from_millis(500);
        let before: Vec<Option<cgroups::Stats>> = records
            .iter()
            .map(|r| cgroups::stats(root, &r.id).ok())
            .collect();
        std::thread::sleep(interval);
        let mut table = vec![vec![
            "CONTAINER ID".to_string(),
            "NAME".into(),
            "CPU %".into(),
            "MEM USAGE / LIMIT".into(),
            "MEM %".into(),
            "PIDS".into(),
        ]];
        let total_mem = host_memory();
        for (r, b) in records.iter().zip(before) {
            let Some(now) = cgroups::stats(root, &r.id).ok() else {
                continue;
            };
            let cpu = b
                .map(|b| {
                    now.cpu_usage_ns.saturating_sub(b.cpu_usage_ns) as f64
                        / interval.as_nanos() as f64
                        * 100.0
                })
                .unwrap_or(0.0);
            let limit = now
                .memory_limit
                .filter(|&l| l < total_mem)
                .unwrap_or(total_mem);
            let mem_pct = if limit > 0 {
                now.memory_usage as f64 / limit as f64 * 100.0
            } else {
                0.0
            };
            if args.format == super::image::ListFormat::Json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ID": &r.id[..12], "Name": r.name, "CPUPerc": format!("{cpu:.2}%"),
                        "MemUsage": now.memory_usage, "MemLimit": limit,
                        "MemPerc": format!("{mem_pct:.2}%"), "PIDs": now.pids_current,
                    })
                );
                continue;
            }
            table.push(vec![
                r.id[..12].to_string(),
                r.name.clone(),
                format!("{cpu:.2}%"),
                format!("{} / {}", human_bytes(now.memory_usage), human_bytes(limit)),
                format!("{mem_pct:.2}%"),
                now.pids_current.to_string(),
            ]);
        }
        if args.format == super::image::ListFormat::Table {
            print_table(&table);
        }
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// `12.5MiB`, as docker stats prints sizes.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[i])
    }
}

/// `attach`: the output of a running container (or a service's) from
/// now on, until it exits; its exit code is ours. Signals received here
/// go to the container unless `--sig-proxy=false`.
pub fn attach(global: &GlobalArgs, args: &AttachArgs) -> anyhow::Result<ExitCode> {
    let target = std::slice::from_ref(&args.container);
    let (containers, _) = open(global)?;
    let record = match super::compose::project_mode(global, target)? {
        Some(sel) => {
            let env = crate::exec::Env::open(global.root(), "builtin")?;
            match super::compose::running_container(&env, &sel, &args.container, args.index)? {
                Ok(c) => c.record,
                Err(msg) => return Ok(fail(msg, 1)),
            }
        }
        None => match containers.find(&args.container) {
            Ok(r) => r,
            Err(e) => return Ok(fail(e, 1)),
        },
    };
    if containers.state(&record.id)?.status != Status::Running {
        return Ok(fail(
            "You cannot attach to a stopped container, start it first",
            1,
        ));
    }
    let mut follower = logs::Follower::new(&containers.dir(&record.id).log(), true);
    if args.sig_proxy {
        use nix::sys::signal::{SigSet, Signal};
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        mask.thread_block().context("blocking SIGINT")?;
        let root = global.root().to_path_buf();
        let id = record.id.clone();
        std::thread::spawn(move || {
            let Ok(containers) = Containers::open(&root) else {
                return;
            };
            while let Ok(sig) = mask.wait() {
                let _ = control::kill(&containers, &id, sig);
            }
        });
    }
    let print = |l: &logs::LogLine| {
        use std::io::Write as _;
        let _ = match l.stream {
            logs::Stream::Stdout => std::io::stdout().write_all(l.log.as_bytes()),
            logs::Stream::Stderr => std::io::stderr().write_all(l.log.as_bytes()),
        };
    };
    loop {
        let state = containers.state(&record.id)?;
        follower.poll().iter().for_each(print);
        if !matches!(state.status, Status::Running | Status::Restarting) {
            // What it wrote last is read before its exit is reported.
            follower.poll().iter().for_each(print);
            return Ok(exit(state.exit_code.unwrap_or(0)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::spec::Protocol;

    #[test]
    fn ps_filters_are_checked_and_combined() {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            ps: PsArgs,
        }
        let parse = |args: &[&str]| {
            let mut all = vec!["ps"];
            all.extend_from_slice(args);
            PsFilter::parse(&P::parse_from(all).ps)
        };
        let f = parse(&[
            "--status",
            "running",
            "--filter",
            "status=paused",
            "--filter",
            "service=db",
        ])
        .expect("valid");
        assert!(f.implies_all());
        let mut record = ContainerRecord {
            id: "0".repeat(64),
            name: "demo-db-1".into(),
            created: String::new(),
            image: "x".into(),
            image_id: crate::image::digest::Digest::sha256_of(b"x"),
            spec: ContainerSpec::default(),
            runtime: "builtin".into(),
            auto_remove: false,
        };
        record
            .spec
            .labels
            .insert(crate::plan::container::LABEL_SERVICE.into(), "db".into());
        assert!(f.keeps(&record, Status::Paused));
        assert!(f.keeps(&record, Status::Running));
        assert!(!f.keeps(&record, Status::Exited));
        record
            .spec
            .labels
            .insert(crate::plan::container::LABEL_SERVICE.into(), "web".into());
        assert!(!f.keeps(&record, Status::Running));
        assert!(!parse(&[]).expect("none").implies_all());
        let bad = parse(&["--filter", "color=red"]).expect_err("unknown key");
        assert_eq!(bad.to_string(), "unknown filter color");
        let bad = parse(&["--status", "sleeping"]).expect_err("unknown status");
        assert!(bad.to_string().contains("sleeping"), "{bad}");
        assert!(parse(&["--filter", "status"]).is_err());
    }

    fn pb(ip: &str, host: u16, container: u16, protocol: Protocol) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.parse().unwrap()),
            host_port: host,
            container_port: container,
            protocol,
        }
    }

    #[test]
    fn ports_column_is_dockers() {
        use Protocol::{Tcp, Udp};
        assert_eq!(ports_column(&[]), "");
        assert_eq!(
            ports_column(&[pb("0.0.0.0", 8080, 80, Tcp), pb("::", 8080, 80, Tcp)]),
            "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"
        );
        // Same host and container port: grouped into ranges per address.
        let range: Vec<PortBinding> = (8000..=8002)
            .map(|p| pb("0.0.0.0", p, p, Tcp))
            .chain([pb("127.0.0.1", 53, 53, Udp), pb("0.0.0.0", 8005, 8005, Tcp)])
            .collect();
        assert_eq!(
            ports_column(&range),
            "0.0.0.0:8000-8002->8000-8002/tcp, 127.0.0.1:53->53/udp, 0.0.0.0:8005->8005/tcp"
        );
    }

    #[test]
    fn port_lines_are_dockers() {
        use Protocol::{Tcp, Udp};
        let ports = [
            pb("::", 32768, 80, Tcp),
            pb("0.0.0.0", 32768, 80, Tcp),
            pb("127.0.0.1", 5353, 53, Udp),
        ];
        assert_eq!(
            port_lines(&ports, None).unwrap(),
            vec![
                "53/udp -> 127.0.0.1:5353",
                "80/tcp -> 0.0.0.0:32768",
                "80/tcp -> [::]:32768",
            ]
        );
        assert_eq!(
            port_lines(&ports, Some("80")).unwrap(),
            vec!["0.0.0.0:32768", "[::]:32768"]
        );
        assert_eq!(
            port_lines(&ports, Some("53/udp")).unwrap(),
            vec!["127.0.0.1:5353"]
        );
        assert_eq!(port_lines(&ports, Some("53")), Err("53/tcp".to_string()));
    }
}
