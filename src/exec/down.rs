//! `down`: a project's containers, networks and, when asked, its volumes
//! and images.

use super::containers::remove_container;
use super::lifecycle::reverse_walk;
use super::{project_containers, Env, Kind, Progress, ProjectContainer, Result};
use crate::compose::types::Project;
use crate::plan::container as pc;
use crate::runtime::spec::MountSpec;
use std::collections::BTreeSet;
use std::time::Duration;

#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    /// Also remove named volumes of the project and anonymous volumes.
    pub volumes: bool,
    /// `--rmi`: these images, once the containers are gone.
    pub images: Vec<String>,
    pub timeout: Option<Duration>,
    /// Only these services (empty: all). `down` itself takes all.
    pub services: Vec<String>,
    /// Also one-off (`run`) containers. Compose's `down` takes them only
    /// with `--remove-orphans`.
    pub remove_orphans: bool,
}

/// Stops and removes every container of the project (found by label), then
/// with `volumes` its named and anonymous volumes. `declared` are the
/// project's named volumes when the compose file is at hand.
pub fn down(
    env: &Env,
    project: &str,
    declared_volumes: &[String],
    opts: &DownOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let _lock = env.lock_project(project)?;
    let list: Vec<ProjectContainer> = project_containers(&env.containers, project)?
        .into_iter()
        .filter(|c| opts.remove_orphans || !c.oneoff)
        .collect();
    reverse_walk(&list, &[], env.parallel, &|c| {
        remove_container(env, c, opts.volumes, opts.timeout, progress)
    })?;
    let store = crate::net::store::Networks::open(env.containers.root())?;
    for n in store.list()? {
        if n.labels.get(pc::LABEL_PROJECT).map(String::as_str) == Some(project) {
            progress.event(Kind::Network, &n.name, "Removing", false);
            if env.dry_run {
                progress.event(Kind::Network, &n.name, "Removed", true);
                continue;
            }
            match crate::net::attach::remove_network(env.containers.root(), &n.id) {
                // A one-off `down` left running still uses it (Compose's warning).
                Err(crate::net::attach::AttachError::InUse { .. }) => {
                    progress.event(Kind::Network, &n.name, "Resource is still in use", true);
                    tracing::warn!("network {} is still in use", n.name);
                }
                Err(e) => return Err(e.into()),
                Ok(_) => progress.event(Kind::Network, &n.name, "Removed", true),
            }
        }
    }
    for image in &opts.images {
        remove_image(env, image, progress)?;
    }
    if opts.volumes {
        let mut names: BTreeSet<String> = declared_volumes.iter().cloned().collect();
        for v in env.volumes.list()? {
            if v.labels.get(pc::LABEL_PROJECT).map(String::as_str) == Some(project) {
                names.insert(v.name);
            }
        }
        // One-offs `down` leaves behind keep the volumes they mount.
        // (A dry run removed none: those it would have removed are out.)
        let left: Vec<ProjectContainer> = project_containers(&env.containers, project)?
            .into_iter()
            .filter(|c| !env.dry_run || !list.iter().any(|g| g.record.id == c.record.id))
            .collect();
        for n in names {
            let used = left.iter().any(|c| {
                c.record
                    .spec
                    .mounts
                    .iter()
                    .any(|m| matches!(m, MountSpec::Volume { name, .. } if *name == n))
            });
            if used {
                progress.event(Kind::Volume, &n, "Resource is still in use", true);
                continue;
            }
            if env.volumes.get(&n)?.is_some() {
                progress.event(Kind::Volume, &n, "Removing", false);
                if !env.dry_run {
                    env.volumes.remove(&n, &[])?;
                }
                progress.event(Kind::Volume, &n, "Removed", true);
            }
        }
    }
    Ok(())
}

/// `down --rmi`: which images go. `local` takes only the images Compose
/// named itself (`<project>-<service>`, services built without `image:`);
/// `all` every service's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveImages {
    Local,
    All,
}

/// The images `down --rmi` removes: from the compose file when at hand,
/// else from the project's containers.
pub fn images_to_remove(
    project: Option<&Project>,
    containers: &[ProjectContainer],
    project_name: &str,
    mode: RemoveImages,
) -> Vec<String> {
    let mut out = BTreeSet::new();
    match project {
        Some(p) => {
            for svc in p.services.values() {
                let local = svc.image.is_none() && svc.build.is_some();
                if mode == RemoveImages::Local && !local {
                    continue;
                }
                if let Ok(name) = pc::image_name(p, svc) {
                    out.insert(name);
                }
            }
        }
        None => {
            for c in containers {
                let default = format!("{project_name}-{}", c.service);
                if mode == RemoveImages::All || c.record.image == default {
                    out.insert(c.record.image.clone());
                }
            }
        }
    }
    if mode == RemoveImages::All {
        // Orphans and replicas of an older file still name their images.
        out.extend(containers.iter().map(|c| c.record.image.clone()));
    }
    out.into_iter().collect()
}

/// Removes one image as `docker rmi` without force would: a name that is
/// one of several is untagged; one still in use stays, with a warning.
fn remove_image(env: &Env, image: &str, progress: &dyn Progress) -> Result<()> {
    use crate::image::store::StoreError;
    progress.event(Kind::Image, image, "Removing", false);
    if env.dry_run {
        progress.event(Kind::Image, image, "Removed", true);
        return Ok(());
    }
    // The store names images in full (`docker.io/library/x:latest`).
    let stored = match crate::image::reference::Reference::parse(image) {
        Ok(r) if r.digest().is_none() => r.to_string(),
        _ => image.to_string(),
    };
    match env.store.remove(&stored, false) {
        Ok(_) => progress.event(Kind::Image, image, "Removed", true),
        Err(StoreError::NotFound { .. }) => progress.event(
            Kind::Image,
            image,
            "Warning: No resource found to remove",
            true,
        ),
        Err(StoreError::Conflict { .. }) => {
            progress.event(Kind::Image, image, "Resource is still in use", true)
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::testing::container;

    #[test]
    fn rmi_local_takes_only_images_compose_named() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("compose.yaml"),
            "services:\n  built: {build: .}\n  tagged: {build: ., image: me/app:1}\n  pulled: {image: redis}\n",
        )
        .expect("write");
        let loaded = crate::compose::load::load(&crate::compose::load::LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("demo".into()),
            ..Default::default()
        })
        .expect("load");
        let p = &loaded.project;
        let running = [container("old", "postgres", "")];
        assert_eq!(
            images_to_remove(Some(p), &running, "demo", RemoveImages::Local),
            ["demo-built"]
        );
        assert_eq!(
            images_to_remove(Some(p), &running, "demo", RemoveImages::All),
            ["demo-built", "me/app:1", "postgres", "redis"]
        );
        // Without the file: the containers' images, by Compose's naming.
        let found = [
            container("built", "demo-built", ""),
            container("db", "redis", ""),
        ];
        assert_eq!(
            images_to_remove(None, &found, "demo", RemoveImages::Local),
            ["demo-built"]
        );
        assert_eq!(
            images_to_remove(None, &found, "demo", RemoveImages::All),
            ["demo-built", "redis"]
        );
    }
}
