//! The container runtime seen from inside a container, the way a user or
//! an attacker would look at it: capabilities, seccomp, namespaces, masked
//! and read-only paths, limits, volumes, exit codes. Every test runs once
//! per runtime — the built-in one, crun and runc — as proof that they
//! behave the same on the same bundle.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace). Without it the tests say SKIPPED.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/harness.rs"]
mod harness;
use harness::{registry, Run};

/// One wharf data root with the busybox fixture pulled, for one runtime.
/// Dropping it removes every container and network and checks nothing is
/// left.
struct Rig {
    root: tempfile::TempDir,
    runtime: &'static str,
    image: String,
}

impl Rig {
    fn new(runtime: &'static str) -> Option<Rig> {
        let registry = registry()?;
        if runtime != "builtin" && which(runtime).is_none() {
            panic!("{runtime} is not installed (scripts/fixtures/install-deps installs it)");
        }
        let root = tempfile::Builder::new()
            .prefix("wharf-rt-")
            .tempdir()
            .expect("tempdir");
        let rig = Rig {
            root,
            runtime,
            image: format!("{registry}/wharf-fixtures/busybox:latest"),
        };
        rig.wharf(&["pull", "-q", &rig.image]).ok();
        Some(rig)
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    fn wharf(&self, args: &[&str]) -> Run {
        Run::from(
            Command::new(env!("CARGO_BIN_EXE_wharf"))
                .arg("--root")
                .arg(self.root())
                .args(args)
                .env("HOME", self.root())
                .env("WHARF_RUNTIME", self.runtime)
                .output()
                .expect("run wharf"),
        )
    }

    /// `wharf run --rm [flags] busybox CMD…`
    fn run(&self, flags: &[&str], cmd: &[&str]) -> Run {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.push(&self.image);
        args.extend_from_slice(cmd);
        self.wharf(&args)
    }

    fn sh(&self, flags: &[&str], script: &str) -> Run {
        self.run(flags, &["sh", "-c", script])
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let ids = self.wharf(&["ps", "-aq", "--no-trunc"]).stdout;
        for id in ids.lines().filter(|l| !l.is_empty()) {
            self.wharf(&["rm", "-f", id]);
        }
        harness::remove_networks(self.root());
        if std::thread::panicking() {
            return;
        }
        let root = self.root().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
        assert!(left.is_empty(), "mounts left behind: {left:#?}");
        // Removed containers keep no cgroup; the --rm ones (not listed
        // here) are covered by scripts/check-leaks after the whole suite.
        let ids: Vec<String> = ids.lines().map(str::to_string).collect();
        let cgroups = harness::cgroups_of(&ids);
        assert!(cgroups.is_empty(), "cgroups left behind: {cgroups:#?}");
        let state = self.root().join("run/runtime");
        let states: Vec<_> = walk(&state);
        assert!(states.is_empty(), "runtime state left behind: {states:#?}");
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// Files under `dir` (recursively).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{key} not in {status}"))
}

// ---- the matrix -----------------------------------------------------------

fn default_security(rig: &Rig) {
    let out = rig.sh(&[], "cat /proc/self/status; id; hostname").ok();
    assert_eq!(status_field(&out.stdout, "CapEff:"), "00000000a80425fb");
    assert_eq!(status_field(&out.stdout, "CapBnd:"), "00000000a80425fb");
    assert_eq!(status_field(&out.stdout, "NoNewPrivs:"), "0");
    assert_eq!(
        status_field(&out.stdout, "Seccomp:"),
        "2",
        "Docker's default profile is on"
    );
    assert!(
        out.stdout.contains("uid=0(root) gid=0(root)"),
        "{}",
        out.stdout
    );
    let hostname = out.stdout.lines().last().unwrap_or_default();
    assert_eq!(hostname.len(), 12, "hostname is the short id: {hostname:?}");
    assert!(hostname.chars().all(|c| c.is_ascii_hexdigit()));
}

fn seccomp_blocks_what_docker_blocks(rig: &Rig) {
    // unshare(2) and mount(2) are refused to a default container.
    let out = rig.sh(&[], "unshare -U true; echo rc=$?");
    assert!(out.stdout.contains("rc=1"), "{} {}", out.stdout, out.stderr);
    let out = rig
        .sh(
            &["--security-opt", "seccomp=unconfined"],
            "grep Seccomp: /proc/self/status",
        )
        .ok();
    assert_eq!(status_field(&out.stdout, "Seccomp:"), "0");
}

fn capability_flags(rig: &Rig) {
    let out = rig
        .sh(
            &[
                "--cap-drop",
                "ALL",
                "--cap-add",
                "NET_ADMIN",
                "--security-opt",
                "no-new-privileges",
            ],
            "cat /proc/self/status",
        )
        .ok();
    assert_eq!(status_field(&out.stdout, "CapEff:"), "0000000000001000");
    assert_eq!(status_field(&out.stdout, "NoNewPrivs:"), "1");
    let out = rig.sh(&["--cap-drop", "chown"], "chown 1 /tmp; echo rc=$?");
    assert!(out.stdout.contains("rc=1"), "{}", out.stdout);
    let out = rig.sh(&["--privileged"], "cat /proc/self/status").ok();
    assert_ne!(status_field(&out.stdout, "CapEff:"), "00000000a80425fb");
    assert_eq!(status_field(&out.stdout, "Seccomp:"), "0");
}

fn pid_namespace(rig: &Rig) {
    let out = rig.run(&[], &["ps", "-o", "pid,args"]).ok();
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    assert_eq!(
        rows.len(),
        1,
        "only the command itself is visible: {rows:?}"
    );
    assert!(rows[0].trim().starts_with("1 ps"), "{rows:?}");
    let out = rig.run(&["--init"], &["ps", "-o", "pid,args"]).ok();
    assert!(out.stdout.contains("1 /sbin/wharf-init"), "{}", out.stdout);
}

fn filesystems(rig: &Rig) {
    let script = "grep ' / ' /proc/mounts; \
        touch /sys/x 2>&1; (echo x > /proc/sys/kernel/domainname) 2>&1; \
        echo kcore=$(head -c 8 /proc/kcore | wc -c); \
        echo firmware=$(ls /sys/firmware | wc -l); \
        echo shm=$(df -k /dev/shm | tail -1 | awk '{print $2}')";
    let out = rig.sh(&[], script).ok();
    assert!(
        out.stdout.starts_with("overlay / overlay"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.matches("Read-only file system").count() >= 2,
        "/sys and /proc/sys are read-only: {}",
        out.stdout
    );
    assert!(out.stdout.contains("kcore=0"), "{}", out.stdout);
    assert!(out.stdout.contains("firmware=0"), "{}", out.stdout);
    assert!(out.stdout.contains("shm=65536"), "{}", out.stdout);
    let out = rig.sh(&["--read-only"], "touch /x 2>&1; echo rc=$?");
    assert!(
        out.stdout.contains("Read-only file system") && out.stdout.contains("rc=1"),
        "{}",
        out.stdout
    );
    rig.sh(
        &["--read-only", "--tmpfs", "/scratch:size=1m"],
        "touch /scratch/x",
    )
    .ok();
}

fn limits(rig: &Rig) {
    let out = rig
        .sh(&["--ulimit", "nofile=1024:2048"], "ulimit -n; ulimit -Hn")
        .ok();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["1024", "2048"]
    );
    // A fork bomb stays inside pids_limit: forks fail (busybox sh gives
    // up at the first failure) and the container's cgroup says 16.
    let out = rig.sh(
        &["--pids-limit", "16"],
        "for i in $(seq 40); do sleep 1 & done 2>&1",
    );
    assert!(
        out.stdout.contains("can't fork")
            || out.stdout.contains("Resource temporarily unavailable"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let out = rig
        .run(
            &["--pids-limit", "16"],
            &["cat", "/sys/fs/cgroup/pids/pids.max"],
        )
        .ok();
    assert_eq!(out.stdout.trim(), "16");
    // Allocating past the memory limit gets the container OOM-killed,
    // and `inspect` says so, as Docker's State.OOMKilled does.
    let out = rig.wharf(&[
        "run",
        "--name",
        "hog",
        "-m",
        "32m",
        &rig.image,
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    assert_eq!(out.code, 137, "{} {}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("survived"));
    let inspect: serde_json::Value =
        serde_json::from_str(&rig.wharf(&["inspect", "hog"]).ok().stdout).expect("json");
    assert_eq!(inspect[0]["State"]["OOMKilled"], true, "{inspect}");
    assert_eq!(inspect[0]["State"]["ExitCode"], 137);
}

/// `--oom-kill-disable` (compose `oom_kill_disable`) reaches the kernel:
/// the container's v1 memory cgroup says `oom_kill_disable 1` in
/// `memory.oom_control`, and 0 without the flag. (Cgroup v2 has no such
/// knob; Docker drops the flag there, and so does wharf.)
fn oom_kill_disable(rig: &Rig) {
    if !Path::new("/sys/fs/cgroup/memory").is_dir() {
        eprintln!("SKIPPED: no cgroup v1 memory controller on this host");
        return;
    }
    let read = "grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control";
    let out = rig.sh(&["--oom-kill-disable", "-m", "64m"], read).ok();
    assert_eq!(out.stdout.trim(), "oom_kill_disable 1");
    let out = rig.sh(&["-m", "64m"], read).ok();
    assert_eq!(out.stdout.trim(), "oom_kill_disable 0");
}

/// A loop device over a probe file in a temp dir, detached on drop: a disk
/// of the host a container must not read unless it is mapped in.
struct LoopDisk {
    dev: PathBuf,
    major: u64,
    minor: u64,
    _dir: tempfile::TempDir,
}

/// The probe file's content, which only a read of the disk can show.
const PROBE: &str = "wharf-loop-probe";

impl LoopDisk {
    fn new() -> LoopDisk {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("disk.img");
        let mut content = PROBE.as_bytes().to_vec();
        content.resize(1 << 20, 0);
        std::fs::write(&file, content).expect("probe file");
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .expect("losetup");
        assert!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let rdev = std::fs::metadata(&dev).expect("stat loop device").rdev();
        LoopDisk {
            major: nix::sys::stat::major(rdev),
            minor: nix::sys::stat::minor(rdev),
            dev,
            _dir: dir,
        }
    }

    fn path(&self) -> &str {
        self.dev.to_str().expect("utf-8 device path")
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let ok = Command::new("losetup")
            .arg("-d")
            .arg(&self.dev)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("cleanup: losetup -d {} failed", self.dev.display());
        }
    }
}

fn devices(rig: &Rig) {
    let disk = LoopDisk::new();
    // A mapped device is there under its new name, with the access given.
    let out = rig
        .sh(
            &["--device", &format!("{}:/dev/xdev:r", disk.path())],
            "head -c 16 /dev/xdev; echo; (echo x > /dev/xdev) 2>&1; echo rc=$?",
        )
        .ok();
    assert!(out.stdout.starts_with(PROBE), "{}", out.stdout);
    assert!(
        out.stdout.contains("rc=1"),
        "write on an r device: {}",
        out.stdout
    );
    // The escape: CAP_MKNOD is a default capability, so mknod of the host's
    // disk works; opening it must not (the device cgroup: v1 devices.deny,
    // an eBPF program on v2).
    let script = format!(
        "mknod /tmp/disk b {} {} && echo made; head -c 16 /tmp/disk; echo rc=$?",
        disk.major, disk.minor
    );
    let out = rig.sh(&[], &script);
    assert!(out.stdout.contains("made"), "{} {}", out.stdout, out.stderr);
    assert!(
        !out.stdout.contains(PROBE),
        "read the host's disk: {}",
        out.stdout
    );
    assert!(out.stdout.contains("rc=1"), "{}", out.stdout);
    assert!(out.stderr.contains("not permitted"), "{}", out.stderr);
}

fn blkio(rig: &Rig) {
    let disk = LoopDisk::new();
    let out = rig
        .sh(
            &["--device-read-bps", &format!("{}:1mb", disk.path())],
            "cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device 2>/dev/null; \
             cat /sys/fs/cgroup/io.max 2>/dev/null; true",
        )
        .ok();
    let (ma, mi) = (disk.major, disk.minor);
    // v1 writes "MAJ:MIN BYTES", v2 "MAJ:MIN rbps=BYTES wbps=max …".
    assert!(
        out.stdout.lines().any(|l| l == format!("{ma}:{mi} 1048576")
            || l.starts_with(&format!("{ma}:{mi} rbps=1048576 "))),
        "no read throttle for {ma}:{mi} in the container's cgroup: {}",
        out.stdout
    );
}

fn exit_codes(rig: &Rig) {
    assert_eq!(rig.sh(&[], "exit 3").code, 3);
    let out = rig.run(&[], &["no-such-command"]);
    assert_eq!(out.code, 127, "{}", out.stderr);
    assert!(
        out.stderr.contains("executable file not found"),
        "{}",
        out.stderr
    );
    let out = rig.run(&[], &["/etc/passwd"]);
    assert_eq!(out.code, 126, "{}", out.stderr);
    assert!(
        out.stderr.to_lowercase().contains("permission denied"),
        "{}",
        out.stderr
    );
    // Nothing half-made is left by the failed starts (--rm).
    assert_eq!(rig.wharf(&["ps", "-aq"]).ok().stdout, "");
}

/// A start that fails at its last step (the runtime finds no such command)
/// has mounted the rootfs, attached the network (Docker's default bridge,
/// without embedded DNS), published a port and written the bundle: each is
/// undone, and the container can be started (and fail the same way) again,
/// then removed.
fn a_failed_start_undoes_every_step(rig: &Rig) {
    let id = rig
        .wharf(&[
            "create",
            "--name",
            "broken",
            "-p",
            "8080",
            &rig.image,
            "no-such-command",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    for attempt in 1..=2 {
        let out = rig.wharf(&["start", "broken"]);
        assert_ne!(out.code, 0, "attempt {attempt}");
        assert!(
            out.stderr.contains("executable file not found"),
            "attempt {attempt}: {}",
            out.stderr
        );
        let run = rig.root().join("run");
        assert!(
            !run.join("netns").join(&id).exists(),
            "network namespace left"
        );
        assert!(!run.join("io").join(&id).exists(), "output FIFOs left");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(
            !mounts.lines().any(|l| l.contains(&id)),
            "mounts left after attempt {attempt}"
        );
        let tables = Command::new("nft")
            .args(["list", "tables"])
            .output()
            .expect("nft");
        let ports_table = format!("wharf-ports-{}", &id[..12]);
        assert!(
            !String::from_utf8_lossy(&tables.stdout).contains(&ports_table),
            "published port rules left after attempt {attempt}"
        );
        let network = rig.wharf(&["network", "inspect", "bridge"]).ok().stdout;
        assert!(!network.contains(&id), "still attached: {network}");
    }
    // Not running, and nobody thinks so: removed without -f.
    rig.wharf(&["rm", "broken"]).ok();
}

fn users_and_env(rig: &Rig) {
    let out = rig.run(&["-u", "nobody"], &["id"]).ok();
    assert!(
        out.stdout
            // The image's /etc/group names gid 65534 nogroup first, as Debian does.
            .starts_with("uid=65534(nobody) gid=65534(nogroup)"),
        "{}",
        out.stdout
    );
    let out = rig.run(&["-u", "1000:1000"], &["id"]).ok();
    assert!(
        out.stdout.starts_with("uid=1000 gid=1000"),
        "{}",
        out.stdout
    );
    let out = rig.run(&["-u", "ghost"], &["id"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("ghost"), "{}", out.stderr);
    let out = rig
        .sh(
            &["--hostname", "web", "-e", "FOO=bar", "-w", "/tmp"],
            "hostname; echo $FOO $HOSTNAME; pwd",
        )
        .ok();
    assert_eq!(out.stdout, "web\nbar web\n/tmp\n");
}

fn volumes_persist_and_the_rest_vanishes(rig: &Rig) {
    rig.sh(
        &["-v", "data:/data"],
        "echo kept > /data/f; echo lost > /etc/f",
    )
    .ok();
    let out = rig.sh(&["-v", "data:/data"], "cat /data/f; cat /etc/f 2>&1");
    assert!(out.stdout.starts_with("kept\n"), "{}", out.stdout);
    assert!(out.stdout.contains("No such file"), "{}", out.stdout);
    let host = tempfile::tempdir().expect("tmp");
    // A missing bind source is made as a directory, as docker does.
    let missing = host.path().join("made/by/wharf");
    rig.sh(&["-v", &format!("{}:/m", missing.display())], "touch /m/x")
        .ok();
    assert!(missing.join("x").is_file());
    let bind = format!("{}:/host", host.path().display());
    rig.sh(&["-v", &bind], "echo from-container > /host/out")
        .ok();
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).expect("bind write"),
        "from-container\n"
    );
    let ro = format!("{}:/host:ro", host.path().display());
    let out = rig.sh(&["-v", &ro], "(echo x > /host/out) 2>&1; echo rc=$?");
    assert!(
        out.stdout.contains("rc=1") || out.stdout.contains("rc=2"),
        "{}",
        out.stdout
    );
    rig.wharf(&["volume", "rm", "data"]).ok();
}

/// Mount points under `dir` in this (the harness's) mount namespace.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&dir)))
        .map(str::to_string)
        .collect()
}

/// A volume `subpath` is mounted as it was checked: one that is a symlink
/// out of the volume is refused, and a container sharing the volume that
/// swaps the subpath for such a symlink while others start never gets the
/// host's `/etc` mounted (the subpath is mounted through the descriptor
/// opened beneath the volume, not by its path). No staging mount stays.
fn volume_subpath_is_mounted_as_checked(rig: &Rig) {
    rig.sh(
        &["-v", "shared:/v"],
        "mkdir /v/real && echo in-volume > /v/real/marker && ln -s /etc /v/evil",
    )
    .ok();
    let subpath = |sub: &str| format!("type=volume,src=shared,dst=/x,volume-subpath={sub}");
    let out = rig.sh(&["--mount", &subpath("evil")], "ls /x");
    assert_ne!(
        out.code, 0,
        "a symlink out of the volume was mounted: {}",
        out.stdout
    );
    assert!(out.stderr.contains("subpath"), "{}", out.stderr);
    assert!(!out.stdout.contains("passwd"), "{}", out.stdout);

    // What a second container on the volume could do: swap the checked
    // directory and the symlink, atomically, as fast as it can.
    let data = rig.root().join("volumes/shared/_data");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (data, stop) = (data.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                nix::fcntl::renameat2(
                    nix::fcntl::AT_FDCWD,
                    &data.join("real"),
                    nix::fcntl::AT_FDCWD,
                    &data.join("evil"),
                    nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                )
                .expect("swap");
                swaps += 1;
            }
            swaps
        })
    };
    let mut results = Vec::new();
    for _ in 0..12 {
        results.push(rig.sh(&["--mount", &subpath("real")], "ls /x"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    assert!(swaps > 0);
    for r in &results {
        // Either refused (it was the symlink when opened) or the volume's
        // directory: never the host's /etc.
        assert!(
            !r.stdout.contains("passwd"),
            "host /etc mounted: {}",
            r.stdout
        );
        if r.code == 0 {
            assert_eq!(r.stdout, "marker\n");
        } else {
            assert!(r.stderr.contains("subpath"), "{}", r.stderr);
        }
    }
    // Back in place, the subpath mounts.
    if !data.join("real/marker").exists() {
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &data.join("real"),
            nix::fcntl::AT_FDCWD,
            &data.join("evil"),
            nix::fcntl::RenameFlags::RENAME_EXCHANGE,
        )
        .expect("swap back");
    }
    let out = rig.sh(&["--mount", &subpath("real")], "cat /x/marker").ok();
    assert_eq!(out.stdout, "in-volume\n");
    // A start that fails after staging unstages.
    let out = rig.run(&["--mount", &subpath("real")], &["no-such-command"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("executable file not found"),
        "{}",
        out.stderr
    );
    // Staging mounts went with each start.
    let staging = rig.root().join("run/subpaths");
    assert_eq!(mounts_under(&staging), Vec::<String>::new());
    let left: Vec<_> = std::fs::read_dir(&staging)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<PathBuf>::new());
    rig.wharf(&["volume", "rm", "shared"]).ok();
}

/// `--ipc/--network container:NAME`: the second container is in the first
/// one's IPC and network namespaces, found again when the first restarts.
fn shared_namespaces(rig: &Rig) {
    // The first one makes a POSIX message queue (an IPC namespace object,
    // listed in its mqueue fs) and listens on a port.
    let script = "touch /dev/mqueue/probe; nc -l -p 7777 </dev/null & exec sleep 300";
    let start_first = || {
        rig.wharf(&["start", "first"]).ok();
        wait_for(
            rig,
            "first",
            "ls /dev/mqueue; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -c ':1E61 .* 0A '",
        );
    };
    rig.wharf(&[
        "run",
        "-d",
        "--name",
        "first",
        "--ipc",
        "shareable",
        &rig.image,
        "sh",
        "-c",
        script,
    ])
    .ok();
    wait_for(
        rig,
        "first",
        "ls /dev/mqueue; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -c ':1E61 .* 0A '",
    );
    let probe = "readlink /proc/self/ns/ipc; readlink /proc/self/ns/net; ls /dev/mqueue; \
                 cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -c ':1E61 .* 0A '";
    let check = |label: &str| {
        let first = rig
            .wharf(&[
                "exec",
                "first",
                "sh",
                "-c",
                "readlink /proc/1/ns/ipc; readlink /proc/1/ns/net",
            ])
            .ok()
            .stdout;
        let out = rig
            .sh(
                &["--ipc", "container:first", "--network", "container:first"],
                probe,
            )
            .ok();
        assert!(
            out.stdout.starts_with(&first),
            "{label}: not the first one's namespaces ({first}): {}",
            out.stdout
        );
        assert!(out.stdout.contains("probe\n"), "{label}: {}", out.stdout);
        assert!(
            out.stdout.ends_with("1\n"),
            "{label}: port 7777 not listening: {}",
            out.stdout
        );
    };
    check("running");
    // A container of its own sees neither.
    let out = rig.sh(&[], probe);
    assert!(!out.stdout.contains("probe"), "{}", out.stdout);
    // Created while the first one runs, started after it restarted: the
    // namespaces are looked up at start, not baked in at create.
    rig.wharf(&[
        "create",
        "--name",
        "second",
        "--ipc",
        "container:first",
        "--network",
        "container:first",
        &rig.image,
        "sh",
        "-c",
        probe,
    ])
    .ok();
    rig.wharf(&["stop", "-t", "1", "first"]).ok();
    let out = rig.wharf(&["start", "-a", "second"]);
    assert_ne!(out.code, 0, "started without the first one: {}", out.stdout);
    assert!(
        out.stderr.contains("first") && out.stderr.contains("not running"),
        "{}",
        out.stderr
    );
    start_first();
    check("restarted");
    let first = rig
        .wharf(&["exec", "first", "readlink", "/proc/1/ns/net"])
        .ok()
        .stdout;
    let out = rig.wharf(&["start", "-a", "second"]).ok();
    assert!(
        out.stdout.contains(first.trim()),
        "{} vs {first}",
        out.stdout
    );
    rig.wharf(&["rm", "-f", "second", "first"]).ok();
}

/// Polls `script` in container `name` until it exits 0 (5 s at most).
fn wait_for(rig: &Rig, name: &str, script: &str) {
    for _ in 0..50 {
        if rig.wharf(&["exec", name, "sh", "-c", script]).code == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{name}: {script} never succeeded");
}

fn detached_lifecycle(rig: &Rig) {
    let id = rig
        .wharf(&[
            "run",
            "-d",
            "--name",
            "sleeper",
            "-m",
            "64m",
            &rig.image,
            "sh",
            "-c",
            "echo started; exec sleep 300",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(id.len(), 64);
    let ps = rig.wharf(&["ps"]).ok().stdout;
    assert!(ps.contains("sleeper") && ps.contains("Up"), "{ps}");
    let top = rig.wharf(&["top", "sleeper"]).ok().stdout;
    assert!(top.contains("sleep 300"), "{top}");
    let stats = rig.wharf(&["stats", "--no-stream", "sleeper"]).ok().stdout;
    let row = stats
        .lines()
        .find(|l| l.contains("sleeper"))
        .unwrap_or_default();
    assert!(row.contains("/ 64.00MiB"), "{stats}");
    let out = rig.wharf(&["exec", "sleeper", "sh", "-c", "echo $HOSTNAME; exit 5"]);
    assert_eq!(out.code, 5);
    assert_eq!(out.stdout.trim(), &id[..12]);
    let out = rig
        .wharf(&["exec", "-u", "nobody", "sleeper", "id", "-u"])
        .ok();
    assert_eq!(out.stdout.trim(), "65534");
    // sleep has no SIGTERM handler and is PID 1: stop kills it at once.
    rig.wharf(&["stop", "sleeper"]).ok();
    let ps = rig.wharf(&["ps", "-a"]).ok().stdout;
    assert!(ps.contains("Exited (137)"), "{ps}");
    let logs = rig.wharf(&["logs", "sleeper"]).ok().stdout;
    assert_eq!(logs, "started\n");
    // Started again, then killed: the wait reports the signal.
    rig.wharf(&["start", "sleeper"]).ok();
    rig.wharf(&["kill", "-s", "TERM", "sleeper"]).ok();
    rig.wharf(&["kill", "sleeper"]).ok();
    assert_eq!(rig.wharf(&["wait", "sleeper"]).ok().stdout.trim(), "137");
    let logs = rig.wharf(&["logs", "sleeper"]).ok().stdout;
    assert_eq!(logs, "started\nstarted\n");
    let out = rig.wharf(&["rm", "sleeper"]).ok();
    assert_eq!(out.stdout.trim(), "sleeper");
    assert!(!rig.root().join("containers").join(&id).exists());
}

fn stop_waits_for_a_handler(rig: &Rig) {
    rig.wharf(&[
        "run",
        "-d",
        "--name",
        "graceful",
        &rig.image,
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ])
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    rig.wharf(&["stop", "graceful"]).ok();
    let ps = rig.wharf(&["ps", "-a"]).ok().stdout;
    assert!(ps.contains("Exited (0)"), "the handler ran: {ps}");
    assert!(rig.wharf(&["logs", "graceful"]).ok().stdout.contains("bye"));
}

fn container_outlives_its_monitor(rig: &Rig) {
    rig.wharf(&["run", "-d", "--name", "orphan", &rig.image, "sleep", "300"])
        .ok();
    let inspect = rig.wharf(&["inspect", "orphan"]).ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("json");
    let pid = v[0]["State"]["Pid"].as_u64().expect("pid") as i32;
    let monitor = std::fs::read_to_string(
        rig.root()
            .join("containers")
            .join(v[0]["Id"].as_str().expect("id"))
            .join("state.json"),
    )
    .expect("state");
    let monitor: serde_json::Value = serde_json::from_str(&monitor).expect("state json");
    let monitor = monitor["monitor_pid"].as_u64().expect("monitor pid") as i32;
    // SIGKILL the monitor: the container keeps running…
    send_signal(monitor, 9);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "container died with its monitor"
    );
    // …and is still removed cleanly.
    rig.wharf(&["rm", "-f", "orphan"]).ok();
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{pid}/exe")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        !Path::new(&format!("/proc/{pid}/exe")).exists(),
        "container process survived rm -f"
    );
}

fn send_signal(pid: i32, sig: i32) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

fn terminals(rig: &Rig) {
    // -t without a terminal of our own: the container still gets a pty.
    let out = rig.run(&["-t"], &["tty"]).ok();
    assert_eq!(out.stdout.trim_end(), "/dev/pts/0");
    // -it under a real terminal (script(1) makes one): the window size
    // reaches the container and the exit code comes back.
    let wharf = format!(
        "{} --root {}",
        env!("CARGO_BIN_EXE_wharf"),
        rig.root().display()
    );
    let cmd = format!(
        "stty rows 31 cols 97; {wharf} run --rm -it {} sh -c 'stty size; exit 7'",
        rig.image
    );
    let out = Run::from(
        Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("WHARF_RUNTIME", rig.runtime)
            .output()
            .expect("script"),
    );
    assert!(out.stdout.contains("31 97"), "{}", out.stdout);
    assert_eq!(out.code, 7, "{}", out.stdout);
    // exec -t into a running container.
    rig.wharf(&["run", "-d", "--name", "t", &rig.image, "sleep", "300"])
        .ok();
    let out = rig.wharf(&["exec", "-t", "t", "tty"]).ok();
    assert!(out.stdout.starts_with("/dev/pts/"), "{}", out.stdout);
    rig.wharf(&["rm", "-f", "t"]).ok();
}

macro_rules! matrix {
    ($($name:ident),* $(,)?) => {
        mod builtin {
            $( #[test] fn $name() { if let Some(rig) = super::Rig::new("builtin") { super::$name(&rig) } } )*
        }
        mod crun {
            $( #[test] fn $name() { if let Some(rig) = super::Rig::new("crun") { super::$name(&rig) } } )*
        }
        mod runc {
            $( #[test] fn $name() { if let Some(rig) = super::Rig::new("runc") { super::$name(&rig) } } )*
        }
    };
}

matrix!(
    default_security,
    seccomp_blocks_what_docker_blocks,
    capability_flags,
    pid_namespace,
    filesystems,
    limits,
    oom_kill_disable,
    devices,
    blkio,
    exit_codes,
    a_failed_start_undoes_every_step,
    users_and_env,
    volumes_persist_and_the_rest_vanishes,
    volume_subpath_is_mounted_as_checked,
    shared_namespaces,
    detached_lifecycle,
    stop_waits_for_a_handler,
    container_outlives_its_monitor,
    terminals,
);

/// Runs `script` as nobody (uid/gid 65534, no groups), as a local user
/// without privileges would; true when it succeeds.
fn as_nobody(script: &str) -> bool {
    Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["sh", "-c", script])
        .output()
        .expect("setpriv")
        .status
        .success()
}

/// CVE-2021-41091's lesson: while a container holds a setuid binary and a
/// device node it made, an unprivileged local user reaches none of its
/// rootfs, upper dir, image layers, records or logs — also when the data
/// root was made wider by someone else (an older wharf): it is tightened
/// on open.
#[test]
fn data_root_is_closed_to_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let Some(rig) = Rig::new("builtin") else {
        return;
    };
    let widen = |p: &Path| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod")
    };
    // tempfile makes 0700 dirs: open the way down to the root, and widen the
    // root as an older wharf left it.
    widen(rig.root());
    widen(&rig.root().join("layers"));
    assert!(as_nobody(&format!("ls {}/layers", rig.root().display())));
    let run = rig.wharf(&[
        "run",
        "-d",
        "--name",
        "holder",
        "-e",
        "SECRET=hunter2",
        &rig.image,
        "sh",
        "-c",
        // busybox runs the applet its name says: a setuid `true`.
        "mkdir /s && cp /bin/busybox /s/true && chmod 4755 /s/true && mknod /zero c 1 5 \
         && echo secret-in-log && sleep 300",
    ]);
    let run = run.ok();
    let id = run.stdout.trim().to_string();
    wait_for(&rig, "holder", "test -u /s/true && test -c /zero");
    let dir = rig.root().join("containers").join(&id);
    let layers: Vec<PathBuf> = std::fs::read_dir(rig.root().join("layers"))
        .expect("layers")
        .map(|e| e.expect("entry").path().join("diff"))
        .filter(|p| p.is_dir())
        .collect();
    assert!(!layers.is_empty());
    let log = dir.join(format!("{id}-json.log"));
    let mut probes = vec![
        format!("ls {}/rootfs/", dir.display()),
        format!("{}/rootfs/s/true", dir.display()),
        format!("head -c1 {}/rootfs/zero", dir.display()),
        format!("ls {}/upper/", dir.display()),
        format!("{}/upper/s/true", dir.display()),
        format!("cat {}/container.json", dir.display()),
        format!("cat {}/state.json", dir.display()),
        format!("cat {}", log.display()),
        format!("ls {}/run/", rig.root().display()),
    ];
    probes.extend(layers.iter().map(|l| format!("ls {}/", l.display())));
    for probe in &probes {
        // As root each probe works: the path is there.
        let root_ok = Command::new("sh")
            .args(["-c", probe])
            .output()
            .expect("sh")
            .status
            .success();
        assert!(root_ok, "as root: {probe}");
        assert!(!as_nobody(probe), "as nobody: {probe} succeeded");
    }
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(rig.root()), 0o710);
    assert_eq!(mode(&dir.join("container.json")), 0o600);
    assert_eq!(mode(&dir.join("state.json")), 0o600);
    assert_eq!(mode(&log), 0o640);
    rig.wharf(&["rm", "-f", "holder"]).ok();
}

/// Issue 18, CVE-2019-5736: a process in the container can reach the
/// runtime's binary through `/proc/<pid>/exe` while the runtime enters the
/// container. The built-in runtime re-executes itself from a read-only view
/// of its binary first, so the container's init — waiting for `start`, still
/// the runtime's own image — names a file on a read-only mount: nothing in
/// the container can rewrite wharf on the host through it.
#[test]
fn the_builtin_runtime_enters_containers_from_a_read_only_view_of_its_binary() {
    use std::process::Stdio;
    if !nix::unistd::Uid::effective().is_root() || !Path::new("/bin/busybox").exists() {
        eprintln!("SKIPPED: needs root and /bin/busybox");
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("busybox");
    let id = format!("exe-view-{}", std::process::id());
    let cgroup = format!("/wharf-test-{id}");
    let mut spec = oci_spec::runtime::Spec::default();
    spec.set_root(Some(
        oci_spec::runtime::RootBuilder::default()
            .path(&rootfs)
            .readonly(false)
            .build()
            .expect("root"),
    ));
    let mut process = spec.process().clone().expect("process");
    process.set_args(Some(vec![
        "/bin/busybox".into(),
        "sleep".into(),
        "100".into(),
    ]));
    process.set_terminal(Some(false));
    spec.set_process(Some(process));
    let mut linux = spec.linux().clone().expect("linux");
    linux.set_cgroups_path(Some(cgroup.clone().into()));
    spec.set_linux(Some(linux));
    spec.save(work.path().join("config.json"))
        .expect("config.json");
    let state_root = work.path().join("state");
    let runtime = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("oci-runtime")
            .arg("--root")
            .arg(&state_root)
            .args(args)
            // The waiting init holds whatever it inherits: no pipes.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("wharf oci-runtime")
    };
    let bundle = work.path().to_string_lossy().into_owned();
    let created = runtime(&["create", "--bundle", &bundle, &id]);
    let check = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(created.success(), "create failed");
        let state = Command::new(env!("CARGO_BIN_EXE_wharf"))
            .args(["oci-runtime", "--root"])
            .arg(&state_root)
            .args(["state", &id])
            .output()
            .expect("state");
        let state: serde_json::Value = serde_json::from_slice(&state.stdout).expect("state json");
        assert_eq!(state["status"], "created", "{state}");
        let pid = state["pid"].as_u64().expect("pid");
        let exe = std::fs::File::open(format!("/proc/{pid}/exe")).expect("the init's exe");
        let flags = nix::sys::statvfs::fstatvfs(&exe).expect("fstatvfs").flags();
        assert!(
            flags.contains(nix::sys::statvfs::FsFlags::ST_RDONLY),
            "the waiting init's binary is on a writable mount"
        );
    }));
    let deleted = runtime(&["delete", "--force", &id]);
    for dir in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .flat_map(|b| std::fs::read_dir(b).into_iter().flatten().flatten())
        .map(|e| e.path().join(cgroup.trim_start_matches('/')))
    {
        let _ = std::fs::remove_dir(dir);
    }
    if let Err(panic) = check {
        std::panic::resume_unwind(panic);
    }
    assert!(deleted.success(), "delete failed");
}
