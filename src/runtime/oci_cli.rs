//! One driver for every OCI runtime: `crun`, `runc`, and wharf's built-in
//! runtime (`wharf oci-runtime`, see [`super::native`]) are all run through
//! the runc command line (`create`, `start`, `state`, `kill`, `pause`,
//! `resume`, `delete`, `exec`, `ps`), so they are interchangeable and
//! checkable against each other.
//!
//! # Who waits for the container
//!
//! `create` (and a detached `exec`) return once the runtime process has
//! exited; the container's first process then no longer has a parent that
//! will wait for it. The kernel hands it to the nearest ancestor marked
//! `PR_SET_CHILD_SUBREAPER`. The caller of [`OciRuntime::create`] and
//! [`OciRuntime::exec`], or an ancestor of it, must therefore be a
//! subreaper ([`become_subreaper`]) and `waitpid()` the returned pid to get
//! the exit status (exit code, or 128+signal as Docker reports it): a
//! detached container's shim (`supervise::shim`), the foreground `run`
//! itself. This holds for runc, crun and the built-in runtime alike
//! (tests/backends.rs checks it for all three).
//!
//! # Errors
//!
//! Runtimes are run with `--log <memfd> --log-format json`; their error
//! lines become the message of [`OciError::Failed`], prefixed with the
//! runtime's name. Failures to start the process itself are mapped to
//! Docker's words and exit codes ([`OciError::ExecNotFound`] → 127,
//! [`OciError::ExecPermission`] → 126).

use crate::sys::path_error::{IoAt, PathError};
use serde::Deserialize;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a runtime may take to send the pty master before we give up.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("runtime {name:?} not found in $PATH")]
    RuntimeNotFound { name: String },
    #[error("{runtime}: cannot run {binary}: {source}")]
    Spawn {
        runtime: String,
        binary: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The runtime said no; `message` is what it logged (or printed).
    #[error("{runtime} {op} {id}: {message}")]
    Failed {
        runtime: String,
        op: &'static str,
        id: String,
        message: String,
        status: ExitStatus,
    },
    /// Docker's message for a command that is not in the image (exit 127).
    #[error("exec: \"{executable}\": executable file not found in $PATH")]
    ExecNotFound {
        runtime: String,
        id: String,
        executable: String,
        /// What the runtime said, for logs.
        message: String,
    },
    /// Docker's message for a command that cannot be executed (exit 126).
    #[error("exec: \"{executable}\": permission denied")]
    ExecPermission {
        runtime: String,
        id: String,
        executable: String,
        message: String,
    },
    #[error("{runtime} {op} {id}: {source}")]
    Io {
        runtime: String,
        op: &'static str,
        id: String,
        #[source]
        source: PathError,
    },
    #[error("{runtime} {op} {id}: unexpected output {output:?}: {reason}")]
    BadOutput {
        runtime: String,
        op: &'static str,
        id: String,
        output: String,
        reason: String,
    },
    #[error("{runtime} {op} {id}: no pseudo-terminal received on {path}: {reason}")]
    Console {
        runtime: String,
        op: &'static str,
        id: String,
        path: PathBuf,
        reason: String,
    },
}

impl OciError {
    /// The exit code Docker uses when a container's command cannot start.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            OciError::ExecNotFound { .. } => Some(127),
            OciError::ExecPermission { .. } => Some(126),
            _ => None,
        }
    }
}

/// The container's status as the runtime reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

/// What `<runtime> state <id>` prints (the OCI state, plus extras we ignore).
#[derive(Clone, Debug, Deserialize)]
pub struct State {
    pub id: String,
    pub status: Status,
    /// `None` once stopped (runtimes print 0 then).
    #[serde(default, deserialize_with = "pid_or_none")]
    pub pid: Option<u32>,
    pub bundle: PathBuf,
}

fn pid_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let pid = Option::<u32>::deserialize(d)?;
    Ok(pid.filter(|p| *p != 0))
}

