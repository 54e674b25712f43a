//! The three OCI runtime backends (wharf's built-in one, crun, runc) driven
//! through `runtime::oci_cli` on a real kernel, with the same bundle: exit
//! codes seen by a subreaper, signals, exec, a console, `ps`, errors, and
//! nothing left behind (state, cgroups, processes).
//!
//! Needs root; run it in a private network and mount namespace:
//! `unshare --net --mount --propagation private cargo test --test backends`.

#[path = "support/harness.rs"]
mod harness;

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{
    LinuxSeccompAction, LinuxSeccompBuilder, LinuxSyscallBuilder, ProcessBuilder, RootBuilder, Spec,
};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wharf::runtime::cgroups;
use wharf::runtime::oci_cli::{
    become_subreaper, ConsoleSocket, OciError, OciRuntime, ProcessIo, Status,
};

/// The runtimes share the test process as subreaper; one at a time keeps
/// their children and pids apart.
static SERIAL: Mutex<()> = Mutex::new(());
static SEQ: AtomicU32 = AtomicU32::new(0);
/// Every test container gets this memory limit, read back through cgroups.
const MEMORY_LIMIT: i64 = 64 << 20;

/// These tests make containers, mounts and cgroups: they run as root and
/// only inside the test harness's private network and mount namespace
/// (`scripts/with-registry`, which sets WHARF_TEST_REGISTRY).
fn skip_unless_root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIPPED: needs root");
        return true;
    }
    if std::env::var_os("WHARF_TEST_REGISTRY").is_none() {
        println!("SKIPPED: run through scripts/with-registry (private namespaces)");
        return true;
    }
    false
}

/// A bundle made by hand: busybox-static and a config.json with runc's
/// defaults (oci-spec's), independent of wharf's bundle code.
struct Bundle {
    dir: tempfile::TempDir,
}

