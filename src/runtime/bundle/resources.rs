//! The cgroup resources (`LinuxResources`): memory, cpu, pids, block I/O.

use super::{BundleError, Host};
use crate::runtime::spec::ContainerSpec;
use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, LinuxThrottleDevice,
    LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub(super) fn resources(
    spec: &ContainerSpec,
    host: &Host,
    cid: &str,
) -> Result<LinuxResources, BundleError> {
    let r = &spec.resources;
    let bad = |reason: &str| BundleError::Resources {
        container: cid.to_string(),
        reason: reason.to_string(),
    };
    let mut out = LinuxResources::default();

    let mut mem = LinuxMemory::default();
    let limit = r.memory.filter(|m| *m > 0);
    mem.set_limit(limit);
    mem.set_reservation(r.memory_reservation.filter(|m| *m > 0));
    // Docker: memory without memory-swap gets swap = 2 × memory; none at
    // all where the kernel cannot limit swap.
    let swap = match (r.memory_swap.filter(|s| *s != 0), limit) {
        (Some(s), _) => Some(s),
        (None, Some(l)) => Some(l.saturating_mul(2)),
        (None, None) => None,
    };
    if let (Some(s), Some(l)) = (swap, limit) {
        if s != -1 && s < l {
            return Err(bad(
                "minimum memoryswap limit should be larger than memory limit, see usage",
            ));
        }
    }
    mem.set_swap(swap.filter(|_| host.swap_limit));
    if let Some(s) = r.memory_swappiness {
        if s > 100 {
            return Err(bad(&format!(
                "invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
        mem.set_swappiness(Some(s));
    }
    // Cgroup v2 has no knob for it: Docker drops it there with this
    // warning rather than hand it to runc (which ignores it) or crun
    // (which refuses it).
    if r.oom_kill_disable && host.cgroup2 {
        tracing::warn!("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
    } else if r.oom_kill_disable {
        mem.set_disable_oom_killer(Some(true));
    }
    if mem != LinuxMemory::default() {
        out.set_memory(Some(mem));
    }

    let mut cpu = LinuxCpu::default();
    cpu.set_shares(r.cpu_shares.filter(|s| *s > 0));
    if let Some(n) = r.nano_cpus.filter(|n| *n > 0) {
        if r.cpu_quota.is_some_and(|q| q != 0) || r.cpu_period.is_some_and(|p| p != 0) {
            return Err(bad(
                "conflicting options: Nano CPUs cannot be set together with CPU period or quota",
            ));
        }
        let period: u64 = 100_000;
        cpu.set_period(Some(period));
        cpu.set_quota(Some(n.saturating_mul(period as i64) / 1_000_000_000));
    } else {
        cpu.set_quota(r.cpu_quota.filter(|q| *q != 0));
        cpu.set_period(r.cpu_period.filter(|p| *p != 0));
    }
    cpu.set_cpus(r.cpuset_cpus.clone().filter(|s| !s.is_empty()));
    cpu.set_mems(r.cpuset_mems.clone().filter(|s| !s.is_empty()));
    if cpu != LinuxCpu::default() {
        out.set_cpu(Some(cpu));
    }

    if let Some(p) = r.pids_limit {
        let mut pids = LinuxPids::default();
        // Docker: 0 and negatives mean unlimited, which runtimes spell -1.
        pids.set_limit(if p <= 0 { -1 } else { p });
        out.set_pids(Some(pids));
    }

    let dev_numbers = |path: &Path| -> Result<(i64, i64), BundleError> {
        let m = std::fs::metadata(path).map_err(|e| BundleError::Device {
            container: cid.to_string(),
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok((
            nix::sys::stat::major(m.rdev()) as i64,
            nix::sys::stat::minor(m.rdev()) as i64,
        ))
    };
    let throttle =
        |list: &[(PathBuf, u64)]| -> Result<Option<Vec<LinuxThrottleDevice>>, BundleError> {
            if list.is_empty() {
                return Ok(None);
            }
            list.iter()
                .map(|(p, rate)| {
                    let (ma, mi) = dev_numbers(p)?;
                    Ok(LinuxThrottleDeviceBuilder::default()
                        .major(ma)
                        .minor(mi)
                        .rate(*rate)
                        .build()?)
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        };
    let weight_ok = |w: u16| (10..=1000).contains(&w);
    let mut blkio = LinuxBlockIo::default();
    // Docker's words and order: discarded (and run) before the range is checked.
    let mut weight = r.blkio_weight.filter(|w| *w > 0);
    if weight.is_some() && !host.blkio_weight {
        tracing::warn!("{}", super::BLKIO_WEIGHT_DISCARDED);
        weight = None;
    }
    let mut weight_device = r.blkio_weight_device.as_slice();
    if !weight_device.is_empty() && !host.blkio_weight_device {
        tracing::warn!("{}", super::BLKIO_WEIGHT_DEVICE_DISCARDED);
        weight_device = &[];
    }
    if let Some(w) = weight {
        if !weight_ok(w) {
            return Err(bad("range of blkio weight is from 10 to 1000"));
        }
        blkio.set_weight(Some(w));
    }
    if !weight_device.is_empty() {
        let mut wd = Vec::new();
        for (p, w) in weight_device {
            if !weight_ok(*w) {
                return Err(bad("range of blkio weight is from 10 to 1000"));
            }
            let (ma, mi) = dev_numbers(p)?;
            wd.push(
                LinuxWeightDeviceBuilder::default()
                    .major(ma)
                    .minor(mi)
                    .weight(*w)
                    .build()?,
            );
        }
        blkio.set_weight_device(Some(wd));
    }
    blkio.set_throttle_read_bps_device(throttle(&r.blkio_read_bps)?);
    blkio.set_throttle_write_bps_device(throttle(&r.blkio_write_bps)?);
    blkio.set_throttle_read_iops_device(throttle(&r.blkio_read_iops)?);
    blkio.set_throttle_write_iops_device(throttle(&r.blkio_write_iops)?);
    if blkio != LinuxBlockIo::default() {
        out.set_block_io(Some(blkio));
    }
    Ok(out)
}
