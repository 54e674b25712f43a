//! The embedded DNS resolver: Docker's `127.0.0.11`, without a daemon.
//!
//! Each container's monitor process runs one [`Resolver`] for the
//! container's network namespace. It listens on UDP and TCP
//! `127.0.0.11:53` *inside* that namespace (the sockets are created on a
//! short-lived thread that `setns()`'d into it) and does everything else
//! from the monitor's own (host) namespace:
//!
//! - **Local names.** A/AAAA for every [`crate::net::EndpointRecord`] whose `names`
//!   contain the query name (any case, trailing dot or not), on any of the
//!   networks the container is on — a name on several networks answers
//!   from all of them; replicas sharing a service name all answer,
//!   shuffled per query; TTL 600. `name.<network name>` restricts to that
//!   network, and `name.<search domain>` is the name, as Docker resolves.
//!   A name known here without an address of the asked family gets NOERROR
//!   and no records (no forward), MX for a local name an empty NOERROR, PTR
//!   for an endpoint address `<container>.<network>.`. Names of endpoints
//!   on networks the container is not on are never answered.
//! - **Everything else is forwarded** as it came, over the client's
//!   transport, to the upstream servers in order (4 s each; SERVFAIL and
//!   REFUSED move on to the next; none answering gives SERVFAIL), from
//!   sockets in the host namespace — so host stub resolvers like
//!   `127.0.0.53` work, unlike Docker. Exceptions, as Docker: with
//!   `ndots` set explicitly a single-label A/AAAA name not found locally
//!   gets an empty NOERROR (the client then tries its search domains).
//!   With no upstream configured (e.g. a container only on `internal`
//!   networks, which must not leak queries out) an unknown name is
//!   NXDOMAIN.
//! - **Size limits.** UDP answers are cut to 512 bytes or the client's
//!   EDNS size with the TC bit set, so the client retries over TCP, where
//!   answers go whole. Forwarded answers pass unchanged.
//! - **Fresh records.** Endpoint files are read per query through a cache
//!   keyed on each endpoint directory's mtime (and never trusted while the
//!   directory changed in the last 2 s), so a recreated or scaled
//!   container is answered at once. Writers must create/replace record
//!   files by rename or remove them (which changes the directory's mtime),
//!   not rewrite them in place.
//!
//! # Wiring it in (monitor)
//!
//! ```no_run
//! # fn demo(root: &std::path::Path, net_ids: Vec<String>, service_dns: Vec<String>,
//! #         dns_search: Vec<String>, dns_opt: Vec<String>) -> Result<(), wharf::net::dns::DnsError> {
//! use wharf::net::dns::{self, Resolver, ResolverConfig};
//! // Read in the monitor, i.e. in the host's mount namespace.
//! let host = dns::read_resolv_conf(std::path::Path::new("/etc/resolv.conf"))?;
//! let search = if dns_search.is_empty() { host.search.clone() } else { dns_search };
//! let mut cfg = ResolverConfig::new(root, net_ids);
//! cfg.netns = Some("/proc/1234/ns/net".into()); // or the netns bind-mount file
//! cfg.upstreams = dns::upstreams(&service_dns, &host)?; // leave empty if only on internal networks
//! cfg.search = search.clone();
//! cfg.ndots_set = dns::ndots_set(&dns_opt);
//! let handle = Resolver::spawn(cfg)?; // keep it as long as the container runs
//! // What to write as the container's /etc/resolv.conf:
//! let resolv_conf = dns::container_resolv_conf(&search, &dns_opt);
//! drop(handle); // stops it: sockets closed, threads joined
//! # Ok(()) }
//! ```
//!
//! The namespace needs `lo` up (127.0.0.11 is a loopback address).
//! Dropping the [`ResolverHandle`] stops the resolver: it joins every
//! thread it started (within ~200 ms, or up to the 4 s connect timeout of
//! an in-flight TCP forward) and closes its sockets, so a new resolver can
//! bind the same address at once.

mod answer;
mod forward;
mod records;
mod server;

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

/// Where containers find the resolver, as Docker's.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 11), 53));

