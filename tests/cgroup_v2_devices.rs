//! The device cgroup on cgroup v2, which the built-in runtime enforces with an
//! eBPF program (libcgroups' `cgroupsv2_devices`). Without it a container
//! holding CAP_MKNOD (a default capability) could `mknod /dev/sda b 8 0` and
//! read the host's disk on a v2 host.
//!
//! This host may be hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified),
//! where libcontainer uses the v1 devices controller; but the kernel runs a
//! cgroup2 device program for every process in that cgroup2 directory whatever
//! the v1 setup, so the exact program the v2 manager attaches can be checked
//! here: the bundle's device rules (the same on v1 and v2) go through
//! `Devices::apply_devices`, and a shell moved into the cgroup opens device
//! nodes the way an attacker inside a container would.
//!
//! Needs root and a cgroup2 mount; SKIPPED otherwise.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use wharf::runtime::bundle::{build_for, BundleInputs, Host};
use wharf::runtime::cgroups::{detect, CgroupMode};
use wharf::runtime::seccomp::Target;
use wharf::runtime::spec::{ContainerSpec, DeviceMapping};

/// The cgroup2 hierarchy of this host, if any.
fn cgroup2_root() -> Option<PathBuf> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: needs root");
        return None;
    }
    let root = Path::new("/sys/fs/cgroup");
    match detect(root) {
        Ok(CgroupMode::Unified) => Some(root.to_owned()),
        Ok(CgroupMode::Hybrid) => Some(root.join("unified")),
        other => {
            eprintln!("SKIPPED: no cgroup2 hierarchy ({other:?})");
            None
        }
    }
}

/// A cgroup2 directory of the test's own; removed on drop (the kernel frees
/// the attached program with it). Its processes have exited by then.
struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir(&self.0) {
            eprintln!("cleanup: rmdir {}: {e}", self.0.display());
        }
    }
}

fn host(cgroup2: bool) -> Host {
    Host {
        cap_last_cap: 40,
        own_bounding: u64::MAX,
        cgroup2,
        swap_limit: true,
        blkio_weight: true,
        blkio_weight_device: true,
        hostname: "h".into(),
        ping_group_range: true,
        unprivileged_port_start: true,
        seccomp: Target::host(),
        nofile_hard: None,
        dev_dir: "/dev".into(),
        apparmor: false,
        apparmor_parser: None,
    }
}

fn mknod(path: &Path, kind: nix::sys::stat::SFlag, major: u64, minor: u64) {
    nix::sys::stat::mknod(
        path,
        kind,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        nix::sys::stat::makedev(major, minor),
    )
    .unwrap();
}

