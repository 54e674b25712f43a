//! Docker's single-container verbs as a user of `alias docker=wharf` sees
//! them: `diff`, `commit`, `export`, `import`, `history`, `rename`, and the
//! flags `inspect --type/-s` (and Docker's inspect keys), `{{.Label}}`,
//! `ps -s`, `logs --details`, `network ls --filter`, `image prune`/`system
//! prune`. Expected outputs recorded from
//! Docker 28.2 (Debian's docker.io) on the same busybox fixture are in
//! tests/data/docker-verbs/, made by `scripts/with-registry
//! scripts/docker-verbs-goldens`; each test says which it compares with.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace). Without it the tests say SKIPPED.

use std::io::Read as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "support/harness.rs"]
mod harness;
#[path = "support/pty.rs"]
mod pty;
use harness::{registry, Run};

/// The changes every recorded container makes (the same script as
/// scripts/docker-verbs-goldens runs under Docker).
const CHANGES: &str =
    "mkdir -p /new/deep && echo x > /new/deep/f && echo me >> /etc/passwd && rm /etc/group && echo hello";

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/docker-verbs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One data root with the busybox fixture pulled. Dropping it removes its
/// containers and networks and checks that no mount is left.
struct Rig {
    root: tempfile::TempDir,
    image: String,
}

impl Rig {
    fn new() -> Option<Rig> {
        let registry = registry()?;
        let root = tempfile::Builder::new()
            .prefix("wharf-dv-")
            .tempdir()
            .expect("tempdir");
        let rig = Rig {
            root,
            image: format!("{registry}/wharf-fixtures/busybox:latest"),
        };
        rig.wharf(&["pull", "-q", &rig.image]).ok();
        Some(rig)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
        c.arg("--root")
            .arg(self.root.path())
            .args(args)
            .env("HOME", self.root.path());
        c
    }

    fn wharf(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run wharf"))
    }

    /// `wharf` with `input` on its standard input.
    fn wharf_with_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wharf");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input).expect("write stdin");
        drop(stdin);
        Run::from(child.wait_with_output().expect("wait wharf"))
    }

    /// The recorded container: `CHANGES` run to completion, named `name`.
    fn changed_container(&self, name: &str) {
        self.wharf(&[
            "run",
            "--name",
            name,
            "--network",
            "none",
            &self.image,
            "sh",
            "-c",
            CHANGES,
        ])
        .ok();
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let ids = self.wharf(&["ps", "-aq", "--no-trunc"]).stdout;
        for id in ids.lines().filter(|l| !l.is_empty()) {
            self.wharf(&["rm", "-f", id]);
        }
        harness::remove_networks(self.root.path());
        if std::thread::panicking() {
            return;
        }
        let root = self.root.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let left: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
        assert!(left.is_empty(), "mounts left behind: {left:#?}");
        for id in ids.lines().filter(|l| !l.is_empty()) {
            let cg = Path::new("/sys/fs/cgroup/memory/wharf").join(id);
            assert!(!cg.exists(), "cgroup left behind: {}", cg.display());
        }
    }
}

/// Names in a tar stream, in order.
fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(bytes);
    archive
        .entries()
        .expect("tar entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// `diff` lists what the container changed as Docker does (recorded:
/// diff.txt), before and after the container is renamed (rename.txt's
/// names), and a renamed container answers to its new name only.
#[test]
fn diff_and_rename_as_docker() {
    let Some(rig) = Rig::new() else { return };
    rig.changed_container("dv-ctr");
    let diff = rig.wharf(&["diff", "dv-ctr"]).ok();
    assert_eq!(diff.stdout, golden("diff.txt"));

    let same = rig.wharf(&["rename", "dv-ctr", "dv-ctr"]);
    assert_ne!(same.code, 0);
    let want = golden("rename-same.txt");
    let first = want.lines().next().expect("recorded line");
    assert!(same.stderr.contains(first), "{}", same.stderr);

    rig.wharf(&["rename", "dv-ctr", "dv-renamed"]).ok();
    let names = rig.wharf(&["ps", "-a", "--format", "{{.Names}}"]).ok();
    assert_eq!(names.stdout, golden("rename-ps.txt"));
    assert_ne!(rig.wharf(&["inspect", "dv-ctr"]).code, 0);
    assert_eq!(
        rig.wharf(&["diff", "dv-renamed"]).ok().stdout,
        golden("diff.txt")
    );
    // `container rename` is the same verb; a taken name is refused.
    rig.wharf(&["run", "--name", "other", &rig.image, "true"])
        .ok();
    let taken = rig.wharf(&["container", "rename", "dv-renamed", "other"]);
    assert_ne!(taken.code, 0);
    assert!(taken.stderr.contains("already in use"), "{}", taken.stderr);
    // `container prune` removes the stopped ones, keeping a running one.
    rig.wharf(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "none",
        &rig.image,
        "sleep",
        "300",
    ])
    .ok();
    let pruned = rig.wharf(&["container", "prune", "-f"]).ok().stdout;
    assert!(pruned.starts_with("Deleted Containers:"), "{pruned}");
    let left = rig
        .wharf(&["ps", "-a", "--format", "{{.Names}}"])
        .ok()
        .stdout;
    assert_eq!(left, "up\n");
}

/// `commit` keeps the changes, the container's command and the `-c`
/// changes, with the author and message (recorded: commit-*.txt); a
/// `-c` that is not a config instruction is refused with Docker's words
/// and makes no image.
/// Issue 16: a prune without `-f` asks on stdout and reads the answer from
/// stdin whatever it is: EOF or `n` cancel (exit 0, nothing removed), `y`
/// goes on. Prompts recorded from Docker 28.2.2 (`docker volume prune -a
/// </dev/null`, `docker system prune`).
#[test]
fn prune_asks_and_reads_the_answer_from_stdin() {
    let Some(rig) = Rig::new() else {
        return;
    };
    rig.wharf(&["volume", "create", "keepme"]).ok();
    let volumes = || rig.wharf(&["volume", "ls", "-q"]).ok().stdout;
    for answer in [&b""[..], b"n\n", b"yes\n"] {
        let out = rig
            .wharf_with_stdin(&["volume", "prune", "-a"], answer)
            .ok();
        assert_eq!(
            out.stdout,
            "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] \n"
        );
        assert_eq!(volumes(), "keepme\n", "cancelled by {answer:?}");
    }
    let out = rig.wharf_with_stdin(&["system", "prune"], b"").ok();
    assert!(
        out.stdout.starts_with("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] "),
        "{}",
        out.stdout
    );
    assert_eq!(volumes(), "keepme\n");
    let out = rig
        .wharf_with_stdin(&["volume", "prune", "-a"], b"y\n")
        .ok();
    assert!(out.stdout.ends_with("keepme\n"), "{}", out.stdout);
    assert_eq!(volumes(), "");
}

/// Whether the v1 blkio controller lacks a weight file (this CI host):
/// where Docker discards a blkio weight with a warning.
fn blkio_weight_missing() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/blkio");
    v1.is_dir()
        && !["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .any(|f| v1.join(f).exists())
}

/// Issue 16: `--blkio-weight` on a blkio controller without a weight file
/// runs, with Docker's warning (moby's verifyPlatformContainerResources).
#[test]
fn blkio_weight_without_a_weight_file_is_discarded_with_a_warning() {
    if !blkio_weight_missing() {
        return;
    }
    let Some(rig) = Rig::new() else {
        return;
    };
    let out = rig
        .wharf(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--blkio-weight",
            "300",
            &rig.image,
            "echo",
            "ran",
        ])
        .ok();
    assert_eq!(out.stdout, "ran\n");
    let discarded = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.";
    assert!(out.stderr.contains(discarded), "{}", out.stderr);
    // `update` discards it the same way, and the other changes still apply.
    rig.wharf(&[
        "run",
        "-d",
        "--name",
        "dv-bw",
        "--network",
        "none",
        &rig.image,
        "sleep",
        "300",
    ])
    .ok();
    let out = rig
        .wharf(&[
            "update",
            "--blkio-weight",
            "300",
            "--pids-limit",
            "77",
            "dv-bw",
        ])
        .ok();
    assert!(out.stderr.contains(discarded), "{}", out.stderr);
    let pids = rig
        .wharf(&["inspect", "-f", "{{.HostConfig.PidsLimit}}", "dv-bw"])
        .ok()
        .stdout;
    assert_eq!(pids.trim(), "77");
    rig.wharf(&["rm", "-f", "dv-bw"]).ok();
}

