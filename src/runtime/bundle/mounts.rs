//! The container's mounts: Docker's defaults, the user's binds, volumes and
//! tmpfs, the init binary, sorted as moby sorts them.

use super::{BundleError, BundleInputs, DEFAULT_SHM_SIZE, INIT_PATH};
use crate::runtime::spec::{MountSpec, NsMode};
use oci_spec::runtime::Mount;
use std::path::{Component, Path, PathBuf};

fn mnt(dest: &str, typ: &str, source: impl Into<PathBuf>, opts: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(dest));
    m.set_typ(Some(typ.to_string()));
    m.set_source(Some(source.into()));
    m.set_options(Some(opts.iter().map(|s| s.to_string()).collect()));
    m
}

/// Path depth as moby's mount sort counts it (`/` separators of the clean path).
fn depth(dest: &str) -> usize {
    Path::new(dest)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

fn clean_target(t: &str) -> String {
    let mut out = PathBuf::from("/");
    for c in Path::new(t).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out.display().to_string()
}

/// `size=` as Docker writes it: the largest of g/m/k dividing evenly.
fn tmpfs_size(bytes: u64) -> String {
    for (suffix, div) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes.is_multiple_of(div) {
            return format!("size={}{suffix}", bytes / div);
        }
    }
    format!("size={bytes}")
}

/// Opens `sub` inside `base` without leaving it (symlinks that stay inside
/// are followed, as Docker's `EvalSymlinks` does; `..` above it or an
/// absolute symlink fail with `EXDEV`). The descriptor is what was checked.
fn open_beneath(base: &Path, sub: &str) -> std::io::Result<std::os::fd::OwnedFd> {
    use crate::sys::confined::{self, Confine};
    use std::os::fd::AsFd;
    let dir = std::fs::File::open(base)?;
    Ok(confined::open(
        dir.as_fd(),
        sub.trim_start_matches('/'),
        nix::fcntl::OFlag::O_PATH,
        Confine::Beneath,
    )?)
}

/// Resolves `sub` inside `base` without leaving it and returns the real
/// path, which must exist. Only for a bundle whose subpaths were not staged
/// (a path can be swapped after this check: see [`stage_subpath`]).
fn resolve_beneath(base: &Path, sub: &str) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    let fd = open_beneath(base, sub)?;
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// A volume subpath bind-mounted onto a staging path of ours through the
/// descriptor that was opened beneath the volume, so the runtime mounts
/// what was checked: a container sharing the volume can swap the subpath for
/// a symlink to the host's `/etc` between the check and the mount, but not
/// what a descriptor points at (moby's `safepath` does the same). Dropping it
/// unmounts and removes the staging path; the runtime's own bind in the
/// container's mount namespace stays.
#[derive(Debug)]
pub struct StagedSubpath {
    path: PathBuf,
}

