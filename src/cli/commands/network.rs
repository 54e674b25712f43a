//! `wharf network create|ls|inspect|rm|prune`.

use crate::cli::args::network::NetworkCommand;
use crate::cli::render::{labels_text, print_table, print_template};
use crate::cli::resolve::Settings;
use crate::cli::template::Fields;
use crate::net::attach;
use crate::net::store::{
    IpamRequest, NetworkOptions, NetworkRecord, Networks, DEFAULT_BRIDGE, PREDEFINED,
};
use crate::runtime::container::{write_json, Containers, Status};
use crate::runtime::spec::{NetworkAttachment, NsMode};
use crate::supervise::start::{embedded_dns, resolv_conf_is_embedded};
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::process::ExitCode;

fn key_values(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for i in items {
        let (k, v) = i.split_once('=').unwrap_or((i, ""));
        if k.is_empty() {
            bail!("invalid {flag} {i:?}: expected KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn ipam_requests(
    subnet: &[String],
    gateway: &[String],
    ip_range: &[String],
) -> anyhow::Result<Vec<IpamRequest>> {
    if gateway.len() > subnet.len() || ip_range.len() > subnet.len() {
        bail!("every --gateway and --ip-range needs a --subnet");
    }
    Ok(subnet
        .iter()
        .enumerate()
        .map(|(i, s)| IpamRequest {
            subnet: Some(s.clone()),
            gateway: gateway.get(i).cloned(),
            ip_range: ip_range.get(i).cloned(),
        })
        .collect())
}

/// `docker network inspect`'s shape.
pub fn inspect_json(store: &Networks, n: &NetworkRecord) -> anyhow::Result<serde_json::Value> {
    let mut config = vec![serde_json::json!({
        "Subnet": n.subnet.to_string(),
        "Gateway": n.gateway.to_string(),
    })];
    if let (Some(r), Some(c)) = (n.ip_range, config.first_mut()) {
        c["IPRange"] = serde_json::json!(r.to_string());
    }
    if let Some(v6) = &n.ipv6 {
        config.push(serde_json::json!({
            "Subnet": format!("{}/{}", v6.subnet, v6.prefix),
            "Gateway": v6.gateway.to_string(),
        }));
    }
    let mut containers = serde_json::Map::new();
    for ep in store.endpoints(&n.id)? {
        containers.insert(
            ep.container_id.clone(),
            serde_json::json!({
                "Name": ep.container_name,
                "EndpointID": endpoint_id(&ep.container_id, &n.id),
                "MacAddress": ep.mac,
                "IPv4Address": ep.ipv4.map(|a| format!("{a}/{}", n.subnet.prefix())).unwrap_or_default(),
                "IPv6Address": match (ep.ipv6, &n.ipv6) {
                    (Some(a), Some(c)) => format!("{a}/{}", c.prefix),
                    _ => String::new(),
                },
            }),
        );
    }
    let mut options = n.options.clone();
    options
        .entry(crate::net::store::OPT_BRIDGE_NAME.to_string())
        .or_insert_with(|| n.bridge.clone());
    Ok(serde_json::json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv4": true,
        "EnableIPv6": n.enable_ipv6,
        "IPAM": { "Driver": "default", "Options": {}, "Config": config },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": n.labels,
    }))
}

/// A stable endpoint id (Docker shows 64 hex digits).
pub fn endpoint_id(container_id: &str, network_id: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(format!("endpoint/{container_id}/{network_id}").as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The columns' titles of `network ls --format 'table …'`, as Docker's.
const NETWORK_TITLES: &[(&str, &str)] = &[
    ("CreatedAt", "CREATED"),
    ("Driver", "DRIVER"),
    ("ID", "NETWORK ID"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("Name", "NAME"),
    ("Scope", "SCOPE"),
];

/// What `network ls --filter` keeps, as Docker's: values of one key are
/// alternatives, different keys must all match.
#[derive(Debug, Default, PartialEq)]
struct NetworkFilter {
    drivers: Vec<String>,
    ids: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    names: Vec<String>,
    scopes: Vec<String>,
    /// `custom` or `builtin` (Docker's predefined networks: bridge, host, none).
    types: Vec<String>,
}

impl NetworkFilter {
    fn parse(filters: &[String]) -> anyhow::Result<NetworkFilter> {
        let mut f = NetworkFilter::default();
        for kv in filters {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("--filter {kv:?}: expected KEY=VALUE");
            };
            match k {
                "driver" => f.drivers.push(v.to_string()),
                "id" => f.ids.push(v.to_string()),
                "label" => f.labels.push(match v.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (v.to_string(), None),
                }),
                "name" => f.names.push(v.to_string()),
                "scope" => f.scopes.push(v.to_string()),
                "type" if v == "custom" || v == "builtin" => f.types.push(v.to_string()),
                "type" => bail!("invalid filter: 'type'='{v}' (custom or builtin)"),
                other => bail!("invalid filter '{other}' (driver, id, label, name, scope, type)"),
            }
        }
        Ok(f)
    }

    fn keeps(&self, n: &NetworkRecord) -> bool {
        let any = |list: &[String], ok: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| ok(v))
        };
        let builtin = n.name == DEFAULT_BRIDGE;
        any(&self.drivers, &|d| n.driver == d)
            && any(&self.ids, &|id| n.id.starts_with(id))
            && any(&self.names, &|name| n.name.contains(name))
            && any(&self.scopes, &|s| s == "local")
            && any(&self.types, &|t| (t == "builtin") == builtin)
            && self
                .labels
                .iter()
                .all(|(k, want)| match (n.labels.get(k), want) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
    }
}

/// Waits (a few seconds at most) for the monitor of running container
/// `id` to point its resolv.conf at the resolver it starts after a connect
/// (see `supervise::start::resolver_after_connect`); a warning if it does not.
fn await_resolver(containers: &Containers, id: &str, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !resolv_conf_is_embedded(containers, id) {
        if std::time::Instant::now() > deadline
            || containers
                .state(id)
                .map(|s| s.status != Status::Running)
                .unwrap_or(true)
        {
            eprintln!("WARNING: {name}: its DNS resolver did not start; names on the network resolve after a restart");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The predefined network `query` (a name, or the default bridge's id or
/// id prefix) stands for, if any. A user network that happens to be
/// named `host` or `none` (Docker refuses those names, older wharf did not)
/// is the user's to remove.
fn predefined_name(store: &Networks, query: &str) -> Option<&'static str> {
    match store.find(query) {
        Ok(n) if n.name == DEFAULT_BRIDGE => Some(DEFAULT_BRIDGE),
        Ok(_) => None,
        Err(_) => PREDEFINED.into_iter().find(|p| *p == query),
    }
}

pub fn run(settings: &Settings, cmd: &NetworkCommand) -> anyhow::Result<ExitCode> {
    let store = Networks::open(settings.root()).context("opening the network store")?;
    match cmd {
        NetworkCommand::Create {
            name,
            driver,
            subnet,
            gateway,
            ip_range,
            internal,
            ipv6,
            attachable,
            label,
            opt,
        } => {
            let opts = NetworkOptions {
                name: name.clone(),
                driver: Some(driver.clone()),
                internal: *internal,
                attachable: *attachable,
                enable_ipv6: *ipv6,
                ipam: ipam_requests(subnet, gateway, ip_range)?,
                labels: key_values("--label", label)?,
                options: key_values("--opt", opt)?,
            };
            match attach::create_network(settings.root(), &opts) {
                Ok(n) => println!("{}", n.id),
                Err(e) => {
                    eprintln!("Error response from daemon: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        NetworkCommand::Ls {
            quiet,
            format,
            no_trunc,
            filter,
        } => {
            let filter = NetworkFilter::parse(filter)?;
            let mut nets = store.list()?;
            nets.retain(|n| filter.keeps(n));
            let id = |n: &NetworkRecord| {
                if *no_trunc {
                    n.id.clone()
                } else {
                    n.id[..12].to_string()
                }
            };
            if *quiet {
                for n in &nets {
                    println!("{}", id(n));
                }
            } else if let Some(format) = format.as_deref().filter(|f| *f != "table") {
                // Docker's fields of a network row; `json` prints them as they are.
                let rows: Vec<serde_json::Value> = nets
                    .iter()
                    .map(|n| {
                        serde_json::json!({
                            "CreatedAt": n.created,
                            "Driver": n.driver,
                            "ID": id(n),
                            "IPv4": "true",
                            "IPv6": n.enable_ipv6.to_string(),
                            "Internal": n.internal.to_string(),
                            "Labels": labels_text(&n.labels),
                            "Name": n.name,
                            "Scope": "local",
                        })
                    })
                    .collect();
                if format == "json" {
                    for row in &rows {
                        println!("{row}");
                    }
                } else {
                    print_template(format, &rows, NETWORK_TITLES, Fields::Strict)?;
                }
            } else {
                let mut rows = vec![vec![
                    "NETWORK ID".to_string(),
                    "NAME".to_string(),
                    "DRIVER".to_string(),
                    "SCOPE".to_string(),
                ]];
                for n in &nets {
                    rows.push(vec![
                        id(n),
                        n.name.clone(),
                        n.driver.clone(),
                        "local".into(),
                    ]);
                }
                print_table(&rows);
            }
        }
        NetworkCommand::Inspect { networks } => {
            let mut out = Vec::new();
            let mut code = ExitCode::SUCCESS;
            for q in networks {
                match store.find(q) {
                    Ok(n) => out.push(inspect_json(&store, &n)?),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = ExitCode::from(1);
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(code);
        }
        NetworkCommand::Rm {
            networks,
            force,
            predefined,
        } => {
            let mut code = ExitCode::SUCCESS;
            for q in networks {
                if let Some(name) = predefined_name(&store, q).filter(|_| !predefined) {
                    // Docker's words and exit code, with or without -f.
                    eprintln!("Error response from daemon: {name} is a pre-defined network and cannot be removed");
                    code = ExitCode::from(1);
                    continue;
                }
                match attach::remove_network(settings.root(), q) {
                    Ok(_) => println!("{q}"),
                    Err(attach::AttachError::Store(crate::net::store::StoreError::NotFound(_)))
                        if *force => {}
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = ExitCode::from(1);
                    }
                }
            }
            return Ok(code);
        }
        NetworkCommand::Connect {
            network,
            container,
            alias,
            ip,
            ip6,
        } => {
            let net = match store.find(network) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("Error response from daemon: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let containers = Containers::open(settings.root())?;
            let mut record = containers.find(container)?;
            let _lock = containers.lock(&record.id)?;
            if record.spec.networks.iter().any(|a| a.network == net.name) {
                eprintln!(
                    "Error response from daemon: endpoint with name {} already exists in network {}",
                    record.name, net.name
                );
                return Ok(ExitCode::from(1));
            }
            if record.spec.namespaces.net != NsMode::Private
                || (record.spec.networks.is_empty()
                    && containers.state(&record.id)?.status == Status::Running)
            {
                eprintln!("Error response from daemon: container {} has no bridge network namespace to connect (network mode none, host or container)", record.name);
                return Ok(ExitCode::from(1));
            }
            let a = NetworkAttachment {
                network: net.name.clone(),
                aliases: alias.clone(),
                ipv4_address: *ip,
                ipv6_address: *ip6,
                mac_address: None,
                priority: 0,
            };
            let running = containers.state(&record.id)?.status == Status::Running;
            if running {
                let hostname = record
                    .spec
                    .hostname
                    .clone()
                    .unwrap_or_else(|| record.id[..12].to_string());
                if let Err(e) = attach::connect(
                    settings.root(),
                    containers.run_root(),
                    &record.id,
                    &record.name,
                    &hostname,
                    &a,
                ) {
                    eprintln!("Error response from daemon: {e}");
                    return Ok(ExitCode::from(1));
                }
            }
            // Kept in the record so the next start joins it too.
            let had_resolver = embedded_dns(&record.spec);
            record.spec.networks.push(a);
            write_json(&containers.dir(&record.id).record(), &record)?;
            if running && !had_resolver && embedded_dns(&record.spec) {
                // Off the default bridge alone: its monitor starts the
                // resolver on seeing the record change; names on the
                // network resolve once connect returns, as Docker's.
                await_resolver(&containers, &record.id, &record.name);
            }
        }
        NetworkCommand::Disconnect {
            network,
            container,
            force,
        } => {
            let containers = Containers::open(settings.root())?;
            let mut record = containers.find(container)?;
            let _lock = containers.lock(&record.id)?;
            let net = store.find(network).ok();
            let name = net
                .as_ref()
                .map(|n| n.name.clone())
                .unwrap_or(network.clone());
            if !record.spec.networks.iter().any(|a| a.network == name) && !force {
                eprintln!(
                    "Error response from daemon: container {} is not connected to network {name}",
                    record.name
                );
                return Ok(ExitCode::from(1));
            }
            if net.is_some() && containers.state(&record.id)?.status == Status::Running {
                attach::disconnect(settings.root(), &record.id, &name)?;
            }
            record.spec.networks.retain(|a| a.network != name);
            write_json(&containers.dir(&record.id).record(), &record)?;
        }
        NetworkCommand::Prune { force } => {
            if !force {
                eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let mut removed = Vec::new();
            for n in store.list()? {
                if n.name != DEFAULT_BRIDGE && store.endpoints(&n.id)?.is_empty() {
                    attach::remove_network(settings.root(), &n.id)?;
                    removed.push(n.name);
                }
            }
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, id: &str, labels: &[(&str, &str)]) -> NetworkRecord {
        NetworkRecord {
            id: id.to_string(),
            name: name.to_string(),
            driver: "bridge".into(),
            bridge: format!("br-{}", &id[..12]),
            mtu: None,
            internal: false,
            attachable: false,
            enable_ipv6: false,
            subnet: "172.20.0.0/16".parse().expect("subnet"),
            gateway: "172.20.0.1".parse().expect("gateway"),
            ip_range: None,
            user_subnet: false,
            ipv6: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options: BTreeMap::new(),
            created: String::new(),
        }
    }

    fn kept(filters: &[&str], nets: &[NetworkRecord]) -> Vec<String> {
        let f = NetworkFilter::parse(&filters.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("filter");
        nets.iter()
            .filter(|n| f.keeps(n))
            .map(|n| n.name.clone())
            .collect()
    }

    #[test]
    fn network_filters_match_as_docker_s() {
        let nets = [
            net("bridge", &"a".repeat(64), &[]),
            net(
                "front",
                &format!("b1{}", "0".repeat(62)),
                &[("tier", "web")],
            ),
            net("back", &format!("b2{}", "0".repeat(62)), &[("tier", "db")]),
        ];
        assert_eq!(kept(&[], &nets), ["bridge", "front", "back"]);
        assert_eq!(kept(&["name=ron"], &nets), ["front"]);
        assert_eq!(kept(&["id=b"], &nets), ["front", "back"]);
        // One key's values are alternatives; different keys all apply.
        assert_eq!(kept(&["name=front", "name=back"], &nets), ["front", "back"]);
        assert_eq!(kept(&["id=b", "label=tier=db"], &nets), ["back"]);
        assert_eq!(kept(&["label=tier"], &nets), ["front", "back"]);
        assert_eq!(kept(&["type=builtin"], &nets), ["bridge"]);
        assert_eq!(kept(&["type=custom"], &nets), ["front", "back"]);
        assert_eq!(kept(&["driver=bridge", "scope=local"], &nets).len(), 3);
        assert!(kept(&["driver=overlay"], &nets).is_empty());
        assert!(kept(&["scope=swarm"], &nets).is_empty());
        for bad in ["color=red", "type=other", "name"] {
            assert!(NetworkFilter::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