/// Where the container's standard streams go.
pub enum ProcessIo<'a> {
    /// The process gets these three descriptors as fd 0, 1, 2 (pipes,
    /// /dev/null, a log file…).
    Inherit {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// The process gets a new pseudo-terminal; the runtime sends its master
    /// end over this socket, and [`Started::pty`] carries it back.
    Console(&'a ConsoleSocket),
}

/// A process that a runtime set up.
#[derive(Debug)]
pub struct Started {
    /// Its pid in our pid namespace; `waitpid()` it as a subreaper.
    pub pid: u32,
    /// The pseudo-terminal master, with [`ProcessIo::Console`].
    pub pty: Option<OwnedFd>,
}

/// An OCI runtime driven through its command line.
#[derive(Clone, Debug)]
pub struct OciRuntime {
    binary: PathBuf,
    /// Arguments before the global flags (`oci-runtime` for wharf itself).
    prefix: Vec<OsString>,
    state_root: PathBuf,
    name: String,
}

static SCRATCH: AtomicU64 = AtomicU64::new(0);

/// Per-call scratch directory (pid files, process.json), removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> io::Result<Scratch> {
        let n = SCRATCH.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wharf-oci-{}-{n}", std::process::id()));
        create_fresh(&dir)?;
        Ok(Scratch(dir))
    }
}

/// Makes the empty directory `dir`. One already there was left by an
/// earlier process with our pid that was killed: the name is ours now
/// (our pid, our counter), so it is stale and is replaced.
fn create_fresh(dir: &Path) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_dir_all(dir)?;
            std::fs::create_dir(dir)
        }
        other => other,
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An in-memory file the runtime writes its log (or output) to. It lives in
/// memory so nothing is left on disk and reading it never blocks on a
/// container that inherited it.
struct MemFile {
    file: File,
}

impl MemFile {
    fn new(name: &str) -> io::Result<MemFile> {
        use nix::sys::memfd::{memfd_create, MFdFlags};
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC).map_err(io::Error::from)?;
        Ok(MemFile {
            file: File::from(fd),
        })
    }

    /// A path the child can open to reach the same file.
    fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.file.as_raw_fd()
        ))
    }

    fn stdio(&self) -> io::Result<Stdio> {
        Ok(Stdio::from(self.file.try_clone()?))
    }

    fn contents(&mut self) -> String {
        let mut s = String::new();
        if self.file.rewind().is_ok() {
            let _ = self.file.read_to_string(&mut s);
        }
        s
    }
}

/// The error lines of a runtime's log: JSON lines (`{"level":"error",
/// "msg":…}`) from `--log-format json`, or plain text as a fallback.
fn log_message(log: &str, stderr: &str) -> String {
    #[derive(Deserialize)]
    struct Line {
        #[serde(default)]
        level: String,
        #[serde(default)]
        msg: String,
    }
    let mut errors = Vec::new();
    for line in log.lines() {
        match serde_json::from_str::<Line>(line) {
            Ok(l) if l.level == "error" || l.level == "fatal" => errors.push(l.msg),
            Ok(_) => {}
            Err(_) if !line.trim().is_empty() => errors.push(line.trim().to_owned()),
            Err(_) => {}
        }
    }
    if errors.is_empty() {
        let s = stderr.trim();
        if s.is_empty() {
            return "failed without a message".to_owned();
        }
        return s.to_owned();
    }
    errors.join("; ")
}

/// Recognises "cannot start the process" in what runc, crun and wharf's
/// built-in runtime say, so the user sees Docker's message whichever ran.
fn classify_exec_failure(message: &str) -> Option<bool /* not found */> {
    let m = message.to_ascii_lowercase();
    if m.contains("executable file not found in $path")
        || (m.contains("executable file `") && m.contains("not found in $path"))
        || m.contains("no such file or directory: exec")
    {
        return Some(true);
    }
    if (m.contains("exec: \"") && m.contains("\": permission denied"))
        || m.contains("open executable: permission denied")
        || m.contains("open executable: operation not permitted")
    {
        return Some(false);
    }
    None
}

/// The process's argv\[0\] from a bundle's config.json, for error messages.
fn bundle_executable(bundle: &Path) -> Option<String> {
    let spec = oci_spec::runtime::Spec::load(bundle.join("config.json")).ok()?;
    spec.process().as_ref()?.args().as_ref()?.first().cloned()
}

/// Marks the calling process as a child subreaper, so container processes
/// whose runtime has exited become its children (see the module docs).
/// The cgroup2 controller list of a hybrid host.
const HYBRID_CONTROLLERS: &str = "/sys/fs/cgroup/unified/cgroup.controllers";

