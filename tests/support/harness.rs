//! What every integration test that runs containers shares: the loopback
//! registry the harness started (scripts/with-registry) and the result of
//! one `wharf` command.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

/// The cgroup directories left of the containers `ids`, in every
/// hierarchy (the v2 tree and each v1 controller), wherever they sit within
/// two levels below a hierarchy's root (`wharf/<id>`, a `cgroup_parent`'s
/// `<parent>/<id>`).
pub fn cgroups_of<S: AsRef<str>>(ids: &[S]) -> Vec<PathBuf> {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup")];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.path().is_dir() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if ids.contains(&name.as_str()) {
                out.push(e.path());
            } else if d.components().count() < 6 {
                dirs.push(e.path());
            }
        }
    }
    out
}

/// The harness's registry, or `None` (and SKIPPED printed) outside it.
pub fn registry() -> Option<String> {
    match std::env::var("WHARF_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() => Some(r),
        _ => {
            eprintln!(
                "SKIPPED: WHARF_TEST_REGISTRY is not set (run through scripts/with-registry)"
            );
            None
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Removes every network of the data root `root` (`wharf network rm
/// --predefined`, the default bridge included; its
/// containers must be gone), then checks that none of their bridges is
/// left in this namespace. Every rig calls it before its temporary root is
/// thrown away: `run` makes Docker's default `bridge` there, and bridges
/// (with their nftables tables and subnets from the shared pools) that
/// outlive their root pile up until the pools run out.
pub fn remove_networks(root: &std::path::Path) {
    let wharf = |args: &[&str]| {
        Run::from(
            std::process::Command::new(env!("CARGO_BIN_EXE_wharf"))
                .arg("--root")
                .arg(root)
                .args(args)
                .env("HOME", root)
                .output()
                .expect("run wharf"),
        )
    };
    let bridges = bridges_of(root);
    let ls = wharf(&["network", "ls", "-q", "--no-trunc"]);
    let mut failed = Vec::new();
    for id in ls.stdout.split_whitespace() {
        // The default `bridge` too, which a plain `network rm` refuses.
        let rm = wharf(&["network", "rm", "--predefined", id]);
        if rm.code != 0 {
            failed.push(format!("network rm {id}: {}", rm.stderr.trim()));
        }
    }
    if std::thread::panicking() {
        return;
    }
    assert_eq!(ls.code, 0, "network ls: {}", ls.stderr);
    assert!(failed.is_empty(), "{failed:#?}");
    let left: Vec<&String> = bridges
        .iter()
        .filter(|b| std::path::Path::new("/sys/class/net").join(b).exists())
        .collect();
    assert!(left.is_empty(), "bridges left after network rm: {left:?}");
}

/// The bridge interfaces of the networks recorded under `root`.
fn bridges_of(root: &std::path::Path) -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir(root.join("networks")) else {
        return Vec::new();
    };
    dirs.flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("network.json")).ok())
        .filter_map(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .filter_map(|v| v["bridge"].as_str().map(str::to_string))
        .collect()
}

/// After a `cgroup_parent`/`--cgroup-parent` test: container `id`'s cgroup
/// must be gone from under `parent` in every hierarchy; the parent, which
/// stays as under Docker, is the test's to remove.
pub fn remove_cgroup_parent(parent: &str, id: &str) {
    let root = std::path::Path::new(wharf::runtime::cgroups::DEFAULT_ROOT);
    for h in std::fs::read_dir(root).expect("cgroup root").flatten() {
        let own = h.path().join(parent).join(id);
        assert!(!own.exists(), "{} left behind", own.display());
        let _ = std::fs::remove_dir(h.path().join(parent));
    }
    let _ = std::fs::remove_dir(root.join(parent));
}

/// The processes whose command-line arguments `matches` accepts.
pub fn processes_where(matches: impl Fn(&[&[u8]]) -> bool) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if matches(&args) {
            out.push(pid);
        }
    }
    out
}

/// Processes whose command line is `wharf … container-monitor ID …`.
pub fn monitors_of(id: &str) -> Vec<u32> {
    processes_where(|args| {
        args.contains(&&b"container-monitor"[..]) && args.contains(&id.as_bytes())
    })
}
