//! The compose-project rig the project-level suites share (compose,
//! lifecycle, inside): a project directory and a data root of its own;
//! dropping it takes the project down and checks that nothing is left.
//!
//! Include it next to harness.rs, which it uses:
//! `#[path = "support/harness.rs"] mod harness;`
//! `#[path = "support/stack.rs"] mod stack;`

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{registry, Run};

/// How a suite's stacks are laid out.
pub struct Setup {
    /// Prefix of the data root's temp dir, so a leftover names its suite.
    pub root_prefix: &'static str,
    /// Prefix of the project directory, whose name is the project's.
    pub dir_prefix: &'static str,
    /// Make `out/` in the project directory, writable by any user, for
    /// containers to bind-mount (`./out:/out`) and write results to.
    pub out_dir: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            root_prefix: "wharf-up-",
            dir_prefix: "proj",
            out_dir: false,
        }
    }
}

/// The fixture images a compose file may name as `{{busybox}}` etc.
const FIXTURES: [&str; 5] = ["busybox", "python", "redis", "postgres", "node"];

pub struct Stack {
    pub root: tempfile::TempDir,
    pub dir: tempfile::TempDir,
    pub registry: String,
}

impl Stack {
    /// A stack laid out as `Setup::default()`; `None` outside the harness.
    pub fn new(compose: &str) -> Option<Stack> {
        Stack::with(Setup::default(), compose)
    }

    pub fn with(setup: Setup, compose: &str) -> Option<Stack> {
        let registry = registry()?;
        let root = tempfile::Builder::new()
            .prefix(setup.root_prefix)
            .tempdir()
            .expect("tempdir");
        let dir = tempfile::Builder::new()
            .prefix(setup.dir_prefix)
            .tempdir()
            .expect("tempdir");
        let s = Stack {
            root,
            dir,
            registry,
        };
        if setup.out_dir {
            let out = s.out();
            std::fs::create_dir(&out).expect("mkdir out");
            // Containers that run as another user write here too.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        }
        s.write(compose);
        Some(s)
    }

    /// The fixture image `name` (busybox, python, …) in the harness registry.
    pub fn image(&self, name: &str) -> String {
        format!("{}/wharf-fixtures/{name}:latest", self.registry)
    }

    pub fn busybox(&self) -> String {
        self.image("busybox")
    }

    /// Writes compose.yaml; `{{busybox}}`, `{{python}}`, … become the
    /// fixture images.
    pub fn write(&self, compose: &str) {
        let text = FIXTURES.iter().fold(compose.to_string(), |t, f| {
            t.replace(&format!("{{{{{f}}}}}"), &self.image(f))
        });
        std::fs::write(self.dir.path().join("compose.yaml"), text).expect("write compose.yaml");
    }

    /// Copies a bundled sample's files (compose-samples/SAMPLE, as git has
    /// them, no build output) into the project directory.
    pub fn copy_sample(&self, sample: &str) {
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("compose-samples")
            .join(sample);
        let mut dirs = vec![from.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("read sample").flatten() {
                let p = e.path();
                let rel = p.strip_prefix(&from).expect("inside");
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    let to = self.dir.path().join(rel);
                    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
                    std::fs::copy(&p, &to).expect("copy");
                }
            }
        }
    }

    /// The project directory's `out/` (only with `Setup::out_dir`).
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// A file the containers wrote to `out/`, trimmed; `None` if absent.
    pub fn read(&self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.out().join(file))
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn project(&self) -> String {
        self.dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default()
    }

    /// `<project>-<service>-<number>`.
    pub fn name(&self, service_number: &str) -> String {
        format!("{}-{service_number}", self.project())
    }

