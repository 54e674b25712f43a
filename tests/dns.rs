//! The embedded resolver as a container sees it: a network namespace made
//! by the test stands in for the container's, the resolver listens on
//! 127.0.0.11:53 inside it, and queries are made from inside it (a Rust
//! client on a thread that joined the namespace, and busybox nslookup).
//! The upstream is a second resolver of ours on 127.0.0.1 in the test's
//! own namespace — unreachable from the container's namespace, so an
//! answer from it proves queries are forwarded from the host side.
//!
//! Needs root: run through `scripts/with-registry` (private network and
//! mount namespace). Without it the tests say SKIPPED.

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;
use wharf::net::dns::{Resolver, ResolverConfig, ResolverHandle, DEFAULT_LISTEN};
use wharf::net::{endpoints_dir, EndpointRecord};

/// The tests count this process's resolver threads: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn harness() -> bool {
    match std::env::var("WHARF_TEST_REGISTRY") {
        Ok(r) if !r.is_empty() => true,
        _ => {
            eprintln!(
                "SKIPPED: WHARF_TEST_REGISTRY is not set (run through scripts/with-registry)"
            );
            false
        }
    }
}

/// A network namespace pinned by a bind mount on a temp file, with `lo`
/// up, like a container's. Dropping it unmounts the file (the namespace
/// dies with its last user) and removes the directory.
struct Netns {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Netns {
    fn new() -> Netns {
        let dir = tempfile::Builder::new()
            .prefix("wharf-dnstest-")
            .tempdir()
            .expect("tempdir");
        let file = dir.path().join("net");
        File::create(&file).expect("netns file");
        let target = file.clone();
        std::thread::spawn(move || {
            unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .expect("bind-mount the netns");
        })
        .join()
        .expect("netns thread");
        let ns = Netns { _dir: dir, file };
        let out = Command::new("nsenter")
            .arg(format!("--net={}", ns.file.display()))
            .args(["ip", "link", "set", "lo", "up"])
            .output()
            .expect("nsenter ip");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ns
    }

    /// Runs `f` on a thread inside the namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let ns = File::open(&self.file).expect("open netns");
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .expect("thread in netns")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = umount2(&self.file, MntFlags::MNT_DETACH) {
            eprintln!("umount {}: {e}", self.file.display());
        }
    }
}

fn rec(net: &str, container: &str, names: &[&str], ip: &str) -> EndpointRecord {
    EndpointRecord {
        container_id: format!("id-{container}"),
        container_name: container.into(),
        network_id: format!("id-{net}"),
        network_name: net.into(),
        names: names.iter().map(|s| s.to_string()).collect(),
        ipv4: Some(ip.parse().expect("ip")),
        ipv6: None,
        mac: String::new(),
        ifname: "eth0".into(),
    }
}

/// Writes a record as netcore does: temp file, then rename.
fn write(root: &Path, r: &EndpointRecord) {
    let dir = endpoints_dir(root, &r.network_id);
    fs::create_dir_all(&dir).expect("endpoints dir");
    let tmp = dir.join(format!(".{}.tmp", r.container_id));
    fs::write(&tmp, serde_json::to_vec(r).expect("json")).expect("write record");
    fs::rename(&tmp, dir.join(format!("{}.json", r.container_id))).expect("rename record");
}

fn remove(root: &Path, r: &EndpointRecord) {
    fs::remove_file(endpoints_dir(root, &r.network_id).join(format!("{}.json", r.container_id)))
        .expect("remove record");
}

fn query(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
    m.to_vec().expect("encode")
}

/// One query from inside `ns`, over UDP or TCP.
fn ask(ns: &Netns, server: SocketAddr, name: &str, tcp: bool) -> Message {
    let q = query(name, RecordType::A);
    let raw = ns.run(move || {
        if tcp {
            let mut s = TcpStream::connect(server).expect("tcp connect");
            s.set_read_timeout(Some(Duration::from_secs(15)))
                .expect("timeout");
            let mut out = (q.len() as u16).to_be_bytes().to_vec();
            out.extend_from_slice(&q);
            s.write_all(&out).expect("tcp send");
            let mut len = [0u8; 2];
            s.read_exact(&mut len).expect("tcp length");
            let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut msg).expect("tcp answer");
            msg
        } else {
            let s = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
            s.set_read_timeout(Some(Duration::from_secs(15)))
                .expect("timeout");
            s.send_to(&q, server).expect("udp send");
            let mut buf = [0u8; 4096];
            let (n, _) = s.recv_from(&mut buf).expect("udp answer");
            buf[..n].to_vec()
        }
    });
    Message::from_vec(&raw).expect("decode answer")
}

