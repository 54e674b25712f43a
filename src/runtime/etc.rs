//! The per-container `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`,
//! generated as Docker (libnetwork's etchosts and resolvconf) generates them,
//! written into the container's directory and bind-mounted by the bundle.
//! Everything here is pure text in, text out, except [`read_host_resolv_conf`]
//! and [`write_etc_file`].

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EtcError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("bad nameserver address {value:?} in dns")]
    BadNameserver { value: String },
}

type Result<T> = std::result::Result<T, EtcError>;

// ---- /etc/hostname ----

/// `/etc/hostname`: the bare hostname and a newline.
pub fn hostname_file(hostname: &str) -> String {
    format!("{hostname}\n")
}

// ---- /etc/hosts ----

/// What goes into a container's `/etc/hosts`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hosts<'a> {
    pub hostname: &'a str,
    pub domainname: Option<&'a str>,
    /// The container's own addresses, one line each.
    pub addresses: &'a [IpAddr],
    /// `extra_hosts` as (hostname, address), `host-gateway` already resolved.
    pub extra_hosts: &'a [(String, String)],
    /// Whether the container has IPv6. When it has not, Docker leaves out the
    /// IPv6 defaults and every IPv6 record.
    pub ipv6: bool,
}

/// Docker's fixed records, in its order.
const DEFAULT_HOSTS: [(&str, &str); 6] = [
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
];

fn is_ipv6_text(addr: &str) -> bool {
    // Unparseable entries are kept, as Docker keeps them (it filters only
    // what parses as IPv6).
    addr.split('%')
        .next()
        .and_then(|a| a.parse::<IpAddr>().ok())
        .is_some_and(|a| a.is_ipv6())
}

/// `/etc/hosts` as Docker writes it: the defaults, then `extra_hosts`, then
/// one record per own address naming `<hostname>.<domain> <hostname>` (or
/// the bare hostname). Fields are tab separated.
pub fn hosts_file(h: &Hosts<'_>) -> String {
    let mut out = String::new();
    let mut record = |ip: &str, names: &str| {
        if h.ipv6 || !is_ipv6_text(ip) {
            let _ = writeln!(out, "{ip}\t{names}");
        }
    };
    for (ip, names) in DEFAULT_HOSTS {
        record(ip, names);
    }
    for (name, ip) in h.extra_hosts {
        record(ip, name);
    }
    // The hostname may itself be a FQDN, or split across hostname and domain.
    let mut fqdn = h.hostname.to_string();
    if let Some(domain) = h.domainname.filter(|d| !d.is_empty()) {
        fqdn.push('.');
        fqdn.push_str(domain);
    }
    let names = match fqdn.split_once('.') {
        Some((short, _)) => format!("{fqdn} {short}"),
        None => fqdn.clone(),
    };
    for addr in h.addresses {
        record(&addr.to_string(), &names);
    }
    out
}

// ---- /etc/resolv.conf ----

/// How the container's DNS is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsMode {
    /// `network_mode: host`: the host's file as it is (with overrides applied
    /// only when some are given).
    Host,
    /// A network without an embedded DNS server (Docker's default bridge):
    /// the host's nameservers minus the ones only reachable in the host's
    /// namespace (loopback; IPv6 without `ipv6`), Google's if none is left.
    Direct { ipv6: bool },
    /// A network with an embedded DNS server at `nameserver` (127.0.0.11):
    /// only it is listed; the host's servers become its upstreams, listed in
    /// an `# ExtServers:` comment, and `ndots:0` is added unless set.
    Embedded { nameserver: IpAddr, ipv6: bool },
}

/// The user's `dns`, `dns_search` and `dns_opt`; an empty list keeps the
/// host's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsOverrides<'a> {
    pub dns: &'a [String],
    pub dns_search: &'a [String],
    pub dns_opt: &'a [String],
}

/// One `nameserver` address, with the text it was written as (an IPv6
/// address may carry a `%zone`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Nameserver {
    addr: IpAddr,
    zone: bool,
    text: String,
}

