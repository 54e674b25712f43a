//! Container Device Interface: devices named `vendor/class=name`
//! (`nvidia.com/gpu=0`), described by spec files in /etc/cdi and
//! /var/run/cdi (what `nvidia-ctk cdi generate` writes). A device's
//! `containerEdits`, and its spec's, add device nodes, mounts, environment
//! variables and OCI hooks to the container, as Docker's CDI support does
//! for `--device` and `--gpus`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where CDI specs are read, in order (a later directory's device of the
/// same name wins, as the CDI registry's priority goes).
pub const SPEC_DIRS: &[&str] = &["/etc/cdi", "/var/run/cdi"];

/// A colon-separated list that replaces [`SPEC_DIRS`] (for tests).
pub const SPEC_DIRS_ENV: &str = "WHARF_CDI_SPEC_DIRS";

/// The kind Docker's `--gpus` asks CDI for.
pub const NVIDIA_GPU_KIND: &str = "nvidia.com/gpu";

#[derive(Debug, thiserror::Error)]
pub enum CdiError {
    #[error("CDI spec {}: {message}", path.display())]
    Spec { path: PathBuf, message: String },
    #[error("{name:?} is not a CDI device name (vendor.com/class=name)")]
    BadName { name: String },
    #[error("CDI device {name:?} is not in any spec under {dirs}")]
    Unknown { name: String, dirs: String },
}

