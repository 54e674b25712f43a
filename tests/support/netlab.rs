//! A small network made with `ip` for the published-port tests and the
//! `ports_bench` example: a "container" namespace on a bridge (as the
//! network layer would make it) and a "client" namespace behind a second
//! link, whose host side address stands for "another interface of the
//! host". Everything is removed on drop. Only to be used inside a private
//! network namespace (scripts/with-registry, scripts/bench/ports).

#![allow(dead_code)]

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::process::Command;

pub struct Lab {
    /// Namespace names (`ip netns`).
    pub container_ns: String,
    pub client_ns: String,
    pub bridge: String,
    host_link: String,
    client_link: String,
    /// The container's address on the bridge.
    pub container_ip: Ipv4Addr,
    /// The bridge's address (the container's gateway).
    pub gateway: Ipv4Addr,
    /// The host's address on the client link ("another interface").
    pub host_ip: Ipv4Addr,
    /// The client namespace's address.
    pub client_ip: Ipv4Addr,
}

pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True when this process is not in the machine's own network namespace,
/// so the kernel state the tests change is the harness's, not the host's.
/// The initial namespace has a fixed inode number (the kernel's
/// `PROC_NET_INIT_INO`); /proc/1 may not be readable to compare with.
pub fn in_private_netns() -> bool {
    const PROC_NET_INIT_INO: u64 = 0xEFFF_FFF9;
    std::fs::metadata("/proc/self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m) != PROC_NET_INIT_INO)
        .unwrap_or(false)
}

impl Lab {
    /// `n` keeps parallel labs apart (names and subnets 10.23n.x.0/24).
    pub fn new(n: u8) -> Lab {
        assert!(
            in_private_netns(),
            "refusing to change the host's network namespace"
        );
        let tag = format!("{}{n}", std::process::id() % 100000);
        let lab = Lab {
            container_ns: format!("wharf-ptc{tag}"),
            client_ns: format!("wharf-ptk{tag}"),
            bridge: format!("wh-ptb{tag}"),
            host_link: format!("wh-pth{tag}"),
            client_link: format!("wh-ptk{tag}"),
            container_ip: Ipv4Addr::new(10, 231, n, 2),
            gateway: Ipv4Addr::new(10, 231, n, 1),
            host_ip: Ipv4Addr::new(10, 232, n, 1),
            client_ip: Ipv4Addr::new(10, 232, n, 2),
        };
        // Set up piecewise; Drop removes whatever exists if a step fails.
        ip(&["netns", "add", &lab.container_ns]);
        ip(&["netns", "add", &lab.client_ns]);
        ip(&["link", "add", &lab.bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", lab.gateway),
            "dev",
            &lab.bridge,
        ]);
        ip(&["link", "set", &lab.bridge, "up"]);
        ip(&[
            "link",
            "add",
            &lab.host_link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lab.container_ns,
        ]);
        ip(&["link", "set", &lab.host_link, "master", &lab.bridge, "up"]);
        let c = |args: &[&str]| {
            let mut all = vec!["-n", lab.container_ns.as_str()];
            all.extend_from_slice(args);
            ip(&all);
        };
        c(&["link", "set", "lo", "up"]);
        c(&[
            "addr",
            "add",
            &format!("{}/24", lab.container_ip),
            "dev",
            "eth0",
        ]);
        c(&["link", "set", "eth0", "up"]);
        c(&["route", "add", "default", "via", &lab.gateway.to_string()]);
        ip(&[
            "link",
            "add",
            &lab.client_link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lab.client_ns,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/24", lab.host_ip),
            "dev",
            &lab.client_link,
        ]);
        ip(&["link", "set", &lab.client_link, "up"]);
        let k = |args: &[&str]| {
            let mut all = vec!["-n", lab.client_ns.as_str()];
            all.extend_from_slice(args);
            ip(&all);
        };
        k(&["link", "set", "lo", "up"]);
        k(&[
            "addr",
            "add",
            &format!("{}/24", lab.client_ip),
            "dev",
            "eth0",
        ]);
        k(&["link", "set", "eth0", "up"]);
        k(&["route", "add", "default", "via", &lab.host_ip.to_string()]);
        // DNAT from the client namespace is forwarded (the network layer
        // sets this for non-internal networks); this is the harness's
        // namespace, not the host's.
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").expect("ip_forward");
        lab
    }

    /// Runs `f` on a new thread inside namespace `ns` (network namespaces
    /// are per thread).
    pub fn spawn_in<T: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let file = File::open(format!("/run/netns/{ns}")).expect("netns file");
        std::thread::spawn(move || {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it, and with them
        // their peers on this side.
        for ns in [&self.container_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        for link in [&self.host_link, &self.client_link, &self.bridge] {
            let _ = Command::new("ip")
                .args(["link", "del", link])
                .stderr(std::process::Stdio::null())
                .output();
        }
    }
}

/// TCP and UDP servers inside the container namespace. TCP: the first
/// line picks the exchange — `sink` (count bytes to EOF, answer the count),
/// `echo` (echo bytes to EOF), anything else (answer `pong <line> <peer>`).
/// UDP: each datagram is answered with `pong <datagram> <peer>`. Stopped on
/// drop, before the namespace goes.
pub struct Servers {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    tcp_fd: std::os::fd::RawFd,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Servers {
    pub fn start(ns: &str, tcp_port: u16, udp_port: u16) -> Servers {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::net::{TcpListener, UdpSocket};
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{mpsc, Arc};
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let tcp = Lab::spawn_in(ns, move || {
            let l = TcpListener::bind(("0.0.0.0", tcp_port)).expect("tcp server bind");
            tx.send(std::os::fd::AsRawFd::as_raw_fd(&l))
                .expect("send fd");
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { return };
                std::thread::spawn(move || {
                    let peer = conn
                        .peer_addr()
                        .map(|a| a.ip().to_string())
                        .unwrap_or_default();
                    let mut r = BufReader::new(conn.try_clone().expect("clone"));
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        return;
                    }
                    match line.trim() {
                        "sink" => {
                            let mut n = r.buffer().len() as u64;
                            r.consume(r.buffer().len());
                            let mut buf = vec![0u8; 1 << 20];
                            loop {
                                match conn.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(k) => n += k as u64,
                                }
                            }
                            let _ = writeln!(conn, "{n}");
                        }
                        "echo" => {
                            let _ = conn.set_nodelay(true);
                            let mut buf = [0u8; 4096];
                            loop {
                                match r.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(k) => {
                                        if conn.write_all(&buf[..k]).is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        other => {
                            let _ = writeln!(conn, "pong {other} {peer}");
                        }
                    }
                });
            }
        });
        let tcp_fd = rx.recv().expect("tcp server started");
        let stop2 = stop.clone();
        let (tx, rx) = mpsc::channel();
        let udp = Lab::spawn_in(ns, move || {
            let s = UdpSocket::bind(("0.0.0.0", udp_port)).expect("udp server bind");
            s.set_read_timeout(Some(std::time::Duration::from_millis(100)))
                .expect("timeout");
            tx.send(()).expect("send");
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::SeqCst) {
                if let Ok((n, peer)) = s.recv_from(&mut buf) {
                    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let _ = s.send_to(format!("pong {msg} {}", peer.ip()).as_bytes(), peer);
                }
            }
        });
        rx.recv().expect("udp server started");
        Servers {
            stop,
            tcp_fd,
            threads: vec![tcp, udp],
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // SAFETY: the listener lives until its thread, joined below, ends;
        // shutdown wakes the blocked accept.
        unsafe { libc::shutdown(self.tcp_fd, libc::SHUT_RDWR) };
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