/// Docker's fallback when the host lists no usable name server.
const FALLBACK_SERVERS: [Ipv4Addr; 2] = [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot open network namespace {path}: {source}")]
    OpenNetns { path: PathBuf, source: io::Error },
    #[error("cannot enter network namespace {path}: {source}")]
    EnterNetns { path: PathBuf, source: nix::Error },
    #[error("cannot bind the DNS resolver to {addr} (udp and tcp){}: {source}",
        .netns.as_ref().map(|p| format!(" in network namespace {}", p.display())).unwrap_or_default())]
    Bind {
        addr: SocketAddr,
        netns: Option<PathBuf>,
        source: io::Error,
    },
    #[error("cannot start the DNS resolver: {source}")]
    Thread { source: io::Error },
    #[error("bad DNS server {value:?}: expected an IP address, optionally with a port")]
    BadServer { value: String },
    #[error("cannot read {path}: {source}")]
    ReadResolvConf { path: PathBuf, source: io::Error },
}

impl From<DnsError> for io::Error {
    fn from(e: DnsError) -> io::Error {
        let kind = match &e {
            DnsError::OpenNetns { source, .. }
            | DnsError::Bind { source, .. }
            | DnsError::Thread { source }
            | DnsError::ReadResolvConf { source, .. } => source.kind(),
            DnsError::EnterNetns { .. } => io::ErrorKind::PermissionDenied,
            DnsError::BadServer { .. } => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, e)
    }
}

/// What one resolver serves, and where.
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// The container's network namespace file (`/proc/<pid>/ns/net` or a
    /// bind mount of it). `None` listens in the caller's own namespace
    /// (tests; a resolver serving as another's upstream).
    pub netns: Option<PathBuf>,
    /// Listen address; [`DEFAULT_LISTEN`] unless set. Port 0 picks a free
    /// port, the same for UDP and TCP ([`ResolverHandle::local_addr`]).
    pub listen: SocketAddr,
    /// The wharf data root holding `networks/<id>/endpoints/*.json`.
    pub root: PathBuf,
    /// Ids of the networks the container is on: only their names answer.
    pub networks: Vec<String>,
    /// When set, the networks are instead those the container has an
    /// endpoint on at each query, so `network connect`/`disconnect` while
    /// it runs change what it resolves at once, as in Docker.
    pub follow: Option<Follow>,
    /// Where names that are not local go, tried in order.
    pub upstreams: Vec<SocketAddr>,
    /// Search domains: `name.<domain>` resolves as `name`.
    pub search: Vec<String>,
    /// `ndots` was set explicitly in the container's resolver options.
    pub ndots_set: bool,
    /// Legacy link aliases only this container resolves (`links: [db:database]`):
    /// (alias, the name it stands for).
    pub links: Vec<(String, String)>,
}

impl ResolverConfig {
    /// A resolver on [`DEFAULT_LISTEN`] in the caller's namespace, with no
    /// upstreams or search domains: set the public fields to taste.
    pub fn new(root: impl Into<PathBuf>, networks: Vec<String>) -> ResolverConfig {
        ResolverConfig {
            netns: None,
            listen: DEFAULT_LISTEN,
            root: root.into(),
            networks,
            follow: None,
            upstreams: Vec::new(),
            search: Vec::new(),
            ndots_set: false,
            links: Vec::new(),
        }
    }
}

/// The container whose networks a resolver serves as they change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Follow {
    pub container_id: String,
    /// Whether Docker's default `bridge` gives names: it gives none (as
    /// Docker's), except to find `--link` targets.
    pub default_bridge: bool,
}

/// The embedded resolver. See the module documentation.
pub struct Resolver;

impl Resolver {
    /// Binds the sockets (inside `cfg.netns` when set) and starts serving.
    /// Fails when the namespace cannot be entered or the address is taken.
    pub fn spawn(cfg: ResolverConfig) -> Result<ResolverHandle, DnsError> {
        server::start(cfg).map(|running| ResolverHandle { running })
    }
}

/// A running resolver. Dropping it stops it: threads joined, sockets
/// closed.
pub struct ResolverHandle {
    running: server::Running,
}

impl ResolverHandle {
    /// The address it listens on (UDP and TCP), in its namespace.
    pub fn local_addr(&self) -> SocketAddr {
        self.running.local
    }
}

