//! wharf's built-in OCI runtime: `wharf oci-runtime [--root DIR] [--log F]
//! [--log-format text|json] <create|start|state|kill|pause|resume|delete|exec|ps> …`,
//! the subset of runc's command line that [`super::oci_cli`] drives, on top
//! of youki's `libcontainer`.
//!
//! libcontainer forks and clones; that is only sound in a single-threaded
//! process, so `main()` dispatches here before anything (tokio, a logger
//! with a thread) can start a thread, and nothing here starts one.
//!
//! Like runc, `create` leaves the container's first process waiting for
//! `start`, with no parent left in the runtime: it is re-parented to the
//! nearest child subreaper above this process (wharf's monitor).

use clap::{Parser, Subcommand, ValueEnum};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The hidden subcommand's name: `wharf oci-runtime …`.
pub const SUBCOMMAND: &str = "oci-runtime";

/// Where state goes without `--root`.
pub const DEFAULT_STATE_ROOT: &str = "/run/wharf/oci";

#[derive(Parser, Debug)]
#[command(
    name = "wharf oci-runtime",
    bin_name = "wharf oci-runtime",
    about = "wharf's built-in OCI runtime (runc-compatible subset)"
)]
struct Args {
    /// Directory holding the containers' state
    #[arg(long, default_value = DEFAULT_STATE_ROOT)]
    root: PathBuf,
    /// Write errors to this file instead of only standard error
    #[arg(long)]
    log: Option<PathBuf>,
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Accepted for runc compatibility; systemd cgroups are not supported
    #[arg(long = "systemd-cgroup")]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container from a bundle; its process waits for `start`
    Create {
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: i32,
        id: String,
    },
    /// Start a created container's process
    Start { id: String },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (default SIGTERM) to the container's process (or all processes)
    Kill {
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Remove a stopped (or, with --force, any) container
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// Run another process in a running container
    Exec {
        /// process.json (OCI Process) to run
        #[arg(long, short = 'p')]
        process: Option<PathBuf>,
        #[arg(long, short = 'd')]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// KEY=VALUE (repeatable)
        #[arg(long, short = 'e')]
        env: Vec<String>,
        #[arg(long = "preserve-fds", default_value_t = 0)]
        preserve_fds: i32,
        id: String,
        /// The command, when no --process is given
        #[arg(trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Freeze every process of the container (its cgroup freezer)
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the container's processes
    Ps {
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        id: String,
    },
}

/// Gives the container a clean signal state, as runc and crun do: the
/// Rust runtime ignores SIGPIPE and our caller (the monitor) blocks the
/// signals it reads from a signalfd; libcontainer passes both on to the
/// container's process, where a blocked SIGTERM would make `stop` wait out
/// its whole grace period.
fn reset_signals() {
    // SAFETY: plain libc calls on a single-threaded process; the sigset is
    // initialized by sigemptyset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// Entry point for `wharf oci-runtime …`; `args` starts with the program
/// name as `std::env::args_os()` does, followed by `oci-runtime`.
pub fn main(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let original: Vec<_> = args.into_iter().collect();
    let mut args = original.clone();
    // Drop "oci-runtime" so clap sees `wharf-oci-runtime --root …`.
    if args.len() > 1 {
        args.remove(1);
    }
    let args = Args::parse_from(args);
    reset_signals();
    let log = Log::new(args.log.as_deref(), args.log_format);
    let enters = matches!(args.command, Cmd::Create { .. } | Cmd::Exec { .. });
    if enters && !super::sealed::reexecuted() {
        // Returns only when the protection could not be set up: then the
        // container is not entered at all.
        let err: Result<(), String> = create_root(&args.root).and_then(|()| {
            let exe = super::sealed::readonly_view(Path::new("/proc/self/exe"), &args.root)
                .map_err(|e| e.to_string())?;
            Err(super::sealed::reexec(&exe, &original).to_string())
        });
        if let Err(message) = err {
            log.error(&message);
            return ExitCode::FAILURE;
        }
    }
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            log.error(&message);
            ExitCode::FAILURE
        }
    }
}

/// Errors are reported as runc does: one line on stderr, and a
/// `{"level":"error","msg":…,"time":…}` line in the `--log` file.
struct Log {
    file: Option<std::fs::File>,
    format: LogFormat,
}

impl Log {
    fn new(path: Option<&Path>, format: LogFormat) -> Log {
        let file = path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Log { file, format }
    }