#[test]
fn commit_makes_an_image_as_docker() {
    let Some(rig) = Rig::new() else { return };
    rig.changed_container("dv-ctr");
    let id = rig
        .wharf(&[
            "commit",
            "-m",
            "a message",
            "-a",
            "An Author",
            "-c",
            "ENV FOO=bar",
            "-c",
            r#"CMD ["cat", "/new/deep/f"]"#,
            "dv-ctr",
            "committed:1",
        ])
        .ok()
        .stdout;
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let run = rig
        .wharf(&["run", "--rm", "--network", "none", "committed:1"])
        .ok();
    assert_eq!(run.stdout, golden("commit-run.txt"));
    let hist = rig
        .wharf(&[
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            "committed:1",
        ])
        .ok();
    // The base's history lines are the fixture's own (not Docker's build
    // of it): only the committed line is compared.
    assert_eq!(
        hist.stdout.lines().next(),
        golden("commit-history.txt").lines().next()
    );
    let inspected = rig.wharf(&["image", "inspect", "committed:1"]).ok();
    let v: serde_json::Value = serde_json::from_str(&inspected.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    // The committed image sees the changes: /etc/group is gone.
    let gone = rig.wharf(&[
        "run",
        "--rm",
        "--network",
        "none",
        "committed:1",
        "sh",
        "-c",
        "test -e /etc/group || echo gone; tail -1 /etc/passwd; echo $FOO",
    ]);
    assert_eq!(gone.ok().stdout, "gone\nme\nbar\n");

    let images_before = rig.wharf(&["images", "-q"]).ok().stdout;
    let refused = rig.wharf(&["commit", "-c", "RUN true", "dv-ctr", "refused:1"]);
    assert_ne!(refused.code, 0);
    let recorded = golden("commit-refused.txt");
    assert!(
        refused.stderr.contains("run is not a valid change command"),
        "{} (Docker: {recorded})",
        refused.stderr
    );
    assert_eq!(rig.wharf(&["images", "-q"]).ok().stdout, images_before);
}

/// `export` writes the container's filesystem as Docker's tar does (the
/// recorded list, less the init-layer files Docker makes and wharf does
/// not: .dockerenv, /etc/mtab, /dev/console…), and `import` makes an
/// image of it that runs with the `-c` command (recorded: import-*.txt).
#[test]
fn export_and_import_as_docker() {
    let Some(rig) = Rig::new() else { return };
    rig.changed_container("dv-ctr");
    let out = rig.scratch("fs.tar");
    rig.wharf(&["export", "-o", out.to_str().expect("utf-8"), "dv-ctr"])
        .ok();
    let bytes = std::fs::read(&out).expect("exported tar");
    let mut names = tar_names(&bytes);
    names.sort();
    let docker_only = [
        ".dockerenv",
        "dev/console",
        "dev/pts/",
        "dev/shm/",
        "etc/mtab",
    ];
    let mut recorded: Vec<String> = golden("export-list.txt")
        .lines()
        .filter(|l| !docker_only.contains(l))
        .map(str::to_string)
        .collect();
    recorded.sort();
    let extra: Vec<&String> = names.iter().filter(|n| !recorded.contains(n)).collect();
    let missing: Vec<&String> = recorded.iter().filter(|n| !names.contains(n)).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "extra: {extra:?}\nmissing: {missing:?}"
    );

    // To standard output when it is not a terminal.
    let mut child = rig
        .command(&["container", "export", "dv-ctr"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut streamed = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut streamed)
        .expect("read");
    assert!(child.wait().expect("wait").success());
    assert_eq!(tar_names(&streamed).len(), names.len());

    // `import -` reads the tar from stdin (gzip too).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &bytes).expect("gzip");
    let gz = gz.finish().expect("gzip");
    let id = rig
        .wharf_with_stdin(
            &[
                "import",
                "-c",
                r#"CMD ["cat", "/new/deep/f"]"#,
                "-",
                "imported:1",
            ],
            &gz,
        )
        .ok()
        .stdout;
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let run = rig
        .wharf(&["run", "--rm", "--network", "none", "imported:1"])
        .ok();
    assert_eq!(run.stdout, golden("import-run.txt"));
    let hist = rig
        .wharf(&[
            "image",
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            "imported:1",
        ])
        .ok();
    assert_eq!(hist.stdout, golden("import-history.txt"));

    // A file, and what is not a tar.
    let from_file = rig.wharf(&["image", "import", out.to_str().expect("utf-8")]);
    assert!(from_file.ok().stdout.starts_with("sha256:"));
    let bad = rig.scratch("bad.tar.xz");
    std::fs::write(&bad, b"\xfd7zXZ\x00rest").expect("write");
    let refused = rig.wharf(&["import", bad.to_str().expect("utf-8")]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("xz"), "{}", refused.stderr);
    let url = rig.wharf(&["import", "http://127.0.0.1:9/x.tar"]);
    assert_ne!(url.code, 0);
    assert!(url.stderr.contains("URL"), "{}", url.stderr);
}

/// `history` has Docker's header (recorded: history-header.txt) and `-q`
/// prints the image id on the newest row.
#[test]
fn history_has_docker_s_columns() {
    let Some(rig) = Rig::new() else { return };
    let hist = rig.wharf(&["history", &rig.image]).ok();
    let header = hist.stdout.lines().next().unwrap_or_default();
    let words = |s: &str| {
        s.split("  ")
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(header),
        words(golden("history-header.txt").trim_end())
    );
    // `image pull` is `pull`, as in Docker.
    rig.wharf(&["image", "pull", "-q", &rig.image]).ok();
    let quiet = rig.wharf(&["history", "-q", &rig.image]).ok().stdout;
    let ids: Vec<&str> = quiet.lines().collect();
    let id = rig.wharf(&["images", "-q"]).ok().stdout;
    assert_eq!(ids.first().copied(), Some(id.trim()));
    assert!(ids[1..].iter().all(|l| *l == "<missing>"), "{quiet}");
}

/// `ps -s` and `inspect -s` show the writable layer's size as Docker does
/// (recorded: ps-size.txt `121B (virtual 1.99MB)`, inspect-size.txt);
/// `inspect --type` keeps to one kind of object; `logs --details` puts the
/// (empty) attributes before each line (recorded: logs-details.txt).
#[test]
fn sizes_types_and_log_details() {
    let Some(rig) = Rig::new() else { return };
    rig.changed_container("dv-ctr");
    let size = rig
        .wharf(&["ps", "-a", "-s", "--format", "{{.Size}}"])
        .ok()
        .stdout;
    let recorded = golden("ps-size.txt");
    let shape = |s: &str| {
        let s = s.trim();
        s.ends_with(')') && s.contains("B (virtual ") && s.ends_with("B)")
    };
    assert!(shape(&size) && shape(&recorded), "{size} vs {recorded}");
    let table = rig.wharf(&["ps", "-a", "-s"]).ok().stdout;
    assert!(
        table.lines().next().is_some_and(|h| h.ends_with("SIZE")),
        "{table}"
    );
    let sizes = rig
        .wharf(&[
            "inspect",
            "-s",
            "--format",
            "{{.SizeRw}} {{.SizeRootFs}}",
            "dv-ctr",
        ])
        .ok()
        .stdout;
    let nums: Vec<u64> = sizes
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect();
    // The writable layer holds at least the new file and the grown passwd.
    assert!(
        nums.len() == 2 && nums[0] >= 2 && nums[1] > nums[0],
        "{sizes}"
    );

    // --type: the container is not a volume (Docker's words and exit 1).
    let typed = rig.wharf(&["inspect", "--type", "volume", "dv-ctr"]);
    assert_eq!(typed.code, 1);
    let recorded = golden("inspect-type-refused.txt");
    assert_eq!(typed.stdout, "[]\n");
    assert!(
        recorded.contains(typed.stderr.trim()),
        "{} vs {recorded}",
        typed.stderr
    );
    // Untyped, an image name finds the image; an unknown name is an error.
    let image = rig.wharf(&["inspect", "--format", "{{.config_digest}}", &rig.image]);
    assert!(image.ok().stdout.starts_with("sha256:"));
    rig.wharf(&["volume", "create", "dv-vol"]).ok();
    let vol = rig
        .wharf(&[
            "inspect",
            "--type",
            "volume",
            "--format",
            "{{.Name}}",
            "dv-vol",
        ])
        .ok();
    assert_eq!(vol.stdout, "dv-vol\n");
    let unknown = rig.wharf(&["inspect", "nothing-here"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("No such object: nothing-here"),
        "{}",
        unknown.stderr
    );
    let bad_type = rig.wharf(&["inspect", "--type", "plugin", "dv-ctr"]);
    assert_ne!(bad_type.code, 0);

    let logs = rig.wharf(&["logs", "--details", "dv-ctr"]).ok();
    assert_eq!(logs.stdout, golden("logs-details.txt"));
}

/// The dotted key paths of `v` (array levels left out), as
/// scripts/docker-verbs-goldens records Docker's with jq.
fn key_paths(v: &serde_json::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                key_paths(child, &path, out);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                key_paths(item, prefix, out);
            }
        }
        _ => {}
    }
}

/// The recorded key paths Docker has and `json` lacks.
fn missing_keys(recorded: &str, json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("inspect json");
    let mut ours = std::collections::BTreeSet::new();
    key_paths(&v[0], "", &mut ours);
    recorded
        .lines()
        .map(|l| l.replace(".[]", ""))
        .filter(|k| !ours.contains(k))
        .collect()
}

