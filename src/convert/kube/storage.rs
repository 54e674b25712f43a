//! Top-level volumes → PersistentVolumeClaims.

use super::{check_collisions, key_path, Ctx};
use crate::compose::yaml::path_string;
use crate::convert::names::dns_label;
use crate::convert::ConvertError;
use serde_json::json;
use std::collections::BTreeMap;

/// The claim a named volume mounts: external volumes by their own name.
pub(super) fn volume_claim_name(ctx: &Ctx, key: &str) -> Option<String> {
    let def = ctx.project().volumes.get(key);
    match def {
        Some(v) if v.external => dns_label(v.name.as_deref().unwrap_or(key)),
        _ => dns_label(key),
    }
}

pub(super) fn convert_volumes(ctx: &mut Ctx) -> Result<(), ConvertError> {
    let users = std::mem::take(&mut ctx.volume_users);
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for (key, services) in &users {
        let path = key_path(&["volumes", key]);
        let def = ctx.project().volumes.get(key).cloned().unwrap_or_default();
        let Some(claim) = volume_claim_name(ctx, key) else {
            continue;
        };
        if claim != *key && !def.external {
            ctx.warn(
                &path,
                format!("volume name {key:?} is not a DNS-1123 name; its claim is {claim:?}"),
            );
            ctx.renamed
                .push((path_string(&path), key.clone(), claim.clone()));
        }
        names.insert(key.clone(), claim.clone());
        let pods: u32 = services
            .iter()
            .filter_map(|s| ctx.project().services.get(s))
            .map(|s| {
                if ctx.opts.replicas_from_deploy {
                    s.scale().max(1)
                } else {
                    1
                }
            })
            .sum();
        if pods > 1 {
            ctx.warn(
                &path,
                format!(
                    "mounted by {pods} pods ({}): a ReadWriteOnce claim attaches to one node, so they must run there or the storage class must allow ReadWriteMany",
                    services.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        if def.external {
            continue;
        }
        if def
            .driver
            .as_deref()
            .is_some_and(|d| !d.is_empty() && d != "local")
            || !def.driver_opts.is_empty()
        {
            ctx.warn(
                &path,
                "volume driver and driver_opts: the claim uses the storage class instead",
            );
        }
        let mut spec = json!({
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": ctx.opts.volume_size}},
        });
        if let Some(class) = &ctx.opts.storage_class {
            spec["storageClassName"] = json!(class);
        }
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": ctx.metadata(&claim, &[]),
            "spec": spec,
        });
        let comments = vec![format!(
            "Volume {key}: compose volumes have no size; {} is requested (--volume-size). Unlike Docker, Kubernetes does not copy the image's files into a new volume.",
            ctx.opts.volume_size
        )];
        ctx.push(
            "PersistentVolumeClaim",
            &claim,
            &path_string(&path),
            comments,
            manifest,
        );
    }
    check_collisions("volume", names.iter())
}
