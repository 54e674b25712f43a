//! Where wharf's containers live in the cgroup tree, which cgroup layout the
//! host has, and the few numbers `wharf stats`/`top` read from it.
//!
//! Every runtime (built-in, crun, runc) is handed the same `cgroupsPath`,
//! [`container_path`] = `/wharf/<id>`. On cgroup v1 that path exists once per
//! controller hierarchy (`/sys/fs/cgroup/memory/wharf/<id>`, …); on v2 it is
//! one directory (`/sys/fs/cgroup/wharf/<id>`). On a hybrid host the v1
//! controllers do the limiting and the cgroup2 mount (usually
//! `/sys/fs/cgroup/unified`) only tracks processes.
//!
//! Functions take the cgroup root (normally `/sys/fs/cgroup`) so tests can
//! point them at a temp directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The parent of every wharf container cgroup, relative to a hierarchy root.
pub const PARENT: &str = "wharf";

/// The usual mount point of the cgroup tree.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup root {path}: {source}")]
    Root {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path} is neither a cgroup2 mount nor a tmpfs of cgroup v1 hierarchies")]
    UnknownLayout { path: PathBuf },
    #[error("container {id}: reading {path}: {source}")]
    Read {
        id: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("container {id}: writing {value:?} to {path}: {source}")]
    Write {
        id: String,
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("container {id}: {what} needs {path}, which this kernel does not have")]
    Unsupported {
        id: String,
        what: &'static str,
        path: PathBuf,
    },
    #[error("container {id}: removing {path}: {source}")]
    Remove {
        id: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("container {id}: {path}: unexpected content {content:?}")]
    Parse {
        id: String,
        path: PathBuf,
        content: String,
    },
}

/// The cgroup layout of the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only v1 hierarchies, one per controller (or controller group).
    Legacy,
    /// v1 hierarchies for the controllers plus a cgroup2 mount at
    /// `<root>/unified` (systemd's "hybrid").
    Hybrid,
    /// One cgroup2 tree at the root.
    Unified,
}

/// `cgroupsPath` for the container `id`; the same for every runtime.
pub fn container_path(id: &str) -> String {
    format!("/{PARENT}/{id}")
}

/// `cgroupsPath` for the container `id` placed under `parent`
/// (`cgroup_parent`, `--cgroup-parent`), or wharf's own parent without one.
/// Docker joins the parent and the id the same way; a relative parent is
/// taken from the hierarchy's root here (runc takes it from PID 1's
/// cgroup, which is the root on a host without systemd's v2 tree).
pub fn container_path_under(parent: Option<&str>, id: &str) -> String {
    match parent
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(p) => format!("/{p}/{id}"),
        None => container_path(id),
    }
}

/// The directory of `cgroup_path` (as in `cgroupsPath`) in the hierarchy
/// that holds `controller` (the one v2 tree, or that v1 controller's).
fn controller_dir(root: &Path, mode: CgroupMode, controller: &str, cgroup_path: &str) -> PathBuf {
    let rel = cgroup_path.trim_start_matches('/');
    match mode {
        CgroupMode::Unified => root.join(rel),
        CgroupMode::Legacy | CgroupMode::Hybrid => root.join(controller).join(rel),
    }
}

/// Detects the layout under `root` by file system type, as runc does.
pub fn detect(root: &Path) -> Result<CgroupMode, CgroupError> {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC};
    let fs_type = |p: &Path| {
        statfs(p).map(|fs| match fs.filesystem_type() {
            CGROUP2_SUPER_MAGIC => FsType::Cgroup2,
            TMPFS_MAGIC => FsType::Tmpfs,
            _ => FsType::Other,
        })
    };
    let root_type = fs_type(root).map_err(|source| CgroupError::Root {
        path: root.to_owned(),
        source,
    })?;
    let unified_type = fs_type(&root.join("unified")).unwrap_or(FsType::Other);
    classify(root_type, unified_type).ok_or_else(|| CgroupError::UnknownLayout {
        path: root.to_owned(),
    })
}