impl StagedSubpath {
    /// What the bundle names as the mount's source.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedSubpath {
    fn drop(&mut self) {
        if let Err(e) = remove_staging(&self.path) {
            tracing::warn!(
                "removing the staged volume subpath {}: {e}",
                self.path.display()
            );
        }
        // The last one out takes the container's staging directory.
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Unmounts and removes one staging path (a directory or an empty file);
/// one that is not there, or not mounted, is fine.
fn remove_staging(path: &Path) -> std::io::Result<()> {
    use nix::mount::{umount2, MntFlags};
    match umount2(path, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
        Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(e.into()),
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes what a start killed half-way left in a container's staging
/// directory `dir` (run before staging anew).
pub fn clear_staged_subpaths(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        remove_staging(&entry?.path())?;
    }
    std::fs::remove_dir(dir)
}

/// Stages `sub` of the volume at `source` (named `name`, mounted at
/// `target` of container `cid`) at `staging`, a path in a directory private
/// to wharf: see [`StagedSubpath`].
pub fn stage_subpath(
    cid: &str,
    target: &str,
    name: &str,
    source: &Path,
    sub: &str,
    staging: &Path,
) -> Result<StagedSubpath, BundleError> {
    use nix::mount::{mount, MsFlags};
    use std::os::fd::AsRawFd;
    let fd = open_beneath(source, sub).map_err(|e| BundleError::Mount {
        container: cid.to_string(),
        target: target.to_string(),
        reason: format!("cannot access subpath {sub:?} of volume {name}: {e}"),
    })?;
    let staging_err = |source: std::io::Error| BundleError::SubpathStaging {
        container: cid.to_string(),
        path: staging.to_path_buf(),
        source,
    };
    let is_dir = nix::sys::stat::fstat(&fd)
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map_err(|e| staging_err(e.into()))?;
    if let Some(parent) = staging.parent() {
        std::fs::create_dir_all(parent).map_err(staging_err)?;
    }
    // The mount point takes the kind of what is mounted on it.
    if is_dir {
        std::fs::create_dir(staging).map_err(staging_err)?;
    } else {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(staging)
            .map_err(staging_err)?;
    }
    // From here on, dropping it cleans up.
    let staged = StagedSubpath {
        path: staging.to_path_buf(),
    };
    let proc_fd = format!("/proc/self/fd/{}", fd.as_raw_fd());
    mount(
        Some(proc_fd.as_str()),
        staging,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| staging_err(e.into()))?;
    Ok(staged)
}

type MountList = (Vec<Mount>, Option<String>);

pub(super) fn mounts(
    inputs: &BundleInputs,
    with_init: bool,
    cid: &str,
) -> Result<MountList, BundleError> {
    let spec = inputs.spec;
    let ns = &spec.namespaces;
    let bad = |target: &str, reason: String| BundleError::Mount {
        container: cid.to_string(),
        target: target.to_string(),
        reason,
    };

    // The caller's mounts (user mounts, /etc files, host /dev/shm), sorted
    // by depth after the defaults, as moby's `WithMounts` does.
    let mut extra: Vec<Mount> = Vec::new();
    let mut user_targets: Vec<String> = Vec::new();
    let mut propagation: Option<String> = None;
    for m in &spec.mounts {
        let raw = m.target();
        if !raw.starts_with('/') {
            return Err(bad(raw, "mount path must be absolute".into()));
        }
        let target = clean_target(raw);
        if target == "/" {
            return Err(bad(raw, "cannot mount over /".into()));
        }
        if user_targets.contains(&target) {
            return Err(bad(raw, "duplicate mount point".into()));
        }
        user_targets.push(target.clone());
        match m {
            MountSpec::Bind {
                source,
                read_only,
                propagation: prop,
                ..
            } => {
                let prop = prop.as_deref().unwrap_or("rprivate");
                match prop {
                    "private" | "rprivate" => {}
                    "shared" | "rshared" => propagation = Some("shared".into()),
                    "slave" | "rslave" => {
                        if propagation.is_none() {
                            propagation = Some("rslave".into());
                        }
                    }
                    other => return Err(bad(raw, format!("invalid propagation mode {other:?}"))),
                }
                let mut opts = vec!["rbind"];
                if *read_only {
                    opts.push("ro");
                }
                opts.push(prop);
                extra.push(mnt(&target, "bind", source.clone(), &opts));
            }
            MountSpec::Volume {
                source,
                read_only,
                subpath,
                name,
                ..
            } => {
                let src = match subpath.as_deref().filter(|s| !s.is_empty()) {
                    None => source.clone(),
                    Some(sub) => resolve_beneath(source, sub).map_err(|e| {
                        bad(
                            raw,
                            format!("cannot access subpath {sub:?} of volume {name}: {e}"),
                        )
                    })?,
                };
                let mut opts = vec!["rbind"];
                if *read_only {
                    opts.push("ro");
                }
                extra.push(mnt(&target, "bind", src, &opts));
            }
            MountSpec::Tmpfs {
                size,
                mode,
                read_only,
                ..
            } => {
                let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                if *read_only {
                    opts.push("ro".into());
                }
                if let Some(m) = mode {
                    opts.push(format!("mode={m:o}"));
                }
                if let Some(s) = size.filter(|s| *s > 0) {
                    opts.push(tmpfs_size(s));
                }
                let mut t = mnt(&target, "tmpfs", "tmpfs", &[]);
                t.set_options(Some(opts));
                extra.push(t);
            }
            MountSpec::Filesystem {
                fstype,
                device,
                options,
                read_only,
                ..
            } => {
                let mut opts = filesystem_options(options);
                if *read_only {
                    opts.push("ro".into());
                }
                // Docker's local driver passes the type as the source
                // when no device is given (`type: ramfs`).
                let source = if device.is_empty() { fstype } else { device };
                let mut t = mnt(&target, fstype, source, &[]);
                t.set_options(Some(opts));
                extra.push(t);
            }
        }
    }

    // ipc: host → the host's /dev/shm; none → no /dev/shm at all.
    if ns.ipc == NsMode::Host && !user_targets.iter().any(|t| t == "/dev/shm") {
        extra.push(mnt("/dev/shm", "bind", "/dev/shm", &["rbind", "rprivate"]));
        user_targets.push("/dev/shm".into());
    }

    if let Some(etc) = &inputs.etc {
        for (target, src) in [
            ("/etc/resolv.conf", &etc.resolv_conf),
            ("/etc/hostname", &etc.hostname),
            ("/etc/hosts", &etc.hosts),
        ] {
            // A user mount of the same file wins, as in Docker.
            if user_targets.iter().any(|t| t == target) {
                continue;
            }
            let mut opts = vec!["rbind"];
            if spec.read_only {
                opts.push("ro");
            }
            opts.push("rprivate");
            extra.push(mnt(target, "bind", src.clone(), &opts));
            user_targets.push(target.to_string());
        }
    }
    extra.sort_by_key(|m| depth(&m.destination().to_string_lossy()));

    let shm_size = spec.shm_size.filter(|s| *s > 0).unwrap_or(DEFAULT_SHM_SIZE);
    let shm_opt = format!("size={shm_size}");
    let mut defaults = vec![
        mnt("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mnt(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mnt(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mnt(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        mnt(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mnt(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mnt(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_opt],
        ),
    ];
    if with_init {
        if let Some(init) = &inputs.init {
            defaults.push(mnt(INIT_PATH, "bind", init.clone(), &["bind", "ro"]));
        }
    }
    let user_dev = user_targets.iter().any(|t| t == "/dev");
    defaults.retain(|m| {
        let d = m.destination().to_string_lossy().to_string();
        let overridden = user_targets.contains(&d) || (user_dev && d.starts_with("/dev/"));
        let no_shm = d == "/dev/shm" && ns.ipc == NsMode::None;
        !overridden && !no_shm
    });
    for m in defaults.iter_mut() {
        let d = m.destination().to_string_lossy().to_string();
        let opts = m.options().clone().unwrap_or_default();
        let mut opts: Vec<String> = opts;
        if spec.read_only
            && !matches!(
                d.as_str(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            )
            && !opts.iter().any(|o| o == "ro")
        {
            opts.push("ro".into());
        }
        if spec.privileged && (d == "/sys" || m.typ().as_deref() == Some("cgroup")) {
            opts.retain(|o| o != "ro");
        }
        m.set_options(Some(opts));
    }
    defaults.extend(extra);
    Ok((defaults, propagation))
}

/// The options of a volume's `o`, as Docker's local driver hands them to
/// mount(2): an `addr=` host name becomes its address (the kernel's NFS
/// client takes addresses only; Docker resolves it the same way).
pub(super) fn filesystem_options(o: &str) -> Vec<String> {
    o.split(',')
        .filter(|f| !f.is_empty())
        .map(|f| match f.strip_prefix("addr=") {
            Some(host) if host.parse::<std::net::IpAddr>().is_err() => {
                use std::net::ToSocketAddrs as _;
                match (host, 0).to_socket_addrs().ok().and_then(|mut a| a.next()) {
                    Some(a) => format!("addr={}", a.ip()),
                    None => f.to_string(),
                }
            }
            _ => f.to_string(),
        })
        .collect()
}
