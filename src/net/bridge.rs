//! Bridges, veth pairs, addresses and routes over rtnetlink, with a small
//! synchronous client on netlink-packet-route (already in the build through
//! libcontainer). A netlink socket acts in the namespace it was opened in,
//! so [`Netlink::open_in`] opens one inside a container's namespace through
//! [`super::netns::in_netns`] and the caller's thread never moves.

use super::ipam::Subnet;
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::Socket;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Every wharf bridge is put in this interface group, so the nftables
/// isolation rules can say "another wharf network" whatever its name
/// (`com.docker.network.bridge.name` may rename it). ASCII "whrf".
pub const BRIDGE_GROUP: u32 = 0x7768_7266;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("netlink: {action} {name}: {source}")]
    Netlink {
        action: &'static str,
        name: String,
        source: io::Error,
    },
    #[error(transparent)]
    Netns(#[from] super::netns::NetnsError),
    #[error("opening the network namespace {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("interface {name} exists and is not a bridge; wharf will not take it over")]
    NotABridge { name: String },
}

pub type Result<T> = std::result::Result<T, BridgeError>;

/// A route-netlink socket in one namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the calling thread's namespace.
    pub fn open() -> Result<Netlink> {
        let wrap = |source| BridgeError::Netlink {
            action: "opening a socket",
            name: String::new(),
            source,
        };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(wrap)?;
        socket.bind_auto().map_err(wrap)?;
        Ok(Netlink { socket, seq: 1 })
    }

    /// A socket inside the namespace at `path`.
    pub fn open_in(path: &Path) -> Result<Netlink> {
        super::netns::in_netns(path, Netlink::open)?
    }

    /// Sends one request and collects the replies: the ack for a change,
    /// every message of a dump.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        action: &'static str,
        name: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let err = |source| BridgeError::Netlink {
            action,
            name: name.to_string(),
            source,
        };
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | flags;
        self.seq = self.seq.wrapping_add(1);
        req.header.sequence_number = self.seq;
        req.finalize();
        let mut buf = vec![0u8; req.header.length as usize];
        req.serialize(&mut buf[..]);
        self.socket.send(&buf, 0).map_err(err)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let n = self.socket.recv(&mut &mut rx[..], 0).map_err(err)?;
            let mut off = 0;
            while off < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..n])
                    .map_err(|e| err(io::Error::other(e.to_string())))?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number != self.seq {
                    // A late reply to an earlier request; not ours.
                } else {
                    match msg.payload {
                        NetlinkPayload::Error(e) => match e.code {
                            None => return Ok(out),
                            Some(_) => return Err(err(e.to_io())),
                        },
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::InnerMessage(m) => {
                            out.push(m);
                            if !dump {
                                return Ok(out);
                            }
                        }
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// The index of interface `name`, if it exists.
    pub fn index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0, "looking up", name) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(BridgeError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Interface `name`, if it exists: its index, whether it is a bridge,
    /// and its interface group.
    fn link(&mut self, name: &str) -> Result<Option<(u32, bool, u32)>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0, "looking up", name) {
            Ok(replies) => Ok(replies.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => {
                    let bridge = l.attributes.iter().any(|a| match a {
                        LinkAttribute::LinkInfo(infos) => infos
                            .iter()
                            .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge))),
                        _ => false,
                    });
                    let group = l
                        .attributes
                        .iter()
                        .find_map(|a| match a {
                            LinkAttribute::Group(g) => Some(*g),
                            _ => None,
                        })
                        .unwrap_or(0);
                    Some((l.header.index, bridge, group))
                }
                _ => None,
            })),
            Err(BridgeError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates bridge `name` in [`BRIDGE_GROUP`] and returns its index.
    /// An existing bridge is adopted as it is (outside the group, so it is
    /// never deleted: see [`Netlink::delete_own_bridge`]); any other
    /// existing interface of that name is refused.
    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<u32> {
        if let Some((i, is_bridge, _)) = self.link(name)? {
            if !is_bridge {
                return Err(BridgeError::NotABridge {
                    name: name.to_string(),
                });
            }
            return Ok(i);
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        m.attributes.push(LinkAttribute::Group(BRIDGE_GROUP));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "creating bridge",
            name,
        )?;
        self.index(name)?.ok_or_else(|| BridgeError::Netlink {
            action: "finding the new bridge",
            name: name.to_string(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })
    }

    /// Creates veth pair `host` ↔ `peer`, with the peer made directly in
    /// the namespace at `peer_ns` (no create-then-move), carrying `mac`.
    pub fn add_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_ns: &Path,
        mtu: Option<u32>,
        mac: [u8; 6],
    ) -> Result<()> {
        let ns = std::fs::File::open(peer_ns).map_err(|source| BridgeError::Open {
            path: peer_ns.to_path_buf(),
            source,
        })?;
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.to_string()));
        p.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(host.to_string()));
        if let Some(mtu) = mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
            p.attributes.push(LinkAttribute::Mtu(mtu));
        }
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "creating veth",
            host,
        )?;
        drop(ns);
        Ok(())
    }

    /// Puts `name` under bridge `master` (if given) and brings it up.
    pub fn set_up(&mut self, name: &str, master: Option<u32>) -> Result<()> {
        let index = self.index(name)?.ok_or_else(|| BridgeError::Netlink {
            action: "bringing up",
            name: name.to_string(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })?;
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        if let Some(master) = master {
            m.attributes.push(LinkAttribute::Controller(master));
        }
        self.request(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_ACK,
            "bringing up",
            name,
        )?;
        Ok(())
    }

    /// Adds `ip/prefix` to interface `name` (with the subnet's broadcast
    /// address for IPv4). An address already there is fine.
    pub fn add_address(&mut self, name: &str, ip: IpAddr, prefix: u8) -> Result<()> {
        let index = self.index(name)?.ok_or_else(|| BridgeError::Netlink {
            action: "adding an address to",
            name: name.to_string(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })?;
        let mut m = AddressMessage::default();
        m.header.index = index;
        m.header.prefix_len = prefix;
        m.header.family = match ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => {
                // No duplicate address detection (Docker does the same):
                // IPAM already made it unique, and a tentative address
                // cannot be used for the first second or so.
                m.header.flags = AddressHeaderFlags::Nodad;
                AddressFamily::Inet6
            }
        };
        m.attributes.push(AddressAttribute::Local(ip));
        m.attributes.push(AddressAttribute::Address(ip));
        if let IpAddr::V4(v4) = ip {
            m.attributes.push(AddressAttribute::Broadcast(
                Subnet::containing(v4, prefix).broadcast(),
            ));
        }
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "adding an address to",
            name,
        ) {
            Err(BridgeError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// `ip route add default via gateway`.
    pub fn add_default_route(&mut self, gateway: IpAddr) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = match gateway {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes.push(RouteAttribute::Gateway(match gateway {
            IpAddr::V4(a) => RouteAddress::Inet(a),
            IpAddr::V6(a) => RouteAddress::Inet6(a),
        }));
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            "adding the default route via",
            &gateway.to_string(),
        )?;
        Ok(())
    }

    /// Deletes bridge `name` if wharf made it (it is in [`BRIDGE_GROUP`]);
    /// a bridge adopted through `com.docker.network.bridge.name`, or a
    /// missing one, is left alone.
    pub fn delete_own_bridge(&mut self, name: &str) -> Result<()> {
        match self.link(name)? {
            Some((_, true, BRIDGE_GROUP)) => self.delete(name),
            _ => Ok(()),
        }
    }

    /// Deletes interface `name`; a missing one is fine.
    pub fn delete(&mut self, name: &str) -> Result<()> {
        let Some(index) = self.index(name)? else {
            return Ok(());
        };
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(m), NLM_F_ACK, "deleting", name) {
            Err(BridgeError::Netlink { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// Whether any interface of this namespace is in interface group `group`
    /// (every wharf bridge is in [`BRIDGE_GROUP`], whichever data root made it).
    pub fn any_in_group(&mut self, group: u32) -> Result<bool> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
            "listing interfaces",
            "",
        )?;
        Ok(replies.into_iter().any(|r| match r {
            RouteNetlinkMessage::NewLink(l) => l
                .attributes
                .iter()
                .any(|a| matches!(a, LinkAttribute::Group(g) if *g == group)),
            _ => false,
        }))
    }

    /// Every IPv4 route of every table (the local table holds the host's
    /// own addresses), except default routes: what a new subnet must not
    /// overlap.
    pub fn ipv4_routes(&mut self) -> Result<Vec<Subnet>> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        let replies = self.request(
            RouteNetlinkMessage::GetRoute(m),
            NLM_F_DUMP,
            "listing routes",
            "",
        )?;
        let mut out = Vec::new();
        for r in replies {
            let RouteNetlinkMessage::NewRoute(r) = r else {
                continue;
            };
            let prefix = r.header.destination_prefix_length;
            if prefix == 0 || r.header.address_family != AddressFamily::Inet {
                continue;
            }
            for a in &r.attributes {
                if let RouteAttribute::Destination(RouteAddress::Inet(d)) = a {
                    out.push(Subnet::containing(*d, prefix));
                }
            }
        }
        Ok(out)
    }
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split([':', '-']);
    for b in out.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:42:ac:12:00:02"),
            Some([2, 0x42, 0xac, 0x12, 0, 2])
        );
        assert_eq!(parse_mac("02:42:ac:12:00"), None);
        assert_eq!(parse_mac("02:42:ac:12:00:02:03"), None);
        assert_eq!(parse_mac("zz:42:ac:12:00:02"), None);
    }

    /// A bridge and a veth made in namespaces this test creates; the
    /// addresses and routes show in `ip` as a user would see them.
    #[test]
    fn bridge_and_veth_in_private_namespaces() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let dir = tempfile::tempdir().expect("tmp");
        let host = dir.path().join("host");
        let ctr = dir.path().join("ctr");
        super::super::netns::create(&host).expect("host ns");
        super::super::netns::create(&ctr).expect("ctr ns");
        struct Cleanup(Vec<PathBuf>);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                for p in &self.0 {
                    let _ = super::super::netns::remove(p);
                }
            }
        }
        let _c = Cleanup(vec![host.clone(), ctr.clone()]);
        let mut h = Netlink::open_in(&host).expect("nl host");
        let br = h.add_bridge("br-test", Some(1400)).expect("bridge");
        assert_eq!(h.add_bridge("br-test", Some(1400)).expect("again"), br);
        h.add_address("br-test", "10.9.0.1".parse().expect("ip"), 24)
            .expect("addr");
        h.set_up("br-test", None).expect("up");
        h.add_veth("vethtest", "eth0", &ctr, Some(1400), [2, 0x42, 10, 9, 0, 2])
            .expect("veth");
        h.set_up("vethtest", Some(br)).expect("veth up");
        let mut c = Netlink::open_in(&ctr).expect("nl ctr");
        c.add_address("eth0", "10.9.0.2".parse().expect("ip"), 24)
            .expect("addr");
        c.set_up("eth0", None).expect("up");
        c.add_default_route("10.9.0.1".parse().expect("gw"))
            .expect("route");
        let routes = c.ipv4_routes().expect("routes");
        assert!(routes.contains(&"10.9.0.0/24".parse().expect("subnet")));
        let show = |ns: &Path, args: &'static [&'static str]| {
            super::super::netns::in_netns(ns, move || {
                let o = std::process::Command::new("ip")
                    .args(args)
                    .output()
                    .expect("ip");
                String::from_utf8_lossy(&o.stdout).into_owned()
            })
            .expect("in ns")
        };
        let link = show(&ctr, &["-o", "link", "show", "eth0"]);
        assert!(link.contains("mtu 1400"), "{link}");
        assert!(link.contains("02:42:0a:09:00:02"), "{link}");
        let route = show(&ctr, &["route"]);
        assert!(route.contains("default via 10.9.0.1 dev eth0"), "{route}");
        let veth = show(&host, &["-o", "link", "show", "vethtest"]);
        assert!(veth.contains("master br-test"), "{veth}");
        h.delete("vethtest").expect("del veth");
        h.delete("vethtest").expect("del veth again");
        assert_eq!(c.index("eth0").expect("lookup"), None, "peer went with it");
        h.delete("br-test").expect("del bridge");
        assert_eq!(h.index("br-test").expect("lookup"), None);
    }
}