/// `inspect -f` gives what a Docker user's scripts read, for a container
/// run as `run -d -p 127.0.0.1:PORT:80 -v DIR:/hosttmp --restart
/// on-failure:3 -e A=1 busybox sleep 60`, and `image inspect -f` for its
/// image; both have every key Docker 28.2 shows for the same run
/// (recorded: inspect-container-keys.txt, inspect-image-keys.txt, by
/// `scripts/docker-verbs-goldens inspect`).
#[test]
fn inspect_has_dockers_keys_and_values() {
    let Some(rig) = Rig::new() else { return };
    let dir = rig.scratch("hosttmp");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let port = 18391;
    let publish = format!("127.0.0.1:{port}:80");
    let bind = format!("{}:/hosttmp", dir.display());
    rig.wharf(&[
        "run",
        "-d",
        "--name",
        "dv-insp",
        "-p",
        &publish,
        "-v",
        &bind,
        "--restart",
        "on-failure:3",
        "-e",
        "A=1",
        &rig.image,
        "sleep",
        "60",
    ])
    .ok();
    let f = |template: &str| {
        let out = rig.wharf(&["inspect", "-f", template, "dv-insp"]).ok();
        out.stdout.trim_end_matches('\n').to_string()
    };
    assert_eq!(f("{{.Path}} {{json .Args}}"), r#"sleep ["60"]"#);
    assert_eq!(
        f("{{json .Config.Cmd}} {{json .Config.Entrypoint}}"),
        r#"["sleep","60"] null"#
    );
    assert_eq!(
        f("[{{.Config.WorkingDir}}][{{.Config.User}}] {{.Config.Tty}} {{.Config.OpenStdin}}"),
        "[][] false false"
    );
    assert_eq!(
        f("{{json .Config.ExposedPorts}} {{json .Config.Volumes}}"),
        r#"{"80/tcp":{}} null"#
    );
    // The image's PATH after the user's variable, as Docker merges them.
    let env: Vec<String> = serde_json::from_str(&f("{{json .Config.Env}}")).expect("env");
    assert_eq!(env.first().map(String::as_str), Some("A=1"), "{env:?}");
    assert!(env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert_eq!(
        f("{{json .HostConfig.Binds}}"),
        format!(r#"["{}:/hosttmp"]"#, dir.display())
    );
    let published = format!(r#"{{"80/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{port}"}}]}}"#);
    assert_eq!(f("{{json .HostConfig.PortBindings}}"), published);
    assert_eq!(f("{{json .NetworkSettings.Ports}}"), published);
    assert_eq!(
        f("{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"),
        "on-failure 3"
    );
    assert_eq!(
        f("{{.HostConfig.Privileged}} {{.HostConfig.Memory}} {{.HostConfig.NetworkMode}}"),
        "false 0 bridge"
    );
    assert_eq!(
        f("{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}} [{{.Mode}}]{{end}}"),
        format!("bind {} /hosttmp true []", dir.display())
    );
    // The address, gateway and MAC are the ones the container has.
    let addr = f("{{.NetworkSettings.Networks.bridge.IPAddress}}");
    assert_eq!(addr, f("{{.NetworkSettings.IPAddress}}"));
    let ip: Ipv4Addr = addr.parse().expect("an IPv4 address");
    let exec = |cmd: &str| {
        let out = rig.wharf(&["exec", "dv-insp", "sh", "-c", cmd]).ok();
        out.stdout.trim().to_string()
    };
    assert!(exec("cat /etc/hosts").contains(&ip.to_string()));
    let gateway = f("{{.NetworkSettings.Networks.bridge.Gateway}}");
    assert_eq!(
        exec("ip route | sed -n 's/^default via \\([^ ]*\\).*/\\1/p'"),
        gateway
    );
    assert_eq!(
        exec("cat /sys/class/net/eth0/address"),
        f("{{.NetworkSettings.Networks.bridge.MacAddress}}")
    );
    // State: the pid runs, a start time is set, no exit yet.
    let pid: u32 = f("{{.State.Pid}}").parse().expect("pid");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(f("{{.State.StartedAt}}").starts_with("20"));
    assert_eq!(
        f("{{.State.Status}} {{.State.Running}} {{.State.ExitCode}} {{.State.OOMKilled}}"),
        "running true 0 false"
    );
    assert!(Path::new(&f("{{.LogPath}}")).is_file());

    let json = rig.wharf(&["inspect", "dv-insp"]).ok().stdout;
    let missing = missing_keys(&golden("inspect-container-keys.txt"), &json);
    assert!(missing.is_empty(), "keys Docker has: {missing:?}");

    // The image: the id a container's .Image names, its tags, platform
    // and the fixture's config (scripts/fixtures/README.md: Cmd ["sh"]).
    let image = |template: &str| {
        let out = rig
            .wharf(&["image", "inspect", "-f", template, &rig.image])
            .ok();
        out.stdout.trim_end_matches('\n').to_string()
    };
    assert_eq!(image("{{.Id}}"), f("{{.Image}}"));
    assert_eq!(image("{{json .RepoTags}}"), format!(r#"["{}"]"#, rig.image));
    assert_eq!(image("{{.Os}}"), "linux");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(image("{{.Architecture}}"), arch);
    assert!(image("{{.Size}}").parse::<u64>().expect("size") > 0);
    assert_eq!(image("{{json .Config.Cmd}}"), r#"["sh"]"#);
    assert!(image("{{json .Config.Env}}").contains("PATH="));
    let json = rig.wharf(&["image", "inspect", &rig.image]).ok().stdout;
    let missing = missing_keys(&golden("inspect-image-keys.txt"), &json);
    assert!(missing.is_empty(), "keys Docker has: {missing:?}");
    let unknown = rig.wharf(&["image", "inspect", "-f", "{{.Id}}", "nothing-here"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("No such image: nothing-here"));
}

/// `{{.Label "a"}}` on `ps`, `volume ls` and `network ls` rows gives the
/// label's value ("" for one the object lacks), a value with a comma
/// whole (recorded: label-method.txt); `ps`'s default table has Docker's
/// columns, CREATED among them (recorded: ps-header.txt).
#[test]
fn label_method_and_ps_created_column() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&[
        "create",
        "--name",
        "dv-label",
        "--network",
        "none",
        "--label",
        "a=1",
        "--label",
        "b=x,y",
        &rig.image,
        "true",
    ])
    .ok();
    rig.wharf(&["volume", "create", "--label", "a=2", "dv-label-vol"])
        .ok();
    rig.wharf(&["network", "create", "--label", "a=3", "dv-label-net"])
        .ok();
    let mut out = rig
        .wharf(&[
            "ps",
            "-a",
            "--filter",
            "name=dv-label",
            "--format",
            r#"{{.Names}} [{{.Label "a"}}] [{{.Label "b"}}] [{{.Label "zz"}}]"#,
        ])
        .ok()
        .stdout;
    for kind in ["volume", "network"] {
        let name = format!("name=dv-label-{}", &kind[..3]);
        let listed = rig.wharf(&[
            kind,
            "ls",
            "--filter",
            &name,
            "--format",
            r#"{{.Name}} [{{.Label "a"}}] [{{.Label "zz"}}]"#,
        ]);
        out += &listed.ok().stdout;
    }
    assert_eq!(out, golden("label-method.txt"));

    let table = rig.wharf(&["ps", "-a"]).ok().stdout;
    let titles = |line: &str| -> Vec<String> {
        line.split("  ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    };
    let recorded = golden("ps-header.txt");
    assert_eq!(
        titles(table.lines().next().unwrap_or_default()),
        titles(&recorded),
        "{table}"
    );
    // The row's CREATED cell says how long ago, as Docker's.
    let created = table.find("CREATED").expect("CREATED column");
    let row = table.lines().nth(1).expect("a row");
    assert!(row[created..].contains(" ago"), "{table}");
    rig.wharf(&["volume", "rm", "dv-label-vol"]).ok();
}

/// `network ls --filter` keeps what Docker's filters keep; `image prune
/// --filter label=` and `system prune` remove only what they name.
#[test]
fn network_filters_and_prunes() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&["network", "create", "--label", "tier=web", "dv-front"])
        .ok();
    rig.wharf(&["network", "create", "dv-back"]).ok();
    let names = |filters: &[&str]| {
        let mut args = vec!["network", "ls", "--format", "{{.Name}}"];
        for f in filters {
            args.extend(["--filter", f]);
        }
        let mut v: Vec<String> = rig
            .wharf(&args)
            .ok()
            .stdout
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&["name=dv-"]), ["dv-back", "dv-front"]);
    assert_eq!(names(&["label=tier=web"]), ["dv-front"]);
    assert_eq!(
        names(&["name=dv-", "driver=bridge", "type=custom"]),
        ["dv-back", "dv-front"]
    );
    assert!(names(&["driver=overlay"]).is_empty());
    let bad = rig.wharf(&["network", "ls", "--filter", "color=red"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("color"), "{}", bad.stderr);

    // An untagged labelled image and an unlabelled one: the filter picks.
    rig.changed_container("dv-ctr");
    rig.wharf(&["commit", "-c", "LABEL keep=no", "dv-ctr"]).ok();
    let unlabelled = rig.wharf(&["commit", "dv-ctr"]).ok().stdout;
    let before = rig.wharf(&["images", "-q", "--no-trunc"]).ok().stdout;
    assert_eq!(before.lines().count(), 3, "{before}");
    rig.wharf(&["image", "prune", "-f", "--filter", "label=keep=no"])
        .ok();
    let after = rig.wharf(&["images", "-q", "--no-trunc"]).ok().stdout;
    assert_eq!(after.lines().count(), 2, "{after}");
    assert!(after.contains(unlabelled.trim()), "{after}");

    // system prune: the stopped container, the unused networks and the
    // untagged image go; the pulled image stays.
    let pruned = rig.wharf(&["system", "prune", "-f"]).ok();
    assert!(
        pruned.stdout.contains("Deleted Containers:"),
        "{}",
        pruned.stdout
    );
    assert!(pruned.stdout.contains("dv-front"), "{}", pruned.stdout);
    assert!(rig.wharf(&["ps", "-aq"]).ok().stdout.trim().is_empty());
    assert!(names(&["name=dv-"]).is_empty());
    let left = rig.wharf(&["images", "-q"]).ok().stdout;
    assert_eq!(left.lines().count(), 1, "{left}");
}

/// Polls `check` for up to 30 s.
fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// A cgroup v1 file of container `id` (the hosts these tests run on use v1).
fn cgroup_v1(controller: &str, id: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join("wharf")
            .join(id)
            .join(file),
    )
    .ok()
    .map(|s| s.trim().to_string())
}

/// `update` changes a running container's cgroup at once and its record
/// for the next start; the restart policy too. Bad values are refused.
#[test]
fn update_changes_limits_of_a_running_container() {
    let Some(rig) = Rig::new() else { return };
    let id = rig
        .wharf(&[
            "run",
            "-d",
            "--name",
            "up",
            "--network",
            "none",
            &rig.image,
            "sleep",
            "300",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let out = rig
        .wharf(&[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--pids-limit",
            "50",
            "--cpus",
            "0.5",
            "--restart",
            "on-failure:2",
            "up",
        ])
        .ok();
    assert_eq!(out.stdout, "up\n");
    let v1 = cgroup_v1("memory", &id, "memory.limit_in_bytes").is_some();
    if v1 {
        assert_eq!(
            cgroup_v1("memory", &id, "memory.limit_in_bytes").as_deref(),
            Some("67108864")
        );
        assert_eq!(cgroup_v1("pids", &id, "pids.max").as_deref(), Some("50"));
        assert_eq!(
            cgroup_v1("cpu", &id, "cpu.cfs_quota_us").as_deref(),
            Some("50000")
        );
    }
    let spec = rig
        .wharf(&["inspect", "--format", "{{json .Spec}}", "up"])
        .ok()
        .stdout;
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("spec json");
    assert_eq!(spec["resources"]["memory"], 64 << 20);
    assert_eq!(spec["resources"]["pids_limit"], 50);
    assert_eq!(spec["restart"]["name"], "on-failure");
    assert_eq!(spec["restart"]["max_retries"], 2);
    // The limits outlive a restart.
    rig.wharf(&["restart", "-t", "1", "up"]).ok();
    if v1 {
        assert_eq!(
            cgroup_v1("memory", &id, "memory.limit_in_bytes").as_deref(),
            Some("67108864")
        );
    }
    // Nothing to change, a bad value, an unknown container: errors.
    assert_ne!(rig.wharf(&["update", "up"]).code, 0);
    let bad = rig.wharf(&["update", "--blkio-weight", "5", "up"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("blkio"), "{}", bad.stderr);
    let missing = rig.wharf(&["update", "--pids-limit", "10", "nope"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("No such container"),
        "{}",
        missing.stderr
    );
}

/// The `run`/`create` flags added to Docker's list apply to the container
/// (its spec, its cgroup, its health) or are refused before anything is
/// made.
#[test]
fn run_flags_apply_or_refuse() {
    let Some(rig) = Rig::new() else { return };
    let labels = rig.scratch("labels");
    std::fs::write(&labels, "# comment\nfrom=file\nboth=file\n").expect("labels");
    let cid = rig.scratch("cid");
    let id = rig
        .wharf(&[
            "run",
            "-d",
            "--name",
            "flags",
            "--network",
            "none",
            "--cpu-period",
            "50000",
            "--cpu-quota",
            "25000",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "--device-cgroup-rule",
            "c 1:3 mr",
            "--label-file",
            labels.to_str().expect("utf-8"),
            "-l",
            "both=flag",
            "--cidfile",
            cid.to_str().expect("utf-8"),
            "--health-cmd",
            "test -e /tmp",
            "--health-interval",
            "1s",
            "--health-start-period",
            "1s",
            "--uts",
            "host",
            "--pull",
            "never",
            "-q",
            &rig.image,
            "sleep",
            "300",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(std::fs::read_to_string(&cid).expect("cidfile"), id);
    let spec = rig
        .wharf(&["inspect", "--format", "{{json .Spec}}", "flags"])
        .ok()
        .stdout;
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("spec json");
    assert_eq!(spec["resources"]["cpu_period"], 50000);
    assert_eq!(spec["resources"]["cpu_quota"], 25000);
    assert_eq!(spec["resources"]["memory_swappiness"], 10);
    assert_eq!(spec["resources"]["oom_kill_disable"], true);
    assert_eq!(spec["device_cgroup_rules"][0], "c 1:3 mr");
    assert_eq!(spec["labels"]["from"], "file");
    assert_eq!(spec["labels"]["both"], "flag");
    assert_eq!(spec["healthcheck"]["test"][0], "CMD-SHELL");
    if cgroup_v1("cpu", &id, "cpu.cfs_quota_us").is_some() {
        assert_eq!(
            cgroup_v1("cpu", &id, "cpu.cfs_quota_us").as_deref(),
            Some("25000")
        );
    }
    // --uts host: the host's name inside.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    let inside = rig.wharf(&["exec", "flags", "hostname"]).ok().stdout;
    assert_eq!(inside.trim(), host.trim());
    until("the health check to pass", || {
        rig.wharf(&["inspect", "--format", "{{.State.Health.Status}}", "flags"])
            .stdout
            .trim()
            == "healthy"
    });
    // --link to an existing container is taken (a missing one is refused below).
    rig.wharf(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--link",
        "flags:db",
        &rig.image,
        "true",
    ])
    .ok();

    let before = rig.wharf(&["ps", "-aq"]).ok().stdout;
    for (flags, needle) in [
        (
            vec!["--cidfile", cid.to_str().expect("utf-8")],
            "Container ID file found",
        ),
        (vec!["--memory-swappiness", "200"], "memory-swappiness"),
        (vec!["--blkio-weight", "5"], "blkio-weight"),
        (vec!["--health-interval", "1s"], "--health-cmd"),
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck",
        ),
        (vec!["--uts", "private"], "--uts"),
        (vec!["--cgroupns", "other"], "--cgroupns"),
        (vec!["--link", "nobody:x"], "--link"),
        (vec!["--pull", "sometimes"], "pull"),
    ] {
        let mut args = vec!["run", "--network", "none"];
        args.extend(flags.iter().copied());
        args.extend([rig.image.as_str(), "true"]);
        let r = rig.wharf(&args);
        assert_eq!(r.code, 125, "{flags:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{flags:?}: {}", r.stderr);
    }
    let never = rig.wharf(&["run", "--pull", "never", "127.0.0.1:9/not/here:1", "true"]);
    assert_ne!(never.code, 0);
    assert!(never.stderr.contains("No such image"), "{}", never.stderr);
    // Refused runs made nothing.
    assert_eq!(rig.wharf(&["ps", "-aq"]).ok().stdout, before);
    // --gpus on this host without GPUs (no CDI spec, no nvidia hook): a
    // clear error naming the flag, and nothing made.
    let gpus = rig.wharf(&["run", "--gpus", "all", &rig.image, "true"]);
    assert_eq!(gpus.code, 125, "{}", gpus.stderr);
    assert!(gpus.stderr.contains("--gpus all: "), "{}", gpus.stderr);
    assert_eq!(rig.wharf(&["ps", "-aq"]).ok().stdout, before);
}

/// Docker's `run`/`create` flags for streams, signals, cgroup, removal and
/// platform, as a user checks them: `-a STDERR` prints only stderr
/// (`-a` with `-d` is Docker's error), `--sig-proxy=false` leaves a
/// SIGTERM sent to `run` to end `run` alone, `--cgroup-parent` puts its cgroup
/// under that parent, `create --rm` is AutoRemove (gone after it ran
/// once), `--platform` of another platform than the fixture's is Docker's
/// error with nothing made. Messages from Docker CLI 28 / moby's source.
#[test]
fn run_streams_signals_cgroup_parent_and_platform() {
    let Some(rig) = Rig::new() else { return };
    let base = ["--network", "none", "--pull", "never", "-q"];
    let run = |flags: &[&str], command: &[&str]| {
        let mut args = vec!["run"];
        args.extend(flags);
        args.extend(base);
        args.push(&rig.image);
        args.extend(command);
        rig.wharf(&args)
    };
    let both = ["sh", "-c", "echo out; echo err >&2"];
    let only_err = run(&["--rm", "-a", "STDERR"], &both).ok();
    assert_eq!(only_err.stdout, "");
    assert!(only_err.stderr.contains("err\n"), "{}", only_err.stderr);
    assert!(!only_err.stderr.contains("out"), "{}", only_err.stderr);
    let only_out = run(&["--rm", "-a", "stdout"], &both).ok();
    assert_eq!(only_out.stdout, "out\n");
    assert!(!only_out.stderr.contains("err"), "{}", only_out.stderr);

    let before = rig.wharf(&["ps", "-aq"]).ok().stdout;
    let conflict = run(&["-d", "-a", "STDOUT"], &["true"]);
    assert_eq!(conflict.code, 125);
    assert!(
        conflict.stderr.contains("Conflicting options: -a and -d"),
        "{}",
        conflict.stderr
    );
    let bad = run(&["-a", "STDWHAT"], &["true"]);
    assert_eq!(bad.code, 125);
    assert!(
        bad.stderr
            .contains("valid streams are STDIN, STDOUT and STDERR"),
        "{}",
        bad.stderr
    );
    // Another platform than the fixture's (linux/amd64 only).
    let arm = rig.wharf(&[
        "run",
        "--platform",
        "linux/arm64",
        "--network",
        "none",
        "-q",
        &rig.image,
        "true",
    ]);
    assert_eq!(arm.code, 125, "{}", arm.stderr);
    assert!(arm.stderr.contains("linux/arm64"), "{}", arm.stderr);
    assert_eq!(rig.wharf(&["ps", "-aq"]).ok().stdout, before);
    // The host's own platform is taken.
    run(&["--rm", "--platform", "linux/amd64"], &["true"]).ok();

    // A SIGTERM to `run` reaches the container (its trap says so) unless
    // --sig-proxy=false: then, as Docker's CLI, `run` leaves the signal
    // alone and is ended by it, and the container runs on, untrapped,
    // under its own monitor until told to stop (then --rm removes it).
    let script = "trap 'echo got TERM; exit 7' TERM; echo up; while [ ! -e /tmp/stop ]; do sleep 0.1; done; echo done";
    for (proxy, name) in [
        ("--sig-proxy=true", "proxied"),
        ("--sig-proxy=false", "kept"),
    ] {
        let mut args = vec!["run", proxy, "--rm", "--name", name];
        args.extend(base);
        args.extend([rig.image.as_str(), "sh", "-c", script]);
        let child = rig
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn run");
        until("the trap to be set", || {
            rig.wharf(&["logs", name]).stdout.contains("up")
        });
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("kill");
        let out = child.wait_with_output().expect("wait run");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if name == "proxied" {
            assert_eq!(out.status.code(), Some(7), "{stdout}");
            assert!(stdout.contains("got TERM"), "{stdout}");
            continue;
        }
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{stdout}");
        let status = rig
            .wharf(&["inspect", "-f", "{{.State.Status}}", name])
            .ok()
            .stdout;
        assert_eq!(status.trim(), "running");
        rig.wharf(&["exec", name, "touch", "/tmp/stop"]).ok();
        until("kept to finish and be removed", || {
            rig.wharf(&["inspect", name]).code != 0
        });
    }

    // --cgroup-parent: the container's cgroup is under the parent.
    use wharf::runtime::cgroups;
    let parent = format!("wharf-test-runparent-{}", std::process::id());
    let slash_parent = format!("/{parent}");
    let id = run(
        &["-d", "--name", "cg", "--cgroup-parent", &slash_parent],
        &["sleep", "300"],
    )
    .ok()
    .stdout
    .trim()
    .to_string();
    let procs = cgroups::procs(Path::new(cgroups::DEFAULT_ROOT), &format!("/{parent}/{id}"))
        .expect("the container's cgroup under its parent");
    assert!(!procs.is_empty(), "no process in /{parent}/{id}");
    let shown = rig
        .wharf(&["inspect", "-f", "{{.HostConfig.CgroupParent}}", "cg"])
        .ok()
        .stdout;
    assert_eq!(shown.trim(), slash_parent);
    rig.wharf(&["rm", "-f", "cg"]).ok();
    harness::remove_cgroup_parent(&parent, &id);

    // create --rm: AutoRemove, and gone once it has run.
    rig.wharf(&[
        "create",
        "--rm",
        "--name",
        "auto",
        "--network",
        "none",
        &rig.image,
        "true",
    ])
    .ok();
    let auto = rig
        .wharf(&["inspect", "-f", "{{.HostConfig.AutoRemove}}", "auto"])
        .ok()
        .stdout;
    assert_eq!(auto.trim(), "true");
    rig.wharf(&["start", "auto"]).ok();
    until("the --rm container to be removed", || {
        rig.wharf(&["inspect", "auto"]).code != 0
    });
}

/// Docker's help and short flags: `container --help` and `image --help`
/// list their verbs, `stop`/`restart --help` show `-t, --timeout` (the
/// old `--time` still works), `ps -f` and `container ls -f` filter.
#[test]
fn group_help_timeout_and_ps_filter_short_flag() {
    let Some(rig) = Rig::new() else { return };
    let container = rig.wharf(&["container", "--help"]).ok().stdout;
    assert!(container.contains("Manage containers"), "{container}");
    assert!(container.contains("\n  ls "), "{container}");
    let image = rig.wharf(&["image", "--help"]).ok().stdout;
    assert!(image.contains("\n  pull "), "{image}");
    for verb in ["stop", "restart"] {
        let help = rig.wharf(&[verb, "--help"]).ok().stdout;
        assert!(help.contains("-t, --timeout <"), "{verb}: {help}");
    }
    for name in ["fx", "fy"] {
        rig.wharf(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            &rig.image,
            "sleep",
            "300",
        ])
        .ok();
    }
    rig.wharf(&["stop", "--time", "0", "fy"]).ok();
    let fx = rig
        .wharf(&["ps", "-a", "-f", "name=fx", "--format", "{{.Names}}"])
        .ok()
        .stdout;
    assert_eq!(fx, "fx\n");
    let fy = rig
        .wharf(&[
            "container",
            "ls",
            "-a",
            "-f",
            "name=fy",
            "--format",
            "{{.Names}}",
        ])
        .ok()
        .stdout;
    assert_eq!(fy, "fy\n");
    rig.wharf(&["stop", "-t", "0", "fx"]).ok();
}

/// `volume create -d local -o …` makes Docker's local-driver volumes: a
/// named bind of a host directory and a sized tmpfs; other drivers and
/// mount types are refused before anything is made.
#[test]
fn volume_create_with_local_driver_options() {
    let Some(rig) = Rig::new() else { return };
    let host_dir = rig.scratch("bound");
    std::fs::create_dir(&host_dir).expect("mkdir");
    let device = format!("device={}", host_dir.display());
    rig.wharf(&[
        "volume",
        "create",
        "-d",
        "local",
        "-o",
        "type=none",
        "-o",
        "o=bind",
        "-o",
        &device,
        "bv",
    ])
    .ok();
    rig.wharf(&[
        "volume",
        "create",
        "-o",
        "type=tmpfs",
        "-o",
        "o=size=2m",
        "tv",
    ])
    .ok();
    let opts = rig.wharf(&["volume", "inspect", "bv"]).ok().stdout;
    let v: serde_json::Value = serde_json::from_str(&opts).expect("json");
    assert_eq!(v[0]["Options"]["o"], "bind");
    let out = rig
        .wharf(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "bv:/data",
            "-v",
            "tv:/t",
            &rig.image,
            "sh",
            "-c",
            "echo hi > /data/f && df -k /t | tail -1",
        ])
        .ok()
        .stdout;
    assert_eq!(
        std::fs::read_to_string(host_dir.join("f")).expect("bound file"),
        "hi\n"
    );
    let size: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(size.get(1).copied(), Some("2048"), "{out}");

    for (args, needle) in [
        (
            vec!["volume", "create", "-d", "nfs-plugin", "x1"],
            "nfs-plugin",
        ),
        // Any named type is mounted with mount(2) (nfs: `addr=`); a
        // typeless one must be a bind.
        (
            vec!["volume", "create", "-o", "o=addr=127.0.0.1", "x2"],
            "type= o=addr=127.0.0.1",
        ),
        (
            vec!["volume", "create", "-o", "type=none", "-o", "o=bind", "x3"],
            "without a device",
        ),
        (vec!["volume", "create", "-o", "novalue", "x4"], "KEY=VALUE"),
    ] {
        let r = rig.wharf(&args);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
    let names = rig.wharf(&["volume", "ls", "-q"]).ok().stdout;
    assert!(!names.contains('x'), "a refused volume was made: {names}");
}

/// `--mount` binds, volumes and tmpfs as `-v`/`--tmpfs` would; `-P`
/// publishes `--expose`d ports on random host ports; `--log-opt` sets the
/// rotation; what wharf cannot do is refused by name.
#[test]
fn mount_publish_all_and_log_flags() {
    let Some(rig) = Rig::new() else { return };
    let host_dir = rig.scratch("m");
    std::fs::create_dir(&host_dir).expect("mkdir");
    let bind = format!("type=bind,source={},target=/b", host_dir.display());
    let out = rig
        .wharf(&[
            "run", "--rm", "--network", "none", "--mount", &bind, "--mount",
            "type=volume,source=mv,target=/v", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
            "--mount", "type=volume,source=mv,target=/ro,readonly",
            &rig.image, "sh", "-c",
            "echo b > /b/f && echo v > /v/f && cat /ro/f && df -k /t | tail -1 && (touch /ro/x 2>/dev/null || echo ro)",
        ])
        .ok()
        .stdout;
    assert_eq!(
        std::fs::read_to_string(host_dir.join("f")).expect("bound"),
        "b\n"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some("v"), "{out}");
    assert_eq!(
        lines.get(1).and_then(|l| l.split_whitespace().nth(1)),
        Some("1024"),
        "{out}"
    );
    assert_eq!(lines.get(2).copied(), Some("ro"), "{out}");
    let missing = rig.wharf(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,source=/nonexistent/dv,target=/x",
        &rig.image,
        "true",
    ]);
    assert_eq!(missing.code, 125);
    assert!(
        missing.stderr.contains("bind source path does not exist"),
        "{}",
        missing.stderr
    );

    let id = rig
        .wharf(&[
            "run",
            "-d",
            "-P",
            "--expose",
            "7000",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=2",
            &rig.image,
            "sleep",
            "300",
        ])
        .ok()
        .stdout;
    let port = rig.wharf(&["port", id.trim(), "7000"]).ok().stdout;
    let host_port: u16 = port
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no host port: {port}"));
    assert!(host_port > 0, "{port}");
    let spec = rig
        .wharf(&["inspect", "--format", "{{json .Spec}}", id.trim()])
        .ok()
        .stdout;
    let spec: serde_json::Value = serde_json::from_str(&spec).expect("spec");
    assert_eq!(spec["log_max_size"], 1024);
    assert_eq!(spec["log_max_files"], 2);
    for (flags, needle) in [
        (vec!["--expose", "7000"], "--expose"),
        (vec!["--log-driver", "fluentd"], "--log-driver fluentd"),
        (vec!["--userns", "private"], "--userns"),
    ] {
        let mut args = vec!["run", "--rm", "--network", "none"];
        args.extend(flags.iter().copied());
        args.extend([rig.image.as_str(), "true"]);
        let r = rig.wharf(&args);
        assert_ne!(r.code, 0, "{flags:?}");
        assert!(r.stderr.contains(needle), "{flags:?}: {}", r.stderr);
    }
}

/// `docker attach` to a `-dit` container from a terminal: the default
/// detach keys (ctrl-p,ctrl-q) detach with "read escape sequence" and exit
/// code 1, the container runs on, and what was typed before reached its
/// shell (recorded from Docker CLI 28.2.2 through a pty). A `-di`
/// container keeps its stdin open while detached, and its attach types
/// into it and detaches on the keys from a pipe too.
#[test]
fn attach_detaches_with_the_default_keys() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&[
        "run",
        "-dit",
        "--name",
        "dv-sh",
        "--network",
        "none",
        &rig.image,
        "sh",
    ])
    .ok();
    let mut term = pty::Pty::open(24, 80);
    let mut child = term.spawn(rig.command(&["attach", "dv-sh"]));
    let wait = std::time::Duration::from_secs(30);
    term.send(b"echo hi > /typed; echo re''ady\r");
    term.expect("ready\r\n", 0, wait);
    term.send(b"\x10\x11");
    let status = term.wait(&mut child, wait);
    assert_eq!(status.code(), Some(1), "{:?}", term.seen());
    assert!(
        term.seen().contains("read escape sequence"),
        "{:?}",
        term.seen()
    );
    let state = rig
        .wharf(&["inspect", "-f", "{{.State.Status}}", "dv-sh"])
        .ok()
        .stdout;
    assert_eq!(state.trim(), "running");
    let typed = rig.wharf(&["exec", "dv-sh", "cat", "/typed"]).ok();
    assert_eq!(typed.stdout, "hi\n");

    // Without a terminal (-di): Docker keeps the detached container's stdin
    // open — a shell reading commands from it waits rather than ending at
    // once — and attach types into it, every byte: Docker looks for the
    // detach keys only in a terminal's input (moby's attach copies a
    // non-tty stdin as is), so ctrl-p,ctrl-q reach the shell here, and
    // attach ends when the container does.
    rig.wharf(&[
        "run",
        "-di",
        "--name",
        "dv-sleep",
        "--network",
        "none",
        &rig.image,
        "sh",
    ])
    .ok();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = rig.wharf_with_stdin(
        &["attach", "dv-sleep"],
        b"printf 'hi2\\n\x10\x11\\n' > /typed2\nexit 4\n",
    );
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        !out.stderr.contains("read escape sequence"),
        "{}",
        out.stderr
    );
    // It has exited: the file comes out with cp.
    let out = tempfile::tempdir().expect("tmp");
    let copy = out.path().join("typed2");
    rig.wharf(&["cp", "dv-sleep:/typed2", &copy.to_string_lossy()])
        .ok();
    let typed = std::fs::read(&copy).expect("typed2");
    assert_eq!(typed, b"hi2\n\x10\x11\n");
}

/// `run -it` is attached the way Docker's is: the prompt shows before a
/// newline (output byte for byte, not the log's lines), ctrl-p,ctrl-q
/// detach it silently with exit code 0 and leave the container running
/// (`--detach-keys` changes them), `attach` types into it again and
/// takes its exit code; under `--rm` the container is gone once `run`
/// returns, whether it exited there or after a detach; `start -ai`
/// detaches the same way. A bad spec is refused before anything is made.
#[test]
fn run_it_detaches_with_the_keys_and_attach_takes_it_up() {
    let Some(rig) = Rig::new() else { return };
    let wait = std::time::Duration::from_secs(30);
    let run_it = |extra: &[&str], cmd: &[&str]| {
        let mut args = vec!["run", "-it", "--network", "none"];
        args.extend_from_slice(extra);
        args.push(&rig.image);
        args.extend_from_slice(cmd);
        let mut term = pty::Pty::open(24, 80);
        let child = term.spawn(rig.command(&args));
        (term, child)
    };

    let (mut term, mut child) = run_it(&["--name", "dv-it"], &["sh"]);
    // busybox's prompt, with no newline after it.
    let at = term.expect("/ # ", 0, wait);
    term.send(b"stty size; echo hi > /typed; echo re''ady\r");
    let at = term.expect("24 80", at, wait);
    term.expect("ready\r\n", at, wait);
    term.send(b"\x10\x11");
    let status = term.wait(&mut child, wait);
    assert_eq!(status.code(), Some(0), "{:?}", term.seen());
    assert!(!term.seen().contains("read escape sequence"));
    let state = |name: &str| {
        rig.wharf(&["inspect", "-f", "{{.State.Status}}", name])
            .stdout
            .trim()
            .to_string()
    };
    assert_eq!(state("dv-it"), "running");
    let typed = rig.wharf(&["exec", "dv-it", "cat", "/typed"]).ok();
    assert_eq!(typed.stdout, "hi\n");

    // attach: what is typed echoes before Enter; the exit code is attach's,
    // even when the monitor it was attached through was killed meanwhile
    // (it attaches again to the one the shim starts in its place).
    let mut term = pty::Pty::open(24, 80);
    let mut child = term.spawn(rig.command(&["attach", "dv-it"]));
    term.send(b"ec");
    let at = term.expect("ec", 0, wait);
    term.send(b"ho again\r");
    let at = term.expect("again\r\n", at, wait);
    let at = term.expect("/ # ", at, wait);
    let id = rig
        .wharf(&["inspect", "-f", "{{.Id}}", "dv-it"])
        .ok()
        .stdout;
    let monitors = harness::monitors_of(id.trim());
    assert_eq!(monitors.len(), 1, "{monitors:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitors[0] as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the monitor");
    let deadline = std::time::Instant::now() + wait;
    while harness::monitors_of(id.trim()) == monitors || harness::monitors_of(id.trim()).is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "no new monitor");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The reconnect takes a moment: type until the echo comes back.
    let mut at = at;
    loop {
        term.send(b"echo af''ter\r");
        if let Some(i) = term.seen().get(at..).and_then(|s| s.find("after\r\n")) {
            at += i;
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", term.seen());
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    term.expect("/ # ", at, wait);
    term.send(b"exit 3\r");
    let status = term.wait(&mut child, wait);
    assert_eq!(status.code(), Some(3), "{:?}", term.seen());
    assert_eq!(state("dv-it"), "exited");

    // start -ai with keys of its own.
    let mut term = pty::Pty::open(24, 80);
    let mut child =
        term.spawn(rig.command(&["start", "-ai", "--detach-keys", "ctrl-a,x", "dv-it"]));
    term.expect("/ # ", 0, wait);
    term.send(b"\x01x");
    let status = term.wait(&mut child, wait);
    assert_eq!(status.code(), Some(0), "{:?}", term.seen());
    assert_eq!(state("dv-it"), "running");
    rig.wharf(&["rm", "-f", "dv-it"]).ok();

    // --rm: an exit returns with the code, the container gone.
    let (term, mut child) = run_it(
        &["--rm", "--name", "dv-rm"],
        &["sh", "-c", "echo one; exit 7"],
    );
    let status = term.wait(&mut child, wait);
    assert_eq!(status.code(), Some(7), "{:?}", term.seen());
    assert!(term.seen().contains("one\r\n"), "{:?}", term.seen());
    let gone = rig.wharf(&["inspect", "dv-rm"]);
    assert_ne!(gone.code, 0, "{}", gone.stdout);

    // --rm and a detach: removed when it exits later.
    let (mut term, mut child) =
        run_it(&["--rm", "--name", "dv-rm2", "--detach-keys", "z"], &["sh"]);
    term.expect("/ # ", 0, wait);
    term.send(b"z");
    assert_eq!(
        term.wait(&mut child, wait).code(),
        Some(0),
        "{:?}",
        term.seen()
    );
    assert_eq!(state("dv-rm2"), "running");
    rig.wharf(&["stop", "-t", "0", "dv-rm2"]).ok();
    let deadline = std::time::Instant::now() + wait;
    while rig.wharf(&["inspect", "dv-rm2"]).code == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "dv-rm2 was not removed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // A bad spec: the engine's words, nothing created.
    let bad = rig.wharf(&[
        "run",
        "-it",
        "--name",
        "dv-bad",
        "--detach-keys",
        "ctrl-P",
        &rig.image,
        "sh",
    ]);
    assert_eq!(bad.code, 125);
    assert!(
        bad.stderr.contains("Invalid detach keys (ctrl-P) provided"),
        "{}",
        bad.stderr
    );
    assert_ne!(rig.wharf(&["inspect", "dv-bad"]).code, 0);
}

/// Docker's refusals recorded by scripts/docker-verbs-goldens (run-flags):
/// joining the IPC namespace of a container whose IPC is private (Docker's
/// default), `logs` of a container run with `--log-driver none`, and a log
/// driver nobody has. The lines compared are the engine's; Docker's CLI
/// wraps them in `docker: …` and a help hint, which wharf does not.
#[test]
fn ipc_and_log_driver_refusals_are_dockers() {
    let Some(rig) = Rig::new() else { return };
    let engine_line = |file: &str| -> String {
        golden(file)
            .lines()
            .next()
            .expect("a line")
            .trim_start_matches("docker: ")
            .to_string()
    };

    let donor = rig
        .wharf(&[
            "run",
            "-d",
            "--name",
            "donor",
            "--network",
            "none",
            &rig.image,
            "sleep",
            "300",
        ])
        .ok()
        .stdout;
    let joined = rig.wharf(&[
        "run",
        "--network",
        "none",
        "--ipc",
        "container:donor",
        &rig.image,
        "true",
    ]);
    assert_eq!(joined.code, 125, "{}", joined.stderr);
    // No daemon here: the engine's words without its "Error response" prefix.
    let want = engine_line("ipc-non-shareable.txt")
        .trim_start_matches("Error response from daemon: ")
        .replace("DONOR_ID", donor.trim());
    assert!(
        joined.stderr.contains(&want),
        "{want:?} not in {}",
        joined.stderr
    );
    // A shareable donor is joined: the same IPC namespace.
    rig.wharf(&[
        "run",
        "-d",
        "--name",
        "sdonor",
        "--ipc",
        "shareable",
        "--network",
        "none",
        &rig.image,
        "sleep",
        "300",
    ])
    .ok();
    let ns = |args: &[&str]| -> String {
        let mut all = vec!["run", "--rm", "--network", "none"];
        all.extend_from_slice(args);
        all.extend([rig.image.as_str(), "readlink", "/proc/self/ns/ipc"]);
        rig.wharf(&all).ok().stdout
    };
    let theirs = rig
        .wharf(&["exec", "sdonor", "readlink", "/proc/1/ns/ipc"])
        .ok()
        .stdout;
    assert_eq!(ns(&["--ipc", "container:sdonor"]), theirs);
    assert_ne!(ns(&[]), theirs);

    // `--log-driver none`: the output is not kept, and `logs` says so.
    let run = rig
        .wharf(&[
            "run",
            "--name",
            "nolog",
            "--network",
            "none",
            "--log-driver",
            "none",
            &rig.image,
            "echo",
            "hi",
        ])
        .ok();
    assert_eq!(run.stdout, "hi\n");
    let logs = rig.wharf(&["logs", "nolog"]);
    assert_eq!(logs.code, 1);
    assert_eq!(logs.stderr.trim_end(), engine_line("logs-none.txt"));
    assert!(logs.stdout.is_empty(), "{}", logs.stdout);

    let unknown = rig.wharf(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--log-driver",
        "nosuchdriver",
        &rig.image,
        "true",
    ]);
    assert_eq!(unknown.code, 125, "{}", unknown.stderr);
    let want = engine_line("log-driver-unknown.txt")
        .trim_start_matches("Error response from daemon: ")
        .to_string();
    assert!(
        unknown.stderr.contains(&want),
        "{want:?} not in {}",
        unknown.stderr
    );
    let names = rig
        .wharf(&["ps", "-a", "--format", "{{.Names}}"])
        .ok()
        .stdout;
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    // As under Docker: the joiner is left created (its start failed, its
    // name a generated one); nothing is made for the unknown driver.
    assert_eq!(names.len(), 4, "{names:?}");
    for name in ["donor", "nolog", "sdonor"] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
}

/// `--log-driver journald` against a real journald: systemd-journald runs
/// in a private mount namespace (a tmpfs over /run there, so the host's
/// /run is untouched and no journald of the host is needed), the container
/// runs in it, and journalctl reads back what wharf sent: the message and
/// Docker's journal fields. The local log is kept too (Docker's dual
/// logging), so `logs` still reads.
#[test]
fn journald_log_driver_reaches_a_real_journald() {
    let Some(rig) = Rig::new() else { return };
    let script = r#"
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd /run/log
/lib/systemd/systemd-journald & journald=$!
i=0
while [ ! -S /run/systemd/journal/socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
"$WHARF" --root "$ROOT" run --name dv-journal --network none --log-driver journald \
    --log-opt tag=dv-tag "$IMAGE" sh -c 'echo to-journal; echo err-journal >&2'
echo "--- logs"
"$WHARF" --root "$ROOT" logs dv-journal 2>&1
"$WHARF" --root "$ROOT" rm dv-journal >/dev/null
sleep 0.5
echo "--- journal"
journalctl -D /run/log/journal --no-pager -o export CONTAINER_NAME=dv-journal
kill $journald
wait $journald || true
"#;
    let out = Command::new("unshare")
        .args(["--mount", "--fork", "sh", "-c", script])
        .env("WHARF", env!("CARGO_BIN_EXE_wharf"))
        .env("ROOT", rig.root.path())
        .env("IMAGE", &rig.image)
        .env("HOME", rig.root.path())
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let (logs, journal) = stdout
        .split_once("--- journal\n")
        .expect("the script ran to the journal");
    assert!(
        logs.contains("to-journal") && logs.contains("err-journal"),
        "{logs}"
    );
    let entries: Vec<&str> = journal.split("\n\n").collect();
    let entry = |message: &str| {
        entries
            .iter()
            .find(|e| e.lines().any(|l| l == format!("MESSAGE={message}")))
            .unwrap_or_else(|| panic!("no journal entry {message:?} in {journal}"))
            .lines()
            .collect::<Vec<_>>()
    };
    let out_entry = entry("to-journal");
    for field in [
        "CONTAINER_NAME=dv-journal",
        "CONTAINER_TAG=dv-tag",
        "SYSLOG_IDENTIFIER=dv-tag",
        "PRIORITY=6",
    ] {
        assert!(out_entry.contains(&field), "{field} in {out_entry:?}");
    }
    assert!(
        out_entry
            .iter()
            .any(|l| l.starts_with("CONTAINER_ID_FULL=")
                && l.len() == "CONTAINER_ID_FULL=".len() + 64),
        "{out_entry:?}"
    );
    // stderr lines go in at err priority, as Docker's driver sends them.
    assert!(entry("err-journal").contains(&"PRIORITY=3"), "{journal}");
}

/// `run` without `--network` joins Docker's default `bridge`, as `docker
/// run` does: eth0 with an address in the bridge's subnet, a default route
/// through its gateway, other containers on it reachable by address, and,
/// with no embedded DNS there, the host's resolvers in /etc/resolv.conf and
/// the container's address and short id last in /etc/hosts (both recorded
/// from Docker 28.2's `docker run --rm busybox cat /etc/resolv.conf
/// /etc/hosts` on its default bridge). `--network none` has only `lo`.
#[test]
fn plain_run_joins_the_default_bridge() {
    let Some(rig) = Rig::new() else { return };
    let mut ids = Vec::new();
    for name in ["dv-one", "dv-two"] {
        let id = rig
            .wharf(&["run", "-d", "--name", name, &rig.image, "sleep", "60"])
            .ok()
            .stdout;
        ids.push(id.trim().to_string());
    }
    let inspected = rig.wharf(&["network", "inspect", "bridge"]).ok().stdout;
    let net: serde_json::Value = serde_json::from_str(&inspected).expect("network json");
    let config = &net[0]["IPAM"]["Config"][0];
    let (subnet, gateway) = (
        config["Subnet"].as_str().expect("Subnet"),
        config["Gateway"].as_str().expect("Gateway"),
    );
    let mut attached: Vec<&str> = net[0]["Containers"]
        .as_object()
        .expect("Containers")
        .values()
        .filter_map(|c| c["Name"].as_str())
        .collect();
    attached.sort();
    assert_eq!(attached, ["dv-one", "dv-two"], "{inspected}");

    let address = |name: &str| {
        let out = rig
            .wharf(&[
                "inspect",
                "--format",
                "{{.NetworkSettings.Networks.bridge.IPAddress}}",
                name,
            ])
            .ok();
        out.stdout
            .trim()
            .parse::<Ipv4Addr>()
            .expect("an IPv4 address")
    };
    let (one, two) = (address("dv-one"), address("dv-two"));
    let (base, prefix) = subnet.split_once('/').expect("CIDR");
    let (base, prefix): (Ipv4Addr, u32) = (
        base.parse().expect("subnet"),
        prefix.parse().expect("prefix"),
    );
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    for ip in [one, two] {
        assert_eq!(
            u32::from(ip) & mask,
            u32::from(base),
            "{ip} not in {subnet}"
        );
    }
    assert_ne!(one, two);

    let seen = rig
        .wharf(&[
            "exec",
            "dv-one",
            "sh",
            "-c",
            "ip -o -4 addr show eth0; ip route",
        ])
        .ok()
        .stdout;
    assert!(seen.contains(&format!("inet {one}/{prefix}")), "{seen}");
    assert!(
        seen.contains(&format!("default via {gateway} dev eth0")),
        "{seen}"
    );
    rig.wharf(&["exec", "dv-two", "ping", "-c1", "-W2", &one.to_string()])
        .ok();

    let resolv = rig
        .wharf(&["exec", "dv-one", "cat", "/etc/resolv.conf"])
        .ok()
        .stdout;
    let servers = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("nameserver"))
            .map(|s| s.trim().to_string())
            .collect()
    };
    // Docker leaves out the host's loopback and IPv6 servers (unreachable
    // from the bridge) and falls back to Google's when none is left.
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut expected: Vec<String> = servers(&host)
        .into_iter()
        .filter(|s| s.parse::<Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback()))
        .collect();
    if expected.is_empty() {
        expected = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    assert_eq!(servers(&resolv), expected, "{resolv}");
    let hosts = rig
        .wharf(&["exec", "dv-one", "cat", "/etc/hosts"])
        .ok()
        .stdout;
    assert_eq!(
        hosts.lines().last(),
        Some(format!("{one}\t{}", &ids[0][..12]).as_str()),
        "{hosts}"
    );

    let none = rig
        .wharf(&[
            "run",
            "--rm",
            "--network",
            "none",
            &rig.image,
            "ls",
            "/sys/class/net",
        ])
        .ok()
        .stdout;
    assert_eq!(none.split_whitespace().collect::<Vec<_>>(), ["lo"]);

    // As Docker's, the default bridge takes no address or alias of the user's.
    for flags in [["--ip", "172.17.0.9"], ["--network-alias", "web"]] {
        let mut args = vec!["run", "--rm"];
        args.extend(flags);
        args.extend([rig.image.as_str(), "true"]);
        let r = rig.wharf(&args);
        assert_eq!(r.code, 125, "{flags:?}: {}", r.stderr);
        assert!(r.stderr.contains("user-defined --network"), "{}", r.stderr);
    }
}

/// Docker's predefined networks stay: `network prune` and `system prune`
/// keep the unused default `bridge` (it is still listed), and `network rm`
/// refuses it (by name or id, with or without -f), `host` and `none` with
/// Docker's words and exit code. Recorded from Docker 20.10 by
/// `scripts/docker-verbs-goldens default-bridge` (network-rm-predefined.txt,
/// network-prune-predefined.txt; its CLI's extra "exit status 1" line is
/// not compared).
#[test]
fn the_predefined_networks_are_never_removed() {
    let Some(rig) = Rig::new() else { return };
    // Makes the default bridge; nothing uses it afterwards.
    rig.wharf(&["run", "--rm", &rig.image, "true"]).ok();
    let names = || {
        rig.wharf(&["network", "ls", "--format", "{{.Name}}"])
            .ok()
            .stdout
    };
    assert_eq!(names(), "bridge\n");
    let inspected = rig.wharf(&["network", "inspect", "bridge"]).ok().stdout;
    let inspected: serde_json::Value = serde_json::from_str(&inspected).expect("network json");
    let id = inspected[0]["Id"]
        .as_str()
        .expect("the bridge's Id")
        .to_string();

    let recorded = golden("network-prune-predefined.txt");
    let pruned = rig.wharf(&["network", "prune", "-f"]).ok();
    assert!(!pruned.stdout.contains("bridge"), "{}", pruned.stdout);
    let pruned = rig.wharf(&["system", "prune", "-f"]).ok();
    assert!(!pruned.stdout.contains("bridge"), "{}", pruned.stdout);
    assert!(recorded.lines().any(|l| l == "bridge"), "{recorded}");
    assert_eq!(names(), "bridge\n");

    let recorded = golden("network-rm-predefined.txt");
    let refusals: Vec<&str> = recorded
        .lines()
        .filter(|l| l.starts_with("Error response"))
        .collect();
    let cases: [&[&str]; 5] = [
        &["bridge"],
        &["-f", "bridge"],
        &["host"],
        &["none"],
        &[&id[..12]],
    ];
    assert_eq!(refusals.len(), 4, "{recorded}");
    let expected = [0, 1, 2, 3, 0].map(|i| refusals[i]);
    for (args, expected) in cases.iter().zip(expected) {
        let mut rm = vec!["network", "rm"];
        rm.extend_from_slice(args);
        let r = rig.wharf(&rm);
        assert_eq!(
            (r.code, r.stderr.trim_end()),
            (1, expected),
            "network rm {args:?}"
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    // Docker exits 1 on each.
    assert_eq!(recorded.lines().filter(|l| *l == "exit 1").count(), 4);
    assert_eq!(names(), "bridge\n");
}

/// A container on the default bridge alone uses the host's resolvers; once
/// `network connect`ed to a user network it gets the resolver on
/// 127.0.0.11 and resolves that network's names at once, as Docker does.
/// Docker 20.10, recorded by `scripts/docker-verbs-goldens default-bridge`
/// (connect-default-bridge-dns.txt): resolv.conf becomes `nameserver
/// 127.0.0.11` / `options ndots:0`, `nslookup cb` answers from 127.0.0.11,
/// both containers ping each other by name, and a neighbour on the default
/// bridge still has no name. A container already on a user network
/// connected to another resolves its names at once; after `disconnect`
/// resolv.conf is unchanged and the names are gone.
#[test]
fn a_default_bridge_container_resolves_names_once_connected() {
    let Some(rig) = Rig::new() else { return };
    let recorded = golden("connect-default-bridge-dns.txt");
    let (before, after) = recorded
        .split_once("# docker network connect n ca\n")
        .expect("the connect marker");
    let recorded_resolv: Vec<&str> = after
        .lines()
        .take_while(|l| !l.starts_with("Server:"))
        .collect();
    assert_eq!(
        recorded_resolv,
        ["nameserver 127.0.0.11", "options ndots:0"]
    );
    assert!(before.contains("nameserver HOST_RESOLVER"), "{before}");
    assert!(after.contains("Name:\tcb\n"), "{after}");
    assert!(
        after.contains("ping cb: ok\nping ca from cb: ok"),
        "{after}"
    );
    assert!(after.contains("nslookup cc: failed"), "{after}");

    for name in ["ca", "cc"] {
        rig.wharf(&["run", "-d", "--name", name, &rig.image, "sleep", "600"])
            .ok();
    }
    rig.wharf(&["network", "create", "n"]).ok();
    rig.wharf(&[
        "run", "-d", "--net", "n", "--name", "cb", &rig.image, "sleep", "600",
    ])
    .ok();
    let resolv = || {
        let text = rig
            .wharf(&["exec", "ca", "cat", "/etc/resolv.conf"])
            .ok()
            .stdout;
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let host = resolv();
    assert!(
        !host.iter().any(|l| l == "nameserver 127.0.0.11"),
        "{host:?}"
    );
    let unknown = rig.wharf(&["exec", "ca", "nslookup", "cb"]);
    assert_ne!(unknown.code, 0, "{}", unknown.stdout);

    rig.wharf(&["network", "connect", "n", "ca"]).ok();
    assert_eq!(resolv(), recorded_resolv);
    let cb = rig
        .wharf(&[
            "inspect",
            "--format",
            "{{.NetworkSettings.Networks.n.IPAddress}}",
            "cb",
        ])
        .ok()
        .stdout;
    let found = rig.wharf(&["exec", "ca", "nslookup", "cb"]).ok().stdout;
    assert!(found.contains("Server:\t\t127.0.0.11"), "{found}");
    assert!(found.contains("Name:\tcb\n"), "{found}");
    assert!(
        found.contains(&format!("Address: {}", cb.trim())),
        "{found}"
    );
    rig.wharf(&["exec", "ca", "ping", "-c1", "-W2", "cb"]).ok();
    rig.wharf(&["exec", "cb", "ping", "-c1", "-W2", "ca"]).ok();
    // cc is on the default bridge alone: its name is not served, even to
    // ca, which is on the default bridge too.
    let neighbour = rig.wharf(&["exec", "ca", "nslookup", "cc"]);
    assert_ne!(neighbour.code, 0, "{}", neighbour.stdout);

    // cb, which had the resolver from its start, connected to a second
    // network: that network's names resolve at once too.
    assert!(
        after.contains("# docker network connect m cb\nName:\tcm\n"),
        "{after}"
    );
    rig.wharf(&["network", "create", "m"]).ok();
    rig.wharf(&[
        "run", "-d", "--net", "m", "--name", "cm", &rig.image, "sleep", "600",
    ])
    .ok();
    rig.wharf(&["network", "connect", "m", "cb"]).ok();
    let found = rig.wharf(&["exec", "cb", "nslookup", "cm"]).ok().stdout;
    assert!(found.contains("Name:\tcm\n"), "{found}");

    // Disconnected again: resolv.conf stays as it is, n's names go.
    let (_, disconnected) = after
        .split_once("# docker network disconnect n ca\n")
        .expect("the disconnect marker");
    rig.wharf(&["network", "disconnect", "n", "ca"]).ok();
    let kept: Vec<String> = recorded_resolv.iter().map(|l| l.to_string()).collect();
    assert!(
        disconnected.starts_with(&format!("{}\n", kept.join("\n"))),
        "{disconnected}"
    );
    assert_eq!(resolv(), kept);
    assert!(
        disconnected.contains("nslookup cb: failed"),
        "{disconnected}"
    );
    let gone = rig.wharf(&["exec", "ca", "nslookup", "cb"]);
    assert_ne!(gone.code, 0, "{}", gone.stdout);
}

/// The everyday verbs the issue lists that no other test reached, each
/// checked for what a user would see: `restart -s` sends that signal;
/// `--link` on the default bridge names the linked container; `images -a`
/// and the `image rm` form; `system prune --volumes` removes unused
/// anonymous volumes and keeps named ones (Docker 23+).
#[test]
fn restart_signal_link_image_rm_and_prune_volumes() {
    let Some(rig) = Rig::new() else { return };
    // restart -s USR1: the trap sees it and ends; it runs again after.
    rig.wharf(&[
        "run",
        "-d",
        "--name",
        "dv-sig",
        "--network",
        "none",
        &rig.image,
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 0' USR1; echo up; while :; do sleep 0.1; done",
    ])
    .ok();
    until("dv-sig to start", || {
        rig.wharf(&["logs", "dv-sig"]).stdout.contains("up")
    });
    rig.wharf(&["restart", "-s", "USR1", "-t", "20", "dv-sig"])
        .ok();
    let logs = rig.wharf(&["logs", "dv-sig"]).ok().stdout;
    assert!(logs.contains("got-usr1"), "{logs}");
    let status = rig
        .wharf(&["inspect", "-f", "{{.State.Status}}", "dv-sig"])
        .ok()
        .stdout;
    assert_eq!(status.trim(), "running");
    rig.wharf(&["rm", "-f", "dv-sig"]).ok();

    // --link NAME:ALIAS on the default bridge: the alias is the container.
    rig.wharf(&["run", "-d", "--name", "dv-lk", &rig.image, "sleep", "300"])
        .ok();
    let addr = rig.wharf(&["exec", "dv-lk", "hostname", "-i"]).ok().stdout;
    let seen = rig
        .wharf(&[
            "run",
            "--rm",
            "--link",
            "dv-lk:dbalias",
            &rig.image,
            "sh",
            "-c",
            "ping -c1 -W5 dbalias | head -1; grep dbalias /etc/hosts",
        ])
        .ok()
        .stdout;
    assert!(
        seen.contains(&format!("({})", addr.trim())),
        "{seen} / {addr}"
    );
    // And Docker's /etc/hosts line: address, alias, hostname, name.
    let lk_id = rig
        .wharf(&["inspect", "-f", "{{.Id}}", "dv-lk"])
        .ok()
        .stdout;
    assert!(
        seen.contains(&format!(
            "{}\tdbalias {} dv-lk",
            addr.trim(),
            &lk_id.trim()[..12]
        )),
        "{seen}"
    );
    rig.wharf(&["rm", "-f", "dv-lk"]).ok();

    // images -a lists it; `image rm` untags a second name.
    let all = rig.wharf(&["images", "-a"]).ok().stdout;
    assert!(all.contains("wharf-fixtures/busybox"), "{all}");
    rig.wharf(&["tag", &rig.image, "dv-extra:1"]).ok();
    let untagged = rig.wharf(&["image", "rm", "dv-extra:1"]).ok().stdout;
    assert!(untagged.contains("Untagged: dv-extra:1"), "{untagged}");
    let left = rig.wharf(&["images"]).ok().stdout;
    assert!(!left.contains("dv-extra"), "{left}");

    // system prune --volumes: the anonymous volume of a removed container
    // goes, the named one stays.
    rig.wharf(&["volume", "create", "dv-named"]).ok();
    rig.wharf(&[
        "run",
        "--name",
        "dv-anon",
        "--network",
        "none",
        "-v",
        "/data",
        &rig.image,
        "true",
    ])
    .ok();
    let anon = rig
        .wharf(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Name}}{{end}}",
            "dv-anon",
        ])
        .ok()
        .stdout;
    rig.wharf(&["rm", "dv-anon"]).ok();
    let volumes = || rig.wharf(&["volume", "ls", "-q"]).ok().stdout;
    let before = volumes();
    assert!(before.contains("dv-named"), "{before}");
    assert_eq!(before.lines().count(), 2, "{before} (anonymous {anon})");
    // rm -v takes a container's anonymous volume with it (plain rm did not).
    rig.wharf(&[
        "run",
        "--name",
        "dv-anon2",
        "--network",
        "none",
        "-v",
        "/data",
        &rig.image,
        "true",
    ])
    .ok();
    assert_eq!(volumes().lines().count(), 3);
    rig.wharf(&["rm", "-v", "dv-anon2"]).ok();
    assert_eq!(volumes(), before);
    rig.wharf(&["system", "prune", "-f", "--volumes"]).ok();
    let after = volumes();
    assert_eq!(after.trim(), "dv-named", "{after}");
}
