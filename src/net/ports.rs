//! Published ports: a container port made reachable on the host's
//! addresses, TCP and UDP.
//!
//! # How (and why this way)
//!
//! The default ([`Mode::Auto`]) is Docker's own combination:
//!
//! - **nftables DNAT** for traffic to the host's non-loopback addresses:
//!   one table per container, `inet wharf-ports-<id12>`, with a `prerouting`
//!   hook (traffic from other hosts, namespaces and containers) and an
//!   `output` hook (traffic this host sends to its own addresses). The
//!   kernel forwards these packets: full speed, client source address
//!   preserved. Traffic from the container's own bridge is left to the
//!   proxy (Docker's `! -i docker0`): DNAT back out of the port a frame came
//!   in needs hairpin mode on the veth once br_netfilter is loaded.
//! - **a userland proxy** (threads in the calling process, the container's
//!   monitor) on the reserved socket itself, which is what `127.0.0.1`,
//!   `::1` and containers on the same bridge (hairpin) reach: DNAT of loopback traffic needs `route_localnet=1` on the
//!   bridge, which also lets containers address the host's `127.0.0.1`
//!   services (CVE-2020-8558), and has no IPv6 counterpart. TCP is spliced
//!   in the kernel (`splice(2)` through a pipe); UDP keeps a flow per client
//!   with an idle timeout.
//!
//! `scripts/bench/ports` measures both paths; the figures are in the
//! issue's closing note. [`Mode::Nat`] (DNAT for loopback too, with
//! `route_localnet`) and [`Mode::Proxy`] (no nftables at all) exist for that
//! benchmark and for hosts without nftables.
//!
//! Every host port is reserved by binding it (port 0 = the kernel picks one,
//! as Docker does) and keeping the socket for the life of the guard, so a
//! taken port fails at once with [`PortError::InUse`] naming address, port
//! and protocol, and no other program can take a published port later.
//!
//! # API (the monitor calls this once the container's address is known)
//!
//! ```no_run
//! # use wharf::net::ports::{publish, unpublish, PublishConfig, Mode};
//! # fn f(ports: &[wharf::runtime::spec::PortBinding]) -> Result<(), wharf::net::ports::PortError> {
//! let published = publish(&PublishConfig {
//!     container_id: "0123456789abcdef",
//!     ipv4: Some("172.18.0.2".parse().unwrap()),
//!     ipv6: None,
//!     bridge: "br-0123456789ab",
//!     ports,
//!     mode: Mode::Auto,
//! })?;
//! // The actual bindings (random ports resolved) go into the container's state.
//! let for_state = published.bindings().to_vec();
//! // Dropping the guard (or `close()`) removes every rule and socket;
//! // after a crash, `unpublish(id)` removes the rules (the sockets died
//! // with the process).
//! drop(published);
//! unpublish("0123456789abcdef")?;
//! # let _ = for_state; Ok(()) }
//! ```
//!
//! The proxy's threads live in the process that called [`publish`]; it must
//! outlive the container (the monitor does). Forwarded DNAT traffic needs
//! `net.ipv4.ip_forward=1`, which the network layer sets for non-internal
//! networks, and must not be dropped by the network's forward rules.

mod proxy;

use crate::runtime::spec::{PortBinding, Protocol};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("Bind for {}:{port}/{proto} failed: port is already allocated ({source})", show_ip(*ip))]
    InUse {
        ip: IpAddr,
        port: u16,
        proto: &'static str,
        source: io::Error,
    },
    #[error("binding {}:{port}/{proto}: {source}", show_ip(*ip))]
    Bind {
        ip: IpAddr,
        port: u16,
        proto: &'static str,
        source: io::Error,
    },
    #[error("container {container}: publishing {port}/{proto}: {what}")]
    Unsupported {
        container: String,
        port: u16,
        proto: &'static str,
        what: String,
    },
    #[error("nftables table {table}: {message}")]
    Nft { table: String, message: String },
    #[error("container {container}: setting {path}: {source}")]
    Sysctl {
        container: String,
        path: String,
        source: io::Error,
    },
    #[error("container {container}: starting the port proxy: {source}")]
    Proxy {
        container: String,
        source: io::Error,
    },
}

