//! Address management, the pure part: IPv4 subnets, the pool networks get
//! their subnet from (Docker's default: 172.17.0.0/16 … 172.31.0.0/16, then
//! 192.168.0.0/16 in /20 steps), and picking addresses inside a subnet.
//! The state (which address belongs to which container) lives in files
//! under the network store's lock, see [`super::store`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpamError {
    #[error("invalid subnet {0:?}: expected an IPv4 CIDR such as 172.20.0.0/16")]
    BadSubnet(String),
    #[error("invalid subnet {given}: it should be {expected}")]
    HostBits { given: String, expected: String },
    #[error("subnet {0} is too small: at least a /30 is needed")]
    TooSmall(Subnet),
    #[error("no available IPv4 subnet in the address pools (every candidate overlaps a host route or another network)")]
    PoolExhausted,
    #[error("no available IPv4 address on network {network} ({subnet})")]
    Full { network: String, subnet: Subnet },
    #[error("address {ip} is not in subnet {subnet} of network {network}")]
    NotInSubnet {
        ip: Ipv4Addr,
        subnet: Subnet,
        network: String,
    },
    #[error(
        "address {ip} is reserved on network {network} (network, gateway or broadcast address)"
    )]
    Reserved { ip: Ipv4Addr, network: String },
    #[error("address {ip} is already in use on network {network}")]
    InUse { ip: Ipv4Addr, network: String },
    #[error("ip range {range} is not inside subnet {subnet}")]
    RangeOutside { range: Subnet, subnet: Subnet },
    #[error("gateway {gateway} is not inside subnet {subnet}")]
    GatewayOutside { gateway: Ipv4Addr, subnet: Subnet },
}

