//! Fault injection (issue #18), one bounded test per kind of fault that
//! `scripts/faults` throws at random: a registry that fails, rate-limits,
//! cuts or stalls blobs (scripts/fixtures/fault-proxy.py in front of the
//! loopback registry), a SIGKILL of `pull` or `up` mid-way and of the
//! shims and monitors, and a full disk. After each, what a user runs next
//! (`down`, `images`, `system prune`) must leave the data root as it was
//! and nothing on the machine: no partial blob, no image, no container,
//! mount, process or cgroup.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace). Without it the tests say SKIPPED.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wharf::image::digest::Digest;

#[path = "support/harness.rs"]
mod harness;
#[path = "support/stack.rs"]
mod stack;
use harness::Run;
use stack::{until, Setup, Stack};

/// scripts/fixtures/fault-proxy.py on 127.0.0.1, in front of the harness's
/// registry, with the given fault rules; killed when dropped.
struct FaultProxy {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl FaultProxy {
    fn start(upstream: &str, rules: &[&str]) -> FaultProxy {
        let dir = tempfile::Builder::new()
            .prefix("wharf-fault-proxy")
            .tempdir()
            .expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fixtures/fault-proxy.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(upstream)
            .arg(dir.path().join("port"))
            .arg(dir.path().join("log"))
            .args(rules)
            .stdin(Stdio::null())
            .spawn()
            .expect("start fault-proxy.py");
        let mut proxy = FaultProxy {
            child,
            dir,
            port: 0,
        };
        let port_file = proxy.dir.path().join("port");
        until(Duration::from_secs(10), "the fault proxy to listen", || {
            port_file.exists()
        });
        proxy.port = std::fs::read_to_string(&port_file)
            .expect("read port")
            .trim()
            .parse()
            .expect("port number");
        proxy
    }

    /// A fixture image, through the proxy.
    fn image(&self, name: &str) -> String {
        format!("127.0.0.1:{}/wharf-fixtures/{name}:latest", self.port)
    }