/// Runs `script` in sh, in cgroup `cg` when given; (exit code, stderr).
fn sh_in(cg: Option<&Path>, script: &str) -> (i32, String) {
    let full = match cg {
        // The shell joins the cgroup, then every command it forks is in it.
        Some(cg) => format!(
            "echo $$ > {}/cgroup.procs || exit 99\n{script}",
            cg.display()
        ),
        None => script.to_string(),
    };
    let out = Command::new("sh").arg("-c").arg(full).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What libcontainer's v2 manager does with linux.resources.devices.
fn attach(cg: &Path, rules: &Option<Vec<oci_spec::runtime::LinuxDeviceCgroup>>) {
    use libcgroups::v2::devices::bpf::{prog, BpfError};
    use libcgroups::v2::devices::controller::{Devices, DevicesControllerError};
    use libcgroups::v2::devices::{emulator::Emulator, program::Program};
    use std::os::fd::AsRawFd;
    match Devices::apply_devices(cg, rules) {
        Ok(()) => {}
        // It first raises RLIMIT_MEMLOCK to 128 MiB, which needs
        // CAP_SYS_RESOURCE when the hard limit is lower (a sandbox; root on
        // a normal host has it). Kernels since 5.11 charge BPF memory to the
        // memory cgroup instead, so the same program is loaded without it.
        Err(DevicesControllerError::Bpf(BpfError::FailedToIncreaseRLimit)) => {
            eprintln!("no CAP_SYS_RESOURCE: loading the program without raising RLIMIT_MEMLOCK");
            let mut emu = Emulator::with_default_allow(false);
            emu.add_rules(rules.as_deref().unwrap_or_default());
            let program = Program::from_rules(&emu.rules, emu.default_allow).unwrap();
            let fd = prog::load("Apache", program.bytecodes()).unwrap();
            let dir = fs::File::open(cg).unwrap();
            prog::attach(fd, dir.as_raw_fd()).unwrap();
            nix::unistd::close(fd).unwrap();
        }
        Err(e) => panic!("attaching the device program to {}: {e}", cg.display()),
    }
}

#[test]
fn v2_device_program_denies_unmapped_disks_and_allows_mapped_devices() {
    let Some(v2) = cgroup2_root() else { return };
    // loop-control (c 10:237) stands in for a device the user maps with
    // `devices:`; opening it does nothing.
    let mapped = Path::new("/dev/loop-control");
    if !fs::metadata(mapped)
        .map(|m| m.file_type().is_char_device())
        .unwrap_or(false)
    {
        eprintln!("SKIPPED: no /dev/loop-control");
        return;
    }
    let rootfs = tempfile::tempdir().unwrap();
    let spec = ContainerSpec {
        devices: vec![DeviceMapping {
            host_path: mapped.into(),
            container_path: "/dev/xdev".into(),
            permissions: "rwm".into(),
        }],
        command: Some(vec!["true".into()]),
        ..ContainerSpec::default()
    };
    let image = oci_spec::image::Config::default();
    let id = format!("{:064x}", std::process::id());
    let inputs = BundleInputs {
        id: &id,
        spec: &spec,
        image: &image,
        rootfs: rootfs.path(),
        etc: None,
        cgroups_path: format!("/wharf/{id}"),
        init: None,
        netns: None,
    };
    let v1_bundle = build_for(&inputs, &host(false)).unwrap();
    let v2_bundle = build_for(&inputs, &host(true)).unwrap();
    let rules = |s: &oci_spec::runtime::Spec| {
        s.linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.devices().clone())
    };
    // What v1's devices.allow gets is what the v2 program is built from.
    assert_eq!(rules(&v1_bundle), rules(&v2_bundle));

    let cg = Cgroup(v2.join(format!("wharf-devtest-{}", std::process::id())));
    fs::create_dir(&cg.0).unwrap();
    attach(&cg.0, &rules(&v2_bundle));

    // Nodes made outside the cgroup, as if already present in an image.
    let nodes = tempfile::tempdir().unwrap();
    let n = |name: &str| nodes.path().join(name).display().to_string();
    use nix::sys::stat::SFlag;
    mknod(&nodes.path().join("null"), SFlag::S_IFCHR, 1, 3);
    mknod(&nodes.path().join("xdev"), SFlag::S_IFCHR, 10, 237);
    // An unbound loop device: reading it is harmless, and a disk all the same.
    mknod(&nodes.path().join("disk"), SFlag::S_IFBLK, 7, 0);

    // Control: outside the cgroup the disk node opens, so a refusal below is
    // the program's doing.
    let (code, err) = sh_in(None, &format!(": < {}", n("disk")));
    assert_eq!(code, 0, "disk outside the cgroup: {err}");

    let (code, err) = sh_in(Some(&cg.0), &format!(": < {}", n("disk")));
    assert_ne!(code, 0, "an unmapped disk opened inside the cgroup");
    assert!(err.contains("not permitted"), "{err}");

    // The escape of the brief: mknod is allowed (Docker's `m` rules), the
    // open that follows is not.
    let (code, err) = sh_in(
        Some(&cg.0),
        &format!("mknod {d} b 7 0 || exit 3\n: < {d}", d = n("made")),
    );
    assert_ne!(code, 3, "mknod refused: {err}");
    assert_ne!(code, 0, "a disk made with mknod opened inside the cgroup");
    assert!(err.contains("not permitted"), "{err}");

    let (code, err) = sh_in(
        Some(&cg.0),
        &format!(
            "head -c0 < {null} && echo x > {null} && : < {xdev}",
            null = n("null"),
            xdev = n("xdev")
        ),
    );
    assert_eq!(code, 0, "default or mapped device refused: {err}");
}
