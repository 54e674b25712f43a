//! The answer logic on endpoint files in a temp dir, and the resolver's
//! real sockets on 127.0.0.1 in the test's own namespace (no root needed;
//! the netns side is in tests/dns.rs).

use super::answer::{self, Outcome, Policy, TCP_MAX};
use super::records::Records;
use super::*;
use crate::net::{endpoints_dir, EndpointRecord};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::fs::{self, File, FileTimes};
use std::io::{Read, Write};
use std::net::{Ipv6Addr, TcpStream, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Server tests count the process's `wharf-dns*` threads: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn rec(net: &str, container: &str, names: &[&str], ip: &str) -> EndpointRecord {
    EndpointRecord {
        container_id: format!("id-{container}"),
        container_name: container.into(),
        network_id: format!("id-{net}"),
        network_name: net.into(),
        names: names.iter().map(|s| s.to_string()).collect(),
        ipv4: ip.parse().ok(),
        ipv6: None,
        mac: String::new(),
        ifname: "eth0".into(),
    }
}

/// Writes a record the way netcore must: to a temp name, then renamed.
fn write(root: &Path, r: &EndpointRecord) {
    let dir = endpoints_dir(root, &r.network_id);
    fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!(".{}.tmp", r.container_id));
    fs::write(&tmp, serde_json::to_vec(r).unwrap()).unwrap();
    fs::rename(&tmp, dir.join(format!("{}.json", r.container_id))).unwrap();
}

fn remove(root: &Path, r: &EndpointRecord) {
    fs::remove_file(endpoints_dir(root, &r.network_id).join(format!("{}.json", r.container_id)))
        .unwrap();
}

/// Project `proj`: web ×3 and db on `proj_front`; web (a 4th address) and
/// cache on `proj_back`; `secret` on `other_net`, which the container is
/// not on.
fn fixture() -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (i, ip) in ["10.1.0.2", "10.1.0.3", "10.1.0.4"].iter().enumerate() {
        let name = format!("proj-web-{}", i + 1);
        write(
            root,
            &rec("proj_front", &name, &["web", &name, "www-alias"], ip),
        );
    }
    write(
        root,
        &rec("proj_front", "proj-db-1", &["db", "proj-db-1"], "10.1.0.9"),
    );
    write(
        root,
        &rec(
            "proj_back",
            "proj-web-9",
            &["web", "proj-web-9"],
            "10.2.0.2",
        ),
    );
    let mut cache = rec("proj_back", "proj-cache-1", &["cache"], "10.2.0.3");
    cache.ipv6 = Some("fd00::3".parse().unwrap());
    write(root, &cache);
    write(
        root,
        &rec("other_net", "other-secret-1", &["secret"], "10.3.0.2"),
    );
    (dir, vec!["id-proj_front".into(), "id-proj_back".into()])
}

fn ips(found: &records::Found) -> Vec<String> {
    let mut v: Vec<String> = found.v4.iter().map(|i| i.to_string()).collect();
    v.extend(found.v6.iter().map(|i| i.to_string()));
    v.sort();
    v
}

#[test]
fn service_name_answers_every_replica_on_every_shared_network() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    let all = ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.2.0.2"];
    for q in ["web", "WEB.", "Web"] {
        assert_eq!(ips(&r.lookup_name(q, &[]).unwrap()), all, "{q}");
    }
    assert_eq!(
        ips(&r.lookup_name("proj-web-2", &[]).unwrap()),
        ["10.1.0.3"]
    );
    assert_eq!(ips(&r.lookup_name("www-alias", &[]).unwrap()).len(), 3);
    assert_eq!(
        ips(&r.lookup_name("cache", &[]).unwrap()),
        ["10.2.0.3", "fd00::3"]
    );
}

#[test]
fn names_on_a_network_the_container_is_not_on_are_unknown() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    assert_eq!(r.lookup_name("secret", &[]), None);
    assert_eq!(r.lookup_name("secret.other_net", &[]), None);
    assert_eq!(r.lookup_name("nothing", &[]), None);
    assert_eq!(r.lookup_ip("10.3.0.2".parse().unwrap()), None);
}

