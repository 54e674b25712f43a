//! Published ports, end to end through the kernel: a server in a
//! "container" namespace on a bridge, reached through 127.0.0.1, through
//! the host's address on another interface (from the host itself and from
//! another namespace behind that interface), and from the container itself
//! (hairpin); a taken port fails cleanly; nothing is left in nftables.
//!
//! Needs root: run through `scripts/with-registry` (a private network and
//! mount namespace). Without it the tests say SKIPPED.

#[path = "support/netlab.rs"]
mod netlab;

use netlab::{Lab, Servers};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;
use wharf::net::ports::{publish, table_name, unpublish, Mode, PortError, PublishConfig};
use wharf::runtime::spec::{PortBinding, Protocol};

/// The tests compare the whole nftables ruleset, so they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `Some(lock)` inside the harness's private namespace.
fn inside_harness() -> Option<std::sync::MutexGuard<'static, ()>> {
    match std::env::var("WHARF_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() && netlab::in_private_netns() => {
            Some(SERIAL.lock().unwrap_or_else(|e| e.into_inner()))
        }
        _ => {
            eprintln!("SKIPPED: not inside scripts/with-registry's private namespace");
            None
        }
    }
}

fn ruleset() -> String {
    let out = std::process::Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .expect("nft");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const TCP_PORT: u16 = 8080;
const UDP_PORT: u16 = 5353;

fn binding(ip: Option<&str>, host: u16, container: u16, protocol: Protocol) -> PortBinding {
    PortBinding {
        host_ip: ip.map(|i| i.parse().unwrap()),
        host_port: host,
        container_port: container,
        protocol,
    }
}

fn tcp_ask(to: SocketAddr, what: &str) -> String {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connecting to {to}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    writeln!(s, "{what}").unwrap();
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("reading from {to}: {e}"));
    line.trim().to_string()
}

