//! User networks as a user sees them: containers on one network reach each
//! other, `--internal` has no way out, networks are isolated from each
//! other, static addresses, `network rm` refuses while in use, and after
//! everything is removed `ip link`, `nft list ruleset`, the netns files and
//! the IPAM state are what they were.
//!
//! Needs root and the loopback registry: run through `scripts/with-registry`
//! (private network and mount namespace — every bridge, veth and nftables
//! table lives there). Without it the tests say SKIPPED.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The tests compare the namespace's links and ruleset before and after,
/// so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[path = "support/harness.rs"]
mod harness;
use harness::{registry, Run};

/// What the namespace looks like from outside: link names, the nftables
/// ruleset.
#[derive(Debug, PartialEq)]
struct Snapshot {
    links: Vec<String>,
    nft: String,
}

fn snapshot() -> Snapshot {
    let links = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link", "show"])
            .output()
            .expect("ip link")
            .stdout,
    )
    .lines()
    .filter_map(|l| l.split(": ").nth(1).map(|n| n.to_string()))
    .collect();
    let nft = String::from_utf8_lossy(
        &Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .expect("nft")
            .stdout,
    )
    .into_owned();
    Snapshot { links, nft }
}

/// One data root with busybox pulled. Dropping it removes every container
/// and network, then checks the namespace is back to where it started.
struct Rig {
    root: tempfile::TempDir,
    image: String,
    before: Snapshot,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Rig {
    fn new() -> Option<Rig> {
        let registry = registry()?;
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let root = tempfile::Builder::new()
            .prefix("wharf-net-")
            .tempdir()
            .expect("tempdir");
        let rig = Rig {
            root,
            image: format!("{registry}/wharf-fixtures/busybox:latest"),
            before: snapshot(),
            _serial: serial,
        };
        rig.wharf(&["pull", "-q", &rig.image]).ok();
        Some(rig)
    }

    fn root(&self) -> &Path {
        self.root.path()
    }

    fn wharf(&self, args: &[&str]) -> Run {
        Run::from(
            Command::new(env!("CARGO_BIN_EXE_wharf"))
                .arg("--root")
                .arg(self.root())
                .args(args)
                .env("HOME", self.root())
                .output()
                .expect("run wharf"),
        )
    }

    /// `wharf run --rm FLAGS busybox sh -c SCRIPT`
    fn sh(&self, flags: &[&str], script: &str) -> Run {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&self.image, "sh", "-c", script]);
        self.wharf(&args)
    }

    /// A detached container running `script`.
    fn daemon(&self, name: &str, flags: &[&str], script: &str) {
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&[&self.image, "sh", "-c", script]);
        self.wharf(&args).ok();
    }

    fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.wharf(&["inspect", name]).ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("inspect json");
        v[0].clone()
    }

    fn ip_of(&self, name: &str, network: &str) -> String {
        self.inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"]
            .as_str()
            .expect("IPAddress")
            .to_string()
    }

    fn netns_files(&self) -> Vec<PathBuf> {
        walk(&self.root().join("run/netns"))
    }

    /// Every network's ipam.json, as text.
    fn ipam_files(&self) -> Vec<(PathBuf, String)> {
        walk(&self.root().join("networks"))
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "ipam.json"))
            .map(|p| {
                let text = std::fs::read_to_string(&p).expect("ipam");
                (p, text)
            })
            .collect()
    }

    fn endpoint_files(&self) -> Vec<PathBuf> {
        walk(&self.root().join("networks"))
            .into_iter()
            .filter(|p| p.parent().is_some_and(|d| d.ends_with("endpoints")))
            .collect()
    }

    fn remove_all(&self) {
        let ids = self.wharf(&["ps", "-aq", "--no-trunc"]).stdout;
        for id in ids.lines().filter(|l| !l.is_empty()) {
            self.wharf(&["rm", "-f", id]);
        }
        harness::remove_networks(self.root());
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.remove_all();
        if std::thread::panicking() {
            return;
        }
        assert_eq!(
            self.netns_files(),
            Vec::<PathBuf>::new(),
            "netns files left"
        );
        assert_eq!(
            snapshot(),
            self.before,
            "links or nftables rules left behind"
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A server that answers every TCP connection on 7000 with "pong".
const SERVER: &str = "while true; do echo pong | nc -l -p 7000; done";

#[test]
fn containers_on_one_network_talk_by_ip() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&["network", "create", "--subnet", "10.231.0.0/24", "front"])
        .ok();
    let ipam_before = rig.ipam_files();
    rig.daemon("srv", &["--network", "front"], SERVER);
    let ip = rig.ip_of("srv", "front");
    assert_eq!(ip, "10.231.0.2", "the first address after the gateway");
    let settings = &rig.inspect("srv")["NetworkSettings"]["Networks"]["front"];
    assert_eq!(settings["Gateway"], "10.231.0.1");
    assert_eq!(settings["MacAddress"], "02:42:0a:e7:00:02");
    assert_eq!(settings["IPPrefixLen"], 24);
    let out = rig
        .sh(
            &["--network", "front"],
            &format!("ping -c1 -W3 {ip} >/dev/null && nc -w3 {ip} 7000; ip -o -4 addr show eth0; ip route; cat /etc/resolv.conf"),
        )
        .ok();
    assert!(out.stdout.starts_with("pong\n"), "{}", out.stdout);
    assert!(out.stdout.contains("inet 10.231.0.3/24"), "{}", out.stdout);
    assert!(
        out.stdout.contains("default via 10.231.0.1 dev eth0"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("nameserver 127.0.0.11"),
        "{}",
        out.stdout
    );
    // The server's /etc/hosts names its own address.
    let hosts = rig.wharf(&["exec", "srv", "cat", "/etc/hosts"]).ok().stdout;
    assert!(hosts.contains(&format!("{ip}\t")), "{hosts}");
    // The --rm client is gone: its address is free again and its veth
    // and namespace file are gone with it.
    assert_eq!(rig.endpoint_files().len(), 1, "only srv's endpoint is left");
    rig.wharf(&["rm", "-f", "srv"]).ok();
    assert_eq!(rig.ipam_files(), ipam_before, "addresses freed");
    assert!(rig.endpoint_files().is_empty());
}

#[test]
fn internal_network_has_no_route_out() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&["network", "create", "--subnet", "10.232.0.0/24", "out"])
        .ok();
    rig.wharf(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.233.0.0/24",
        "int",
    ])
    .ok();
    // On a normal network, the host's other addresses are reachable
    // through the default route.
    rig.sh(&["--network", "out"], "ping -c1 -W3 10.233.0.1")
        .ok();
    let out = rig.sh(
        &["--network", "int"],
        "ip route; ping -c1 -W2 10.232.0.1 && echo REACHED",
    );
    assert!(!out.stdout.contains("default"), "{}", out.stdout);
    assert!(!out.stdout.contains("REACHED"), "{}", out.stdout);
    assert_ne!(out.code, 0);
    let inspect = rig.wharf(&["network", "inspect", "int"]).ok();
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    assert_eq!(v[0]["Internal"], true);
}

