//! Configs and secrets → ConfigMaps and Secrets, and their file mounts.

use super::{check_collisions, key_path, Ctx, FROM_ENVIRONMENT};
use crate::compose::types::{FileReferenceConfig, ServiceConfig};
use crate::compose::yaml::{path_string, PathSeg};
use crate::convert::names::{dns_label, with_suffix};
use crate::convert::ConvertError;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The key a file has in its ConfigMap or Secret: `[-._a-zA-Z0-9]+`.
fn data_key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if key.is_empty() || key == "." || key == ".." {
        "content".into()
    } else {
        key
    }
}

/// Volumes and mounts for a service's `configs` (`is_config`) or `secrets`.
pub(super) fn file_mounts(
    ctx: &mut Ctx,
    svc: &ServiceConfig,
    is_config: bool,
    volumes: &mut Vec<Value>,
    mounts: &mut Vec<Value>,
) {
    let (field, refs): (&str, &Vec<FileReferenceConfig>) = if is_config {
        ("configs", &svc.configs)
    } else {
        ("secrets", &svc.secrets)
    };
    for (i, r) in refs.iter().enumerate() {
        let mut path = key_path(&["services", &svc.name, field]);
        path.push(PathSeg::Index(i));
        let external = if is_config {
            ctx.project()
                .configs
                .get(&r.source)
                .map(|c| (c.external, c.name.clone()))
        } else {
            ctx.project()
                .secrets
                .get(&r.source)
                .map(|c| (c.external, c.name.clone()))
        };
        let Some((external, engine_name)) = external else {
            continue;
        };
        let object = if external {
            dns_label(engine_name.as_deref().unwrap_or(&r.source))
        } else {
            dns_label(&r.source)
        };
        let Some(object) = object else {
            ctx.warn(
                &path,
                format!("{:?} has no usable Kubernetes name; left out", r.source),
            );
            continue;
        };
        if is_config {
            ctx.configs_used.insert(r.source.clone());
        } else {
            ctx.secrets_used.insert(r.source.clone());
        }
        if r.uid.is_some() || r.gid.is_some() {
            ctx.warn(
                &path,
                "uid and gid: mounted files belong to the pod's fsGroup; left out",
            );
        }
        let key = data_key(&r.source);
        let target = match r.target.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if t.starts_with('/') => t.to_string(),
            Some(t) if is_config => format!("/{t}"),
            Some(t) => format!("/run/secrets/{t}"),
            None if is_config => format!("/{}", r.source),
            None => format!("/run/secrets/{}", r.source),
        };
        let vol_name = with_suffix(
            if is_config { "config" } else { "secret" },
            &format!("{i}-{object}"),
        );
        let mut item = json!({"key": key, "path": key});
        if let Some(mode) = r.mode {
            item["mode"] = json!(mode.0);
        }
        let source = if is_config {
            json!({"configMap": {"name": object, "items": [item]}})
        } else {
            json!({"secret": {"secretName": object, "items": [item]}})
        };
        let mut volume = json!({"name": vol_name});
        if let (Value::Object(v), Value::Object(s)) = (&mut volume, source) {
            v.extend(s);
        }
        volumes.push(volume);
        mounts
            .push(json!({"name": vol_name, "mountPath": target, "subPath": key, "readOnly": true}));
    }
}

/// ConfigMaps (`is_config`) or Secrets for the configs/secrets services use.
pub(super) fn convert_files(ctx: &mut Ctx, is_config: bool) -> Result<(), ConvertError> {
    let used: Vec<String> = if is_config {
        ctx.configs_used.iter().cloned().collect()
    } else {
        ctx.secrets_used.iter().cloned().collect()
    };
    let field = if is_config { "configs" } else { "secrets" };
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for key in used {
        let path = key_path(&[field, &key]);
        let (external, file, environment, content) = if is_config {
            let Some(c) = ctx.project().configs.get(&key) else {
                continue;
            };
            (
                c.external,
                c.file.clone(),
                c.environment.clone(),
                c.content.clone(),
            )
        } else {
            let Some(c) = ctx.project().secrets.get(&key) else {
                continue;
            };
            (
                c.external,
                c.file.clone(),
                c.environment.clone(),
                c.content.clone(),
            )
        };
        if external {
            continue;
        }
        let Some(object) = dns_label(&key) else {
            continue;
        };
        if object != key {
            ctx.warn(
                &path,
                format!("name {key:?} is not a DNS-1123 name; it is {object:?} in Kubernetes"),
            );
            ctx.renamed
                .push((path_string(&path), key.clone(), object.clone()));
        }
        names.insert(key.clone(), object.clone());
        let mut annotations = Map::new();
        let bytes: Vec<u8> = if let Some(var) = environment.as_deref().filter(|v| !v.is_empty()) {
            annotations.insert(FROM_ENVIRONMENT.into(), json!(var));
            match content.or_else(|| ctx.loaded.environment.get(var).cloned()) {
                Some(v) => v.into_bytes(),
                None => {
                    ctx.warn(
                        &path,
                        format!("environment variable {var} is not set; the value is empty"),
                    );
                    Vec::new()
                }
            }
        } else if let Some(file) = file.as_deref().filter(|f| !f.is_empty()) {
            let p = Path::new(file);
            let abs = if p.is_absolute() {
                p.to_path_buf()
            } else {
                ctx.loaded.working_dir.join(p)
            };
            std::fs::read(&abs).map_err(|source| ConvertError::ReadFile {
                key: path_string(&path),
                path: abs.clone(),
                source,
            })?
        } else {
            content.unwrap_or_default().into_bytes()
        };
        let data_key = data_key(&key);
        let mut meta = ctx.metadata(&object, &[]);
        if !annotations.is_empty() {
            meta["annotations"] = Value::Object(annotations);
        }
        let origin = path_string(&path);
        if is_config {
            let mut manifest = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta});
            match String::from_utf8(bytes) {
                Ok(text) => manifest["data"] = json!({ data_key: text }),
                Err(e) => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(e.as_bytes());
                    manifest["binaryData"] = json!({ data_key: b64 });
                }
            }
            let mut comments = vec![format!("Config {key}, with its content embedded.")];
            if environment.is_some() {
                comments.push(format!(
                    "Its value came from the environment ({FROM_ENVIRONMENT} says which variable)."
                ));
            }
            ctx.push("ConfigMap", &object, &origin, comments, manifest);
        } else {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let manifest = json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta,
                "type": "Opaque",
                "data": { data_key: b64 },
            });
            let mut comments = vec![format!(
                "Secret {key}, with its content embedded (base64 is no encryption): keep this file out of version control."
            )];
            if environment.is_some() {
                comments.push(format!(
                    "Its value came from the environment ({FROM_ENVIRONMENT} says which variable)."
                ));
            }
            ctx.push("Secret", &object, &origin, comments, manifest);
        }
    }
    check_collisions(if is_config { "config" } else { "secret" }, names.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_keys_are_valid() {
        assert_eq!(data_key("nginx_conf"), "nginx_conf");
        assert_eq!(data_key("a b"), "a_b");
        assert_eq!(data_key(".."), "content");
    }
}
