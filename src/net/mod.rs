//! Container networking: bridges, veths, IPAM, published ports and the
//! embedded DNS resolver. Never imports `compose` or `plan`; it takes
//! [`crate::runtime::spec::NetworkAttachment`] and
//! [`crate::runtime::spec::PortBinding`] and the records below.

pub mod dns;
pub mod ports;

use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// One container's presence on one network, as written to
/// `<root>/networks/<network-id>/endpoints/<container-id>.json` when it is
/// attached and removed when it is detached. The DNS resolver answers from
/// these files, so a recreated or scaled container is visible at once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointRecord {
    pub container_id: String,
    pub container_name: String,
    pub network_id: String,
    pub network_name: String,
    /// Every name this endpoint answers to on this network: the container
    /// name, the short id, the hostname, the compose service name and the
    /// `aliases:`. Several endpoints may share a name (replicas).
    pub names: Vec<String>,
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub mac: String,
    /// The interface name inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
}

/// Where the endpoint records of one network live.
pub fn endpoints_dir(root: &Path, network_id: &str) -> PathBuf {
    root.join("networks").join(network_id).join("endpoints")
}

pub mod attach;
pub mod bridge;
pub mod ipam;
pub mod iptables;
pub mod netns;
pub mod nft;
pub mod store;
