//! Flags of the container verbs (Docker's, plus Compose's forms of the
//! same verbs on services).

use super::format::ListFormat;
use clap::Args;
use std::path::PathBuf;

/// The flags `docker run` and `docker create` share.
#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Compose project: build images before creating containers
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Compose project: do not build images, even those missing
    #[arg(long = "no-build")]
    pub no_build: bool,
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
    /// OCI runtime: builtin, crun, runc, or a path (default: WHARF_RUNTIME, else builtin)
    #[arg(long)]
    pub runtime: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Memory nodes (MEMs) in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Add a rule to the cgroup allowed devices list (`c 1:3 mr`)
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<PathBuf>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<PathBuf>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<u32>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Maximum time to allow one check to run
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// UTS namespace to use: host
    #[arg(long)]
    pub uts: Option<String>,
    /// Cgroup namespace to use: host or private
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Add link to another container (NAME[:ALIAS])
    #[arg(long)]
    pub link: Vec<String>,
    /// Pull image before running: always, missing (default), never; for the
    /// services of a compose project (`create`) also build
    #[arg(long, value_name = "POLICY")]
    pub pull: Option<String>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=…,target=…[,readonly]…
    #[arg(long)]
    pub mount: Vec<String>,
    /// Publish all exposed ports (the image's and --expose's) to random host ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports (published by -P)
    #[arg(long)]
    pub expose: Vec<String>,
    /// Logging driver for the container: json-file (the default) or local
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options: max-size=SIZE, max-file=N
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// User namespace to use: host (wharf's only mode)
    #[arg(long)]
    pub userns: Option<String>,
    /// GPU devices to add: all, N, device=ID[,ID…] (quoted: '"device=0,1"'), capabilities=…, driver=…
    #[arg(long, value_name = "GPU-REQUEST")]
    pub gpus: Option<String>,
    /// Set platform if server is multi-platform capable (os/arch[/variant])
    #[arg(long)]
    pub platform: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Attach to STDIN, STDOUT or STDERR (repeatable; default: STDOUT and STDERR)
    #[arg(short = 'a', long = "attach", value_name = "STREAM")]
    pub attach: Vec<String>,
    /// Automatically remove the container and its anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Image to run (in a compose project: services, for `create`)
    #[arg(default_value = "", hide_default_value = true)]
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `create`: Docker's flags, and Compose's for `create [SERVICE…]`.
#[derive(Args, Debug)]
pub struct CreateCommandArgs {
    #[command(flatten)]
    pub compose: ComposeCreateArgs,
    #[command(flatten)]
    pub create: CreateArgs,
}

/// Compose's `create [SERVICE…]` flags (its `up --no-start`'s).
#[derive(Args, Debug, Default)]
pub struct ComposeCreateArgs {
    /// Compose project: recreate containers even if their configuration is unchanged
    #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Compose project: never recreate existing containers
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Compose project: pull without printing progress
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
    /// Compose project: remove containers of services no longer in the compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Compose project: scale SERVICE to NUM instances (SERVICE=NUM, repeatable)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Compose project: assume "yes" as answer to all prompts (wharf asks none)
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run in the background and print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Proxy received signals to the process (not with a terminal)
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub sig_proxy: bool,
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
    /// Override the key sequence for detaching a container (with -it; default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
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
    /// Attach standard input too (and the output, as Docker does)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container (with a terminal; default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// With a compose project: only these services
    pub services: Vec<String>,
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Filter by KEY=VALUE: status=STATUS, service=SERVICE (repeatable)
    #[arg(short = 'f', long, value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Only containers in this status (created, running, paused, restarting, exited, dead; repeatable)
    #[arg(long)]
    pub status: Vec<String>,
    /// Display the services of the project (those with a container that passes the filters)
    #[arg(long = "services")]
    pub services_only: bool,
    /// Show the n last created containers (all states)
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Show the latest created container (all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Only display container ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Compose ps: include containers of services the compose file no longer has
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub orphans: bool,
    /// Display total file sizes: the writable layer (and, as "virtual", with the image)
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// table, json, or a Go template (`table {{.ID}}\t{{.Status}}`)
    #[arg(long, default_value = "table")]
    pub format: ListFormat,
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
    /// Show extra details provided to logs (the log's attributes; wharf's
    /// json-file log keeps none, so each line has an empty set, as Docker's
    /// without `--log-opt labels/env`)
    #[arg(long)]
    pub details: bool,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Containers, or services of the compose project (all by default)
    pub containers: Vec<String>,
    /// Seconds to wait before killing the container
    /// (default: the container's stop timeout, else 10)
    #[arg(short = 't', long = "timeout", alias = "time")]
    pub time: Option<u64>,
    /// Signal to stop the containers with (Docker's `stop -s`; default: each one's stop signal)
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
}

#[derive(Args, Debug)]
pub struct RestartArgs {
    #[command(flatten)]
    pub stop: StopArgs,
    /// Compose restart: do not restart the services the named ones depend on
    #[arg(long = "no-deps")]
    pub no_deps: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Containers, or services of the compose project (all by default)
    pub containers: Vec<String>,
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Compose kill: also remove containers of services no longer in the compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
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
    /// Read environment variables from a file (KEY=VALUE lines; -e wins)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<std::path::PathBuf>,
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
    #[arg(short = 'T', long = "no-TTY", visible_alias = "no-tty")]
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
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Pass SIGINT and SIGTERM received here on to the container
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching from a container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
}

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Containers, or services of the compose project (all by default)
    pub targets: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Containers (default: all running)
    pub containers: Vec<String>,
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Do not truncate output (full container ids)
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Print one sample and exit
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// table, json, or a Go template (`table {{.ID}}\t{{.Status}}`)
    #[arg(long, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Containers, or services of the compose project
    #[arg(required = true)]
    pub containers: Vec<String>,
    /// Compose wait: take the project down when the first container stops
    #[arg(long = "down-project")]
    pub down_project: bool,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A container, or a service of the compose project
    pub container: String,
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Compose export: which replica of the service (default: the first running)
    #[arg(long)]
    pub index: Option<u32>,
}

#[derive(Args, Debug)]
pub struct CommitArgs {
    /// A container, or a service of the compose project
    pub container: String,
    /// REPOSITORY[:TAG] of the new image (none: an untagged image)
    pub repository: Option<String>,
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT,
    /// ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// Compose commit: which replica of the service (default: the first running)
    #[arg(long)]
    pub index: Option<u32>,
}

/// `docker update`: new limits for running or stopped containers.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
}

/// `docker container prune`.
#[derive(Args, Debug)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}
