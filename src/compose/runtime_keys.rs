//! What `up` does with each service key the loader accepts: applied, only
//! warned about (the stack may still work without it), or refused (running
//! without it would break the stack later, somewhere else). One table, so
//! nothing the schema allows is dropped without a word; a test walks the
//! compose-spec schema's service properties against it.
//!
//! The check runs on the canonical model, whose nodes keep their file and
//! line, so every warning and refusal names file, line and key.

use super::error::LoadError;
use super::yaml::{Node, Pos};

/// How `up` treats a service key when it is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// Applied to the container (or used by the loader or `up` itself);
    /// values it cannot honour are refused by [`check`] or the planner.
    Applied,
    /// Not applied: `up` goes on and says so.
    Warned(&'static str),
    /// Not applied, and the stack would not behave as written: `up` stops.
    Refused(&'static str),
}

use Support::{Applied, Refused, Warned};

/// Every key of a compose-spec service, by how `up` treats it.
pub const SERVICE_KEYS: &[(&str, Support)] = &[
    (
        "annotations",
        Warned("OCI annotations are not passed to the runtime"),
    ),
    (
        "attach",
        Warned("`up` attaches to every service's output (use `up --attach`)"),
    ),
    ("blkio_config", Applied),
    ("build", Applied),
    ("cap_add", Applied),
    ("cap_drop", Applied),
    ("cgroup", Applied),
    ("cgroup_parent", Applied),
    ("command", Applied),
    ("configs", Applied),
    ("container_name", Applied),
    (
        "cpu_count",
        Warned("a Windows-only limit; ignored on Linux, as by Docker"),
    ),
    (
        "cpu_percent",
        Warned("a Windows-only limit; ignored on Linux, as by Docker"),
    ),
    ("cpu_period", Applied),
    ("cpu_quota", Applied),
    (
        "cpu_rt_period",
        Warned("real-time CPU scheduling limits are not applied"),
    ),
    (
        "cpu_rt_runtime",
        Warned("real-time CPU scheduling limits are not applied"),
    ),
    ("cpu_shares", Applied),
    ("cpus", Applied),
    ("cpuset", Applied),
    ("credential_spec", Warned("a Windows-only setting; ignored")),
    ("depends_on", Applied),
    ("deploy", Applied),
    // Applied by `wharf watch` and `up --watch`; plain `up` ignores it, as Compose's does.
    ("develop", Applied),
    ("device_cgroup_rules", Applied),
    ("devices", Applied),
    ("dns", Applied),
    ("dns_opt", Applied),
    ("dns_search", Applied),
    ("domainname", Applied),
    ("entrypoint", Applied),
    ("env_file", Applied),
    ("environment", Applied),
    ("expose", Applied),
    ("extends", Applied),
    ("external_links", Applied),
    ("extra_hosts", Applied),
    // Through CDI specs; a host without them is refused by the planner.
    ("gpus", Applied),
    ("group_add", Applied),
    ("healthcheck", Applied),
    ("hostname", Applied),
    ("image", Applied),
    ("init", Applied),
    ("ipc", Applied),
    ("isolation", Warned("a Windows-only setting; ignored")),
    ("label_file", Applied),
    ("labels", Applied),
    ("links", Applied),
    ("logging", Applied),
    ("mac_address", Applied),
    ("mem_limit", Applied),
    ("mem_reservation", Applied),
    ("mem_swappiness", Applied),
    ("memswap_limit", Applied),
    ("models", Warned("models are not served")),
    ("network_mode", Applied),
    ("networks", Applied),
    ("oom_kill_disable", Applied),
    ("oom_score_adj", Applied),
    ("pid", Applied),
    ("pids_limit", Applied),
    ("platform", Applied),
    ("ports", Applied),
    ("post_start", Applied),
    ("pre_stop", Applied),
    ("privileged", Applied),
    ("profiles", Applied),
    ("provider", Warned("provider services are not run")),
    ("pull_policy", Applied),
    (
        "pull_refresh_after",
        Warned("images are not refreshed on a schedule"),
    ),
    ("read_only", Applied),
    ("restart", Applied),
    (
        "runtime",
        Warned("the runtime is chosen with wharf's --runtime flag, not per service"),
    ),
    ("scale", Applied),
    ("secrets", Applied),
    ("security_opt", Applied),
    ("shm_size", Applied),
    ("stdin_open", Applied),
    ("stop_grace_period", Applied),
    ("stop_signal", Applied),
    // Docker applies `size` on overlay2 only over xfs with project quotas;
    // wharf's writable layer is a plain directory under the data root, with
    // no quota to set, so a limit would silently not hold.
    (
        "storage_opt",
        Refused("the container's writable layer is a directory of the data root, which has no size quota to set"),
    ),
    ("sysctls", Applied),
    ("tmpfs", Applied),
    ("tty", Applied),
    ("ulimits", Applied),
    (
        "use_api_socket",
        Warned("there is no engine API socket to mount"),
    ),
    ("user", Applied),
    ("userns_mode", Applied),
    ("uts", Applied),
    ("volumes", Applied),
    ("volumes_from", Applied),
    ("working_dir", Applied),
];

/// Log drivers `up` runs: the file ones `logs` reads back, `none`, and the
/// ones that forward (and keep the file too).
const LOG_DRIVERS: &[&str] = &["json-file", "local", "none", "syslog", "journald"];

/// What the host offers, for the checks that depend on it: the CLI answers
/// from the runtime layer, tests with fixed answers.
pub trait Host {
    /// Why the log `driver` (sending to `address`, its `syslog-address`)
    /// cannot work here, or `None` when it can.
    fn log_driver_missing(&self, driver: &str, address: Option<&str>) -> Option<String>;
    /// Why containers of `platform` (`linux/arm64`) cannot run here (a
    /// foreign architecture without binfmt_misc), or `None`.
    fn platform_missing(&self, platform: &str) -> Option<String>;
    /// Docker's warning when this host's blkio controller has no weight
    /// (`per_device`: no weight per device) and the setting is discarded.
    fn blkio_weight_discarded(&self, per_device: bool) -> Option<&'static str>;
}

/// How `key` of a service is treated; `None` for a key the table does not
/// know (an `x-` extension, or one the schema does not have).
pub fn support(key: &str) -> Option<Support> {
    SERVICE_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, s)| *s)
}