impl Nameserver {
    fn parse(text: &str) -> Option<Nameserver> {
        let (addr, zone) = match text.split_once('%') {
            Some((a, z)) if !z.is_empty() => (a, true),
            Some(_) => return None,
            None => (text, false),
        };
        let addr: IpAddr = addr.parse().ok()?;
        if zone && !addr.is_ipv6() {
            return None;
        }
        Some(Nameserver {
            addr,
            zone,
            text: text.to_string(),
        })
    }
}

/// A parsed resolv.conf plus where each part came from, for the comments.
#[derive(Clone, Debug, Default)]
struct ResolvConf {
    nameservers: Vec<Nameserver>,
    search: Vec<String>,
    options: Vec<String>,
    /// Lines with directives we do not interpret (`sortlist`, …), verbatim.
    other: Vec<String>,
    invalid: Vec<String>,
    ns_override: bool,
    search_override: bool,
    options_override: bool,
    ndots_from: Option<&'static str>,
    used_default: bool,
    transform: Option<&'static str>,
    ext_servers: Vec<String>,
}

const DEFAULT_V4: [&str; 2] = ["8.8.8.8", "8.8.4.4"];
const DEFAULT_V6: [&str; 2] = ["2001:4860:4860::8888", "2001:4860:4860::8844"];

fn default_nameservers(ipv6: bool) -> Vec<Nameserver> {
    let v6: &[&str] = if ipv6 { &DEFAULT_V6 } else { &[] };
    DEFAULT_V4
        .iter()
        .chain(v6)
        .filter_map(|a| Nameserver::parse(a))
        .collect()
}