/// A followed container's names are those of the networks it has an
/// endpoint on at the moment (`network connect`/`disconnect` while it
/// runs); the default bridge gives none unless it has `--link`s.
#[test]
fn a_followed_container_resolves_the_networks_it_is_on_now() {
    let (dir, _) = fixture();
    let root = dir.path();
    let follow = |default_bridge| {
        Records::new(root.into(), Vec::new()).following(Some(super::Follow {
            container_id: "id-me".into(),
            default_bridge,
        }))
    };
    let r = follow(false);
    assert_eq!(r.lookup_name("web", &[]), None);
    let me_front = rec("proj_front", "me", &["me"], "10.1.0.20");
    write(root, &me_front);
    assert_eq!(ips(&r.lookup_name("db", &[]).unwrap()), ["10.1.0.9"]);
    assert_eq!(r.lookup_name("cache", &[]), None);
    assert_eq!(r.lookup_name("secret", &[]), None);
    write(root, &rec("proj_back", "me", &["me"], "10.2.0.20"));
    assert_eq!(
        ips(&r.lookup_name("cache", &[]).unwrap()),
        ["10.2.0.3", "fd00::3"]
    );
    remove(root, &me_front);
    assert_eq!(r.lookup_name("db", &[]), None);

    write(root, &rec("bridge", "nb", &["nb"], "172.17.0.3"));
    write(root, &rec("bridge", "me", &["me"], "172.17.0.2"));
    assert_eq!(r.lookup_name("nb", &[]), None);
    let linked = follow(true);
    assert_eq!(ips(&linked.lookup_name("nb", &[]).unwrap()), ["172.17.0.3"]);
}

#[test]
fn network_and_search_domain_suffixes_resolve_as_docker_does() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    assert_eq!(
        ips(&r.lookup_name("web.proj_back", &[]).unwrap()),
        ["10.2.0.2"]
    );
    assert_eq!(
        ips(&r.lookup_name("web.PROJ_FRONT.", &[]).unwrap()).len(),
        3
    );
    let search = vec!["corp.example".to_string()];
    assert_eq!(
        ips(&r.lookup_name("db.corp.example.", &search).unwrap()),
        ["10.1.0.9"]
    );
    assert_eq!(r.lookup_name("db.other.example", &search), None);
}

#[test]
fn reverse_lookup_names_container_and_network() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    assert_eq!(
        r.lookup_ip("10.1.0.3".parse().unwrap()).as_deref(),
        Some("proj-web-2.proj_front")
    );
    assert_eq!(
        r.lookup_ip("fd00::3".parse().unwrap()).as_deref(),
        Some("proj-cache-1.proj_back")
    );
}

#[test]
fn a_recreated_container_is_answered_at_once() {
    let (dir, nets) = fixture();
    let root = dir.path();
    let r = Records::new(root.into(), nets);
    assert_eq!(ips(&r.lookup_name("db", &[]).unwrap()), ["10.1.0.9"]);
    let old = rec("proj_front", "proj-db-1", &["db", "proj-db-1"], "10.1.0.9");
    remove(root, &old);
    let mut new = rec("proj_front", "proj-db-1", &["db", "proj-db-1"], "10.1.0.77");
    new.container_id = "id-proj-db-1-recreated".into();
    write(root, &new);
    assert_eq!(ips(&r.lookup_name("db", &[]).unwrap()), ["10.1.0.77"]);
    remove(root, &new);
    assert_eq!(r.lookup_name("db", &[]), None);
}

