//! `up` and `run SERVICE`: the project's volumes and networks, then each
//! service on the graph's walker once its dependencies are done.

use super::containers::{
    add_volumes_from, anonymous_volumes, create_container, create_replica,
    create_service_container, fill_volumes, inject_files, prepare_replica, remove_container,
    service_image, stop_container,
};
use super::resources::{ensure_networks, ensure_volumes};
use super::{project_containers, Env, ExecError, Kind, Progress, ProjectContainer, Result};
use crate::compose::types::{DependencyCondition, Project, ServiceConfig};
use crate::plan::container::{self as pc, ProjectContext};
use crate::plan::converge::{
    converge, Action, ConvergeOptions, Desired, DesiredService, ObservedContainer,
};
use crate::plan::graph::ServiceGraph;
use crate::runtime::container::{ContainerError, Status};
use crate::supervise::control;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub no_deps: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub always_recreate_deps: bool,
    /// `watch`'s own `up`: the containers of services brought up only as
    /// dependencies are kept as they are, diverged or not (Compose's
    /// `RecreateDependencies: never` in `runWatch`).
    pub keep_dependencies: bool,
    pub renew_anon_volumes: bool,
    pub no_start: bool,
    pub remove_orphans: bool,
    /// `--scale svc=N`.
    pub scale: BTreeMap<String, u32>,
    /// Stop timeout for recreated or scaled-down containers.
    pub timeout: Option<Duration>,
    /// How long to wait for a `service_completed_successfully` dependency.
    pub wait_timeout: Option<Duration>,
    /// Set by the CLI on Ctrl-C: no new container is created or started.
    pub cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// `--all-resources`: every declared volume and network is made, not
    /// only those the selected services use.
    pub all_resources: bool,
}

impl UpOptions {
    pub(super) fn cancelled(&self) -> Result<()> {
        match &self.cancel {
            Some(c) if c.load(std::sync::atomic::Ordering::SeqCst) => Err(ExecError::Cancelled),
            _ => Ok(()),
        }
    }
}

