//! The names a container can resolve: the [`EndpointRecord`] files of the
//! networks it is on, re-read when a network's endpoint directory changes.

use super::Follow;
use crate::net::{endpoints_dir, EndpointRecord};
use std::collections::HashMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// A directory listing is trusted from cache only when the directory was
/// last changed at least this long before we read it: file times have
/// coarse (jiffy) granularity, so a change in the same tick as our read
/// would leave the mtime unchanged and the cache stale ("racy" entries, as
/// git calls them).
const RACY: Duration = Duration::from_secs(2);

/// What identifies one version of an endpoint directory. Writers replace
/// record files by rename (or remove/create them), which changes the
/// directory's mtime.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct DirStamp {
    ino: u64,
    mtime_sec: i64,
    mtime_nsec: i64,
}

struct CachedDir {
    stamp: DirStamp,
    records: Arc<Vec<EndpointRecord>>,
}

/// Addresses found for a name known locally. Either list may be empty: a
/// name known without an address of the asked family gets NOERROR with no
/// records (as Docker answers), not a forward.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Found {
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
}

/// The endpoint records of the networks one container is on.
pub(crate) struct Records {
    root: PathBuf,
    networks: Vec<String>,
    /// Instead of `networks`: the ones this container is on at each query.
    follow: Option<Follow>,
    cache: Mutex<HashMap<String, CachedDir>>,
}

impl Records {
    pub(crate) fn new(root: PathBuf, networks: Vec<String>) -> Records {
        Records {
            root,
            networks,
            follow: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn following(mut self, follow: Option<Follow>) -> Records {
        self.follow = follow;
        self
    }

    /// The ids of the networks whose names are served now: with `follow`,
    /// every network with an endpoint file of the container (written
    /// before `network connect` returns, removed by `disconnect`).
    fn network_ids(&self) -> Vec<String> {
        let Some(follow) = &self.follow else {
            return self.networks.clone();
        };
        let Ok(entries) = fs::read_dir(self.root.join("networks")) else {
            return Vec::new();
        };
        let file = format!("{}.json", follow.container_id);
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|id| endpoints_dir(&self.root, id).join(&file).is_file())
            .filter(|id| {
                follow.default_bridge
                    || !self
                        .load(id)
                        .iter()
                        .any(|r| r.network_name == crate::net::store::DEFAULT_BRIDGE)
            })
            .collect();
        ids.sort();
        ids
    }

    /// The records of one network, from cache when its directory has not
    /// changed. A missing directory is an empty network.
    fn load(&self, network_id: &str) -> Arc<Vec<EndpointRecord>> {
        let dir = endpoints_dir(&self.root, network_id);
        let before = SystemTime::now();
        let Some(stamp) = stamp_of(&dir) else {
            return Arc::new(Vec::new());
        };
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache.get(network_id) {
                if c.stamp == stamp {
                    return c.records.clone();
                }
            }
        }
        let records = Arc::new(read_dir_records(&dir));
        let changed_at = SystemTime::UNIX_EPOCH
            + Duration::new(
                u64::try_from(stamp.mtime_sec).unwrap_or(0),
                u32::try_from(stamp.mtime_nsec).unwrap_or(0),
            );
        // Only cache a listing that cannot hide a change made in the same
        // timestamp tick (see RACY).
        let settled = before
            .duration_since(changed_at)
            .map(|age| age >= RACY)
            .unwrap_or(false);
        if settled {
            if let Ok(mut cache) = self.cache.lock() {
                cache.insert(
                    network_id.to_string(),
                    CachedDir {
                        stamp,
                        records: records.clone(),
                    },
                );
            }
        }
        records
    }

    /// The records of each of the container's networks.
    fn all(&self) -> Vec<Arc<Vec<EndpointRecord>>> {
        self.network_ids().iter().map(|n| self.load(n)).collect()
    }

    /// Resolves a query name (any case, with or without the trailing dot)
    /// the way Docker's embedded server does: `name` on any of the
    /// container's networks (answers from all of them), else `name.<network
    /// name>` on that network, else `name.<search domain>`. `None` when no
    /// endpoint carries the name.
    pub(crate) fn lookup_name(&self, qname: &str, search: &[String]) -> Option<Found> {
        let q = normalize(qname);
        if q.is_empty() {
            return None;
        }
        let all = self.all();
        if let Some(found) = collect(&all, &q, None) {
            return Some(found);
        }
        // `web.myproject_default`: the name on that one network. Network
        // names may contain dots, so try every split.
        for (i, _) in q.match_indices('.') {
            let (name, net) = (&q[..i], &q[i + 1..]);
            if let Some(found) = collect(&all, name, Some(net)) {
                return Some(found);
            }
        }
        for domain in search {
            let d = normalize(domain);
            if d.is_empty() {
                continue;
            }
            if let Some(name) = q.strip_suffix(&d).and_then(|s| s.strip_suffix('.')) {
                if let Some(found) = collect(&all, name, None) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// The PTR target of an endpoint address: `<container>.<network>`, as
    /// Docker answers.
    pub(crate) fn lookup_ip(&self, ip: IpAddr) -> Option<String> {
        for records in self.all() {
            for r in records.iter() {
                let hit = match ip {
                    IpAddr::V4(v4) => r.ipv4 == Some(v4),
                    IpAddr::V6(v6) => r.ipv6 == Some(v6),
                };
                if hit && !r.container_name.is_empty() {
                    if r.network_name.is_empty() {
                        return Some(r.container_name.clone());
                    }
                    return Some(format!("{}.{}", r.container_name, r.network_name));
                }
            }
        }
        None
    }
}

/// Lower-case, without the trailing dot: how names are compared.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The addresses of every endpoint carrying `name`, on every network or
/// only on the one whose name is `only_net`. Addresses appear once each.
fn collect(all: &[Arc<Vec<EndpointRecord>>], name: &str, only_net: Option<&str>) -> Option<Found> {
    let mut found = Found::default();
    let mut known = false;
    for records in all {
        for r in records.iter() {
            if let Some(net) = only_net {
                if !r.network_name.eq_ignore_ascii_case(net) {
                    continue;
                }
            }
            if !r.names.iter().any(|n| normalize(n) == name) {
                continue;
            }
            known = true;
            if let Some(v4) = r.ipv4 {
                if !found.v4.contains(&v4) {
                    found.v4.push(v4);
                }
            }
            if let Some(v6) = r.ipv6 {
                if !found.v6.contains(&v6) {
                    found.v6.push(v6);
                }
            }
        }
    }
    known.then_some(found)
}

fn stamp_of(dir: &Path) -> Option<DirStamp> {
    let md = fs::metadata(dir).ok()?;
    Some(DirStamp {
        ino: md.ino(),
        mtime_sec: md.mtime(),
        mtime_nsec: md.mtime_nsec(),
    })
}

/// Every `*.json` record in `dir`. A file that cannot be read or parsed is
/// skipped with a warning: one bad record must not hide the others (and a
/// writer's temp file is not a `.json`).
fn read_dir_records(dir: &Path) -> Vec<EndpointRecord> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    // Stable order, so answers only vary by the deliberate shuffle.
    paths.sort();
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        match fs::read(&p) {
            Ok(bytes) => match serde_json::from_slice::<EndpointRecord>(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!("dns: skipping endpoint record {}: {e}", p.display()),
            },
            // Removed between listing and reading: the endpoint is gone.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("dns: cannot read endpoint record {}: {e}", p.display()),
        }
    }
    out
}
