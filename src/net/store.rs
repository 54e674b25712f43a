//! Networks on disk: `<root>/networks/<id>/network.json` (what the network
//! is), `<root>/networks/<id>/ipam.json` (which address belongs to which
//! container) and `<root>/networks/<id>/endpoints/<container-id>.json`
//! (read by the DNS resolver). Every change happens under one flock on
//! `<root>/networks/lock`, so two wharf processes never hand out the same
//! subnet or address, and every file is written by rename, so a crash
//! leaves the old or the new state, never half of one.

use super::ipam::{self, IpamError, Subnet};
use super::EndpointRecord;
use crate::sys::atomic::AtomicError;
use crate::sys::path_error::{IoAt, PathError};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] PathError),
    #[error(transparent)]
    State(#[from] AtomicError),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("network with name {0} already exists")]
    NameInUse(String),
    #[error("multiple networks match {query:?}: {}", matches.join(", "))]
    Ambiguous { query: String, matches: Vec<String> },
    #[error("invalid network name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("network {network}: {source}")]
    Ipam { network: String, source: IpamError },
    #[error("network {network}: invalid IPv6 subnet {subnet:?}")]
    BadIpv6 { network: String, subnet: String },
    #[error("network {network}: user specified IP address is supported only when connecting to networks with user configured subnets")]
    StaticNeedsSubnet { network: String },
    #[error("network {network}: invalid MTU {value:?}")]
    BadMtu { network: String, value: String },
    #[error(
        "network {network}: invalid {OPT_BRIDGE_NAME} {value:?} (1 to 15 of A-Z a-z 0-9 _ . -)"
    )]
    BadBridgeName { network: String, value: String },
    #[error("network {network}: driver {driver:?} is not supported (only bridge)")]
    Driver { network: String, driver: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The name of Docker's default network: what `run` joins without
/// `--network`; it has no embedded DNS, and prunes keep it.
pub const DEFAULT_BRIDGE: &str = "bridge";
/// Docker's predefined networks: never pruned, and `network rm` refuses
/// them. Only [`DEFAULT_BRIDGE`] has a record here (`host` and `none` are
/// network modes).
pub const PREDEFINED: [&str; 3] = [DEFAULT_BRIDGE, "host", "none"];
/// Docker's driver option naming the bridge interface.
pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Docker's driver option for the MTU of the bridge and veths.
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// A network as created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex digits, as Docker's.
    pub id: String,
    pub name: String,
    /// Always `bridge` for now.
    pub driver: String,
    /// The bridge interface (`br-<id12>` unless the driver options name one).
    pub bridge: String,
    pub mtu: Option<u32>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Subnet>,
    /// Whether the user chose the subnet (static addresses need that).
    pub user_subnet: bool,
    pub ipv6: Option<Ipv6Config>,
    pub labels: BTreeMap<String, String>,
    /// `driver_opts` / `-o`, as given.
    pub options: BTreeMap<String, String>,
    /// RFC 3339.
    pub created: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ipv6Config {
    pub subnet: Ipv6Addr,
    pub prefix: u8,
    pub gateway: Ipv6Addr,
}

impl Ipv6Config {
    fn contains(&self, ip: Ipv6Addr) -> bool {
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        u128::from(ip) & mask == u128::from(self.subnet) & mask
    }
}

/// One IPAM pool of a create request (`--subnet`, `--gateway`,
/// `--ip-range`; compose `ipam.config[]`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamRequest {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}

/// What `wharf network create` and compose's `networks:` ask for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkOptions {
    pub name: String,
    /// `bridge` (the default) is the only driver.
    pub driver: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub ipam: Vec<IpamRequest>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// Which address belongs to which container, per network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpamState {
    pub v4: BTreeMap<Ipv4Addr, String>,
    pub v6: BTreeMap<Ipv6Addr, String>,
}

/// The networks of one data root.
#[derive(Clone, Debug)]
pub struct Networks {
    dir: PathBuf,
}

/// Holds the store's lock; every change is made through it.
pub struct Locked<'a> {
    store: &'a Networks,
    _lock: Flock<File>,
}

impl Networks {
    pub fn open(root: &Path) -> Result<Networks> {
        let dir = root.join("networks");
        fs::create_dir_all(&dir).at("creating", &dir)?;
        Ok(Networks { dir })
    }

