//! A compose service becomes runtime [`ContainerSpec`]s here: the one
//! place where compose types turn into runtime types. Names and labels are
//! Docker Compose v2's, so `ps`, `down` and other tools find the containers.

use crate::compose::types::{Project, ServiceConfig, ServiceHook, ServicePortConfig, VolumeType};
use crate::runtime::bundle::ExecOptions;
use crate::runtime::cdi;
use crate::runtime::spec::{
    ContainerSpec, DeviceMapping, HealthSpec, InjectedFile, MountSpec, NetworkAttachment, NsMode,
    PortBinding, Protocol, RestartSpec,
};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SpecError {
    #[error("service {service:?} has neither an image nor a build section")]
    NoImage { service: String },
    #[error("service {service:?}: {what} {value:?} is not supported yet")]
    Unsupported {
        service: String,
        what: &'static str,
        value: String,
    },
    #[error("service {service:?}: {what} {value:?} is not valid")]
    Invalid {
        service: String,
        what: &'static str,
        value: String,
    },
    #[error(
        "service {service:?}: volume {volume:?} is not declared in the top-level volumes section"
    )]
    UndeclaredVolume { service: String, volume: String },
    #[error("service {service:?}: {what} \"service:{target}\" names no service of the project")]
    UnknownService {
        service: String,
        what: &'static str,
        target: String,
    },
    /// A `secrets:`/`configs:` entry Compose would refuse too.
    #[error("service {service:?}: {kind} {name:?}: {message}")]
    FileReference {
        service: String,
        kind: &'static str,
        name: String,
        message: String,
    },
    /// A GPU or CDI device this host cannot give (`gpus`, `devices`,
    /// `deploy.resources.reservations.devices`).
    #[error("service {service:?}: {key}: {message}")]
    Device {
        service: String,
        key: &'static str,
        message: String,
    },
    /// A log driver or option Docker would refuse (validation only, so
    /// the message is all there is).
    #[error("service {service:?}: logging: {message}")]
    Logging { service: String, message: String },
    #[error("service {service:?}: ports[{index}]: {message}")]
    InvalidPort {
        service: String,
        index: usize,
        message: String,
    },
}

/// What the loader knows about the project beyond its model.
#[derive(Clone, Debug, Default)]
pub struct ProjectContext {
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// The project's environment (`.env`, the process's): where a secret's
    /// or config's `environment:` variable is read.
    pub environment: indexmap::IndexMap<String, String>,
}

impl ProjectContext {
    /// What the loader found out about `loaded`'s project.
    pub fn of(loaded: &crate::compose::load::Loaded) -> Self {
        ProjectContext {
            working_dir: loaded.working_dir.clone(),
            config_files: loaded.config_files.clone(),
            environment: loaded.environment.clone(),
        }
    }
}

pub const LABEL_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
pub const LABEL_HASH: &str = "com.docker.compose.config-hash";
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
pub const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const LABEL_VERSION: &str = "com.docker.compose.version";
pub const LABEL_DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const LABEL_IMAGE: &str = "com.docker.compose.image";
/// A one-off container's full random id (`run`), Compose's `slug`.
pub const LABEL_SLUG: &str = "com.docker.compose.slug";

/// The Compose version whose behaviour wharf follows (the label value).
pub const COMPOSE_VERSION: &str = "2.40.3";

/// `DST[:size=…,mode=…,ro]`, the short tmpfs form of compose's `tmpfs:`
/// and of `docker run --tmpfs`; one parser for both.
pub fn parse_tmpfs(t: &str) -> Result<MountSpec, String> {
    let (dst, opts) = t.split_once(':').unwrap_or((t, ""));
    let mut size = None;
    let mut mode = None;
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        if let Some(s) = o.strip_prefix("size=") {
            let bytes =
                crate::compose::convert::parse_bytes(s).map_err(|e| format!("{t:?}: {e}"))?;
            size = Some(bytes.max(0) as u64);
        } else if let Some(m) = o.strip_prefix("mode=") {
            mode = Some(
                u32::from_str_radix(m, 8).map_err(|_| format!("{t:?}: mode {m:?} is not octal"))?,
            );
        } else if o == "ro" {
            read_only = true;
        }
    }
    Ok(MountSpec::Tmpfs {
        target: dst.to_string(),
        size,
        mode,
        read_only,
    })
}

/// `docker run -p` (the compose short syntax, one parser for both):
/// `8080:80`, `127.0.0.1:8080:80`, `[::1]:8080:80`, `8000-8010:8000-8010`,
/// `53:53/udp`, `80`, `127.0.0.1::80`; one binding per container port.
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>, String> {
    let mappings = crate::compose::canonical::parse_port_spec(spec)?;
    let long: Vec<ServicePortConfig> = mappings
        .into_iter()
        .map(|m| ServicePortConfig {
            host_ip: m.host_ip,
            target: m.target,
            published: m.published,
            protocol: Some(m.protocol),
            ..ServicePortConfig::default()
        })
        .collect();
    long.iter().map(port_binding).collect()
}

/// One compose long-form port (`target`, `published` — a port or a range —,
/// `host_ip`, `protocol`, `mode`) as a runtime binding. A range of host ports for one container port (`8000-8010:80`)
/// publishes the first port of the range: `PortBinding` holds one host port.
/// `mode` only matters to a swarm (`host` vs `ingress`); both publish on
/// this host.
pub fn port_binding(p: &ServicePortConfig) -> Result<PortBinding, String> {
    if p.target == 0 {
        return Err("a port needs a target (container) port".into());
    }
    let protocol = match p
        .protocol
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("tcp") => Protocol::Tcp,
        Some("udp") => Protocol::Udp,
        Some("sctp") => Protocol::Sctp,
        Some(other) => return Err(format!("invalid proto: {other}")),
    };
    let host_ip = match p.host_ip.as_deref() {
        None | Some("") => None,
        Some(ip) => {
            let bare = ip
                .strip_prefix('[')
                .and_then(|i| i.strip_suffix(']'))
                .unwrap_or(ip);
            Some(
                bare.parse()
                    .map_err(|_| format!("invalid IP address: {ip}"))?,
            )
        }
    };
    let host_port = match p.published.as_deref() {
        None | Some("") => 0,
        Some(text) => {
            p.published_range()
                .filter(|(lo, hi)| lo <= hi)
                .ok_or_else(|| format!("invalid hostPort: {text}"))?
                .0
        }
    };
    Ok(PortBinding {
        host_ip,
        host_port,
        container_port: p.target,
        protocol,
    })
}

/// `<project>-<service>-<n>` (`_` with `--compatibility`), or
/// `container_name:` when set.
pub fn container_name(project: &Project, service: &ServiceConfig, number: u32) -> String {
    let sep = project.name_separator();
    service
        .container_name
        .clone()
        .unwrap_or_else(|| format!("{}{sep}{}{sep}{number}", project.name, service.name))
}

/// The image a service runs: `image:`, or `<project>-<service>` for a
/// service that is only built, as Compose names it.
pub fn image_name(project: &Project, service: &ServiceConfig) -> Result<String, SpecError> {
    match (&service.image, &service.build) {
        (Some(i), _) => Ok(i.clone()),
        (None, Some(_)) => Ok(format!(
            "{}{}{}",
            project.name,
            project.name_separator(),
            service.name
        )),
        (None, None) => Err(SpecError::NoImage {
            service: service.name.clone(),
        }),
    }
}

/// A lifecycle hook (`post_start`, `pre_stop`) as the process to exec in
/// the service's container. An environment entry without a value is left
/// out, as for the service's own `environment:`.
pub fn hook_exec(hook: &ServiceHook) -> ExecOptions {
    ExecOptions {
        args: hook.command.clone().unwrap_or_default(),
        env: hook
            .environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect(),
        user: hook.user.clone(),
        working_dir: hook.working_dir.clone(),
        tty: false,
        privileged: hook.privileged,
        group_add: Vec::new(),
    }
}

/// A json-file option of `logging:` (other drivers are not ours to honour).
fn log_option(service: &ServiceConfig, key: &str) -> Option<String> {
    let l = service.logging.as_ref()?;
    if !matches!(
        l.driver.as_deref(),
        None | Some("json-file") | Some("local")
    ) {
        return None;
    }
    l.options.get(key).cloned()
}

/// `restart:`, or swarm's `deploy.restart_policy` (which Compose also
/// honours): `any` is `always`, `none` is `no`.
fn restart_spec(service: &ServiceConfig) -> RestartSpec {
    use crate::compose::types::RestartMode;
    if let Some(p) = service
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
    {
        let name = match p.condition.as_deref() {
            Some("none") => "no",
            Some("on-failure") => "on-failure",
            _ => "always",
        };
        return RestartSpec {
            name: name.into(),
            max_retries: p.max_attempts.map(|m| m as u32).unwrap_or(0),
        };
    }
    match service.restart_mode() {
        Some(RestartMode::Always) => RestartSpec {
            name: "always".into(),
            max_retries: 0,
        },
        Some(RestartMode::UnlessStopped) => RestartSpec {
            name: "unless-stopped".into(),
            max_retries: 0,
        },
        Some(RestartMode::OnFailure { max_retries }) => RestartSpec {
            name: "on-failure".into(),
            max_retries: max_retries.unwrap_or(0),
        },
        _ => RestartSpec::default(),
    }
}

