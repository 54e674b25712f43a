//! The typed compose model: what `docker compose config --format json`
//! prints, as Rust types.
//!
//! The loader builds the canonical long-form document (a `serde_json::Value`
//! shaped exactly like Compose v2.40.3's JSON output) and decodes it with
//! [`Project::from_value`]; `wharf config --format json` serializes the
//! `Project` back. Field order, omit-empty rules and number-vs-string choices
//! follow compose-go's JSON tags, because that is what users diff against:
//!
//! * Go maps print with sorted keys, so every map field serializes sorted
//!   (the `IndexMap` keeps the order the loader gave, for callers that care).
//! * Go `omitempty` drops "", 0, false, empty lists and maps; non-pointer
//!   structs (`deploy.resources`, `deploy.placement`, `ipam`, a watch
//!   trigger's `exec`) are always printed; `command`/`entrypoint` print `null`.
//! * Byte sizes print as decimal strings (`"67108864"`), durations as Go
//!   duration strings (`"1m30s"`), file modes as octal strings (`"0440"`).
//! * `x-*` extensions are kept everywhere, but only the top-level ones are
//!   printed; Compose drops nested ones (and top-level `models`) from JSON.

use indexmap::IndexMap;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

use super::error::LoadError;
use super::yaml::{path_string, PathSeg, Pos};

// ---------------------------------------------------------------------------
// Project
// ---------------------------------------------------------------------------

/// A loaded, normalized compose project.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Project {
    #[serde(default)]
    pub name: String,
    #[serde(default, deserialize_with = "de_services")]
    pub services: IndexMap<String, ServiceConfig>,
    #[serde(default)]
    pub networks: IndexMap<String, NetworkConfig>,
    #[serde(default)]
    pub volumes: IndexMap<String, VolumeConfig>,
    #[serde(default)]
    pub secrets: IndexMap<String, SecretConfig>,
    #[serde(default)]
    pub configs: IndexMap<String, ConfigObjConfig>,
    /// Top-level `models`. Compose does not print them in JSON output.
    #[serde(default)]
    pub models: IndexMap<String, ModelConfig>,
    #[serde(flatten)]
    pub extensions: Extensions,
    /// `--compatibility` (COMPOSE_COMPATIBILITY): the names Compose makes
    /// join their parts with v1's `_` (`p_web_1`). Not part of the file,
    /// so never printed.
    #[serde(skip)]
    pub compatibility: bool,
}

/// Why a canonical document did not decode into a [`Project`]: the path of
/// the offending value (the loader maps it back to a file and line) and what
/// was wrong with it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {msg}", display_path(path))]
pub struct DecodeError {
    pub path: Vec<PathSeg>,
    pub msg: String,
}

impl DecodeError {
    /// The loader's error, given the position of the node at [`DecodeError::path`].
    pub fn into_load_error(self, pos: &Pos) -> LoadError {
        LoadError::invalid(pos, display_path(&self.path), self.msg)
    }
}

fn display_path(path: &[PathSeg]) -> String {
    if path.is_empty() {
        "(root)".to_string()
    } else {
        path_string(path)
    }
}

impl Project {
    /// What joins project, service and number in the names of containers
    /// and built images: `-`, or `_` in compatibility mode, as Compose's
    /// `api.Separator`. Network and volume names always take `_`.
    pub fn name_separator(&self) -> &'static str {
        if self.compatibility {
            "_"
        } else {
            "-"
        }
    }

    /// Decodes the canonical document, naming the failing path on error.
    pub fn from_value(value: Value) -> Result<Project, DecodeError> {
        serde_path_to_error::deserialize(value).map_err(|err| {
            let path = err
                .path()
                .iter()
                .filter_map(|seg| match seg {
                    serde_path_to_error::Segment::Seq { index } => Some(PathSeg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(PathSeg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => {
                        Some(PathSeg::Key(variant.clone()))
                    }
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            DecodeError {
                path,
                msg: err.into_inner().to_string(),
            }
        })
    }

    /// Service names, sorted (as compose-go's `ServiceNames`).
    pub fn service_names(&self) -> Vec<&str> {
        sorted_keys(&self.services)
    }

    /// Network keys (not engine names), sorted.
    pub fn network_names(&self) -> Vec<&str> {
        sorted_keys(&self.networks)
    }

    /// Volume keys (not engine names), sorted.
    pub fn volume_names(&self) -> Vec<&str> {
        sorted_keys(&self.volumes)
    }

    pub fn secret_names(&self) -> Vec<&str> {
        sorted_keys(&self.secrets)
    }

    pub fn config_names(&self) -> Vec<&str> {
        sorted_keys(&self.configs)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.get(name)
    }

    /// Services that list `name` among their [`ServiceConfig::dependencies`], sorted.
    pub fn dependents(&self, name: &str) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .services
            .iter()
            .filter(|(_, svc)| svc.dependencies().contains(&name))
            .map(|(key, _)| key.as_str())
            .collect();
        out.sort_unstable();
        out
    }

    /// The document as `docker compose config --format json` prints it,
    /// byte for byte: two-space indent, Go's escaping of `<`, `>`, `&`,
    /// U+2028 and U+2029, no trailing newline.
    pub fn to_json_pretty(&self) -> Result<String, serde_json::Error> {
        to_go_json(self, true)
    }
}

/// JSON as Go's `encoding/json` writes it (`MarshalIndent` with two spaces
/// when `pretty`, `Marshal` otherwise): the same text Compose prints and hashes.
pub fn to_go_json<T: Serialize + ?Sized>(
    value: &T,
    pretty: bool,
) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    if pretty {
        let f = GoJsonFormatter(serde_json::ser::PrettyFormatter::new());
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))?;
    } else {
        let f = GoJsonFormatter(serde_json::ser::CompactFormatter);
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))?;
    }
    // serde_json only ever writes valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A serde_json formatter plus the extra escapes Go's encoder applies.
struct GoJsonFormatter<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for GoJsonFormatter<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