pub type Result<T> = std::result::Result<T, PortError>;

/// How published traffic reaches the container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// DNAT for the host's non-loopback addresses, the proxy for loopback
    /// (Docker's default).
    #[default]
    Auto,
    /// DNAT for everything, loopback included (`route_localnet=1` on the
    /// bridge); the proxy still holds the sockets but sees no traffic.
    Nat,
    /// The userland proxy only; no nftables.
    Proxy,
}

/// What to publish for one container.
#[derive(Clone, Copy, Debug)]
pub struct PublishConfig<'a> {
    /// The container's full id; the nftables table is named after it.
    pub container_id: &'a str,
    /// The container's address on the network that carries published ports.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    /// The host side bridge of that network (`br-…`).
    pub bridge: &'a str,
    pub ports: &'a [PortBinding],
    pub mode: Mode,
}

/// `[::1]` for IPv6, as Docker prints host addresses.
pub fn show_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

/// The nftables table holding one container's published ports.
pub fn table_name(container_id: &str) -> String {
    let short: String = container_id.chars().take(12).collect();
    format!("wharf-ports-{short}")
}

/// A reserved host socket, later handed to the proxy.
enum Reserved {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// One host address:port carrying one container port.
struct Listener {
    binding: PortBinding,
    socket: Reserved,
    /// Where the proxy connects (the container's address of the host
    /// address's family, or IPv4 when the container has no IPv6).
    target: SocketAddr,
}

/// The published ports of one container. Dropping it removes the nftables
/// table and stops the proxy (closing its sockets and connections).
pub struct PublishedPorts {
    container_id: String,
    bindings: Vec<PortBinding>,
    table: Option<String>,
    proxies: Vec<proxy::Proxy>,
}

impl std::fmt::Debug for PublishedPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishedPorts")
            .field("container_id", &self.container_id)
            .field("bindings", &self.bindings)
            .field("table", &self.table)
            .finish()
    }
}

impl PublishedPorts {
    /// The actual bindings: every host address spelled out (`0.0.0.0` and
    /// `::` for "all"), random ports resolved. This is what `wharf port`
    /// and `wharf ps` show.
    pub fn bindings(&self) -> &[PortBinding] {
        &self.bindings
    }

    /// Removes everything now, reporting a failure to delete the table.
    pub fn close(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        for p in self.proxies.drain(..) {
            p.stop();
        }
        match self.table.take() {
            Some(table) => delete_table(&table),
            None => Ok(()),
        }
    }
}

impl Drop for PublishedPorts {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            tracing::warn!("{e}");
        }
    }
}

/// Publishes `cfg.ports`. Either every binding is in place when this
/// returns, or nothing is (no rule, no socket).
pub fn publish(cfg: &PublishConfig) -> Result<PublishedPorts> {
    let mut listeners = Vec::new();
    for b in cfg.ports {
        listeners.extend(reserve(cfg, b)?);
    }
    let mut guard = PublishedPorts {
        container_id: cfg.container_id.to_string(),
        bindings: listeners.iter().map(|l| l.binding.clone()).collect(),
        table: None,
        proxies: Vec::new(),
    };
    if cfg.mode != Mode::Proxy && !listeners.is_empty() {
        let rules = ruleset(cfg, &listeners);
        if !rules.is_empty() {
            if cfg.mode == Mode::Nat && cfg.ipv4.is_some() {
                set_route_localnet(cfg)?;
            }
            let table = table_name(cfg.container_id);
            // A table left by a crashed monitor of the same container goes
            // first, so the new rules are the only ones.
            let _ = delete_table(&table);
            nft_apply(&table, &table_text(&table, cfg.bridge, &rules))?;
            guard.table = Some(table);
        }
    }
    for l in listeners {
        let p = proxy::Proxy::start(l.socket, l.target).map_err(|source| PortError::Proxy {
            container: cfg.container_id.to_string(),
            source,
        })?;
        guard.proxies.push(p);
    }
    Ok(guard)
}