fn udp_ask(to: SocketAddr, what: &str) -> String {
    let s = UdpSocket::bind("0.0.0.0:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    // UDP may lose the first datagram while the flow is set up; retry.
    for _ in 0..10 {
        s.send_to(what.as_bytes(), to).unwrap();
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    panic!("no UDP answer from {to}");
}

fn port_of(bindings: &[PortBinding], protocol: Protocol, container_port: u16) -> u16 {
    let ports: Vec<u16> = bindings
        .iter()
        .filter(|b| b.protocol == protocol && b.container_port == container_port)
        .map(|b| b.host_port)
        .collect();
    assert!(!ports.is_empty(), "{bindings:?}");
    assert!(
        ports.iter().all(|&p| p == ports[0] && p != 0),
        "{bindings:?}"
    );
    ports[0]
}

/// Every way in, for one mode. `via_proxy` says whether traffic to a
/// non-loopback address reaches the container through the proxy (which
/// hides the client's address behind the gateway's).
fn check_mode(n: u8, mode: Mode) {
    let before = ruleset();
    let lab = Lab::new(n);
    let _servers = Servers::start(&lab.container_ns, TCP_PORT, UDP_PORT);
    let id = format!("{n:02}ports{}0123456789", std::process::id());
    let ports = [
        binding(None, 0, TCP_PORT, Protocol::Tcp),
        binding(None, 0, UDP_PORT, Protocol::Udp),
    ];
    let published = publish(&PublishConfig {
        container_id: &id,
        ipv4: Some(lab.container_ip),
        ipv6: None,
        bridge: &lab.bridge,
        ports: &ports,
        mode,
    })
    .expect("publish");
    let b = published.bindings();
    // Random ports resolved, on every address (0.0.0.0, and :: when the
    // namespace has IPv6).
    assert!(b
        .iter()
        .any(|b| b.host_ip == Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
    let tcp = port_of(b, Protocol::Tcp, TCP_PORT);
    let udp = port_of(b, Protocol::Udp, UDP_PORT);
    if mode == Mode::Proxy {
        assert!(!ruleset().contains(&table_name(&id)));
    } else {
        assert!(ruleset().contains(&table_name(&id)));
    }

    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let host = IpAddr::V4(lab.host_ip);
    let gw = lab.gateway.to_string();
    let client = lab.client_ip.to_string();
    let from_proxy_or = |nat: &str| {
        if mode == Mode::Proxy {
            gw.clone()
        } else {
            nat.to_string()
        }
    };

    // 127.0.0.1: the proxy (Auto, Proxy) or DNAT + masquerade (Nat); the
    // container sees the bridge's address either way.
    assert_eq!(
        tcp_ask(SocketAddr::new(lo, tcp), "a"),
        format!("pong a {gw}")
    );
    assert_eq!(
        udp_ask(SocketAddr::new(lo, udp), "b"),
        format!("pong b {gw}")
    );
    // The host's own address on another interface, from the host.
    let h = tcp_ask(SocketAddr::new(host, tcp), "c");
    assert!(h.starts_with("pong c "), "{h}");
    let h = udp_ask(SocketAddr::new(host, udp), "d");
    assert!(h.starts_with("pong d "), "{h}");
    // From another namespace behind that interface: DNAT keeps the
    // client's address.
    let to_tcp = SocketAddr::new(host, tcp);
    let to_udp = SocketAddr::new(host, udp);
    let remote = Lab::spawn_in(&lab.client_ns, move || {
        (tcp_ask(to_tcp, "e"), udp_ask(to_udp, "f"))
    })
    .join()
    .expect("client thread");
    assert_eq!(remote.0, format!("pong e {}", from_proxy_or(&client)));
    assert_eq!(remote.1, format!("pong f {}", from_proxy_or(&client)));
    // Hairpin: the container reaches its own published port through the host.
    let hair = Lab::spawn_in(&lab.container_ns, move || {
        (tcp_ask(to_tcp, "g"), udp_ask(to_udp, "h"))
    })
    .join()
    .expect("container thread");
    assert_eq!(hair.0, format!("pong g {gw}"));
    assert_eq!(hair.1, format!("pong h {gw}"));

    drop(published);
    assert_eq!(ruleset(), before, "nftables not back to what it was");
    // The sockets are gone too: the ports can be bound again.
    TcpListener::bind(("0.0.0.0", tcp)).expect("tcp port released");
    UdpSocket::bind(("0.0.0.0", udp)).expect("udp port released");
}

#[test]
fn published_ports_answer_in_auto_mode() {
    if let Some(_serial) = inside_harness() {
        check_mode(1, Mode::Auto);
    }
}

#[test]
fn published_ports_answer_in_nat_mode() {
    if let Some(_serial) = inside_harness() {
        check_mode(2, Mode::Nat);
    }
}

#[test]
fn published_ports_answer_in_proxy_mode() {
    if let Some(_serial) = inside_harness() {
        check_mode(3, Mode::Proxy);
    }
}

#[test]
fn taken_port_fails_cleanly_and_leaves_nothing() {
    let Some(_serial) = inside_harness() else {
        return;
    };
    let lab = Lab::new(4);
    let before = ruleset();
    // A free UDP port for the first binding, which must be released again.
    let free = UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let id = format!("taken{}0123456789", std::process::id());
    let ports = [
        binding(None, free, UDP_PORT, Protocol::Udp),
        binding(None, 0, TCP_PORT, Protocol::Tcp),
        binding(Some("127.0.0.1"), taken_port, TCP_PORT, Protocol::Tcp),
    ];
    let err = publish(&PublishConfig {
        container_id: &id,
        ipv4: Some(lab.container_ip),
        ipv6: None,
        bridge: &lab.bridge,
        ports: &ports,
        mode: Mode::Auto,
    })
    .expect_err("a taken port must fail");
    assert!(matches!(err, PortError::InUse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "Bind for 127.0.0.1:{taken_port}/tcp failed: port is already allocated"
        )),
        "{msg}"
    );
    assert_eq!(ruleset(), before);
    UdpSocket::bind(("0.0.0.0", free)).expect("the earlier binding was released");
    // unpublish after the fact is harmless.
    unpublish(&id).expect("unpublish of nothing");
}

#[test]
fn unpublish_removes_the_rules_of_a_lost_guard() {
    let Some(_serial) = inside_harness() else {
        return;
    };
    let lab = Lab::new(5);
    let before = ruleset();
    let id = format!("crash{}0123456789", std::process::id());
    let ports = [binding(
        Some(&lab.host_ip.to_string()),
        0,
        TCP_PORT,
        Protocol::Tcp,
    )];
    let published = publish(&PublishConfig {
        container_id: &id,
        ipv4: Some(lab.container_ip),
        ipv6: None,
        bridge: &lab.bridge,
        ports: &ports,
        mode: Mode::Auto,
    })
    .expect("publish");
    assert_eq!(
        published.bindings()[0].host_ip,
        Some(IpAddr::V4(lab.host_ip))
    );
    // As if the monitor had crashed: the guard never runs.
    std::mem::forget(published);
    assert_ne!(ruleset(), before);
    unpublish(&id).expect("unpublish");
    assert_eq!(ruleset(), before);
}