fn addrs(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// After a handle is dropped its threads are joined; the kernel may take a
/// moment more to drop them from /proc.
fn assert_no_dns_threads() {
    for _ in 0..50 {
        if dns_threads() == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(dns_threads(), 0, "resolver threads left behind");
}

fn dns_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .expect("tasks")
        .filter_map(|t| t.ok())
        .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
        .filter(|c| c.starts_with("wharf-dns"))
        .count()
}

/// A root where the container is on `proj_front` (web ×3, db) and
/// `proj_back` (cache), and `other_app` (secret) is someone else's.
fn project_root() -> tempfile::TempDir {
    let root = tempfile::Builder::new()
        .prefix("wharf-dnstest-root-")
        .tempdir()
        .expect("tempdir");
    let r = root.path();
    for (i, ip) in ["10.88.0.2", "10.88.0.3", "10.88.0.4"].iter().enumerate() {
        let name = format!("proj-web-{}", i + 1);
        write(r, &rec("proj_front", &name, &["web", &name], ip));
    }
    write(
        r,
        &rec("proj_front", "proj-db-1", &["db", "proj-db-1"], "10.88.0.9"),
    );
    write(
        r,
        &rec("proj_back", "proj-cache-1", &["cache"], "10.89.0.2"),
    );
    write(
        r,
        &rec("other_app", "other-secret-1", &["secret"], "10.90.0.2"),
    );
    root
}

fn container_resolver(ns: &Netns, root: &Path, upstream: Option<SocketAddr>) -> ResolverHandle {
    let mut cfg = ResolverConfig::new(root, vec!["id-proj_front".into(), "id-proj_back".into()]);
    cfg.netns = Some(ns.file.clone());
    cfg.upstreams = upstream.into_iter().collect();
    Resolver::spawn(cfg).expect("spawn resolver in the netns")
}

#[test]
fn a_container_resolves_services_replicas_and_forwards_the_rest() {
    if !harness() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = project_root();
    let ns = Netns::new();

    // The upstream: our own resolver on 127.0.0.1 in the test's namespace,
    // serving a record of another root.
    let world = tempfile::tempdir().expect("tempdir");
    write(
        world.path(),
        &rec("world", "far-away", &["far.example"], "192.0.2.7"),
    );
    let mut up_cfg = ResolverConfig::new(world.path(), vec!["id-world".into()]);
    up_cfg.listen = "127.0.0.1:0".parse().expect("addr");
    let upstream = Resolver::spawn(up_cfg).expect("upstream resolver");

    let res = container_resolver(&ns, root.path(), Some(upstream.local_addr()));
    assert_eq!(res.local_addr(), DEFAULT_LISTEN);
    let server = DEFAULT_LISTEN;

    // Every replica of the service.
    let m = ask(&ns, server, "web", false);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert_eq!(addrs(&m), ["10.88.0.2", "10.88.0.3", "10.88.0.4"]);
    assert!(m.answers.iter().all(|a| a.ttl == 600));
    assert_eq!(addrs(&ask(&ns, server, "cache.", false)), ["10.89.0.2"]);

    // Over TCP too.
    let m = ask(&ns, server, "web.", true);
    assert_eq!(addrs(&m), ["10.88.0.2", "10.88.0.3", "10.88.0.4"]);

    // Replica 2 is recreated with a new address: answered at once.
    let old = rec(
        "proj_front",
        "proj-web-2",
        &["web", "proj-web-2"],
        "10.88.0.3",
    );
    remove(root.path(), &old);
    let mut new = rec(
        "proj_front",
        "proj-web-2",
        &["web", "proj-web-2"],
        "10.88.0.33",
    );
    new.container_id = "id-proj-web-2-new".into();
    write(root.path(), &new);
    assert_eq!(
        addrs(&ask(&ns, server, "web", false)),
        ["10.88.0.2", "10.88.0.33", "10.88.0.4"]
    );
    assert_eq!(
        addrs(&ask(&ns, server, "proj-web-2", false)),
        ["10.88.0.33"]
    );

    // Not ours: forwarded (from the host side) to the upstream.
    for tcp in [false, true] {
        let m = ask(&ns, server, "far.example", tcp);
        assert_eq!(m.response_code, ResponseCode::NoError);
        assert_eq!(addrs(&m), ["192.0.2.7"]);
    }

    // Another application's name, on a network this container is not on.
    let m = ask(&ns, server, "secret", false);
    assert_eq!(m.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());

    // What a user inside the container would run.
    if Path::new("/bin/busybox").exists() {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", ns.file.display()))
            .args(["/bin/busybox", "nslookup", "-type=a", "web", "127.0.0.11"])
            .output()
            .expect("nsenter busybox");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for ip in ["10.88.0.2", "10.88.0.33", "10.88.0.4"] {
            assert!(text.contains(ip), "{ip} missing from:\n{text}");
        }
    }

    // The sockets are in the container's namespace, not the test's.
    let probe = UdpSocket::bind("127.0.0.1:0").expect("bind");
    probe
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    probe.connect(DEFAULT_LISTEN).expect("connect");
    probe.send(&query("web", RecordType::A)).expect("send");
    let mut buf = [0u8; 512];
    assert!(
        probe.recv(&mut buf).is_err(),
        "something answers on 127.0.0.11:53 outside the container's namespace"
    );

    drop(res);
    drop(upstream);
    assert_no_dns_threads();
}

#[test]
fn dropping_the_resolver_frees_its_socket_and_threads() {
    if !harness() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = project_root();
    let ns = Netns::new();
    let first = container_resolver(&ns, root.path(), None);
    assert_eq!(addrs(&ask(&ns, DEFAULT_LISTEN, "db", true)), ["10.88.0.9"]);
    assert!(dns_threads() >= 1);
    // While it runs the address is taken in that namespace.
    let mut cfg = ResolverConfig::new(root.path(), vec!["id-proj_front".into()]);
    cfg.netns = Some(ns.file.clone());
    assert!(Resolver::spawn(cfg).is_err());
    drop(first);
    assert_no_dns_threads();

    let second = container_resolver(&ns, root.path(), None);
    assert_eq!(addrs(&ask(&ns, DEFAULT_LISTEN, "db", false)), ["10.88.0.9"]);
    // No upstream: unknown names are NXDOMAIN, not a hang or SERVFAIL.
    let m = ask(&ns, DEFAULT_LISTEN, "example.com", false);
    assert_eq!(m.response_code, ResponseCode::NXDomain);
    drop(second);
    assert_no_dns_threads();
}