/// What the network layer needs to create network `key` of the project,
/// with Compose's labels so `down` finds it.
pub fn network_options(project: &Project, key: &str) -> crate::net::store::NetworkOptions {
    let decl = project.networks.get(key).cloned().unwrap_or_default();
    let mut labels: std::collections::BTreeMap<String, String> = decl
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_PROJECT.into(), project.name.clone());
    labels.insert("com.docker.compose.network".into(), key.to_string());
    labels.insert(LABEL_VERSION.into(), COMPOSE_VERSION.into());
    crate::net::store::NetworkOptions {
        name: network_name(project, key),
        driver: decl.driver.clone(),
        internal: decl.internal,
        attachable: decl.attachable,
        enable_ipv6: decl.enable_ipv6.unwrap_or(false),
        ipam: decl
            .ipam
            .config
            .iter()
            .map(|p| crate::net::store::IpamRequest {
                subnet: p.subnet.clone(),
                gateway: p.gateway.clone(),
                ip_range: p.ip_range.clone(),
            })
            .collect(),
        labels,
        options: decl
            .driver_opts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// The engine-side name of network `key` of the project.
pub fn network_name(project: &Project, key: &str) -> String {
    project
        .networks
        .get(key)
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// The service's networks, highest priority first; on each the service
/// name is an alias, as Compose makes it, so replicas share one DNS name.
fn network_attachments(
    project: &Project,
    service: &ServiceConfig,
) -> Result<Vec<NetworkAttachment>, SpecError> {
    let bad = |what: &'static str, value: &str| SpecError::Invalid {
        service: service.name.clone(),
        what,
        value: value.to_string(),
    };
    let mut out = Vec::new();
    for key in service.networks_by_priority() {
        let cfg = service
            .networks
            .get(key)
            .cloned()
            .flatten()
            .unwrap_or_default();
        let mut aliases = vec![service.name.clone()];
        for a in &cfg.aliases {
            if !aliases.contains(a) {
                aliases.push(a.clone());
            }
        }
        out.push(NetworkAttachment {
            network: network_name(project, key),
            aliases,
            ipv4_address: match &cfg.ipv4_address {
                Some(a) => Some(a.parse().map_err(|_| bad("ipv4_address", a))?),
                None => None,
            },
            ipv6_address: match &cfg.ipv6_address {
                Some(a) => Some(a.parse().map_err(|_| bad("ipv6_address", a))?),
                None => None,
            },
            mac_address: cfg.mac_address.clone().or_else(|| {
                // The service-level mac_address goes to the first network.
                out.is_empty()
                    .then(|| service.mac_address.clone())
                    .flatten()
            }),
            priority: cfg
                .priority
                .unwrap_or(0)
                .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        });
    }
    Ok(out)
}

/// `volumes_from` as (container name, mode): `SERVICE[:ro|rw]` names
/// replica 1 of the service (what Compose does), `container:NAME[:ro|rw]`
/// any container. The executor copies their mounts when it creates this
/// service's containers, as they exist by then (the graph orders them).
/// The mode is checked and then dropped, as Compose v2 drops it when it
/// resolves the entry to a container id (`resolveVolumeFrom`): the mounts
/// keep their own modes (recorded with scripts/record-compose-probe).
pub fn volumes_from(
    project: &Project,
    service: &ServiceConfig,
) -> Result<Vec<(String, String)>, SpecError> {
    let mut out = Vec::new();
    for entry in &service.volumes_from {
        let (name, mode) = match entry.strip_prefix("container:") {
            Some(rest) => {
                let (name, mode) = rest.split_once(':').unwrap_or((rest, ""));
                (name.to_string(), mode)
            }
            None => {
                let (svc, mode) = entry.split_once(':').unwrap_or((entry, ""));
                let other = project
                    .services
                    .get(svc)
                    .ok_or_else(|| SpecError::UnknownService {
                        service: service.name.clone(),
                        what: "volumes_from",
                        target: svc.to_string(),
                    })?;
                (container_name(project, other, 1), mode)
            }
        };
        if name.is_empty() || !matches!(mode, "" | "ro" | "rw") {
            return Err(SpecError::Invalid {
                service: service.name.clone(),
                what: "volumes_from",
                value: entry.clone(),
            });
        }
        out.push((name, String::new()));
    }
    Ok(out)
}

/// A `driver: local` volume with `driver_opts`, as the mount Docker's local
/// driver makes of it (see [`local_volume_mount`]); `None` for a plain
/// volume. Any other driver is refused at `up`, with its file and line.
fn local_driver_mount(
    service: &ServiceConfig,
    decl: &crate::compose::types::VolumeConfig,
    target: &str,
    read_only: bool,
) -> Result<Option<MountSpec>, SpecError> {
    if decl.external || decl.driver_opts.is_empty() {
        return Ok(None);
    }
    let opt = |k: &str| decl.driver_opts.get(k).cloned().unwrap_or_default();
    local_volume_mount(&opt, target, read_only)
        .map(Some)
        .map_err(|value| SpecError::Unsupported {
            service: service.name.clone(),
            what: "volume driver_opts",
            value,
        })
}

/// The mount Docker's `local` volume driver makes of its options (`opt`
/// gives each, empty when unset), for compose's `driver_opts` and `wharf
/// volume create -o`: `type: none` with `o: bind` and `device: PATH` binds
/// PATH (the "named bind volume"), `type: tmpfs` mounts a tmpfs with the
/// `size=`/`mode=` of `o`; any other type is mounted with mount(2) from
/// `device` with the options of `o` (nfs, cifs, ext4 of a block device…),
/// as Docker's local driver does. The error is the offending value.
pub fn local_volume_mount(
    opt: &dyn Fn(&str) -> String,
    target: &str,
    read_only: bool,
) -> Result<MountSpec, String> {
    let o = opt("o");
    match opt("type").as_str() {
        "none" | "" if o.split(',').any(|f| f == "bind" || f == "rbind") => {
            let device = opt("device");
            if device.is_empty() {
                return Err(format!("o={o} without a device"));
            }
            Ok(MountSpec::Bind {
                source: PathBuf::from(device),
                target: target.to_string(),
                read_only,
                propagation: None,
                // Docker's local driver refuses a missing device too.
                create_host_path: false,
            })
        }
        "tmpfs" => {
            let mut m = parse_tmpfs(&format!("{target}:{o}"))?;
            if let MountSpec::Tmpfs { read_only: ro, .. } = &mut m {
                *ro = *ro || read_only;
            }
            Ok(m)
        }
        "none" | "" => Err(format!("type={} o={o}", opt("type"))),
        fstype => Ok(MountSpec::Filesystem {
            target: target.to_string(),
            fstype: fstype.to_string(),
            device: opt("device"),
            options: o,
            read_only,
        }),
    }
}

/// Whether a service entry names a top-level `secrets:` or `configs:` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileKind {
    Secret,
    Config,
}

impl FileKind {
    fn as_str(self) -> &'static str {
        match self {
            FileKind::Secret => "secret",
            FileKind::Config => "config",
        }
    }
}

/// Where a secret's or config's bytes come from.
#[derive(Clone, Debug, PartialEq)]
enum FileSource {
    /// Bound read-only from the host (`file:`).
    File(PathBuf),
    /// Written into the container (`content:`, or the named variable of
    /// the project's environment).
    Content(Option<String>),
    Environment(String),
}

/// One service `secrets:`/`configs:` entry with Compose's target rules
/// applied: a secret goes to `/run/secrets/<source>` (a relative target
/// under `/run/secrets`), a config to `/<source>` (a relative target under
/// `/`).
struct FileReference {
    kind: FileKind,
    name: String,
    target: String,
    source: FileSource,
    uid: Option<String>,
    gid: Option<String>,
    mode: Option<u32>,
}

fn file_references(
    project: &Project,
    service: &ServiceConfig,
) -> Result<Vec<FileReference>, SpecError> {
    let entries = service
        .secrets
        .iter()
        .map(|e| (FileKind::Secret, e))
        .chain(service.configs.iter().map(|e| (FileKind::Config, e)));
    let mut out = Vec::new();
    for (kind, entry) in entries {
        let refuse = |message: String| SpecError::FileReference {
            service: service.name.clone(),
            kind: kind.as_str(),
            name: entry.source.clone(),
            message,
        };
        let base = match kind {
            FileKind::Secret => "/run/secrets/",
            FileKind::Config => "/",
        };
        let target = match entry.target.as_deref() {
            None | Some("") => format!("{base}{}", entry.source),
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) => format!("{base}{t}"),
        };
        // Both top-level kinds hold the same fields; secrets cannot have
        // `content` (the loader refuses it).
        let (file, environment, content, external, driver, template_driver) = match kind {
            FileKind::Secret => {
                let d = project.secrets.get(&entry.source).ok_or_else(|| {
                    refuse("is not declared in the top-level secrets section".into())
                })?;
                (
                    &d.file,
                    &d.environment,
                    &d.content,
                    d.external,
                    &d.driver,
                    &d.template_driver,
                )
            }
            FileKind::Config => {
                let d = project.configs.get(&entry.source).ok_or_else(|| {
                    refuse("is not declared in the top-level configs section".into())
                })?;
                (
                    &d.file,
                    &d.environment,
                    &d.content,
                    d.external,
                    &d.driver,
                    &d.template_driver,
                )
            }
        };
        let given = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(str::to_string);
        if external {
            return Err(refuse(format!(
                "external {}s are a swarm feature; Compose refuses them too",
                kind.as_str()
            )));
        }
        if given(driver).is_some() {
            return Err(refuse(format!(
                "{}s.*.driver is not supported (nor by Compose)",
                kind.as_str()
            )));
        }
        if given(template_driver).is_some() {
            return Err(refuse(format!(
                "{}s.*.template_driver is not supported (nor by Compose)",
                kind.as_str()
            )));
        }
        let source = match (given(content), given(environment), given(file)) {
            (Some(c), _, _) => FileSource::Content(Some(c)),
            (None, Some(var), _) => FileSource::Environment(var),
            (None, None, Some(f)) => FileSource::File(PathBuf::from(f)),
            (None, None, None) => FileSource::Content(None),
        };
        out.push(FileReference {
            kind,
            name: entry.source.clone(),
            target,
            source,
            uid: given(&entry.uid),
            gid: given(&entry.gid),
            mode: entry.mode.map(|m| m.0),
        });
    }
    Ok(out)
}

