//! `inspect`: containers as Docker shows them.

use super::common::open;
use crate::cli::resolve::Settings;
use crate::cli::template::{Fields, Template};
use crate::runtime::container::{ContainerRecord, Containers, Status};
use crate::runtime::spec::{ContainerSpec, NsMode};
use std::process::ExitCode;

/// `format`: `-f`, a Go template printed once per container.
pub fn inspect(
    settings: &Settings,
    names: &[String],
    format: Option<&str>,
) -> anyhow::Result<ExitCode> {
    // Checked before any container is looked at, as Docker does.
    let template = format
        .map(Template::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--format: template parsing error: {e}"))?;
    let (containers, _) = open(settings)?;
    let mut out = Vec::new();
    for q in names {
        let r = containers.find(q)?;
        let s = containers.state(&r.id)?;
        out.push(serde_json::json!({
            "Id": r.id,
            "Name": format!("/{}", r.name),
            "Created": r.created,
            "Image": r.image_id.to_string(),
            "Config": {
                "Image": r.image,
                "Labels": r.spec.labels,
                "Env": r.spec.env,
                "Hostname": r.spec.hostname,
            },
            "State": {
                "Status": s.status.as_str(),
                "Running": matches!(s.status, Status::Running | Status::Paused),
                "Paused": s.status == Status::Paused,
                "Pid": s.pid.unwrap_or(0),
                "ExitCode": s.exit_code.unwrap_or(0),
                "OOMKilled": s.oom_killed,
                "Error": s.error.clone().unwrap_or_default(),
                "StartedAt": s.started_at,
                "FinishedAt": s.finished_at,
                "Restarting": s.status == Status::Restarting,
                "Health": s.health.as_ref().map(|h| serde_json::json!({
                    "Status": h.status,
                    "FailingStreak": h.failing_streak,
                    "Log": h.log.iter().map(|l| serde_json::json!({
                        "Start": l.start,
                        "End": l.end,
                        "ExitCode": l.exit_code,
                        "Output": l.output,
                    })).collect::<Vec<_>>(),
                })),
            },
            "RestartCount": s.restart_count,
            "HostConfig": {
                "Runtime": r.runtime,
                "AutoRemove": r.auto_remove,
                "NetworkMode": network_mode(&r.spec),
                // Docker's default driver when none is set.
                "LogConfig": {
                    "Type": r.spec.log_driver.as_deref().unwrap_or("json-file"),
                    "Config": r.spec.log_options,
                },
                "CgroupParent": r.spec.cgroup_parent.as_deref().unwrap_or_default(),
            },
            "NetworkSettings": network_settings(
                settings,
                &r,
                matches!(s.status, Status::Running | Status::Paused),
            )?,
            "Spec": r.spec,
        }));
    }
    if let Some(t) = template {
        for c in &out {
            // Docker falls back to the decoded JSON, where a missing key is `<no value>`.
            let text = t
                .render(c, Fields::Loose)
                .map_err(|e| anyhow::anyhow!("--format: template parsing error: {e}"))?;
            println!("{text}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn network_mode(spec: &ContainerSpec) -> String {
    match &spec.namespaces.net {
        NsMode::Host => "host".into(),
        NsMode::None => "none".into(),
        NsMode::Path(p) => format!("container:{}", p.display()),
        NsMode::Container(c) => format!("container:{c}"),
        NsMode::Private => spec
            .networks
            .first()
            .map(|n| n.network.clone())
            .unwrap_or_else(|| "none".into()),
    }
}

/// Docker's NetworkSettings: one entry per network the container is on;
/// addresses only while it runs (they are freed when it stops).
fn network_settings(
    settings: &Settings,
    r: &ContainerRecord,
    running: bool,
) -> anyhow::Result<serde_json::Value> {
    let live = if running {
        crate::net::attach::endpoints_of(settings.root(), &r.id)?
    } else {
        Vec::new()
    };
    let store = crate::net::store::Networks::open(settings.root())?;
    let mut nets = serde_json::Map::new();
    for a in &r.spec.networks {
        let found = live.iter().find(|(n, _)| n.name == a.network);
        let net_id = match found {
            Some((n, _)) => n.id.clone(),
            None => store.find(&a.network).map(|n| n.id).unwrap_or_default(),
        };
        let mut e = serde_json::json!({
            "IPAMConfig": if a.ipv4_address.is_some() || a.ipv6_address.is_some() {
                serde_json::json!({
                    "IPv4Address": a.ipv4_address.map(|i| i.to_string()).unwrap_or_default(),
                    "IPv6Address": a.ipv6_address.map(|i| i.to_string()).unwrap_or_default(),
                })
            } else {
                serde_json::Value::Null
            },
            "Aliases": a.aliases,
            "MacAddress": a.mac_address.clone().unwrap_or_default(),
            "NetworkID": net_id,
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DNSNames": serde_json::Value::Null,
        });
        if let Some((n, ep)) = found {
            e["EndpointID"] = serde_json::json!(super::network::endpoint_id(&r.id, &n.id));
            e["MacAddress"] = serde_json::json!(ep.mac);
            e["Gateway"] = serde_json::json!(n.gateway.to_string());
            e["IPAddress"] = serde_json::json!(ep.ipv4.map(|i| i.to_string()).unwrap_or_default());
            e["IPPrefixLen"] = serde_json::json!(n.subnet.prefix());
            if let (Some(v6), Some(cfg)) = (ep.ipv6, &n.ipv6) {
                e["IPv6Gateway"] = serde_json::json!(cfg.gateway.to_string());
                e["GlobalIPv6Address"] = serde_json::json!(v6.to_string());
                e["GlobalIPv6PrefixLen"] = serde_json::json!(cfg.prefix);
            }
            e["DNSNames"] = serde_json::json!(ep.names);
        }
        nets.insert(a.network.clone(), e);
    }
    let sandbox = if running && crate::supervise::monitor::bridged(&r.spec) {
        crate::net::netns::netns_path(Containers::open(settings.root())?.run_root(), &r.id)
            .display()
            .to_string()
    } else {
        String::new()
    };
    Ok(serde_json::json!({ "SandboxKey": sandbox, "Networks": nets }))
}
