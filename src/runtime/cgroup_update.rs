//! `docker update` on cgroups: the new limits of a running container
//! written into its cgroup files (v1 controllers or the v2 tree), apart
//! from cgroups.rs, which `spec` itself uses.

use super::cgroups::{CgroupError, CgroupMode};
use super::spec::Resources;
use std::fs;
use std::path::{Path, PathBuf};

/// `docker update`: writes the limits `r` sets (its `Some` fields, and
/// `pids_limit`) into the running container's cgroup under `root`, in the
/// files of the host's `mode` at the container's `cgroup_path`: v1
/// controllers (`memory/wharf/<id>/…`) or the v2 tree (`wharf/<id>/…`, with Docker's conversions: cpu.weight from
/// shares, `cpu.max`, memory.swap.max as swap beyond memory).
pub fn update(
    root: &Path,
    mode: CgroupMode,
    id: &str,
    cgroup_path: &str,
    r: &Resources,
) -> Result<(), CgroupError> {
    let rel = cgroup_path.trim_start_matches('/');
    let v1 = |controller: &str, file: &str| root.join(controller).join(rel).join(file);
    let v2 = |file: &str| root.join(rel).join(file);
    let write = |path: PathBuf, value: String| {
        fs::write(&path, &value).map_err(|source| CgroupError::Write {
            id: id.to_string(),
            path,
            value,
            source,
        })
    };
    let limit = |v: i64| {
        if v <= 0 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    if mode == CgroupMode::Unified {
        if let Some(m) = r.memory {
            write(v2("memory.max"), limit(m))?;
        }
        if let Some(m) = r.memory_reservation {
            write(v2("memory.low"), m.max(0).to_string())?;
        }
        if let Some(swap) = r.memory_swap {
            // v2 limits swap alone; Docker's value is memory plus swap.
            let value = match (swap, r.memory) {
                (-1, _) => "max".to_string(),
                (s, Some(m)) if m > 0 => (s - m).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            write(v2("memory.swap.max"), value)?;
        }
        if let Some(shares) = r.cpu_shares {
            // Docker's (runc's) mapping of shares [2, 262144] onto weight [1, 10000].
            let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
            write(v2("cpu.weight"), weight.to_string())?;
        }
        if r.cpu_quota.is_some() || r.cpu_period.is_some() || r.nano_cpus.is_some() {
            let period = r.cpu_period.unwrap_or(100_000);
            let quota = match (r.nano_cpus, r.cpu_quota) {
                (Some(n), _) => n.saturating_mul(period as i64) / 1_000_000_000,
                (None, Some(q)) => q,
                (None, None) => -1,
            };
            write(v2("cpu.max"), format!("{} {period}", limit(quota)))?;
        }
        if let Some(c) = &r.cpuset_cpus {
            write(v2("cpuset.cpus"), c.clone())?;
        }
        if let Some(m) = &r.cpuset_mems {
            write(v2("cpuset.mems"), m.clone())?;
        }
        if let Some(p) = r.pids_limit {
            write(v2("pids.max"), limit(p))?;
        }
        if let Some(w) = r.blkio_weight {
            write(v2("io.bfq.weight"), w.to_string())?;
        }
        return Ok(());
    }
    let memsw = v1("memory", "memory.memsw.limit_in_bytes");
    if r.memory_swap.is_some() && !memsw.exists() {
        return Err(CgroupError::Unsupported {
            id: id.to_string(),
            what: "--memory-swap",
            path: memsw,
        });
    }
    let memory = r.memory.map(|m| (v1("memory", "memory.limit_in_bytes"), m));
    let swap = r.memory_swap.map(|s| (memsw.clone(), s));
    // The kernel keeps memory <= memory+swap at every step: raising, swap
    // goes first; lowering, memory does.
    let current_swap = fs::read_to_string(&memsw)
        .ok()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(i64::MAX);
    let swap_first = r.memory.is_some_and(|m| m > current_swap || m <= 0);
    let ordered = if swap_first {
        [swap, memory]
    } else {
        [memory, swap]
    };
    for (path, v) in ordered.into_iter().flatten() {
        write(path, v.max(-1).to_string())?;
    }
    if let Some(m) = r.memory_reservation {
        write(v1("memory", "memory.soft_limit_in_bytes"), m.to_string())?;
    }
    if let Some(shares) = r.cpu_shares {
        write(v1("cpu", "cpu.shares"), shares.to_string())?;
    }
    if let Some(period) = r.cpu_period {
        write(v1("cpu", "cpu.cfs_period_us"), period.to_string())?;
    }
    let quota = match (r.nano_cpus, r.cpu_quota) {
        (Some(n), _) => {
            Some(n.saturating_mul(r.cpu_period.unwrap_or(100_000) as i64) / 1_000_000_000)
        }
        (None, q) => q,
    };
    if let Some(q) = quota {
        write(
            v1("cpu", "cpu.cfs_quota_us"),
            if q <= 0 { "-1".into() } else { q.to_string() },
        )?;
    }
    if let Some(c) = &r.cpuset_cpus {
        write(v1("cpuset", "cpuset.cpus"), c.clone())?;
    }
    if let Some(m) = &r.cpuset_mems {
        write(v1("cpuset", "cpuset.mems"), m.clone())?;
    }
    if let Some(p) = r.pids_limit {
        write(v1("pids", "pids.max"), limit(p))?;
    }
    if let Some(w) = r.blkio_weight {
        write(v1("blkio", "blkio.weight"), w.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        fs::read_to_string(p).expect("read").trim().to_string()
    }

    #[test]
    fn update_writes_v1_controller_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        for c in ["memory", "cpu", "cpuset", "pids", "blkio"] {
            fs::create_dir_all(root.join(c).join("wharf/abc")).expect("mkdir");
        }
        let mem = root.join("memory/wharf/abc");
        fs::write(mem.join("memory.memsw.limit_in_bytes"), "1000").expect("memsw");
        let r = Resources {
            memory: Some(4000),
            memory_swap: Some(8000),
            nano_cpus: Some(1_500_000_000),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(-1),
            blkio_weight: Some(300),
            ..Default::default()
        };
        update(root, CgroupMode::Legacy, "abc", "/wharf/abc", &r).expect("update");
        assert_eq!(read(&mem.join("memory.limit_in_bytes")), "4000");
        assert_eq!(read(&mem.join("memory.memsw.limit_in_bytes")), "8000");
        let cpu = root.join("cpu/wharf/abc");
        assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "150000");
        assert_eq!(read(&cpu.join("cpu.shares")), "512");
        assert_eq!(read(&root.join("cpuset/wharf/abc/cpuset.cpus")), "0");
        assert_eq!(read(&root.join("pids/wharf/abc/pids.max")), "max");
        assert_eq!(read(&root.join("blkio/wharf/abc/blkio.weight")), "300");
        // Without swap accounting, a swap limit is refused, naming the file.
        fs::remove_file(mem.join("memory.memsw.limit_in_bytes")).expect("rm");
        let swap = Resources {
            memory_swap: Some(1),
            ..Default::default()
        };
        let e = update(root, CgroupMode::Legacy, "abc", "/wharf/abc", &swap).expect_err("no memsw");
        assert!(e.to_string().contains("memory.memsw.limit_in_bytes"), "{e}");
    }

    #[test]
    fn update_writes_v2_files_with_docker_s_conversions() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path();
        let dir = root.join("wharf/abc");
        fs::create_dir_all(&dir).expect("mkdir");
        let r = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(96 << 20),
            memory_reservation: Some(32 << 20),
            cpu_shares: Some(1024),
            nano_cpus: Some(500_000_000),
            pids_limit: Some(50),
            ..Default::default()
        };
        update(root, CgroupMode::Unified, "abc", "/wharf/abc", &r).expect("update");
        assert_eq!(read(&dir.join("memory.max")), (64u64 << 20).to_string());
        assert_eq!(
            read(&dir.join("memory.swap.max")),
            (32u64 << 20).to_string()
        );
        assert_eq!(read(&dir.join("memory.low")), (32u64 << 20).to_string());
        assert_eq!(read(&dir.join("cpu.weight")), "39");
        assert_eq!(read(&dir.join("cpu.max")), "50000 100000");
        assert_eq!(read(&dir.join("pids.max")), "50");
        let unlimited = Resources {
            memory_swap: Some(-1),
            pids_limit: Some(0),
            ..Default::default()
        };
        update(root, CgroupMode::Unified, "abc", "/wharf/abc", &unlimited).expect("update");
        assert_eq!(read(&dir.join("memory.swap.max")), "max");
        assert_eq!(read(&dir.join("pids.max")), "max");
    }
}