/// Removes the nftables rules of a container whose guard is gone (crash,
/// another process). Idempotent.
pub fn unpublish(container_id: &str) -> Result<()> {
    delete_table(&table_name(container_id))
}

/// Binds the host sockets of one binding: one for a given address, two
/// (`0.0.0.0` and `::`) when none is given, on the same port.
fn reserve(cfg: &PublishConfig, b: &PortBinding) -> Result<Vec<Listener>> {
    let proto = proto_name(b.protocol);
    if b.protocol == Protocol::Sctp {
        return Err(PortError::Unsupported {
            container: cfg.container_id.to_string(),
            port: b.container_port,
            proto,
            what: "SCTP ports are not supported".into(),
        });
    }
    let target_for = |ip: IpAddr| -> Option<SocketAddr> {
        let addr = match (ip, cfg.ipv4, cfg.ipv6) {
            (IpAddr::V6(_), _, Some(v6)) => IpAddr::V6(v6),
            (_, Some(v4), _) => IpAddr::V4(v4),
            (IpAddr::V4(_), None, Some(v6)) => IpAddr::V6(v6),
            _ => return None,
        };
        Some(SocketAddr::new(addr, b.container_port))
    };
    let no_address = || PortError::Unsupported {
        container: cfg.container_id.to_string(),
        port: b.container_port,
        proto,
        what: "the container has no address to forward to".into(),
    };
    let one = |ip: IpAddr, port: u16| -> Result<Listener> {
        let target = target_for(ip).ok_or_else(no_address)?;
        let socket = bind(ip, port, b.protocol)?;
        let port = socket.port();
        Ok(Listener {
            binding: PortBinding {
                host_ip: Some(ip),
                host_port: port,
                container_port: b.container_port,
                protocol: b.protocol,
            },
            socket,
            target,
        })
    };
    if let Some(ip) = b.host_ip.filter(|ip| !ip.is_unspecified()) {
        return Ok(vec![one(ip, b.host_port)?]);
    }
    if let Some(IpAddr::V6(_)) = b.host_ip {
        return Ok(vec![one(IpAddr::V6(Ipv6Addr::UNSPECIFIED), b.host_port)?]);
    }
    // "All addresses": IPv4 and, where the host has IPv6, IPv6 on the same
    // port. A random IPv4 port may be taken on IPv6; try a few others.
    let v4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let v6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    let attempts = if b.host_port == 0 { 16 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let first = one(v4, b.host_port)?;
        match one(v6, first.binding.host_port) {
            Ok(second) => return Ok(vec![first, second]),
            Err(PortError::Bind { source, .. })
                if matches!(
                    source.raw_os_error(),
                    Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)
                ) =>
            {
                // No IPv6 on this host: IPv4 only.
                return Ok(vec![first]);
            }
            Err(e @ PortError::InUse { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(no_address))
}

impl Reserved {
    fn port(&self) -> u16 {
        let addr = match self {
            Reserved::Tcp(l) => l.local_addr(),
            Reserved::Udp(s) => s.local_addr(),
        };
        addr.map(|a| a.port()).unwrap_or(0)
    }
}

fn bind(ip: IpAddr, port: u16, protocol: Protocol) -> Result<Reserved> {
    let proto = proto_name(protocol);
    let addr = SocketAddr::new(ip, port);
    let res = match protocol {
        Protocol::Udp => bind_udp(addr).map(Reserved::Udp),
        _ => bind_tcp(addr).map(Reserved::Tcp),
    };
    res.map_err(|source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            PortError::InUse {
                ip,
                port,
                proto,
                source,
            }
        } else {
            PortError::Bind {
                ip,
                port,
                proto,
                source,
            }
        }
    })
}