/// A hybrid host (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified)
/// where some controller sits in the cgroup2 mount.
fn crun_refuses_this_hybrid_host() -> bool {
    matches!(
        super::cgroups::detect(Path::new("/sys/fs/cgroup")),
        Ok(super::cgroups::CgroupMode::Hybrid)
    ) && std::fs::read_to_string(HYBRID_CONTROLLERS).is_ok_and(|c| !c.trim().is_empty())
}

pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

impl OciRuntime {
    /// wharf's own runtime: this executable with `oci-runtime`.
    pub fn builtin(state_root: impl Into<PathBuf>) -> Result<Self, OciError> {
        let binary = std::env::current_exe().map_err(|source| OciError::Spawn {
            runtime: "wharf".into(),
            binary: "/proc/self/exe".into(),
            source,
        })?;
        Ok(Self::wharf_at(binary, state_root))
    }

    /// wharf's runtime from a given wharf executable (tests, or a caller
    /// that is not the wharf binary itself).
    pub fn wharf_at(wharf: impl Into<PathBuf>, state_root: impl Into<PathBuf>) -> Self {
        OciRuntime {
            binary: wharf.into(),
            prefix: vec!["oci-runtime".into()],
            state_root: state_root.into(),
            name: "wharf".into(),
        }
    }

    /// `crun`, `runc` (looked up in `$PATH`), `wharf`/`builtin`, or a path
    /// to any runc-compatible binary.
    pub fn named(name_or_path: &str, state_root: impl Into<PathBuf>) -> Result<Self, OciError> {
        if name_or_path == "wharf" || name_or_path == "builtin" {
            return Self::builtin(state_root);
        }
        let binary = if name_or_path.contains('/') {
            let p = PathBuf::from(name_or_path);
            if !p.is_file() {
                return Err(OciError::RuntimeNotFound {
                    name: name_or_path.into(),
                });
            }
            p
        } else {
            find_in_path(name_or_path).ok_or_else(|| OciError::RuntimeNotFound {
                name: name_or_path.into(),
            })?
        };
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name_or_path.to_owned());
        if name == "crun" && crun_refuses_this_hybrid_host() {
            // crun 1.8 refuses a hybrid host whose cgroup2 mount carries
            // controllers ("cgroups in hybrid mode not supported"). On such
            // hosts runc, libcontainer and Docker manage cgroups through
            // v1, so crun is run in a private mount namespace where the
            // cgroup2 controller list reads empty: it then does the same.
            // Nothing outside that short-lived namespace changes.
            let unshare = find_in_path("unshare").ok_or_else(|| OciError::RuntimeNotFound {
                name: "unshare (needed to run crun on this hybrid cgroup host)".into(),
            })?;
            return Ok(OciRuntime {
                binary: unshare,
                prefix: vec![
                    "--mount".into(),
                    "--propagation".into(),
                    "private".into(),
                    "/bin/sh".into(),
                    "-c".into(),
                    format!("mount --bind /dev/null {HYBRID_CONTROLLERS} && exec \"$0\" \"$@\"")
                        .into(),
                    binary.into_os_string(),
                ],
                state_root: state_root.into(),
                name,
            });
        }
        Ok(OciRuntime {
            binary,
            prefix: Vec::new(),
            state_root: state_root.into(),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state_root(&self) -> &Path {
        &self.state_root
    }

    fn command(&self, log: &MemFile) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.prefix)
            .arg("--root")
            .arg(&self.state_root)
            .arg("--log")
            .arg(log.path())
            .args(["--log-format", "json"]);
        cmd
    }

    /// `op` on container `id` failed on a file of ours.
    fn file_err(&self, op: &'static str, id: &str, source: PathError) -> OciError {
        OciError::Io {
            runtime: self.name.clone(),
            op,
            id: id.into(),
            source,
        }
    }

    fn spawn_err(&self, source: io::Error) -> OciError {
        OciError::Spawn {
            runtime: self.name.clone(),
            binary: self.binary.clone(),
            source,
        }
    }