#[test]
fn endpoint_files_are_cached_until_their_directory_changes() {
    let (dir, nets) = fixture();
    let root = dir.path();
    let r = Records::new(root.into(), nets);
    let ep_dir = endpoints_dir(root, "id-proj_front");
    let set_dir_mtime = |t: SystemTime| {
        File::open(&ep_dir)
            .unwrap()
            .set_times(FileTimes::new().set_modified(t))
            .unwrap();
    };
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    set_dir_mtime(long_ago);
    assert_eq!(ips(&r.lookup_name("db", &[]).unwrap()), ["10.1.0.9"]);
    // An in-place rewrite leaves the directory's mtime alone: the cached
    // listing is still served (which is why writers must rename).
    let path = ep_dir.join("id-proj-db-1.json");
    let moved = rec("proj_front", "proj-db-1", &["db"], "10.1.0.55");
    fs::write(&path, serde_json::to_vec(&moved).unwrap()).unwrap();
    set_dir_mtime(long_ago);
    assert_eq!(ips(&r.lookup_name("db", &[]).unwrap()), ["10.1.0.9"]);
    // Any change of the directory's mtime invalidates it.
    set_dir_mtime(long_ago + Duration::from_secs(1));
    assert_eq!(ips(&r.lookup_name("db", &[]).unwrap()), ["10.1.0.55"]);
}

#[test]
fn a_broken_record_file_does_not_hide_the_others() {
    let (dir, nets) = fixture();
    let ep_dir = endpoints_dir(dir.path(), "id-proj_front");
    fs::write(ep_dir.join("garbage.json"), b"{not json").unwrap();
    fs::write(ep_dir.join("half-written.tmp"), b"{").unwrap();
    let r = Records::new(dir.path().into(), nets);
    assert_eq!(ips(&r.lookup_name("db", &[]).unwrap()), ["10.1.0.9"]);
}

fn query(name: &str, t: RecordType) -> Message {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m
}

fn policy(has_upstreams: bool, ndots_set: bool) -> Policy<'static> {
    Policy {
        search: &[],
        ndots_set,
        has_upstreams,
        links: &[],
    }
}

fn local(o: Outcome) -> Message {
    match o {
        Outcome::Local(m) => m,
        Outcome::Forward => panic!("forwarded, expected a local answer"),
    }
}

fn answer_ips(m: &Message) -> Vec<String> {
    let mut v: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.to_string(),
            RData::AAAA(a) => a.0.to_string(),
            RData::PTR(p) => p.0.to_ascii(),
            other => format!("{other:?}"),
        })
        .collect();
    v.sort();
    v
}

#[test]
fn local_answers_carry_every_address_with_docker_ttl() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    let m = local(answer::decide(
        &query("web.", RecordType::A),
        &r,
        &policy(true, false),
    ));
    assert_eq!(m.id, 4242);
    assert_eq!(m.message_type, MessageType::Response);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.recursion_available && m.recursion_desired);
    assert_eq!(m.queries.len(), 1);
    assert_eq!(
        answer_ips(&m),
        ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.2.0.2"]
    );
    assert!(m
        .answers
        .iter()
        .all(|a| a.ttl == answer::TTL && a.ttl == 600));
    let m = local(answer::decide(
        &query("cache.", RecordType::AAAA),
        &r,
        &policy(true, false),
    ));
    assert_eq!(answer_ips(&m), ["fd00::3"]);
}

#[test]
fn a_link_alias_answers_with_its_targets_addresses_under_its_own_name() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    let links = [("database".to_string(), "db".to_string())];
    let with_links = Policy {
        links: &links,
        ..policy(false, false)
    };
    let m = local(answer::decide(
        &query("Database.", RecordType::A),
        &r,
        &with_links,
    ));
    assert_eq!(answer_ips(&m), ["10.1.0.9"]);
    assert!(m.answers.iter().all(|a| a.name.to_ascii() == "Database."));
    // Without the link the alias is no name here.
    let m = local(answer::decide(
        &query("database.", RecordType::A),
        &r,
        &policy(false, false),
    ));
    assert_eq!(m.response_code, ResponseCode::NXDomain);
}

#[test]
fn replicas_come_back_in_varying_order() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let m = local(answer::decide(
            &query("web.", RecordType::A),
            &r,
            &policy(true, false),
        ));
        firsts.insert(format!("{:?}", m.answers[0].data));
    }
    assert!(
        firsts.len() > 1,
        "always the same first address: {firsts:?}"
    );
}

