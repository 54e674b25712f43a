use super::*;
use crate::runtime::spec::{DeviceMapping, MountSpec, Namespaces, Resources};
use oci_spec::image::ConfigBuilder;
use oci_spec::runtime::{
    Capabilities, LinuxDeviceType, LinuxNamespaceType, LinuxResources, LinuxSeccomp,
    LinuxSeccompAction, Mount, PosixRlimitType,
};
use std::fs;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Fixture {
    rootfs: tempfile::TempDir,
    image: Config,
}

fn fixture() -> Fixture {
    let rootfs = tempfile::tempdir().unwrap();
    fs::create_dir(rootfs.path().join("etc")).unwrap();
    fs::write(
        rootfs.path().join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    fs::write(
        rootfs.path().join("etc/group"),
        "root:x:0:\napp:x:1000:\naudio:x:29:app\n",
    )
    .unwrap();
    Fixture {
        rootfs,
        image: ConfigBuilder::default()
            .cmd(vec!["/bin/sh".to_string()])
            .build()
            .unwrap(),
    }
}

fn host() -> Host {
    Host {
        cap_last_cap: 40,
        own_bounding: u64::MAX,
        cgroup2: false,
        swap_limit: true,
        blkio_weight: true,
        blkio_weight_device: true,
        hostname: "the-host".into(),
        ping_group_range: true,
        unprivileged_port_start: true,
        seccomp: Target {
            arch: "amd64",
            scmp_arch: "SCMP_ARCH_X86_64",
            kernel: (6, 1),
        },
        nofile_hard: None,
        dev_dir: "/dev".into(),
        apparmor: false,
        apparmor_parser: None,
    }
}

fn inputs<'a>(f: &'a Fixture, spec: &'a ContainerSpec) -> BundleInputs<'a> {
    BundleInputs {
        id: ID,
        spec,
        image: &f.image,
        rootfs: f.rootfs.path(),
        etc: None,
        cgroups_path: format!("/wharf/{ID}"),
        init: None,
        netns: None,
    }
}

fn build_spec(spec: &ContainerSpec) -> Result<Spec, BundleError> {
    let f = fixture();
    build_for(&inputs(&f, spec), &host())
}

fn ok(spec: &ContainerSpec) -> Spec {
    build_spec(spec).unwrap()
}

fn process(s: &Spec) -> &Process {
    s.process().as_ref().unwrap()
}

fn linux(s: &Spec) -> &oci_spec::runtime::Linux {
    s.linux().as_ref().unwrap()
}

fn env(s: &Spec) -> Vec<String> {
    process(s).env().clone().unwrap()
}

fn mount_dests(s: &Spec) -> Vec<String> {
    s.mounts()
        .iter()
        .flatten()
        .map(|m| m.destination().display().to_string())
        .collect()
}

fn mount<'a>(s: &'a Spec, dest: &str) -> &'a Mount {
    s.mounts()
        .iter()
        .flatten()
        .find(|m| m.destination() == Path::new(dest))
        .unwrap_or_else(|| panic!("no mount at {dest}"))
}

