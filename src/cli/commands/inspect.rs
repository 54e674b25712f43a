//! `inspect`: containers as Docker shows them.

use super::common::open;
use crate::cli::resolve::Settings;
use crate::cli::template::{Fields, Template};
use crate::runtime::container::{ContainerError, ContainerRecord, Containers, Status};
use crate::runtime::spec::{ContainerSpec, MountSpec, NsMode};
use anyhow::bail;
use std::process::ExitCode;

/// The `--type` values, in the order an untyped `inspect` tries them
/// (Docker's: container, image, network, volume).
const TYPES: &[&str] = &["container", "image", "network", "volume"];

/// `docker inspect [--type T] [-s] [-f TEMPLATE] NAME…`: each object as
/// JSON (or through the template, once per object). A name found as no
/// object is an error after the others are printed, as Docker's.
pub fn inspect(
    settings: &Settings,
    names: &[String],
    format: Option<&str>,
    kind: Option<&str>,
    size: bool,
) -> anyhow::Result<ExitCode> {
    // Checked before any object is looked at, as Docker does.
    let template = format
        .map(Template::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--format: template parsing error: {e}"))?;
    if let Some(k) = kind {
        if !TYPES.contains(&k) {
            bail!("\"{k}\" is not a valid value for --type");
        }
    }
    let (containers, store) = open(settings)?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for q in names {
        let mut found = None;
        for t in TYPES.iter().filter(|t| kind.is_none_or(|k| k == **t)) {
            found = match *t {
                "container" => match containers.find(q) {
                    Ok(r) => Some(container_json(settings, &containers, &store, &r, size)?),
                    Err(ContainerError::NotFound(_)) => None,
                    Err(e) => return Err(e.into()),
                },
                "image" => super::image::find_image(&store, q)?
                    .map(|r| super::image::image_json(&store, &r))
                    .transpose()?,
                "network" => {
                    let nets = crate::net::store::Networks::open(settings.root())?;
                    match nets.find(q) {
                        Ok(n) => Some(super::network::inspect_json(&nets, &n)?),
                        Err(_) => None,
                    }
                }
                _ => crate::runtime::volume::Volumes::open(settings.root())?
                    .get(q)?
                    .map(|v| super::volume::volume_json(&v)),
            };
            if found.is_some() {
                break;
            }
        }
        match found {
            Some(v) => out.push(v),
            None => missing.push(q),
        }
    }
    match template {
        Some(t) => {
            for c in &out {
                // Docker falls back to the decoded JSON, where a missing key is `<no value>`.
                let text = t
                    .render(c, Fields::Loose)
                    .map_err(|e| anyhow::anyhow!("--format: template parsing error: {e}"))?;
                println!("{text}");
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    for q in &missing {
        match kind {
            Some("container") => eprintln!("Error response from daemon: No such container: {q}"),
            Some("image") => eprintln!("Error response from daemon: No such image: {q}"),
            Some("network") => eprintln!("Error response from daemon: network {q} not found"),
            Some(_) => eprintln!("Error response from daemon: get {q}: no such volume"),
            None => eprintln!("Error: No such object: {q}"),
        }
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A container as `docker inspect` shows it, with Docker's keys and
/// shapes (moby's `ContainerJSON`) where wharf has the data and Docker's
/// defaults elsewhere, plus wharf's own `Spec`; with `size`, Docker's
/// `SizeRw` and `SizeRootFs`.
fn container_json(
    settings: &Settings,
    containers: &Containers,
    store: &crate::image::store::ImageStore,
    r: &ContainerRecord,
    size: bool,
) -> anyhow::Result<serde_json::Value> {
    let s = containers.state(&r.id)?;
    let running = matches!(s.status, Status::Running | Status::Paused);
    let image = r.image_config(store).unwrap_or_default();
    let (entrypoint, cmd) = crate::runtime::bundle::effective_entrypoint_and_cmd(&r.spec, &image);
    let mut argv = entrypoint.iter().chain(&cmd).cloned();
    let path = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let dir = containers.dir(&r.id);
    let logs_to_file = matches!(
        r.spec.log_driver.as_deref(),
        None | Some("json-file" | "local")
    );
    let mut v = serde_json::json!({
        "Id": r.id,
        "Name": format!("/{}", r.name),
        "Created": r.created,
        "Path": path,
        "Args": args,
        "Image": r.image_id.to_string(),
        "Config": container_config(r, &image, entrypoint, cmd),
        "State": {
            "Status": s.status.as_str(),
            "Running": running,
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": false,
            "Pid": s.pid.unwrap_or(0),
            "ExitCode": s.exit_code.unwrap_or(0),
            "Error": s.error.clone().unwrap_or_default(),
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
            "Health": s.health.as_ref().map(|h| serde_json::json!({
                "Status": h.status,
                "FailingStreak": h.failing_streak,
                "Log": h.log.iter().map(|l| serde_json::json!({
                    "Start": l.start,
                    "End": l.end,
                    "ExitCode": l.exit_code,
                    "Output": l.output,
                })).collect::<Vec<_>>(),
            })),
        },
        "ResolvConfPath": dir.path.join("resolv.conf"),
        "HostnamePath": dir.path.join("hostname"),
        "HostsPath": dir.path.join("hosts"),
        "LogPath": if logs_to_file { dir.log().display().to_string() } else { String::new() },
        "RestartCount": s.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": security_opt(&r.spec, "apparmor").unwrap_or_default(),
        "ExecIDs": serde_json::Value::Null,
        "HostConfig": host_config(r),
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {
                "LowerDir": image_lower_dirs(store, r),
                "MergedDir": dir.rootfs(),
                "UpperDir": crate::runtime::rootfs::upper_dir(&dir.path),
                "WorkDir": crate::runtime::rootfs::work_dir(&dir.path),
            },
        },
        "Mounts": mounts(&r.spec),
        "NetworkSettings": network_settings(settings, r, &s.ports, &image, running)?,
        "Spec": r.spec,
    });
    if size {
        let (rw, rootfs) = super::ps::container_size(containers, store, r)?;
        v["SizeRw"] = serde_json::json!(rw);
        v["SizeRootFs"] = serde_json::json!(rootfs);
    }
    Ok(v)
}

/// `null` for an empty list, as Go's JSON shows a nil slice.
fn list_or_null<T: serde::Serialize>(items: &[T]) -> serde_json::Value {
    if items.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::json!(items)
    }
}

/// `80/tcp`, the key Docker gives a container port.
fn port_key(port: u16, protocol: crate::runtime::spec::Protocol) -> String {
    format!("{port}/{}", format!("{protocol:?}").to_lowercase())
}

/// The image's exposed ports and the published ones, as Docker's
/// `Config.ExposedPorts` keys (an image's `80` means `80/tcp`).
fn exposed_ports(r: &ContainerRecord, image: &oci_spec::image::Config) -> Vec<String> {
    let mut keys: Vec<String> = image
        .exposed_ports()
        .iter()
        .flatten()
        .map(|p| {
            if p.contains('/') {
                p.clone()
            } else {
                format!("{p}/tcp")
            }
        })
        .chain(
            r.spec
                .ports
                .iter()
                .map(|b| port_key(b.container_port, b.protocol)),
        )
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Docker's `Config`: the container's settings merged with its image's
/// (moby's `merge`), entrypoint and command as they run.
fn container_config(
    r: &ContainerRecord,
    image: &oci_spec::image::Config,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
) -> serde_json::Value {
    let spec = &r.spec;
    let empty = serde_json::json!({});
    let mut labels = image.labels().clone().unwrap_or_default();
    labels.extend(spec.labels.clone());
    let exposed: serde_json::Map<String, serde_json::Value> = exposed_ports(r, image)
        .into_iter()
        .map(|k| (k, empty.clone()))
        .collect();
    let volumes: serde_json::Map<String, serde_json::Value> = image
        .volumes()
        .iter()
        .flatten()
        .map(|p| (p.clone(), empty.clone()))
        .collect();
    let mut c = serde_json::json!({
        "Hostname": spec.hostname.clone().unwrap_or_else(|| r.id.chars().take(12).collect()),
        "Domainname": spec.domainname.clone().unwrap_or_default(),
        "User": spec.user.clone().or_else(|| image.user().clone()).unwrap_or_default(),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "ExposedPorts": if exposed.is_empty() { serde_json::Value::Null } else { exposed.into() },
        "Tty": spec.tty,
        "OpenStdin": spec.stdin_open,
        "StdinOnce": false,
        "Env": crate::runtime::bundle::config_env(spec, image),
        "Cmd": list_or_null(&cmd),
        "Image": r.image,
        "Volumes": if volumes.is_empty() { serde_json::Value::Null } else { volumes.into() },
        "WorkingDir": spec
            .working_dir
            .clone()
            .or_else(|| image.working_dir().clone())
            .unwrap_or_default(),
        "Entrypoint": list_or_null(&entrypoint),
        "OnBuild": serde_json::Value::Null,
        "Labels": labels,
    });
    if let Some(sig) = spec
        .stop_signal
        .clone()
        .or_else(|| image.stop_signal().clone())
    {
        c["StopSignal"] = sig.into();
    }
    if let Some(t) = spec.stop_timeout {
        c["StopTimeout"] = t.into();
    }
    c
}

/// The value of `KEY=…` (or `KEY:…`) in the container's `security_opt`.
fn security_opt(spec: &ContainerSpec, key: &str) -> Option<String> {
    spec.security_opt.iter().find_map(|o| {
        o.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('=').or_else(|| rest.strip_prefix(':')))
            .map(str::to_string)
    })
}

/// Docker's mode names for the pid, ipc and uts namespaces (`""` is
/// Docker's own for a private pid or uts namespace).
fn ns_mode(mode: &NsMode, private: &str) -> String {
    match mode {
        NsMode::Private => private.into(),
        NsMode::Host => "host".into(),
        NsMode::None => "none".into(),
        NsMode::Path(p) => format!("container:{}", p.display()),
        NsMode::Container(c) => format!("container:{c}"),
    }
}

/// Docker's `HostConfig` from the container's spec.
fn host_config(r: &ContainerRecord) -> serde_json::Value {
    let spec = &r.spec;
    let res = &spec.resources;
    let binds: Vec<String> = spec
        .mounts
        .iter()
        .filter_map(|m| {
            let (source, target, read_only) = match m {
                MountSpec::Bind {
                    source,
                    target,
                    read_only,
                    ..
                } => (source.display().to_string(), target, *read_only),
                MountSpec::Volume {
                    name,
                    target,
                    read_only,
                    ..
                } => (name.clone(), target, *read_only),
                MountSpec::Filesystem {
                    device,
                    target,
                    read_only,
                    ..
                } => (device.clone(), target, *read_only),
                MountSpec::Tmpfs { .. } => return None,
            };
            Some(format!(
                "{source}:{target}{}",
                if read_only { ":ro" } else { "" }
            ))
        })
        .collect();
    let mut port_bindings = serde_json::Map::new();
    for b in &spec.ports {
        let entry = port_bindings
            .entry(port_key(b.container_port, b.protocol))
            .or_insert_with(|| serde_json::json!([]));
        if let Some(list) = entry.as_array_mut() {
            list.push(serde_json::json!({
                "HostIp": b.host_ip.map(|i| i.to_string()).unwrap_or_default(),
                // Docker's "" for a port it picks.
                "HostPort": if b.host_port == 0 { String::new() } else { b.host_port.to_string() },
            }));
        }
    }
    let ipc = match (&spec.namespaces.ipc, spec.namespaces.ipc_shareable) {
        (NsMode::Private, Some(true)) => "shareable".to_string(),
        (mode, _) => ns_mode(mode, "private"),
    };
    let cgroupns = match &spec.namespaces.cgroup {
        Some(NsMode::Host) => "host",
        Some(_) => "private",
        // Docker's default: private on cgroup v2, host on v1.
        None => match crate::runtime::cgroups::detect(std::path::Path::new(
            crate::runtime::cgroups::DEFAULT_ROOT,
        )) {
            Ok(crate::runtime::cgroups::CgroupMode::Unified) => "private",
            Ok(_) => "host",
            Err(_) => "",
        },
    };
    let per_device = |list: &[(std::path::PathBuf, u64)], key: &str| {
        list_or_null(
            &list
                .iter()
                .map(|(p, n)| serde_json::json!({ "Path": p, key: n }))
                .collect::<Vec<_>>(),
        )
    };
    let mut host = serde_json::json!({
        "Binds": list_or_null(&binds),
        "ContainerIDFile": "",
        "LogConfig": {
            // Docker's default driver when none is set.
            "Type": spec.log_driver.as_deref().unwrap_or("json-file"),
            "Config": spec.log_options,
        },
        "NetworkMode": network_mode(spec),
        "PortBindings": port_bindings,
        "RestartPolicy": {
            "Name": if spec.restart.name.is_empty() { "no" } else { spec.restart.name.as_str() },
            "MaximumRetryCount": spec.restart.max_retries,
        },
        "AutoRemove": r.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": serde_json::Value::Null,
        "ConsoleSize": [0, 0],
        "CapAdd": list_or_null(&spec.cap_add),
        "CapDrop": list_or_null(&spec.cap_drop),
        "CgroupnsMode": cgroupns,
        "Dns": spec.dns,
        "DnsOptions": spec.dns_opt,
        "DnsSearch": spec.dns_search,
        "ExtraHosts": list_or_null(
            &spec.extra_hosts.iter().map(|(h, a)| format!("{h}:{a}")).collect::<Vec<_>>(),
        ),
        "GroupAdd": list_or_null(&spec.group_add),
        "IpcMode": ipc,
        "Cgroup": "",
        "Links": list_or_null(
            &spec.links.iter().map(|(alias, c)| format!("/{c}:/{}/{alias}", r.name)).collect::<Vec<_>>(),
        ),
        "OomScoreAdj": spec.oom_score_adj.unwrap_or(0),
        "PidMode": ns_mode(&spec.namespaces.pid, ""),
        "Privileged": spec.privileged,
        "PublishAllPorts": false,
        "ReadonlyRootfs": spec.read_only,
        "SecurityOpt": list_or_null(&spec.security_opt),
        "UTSMode": ns_mode(&spec.namespaces.uts, ""),
        "UsernsMode": "",
        // Docker's default /dev/shm size.
        "ShmSize": spec.shm_size.unwrap_or(64 << 20),
        "Sysctls": spec.sysctls,
        "Runtime": r.runtime,
        "Isolation": "",
    });
    // The resources, Docker's `Resources` embedded in `HostConfig`.
    let resources = serde_json::json!({
        "CpuShares": res.cpu_shares.unwrap_or(0),
        "Memory": res.memory.unwrap_or(0),
        "NanoCpus": res.nano_cpus.unwrap_or(0),
        "CgroupParent": spec.cgroup_parent.as_deref().unwrap_or_default(),
        "BlkioWeight": res.blkio_weight.unwrap_or(0),
        "BlkioWeightDevice": list_or_null(
            &res.blkio_weight_device
                .iter()
                .map(|(p, w)| serde_json::json!({ "Path": p, "Weight": w }))
                .collect::<Vec<_>>(),
        ),
        "BlkioDeviceReadBps": per_device(&res.blkio_read_bps, "Rate"),
        "BlkioDeviceWriteBps": per_device(&res.blkio_write_bps, "Rate"),
        "BlkioDeviceReadIOps": per_device(&res.blkio_read_iops, "Rate"),
        "BlkioDeviceWriteIOps": per_device(&res.blkio_write_iops, "Rate"),
        "CpuPeriod": res.cpu_period.unwrap_or(0),
        "CpuQuota": res.cpu_quota.unwrap_or(0),
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": res.cpuset_cpus.clone().unwrap_or_default(),
        "CpusetMems": res.cpuset_mems.clone().unwrap_or_default(),
        "Devices": spec.devices.iter().map(|d| serde_json::json!({
            "PathOnHost": d.host_path,
            "PathInContainer": d.container_path,
            "CgroupPermissions": d.permissions,
        })).collect::<Vec<_>>(),
        "DeviceCgroupRules": list_or_null(&spec.device_cgroup_rules),
        "DeviceRequests": serde_json::Value::Null,
        "KernelMemory": 0,
        "KernelMemoryTCP": 0,
        "MemoryReservation": res.memory_reservation.unwrap_or(0),
        "MemorySwap": res.memory_swap.unwrap_or(0),
        "MemorySwappiness": res.memory_swappiness,
        "OomKillDisable": res.oom_kill_disable,
        "PidsLimit": res.pids_limit,
        "Ulimits": list_or_null(
            &spec.ulimits
                .iter()
                .map(|(name, (soft, hard))| serde_json::json!({ "Name": name, "Soft": soft, "Hard": hard }))
                .collect::<Vec<_>>(),
        ),
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "Init": spec.init.then_some(true),
    });
    if let (Some(h), serde_json::Value::Object(more)) = (host.as_object_mut(), resources) {
        h.extend(more);
        h.insert("MaskedPaths".into(), serde_json::Value::Null);
        h.insert("ReadonlyPaths".into(), serde_json::Value::Null);
    }
    host
}

/// Docker's `Mounts`: one entry per bind, volume and tmpfs mount.
fn mounts(spec: &ContainerSpec) -> Vec<serde_json::Value> {
    spec.mounts
        .iter()
        .map(|m| match m {
            MountSpec::Bind {
                source,
                target,
                read_only,
                propagation,
                ..
            } => serde_json::json!({
                "Type": "bind",
                "Source": source,
                "Destination": target,
                "Mode": if *read_only { "ro" } else { "" },
                "RW": !read_only,
                "Propagation": propagation.as_deref().unwrap_or("rprivate"),
            }),
            MountSpec::Volume {
                name,
                source,
                target,
                read_only,
                ..
            } => serde_json::json!({
                "Type": "volume",
                "Name": name,
                "Source": source,
                "Destination": target,
                "Driver": "local",
                // Docker's mode for a `-v name:/path` without options.
                "Mode": if *read_only { "ro" } else { "z" },
                "RW": !read_only,
                "Propagation": "",
            }),
            MountSpec::Filesystem {
                target,
                device,
                read_only,
                ..
            } => serde_json::json!({
                "Type": "volume",
                "Source": device,
                "Destination": target,
                "Driver": "local",
                "Mode": if *read_only { "ro" } else { "z" },
                "RW": !read_only,
                "Propagation": "",
            }),
            MountSpec::Tmpfs {
                target, read_only, ..
            } => serde_json::json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": target,
                "Mode": "",
                "RW": !read_only,
                "Propagation": "",
            }),
        })
        .collect()
}

/// The unpacked layers of the container's image, top first, as overlay's
/// `lowerdir` lists them; empty with the image gone.
fn image_lower_dirs(store: &crate::image::store::ImageStore, r: &ContainerRecord) -> String {
    let Ok(Some(image)) = store.resolve(&r.image_id.to_string()) else {
        return String::new();
    };
    super::image::unpacked_layer_dirs(store, &image).join(":")
}

fn network_mode(spec: &ContainerSpec) -> String {
    match &spec.namespaces.net {
        NsMode::Host => "host".into(),
        NsMode::None => "none".into(),
        NsMode::Path(p) => format!("container:{}", p.display()),
        NsMode::Container(c) => format!("container:{c}"),
        NsMode::Private => spec
            .networks
            .first()
            .map(|n| n.network.clone())
            .unwrap_or_else(|| "none".into()),
    }
}

/// Docker's NetworkSettings: one entry per network the container is on;
/// addresses only while it runs (they are freed when it stops).
fn network_settings(
    settings: &Settings,
    r: &ContainerRecord,
    live_ports: &[crate::runtime::spec::PortBinding],
    image: &oci_spec::image::Config,
    running: bool,
) -> anyhow::Result<serde_json::Value> {
    let live = if running {
        crate::net::attach::endpoints_of(settings.root(), &r.id)?
    } else {
        Vec::new()
    };
    let store = crate::net::store::Networks::open(settings.root())?;
    let mut nets = serde_json::Map::new();
    for a in &r.spec.networks {
        let found = live.iter().find(|(n, _)| n.name == a.network);
        let net_id = match found {
            Some((n, _)) => n.id.clone(),
            None => store.find(&a.network).map(|n| n.id).unwrap_or_default(),
        };
        let mut e = serde_json::json!({
            "IPAMConfig": if a.ipv4_address.is_some() || a.ipv6_address.is_some() {
                serde_json::json!({
                    "IPv4Address": a.ipv4_address.map(|i| i.to_string()).unwrap_or_default(),
                    "IPv6Address": a.ipv6_address.map(|i| i.to_string()).unwrap_or_default(),
                })
            } else {
                serde_json::Value::Null
            },
            "Aliases": list_or_null(&a.aliases),
            "MacAddress": a.mac_address.clone().unwrap_or_default(),
            "NetworkID": net_id,
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": serde_json::Value::Null,
            "Links": serde_json::Value::Null,
            "DriverOpts": serde_json::Value::Null,
        });
        if let Some((n, ep)) = found {
            e["EndpointID"] = serde_json::json!(super::network::endpoint_id(&r.id, &n.id));
            e["MacAddress"] = serde_json::json!(ep.mac);
            e["Gateway"] = serde_json::json!(n.gateway.to_string());
            e["IPAddress"] = serde_json::json!(ep.ipv4.map(|i| i.to_string()).unwrap_or_default());
            e["IPPrefixLen"] = serde_json::json!(n.subnet.prefix());
            if let (Some(v6), Some(cfg)) = (ep.ipv6, &n.ipv6) {
                e["IPv6Gateway"] = serde_json::json!(cfg.gateway.to_string());
                e["GlobalIPv6Address"] = serde_json::json!(v6.to_string());
                e["GlobalIPv6PrefixLen"] = serde_json::json!(cfg.prefix);
            }
            e["DNSNames"] = serde_json::json!(ep.names);
        }
        nets.insert(a.network.clone(), e);
    }
    let sandbox = if running && crate::supervise::monitor::bridged(&r.spec) {
        crate::net::netns::netns_path(Containers::open(settings.root())?.run_root(), &r.id)
            .display()
            .to_string()
    } else {
        String::new()
    };
    // While it runs: every exposed port, with the host addresses and ports
    // it is published on (`null` for one that is not), as Docker's.
    let mut ports = serde_json::Map::new();
    if running {
        for key in exposed_ports(r, image) {
            ports.insert(key, serde_json::Value::Null);
        }
        for b in live_ports {
            let entry = ports
                .entry(port_key(b.container_port, b.protocol))
                .or_insert(serde_json::Value::Null);
            if entry.is_null() {
                *entry = serde_json::json!([]);
            }
            if let Some(list) = entry.as_array_mut() {
                list.push(serde_json::json!({
                    "HostIp": b.host_ip.map(|i| i.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
                    "HostPort": b.host_port.to_string(),
                }));
            }
        }
    }
    // The top-level addresses are the default bridge network's (Docker's
    // legacy fields), empty on any other network.
    let bridge = nets.get("bridge").cloned().unwrap_or_default();
    let field = |k: &str| bridge.get(k).cloned().unwrap_or_else(|| "".into());
    let number = |k: &str| bridge.get(k).cloned().unwrap_or_else(|| 0.into());
    Ok(serde_json::json!({
        "Bridge": "",
        "SandboxID": if sandbox.is_empty() { String::new() } else { r.id.clone() },
        "SandboxKey": sandbox,
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports,
        "SecondaryIPAddresses": serde_json::Value::Null,
        "SecondaryIPv6Addresses": serde_json::Value::Null,
        "EndpointID": field("EndpointID"),
        "Gateway": field("Gateway"),
        "GlobalIPv6Address": field("GlobalIPv6Address"),
        "GlobalIPv6PrefixLen": number("GlobalIPv6PrefixLen"),
        "IPAddress": field("IPAddress"),
        "IPPrefixLen": number("IPPrefixLen"),
        "IPv6Gateway": field("IPv6Gateway"),
        "MacAddress": field("MacAddress"),
        "Networks": nets,
    }))
}