/// `file:line: path: msg`, as the loader's own messages read.
fn located(pos: &Pos, path: &str, msg: &str) -> String {
    LoadError::invalid(pos, path, msg).to_string()
}

/// Checks what `up` will run: the warnings to print (keys set but not
/// applied), or the first refusal, each with file, line and key. `model` is
/// the canonical model of the loaded project; only the `selected` services
/// are checked (all when it is empty), the top-level resources always.
pub fn check(model: &Node, selected: &[String], host: &dyn Host) -> Result<Vec<String>, LoadError> {
    let mut warnings = Vec::new();
    let services = model.get("services").and_then(Node::as_map);
    let chosen = |name: &String| selected.is_empty() || selected.contains(name);
    for (name, svc) in services.into_iter().flatten().filter(|(n, _)| chosen(n)) {
        for (key, value) in svc.as_map().into_iter().flatten() {
            let path = format!("services.{name}.{key}");
            match support(key) {
                Some(Warned(why)) => {
                    warnings.push(located(&value.pos, &path, &format!("not applied: {why}")))
                }
                Some(Refused(why)) => {
                    return Err(LoadError::invalid(
                        &value.pos,
                        path,
                        format!("not supported: {why}"),
                    ))
                }
                Some(Applied) | None => {}
            }
        }
        check_values(name, svc, host)?;
        check_logging_options(name, svc, &mut warnings)?;
        check_blkio(name, svc, host, &mut warnings);
        check_network_entries(name, svc, &mut warnings);
    }
    check_resources(model, &mut warnings)?;
    Ok(warnings)
}