    fn error(&self, message: &str) {
        let time = rfc3339_now();
        let _ = writeln!(std::io::stderr(), "{message}");
        if let Some(mut f) = self.file.as_ref() {
            let line = match self.format {
                LogFormat::Json => serde_json::json!({
                    "level": "error",
                    "msg": message,
                    "time": time,
                })
                .to_string(),
                LogFormat::Text => format!("time={time:?} level=error msg={message:?}"),
            };
            let _ = writeln!(f, "{line}");
        }
    }
}

/// The error and its causes on one line, as runc prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let part = c.to_string();
        if !s.contains(&part) {
            s.push_str(": ");
            s.push_str(&part);
        }
        cur = c.source();
    }
    s
}

fn run(args: &Args) -> Result<ExitCode, String> {
    if args.systemd_cgroup {
        return Err("systemd cgroups are not supported by wharf's runtime".into());
    }
    let root = &args.root;
    match &args.command {
        Cmd::Create {
            bundle,
            pid_file,
            console_socket,
            preserve_fds,
            id,
        } => {
            let mode = super::cgroups::detect(Path::new(super::cgroups::DEFAULT_ROOT)).ok();
            device_filter_ready(mode, raise_memlock).map_err(|e| format!("create {id}: {e}"))?;
            create_root(root)?;
            // Orphans of a failed create come to us, not to the caller.
            nix::sys::prctl::set_child_subreaper(true)
                .map_err(|e| format!("create {id}: {}", chain(&e)))?;
            ContainerBuilder::new(id.clone(), SyscallType::default())
                .with_executor(WharfExecutor)
                .with_root_path(root)
                .and_then(|b| b.with_pid_file(pid_file.as_ref()))
                .map_err(|e| format!("create {id}: {}", chain(&e)))?
                .with_console_socket(console_socket.as_ref())
                .with_preserved_fds(*preserve_fds)
                .validate_id()
                .map_err(|e| format!("create {id}: {}", chain(&e)))?
                .as_init(bundle)
                .with_systemd(false)
                .with_detach(true)
                .build()
                .map_err(|e| {
                    // runc and crun leave nothing behind when create fails;
                    // libcontainer may leave its state dir (and cgroup).
                    discard(root, id);
                    reap_orphans();
                    format!("create {id}: {}", chain(&e))
                })?;
            // Before `start`: the init waits, so nothing ran without it.
            if let Err(e) = apply_disable_oom_killer(bundle, id) {
                discard(root, id);
                reap_orphans();
                return Err(format!("create {id}: {e}"));
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Start { id } => {
            load(root, id)?
                .start()
                .map_err(|e| format!("start {id}: {}", chain(&e)))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::State { id } => {
            let c = load(root, id)?;
            let state = serde_json::json!({
                "ociVersion": c.state.oci_version,
                "id": c.id(),
                "pid": c.pid().map(|p| p.as_raw()).unwrap_or(0),
                "status": status_name(c.status()),
                "bundle": c.bundle(),
                "created": c.created().map(|t| t.to_rfc3339()),
                "owner": "",
            });
            let text = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = libcontainer::signal::Signal::try_from(signal.as_str())
                .map_err(|e| format!("kill {id}: {}", chain(&e)))?;
            load(root, id)?
                .kill(sig, *all)
                .map_err(|e| format!("kill {id}: {}", chain(&e)))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Pause { id } => {
            load(root, id)?
                .pause()
                .map_err(|e| format!("pause {id}: {}", chain(&e)))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Resume { id } => {
            load(root, id)?
                .resume()
                .map_err(|e| format!("resume {id}: {}", chain(&e)))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Delete { force, id } => {
            if !root.join(id).exists() {
                // runc: deleting what is gone succeeds only when forced.
                return if *force {
                    Ok(ExitCode::SUCCESS)
                } else {
                    Err(format!("delete {id}: container does not exist"))
                };
            }
            load(root, id)?
                .delete(*force)
                .map_err(|e| format!("delete {id}: {}", chain(&e)))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Exec {
            process,
            detach,
            pid_file,
            console_socket,
            cwd,
            env,
            preserve_fds,
            id,
            command,
        } => exec(
            root,
            id,
            ExecOptions {
                process: process.as_deref(),
                detach: *detach,
                pid_file: pid_file.as_deref(),
                console_socket: console_socket.as_deref(),
                cwd: cwd.as_deref(),
                env,
                preserve_fds: *preserve_fds,
                command,
            },
        ),
        Cmd::Ps { format, id } => {
            let c = load(root, id)?;
            let cfg = c.spec().map_err(|e| format!("ps {id}: {}", chain(&e)))?;
            let cgroup = cfg.cgroup_path.to_string_lossy().into_owned();
            let pids = super::cgroups::procs(Path::new(super::cgroups::DEFAULT_ROOT), &cgroup)
                .map_err(|e| format!("ps {id}: {e}"))?;
            match format.as_str() {
                "json" => {
                    let text = serde_json::to_string(&pids).map_err(|e| e.to_string())?;
                    println!("{text}");
                }
                "table" => {
                    println!("PID");
                    for p in pids {
                        println!("{p}");
                    }
                }
                other => return Err(format!("ps {id}: invalid format {other:?}")),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The bundle's `disableOOMKiller`, which libcontainer 0.7 does not pass
/// to its cgroup manager (it always writes `memory.oom_control` = 0),
/// written into the container's cgroup as runc and crun do on cgroup v1.
fn apply_disable_oom_killer(bundle: &Path, id: &str) -> Result<(), String> {
    let config = bundle.join("config.json");
    let spec = Spec::load(&config).map_err(|e| format!("reading {}: {e}", config.display()))?;
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let disable = linux
        .resources()
        .as_ref()
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    if !disable {
        return Ok(());
    }
    let cgroup_path = linux
        .cgroups_path()
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| super::cgroups::container_path(id));
    let root = Path::new(super::cgroups::DEFAULT_ROOT);
    if !super::cgroups::disable_oom_killer(root, &cgroup_path, id).map_err(|e| e.to_string())? {
        tracing::warn!("{id}: cgroup v2 has no memory.oom_control; disableOOMKiller ignored");
    }
    Ok(())
}

fn create_root(root: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| format!("state root {}: {e}", root.display()))
}

fn discard(root: &Path, id: &str) {
    let dir = root.join(id);
    if let Ok(mut c) = Container::load(dir.clone()) {
        let _ = c.delete(true);
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn load(root: &Path, id: &str) -> Result<Container, String> {
    let dir = root.join(id);
    if !dir.exists() {
        return Err(format!("container {id} does not exist"));
    }
    Container::load(dir).map_err(|e| format!("container {id}: {}", chain(&e)))
}

fn status_name(s: ContainerStatus) -> &'static str {
    match s {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

struct ExecOptions<'a> {
    process: Option<&'a Path>,
    detach: bool,
    pid_file: Option<&'a Path>,
    console_socket: Option<&'a Path>,
    cwd: Option<&'a Path>,
    env: &'a [String],
    preserve_fds: i32,
    command: &'a [String],
}

fn exec(root: &Path, id: &str, o: ExecOptions<'_>) -> Result<ExitCode, String> {
    use nix::sys::wait::{waitpid, WaitStatus};
    let err = |e: &dyn std::error::Error| format!("exec {id}: {}", chain(e));
    if o.process.is_none() && o.command.is_empty() {
        return Err(format!("exec {id}: give --process or a command"));
    }
    // The process is forked by a short-lived intermediate; as a subreaper
    // we inherit it, so we can report its exit status (as runc does without
    // --detach) and reap what a failed exec leaves. Detached, it moves on to
    // the caller's subreaper when we exit.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| err(&e))?;
    let env = o
        .env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let pid = ContainerBuilder::new(id.to_owned(), SyscallType::default())
        .with_executor(WharfExecutor)
        .with_root_path(root)
        .and_then(|b| b.with_pid_file(o.pid_file))
        .map_err(|e| err(&e))?
        .with_console_socket(o.console_socket)
        .with_preserved_fds(o.preserve_fds)
        .validate_id()
        .map_err(|e| err(&e))?
        .as_tenant()
        .with_detach(o.detach)
        .with_process(o.process)
        .with_cwd(o.cwd)
        .with_env(env)
        .with_container_args(o.command.to_vec())
        .build()
        .map_err(|e| {
            reap_orphans();
            err(&e)
        })?;
    if o.detach {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        // libcontainer uses another nix version; its Pid is not ours.
        match waitpid(nix::unistd::Pid::from_raw(pid.as_raw()), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(ExitCode::from(code as u8)),
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                return Ok(ExitCode::from(128u8.wrapping_add(sig as u8)))
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(err(&e)),
        }
    }
}

/// After a failed create or exec, libcontainer's intermediate and init
/// processes may still be exiting; they are our children (we are a
/// subreaper). Reap them, so they neither reach the caller as unknown
/// zombies nor keep a container's pid namespace from tearing down (its pid
/// 1 cannot finish exiting while a zombie in it is unreaped).
/// What libcgroups raises RLIMIT_MEMLOCK to before it loads the cgroup v2
/// device filter.
const BPF_MEMLOCK: libc::rlim_t = 128 << 20;

/// On a cgroup v2 host the device cgroup is an eBPF program (without it a
/// container could mknod and read a host disk). libcgroups first raises
/// RLIMIT_MEMLOCK to 128 MiB, which fails without CAP_SYS_RESOURCE when the
/// hard limit is lower, deep inside create and in words that do not help;
/// say why up front, and what runs instead. v1 and hybrid hosts use the v1
/// devices controller and need nothing of this.
fn device_filter_ready(
    mode: Option<super::cgroups::CgroupMode>,
    raise_memlock: impl FnOnce() -> bool,
) -> Result<(), String> {
    if mode != Some(super::cgroups::CgroupMode::Unified) || raise_memlock() {
        return Ok(());
    }
    Err(
        "on this cgroup v2 host the built-in runtime enforces the device cgroup with an eBPF \
         program, and loading it needs RLIMIT_MEMLOCK raised to 128 MiB, which wharf may not do \
         here (no CAP_SYS_RESOURCE); run the container with --runtime crun or --runtime runc"
            .into(),
    )
}

/// The same raise libcgroups makes; this process is the short-lived
/// `create`, and the container gets its own limits from the bundle.
fn raise_memlock() -> bool {
    let lim = libc::rlimit {
        rlim_cur: BPF_MEMLOCK,
        rlim_max: BPF_MEMLOCK,
    };
    // SAFETY: a valid rlimit struct for the call's duration.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) == 0 }
}

fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                if std::time::Instant::now() > deadline {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return, // ECHILD: none left
        }
    }
}

/// libcontainer's default workload, with runc's checks and words for a
/// command that cannot run, so callers recognise them whichever runtime ran.
#[derive(Clone)]
struct WharfExecutor;

impl Executor for WharfExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let Some(process) = spec.process() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "spec has no process".into(),
            ));
        };
        let Some(arg0) = process.args().as_ref().and_then(|a| a.first()) else {
            return Err(ExecutorValidationError::ArgValidationError(
                "process has no args".into(),
            ));
        };
        let path_var = process
            .env()
            .as_ref()
            .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")))
            .unwrap_or("");
        // This runs inside the container, after pivot_root: paths are the
        // container's.
        check_executable(arg0, path_var).map_err(ExecutorValidationError::ArgValidationError)
    }
}

/// runc's lookup: a name with a slash is used as is, others are searched
/// in the container's PATH.
fn check_executable(arg0: &str, path_var: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let not_found = || format!("exec: {arg0:?}: executable file not found in $PATH");
    let candidate = if arg0.contains('/') {
        PathBuf::from(arg0)
    } else {
        path_var
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(arg0))
            .find(|p| p.metadata().map(|m| m.is_file()).unwrap_or(false))
            .ok_or_else(not_found)?
    };
    match candidate.metadata() {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(format!("exec: {arg0:?}: permission denied")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("exec: {arg0:?}: no such file or directory"))
        }
        Err(e) => Err(format!("exec: {arg0:?}: {e}")),
    }
}

/// Now as RFC 3339 UTC with seconds, without a date crate.
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cgroups::CgroupMode;

    #[test]
    fn builtin_refuses_a_v2_host_where_the_device_filter_cannot_load() {
        // v1 and hybrid: the v1 devices controller; the limit is not touched.
        for mode in [Some(CgroupMode::Legacy), Some(CgroupMode::Hybrid), None] {
            assert_eq!(
                device_filter_ready(mode, || panic!("raised on {mode:?}")),
                Ok(())
            );
        }
        assert_eq!(
            device_filter_ready(Some(CgroupMode::Unified), || true),
            Ok(())
        );
        let err = device_filter_ready(Some(CgroupMode::Unified), || false).unwrap_err();
        assert!(err.contains("--runtime crun"), "{err}");
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
    }

    #[test]
    fn memlock_raise_works_exactly_when_this_process_may_raise_it() {
        // CAP_SYS_RESOURCE (bit 24) or a hard limit already high enough.
        // A refused setrlimit changes nothing; an allowed one only sets what
        // libcgroups would set in the runtime process anyway.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let cap_eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap();
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid out pointer.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) },
            0
        );
        let expected = cap_eff & (1 << 24) != 0 || cur.rlim_max >= BPF_MEMLOCK;
        assert_eq!(raise_memlock(), expected);
    }

    #[test]
    fn executable_checks_use_runc_words() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let exe = bin.join("tool");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let plain = bin.join("data");
        std::fs::write(&plain, "x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = bin.to_str().unwrap();
        assert_eq!(check_executable("tool", path), Ok(()));
        assert_eq!(
            check_executable("nosuch", path),
            Err("exec: \"nosuch\": executable file not found in $PATH".into())
        );
        assert_eq!(
            check_executable(plain.to_str().unwrap(), path),
            Err(format!(
                "exec: {:?}: permission denied",
                plain.to_str().unwrap()
            ))
        );
        // A directory is not executable either.
        assert_eq!(
            check_executable(bin.to_str().unwrap(), path),
            Err(format!("exec: {path:?}: permission denied"))
        );
    }

    #[test]
    fn rfc3339_has_the_right_shape() {
        let t = rfc3339_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20"), "{t}");
        assert!(t.ends_with('Z'));
    }
}