/// A socket of the address's family, bound to `addr`; IPv6 ones are
/// v6-only so that `::` and `0.0.0.0` are two reservations, as Docker
/// makes them (std cannot set IPV6_V6ONLY before bind).
fn bound_socket(addr: SocketAddr, ty: libc::c_int) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    // SAFETY: plain socket(2); the result is checked before use.
    let raw = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socket(2) just returned this descriptor; we own it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let one: libc::c_int = 1;
    let set = |level, name| {
        // SAFETY: `one` outlives the call and its size is passed.
        let r = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                level,
                name,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    if addr.is_ipv6() {
        set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY)?;
    }
    if ty == libc::SOCK_STREAM {
        // Like every server: a restarted container can take its port back
        // while old connections linger in TIME_WAIT.
        set(libc::SOL_SOCKET, libc::SO_REUSEADDR)?;
    }
    // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and aligned for it.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // SAFETY: storage holds a valid address of `len` bytes.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let fd = bound_socket(addr, libc::SOCK_STREAM)?;
    // SAFETY: listen(2) on a socket we own.
    if unsafe { libc::listen(fd.as_raw_fd(), libc::SOMAXCONN) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    Ok(UdpSocket::from(bound_socket(addr, libc::SOCK_DGRAM)?))
}

/// The nftables rules (statements of the `publish` and `hairpin` chains)
/// for the listeners the kernel should forward.
struct Rules {
    dnat: Vec<String>,
    masquerade: Vec<String>,
}

impl Rules {
    fn is_empty(&self) -> bool {
        self.dnat.is_empty()
    }
}

fn ruleset(cfg: &PublishConfig, listeners: &[Listener]) -> Rules {
    let mut rules = Rules {
        dnat: Vec::new(),
        masquerade: Vec::new(),
    };
    let br = nft_quote(cfg.bridge);
    for l in listeners {
        let Some(host_ip) = l.binding.host_ip else {
            continue;
        };
        let proto = proto_name(l.binding.protocol);
        let port = l.binding.host_port;
        // DNAT only within a family; the proxy bridges IPv6 to IPv4.
        let (fam, loopback, target) = match (host_ip, l.target.ip()) {
            (IpAddr::V4(_), IpAddr::V4(t)) => ("ip", "127.0.0.0/8", t.to_string()),
            (IpAddr::V6(_), IpAddr::V6(t)) => ("ip6", "::1", format!("[{t}]")),
            _ => continue,
        };
        let nat_loopback = cfg.mode == Mode::Nat && fam == "ip";
        let dest = if host_ip.is_unspecified() {
            if nat_loopback {
                "fib daddr type local".to_string()
            } else {
                format!("fib daddr type local {fam} daddr != {loopback}")
            }
        } else if host_ip.is_loopback() && !nat_loopback {
            continue;
        } else {
            format!("{fam} daddr {host_ip}")
        };
        let cport = l.target.port();
        rules.dnat.push(format!(
            "{dest} {proto} dport {port} dnat {fam} to {target}:{cport}"
        ));
        let tip = l.target.ip();
        if nat_loopback {
            // 127.0.0.1 cannot leave the host as a source address.
            rules.masquerade.push(format!(
                "oifname {br} ip saddr 127.0.0.0/8 ip daddr {tip} {proto} dport {cport} masquerade"
            ));
        }
    }
    rules
}

fn nft_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', ""))
}

fn table_text(table: &str, bridge: &str, rules: &Rules) -> String {
    let mut t = format!("table inet {table} {{\n");
    t.push_str("  chain publish {\n");
    for r in &rules.dnat {
        t.push_str(&format!("    {r}\n"));
    }
    t.push_str("  }\n");
    t.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority -100; policy accept;\n",
    );
    // Containers of the bridge itself (hairpin) reach published ports
    // through the proxy, as with Docker's proxy: DNAT back into the port
    // a frame came from needs hairpin mode on the veth when br_netfilter
    // is loaded, and a masquerade that cannot see the input interface.
    t.push_str(&format!(
        "    iifname != {} jump publish\n  }}\n",
        nft_quote(bridge)
    ));
    t.push_str(
        "  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump publish\n  }\n",
    );
    t.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority 100; policy accept;\n",
    );
    for r in &rules.masquerade {
        t.push_str(&format!("    {r}\n"));
    }
    t.push_str("  }\n}\n");
    t
}