    fn net_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Takes the store's lock (blocking) for a series of changes.
    pub fn lock(&self) -> Result<Locked<'_>> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at("opening", &path)?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| {
            StoreError::Io(PathError {
                action: "locking",
                path: path.clone(),
                source: e.into(),
            })
        })?;
        Ok(Locked {
            store: self,
            _lock: lock,
        })
    }

    pub fn list(&self) -> Result<Vec<NetworkRecord>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(PathError::new("reading", &self.dir, e).into()),
        };
        for e in entries {
            let e = e.at("reading", &self.dir)?;
            // Skips the lock file; a directory without a record is what a
            // crash during remove leaves, and is not a network.
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = e.path().join("network.json");
            if let Some(r) = read_json::<NetworkRecord>(&path)? {
                out.push(r);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// By exact name, full id, or unique id prefix (Docker's order).
    pub fn find(&self, query: &str) -> Result<NetworkRecord> {
        let all = self.list()?;
        if let Some(r) = all.iter().find(|r| r.name == query || r.id == query) {
            return Ok(r.clone());
        }
        let matches: Vec<&NetworkRecord> = all
            .iter()
            .filter(|r| !query.is_empty() && r.id.starts_with(query))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StoreError::NotFound(query.to_string())),
            many => Err(StoreError::Ambiguous {
                query: query.to_string(),
                matches: many.iter().map(|r| r.id[..12].to_string()).collect(),
            }),
        }
    }

    pub fn ipam_state(&self, id: &str) -> Result<IpamState> {
        Ok(read_json(&self.net_dir(id).join("ipam.json"))?.unwrap_or_default())
    }

    /// Every endpoint on network `id`.
    pub fn endpoints(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        let dir = self.net_dir(id).join("endpoints");
        let mut out = Vec::new();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(PathError::new("reading", &dir, e).into()),
        };
        for e in entries {
            let e = e.at("reading", &dir)?;
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if let Some(r) = read_json::<EndpointRecord>(&p)? {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| a.container_name.cmp(&b.container_name));
        Ok(out)
    }
}