#[test]
fn a_local_name_without_the_asked_family_is_an_empty_answer_not_a_forward() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    let m = local(answer::decide(
        &query("web.", RecordType::AAAA),
        &r,
        &policy(true, false),
    ));
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let m = local(answer::decide(
        &query("web.", RecordType::MX),
        &r,
        &policy(true, false),
    ));
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
}

#[test]
fn unknown_names_are_forwarded_or_nxdomain_without_upstreams() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    for name in ["example.com.", "secret.", "nosuchhost."] {
        assert!(matches!(
            answer::decide(&query(name, RecordType::A), &r, &policy(true, false)),
            Outcome::Forward
        ));
        let m = local(answer::decide(
            &query(name, RecordType::A),
            &r,
            &policy(false, false),
        ));
        assert_eq!(m.response_code, ResponseCode::NXDomain, "{name}");
    }
    // Other types of local names are not ours to answer, as Docker.
    assert!(matches!(
        answer::decide(&query("web.", RecordType::TXT), &r, &policy(true, false)),
        Outcome::Forward
    ));
}

#[test]
fn with_ndots_set_single_label_misses_are_not_forwarded() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    let m = local(answer::decide(
        &query("nosuchhost.", RecordType::A),
        &r,
        &policy(true, true),
    ));
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert!(matches!(
        answer::decide(
            &query("example.com.", RecordType::A),
            &r,
            &policy(true, true)
        ),
        Outcome::Forward
    ));
}

#[test]
fn ptr_for_endpoint_addresses_and_forward_for_others() {
    let (dir, nets) = fixture();
    let r = Records::new(dir.path().into(), nets);
    let m = local(answer::decide(
        &query("4.0.1.10.in-addr.arpa.", RecordType::PTR),
        &r,
        &policy(true, false),
    ));
    assert_eq!(answer_ips(&m), ["proj-web-3.proj_front."]);
    let v6: Ipv6Addr = "fd00::3".parse().unwrap();
    let m = local(answer::decide(
        &query(&Name::from(v6).to_ascii(), RecordType::PTR),
        &r,
        &policy(true, false),
    ));
    assert_eq!(answer_ips(&m), ["proj-cache-1.proj_back."]);
    assert!(matches!(
        answer::decide(
            &query("2.0.3.10.in-addr.arpa.", RecordType::PTR),
            &r,
            &policy(true, false)
        ),
        Outcome::Forward
    ));
}

#[test]
fn oversized_udp_answers_are_truncated_with_tc() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        let name = format!("big-svc-{i}");
        write(
            dir.path(),
            &rec("big", &name, &["big"], &format!("10.9.0.{}", i + 2)),
        );
    }
    let r = Records::new(dir.path().into(), vec!["id-big".into()]);
    let q = query("big.", RecordType::A);
    let m = local(answer::decide(&q, &r, &policy(true, false)));
    let udp = answer::encode(m.clone(), usize::from(q.max_payload())).unwrap();
    assert!(udp.len() <= 512);
    let cut = Message::from_vec(&udp).unwrap();
    assert!(cut.truncation);
    assert!(cut.answers.len() < 40 && !cut.answers.is_empty());
    let tcp = Message::from_vec(&answer::encode(m, TCP_MAX).unwrap()).unwrap();
    assert!(!tcp.truncation);
    assert_eq!(tcp.answers.len(), 40);
}

