//! Putting containers on networks, and networks on the host. This is the
//! API the CLI, the monitor and `up` use:
//!
//! - [`create_network`] / [`remove_network`]: the record, the bridge and
//!   the nftables table, together or not at all.
//! - [`attach`]: a network namespace for the container with one veth per
//!   network (`eth0`, `eth1`, … in priority order), addresses, the default
//!   route, and the [`EndpointRecord`] files the DNS resolver reads.
//! - [`detach`]: the reverse, idempotent, usable after a crash.
//!
//! Every step that changes state is recorded by container id (addresses in
//! `ipam.json`, endpoint files, derived veth names, the netns file), so
//! [`detach`] finds everything from the id alone, and a failed [`attach`]
//! undoes itself by calling it.

use super::bridge::{self, Netlink};
use super::ipam;
use super::iptables;
use super::netns;
use super::nft;
use super::store::{NetworkOptions, NetworkRecord, Networks, StoreError};
use super::EndpointRecord;
use crate::runtime::spec::NetworkAttachment;
use sha2::{Digest as _, Sha256};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bridge(#[from] bridge::BridgeError),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error(transparent)]
    Nft(#[from] nft::NftError),
    #[error("error while removing network: network {name} id {id} has active endpoints ({})", containers.join(", "))]
    InUse {
        name: String,
        id: String,
        containers: Vec<String>,
    },
    #[error("container {container}: invalid MAC address {mac:?}")]
    BadMac { container: String, mac: String },
    #[error("container {container} is already attached to network {network}")]
    Duplicate { container: String, network: String },
    #[error("choosing a subnet for network {name}: {source}")]
    SubnetLock {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, AttachError>;

/// A container on its networks.
#[derive(Clone, Debug, PartialEq)]
pub struct Attached {
    /// The bind-mounted namespace file to hand to the runtime.
    pub netns: PathBuf,
    /// One per network, in interface order (`eth0` first).
    pub endpoints: Vec<EndpointRecord>,
}

impl Attached {
    /// The container's own addresses, for its /etc/hosts.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for e in &self.endpoints {
            out.extend(e.ipv4.map(IpAddr::V4));
            out.extend(e.ipv6.map(IpAddr::V6));
        }
        out
    }
}

/// Creates network `opts.name`: the record (with a subnet that overlaps no
/// host route nor other network), the bridge with the gateway address,
/// and its nftables table. Nothing is left behind when a step fails.
pub fn create_network(root: &Path, opts: &NetworkOptions) -> Result<NetworkRecord> {
    let store = Networks::open(root)?;
    let locked = store.lock()?;
    // Other data roots in this namespace pick from the same routes: from
    // reading them until our bridge holds its address, no one else picks.
    let _picking = crate::sys::netns_lock::lock("wharf-subnet", Duration::from_secs(60)).map_err(
        |source| AttachError::SubnetLock {
            name: opts.name.clone(),
            source,
        },
    )?;
    let routes = Netlink::open()?.ipv4_routes()?;
    let net = locked.create(opts, &routes)?;
    if let Err(e) = setup_network(&net) {
        teardown_network(&net);
        let _ = locked.remove(&net.id);
        return Err(e);
    }
    Ok(net)
}

/// Makes the bridge and table of `net` (again, after a reboot).
fn setup_network(net: &NetworkRecord) -> Result<()> {
    let mut nl = Netlink::open()?;
    nl.add_bridge(&net.bridge, net.mtu)?;
    nl.add_address(&net.bridge, IpAddr::V4(net.gateway), net.subnet.prefix())?;
    if let Some(v6) = &net.ipv6 {
        nl.add_address(&net.bridge, IpAddr::V6(v6.gateway), v6.prefix)?;
    }
    nl.set_up(&net.bridge, None)?;
    nft::apply(net)?;
    ensure_forwarding_passes();
    Ok(())
}

/// Where an iptables firewall (Docker's) drops forwarded traffic, adds
/// wharf's accept rules; a failure is loud but not fatal, since traffic that
/// stays on the host (published ports on 127.0.0.1, DNS) still works.
fn ensure_forwarding_passes() {
    if let Err(e) = iptables::ensure() {
        tracing::warn!(
            "iptables drops forwarded traffic here (Docker's FORWARD policy?) and wharf could not add its accept rules: {e}; containers may not reach each other or the outside"
        );
    }
}

fn teardown_network(net: &NetworkRecord) {
    if let Ok(mut nl) = Netlink::open() {
        if let Err(e) = nl.delete_own_bridge(&net.bridge) {
            tracing::warn!(
                "removing bridge {} of network {}: {e}",
                net.bridge,
                net.name
            );
        }
    }
    if let Err(e) = nft::remove(&net.id) {
        tracing::warn!("removing the nftables table of network {}: {e}", net.name);
    }
    if let Err(e) = iptables::release() {
        tracing::warn!("removing wharf's iptables rules: {e}");
    }
}

/// Removes network `query` (name or id): refused while a container is
/// attached to it (Docker's message), else bridge, table and files go.
pub fn remove_network(root: &Path, query: &str) -> Result<NetworkRecord> {
    let store = Networks::open(root)?;
    let locked = store.lock()?;
    let net = store.find(query)?;
    let eps = store.endpoints(&net.id)?;
    if !eps.is_empty() {
        return Err(AttachError::InUse {
            name: net.name.clone(),
            id: net.id.clone(),
            containers: eps.into_iter().map(|e| e.container_name).collect(),
        });
    }
    teardown_network(&net);
    locked.remove(&net.id)?;
    Ok(net)
}

/// The host-side veth name of a container on a network: derived, so
/// [`detach`] can find it again without any record.
pub fn host_veth(container_id: &str, network_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(container_id.as_bytes());
    h.update(b"/");
    h.update(network_id.as_bytes());
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("veth{}", &hex[..7])
}

/// Attaches container `container_id` to `networks` (highest priority
/// first; the first non-internal one gives the default route). Creates
/// the namespace at `netns::netns_path(run_root, container_id)`. On
/// failure nothing is left: addresses, veths, records, the namespace.
pub fn attach(
    root: &Path,
    run_root: &Path,
    container_id: &str,
    container_name: &str,
    hostname: &str,
    networks: &[NetworkAttachment],
) -> Result<Attached> {
    let result = attach_inner(
        root,
        run_root,
        container_id,
        container_name,
        hostname,
        networks,
    );
    if result.is_err() {
        if let Err(e) = detach(root, run_root, container_id) {
            tracing::warn!("undoing the network attach of {container_name}: {e}");
        }
    }
    result
}

fn attach_inner(
    root: &Path,
    run_root: &Path,
    container_id: &str,
    container_name: &str,
    hostname: &str,
    networks: &[NetworkAttachment],
) -> Result<Attached> {
    let store = Networks::open(root)?;
    let locked = store.lock()?;
    let mut wanted: Vec<&NetworkAttachment> = networks.iter().collect();
    // Stable: equal priorities keep the caller's order.
    wanted.sort_by_key(|a| std::cmp::Reverse(a.priority));
    let mut nets: Vec<NetworkRecord> = Vec::new();
    for a in &wanted {
        let net = store.find(&a.network)?;
        if nets.iter().any(|n| n.id == net.id) {
            return Err(AttachError::Duplicate {
                container: container_name.to_string(),
                network: net.name,
            });
        }
        nets.push(net);
    }
    let path = netns::netns_path(run_root, container_id);
    let mut host = Netlink::open()?;
    // The checks below spawn nft and iptables, most of what a bridge adds
    // to a container's start: side by side, they cost one spawn.
    std::thread::scope(|s| -> Result<()> {
        // Docker may have started (and set its DROP policy) since the
        // networks were made.
        let forwarding = s.spawn(ensure_forwarding_passes);
        for net in &nets {
            // A reboot (or a crash in create) may have lost the bridge.
            if host.index(&net.bridge)?.is_none() || !nft::exists(&net.id) {
                setup_network(net)?;
            }
        }
        netns::create(&path)?;
        let _ = forwarding.join();
        Ok(())
    })?;
    let mut ctr = Netlink::open_in(&path)?;
    let mut endpoints = Vec::new();
    for (i, (a, net)) in wanted.iter().zip(&nets).enumerate() {
        let (ip, ip6) = locked.allocate(net, container_id, a.ipv4_address, a.ipv6_address)?;
        let mac_text = a.mac_address.clone().unwrap_or_else(|| ipam::mac_for(ip));
        let mac = bridge::parse_mac(&mac_text).ok_or_else(|| AttachError::BadMac {
            container: container_name.to_string(),
            mac: mac_text.clone(),
        })?;
        let ifname = format!("eth{i}");
        let veth = host_veth(container_id, &net.id);
        host.add_veth(&veth, &ifname, &path, net.mtu, mac)?;
        let master = host.index(&net.bridge)?;
        host.set_up(&veth, master)?;
        ctr.add_address(&ifname, IpAddr::V4(ip), net.subnet.prefix())?;
        if let (Some(v6), Some(cfg)) = (ip6, &net.ipv6) {
            ctr.add_address(&ifname, IpAddr::V6(v6), cfg.prefix)?;
        }
        ctr.set_up(&ifname, None)?;
        let names = endpoint_names(container_name, container_id, hostname, &a.aliases);
        let ep = EndpointRecord {
            container_id: container_id.to_string(),
            container_name: container_name.to_string(),
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            names,
            ipv4: Some(ip),
            ipv6: ip6,
            mac: mac_text.to_lowercase(),
            ifname,
        };
        locked.write_endpoint(&ep)?;
        endpoints.push(ep);
    }
    if let Some(net) = nets.iter().find(|n| !n.internal) {
        ctr.add_default_route(IpAddr::V4(net.gateway))?;
        if let Some(v6) = &net.ipv6 {
            ctr.add_default_route(IpAddr::V6(v6.gateway))?;
        }
    }
    Ok(Attached {
        netns: path,
        endpoints,
    })
}

/// Takes container `container_id` off every network: frees its addresses,
/// deletes its veths, endpoint records and namespace file. Safe to repeat,
/// and after a crash at any point of [`attach`].
pub fn detach(root: &Path, run_root: &Path, container_id: &str) -> Result<()> {
    let store = Networks::open(root)?;
    let locked = store.lock()?;
    let mut host = Netlink::open().ok();
    for net in store.list()? {
        let holds = store.ipam_state(&net.id)?;
        let owns = holds
            .v4
            .values()
            .chain(holds.v6.values())
            .any(|c| c == container_id);
        let has_ep = store
            .endpoints(&net.id)?
            .iter()
            .any(|e| e.container_id == container_id);
        if !owns && !has_ep {
            continue;
        }
        // The veth would go with the namespace, but only once nothing
        // holds the namespace; deleting it here makes detach exact.
        if let Some(nl) = host.as_mut() {
            nl.delete(&host_veth(container_id, &net.id))?;
        }
        locked.remove_endpoint(&net.id, container_id)?;
        locked.release(&net.id, container_id)?;
    }
    netns::remove(&netns::netns_path(run_root, container_id))?;
    Ok(())
}

/// A running container's attachment as [`attach`] left it, read back from
/// its endpoint records (for a monitor that takes over the container).
pub fn current(root: &Path, run_root: &Path, container_id: &str) -> Result<Attached> {
    Ok(Attached {
        netns: netns::netns_path(run_root, container_id),
        endpoints: endpoints_of(root, container_id)?
            .into_iter()
            .map(|(_, ep)| ep)
            .collect(),
    })
}

/// The endpoints container `container_id` has now, with their networks
/// (for `inspect`'s NetworkSettings).
pub fn endpoints_of(
    root: &Path,
    container_id: &str,
) -> Result<Vec<(NetworkRecord, EndpointRecord)>> {
    let store = Networks::open(root)?;
    let mut out = Vec::new();
    for net in store.list()? {
        if let Some(ep) = store
            .endpoints(&net.id)?
            .into_iter()
            .find(|e| e.container_id == container_id)
        {
            out.push((net, ep));
        }
    }
    out.sort_by(|a, b| a.1.ifname.cmp(&b.1.ifname));
    Ok(out)
}

/// `network connect` for a running container: one more interface in its
/// namespace (the first free `ethN`), an address, its endpoint record.
/// The default route stays where it is. Undone fully when a step fails.
pub fn connect(
    root: &Path,
    run_root: &Path,
    container_id: &str,
    container_name: &str,
    hostname: &str,
    a: &NetworkAttachment,
) -> Result<EndpointRecord> {
    let store = Networks::open(root)?;
    let locked = store.lock()?;
    let net = store.find(&a.network)?;
    let mut used = Vec::new();
    for (_, ep) in endpoints_of(root, container_id)? {
        if ep.network_id == net.id {
            return Err(AttachError::Duplicate {
                container: container_name.to_string(),
                network: net.name,
            });
        }
        used.push(ep.ifname);
    }
    let ifname = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !used.contains(n))
        .unwrap_or_else(|| "eth0".into());
    let path = netns::netns_path(run_root, container_id);
    let veth = host_veth(container_id, &net.id);
    let result = (|| -> Result<EndpointRecord> {
        let mut host = Netlink::open()?;
        if host.index(&net.bridge)?.is_none() || !nft::exists(&net.id) {
            setup_network(&net)?;
        }
        let mut ctr = Netlink::open_in(&path)?;
        let (ip, ip6) = locked.allocate(&net, container_id, a.ipv4_address, a.ipv6_address)?;
        let mac_text = a.mac_address.clone().unwrap_or_else(|| ipam::mac_for(ip));
        let mac = bridge::parse_mac(&mac_text).ok_or_else(|| AttachError::BadMac {
            container: container_name.to_string(),
            mac: mac_text.clone(),
        })?;
        host.add_veth(&veth, &ifname, &path, net.mtu, mac)?;
        let master = host.index(&net.bridge)?;
        host.set_up(&veth, master)?;
        ctr.add_address(&ifname, IpAddr::V4(ip), net.subnet.prefix())?;
        if let (Some(v6), Some(cfg)) = (ip6, &net.ipv6) {
            ctr.add_address(&ifname, IpAddr::V6(v6), cfg.prefix)?;
        }
        ctr.set_up(&ifname, None)?;
        let ep = EndpointRecord {
            container_id: container_id.to_string(),
            container_name: container_name.to_string(),
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            names: endpoint_names(container_name, container_id, hostname, &a.aliases),
            ipv4: Some(ip),
            ipv6: ip6,
            mac: mac_text.to_lowercase(),
            ifname: ifname.clone(),
        };
        locked.write_endpoint(&ep)?;
        Ok(ep)
    })();
    if result.is_err() {
        if let Ok(mut nl) = Netlink::open() {
            let _ = nl.delete(&veth);
        }
        let _ = locked.remove_endpoint(&net.id, container_id);
        let _ = locked.release(&net.id, container_id);
    }
    result
}

/// `network disconnect` for a running container: its interface on the
/// network (the veth pair), its endpoint and its addresses there go.
pub fn disconnect(root: &Path, container_id: &str, network: &str) -> Result<NetworkRecord> {
    let store = Networks::open(root)?;
    let locked = store.lock()?;
    let net = store.find(network)?;
    Netlink::open()?.delete(&host_veth(container_id, &net.id))?;
    locked.remove_endpoint(&net.id, container_id)?;
    locked.release(&net.id, container_id)?;
    Ok(net)
}

/// The names an endpoint answers to: container name, short id, hostname,
/// aliases; each once.
fn endpoint_names(
    container_name: &str,
    container_id: &str,
    hostname: &str,
    aliases: &[String],
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for n in [
        container_name,
        &container_id[..container_id.len().min(12)],
        hostname,
    ]
    .into_iter()
    .chain(aliases.iter().map(String::as_str))
    {
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    names
}