/// An IPv4 network in CIDR form; the address has no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet containing `addr` with `prefix` bits (host bits cleared).
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Subnet {
        let prefix = prefix.min(32);
        Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    pub fn addr(self) -> Ipv4Addr {
        self.addr
    }

    pub fn prefix(self) -> u8 {
        self.prefix
    }

    fn first(self) -> u32 {
        u32::from(self.addr)
    }

    fn last(self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }

    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }

    pub fn overlaps(self, other: Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The `n`-th address of the subnet (0 is the network address).
    pub fn nth(self, n: u32) -> Option<Ipv4Addr> {
        self.first()
            .checked_add(n)
            .filter(|a| *a <= self.last())
            .map(Ipv4Addr::from)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = IpamError;

    /// `a.b.c.d/n`; host bits set is an error naming the right form, as
    /// Docker reports it.
    fn from_str(s: &str) -> Result<Subnet, IpamError> {
        let bad = || IpamError::BadSubnet(s.to_string());
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        if prefix > 32 {
            return Err(bad());
        }
        let net = Subnet::containing(addr, prefix);
        if net.addr != addr {
            return Err(IpamError::HostBits {
                given: s.to_string(),
                expected: net.to_string(),
            });
        }
        Ok(net)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One pool: subnets of `size` bits carved out of `base`, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub base: Subnet,
    pub size: u8,
}

/// Docker's default address pools.
pub fn default_pools() -> Vec<Pool> {
    let mut pools: Vec<Pool> = (17..=31)
        .map(|b| Pool {
            base: Subnet::containing(Ipv4Addr::new(172, b, 0, 0), 16),
            size: 16,
        })
        .collect();
    pools.push(Pool {
        base: Subnet::containing(Ipv4Addr::new(192, 168, 0, 0), 16),
        size: 20,
    });
    pools
}

/// The first subnet of the pools that overlaps none of `used` (host routes,
/// host addresses, other networks).
pub fn pick_subnet(pools: &[Pool], used: &[Subnet]) -> Result<Subnet, IpamError> {
    for pool in pools {
        if pool.size < pool.base.prefix || pool.size > 30 {
            continue;
        }
        let step = 1u64 << (32 - u32::from(pool.size));
        let count = 1u64 << (u32::from(pool.size) - u32::from(pool.base.prefix));
        for i in 0..count {
            let start = u64::from(pool.base.first()) + i * step;
            let Ok(start) = u32::try_from(start) else {
                break;
            };
            let candidate = Subnet::containing(Ipv4Addr::from(start), pool.size);
            if !used.iter().any(|u| u.overlaps(candidate)) {
                return Ok(candidate);
            }
        }
    }
    Err(IpamError::PoolExhausted)
}

/// Checks a user's subnet/gateway/range and returns the gateway (the
/// subnet's first address unless given).
pub fn check_config(
    subnet: Subnet,
    gateway: Option<Ipv4Addr>,
    range: Option<Subnet>,
) -> Result<Ipv4Addr, IpamError> {
    if subnet.prefix > 30 {
        return Err(IpamError::TooSmall(subnet));
    }
    if let Some(r) = range {
        if !subnet.contains(r.addr) || r.prefix < subnet.prefix {
            return Err(IpamError::RangeOutside { range: r, subnet });
        }
    }
    match gateway {
        Some(g) if !subnet.contains(g) => Err(IpamError::GatewayOutside { gateway: g, subnet }),
        Some(g) => Ok(g),
        None => subnet.nth(1).ok_or(IpamError::TooSmall(subnet)),
    }
}

/// The first free address for a container: inside `range` when one is
/// given (else the subnet), never the network, broadcast or gateway
/// address, nor one in `taken`.
pub fn pick_address(
    network: &str,
    subnet: Subnet,
    range: Option<Subnet>,
    gateway: Ipv4Addr,
    taken: &BTreeSet<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let within = range.unwrap_or(subnet);
    let mut n = 0u32;
    while let Some(ip) = within.nth(n) {
        n += 1;
        if reserved(subnet, gateway, ip) || taken.contains(&ip) {
            continue;
        }
        return Ok(ip);
    }
    Err(IpamError::Full {
        network: network.to_string(),
        subnet,
    })
}

fn reserved(subnet: Subnet, gateway: Ipv4Addr, ip: Ipv4Addr) -> bool {
    ip == subnet.addr || ip == subnet.broadcast() || ip == gateway
}

/// Validates a static address (`--ip`, `ipv4_address`).
pub fn check_static(
    network: &str,
    subnet: Subnet,
    gateway: Ipv4Addr,
    ip: Ipv4Addr,
    taken: &BTreeSet<Ipv4Addr>,
) -> Result<(), IpamError> {
    if !subnet.contains(ip) {
        return Err(IpamError::NotInSubnet {
            ip,
            subnet,
            network: network.to_string(),
        });
    }
    if reserved(subnet, gateway, ip) {
        return Err(IpamError::Reserved {
            ip,
            network: network.to_string(),
        });
    }
    if taken.contains(&ip) {
        return Err(IpamError::InUse {
            ip,
            network: network.to_string(),
        });
    }
    Ok(())
}

/// Docker's MAC for an IPv4 address: 02:42 then the four address bytes.
pub fn mac_for(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Subnet {
        s.parse().expect("subnet")
    }

    #[test]
    fn parses_and_rejects_host_bits() {
        assert_eq!(net("172.20.0.0/16").to_string(), "172.20.0.0/16");
        assert_eq!(
            "172.20.0.5/16".parse::<Subnet>(),
            Err(IpamError::HostBits {
                given: "172.20.0.5/16".into(),
                expected: "172.20.0.0/16".into()
            })
        );
        for bad in ["172.20.0.0", "172.20.0.0/33", "x/8", "::1/64"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        let a = net("10.0.0.0/8");
        let b = net("10.200.0.0/16");
        let c = net("11.0.0.0/16");
        assert!(a.overlaps(b) && b.overlaps(a));
        assert!(!a.overlaps(c) && !c.overlaps(a));
        assert!(net("192.168.0.0/20").overlaps(net("192.168.15.255/32")));
        assert!(!net("192.168.0.0/20").overlaps(net("192.168.16.0/32")));
    }

    #[test]
    fn pool_skips_used_ranges_in_dockers_order() {
        let pools = default_pools();
        assert_eq!(pick_subnet(&pools, &[]), Ok(net("172.17.0.0/16")));
        // A host route inside 172.17 and another network on 172.18.
        let used = [net("172.17.3.0/24"), net("172.18.0.0/16")];
        assert_eq!(pick_subnet(&pools, &used), Ok(net("172.19.0.0/16")));
        // A wide host route covering all of 172.16/12 sends us to 192.168.
        let used = [net("172.16.0.0/12"), net("192.168.0.1/32")];
        assert_eq!(pick_subnet(&pools, &used), Ok(net("192.168.16.0/20")));
        let all = [net("0.0.0.0/1"), net("128.0.0.0/1")];
        assert_eq!(pick_subnet(&pools, &all), Err(IpamError::PoolExhausted));
    }

    #[test]
    fn addresses_start_after_the_gateway_and_skip_taken() {
        let s = net("10.1.0.0/29");
        let gw = check_config(s, None, None).expect("config");
        assert_eq!(gw, Ipv4Addr::new(10, 1, 0, 1));
        let mut taken = BTreeSet::new();
        let a = pick_address("n", s, None, gw, &taken).expect("first");
        assert_eq!(a, Ipv4Addr::new(10, 1, 0, 2));
        taken.insert(a);
        taken.insert(Ipv4Addr::new(10, 1, 0, 3));
        let b = pick_address("n", s, None, gw, &taken).expect("second");
        assert_eq!(b, Ipv4Addr::new(10, 1, 0, 4));
        taken.extend([b, Ipv4Addr::new(10, 1, 0, 5), Ipv4Addr::new(10, 1, 0, 6)]);
        // .7 is the broadcast address: the /29 is full.
        assert!(matches!(
            pick_address("n", s, None, gw, &taken),
            Err(IpamError::Full { .. })
        ));
        // Freeing one makes it the next pick.
        taken.remove(&Ipv4Addr::new(10, 1, 0, 3));
        assert_eq!(
            pick_address("n", s, None, gw, &taken),
            Ok(Ipv4Addr::new(10, 1, 0, 3))
        );
    }

    #[test]
    fn ip_range_and_custom_gateway() {
        let s = net("10.2.0.0/16");
        let r = net("10.2.5.0/24");
        let gw = check_config(s, Some(Ipv4Addr::new(10, 2, 5, 0)), Some(r)).expect("config");
        let a = pick_address("n", s, Some(r), gw, &BTreeSet::new()).expect("pick");
        assert_eq!(a, Ipv4Addr::new(10, 2, 5, 1));
        assert!(matches!(
            check_config(s, Some(Ipv4Addr::new(10, 3, 0, 1)), None),
            Err(IpamError::GatewayOutside { .. })
        ));
        assert!(matches!(
            check_config(s, None, Some(net("10.9.0.0/24"))),
            Err(IpamError::RangeOutside { .. })
        ));
        assert!(matches!(
            check_config(net("10.0.0.0/31"), None, None),
            Err(IpamError::TooSmall(_))
        ));
    }

    #[test]
    fn static_addresses_are_validated() {
        let s = net("10.3.0.0/24");
        let gw = Ipv4Addr::new(10, 3, 0, 1);
        let taken: BTreeSet<_> = [Ipv4Addr::new(10, 3, 0, 9)].into();
        assert!(check_static("n", s, gw, Ipv4Addr::new(10, 3, 0, 10), &taken).is_ok());
        for (ip, what) in [
            (Ipv4Addr::new(10, 3, 1, 10), "outside"),
            (Ipv4Addr::new(10, 3, 0, 1), "gateway"),
            (Ipv4Addr::new(10, 3, 0, 0), "network"),
            (Ipv4Addr::new(10, 3, 0, 255), "broadcast"),
            (Ipv4Addr::new(10, 3, 0, 9), "taken"),
        ] {
            assert!(check_static("n", s, gw, ip, &taken).is_err(), "{what}");
        }
    }

    #[test]
    fn docker_style_mac() {
        assert_eq!(mac_for(Ipv4Addr::new(172, 18, 0, 2)), "02:42:ac:12:00:02");
    }
}