/// Ports published by a container that is only on an internal network
/// lead nowhere: no proxy listens, no rule forwards (Docker ignores them).
#[test]
fn an_internal_only_container_publishes_no_port() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.240.0.0/24",
        "sealed",
    ])
    .ok();
    rig.daemon(
        "closed",
        &["--network", "sealed", "-p", "127.0.0.1:18084:7000"],
        SERVER,
    );
    // The server is up inside (a connection from the network itself).
    let inside = rig
        .sh(
            &["--network", "sealed"],
            "nc -w3 10.240.0.2 7000 </dev/null",
        )
        .ok();
    assert_eq!(inside.stdout, "pong\n");
    let reached = std::net::TcpStream::connect("127.0.0.1:18084").and_then(|mut c| {
        use std::io::Read;
        c.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
        let mut got = String::new();
        c.read_to_string(&mut got).map(|_| got)
    });
    assert!(
        !matches!(&reached, Ok(got) if got.contains("pong")),
        "a port of an internal-only container answered: {reached:?}"
    );
    let port = rig.wharf(&["port", "closed"]).ok();
    assert!(port.stdout.trim().is_empty(), "{}", port.stdout);
    rig.wharf(&["rm", "-f", "closed"]).ok();
    rig.wharf(&["network", "rm", "sealed"]).ok();
}

#[test]
fn networks_are_isolated_from_each_other() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&["network", "create", "--subnet", "10.234.0.0/24", "a"])
        .ok();
    rig.wharf(&["network", "create", "--subnet", "10.235.0.0/24", "b"])
        .ok();
    rig.daemon("srv", &["--network", "a"], SERVER);
    let ip = rig.ip_of("srv", "a");
    // From its own network it answers ...
    let same = rig
        .sh(&["--network", "a"], &format!("nc -w3 {ip} 7000"))
        .ok();
    assert_eq!(same.stdout, "pong\n");
    // ... from network b nothing gets through, though b has a route to it.
    let other = rig.sh(
        &["--network", "b"],
        &format!("ip route; ping -c1 -W2 {ip} && echo REACHED; nc -w2 {ip} 7000"),
    );
    assert!(
        other.stdout.contains("default via 10.235.0.1"),
        "{}",
        other.stdout
    );
    assert!(!other.stdout.contains("REACHED"), "{}", other.stdout);
    assert!(!other.stdout.contains("pong"), "{}", other.stdout);
}