/// Values of applied keys that wharf (or this host) cannot honour.
fn check_values(name: &str, svc: &Node, host: &dyn Host) -> Result<(), LoadError> {
    let refuse = |n: &Node, key: &str, msg: String| {
        Err(LoadError::invalid(
            &n.pos,
            format!("services.{name}.{key}"),
            msg,
        ))
    };
    if let Some(d) = svc.get("logging").and_then(|l| l.get("driver")) {
        let driver = d.as_str().unwrap_or_default();
        if !driver.is_empty() && !LOG_DRIVERS.contains(&driver) {
            return refuse(
                d,
                "logging.driver",
                format!("log driver {driver:?} is not supported (json-file, local, none, syslog and journald are)"),
            );
        }
        let address = svc
            .get("logging")
            .and_then(|l| l.get("options"))
            .and_then(|o| o.get("syslog-address"))
            .and_then(Node::as_str);
        if let Some(why) = host.log_driver_missing(driver, address) {
            return refuse(d, "logging.driver", format!("log driver {driver:?}: {why}"));
        }
    }
    if let Some(u) = svc.get("userns_mode") {
        // No user namespace is ever made, so `host` is what runs anyway.
        if u.as_str().is_some_and(|v| v != "host" && !v.is_empty()) {
            return refuse(
                u,
                "userns_mode",
                format!(
                    "{:?}: user namespace remapping is not supported (only \"host\")",
                    u.as_str().unwrap_or_default()
                ),
            );
        }
    }
    // Mount types other than these (image, npipe, cluster) have no home in
    // the runtime; found here, before any network or volume is made.
    for (i, m) in svc
        .get("volumes")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(t) = m.get("type") else { continue };
        let kind = t.as_str().unwrap_or_default();
        if !matches!(kind, "" | "bind" | "volume" | "tmpfs") {
            return refuse(
                t,
                &format!("volumes[{i}].type"),
                format!("volume type {kind:?} is not supported (bind, volume and tmpfs are)"),
            );
        }
    }
    // `container:X`/`service:X` would join another UTS namespace, which
    // the planner does not resolve for uts (it does for ipc, pid, network).
    if let Some(u) = svc.get("uts") {
        let v = u.as_str().unwrap_or_default();
        if !matches!(v, "" | "host" | "private" | "shareable") {
            return refuse(
                u,
                "uts",
                format!("{v:?} is not supported (only \"host\" or the container's own)"),
            );
        }
    }
    if let Some(p) = svc.get("platform").filter(|p| !p.is_null()) {
        let text = p.as_str().unwrap_or_default();
        if let Some(why) = Some(text)
            .filter(|t| !t.is_empty())
            .and_then(|t| host.platform_missing(t))
        {
            return refuse(p, "platform", why);
        }
    }
    Ok(())
}

/// The log options Docker's driver takes (moby's `ValidateLogOpt` of each),
/// and which of them wharf applies; `None` for a driver `check_values`
/// refuses.
fn log_options(driver: &str) -> Option<(&'static [&'static str], &'static [&'static str])> {
    const FILE_APPLIED: &[&str] = &["max-size", "max-file"];
    Some(match driver {
        "" | "json-file" => (
            &[
                "max-size",
                "max-file",
                "compress",
                "labels",
                "labels-regex",
                "env",
                "env-regex",
                "tag",
            ],
            FILE_APPLIED,
        ),
        "local" => (&["max-size", "max-file", "compress"], FILE_APPLIED),
        "syslog" => (
            &[
                "syslog-address",
                "syslog-facility",
                "syslog-tls-ca-cert",
                "syslog-tls-cert",
                "syslog-tls-key",
                "syslog-tls-skip-verify",
                "tag",
                "syslog-format",
                "env",
                "env-regex",
                "labels",
                "labels-regex",
            ],
            &["syslog-address", "syslog-facility", "syslog-format", "tag"],
        ),
        "journald" => (
            &["tag", "labels", "labels-regex", "env", "env-regex"],
            &["tag"],
        ),
        _ => return None,
    })
}

