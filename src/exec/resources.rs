//! The named volumes and networks a project's services use.

use super::{Env, ExecError, Kind, Progress, Result};
use crate::compose::types::Project;
use crate::plan::container as pc;
use crate::runtime::volume::VolumeOptions;
use std::collections::{BTreeMap, BTreeSet};

/// Named volumes the selected services use (`all`: every declared one):
/// created with Compose's labels; external ones must exist.
pub(super) fn ensure_volumes(
    env: &Env,
    project: &Project,
    selected: &[String],
    all: bool,
    progress: &dyn Progress,
) -> Result<()> {
    let mut used: BTreeSet<String> = match all {
        true => project.volumes.keys().cloned().collect(),
        false => BTreeSet::new(),
    };
    for s in selected {
        if let Some(svc) = project.services.get(s) {
            for v in &svc.volumes {
                if let Some(src) = v.source.as_deref() {
                    if project.volumes.contains_key(src) {
                        used.insert(src.to_string());
                    }
                }
            }
        }
    }
    for key in used {
        let Some(decl) = project.volumes.get(&key) else {
            continue;
        };
        let name = decl
            .name
            .clone()
            .unwrap_or_else(|| format!("{}_{key}", project.name));
        if decl.external {
            if env.volumes.get(&name)?.is_none() {
                return Err(ExecError::ExternalVolume(name));
            }
            continue;
        }
        if env.volumes.get(&name)?.is_some() {
            continue;
        }
        progress.event(Kind::Volume, &name, "Creating", false);
        let mut labels: BTreeMap<String, String> = decl
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.insert(pc::LABEL_PROJECT.into(), project.name.clone());
        labels.insert("com.docker.compose.volume".into(), key.clone());
        labels.insert(pc::LABEL_VERSION.into(), pc::COMPOSE_VERSION.into());
        if !env.dry_run {
            env.volumes.ensure(
                &name,
                VolumeOptions {
                    labels,
                    ..VolumeOptions::default()
                },
            )?;
        }
        progress.event(Kind::Volume, &name, "Created", true);
    }
    Ok(())
}

/// The networks the selected services join (`all`: every declared one):
/// created with Compose's labels; external ones must exist.
pub(super) fn ensure_networks(
    env: &Env,
    project: &Project,
    selected: &[String],
    all: bool,
    progress: &dyn Progress,
) -> Result<()> {
    let mut used: BTreeSet<String> = match all {
        true => project.networks.keys().cloned().collect(),
        false => BTreeSet::new(),
    };
    for s in selected {
        if let Some(svc) = project.services.get(s) {
            let own = matches!(
                svc.network_mode.as_deref(),
                None | Some("bridge") | Some("default")
            );
            if own {
                used.extend(svc.networks.keys().cloned());
            }
        }
    }
    let store = crate::net::store::Networks::open(env.containers.root())?;
    for key in used {
        let opts = pc::network_options(project, &key);
        let external = project.networks.get(&key).is_some_and(|n| n.external);
        if store.find(&opts.name).is_ok() {
            continue;
        }
        if external {
            return Err(ExecError::ExternalNetwork(opts.name));
        }
        progress.event(Kind::Network, &opts.name, "Creating", false);
        if !env.dry_run {
            crate::net::attach::create_network(env.containers.root(), &opts)?;
        }
        progress.event(Kind::Network, &opts.name, "Created", true);
    }
    Ok(())
}