    /// The faults injected so far, one line each.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn count(&self, fault: &str) -> usize {
        self.log().lines().filter(|l| l.starts_with(fault)).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn data_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("wharf-faults-")
        .tempdir()
        .expect("tempdir")
}

fn wharf(root: &Path, args: &[&str]) -> Run {
    Run::from(
        Command::new(env!("CARGO_BIN_EXE_wharf"))
            .arg("--root")
            .arg(root)
            .args(args)
            .env("HOME", root)
            .output()
            .expect("run wharf"),
    )
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every blob in the store hashes to its name: nothing partial or corrupt.
fn assert_blobs_verify(root: &Path) {
    let dir = root.join("blobs/sha256");
    for name in entries(&dir) {
        let bytes = std::fs::read(dir.join(&name)).expect("read blob");
        assert_eq!(
            Digest::sha256_of(&bytes).hex(),
            name,
            "blobs/sha256/{name} does not hold what its name says"
        );
    }
}

/// What a failed or killed pull may leave once the next command opened the
/// store: no image, no temp file, no holder, and only whole blobs.
fn assert_no_pull_left(root: &Path) {
    assert_eq!(
        entries(&root.join("images")),
        Vec::<String>::new(),
        "images"
    );
    assert_eq!(entries(&root.join("tmp")), Vec::<String>::new(), "tmp/");
    assert_eq!(
        entries(&root.join("holders")),
        Vec::<String>::new(),
        "holders/"
    );
    assert_blobs_verify(root);
}

/// `system prune -a` takes the store back to empty: no blob, no layer.
fn assert_prune_empties(root: &Path) {
    wharf(root, &["system", "prune", "-a", "-f"]).ok();
    assert_eq!(
        entries(&root.join("blobs/sha256")),
        Vec::<String>::new(),
        "blobs"
    );
    assert_eq!(
        entries(&root.join("layers")),
        vec!["by-diff-id".to_string()],
        "layers/"
    );
    assert_eq!(
        entries(&root.join("layers/by-diff-id")),
        Vec::<String>::new(),
        "layers/by-diff-id"
    );
}

/// A pull that ends in an error whose message has every one of `says`.
fn assert_pull_fails(root: &Path, image: &str, says: &[&str]) {
    let pull = wharf(root, &["pull", image]);
    assert_ne!(pull.code, 0, "pull of {image} succeeded: {}", pull.stdout);
    let last = pull.stderr.lines().last().unwrap_or_default();
    for s in says {
        assert!(last.contains(s), "error lacks {s:?}: {}", pull.stderr);
    }
}

/// A 500 on the manifest, a 429 with Retry-After on a blob and a blob cut
/// mid-body are what a loaded registry does now and then: the pull retries
/// (the cut blob resumes with a Range request, as Docker's and containerd's
/// pulls do) and succeeds with every blob whole.
#[test]
fn a_flaky_registry_is_retried_and_the_pull_succeeds() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let proxy = FaultProxy::start(
        &registry,
        &[
            "status:manifests:2:500",
            "status:blobs:1:429",
            "retryafter:blobs:0:1",
            "cut:blobs:2",
        ],
    );
    let root = data_root();
    let image = proxy.image("busybox");
    wharf(root.path(), &["pull", &image]).ok();
    assert_eq!(proxy.count("status 500"), 2, "{}", proxy.log());
    assert_eq!(proxy.count("status 429"), 1, "{}", proxy.log());
    assert_eq!(proxy.count("cut"), 2, "{}", proxy.log());
    let images = wharf(root.path(), &["images"]).ok();
    let repo = image.trim_end_matches(":latest");
    assert!(images.stdout.contains(repo), "{}", images.stdout);
    assert_eq!(entries(&root.path().join("tmp")), Vec::<String>::new());
    assert_eq!(entries(&root.path().join("holders")), Vec::<String>::new());
    assert_blobs_verify(root.path());
}

/// A registry that does not honour Range (it answers a resume with the
/// whole blob again, 200) and cuts two blob downloads: the pull starts
/// each cut blob again from byte 0, as containerd's does, keeping what it
/// already has, and succeeds with every blob whole and nothing in tmp/.
/// (One that cuts every time fails: the last case of the next test.)
#[test]
fn a_cut_blob_from_a_registry_without_range_support_is_fetched_again() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let proxy = FaultProxy::start(&registry, &["cut:blobs:2", "noranges:blobs:0"]);
    let root = data_root();
    let image = proxy.image("busybox");
    wharf(root.path(), &["pull", &image]).ok();
    assert_eq!(proxy.count("cut"), 2, "{}", proxy.log());
    let images = wharf(root.path(), &["images"]).ok();
    assert!(
        images.stdout.contains(image.trim_end_matches(":latest")),
        "{}",
        images.stdout
    );
    assert_eq!(entries(&root.path().join("tmp")), Vec::<String>::new());
    assert_eq!(entries(&root.path().join("holders")), Vec::<String>::new());
    assert_blobs_verify(root.path());
    assert_prune_empties(root.path());
}

/// A registry that keeps failing: the pull gives up after its retries with
/// an error naming what failed, and stores nothing but whole blobs, which
/// `system prune` then removes.
#[test]
fn a_registry_that_keeps_failing_fails_the_pull_clearly_and_stores_nothing() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["status:manifests:0:500"],
            &["/manifests/latest", "HTTP 500"],
        ),
        (&["status:blobs:0:503"], &["/blobs/sha256:", "HTTP 503"]),
        // No Range support and every download cut: starting the blob
        // again from byte 0 never gets past the cut.
        (&["cut:blobs:0", "noranges:blobs:0"], &["/blobs/sha256:"]),
    ];
    for (rules, says) in cases {
        let proxy = FaultProxy::start(&registry, rules);
        let root = data_root();
        assert_pull_fails(root.path(), &proxy.image("busybox"), says);
        assert!(!proxy.log().is_empty(), "{rules:?}: no fault was injected");
        assert_no_pull_left(root.path());
        assert_prune_empties(root.path());
    }
}