/// The `content:`/`environment:` secrets and configs of `service`, as the
/// files to write into its container before each start (Compose's
/// `injectSecrets`/`injectConfigs`): mode 0444 unless `mode` is given,
/// owned by `uid`:`gid` (0 for a missing one). File-backed entries are bind
/// mounts of [`container_spec`] instead; their `uid`/`gid`/`mode` cannot
/// apply to a bind, so Compose ignores them with a warning, and so do we;
/// their file must exist.
pub fn injected_files(
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
) -> Result<Vec<InjectedFile>, SpecError> {
    let mut out: Vec<InjectedFile> = Vec::new();
    for r in file_references(project, service)? {
        let refuse = |message: String| SpecError::FileReference {
            service: service.name.clone(),
            kind: r.kind.as_str(),
            name: r.name.clone(),
            message,
        };
        let content = match &r.source {
            FileSource::File(path) => {
                // Compose warns and the engine then refuses the bind; one
                // clear error before anything is made instead.
                if !path.exists() {
                    return Err(refuse(format!("file {} does not exist", path.display())));
                }
                if r.uid.is_some() || r.gid.is_some() || r.mode.is_some() {
                    tracing::warn!(
                        "service {:?}: {} {:?}: `uid`, `gid` and `mode` do not apply to a file-backed {} (it is bound read-only); they are ignored, as Compose ignores them",
                        service.name,
                        r.kind.as_str(),
                        r.name,
                        r.kind.as_str()
                    );
                }
                continue;
            }
            // Nothing to write: Compose skips an empty value.
            FileSource::Content(None) => continue,
            FileSource::Content(Some(c)) => c.clone(),
            FileSource::Environment(var) => match ctx.environment.get(var) {
                Some(v) => v.clone(),
                None => {
                    return Err(refuse(format!(
                        "environment variable {var:?} it is read from is not set"
                    )))
                }
            },
        };
        if content.is_empty() {
            continue;
        }
        if service.read_only {
            return Err(refuse(
                "cannot be written into a read_only service: `file` is the sole supported source there".into(),
            ));
        }
        let id = |what: &str, v: &Option<String>| -> Result<u32, SpecError> {
            match v {
                None => Ok(0),
                Some(s) => s
                    .parse()
                    .map_err(|_| refuse(format!("{what} {s:?} is not a number"))),
            }
        };
        let file = InjectedFile {
            target: r.target.clone(),
            content: content.into_bytes(),
            uid: id("uid", &r.uid)?,
            gid: id("gid", &r.gid)?,
            mode: r.mode.unwrap_or(0o444),
        };
        out.retain(|f| f.target != file.target);
        out.push(file);
    }
    Ok(out)
}

/// The nvidia-container-toolkit's OCI hook, which Docker's `--gpus` falls
/// back to when no CDI spec serves the request (moby
/// daemon/devices_nvidia_linux.go, `injectNVIDIARuntimeHook`).
const NVIDIA_HOOK: &str = "nvidia-container-runtime-hook";

/// NVIDIA's driver capabilities (containerd's `allCaps`, which moby copies):
/// the ones among a request's capabilities that reach
/// NVIDIA_DRIVER_CAPABILITIES.
const NVIDIA_DRIVER_CAPS: [&str; 6] = [
    "compute", "compat32", "graphics", "utility", "video", "display",
];

/// What a service's device requests come to.
#[derive(Debug, Default)]
struct DeviceRequests {
    /// CDI device names, each with the key that asks.
    names: Vec<(&'static str, String)>,
    /// GPUs for the nvidia hook (`NVIDIA_VISIBLE_DEVICES` entries; `all`
    /// for every GPU), when no CDI spec lists one.
    hook_devices: Vec<String>,
    /// The NVIDIA driver capabilities those requests name, in order.
    hook_caps: Vec<String>,
}

/// The CDI device names a service asks for, each with the key that asks:
/// `devices:` entries that are CDI names, and the GPU requests of `gpus:`
/// and `deploy.resources.reservations.devices`, which Docker's `--gpus`
/// turns into `nvidia.com/gpu=…` (every GPU for `count: -1`/`all` or no
/// count, the first N for `count: N`, the named ones for `device_ids`;
/// `driver: cdi` takes `device_ids` as full CDI names). When no CDI spec
/// lists an NVIDIA GPU and `hook` (the nvidia-container-runtime-hook) is
/// installed, the GPU requests go to it instead, as Docker's do.
fn device_names(
    service: &ServiceConfig,
    registry: &cdi::Registry,
    hook: Option<&std::path::Path>,
) -> Result<DeviceRequests, SpecError> {
    use crate::compose::types::DeviceCount;
    let mut out = DeviceRequests::default();
    for d in &service.devices {
        if let Some(source) = d.source.as_deref().filter(|s| cdi::is_device_name(s)) {
            out.names.push(("devices", source.to_string()));
        }
    }
    let reservations = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.as_ref())
        .map(|r| r.devices.as_slice())
        .unwrap_or_default();
    let requests = service.gpus.iter().map(|r| ("gpus", r)).chain(
        reservations
            .iter()
            .map(|r| ("deploy.resources.reservations.devices", r)),
    );
    let kind = cdi::NVIDIA_GPU_KIND;
    let known: Vec<String> = registry
        .devices_of(kind)
        .into_iter()
        .filter(|n| n != "all")
        .collect();
    for (key, r) in requests {
        let fail = |message: String| SpecError::Device {
            service: service.name.clone(),
            key,
            message,
        };
        match r.driver.as_deref() {
            Some("cdi") => {
                for id in &r.device_ids {
                    if !cdi::is_device_name(id) {
                        return Err(fail(format!("device_ids: {id:?} is not a CDI device name")));
                    }
                    out.names.push((key, id.clone()));
                }
                continue;
            }
            None | Some("") | Some("nvidia") => {}
            Some(other) => {
                return Err(fail(format!(
                    "driver {other:?} is not supported (nvidia and cdi are)"
                )))
            }
        }
        // `gpus:` asks for GPUs whatever it says; reservations say so.
        if key != "gpus" && !r.capabilities.iter().any(|c| c == "gpu") {
            return Err(fail(format!(
                "could not select device driver with capabilities {:?} (only [gpu] is served)",
                r.capabilities
            )));
        }
        if let (true, Some(_)) = (known.is_empty(), hook) {
            // moby's getRequestedDevicesIDs: the IDs, the first N, or all.
            let devices = match (&r.count, r.device_ids.is_empty()) {
                (Some(_), false) => {
                    return Err(fail(
                        "cannot set both Count and DeviceIDs on device request".into(),
                    ))
                }
                (_, false) => r.device_ids.clone(),
                (None | Some(DeviceCount::All), true) => vec!["all".to_string()],
                (Some(DeviceCount::Count(n)), true) => (0..*n).map(|i| i.to_string()).collect(),
            };
            for d in devices {
                if !out.hook_devices.contains(&d) {
                    out.hook_devices.push(d);
                }
            }
            for c in &r.capabilities {
                if NVIDIA_DRIVER_CAPS.contains(&c.as_str()) && !out.hook_caps.contains(c) {
                    out.hook_caps.push(c.clone());
                }
            }
            continue;
        }
        if !r.device_ids.is_empty() {
            out.names
                .extend(r.device_ids.iter().map(|id| (key, format!("{kind}={id}"))));
            continue;
        }
        if known.is_empty() {
            return Err(fail(format!(
                "no GPU on this host: no CDI spec lists a {kind} device (looked in {}) and {NVIDIA_HOOK} is not on PATH",
                cdi_dirs()
            )));
        }
        let take = match r.count {
            None | Some(DeviceCount::All) => known.len(),
            Some(DeviceCount::Count(n)) => n as usize,
        };
        if take > known.len() {
            return Err(fail(format!(
                "count {take}: this host has {} GPU(s) ({})",
                known.len(),
                known.join(", ")
            )));
        }
        out.names.extend(
            known
                .iter()
                .take(take)
                .map(|n| (key, format!("{kind}={n}"))),
        );
    }
    Ok(out)
}

/// What the nvidia hook needs in the container: the GPUs and driver
/// capabilities in its environment, and the hook itself at prestart, with
/// the arguments Docker gives it. Docker hands the hook the daemon's
/// environment; wharf's is the user's shell, so the hook gets only PATH
/// (to find nvidia-container-cli and ldconfig).
fn nvidia_hook_edits(
    hook: &std::path::Path,
    devices: &[String],
    caps: &[String],
) -> cdi::ContainerEdits {
    let mut env = vec![format!("NVIDIA_VISIBLE_DEVICES={}", devices.join(","))];
    if !caps.is_empty() {
        env.push(format!("NVIDIA_DRIVER_CAPABILITIES={}", caps.join(",")));
    }
    let path =
        std::env::var("PATH").unwrap_or_else(|_| crate::runtime::bundle::DEFAULT_PATH.to_string());
    cdi::ContainerEdits {
        env,
        hooks: vec![cdi::Hook {
            hook_name: "prestart".into(),
            path: hook.display().to_string(),
            args: vec![NVIDIA_HOOK.into(), "prestart".into()],
            env: vec![format!("PATH={path}")],
            timeout: None,
        }],
        ..cdi::ContainerEdits::default()
    }
}

/// A CDI spec in YAML, read with the compose loader's parser.
fn cdi_yaml(text: &str, path: &std::path::Path) -> Result<serde_json::Value, String> {
    crate::compose::yaml::parse(text, &path.display().to_string())
        .map(|n| n.to_json())
        .map_err(|e| e.to_string())
}

/// Where CDI specs are looked for, for messages.
fn cdi_dirs() -> String {
    std::env::var(cdi::SPEC_DIRS_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| cdi::SPEC_DIRS.join(":"))
}