impl std::fmt::Debug for ResolverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverHandle")
            .field("local_addr", &self.running.local)
            .finish()
    }
}

/// What a `resolv.conf` says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// Answers one raw query (`tcp`: as sent over TCP, without its length
/// prefix) the way the running server does, from the endpoint records under
/// `root` on `networks` (and one link alias, `database` for `db`), but with
/// no sockets and no upstream: `None` when
/// nothing would be sent back or the query would be forwarded. The DNS fuzz
/// target drives the server's decoding, answering and encoding through this.
pub fn answer_raw(root: &Path, networks: Vec<String>, raw: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let records = records::Records::new(root.to_path_buf(), networks);
    let policy = answer::Policy {
        search: &[],
        ndots_set: false,
        has_upstreams: true,
        links: &[("database".to_string(), "db".to_string())],
    };
    match answer::incoming(raw, &records, &policy, tcp) {
        answer::Incoming::Reply(bytes) => Some(bytes),
        answer::Incoming::Malformed(reply) => reply,
        answer::Incoming::Ignore | answer::Incoming::Forward { .. } => None,
    }
}

/// Parses `resolv.conf` text: `nameserver`, `search` (the last one wins,
/// as in glibc; `domain` counts as a one-entry search), `options`.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // A scoped IPv6 server (`fe80::1%eth0`) cannot be reached
                // by a plain address; skip it, as Docker does.
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    conf.nameservers.push(ip);
                }
            }
            Some("search") => conf.search = words.map(str::to_string).collect(),
            Some("domain") => conf.search = words.take(1).map(str::to_string).collect(),
            Some("options") => conf.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    conf
}

/// Reads and parses a `resolv.conf` (the host's is `/etc/resolv.conf`,
/// read from the monitor, i.e. in the host's mount namespace).
pub fn read_resolv_conf(path: &Path) -> Result<ResolvConf, DnsError> {
    fs::read_to_string(path)
        .map(|t| parse_resolv_conf(&t))
        .map_err(|source| DnsError::ReadResolvConf {
            path: path.to_path_buf(),
            source,
        })
}

/// One DNS server as compose's `dns:` writes it: `1.1.1.1`, `::1`,
/// `1.1.1.1:5353`, `[::1]:5353`. Port 53 unless given.
pub fn parse_server(value: &str) -> Result<SocketAddr, DnsError> {
    let v = value.trim();
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    v.parse::<SocketAddr>().map_err(|_| DnsError::BadServer {
        value: value.to_string(),
    })
}

/// The upstream servers of a container: the service's `dns:` when set,
/// else the host's name servers (loopback ones included: we forward from
/// the host namespace, where they are reachable), else Docker's public
/// fallback.
pub fn upstreams(service_dns: &[String], host: &ResolvConf) -> Result<Vec<SocketAddr>, DnsError> {
    if !service_dns.is_empty() {
        return service_dns.iter().map(|s| parse_server(s)).collect();
    }
    if !host.nameservers.is_empty() {
        return Ok(host
            .nameservers
            .iter()
            .map(|ip| SocketAddr::new(*ip, 53))
            .collect());
    }
    Ok(FALLBACK_SERVERS
        .iter()
        .map(|ip| SocketAddr::new(IpAddr::V4(*ip), 53))
        .collect())
}

/// Whether compose `dns_opt:` sets `ndots` (Docker's `NdotsSet`).
pub fn ndots_set(dns_opt: &[String]) -> bool {
    dns_opt.iter().any(|o| o.trim().starts_with("ndots:"))
}

/// The `/etc/resolv.conf` of a container using the embedded resolver:
/// `nameserver 127.0.0.11`, the search domains and options. Docker adds
/// `ndots:0` unless ndots is set, so single-label names reach us as they
/// are, not with each search domain first.
pub fn container_resolv_conf(search: &[String], dns_opt: &[String]) -> String {
    let mut out = format!("nameserver {}\n", DEFAULT_LISTEN.ip());
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let mut opts: Vec<String> = dns_opt.to_vec();
    if !ndots_set(dns_opt) {
        opts.push("ndots:0".into());
    }
    out.push_str(&format!("options {}\n", opts.join(" ")));
    out
}

#[cfg(test)]
mod tests;