impl ResolvConf {
    fn parse(text: &str) -> ResolvConf {
        let mut rc = ResolvConf::default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(first) = fields.first() else {
                continue;
            };
            if first.starts_with('#') || first.starts_with(';') {
                continue;
            }
            match *first {
                "nameserver" => {
                    if let Some(v) = fields.get(1) {
                        match Nameserver::parse(v) {
                            Some(ns) => rc.nameservers.push(ns),
                            None => rc.invalid.push(v.to_string()),
                        }
                    }
                }
                // `domain` is the obsolete spelling of `search`; the last one wins.
                "search" | "domain" if fields.len() > 1 => {
                    rc.search = fields[1..].iter().map(|s| s.to_string()).collect();
                }
                "options" if fields.len() > 1 => {
                    rc.options.extend(fields[1..].iter().map(|s| s.to_string()));
                }
                "search" | "domain" | "options" => {}
                _ => rc.other.push(line.to_string()),
            }
        }
        if rc.option("ndots").is_some() {
            rc.ndots_from = Some("host");
        }
        rc
    }

    /// The value of the last option named `name` (`ndots:1` → "1").
    fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().rev().find_map(|o| {
            let (k, v) = o.split_once(':').unwrap_or((o, ""));
            (k == name).then_some(v)
        })
    }

    fn apply(&mut self, o: &DnsOverrides<'_>) -> Result<()> {
        if !o.dns.is_empty() {
            self.nameservers = o
                .dns
                .iter()
                .map(|d| {
                    Nameserver::parse(d).ok_or_else(|| EtcError::BadNameserver { value: d.clone() })
                })
                .collect::<Result<_>>()?;
            self.ns_override = true;
        }
        if !o.dns_search.is_empty() {
            // "." means "no search domains".
            self.search = o.dns_search.iter().filter(|s| *s != ".").cloned().collect();
            self.search_override = true;
        }
        if !o.dns_opt.is_empty() {
            self.options = o.dns_opt.to_vec();
            self.ndots_from = self.option("ndots").map(|_| "override");
            self.options_override = true;
        }
        Ok(())
    }

    fn transform_direct(&mut self, ipv6: bool) {
        self.transform = Some("legacy");
        if self.ns_override {
            // The user's servers are taken as given.
            return;
        }
        self.nameservers
            .retain(|ns| !ns.addr.is_loopback() && (ipv6 || !ns.addr.is_ipv6()));
        if self.nameservers.is_empty() {
            self.nameservers = default_nameservers(ipv6);
            self.used_default = true;
        }
    }

    fn transform_embedded(&mut self, nameserver: IpAddr, ipv6: bool) {
        for ns in &self.nameservers {
            // Servers from the host's file that only answer in the host's
            // namespace are queried from there: `host(…)`. A user's `dns`
            // loopback address means the container's own loopback.
            let host_only = !self.ns_override
                && (ns.addr.is_loopback() || (ns.addr.is_ipv6() && !ipv6) || ns.zone);
            self.ext_servers.push(if host_only {
                format!("host({})", ns.text)
            } else {
                ns.text.clone()
            });
        }
        self.nameservers = vec![Nameserver {
            addr: nameserver,
            zone: false,
            text: nameserver.to_string(),
        }];
        if self.ext_servers.is_empty() {
            self.ext_servers = default_nameservers(ipv6)
                .into_iter()
                .map(|n| n.text)
                .collect();
            self.used_default = true;
        }
        // The embedded server needs ndots:0 unless a valid ndots is set.
        self.options.retain(|o| match o.split_once(':') {
            Some(("ndots", v)) => v.parse::<u32>().is_ok(),
            _ => true,
        });
        if self.option("ndots").is_none() {
            self.options.push("ndots:0".to_string());
            self.ndots_from = Some("internal");
        }
        self.transform = Some("internal resolver");
    }

    fn generate(&self, source: &Path) -> String {
        let mut out = String::from("# Generated by wharf.\n\n");
        for ns in &self.nameservers {
            let _ = writeln!(out, "nameserver {}", ns.text);
        }
        if !self.search.is_empty() {
            let _ = writeln!(out, "search {}", self.search.join(" "));
        }
        if !self.options.is_empty() {
            let _ = writeln!(out, "options {}", self.options.join(" "));
        }
        for line in &self.other {
            let _ = writeln!(out, "{line}");
        }
        let _ = write!(out, "\n# Based on host file: '{}'", source.display());
        if let Some(t) = self.transform {
            let _ = write!(out, " ({t})");
        }
        out.push('\n');
        if self.used_default {
            out.push_str("# Used default nameservers.\n");
        }
        if !self.ext_servers.is_empty() {
            let _ = writeln!(out, "# ExtServers: [{}]", self.ext_servers.join(" "));
        }
        if !self.invalid.is_empty() {
            let _ = writeln!(out, "# Invalid nameservers: [{}]", self.invalid.join(" "));
        }
        let overrides: Vec<&str> = [
            (self.ns_override, "nameservers"),
            (self.search_override, "search"),
            (self.options_override, "options"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        let _ = writeln!(out, "# Overrides: [{}]", overrides.join(" "));
        if let Some(from) = self.ndots_from {
            let _ = writeln!(out, "# Option ndots from: {from}");
        }
        out
    }
}

/// The upstream servers an embedded DNS server should use for this
/// container, as `host(addr)` (query from the host's namespace) or `addr`.
/// Same rules as the `# ExtServers:` comment of [`resolv_conf`].
pub fn external_servers(
    host_text: &str,
    overrides: &DnsOverrides<'_>,
    ipv6: bool,
) -> Result<Vec<String>> {
    let mut rc = ResolvConf::parse(host_text);
    rc.apply(overrides)?;
    rc.transform_embedded(IpAddr::from([127, 0, 0, 11]), ipv6);
    Ok(rc.ext_servers)
}

/// The container's resolv.conf from the host's file's text (`host_text`,
/// read from `host_path`, which is named in the file's trailing comment).
pub fn resolv_conf(
    host_path: &Path,
    host_text: &str,
    overrides: &DnsOverrides<'_>,
    mode: &DnsMode,
) -> Result<String> {
    let no_overrides =
        overrides.dns.is_empty() && overrides.dns_search.is_empty() && overrides.dns_opt.is_empty();
    if *mode == DnsMode::Host && no_overrides {
        return Ok(host_text.to_string());
    }
    let mut rc = ResolvConf::parse(host_text);
    rc.apply(overrides)?;
    match *mode {
        DnsMode::Host => {}
        DnsMode::Direct { ipv6 } => rc.transform_direct(ipv6),
        DnsMode::Embedded { nameserver, ipv6 } => rc.transform_embedded(nameserver, ipv6),
    }
    Ok(rc.generate(host_path))
}

/// Reads the host's resolv.conf; a missing file reads as empty, as Docker
/// treats it (so the defaults apply).
pub fn read_host_resolv_conf(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(EtcError::Io {
            action: "reading",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes one of these files (mode 0644). It is rewritten in place, not
/// replaced: once bind-mounted into a running container, only the original
/// inode is visible there.
pub fn write_etc_file(path: &Path, content: &str) -> Result<()> {
    let err = |action| {
        move |source| EtcError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err("opening"))?;
    f.write_all(content.as_bytes()).map_err(err("writing"))?;
    f.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(err("setting the mode of"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("ip")).collect()
    }

    #[test]
    fn hosts_has_docker_defaults_extra_hosts_then_own_addresses() {
        let addrs = ips(&["172.18.0.2"]);
        let extra = vec![
            ("db.example".to_string(), "10.0.0.5".to_string()),
            ("host.docker.internal".to_string(), "172.17.0.1".to_string()),
        ];
        let text = hosts_file(&Hosts {
            hostname: "4f2a9c1e7b3d",
            domainname: None,
            addresses: &addrs,
            extra_hosts: &extra,
            ipv6: true,
        });
        assert_eq!(
            text,
            "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n\
             10.0.0.5\tdb.example\n\
             172.17.0.1\thost.docker.internal\n\
             172.18.0.2\t4f2a9c1e7b3d\n"
        );
    }

    #[test]
    fn hosts_names_fqdn_and_short_name() {
        let addrs = ips(&["10.1.0.3", "fd00::3"]);
        let text = hosts_file(&Hosts {
            hostname: "web",
            domainname: Some("example.org"),
            addresses: &addrs,
            extra_hosts: &[],
            ipv6: true,
        });
        assert!(text.ends_with("10.1.0.3\tweb.example.org web\nfd00::3\tweb.example.org web\n"));
        // A FQDN given as the hostname is split the same way.
        let text = hosts_file(&Hosts {
            hostname: "api.internal",
            addresses: &addrs[..1],
            ipv6: true,
            ..Default::default()
        });
        assert!(text.ends_with("10.1.0.3\tapi.internal api\n"), "{text}");
    }

    #[test]
    fn hosts_without_ipv6_drops_every_ipv6_record() {
        let addrs = ips(&["10.1.0.3", "fd00::3"]);
        let extra = vec![
            ("v6only".to_string(), "2001:db8::1".to_string()),
            ("v4".to_string(), "192.0.2.1".to_string()),
        ];
        let text = hosts_file(&Hosts {
            hostname: "web",
            domainname: None,
            addresses: &addrs,
            extra_hosts: &extra,
            ipv6: false,
        });
        assert_eq!(text, "127.0.0.1\tlocalhost\n192.0.2.1\tv4\n10.1.0.3\tweb\n");
    }

    #[test]
    fn hostname_file_is_the_name_and_a_newline() {
        assert_eq!(hostname_file("4f2a9c1e7b3d"), "4f2a9c1e7b3d\n");
    }

    const HOST_LOCAL_ONLY: &str = "# managed by systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch corp.example\n";
    const HOST_MIXED: &str =
        "nameserver 10.0.0.1\nnameserver 127.0.0.1\nnameserver fdb6:b8fe:b528::1\nnameserver ::1\nsearch a.example b.example\n";

    fn rc(host: &str, o: &DnsOverrides<'_>, mode: DnsMode) -> String {
        resolv_conf(Path::new("/etc/resolv.conf"), host, o, &mode).expect("resolv.conf")
    }

    #[test]
    fn direct_network_drops_loopback_servers_and_falls_back_to_google() {
        let text = rc(
            HOST_LOCAL_ONLY,
            &DnsOverrides::default(),
            DnsMode::Direct { ipv6: false },
        );
        assert_eq!(
            text,
            "# Generated by wharf.\n\n\
             nameserver 8.8.8.8\n\
             nameserver 8.8.4.4\n\
             search corp.example\n\
             options edns0 trust-ad\n\
             \n# Based on host file: '/etc/resolv.conf' (legacy)\n\
             # Used default nameservers.\n\
             # Overrides: []\n"
        );
    }

    #[test]
    fn direct_network_keeps_routable_servers_and_ipv6_only_with_ipv6() {
        let v4 = rc(
            HOST_MIXED,
            &DnsOverrides::default(),
            DnsMode::Direct { ipv6: false },
        );
        let servers: Vec<&str> = v4.lines().filter(|l| l.starts_with("nameserver")).collect();
        assert_eq!(servers, ["nameserver 10.0.0.1"]);
        assert!(!v4.contains("Used default"));
        let v6 = rc(
            HOST_MIXED,
            &DnsOverrides::default(),
            DnsMode::Direct { ipv6: true },
        );
        let servers: Vec<&str> = v6.lines().filter(|l| l.starts_with("nameserver")).collect();
        assert_eq!(
            servers,
            ["nameserver 10.0.0.1", "nameserver fdb6:b8fe:b528::1"]
        );
        assert!(v6.contains("search a.example b.example\n"));
    }

    #[test]
    fn embedded_dns_lists_only_itself_and_records_upstreams() {
        let ns: IpAddr = "127.0.0.11".parse().expect("ip");
        let text = rc(
            HOST_MIXED,
            &DnsOverrides::default(),
            DnsMode::Embedded {
                nameserver: ns,
                ipv6: false,
            },
        );
        assert_eq!(
            text,
            "# Generated by wharf.\n\n\
             nameserver 127.0.0.11\n\
             search a.example b.example\n\
             options ndots:0\n\
             \n# Based on host file: '/etc/resolv.conf' (internal resolver)\n\
             # ExtServers: [10.0.0.1 host(127.0.0.1) host(fdb6:b8fe:b528::1) host(::1)]\n\
             # Overrides: []\n\
             # Option ndots from: internal\n"
        );
        assert_eq!(
            external_servers(HOST_MIXED, &DnsOverrides::default(), true).expect("ext"),
            [
                "10.0.0.1",
                "host(127.0.0.1)",
                "fdb6:b8fe:b528::1",
                "host(::1)"
            ]
        );
    }

    #[test]
    fn embedded_dns_with_no_upstream_uses_defaults_and_keeps_a_valid_ndots() {
        let ns: IpAddr = "127.0.0.11".parse().expect("ip");
        let text = rc(
            "options ndots:2 rotate\n",
            &DnsOverrides::default(),
            DnsMode::Embedded {
                nameserver: ns,
                ipv6: false,
            },
        );
        assert!(
            text.contains("nameserver 127.0.0.11\noptions ndots:2 rotate\n"),
            "{text}"
        );
        assert!(text.contains("# Used default nameservers.\n# ExtServers: [8.8.8.8 8.8.4.4]\n"));
        assert!(text.ends_with("# Option ndots from: host\n"));
        // An invalid ndots is replaced by the embedded server's.
        let text = rc(
            "nameserver 10.0.0.1\noptions ndots:-1\n",
            &DnsOverrides::default(),
            DnsMode::Embedded {
                nameserver: ns,
                ipv6: false,
            },
        );
        assert!(text.contains("options ndots:0\n"), "{text}");
    }

    #[test]
    fn overrides_replace_host_values_and_are_not_filtered() {
        let dns = vec!["127.0.0.53".to_string(), "1.1.1.1".to_string()];
        let search = vec!["svc.example".to_string()];
        let opts = vec!["ndots:3".to_string(), "timeout:1".to_string()];
        let o = DnsOverrides {
            dns: &dns,
            dns_search: &search,
            dns_opt: &opts,
        };
        let text = rc(HOST_MIXED, &o, DnsMode::Direct { ipv6: false });
        assert_eq!(
            text,
            "# Generated by wharf.\n\n\
             nameserver 127.0.0.53\n\
             nameserver 1.1.1.1\n\
             search svc.example\n\
             options ndots:3 timeout:1\n\
             \n# Based on host file: '/etc/resolv.conf' (legacy)\n\
             # Overrides: [nameservers search options]\n\
             # Option ndots from: override\n"
        );
        // With the embedded server a user's loopback server is the
        // container's own loopback, not the host's.
        let ns: IpAddr = "127.0.0.11".parse().expect("ip");
        let text = rc(
            HOST_MIXED,
            &o,
            DnsMode::Embedded {
                nameserver: ns,
                ipv6: false,
            },
        );
        assert!(
            text.contains("# ExtServers: [127.0.0.53 1.1.1.1]\n"),
            "{text}"
        );
        // dns_search "." clears the search list.
        let dot = vec![".".to_string()];
        let text = rc(
            HOST_MIXED,
            &DnsOverrides {
                dns_search: &dot,
                ..Default::default()
            },
            DnsMode::Direct { ipv6: false },
        );
        assert!(!text.contains("\nsearch"), "{text}");
        assert!(text.contains("# Overrides: [search]\n"));
    }

    #[test]
    fn bad_dns_override_is_an_error_naming_it() {
        let dns = vec!["not-an-ip".to_string()];
        let err = resolv_conf(
            Path::new("/etc/resolv.conf"),
            "",
            &DnsOverrides {
                dns: &dns,
                ..Default::default()
            },
            &DnsMode::Direct { ipv6: false },
        )
        .expect_err("bad dns");
        assert!(err.to_string().contains("not-an-ip"));
    }

    #[test]
    fn host_mode_keeps_the_host_file_byte_for_byte() {
        let text = rc(HOST_LOCAL_ONLY, &DnsOverrides::default(), DnsMode::Host);
        assert_eq!(text, HOST_LOCAL_ONLY);
        let search = vec!["x.example".to_string()];
        let text = rc(
            HOST_LOCAL_ONLY,
            &DnsOverrides {
                dns_search: &search,
                ..Default::default()
            },
            DnsMode::Host,
        );
        // Overrides apply; the host's loopback server stays (same namespace).
        assert!(
            text.contains("nameserver 127.0.0.53\nsearch x.example\n"),
            "{text}"
        );
    }

    #[test]
    fn unknown_directives_and_invalid_servers_are_kept_as_docker_does() {
        let host = "nameserver 10.0.0.1\nnameserver bogus\nsortlist 130.155.160.0/255.255.240.0\n";
        let text = rc(
            host,
            &DnsOverrides::default(),
            DnsMode::Direct { ipv6: false },
        );
        assert!(
            text.contains("nameserver 10.0.0.1\nsortlist 130.155.160.0/255.255.240.0\n"),
            "{text}"
        );
        assert!(text.contains("# Invalid nameservers: [bogus]\n"));
    }

    #[test]
    fn missing_host_file_reads_as_empty_and_files_are_written_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            read_host_resolv_conf(&dir.path().join("absent")).expect("read"),
            ""
        );
        let p = dir.path().join("hosts");
        write_etc_file(&p, "one\n").expect("write");
        let ino = fs::metadata(&p)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .expect("stat");
        write_etc_file(&p, "two\n").expect("rewrite");
        let meta = fs::metadata(&p).expect("stat");
        assert_eq!(std::os::unix::fs::MetadataExt::ino(&meta), ino);
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read_to_string(&p).expect("read"), "two\n");
    }
}