/// The CDI edits of every device `service` asks for, `None` when it asks
/// for none. An unknown device or a host without CDI specs is an error
/// naming the key: a container is never started without its GPU.
pub fn device_edits(service: &ServiceConfig) -> Result<Option<cdi::ContainerEdits>, SpecError> {
    let reserved = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.as_ref())
        .is_some_and(|r| !r.devices.is_empty());
    let named = service
        .devices
        .iter()
        .any(|d| d.source.as_deref().is_some_and(cdi::is_device_name));
    if service.gpus.is_empty() && !reserved && !named {
        return Ok(None);
    }
    let failed = |key: &'static str| {
        move |e: cdi::CdiError| SpecError::Device {
            service: service.name.clone(),
            key,
            message: e.to_string(),
        }
    };
    let registry = cdi::Registry::load(&cdi_yaml).map_err(failed("devices"))?;
    let hook = crate::runtime::oci_cli::find_in_path(NVIDIA_HOOK);
    let requests = device_names(service, &registry, hook.as_deref())?;
    let mut all = Vec::new();
    for (key, name) in requests.names {
        // One by one first, so an unknown device names the key that asked.
        registry
            .edits(std::slice::from_ref(&name))
            .map_err(failed(key))?;
        if !all.contains(&name) {
            all.push(name);
        }
    }
    let mut edits = registry.edits(&all).map_err(failed("devices"))?;
    if let (Some(hook), false) = (&hook, requests.hook_devices.is_empty()) {
        let nvidia = nvidia_hook_edits(hook, &requests.hook_devices, &requests.hook_caps);
        edits.env.extend(nvidia.env);
        edits.hooks.extend(nvidia.hooks);
    }
    Ok(Some(edits))
}

/// A device's edits in the spec's own terms: device nodes, bind mounts,
/// environment (after the service's, so CDI's win as in its runtime) and
/// OCI hooks.
pub fn apply_device_edits(spec: &mut ContainerSpec, edits: cdi::ContainerEdits) {
    for n in edits.device_nodes {
        spec.devices.push(DeviceMapping {
            host_path: PathBuf::from(n.host_path.as_deref().unwrap_or(&n.path)),
            container_path: PathBuf::from(&n.path),
            permissions: n.permissions.unwrap_or_else(|| "rwm".into()),
        });
    }
    for m in edits.mounts {
        spec.mounts.push(MountSpec::Bind {
            source: PathBuf::from(&m.host_path),
            target: m.container_path.clone(),
            read_only: m.options.iter().any(|o| o == "ro"),
            propagation: None,
            create_host_path: false,
        });
    }
    for e in edits.env {
        let key = e.split('=').next().unwrap_or_default().to_string();
        spec.env
            .retain(|x| x.split('=').next() != Some(key.as_str()));
        spec.env.push(e);
    }
    spec.hooks.extend(edits.hooks);
}

/// The spec of replica `number` (1-based) of `service`. Named volumes come
/// out with an empty `source`: the executor creates them and fills it in.
pub fn container_spec(
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
    number: u32,
) -> Result<ContainerSpec, SpecError> {
    let name = container_name(project, service, number);
    let unsupported = |what: &'static str, value: &str| SpecError::Unsupported {
        service: service.name.clone(),
        what,
        value: value.to_string(),
    };
    let mut spec = ContainerSpec {
        name: name.clone(),
        image: image_name(project, service)?,
        entrypoint: service.entrypoint.clone(),
        command: service.command.clone(),
        env: service
            .environment
            .iter()
            // An unresolved `KEY` (no value, not in the environment) is
            // left out, as Compose does.
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect(),
        working_dir: service.working_dir.clone(),
        user: service.user.clone(),
        group_add: service.group_add.clone(),
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        tty: service.tty,
        stdin_open: service.stdin_open,
        init: service.init.unwrap_or(false),
        read_only: service.read_only,
        privileged: service.privileged,
        cap_add: service.cap_add.clone(),
        cap_drop: service.cap_drop.clone(),
        security_opt: service.security_opt.clone(),
        device_cgroup_rules: service.device_cgroup_rules.clone(),
        sysctls: service
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ulimits: service
            .ulimits
            .iter()
            .map(|(k, u)| (k.clone(), (u.soft(), u.hard())))
            .collect(),
        oom_score_adj: service.oom_score_adj.and_then(|v| i32::try_from(v).ok()),
        shm_size: service.shm_size.map(|b| b.0.max(0) as u64),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.0.as_secs()),
        restart: restart_spec(service),
        log_max_size: log_option(service, "max-size")
            .map(|v| {
                crate::compose::convert::parse_bytes(&v)
                    .map(|b| b.max(0) as u64)
                    .map_err(|e| unsupported("logging.options.max-size", &e))
            })
            .transpose()?,
        log_max_files: log_option(service, "max-file")
            .map(|v| {
                v.parse()
                    .map_err(|_| unsupported("logging.options.max-file", &v))
            })
            .transpose()?,
        healthcheck: service.healthcheck.as_ref().map(|h| {
            let ns = |d: Option<crate::compose::types::Duration>| {
                d.map(|d| d.0.as_nanos() as u64).unwrap_or(0)
            };
            HealthSpec {
                test: if h.disable {
                    vec!["NONE".into()]
                } else {
                    h.test.clone()
                },
                interval: ns(h.interval),
                timeout: ns(h.timeout),
                start_period: ns(h.start_period),
                start_interval: ns(h.start_interval),
                retries: h.retries.map(|r| r as u32).unwrap_or(0),
            }
        }),
        dns: service.dns.clone(),
        dns_search: service.dns_search.clone(),
        dns_opt: service.dns_opt.clone(),
        cgroup_parent: service.cgroup_parent.clone().filter(|p| !p.is_empty()),
        ..ContainerSpec::default()
    };
    if let Some(l) = &service.logging {
        let driver = l.driver.clone().unwrap_or_default();
        // json-file's rotation options are the spec's own fields.
        let file_driver = matches!(driver.as_str(), "" | "json-file" | "local");
        spec.log_options = l
            .options
            .iter()
            .filter(|(k, _)| !(file_driver && matches!(k.as_str(), "max-size" | "max-file")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        crate::runtime::log_forward::validate(&driver, &spec.log_options).map_err(|e| {
            SpecError::Logging {
                service: service.name.clone(),
                message: e.to_string(),
            }
        })?;
        spec.log_driver = (!driver.is_empty()).then_some(driver);
    }
    for (index, p) in service.ports.iter().enumerate() {
        let binding = port_binding(p).map_err(|message| SpecError::InvalidPort {
            service: service.name.clone(),
            index,
            message,
        })?;
        spec.ports.push(binding);
    }
    if let Some(edits) = device_edits(service)? {
        apply_device_edits(&mut spec, edits);
    }
    for d in &service.devices {
        let source = d.source.clone().unwrap_or_default();
        if crate::runtime::cdi::is_device_name(&source) {
            continue;
        }
        spec.devices.push(DeviceMapping {
            host_path: PathBuf::from(&source),
            container_path: PathBuf::from(d.target.clone().unwrap_or(source)),
            permissions: d.permissions.clone().unwrap_or_else(|| "rwm".into()),
        });
    }
    // `SERVICE[:ALIAS]` / `CONTAINER[:ALIAS]`: the alias (the name itself
    // when none is given) answers with the target's addresses.
    for l in service.links.iter().chain(&service.external_links) {
        let (target, alias) = l.split_once(':').unwrap_or((l, l));
        if alias != target {
            spec.links.push((alias.to_string(), target.to_string()));
        }
    }
    for (host, ips) in &service.extra_hosts.0 {
        for ip in ips {
            spec.extra_hosts.push((host.clone(), ip.clone()));
        }
    }

    // Labels: the service's, then Compose's own (which win).
    for (k, v) in &service.labels {
        spec.labels.insert(k.clone(), v.clone());
    }
    let config_files: Vec<String> = ctx
        .config_files
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let depends_on: Vec<String> = service
        .depends_on
        .iter()
        .map(|(dep, d)| format!("{dep}:{}:{}", d.condition.as_str(), d.restart))
        .collect();
    for (k, v) in [
        (LABEL_PROJECT, project.name.clone()),
        (LABEL_SERVICE, service.name.clone()),
        (LABEL_NUMBER, number.to_string()),
        (LABEL_HASH, super::config_hash(service)),
        (LABEL_ONEOFF, "False".to_string()),
        (LABEL_WORKING_DIR, ctx.working_dir.display().to_string()),
        (LABEL_CONFIG_FILES, config_files.join(",")),
        (LABEL_VERSION, COMPOSE_VERSION.to_string()),
        (LABEL_DEPENDS_ON, depends_on.join(",")),
    ] {
        spec.labels.insert(k.to_string(), v);
    }

    for v in &service.volumes {
        let target = v.target.clone().unwrap_or_default();
        let mount = match v.volume_type {
            VolumeType::Bind => {
                let bind = v.bind.clone().unwrap_or_default();
                MountSpec::Bind {
                    source: PathBuf::from(v.source.clone().unwrap_or_default()),
                    target,
                    read_only: v.read_only,
                    propagation: bind.propagation,
                    create_host_path: bind.create_host_path,
                }
            }
            VolumeType::Volume => {
                let opts = v.volume.clone().unwrap_or_default();
                let driver_mount = match v.source.as_deref().and_then(|s| project.volumes.get(s)) {
                    Some(decl) => local_driver_mount(service, decl, &target, v.read_only)?,
                    None => None,
                };
                if let Some(m) = driver_mount {
                    spec.mounts.push(m);
                    continue;
                }
                let name = match v.source.as_deref() {
                    // An anonymous volume: the executor makes one per container.
                    None | Some("") => String::new(),
                    Some(s) => match project.volumes.get(s) {
                        Some(decl) => decl
                            .name
                            .clone()
                            .unwrap_or_else(|| format!("{}_{s}", project.name)),
                        None => {
                            return Err(SpecError::UndeclaredVolume {
                                service: service.name.clone(),
                                volume: s.to_string(),
                            })
                        }
                    },
                };
                MountSpec::Volume {
                    name,
                    source: PathBuf::new(),
                    target,
                    read_only: v.read_only,
                    nocopy: opts.nocopy,
                    subpath: opts.subpath,
                }
            }
            VolumeType::Tmpfs => {
                let t = v.tmpfs.clone().unwrap_or_default();
                MountSpec::Tmpfs {
                    target,
                    size: t.size.map(|s| s.0.max(0) as u64),
                    mode: t.mode,
                    read_only: v.read_only,
                }
            }
            other => {
                return Err(unsupported(
                    "volume type",
                    &format!("{other:?}").to_lowercase(),
                ))
            }
        };
        spec.mounts.push(mount);
    }
    for t in &service.tmpfs {
        spec.mounts
            .push(parse_tmpfs(t).map_err(|message| unsupported("tmpfs", &message))?);
    }
    for r in file_references(project, service)? {
        if let FileSource::File(source) = r.source {
            // A later entry for the same target wins, as in Compose's map.
            spec.mounts.retain(|m| m.target() != r.target);
            spec.mounts.push(MountSpec::Bind {
                source,
                target: r.target,
                read_only: true,
                propagation: None,
                create_host_path: false,
            });
        }
    }

    // `service:x` joins replica 1 of service x (what Compose does), by
    // name, and `container:x` any container by name or id; both are resolved
    // to the running process when this container starts.
    let shared = |what: &'static str, v: &str| -> Result<Option<NsMode>, SpecError> {
        if let Some(target) = v.strip_prefix("service:") {
            let other = project
                .services
                .get(target)
                .ok_or_else(|| SpecError::UnknownService {
                    service: service.name.clone(),
                    what,
                    target: target.to_string(),
                })?;
            return Ok(Some(NsMode::Container(container_name(project, other, 1))));
        }
        match v.strip_prefix("container:") {
            Some("") => Err(unsupported(what, v)),
            Some(name) => Ok(Some(NsMode::Container(name.to_string()))),
            None => Ok(None),
        }
    };
    let ns = |what: &'static str, v: &Option<String>| -> Result<NsMode, SpecError> {
        match v.as_deref() {
            None | Some("") | Some("private") | Some("shareable") => Ok(NsMode::Private),
            Some("host") => Ok(NsMode::Host),
            // Docker's `ipc: none`: a private IPC namespace without /dev/shm.
            Some("none") if what == "ipc" => Ok(NsMode::None),
            Some(other) if what != "uts" => {
                shared(what, other)?.ok_or_else(|| unsupported(what, other))
            }
            Some(other) => Err(unsupported(what, other)),
        }
    };
    spec.namespaces.pid = ns("pid", &service.pid)?;
    spec.namespaces.ipc = ns("ipc", &service.ipc)?;
    spec.namespaces.ipc_shareable = Some(service.ipc.as_deref() == Some("shareable"));
    spec.namespaces.uts = ns("uts", &service.uts)?;
    spec.namespaces.cgroup = match service.cgroup.as_deref() {
        None => None,
        Some("host") => Some(NsMode::Host),
        Some("private") => Some(NsMode::Private),
        Some(other) => return Err(unsupported("cgroup", other)),
    };
    spec.namespaces.net = match service.network_mode.as_deref() {
        Some("host") => NsMode::Host,
        Some("none") => NsMode::None,
        None | Some("bridge") | Some("default") => NsMode::Private,
        Some(other) => {
            shared("network_mode", other)?.ok_or_else(|| unsupported("network_mode", other))?
        }
    };
    if spec.namespaces.net == NsMode::Private {
        spec.networks = network_attachments(project, service)?;
    }

    let r = &mut spec.resources;
    let limits = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.limits.clone());
    let reservations = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.reservations.clone());
    r.memory = service
        .mem_limit
        .map(|b| b.0)
        .or_else(|| limits.as_ref().and_then(|l| l.memory.map(|b| b.0)))
        .filter(|&m| m > 0);
    r.memory_swap = service.memswap_limit.map(|b| b.0).filter(|&m| m != 0);
    r.memory_reservation = service
        .mem_reservation
        .map(|b| b.0)
        .or_else(|| reservations.as_ref().and_then(|l| l.memory.map(|b| b.0)))
        .filter(|&m| m > 0);
    r.memory_swappiness = service.mem_swappiness.map(|b| b.0.max(0) as u64);
    r.oom_kill_disable = service.oom_kill_disable;
    let cpus = service
        .cpus
        .or_else(|| limits.as_ref().and_then(|l| l.cpus))
        .filter(|&c| c > 0.0);
    r.nano_cpus = cpus.map(|c| (f64::from(c) * 1e9).round() as i64);
    r.cpu_shares = service.cpu_shares.and_then(|s| u64::try_from(s).ok());
    r.cpu_quota = service.cpu_quota;
    r.cpu_period = service.cpu_period.and_then(|p| u64::try_from(p).ok());
    r.cpuset_cpus = service.cpuset.clone();
    r.pids_limit = service
        .pids_limit
        .or_else(|| limits.as_ref().and_then(|l| l.pids))
        .filter(|&p| p != 0);
    if let Some(b) = &service.blkio_config {
        r.blkio_weight = b.weight;
        r.blkio_weight_device = b
            .weight_device
            .iter()
            .map(|w| (PathBuf::from(&w.path), w.weight))
            .collect();
        let throttle = |list: &[crate::compose::types::ThrottleDevice]| -> Vec<(PathBuf, u64)> {
            list.iter()
                .map(|t| (PathBuf::from(&t.path), t.rate.0.max(0) as u64))
                .collect()
        };
        r.blkio_read_bps = throttle(&b.device_read_bps);
        r.blkio_write_bps = throttle(&b.device_write_bps);
        r.blkio_read_iops = throttle(&b.device_read_iops);
        r.blkio_write_iops = throttle(&b.device_write_iops);
    }
    Ok(spec)
}