#[test]
fn static_ip_mac_alias_mtu_and_rm_in_use() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&[
        "network",
        "create",
        "--subnet",
        "10.236.0.0/24",
        "--label",
        "team=blue",
        "-o",
        "com.docker.network.driver.mtu=1400",
        "-o",
        "com.docker.network.bridge.name=wharftest0",
        "n",
    ])
    .ok();
    let ipam_before = rig.ipam_files();
    rig.daemon(
        "s",
        &[
            "--network",
            "n",
            "--ip",
            "10.236.0.50",
            "--mac-address",
            "02:42:aa:bb:cc:dd",
            "--network-alias",
            "web",
        ],
        "exec sleep 300",
    );
    let out = rig
        .wharf(&[
            "exec",
            "s",
            "sh",
            "-c",
            "ip -o addr show eth0; cat /sys/class/net/eth0/address /sys/class/net/eth0/mtu",
        ])
        .ok();
    assert!(out.stdout.contains("inet 10.236.0.50/24"), "{}", out.stdout);
    assert!(
        out.stdout.contains("02:42:aa:bb:cc:dd\n1400\n"),
        "{}",
        out.stdout
    );
    let host = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["-o", "link", "show", "wharftest0"])
            .output()
            .expect("ip")
            .stdout,
    )
    .into_owned();
    assert!(host.contains("mtu 1400"), "bridge: {host}");
    let settings = &rig.inspect("s")["NetworkSettings"]["Networks"]["n"];
    assert_eq!(settings["IPAddress"], "10.236.0.50");
    assert_eq!(settings["Aliases"], serde_json::json!(["web"]));
    assert!(
        settings["DNSNames"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == "web") && a.iter().any(|n| n == "s")),
        "{settings}"
    );
    // The same static address for another container fails, cleanly.
    let taken = rig.wharf(&[
        "run",
        "--rm",
        "--network",
        "n",
        "--ip",
        "10.236.0.50",
        &rig.image,
        "true",
    ]);
    assert_ne!(taken.code, 0);
    assert!(taken.stderr.contains("already in use"), "{}", taken.stderr);
    assert_eq!(rig.netns_files().len(), 1, "only s has a namespace");
    // network inspect lists the container; rm refuses while it runs.
    let inspect = rig.wharf(&["network", "inspect", "n"]).ok();
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    assert_eq!(v[0]["Labels"]["team"], "blue");
    assert_eq!(v[0]["IPAM"]["Config"][0]["Subnet"], "10.236.0.0/24");
    let members = v[0]["Containers"].as_object().expect("containers");
    assert_eq!(members.len(), 1);
    assert!(members
        .values()
        .any(|c| c["IPv4Address"] == "10.236.0.50/24" && c["Name"] == "s"));
    let rm = rig.wharf(&["network", "rm", "n"]);
    assert_eq!(rm.code, 1);
    assert!(rm.stderr.contains("has active endpoints"), "{}", rm.stderr);
    rig.wharf(&["rm", "-f", "s"]).ok();
    assert_eq!(rig.ipam_files(), ipam_before);
    rig.wharf(&["network", "rm", "n"]).ok();
    let ls = rig.wharf(&["network", "ls", "--format", "json"]).ok();
    assert_eq!(ls.stdout, "");
}

#[test]
fn subnets_come_from_the_pool_and_prune_removes_unused() {
    let Some(rig) = Rig::new() else { return };
    let a = rig.wharf(&["network", "create", "p1"]).ok().stdout;
    rig.wharf(&["network", "create", "p2"]).ok();
    assert_eq!(a.trim().len(), 64, "{a}");
    let inspect = rig.wharf(&["network", "inspect", "p1", "p2"]).ok();
    let v: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    let s1 = v[0]["IPAM"]["Config"][0]["Subnet"].as_str().expect("s1");
    let s2 = v[1]["IPAM"]["Config"][0]["Subnet"].as_str().expect("s2");
    assert_ne!(s1, s2);
    assert!(
        s1.starts_with("172.") && s2.starts_with("172."),
        "{s1} {s2}"
    );
    let ls = rig.wharf(&["network", "ls"]).ok().stdout;
    assert!(ls.starts_with("NETWORK ID"), "{ls}");
    assert!(ls.contains(" p1 ") || ls.contains("p1"), "{ls}");
    let pruned = rig.wharf(&["network", "prune", "-f"]).ok().stdout;
    assert!(pruned.contains("p1") && pruned.contains("p2"), "{pruned}");
    assert_eq!(rig.wharf(&["network", "ls", "-q"]).ok().stdout, "");
}

/// The container's monitor is killed (a crash): `wharf rm -f` still takes
/// the container off its network — address, veth, endpoint, namespace.
#[test]
fn rm_of_a_crashed_container_detaches_it() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&["network", "create", "--subnet", "10.237.0.0/24", "c"])
        .ok();
    let ipam_before = rig.ipam_files();
    rig.daemon("victim", &["--network", "c"], "exec sleep 300");
    let id = rig.inspect("victim")["Id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(rig.netns_files().len(), 1);
    let monitor = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()))
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let c = String::from_utf8_lossy(&c);
                    c.contains("container-monitor") && c.contains(&id)
                })
                .unwrap_or(false)
        })
        .expect("the monitor process");
    Command::new("kill")
        .args(["-9", &monitor.to_string()])
        .status()
        .expect("kill");
    // Wait until it is gone (a zombie of ours counts as gone).
    for _ in 0..100 {
        let stat = std::fs::read_to_string(format!("/proc/{monitor}/stat")).unwrap_or_default();
        if stat.is_empty() || stat.contains(") Z") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        rig.endpoint_files().len(),
        1,
        "still attached after the crash"
    );
    rig.wharf(&["rm", "-f", "victim"]).ok();
    assert!(rig.endpoint_files().is_empty());
    assert!(rig.netns_files().is_empty());
    assert_eq!(rig.ipam_files(), ipam_before);
}