#[test]
fn resolv_conf_parsing_and_upstreams() {
    let c = parse_resolv_conf(
        "# generated\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver ::1 # v6\n\
         domain a.example\nsearch b.example c.example\noptions edns0 trust-ad\n",
    );
    assert_eq!(
        c.nameservers,
        vec![
            "127.0.0.53".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert_eq!(c.search, ["b.example", "c.example"]);
    assert_eq!(c.options, ["edns0", "trust-ad"]);
    let ups = upstreams(&[], &c).unwrap();
    assert_eq!(
        ups,
        vec![
            "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    let ups = upstreams(&["1.1.1.1".into(), "[2001:db8::1]:5353".into()], &c).unwrap();
    assert_eq!(
        ups,
        vec![
            "1.1.1.1:53".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:5353".parse().unwrap()
        ]
    );
    assert!(matches!(
        upstreams(&["not-an-ip".into()], &c),
        Err(DnsError::BadServer { .. })
    ));
    assert_eq!(
        upstreams(&[], &ResolvConf::default()).unwrap(),
        vec![
            "8.8.8.8:53".parse::<SocketAddr>().unwrap(),
            "8.8.4.4:53".parse().unwrap()
        ]
    );
    let f = tempfile::NamedTempFile::new().unwrap();
    fs::write(f.path(), "nameserver 192.0.2.1\n").unwrap();
    assert_eq!(
        read_resolv_conf(f.path()).unwrap().nameservers,
        vec!["192.0.2.1".parse::<IpAddr>().unwrap()]
    );
    assert!(matches!(
        read_resolv_conf(&f.path().with_extension("missing")),
        Err(DnsError::ReadResolvConf { .. })
    ));
}

#[test]
fn container_resolv_conf_points_at_the_embedded_resolver() {
    assert_eq!(
        container_resolv_conf(&["corp.example".into()], &[]),
        "nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n"
    );
    assert_eq!(
        container_resolv_conf(&[], &["ndots:2".into(), "timeout:1".into()]),
        "nameserver 127.0.0.11\noptions ndots:2 timeout:1\n"
    );
    assert!(ndots_set(&["ndots:3".into()]));
    assert!(!ndots_set(&["edns0".into()]));
}

// ---- the resolver on real sockets, in this process's namespace ----

fn ask_udp(server: SocketAddr, name: &str, t: RecordType) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.send_to(&query(name, t).to_vec().unwrap(), server)
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn ask_tcp(server: SocketAddr, name: &str, t: RecordType) -> Message {
    let mut s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let q = query(name, t).to_vec().unwrap();
    let mut out = (q.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&q);
    s.write_all(&out).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).unwrap();
    Message::from_vec(&msg).unwrap()
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
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .filter(|c| c.starts_with("wharf-dns"))
        .count()
}

fn on_loopback(root: &Path, nets: Vec<String>, upstreams: Vec<SocketAddr>) -> ResolverHandle {
    let mut cfg = ResolverConfig::new(root, nets);
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.upstreams = upstreams;
    Resolver::spawn(cfg).unwrap()
}

#[test]
fn resolver_answers_over_udp_and_tcp_and_forwards_the_rest() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, nets) = fixture();
    // The upstream is another resolver, serving another root.
    let up_root = tempfile::tempdir().unwrap();
    write(
        up_root.path(),
        &rec("world", "far-away", &["far.example"], "192.0.2.7"),
    );
    let upstream = on_loopback(up_root.path(), vec!["id-world".into()], vec![]);
    let res = on_loopback(dir.path(), nets, vec![upstream.local_addr()]);
    let addr = res.local_addr();

    let m = ask_udp(addr, "web.", RecordType::A);
    assert_eq!(
        answer_ips(&m),
        ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.2.0.2"]
    );
    let m = ask_tcp(addr, "web.", RecordType::A);
    assert_eq!(answer_ips(&m).len(), 4);

    for ask in [ask_udp, ask_tcp] {
        let m = ask(addr, "far.example.", RecordType::A);
        assert_eq!(m.response_code, ResponseCode::NoError);
        assert_eq!(answer_ips(&m), ["192.0.2.7"]);
        assert_eq!(m.id, 4242);
        // Not here, not upstream: the upstream (which has none) says so.
        let m = ask(addr, "secret.", RecordType::A);
        assert_eq!(m.response_code, ResponseCode::NXDomain);
    }
    drop(res);
    drop(upstream);
    assert_no_dns_threads();
}

#[test]
fn a_dead_upstream_gives_servfail() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, nets) = fixture();
    // A port nobody listens on: the kernel answers port-unreachable.
    let dead = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let res = on_loopback(dir.path(), nets, vec![dead]);
    let m = ask_udp(res.local_addr(), "example.com.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::ServFail);
}