/// How a `run SERVICE` container differs from the service's replicas
/// (Compose's run options). `None`/empty fields keep the service's value.
#[derive(Clone, Debug, Default)]
pub struct OneOff {
    /// `--name`; Compose ignores `container_name:` for one-offs.
    pub name: Option<String>,
    pub command: Option<Vec<String>>,
    /// `--entrypoint`; also drops the service's `command:` when no
    /// command is given, as Compose does.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` entries overriding the service's by key.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// `--service-ports`: publish the service's `ports:` (none otherwise).
    pub service_ports: bool,
    /// `-p`: replaces the service's ports.
    pub publish: Vec<PortBinding>,
    /// `-v`: added to the service's mounts (a same target replaces).
    pub mounts: Vec<MountSpec>,
    /// `-l KEY=VALUE`.
    pub labels: Vec<(String, String)>,
    /// `--use-aliases`: keep the service's network aliases; without it a
    /// one-off is reachable by its name only, so `web` does not resolve to it.
    pub use_aliases: bool,
    /// `--no-deps` (read by the executor): do not start the dependencies.
    pub no_deps: bool,
    /// `--rm` (read by the executor): the record's `auto_remove`.
    pub auto_remove: bool,
}

/// `<project>-<service>-run-<first 12 of slug>` (`_` with
/// `--compatibility`), Compose's one-off name.
pub fn oneoff_name(project: &Project, service: &ServiceConfig, slug: &str) -> String {
    let short: String = slug.chars().take(12).collect();
    let sep = project.name_separator();
    format!("{}{sep}{}{sep}run{sep}{short}", project.name, service.name)
}