    fn failure(
        &self,
        op: &'static str,
        id: &str,
        status: ExitStatus,
        log: &mut MemFile,
        stderr: &str,
        executable: Option<String>,
    ) -> OciError {
        let message = log_message(&log.contents(), stderr);
        let (runtime, id) = (self.name.clone(), id.to_owned());
        match (classify_exec_failure(&message), executable) {
            (Some(true), Some(executable)) => OciError::ExecNotFound {
                runtime,
                id,
                executable,
                message,
            },
            (Some(false), Some(executable)) => OciError::ExecPermission {
                runtime,
                id,
                executable,
                message,
            },
            _ => OciError::Failed {
                runtime,
                op,
                id,
                message,
                status,
            },
        }
    }

    /// Runs a short command (no container stdio involved) and returns its
    /// standard output.
    fn simple(&self, op: &'static str, id: &str, args: &[&OsStr]) -> Result<String, OciError> {
        let mut log = MemFile::new("wharf-oci-log").map_err(|e| self.spawn_err(e))?;
        let mut out = MemFile::new("wharf-oci-out").map_err(|e| self.spawn_err(e))?;
        let mut err = MemFile::new("wharf-oci-err").map_err(|e| self.spawn_err(e))?;
        let mut cmd = self.command(&log);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out.stdio().map_err(|e| self.spawn_err(e))?)
            .stderr(err.stdio().map_err(|e| self.spawn_err(e))?);
        let status = cmd.status().map_err(|e| self.spawn_err(e))?;
        if !status.success() {
            let stderr = err.contents();
            return Err(self.failure(op, id, status, &mut log, &stderr, None));
        }
        Ok(out.contents())
    }

    /// Creates the container from `bundle` (the process waits for
    /// [`Self::start`]). Returns its pid; see the module docs for who
    /// must wait for it.
    pub fn create(&self, id: &str, bundle: &Path, io: ProcessIo<'_>) -> Result<Started, OciError> {
        let scratch = Scratch::new()
            .at("scratch dir", std::env::temp_dir())
            .map_err(|e| self.file_err("create", id, e))?;
        let pid_file = scratch.0.join("pid");
        let mut args: Vec<OsString> = vec![
            "create".into(),
            "--bundle".into(),
            bundle.into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        if let ProcessIo::Console(sock) = &io {
            args.extend(["--console-socket".into(), sock.path().into()]);
        }
        args.push(id.into());
        self.run_setup("create", id, &args, io, &pid_file, || {
            bundle_executable(bundle)
        })
    }

    /// Starts a created container's process.
    pub fn start(&self, id: &str) -> Result<(), OciError> {
        self.simple("start", id, &["start".as_ref(), id.as_ref()])
            .map(drop)
    }

    /// The container's state, or `None` when the runtime does not know it.
    pub fn state(&self, id: &str) -> Result<Option<State>, OciError> {
        if !self.state_root.join(id).exists() {
            return Ok(None);
        }
        let out = match self.simple("state", id, &["state".as_ref(), id.as_ref()]) {
            Ok(out) => out,
            // Deleted between the check and the call.
            Err(_) if !self.state_root.join(id).exists() => return Ok(None),
            Err(e) => return Err(e),
        };
        serde_json::from_str(&out)
            .map(Some)
            .map_err(|e| OciError::BadOutput {
                runtime: self.name.clone(),
                op: "state",
                id: id.into(),
                output: out.clone(),
                reason: e.to_string(),
            })
    }

    /// Sends `signal` to the container's first process, or with `all` to
    /// every process in its cgroup.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<(), OciError> {
        let sig = signal.to_string();
        let mut args: Vec<&OsStr> = vec!["kill".as_ref()];
        if all {
            args.push("--all".as_ref());
        }
        args.extend([id.as_ref(), sig.as_ref() as &OsStr]);
        self.simple("kill", id, &args).map(drop)
    }

    /// Freezes every process of the container (the cgroup freezer: v1's
    /// `freezer.state`, v2's `cgroup.freeze`), as `docker pause` does.
    pub fn pause(&self, id: &str) -> Result<(), OciError> {
        self.simple("pause", id, &["pause".as_ref(), id.as_ref()])
            .map(drop)
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<(), OciError> {
        self.simple("resume", id, &["resume".as_ref(), id.as_ref()])
            .map(drop)
    }

    /// Removes the container's runtime state and cgroups; `force` kills
    /// it first if it still runs. A container the runtime does not know is
    /// already deleted: `Ok`.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), OciError> {
        if !self.state_root.join(id).exists() {
            return Ok(());
        }
        let mut args: Vec<&OsStr> = vec!["delete".as_ref()];
        if force {
            args.push("--force".as_ref());
        }
        args.push(id.as_ref());
        match self.simple("delete", id, &args) {
            Err(_) if !self.state_root.join(id).exists() => Ok(()),
            r => r.map(drop),
        }
    }

    /// Starts another process in the running container (`docker exec`),
    /// detached: the caller, a subreaper, waits for the returned pid.
    pub fn exec(
        &self,
        id: &str,
        process: &oci_spec::runtime::Process,
        io: ProcessIo<'_>,
    ) -> Result<Started, OciError> {
        let scratch = Scratch::new()
            .at("scratch dir", std::env::temp_dir())
            .map_err(|e| self.file_err("exec", id, e))?;
        let process_file = scratch.0.join("process.json");
        let json = serde_json::to_vec(process)
            .map_err(io::Error::other)
            .at("writing", &process_file)
            .map_err(|e| self.file_err("exec", id, e))?;
        std::fs::write(&process_file, json)
            .at("writing", &process_file)
            .map_err(|e| self.file_err("exec", id, e))?;
        let pid_file = scratch.0.join("pid");
        let mut args: Vec<OsString> = vec![
            "exec".into(),
            "--process".into(),
            process_file.into(),
            "--detach".into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        if let ProcessIo::Console(sock) = &io {
            args.extend(["--console-socket".into(), sock.path().into()]);
        }
        args.push(id.into());
        let executable = process.args().as_ref().and_then(|a| a.first().cloned());
        self.run_setup("exec", id, &args, io, &pid_file, || executable)
    }

    /// Pids of every process in the container (its cgroup).
    pub fn pids(&self, id: &str) -> Result<Vec<u32>, OciError> {
        let out = self.simple(
            "ps",
            id,
            &[
                "ps".as_ref(),
                "--format".as_ref(),
                "json".as_ref(),
                id.as_ref(),
            ],
        )?;
        let bad = |reason: String| OciError::BadOutput {
            runtime: self.name.clone(),
            op: "ps",
            id: id.into(),
            output: out.clone(),
            reason,
        };
        // runc prints `null` for no processes.
        let pids: Option<Vec<u32>> = serde_json::from_str(&out).map_err(|e| bad(e.to_string()))?;
        Ok(pids.unwrap_or_default())
    }

    /// `create` and `exec`: run the runtime with the container's stdio (or
    /// a console socket), collect the pty, then read the pid file.
    fn run_setup(
        &self,
        op: &'static str,
        id: &str,
        args: &[OsString],
        io: ProcessIo<'_>,
        pid_file: &Path,
        executable: impl FnOnce() -> Option<String>,
    ) -> Result<Started, OciError> {
        let mut log = MemFile::new("wharf-oci-log").map_err(|e| self.spawn_err(e))?;
        let mut err = MemFile::new("wharf-oci-err").map_err(|e| self.spawn_err(e))?;
        let mut cmd = self.command(&log);
        cmd.args(args);
        let console = match io {
            ProcessIo::Inherit {
                stdin,
                stdout,
                stderr,
            } => {
                // The runtime passes its own stdio on to the container, so
                // its error output reaches the container's stderr too; the
                // message we report comes from the log.
                cmd.stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
                None
            }
            ProcessIo::Console(sock) => {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(err.stdio().map_err(|e| self.spawn_err(e))?);
                Some(sock)
            }
        };
        let mut child = cmd.spawn().map_err(|e| self.spawn_err(e))?;
        // The command holds our copies of the container's descriptors; drop
        // them so the container alone keeps its pipes open.
        drop(cmd);
        let mut pty = None;
        let mut console_error = None;
        if let Some(sock) = console {
            match sock.receive_while(|| matches!(child.try_wait(), Ok(None))) {
                Ok(Some(fd)) => pty = Some(fd),
                Ok(None) => {} // the runtime exited first: its log says why
                Err(reason) => console_error = Some(reason),
            }
        }
        let status = child.wait().map_err(|e| self.spawn_err(e))?;
        if !status.success() {
            let stderr = err.contents();
            return Err(self.failure(op, id, status, &mut log, &stderr, executable()));
        }
        if let Some(reason) = console_error {
            return Err(self.console_err(op, id, console, reason));
        }
        if console.is_some() && pty.is_none() {
            return Err(self.console_err(
                op,
                id,
                console,
                "the runtime exited without sending one".into(),
            ));
        }
        let text = std::fs::read_to_string(pid_file)
            .at("reading pid file", pid_file)
            .map_err(|e| self.file_err(op, id, e))?;
        let pid = text.trim().parse().map_err(|_| OciError::BadOutput {
            runtime: self.name.clone(),
            op,
            id: id.into(),
            output: text.clone(),
            reason: "pid file does not hold a pid".into(),
        })?;
        Ok(Started { pid, pty })
    }

    fn console_err(
        &self,
        op: &'static str,
        id: &str,
        sock: Option<&ConsoleSocket>,
        reason: String,
    ) -> OciError {
        OciError::Console {
            runtime: self.name.clone(),
            op,
            id: id.into(),
            path: sock.map(|s| s.path().to_owned()).unwrap_or_default(),
            reason,
        }
    }
}