/// SIGKILL of `pull` while a layer blob is half written (the registry
/// stalls mid-body): the next command removes the temp file and the
/// pull's holder, keeps no partial blob, and a new pull works.
#[test]
fn sigkill_of_pull_mid_blob_leaves_no_partial_blob() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let proxy = FaultProxy::start(&registry, &["stall:blobs:0:0"]);
    let root = data_root();
    let mut pull = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("--root")
        .arg(root.path())
        .args(["pull", &proxy.image("busybox")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn pull");
    until(Duration::from_secs(30), "a stalled blob", || {
        proxy.count("stall") > 0
    });
    let tmp = root.path().join("tmp");
    until(
        Duration::from_secs(10),
        "a half-written blob in tmp/",
        || entries(&tmp).iter().any(|e| e.starts_with("blob-")),
    );
    pull.kill().expect("SIGKILL pull");
    pull.wait().expect("reap pull");

    wharf(root.path(), &["images"]).ok();
    assert_no_pull_left(root.path());
    wharf(
        root.path(),
        &["pull", &format!("{registry}/wharf-fixtures/busybox:latest")],
    )
    .ok();
    assert_blobs_verify(root.path());
    assert_prune_empties(root.path());
}

/// A mounted tmpfs of `mib` MiB, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(mib: u32) -> SmallDisk {
        let dir = tempfile::Builder::new()
            .prefix("wharf-full-disk")
            .tempdir()
            .expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(mounted.success(), "mount tmpfs on {}", dir.path().display());
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// A data root on a disk too small for the image, at two sizes (the disk
/// fills while the blob is written, or while its layer is unpacked): the
/// pull fails with ENOSPC naming the data root's path, and leaves no image
/// and no partial blob or layer.
#[test]
fn a_full_disk_fails_the_pull_naming_the_path_and_leaves_nothing_half_made() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let image = format!("{registry}/wharf-fixtures/python:latest");
    for mib in [2, 24] {
        let disk = SmallDisk::new(mib);
        let root = disk.path().join("root");
        assert_pull_fails(
            &root,
            &image,
            &["No space left on device", &root.to_string_lossy()],
        );
        assert_no_pull_left(&root);
        assert_prune_empties(&root);
    }
}

/// Every process whose command line names `root` (up, shims, monitors,
/// health probes).
fn processes_of(root: &Path) -> Vec<String> {
    let needle = root.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for pid in entries(Path::new("/proc")) {
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        // A zombie has an empty command line: dead, not left running.
        if cmd.contains(&needle) {
            found.push(format!("{pid}: {cmd}"));
        }
    }
    found
}

/// The ids of the containers in the stack's data root.
fn container_ids(s: &Stack) -> Vec<String> {
    entries(&s.root.path().join("containers"))
        .into_iter()
        .filter(|n| n.len() == 64)
        .collect()
}

/// `down -v` after a fault: it succeeds, and no container, process or
/// cgroup of `ids` is left (the Stack's drop checks mounts and volumes).
fn assert_down_leaves_nothing(s: &Stack, ids: &[String]) {
    s.wharf(&["down", "-v", "-t", "0"]).ok();
    assert_eq!(s.wharf(&["ps", "-a", "-q"]).ok().stdout.trim(), "");
    assert_eq!(container_ids(s), Vec::<String>::new(), "containers/");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_of(s.root.path()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        processes_of(s.root.path()),
        Vec::<String>::new(),
        "processes left"
    );
    assert_eq!(
        harness::cgroups_of(ids),
        Vec::<PathBuf>::new(),
        "cgroups left"
    );
}

fn faults() -> Setup {
    Setup {
        root_prefix: "wharf-faults-",
        dir_prefix: "faults",
        out_dir: false,
    }
}

const TWO_SERVICES: &str = r#"
services:
  web:
    image: IMAGE
    command: ["sleep", "3600"]
    init: true
    healthcheck: {test: ["CMD", "false"], interval: 1s, retries: 100}
    volumes: [data:/data]
  db:
    image: IMAGE
    command: ["sleep", "3600"]
volumes: {data: {}}
"#;