fn sorted_keys<V>(map: &IndexMap<String, V>) -> Vec<&str> {
    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

/// Compose prints the top level as a Go map: keys sorted, extensions mixed in.
impl Serialize for Project {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if !self.configs.is_empty() {
            map.serialize_entry("configs", &Sorted(&self.configs))?;
        }
        if !self.name.is_empty() {
            map.serialize_entry("name", &self.name)?;
        }
        if !self.networks.is_empty() {
            map.serialize_entry("networks", &Sorted(&self.networks))?;
        }
        if !self.secrets.is_empty() {
            map.serialize_entry("secrets", &Sorted(&self.secrets))?;
        }
        map.serialize_entry("services", &Sorted(&self.services))?;
        if !self.volumes.is_empty() {
            map.serialize_entry("volumes", &Sorted(&self.volumes))?;
        }
        // Extension keys all start with "x-", so they sort after the fixed keys.
        let mut ext: Vec<(&String, &Value)> = self.extensions.iter().collect();
        ext.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in ext {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn de_services<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<IndexMap<String, ServiceConfig>, D::Error> {
    let mut services = IndexMap::<String, ServiceConfig>::deserialize(deserializer)?;
    for (name, svc) in services.iter_mut() {
        svc.name = name.clone();
    }
    Ok(services)
}

// ---------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------

/// One service. Field order is compose-go's, which is the JSON key order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceConfig {
    /// The key under `services`; not part of the document.
    #[serde(skip)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub annotations: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<DevelopConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cgroup_parent: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cgroup: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cpu_count: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "skip_zero",
        serialize_with = "ser_opt_f32"
    )]
    pub cpu_percent: Option<f32>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cpu_period: Option<i64>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cpu_quota: Option<i64>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cpu_rt_period: Option<i64>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cpu_rt_runtime: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "skip_zero",
        serialize_with = "ser_opt_f32"
    )]
    pub cpus: Option<f32>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cpuset: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub cpu_shares: Option<i64>,
    /// `None` keeps the image's CMD (printed `null`); `Some([])` clears it.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceConfigObjConfig>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpecConfig>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub depends_on: IndexMap<String, ServiceDependency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub domainname: Option<String>,
    /// `None` keeps the image's ENTRYPOINT (printed `null`); `Some([])` clears it.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ServiceProviderConfig>,
    /// `None` values are variables declared without a value (`- FOO`).
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub environment: IndexMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<EnvFile>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_string_or_number_list"
    )]
    pub expose: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<ExtendsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthCheckConfig>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub ipc: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub isolation: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_file: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mem_limit: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mem_reservation: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub memswap_limit: Option<ByteSize>,
    /// Compose types this as a byte size, so it prints as a string (`"60"`).
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mem_swappiness: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mac_address: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub models: IndexMap<String, Option<ServiceModelConfig>>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub network_mode: Option<String>,
    /// `None` values are networks joined without options (printed `null`).
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub networks: IndexMap<String, Option<ServiceNetworkConfig>>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub oom_score_adj: Option<i64>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub pids_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePortConfig>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub pull_policy: Option<String>,
    /// In the compose spec, but Compose v2.40.3 neither models nor prints it.
    #[serde(default, skip_serializing)]
    pub pull_refresh_after: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub restart: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecretConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub shm_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub stop_signal: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub storage_opt: IndexMap<String, String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub sysctls: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub ulimits: IndexMap<String, UlimitsConfig>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub userns_mode: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub uts: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolumeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// Prefix of `network_mode`, `ipc`, `pid` and `volumes_from` values that name a service.
pub const SERVICE_PREFIX: &str = "service:";
/// Prefix of `network_mode`, `ipc`, `pid` and `volumes_from` values that name a container.
pub const CONTAINER_PREFIX: &str = "container:";

impl ServiceConfig {
    /// Every service this one needs before it can start, sorted and without
    /// duplicates: `depends_on` plus the implicit edges from
    /// `network_mode`/`ipc`/`pid: service:x`, `volumes_from: x` and `links`.
    pub fn dependencies(&self) -> Vec<&str> {
        let mut deps: Vec<&str> = self.depends_on.keys().map(String::as_str).collect();
        for mode in [&self.network_mode, &self.ipc, &self.pid]
            .into_iter()
            .flatten()
        {
            if let Some(svc) = mode.strip_prefix(SERVICE_PREFIX) {
                deps.push(svc);
            }
        }
        for from in &self.volumes_from {
            if from.starts_with(CONTAINER_PREFIX) {
                continue;
            }
            // `service[:ro|rw]`
            deps.push(from.split(':').next().unwrap_or(from));
        }
        for link in &self.links {
            // `service[:alias]`
            deps.push(link.split(':').next().unwrap_or(link));
        }
        deps.retain(|d| !d.is_empty());
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    /// The number of containers to run: `scale`, else `deploy.replicas`, else 1.
    pub fn scale(&self) -> u32 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }

    /// The service's networks, highest `priority` first, then by name.
    pub fn networks_by_priority(&self) -> Vec<&str> {
        let mut nets: Vec<(&str, i64)> = self
            .networks
            .iter()
            .map(|(name, cfg)| {
                let prio = cfg.as_ref().and_then(|c| c.priority).unwrap_or(0);
                (name.as_str(), prio)
            })
            .collect();
        nets.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        nets.into_iter().map(|(name, _)| name).collect()
    }

    /// The service's `network_mode: service:x` target, if any.
    pub fn network_mode_service(&self) -> Option<&str> {
        self.network_mode.as_deref()?.strip_prefix(SERVICE_PREFIX)
    }

    /// `pull_policy` interpreted as Compose does; unset or unknown values
    /// mean [`PullPolicy::Missing`].
    pub fn pull_policy(&self) -> PullPolicy {
        match self.pull_policy.as_deref().unwrap_or("") {
            "always" => PullPolicy::Always,
            "never" => PullPolicy::Never,
            "build" => PullPolicy::Build,
            "daily" => PullPolicy::Refresh(Duration::from_secs(24 * 3600)),
            "weekly" => PullPolicy::Refresh(Duration::from_secs(7 * 24 * 3600)),
            other => other
                .strip_prefix("every_")
                .and_then(Duration::parse)
                .map_or(PullPolicy::Missing, PullPolicy::Refresh),
        }
    }