/// `logging.options`: a key the driver does not take is refused with
/// Docker's words; one Docker applies and wharf does not is warned about
/// (TLS to syslog is refused: the lines would go out in clear).
fn check_logging_options(
    name: &str,
    svc: &Node,
    warnings: &mut Vec<String>,
) -> Result<(), LoadError> {
    let Some(logging) = svc.get("logging") else {
        return Ok(());
    };
    let driver = logging
        .get("driver")
        .and_then(Node::as_str)
        .unwrap_or_default();
    let Some((docker, applied)) = log_options(driver) else {
        return Ok(());
    };
    let shown = if driver.is_empty() {
        "json-file"
    } else {
        driver
    };
    for (key, value) in logging
        .get("options")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let path = format!("services.{name}.logging.options.{key}");
        if !docker.contains(&key.as_str()) {
            return Err(LoadError::invalid(
                &value.pos,
                path,
                format!("unknown log opt '{key}' for {shown} log driver"),
            ));
        }
        if key.starts_with("syslog-tls-") {
            return Err(LoadError::invalid(
                &value.pos,
                path,
                "not supported: wharf sends to syslog without TLS",
            ));
        }
        if !applied.contains(&key.as_str()) {
            warnings.push(located(
                &value.pos,
                &path,
                &format!("not applied: wharf's {shown} log driver does not take it"),
            ));
        }
    }
    Ok(())
}

/// `blkio_config` weights this host drops, as Docker does, with its words:
/// said here, by the command the user ran, since the container's monitor
/// that builds the runtime spec has no terminal.
fn check_blkio(name: &str, svc: &Node, host: &dyn Host, warnings: &mut Vec<String>) {
    let blkio = svc.get("blkio_config");
    let weight = blkio
        .and_then(|b| b.get("weight"))
        .filter(|w| w.scalar_string().is_some_and(|v| v != "0"));
    let per_device = blkio
        .and_then(|b| b.get("weight_device"))
        .filter(|d| d.as_seq().is_some_and(|s| !s.is_empty()));
    for (node, key, device) in [
        (weight, "weight", false),
        (per_device, "weight_device", true),
    ] {
        if let (Some(n), Some(why)) = (node, host.blkio_weight_discarded(device)) {
            warnings.push(located(
                &n.pos,
                &format!("services.{name}.blkio_config.{key}"),
                why,
            ));
        }
    }
}

/// A service's entries under `networks:` that the bridge setup does not use.
fn check_network_entries(name: &str, svc: &Node, warnings: &mut Vec<String>) {
    for (net, entry) in svc
        .get("networks")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        const UNUSED: [&str; 4] = [
            "link_local_ips",
            "gw_priority",
            "interface_name",
            "driver_opts",
        ];
        for (key, v) in entry.as_map().into_iter().flatten() {
            if UNUSED.contains(&key.as_str()) && !v.is_null() {
                warnings.push(located(
                    &v.pos,
                    &format!("services.{name}.networks.{net}.{key}"),
                    "not applied: the container's interface is set up without it",
                ));
            }
        }
    }
}