/// `name` in the directories of `PATH` (a default one where it is unset).
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The listening end of `--console-socket`: runtimes connect to it and send
/// the pseudo-terminal master as `SCM_RIGHTS` ancillary data.
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Listens at `path` (which must not exist; removed again on drop).
    pub fn bind(path: impl Into<PathBuf>) -> io::Result<ConsoleSocket> {
        let path = path.into();
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(ConsoleSocket { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for a runtime to send the pty master while `alive()` holds
    /// (the runtime still runs). `Ok(None)`: it stopped without sending.
    fn receive_while(&self, mut alive: impl FnMut() -> bool) -> Result<Option<OwnedFd>, String> {
        let deadline = Instant::now() + CONSOLE_TIMEOUT;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => return receive_fd(&stream).map(Some),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("accept: {e}")),
            }
            if !alive() {
                // One last look: it may have connected just before exiting.
                return match self.listener.accept() {
                    Ok((stream, _)) => receive_fd(&stream).map(Some),
                    Err(_) => Ok(None),
                };
            }
            if Instant::now() > deadline {
                return Err(format!("nothing after {CONSOLE_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn receive_fd(stream: &UnixStream) -> Result<OwnedFd, String> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(CONSOLE_TIMEOUT)))
        .map_err(|e| format!("socket setup: {e}"))?;
    // runc sends the terminal's name as the payload; we only need the fd.
    let mut buf = [0u8; 4096];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let cmsgs = msg.cmsgs().map_err(|e| format!("control message: {e}"))?;
    for cmsg in cmsgs {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            let mut owned = fds.into_iter().map(|fd| {
                // SAFETY: the kernel just installed these descriptors in our
                // table for us; nothing else owns them.
                unsafe { OwnedFd::from_raw_fd(fd) }
            });
            if let Some(first) = owned.next() {
                return Ok(first);
            }
        }
    }
    Err("message carried no file descriptor".into())
}

/// Sets the size of a pseudo-terminal (on its master), as `docker run -t`
/// does from the user's terminal.
pub fn set_window_size(pty: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid
    // for the call.
    unsafe { tiocswinsz(pty.as_fd().as_raw_fd(), &ws) }
        .map(drop)
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_dir_left_by_a_killed_process_with_our_pid_is_replaced() {
        // As a killed earlier holder of our pid would have left it.
        let tmp = tempfile::tempdir().unwrap();
        let stale = tmp.path().join("wharf-oci-1-0");
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("pid"), "1").unwrap();
        create_fresh(&stale).unwrap();
        assert!(stale.is_dir());
        assert!(!stale.join("pid").exists(), "the stale content is gone");
        let fresh = tmp.path().join("wharf-oci-1-1");
        create_fresh(&fresh).unwrap();
        assert!(fresh.is_dir());
    }

    #[test]
    fn log_message_takes_error_lines_of_json_logs() {
        let log = concat!(
            "{\"level\":\"warning\",\"msg\":\"ignored\",\"time\":\"x\"}\n",
            "{\"level\":\"error\",\"msg\":\"runc create failed: boom\",\"time\":\"x\"}\n"
        );
        assert_eq!(log_message(log, "noise"), "runc create failed: boom");
        // crun orders keys differently.
        let crun =
            "{\"msg\":\"open executable: Permission denied\",\"level\":\"error\",\"time\":\"x\"}\n";
        assert_eq!(log_message(crun, ""), "open executable: Permission denied");
        assert_eq!(log_message("", "plain stderr\n"), "plain stderr");
    }

    #[test]
    fn exec_failures_of_each_runtime_are_recognised() {
        // runc 1.1
        assert_eq!(classify_exec_failure("runc create failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH"), Some(true));
        assert_eq!(classify_exec_failure("runc create failed: unable to start container process: exec: \"/bin/\": permission denied"), Some(false));
        // crun 1.8
        assert_eq!(
            classify_exec_failure(
                "executable file `nosuch` not found in $PATH: No such file or directory"
            ),
            Some(true)
        );
        assert_eq!(
            classify_exec_failure("open executable: Permission denied"),
            Some(false)
        );
        assert_eq!(
            classify_exec_failure("open executable: Operation not permitted"),
            Some(false)
        );
        assert_eq!(
            classify_exec_failure("cgroups in hybrid mode not supported"),
            None
        );
    }

    #[test]
    fn docker_messages_and_exit_codes() {
        let e = OciError::ExecNotFound {
            runtime: "crun".into(),
            id: "c".into(),
            executable: "nosuch".into(),
            message: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "exec: \"nosuch\": executable file not found in $PATH"
        );
        assert_eq!(e.exit_code(), Some(127));
        let e = OciError::ExecPermission {
            runtime: "runc".into(),
            id: "c".into(),
            executable: "/etc".into(),
            message: String::new(),
        };
        assert_eq!(e.to_string(), "exec: \"/etc\": permission denied");
        assert_eq!(e.exit_code(), Some(126));
    }

    #[test]
    fn state_parses_runc_and_crun_output() {
        let crun = r#"{"ociVersion":"1.0.0","id":"exp1","pid":0,"status":"stopped","bundle":"/b","rootfs":"rootfs","created":"2026-11-29T17:15:13.971624Z","systemd-scope":"","owner":"root"}"#;
        let s: State = serde_json::from_str(crun).unwrap();
        assert_eq!(s.status, Status::Stopped);
        assert_eq!(s.pid, None);
        let runc = r#"{"ociVersion":"1.0.2-dev","id":"x","pid":42,"status":"running","bundle":"/b","rootfs":"/b/rootfs","created":"2026-11-29T17:15:13Z","owner":""}"#;
        let s: State = serde_json::from_str(runc).unwrap();
        assert_eq!((s.status, s.pid), (Status::Running, Some(42)));
    }

    #[test]
    fn unknown_runtime_is_a_clear_error() {
        let e = OciRuntime::named("no-such-runtime-xyz", "/tmp/x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "runtime \"no-such-runtime-xyz\" not found in $PATH"
        );
    }

    #[test]
    fn console_socket_receives_a_passed_fd_and_sets_window_size() {
        use nix::pty::openpty;
        use nix::sys::socket::{sendmsg, ControlMessage};
        let dir = tempfile::tempdir().unwrap();
        let sock = ConsoleSocket::bind(dir.path().join("console.sock")).unwrap();
        let pty = openpty(None, None).unwrap();
        let client = UnixStream::connect(sock.path()).unwrap();
        let fds = [pty.master.as_raw_fd()];
        sendmsg::<()>(
            client.as_raw_fd(),
            &[io::IoSlice::new(b"/dev/pts/x")],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
        let got = sock.receive_while(|| true).unwrap().unwrap();
        set_window_size(got.as_fd(), 33, 101).unwrap();
        // The size set through the received master shows on the slave.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
        assert_eq!(rc, 0);
        assert_eq!((ws.ws_row, ws.ws_col), (33, 101));
        let path = sock.path().to_owned();
        drop(sock);
        assert!(!path.exists());
    }

    use nix::sys::socket::MsgFlags;
}