/// What a device (or a whole spec) adds to a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerEdits {
    pub env: Vec<String>,
    pub device_nodes: Vec<DeviceNode>,
    pub mounts: Vec<Mount>,
    pub hooks: Vec<Hook>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeviceNode {
    /// The path in the container.
    pub path: String,
    /// The host's node; `path` when unset.
    pub host_path: Option<String>,
    /// `rwm` when unset.
    pub permissions: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Mount {
    pub host_path: String,
    pub container_path: String,
    pub options: Vec<String>,
}

/// An OCI hook to run at `hook_name` (`createRuntime`, `createContainer`,
/// `startContainer`, `poststart`, `poststop`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Hook {
    pub hook_name: String,
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Device {
    name: String,
    container_edits: ContainerEdits,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SpecFile {
    kind: String,
    devices: Vec<Device>,
    container_edits: ContainerEdits,
}

/// Reads a YAML document as JSON: the compose loader's parser, passed in
/// by the planner (the runtime layer does not import the compose one).
pub type YamlToJson<'a> = &'a dyn Fn(&str, &Path) -> Result<serde_json::Value, String>;

/// The spec files found, by kind.
#[derive(Debug, Default)]
pub struct Registry {
    specs: Vec<(PathBuf, SpecFile)>,
    dirs: Vec<PathBuf>,
}

const HOOK_NAMES: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

impl Registry {
    /// Reads every `*.json`, `*.yaml` and `*.yml` under the spec
    /// directories ([`SPEC_DIRS_ENV`] or [`SPEC_DIRS`]); missing directories
    /// are skipped, unreadable or invalid specs are errors.
    pub fn load(yaml: YamlToJson) -> Result<Registry, CdiError> {
        let dirs: Vec<PathBuf> = match std::env::var(SPEC_DIRS_ENV) {
            Ok(v) if !v.is_empty() => v.split(':').map(PathBuf::from).collect(),
            _ => SPEC_DIRS.iter().map(PathBuf::from).collect(),
        };
        Registry::load_from(&dirs, yaml)
    }

    pub fn load_from(dirs: &[PathBuf], yaml: YamlToJson) -> Result<Registry, CdiError> {
        let mut specs = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for path in paths {
                let ext = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or_default();
                if !matches!(ext, "json" | "yaml" | "yml") {
                    continue;
                }
                specs.push((path.clone(), read_spec(&path, yaml)?));
            }
        }
        Ok(Registry {
            specs,
            dirs: dirs.to_vec(),
        })
    }

    /// The device names of `kind`, sorted (each once).
    pub fn devices_of(&self, kind: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .specs
            .iter()
            .filter(|(_, s)| s.kind == kind)
            .flat_map(|(_, s)| s.devices.iter().map(|d| d.name.clone()))
            .collect();
        names.sort_by_key(|n| natural(n));
        names.dedup();
        names
    }

    /// The edits of the fully qualified `names`: each device's, and once
    /// its spec's own.
    pub fn edits(&self, names: &[String]) -> Result<ContainerEdits, CdiError> {
        let mut out = ContainerEdits::default();
        let mut specs_used: Vec<usize> = Vec::new();
        for name in names {
            let (kind, device) = split_name(name)?;
            // The last spec that has it wins.
            let found = self.specs.iter().enumerate().rev().find_map(|(i, (_, s))| {
                (s.kind == kind)
                    .then(|| s.devices.iter().find(|d| d.name == device))
                    .flatten()
                    .map(|d| (i, d))
            });
            let Some((i, d)) = found else {
                return Err(CdiError::Unknown {
                    name: name.clone(),
                    dirs: self
                        .dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            if !specs_used.contains(&i) {
                specs_used.push(i);
                merge(&mut out, &self.specs[i].1.container_edits);
            }
            merge(&mut out, &d.container_edits);
        }
        Ok(out)
    }
}

/// Device names in number order (`2` before `10`) where they are numbers.
fn natural(name: &str) -> (u8, u64, String) {
    match name.parse::<u64>() {
        Ok(n) => (0, n, String::new()),
        Err(_) => (1, 0, name.to_string()),
    }
}

fn merge(out: &mut ContainerEdits, add: &ContainerEdits) {
    for e in &add.env {
        let key = e.split('=').next().unwrap_or_default();
        out.env.retain(|x| x.split('=').next() != Some(key));
        out.env.push(e.clone());
    }
    for n in &add.device_nodes {
        if !out.device_nodes.contains(n) {
            out.device_nodes.push(n.clone());
        }
    }
    for m in &add.mounts {
        if !out.mounts.contains(m) {
            out.mounts.push(m.clone());
        }
    }
    for h in &add.hooks {
        if !out.hooks.contains(h) {
            out.hooks.push(h.clone());
        }
    }
}

/// Whether `text` has the shape of a CDI name (`vendor.com/class=name`),
/// as a `devices:` entry that is no path.
pub fn is_device_name(text: &str) -> bool {
    split_name(text).is_ok()
}

/// `vendor/class=name` → (`vendor/class`, `name`).
fn split_name(name: &str) -> Result<(&str, &str), CdiError> {
    let bad = || CdiError::BadName {
        name: name.to_string(),
    };
    let (kind, device) = name.split_once('=').ok_or_else(bad)?;
    let (vendor, class) = kind.split_once('/').ok_or_else(bad)?;
    let ok_vendor = !vendor.is_empty()
        && vendor
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let ok_class = !class.is_empty()
        && class
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let ok_device = !device.is_empty()
        && device
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if ok_vendor && ok_class && ok_device {
        Ok((kind, device))
    } else {
        Err(bad())
    }
}

fn read_spec(path: &Path, yaml: YamlToJson) -> Result<SpecFile, CdiError> {
    let err = |message: String| CdiError::Spec {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))?
    } else {
        yaml(&text, path).map_err(err)?
    };
    let spec: SpecFile = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
    split_name(&format!("{}=x", spec.kind))
        .map_err(|_| err(format!("kind {:?} is not vendor/class", spec.kind)))?;
    let hooks = spec
        .devices
        .iter()
        .flat_map(|d| &d.container_edits.hooks)
        .chain(&spec.container_edits.hooks);
    for h in hooks {
        if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
            return Err(err(format!(
                "hook {:?} has an unknown hookName {:?}",
                h.path, h.hook_name
            )));
        }
    }
    Ok(spec)
}

/// The OCI hooks of `edits` by stage name, for the bundle.
pub fn hooks_by_stage(hooks: &[Hook]) -> BTreeMap<String, Vec<Hook>> {
    let mut out: BTreeMap<String, Vec<Hook>> = BTreeMap::new();
    for h in hooks {
        out.entry(h.hook_name.clone()).or_default().push(h.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{
  "cdiVersion": "0.5.0",
  "kind": "nvidia.com/gpu",
  "devices": [
    {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0", "hostPath": "/dev/null"}]}},
    {"name": "1", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia1", "hostPath": "/dev/zero"}]}},
    {"name": "all", "containerEdits": {"deviceNodes": [
      {"path": "/dev/nvidia0", "hostPath": "/dev/null"}, {"path": "/dev/nvidia1", "hostPath": "/dev/zero"}]}}
  ],
  "containerEdits": {
    "env": ["NVIDIA_VISIBLE_DEVICES=void"],
    "mounts": [{"hostPath": "/usr/lib/x", "containerPath": "/usr/lib/x", "options": ["ro", "nosuid", "bind"]}],
    "hooks": [{"hookName": "createContainer", "path": "/usr/bin/nvidia-ctk", "args": ["nvidia-ctk", "hook", "update-ldcache"]}]
  }
}"#;

    /// YAML is the planner's to parse (its tests cover it); here a YAML
    /// file only shows that it is handed over.
    fn yaml(_: &str, path: &Path) -> Result<serde_json::Value, String> {
        Err(format!("YAML handed over for {}", path.display()))
    }

    fn registry(files: &[(&str, &str)]) -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let r = Registry::load_from(
            &[dir.path().to_path_buf(), dir.path().join("missing")],
            &yaml,
        )
        .unwrap();
        (dir, r)
    }

    #[test]
    fn a_devices_edits_come_with_its_specs_once() {
        let (_d, r) = registry(&[("nvidia.json", SPEC)]);
        assert_eq!(r.devices_of(NVIDIA_GPU_KIND), vec!["0", "1", "all"]);
        let e = r
            .edits(&["nvidia.com/gpu=0".into(), "nvidia.com/gpu=1".into()])
            .unwrap();
        assert_eq!(e.env, vec!["NVIDIA_VISIBLE_DEVICES=void"]);
        let nodes: Vec<(&str, Option<&str>)> = e
            .device_nodes
            .iter()
            .map(|n| (n.path.as_str(), n.host_path.as_deref()))
            .collect();
        assert_eq!(
            nodes,
            vec![
                ("/dev/nvidia0", Some("/dev/null")),
                ("/dev/nvidia1", Some("/dev/zero"))
            ]
        );
        assert_eq!(e.mounts.len(), 1);
        assert_eq!(e.hooks.len(), 1);
        assert_eq!(
            hooks_by_stage(&e.hooks).keys().collect::<Vec<_>>(),
            vec!["createContainer"]
        );
    }

    #[test]
    fn unknown_devices_and_bad_specs_are_named() {
        let (_d, r) = registry(&[("nvidia.json", SPEC)]);
        let err = r
            .edits(&["nvidia.com/gpu=7".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"nvidia.com/gpu=7\" is not in any spec under"),
            "{err}"
        );
        let err = r.edits(&["gpu0".into()]).unwrap_err().to_string();
        assert!(err.contains("not a CDI device name"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("README"), "not a spec").unwrap();
        std::fs::write(dir.path().join("x.yaml"), "kind: x/y\n").unwrap();
        let err = Registry::load_from(&[dir.path().to_path_buf()], &yaml)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("YAML handed over for") && err.contains("x.yaml"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("x.yaml")).unwrap();
        std::fs::write(
            dir.path().join("bad.json"),
            r#"{"kind": "nogpu", "devices": []}"#,
        )
        .unwrap();
        let err = Registry::load_from(&[dir.path().to_path_buf()], &yaml)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.json") && err.contains("\"nogpu\""),
            "{err}"
        );
    }

    #[test]
    fn names_are_told_from_paths() {
        assert!(is_device_name("nvidia.com/gpu=0"));
        assert!(is_device_name("vendor.example/class=all"));
        assert!(!is_device_name("/dev/nvidia0"));
        assert!(!is_device_name("/dev/x=y"));
        assert!(!is_device_name("gpu=0"));
    }
}