    /// `restart` interpreted; unset means [`RestartMode::No`]. `None` for a
    /// value Compose would reject (`"sometimes"`, `"on-failure:x"`).
    pub fn restart_mode(&self) -> Option<RestartMode> {
        match self.restart.as_deref().unwrap_or("no") {
            "no" | "" => Some(RestartMode::No),
            "always" => Some(RestartMode::Always),
            "unless-stopped" => Some(RestartMode::UnlessStopped),
            "on-failure" => Some(RestartMode::OnFailure { max_retries: None }),
            other => {
                let retries = other.strip_prefix("on-failure:")?.parse().ok()?;
                Some(RestartMode::OnFailure {
                    max_retries: Some(retries),
                })
            }
        }
    }
}

/// When to pull a service's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    Never,
    /// Pull when the image is not present (also `if_not_present`).
    Missing,
    /// Build the image instead of pulling it.
    Build,
    /// Pull when the local copy is older than this (`daily`, `weekly`, `every_<duration>`).
    Refresh(Duration),
}

/// A container's restart policy, from the service's `restart` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartMode {
    No,
    Always,
    UnlessStopped,
    OnFailure { max_retries: Option<u32> },
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceProviderConfig {
    #[serde(rename = "type", default, skip_serializing_if = "skip_zero")]
    pub provider_type: Option<String>,
    /// Values repeat, so each option maps to a list.
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub options: IndexMap<String, Vec<String>>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub dockerfile: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub dockerfile_inline: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub args: IndexMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub provenance: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub sbom: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh: Vec<SshKey>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_from: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache_to: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_cache: bool,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub additional_contexts: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub pull: bool,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecretConfig>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub shm_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub ulimits: IndexMap<String, UlimitsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// One `build.ssh` entry: `default`, or `id=path`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshKey {
    pub id: String,
    pub path: Option<String>,
}

impl Serialize for SshKey {
    // Compose prints the bare id; with a path its Go marshaller emits invalid
    // JSON and the command fails, so `id=path` here is our own choice.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.path {
            None => serializer.serialize_str(&self.id),
            Some(path) => serializer.serialize_str(&format!("{}={}", self.id, path)),
        }
    }
}

impl<'de> Deserialize<'de> for SshKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(match s.split_once('=') {
            Some((id, path)) => SshKey {
                id: id.to_string(),
                path: Some(path.to_string()),
            },
            None => SshKey { id: s, path: None },
        })
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BlkioConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// compose-go has no JSON tags on these, so Go prints the capitalized field
/// names (`"Path"`, `"Weight"`); the YAML spellings are accepted too.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightDevice {
    #[serde(rename = "Path", alias = "path", default)]
    pub path: String,
    #[serde(rename = "Weight", alias = "weight", default)]
    pub weight: u16,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// `rate` is bytes (or operations) per second; printed as `"Rate": "1048576"`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThrottleDevice {
    #[serde(rename = "Path", alias = "path", default)]
    pub path: String,
    #[serde(rename = "Rate", alias = "rate", default)]
    pub rate: ByteSize,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CredentialSpecConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub config: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub registry: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