/// Brings the project to the desired state. Returns the containers of the
/// selected services, in start order.
pub fn up(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> Result<Vec<ProjectContainer>> {
    let _lock = env.lock_project(&project.name)?;
    let graph = crate::plan::service_graph(project)?;
    let selected = graph.select(&opts.services, !opts.no_deps)?;
    let graph = graph.subgraph(&selected)?;
    for name in &selected {
        let Some(svc) = project.services.get(name) else {
            continue;
        };
        for (dep, d) in &svc.depends_on {
            // A required one cannot get here: the graph refuses it.
            if !d.required && !project.services.contains_key(dep) {
                tracing::warn!(
                    "optional dependency {dep:?} of service {name:?} is not enabled: skipped"
                );
            }
        }
    }

    let existing = project_containers(&env.containers, &project.name)?;
    let desired = desired_state(env, project, &graph, opts)?;
    let mut options = ConvergeOptions::from_flags(
        opts.force_recreate,
        opts.no_recreate,
        opts.always_recreate_deps,
        opts.remove_orphans,
        opts.no_start,
    );
    if opts.keep_dependencies {
        options.recreate_dependencies = crate::plan::converge::Recreate::Never;
    }
    let observed: Vec<ObservedContainer> = existing.iter().map(observed_container).collect();
    for action in converge(&desired, &observed, &options) {
        match &action {
            Action::WarnOrphans { containers } => tracing::warn!(
                "Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                containers.join(", ")
            ),
            Action::RemoveOrphan { container } => {
                let c = find_container(&existing, container)?;
                remove_container(env, c, false, opts.timeout, progress)?;
            }
            // Each service's actions are planned again in its turn.
            _ => {}
        }
    }

    let wanted = if opts.all_resources {
        project.services.keys().cloned().collect()
    } else {
        selected.clone()
    };
    ensure_volumes(env, project, &wanted, opts.all_resources, progress)?;
    ensure_networks(env, project, &wanted, opts.all_resources, progress)?;

    let outcome = graph.walk(false, env.parallel, |name| {
        let service = project
            .services
            .get(name)
            .ok_or_else(|| ExecError::NoSuchService {
                verb: "up",
                service: name.to_string(),
            })?;
        wait_conditions(env, project, service, opts, progress)?;
        // The plan again, from this service's containers as they are now
        // (a dependency's turn may have stopped them, `rm -f` removed one)
        // and the others' as `up` found them, so a dependency recreated in
        // this `up` still counts as recreated for its dependents.
        let mine = service_containers(env, &existing, name)?;
        let mut observed: Vec<ObservedContainer> = existing
            .iter()
            .filter(|c| c.service != name)
            .chain(&mine)
            .map(observed_container)
            .collect();
        observed.sort_by(|a, b| (&a.service, a.number).cmp(&(&b.service, b.number)));
        let actions: Vec<Action> = converge(&desired, &observed, &options)
            .into_iter()
            .filter(|a| a.service() == Some(name))
            .collect();
        apply_service(
            env, project, ctx, service, &mine, &existing, &actions, opts, progress,
        )
    });
    outcome.first_error()?;
    let all = project_containers(&env.containers, &project.name)?;
    let order = graph.start_order();
    let mut out = Vec::new();
    for s in &order {
        out.extend(all.iter().filter(|c| &c.service == s && !c.oneoff).cloned());
    }
    Ok(out)
}

/// `run SERVICE`: starts the service's dependencies (unless `--no-deps`)
/// and waits for their `depends_on` conditions, as `up` would, then
/// creates (does not start) a one-off container of the service.
pub fn create_oneoff(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    service: &str,
    run: &pc::OneOff,
    progress: &dyn Progress,
) -> Result<ProjectContainer> {
    let svc = project
        .services
        .get(service)
        .ok_or_else(|| ExecError::NoSuchService {
            verb: "run",
            service: service.to_string(),
        })?;
    if !run.no_deps {
        let deps: Vec<String> = crate::plan::service_graph(project)?
            .select(&[service.to_string()], true)?
            .into_iter()
            .filter(|s| s != service)
            .collect();
        if !deps.is_empty() {
            let opts = UpOptions {
                services: deps,
                ..UpOptions::default()
            };
            up(env, project, ctx, &opts, progress)?;
            wait_conditions(env, project, svc, &opts, progress)?;
        }
    }
    let _lock = env.lock_project(&project.name)?;
    let only = [service.to_string()];
    ensure_volumes(env, project, &only, false, progress)?;
    ensure_networks(env, project, &only, false, progress)?;
    let image = pc::image_name(project, svc)?;
    let image_record = env
        .store
        .find(&image)?
        .ok_or_else(|| ExecError::MissingImage {
            service: service.to_string(),
            image: image.clone(),
        })?;
    let slug = crate::runtime::container::random_id()?;
    let mut spec = pc::oneoff_spec(project, ctx, svc, run, &slug)?;
    add_volumes_from(env, project, svc, &mut spec)?;
    let files = pc::injected_files(project, ctx, svc)?;
    fill_volumes(env, &mut spec, &BTreeMap::new())?;
    let name = spec.name.clone();
    let record = create_container(
        env,
        Some(&name),
        &image,
        &image_record,
        spec,
        run.auto_remove,
    )
    .map_err(|e| ExecError::CreateContainer {
        service: service.to_string(),
        source: Box::new(e),
    })?;
    // `run` starts what this returns: the files go in now, as Compose's
    // run injects them before its start.
    if let Err(e) = inject_files(env, service, &record, &files) {
        let _ = control::remove(&env.containers, &env.store, &record.id, true);
        return Err(e);
    }
    Ok(ProjectContainer {
        state: env.containers.state(&record.id)?,
        service: service.to_string(),
        number: 0,
        oneoff: true,
        record,
    })
}

/// `depends_on` conditions the walker itself cannot see: a dependency
/// that must have exited 0, or must report healthy, first. An optional one
/// (`required: false`) that fails only warns, and the service goes ahead.
fn wait_conditions(
    env: &Env,
    project: &Project,
    service: &ServiceConfig,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> Result<()> {
    // A dry run starts nothing to wait for.
    if env.dry_run {
        return Ok(());
    }
    for (dep, d) in &service.depends_on {
        let healthy = match d.condition {
            DependencyCondition::ServiceCompletedSuccessfully => false,
            DependencyCondition::ServiceHealthy => true,
            _ => continue,
        };
        if !project.services.contains_key(dep) {
            continue;
        }
        match wait_dependency(env, project, service, dep, healthy, opts, progress) {
            Err(e) if !d.required && !matches!(e, ExecError::Cancelled) => {
                tracing::warn!(
                    "optional dependency {dep:?} of {:?} failed, going on without it: {e}",
                    service.name
                );
            }
            r => r?,
        }
    }
    Ok(())
}

/// Waits for every container of `dep` to be healthy (or to have exited 0).
fn wait_dependency(
    env: &Env,
    project: &Project,
    service: &ServiceConfig,
    dep: &str,
    healthy: bool,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> Result<()> {
    {
        let deadline = opts.wait_timeout.map(|t| Instant::now() + t);
        let fail = |message: String| ExecError::Service {
            service: dep.to_string(),
            message,
        };
        for c in project_containers(&env.containers, &project.name)?
            .into_iter()
            .filter(|c| c.service == dep && !c.oneoff)
        {
            let name = &c.record.name;
            progress.event(Kind::Container, name, "Waiting", false);
            // A healthcheck that has not decided by then never will (a
            // paused container, a prober that cannot run): fail, not hang.
            let verdict_by = c
                .record
                .spec
                .healthcheck
                .as_ref()
                .filter(|_| healthy)
                .map(|h| {
                    (
                        Instant::now() + crate::supervise::health::verdict_within(h),
                        h,
                    )
                });
            loop {
                opts.cancelled()?;
                let state = env.containers.state(&c.record.id)?;
                let running = state.status == Status::Running;
                let exited = !matches!(
                    state.status,
                    Status::Running | Status::Paused | Status::Created
                );
                let code = state.exit_code.unwrap_or(-1);
                if healthy {
                    match state.health.as_ref().map(|h| h.status.as_str()) {
                        Some("healthy") if running => {
                            progress.event(Kind::Container, name, "Healthy", true);
                            break;
                        }
                        Some("unhealthy") => {
                            progress.event(Kind::Container, name, "Error", true);
                            return Err(fail(format!(
                                "dependency failed to start: container {name} is unhealthy"
                            )));
                        }
                        None if running
                            && !crate::supervise::health::active(&c.record.spec.healthcheck) =>
                        {
                            return Err(fail(format!(
                                "container {name} has no healthcheck configured"
                            )));
                        }
                        _ if exited => {
                            progress.event(Kind::Container, name, "Error", true);
                            return Err(fail(format!(
                                "dependency failed to start: container {name} exited ({code})"
                            )));
                        }
                        _ => {}
                    }
                } else if exited {
                    if code != 0 {
                        progress.event(Kind::Container, name, "Error", true);
                        return Err(fail(format!(
                            "service {dep:?} didn't complete successfully: exit {code}"
                        )));
                    }
                    progress.event(Kind::Container, name, "Exited", true);
                    break;
                }
                if let Some((by, h)) = verdict_by {
                    if Instant::now() >= by {
                        progress.event(Kind::Container, name, "Error", true);
                        let secs = crate::supervise::health::verdict_within(h).as_secs();
                        return Err(fail(format!(
                            "container {name} is {} and its healthcheck gave no verdict within {secs} s (start period, then {} tries of interval + timeout)",
                            state.status.as_str(),
                            if h.retries == 0 { 3 } else { h.retries } + 1,
                        )));
                    }
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(ExecError::Service {
                        service: service.name.clone(),
                        message: format!("timed out waiting for dependency {dep:?}"),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

/// `service`'s containers (one-offs aside) among `snapshot`, the project's
/// as `up` found them, read again now. `up` holds the project's lock, so
/// no other `up` adds any; one removed since (`rm -f`) is left out. Listing
/// the whole project again for each service would read every container's
/// files once per service: 440 record and state reads for a no-op `up` of
/// 20 services.
fn service_containers(
    env: &Env,
    snapshot: &[ProjectContainer],
    service: &str,
) -> Result<Vec<ProjectContainer>> {
    let mut out = Vec::new();
    for c in snapshot
        .iter()
        .filter(|c| c.service == service && !c.oneoff)
    {
        let record = match env.containers.record(&c.record.id) {
            Ok(r) => r,
            Err(crate::runtime::container::ContainerError::NotFound(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let state = env.containers.state(&c.record.id)?;
        out.push(ProjectContainer {
            record,
            state,
            ..c.clone()
        });
    }
    Ok(out)
}

/// What `up` wants of each selected service, in start order, plus the
/// names of all the project's services (a container of any other is an
/// orphan).
fn desired_state(
    env: &Env,
    project: &Project,
    graph: &ServiceGraph,
    opts: &UpOptions,
) -> Result<Desired> {
    // Explicitly named services recreate their dependencies only when asked.
    let explicit: BTreeSet<&str> = opts.services.iter().map(String::as_str).collect();
    let mut services = Vec::new();
    for name in graph.start_order() {
        let service = project
            .services
            .get(&name)
            .ok_or_else(|| ExecError::NoSuchService {
                verb: "up",
                service: name.to_string(),
            })?;
        let replicas = opts
            .scale
            .get(&name)
            .copied()
            .unwrap_or_else(|| service.scale());
        // Not there (not pulled, no image named): creating fails later,
        // with the error that says so.
        let image_digest = match pc::image_name(project, service) {
            Ok(image) => service_image(env, &image)?.map(|r| r.id().to_string()),
            Err(_) => None,
        };
        let restart_with = service
            .depends_on
            .iter()
            .filter(|(_, d)| d.restart)
            .map(|(dep, _)| dep.clone())
            .collect();
        let shares_with = [&service.network_mode, &service.ipc, &service.pid]
            .into_iter()
            .filter_map(|mode| mode.as_deref()?.strip_prefix("service:"))
            .map(str::to_string)
            .collect();
        services.push(DesiredService {
            restart_with,
            shares_with,
            targeted: explicit.is_empty() || explicit.contains(name.as_str()),
            replicas,
            config_hash: crate::plan::config_hash(service),
            image_digest,
            name,
        });
    }
    Ok(Desired {
        project_services: project.services.keys().cloned().collect(),
        services,
    })
}

/// What converge needs to know of a container.
fn observed_container(c: &ProjectContainer) -> ObservedContainer {
    ObservedContainer {
        id: c.record.id.clone(),
        name: c.record.name.clone(),
        service: c.service.clone(),
        number: c.number,
        config_hash: c.label(pc::LABEL_HASH).map(str::to_string),
        image_digest: c.record.image_id.to_string(),
        running: c.running(),
        oneoff: c.oneoff,
    }
}

/// The container an action names, among those it was planned from.
fn find_container<'a>(
    list: &'a [ProjectContainer],
    wanted: &ObservedContainer,
) -> Result<&'a ProjectContainer> {
    list.iter()
        .find(|c| c.record.id == wanted.id)
        .ok_or_else(|| ExecError::Container(ContainerError::NotFound(wanted.id.clone())))
}

/// Applies one service's actions in order, with Compose's progress words.
/// `mine` are the service's containers the actions were planned from,
/// `snapshot` the project's as `up` found them.
#[allow(clippy::too_many_arguments)]
fn apply_service(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
    mine: &[ProjectContainer],
    snapshot: &[ProjectContainer],
    actions: &[Action],
    opts: &UpOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let image = pc::image_name(project, service)?;
    // Before any action, so a secret that cannot be written changes nothing.
    let files = pc::injected_files(project, ctx, service)?;
    for action in actions {
        let (target, start) = match action {
            // Not the services' business: handled before the walk.
            Action::WarnOrphans { .. } | Action::RemoveOrphan { .. } => continue,
            Action::ScaleDown { container } => {
                let c = find_container(mine, container)?;
                remove_container(env, c, false, opts.timeout, progress)?;
                continue;
            }
            Action::StopDependent { container, .. } => {
                let c = find_container(snapshot, container)?;
                let running = match env.containers.state(&c.record.id) {
                    Ok(state) => matches!(
                        state.status,
                        Status::Running | Status::Paused | Status::Restarting
                    ),
                    // Removed since (`rm -f`): nothing to stop.
                    Err(ContainerError::NotFound(_)) => false,
                    Err(e) => return Err(e.into()),
                };
                if running {
                    progress.event(Kind::Container, &c.record.name, "Stopping", false);
                    stop_container(env, c, opts.timeout)?;
                    progress.event(Kind::Container, &c.record.name, "Stopped", true);
                }
                continue;
            }
            Action::KeepRunning { container } => {
                opts.cancelled()?;
                progress.event(Kind::Container, &container.name, "Running", true);
                continue;
            }
            Action::KeepStopped { .. } => {
                opts.cancelled()?;
                continue;
            }
            Action::Start { container } => {
                opts.cancelled()?;
                (find_container(mine, container)?.record.clone(), true)
            }
            Action::Recreate {
                container,
                reason,
                start,
            } if env.dry_run => {
                opts.cancelled()?;
                tracing::debug!("recreating {}: {}", container.name, reason.as_str());
                progress.event(Kind::Container, &container.name, "Recreate", false);
                progress.event(Kind::Container, &container.name, "Recreated", true);
                if *start {
                    progress.event(Kind::Container, &container.name, "Starting", false);
                    progress.event(Kind::Container, &container.name, "Started", true);
                }
                continue;
            }
            Action::Create { number, start, .. } if env.dry_run => {
                opts.cancelled()?;
                let name = pc::container_name(project, service, *number);
                progress.event(Kind::Container, &name, "Creating", false);
                progress.event(Kind::Container, &name, "Created", true);
                if *start {
                    progress.event(Kind::Container, &name, "Starting", false);
                    progress.event(Kind::Container, &name, "Started", true);
                }
                continue;
            }
            Action::Recreate {
                container,
                reason,
                start,
            } => {
                opts.cancelled()?;
                let c = find_container(mine, container)?;
                tracing::debug!("recreating {}: {}", container.name, reason.as_str());
                let replica = prepare_replica(env, project, ctx, service, c.number, &image)?;
                progress.event(Kind::Container, &c.record.name, "Recreate", false);
                let old_anon = anonymous_volumes(env, &c.record.spec);
                stop_container(env, c, opts.timeout)?;
                control::remove(&env.containers, &env.store, &c.record.id, true)?;
                let keep = if opts.renew_anon_volumes {
                    for v in old_anon.values() {
                        let _ = env.volumes.remove(v, &[]);
                    }
                    BTreeMap::new()
                } else {
                    old_anon
                };
                let r = create_replica(env, replica, &keep)?;
                progress.event(Kind::Container, &r.name, "Recreated", true);
                (r, *start)
            }
            Action::Create { number, start, .. } => {
                opts.cancelled()?;
                let name = pc::container_name(project, service, *number);
                progress.event(Kind::Container, &name, "Creating", false);
                let r = create_service_container(
                    env,
                    project,
                    ctx,
                    service,
                    *number,
                    &image,
                    &BTreeMap::new(),
                )?;
                progress.event(Kind::Container, &r.name, "Created", true);
                (r, *start)
            }
        };
        if !start {
            continue;
        }
        opts.cancelled()?;
        progress.event(Kind::Container, &target.name, "Starting", false);
        if env.dry_run {
            progress.event(Kind::Container, &target.name, "Started", true);
            continue;
        }
        inject_files(env, &service.name, &target, &files)?;
        if let Err(e) = control::start_detached(&env.containers, &target.id) {
            progress.event(Kind::Container, &target.name, "Error", true);
            return Err(ExecError::StartContainer {
                service: service.name.clone(),
                container: target.name.clone(),
                source: Box::new(e),
            });
        }
        env.post_start_reported(&target, &service.name, progress)?;
    }
    Ok(())
}