/// The spec of a one-off container of `service` (`wharf run SERVICE`):
/// the service's, with Compose's one-off labels (`oneoff=True`, `slug`, no
/// container number), no restart policy, no published ports unless asked.
pub fn oneoff_spec(
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
    run: &OneOff,
    slug: &str,
) -> Result<ContainerSpec, SpecError> {
    let mut spec = container_spec(project, ctx, service, 1)?;
    spec.name = run
        .name
        .clone()
        .unwrap_or_else(|| oneoff_name(project, service, slug));
    spec.labels.remove(LABEL_NUMBER);
    // User labels may override the service's, never Compose's own.
    let own: Vec<(String, String)> = spec
        .labels
        .iter()
        .filter(|(k, _)| k.starts_with("com.docker.compose."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in run.labels.iter().cloned().chain(own) {
        spec.labels.insert(k, v);
    }
    spec.labels.insert(LABEL_ONEOFF.into(), "True".into());
    spec.labels.insert(LABEL_SLUG.into(), slug.to_string());
    spec.restart = RestartSpec::default();
    spec.tty = run.tty;
    spec.stdin_open = run.interactive;
    if let Some(c) = &run.command {
        spec.command = Some(c.clone());
    }
    if let Some(e) = &run.entrypoint {
        spec.entrypoint = Some(e.clone());
        if run.command.is_none() {
            spec.command = None;
        }
    }
    for e in &run.env {
        let key = e.split('=').next().unwrap_or(e);
        spec.env
            .retain(|old| old.split('=').next().unwrap_or(old) != key);
        spec.env.push(e.clone());
    }
    if let Some(u) = &run.user {
        spec.user = Some(u.clone());
    }
    if let Some(w) = &run.working_dir {
        spec.working_dir = Some(w.clone());
    }
    if !run.publish.is_empty() {
        spec.ports = run.publish.clone();
    } else if !run.service_ports {
        spec.ports.clear();
    }
    for m in &run.mounts {
        spec.mounts.retain(|old| old.target() != m.target());
        spec.mounts.push(m.clone());
    }
    if !run.use_aliases {
        for n in &mut spec.networks {
            n.aliases.clear();
        }
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::load::{load, LoadOptions};

    fn project(yaml: &str) -> (Project, ProjectContext, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        let loaded = load(&LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("demo".into()),
            ..LoadOptions::default()
        })
        .expect("load");
        let ctx = ProjectContext::of(&loaded);
        (loaded.project, ctx, dir)
    }

    /// A CDI registry with GPUs 0, 1 and 10 (and nvidia-ctk's `all`), in
    /// YAML as `nvidia-ctk cdi generate` writes it.
    fn gpus() -> (tempfile::TempDir, cdi::Registry) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("nvidia.yaml"),
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n  - name: \"10\"\n    containerEdits:\n      deviceNodes: [{path: /dev/nvidia10, hostPath: /dev/null}]\n  - name: \"1\"\n    containerEdits:\n      deviceNodes: [{path: /dev/nvidia1, hostPath: /dev/null}]\n  - name: \"0\"\n    containerEdits:\n      deviceNodes:\n        - path: /dev/nvidia0\n          hostPath: /dev/null\n  - name: all\n    containerEdits: {}\ncontainerEdits:\n  env: [NVIDIA_VISIBLE_DEVICES=void]\n",
        )
        .expect("spec");
        let r = cdi::Registry::load_from(&[dir.path().to_path_buf()], &cdi_yaml).expect("registry");
        (dir, r)
    }

    #[test]
    fn gpu_requests_become_cdi_names_as_dockers_gpus_flag() {
        let (_d, r) = gpus();
        let names = |yaml: &str| {
            let (p, _ctx, _dir) = project(yaml);
            device_names(&p.services["web"], &r, None).map(|v| {
                v.names
                    .into_iter()
                    .map(|(k, n)| format!("{k}:{n}"))
                    .collect::<Vec<_>>()
            })
        };
        let all = names("services:\n  web:\n    image: x\n    gpus: all\n").expect("all");
        assert_eq!(
            all,
            [
                "gpus:nvidia.com/gpu=0",
                "gpus:nvidia.com/gpu=1",
                "gpus:nvidia.com/gpu=10"
            ]
        );
        let two = names("services:\n  web:\n    image: x\n    deploy:\n      resources:\n        reservations:\n          devices: [{capabilities: [gpu], count: 2}]\n").expect("2");
        assert_eq!(
            two,
            [
                "deploy.resources.reservations.devices:nvidia.com/gpu=0",
                "deploy.resources.reservations.devices:nvidia.com/gpu=1"
            ]
        );
        let ids = names("services:\n  web:\n    image: x\n    devices: [\"vendor.example/fpga=a\", \"/dev/null:/dev/n\"]\n    gpus: [{device_ids: [\"1\"]}, {driver: cdi, device_ids: [\"nvidia.com/gpu=10\"]}]\n").expect("ids");
        assert_eq!(
            ids,
            [
                "devices:vendor.example/fpga=a",
                "gpus:nvidia.com/gpu=1",
                "gpus:nvidia.com/gpu=10"
            ]
        );
        let err =
            names("services:\n  web:\n    image: x\n    gpus: [{count: 4}]\n").expect_err("4");
        assert!(
            err.to_string()
                .contains("gpus: count 4: this host has 3 GPU(s)"),
            "{err}"
        );
        let err = names("services:\n  web:\n    image: x\n    deploy:\n      resources:\n        reservations:\n          devices: [{capabilities: [tpu]}]\n").expect_err("tpu");
        assert!(err.to_string().contains("capabilities [\"tpu\"]"), "{err}");
        let none = cdi::Registry::default();
        let (p, _ctx, _dir) = project("services:\n  web:\n    image: x\n    gpus: all\n");
        let err = device_names(&p.services["web"], &none, None).expect_err("no gpu");
        assert!(
            err.to_string().contains("gpus: no GPU on this host"),
            "{err}"
        );
    }

    /// No GPU here: the hook's path is made up and nothing runs it; what
    /// is checked is the spec Docker's fallback would give the runtime.
    #[test]
    fn gpus_without_cdi_specs_go_to_the_nvidia_hook_as_dockers_do() {
        let hook = std::path::Path::new("/usr/bin/nvidia-container-runtime-hook");
        let none = cdi::Registry::default();
        let requests = |yaml: &str| {
            let (p, _ctx, _dir) = project(yaml);
            device_names(&p.services["web"], &none, Some(hook))
                .map(|r| (r.names, r.hook_devices, r.hook_caps))
        };
        // `gpus: all`: every GPU, no driver capability named.
        let (names, devices, caps) =
            requests("services:\n  web:\n    image: x\n    gpus: all\n").expect("all");
        assert!(names.is_empty(), "{names:?}");
        assert_eq!(devices, ["all"]);
        assert!(caps.is_empty(), "{caps:?}");
        // A count is the first N; IDs are kept; only NVIDIA's capabilities
        // reach the hook, in the request's order.
        let (_, devices, caps) = requests("services:\n  web:\n    image: x\n    deploy:\n      resources:\n        reservations:\n          devices: [{capabilities: [gpu, utility, tpu, compute], count: 2}]\n").expect("2");
        assert_eq!(devices, ["0", "1"]);
        assert_eq!(caps, ["utility", "compute"]);
        let (_, devices, _) = requests(
            "services:\n  web:\n    image: x\n    gpus: [{device_ids: [\"3\", \"GPU-ab\"]}]\n",
        )
        .expect("ids");
        assert_eq!(devices, ["3", "GPU-ab"]);
        // CDI names still go to CDI.
        let (names, devices, _) = requests("services:\n  web:\n    image: x\n    devices: [\"vendor.example/fpga=a\"]\n    gpus: all\n").expect("cdi");
        assert_eq!(names, [("devices", "vendor.example/fpga=a".to_string())]);
        assert_eq!(devices, ["all"]);
        // Docker's refusal of both a count and IDs.
        let err = requests("services:\n  web:\n    image: x\n    deploy:\n      resources:\n        reservations:\n          devices: [{capabilities: [gpu], count: 1, device_ids: [\"0\"]}]\n").expect_err("both");
        assert!(
            err.to_string()
                .contains("cannot set both Count and DeviceIDs on device request"),
            "{err}"
        );
        // CDI specs that list GPUs win over the hook.
        let (_d, r) = gpus();
        let (p, _ctx, _dir) = project("services:\n  web:\n    image: x\n    gpus: all\n");
        let cdi_first = device_names(&p.services["web"], &r, Some(hook)).expect("cdi first");
        assert_eq!(cdi_first.names.len(), 3);
        assert!(cdi_first.hook_devices.is_empty());

        // The spec: the variables after the service's (overriding them) and
        // the hook at prestart, as moby's injectNVIDIARuntimeHook writes it.
        let mut spec = ContainerSpec {
            env: vec!["NVIDIA_VISIBLE_DEVICES=void".into(), "A=1".into()],
            ..ContainerSpec::default()
        };
        apply_device_edits(
            &mut spec,
            nvidia_hook_edits(hook, &["0".into(), "1".into()], &["utility".into()]),
        );
        assert_eq!(
            spec.env,
            [
                "A=1",
                "NVIDIA_VISIBLE_DEVICES=0,1",
                "NVIDIA_DRIVER_CAPABILITIES=utility"
            ]
        );
        assert_eq!(spec.hooks.len(), 1);
        let h = &spec.hooks[0];
        assert_eq!(h.hook_name, "prestart");
        assert_eq!(h.path, "/usr/bin/nvidia-container-runtime-hook");
        assert_eq!(h.args, ["nvidia-container-runtime-hook", "prestart"]);
        assert_eq!(h.env.len(), 1);
        assert!(h.env[0].starts_with("PATH=/"), "{:?}", h.env);
        assert!(spec.devices.is_empty() && spec.mounts.is_empty());
        // No capability named: no NVIDIA_DRIVER_CAPABILITIES (the hook's
        // own default applies).
        let all = nvidia_hook_edits(hook, &["all".into()], &[]);
        assert_eq!(all.env, ["NVIDIA_VISIBLE_DEVICES=all"]);
    }

    #[test]
    fn device_edits_land_in_the_spec() {
        let (_d, r) = gpus();
        let mut spec = ContainerSpec {
            env: vec!["NVIDIA_VISIBLE_DEVICES=all".into(), "A=1".into()],
            ..ContainerSpec::default()
        };
        let edits = r.edits(&["nvidia.com/gpu=0".into()]).expect("edits");
        apply_device_edits(&mut spec, edits);
        assert_eq!(spec.env, ["A=1", "NVIDIA_VISIBLE_DEVICES=void"]);
        assert_eq!(spec.devices.len(), 1);
        assert_eq!(spec.devices[0].host_path, PathBuf::from("/dev/null"));
        assert_eq!(
            spec.devices[0].container_path,
            PathBuf::from("/dev/nvidia0")
        );
        assert_eq!(spec.devices[0].permissions, "rwm");
    }

    #[test]
    fn cgroup_parent_and_log_driver_reach_the_spec() {
        let (p, ctx, _dir) = project(
            "services:\n  web:\n    image: busybox\n    cgroup_parent: /ci\n    logging:\n      driver: syslog\n      options: {syslog-address: \"udp://127.0.0.1:5514\", tag: \"{{.Name}}\"}\n  bad:\n    image: busybox\n    logging:\n      driver: syslog\n      options: {max-size: 1m}\n",
        );
        let s = container_spec(&p, &ctx, &p.services["web"], 1).expect("spec");
        assert_eq!(s.cgroup_parent.as_deref(), Some("/ci"));
        assert_eq!(s.cgroups_path("abc"), "/ci/abc");
        assert_eq!(s.log_driver.as_deref(), Some("syslog"));
        assert_eq!(s.log_options["tag"], "{{.Name}}");
        let err = container_spec(&p, &ctx, &p.services["bad"], 1).expect_err("max-size");
        assert!(
            err.to_string().contains(
                "logging: log driver \"syslog\": option max-size=\"1m\": unknown log opt"
            ),
            "{err}"
        );
    }

    #[test]
    fn hooks_become_exec_options() {
        let (p, _ctx, _dir) = project(
            "services:\n  web:\n    image: busybox\n    post_start:\n      - command: echo hi there\n        user: root\n        working_dir: /tmp\n        privileged: true\n        environment: [A=1, UNSET]\n",
        );
        let o = hook_exec(&p.services["web"].post_start[0]);
        assert_eq!(o.args, ["echo", "hi", "there"]);
        assert_eq!(o.user.as_deref(), Some("root"));
        assert_eq!(o.working_dir.as_deref(), Some("/tmp"));
        assert!(o.privileged && !o.tty);
        assert_eq!(o.env, ["A=1"]);
    }

    #[test]
    fn compatibility_joins_generated_names_with_underscores() {
        let (mut p, _ctx, _d) = project(
            "services:\n  web:\n    build: .\n  fixed:\n    image: busybox\n    container_name: mine\n",
        );
        let slug = "0123456789abcdef";
        let names = |p: &Project| {
            let web = &p.services["web"];
            (
                container_name(p, web, 2),
                image_name(p, web).expect("image"),
                oneoff_name(p, web, slug),
                container_name(p, &p.services["fixed"], 1),
            )
        };
        assert_eq!(
            names(&p),
            (
                "demo-web-2".into(),
                "demo-web".into(),
                "demo-web-run-0123456789ab".into(),
                "mine".into()
            )
        );
        p.compatibility = true;
        assert_eq!(
            names(&p),
            (
                "demo_web_2".into(),
                "demo_web".into(),
                "demo_web_run_0123456789ab".into(),
                "mine".into()
            )
        );
    }

    #[test]
    fn oneoff_spec_is_composes_run() {
        let (p, ctx, _d) = project(
            "services:\n  web:\n    image: busybox\n    container_name: fixed\n    restart: always\n    ports: [\"8080:80\"]\n    command: [serve]\n    environment: {A: one, B: two}\n    labels: {team: a}\n",
        );
        let web = &p.services["web"];
        let slug = "0123456789abcdef".repeat(4);
        let plain = oneoff_spec(&p, &ctx, web, &OneOff::default(), &slug).expect("spec");
        assert_eq!(plain.name, "demo-web-run-0123456789ab");
        assert_eq!(plain.labels[LABEL_ONEOFF], "True");
        assert_eq!(plain.labels[LABEL_SLUG], slug);
        assert!(!plain.labels.contains_key(LABEL_NUMBER));
        assert_eq!(plain.labels["team"], "a");
        assert_eq!(plain.restart, RestartSpec::default());
        assert!(plain.ports.is_empty(), "no ports without --service-ports");
        assert_eq!(plain.command, Some(vec!["serve".to_string()]));
        assert!(plain.networks.iter().all(|n| n.aliases.is_empty()));

        let run = OneOff {
            name: Some("mine".into()),
            entrypoint: Some(vec!["sh".into()]),
            env: vec!["B=three".into()],
            service_ports: true,
            labels: vec![
                ("team".into(), "b".into()),
                (LABEL_PROJECT.into(), "other".into()),
            ],
            use_aliases: true,
            tty: true,
            ..OneOff::default()
        };
        let custom = oneoff_spec(&p, &ctx, web, &run, &slug).expect("spec");
        assert_eq!(custom.name, "mine");
        assert_eq!(custom.labels["team"], "b");
        assert_eq!(custom.labels[LABEL_PROJECT], "demo");
        assert_eq!(
            custom.command, None,
            "--entrypoint drops the service command"
        );
        assert_eq!(custom.env, vec!["A=one".to_string(), "B=three".to_string()]);
        assert_eq!(custom.ports.len(), 1);
        assert!(custom.tty);
        assert!(custom
            .networks
            .iter()
            .all(|n| n.aliases == vec!["web".to_string()]));
    }

    #[test]
    fn names_and_labels_are_composes() {
        let (p, ctx, _d) = project(
            "services:\n  web:\n    image: busybox\n    labels: {team: a}\n    depends_on: [db]\n  db:\n    image: redis\n    container_name: the-db\n",
        );
        let web = container_spec(&p, &ctx, &p.services["web"], 2).expect("spec");
        assert_eq!(web.name, "demo-web-2");
        assert_eq!(web.labels[LABEL_PROJECT], "demo");
        assert_eq!(web.labels[LABEL_SERVICE], "web");
        assert_eq!(web.labels[LABEL_NUMBER], "2");
        assert_eq!(web.labels[LABEL_ONEOFF], "False");
        assert_eq!(web.labels[LABEL_DEPENDS_ON], "db:service_started:false");
        assert_eq!(
            web.labels[LABEL_HASH],
            crate::plan::config_hash(&p.services["web"])
        );
        assert_eq!(web.labels["team"], "a");
        assert!(web.labels[LABEL_CONFIG_FILES].ends_with("compose.yaml"));
        let db = container_spec(&p, &ctx, &p.services["db"], 1).expect("spec");
        assert_eq!(db.name, "the-db");
    }

    #[test]
    fn volumes_resources_and_namespaces_map_over() {
        let (p, ctx, _d) = project(
            "services:\n  db:\n    image: postgres\n    volumes: [data:/var/lib/postgresql/data, ./conf:/etc/conf:ro, /cache]\n    tmpfs: [/run:size=1m]\n    mem_limit: 64m\n    pids_limit: 50\n    cpus: 1.5\n    pid: host\n    network_mode: none\n    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 99}\n    environment: [A=1, UNSET]\nvolumes:\n  data: {}\n",
        );
        let s = container_spec(&p, &ctx, &p.services["db"], 1).expect("spec");
        assert!(
            matches!(&s.mounts[0], MountSpec::Volume { name, target, .. } if name == "demo_data" && target == "/var/lib/postgresql/data")
        );
        assert!(
            matches!(&s.mounts[1], MountSpec::Bind { source, read_only: true, .. } if source.ends_with("conf") && source.is_absolute())
        );
        assert!(matches!(&s.mounts[2], MountSpec::Volume { name, .. } if name.is_empty()));
        assert!(matches!(
            &s.mounts[3],
            MountSpec::Tmpfs {
                size: Some(1048576),
                ..
            }
        ));
        assert_eq!(s.resources.memory, Some(64 * 1024 * 1024));
        assert_eq!(s.resources.pids_limit, Some(50));
        assert_eq!(s.resources.nano_cpus, Some(1_500_000_000));
        assert_eq!(s.namespaces.pid, NsMode::Host);
        assert_eq!(s.namespaces.net, NsMode::None);
        assert_eq!(s.ulimits["nofile"], (1024, 2048));
        assert_eq!(s.ulimits["nproc"], (99, 99));
        assert_eq!(s.env, vec!["A=1".to_string()]);
    }

    #[test]
    fn deploy_limits_apply_when_the_short_keys_are_absent() {
        let (p, ctx, _d) = project(
            "services:\n  app:\n    image: x\n    deploy:\n      resources:\n        limits: {memory: 32m, cpus: '0.5', pids: 7}\n        reservations: {memory: 8m}\n",
        );
        let s = container_spec(&p, &ctx, &p.services["app"], 1).expect("spec");
        assert_eq!(s.resources.memory, Some(32 * 1024 * 1024));
        assert_eq!(s.resources.memory_reservation, Some(8 * 1024 * 1024));
        assert_eq!(s.resources.nano_cpus, Some(500_000_000));
        assert_eq!(s.resources.pids_limit, Some(7));
    }

    #[test]
    fn unsupported_modes_are_named() {
        let (p, ctx, _d) = project(
            "services:\n  a:\n    image: x\n    network_mode: slirp4netns\n  b:\n    image: y\n    uts: container:a\n",
        );
        let err = container_spec(&p, &ctx, &p.services["a"], 1).expect_err("unsupported");
        assert!(err.to_string().contains("network_mode"), "{err}");
        let err = container_spec(&p, &ctx, &p.services["b"], 1).expect_err("unsupported");
        assert!(err.to_string().contains("uts"), "{err}");
    }

    #[test]
    fn shared_namespaces_name_the_other_container() {
        let (p, ctx, _d) = project(
            "name: demo\nservices:\n  a:\n    image: x\n    network_mode: service:db\n    ipc: service:cache\n    pid: container:legacy\n  db:\n    image: y\n    ipc: shareable\n  cache:\n    image: y\n    container_name: the-cache\n",
        );
        let s = container_spec(&p, &ctx, &p.services["a"], 2).expect("spec");
        // Replica 1 of the service, whatever the replica asking.
        assert_eq!(s.namespaces.net, NsMode::Container("demo-db-1".into()));
        assert_eq!(s.namespaces.ipc, NsMode::Container("the-cache".into()));
        assert_eq!(s.namespaces.pid, NsMode::Container("legacy".into()));
        assert_eq!(s.namespaces.uts, NsMode::Private);
        let db = container_spec(&p, &ctx, &p.services["db"], 1).expect("spec");
        assert_eq!(db.namespaces.ipc, NsMode::Private);
    }

    #[test]
    fn ipc_none_is_a_private_namespace_without_shm() {
        let (p, ctx, _d) = project("services:\n  a:\n    image: x\n    ipc: none\n");
        let s = container_spec(&p, &ctx, &p.services["a"], 1).expect("spec");
        // The bundle makes NsMode::None a new IPC namespace and leaves /dev/shm out.
        assert_eq!(s.namespaces.ipc, NsMode::None);
        assert_eq!(s.namespaces.ipc_shareable, Some(false));
    }

    #[test]
    fn shared_namespace_of_a_missing_service_is_an_error() {
        // The loader refuses such a file; a project changed after loading
        // still gets an error, not a private namespace.
        let (mut p, ctx, _d) = project(
            "services:\n  a:\n    image: x\n    ipc: service:nope\n  nope:\n    image: y\n",
        );
        p.services.shift_remove("nope");
        let err = container_spec(&p, &ctx, &p.services["a"], 1).expect_err("unknown");
        assert_eq!(
            err,
            SpecError::UnknownService {
                service: "a".into(),
                what: "ipc",
                target: "nope".into()
            }
        );
    }

    #[test]
    fn tmpfs_short_form_is_parsed_once_for_compose_and_run() {
        assert_eq!(
            parse_tmpfs("/run:size=1m,mode=755,ro"),
            Ok(MountSpec::Tmpfs {
                target: "/run".into(),
                size: Some(1 << 20),
                mode: Some(0o755),
                read_only: true,
            })
        );
        assert!(parse_tmpfs("/run:size=lots").is_err());
        assert!(parse_tmpfs("/run:mode=9z").is_err());
    }

    fn pb(ip: Option<&str>, host: u16, container: u16, protocol: Protocol) -> PortBinding {
        PortBinding {
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_port: host,
            container_port: container,
            protocol,
        }
    }

    #[test]
    fn publish_flag_takes_every_docker_syntax() {
        use Protocol::{Tcp, Udp};
        let cases: Vec<(&str, Vec<PortBinding>)> = vec![
            ("8080:80", vec![pb(None, 8080, 80, Tcp)]),
            (
                "127.0.0.1:8080:80",
                vec![pb(Some("127.0.0.1"), 8080, 80, Tcp)],
            ),
            ("[::1]:8080:80", vec![pb(Some("::1"), 8080, 80, Tcp)]),
            ("53:53/udp", vec![pb(None, 53, 53, Udp)]),
            ("53:53/UDP", vec![pb(None, 53, 53, Udp)]),
            ("80", vec![pb(None, 0, 80, Tcp)]),
            ("127.0.0.1::80", vec![pb(Some("127.0.0.1"), 0, 80, Tcp)]),
            ("[::1]::80/udp", vec![pb(Some("::1"), 0, 80, Udp)]),
            (
                "9090-9091:8080-8081",
                vec![pb(None, 9090, 8080, Tcp), pb(None, 9091, 8081, Tcp)],
            ),
            // One container port, a host range: the first port of it.
            ("8000-8010:80", vec![pb(None, 8000, 80, Tcp)]),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_publish(spec), Ok(want), "{spec}");
        }
        let range = parse_publish("8000-8010:8000-8010").unwrap();
        assert_eq!(range.len(), 11);
        let mut pairs: Vec<(u16, u16)> = range
            .iter()
            .map(|b| (b.host_port, b.container_port))
            .collect();
        pairs.sort();
        assert_eq!(pairs, (8000..=8010).map(|p| (p, p)).collect::<Vec<_>>());
    }

    #[test]
    fn publish_flag_errors_are_dockers() {
        for (spec, want) in [
            (
                "9090-9092:8080-8081",
                "invalid ranges specified for container and host Ports: 8080-8081 and 9090-9092",
            ),
            ("8080:80/foo", "invalid proto: foo"),
            ("8080:http", "invalid containerPort: http"),
            ("70000:80", "invalid hostPort: 70000"),
            ("1.2.3:8080:80", "invalid IP address: 1.2.3"),
            ("80:", "invalid proto: "),
        ] {
            assert_eq!(parse_publish(spec), Err(want.to_string()), "{spec}");
        }
    }

    #[test]
    fn compose_ports_become_bindings() {
        let (p, ctx, _dir) = project(
            r#"
services:
  web:
    image: nginx
    ports:
      - "8080:80"
      - "127.0.0.1::53/udp"
      - "9000-9001:7000-7001"
      - target: 443
        published: "8443"
        host_ip: "::1"
        protocol: tcp
        mode: host
      - target: 6000
"#,
        );
        let spec = container_spec(&p, &ctx, &p.services["web"], 1).unwrap();
        use Protocol::{Tcp, Udp};
        assert_eq!(
            spec.ports,
            vec![
                pb(None, 8080, 80, Tcp),
                pb(Some("127.0.0.1"), 0, 53, Udp),
                pb(None, 9000, 7000, Tcp),
                pb(None, 9001, 7001, Tcp),
                pb(Some("::1"), 8443, 443, Tcp),
                pb(None, 0, 6000, Tcp),
            ]
        );
    }

    #[test]
    fn a_bad_long_form_port_names_the_service_and_entry() {
        let bad = ServicePortConfig {
            target: 80,
            published: Some("80x".into()),
            ..ServicePortConfig::default()
        };
        assert_eq!(port_binding(&bad), Err("invalid hostPort: 80x".to_string()));
        let bad_ip = ServicePortConfig {
            target: 80,
            host_ip: Some("localhost".into()),
            ..ServicePortConfig::default()
        };
        assert_eq!(
            port_binding(&bad_ip),
            Err("invalid IP address: localhost".to_string())
        );
    }

    #[test]
    fn file_secrets_and_configs_are_read_only_binds_at_composes_targets() {
        let (p, ctx, dir) = project(
            "services:\n  web:\n    image: busybox\n    secrets: [pw, {source: pw, target: other}, {source: abs, target: /etc/abs}]\n    configs: [conf, {source: conf, target: rel/c.txt}]\nsecrets:\n  pw: {file: ./pw.txt}\n  abs: {file: ./pw.txt}\nconfigs:\n  conf: {file: ./c.txt}\n",
        );
        let spec = container_spec(&p, &ctx, &p.services["web"], 1).expect("spec");
        let binds: Vec<(String, PathBuf, bool)> = spec
            .mounts
            .iter()
            .map(|m| match m {
                MountSpec::Bind {
                    source,
                    target,
                    read_only,
                    create_host_path,
                    ..
                } => {
                    assert!(!create_host_path, "a missing secret file is not made");
                    (target.clone(), source.clone(), *read_only)
                }
                other => panic!("not a bind: {other:?}"),
            })
            .collect();
        let pw = dir.path().join("pw.txt");
        let c = dir.path().join("c.txt");
        assert_eq!(
            binds,
            [
                ("/run/secrets/pw".to_string(), pw.clone(), true),
                ("/run/secrets/other".to_string(), pw, true),
                ("/etc/abs".to_string(), dir.path().join("pw.txt"), true),
                ("/conf".to_string(), c.clone(), true),
                ("/rel/c.txt".to_string(), c, true),
            ]
        );
        // A missing file is named before anything is made.
        let err = injected_files(&p, &ctx, &p.services["web"]).expect_err("no files yet");
        assert!(err.to_string().contains("pw.txt"), "{err}");
        // Nothing to write into the container for file-backed entries.
        std::fs::write(dir.path().join("pw.txt"), "pw").expect("write");
        std::fs::write(dir.path().join("c.txt"), "c").expect("write");
        assert!(injected_files(&p, &ctx, &p.services["web"])
            .expect("files")
            .is_empty());
    }

    #[test]
    fn content_and_environment_entries_are_written_with_composes_owner_and_mode() {
        let (p, mut ctx, _dir) = project(
            "services:\n  web:\n    image: busybox\n    secrets: [{source: token, uid: \"1000\", mode: 0400}]\n    configs: [inline, {source: inline, target: /etc/app.conf, gid: \"7\"}]\nsecrets:\n  token: {environment: TOKEN}\nconfigs:\n  inline: {content: \"key=value\"}\n",
        );
        let web = &p.services["web"];
        ctx.environment.insert("TOKEN".into(), "s3cret".into());
        let files = injected_files(&p, &ctx, web).expect("files");
        let seen: Vec<(&str, &[u8], u32, u32, u32)> = files
            .iter()
            .map(|f| {
                (
                    f.target.as_str(),
                    f.content.as_slice(),
                    f.uid,
                    f.gid,
                    f.mode,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("/run/secrets/token", b"s3cret".as_slice(), 1000, 0, 0o400),
                ("/inline", b"key=value".as_slice(), 0, 0, 0o444),
                ("/etc/app.conf", b"key=value".as_slice(), 0, 7, 0o444),
            ]
        );
        // Written into the container, so never bound.
        let spec = container_spec(&p, &ctx, web, 1).expect("spec");
        assert!(spec.mounts.is_empty(), "{:?}", spec.mounts);

        ctx.environment.shift_remove("TOKEN");
        let err = injected_files(&p, &ctx, web).expect_err("unset variable");
        assert!(err.to_string().contains("\"TOKEN\""), "{err}");
    }

    #[test]
    fn external_secrets_and_content_in_read_only_services_are_refused() {
        let (p, ctx, _dir) = project(
            "services:\n  web:\n    image: busybox\n    secrets: [ext]\nsecrets:\n  ext: {external: true}\n",
        );
        let err = container_spec(&p, &ctx, &p.services["web"], 1).expect_err("external");
        assert!(
            matches!(&err, SpecError::FileReference { kind: "secret", name, .. } if name == "ext"),
            "{err}"
        );

        let (p, ctx, _dir) = project(
            "services:\n  web:\n    image: busybox\n    read_only: true\n    configs: [c]\nconfigs:\n  c: {content: x}\n",
        );
        let err = injected_files(&p, &ctx, &p.services["web"]).expect_err("read-only");
        assert!(err.to_string().contains("read_only"), "{err}");
    }

    #[test]
    fn volumes_from_names_replica_one_or_the_container_without_its_mode() {
        let (p, _ctx, _dir) = project(
            "services:\n  web:\n    image: busybox\n    volumes_from: [\"db:ro\", \"container:raw\", \"container:other:rw\", db]\n  db:\n    image: busybox\n",
        );
        let got = volumes_from(&p, &p.services["web"]).expect("valid");
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            got,
            // Compose drops `:ro`/`:rw` (recorded: scripts/record-compose-probe).
            pairs(&[
                ("demo-db-1", ""),
                ("raw", ""),
                ("other", ""),
                ("demo-db-1", ""),
            ])
        );
    }

    #[test]
    fn local_driver_opts_volumes_become_a_bind_or_a_tmpfs() {
        let (p, ctx, dir) = project(
            "services:\n  web:\n    image: busybox\n    volumes: [\"bv:/b\", \"tv:/t\", \"plain:/p\"]\nvolumes:\n  bv: {driver: local, driver_opts: {type: none, o: bind, device: ./src}}\n  tv: {driver_opts: {type: tmpfs, device: tmpfs, o: \"size=2m,mode=0700\"}}\n  plain: {}\n",
        );
        let spec = container_spec(&p, &ctx, &p.services["web"], 1).expect("spec");
        assert_eq!(
            spec.mounts[0],
            MountSpec::Bind {
                source: dir.path().join("src"),
                target: "/b".into(),
                read_only: false,
                propagation: None,
                create_host_path: false,
            }
        );
        assert_eq!(
            spec.mounts[1],
            MountSpec::Tmpfs {
                target: "/t".into(),
                size: Some(2 << 20),
                mode: Some(0o700),
                read_only: false,
            }
        );
        assert!(
            matches!(&spec.mounts[2], MountSpec::Volume { name, .. } if name == "demo_plain"),
            "{:?}",
            spec.mounts[2]
        );
    }
}