impl Locked<'_> {
    pub fn store(&self) -> &Networks {
        self.store
    }

    /// Validates `opts`, picks a subnet that overlaps none of `host_routes`
    /// nor another network, and writes the record. Nothing on the host
    /// changes here; see [`super::attach::create_network`].
    pub fn create(&self, opts: &NetworkOptions, host_routes: &[Subnet]) -> Result<NetworkRecord> {
        let name = &opts.name;
        validate_name(name)?;
        let existing = self.store.list()?;
        if existing.iter().any(|n| &n.name == name) {
            return Err(StoreError::NameInUse(name.clone()));
        }
        let driver = opts.driver.clone().unwrap_or_else(|| "bridge".into());
        if driver != "bridge" {
            return Err(StoreError::Driver {
                network: name.clone(),
                driver,
            });
        }
        let ipam_err = |source| StoreError::Ipam {
            network: name.clone(),
            source,
        };
        let mut v4 = None;
        let mut v6 = None;
        for req in &opts.ipam {
            let is_v6 = req.subnet.as_deref().is_some_and(|s| s.contains(':'));
            if is_v6 {
                v6 = Some(parse_v6(name, req)?);
            } else {
                v4 = Some(req.clone());
            }
        }
        let (subnet, user_subnet, gateway, range) = match v4.filter(|r| r.subnet.is_some()) {
            Some(req) => {
                let subnet: Subnet = req
                    .subnet
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .map_err(ipam_err)?;
                let gw = req
                    .gateway
                    .as_deref()
                    .map(|g| {
                        g.parse::<Ipv4Addr>()
                            .map_err(|_| ipam_err(IpamError::BadSubnet(g.to_string())))
                    })
                    .transpose()?;
                let range = req
                    .ip_range
                    .as_deref()
                    .map(|r| r.parse::<Subnet>().map_err(ipam_err))
                    .transpose()?;
                let gw = ipam::check_config(subnet, gw, range).map_err(ipam_err)?;
                (subnet, true, gw, range)
            }
            None => {
                let mut used: Vec<Subnet> = host_routes.to_vec();
                used.extend(existing.iter().map(|n| n.subnet));
                let subnet = ipam::pick_subnet(&ipam::default_pools(), &used).map_err(ipam_err)?;
                let gw = ipam::check_config(subnet, None, None).map_err(ipam_err)?;
                (subnet, false, gw, None)
            }
        };
        let id = crate::runtime::container::random_id().map_err(|e| {
            StoreError::Io(PathError {
                action: "making an id for",
                path: self.store.dir.join(name),
                source: io::Error::other(e),
            })
        })?;
        let bridge = match opts.options.get(OPT_BRIDGE_NAME) {
            // An interface name (IFNAMSIZ) that needs no quoting in nft.
            Some(b)
                if (1..=15).contains(&b.len())
                    && b != "."
                    && b != ".."
                    && b.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c)) =>
            {
                b.clone()
            }
            Some(b) => {
                return Err(StoreError::BadBridgeName {
                    network: name.clone(),
                    value: b.clone(),
                })
            }
            None => format!("br-{}", &id[..12]),
        };
        let mtu = opts
            .options
            .get(OPT_MTU)
            .map(|m| {
                m.parse::<u32>()
                    .ok()
                    .filter(|v| (68..=65535).contains(v))
                    .ok_or_else(|| StoreError::BadMtu {
                        network: name.clone(),
                        value: m.clone(),
                    })
            })
            .transpose()?;
        let record = NetworkRecord {
            id: id.clone(),
            name: name.clone(),
            driver,
            bridge,
            mtu,
            internal: opts.internal,
            attachable: opts.attachable,
            enable_ipv6: opts.enable_ipv6,
            subnet,
            gateway,
            ip_range: range,
            user_subnet,
            ipv6: if opts.enable_ipv6 { v6 } else { None },
            labels: opts.labels.clone(),
            options: opts.options.clone(),
            created: crate::time::rfc3339_nanos(std::time::SystemTime::now()),
        };
        let dir = self.store.net_dir(&id);
        fs::create_dir_all(dir.join("endpoints")).at("creating", &dir)?;
        // The allocation state exists from the start, so "back to what it
        // was" after containers leave is visible in the file.
        write_json(&dir.join("ipam.json"), &IpamState::default())?;
        write_json(&dir.join("network.json"), &record)?;
        Ok(record)
    }

    /// Deletes the network's files (the caller checked it is unused and
    /// removed the bridge and nftables table).
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.store.net_dir(id);
        // The record goes first: a crash after it leaves an orphan
        // directory nobody lists, not a network without its state.
        match fs::remove_file(dir.join("network.json")) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(PathError::new("removing", &dir, e).into()),
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PathError::new("removing", &dir, e).into()),
        }
    }

    /// Gives `container_id` an address on `net`: `want` if given (checked),
    /// else the first free one. Returns the IPv4 and (on IPv6 networks)
    /// the IPv6 address. Repeating it for the same container returns what
    /// it already holds.
    pub fn allocate(
        &self,
        net: &NetworkRecord,
        container_id: &str,
        want: Option<Ipv4Addr>,
        want6: Option<Ipv6Addr>,
    ) -> Result<(Ipv4Addr, Option<Ipv6Addr>)> {
        let ipam_err = |source| StoreError::Ipam {
            network: net.name.clone(),
            source,
        };
        let mut state = self.store.ipam_state(&net.id)?;
        let held = state
            .v4
            .iter()
            .find(|(_, c)| c.as_str() == container_id)
            .map(|(ip, _)| *ip);
        let ip = match (held, want) {
            (Some(ip), None) => ip,
            (Some(ip), Some(w)) if ip == w => ip,
            (_, want) => {
                state.v4.retain(|_, c| c != container_id);
                let taken: BTreeSet<Ipv4Addr> = state.v4.keys().copied().collect();
                let ip = match want {
                    Some(w) => {
                        if !net.user_subnet {
                            return Err(StoreError::StaticNeedsSubnet {
                                network: net.name.clone(),
                            });
                        }
                        ipam::check_static(&net.name, net.subnet, net.gateway, w, &taken)
                            .map_err(ipam_err)?;
                        w
                    }
                    None => {
                        ipam::pick_address(&net.name, net.subnet, net.ip_range, net.gateway, &taken)
                            .map_err(ipam_err)?
                    }
                };
                state.v4.insert(ip, container_id.to_string());
                ip
            }
        };
        let ip6 = match &net.ipv6 {
            None => None,
            Some(cfg) => {
                state.v6.retain(|_, c| c != container_id);
                let ip6 = match want6 {
                    Some(w)
                        if !cfg.contains(w) || w == cfg.gateway || state.v6.contains_key(&w) =>
                    {
                        return Err(StoreError::BadIpv6 {
                            network: net.name.clone(),
                            subnet: format!("{w} is not free in {}/{}", cfg.subnet, cfg.prefix),
                        })
                    }
                    Some(w) => w,
                    None => {
                        let base = u128::from(cfg.subnet);
                        (2u128..1 << 16)
                            .map(|n| Ipv6Addr::from(base + n))
                            .find(|a| *a != cfg.gateway && !state.v6.contains_key(a))
                            .ok_or_else(|| StoreError::BadIpv6 {
                                network: net.name.clone(),
                                subnet: format!("{}/{} is full", cfg.subnet, cfg.prefix),
                            })?
                    }
                };
                state.v6.insert(ip6, container_id.to_string());
                Some(ip6)
            }
        };
        write_json(&self.store.net_dir(&net.id).join("ipam.json"), &state)?;
        Ok((ip, ip6))
    }

    /// Frees every address `container_id` holds on network `id`.
    pub fn release(&self, id: &str, container_id: &str) -> Result<()> {
        let path = self.store.net_dir(id).join("ipam.json");
        let mut state = self.store.ipam_state(id)?;
        let before = state.v4.len() + state.v6.len();
        state.v4.retain(|_, c| c != container_id);
        state.v6.retain(|_, c| c != container_id);
        if state.v4.len() + state.v6.len() != before {
            write_json(&path, &state)?;
        }
        Ok(())
    }

    pub fn write_endpoint(&self, ep: &EndpointRecord) -> Result<()> {
        let dir = self.store.net_dir(&ep.network_id).join("endpoints");
        fs::create_dir_all(&dir).at("creating", &dir)?;
        write_json(&dir.join(format!("{}.json", ep.container_id)), ep)
    }

    pub fn remove_endpoint(&self, network_id: &str, container_id: &str) -> Result<()> {
        let path = self
            .store
            .net_dir(network_id)
            .join("endpoints")
            .join(format!("{container_id}.json"));
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(PathError::new("removing", &path, e).into()),
        }
    }
}