/// `network connect` gives a running container a second interface on
/// another network, `disconnect` takes it away again.
#[test]
fn connect_and_disconnect_a_running_container() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&["network", "create", "--subnet", "10.238.0.0/24", "a"])
        .ok();
    rig.wharf(&["network", "create", "--subnet", "10.239.0.0/24", "b"])
        .ok();
    rig.daemon("srv", &["--network", "a"], SERVER);
    let ip = rig.ip_of("srv", "a");
    rig.daemon("cl", &["--network", "b"], "exec sleep 300");
    let probe = format!("nc -w2 {ip} 7000");
    let before = rig.wharf(&["exec", "cl", "sh", "-c", &probe]);
    assert!(
        !before.stdout.contains("pong"),
        "isolated: {}",
        before.stdout
    );
    rig.wharf(&["network", "connect", "--alias", "client", "a", "cl"])
        .ok();
    let joined = rig
        .wharf(&[
            "exec",
            "cl",
            "sh",
            "-c",
            &format!("{probe}; ip -o -4 addr show eth1"),
        ])
        .ok();
    assert!(joined.stdout.starts_with("pong\n"), "{}", joined.stdout);
    assert!(
        joined.stdout.contains("inet 10.238.0.3/24"),
        "{}",
        joined.stdout
    );
    let nets = &rig.inspect("cl")["NetworkSettings"]["Networks"];
    assert_eq!(nets["a"]["IPAddress"], "10.238.0.3");
    assert_eq!(nets["a"]["Aliases"], serde_json::json!(["client"]));
    assert_eq!(nets["b"]["IPAddress"], "10.239.0.2");
    let again = rig.wharf(&["network", "connect", "a", "cl"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    rig.wharf(&["network", "disconnect", "a", "cl"]).ok();
    let left = rig.wharf(&["exec", "cl", "sh", "-c", &format!("{probe}; ip -o link")]);
    assert!(!left.stdout.contains("pong"), "{}", left.stdout);
    assert!(!left.stdout.contains("eth1"), "{}", left.stdout);
    assert_eq!(rig.endpoint_files().len(), 2, "srv on a, cl on b");
}

/// `--ipv6` with an IPv6 subnet: the container gets an address from it
/// (usable at once, no duplicate-address wait) and a default route.
#[test]
fn ipv6_network_gives_addresses_and_a_route() {
    let Some(rig) = Rig::new() else { return };
    rig.wharf(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "fd00:77::/64",
        "--subnet",
        "10.241.0.0/24",
        "v6",
    ])
    .ok();
    rig.daemon("srv", &["--network", "v6"], "exec sleep 300");
    let out = rig
        .sh(
            &["--network", "v6"],
            "ip -6 addr show eth0; ip -6 route; ping -6 -c1 -W3 fd00:77::2 >/dev/null && echo REACHED",
        )
        .ok();
    assert!(out.stdout.contains("inet6 fd00:77::3/64"), "{}", out.stdout);
    let global = out
        .stdout
        .lines()
        .find(|l| l.contains("fd00:77::3"))
        .unwrap_or_default();
    assert!(!global.contains("tentative"), "{}", out.stdout);
    assert!(
        out.stdout.contains("default via fd00:77::1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("REACHED"), "{}", out.stdout);
    let nets = &rig.inspect("srv")["NetworkSettings"]["Networks"]["v6"];
    assert_eq!(nets["GlobalIPv6Address"], "fd00:77::2");
    assert_eq!(nets["IPv6Gateway"], "fd00:77::1");
}

/// A namespace standing for "the outside world", linked to the harness's
/// namespace by a veth (10.250.0.1 here, 10.250.0.2 there). Removed on drop.
struct Outside {
    name: String,
    server: Option<std::process::Child>,
}

impl Outside {
    fn new() -> Outside {
        let name = format!("wharf-out{}", std::process::id());
        let ip = |args: &[&str]| {
            let ok = Command::new("ip")
                .args(args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?}");
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", "wh-out0", "type", "veth", "peer", "name", "wh-out1",
        ]);
        ip(&["link", "set", "wh-out1", "netns", &name]);
        ip(&["addr", "add", "10.250.0.1/24", "dev", "wh-out0"]);
        ip(&["link", "set", "wh-out0", "up"]);
        ip(&[
            "-n",
            &name,
            "addr",
            "add",
            "10.250.0.2/24",
            "dev",
            "wh-out1",
        ]);
        ip(&["-n", &name, "link", "set", "wh-out1", "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        Outside { name, server: None }
    }

    /// A TCP server at 10.250.0.2:7000 that answers each client with the
    /// address it sees the client come from.
    fn serve_peer_address(&mut self) {
        let code = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('10.250.0.2',7000))\ns.listen()\nwhile True:\n c,a=s.accept()\n c.sendall((a[0]+'\\n').encode())\n c.close()\n";
        self.server = Some(
            Command::new("ip")
                .args(["netns", "exec", &self.name, "python3", "-c", code])
                .spawn()
                .expect("server"),
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = Command::new("ip").args(["link", "del", "wh-out0"]).status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Egress: a container on a normal network reaches a namespace beyond the
/// host through masquerade (the far side sees the host's address, and
/// could not answer the container's own); an internal network cannot.
#[test]
fn egress_is_masqueraded_and_internal_has_none() {
    let Some(rig) = Rig::new() else { return };
    let mut out = Outside::new();
    out.serve_peer_address();
    rig.wharf(&["network", "create", "--subnet", "10.234.0.0/24", "egress"])
        .ok();
    rig.wharf(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.235.0.0/24",
        "sealed",
    ])
    .ok();
    let seen = rig
        .sh(
            &["--network", "egress"],
            "nc -w 3 10.250.0.2 7000 </dev/null",
        )
        .ok();
    assert_eq!(seen.stdout.trim(), "10.250.0.1", "source not masqueraded");
    let sealed = rig.sh(
        &["--network", "sealed"],
        "nc -w 2 10.250.0.2 7000 </dev/null",
    );
    assert!(!sealed.stdout.contains("10.250"), "{}", sealed.stdout);
    rig.wharf(&["network", "rm", "egress", "sealed"]).ok();
    drop(out);
}

/// A stand-in for a host where Docker runs: its own network namespace with
/// br_netfilter on and iptables as dockerd leaves it (FORWARD policy DROP,
/// an empty DOCKER-USER chain jumped to first), linked by a veth to a "far"
/// namespace (10.251.0.1 here, 10.251.0.2 there) that plays a client on
/// the LAN. wharf runs inside it through `nsenter --net`, so mounts stay
/// shared with the harness. Both namespaces are deleted on drop.
struct DockerHost {
    host: String,
    far: String,
    far_server: Option<std::process::Child>,
    /// A namespace beyond the host that is no container (`add_beyond`).
    beyond: Option<(String, std::process::Child)>,
    /// PATH for wharf, when it must not find some tools.
    path: Option<std::ffi::OsString>,
}

impl DockerHost {
    fn new(docker_user: bool) -> DockerHost {
        Self::with_firewall(Some(docker_user))
    }

    /// `firewall: None` is a plain host: no iptables rules, FORWARD policy
    /// accept, so only wharf's own rules stand between the LAN and the
    /// containers.
    fn with_firewall(firewall: Option<bool>) -> DockerHost {
        let pid = std::process::id();
        let host = format!("wharf-dh{pid}");
        let far = format!("wharf-far{pid}");
        let mut me = DockerHost {
            host: host.clone(),
            far: far.clone(),
            far_server: None,
            beyond: None,
            path: None,
        };
        let sh = |script: &str| {
            let out = Command::new("sh")
                .args(["-ec", script])
                .output()
                .expect("sh");
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh(&format!(
            "ip netns add {host}; ip netns add {far}
             ip -n {host} link set lo up; ip -n {far} link set lo up
             ip -n {host} link add wh-dh0 type veth peer name wh-dh1 netns {far}
             ip -n {host} addr add 10.251.0.1/24 dev wh-dh0; ip -n {host} link set wh-dh0 up
             ip -n {far} addr add 10.251.0.2/24 dev wh-dh1; ip -n {far} link set wh-dh1 up"
        ));
        if firewall.is_some() {
            sh(&format!(
                "ip netns exec {host} sh -c 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables'
                 ip netns exec {host} iptables -P FORWARD DROP"
            ));
        }
        if firewall == Some(true) {
            sh(&format!(
                "ip netns exec {host} iptables -N DOCKER-USER
                 ip netns exec {host} iptables -A DOCKER-USER -j RETURN
                 ip netns exec {host} iptables -I FORWARD -j DOCKER-USER"
            ));
        }
        // A server on the LAN that answers "far".
        let code = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('10.251.0.2',7000))\ns.listen()\nwhile True:\n c,a=s.accept()\n c.sendall(b'far\\n')\n c.close()\n";
        me.far_server = Some(
            Command::new("ip")
                .args(["netns", "exec", &far, "python3", "-c", code])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("far server"),
        );
        me
    }

    /// `wharf --root ROOT ARGS` in the host namespace.
    fn wharf(&self, rig: &Rig, args: &[&str]) -> Run {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.host))
            .arg(env!("CARGO_BIN_EXE_wharf"))
            .arg("--root")
            .arg(rig.root())
            .args(args)
            .env("HOME", rig.root());
        if let Some(path) = &self.path {
            cmd.env("PATH", path);
        }
        Run::from(cmd.output().expect("run wharf"))
    }

    /// `wharf run -d --name srv --network app -p HOST_PORT:7000 busybox
    /// sh -c SCRIPT` in the host namespace.
    fn run_server(&self, rig: &Rig, host_port: u16, script: &str) {
        let publish = format!("{host_port}:7000");
        self.wharf(
            rig,
            &[
                "run",
                "-d",
                "--name",
                "srv",
                "--network",
                "app",
                "-p",
                &publish,
                &rig.image,
                "sh",
                "-c",
                script,
            ],
        )
        .ok();
    }

    /// `wharf run --rm --network app busybox sh -c SCRIPT` in the host
    /// namespace, which must succeed.
    fn run_client(&self, rig: &Rig, script: &str) -> Run {
        self.wharf(
            rig,
            &[
                "run",
                "--rm",
                "--network",
                "app",
                &rig.image,
                "sh",
                "-c",
                script,
            ],
        )
        .ok()
    }

    /// Runs `script` in the host namespace (not through wharf).
    fn host(&self, script: &str) -> Run {
        Run::from(
            Command::new("ip")
                .args(["netns", "exec", &self.host, "sh", "-c", script])
                .output()
                .expect("host"),
        )
    }

    /// A namespace behind a second link of the host (10.252.0.1 here,
    /// 10.252.0.2 there, routed back through the host) with a server on
    /// 10.252.0.2:7000 that answers "beyond": somewhere the LAN could
    /// reach through the host if it routed for anyone.
    fn add_beyond(&mut self) {
        let ns = format!("wharf-by{}", std::process::id());
        let (host, far) = (&self.host, &self.far);
        let ok = Command::new("sh")
            .args([
                "-ec",
                &format!(
                    "ip netns add {ns}; ip -n {ns} link set lo up
                     ip -n {host} link add wh-by0 type veth peer name wh-by1 netns {ns}
                     ip -n {host} addr add 10.252.0.1/24 dev wh-by0; ip -n {host} link set wh-by0 up
                     ip -n {ns} addr add 10.252.0.2/24 dev wh-by1; ip -n {ns} link set wh-by1 up
                     ip -n {ns} route add default via 10.252.0.1
                     ip -n {far} route add 10.252.0.0/24 via 10.251.0.1"
                ),
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "making the beyond namespace");
        let code = "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('10.252.0.2',7000))\ns.listen()\nwhile True:\n c,a=s.accept()\n c.sendall(b'beyond\\n')\n c.close()\n";
        let server = Command::new("ip")
            .args(["netns", "exec", &ns, "python3", "-c", code])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("beyond server");
        self.beyond = Some((ns, server));
    }

    /// wharf will find no iptables or ip6tables: PATH is a directory of
    /// links to every other program of the harness's PATH.
    fn hide_iptables(&mut self, dir: &Path) {
        let path = std::env::var_os("PATH").unwrap_or_default();
        for d in std::env::split_paths(&path) {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let hidden = name
                    .to_str()
                    .is_some_and(|n| n.starts_with("iptables") || n.starts_with("ip6tables"));
                let link = dir.join(&name);
                if !hidden && !link.exists() {
                    std::os::unix::fs::symlink(e.path(), link).expect("link a tool");
                }
            }
        }
        self.path = Some(dir.as_os_str().to_owned());
    }

    /// `iptables -S` of the host namespace.
    fn iptables(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.host, "iptables", "-S"])
            .output()
            .expect("iptables");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `script` in the far namespace.
    fn far(&self, script: &str) -> Run {
        Run::from(
            Command::new("ip")
                .args(["netns", "exec", &self.far, "sh", "-c", script])
                .output()
                .expect("far"),
        )
    }

    /// What a TCP client on the LAN reads from `ip:port` (the host has no nc).
    fn far_read(&self, ip: &str, port: u16) -> String {
        let code = format!(
            "import socket,sys\ntry:\n c=socket.create_connection(('{ip}',{port}),timeout=3)\n c.settimeout(3)\n sys.stdout.write(c.recv(64).decode())\nexcept OSError as e:\n sys.stderr.write(str(e))\n"
        );
        Run::from(
            Command::new("ip")
                .args(["netns", "exec", &self.far, "python3", "-c", &code])
                .output()
                .expect("far client"),
        )
        .stdout
    }
}

impl Drop for DockerHost {
    fn drop(&mut self) {
        if let Some(mut s) = self.far_server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        if let Some((ns, mut s)) = self.beyond.take() {
            let _ = s.kill();
            let _ = s.wait();
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        for ns in [&self.host, &self.far] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// On a host where Docker set the FORWARD policy to DROP (br_netfilter on,
/// so even bridged frames meet it), containers still reach each other and
/// the outside, published ports still answer from the LAN, unpublished
/// ports stay shut from it, and wharf's rules go with its last network.
fn docker_firewall_lets_wharf_traffic_pass(docker_user: bool) {
    let Some(rig) = Rig::new() else { return };
    let dh = DockerHost::new(docker_user);
    dh.wharf(
        &rig,
        &["network", "create", "--subnet", "10.236.0.0/24", "app"],
    )
    .ok();
    dh.run_server(&rig, 18081, SERVER);
    let hook = if docker_user {
        "DOCKER-USER"
    } else {
        "FORWARD"
    };
    let rules = dh.iptables();
    assert!(
        rules.contains(&format!("-A {hook} -j WHARF-FORWARD")),
        "{rules}"
    );
    let client = dh.run_client(
        &rig,
        "nc -w3 10.236.0.2 7000; nc -w3 10.251.0.2 7000 </dev/null; nc -w3 10.251.0.1 18081",
    );
    assert_eq!(
        client.stdout, "pong\nfar\npong\n",
        "container to container, to the LAN, to the host's published port"
    );
    assert_eq!(
        dh.far_read("10.251.0.1", 18081),
        "pong\n",
        "published port from the LAN"
    );
    // The LAN has a route to the container only if it adds one; with it,
    // the host's DROP policy still keeps the unpublished port shut.
    dh.far("ip route add 10.236.0.0/24 via 10.251.0.1").ok();
    assert_eq!(
        dh.far_read("10.236.0.2", 7000),
        "",
        "an unpublished port reached from the LAN"
    );
    dh.wharf(&rig, &["rm", "-f", "srv"]).ok();
    dh.wharf(&rig, &["network", "rm", "app"]).ok();
    let rules = dh.iptables();
    assert!(!rules.contains("WHARF-FORWARD"), "{rules}");
    assert!(rules.contains("-P FORWARD DROP"), "{rules}");
    if docker_user {
        assert!(rules.contains("-A FORWARD -j DOCKER-USER"), "{rules}");
        assert!(rules.contains("-A DOCKER-USER -j RETURN"), "{rules}");
    }
}

/// `com.docker.network.bridge.name` naming an interface that is already
/// there: a bridge is used and survives the network's removal; anything
/// else is refused and left as it was.
#[test]
fn a_named_bridge_is_adopted_only_if_it_is_one_and_never_deleted() {
    let Some(rig) = Rig::new() else { return };
    let tag = std::process::id() % 100000;
    let (bridge, veth) = (format!("wh-keep{tag}"), format!("wh-veth{tag}"));
    harness_ip(&["link", "add", &bridge, "type", "bridge"]);
    // A veth end: an interface that is not a bridge (its peer goes with it).
    harness_ip(&[
        "link",
        "add",
        &veth,
        "type",
        "veth",
        "peer",
        "name",
        &format!("wh-peer{tag}"),
    ]);
    let exists = |name: &str| {
        Command::new("ip")
            .args(["link", "show", name])
            .output()
            .expect("ip")
            .status
            .success()
    };
    let opt = |name: &str| format!("com.docker.network.bridge.name={name}");
    rig.wharf(&[
        "network",
        "create",
        "--subnet",
        "10.238.0.0/24",
        "-o",
        &opt(&bridge),
        "adopted",
    ])
    .ok();
    let out = rig
        .sh(&["--network", "adopted"], "ip -o -4 addr show eth0")
        .ok();
    assert!(out.stdout.contains("10.238.0.2/24"), "{}", out.stdout);
    rig.wharf(&["network", "rm", "adopted"]).ok();
    assert!(exists(&bridge), "down deleted a bridge wharf did not make");
    let refused = rig.wharf(&[
        "network",
        "create",
        "--subnet",
        "10.239.0.0/24",
        "-o",
        &opt(&veth),
        "taken",
    ]);
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains(&format!("interface {veth} exists and is not a bridge")),
        "{}",
        refused.stderr
    );
    assert!(exists(&veth));
    let listed = rig.wharf(&["network", "ls"]).ok();
    assert!(!listed.stdout.contains("taken"), "{}", listed.stdout);
    let quoted = rig.wharf(&["network", "create", "-o", &opt("x\"; flush ruleset"), "q"]);
    assert_ne!(quoted.code, 0);
    assert!(
        quoted
            .stderr
            .contains("invalid com.docker.network.bridge.name"),
        "{}",
        quoted.stderr
    );
    for name in [&bridge, &veth] {
        harness_ip(&["link", "del", name]);
    }
}

fn harness_ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server whose port 7000 the tests publish and 7001 they do not.
const TWO_PORTS: &str = "(while true; do echo open | nc -l -p 7001; done) & while true; do echo pong | nc -l -p 7000; done";

/// The LAN, given a route to the `net`.0/24 of a container at `net`.2
/// running [`TWO_PORTS`] through the host, reaches its port published on
/// the host's `host_port` and not its unpublished 7001.
fn lan_reaches_only_published(dh: &DockerHost, net: &str, host_port: u16) {
    dh.far(&format!("ip route add {net}.0/24 via 10.251.0.1"))
        .ok();
    assert_eq!(
        dh.far_read("10.251.0.1", host_port),
        "pong\n",
        "published port from the LAN"
    );
    assert_eq!(
        dh.far_read(&format!("{net}.2"), 7001),
        "",
        "an unpublished port reached by routing to the container"
    );
}

/// A neighbour on the LAN that routes the containers' subnet through the
/// host reaches published ports only, even where no firewall drops
/// forwarded traffic: wharf's own rules keep the rest shut (moby 28).
#[test]
fn routed_neighbours_reach_only_published_ports() {
    let Some(rig) = Rig::new() else { return };
    let dh = DockerHost::with_firewall(None);
    // A host that forwarded before wharf: its FORWARD policy (accept) is
    // its owner's, and wharf's own table alone keeps the ports shut.
    dh.host("echo 1 > /proc/sys/net/ipv4/ip_forward").ok();
    dh.wharf(
        &rig,
        &["network", "create", "--subnet", "10.237.0.0/24", "app"],
    )
    .ok();
    dh.run_server(&rig, 18082, TWO_PORTS);
    lan_reaches_only_published(&dh, "10.237.0", 18082);
    // The container still reaches the LAN, and its replies come back.
    let client = dh.run_client(&rig, "nc -w3 10.251.0.2 7000 </dev/null");
    assert_eq!(client.stdout, "far\n");
    dh.wharf(&rig, &["rm", "-f", "srv"]).ok();
    dh.wharf(&rig, &["network", "rm", "app"]).ok();
    let rules = dh.iptables();
    assert!(rules.contains("-P FORWARD ACCEPT"), "{rules}");
}

/// On a host that did not forward, wharf turns forwarding on and, as
/// dockerd does, sets the FORWARD policy to DROP first: the host routes
/// nothing for the LAN but wharf's own traffic (published ports, replies,
/// containers' egress and traffic between them), and `down` leaves the
/// policy and forwarding as Docker leaves them. Where no iptables binary is
/// installed the same chains are made with nft under iptables-nft's names.
fn forwarding_wharf_turns_on_drops_what_is_not_wharfs(iptables: bool) {
    let Some(rig) = Rig::new() else { return };
    let tools = tempfile::tempdir().expect("tempdir");
    let mut dh = DockerHost::with_firewall(None);
    if !iptables {
        dh.hide_iptables(tools.path());
    }
    dh.add_beyond();
    let forwarding = || {
        dh.host("cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding")
            .ok()
            .stdout
    };
    // What a FORWARD chain says (the same chain whichever tool made it).
    let forward = |family: &str| {
        dh.host(&format!("nft list chain {family} filter FORWARD"))
            .stdout
    };
    let accept_ra = || {
        dh.host("cat /proc/sys/net/ipv6/conf/wh-dh0/accept_ra")
            .ok()
            .stdout
    };
    assert_eq!(forwarding(), "0\n0\n", "a fresh namespace forwards nothing");
    assert_eq!(accept_ra(), "1\n");
    dh.wharf(
        &rig,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:240::/64",
            "--subnet",
            "10.240.0.0/24",
            "app",
        ],
    )
    .ok();
    dh.run_server(&rig, 18083, TWO_PORTS);
    assert_eq!(forwarding(), "1\n1\n");
    // IPv6 forwarding would make the kernel ignore the host's router
    // advertisements on this link: wharf keeps them accepted.
    assert_eq!(accept_ra(), "2\n");
    for family in ["ip", "ip6"] {
        let chain = forward(family);
        assert!(chain.contains("policy drop;"), "{family}: {chain}");
        assert!(chain.contains("WHARF-FORWARD"), "{family}: {chain}");
    }
    if iptables {
        let rules = dh.iptables();
        assert!(rules.contains("-P FORWARD DROP"), "{rules}");
        assert!(rules.contains("-A FORWARD -j WHARF-FORWARD"), "{rules}");
    }
    lan_reaches_only_published(&dh, "10.240.0", 18083);
    assert_eq!(
        dh.far_read("10.252.0.2", 7000),
        "",
        "the host routed the LAN's traffic to a non-wharf address"
    );
    let client = dh.run_client(&rig, "nc -w3 10.240.0.2 7000; nc -w3 10.252.0.2 7000 </dev/null; nc -w3 10.251.0.2 7000 </dev/null");
    assert_eq!(
        client.stdout, "pong\nbeyond\nfar\n",
        "container to container, and out through the host both ways"
    );
    dh.wharf(&rig, &["rm", "-f", "srv"]).ok();
    dh.wharf(&rig, &["network", "rm", "app"]).ok();
    assert_eq!(forwarding(), "1\n1\n", "down turned forwarding off");
    for family in ["ip", "ip6"] {
        let chain = forward(family);
        assert!(chain.contains("policy drop;"), "{family}: {chain}");
    }
    let ruleset = dh.host("nft list ruleset").ok().stdout;
    assert!(!ruleset.contains("WHARF-FORWARD"), "{ruleset}");
    // The policy was all that kept the LAN from routing through the host.
    dh.host("nft add chain ip filter FORWARD '{ type filter hook forward priority 0 ; policy accept ; }'")
        .ok();
    assert_eq!(dh.far_read("10.252.0.2", 7000), "beyond\n");
}

#[test]
fn forwarding_wharf_turns_on_drops_what_is_not_wharfs_with_iptables() {
    forwarding_wharf_turns_on_drops_what_is_not_wharfs(true);
}

#[test]
fn forwarding_wharf_turns_on_drops_what_is_not_wharfs_without_iptables() {
    forwarding_wharf_turns_on_drops_what_is_not_wharfs(false);
}

#[test]
fn traffic_passes_dockers_forward_drop() {
    docker_firewall_lets_wharf_traffic_pass(true);
}

#[test]
fn traffic_passes_a_forward_drop_policy_without_docker() {
    docker_firewall_lets_wharf_traffic_pass(false);
}
