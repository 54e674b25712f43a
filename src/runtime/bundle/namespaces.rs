//! The container's namespaces and the sysctls they allow (runc's rule).

use super::{BundleError, BundleInputs, Host};
use crate::runtime::spec::{ContainerSpec, NsMode};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};
use std::collections::HashMap;
use std::path::PathBuf;

const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

pub(super) fn sysctls(
    spec: &ContainerSpec,
    host: &Host,
    cid: &str,
) -> Result<HashMap<String, String>, BundleError> {
    let ns = &spec.namespaces;
    let mut out = HashMap::new();
    // Docker's defaults in a new network namespace: ping without NET_RAW and
    // ports below 1024 without NET_BIND_SERVICE.
    if matches!(ns.net, NsMode::Private | NsMode::None) {
        if host.ping_group_range {
            out.insert(
                "net.ipv4.ping_group_range".to_string(),
                "0 2147483647".to_string(),
            );
        }
        if host.unprivileged_port_start {
            out.insert(
                "net.ipv4.ip_unprivileged_port_start".to_string(),
                "0".to_string(),
            );
        }
    }
    // runc's rule: only sysctls of namespaces the container has of its own.
    for (k, v) in &spec.sysctls {
        let bad = |reason: &str| BundleError::Sysctl {
            container: cid.to_string(),
            key: k.clone(),
            reason: reason.to_string(),
        };
        if IPC_SYSCTLS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            if ns.ipc == NsMode::Host {
                return Err(bad("not allowed in the host's IPC namespace"));
            }
        } else if k.starts_with("net.") {
            if ns.net == NsMode::Host {
                return Err(bad("not allowed in the host's network namespace"));
            }
        } else if k == "kernel.domainname" {
            if ns.uts == NsMode::Host {
                return Err(bad("not allowed in the host's UTS namespace"));
            }
        } else if k == "kernel.hostname" {
            return Err(bad("not allowed, use hostname instead"));
        } else {
            return Err(bad("not in a separate kernel namespace"));
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

// ---------------------------------------------------------------- namespaces

pub(super) fn namespaces(inputs: &BundleInputs, host: &Host) -> Vec<LinuxNamespace> {
    let ns = &inputs.spec.namespaces;
    let mk = |typ, path: Option<PathBuf>| {
        let mut n = LinuxNamespace::default();
        n.set_typ(typ);
        n.set_path(path);
        n
    };
    let mut out = vec![mk(LinuxNamespaceType::Mount, None)];
    let mut add = |typ, mode: &NsMode, private_path: Option<PathBuf>| match mode {
        NsMode::Host => {}
        NsMode::Path(p) => out.push(mk(typ, Some(p.clone()))),
        // Refused by build_for before this point.
        NsMode::Container(_) => {}
        NsMode::Private => out.push(mk(typ, private_path)),
        NsMode::None => out.push(mk(typ, None)),
    };
    // Docker's order: network, uts, pid, ipc, cgroup.
    add(LinuxNamespaceType::Network, &ns.net, inputs.netns.clone());
    add(LinuxNamespaceType::Uts, &ns.uts, None);
    add(LinuxNamespaceType::Pid, &ns.pid, None);
    add(LinuxNamespaceType::Ipc, &ns.ipc, None);
    let default_cg = if host.cgroup2 {
        NsMode::Private
    } else {
        NsMode::Host
    };
    add(
        LinuxNamespaceType::Cgroup,
        ns.cgroup.as_ref().unwrap_or(&default_cg),
        None,
    );
    out
}
