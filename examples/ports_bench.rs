//! Published-port throughput and latency, per way in: the container's
//! address directly (no publishing: the floor), DNAT from the host to its
//! own address, DNAT from another namespace (forwarded, as from another
//! machine), the userland proxy on 127.0.0.1 (wharf's default for
//! loopback), and DNAT on 127.0.0.1 (`route_localnet`). Run it through
//! `scripts/bench/ports`, which gives it a private network namespace.
//!
//! Prints one line per path: MB/s for a large upload, µs per TCP and UDP
//! request/response round trip.

#[path = "../tests/support/netlab.rs"]
mod netlab;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};
use wharf::net::ports::{publish, Mode, PublishConfig};
use wharf::runtime::spec::{PortBinding, Protocol};

const TCP_PORT: u16 = 8080;
const UDP_PORT: u16 = 5353;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// MB/s of a `bytes`-long upload the server counts.
fn throughput(to: SocketAddr, bytes: u64) -> f64 {
    let mut s = TcpStream::connect(to).expect("connect");
    let start = Instant::now();
    s.write_all(b"sink\n").expect("write");
    let chunk = vec![0x5au8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n]).expect("write");
        left -= n as u64;
    }
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).expect("count");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        line.trim().parse::<u64>().ok(),
        Some(bytes),
        "short transfer"
    );
    bytes as f64 / 1e6 / secs
}

/// Mean µs per 1-byte TCP round trip.
fn tcp_rr(to: SocketAddr, rounds: u64) -> f64 {
    let mut s = TcpStream::connect(to).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(b"echo\n").expect("write");
    let mut b = [0u8; 1];
    // Warm up the path (ARP, conntrack, proxy connection).
    for _ in 0..100 {
        s.write_all(b"x").expect("write");
        s.read_exact(&mut b).expect("read");
    }
    let start = Instant::now();
    for _ in 0..rounds {
        s.write_all(b"x").expect("write");
        s.read_exact(&mut b).expect("read");
    }
    start.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

/// Mean µs per UDP round trip.
fn udp_rr(to: SocketAddr, rounds: u64) -> f64 {
    let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s.connect(to).expect("connect");
    let mut buf = [0u8; 256];
    for _ in 0..100 {
        s.send(b"x").expect("send");
        let _ = s.recv(&mut buf);
    }
    let start = Instant::now();
    for _ in 0..rounds {
        s.send(b"x").expect("send");
        s.recv(&mut buf).expect("udp answer");
    }
    start.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

fn measure(label: &str, tcp: SocketAddr, udp: SocketAddr, from_ns: Option<&str>) {
    let bytes = env_num("BYTES", 2 << 30);
    let rounds = env_num("ROUNDS", 5000);
    let run = move || {
        (
            throughput(tcp, bytes),
            tcp_rr(tcp, rounds),
            udp_rr(udp, rounds),
        )
    };
    let (mbs, trr, urr) = match from_ns {
        Some(ns) => netlab::Lab::spawn_in(ns, run).join().expect("client"),
        None => run(),
    };
    println!("{label:<34} {mbs:>9.0} MB/s   tcp rr {trr:>7.1} µs   udp rr {urr:>7.1} µs");
}

fn main() {
    let lab = netlab::Lab::new(9);
    let _servers = netlab::Servers::start(&lab.container_ns, TCP_PORT, UDP_PORT);
    let c = IpAddr::V4(lab.container_ip);
    measure(
        "direct (container address, floor)",
        SocketAddr::new(c, TCP_PORT),
        SocketAddr::new(c, UDP_PORT),
        None,
    );
    for (mode, paths) in [
        (
            Mode::Auto,
            vec![
                ("nat: host -> own address", false, None),
                (
                    "nat: other netns -> host address",
                    false,
                    Some(lab.client_ns.as_str()),
                ),
                ("proxy: host -> 127.0.0.1", true, None),
            ],
        ),
        (
            Mode::Nat,
            vec![("nat: host -> 127.0.0.1 (localnet)", true, None)],
        ),
    ] {
        let ports = [
            PortBinding {
                host_ip: None,
                host_port: 0,
                container_port: TCP_PORT,
                protocol: Protocol::Tcp,
            },
            PortBinding {
                host_ip: None,
                host_port: 0,
                container_port: UDP_PORT,
                protocol: Protocol::Udp,
            },
        ];
        let published = publish(&PublishConfig {
            container_id: "0000benchmark0000",
            ipv4: Some(lab.container_ip),
            ipv6: None,
            bridge: &lab.bridge,
            ports: &ports,
            mode,
        })
        .expect("publish");
        let port = |p: Protocol| {
            published
                .bindings()
                .iter()
                .find(|b| b.protocol == p)
                .map(|b| b.host_port)
                .expect("binding")
        };
        let (tp, up) = (port(Protocol::Tcp), port(Protocol::Udp));
        for (label, loopback, ns) in paths {
            let ip = if loopback {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V4(lab.host_ip)
            };
            measure(label, SocketAddr::new(ip, tp), SocketAddr::new(ip, up), ns);
        }
        drop(published);
    }
}
