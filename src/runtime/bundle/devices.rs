//! Device nodes and the device cgroup rules: Docker's defaults, `--device`,
//! `--device-cgroup-rule` and privileged containers' host devices.

use super::{BundleError, Host, DEFAULT_DEVICE_RULES};
use crate::runtime::spec::ContainerSpec;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

fn device_type(ft: &std::fs::FileType) -> Option<LinuxDeviceType> {
    if ft.is_char_device() {
        Some(LinuxDeviceType::C)
    } else if ft.is_block_device() {
        Some(LinuxDeviceType::B)
    } else {
        None
    }
}

fn linux_device(path: &Path, meta: &std::fs::Metadata, typ: LinuxDeviceType) -> LinuxDevice {
    let mut d = LinuxDevice::default();
    d.set_path(path.to_path_buf());
    d.set_typ(typ);
    d.set_major(nix::sys::stat::major(meta.rdev()) as i64);
    d.set_minor(nix::sys::stat::minor(meta.rdev()) as i64);
    d.set_file_mode(Some(meta.mode() & 0o7777));
    d.set_uid(Some(meta.uid()));
    d.set_gid(Some(meta.gid()));
    d
}

fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// runc's `HostDevices`: every char and block device under `dir`, minus
/// the directories every container gets its own of.
fn host_devices(dir: &Path, out: &mut Vec<LinuxDevice>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let ft = e.file_type()?;
        let path = e.path();
        if ft.is_dir() {
            if matches!(
                name.to_str(),
                Some("pts" | "shm" | "fd" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")
            ) {
                continue;
            }
            host_devices(&path, out)?;
            continue;
        }
        if name == "console" {
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Devices come and go (hotplug) while we walk.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if let Some(t) = device_type(&meta.file_type()) {
            out.push(linux_device(&path, &meta, t));
        }
    }
    Ok(())
}

/// Docker's `DevicesFromPath`: a device node, or every device under a directory.
fn devices_from_path(
    host_path: &Path,
    container_path: &Path,
    cid: &str,
) -> Result<Vec<(LinuxDevice, LinuxDeviceType)>, BundleError> {
    let bad = |reason: String| BundleError::Device {
        container: cid.to_string(),
        path: host_path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(host_path).map_err(|e| bad(e.to_string()))?;
    if let Some(t) = device_type(&meta.file_type()) {
        return Ok(vec![(linux_device(container_path, &meta, t), t)]);
    }
    if !meta.is_dir() {
        return Err(bad("not a device node".into()));
    }
    let mut found = Vec::new();
    host_devices(host_path, &mut found).map_err(|e| bad(e.to_string()))?;
    Ok(found
        .into_iter()
        .map(|mut d| {
            let rel = d
                .path()
                .strip_prefix(host_path)
                .map(Path::to_path_buf)
                .unwrap_or_default();
            d.set_path(container_path.join(rel));
            let t = d.typ();
            (d, t)
        })
        .collect())
}

/// `c 1:3 mr`, `a *:* rwm`, `b 8:* rw`.
fn parse_cgroup_rule(s: &str, cid: &str) -> Result<LinuxDeviceCgroup, BundleError> {
    let bad = || BundleError::DeviceCgroupRule {
        container: cid.to_string(),
        rule: s.to_string(),
    };
    let f: Vec<&str> = s.split_whitespace().collect();
    let [t, mm, access] = f[..] else {
        return Err(bad());
    };
    let typ = match t {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (ma, mi) = mm.split_once(':').ok_or_else(bad)?;
    let num = |x: &str| -> Result<Option<i64>, BundleError> {
        if x == "*" {
            Ok(None)
        } else {
            x.parse::<i64>().map(Some).map_err(|_| bad())
        }
    };
    if !valid_access(access) {
        return Err(bad());
    }
    Ok(rule(true, Some(typ), num(ma)?, num(mi)?, access))
}

fn valid_access(a: &str) -> bool {
    !a.is_empty() && a.len() <= 3 && a.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
}

pub(super) fn devices(
    spec: &ContainerSpec,
    host: &Host,
    cid: &str,
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), BundleError> {
    let mut devs = Vec::new();
    if spec.privileged {
        host_devices(&host.dev_dir, &mut devs).map_err(|e| BundleError::Device {
            container: cid.to_string(),
            path: host.dev_dir.clone(),
            reason: e.to_string(),
        })?;
        for d in &spec.devices {
            // Already there through the host's /dev.
            if d.host_path == d.container_path {
                continue;
            }
            devs.extend(
                devices_from_path(&d.host_path, &d.container_path, cid)?
                    .into_iter()
                    .map(|(d, _)| d),
            );
        }
        return Ok((devs, vec![rule(true, None, None, None, "rwm")]));
    }
    let mut rules = vec![rule(false, None, None, None, "rwm")];
    for &(t, ma, mi, acc) in DEFAULT_DEVICE_RULES {
        let typ = if t == 'b' {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        };
        rules.push(rule(true, Some(typ), ma, mi, acc));
    }
    for d in &spec.devices {
        let perms = if d.permissions.is_empty() {
            "rwm"
        } else {
            d.permissions.as_str()
        };
        if !valid_access(perms) {
            return Err(BundleError::Device {
                container: cid.to_string(),
                path: d.host_path.clone(),
                reason: format!("invalid device permissions {perms:?}"),
            });
        }
        for (dev, typ) in devices_from_path(&d.host_path, &d.container_path, cid)? {
            rules.push(rule(
                true,
                Some(typ),
                Some(dev.major()),
                Some(dev.minor()),
                perms,
            ));
            devs.push(dev);
        }
    }
    for r in &spec.device_cgroup_rules {
        rules.push(parse_cgroup_rule(r, cid)?);
    }
    Ok((devs, rules))
}