fn opts(m: &Mount) -> Vec<&str> {
    m.options().iter().flatten().map(String::as_str).collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The CapEff-style bit mask of a capability set, from kernel numbers.
fn cap_mask(set: &Capabilities) -> u64 {
    set.iter()
        .map(|c| {
            let name = serde_json::to_value(c).unwrap();
            let n = ALL_CAPS
                .iter()
                .position(|x| *x == name.as_str().unwrap())
                .unwrap();
            1u64 << n
        })
        .sum()
}

fn caps(s: &Spec) -> &LinuxCapabilities {
    process(s).capabilities().as_ref().unwrap()
}

// ------------------------------------------------------------------ args

fn image(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> Config {
    let mut c = Config::default();
    c.set_entrypoint(ep.map(strings));
    c.set_cmd(cmd.map(strings));
    c
}

#[test]
fn entrypoint_and_command_merge_like_docker() {
    let img = image(Some(&["/ep", "-x"]), Some(&["cmd", "arg"]));
    let run = |ep: Option<&[&str]>, cmd: Option<&[&str]>| {
        let spec = ContainerSpec {
            entrypoint: ep.map(strings),
            command: cmd.map(strings),
            ..Default::default()
        };
        effective_args(&spec, &img)
    };
    assert_eq!(run(None, None), strings(&["/ep", "-x", "cmd", "arg"]));
    assert_eq!(
        run(None, Some(&["other"])),
        strings(&["/ep", "-x", "other"])
    );
    // A given entrypoint drops the image's Cmd…
    assert_eq!(run(Some(&["/new"]), None), strings(&["/new"]));
    // …unless a command is given too.
    assert_eq!(run(Some(&["/new"]), Some(&["c"])), strings(&["/new", "c"]));
    // An empty entrypoint clears the image's and keeps its Cmd (moby's merge).
    assert_eq!(run(Some(&[]), None), strings(&["cmd", "arg"]));
    assert_eq!(run(Some(&[""]), None), strings(&["cmd", "arg"]));
    assert_eq!(run(Some(&[]), Some(&["c", "d"])), strings(&["c", "d"]));
    // An empty command is "not given" in moby's merge: the image's Cmd stays.
    assert_eq!(run(None, Some(&[])), strings(&["/ep", "-x", "cmd", "arg"]));
}

#[test]
fn no_command_is_dockers_error() {
    let f = fixture();
    let img = Config::default();
    let spec = ContainerSpec::default();
    let mut i = inputs(&f, &spec);
    i.image = &img;
    let e = build_for(&i, &host()).unwrap_err();
    assert_eq!(e.to_string(), "no command specified");
    // Clearing the only thing the image had also leaves nothing.
    let img = image(Some(&["/ep"]), None);
    let spec = ContainerSpec {
        entrypoint: Some(vec![]),
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.image = &img;
    assert!(matches!(
        build_for(&i, &host()),
        Err(BundleError::NoCommand { .. })
    ));
}

#[test]
fn init_wraps_the_command_and_is_bound_read_only() {
    let f = fixture();
    let spec = ContainerSpec {
        init: true,
        command: Some(strings(&["sleep", "1"])),
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    assert!(matches!(
        build_for(&i, &host()),
        Err(BundleError::NoInit { .. })
    ));
    i.init = Some("/usr/libexec/wharf-init".into());
    let s = build_for(&i, &host()).unwrap();
    assert_eq!(
        process(&s).args().clone().unwrap(),
        strings(&["/sbin/wharf-init", "--", "sleep", "1"])
    );
    let m = mount(&s, INIT_PATH);
    assert_eq!(m.typ().as_deref(), Some("bind"));
    assert_eq!(
        m.source().as_deref(),
        Some(Path::new("/usr/libexec/wharf-init"))
    );
    assert_eq!(opts(m), ["bind", "ro"]);

    // In the host's pid namespace there already is an init: Docker adds none.
    let spec = ContainerSpec {
        namespaces: Namespaces {
            pid: NsMode::Host,
            ..Default::default()
        },
        ..spec
    };
    let mut i = inputs(&f, &spec);
    i.init = Some("/usr/libexec/wharf-init".into());
    let s = build_for(&i, &host()).unwrap();
    assert_eq!(
        process(&s).args().clone().unwrap(),
        strings(&["sleep", "1"])
    );
    assert!(!mount_dests(&s).contains(&INIT_PATH.to_string()));
}

// ------------------------------------------------------------------ env, cwd, user

#[test]
fn env_order_and_overrides_follow_docker() {
    let f = fixture();
    let mut img = Config::default();
    img.set_cmd(Some(strings(&["x"])));
    img.set_env(Some(strings(&["PATH=/image/bin", "A=image", "B=image"])));
    let spec = ContainerSpec {
        env: strings(&["B=user", "C=user"]),
        tty: true,
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.image = &img;
    let s = build_for(&i, &host()).unwrap();
    assert_eq!(
        env(&s),
        strings(&[
            "PATH=/image/bin",
            "HOSTNAME=0123456789ab",
            "TERM=xterm",
            "B=user",
            "C=user",
            "A=image",
            "HOME=/root",
        ])
    );
}

#[test]
fn env_defaults_and_removal() {
    let s = ok(&ContainerSpec {
        env: strings(&["HOME=/custom", "HOSTNAME"]),
        ..Default::default()
    });
    // Default PATH, no TERM without a tty, a bare key removes, HOME kept.
    assert_eq!(
        env(&s),
        strings(&[&format!("PATH={DEFAULT_PATH}"), "HOME=/custom"])
    );
    assert!(!s
        .annotations()
        .as_ref()
        .unwrap()
        .contains_key(HOME_ANNOTATION));
}

#[test]
fn working_dir_spec_then_image_then_root() {
    let f = fixture();
    let mut img = f.image.clone();
    img.set_working_dir(Some("/app".into()));
    let spec = ContainerSpec::default();
    let mut i = inputs(&f, &spec);
    i.image = &img;
    let s = build_for(&i, &host()).unwrap();
    assert_eq!(process(&s).cwd(), Path::new("/app"));
    let spec = ContainerSpec {
        working_dir: Some("/srv".into()),
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.image = &img;
    assert_eq!(
        process(&build_for(&i, &host()).unwrap()).cwd(),
        Path::new("/srv")
    );
    assert_eq!(
        process(&ok(&ContainerSpec::default())).cwd(),
        Path::new("/")
    );
}

#[test]
fn user_from_image_then_spec_with_groups() {
    let f = fixture();
    let mut img = f.image.clone();
    img.set_user(Some("app".into()));
    let spec = ContainerSpec::default();
    let mut i = inputs(&f, &spec);
    i.image = &img;
    let s = build_for(&i, &host()).unwrap();
    let u = process(&s).user();
    assert_eq!((u.uid(), u.gid()), (1000, 1000));
    assert_eq!(u.additional_gids().clone().unwrap(), vec![1000, 29]);
    assert!(env(&s).contains(&"HOME=/home/app".to_string()));

    // An empty user is "not given": the image's user stays.
    let spec = ContainerSpec {
        user: Some(String::new()),
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.image = &img;
    assert_eq!(process(&build_for(&i, &host()).unwrap()).user().uid(), 1000);

    let spec = ContainerSpec {
        user: Some("0:audio".into()),
        group_add: strings(&["app", "4000"]),
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.image = &img;
    let s = build_for(&i, &host()).unwrap();
    let u = process(&s).user();
    assert_eq!((u.uid(), u.gid()), (0, 29));
    assert_eq!(u.additional_gids().clone().unwrap(), vec![29, 1000, 4000]);

    let e = build_spec(&ContainerSpec {
        user: Some("ghost".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("unable to find user ghost: no matching entries in passwd file"),
        "{e}"
    );
}

// ------------------------------------------------------------------ hostname, namespaces

fn ns_list(s: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    linux(s)
        .namespaces()
        .iter()
        .flatten()
        .map(|n| (n.typ(), n.path().clone()))
        .collect()
}

#[test]
fn hostname_defaults_to_the_short_id() {
    let s = ok(&ContainerSpec::default());
    assert_eq!(s.hostname().as_deref(), Some("0123456789ab"));
    assert_eq!(s.domainname(), &None);
    let s = ok(&ContainerSpec {
        hostname: Some("web".into()),
        domainname: Some("example.org".into()),
        ..Default::default()
    });
    assert_eq!(s.hostname().as_deref(), Some("web"));
    assert_eq!(s.domainname().as_deref(), Some("example.org"));
    assert!(env(&s).contains(&"HOSTNAME=web".to_string()));
}

#[test]
fn host_network_or_uts_shows_the_hosts_name() {
    let s = ok(&ContainerSpec {
        namespaces: Namespaces {
            net: NsMode::Host,
            ..Default::default()
        },
        ..Default::default()
    });
    assert_eq!(s.hostname().as_deref(), Some("the-host"));
    let s = ok(&ContainerSpec {
        namespaces: Namespaces {
            uts: NsMode::Host,
            ..Default::default()
        },
        ..Default::default()
    });
    // No UTS namespace of its own: nothing to set, HOSTNAME still the host's.
    assert_eq!(s.hostname(), &None);
    assert!(env(&s).contains(&"HOSTNAME=the-host".to_string()));
    assert!(!ns_list(&s)
        .iter()
        .any(|(t, _)| *t == LinuxNamespaceType::Uts));
}

#[test]
fn namespaces_per_mode() {
    use LinuxNamespaceType as T;
    let s = ok(&ContainerSpec::default());
    assert_eq!(
        ns_list(&s),
        vec![
            (T::Mount, None),
            (T::Network, None),
            (T::Uts, None),
            (T::Pid, None),
            (T::Ipc, None)
        ]
    );
    let f = fixture();
    let spec = ContainerSpec {
        namespaces: Namespaces {
            pid: NsMode::Host,
            ipc: NsMode::Path("/proc/42/ns/ipc".into()),
            uts: NsMode::Private,
            net: NsMode::Private,
            cgroup: Some(NsMode::Private),
            ipc_shareable: None,
        },
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.netns = Some("/run/wharf/netns/x".into());
    let s = build_for(&i, &host()).unwrap();
    assert_eq!(
        ns_list(&s),
        vec![
            (T::Mount, None),
            (T::Network, Some("/run/wharf/netns/x".into())),
            (T::Uts, None),
            (T::Ipc, Some("/proc/42/ns/ipc".into())),
            (T::Cgroup, None)
        ]
    );
    // Another container's namespace is resolved to a file at start; a
    // bundle built without that step is refused rather than left private.
    let spec = ContainerSpec {
        namespaces: Namespaces {
            net: NsMode::Container("db".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let err = build_for(&inputs(&f, &spec), &host()).unwrap_err();
    assert!(
        matches!(&err, BundleError::UnresolvedNamespace { other, .. } if other == "db"),
        "{err}"
    );
    // net: none is a fresh namespace (loopback only) even if a file is given.
    let spec = ContainerSpec {
        namespaces: Namespaces {
            net: NsMode::None,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.netns = Some("/run/wharf/netns/x".into());
    let s = build_for(&i, &host()).unwrap();
    assert!(ns_list(&s).contains(&(T::Network, None)));
}

#[test]
fn cgroup_namespace_follows_the_cgroup_version() {
    let f = fixture();
    let spec = ContainerSpec::default();
    let mut h = host();
    h.cgroup2 = true;
    let s = build_for(&inputs(&f, &spec), &h).unwrap();
    assert!(ns_list(&s).contains(&(LinuxNamespaceType::Cgroup, None)));
    let spec = ContainerSpec {
        namespaces: Namespaces {
            cgroup: Some(NsMode::Host),
            ..Default::default()
        },
        ..Default::default()
    };
    let s = build_for(&inputs(&f, &spec), &h).unwrap();
    assert!(!ns_list(&s)
        .iter()
        .any(|(t, _)| *t == LinuxNamespaceType::Cgroup));
}

// ------------------------------------------------------------------ mounts

#[test]
fn default_mounts_in_dockers_order_and_options() {
    let s = ok(&ContainerSpec::default());
    assert_eq!(
        mount_dests(&s),
        strings(&[
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/dev/shm"
        ])
    );
    assert_eq!(
        opts(mount(&s, "/dev")),
        ["nosuid", "strictatime", "mode=755", "size=65536k"]
    );
    assert_eq!(
        opts(mount(&s, "/dev/pts")),
        [
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5"
        ]
    );
    assert_eq!(opts(mount(&s, "/sys")), ["nosuid", "noexec", "nodev", "ro"]);
    assert_eq!(mount(&s, "/sys/fs/cgroup").typ().as_deref(), Some("cgroup"));
    assert!(opts(mount(&s, "/sys/fs/cgroup")).contains(&"ro"));
    assert_eq!(
        opts(mount(&s, "/dev/shm")),
        ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
    );
    let s = ok(&ContainerSpec {
        shm_size: Some(256 << 20),
        ..Default::default()
    });
    assert!(opts(mount(&s, "/dev/shm")).contains(&"size=268435456"));
}

#[test]
fn ipc_host_binds_the_hosts_shm_and_ipc_none_has_none() {
    let s = ok(&ContainerSpec {
        namespaces: Namespaces {
            ipc: NsMode::Host,
            ..Default::default()
        },
        ..Default::default()
    });
    let m = mount(&s, "/dev/shm");
    assert_eq!(m.typ().as_deref(), Some("bind"));
    assert_eq!(m.source().as_deref(), Some(Path::new("/dev/shm")));
    assert_eq!(
        mount_dests(&s).iter().filter(|d| *d == "/dev/shm").count(),
        1
    );
    let s = ok(&ContainerSpec {
        namespaces: Namespaces {
            ipc: NsMode::None,
            ..Default::default()
        },
        ..Default::default()
    });
    assert!(!mount_dests(&s).contains(&"/dev/shm".to_string()));
    assert!(ns_list(&s).contains(&(LinuxNamespaceType::Ipc, None)));
}

#[test]
fn etc_files_and_user_mounts_sorted_by_depth() {
    let f = fixture();
    let vol = tempfile::tempdir().unwrap();
    fs::create_dir_all(vol.path().join("sub/dir")).unwrap();
    let spec = ContainerSpec {
        mounts: vec![
            MountSpec::Bind {
                source: "/srv/a".into(),
                target: "/data/deep/er".into(),
                read_only: true,
                propagation: None,
                create_host_path: false,
            },
            MountSpec::Volume {
                name: "vol".into(),
                source: vol.path().to_path_buf(),
                target: "/data".into(),
                read_only: false,
                nocopy: false,
                subpath: Some("sub/dir".into()),
            },
            MountSpec::Tmpfs {
                target: "/run".into(),
                size: Some(64 << 20),
                mode: Some(0o700),
                read_only: false,
            },
        ],
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.etc = Some(EtcFiles {
        hosts: "/run/wharf/x/hosts".into(),
        hostname: "/run/wharf/x/hostname".into(),
        resolv_conf: "/run/wharf/x/resolv.conf".into(),
    });
    let s = build_for(&i, &host()).unwrap();
    let d = mount_dests(&s);
    assert_eq!(
        d[7..],
        strings(&[
            "/data",
            "/run",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/etc/hosts",
            "/data/deep/er"
        ])
    );
    assert_eq!(opts(mount(&s, "/etc/hosts")), ["rbind", "rprivate"]);
    assert_eq!(
        mount(&s, "/etc/resolv.conf").source().as_deref(),
        Some(Path::new("/run/wharf/x/resolv.conf"))
    );
    assert_eq!(
        opts(mount(&s, "/data/deep/er")),
        ["rbind", "ro", "rprivate"]
    );
    let v = mount(&s, "/data");
    assert_eq!(opts(v), ["rbind"]);
    assert_eq!(
        v.source().clone().unwrap(),
        vol.path().canonicalize().unwrap().join("sub/dir")
    );
    assert_eq!(
        opts(mount(&s, "/run")),
        ["noexec", "nosuid", "nodev", "rprivate", "mode=700", "size=64m"]
    );
    assert_eq!(linux(&s).rootfs_propagation(), &None);
}

#[test]
fn user_mounts_override_defaults() {
    let f = fixture();
    let spec = ContainerSpec {
        mounts: vec![
            MountSpec::Bind {
                source: "/my/hosts".into(),
                target: "/etc/hosts".into(),
                read_only: false,
                propagation: Some("rshared".into()),
                create_host_path: false,
            },
            MountSpec::Tmpfs {
                target: "/dev".into(),
                size: None,
                mode: None,
                read_only: false,
            },
        ],
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.etc = Some(EtcFiles {
        hosts: "/run/h".into(),
        hostname: "/run/hn".into(),
        resolv_conf: "/run/r".into(),
    });
    let s = build_for(&i, &host()).unwrap();
    let d = mount_dests(&s);
    assert_eq!(d.iter().filter(|x| *x == "/etc/hosts").count(), 1);
    assert_eq!(
        mount(&s, "/etc/hosts").source().as_deref(),
        Some(Path::new("/my/hosts"))
    );
    // A user /dev replaces everything Docker would mount under it.
    assert!(!d.iter().any(|x| x.starts_with("/dev/")));
    assert_eq!(
        mount(&s, "/dev").source().as_deref(),
        Some(Path::new("tmpfs"))
    );
    assert_eq!(linux(&s).rootfs_propagation().as_deref(), Some("shared"));
}

#[test]
fn bad_mounts_are_refused() {
    let bind = |target: &str| MountSpec::Bind {
        source: "/x".into(),
        target: target.into(),
        read_only: false,
        propagation: None,
        create_host_path: false,
    };
    let e = build_spec(&ContainerSpec {
        mounts: vec![bind("relative")],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("must be absolute"), "{e}");
    let e = build_spec(&ContainerSpec {
        mounts: vec![bind("/a"), bind("/a/")],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("duplicate mount point"), "{e}");
    let e = build_spec(&ContainerSpec {
        mounts: vec![MountSpec::Bind {
            source: "/x".into(),
            target: "/a".into(),
            read_only: false,
            propagation: Some("sideways".into()),
            create_host_path: false,
        }],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("propagation"), "{e}");
}

#[test]
fn volume_subpath_cannot_leave_the_volume() {
    let vol = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), vol.path().join("escape")).unwrap();
    for sub in ["../", "escape", "missing"] {
        let e = build_spec(&ContainerSpec {
            mounts: vec![MountSpec::Volume {
                name: "v".into(),
                source: vol.path().to_path_buf(),
                target: "/v".into(),
                read_only: false,
                nocopy: false,
                subpath: Some(sub.into()),
            }],
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("subpath"), "{sub}: {e}");
    }
}

#[test]
fn read_only_rootfs() {
    let f = fixture();
    let spec = ContainerSpec {
        read_only: true,
        ..Default::default()
    };
    let mut i = inputs(&f, &spec);
    i.etc = Some(EtcFiles {
        hosts: "/run/h".into(),
        hostname: "/run/hn".into(),
        resolv_conf: "/run/r".into(),
    });
    let s = build_for(&i, &host()).unwrap();
    assert_eq!(s.root().as_ref().unwrap().readonly(), Some(true));
    assert_eq!(opts(mount(&s, "/etc/hosts")), ["rbind", "ro", "rprivate"]);
    // Docker keeps these writable even on a read-only rootfs.
    for d in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"] {
        assert!(!opts(mount(&s, d)).contains(&"ro"), "{d}");
    }
}

// ------------------------------------------------------------------ security

#[test]
fn default_capabilities_are_dockers() {
    let s = ok(&ContainerSpec::default());
    let c = caps(&s);
    for set in [c.bounding(), c.effective(), c.permitted()] {
        assert_eq!(cap_mask(set.as_ref().unwrap()), 0xa80425fb);
    }
    assert!(c.inheritable().is_none());
    assert!(c.ambient().is_none());
    assert_eq!(process(&s).no_new_privileges(), None);
}

#[test]
fn non_root_users_get_only_the_bounding_set() {
    let s = ok(&ContainerSpec {
        user: Some("app".into()),
        ..Default::default()
    });
    let c = caps(&s);
    assert_eq!(cap_mask(c.bounding().as_ref().unwrap()), 0xa80425fb);
    assert!(c.effective().is_none() && c.permitted().is_none());
}

fn bounding_names(s: &Spec) -> Vec<String> {
    let mut v: Vec<String> = caps(s)
        .bounding()
        .iter()
        .flatten()
        .map(|c| {
            serde_json::to_value(c)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn cap_add_and_drop() {
    let s = ok(&ContainerSpec {
        cap_add: strings(&["net_admin", "CAP_SYS_PTRACE"]),
        cap_drop: strings(&["MKNOD", "cap_net_raw"]),
        ..Default::default()
    });
    let b = bounding_names(&s);
    assert!(b.contains(&"CAP_NET_ADMIN".into()) && b.contains(&"CAP_SYS_PTRACE".into()));
    assert!(!b.contains(&"CAP_MKNOD".into()) && !b.contains(&"CAP_NET_RAW".into()));
    assert_eq!(b.len(), 14);

    let s = ok(&ContainerSpec {
        cap_drop: strings(&["ALL"]),
        cap_add: strings(&["chown"]),
        ..Default::default()
    });
    assert_eq!(bounding_names(&s), strings(&["CAP_CHOWN"]));

    let s = ok(&ContainerSpec {
        cap_add: strings(&["all"]),
        cap_drop: strings(&["SYS_ADMIN"]),
        ..Default::default()
    });
    assert_eq!(bounding_names(&s).len(), 40);
    assert!(!bounding_names(&s).contains(&"CAP_SYS_ADMIN".into()));

    let e = build_spec(&ContainerSpec {
        cap_add: strings(&["FLY"]),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("unknown capability: \"CAP_FLY\""),
        "{e}"
    );
}

#[test]
fn privileged_gets_everything_and_no_confinement() {
    let f = fixture();
    let spec = ContainerSpec {
        privileged: true,
        security_opt: strings(&["seccomp=/nonexistent.json"]),
        ..Default::default()
    };
    let mut h = host();
    h.cap_last_cap = 37;
    let s = build_for(&inputs(&f, &spec), &h).unwrap();
    assert_eq!(
        cap_mask(caps(&s).effective().as_ref().unwrap()),
        (1 << 38) - 1
    );
    let l = linux(&s);
    assert!(l.seccomp().is_none());
    assert!(l.masked_paths().is_none() && l.readonly_paths().is_none());
    assert!(!opts(mount(&s, "/sys")).contains(&"ro"));
    assert!(!opts(mount(&s, "/sys/fs/cgroup")).contains(&"ro"));
    let rules = l.resources().as_ref().unwrap().devices().clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].allow() && rules[0].typ().is_none());
    assert!(l
        .devices()
        .iter()
        .flatten()
        .any(|d| d.path() == Path::new("/dev/null") && (d.major(), d.minor()) == (1, 3)));
}

#[test]
fn masked_and_readonly_paths() {
    let s = ok(&ContainerSpec::default());
    let l = linux(&s);
    assert_eq!(l.masked_paths().clone().unwrap(), strings(MASKED_PATHS));
    assert!(l
        .masked_paths()
        .iter()
        .flatten()
        .any(|p| p == "/sys/devices/virtual/powercap"));
    assert_eq!(l.readonly_paths().clone().unwrap(), strings(READONLY_PATHS));
    let s = ok(&ContainerSpec {
        security_opt: strings(&["systempaths=unconfined"]),
        ..Default::default()
    });
    assert!(linux(&s).masked_paths().is_none());
}

#[test]
fn security_opts() {
    for o in [
        "no-new-privileges",
        "no-new-privileges:true",
        "no-new-privileges=true",
    ] {
        let s = ok(&ContainerSpec {
            security_opt: strings(&[o]),
            ..Default::default()
        });
        assert_eq!(process(&s).no_new_privileges(), Some(true), "{o}");
    }
    let s = ok(&ContainerSpec {
        security_opt: strings(&[
            "no-new-privileges:false",
            "apparmor=unconfined",
            "label=disable",
        ]),
        ..Default::default()
    });
    assert_eq!(process(&s).no_new_privileges(), None);
    assert!(linux(&s).seccomp().is_some());
    let s = ok(&ContainerSpec {
        security_opt: strings(&["seccomp=unconfined"]),
        ..Default::default()
    });
    assert!(linux(&s).seccomp().is_none());
    // Without AppArmor on the host (host() says so), a named profile or a
    // SELinux label cannot be applied: refused, never silently ignored.
    for unapplicable in ["apparmor=wharf-default", "label=type:svirt_t"] {
        let e = build_spec(&ContainerSpec {
            security_opt: strings(&[unapplicable]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("cannot be applied"),
            "{unapplicable}: {e}"
        );
    }
    // With AppArmor on, the profile goes to the runtime.
    let f = fixture();
    let spec = ContainerSpec {
        security_opt: strings(&["apparmor=wharf-default"]),
        ..Default::default()
    };
    let with_apparmor = Host {
        apparmor: true,
        ..host()
    };
    let s = build_for(&inputs(&f, &spec), &with_apparmor).unwrap();
    assert_eq!(
        process(&s).apparmor_profile().as_deref(),
        Some("wharf-default")
    );
    for bad in ["bogus", "no-new-privileges:maybe", "frobnicate=1"] {
        let e = build_spec(&ContainerSpec {
            security_opt: strings(&[bad]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().contains("invalid --security-opt"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn default_seccomp_follows_the_capabilities() {
    let sc = |s: &Spec| linux(s).seccomp().clone().unwrap();
    let allows = |s: &LinuxSeccomp, name: &str| {
        s.syscalls().iter().flatten().any(|r| {
            r.action() == LinuxSeccompAction::ScmpActAllow && r.names().iter().any(|n| n == name)
        })
    };
    let s = ok(&ContainerSpec::default());
    assert_eq!(sc(&s).default_action(), LinuxSeccompAction::ScmpActErrno);
    assert!(!allows(&sc(&s), "mount"));
    let s = ok(&ContainerSpec {
        cap_add: strings(&["SYS_ADMIN"]),
        ..Default::default()
    });
    assert!(allows(&sc(&s), "mount"));
}

#[test]
fn seccomp_profile_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("profile.json");
    fs::write(
        &p,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let s = ok(&ContainerSpec {
        security_opt: vec![format!("seccomp={}", p.display())],
        ..Default::default()
    });
    let sc = linux(&s).seccomp().clone().unwrap();
    assert_eq!(sc.default_action(), LinuxSeccompAction::ScmpActAllow);
    assert_eq!(
        sc.syscalls().as_ref().unwrap()[0].names(),
        &strings(&["mkdir"])
    );
    let e = build_spec(&ContainerSpec {
        security_opt: vec![format!("seccomp={}", dir.path().join("no.json").display())],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("no.json"), "{e}");
}

// ------------------------------------------------------------------ devices

fn rule_strings(s: &Spec) -> Vec<String> {
    linux(s)
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .iter()
        .flatten()
        .map(|r| format!("{}{r}", if r.allow() { "+" } else { "-" }))
        .collect()
}

#[test]
fn default_device_rules() {
    let s = ok(&ContainerSpec::default());
    assert_eq!(
        rule_strings(&s),
        strings(&[
            "-a *:* rwm",
            "+c *:* m",
            "+b *:* m",
            "+c 1:3 rwm",
            "+c 1:5 rwm",
            "+c 1:7 rwm",
            "+c 5:0 rwm",
            "+c 5:1 rwm",
            "+c 5:2 rwm",
            "+c 1:8 rwm",
            "+c 1:9 rwm",
            "+c 136:* rwm",
            "+c 10:200 rwm",
        ])
    );
    assert!(linux(&s).devices().as_ref().unwrap().is_empty());
}

#[test]
fn devices_and_cgroup_rules_from_the_spec() {
    let s = ok(&ContainerSpec {
        devices: vec![DeviceMapping {
            host_path: "/dev/null".into(),
            container_path: "/dev/mynull".into(),
            permissions: "rw".into(),
        }],
        device_cgroup_rules: strings(&["c 42:* rmw", "b 8:1 r"]),
        ..Default::default()
    });
    let d = &linux(&s).devices().clone().unwrap()[0];
    assert_eq!(d.path(), Path::new("/dev/mynull"));
    assert_eq!((d.typ(), d.major(), d.minor()), (LinuxDeviceType::C, 1, 3));
    let r = rule_strings(&s);
    assert_eq!(
        r[r.len() - 3..],
        strings(&["+c 1:3 rw", "+c 42:* rmw", "+b 8:1 r"])
    );

    for bad in ["c 1:3", "x 1:3 r", "c 1-3 r", "c 1:3 rwx"] {
        let e = build_spec(&ContainerSpec {
            device_cgroup_rules: strings(&[bad]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, BundleError::DeviceCgroupRule { .. }), "{bad}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    fs::write(&file, "").unwrap();
    let e = build_spec(&ContainerSpec {
        devices: vec![DeviceMapping {
            host_path: file.clone(),
            container_path: "/dev/x".into(),
            permissions: String::new(),
        }],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("not a device node"), "{e}");
    let e = build_spec(&ContainerSpec {
        devices: vec![DeviceMapping {
            host_path: "/dev/null".into(),
            container_path: "/dev/x".into(),
            permissions: "rwx".into(),
        }],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("invalid device permissions"), "{e}");
}

// ------------------------------------------------------------------ sysctls, rlimits, oom

#[test]
fn sysctls_default_and_namespaced() {
    let s = ok(&ContainerSpec {
        sysctls: [("net.core.somaxconn".to_string(), "1024".to_string())].into(),
        ..Default::default()
    });
    let sy = linux(&s).sysctl().clone().unwrap();
    assert_eq!(sy["net.ipv4.ping_group_range"], "0 2147483647");
    assert_eq!(sy["net.ipv4.ip_unprivileged_port_start"], "0");
    assert_eq!(sy["net.core.somaxconn"], "1024");

    let host_net = Namespaces {
        net: NsMode::Host,
        ..Default::default()
    };
    let s = ok(&ContainerSpec {
        namespaces: host_net.clone(),
        ..Default::default()
    });
    assert!(linux(&s).sysctl().as_ref().unwrap().is_empty());
    let e = build_spec(&ContainerSpec {
        namespaces: host_net,
        sysctls: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("host's network namespace"), "{e}");
    let e = build_spec(&ContainerSpec {
        namespaces: Namespaces {
            ipc: NsMode::Host,
            ..Default::default()
        },
        sysctls: [("kernel.shmmax".to_string(), "1".to_string())].into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("IPC"), "{e}");
    let e = build_spec(&ContainerSpec {
        sysctls: [("vm.swappiness".to_string(), "1".to_string())].into(),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("not in a separate kernel namespace"),
        "{e}"
    );
}

fn rl(s: &Spec) -> Vec<(PosixRlimitType, u64, u64)> {
    process(s)
        .rlimits()
        .iter()
        .flatten()
        .map(|r| (r.typ(), r.soft(), r.hard()))
        .collect()
}

#[test]
fn ulimits_become_rlimits() {
    use PosixRlimitType as T;
    let s = ok(&ContainerSpec::default());
    assert_eq!(rl(&s), vec![(T::RlimitNofile, 1024, 524288)]);
    // Never above wharf's own hard limit, which only CAP_SYS_RESOURCE could raise.
    let f = fixture();
    let spec = ContainerSpec::default();
    let mut h = host();
    h.nofile_hard = Some(20000);
    let s = build_for(&inputs(&f, &spec), &h).unwrap();
    assert_eq!(rl(&s), vec![(T::RlimitNofile, 1024, 20000)]);
    h.nofile_hard = Some(512);
    let s = build_for(&inputs(&f, &spec), &h).unwrap();
    assert_eq!(rl(&s), vec![(T::RlimitNofile, 512, 512)]);
    let s = ok(&ContainerSpec {
        ulimits: [
            ("nofile".to_string(), (65536, 65536)),
            ("core".to_string(), (-1, -1)),
            ("nproc".to_string(), (100, 200)),
        ]
        .into(),
        ..Default::default()
    });
    assert_eq!(
        rl(&s),
        vec![
            (T::RlimitCore, u64::MAX, u64::MAX),
            (T::RlimitNofile, 65536, 65536),
            (T::RlimitNproc, 100, 200)
        ]
    );
    for (name, v) in [("nofile", (10, 5)), ("bogus", (1, 1)), ("nofile", (-5, 1))] {
        let e = build_spec(&ContainerSpec {
            ulimits: [(name.to_string(), v)].into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(matches!(e, BundleError::Ulimit { .. }), "{name} {v:?}: {e}");
    }
}

#[test]
fn oom_score_adj_is_always_written() {
    assert_eq!(
        process(&ok(&ContainerSpec::default())).oom_score_adj(),
        Some(0)
    );
    let s = ok(&ContainerSpec {
        oom_score_adj: Some(500),
        ..Default::default()
    });
    assert_eq!(process(&s).oom_score_adj(), Some(500));
}

// ------------------------------------------------------------------ resources

fn res(spec: &ContainerSpec) -> LinuxResources {
    linux(&ok(spec)).resources().clone().unwrap()
}

#[test]
fn memory_limits() {
    let r = res(&ContainerSpec {
        resources: Resources {
            memory: Some(256 << 20),
            memory_reservation: Some(128 << 20),
            memory_swappiness: Some(10),
            oom_kill_disable: true,
            ..Default::default()
        },
        ..Default::default()
    });
    let m = r.memory().unwrap();
    assert_eq!(m.limit(), Some(256 << 20));
    // Docker's default swap: twice the memory.
    assert_eq!(m.swap(), Some(512 << 20));
    assert_eq!(m.reservation(), Some(128 << 20));
    assert_eq!(m.swappiness(), Some(10));
    assert_eq!(m.disable_oom_killer(), Some(true));

    let f = fixture();
    let spec = ContainerSpec {
        resources: Resources {
            memory: Some(1 << 30),
            memory_swap: Some(-1),
            ..Default::default()
        },
        ..Default::default()
    };
    let s = build_for(&inputs(&f, &spec), &host()).unwrap();
    let m = linux(&s).resources().clone().unwrap().memory().unwrap();
    assert_eq!(m.swap(), Some(-1));
    let mut h = host();
    h.swap_limit = false;
    let s = build_for(&inputs(&f, &spec), &h).unwrap();
    let m = linux(&s).resources().clone().unwrap().memory().unwrap();
    assert_eq!(m.swap(), None);

    // Cgroup v2 has no OOM-killer switch: Docker drops the flag there.
    let spec = ContainerSpec {
        resources: Resources {
            memory: Some(64 << 20),
            oom_kill_disable: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut h = host();
    h.cgroup2 = true;
    let s = build_for(&inputs(&f, &spec), &h).unwrap();
    let m = linux(&s).resources().clone().unwrap().memory().unwrap();
    assert_eq!(m.disable_oom_killer(), None);
    assert_eq!(m.limit(), Some(64 << 20));

    assert!(res(&ContainerSpec::default()).memory().is_none());
    for bad in [
        Resources {
            memory_swappiness: Some(101),
            ..Default::default()
        },
        Resources {
            memory: Some(1 << 30),
            memory_swap: Some(1 << 20),
            ..Default::default()
        },
    ] {
        assert!(matches!(
            build_spec(&ContainerSpec {
                resources: bad,
                ..Default::default()
            }),
            Err(BundleError::Resources { .. })
        ));
    }
}

#[test]
fn cpu_and_pids() {
    let r = res(&ContainerSpec {
        resources: Resources {
            nano_cpus: Some(1_500_000_000),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0-1".into()),
            pids_limit: Some(100),
            ..Default::default()
        },
        ..Default::default()
    });
    let c = r.cpu().clone().unwrap();
    assert_eq!((c.quota(), c.period()), (Some(150000), Some(100000)));
    assert_eq!(c.shares(), Some(512));
    assert_eq!(c.cpus().as_deref(), Some("0-1"));
    assert_eq!(r.pids().unwrap().limit(), 100);
    let r = res(&ContainerSpec {
        resources: Resources {
            cpu_quota: Some(50000),
            cpu_period: Some(200000),
            pids_limit: Some(0),
            ..Default::default()
        },
        ..Default::default()
    });
    let c = r.cpu().clone().unwrap();
    assert_eq!((c.quota(), c.period()), (Some(50000), Some(200000)));
    assert_eq!(r.pids().unwrap().limit(), -1);
    assert!(matches!(
        build_spec(&ContainerSpec {
            resources: Resources {
                nano_cpus: Some(1),
                cpu_quota: Some(1000),
                ..Default::default()
            },
            ..Default::default()
        }),
        Err(BundleError::Resources { .. })
    ));
}

#[test]
fn blkio_with_device_numbers() {
    let r = res(&ContainerSpec {
        resources: Resources {
            blkio_weight: Some(300),
            blkio_weight_device: vec![("/dev/null".into(), 200)],
            blkio_read_bps: vec![("/dev/zero".into(), 1 << 20)],
            blkio_write_iops: vec![("/dev/null".into(), 100)],
            ..Default::default()
        },
        ..Default::default()
    });
    let b = r.block_io().clone().unwrap();
    assert_eq!(b.weight(), Some(300));
    let wd = b.weight_device().clone().unwrap();
    assert_eq!(
        (wd[0].major(), wd[0].minor(), wd[0].weight()),
        (1, 3, Some(200))
    );
    let rb = b.throttle_read_bps_device().clone().unwrap();
    assert_eq!(
        (rb[0].major(), rb[0].minor(), rb[0].rate()),
        (1, 5, 1 << 20)
    );
    assert_eq!(
        b.throttle_write_iops_device().clone().unwrap()[0].rate(),
        100
    );
    assert!(matches!(
        build_spec(&ContainerSpec {
            resources: Resources {
                blkio_weight: Some(5),
                ..Default::default()
            },
            ..Default::default()
        }),
        Err(BundleError::Resources { .. })
    ));
}

#[test]
fn blkio_weight_is_discarded_where_the_controller_has_no_weight_file() {
    let f = fixture();
    let spec = ContainerSpec {
        resources: Resources {
            blkio_weight: Some(300),
            blkio_weight_device: vec![("/dev/null".into(), 200)],
            blkio_read_bps: vec![("/dev/zero".into(), 1 << 20)],
            ..Default::default()
        },
        ..Default::default()
    };
    let h = Host {
        blkio_weight: false,
        blkio_weight_device: false,
        ..host()
    };
    let s = build_for(&inputs(&f, &spec), &h).expect("runs without the weights");
    let b = linux(&s)
        .resources()
        .clone()
        .and_then(|r| r.block_io().clone())
        .expect("block io");
    assert_eq!(b.weight(), None);
    assert_eq!(b.weight_device(), &None);
    // What the controller has is still applied.
    assert!(b.throttle_read_bps_device().is_some());
}

// ------------------------------------------------------------------ signals, files

#[test]
fn stop_signals() {
    let mut img = Config::default();
    assert_eq!(
        stop_signal(&ContainerSpec::default(), &img),
        Signal::SIGTERM
    );
    img.set_stop_signal(Some("SIGQUIT".into()));
    assert_eq!(
        stop_signal(&ContainerSpec::default(), &img),
        Signal::SIGQUIT
    );
    let spec = ContainerSpec {
        stop_signal: Some("int".into()),
        ..Default::default()
    };
    assert_eq!(stop_signal(&spec, &img), Signal::SIGINT);
    assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
    assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::SIGUSR1);
    assert!(parse_signal("SIGNOPE").is_err());
    let e = build_spec(&ContainerSpec {
        stop_signal: Some("NOPE".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("invalid signal"), "{e}");
}

#[test]
fn write_bundle_is_atomic_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture();
    let spec = |sysctls: &[(&str, &str)]| ContainerSpec {
        cap_add: strings(&["NET_ADMIN", "SYS_TIME"]),
        sysctls: sysctls
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    let a = spec(&[
        ("net.core.somaxconn", "1"),
        ("net.ipv4.tcp_syncookies", "1"),
    ]);
    let s = build_for(&inputs(&f, &a), &host()).unwrap();
    write_bundle(dir.path(), &s).unwrap();
    let first = fs::read_to_string(dir.path().join("config.json")).unwrap();
    let back: Spec = serde_json::from_str(&first).unwrap();
    assert_eq!(back, s);
    // Rebuilt (fresh HashSets and HashMaps, other insertion order): same bytes.
    for _ in 0..5 {
        let b = spec(&[
            ("net.ipv4.tcp_syncookies", "1"),
            ("net.core.somaxconn", "1"),
        ]);
        let again = build_for(&inputs(&f, &b), &host()).unwrap();
        write_bundle(dir.path(), &again).unwrap();
        let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text == first, "config.json differs:\n{text}\n---\n{first}");
    }
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("config.json")]);
}

// ------------------------------------------------------------------ exec

#[test]
fn exec_process_follows_dockers_exec() {
    let f = fixture();
    let spec = ContainerSpec {
        env: strings(&["A=1"]),
        tty: true,
        working_dir: Some("/srv".into()),
        security_opt: strings(&["no-new-privileges"]),
        ulimits: [("nofile".to_string(), (100, 100))].into(),
        ..Default::default()
    };
    let c = build_for(&inputs(&f, &spec), &host()).unwrap();

    let e = exec_process(&c, f.rootfs.path(), &ExecOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "no exec command specified");

    let p = exec_process(
        &c,
        f.rootfs.path(),
        &ExecOptions {
            args: strings(&["ps"]),
            env: strings(&["A=2", "B=3"]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(p.args().clone().unwrap(), strings(&["ps"]));
    assert_eq!(
        p.env().clone().unwrap(),
        strings(&[
            &format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=0123456789ab",
            "A=2",
            "HOME=/root",
            "B=3"
        ])
    );
    assert_eq!(p.cwd(), Path::new("/srv"));
    assert_eq!(p.terminal(), Some(false));
    assert_eq!(p.user().uid(), 0);
    // Same confinement as the container.
    assert_eq!(p.no_new_privileges(), Some(true));
    assert_eq!(p.rlimits(), process(&c).rlimits());
    assert_eq!(p.capabilities(), process(&c).capabilities());

    let p = exec_process(
        &c,
        f.rootfs.path(),
        &ExecOptions {
            args: strings(&["id"]),
            user: Some("app".into()),
            working_dir: Some("/tmp".into()),
            tty: true,
            group_add: strings(&["audio"]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(
        p.user().additional_gids().clone().unwrap(),
        vec![1000, 29, 29]
    );
    let env = p.env().clone().unwrap();
    assert!(env.contains(&"HOME=/home/app".to_string()), "{env:?}");
    assert_eq!(env[2], "TERM=xterm");
    assert_eq!(p.cwd(), Path::new("/tmp"));

    let p = exec_process(
        &c,
        f.rootfs.path(),
        &ExecOptions {
            args: strings(&["sh"]),
            privileged: true,
            ..Default::default()
        },
    )
    .unwrap();
    let last: usize = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        cap_mask(
            p.capabilities()
                .as_ref()
                .unwrap()
                .effective()
                .as_ref()
                .unwrap()
        ),
        // Every capability the kernel knows that this process still holds.
        ((1u64 << (last + 1)) - 1) & super::own_bounding()
    );
}

// ------------------------------------------------------------------ real runtimes

mod runtimes {
    use super::*;
    use std::process::Command;

    fn have(bin: &str) -> bool {
        Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Deletes the container and its cgroups whatever happens to the test.
    struct Cleanup {
        runtime: &'static str,
        id: String,
        cgroup: String,
    }

    impl Cleanup {
        fn leftover_cgroups(&self) -> Vec<PathBuf> {
            let mut left = Vec::new();
            for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                let Ok(rd) = fs::read_dir(base) else { continue };
                for e in rd.flatten() {
                    for p in [
                        e.path().join(&self.cgroup),
                        Path::new(base).join(&self.cgroup),
                    ] {
                        if p.exists() {
                            left.push(p);
                        }
                    }
                }
            }
            left.sort();
            left.dedup();
            left
        }
    }

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = runtime_cmd(self.runtime)
                .args(["delete", "-f", &self.id])
                .output();
            for p in self.leftover_cgroups() {
                let _ = fs::remove_dir(p);
            }
        }
    }

    /// Runs the probe command in a fresh bundle; returns (stdout, short id).
    fn run_in(runtime: &'static str, user: Option<&str>) -> (String, String) {
        let work = tempfile::tempdir().unwrap();
        let rootfs = work.path().join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "sbin"] {
            fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/sh\n",
        )
        .unwrap();
        fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        let etc = work.path().join("etc");
        fs::create_dir(&etc).unwrap();
        for (f, text) in [
            ("hosts", "127.0.0.1 localhost\n"),
            ("hostname", "probe\n"),
            ("resolv.conf", "nameserver 127.0.0.1\n"),
        ] {
            fs::write(etc.join(f), text).unwrap();
        }

        // A fresh 64-hex id per run so parallel runs cannot collide.
        use sha2::Digest;
        let seed = format!(
            "{runtime}{}{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        );
        let id = hex(&sha2::Sha256::digest(seed.as_bytes()));
        let short: String = id.chars().take(12).collect();
        let cgroup = format!("wharf-test-{short}");
        let guard = Cleanup {
            runtime,
            id: id.clone(),
            cgroup: cgroup.clone(),
        };

        let spec = ContainerSpec {
            name: format!("bundle-test-{runtime}"),
            command: Some(strings(&[
                "/bin/busybox",
                "sh",
                "-c",
                "/bin/busybox cat /proc/self/status; echo HOSTNAME-IS $(/bin/busybox hostname); \
                 echo HOSTS $(/bin/busybox cat /etc/hosts); echo ENV-HOME $HOME; \
                 /bin/busybox grep 'Max open files' /proc/self/limits",
            ])),
            user: user.map(String::from),
            security_opt: strings(&["no-new-privileges"]),
            namespaces: Namespaces {
                net: NsMode::None,
                ..Default::default()
            },
            ..Default::default()
        };
        let image = Config::default();
        let inputs = BundleInputs {
            id: &id,
            spec: &spec,
            image: &image,
            rootfs: &rootfs,
            etc: Some(EtcFiles {
                hosts: etc.join("hosts"),
                hostname: etc.join("hostname"),
                resolv_conf: etc.join("resolv.conf"),
            }),
            cgroups_path: format!("/{cgroup}"),
            init: None,
            netns: None,
        };
        let config = build(&inputs).unwrap();
        write_bundle(work.path(), &config).unwrap();

        let out = runtime_cmd(runtime)
            .args(["run", "--bundle"])
            .arg(work.path())
            .arg(&id)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{runtime} run failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(guard);
        let check = Cleanup {
            runtime,
            id,
            cgroup,
        };
        assert!(
            check.leftover_cgroups().is_empty(),
            "{runtime} left cgroups: {:?}",
            check.leftover_cgroups()
        );
        (stdout.into_owned(), short)
    }

    fn field(stdout: &str, name: &str) -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| panic!("{name} missing in\n{stdout}"))
    }

    fn check_runtime(runtime: &'static str) {
        let (out, short) = run_in(runtime, None);
        let f = |name: &str| field(&out, name);
        assert_eq!(f("CapEff:"), "00000000a80425fb", "{runtime}");
        assert_eq!(f("CapPrm:"), "00000000a80425fb", "{runtime}");
        assert_eq!(f("CapBnd:"), "00000000a80425fb", "{runtime}");
        assert_eq!(f("CapInh:"), "0000000000000000", "{runtime}");
        assert_eq!(f("CapAmb:"), "0000000000000000", "{runtime}");
        assert_eq!(f("NoNewPrivs:"), "1", "{runtime}");
        assert_eq!(f("Seccomp:"), "2", "{runtime}");
        assert_eq!(f("Uid:"), "0 0 0 0", "{runtime}");
        assert_eq!(f("HOSTNAME-IS"), short, "{runtime}");
        assert_eq!(f("HOSTS"), "127.0.0.1 localhost", "{runtime}");
        assert_eq!(f("ENV-HOME"), "/root", "{runtime}");
        let hard = own_nofile_hard().map_or(524288, |h| h.min(524288));
        assert_eq!(
            f("Max open files"),
            format!("{} {hard} files", hard.min(1024)),
            "{runtime}"
        );

        // A non-root user keeps the bounding set only, as after execve.
        let (out, _) = run_in(runtime, Some("nobody"));
        let f = |name: &str| field(&out, name);
        assert_eq!(f("Uid:"), "65534 65534 65534 65534", "{runtime}");
        assert_eq!(f("Gid:"), "65534 65534 65534 65534", "{runtime}");
        assert_eq!(f("CapEff:"), "0000000000000000", "{runtime}");
        assert_eq!(f("CapPrm:"), "0000000000000000", "{runtime}");
        assert_eq!(f("CapBnd:"), "00000000a80425fb", "{runtime}");
        assert_eq!(f("ENV-HOME"), "/nonexistent", "{runtime}");
    }

    /// crun (1.8) refuses to start on a hybrid host whose cgroup2 mount
    /// still holds a controller (this VM: hugetlb, not mounted as v1), even
    /// with cgroups disabled. In a private mount namespace without the
    /// cgroup2 mount it runs the bundle with v1 cgroups like runc does;
    /// nothing of that namespace outlives the command.
    fn runtime_cmd(runtime: &str) -> Command {
        if runtime == "crun" && hybrid_with_v2_controllers() {
            let mut c = Command::new("unshare");
            c.args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                "umount /sys/fs/cgroup/unified && exec \"$0\" \"$@\"",
                runtime,
            ]);
            c
        } else {
            Command::new(runtime)
        }
    }

    fn hybrid_with_v2_controllers() -> bool {
        fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .is_ok_and(|c| !c.trim().is_empty())
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Needs root and the runtimes (Debian: crun, runc, busybox-static);
    /// says so and skips without them.
    #[test]
    fn crun_and_runc_run_the_bundle_like_docker() {
        if !nix::unistd::geteuid().is_root() || !Path::new("/bin/busybox").exists() {
            eprintln!("SKIPPED: needs root and /bin/busybox (busybox-static)");
            return;
        }
        let mut ran = 0;
        for rt in ["crun", "runc"] {
            if have(rt) {
                check_runtime(rt);
                ran += 1;
            } else {
                eprintln!("SKIPPED for {rt}: not installed");
            }
        }
        if ran == 0 {
            eprintln!("SKIPPED: neither crun nor runc is installed");
        }
    }
}

#[test]
fn privileged_gets_only_the_capabilities_wharf_holds() {
    let mut h = host();
    // A sandbox without CAP_SYS_RESOURCE (bit 24), as some CI machines run.
    h.own_bounding = 0x1ff_feff_ffff;
    let spec = ContainerSpec {
        privileged: true,
        ..Default::default()
    };
    let f = fixture();
    let s = build_for(&inputs(&f, &spec), &h).expect("build");
    let caps = s
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().clone())
        .expect("caps");
    let eff = caps.effective().clone().expect("effective");
    assert_eq!(eff.len(), 40);
    assert!(!eff.iter().any(|c| format!("{c:?}").contains("SysResource")));
}

#[test]
fn cdi_hooks_land_in_their_oci_stages() {
    let hook = |stage: &str, path: &str| crate::runtime::cdi::Hook {
        hook_name: stage.into(),
        path: path.into(),
        args: vec![path.into(), "update-ldcache".into()],
        env: Vec::new(),
        timeout: Some(5),
    };
    assert!(ok(&ContainerSpec::default()).hooks().is_none());
    let spec = ContainerSpec {
        hooks: vec![
            hook("createContainer", "/usr/bin/a"),
            hook("createContainer", "/usr/bin/b"),
            hook("poststop", "/usr/bin/c"),
        ],
        ..ContainerSpec::default()
    };
    let s = ok(&spec);
    let hooks = s.hooks().as_ref().unwrap();
    let paths = |h: &Option<Vec<oci_spec::runtime::Hook>>| -> Vec<String> {
        h.iter()
            .flatten()
            .map(|h| h.path().display().to_string())
            .collect()
    };
    assert_eq!(
        paths(hooks.create_container()),
        ["/usr/bin/a", "/usr/bin/b"]
    );
    assert_eq!(paths(hooks.poststop()), ["/usr/bin/c"]);
    assert!(hooks.prestart().is_none() && hooks.start_container().is_none());
    let first = &hooks.create_container().as_ref().unwrap()[0];
    assert_eq!(
        first.args().as_deref(),
        Some(&strings(&["/usr/bin/a", "update-ldcache"])[..])
    );
    assert_eq!(first.timeout(), Some(5));
}

/// moby's choice of AppArmor profile: `wharf-default` (its docker-default)
/// for every unprivileged container where the host can load and apply it,
/// none for `apparmor=unconfined` or `--privileged`, a named profile as is;
/// where the host has no AppArmor, no profile and nothing refused but a name.
#[test]
fn apparmor_profile_follows_moby() {
    let f = fixture();
    let profile = |opts: &[&str], privileged: bool, h: &Host| {
        let spec = ContainerSpec {
            security_opt: strings(opts),
            privileged,
            ..Default::default()
        };
        let s = build_for(&inputs(&f, &spec), h).unwrap();
        process(&s).apparmor_profile().clone()
    };
    let full = Host {
        apparmor: true,
        apparmor_parser: Some("/sbin/apparmor_parser".into()),
        ..host()
    };
    let default = Some("wharf-default".to_string());
    assert_eq!(profile(&[], false, &full), default);
    assert_eq!(profile(&["apparmor=unconfined"], false, &full), None);
    assert_eq!(profile(&["apparmor:unconfined"], false, &full), None);
    assert_eq!(profile(&[], true, &full), None);
    assert_eq!(
        profile(
            &["apparmor=my-profile", "apparmor=unconfined"],
            false,
            &full
        ),
        None
    );
    assert_eq!(
        profile(
            &["apparmor=unconfined", "apparmor=my-profile"],
            false,
            &full
        )
        .as_deref(),
        Some("my-profile")
    );
    assert_eq!(
        profile(&["apparmor=my-profile"], true, &full).as_deref(),
        Some("my-profile")
    );
    // AppArmor on, but nothing to load wharf-default with: no default
    // (Docker logs the same and runs unconfined); a named profile still
    // applies, since it was loaded by whoever named it.
    let no_parser = Host {
        apparmor: true,
        ..host()
    };
    assert_eq!(profile(&[], false, &no_parser), None);
    assert_eq!(
        profile(&["apparmor=my-profile"], false, &no_parser).as_deref(),
        Some("my-profile")
    );
    // No AppArmor: the default and unconfined are no-ops, as with Docker.
    let none = Host {
        apparmor_parser: Some("/sbin/apparmor_parser".into()),
        ..host()
    };
    assert_eq!(profile(&[], false, &none), None);
    assert_eq!(profile(&["apparmor=unconfined"], false, &none), None);
    let spec = ContainerSpec {
        security_opt: strings(&["apparmor=my-profile"]),
        ..Default::default()
    };
    let e = build_for(&inputs(&f, &spec), &none).unwrap_err();
    assert!(
        e.to_string().contains(
            "\"apparmor=my-profile\" cannot be applied: AppArmor is not enabled on this host"
        ),
        "{e}"
    );
}

#[test]
fn volume_options_go_to_mount_with_addr_resolved() {
    let o = super::mounts::filesystem_options("addr=localhost,vers=4,,ro");
    assert_eq!(o.len(), 3, "{o:?}");
    let addr: std::net::IpAddr = o[0]
        .strip_prefix("addr=")
        .and_then(|a| a.parse().ok())
        .expect("an address");
    assert!(addr.is_loopback(), "{o:?}");
    assert_eq!(&o[1..], ["vers=4", "ro"]);
    assert_eq!(
        super::mounts::filesystem_options("addr=10.0.0.1"),
        ["addr=10.0.0.1"]
    );
}