fn nft_apply(table: &str, text: &str) -> Result<()> {
    let nft_err = |message: String| PortError::Nft {
        table: table.to_string(),
        message,
    };
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| nft_err(format!("running nft: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| nft_err(format!("writing to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| nft_err(format!("running nft: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(nft_err(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

fn delete_table(table: &str) -> Result<()> {
    let out = Command::new("nft")
        .args(["delete", "table", "inet", table])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| PortError::Nft {
            table: table.to_string(),
            message: format!("running nft: {e}"),
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || stderr.contains("No such file or directory") {
        Ok(())
    } else {
        Err(PortError::Nft {
            table: table.to_string(),
            message: stderr.trim().to_string(),
        })
    }
}

/// Lets DNATed loopback traffic leave through the bridge ([`Mode::Nat`]).
fn set_route_localnet(cfg: &PublishConfig) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", cfg.bridge);
    std::fs::write(&path, "1").map_err(|source| PortError::Sysctl {
        container: cfg.container_id.to_string(),
        path,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(host_ip: Option<&str>, host_port: u16, cport: u16, p: Protocol) -> PortBinding {
        PortBinding {
            host_ip: host_ip.map(|s| s.parse().unwrap()),
            host_port,
            container_port: cport,
            protocol: p,
        }
    }

    fn cfg<'a>(ports: &'a [PortBinding], mode: Mode) -> PublishConfig<'a> {
        PublishConfig {
            container_id: "abcdef0123456789",
            ipv4: Some(Ipv4Addr::new(172, 30, 0, 2)),
            ipv6: None,
            bridge: "br-test",
            ports,
            mode,
        }
    }

    #[test]
    fn rules_exclude_loopback_in_auto_mode_and_map_to_the_container() {
        let ports = [binding(None, 0, 80, Protocol::Tcp)];
        let c = cfg(&ports, Mode::Auto);
        let l = reserve(&c, &ports[0]).unwrap();
        let rules = ruleset(&c, &l);
        let port = l[0].binding.host_port;
        assert_ne!(port, 0);
        assert_eq!(
            rules.dnat,
            vec![format!(
                "fib daddr type local ip daddr != 127.0.0.0/8 tcp dport {port} dnat ip to 172.30.0.2:80"
            )]
        );
        // The IPv6 listener (if the host has IPv6) is proxied to IPv4: no rule.
        assert!(l.iter().all(|l| l.binding.host_port == port));
    }

    #[test]
    fn loopback_binding_is_proxy_only_unless_nat_mode() {
        let ports = [binding(Some("127.0.0.1"), 0, 53, Protocol::Udp)];
        let c = cfg(&ports, Mode::Auto);
        let l = reserve(&c, &ports[0]).unwrap();
        assert!(ruleset(&c, &l).is_empty());
        let c = cfg(&ports, Mode::Nat);
        let rules = ruleset(&c, &l);
        assert_eq!(rules.dnat.len(), 1);
        assert!(rules.dnat[0].starts_with("ip daddr 127.0.0.1 udp dport"));
        assert!(rules
            .masquerade
            .iter()
            .any(|m| m.contains("ip saddr 127.0.0.0/8")));
    }

    #[test]
    fn taken_port_names_address_port_and_protocol() {
        let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let ports = [binding(Some("127.0.0.1"), port, 53, Protocol::Udp)];
        let err = reserve(&cfg(&ports, Mode::Auto), &ports[0])
            .err()
            .expect("taken port must fail");
        assert_eq!(
            err.to_string().split(" (").next().unwrap(),
            format!("Bind for 127.0.0.1:{port}/udp failed: port is already allocated")
        );
    }

    #[test]
    fn table_name_uses_the_short_id() {
        assert_eq!(table_name("0123456789abcdef00"), "wharf-ports-0123456789ab");
    }
}
