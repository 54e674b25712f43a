//! Acting on one container of a project: create it from a service, fill
//! its volumes, stop it (hooks first) and remove it.

use super::{Env, ExecError, Kind, Progress, ProjectContainer, Result};
use crate::compose::types::{Project, ServiceConfig};
use crate::image::store::ImageRecord;
use crate::plan::container::{self as pc, ProjectContext};
use crate::runtime::container::{ContainerRecord, Status};
use crate::runtime::copy::{self, ContainerFs, CopyOptions, Fs};
use crate::runtime::spec::{ContainerSpec, InjectedFile, MountSpec};
use crate::runtime::volume::VolumeOptions;
use crate::supervise::control;
use crate::sys::path_error::IoAt;
use std::collections::BTreeMap;
use std::time::Duration;

/// Anonymous volumes of a spec, by target: kept across a recreate, as
/// Compose keeps them, so data in `VOLUME` paths survives `up`.
pub(super) fn anonymous_volumes(env: &Env, spec: &ContainerSpec) -> BTreeMap<String, String> {
    spec.mounts
        .iter()
        .filter_map(|m| match m {
            MountSpec::Volume { name, target, .. } => match env.volumes.get(name) {
                Ok(Some(v)) if v.anonymous => Some((target.clone(), name.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

pub(super) fn create_service_container(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
    number: u32,
    image: &str,
    keep_anon: &BTreeMap<String, String>,
) -> Result<ContainerRecord> {
    let replica = prepare_replica(env, project, ctx, service, number, image)?;
    create_replica(env, replica, keep_anon)
}

/// What creating a replica needs and can fail on before anything is
/// changed: the stored image and the spec. A recreate gets it before it
/// removes the old container, so a missing image leaves that one be.
pub(super) struct Replica {
    service: String,
    image_name: String,
    image: ImageRecord,
    spec: ContainerSpec,
}

pub(super) fn prepare_replica(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
    number: u32,
    image: &str,
) -> Result<Replica> {
    let record = service_image(env, image)?.ok_or_else(|| ExecError::MissingImage {
        service: service.name.clone(),
        image: image.to_string(),
    })?;
    let mut spec = pc::container_spec(project, ctx, service, number)?;
    add_volumes_from(env, project, service, &mut spec)?;
    Ok(Replica {
        service: service.name.clone(),
        image_name: image.to_string(),
        image: record,
        spec,
    })
}

/// Creates a prepared replica, its anonymous volumes taken from
/// `keep_anon` (by target) or made anew.
pub(super) fn create_replica(
    env: &Env,
    replica: Replica,
    keep_anon: &BTreeMap<String, String>,
) -> Result<ContainerRecord> {
    let Replica {
        service,
        image_name,
        image,
        mut spec,
    } = replica;
    fill_volumes(env, &mut spec, keep_anon)?;
    let name = spec.name.clone();
    create_container(env, Some(&name), &image_name, &image, spec, false).map_err(|e| {
        ExecError::CreateContainer {
            service,
            source: Box::new(e),
        }
    })
}

/// `volumes_from`: the named containers' binds and volumes (not their
/// tmpfs), as they were created; a target the container mounts itself
/// keeps its own mount, as with Docker.
pub(super) fn add_volumes_from(
    env: &Env,
    project: &Project,
    service: &ServiceConfig,
    spec: &mut ContainerSpec,
) -> Result<()> {
    for (name, mode) in pc::volumes_from(project, service)? {
        let other = env.containers.find(&name).map_err(|e| ExecError::Service {
            service: service.name.clone(),
            message: format!("volumes_from {name}: {e}"),
        })?;
        for m in crate::plan::docker_run::shared_mounts(other.spec.mounts, &mode) {
            if !spec.mounts.iter().any(|own| own.target() == m.target()) {
                spec.mounts.push(m);
            }
        }
    }
    Ok(())
}

/// Writes `files` (the service's `content:`/`environment:` secrets and
/// configs) into the stopped container `record`, as Compose copies them in
/// before each start: through the container's confined file system, owners
/// kept, missing parent directories made.
pub(super) fn inject_files(
    env: &Env,
    service: &str,
    record: &ContainerRecord,
    files: &[InjectedFile],
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let failed = |target: &str, source: copy::CopyError| ExecError::InjectFile {
        service: service.to_string(),
        container: record.name.clone(),
        target: target.to_string(),
        source: Box::new(source),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut archive = tar::Builder::new(Vec::new());
    for f in files {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(f.content.len() as u64);
        h.set_mode(f.mode & 0o7777);
        h.set_uid(u64::from(f.uid));
        h.set_gid(u64::from(f.gid));
        h.set_mtime(now);
        archive
            .append_data(
                &mut h,
                f.target.trim_start_matches('/'),
                f.content.as_slice(),
            )
            .at("archiving", &f.target)
            .map_err(|e| failed(&f.target, e.into()))?;
    }
    let first = files.first().map_or("/", |f| f.target.as_str());
    let tar = archive
        .into_inner()
        .at("archiving", first)
        .map_err(|e| failed(first, e.into()))?;
    let fs =
        ContainerFs::open(&env.containers, &env.store, record).map_err(|e| failed(first, e))?;
    copy::extract_to(
        &Fs::Container(fs),
        "/",
        tar.as_slice(),
        CopyOptions {
            archive: true,
            follow_link: false,
        },
    )
    .map_err(|e| failed(first, e))?;
    Ok(())
}

/// The stored image a service's `image` names, if it is there.
pub(super) fn service_image(env: &Env, image: &str) -> Result<Option<ImageRecord>> {
    Ok(env.store.find(image)?)
}

/// Named volumes get their directory; anonymous ones a fresh volume (or
/// the one the previous container of this replica had).
pub(super) fn fill_volumes(
    env: &Env,
    spec: &mut ContainerSpec,
    keep_anon: &BTreeMap<String, String>,
) -> Result<()> {
    for m in &mut spec.mounts {
        if let MountSpec::Volume {
            name,
            source,
            target,
            ..
        } = m
        {
            let volume = if name.is_empty() {
                match keep_anon.get(target.as_str()) {
                    Some(v) => match env.volumes.get(v)? {
                        Some(vol) => vol,
                        None => env.volumes.create_anonymous()?,
                    },
                    None => env.volumes.create_anonymous()?,
                }
            } else {
                env.volumes.ensure(name, VolumeOptions::default())?
            };
            *name = volume.name.clone();
            *source = volume.data.clone();
        }
    }
    Ok(())
}

/// Writes a container record for `spec` and pins its image, as `docker
/// create` does: the image's stop signal is taken over, and a spec that
/// ends up with no command at all is refused now rather than at start.
pub fn create_container(
    env: &Env,
    name: Option<&str>,
    image_name: &str,
    image: &crate::image::store::ImageRecord,
    mut spec: ContainerSpec,
    auto_remove: bool,
) -> std::result::Result<ContainerRecord, control::ControlError> {
    let config = crate::image::config::image_config(&env.store, image)?;
    if spec.stop_signal.is_none() {
        spec.stop_signal = config.stop_signal().clone();
    }
    if spec.healthcheck.is_none() {
        spec.healthcheck = crate::image::config::image_healthcheck(&env.store, image);
    }
    if crate::runtime::bundle::effective_args(&spec, &config).is_empty() {
        return Err(control::ControlError::NoCommand);
    }
    let record = env.containers.create(
        name,
        image_name,
        image.id().clone(),
        spec,
        &env.runtime,
        auto_remove,
    )?;
    env.store
        .retain_image(&control::image_holder(&record.id), image)?;
    crate::runtime::events::emit(env.containers.root(), &record, "create", &[]);
    Ok(record)
}

/// Stops one container: its `pre_stop` hooks first (a paused container
/// cannot run them; `stop` thaws it), then its stop signal.
pub(super) fn stop_container(
    env: &Env,
    c: &ProjectContainer,
    timeout: Option<Duration>,
) -> Result<()> {
    if env.dry_run {
        return Ok(());
    }
    if let Some(h) = env.hooks.get(&c.service) {
        let state = env.containers.state(&c.record.id)?;
        if state.status == Status::Running {
            env.run_hooks(&c.service, &c.record, &h.pre_stop)?;
        }
    }
    let t = timeout.unwrap_or_else(|| stop_grace(&c.record.spec));
    control::stop(&env.containers, &c.record.id, t)?;
    Ok(())
}

/// `stop_grace_period`, else Docker's 10 s.
fn stop_grace(spec: &ContainerSpec) -> Duration {
    spec.stop_timeout
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(10))
}

/// Stops and removes one container; with `volumes`, also its anonymous
/// volumes.
pub fn remove_container(
    env: &Env,
    c: &ProjectContainer,
    volumes: bool,
    timeout: Option<Duration>,
    progress: &dyn Progress,
) -> Result<()> {
    if c.running() {
        progress.event(Kind::Container, &c.record.name, "Stopping", false);
        stop_container(env, c, timeout)?;
        progress.event(Kind::Container, &c.record.name, "Stopped", true);
    }
    progress.event(Kind::Container, &c.record.name, "Removing", false);
    if env.dry_run {
        progress.event(Kind::Container, &c.record.name, "Removed", true);
        return Ok(());
    }
    control::remove(&env.containers, &env.store, &c.record.id, true)?;
    if volumes {
        for v in anonymous_volumes(env, &c.record.spec).values() {
            env.volumes.remove(v, &[])?;
        }
    }
    progress.event(Kind::Container, &c.record.name, "Removed", true);
    Ok(())
}