#[test]
fn udp_truncates_and_tcp_carries_the_whole_answer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    for i in 0..40 {
        let name = format!("big-svc-{i}");
        write(
            dir.path(),
            &rec("big", &name, &["big"], &format!("10.9.0.{}", i + 2)),
        );
    }
    let res = on_loopback(dir.path(), vec!["id-big".into()], vec![]);
    let m = ask_udp(res.local_addr(), "big.", RecordType::A);
    assert!(m.truncation);
    let m = ask_tcp(res.local_addr(), "big.", RecordType::A);
    assert!(!m.truncation);
    assert_eq!(m.answers.len(), 40);
}

#[test]
fn dropping_the_handle_frees_the_port_and_its_threads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, nets) = fixture();
    let res = on_loopback(dir.path(), nets.clone(), vec![]);
    let addr = res.local_addr();
    // An idle TCP client must not keep the resolver alive.
    let idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(dns_threads() >= 2);
    let taken = ResolverConfig {
        listen: addr,
        ..ResolverConfig::new(dir.path(), nets.clone())
    };
    assert!(matches!(
        Resolver::spawn(taken.clone()),
        Err(DnsError::Bind { .. })
    ));
    drop(res);
    assert_no_dns_threads();
    let again = Resolver::spawn(taken).unwrap();
    assert_eq!(again.local_addr(), addr);
    assert_eq!(
        answer_ips(&ask_udp(addr, "db.", RecordType::A)),
        ["10.1.0.9"]
    );
    drop(again);
    drop(idle);
    assert_no_dns_threads();
}

#[test]
fn a_missing_netns_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ResolverConfig::new(dir.path(), vec![]);
    cfg.netns = Some(dir.path().join("no-such-netns"));
    let err = Resolver::spawn(cfg).unwrap_err();
    assert!(matches!(err, DnsError::OpenNetns { .. }));
    assert!(err.to_string().contains("no-such-netns"));
}

#[test]
fn garbage_gets_formerr_and_responses_get_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, nets) = fixture();
    let res = on_loopback(dir.path(), nets, vec![]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    // A header claiming one question, and no question.
    sock.send_to(
        &[0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0],
        res.local_addr(),
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.id, 0xABCD);
    assert_eq!(m.message_type, MessageType::Response);
    assert_eq!(m.response_code, ResponseCode::FormErr);
    // A response sent to us is not answered (no ping-pong between resolvers).
    let mut resp = query("web.", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    sock.send_to(&resp.to_vec().unwrap(), res.local_addr())
        .unwrap();
    assert!(sock.recv_from(&mut buf).is_err());
    // Still serving.
    assert_eq!(
        answer_ips(&ask_udp(res.local_addr(), "db.", RecordType::A)),
        ["10.1.0.9"]
    );
}

#[test]
fn answer_raw_answers_as_the_server_does_without_sockets() {
    let (dir, nets) = fixture();
    let raw = query("db", RecordType::A).to_vec().unwrap();
    let reply = answer_raw(dir.path(), nets.clone(), &raw, false).expect("an answer");
    let msg = Message::from_vec(&reply).unwrap();
    assert_eq!(msg.id, 4242);
    assert_eq!(msg.response_code, ResponseCode::NoError);
    assert_eq!(answer_ips(&msg), ["10.1.0.9"]);

    // A name that is not local would be forwarded: nothing to send here.
    let raw = query("example.com", RecordType::A).to_vec().unwrap();
    assert_eq!(answer_raw(dir.path(), nets.clone(), &raw, false), None);

    // Garbage with a header gets FORMERR with its id; a response gets nothing
    // over UDP (two resolvers could bounce it forever).
    let mut garbage = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    garbage.extend_from_slice(&[63; 9]);
    let formerr = answer_raw(dir.path(), nets.clone(), &garbage, false).expect("FORMERR");
    assert_eq!(&formerr[..2], &[0xAB, 0xCD]);
    assert_eq!(formerr[3] & 0x0F, 1, "rcode FORMERR");
    let mut response = query("db", RecordType::A).to_vec().unwrap();
    response[2] |= 0x80;
    assert_eq!(answer_raw(dir.path(), nets, &response, false), None);
}