    /// wharf in the project directory (project mode).
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_in(self.dir.path(), args)
    }

    pub fn cmd_in(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wharf"));
        c.arg("--root")
            .arg(self.root.path())
            .args(args)
            .current_dir(cwd)
            .env("HOME", self.root.path())
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME");
        c
    }

    /// In the project directory: the compose verbs.
    pub fn wharf(&self, args: &[&str]) -> Run {
        self.wharf_in(self.dir.path(), args)
    }

    pub fn wharf_in(&self, cwd: &Path, args: &[&str]) -> Run {
        Run::from(self.cmd_in(cwd, args).output().expect("run wharf"))
    }

    /// Outside any project: the image store's own verbs.
    pub fn store(&self, args: &[&str]) -> Run {
        self.wharf_in(self.root.path(), args)
    }

    /// `ps -a --format json`, one object per container.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        self.ps_with(&["-a"])
    }

    /// `ps --format json` with extra flags, one object per container.
    pub fn ps_with(&self, flags: &[&str]) -> Vec<serde_json::Value> {
        let mut args = vec!["ps", "--format", "json"];
        args.extend_from_slice(flags);
        self.wharf(&args)
            .ok()
            .stdout
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).expect("ps json line"))
            .collect()
    }

    /// The sorted names `ps` lists with these flags.
    pub fn names(&self, flags: &[&str]) -> Vec<String> {
        let mut n: Vec<String> = self
            .ps_with(flags)
            .iter()
            .map(|c| c["Name"].as_str().unwrap_or_default().to_string())
            .collect();
        n.sort();
        n
    }

    pub fn container<'a>(list: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
        list.iter()
            .find(|c| c["Name"] == name)
            .unwrap_or_else(|| panic!("no container {name} in {list:#?}"))
    }

    /// `inspect NAME`, the one object.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&self.wharf(&["inspect", name]).ok().stdout)
                .expect("inspect json");
        v[0].clone()
    }

    /// `sh -c SCRIPT` in a container (`service-number`), its stdout.
    pub fn exec(&self, service_number: &str, script: &str) -> String {
        self.wharf(&["exec", &self.name(service_number), "sh", "-c", script])
            .ok()
            .stdout
    }

    /// The ids of the networks in this stack's data root.
    pub fn net_ids(&self) -> Vec<String> {
        let ids: Vec<String> = self
            .wharf(&["network", "ls", "-q"])
            .ok()
            .stdout
            .split_whitespace()
            .map(str::to_string)
            .collect();
        assert!(ids.iter().all(|i| i.len() >= 12), "{ids:?}");
        ids
    }

    /// Waits until `f` holds (20 s at most).
    pub fn until(&self, what: &str, f: impl FnMut() -> bool) {
        until(Duration::from_secs(20), what, f)
    }
}

/// Waits until `f` holds, polling every 100 ms; fails the test naming
/// `what` after `within`.
pub fn until(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let ids = self.wharf(&["ps", "-a", "-q", "--no-trunc"]).stdout;
        let down = self.wharf(&["down", "-v", "-t", "0"]);
        // Networks outside the project (`bridge`, made by `run` and by
        // builds' RUN steps) outlive `down`, as Docker's do; the data root
        // goes with the test, so they go first.
        crate::harness::remove_networks(self.root.path());
        if std::thread::panicking() {
            return;
        }
        assert_eq!(down.code, 0, "down: {}", down.stderr);
        let left = self.wharf(&["ps", "-a", "-q"]).stdout;
        assert!(left.trim().is_empty(), "containers left: {left}");
        let cgroups: Vec<PathBuf> =
            crate::harness::cgroups_of(&ids.split_whitespace().collect::<Vec<_>>());
        assert!(cgroups.is_empty(), "cgroups left after down: {cgroups:#?}");
        let root = self.root.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let leftover: Vec<&str> = mounts.lines().filter(|l| l.contains(&root)).collect();
        assert!(leftover.is_empty(), "mounts left behind: {leftover:#?}");
        let volumes = std::fs::read_dir(self.root.path().join("volumes"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(volumes, 0, "volumes left after down -v");
    }
}

/// A loopback port nothing listens on now (another may take it later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `GET /` on 127.0.0.1:port, the body; retried while the app starts.
pub fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
            c.set_read_timeout(Some(Duration::from_secs(10)))?;
            c.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut out = String::new();
            c.read_to_string(&mut out)?;
            Ok(out)
        })();
        match attempt {
            Ok(r) if r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200") => {
                return r.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
            }
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
            other => panic!("GET / on port {port}: {other:?}"),
        }
    }
}