/// The same decision as [`detect`] from the text of `/proc/self/mountinfo`
/// (the last mount on a path wins, as it hides the ones below); `None` when
/// `root` is not a cgroup tree.
pub fn detect_in_mountinfo(mountinfo: &str, root: &Path) -> Option<CgroupMode> {
    let fs_type_at = |target: &Path| {
        let mut found = FsType::Other;
        for line in mountinfo.lines() {
            // "id parent maj:min root mountpoint opts [optional…] - fstype source superopts"
            let mut fields = line.split(" - ");
            let (Some(left), Some(right)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some(mount_point) = left.split_whitespace().nth(4) else {
                continue;
            };
            if Path::new(&crate::sys::mountinfo::unescape(mount_point)) == target {
                found = match right.split_whitespace().next() {
                    Some("cgroup2") => FsType::Cgroup2,
                    Some("tmpfs") => FsType::Tmpfs,
                    _ => FsType::Other,
                };
            }
        }
        found
    };
    classify(fs_type_at(root), fs_type_at(&root.join("unified")))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FsType {
    Cgroup2,
    Tmpfs,
    Other,
}

/// cgroup2 at the root is unified; a tmpfs root holds v1 hierarchies, plus
/// systemd's hybrid cgroup2 at `unified` when that is one.
fn classify(root: FsType, unified: FsType) -> Option<CgroupMode> {
    match (root, unified) {
        (FsType::Cgroup2, _) => Some(CgroupMode::Unified),
        (FsType::Tmpfs, FsType::Cgroup2) => Some(CgroupMode::Hybrid),
        (FsType::Tmpfs, _) => Some(CgroupMode::Legacy),
        (FsType::Other, _) => None,
    }
}

/// Resource usage of one container, in the units `docker stats` starts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes in use minus inactive page cache, which is what `docker stats`
    /// shows as MEM USAGE (the kernel can drop that cache at any time).
    pub memory_usage: u64,
    /// `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// Total CPU time of all tasks, nanoseconds.
    pub cpu_usage_ns: u64,
    pub pids_current: u64,
    /// Bytes read from and written to block devices (`docker stats`'
    /// BLOCK I/O); 0 where the controller does not count them.
    pub block_read: u64,
    pub block_write: u64,
}

/// Whether the kernel's OOM killer killed a process of container `id`
/// (`oom_kill` in memory.oom_control on v1, memory.events on v2). Read it
/// before the runtime deletes the cgroup. `cgroup_path` is the container's
/// `cgroupsPath`.
pub fn oom_killed(root: &Path, cgroup_path: &str, id: &str) -> bool {
    let file = match detect(root) {
        Ok(mode @ CgroupMode::Unified) => {
            controller_dir(root, mode, "memory", cgroup_path).join("memory.events")
        }
        Ok(mode) => controller_dir(root, mode, "memory", cgroup_path).join("memory.oom_control"),
        Err(_) => return false,
    };
    matches!(stat_field(&file, "oom_kill", id), Ok(Some(n)) if n > 0)
}

/// Turns the OOM killer off for container `id` (the OCI
/// `linux.resources.memory.disableOOMKiller`): `memory.oom_control` = 1 in
/// its v1 memory cgroup, which libcontainer 0.7 always leaves at 0. Cgroup
/// v2 has no such knob: `false`, nothing written (runc ignores the field
/// there, crun refuses it; Docker drops it before the runtime with a
/// warning, as the bundle does).
pub fn disable_oom_killer(root: &Path, cgroup_path: &str, id: &str) -> Result<bool, CgroupError> {
    let mode = detect(root)?;
    if mode == CgroupMode::Unified {
        return Ok(false);
    }
    let path = controller_dir(root, mode, "memory", cgroup_path).join("memory.oom_control");
    fs::write(&path, "1").map_err(|source| CgroupError::Write {
        id: id.to_string(),
        path,
        value: "1".to_string(),
        source,
    })?;
    Ok(true)
}

/// Reads the stats of container `id`, whose `cgroupsPath` is
/// `cgroup_path`, from the cgroup tree at `root`.
pub fn stats(root: &Path, cgroup_path: &str, id: &str) -> Result<Stats, CgroupError> {
    match detect(root)? {
        mode @ CgroupMode::Unified => stats_v2(&controller_dir(root, mode, "", cgroup_path), id),
        mode @ (CgroupMode::Legacy | CgroupMode::Hybrid) => {
            stats_v1(|c| controller_dir(root, mode, c, cgroup_path), id)
        }
    }
}

fn stats_v2(dir: &Path, id: &str) -> Result<Stats, CgroupError> {
    let current = read_u64(&dir.join("memory.current"), id)?;
    let inactive = stat_field(&dir.join("memory.stat"), "inactive_file", id)?.unwrap_or(0);
    let max_path = dir.join("memory.max");
    let max = read_trimmed(&max_path, id)?;
    let memory_limit = if max == "max" {
        None
    } else {
        Some(parse_u64(&max_path, &max, id)?)
    };
    let usage_usec = stat_field(&dir.join("cpu.stat"), "usage_usec", id)?.unwrap_or(0);
    let (block_read, block_write) =
        block_io_v2(&fs::read_to_string(dir.join("io.stat")).unwrap_or_default());
    Ok(Stats {
        memory_usage: current.saturating_sub(inactive),
        memory_limit,
        cpu_usage_ns: usage_usec.saturating_mul(1000),
        pids_current: read_u64(&dir.join("pids.current"), id)?,
        block_read,
        block_write,
    })
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N rios=…` per device, summed.
fn block_io_v2(text: &str) -> (u64, u64) {
    let mut sums = (0u64, 0u64);
    for field in text.split_whitespace() {
        let number = |v: &str| v.parse::<u64>().unwrap_or(0);
        if let Some(v) = field.strip_prefix("rbytes=") {
            sums.0 = sums.0.saturating_add(number(v));
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            sums.1 = sums.1.saturating_add(number(v));
        }
    }
    sums
}

/// v1 `blkio.*io_service_bytes_recursive`: `MAJ:MIN Read N` lines (and a
/// `Total`), read and write summed as Docker sums them.
fn block_io_v1(text: &str) -> (u64, u64) {
    let mut sums = (0u64, 0u64);
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, n] = fields[..] {
            let n = n.parse::<u64>().unwrap_or(0);
            match op.to_ascii_lowercase().as_str() {
                "read" => sums.0 = sums.0.saturating_add(n),
                "write" => sums.1 = sums.1.saturating_add(n),
                _ => {}
            }
        }
    }
    sums
}

fn stats_v1(dir: impl Fn(&str) -> PathBuf, id: &str) -> Result<Stats, CgroupError> {
    let memory = dir("memory");
    let usage = read_u64(&memory.join("memory.usage_in_bytes"), id)?;
    let inactive = stat_field(&memory.join("memory.stat"), "total_inactive_file", id)?.unwrap_or(0);
    let limit = read_u64(&memory.join("memory.limit_in_bytes"), id)?;
    // v1 reports "no limit" as the largest page-aligned i64.
    let memory_limit = (limit < 0x7FFF_FFFF_FFFF_F000).then_some(limit);
    // The CFQ file, or the throttle one where CFQ counts nothing (Docker's order).
    let blkio = dir("blkio");
    let (block_read, block_write) = [
        "blkio.io_service_bytes_recursive",
        "blkio.throttle.io_service_bytes_recursive",
    ]
    .iter()
    .map(|f| block_io_v1(&fs::read_to_string(blkio.join(f)).unwrap_or_default()))
    .find(|&(r, w)| r + w > 0)
    .unwrap_or_default();
    Ok(Stats {
        memory_usage: usage.saturating_sub(inactive),
        memory_limit,
        cpu_usage_ns: read_u64(&dir("cpuacct").join("cpuacct.usage"), id)?,
        pids_current: read_u64(&dir("pids").join("pids.current"), id)?,
        block_read,
        block_write,
    })
}

fn read_trimmed(path: &Path, id: &str) -> Result<String, CgroupError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| CgroupError::Read {
            id: id.to_owned(),
            path: path.to_owned(),
            source,
        })
}

fn parse_u64(path: &Path, s: &str, id: &str) -> Result<u64, CgroupError> {
    s.parse().map_err(|_| CgroupError::Parse {
        id: id.to_owned(),
        path: path.to_owned(),
        content: s.to_owned(),
    })
}

fn read_u64(path: &Path, id: &str) -> Result<u64, CgroupError> {
    let s = read_trimmed(path, id)?;
    parse_u64(path, &s, id)
}

/// One `key value` line of a flat-keyed file (`memory.stat`, `cpu.stat`).
fn stat_field(path: &Path, key: &str, id: &str) -> Result<Option<u64>, CgroupError> {
    let text = read_trimmed(path, id)?;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once(' ') {
            if k == key {
                return parse_u64(path, v.trim(), id).map(Some);
            }
        }
    }
    Ok(None)
}

/// Pids in the cgroup `cgroup_path` (as in `cgroupsPath`) and below it.
/// On v1 the `pids` hierarchy is read (any one holds every task).
pub fn procs(root: &Path, cgroup_path: &str) -> Result<Vec<u32>, CgroupError> {
    let dir = match detect(root)? {
        mode @ CgroupMode::Unified => controller_dir(root, mode, "", cgroup_path),
        mode @ (CgroupMode::Legacy | CgroupMode::Hybrid) => ["pids", "memory", "cpu"]
            .iter()
            .map(|c| controller_dir(root, mode, c, cgroup_path))
            .find(|d| d.is_dir())
            .unwrap_or_else(|| controller_dir(root, mode, "pids", cgroup_path)),
    };
    let mut pids = Vec::new();
    collect_procs(&dir, cgroup_path, &mut pids)?;
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

fn collect_procs(dir: &Path, id: &str, pids: &mut Vec<u32>) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.procs");
    for line in read_trimmed(&file, id)?.lines() {
        pids.push(parse_u64(&file, line, id)? as u32);
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                collect_procs(&e.path(), id, pids)?;
            }
        }
    }
    Ok(())
}

/// Container cgroups that nobody removed: every directory below a `wharf*`
/// directory of any hierarchy under `root` (v1 controllers, the hybrid
/// `unified` mount, or a v2 root) that holds no process. The shared `wharf`
/// parents themselves stay, as Docker's `/docker` does. Tests call this
/// after deleting their containers and filter by their own ids.
pub fn leftovers(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for h in hierarchies(root) {
        let Ok(entries) = fs::read_dir(&h) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if !name.to_string_lossy().starts_with(PARENT) || !e.path().is_dir() {
                continue;
            }
            collect_empty(&e.path(), &mut found);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Every hierarchy under `root`: `root` itself (a v2 tree) and each v1
/// controller mount or the hybrid cgroup2 mount below it.
fn hierarchies(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![root.to_owned()];
    if let Ok(entries) = fs::read_dir(root) {
        for e in entries.flatten() {
            let p = e.path();
            // A v1 hierarchy or the hybrid cgroup2 mount; skip v2 control files.
            if p.join("cgroup.procs").is_file() && !p.starts_with(root.join(PARENT)) {
                found.push(p);
            }
        }
    }
    found
}

/// [`remove`] at the default root with 5 s of patience, after a runtime's
/// delete: a failure is reported, not fatal — the container is gone
/// either way. `name` is the container's, for the message.
pub fn remove_or_warn(cgroup_path: &str, id: &str, name: &str) {
    let root = Path::new(DEFAULT_ROOT);
    if let Err(e) = remove(root, cgroup_path, id, std::time::Duration::from_secs(5)) {
        tracing::warn!("removing the cgroups of {name}: {e}");
    }
}

/// Removes whatever is left of the container `id`'s cgroups (at its
/// `cgroupsPath`, `cgroup_path`) in every hierarchy under `root`, after
/// its runtime's own removal. That removal
/// can give up early: youki's v1 manager retries rmdir for ~100 ms and
/// stops at the first controller that fails, leaving the others, while
/// SIGKILLed tasks may take longer than that to leave. So: kill what is
/// still inside, then retry rmdir (deepest first) for up to `patience`.
/// Nothing there is success.
pub fn remove(
    root: &Path,
    cgroup_path: &str,
    id: &str,
    patience: std::time::Duration,
) -> Result<(), CgroupError> {
    let deadline = std::time::Instant::now() + patience;
    for h in hierarchies(root) {
        let top = h.join(cgroup_path.trim_start_matches('/'));
        if !top.is_dir() {
            continue;
        }
        let mut dirs = vec![top.clone()];
        collect_dirs(&top, &mut dirs);
        // Children before parents: rmdir of a cgroup with children fails.
        for dir in dirs.iter().rev() {
            remove_one(dir, id, deadline)?;
        }
    }
    Ok(())
}

fn collect_dirs(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.push(p.clone());
            collect_dirs(&p, found);
        }
    }
}

fn remove_one(dir: &Path, id: &str, deadline: std::time::Instant) -> Result<(), CgroupError> {
    let mut delay = std::time::Duration::from_millis(5);
    loop {
        if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if std::time::Instant::now() >= deadline => {
                return Err(CgroupError::Remove {
                    id: id.to_owned(),
                    path: dir.to_owned(),
                    source: e,
                })
            }
            Err(_) => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(std::time::Duration::from_millis(100));
            }
        }
    }
}

fn collect_empty(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !p.is_dir() {
            continue;
        }
        let empty = fs::read_to_string(p.join("cgroup.procs"))
            .map(|s| s.trim().is_empty())
            .unwrap_or(false);
        if empty {
            found.push(p.clone());
        }
        collect_empty(&p, found);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn block_io_is_summed_over_devices_for_both_versions() {
        let v2 = "8:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n253:0 rbytes=100 wbytes=0 rios=1 wios=0\n";
        assert_eq!(super::block_io_v2(v2), (4196, 512));
        let v1 =
            "8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Total 4608\n8:16 Read 4\nTotal 4612\n";
        assert_eq!(super::block_io_v1(v1), (4100, 512));
        assert_eq!(super::block_io_v2(""), (0, 0));
    }

    use super::*;

    fn write(path: &Path, content: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    // Trimmed from real hosts: a pure v2 host (most user machines), a hybrid
    // one (this VM), and a v1-only one.
    const V2: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
30 22 0:26 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 30 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:8 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const HYBRID: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
31 30 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
32 31 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
35 31 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
36 31 0:32 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,devices
";
    const LEGACY: &str = "\
31 30 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:8 - tmpfs tmpfs rw,mode=755
35 31 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
";

    #[test]
    fn layouts_are_told_apart_from_mountinfo() {
        let root = Path::new(DEFAULT_ROOT);
        assert_eq!(detect_in_mountinfo(V2, root), Some(CgroupMode::Unified));
        assert_eq!(detect_in_mountinfo(HYBRID, root), Some(CgroupMode::Hybrid));
        assert_eq!(detect_in_mountinfo(LEGACY, root), Some(CgroupMode::Legacy));
        // Nothing mounted there: not a cgroup tree at all.
        assert_eq!(detect_in_mountinfo(V2, Path::new("/srv/cg")), None);
        // A later mount hides an earlier one (a v2 tree mounted over a tmpfs).
        let over = format!("{LEGACY}40 30 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(detect_in_mountinfo(&over, root), Some(CgroupMode::Unified));
        // Escaped mount points (space as \040).
        let spaced = "31 30 0:27 / /a\\040b rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            detect_in_mountinfo(spaced, Path::new("/a b")),
            Some(CgroupMode::Unified)
        );
    }

    #[test]
    fn statfs_detection_agrees_with_mountinfo_on_this_host() {
        let root = Path::new(DEFAULT_ROOT);
        let Ok(by_statfs) = detect(root) else {
            eprintln!("SKIPPED: no cgroup tree at {DEFAULT_ROOT}");
            return;
        };
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(Some(by_statfs), detect_in_mountinfo(&mountinfo, root));
    }

    #[test]
    fn container_path_is_under_wharf() {
        assert_eq!(container_path("abc"), "/wharf/abc");
    }

    #[test]
    fn a_cgroup_parent_replaces_wharfs_own() {
        assert_eq!(container_path_under(None, "abc"), "/wharf/abc");
        assert_eq!(container_path_under(Some(""), "abc"), "/wharf/abc");
        assert_eq!(
            container_path_under(Some("/ci/jobs/"), "abc"),
            "/ci/jobs/abc"
        );
        assert_eq!(container_path_under(Some("ci"), "abc"), "/ci/abc");
    }

    #[test]
    fn v2_stats_and_oom_are_read_under_a_cgroup_parent() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("ci/jobs/c1");
        write(&d.join("memory.current"), "4096\n");
        write(&d.join("memory.stat"), "inactive_file 0\n");
        write(&d.join("memory.max"), "8192\n");
        write(&d.join("cpu.stat"), "usage_usec 2\n");
        write(&d.join("pids.current"), "1\n");
        let path = container_path_under(Some("/ci/jobs"), "c1");
        let dir = controller_dir(t.path(), CgroupMode::Unified, "", &path);
        assert_eq!(dir, d);
        let s = stats_v2(&dir, "c1").unwrap();
        assert_eq!((s.memory_usage, s.memory_limit), (4096, Some(8192)));
        // v1 puts the same path under each controller's hierarchy.
        assert_eq!(
            controller_dir(t.path(), CgroupMode::Legacy, "memory", &path),
            t.path().join("memory/ci/jobs/c1")
        );
    }

    #[test]
    fn v2_stats_subtract_inactive_file_and_read_max() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("wharf/c1");
        write(&d.join("memory.current"), "10485760\n");
        write(
            &d.join("memory.stat"),
            "anon 1\ninactive_file 4194304\nactive_file 2\n",
        );
        write(&d.join("memory.max"), "max\n");
        write(&d.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n");
        write(&d.join("pids.current"), "3\n");
        write(
            &d.join("io.stat"),
            "8:0 rbytes=4096 wbytes=512 rios=1 wios=1\n",
        );
        let s = stats_v2(&d, "c1").unwrap();
        assert_eq!(
            s,
            Stats {
                memory_usage: 6291456,
                memory_limit: None,
                cpu_usage_ns: 1_500_000,
                pids_current: 3,
                block_read: 4096,
                block_write: 512,
            }
        );
        write(&d.join("memory.max"), "268435456\n");
        assert_eq!(stats_v2(&d, "c1").unwrap().memory_limit, Some(268435456));
    }

    #[test]
    fn v1_stats_treat_huge_limit_as_unlimited() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(&r.join("memory/wharf/c1/memory.usage_in_bytes"), "2000\n");
        write(
            &r.join("memory/wharf/c1/memory.stat"),
            "cache 5\ntotal_inactive_file 500\n",
        );
        write(
            &r.join("memory/wharf/c1/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(&r.join("cpuacct/wharf/c1/cpuacct.usage"), "123456789\n");
        write(&r.join("pids/wharf/c1/pids.current"), "1\n");
        let dir = |c: &str| r.join(c).join("wharf/c1");
        let s = stats_v1(dir, "c1").unwrap();
        assert_eq!(s.memory_usage, 1500);
        assert_eq!(s.memory_limit, None);
        assert_eq!(s.cpu_usage_ns, 123456789);
        assert_eq!(s.pids_current, 1);
        write(
            &r.join("memory/wharf/c1/memory.limit_in_bytes"),
            "1048576\n",
        );
        assert_eq!(stats_v1(dir, "c1").unwrap().memory_limit, Some(1048576));
    }

    #[test]
    fn unreadable_stats_name_the_container_and_file() {
        let t = tempfile::tempdir().unwrap();
        let err = stats_v2(&t.path().join("wharf/gone"), "gone").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("container gone"), "{msg}");
        assert!(msg.contains("memory.current"), "{msg}");
    }

    #[test]
    fn leftovers_lists_empty_container_cgroups_only() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        // v1 hierarchy "memory" with one empty and one busy container cgroup.
        write(&r.join("memory/cgroup.procs"), "1\n");
        write(&r.join("memory/wharf/cgroup.procs"), "");
        write(&r.join("memory/wharf/dead/cgroup.procs"), "");
        write(&r.join("memory/wharf/live/cgroup.procs"), "42\n");
        // Something that is not wharf's.
        write(&r.join("memory/docker/x/cgroup.procs"), "");
        // Hybrid unified mount.
        write(&r.join("unified/cgroup.procs"), "1\n");
        write(&r.join("unified/wharf/dead/cgroup.procs"), "");
        assert_eq!(
            leftovers(r),
            vec![r.join("memory/wharf/dead"), r.join("unified/wharf/dead")]
        );
    }

    #[test]
    fn remove_kills_what_is_left_and_removes_every_hierarchys_dirs() {
        // On the real tree: the runtimes' removal can leave cgroups behind
        // with tasks still leaving; `remove` must finish the job everywhere.
        let root = Path::new(DEFAULT_ROOT);
        let Ok(mode) = detect(root) else {
            println!("SKIPPED: no cgroup tree at {DEFAULT_ROOT}");
            return;
        };
        if !nix::unistd::Uid::effective().is_root() {
            println!("SKIPPED: needs root");
            return;
        }
        let id = format!("unit-remove-{}", std::process::id());
        let tops: Vec<PathBuf> = match mode {
            CgroupMode::Unified => vec![root.join(PARENT).join(&id)],
            _ => ["pids", "memory"]
                .iter()
                .map(|c| root.join(c).join(PARENT).join(&id))
                .collect(),
        };
        for t in &tops {
            fs::create_dir_all(t.join("nested")).unwrap();
        }
        let mut sleeper = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        fs::write(
            tops[0].join("nested/cgroup.procs"),
            sleeper.id().to_string(),
        )
        .unwrap();
        remove(
            root,
            &container_path(&id),
            &id,
            std::time::Duration::from_secs(5),
        )
        .unwrap();
        for t in &tops {
            assert!(!t.exists(), "{} is left", t.display());
        }
        let status = sleeper.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "the task inside was killed");
        // Nothing there: still success.
        remove(root, &container_path(&id), &id, std::time::Duration::ZERO).unwrap();
    }

    #[test]
    fn detects_this_hosts_layout() {
        // Whatever the host has, detection must name one of the layouts and
        // agree with the presence of the v2 marker file.
        let root = Path::new(DEFAULT_ROOT);
        if !root.exists() {
            println!("SKIPPED: no {DEFAULT_ROOT}");
            return;
        }
        let mode = detect(root).unwrap();
        let v2_root = root.join("cgroup.controllers").exists();
        assert_eq!(mode == CgroupMode::Unified, v2_root);
        if mode == CgroupMode::Hybrid {
            assert!(root.join("unified/cgroup.controllers").exists());
        }
    }
}