impl Bundle {
    fn new(id: &str, args: &[&str], terminal: bool, seccomp_mkdir_eperm: bool) -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "cat", "sleep", "id", "tty", "echo", "mkdir", "ls"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let mut spec = Spec::default();
        spec.set_root(Some(
            RootBuilder::default()
                .path("rootfs")
                .readonly(false)
                .build()
                .unwrap(),
        ));
        let mut process = spec.process().clone().unwrap();
        process.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
        process.set_terminal(Some(terminal));
        spec.set_process(Some(process));
        spec.set_hostname(Some("backends".into()));
        let mut linux = spec.linux().clone().unwrap();
        linux.set_cgroups_path(Some(cgroups::container_path(id).into()));
        let mut resources = linux.resources().clone().unwrap_or_default();
        resources.set_memory(Some(
            oci_spec::runtime::LinuxMemoryBuilder::default()
                .limit(MEMORY_LIMIT)
                .build()
                .unwrap(),
        ));
        linux.set_resources(Some(resources));
        if seccomp_mkdir_eperm {
            linux.set_seccomp(Some(
                LinuxSeccompBuilder::default()
                    .default_action(LinuxSeccompAction::ScmpActAllow)
                    .architectures(vec![oci_spec::runtime::Arch::ScmpArchX86_64])
                    .syscalls(vec![LinuxSyscallBuilder::default()
                        .names(vec!["mkdir".to_string(), "mkdirat".to_string()])
                        .action(LinuxSeccompAction::ScmpActErrno)
                        .errno_ret(1u32) // EPERM
                        .build()
                        .unwrap()])
                    .build()
                    .unwrap(),
            ));
        }
        spec.set_linux(Some(linux));
        spec.save(dir.path().join("config.json")).unwrap();
        Bundle { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Deletes the container however the test ends.
struct Cleanup<'a> {
    rt: &'a OciRuntime,
    id: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.rt.delete(&self.id, true);
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap()
}

struct Stdio {
    stdin: Option<File>,
    stdout: File,
    stderr: File,
}

/// Pipes for a container; returns our ends and the container's.
fn stdio() -> (Stdio, ProcessIo<'static>) {
    let (in_r, in_w) = pipe();
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    (
        Stdio {
            stdin: Some(File::from(in_w)),
            stdout: File::from(out_r),
            stderr: File::from(err_r),
        },
        ProcessIo::Inherit {
            stdin: in_r,
            stdout: out_w,
            stderr: err_w,
        },
    )
}

fn read_all(mut f: &File) -> String {
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

/// Waits as the subreaper for `pid` and returns the exit code the way
/// Docker reports it (128+signal when killed).
fn wait_exit(pid: u32) -> i32 {
    let pid = Pid::from_raw(pid as i32);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => {}
            Err(e) => panic!("waitpid {pid}: {e} (not our child: subreaper did not work)"),
        }
        if Instant::now() > deadline {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            eprintln!("STUCK {pid} {cmd:?} wchan={wchan}\n{status}");
            let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                if std::fs::read_link(e.path().join("ns/pid")).ok() == ns {
                    let st = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                    eprintln!("IN-NS {st}");
                }
            }
            let me = std::process::id();
            eprintln!("ME {me}");
            for e in std::fs::read_dir("/proc").unwrap().flatten() {
                let st = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                if st.contains(&format!(") Z {me} "))
                    || st.split(' ').nth(3) == Some(&me.to_string())
                {
                    eprintln!("CHILD {st}");
                }
            }
            let _ = kill(pid, Signal::SIGKILL);
            panic!("pid {pid} did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Everything a terminal's program printed, until it closed the terminal.
fn read_pty(pty: OwnedFd) -> String {
    let mut master = File::from(pty);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // EIO: the terminal's last user closed it.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) => panic!("reading the pty: {e}"),
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}

fn gone(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_err()
}

fn assert_nothing_left(rt: &OciRuntime, id: &str, pids: &[u32]) {
    assert!(
        rt.state(id).unwrap().is_none(),
        "{}: {id} still known",
        rt.name()
    );
    assert!(
        !rt.state_root().join(id).exists(),
        "{}: state of {id} left in {}",
        rt.name(),
        rt.state_root().display()
    );
    let left: Vec<_> = cgroups::leftovers(Path::new(cgroups::DEFAULT_ROOT))
        .into_iter()
        .filter(|p| p.ends_with(id))
        .collect();
    assert!(left.is_empty(), "{}: cgroups left: {left:?}", rt.name());
    let own = harness::cgroups_of(&[id]);
    assert!(own.is_empty(), "{}: cgroups left: {own:?}", rt.name());
    for p in pids {
        assert!(gone(*p), "{}: process {p} of {id} still alive", rt.name());
    }
    let strays = children();
    assert!(
        strays.is_empty(),
        "{}: processes handed to the subreaper and never reported: {strays:?}",
        rt.name()
    );
}

/// Our child processes (zombies included), from /proc.
fn children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        if rest.split_whitespace().nth(1) == Some(me.as_str()) {
            found.push(stat.trim().to_owned());
        }
    }
    found
}

fn new_id(rt: &OciRuntime, what: &str) -> String {
    format!(
        "wt-{}-{what}-{}-{}",
        rt.name(),
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// crun 1.8 refuses a hybrid host whose cgroup2 mount has controllers
/// (here hugetlb). In the test's private mount namespace only, hide that
/// list so crun treats the host as the v1 host it is for limits.
struct HideUnifiedControllers(Option<PathBuf>);

impl HideUnifiedControllers {
    fn new(scratch: &Path) -> Result<Self, String> {
        let file = Path::new(cgroups::DEFAULT_ROOT).join("unified/cgroup.controllers");
        let controllers = std::fs::read_to_string(&file).unwrap_or_default();
        if controllers.trim().is_empty() {
            return Ok(HideUnifiedControllers(None));
        }
        let own = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| e.to_string())?;
        let init = std::fs::read_link("/proc/1/ns/mnt").map_err(|e| e.to_string())?;
        if own == init {
            return Err(format!(
                "crun 1.8 cannot run on this hybrid host (cgroup2 has controllers: {}) \
                 and the test is not in a private mount namespace to work around it",
                controllers.trim()
            ));
        }
        let empty = scratch.join("empty-controllers");
        std::fs::write(&empty, "").map_err(|e| e.to_string())?;
        nix::mount::mount(
            Some(&empty),
            &file,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind over {}: {e}", file.display()))?;
        Ok(HideUnifiedControllers(Some(file)))
    }
}

impl Drop for HideUnifiedControllers {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            let _ = nix::mount::umount2(f, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn runtime(name: &str, state: &Path) -> Option<OciRuntime> {
    if name == "wharf" {
        return Some(OciRuntime::wharf_at(env!("CARGO_BIN_EXE_wharf"), state));
    }
    match OciRuntime::named(name, state) {
        Ok(rt) => Some(rt),
        Err(e) => panic!("{name}: {e} (apt-get install -y crun runc)"),
    }
}

/// Everything the brief asks of a backend, for one runtime.
fn exercise(name: &str) {
    if skip_unless_root() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    become_subreaper().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let _hide = if name == "crun" {
        match HideUnifiedControllers::new(scratch.path()) {
            Ok(h) => Some(h),
            Err(reason) => {
                println!("SKIPPED: {reason}");
                return;
            }
        }
    } else {
        None
    };
    let state = scratch.path().join("state");
    let rt = runtime(name, &state).unwrap();

    // 1. stdin/stdout/stderr through pipes, exit code 3 via waitpid.
    let id = new_id(&rt, "exit");
    let bundle = Bundle::new(
        &id,
        &["sh", "-c", "read l; echo \"got $l\"; echo oops >&2; exit 3"],
        false,
        false,
    );
    let guard = Cleanup {
        rt: &rt,
        id: id.clone(),
    };
    let (mut ours, theirs) = stdio();
    let started = rt.create(&id, bundle.path(), theirs).unwrap();
    let st = rt.state(&id).unwrap().expect("created container is known");
    assert_eq!(st.status, Status::Created);
    assert_eq!(st.pid, Some(started.pid));
    rt.start(&id).unwrap();
    {
        let mut stdin = ours.stdin.take().unwrap();
        stdin.write_all(b"piped-in\n").unwrap();
    }
    assert_eq!(read_all(&ours.stdout), "got piped-in\n");
    assert_eq!(read_all(&ours.stderr), "oops\n");
    assert_eq!(wait_exit(started.pid), 3);
    assert_eq!(rt.state(&id).unwrap().unwrap().status, Status::Stopped);
    rt.delete(&id, false).unwrap();
    drop(guard);
    assert_nothing_left(&rt, &id, &[started.pid]);

    // 2. A long-running container: ps, exec, SIGTERM handled by the process.
    let id = new_id(&rt, "run");
    let bundle = Bundle::new(
        &id,
        &[
            "sh",
            "-c",
            "trap 'echo term; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ],
        false,
        false,
    );
    let guard = Cleanup {
        rt: &rt,
        id: id.clone(),
    };
    let (mut ours, theirs) = stdio();
    drop(ours.stdin.take());
    let started = rt.create(&id, bundle.path(), theirs).unwrap();
    rt.start(&id).unwrap();
    let mut ready = [0u8; 6];
    ours.stdout.read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    assert_eq!(rt.state(&id).unwrap().unwrap().status, Status::Running);
    let pids = rt.pids(&id).unwrap();
    assert!(
        pids.contains(&started.pid),
        "ps {pids:?} lacks {}",
        started.pid
    );
    // The runtime put it in /wharf/<id>, where `wharf stats` reads it.
    assert!(
        !harness::cgroups_of(&[&id]).is_empty(),
        "{name}: no cgroup /wharf/{id}"
    );
    let stats = cgroups::stats(
        Path::new(cgroups::DEFAULT_ROOT),
        &cgroups::container_path(&id),
        &id,
    )
    .unwrap();
    assert_eq!(
        stats.memory_limit,
        Some(MEMORY_LIMIT as u64),
        "{name}: {stats:?}"
    );
    assert!(stats.memory_usage > 0, "{name}: {stats:?}");
    assert!(stats.cpu_usage_ns > 0, "{name}: {stats:?}");
    assert!(stats.pids_current >= 1, "{name}: {stats:?}");

    // exec: its own pipes and exit code.
    let (eours, etheirs) = stdio();
    drop(eours.stdin);
    let process = ProcessBuilder::default()
        .args(vec![
            "sh".into(),
            "-c".into(),
            "echo exec-out; id -u; exit 5".into(),
        ])
        .env(vec!["PATH=/bin".into()])
        .cwd("/")
        .build()
        .unwrap();
    let exec = rt.exec(&id, &process, etheirs).unwrap();
    assert_eq!(read_all(&eours.stdout), "exec-out\n0\n");
    assert_eq!(wait_exit(exec.pid), 5);
    // exec -t: a terminal of its own through the console socket.
    let esock = ConsoleSocket::bind(scratch.path().join("exec-console.sock")).unwrap();
    let tty_process = ProcessBuilder::default()
        .args(vec!["sh".into(), "-c".into(), "tty; exit 6".into()])
        .env(vec!["PATH=/bin".into()])
        .cwd("/")
        .terminal(true)
        .build()
        .unwrap();
    let texec = rt
        .exec(&id, &tty_process, ProcessIo::Console(&esock))
        .unwrap();
    let out = read_pty(texec.pty.expect("exec -t returns the pty master"));
    assert!(
        out.starts_with("/dev/pts/"),
        "{name}: exec tty printed {out:?}"
    );
    assert_eq!(wait_exit(texec.pid), 6);
    drop(esock);

    // exec of a command the image lacks: Docker's message and 127.
    let (_n, ntheirs) = stdio();
    let missing = ProcessBuilder::default()
        .args(vec!["nosuch".into()])
        .env(vec!["PATH=/bin".into()])
        .cwd("/")
        .build()
        .unwrap();
    let err = rt.exec(&id, &missing, ntheirs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"nosuch\": executable file not found in $PATH",
        "{name}: {err:?}"
    );
    assert_eq!(err.exit_code(), Some(127));

    rt.kill(&id, libc::SIGTERM, false).unwrap();
    assert_eq!(read_all(&ours.stdout), "term\n");
    assert_eq!(wait_exit(started.pid), 0);
    rt.delete(&id, false).unwrap();
    drop(guard);
    assert_nothing_left(&rt, &id, &[started.pid, exec.pid, texec.pid]);

    // 3. SIGKILL to every process: 137 as Docker reports it.
    let id = new_id(&rt, "kill");
    let bundle = Bundle::new(&id, &["sleep", "1000"], false, false);
    let guard = Cleanup {
        rt: &rt,
        id: id.clone(),
    };
    let (ours, theirs) = stdio();
    drop(ours);
    let started = rt.create(&id, bundle.path(), theirs).unwrap();
    rt.start(&id).unwrap();
    rt.kill(&id, libc::SIGKILL, true).unwrap();
    assert_eq!(wait_exit(started.pid), 137);
    rt.delete(&id, false).unwrap();
    drop(guard);
    assert_nothing_left(&rt, &id, &[started.pid]);

    // 4. A terminal through the console socket; seccomp from config.json.
    let id = new_id(&rt, "tty");
    let bundle = Bundle::new(
        &id,
        &["sh", "-c", "tty; mkdir /tmp/x || echo denied; exit 4"],
        true,
        true,
    );
    let guard = Cleanup {
        rt: &rt,
        id: id.clone(),
    };
    let sock = ConsoleSocket::bind(scratch.path().join("console.sock")).unwrap();
    let started = rt
        .create(&id, bundle.path(), ProcessIo::Console(&sock))
        .unwrap();
    let pty = started.pty.expect("console mode returns the pty master");
    wharf::runtime::oci_cli::set_window_size(std::os::fd::AsFd::as_fd(&pty), 40, 120).unwrap();
    rt.start(&id).unwrap();
    let out = read_pty(pty);
    assert!(out.contains("/dev/pts/0\n"), "{name}: tty printed {out:?}");
    assert!(
        out.contains("Operation not permitted"),
        "{name}: seccomp: {out:?}"
    );
    assert!(out.contains("denied\n"), "{name}: seccomp: {out:?}");
    assert_eq!(wait_exit(started.pid), 4);
    rt.delete(&id, false).unwrap();
    drop(guard);
    drop(sock);
    assert_nothing_left(&rt, &id, &[started.pid]);

    // 5. A command the image lacks fails at create, with Docker's words.
    let id = new_id(&rt, "missing");
    let bundle = Bundle::new(&id, &["nosuch"], false, false);
    let guard = Cleanup {
        rt: &rt,
        id: id.clone(),
    };
    let (_ours, theirs) = stdio();
    let err = rt.create(&id, bundle.path(), theirs).unwrap_err();
    assert!(
        matches!(err, OciError::ExecNotFound { .. }),
        "{name}: {err:?}"
    );
    assert_eq!(
        err.to_string(),
        "exec: \"nosuch\": executable file not found in $PATH"
    );
    assert_eq!(err.exit_code(), Some(127));
    // A file without the x bit: 126.
    drop(guard);
    assert_nothing_left(&rt, &id, &[]);
    let id = new_id(&rt, "noexec");
    let bundle = Bundle::new(&id, &["/etc/hostname-probe"], false, false);
    std::fs::write(bundle.path().join("rootfs/etc/hostname-probe"), "x").unwrap();
    let guard = Cleanup {
        rt: &rt,
        id: id.clone(),
    };
    let (_ours, theirs) = stdio();
    let err = rt.create(&id, bundle.path(), theirs).unwrap_err();
    assert_eq!(err.exit_code(), Some(126), "{name}: {err:?}");
    assert_eq!(
        err.to_string(),
        "exec: \"/etc/hostname-probe\": permission denied"
    );
    drop(guard);
    assert_nothing_left(&rt, &id, &[]);

    // Errors name the runtime and say what it said.
    let err = rt.start("wt-never-created").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{} start wt-never-created: ", rt.name())),
        "{msg}"
    );
    assert!(rt.state("wt-never-created").unwrap().is_none());
}

#[test]
fn builtin_runtime() {
    exercise("wharf");
}

#[test]
fn crun_runtime() {
    exercise("crun");
}

#[test]
fn runc_runtime() {
    exercise("runc");
}