impl DependencyCondition {
    /// The compose-file spelling (`service_healthy`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyCondition::ServiceStarted => "service_started",
            DependencyCondition::ServiceHealthy => "service_healthy",
            DependencyCondition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "service_started" => Some(DependencyCondition::ServiceStarted),
            "service_healthy" => Some(DependencyCondition::ServiceHealthy),
            "service_completed_successfully" => {
                Some(DependencyCondition::ServiceCompletedSuccessfully)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for DependencyCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceDependency {
    #[serde(default)]
    pub condition: DependencyCondition,
    /// Restart this service when the dependency is updated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Always printed, `{}` when empty.
    #[serde(default)]
    pub resources: Resources,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Always printed, `{}` when empty.
    #[serde(default)]
    pub placement: Placement,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub endpoint_mode: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub failure_action: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub monitor: Option<Duration>,
    #[serde(
        default,
        skip_serializing_if = "skip_zero",
        serialize_with = "ser_opt_f32"
    )]
    pub max_failure_ratio: Option<f32>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub order: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// Number of CPUs (fractional).
    #[serde(
        default,
        skip_serializing_if = "skip_zero",
        serialize_with = "ser_opt_f32"
    )]
    pub cpus: Option<f32>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub memory: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub pids: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenericResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteGenericResource>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscreteGenericResource {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub value: i64,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartPolicy {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreferences>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub max_replicas_per_node: Option<u64>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlacementPreferences {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub spread: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A device (GPU, ...) request: `gpus`, `deploy.resources.reservations.devices`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub count: Option<DeviceCount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub options: IndexMap<String, String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// `count` of a device request; Compose prints `all` as `-1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceCount {
    All,
    Count(u64),
}

impl Serialize for DeviceCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            DeviceCount::All => serializer.serialize_i64(-1),
            DeviceCount::Count(n) => serializer.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for DeviceCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DeviceCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a device count (a number, -1 or \"all\")")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DeviceCount, E> {
                match v {
                    -1 => Ok(DeviceCount::All),
                    n if n >= 0 => Ok(DeviceCount::Count(n as u64)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DeviceCount, E> {
                Ok(DeviceCount::Count(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DeviceCount, E> {
                if v.eq_ignore_ascii_case("all") {
                    return Ok(DeviceCount::All);
                }
                v.parse::<i64>()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
                    .and_then(|n| self.visit_i64(n))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// `devices` entry: a host device mapped into the container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceMapping {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub permissions: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct EnvFile {
    #[serde(default)]
    pub path: String,
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(default)]
    pub format: Option<String>,
}

/// Compose writes a required env file as its bare path (format and all);
/// an optional one as `{path, required: false[, format]}`. This only shows
/// in the config hash: `config` output never lists env files.
impl Serialize for EnvFile {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.required {
            return s.serialize_str(&self.path);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("path", &self.path)?;
        m.serialize_entry("required", &false)?;
        if let Some(f) = self.format.as_deref().filter(|f| !f.is_empty()) {
            m.serialize_entry("format", f)?;
        }
        m.end()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtendsConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub file: Option<String>,
    #[serde(default)]
    pub service: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckConfig {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoggingConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub driver: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub options: IndexMap<String, String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceModelConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub endpoint_var: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub model_var: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceNetworkConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub driver_opts: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub gw_priority: Option<i64>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub interface_name: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub ipv6_address: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub priority: Option<i64>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServicePortConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub name: Option<String>,
    /// `ingress` or `host`.
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub host_ip: Option<String>,
    /// Container port.
    #[serde(default, skip_serializing_if = "is_zero_u16")]
    pub target: u16,
    /// Host port or range (`"8000"`, `"8000-8010"`); always a string.
    #[serde(
        default,
        skip_serializing_if = "skip_zero",
        deserialize_with = "de_opt_string_or_number"
    )]
    pub published: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub app_protocol: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

impl ServicePortConfig {
    /// The published host port range, inclusive; `None` when unpublished
    /// (the runtime picks an ephemeral port) or not a number.
    pub fn published_range(&self) -> Option<(u16, u16)> {
        let published = self.published.as_deref()?;
        match published.split_once('-') {
            Some((lo, hi)) => Some((lo.parse().ok()?, hi.parse().ok()?)),
            None => {
                let port = published.parse().ok()?;
                Some((port, port))
            }
        }
    }
}

/// `secrets`/`configs` entries of a service (and `build.secrets`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FileReferenceConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

pub type ServiceSecretConfig = FileReferenceConfig;
pub type ServiceConfigObjConfig = FileReferenceConfig;

/// Unix permission bits, printed as an octal string (`"0440"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("0{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FileMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file mode (octal string or number)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileMode, E> {
                u32::from_str_radix(v, 8)
                    .map(FileMode)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A lifecycle hook (`post_start`, `pre_stop`) or a watch trigger's `exec`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceHook {
    /// Always printed (`null` when unset).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub working_dir: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub environment: IndexMap<String, Option<String>>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DevelopConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<Trigger>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WatchAction {
    #[serde(rename = "sync")]
    Sync,
    #[serde(rename = "rebuild")]
    Rebuild,
    #[serde(rename = "restart")]
    Restart,
    #[serde(rename = "sync+restart")]
    SyncRestart,
    #[serde(rename = "sync+exec")]
    SyncExec,
}

/// One `develop.watch` rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub path: String,
    pub action: WatchAction,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub target: Option<String>,
    /// Always printed (`{"command": null}` when unset).
    #[serde(default)]
    pub exec: ServiceHook,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub initial_sync: bool,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A `ulimits` entry: one number for both limits, or soft and hard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UlimitsConfig {
    Single(i64),
    SoftHard { soft: i64, hard: i64 },
}

impl UlimitsConfig {
    pub fn soft(&self) -> i64 {
        match *self {
            UlimitsConfig::Single(n) => n,
            UlimitsConfig::SoftHard { soft, .. } => soft,
        }
    }
    pub fn hard(&self) -> i64 {
        match *self {
            UlimitsConfig::Single(n) => n,
            UlimitsConfig::SoftHard { hard, .. } => hard,
        }
    }
}

impl Serialize for UlimitsConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            UlimitsConfig::Single(n) if n != 0 => serializer.serialize_i64(n),
            // Go prints a zero `single` as the (omit-empty) struct.
            UlimitsConfig::Single(_) => serializer.serialize_map(Some(0))?.end(),
            UlimitsConfig::SoftHard { soft, hard } => {
                let mut map = serializer.serialize_map(None)?;
                if soft != 0 {
                    map.serialize_entry("soft", &soft)?;
                }
                if hard != 0 {
                    map.serialize_entry("hard", &hard)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for UlimitsConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UlimitsConfig;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a mapping with soft and hard")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<UlimitsConfig, E> {
                Ok(UlimitsConfig::Single(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<UlimitsConfig, E> {
                i64::try_from(v)
                    .map(UlimitsConfig::Single)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UlimitsConfig, A::Error> {
                let (mut soft, mut hard) = (0, 0);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "soft" => soft = map.next_value()?,
                        "hard" => hard = map.next_value()?,
                        _ if key.starts_with("x-") => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                        _ => return Err(de::Error::unknown_field(&key, &["soft", "hard"])),
                    }
                }
                Ok(UlimitsConfig::SoftHard { soft, hard })
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Bind,
    Volume,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

/// A `volumes` entry of a service, in long form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeConfig {
    #[serde(rename = "type")]
    pub volume_type: VolumeType,
    /// Volume name, host path or image; `None` for anonymous volumes and tmpfs.
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub consistency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<ServiceVolumeBind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<ServiceVolumeVolume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ServiceVolumeTmpfs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ServiceVolumeImage>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeBind {
    /// `z` or `Z`.
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub selinux: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub propagation: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_host_path: bool,
    /// `enabled`, `disabled`, `writable` or `readonly`.
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub recursive: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeVolume {
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub nocopy: bool,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub subpath: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeTmpfs {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub size: Option<ByteSize>,
    /// Permission bits; printed as a decimal number (`0755` → `493`).
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub mode: Option<u32>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceVolumeImage {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub subpath: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

// ---------------------------------------------------------------------------
// Top-level resources
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The engine-side name (`<project>_<key>` unless set or external).
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub driver: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub driver_opts: IndexMap<String, String>,
    /// Always printed, `{}` when empty.
    #[serde(default)]
    pub ipam: IpamConfig,
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    /// In the compose spec, but Compose v2.40.3 drops it from its model.
    #[serde(default, skip_serializing)]
    pub options: IndexMap<String, String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub ip_range: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub aux_addresses: IndexMap<String, String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeConfig {
    /// The engine-side name (`<project>_<key>` unless set or external).
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub driver: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub driver_opts: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub labels: IndexMap<String, String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A top-level secret. Its `content` (filled by the loader) is never printed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecretConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub labels: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub driver: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        serialize_with = "sorted"
    )]
    pub driver_opts: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub template_driver: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// A top-level config. `content` is printed unless it came from `environment`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ConfigObjConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub external: bool,
    #[serde(default)]
    pub labels: IndexMap<String, String>,
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: IndexMap<String, String>,
    #[serde(default)]
    pub template_driver: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// How [`ConfigObjConfig`] prints: compose-go drops `content` that the loader
/// read from `environment`, so the variable's value does not leak.
#[derive(Serialize)]
struct ConfigObjConfigJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    external: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Sorted<'a, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver_opts: Option<Sorted<'a, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template_driver: Option<&'a str>,
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn non_empty_map(map: &IndexMap<String, String>) -> Option<Sorted<'_, String>> {
    (!map.is_empty()).then_some(Sorted(map))
}

impl Serialize for ConfigObjConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let environment = non_empty(&self.environment);
        ConfigObjConfigJson {
            name: non_empty(&self.name),
            file: non_empty(&self.file),
            environment,
            content: if environment.is_some() {
                None
            } else {
                non_empty(&self.content)
            },
            external: self.external,
            labels: non_empty_map(&self.labels),
            driver: non_empty(&self.driver),
            driver_opts: non_empty_map(&self.driver_opts),
            template_driver: non_empty(&self.template_driver),
        }
        .serialize(serializer)
    }
}

/// A top-level `models` entry (AI models served to services).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub context_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
    #[serde(flatten, skip_serializing)]
    pub extensions: Extensions,
}

/// An `include` entry. The loader resolves includes, so it never reaches a
/// [`Project`]; the type is here for the loader's use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IncludeConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    #[serde(default, skip_serializing_if = "skip_zero")]
    pub project_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_file: Vec<String>,
}

// ---------------------------------------------------------------------------
// Value types
// ---------------------------------------------------------------------------

/// `x-*` keys of a mapping. Deserializing rejects any other key, which is how
/// structs with extensions report unknown fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extensions(pub IndexMap<String, Value>);

impl std::ops::Deref for Extensions {
    type Target = IndexMap<String, Value>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Extensions {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Serialize for Extensions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Extensions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Extensions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("x-* extension fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Extensions, A::Error> {
                let mut out = IndexMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !key.starts_with("x-") {
                        return Err(de::Error::custom(format_args!("unknown field `{key}`")));
                    }
                    out.insert(key, map.next_value()?);
                }
                Ok(Extensions(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// `extra_hosts`: host name → addresses. Printed as a sorted list of
/// `host=ip` strings, one per address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostsList(pub IndexMap<String, Vec<String>>);

impl HostsList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `host<sep>ip` entries, sorted; the engine API wants `sep = ":"`.
    pub fn as_list(&self, sep: &str) -> Vec<String> {
        let mut list: Vec<String> = self
            .0
            .iter()
            .flat_map(|(host, ips)| ips.iter().map(move |ip| format!("{host}{sep}{ip}")))
            .collect();
        list.sort();
        list
    }
}

impl std::ops::Deref for HostsList {
    type Target = IndexMap<String, Vec<String>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Serialize for HostsList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let list = self.as_list("=");
        let mut seq = serializer.serialize_seq(Some(list.len()))?;
        for entry in &list {
            seq.serialize_element(entry)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for HostsList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HostsList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of host=ip strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HostsList, A::Error> {
                let mut hosts: IndexMap<String, Vec<String>> = IndexMap::new();
                while let Some(entry) = seq.next_element::<String>()? {
                    // `=` first: IPv6 addresses contain `:`.
                    let (host, ip) = entry
                        .split_once('=')
                        .or_else(|| entry.split_once(':'))
                        .ok_or_else(|| {
                            de::Error::custom(format_args!(
                                "invalid additional host, missing IP: {entry}"
                            ))
                        })?;
                    hosts
                        .entry(host.to_string())
                        .or_default()
                        .push(ip.to_string());
                }
                Ok(HostsList(hosts))
            }
        }
        deserializer.deserialize_seq(V)
    }
}

/// A byte count. Compose prints sizes as decimal strings (`"67108864"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub i64);

impl ByteSize {
    /// Parses Docker's RAM size syntax (`1024`, `64m`, `1.5GB`, `512 KiB`):
    /// binary multiples, case-insensitive unit, optional `i` and `b`.
    pub fn parse(s: &str) -> Option<ByteSize> {
        let s = s.trim();
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, rest) = s.split_at(num_end);
        if num.is_empty() || !num.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let number: f64 = num.parse().ok()?;
        let mut rest = rest.strip_prefix(' ').unwrap_or(rest).chars().peekable();
        let mut multiplier: f64 = 1.0;
        if let Some(unit) = rest.peek().map(|c| c.to_ascii_lowercase()) {
            let power = match unit {
                'k' => Some(1),
                'm' => Some(2),
                'g' => Some(3),
                't' => Some(4),
                'p' => Some(5),
                _ => None,
            };
            if let Some(power) = power {
                multiplier = 1024f64.powi(power);
                rest.next();
                if rest.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
                    rest.next();
                }
            }
        }
        if rest.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
            rest.next();
        }
        if rest.next().is_some() {
            return None;
        }
        Some(ByteSize((number * multiplier) as i64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a byte size (a number or a string like \"64m\")")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                i64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                if let Ok(n) = v.parse::<i64>() {
                    return Ok(ByteSize(n));
                }
                ByteSize::parse(v).ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A time span, printed the way Go's `time.Duration` prints (`"1m30s"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

const NANOS_PER_UNIT: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // micro sign
    ("\u{3bc}s", 1_000), // Greek mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
];

impl Duration {
    pub fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }

    /// Parses Go duration syntax plus compose's `d` and `w` units
    /// (`"1m30s"`, `"1.5s"`, `"500ms"`, `"2d"`). A bare `0` is allowed.
    pub fn parse(s: &str) -> Option<Duration> {
        let s = s.strip_prefix('+').unwrap_or(s);
        if s == "0" {
            return Some(Duration::default());
        }
        if s.is_empty() {
            return None;
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let int_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (int_part, after_int) = rest.split_at(int_end);
            let (frac_part, after_num) = match after_int.strip_prefix('.') {
                Some(after_dot) => {
                    let end = after_dot
                        .find(|c: char| !c.is_ascii_digit())
                        .unwrap_or(after_dot.len());
                    after_dot.split_at(end)
                }
                None => ("", after_int),
            };
            if int_part.is_empty() && frac_part.is_empty() {
                return None;
            }
            // Longest unit first so "ms" is not read as "m".
            let (unit, nanos) = NANOS_PER_UNIT
                .iter()
                .filter(|(u, _)| after_num.starts_with(u))
                .max_by_key(|(u, _)| u.len())?;
            let whole: u128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().ok()?
            };
            total = total.checked_add(whole.checked_mul(*nanos)?)?;
            if !frac_part.is_empty() {
                // Keep at most 18 digits so the scale fits comfortably.
                let digits = &frac_part[..frac_part.len().min(18)];
                let frac: u128 = digits.parse().ok()?;
                let scale = 10u128.pow(digits.len() as u32);
                total = total.checked_add(frac * nanos / scale)?;
            }
            rest = &after_num[unit.len()..];
        }
        let nanos = u64::try_from(total).ok()?;
        Some(Duration(std::time::Duration::from_nanos(nanos)))
    }

    pub fn as_std(&self) -> std::time::Duration {
        self.0
    }
}

/// `value / 10^digits` with the fraction's trailing zeros dropped, like Go.
fn fmt_fraction(value: u128, digits: u32) -> String {
    let scale = 10u128.pow(digits);
    let (int, frac) = (value / scale, value % scale);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", frac.trim_end_matches('0'))
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.as_nanos();
        if n == 0 {
            return f.write_str("0s");
        }
        if n < 1_000 {
            return write!(f, "{n}ns");
        }
        if n < 1_000_000 {
            return write!(f, "{}\u{b5}s", fmt_fraction(n, 3));
        }
        if n < 1_000_000_000 {
            return write!(f, "{}ms", fmt_fraction(n, 6));
        }
        let hours = n / 3_600_000_000_000;
        let minutes = (n / 60_000_000_000) % 60;
        let seconds = fmt_fraction(n % 60_000_000_000, 9);
        if hours > 0 {
            write!(f, "{hours}h{minutes}m{seconds}s")
        } else if minutes > 0 {
            write!(f, "{minutes}m{seconds}s")
        } else {
            write!(f, "{seconds}s")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Duration::parse(&s).ok_or_else(|| {
            de::Error::invalid_value(de::Unexpected::Str(&s), &"a duration like \"1m30s\"")
        })
    }
}

// ---------------------------------------------------------------------------
// serde helpers
// ---------------------------------------------------------------------------

/// Values Go's `omitempty` treats as empty.
pub trait IsZero {
    fn is_zero(&self) -> bool;
}

macro_rules! impl_is_zero_num {
    ($($t:ty),*) => {$(
        impl IsZero for $t {
            fn is_zero(&self) -> bool {
                *self == 0
            }
        }
    )*};
}
impl_is_zero_num!(i64, u64, u32, u16);

impl IsZero for f32 {
    fn is_zero(&self) -> bool {
        *self == 0.0
    }
}

impl IsZero for String {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl IsZero for ByteSize {
    fn is_zero(&self) -> bool {
        self.0 == 0
    }
}

impl IsZero for Duration {
    fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

impl IsZero for DeviceCount {
    fn is_zero(&self) -> bool {
        *self == DeviceCount::Count(0)
    }
}

fn skip_zero<T: IsZero>(value: &Option<T>) -> bool {
    value.as_ref().is_none_or(IsZero::is_zero)
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_u16(n: &u16) -> bool {
    *n == 0
}

fn default_true() -> bool {
    true
}

/// A map serialized the way Go prints maps: keys sorted.
struct Sorted<'a, V>(&'a IndexMap<String, V>);

impl<V: Serialize> Serialize for Sorted<'_, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&String, &V)> = self.0.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (key, value) in entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

fn sorted<S: Serializer, V: Serialize>(
    map: &IndexMap<String, V>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    Sorted(map).serialize(serializer)
}

/// Go prints a float32 with the fewest digits that read back the same
/// (`0.3`, not `0.30000001192092896`) and integral values without `.0`.
fn ser_opt_f32<S: Serializer>(value: &Option<f32>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        None => serializer.serialize_none(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => serializer.serialize_i64(*v as i64),
        Some(v) => {
            // Rust's f32 Display is the shortest round-trip form, like Go's.
            let shortest: f64 = v.to_string().parse().map_err(serde::ser::Error::custom)?;
            serializer.serialize_f64(shortest)
        }
    }
}

/// Strings or numbers (`expose: [3000, "8000-8010"]`), kept as strings.
fn de_string_or_number_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of strings or numbers")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<StringOrNumber>()? {
                out.push(item.0);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(V)
}

fn de_opt_string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(deserializer)?.map(|s| s.0))
}

struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn golden_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/types")
    }

    fn golden_files() -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
    }

    /// Equality that also requires map keys in the same order, so the text
    /// we print has Compose's key order, not just its content.
    fn assert_same_ordered(expected: &Value, actual: &Value, path: &str) {
        match (expected, actual) {
            (Value::Object(e), Value::Object(a)) => {
                let ek: Vec<&String> = e.keys().collect();
                let ak: Vec<&String> = a.keys().collect();
                assert_eq!(ek, ak, "keys differ at {path}");
                for (k, v) in e {
                    assert_same_ordered(v, &a[k], &format!("{path}.{k}"));
                }
            }
            (Value::Array(e), Value::Array(a)) => {
                assert_eq!(e.len(), a.len(), "lengths differ at {path}");
                for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                    assert_same_ordered(ev, av, &format!("{path}[{i}]"));
                }
            }
            _ => assert_eq!(expected, actual, "values differ at {path}"),
        }
    }

    fn load(name: &str) -> Project {
        let text = std::fs::read_to_string(golden_dir().join(name)).unwrap();
        Project::from_value(serde_json::from_str(&text).unwrap()).unwrap()
    }

    #[test]
    fn golden_files_round_trip_exactly() {
        let files = golden_files();
        assert!(files.len() >= 10, "golden files missing: {files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let expected: Value = serde_json::from_str(&text).unwrap();
            let project = Project::from_value(expected.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let printed = serde_json::to_string_pretty(&project).unwrap();
            let actual: Value = serde_json::from_str(&printed).unwrap();
            assert_same_ordered(&expected, &actual, &file.display().to_string());
        }
    }

    #[test]
    fn golden_files_print_byte_for_byte() {
        for file in golden_files() {
            let text = std::fs::read_to_string(&file).unwrap();
            let project = Project::from_value(serde_json::from_str(&text).unwrap()).unwrap();
            let printed = project.to_json_pretty().unwrap();
            assert_eq!(printed, text, "{}", file.display());
        }
    }

    #[test]
    fn unknown_field_is_reported_with_its_path() {
        let doc = json!({
            "name": "p",
            "services": {"web": {"image": "nginx", "command": null, "entrypoint": null,
                "ports": [{"target": 80, "protocol": "tcp", "bogus": 1}]}}
        });
        let err = Project::from_value(doc).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("services.web.ports[0]"), "{shown}");
        assert!(shown.contains("unknown field `bogus`"), "{shown}");

        let doc = json!({"services": {"web": {"imag": "nginx"}}});
        let err = Project::from_value(doc).unwrap_err();
        assert!(err.to_string().starts_with("services.web"), "{err}");
        assert!(err.msg.contains("imag"), "{err}");
    }

    #[test]
    fn unknown_top_level_key_is_rejected() {
        let err = Project::from_value(json!({"services": {}, "version": "3"})).unwrap_err();
        assert!(err.msg.contains("version"), "{err}");
    }

    #[test]
    fn wrong_type_is_reported_with_its_path() {
        let doc = json!({"services": {"web": {"ports": [{"target": 80}, {"target": "eighty"}]}}});
        let err = Project::from_value(doc).unwrap_err();
        assert_eq!(
            err.path,
            vec![
                PathSeg::Key("services".into()),
                PathSeg::Key("web".into()),
                PathSeg::Key("ports".into()),
                PathSeg::Index(1),
                PathSeg::Key("target".into()),
            ]
        );
        assert!(err.msg.contains("invalid type"), "{err}");

        let doc = json!({"services": {"web": {"healthcheck": {"interval": "soon"}}}});
        let err = Project::from_value(doc).unwrap_err();
        assert_eq!(
            err.to_string().split(':').next(),
            Some("services.web.healthcheck.interval")
        );

        let doc = json!({"services": {"web": {"volumes": [{"type": "floppy", "target": "/x"}]}}});
        let err = Project::from_value(doc).unwrap_err();
        assert!(
            err.to_string().starts_with("services.web.volumes[0].type"),
            "{err}"
        );
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            ("0s", "0s"),
            ("0", "0s"),
            ("90s", "1m30s"),
            ("1m30s", "1m30s"),
            ("3600s", "1h0m0s"),
            ("1.5s", "1.5s"),
            ("1500ms", "1.5s"),
            ("500ms", "500ms"),
            ("250us", "250\u{b5}s"),
            ("1.5ms", "1.5ms"),
            ("100ns", "100ns"),
            ("1h30m0.5s", "1h30m0.5s"),
            ("1d", "24h0m0s"),
            ("1w", "168h0m0s"),
            ("2h", "2h0m0s"),
        ];
        for (input, printed) in cases {
            let d = Duration::parse(input).unwrap_or_else(|| panic!("parse {input}"));
            assert_eq!(d.to_string(), printed, "{input}");
            assert_eq!(Duration::parse(printed), Some(d), "re-parse {printed}");
        }
        assert_eq!(Duration::parse("90s").unwrap().as_std().as_secs(), 90);
        for bad in ["", "10", "abc", "1x", "-1s", "s", "1.s5"] {
            assert_eq!(Duration::parse(bad), None, "{bad:?} should not parse");
        }
    }

    #[test]
    fn byte_sizes_parse_like_docker() {
        let cases = [
            ("1024", 1024),
            ("64m", 64 << 20),
            ("64M", 64 << 20),
            ("1g", 1 << 30),
            ("1gb", 1 << 30),
            ("1.5g", 3 << 29),
            ("512k", 512 << 10),
            ("512 KiB", 512 << 10),
            ("10b", 10),
        ];
        for (input, bytes) in cases {
            assert_eq!(ByteSize::parse(input), Some(ByteSize(bytes)), "{input}");
        }
        for bad in ["", "m", "1x", "1mm", "-1k"] {
            assert_eq!(ByteSize::parse(bad), None, "{bad:?} should not parse");
        }
        assert_eq!(
            serde_json::to_value(ByteSize(67108864)).unwrap(),
            json!("67108864")
        );
        let parsed: ByteSize = serde_json::from_value(json!("64m")).unwrap();
        assert_eq!(parsed, ByteSize(64 << 20));
    }

    #[test]
    fn typed_values_from_the_golden_files() {
        let full = load("full.json");
        let web = &full.services["web"];
        assert_eq!(web.name, "web");
        assert_eq!(web.shm_size, Some(ByteSize(64 << 20)));
        assert_eq!(web.stop_grace_period, Some(Duration::from_secs(90)));
        assert_eq!(web.ports[3].target, 80);
        assert_eq!(web.ports[3].published_range(), Some((8080, 8080)));
        assert_eq!(web.ulimits["nproc"], UlimitsConfig::Single(65535));
        assert_eq!(
            web.ulimits["nofile"],
            UlimitsConfig::SoftHard {
                soft: 20000,
                hard: 40000
            }
        );
        assert_eq!(web.gpus[0].count, Some(DeviceCount::All));
        assert_eq!(web.secrets[1].mode, Some(FileMode(0o440)));
        assert_eq!(web.volumes[3].volume_type, VolumeType::Tmpfs);
        assert_eq!(web.volumes[3].tmpfs.as_ref().unwrap().mode, Some(0o755));
        assert_eq!(
            web.depends_on["db"].condition,
            DependencyCondition::ServiceHealthy
        );
        assert_eq!(
            web.develop.as_ref().unwrap().watch[2].action,
            WatchAction::SyncExec
        );
        assert_eq!(web.extra_hosts["other"], vec!["10.0.0.1", "::1"]);
        assert_eq!(web.environment["UNSET"], None);
        assert_eq!(web.command.as_deref().map(<[String]>::len), Some(5));
        assert_eq!(full.services["db"].command, Some(vec![]));
        assert_eq!(full.services["cache"].command, None);
        assert_eq!(full.extensions["x-top"], json!({"a": 1}));

        let ports = load("ports.json");
        let ranges: Vec<_> = ports.services["web"]
            .ports
            .iter()
            .map(ServicePortConfig::published_range)
            .collect();
        assert!(ranges.contains(&Some((8100, 8110))), "{ranges:?}");
        assert!(ranges.contains(&None), "{ranges:?}");
    }

    #[test]
    fn service_names_are_sorted() {
        let full = load("full.json");
        assert_eq!(full.service_names(), vec!["cache", "db", "other", "web"]);
        assert_eq!(full.network_names(), vec!["back", "default", "front"]);
    }

    #[test]
    fn dependencies_include_implicit_edges() {
        let doc = json!({"services": {
            "app": {
                "depends_on": {"db": {"condition": "service_healthy", "required": true}},
                "network_mode": "service:vpn",
                "ipc": "service:shm",
                "pid": "service:db",
                "volumes_from": ["data:ro", "container:raw", "logs"],
                "links": ["cache:c", "db"]
            },
            "db": {}, "vpn": {}, "shm": {}, "data": {}, "logs": {}, "cache": {},
            "solo": {"network_mode": "host", "ipc": "shareable", "volumes_from": ["container:x"]}
        }});
        let project = Project::from_value(doc).unwrap();
        assert_eq!(
            project.services["app"].dependencies(),
            vec!["cache", "data", "db", "logs", "shm", "vpn"]
        );
        assert!(project.services["solo"].dependencies().is_empty());
        assert_eq!(project.dependents("db"), vec!["app"]);
    }

    #[test]
    fn pull_and_restart_policies() {
        let svc = |pull: &str, restart: &str| ServiceConfig {
            pull_policy: Some(pull.to_string()),
            restart: Some(restart.to_string()),
            ..ServiceConfig::default()
        };
        assert_eq!(svc("always", "no").pull_policy(), PullPolicy::Always);
        assert_eq!(
            svc("if_not_present", "no").pull_policy(),
            PullPolicy::Missing
        );
        assert_eq!(
            svc("daily", "no").pull_policy(),
            PullPolicy::Refresh(Duration::from_secs(86400))
        );
        assert_eq!(
            svc("every_12h", "no").pull_policy(),
            PullPolicy::Refresh(Duration::from_secs(12 * 3600))
        );
        assert_eq!(ServiceConfig::default().pull_policy(), PullPolicy::Missing);
        assert_eq!(
            svc("build", "always").restart_mode(),
            Some(RestartMode::Always)
        );
        assert_eq!(
            svc("build", "on-failure:3").restart_mode(),
            Some(RestartMode::OnFailure {
                max_retries: Some(3)
            })
        );
        assert_eq!(
            svc("build", "unless-stopped").restart_mode(),
            Some(RestartMode::UnlessStopped)
        );
        assert_eq!(svc("build", "on-failure:x").restart_mode(), None);
        assert_eq!(
            ServiceConfig::default().restart_mode(),
            Some(RestartMode::No)
        );
    }

    #[test]
    fn scale_and_network_priority() {
        let full = load("full.json");
        assert_eq!(full.services["web"].scale(), 2);
        assert_eq!(full.services["db"].scale(), 1);
        assert_eq!(
            full.services["web"].networks_by_priority(),
            vec!["front", "back"]
        );
        let edge = load("edge.json");
        assert_eq!(edge.services["a"].scale(), 0);
    }

    #[test]
    fn secret_and_environment_config_content_is_not_printed() {
        let mut project = load("secrets-configs.json");
        project.secrets["s_env"].content = Some("hunter2".into());
        project.configs["c_env"].content = Some("from env".into());
        let printed = serde_json::to_string(&project).unwrap();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("from env"), "{printed}");
        assert!(printed.contains("line2 default"), "{printed}");
    }

    #[test]
    fn nested_extensions_are_kept_but_not_printed() {
        let doc = json!({"services": {"web": {"image": "nginx", "x-svc": {"a": 1}}}, "x-top": 1});
        let project = Project::from_value(doc).unwrap();
        assert_eq!(project.services["web"].extensions["x-svc"], json!({"a": 1}));
        let printed = serde_json::to_value(&project).unwrap();
        assert_eq!(printed["x-top"], json!(1));
        assert!(printed["services"]["web"].get("x-svc").is_none());
    }

    #[test]
    fn floats_print_with_go_precision() {
        let doc = json!({"services": {"web": {"cpus": 0.3, "cpu_percent": 50}}});
        let project = Project::from_value(doc).unwrap();
        let printed = serde_json::to_string(&project.services["web"]).unwrap();
        assert!(printed.contains("\"cpus\":0.3,"), "{printed}");
        assert!(printed.contains("\"cpu_percent\":50,"), "{printed}");
    }
}