/// SIGKILL of `up --wait` at three points: while it pulls (a stalled
/// blob), as soon as the first container record is written (creating and
/// starting), and while it waits for a healthcheck that never passes.
/// Each time `down -v` then leaves nothing.
#[test]
fn sigkill_of_up_at_each_stage_then_down_leaves_nothing() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let proxy = FaultProxy::start(&registry, &["stall:blobs:0:0"]);
    let stages: [(&str, String); 3] = [
        ("pull", proxy.image("busybox")),
        (
            "create",
            format!("{registry}/wharf-fixtures/busybox:latest"),
        ),
        (
            "health wait",
            format!("{registry}/wharf-fixtures/busybox:latest"),
        ),
    ];
    for (stage, image) in stages {
        let Some(s) = Stack::with(faults(), &TWO_SERVICES.replace("IMAGE", &image)) else {
            return;
        };
        let mut up = s
            .cmd(&["up", "-d", "--wait"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn up");
        let within = Duration::from_secs(60);
        match stage {
            "pull" => until(within, "a stalled blob", || proxy.count("stall") > 0),
            "create" => until(within, "a container record", || {
                !container_ids(&s).is_empty()
            }),
            _ => until(within, "health: starting", || {
                s.wharf(&["ps"]).stdout.contains("health: starting")
            }),
        }
        up.kill().expect("SIGKILL up");
        up.wait().expect("reap up");
        let ids = container_ids(&s);
        assert_down_leaves_nothing(&s, &ids);
        if stage == "pull" {
            // The next command that opens the store clears the killed pull.
            s.wharf(&["images"]).ok();
            assert_no_pull_left(s.root.path());
        }
    }
}

/// SIGKILL of every shim and monitor of a running stack: the containers
/// keep running, and `down -v` still stops and removes everything.
#[test]
fn sigkill_of_shims_and_monitors_then_down_leaves_nothing() {
    let Some(s) = Stack::with(faults(), &TWO_SERVICES.replace("IMAGE", "{{busybox}}")) else {
        return;
    };
    s.wharf(&["up", "-d"]).ok();
    let ids = container_ids(&s);
    assert_eq!(ids.len(), 2);
    let supervisors: Vec<i32> = processes_of(s.root.path())
        .iter()
        .filter(|p| p.contains("container-shim") || p.contains("container-monitor"))
        .filter_map(|p| p.split(':').next()?.parse().ok())
        .collect();
    assert!(supervisors.len() >= 4, "{supervisors:?}");
    for pid in supervisors {
        // SAFETY: kill(2) with a pid and a signal number.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    s.until("the shims and monitors to die", || {
        !processes_of(s.root.path())
            .iter()
            .any(|p| p.contains("container-shim"))
    });
    let running = s.names(&[]);
    assert_eq!(running, vec![s.name("db-1"), s.name("web-1")]);
    assert_down_leaves_nothing(&s, &ids);
}

/// The pid of the monitor of container `id` (`wharf container-monitor ID`).
fn monitor_of(root: &Path, id: &str) -> Option<i32> {
    processes_of(root)
        .iter()
        .find(|p| p.contains("container-monitor") && p.contains(id))
        .and_then(|p| p.split(':').next()?.parse().ok())
}

/// SIGKILL of a container's monitor, then at once `stop -t 0`, `kill` or
/// `rm -f`: the verb returns only once the exit is recorded (the shim
/// starts a new monitor, which reads the code the shim wrote down), so
/// `ps -a` and `inspect` run right after it show `Exited (137)`, never a
/// dead or unknown container, and `rm -f` leaves nothing.
#[test]
fn a_verb_right_after_the_monitor_was_killed_sees_the_exit_recorded() {
    let Some(registry) = harness::registry() else {
        return;
    };
    let root = data_root();
    let image = format!("{registry}/wharf-fixtures/busybox:latest");
    let mut ids = Vec::new();
    for verb in [&["stop", "-t", "0"][..], &["kill"], &["rm", "-f"]] {
        let id = wharf(
            root.path(),
            &["run", "-d", "--name", "victim", &image, "sleep", "3600"],
        )
        .ok()
        .stdout
        .trim()
        .to_string();
        ids.push(id.clone());
        let monitor = monitor_of(root.path(), &id).expect("the container's monitor");
        // SAFETY: kill(2) with a pid and a signal number.
        unsafe {
            libc::kill(monitor, libc::SIGKILL);
        }
        let mut args = verb.to_vec();
        args.push("victim");
        wharf(root.path(), &args).ok();
        if verb[0] == "rm" {
            assert_eq!(wharf(root.path(), &["ps", "-aq"]).ok().stdout.trim(), "");
            continue;
        }
        let status = wharf(root.path(), &["ps", "-a", "--format", "{{.Status}}"])
            .ok()
            .stdout;
        assert!(
            status.trim().starts_with("Exited (137)"),
            "after {verb:?}: {status}"
        );
        let inspect: serde_json::Value =
            serde_json::from_str(&wharf(root.path(), &["inspect", "victim"]).ok().stdout)
                .expect("inspect json");
        assert_eq!(inspect[0]["State"]["Status"], "exited", "{verb:?}");
        assert_eq!(inspect[0]["State"]["ExitCode"], 137, "{verb:?}");
        wharf(root.path(), &["rm", "victim"]).ok();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_of(root.path()).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        processes_of(root.path()),
        Vec::<String>::new(),
        "processes left"
    );
    assert_eq!(
        harness::cgroups_of(&ids),
        Vec::<PathBuf>::new(),
        "cgroups left"
    );
    wharf(root.path(), &["system", "prune", "-a", "-f"]).ok();
}
