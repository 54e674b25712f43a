//! One nftables table per network, `inet wharf-<id12>`, driven through the
//! `nft` binary (text in): removal is one `delete table`, exact and
//! crash-safe, and no other program's rules are touched.
//!
//! - forward: traffic within the bridge is accepted; traffic between this
//!   bridge and any other wharf bridge (interface group
//!   [`super::bridge::BRIDGE_GROUP`]) is dropped both ways — networks and
//!   projects are isolated from each other; an internal network drops
//!   everything that enters or leaves the bridge; into a non-internal one
//!   from elsewhere only published (DNAT'ed) ports and replies pass.
//! - postrouting: non-internal networks masquerade their subnet when it
//!   leaves through another interface (egress).

use super::bridge::BRIDGE_GROUP;
use super::iptables::{self, Family};
use super::store::NetworkRecord;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("running nft for table {table}: {source}")]
    Spawn { table: String, source: io::Error },
    #[error("nft failed for table {table}: {message}")]
    Failed { table: String, message: String },
    #[error("setting {}: {source}", path.display())]
    Sysctl { path: PathBuf, source: io::Error },
    #[error("setting the FORWARD policy to DROP before turning on {}: {source}", path.display())]
    ForwardPolicy {
        path: PathBuf,
        source: super::iptables::IptablesError,
    },
}

pub type Result<T> = std::result::Result<T, NftError>;

/// The table of network `id`.
pub fn table_name(network_id: &str) -> String {
    format!("wharf-{}", &network_id[..network_id.len().min(12)])
}

/// The ruleset text for one network (a whole table, replacing any old one).
pub fn ruleset(net: &NetworkRecord) -> String {
    let t = table_name(&net.id);
    let br = &net.bridge;
    let mut forward = vec![
        format!("iifname \"{br}\" oifname \"{br}\" accept"),
        format!("iifname \"{br}\" oifname != \"{br}\" oifgroup {BRIDGE_GROUP} drop"),
        format!("oifname \"{br}\" iifname != \"{br}\" iifgroup {BRIDGE_GROUP} drop"),
    ];
    let mut post = Vec::new();
    if net.internal {
        forward.push(format!("iifname \"{br}\" drop"));
        forward.push(format!("oifname \"{br}\" drop"));
    } else {
        // From elsewhere into the bridge only what a published port DNATs
        // and replies to the containers' own connections: a neighbour that
        // routes through the host reaches no unpublished port (as moby 28).
        forward.push(format!(
            "oifname \"{br}\" iifname != \"{br}\" ct state established,related accept"
        ));
        forward.push(format!(
            "oifname \"{br}\" iifname != \"{br}\" ct status dnat accept"
        ));
        forward.push(format!("oifname \"{br}\" iifname != \"{br}\" drop"));
        post.push(format!(
            "ip saddr {} oifname != \"{br}\" masquerade",
            net.subnet
        ));
        if let Some(v6) = &net.ipv6 {
            post.push(format!(
                "ip6 saddr {}/{} oifname != \"{br}\" masquerade",
                v6.subnet, v6.prefix
            ));
        }
    }
    let mut out = String::new();
    // Declaring then deleting makes the load idempotent in one transaction.
    out.push_str(&format!("table inet {t}\ndelete table inet {t}\n"));
    out.push_str(&format!("table inet {t} {{\n"));
    out.push_str(
        "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n",
    );
    for r in &forward {
        out.push_str(&format!("\t\t{r}\n"));
    }
    out.push_str("\t}\n");
    out.push_str(
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
    );
    for r in &post {
        out.push_str(&format!("\t\t{r}\n"));
    }
    out.push_str("\t}\n}\n");
    out
}