fn parse_v6(network: &str, req: &IpamRequest) -> Result<Ipv6Config> {
    let s = req.subnet.clone().unwrap_or_default();
    let bad = || StoreError::BadIpv6 {
        network: network.to_string(),
        subnet: s.clone(),
    };
    let (a, p) = s.split_once('/').ok_or_else(bad)?;
    let addr: Ipv6Addr = a.parse().map_err(|_| bad())?;
    let prefix: u8 = p.parse().ok().filter(|p| *p <= 126).ok_or_else(bad)?;
    let gateway = match &req.gateway {
        Some(g) => g.parse().map_err(|_| bad())?,
        None => Ipv6Addr::from(u128::from(addr) + 1),
    };
    Ok(Ipv6Config {
        subnet: addr,
        prefix,
        gateway,
    })
}

/// Docker's rule for network names (as for containers).
pub fn validate_name(name: &str) -> Result<()> {
    crate::runtime::container::validate_name(name)
        .map_err(|_| StoreError::InvalidName(name.to_string()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    Ok(crate::sys::atomic::read_json(path)?)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    Ok(crate::sys::atomic::write_json(path, value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(name: &str) -> NetworkOptions {
        NetworkOptions {
            name: name.into(),
            ..NetworkOptions::default()
        }
    }

    #[test]
    fn networks_get_distinct_subnets_avoiding_host_routes() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Networks::open(dir.path()).expect("open");
        let l = s.lock().expect("lock");
        // Names with non-hex letters: "a" could match an id prefix.
        let host = ["172.17.0.0/16".parse().expect("subnet")];
        let a = l.create(&opts("net-a"), &host).expect("a");
        let b = l.create(&opts("net-b"), &host).expect("b");
        assert_eq!(a.subnet.to_string(), "172.18.0.0/16");
        assert_eq!(b.subnet.to_string(), "172.19.0.0/16");
        assert_eq!(a.gateway, Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(a.id.len(), 64);
        assert_eq!(a.bridge, format!("br-{}", &a.id[..12]));
        assert!(matches!(
            l.create(&opts("net-a"), &[]),
            Err(StoreError::NameInUse(_))
        ));
        assert_eq!(s.find("net-a").expect("by name").id, a.id);
        assert_eq!(s.find(&b.id[..6]).expect("by prefix").id, b.id);
        // Removing a frees its subnet for the next network.
        l.remove(&a.id).expect("rm");
        let c = l.create(&opts("net-c"), &host).expect("c");
        assert_eq!(c.subnet, a.subnet);
        assert!(matches!(s.find("net-a"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn options_name_the_bridge_and_mtu() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Networks::open(dir.path()).expect("open");
        let l = s.lock().expect("lock");
        let mut o = opts("n");
        o.options.insert(OPT_BRIDGE_NAME.into(), "mybr0".into());
        o.options.insert(OPT_MTU.into(), "1400".into());
        o.ipam.push(IpamRequest {
            subnet: Some("10.10.0.0/24".into()),
            gateway: Some("10.10.0.254".into()),
            ip_range: None,
        });
        let n = l.create(&o, &[]).expect("create");
        assert_eq!(n.bridge, "mybr0");
        assert_eq!(n.mtu, Some(1400));
        assert_eq!(n.gateway, Ipv4Addr::new(10, 10, 0, 254));
        let mut bad = opts("m");
        bad.options.insert(OPT_MTU.into(), "huge".into());
        assert!(matches!(
            l.create(&bad, &[]),
            Err(StoreError::BadMtu { .. })
        ));
        for name in ["br\"; flush ruleset", "", "sixteen-chars-xx", "..", "a b"] {
            let mut bad = opts("b");
            bad.options.insert(OPT_BRIDGE_NAME.into(), name.into());
            assert!(
                matches!(l.create(&bad, &[]), Err(StoreError::BadBridgeName { .. })),
                "{name:?}"
            );
        }
        let mut bad = opts("k");
        bad.ipam.push(IpamRequest {
            subnet: Some("10.11.0.3/24".into()),
            ..IpamRequest::default()
        });
        let e = l.create(&bad, &[]).expect_err("host bits");
        assert!(e.to_string().contains("it should be 10.11.0.0/24"), "{e}");
    }

    #[test]
    fn addresses_persist_and_free_per_container() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = Networks::open(dir.path()).expect("open");
        let l = s.lock().expect("lock");
        let mut o = opts("n");
        o.ipam.push(IpamRequest {
            subnet: Some("10.20.0.0/24".into()),
            ..IpamRequest::default()
        });
        let n = l.create(&o, &[]).expect("create");
        let (a, _) = l.allocate(&n, "c1", None, None).expect("c1");
        let (b, _) = l.allocate(&n, "c2", None, None).expect("c2");
        assert_eq!(a, Ipv4Addr::new(10, 20, 0, 2));
        assert_eq!(b, Ipv4Addr::new(10, 20, 0, 3));
        // Asking again for the same container is stable.
        assert_eq!(l.allocate(&n, "c1", None, None).expect("again").0, a);
        let e = l
            .allocate(&n, "c3", Some(b), None)
            .expect_err("taken static");
        assert!(e.to_string().contains("already in use"), "{e}");
        let (c, _) = l
            .allocate(&n, "c3", Some(Ipv4Addr::new(10, 20, 0, 50)), None)
            .expect("static");
        assert_eq!(c, Ipv4Addr::new(10, 20, 0, 50));
        drop(l);
        // Another "process" sees the same state through the files.
        let s2 = Networks::open(dir.path()).expect("reopen");
        let state = s2.ipam_state(&n.id).expect("state");
        assert_eq!(state.v4.len(), 3);
        let l2 = s2.lock().expect("lock");
        l2.release(&n.id, "c1").expect("release");
        assert_eq!(
            l2.allocate(&n, "c4", None, None).expect("reuse").0,
            a,
            "a freed address is handed out again"
        );
        // Static addresses need a user-chosen subnet, as in Docker.
        let auto = l2.create(&opts("auto"), &[]).expect("auto");
        assert!(matches!(
            l2.allocate(&auto, "c1", Some(Ipv4Addr::new(172, 17, 0, 9)), None),
            Err(StoreError::StaticNeedsSubnet { .. })
        ));
    }
}