/// Top-level volumes and secrets/configs that `up` cannot create.
fn check_resources(model: &Node, warnings: &mut Vec<String>) -> Result<(), LoadError> {
    for (key, v) in model
        .get("volumes")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        if v.get("external")
            .is_some_and(|e| e.value == super::yaml::Value::Bool(true))
        {
            continue;
        }
        if let Some(d) = v.get("driver") {
            let driver = d.as_str().unwrap_or_default();
            if !driver.is_empty() && driver != "local" {
                return Err(LoadError::invalid(
                    &d.pos,
                    format!("volumes.{key}.driver"),
                    format!("volume driver {driver:?} is not supported (only \"local\")"),
                ));
            }
        }
        let opt = |k: &str| {
            v.get("driver_opts")
                .and_then(|o| o.get(k))
                .and_then(Node::as_str)
                .unwrap_or_default()
        };
        let binds = opt("o").split(',').any(|f| f == "bind" || f == "rbind");
        // Any other type is mounted with mount(2), as Docker's local driver.
        let applied = match opt("type") {
            "none" | "" => binds || opt("o").is_empty() && opt("device").is_empty(),
            _ => true,
        };
        if let Some(o) = v.get("driver_opts").filter(|_| !applied) {
            return Err(LoadError::invalid(
                &o.pos,
                format!("volumes.{key}.driver_opts"),
                format!(
                    "type={:?} o={:?}: without a type, only a bind (type: none, o: bind, device: PATH) is supported",
                    opt("type"),
                    opt("o")
                ),
            ));
        }
    }
    for (key, n) in model
        .get("networks")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        if n.get("external")
            .is_some_and(|e| e.value == super::yaml::Value::Bool(true))
        {
            continue;
        }
        if let Some(d) = n.get("driver") {
            let driver = d.as_str().unwrap_or_default();
            if !driver.is_empty() && driver != "bridge" {
                return Err(LoadError::invalid(
                    &d.pos,
                    format!("networks.{key}.driver"),
                    format!("network driver {driver:?} is not supported (only \"bridge\")"),
                ));
            }
        }
        // wharf's own IPAM hands out the subnets; these are not read.
        let ipam = n.get("ipam");
        let unread = [
            (
                "ipam.driver",
                ipam.and_then(|i| i.get("driver"))
                    .filter(|d| !matches!(d.as_str(), None | Some("" | "default"))),
            ),
            (
                "ipam.options",
                ipam.and_then(|i| i.get("options"))
                    .filter(|o| o.as_map().is_some_and(|m| !m.is_empty())),
            ),
            (
                "enable_ipv4",
                n.get("enable_ipv4")
                    .filter(|e| e.value == super::yaml::Value::Bool(false)),
            ),
        ];
        for (field, node) in unread {
            if let Some(node) = node {
                warnings.push(located(
                    &node.pos,
                    &format!("networks.{key}.{field}"),
                    "not applied: wharf's bridge networks always get an IPv4 subnet from its own IPAM",
                ));
            }
        }
    }
    for kind in ["secrets", "configs"] {
        for (key, v) in model.get(kind).and_then(Node::as_map).into_iter().flatten() {
            for field in ["external", "driver", "template_driver"] {
                let Some(n) = v.get(field) else { continue };
                let set = match &n.value {
                    super::yaml::Value::Bool(b) => *b,
                    super::yaml::Value::Str(s) => !s.is_empty(),
                    super::yaml::Value::Null => false,
                    _ => true,
                };
                if set {
                    return Err(LoadError::invalid(
                        &n.pos,
                        format!("{kind}.{key}.{field}"),
                        format!(
                            "not supported: Compose without swarm refuses {kind}.*.{field} too"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::load::{load, LoadOptions};

    /// A host with no journald and no local syslog socket.
    struct Bare;

    impl Host for Bare {
        fn log_driver_missing(&self, driver: &str, address: Option<&str>) -> Option<String> {
            match (driver, address) {
                ("journald", _) => Some("no journald socket".into()),
                ("syslog", None) => Some("no local syslog socket".into()),
                _ => None,
            }
        }

        fn platform_missing(&self, platform: &str) -> Option<String> {
            (platform != "linux/amd64").then(|| format!("{platform}: cannot run here"))
        }

        fn blkio_weight_discarded(&self, per_device: bool) -> Option<&'static str> {
            (!per_device).then_some("Weight discarded.")
        }
    }

    fn checked(yaml: &str) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        let loaded = load(&LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("demo".into()),
            ..LoadOptions::default()
        })
        .expect("load");
        // Messages name the file by its full path; the tests by its name.
        let prefix = format!("{}/", dir.path().display());
        check(&loaded.model, &[], &Bare)
            .map(|w| w.iter().map(|l| l.replace(&prefix, "")).collect())
            .map_err(|e| e.to_string().replace(&prefix, ""))
    }

    /// Every service property of the compose-spec schema is in the table,
    /// and the table has nothing the schema lacks.
    #[test]
    fn every_schema_service_property_is_applied_warned_or_refused() {
        let text = include_str!("../../schemas/compose-spec.json");
        let schema: serde_json::Value = serde_json::from_str(text).expect("schema");
        let props = schema["definitions"]["service"]["properties"]
            .as_object()
            .expect("service properties");
        let missing: Vec<&String> = props.keys().filter(|k| support(k).is_none()).collect();
        assert!(missing.is_empty(), "not in SERVICE_KEYS: {missing:?}");
        let extra: Vec<&str> = SERVICE_KEYS
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| !props.contains_key(*k))
            .collect();
        assert!(extra.is_empty(), "not in the schema: {extra:?}");
    }

    #[test]
    fn unapplied_keys_warn_with_file_line_and_key() {
        let w = checked(
            "services:\n  web:\n    image: busybox\n    use_api_socket: true\n    runtime: runc\n  db:\n    image: busybox\n",
        )
        .expect("no refusal");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with("compose.yaml:4: services.web.use_api_socket: not applied"),
            "{w:?}"
        );
        assert!(
            w[1].starts_with("compose.yaml:5: services.web.runtime: not applied"),
            "{w:?}"
        );
        assert_eq!(
            checked("services:\n  web:\n    image: busybox\n"),
            Ok(vec![])
        );
    }

    #[test]
    fn parsed_but_unapplied_values_warn_with_file_line_and_key() {
        let w = checked(
            "services:\n  web:\n    image: busybox\n    logging:\n      options:\n        max-size: 1m\n        compress: \"true\"\n    networks:\n      front:\n        interface_name: eth7\n        gw_priority: 3\nnetworks:\n  front:\n    enable_ipv4: false\n    ipam:\n      driver: dhcp\n      options: {a: b}\n",
        )
        .expect("no refusal");
        let want = [
            "compose.yaml:7: services.web.logging.options.compress: not applied",
            "compose.yaml:10: services.web.networks.front.interface_name: not applied",
            "compose.yaml:11: services.web.networks.front.gw_priority: not applied",
            "compose.yaml:16: networks.front.ipam.driver: not applied",
            "compose.yaml:17: networks.front.ipam.options: not applied",
            "compose.yaml:14: networks.front.enable_ipv4: not applied",
        ];
        assert_eq!(w.len(), want.len(), "{w:?}");
        for (got, want) in w.iter().zip(want) {
            assert!(got.starts_with(want), "{got}\nwant: {want}");
        }
        // A host without the weight file (Bare): weight dropped, per device kept.
        let w = checked(
            "services:\n  web:\n    image: busybox\n    blkio_config:\n      weight: 300\n      weight_device: [{path: /dev/null, weight: 200}]\n",
        )
        .expect("no refusal");
        assert_eq!(
            w,
            ["compose.yaml:5: services.web.blkio_config.weight: Weight discarded."]
        );
        // Docker's words for an option no driver of that name takes.
        let err = checked(
            "services:\n  web:\n    image: busybox\n    logging:\n      driver: local\n      options:\n        labels: a\n",
        )
        .expect_err("local takes no labels");
        assert_eq!(
            err,
            "compose.yaml:7: services.web.logging.options.labels: unknown log opt 'labels' for local log driver"
        );
    }

    #[test]
    fn refused_keys_and_values_name_file_line_and_key() {
        let cases = [
            (
                "services:\n  web:\n    image: busybox\n    storage_opt: {size: 1G}\n",
                "compose.yaml:4: services.web.storage_opt: not supported",
            ),
            (
                "services:\n  web:\n    image: busybox\n    logging:\n      driver: gelf\n",
                "compose.yaml:5: services.web.logging.driver: log driver \"gelf\" is not supported",
            ),
            (
                "services:\n  web:\n    image: busybox\n    logging:\n      driver: journald\n",
                "compose.yaml:5: services.web.logging.driver: log driver \"journald\": no journald socket",
            ),
            (
                "services:\n  web:\n    image: busybox\n    logging: {driver: syslog, options: {tag: x}}\n",
                "compose.yaml:4: services.web.logging.driver: log driver \"syslog\": no local syslog socket",
            ),
            (
                "services:\n  web:\n    image: busybox\n    platform: linux/s390x\n",
                "compose.yaml:4: services.web.platform: linux/s390x: cannot run here",
            ),
            (
                "services:\n  web:\n    image: busybox\n    userns_mode: \"ns:x\"\n",
                "compose.yaml:4: services.web.userns_mode:",
            ),
            (
                "services:\n  web:\n    image: busybox\n    volumes: [data:/d]\nvolumes:\n  data:\n    driver: flocker\n",
                "compose.yaml:7: volumes.data.driver: volume driver \"flocker\"",
            ),
            (
                "services:\n  web:\n    image: busybox\n    volumes: [data:/d]\nvolumes:\n  data:\n    driver_opts: {o: \"addr=127.0.0.1\", device: \":/x\"}\n",
                "compose.yaml:7: volumes.data.driver_opts: type=\"\"",
            ),
            (
                "services:\n  web:\n    image: busybox\n    volumes:\n      - /a:/a\n      - type: image\n        source: alpine\n        target: /i\n",
                "compose.yaml:6: services.web.volumes[1].type: volume type \"image\" is not supported",
            ),
            (
                "services:\n  web:\n    image: busybox\n    uts: \"container:x\"\n",
                "compose.yaml:4: services.web.uts: \"container:x\" is not supported",
            ),
            (
                "services:\n  web:\n    image: busybox\n    networks: [front]\nnetworks:\n  front:\n    driver: overlay\n",
                "compose.yaml:7: networks.front.driver: network driver \"overlay\" is not supported",
            ),
            (
                "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s:\n    external: true\n",
                "compose.yaml:7: secrets.s.external: not supported",
            ),
        ];
        for (yaml, want) in cases {
            let err = checked(yaml).expect_err(yaml);
            assert!(err.starts_with(want), "{yaml}\n got: {err}\nwant: {want}");
        }
    }

    #[test]
    fn supported_values_pass() {
        let host = "linux/amd64";
        let yaml = format!(
            "services:\n  web:\n    image: busybox\n    platform: {host}\n    userns_mode: host\n    cgroup_parent: /ci\n    logging:\n      driver: local\n      options: {{max-size: 1m}}\n  log:\n    image: busybox\n    logging: {{driver: syslog, options: {{syslog-address: \"udp://127.0.0.1:514\"}}}}\n  quiet:\n    image: busybox\n    uts: host\n    ipc: none\n    logging: {{driver: none}}\n    volumes: [data:/d, b:/b, t:/t, nfs:/n]\n    networks: [n, ext]\nvolumes:\n  data:\n    driver: local\n  b:\n    driver_opts: {{type: none, o: bind, device: /srv}}\n  t:\n    driver_opts: {{type: tmpfs, device: tmpfs, o: size=1m}}\n  nfs:\n    driver_opts: {{type: nfs, o: \"addr=127.0.0.1,vers=4\", device: \":/x\"}}\nnetworks:\n  n:\n    driver: bridge\n  ext:\n    external: true\n"
        );
        assert_eq!(checked(&yaml), Ok(vec![]));
    }
}