fn nft(table: &str, args: &[&str], input: Option<&str>) -> Result<()> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| NftError::Spawn {
            table: table.to_string(),
            source,
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|source| NftError::Spawn {
                table: table.to_string(),
                source,
            })?;
    }
    let out = child.wait_with_output().map_err(|source| NftError::Spawn {
        table: table.to_string(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NftError::Failed {
            table: table.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Loads (or reloads) the table of `net`; turns on IPv4 (and IPv6)
/// forwarding for a non-internal network, as Docker does.
pub fn apply(net: &NetworkRecord) -> Result<()> {
    let table = table_name(&net.id);
    nft(&table, &["-f", "-"], Some(&ruleset(net)))?;
    if !net.internal {
        enable_forwarding("/proc/sys/net/ipv4/ip_forward", Family::V4)?;
        if net.ipv6.is_some() {
            enable_forwarding("/proc/sys/net/ipv6/conf/all/forwarding", Family::V6)?;
        }
    }
    Ok(())
}

/// IPv6 forwarding makes the kernel ignore router advertisements on
/// interfaces with `accept_ra=1`, and the host would lose its IPv6 default
/// route: before wharf turns it on, such interfaces get `accept_ra=2`
/// (accept even when forwarding), as Docker does. Best effort: an
/// interface that refuses keeps its value.
fn keep_accepting_router_advertisements() {
    let Ok(dir) = std::fs::read_dir("/proc/sys/net/ipv6/conf") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        if matches!(name.to_str(), Some("all" | "default" | "lo")) {
            continue;
        }
        let path = entry.path().join("accept_ra");
        if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
            if let Err(e) = std::fs::write(&path, "2\n") {
                tracing::warn!(path = %path.display(), "keeping router advertisements: {e}");
            }
        }
    }
}

/// Turns forwarding of `family` on at `path` unless it is on already.
/// Whoever turns it on owns the consequences, as dockerd does: the FORWARD
/// policy becomes DROP first (a failure leaves forwarding off), and IPv6
/// keeps accepting router advertisements.
fn enable_forwarding(path: &str, family: Family) -> Result<()> {
    let p = PathBuf::from(path);
    if std::fs::read_to_string(&p).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    iptables::drop_forwarded(family).map_err(|source| NftError::ForwardPolicy {
        path: p.clone(),
        source,
    })?;
    if family == Family::V6 {
        keep_accepting_router_advertisements();
    }
    std::fs::write(&p, "1\n").map_err(|source| NftError::Sysctl { path: p, source })
}

/// Whether the table of network `id` is loaded.
pub fn exists(network_id: &str) -> bool {
    let table = table_name(network_id);
    nft(&table, &["list", "table", "inet", &table], None).is_ok()
}

/// Deletes the table of network `id`; a missing one is fine.
pub fn remove(network_id: &str) -> Result<()> {
    let table = table_name(network_id);
    match nft(&table, &["delete", "table", "inet", &table], None) {
        Err(NftError::Failed { message, .. })
            if message.contains("No such file") || message.contains("does not exist") =>
        {
            Ok(())
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(internal: bool) -> NetworkRecord {
        NetworkRecord {
            id: "0123456789abcdef".repeat(4),
            name: "n".into(),
            driver: "bridge".into(),
            bridge: "br-0123456789ab".into(),
            mtu: None,
            internal,
            attachable: false,
            enable_ipv6: false,
            subnet: "172.18.0.0/16".parse().expect("subnet"),
            gateway: "172.18.0.1".parse().expect("gw"),
            ip_range: None,
            user_subnet: false,
            ipv6: None,
            labels: Default::default(),
            options: Default::default(),
            created: String::new(),
        }
    }

    #[test]
    fn egress_only_for_non_internal() {
        let open = ruleset(&net(false));
        assert!(open.contains("ip saddr 172.18.0.0/16 oifname != \"br-0123456789ab\" masquerade"));
        assert!(!open.contains("iifname \"br-0123456789ab\" drop"));
        // Routed in from elsewhere: only DNAT'ed (published) and replies.
        let dnat = open
            .find("iifname != \"br-0123456789ab\" ct status dnat accept")
            .expect("published ports pass");
        let drop = open
            .find("oifname \"br-0123456789ab\" iifname != \"br-0123456789ab\" drop")
            .expect("the rest is dropped");
        assert!(dnat < drop);
        let internal = ruleset(&net(true));
        assert!(!internal.contains("masquerade"));
        assert!(internal.contains("iifname \"br-0123456789ab\" drop"));
        assert!(internal.contains("oifname \"br-0123456789ab\" drop"));
        for r in [open, internal] {
            assert!(r.contains("table inet wharf-0123456789ab {"));
            assert!(r.contains(&format!("oifgroup {BRIDGE_GROUP} drop")));
        }
    }
}
