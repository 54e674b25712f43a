//! The executor: turns a loaded project into running containers (`up`) and
//! takes a project away again (`down`, `stop`, `start`, `rm`), driving the
//! layers below. Services are visited on the service graph's walker, each
//! as soon as the services it depends on are done — no level barriers.
//!
//! Everything `down`/`ps` needs is found through the containers' Compose
//! labels, so a project whose compose file changed or vanished is still
//! found whole (`down -p NAME`).

use crate::compose::types::{DependencyCondition, Project, ServiceConfig};
use crate::image::store::ImageStore;
use crate::plan::container::{self as pc, ProjectContext};
use crate::plan::graph::{Edge, EdgeKind, ServiceGraph};
use crate::runtime::container::{lock_file, ContainerRecord, ContainerState, Containers, Status};
use crate::runtime::spec::{ContainerSpec, MountSpec};
use crate::runtime::volume::{VolumeOptions, Volumes};
use crate::supervise::control;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Container(#[from] crate::runtime::container::ContainerError),
    #[error(transparent)]
    Control(#[from] Box<control::ControlError>),
    #[error(transparent)]
    Volume(#[from] crate::runtime::volume::VolumeError),
    #[error(transparent)]
    Image(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Spec(#[from] pc::SpecError),
    #[error(transparent)]
    Graph(#[from] crate::plan::graph::GraphError),
    #[error("service {service:?}: image {image:?} is not in the image store (pull it first)")]
    MissingImage { service: String, image: String },
    #[error("service {service:?}: {message}")]
    Service { service: String, message: String },
    #[error(transparent)]
    Network(#[from] Box<crate::net::attach::AttachError>),
    #[error("network {0} declared as external, but could not be found")]
    ExternalNetwork(String),
    #[error("external volume {0:?} not found")]
    ExternalVolume(String),
    #[error("canceled")]
    Cancelled,
    #[error("{what}: {message}")]
    Other { what: String, message: String },
}

pub type Result<T> = std::result::Result<T, ExecError>;

impl From<crate::net::attach::AttachError> for ExecError {
    fn from(e: crate::net::attach::AttachError) -> Self {
        ExecError::Network(Box::new(e))
    }
}

impl From<crate::net::store::StoreError> for ExecError {
    fn from(e: crate::net::store::StoreError) -> Self {
        ExecError::Network(Box::new(e.into()))
    }
}

impl From<control::ControlError> for ExecError {
    fn from(e: control::ControlError) -> Self {
        ExecError::Control(Box::new(e))
    }
}

/// What kind of object a progress line is about (Compose's first word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Container,
    Network,
    Volume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "Container",
            Kind::Network => "Network",
            Kind::Volume => "Volume",
        }
    }
}

/// Progress reaches the CLI through this, so the layers stay free of
/// terminal handling. `status` is Compose's word (`Creating`, `Started`…);
/// `done` says whether it is a final state for that object.
pub trait Progress: Sync {
    fn event(&self, kind: Kind, name: &str, status: &str, done: bool);
}

/// Progress that goes nowhere.
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _: Kind, _: &str, _: &str, _: bool) {}
}

/// The layers the executor drives, opened once per command.
pub struct Env {
    pub containers: Containers,
    pub store: ImageStore,
    pub volumes: Volumes,
    /// `builtin`, `crun`, `runc` or a path.
    pub runtime: String,
}

impl Env {
    pub fn open(root: &std::path::Path, runtime: &str) -> Result<Env> {
        Ok(Env {
            containers: Containers::open(root)?,
            store: ImageStore::open(root)?,
            volumes: Volumes::open(root)?,
            runtime: runtime.to_string(),
        })
    }

    /// Serializes commands on one project: two `up`s or an `up` and a
    /// `down` never interleave their changes.
    pub fn lock_project(&self, project: &str) -> Result<impl Drop> {
        let dir = self.containers.root().join("projects");
        std::fs::create_dir_all(&dir).map_err(|e| ExecError::Other {
            what: format!("creating {}", dir.display()),
            message: e.to_string(),
        })?;
        Ok(lock_file(&dir.join(format!("{project}.lock")))?)
    }
}

/// A container of a project, with its Compose labels read out.
#[derive(Clone, Debug)]
pub struct ProjectContainer {
    pub record: ContainerRecord,
    pub state: ContainerState,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
}

impl ProjectContainer {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.record.spec.labels.get(key).map(String::as_str)
    }

    /// Up, or between two runs of its restart policy (Docker lists both).
    pub fn running(&self) -> bool {
        matches!(self.state.status, Status::Running | Status::Restarting)
    }
}

/// Every container labelled with `project`, by service then number.
pub fn project_containers(containers: &Containers, project: &str) -> Result<Vec<ProjectContainer>> {
    let mut out = Vec::new();
    for record in containers.list_records()? {
        let labels = &record.spec.labels;
        if labels.get(pc::LABEL_PROJECT).map(String::as_str) != Some(project) {
            continue;
        }
        let state = containers.state(&record.id)?;
        out.push(ProjectContainer {
            service: labels.get(pc::LABEL_SERVICE).cloned().unwrap_or_default(),
            number: labels
                .get(pc::LABEL_NUMBER)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            oneoff: labels.get(pc::LABEL_ONEOFF).map(String::as_str) == Some("True"),
            record,
            state,
        });
    }
    out.sort_by(|a, b| {
        (&a.service, a.number, &a.record.name).cmp(&(&b.service, b.number, &b.record.name))
    });
    Ok(out)
}

/// Every project that has containers, with them.
pub fn projects(containers: &Containers) -> Result<BTreeMap<String, Vec<ProjectContainer>>> {
    let mut names = BTreeSet::new();
    for r in containers.list_records()? {
        if let Some(p) = r.spec.labels.get(pc::LABEL_PROJECT) {
            names.insert(p.clone());
        }
    }
    let mut out = BTreeMap::new();
    for n in names {
        let list = project_containers(containers, &n)?;
        out.insert(n, list);
    }
    Ok(out)
}

#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub no_deps: bool,
    pub force_recreate: bool,
    pub no_recreate: bool,
    pub always_recreate_deps: bool,
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
}

impl UpOptions {
    fn cancelled(&self) -> Result<()> {
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

    let existing = project_containers(&env.containers, &project.name)?;
    let orphans: Vec<&ProjectContainer> = existing
        .iter()
        .filter(|c| !c.oneoff && !project.services.contains_key(&c.service))
        .collect();
    if !orphans.is_empty() {
        if opts.remove_orphans {
            for o in &orphans {
                remove_container(env, o, false, opts.timeout, progress)?;
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|o| o.record.name.as_str()).collect();
            tracing::warn!(
                "Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(", ")
            );
        }
    }

    ensure_volumes(env, project, &selected, progress)?;
    ensure_networks(env, project, &selected, progress)?;

    // Explicitly named services recreate their dependencies only when asked.
    let explicit: BTreeSet<&str> = opts.services.iter().map(String::as_str).collect();
    let outcome = graph.walk(false, 0, |name| {
        let service = project.services.get(name).ok_or_else(|| ExecError::Other {
            what: "up".into(),
            message: format!("no such service: {name}"),
        })?;
        let is_dep = !explicit.is_empty() && !explicit.contains(name);
        let mut o = opts.clone();
        if is_dep && !opts.always_recreate_deps {
            o.force_recreate = false;
        }
        wait_conditions(env, project, service, &o, progress)?;
        let mine = service_containers(env, &existing, name)?;
        converge_service(env, project, ctx, service, mine, &o, progress)
    });
    if let Some((_, e)) = outcome.failed.into_iter().next() {
        return Err(e);
    }
    let all = project_containers(&env.containers, &project.name)?;
    let order = graph.start_order();
    let mut out = Vec::new();
    for s in &order {
        out.extend(all.iter().filter(|c| &c.service == s && !c.oneoff).cloned());
    }
    Ok(out)
}

/// Named volumes the selected services use: created with Compose's
/// labels; external ones must exist.
fn ensure_volumes(
    env: &Env,
    project: &Project,
    selected: &[String],
    progress: &dyn Progress,
) -> Result<()> {
    let mut used = BTreeSet::new();
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
        env.volumes.ensure(&name, VolumeOptions { labels })?;
        progress.event(Kind::Volume, &name, "Created", true);
    }
    Ok(())
}

/// The networks the selected services join: created with Compose's
/// labels; external ones must exist.
fn ensure_networks(
    env: &Env,
    project: &Project,
    selected: &[String],
    progress: &dyn Progress,
) -> Result<()> {
    let mut used = BTreeSet::new();
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
        crate::net::attach::create_network(env.containers.root(), &opts)?;
        progress.event(Kind::Network, &opts.name, "Created", true);
    }
    Ok(())
}

/// `depends_on` conditions the walker itself cannot see: a dependency
/// that must have exited 0, or must report healthy, first.
fn wait_conditions(
    env: &Env,
    project: &Project,
    service: &ServiceConfig,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> Result<()> {
    for (dep, d) in &service.depends_on {
        let healthy = match d.condition {
            DependencyCondition::ServiceCompletedSuccessfully => false,
            DependencyCondition::ServiceHealthy => true,
            _ => continue,
        };
        if !project.services.contains_key(dep) {
            continue;
        }
        let deadline = opts.wait_timeout.map(|t| Instant::now() + t);
        let fail = |message: String| ExecError::Service {
            service: dep.clone(),
            message,
        };
        for c in project_containers(&env.containers, &project.name)?
            .into_iter()
            .filter(|c| &c.service == dep && !c.oneoff)
        {
            let name = &c.record.name;
            progress.event(Kind::Container, name, "Waiting", false);
            loop {
                opts.cancelled()?;
                let state = env.containers.state(&c.record.id)?;
                let running = state.status == Status::Running;
                let exited = !running && state.status != Status::Created;
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

/// One service to its desired replicas: create what is missing, recreate
/// what changed, start what is stopped, remove the surplus.
fn converge_service(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
    existing: Vec<ProjectContainer>,
    opts: &UpOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let replicas = opts
        .scale
        .get(&service.name)
        .copied()
        .unwrap_or_else(|| service.scale());
    let hash = crate::plan::config_hash(service);
    // Surplus replicas go first, highest number first, as Compose does.
    for c in existing.iter().rev().filter(|c| c.number > replicas) {
        remove_container(env, c, false, opts.timeout, progress)?;
    }
    let image = pc::image_name(project, service)?;
    for number in 1..=replicas {
        opts.cancelled()?;
        let current = existing.iter().find(|c| c.number == number);
        let target = match current {
            Some(c) => {
                let changed = c.label(pc::LABEL_HASH) != Some(hash.as_str());
                if (changed || opts.force_recreate) && !opts.no_recreate {
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
                    let r = create_service_container(
                        env, project, ctx, service, number, &image, &keep,
                    )?;
                    progress.event(Kind::Container, &r.name, "Recreated", true);
                    r
                } else if c.running() {
                    progress.event(Kind::Container, &c.record.name, "Running", true);
                    continue;
                } else {
                    c.record.clone()
                }
            }
            None => {
                let name = pc::container_name(project, service, number);
                progress.event(Kind::Container, &name, "Creating", false);
                let r = create_service_container(
                    env,
                    project,
                    ctx,
                    service,
                    number,
                    &image,
                    &BTreeMap::new(),
                )?;
                progress.event(Kind::Container, &r.name, "Created", true);
                r
            }
        };
        if opts.no_start {
            continue;
        }
        opts.cancelled()?;
        progress.event(Kind::Container, &target.name, "Starting", false);
        if let Err(e) = control::start_detached(&env.containers, &target.id) {
            progress.event(Kind::Container, &target.name, "Error", true);
            return Err(ExecError::Service {
                service: service.name.clone(),
                message: format!("starting {}: {e}", target.name),
            });
        }
        progress.event(Kind::Container, &target.name, "Started", true);
    }
    Ok(())
}

/// Anonymous volumes of a spec, by target: kept across a recreate, as
/// Compose keeps them, so data in `VOLUME` paths survives `up`.
fn anonymous_volumes(env: &Env, spec: &ContainerSpec) -> BTreeMap<String, String> {
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

fn create_service_container(
    env: &Env,
    project: &Project,
    ctx: &ProjectContext,
    service: &ServiceConfig,
    number: u32,
    image: &str,
    keep_anon: &BTreeMap<String, String>,
) -> Result<ContainerRecord> {
    let record = env
        .store
        .resolve(image)?
        .ok_or_else(|| ExecError::MissingImage {
            service: service.name.clone(),
            image: image.to_string(),
        })?;
    let mut spec = pc::container_spec(project, ctx, service, number)?;
    fill_volumes(env, &mut spec, keep_anon)?;
    let name = spec.name.clone();
    create_container(env, Some(&name), image, &record, spec, false).map_err(|e| {
        ExecError::Service {
            service: service.name.clone(),
            message: e.to_string(),
        }
    })
}

/// Named volumes get their directory; anonymous ones a fresh volume (or
/// the one the previous container of this replica had).
fn fill_volumes(
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
    let config = crate::supervise::monitor::image_config(&env.store, image)?;
    if spec.stop_signal.is_none() {
        spec.stop_signal = config.stop_signal().clone();
    }
    if spec.healthcheck.is_none() {
        spec.healthcheck = crate::supervise::monitor::image_healthcheck(&env.store, image);
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
    Ok(record)
}

fn stop_container(env: &Env, c: &ProjectContainer, timeout: Option<Duration>) -> Result<()> {
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
    control::remove(&env.containers, &env.store, &c.record.id, true)?;
    if volumes {
        for v in anonymous_volumes(env, &c.record.spec).values() {
            env.volumes.remove(v, &[])?;
        }
    }
    progress.event(Kind::Container, &c.record.name, "Removed", true);
    Ok(())
}

/// The project's services as a graph rebuilt from the containers' labels
/// (`com.docker.compose.depends_on`), so stop order holds without the
/// compose file.
fn graph_from_labels(list: &[ProjectContainer]) -> Result<ServiceGraph> {
    let services: BTreeSet<String> = list.iter().map(|c| c.service.clone()).collect();
    let mut edges = Vec::new();
    let mut seen = BTreeSet::new();
    for c in list {
        if !seen.insert(c.service.clone()) {
            continue;
        }
        for dep in c
            .label(pc::LABEL_DEPENDS_ON)
            .unwrap_or("")
            .split(',')
            .filter(|d| !d.is_empty())
        {
            let dep = dep.split(':').next().unwrap_or(dep);
            if services.contains(dep) && dep != c.service {
                edges.push(Edge::new(c.service.clone(), dep, EdgeKind::Links));
            }
        }
    }
    Ok(ServiceGraph::new(services, edges)?)
}

#[derive(Clone, Debug, Default)]
pub struct DownOptions {
    /// Also remove named volumes of the project and anonymous volumes.
    pub volumes: bool,
    pub timeout: Option<Duration>,
    /// Only these services (empty: all). `down` itself takes all.
    pub services: Vec<String>,
}

/// Applies `f` to the project's containers service by service, dependents
/// before their dependencies, containers of one service in parallel.
fn reverse_walk(
    list: &[ProjectContainer],
    services: &[String],
    f: &(dyn Fn(&ProjectContainer) -> Result<()> + Sync),
) -> Result<()> {
    let graph = graph_from_labels(list)?;
    let outcome = graph.walk(true, 0, |service| -> Result<()> {
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            return Ok(());
        }
        let mine: Vec<&ProjectContainer> = list.iter().filter(|c| c.service == service).collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = mine.iter().map(|c| s.spawn(move || f(c))).collect();
            let mut first = Ok(());
            for h in handles {
                let r = h.join().unwrap_or_else(|_| {
                    Err(ExecError::Other {
                        what: service.to_string(),
                        message: "a worker panicked".into(),
                    })
                });
                if first.is_ok() {
                    first = r;
                }
            }
            first
        })
    });
    match outcome.failed.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
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
    let list = project_containers(&env.containers, project)?;
    reverse_walk(&list, &[], &|c| {
        remove_container(env, c, opts.volumes, opts.timeout, progress)
    })?;
    let store = crate::net::store::Networks::open(env.containers.root())?;
    for n in store.list()? {
        if n.labels.get(pc::LABEL_PROJECT).map(String::as_str) == Some(project) {
            progress.event(Kind::Network, &n.name, "Removing", false);
            crate::net::attach::remove_network(env.containers.root(), &n.id)?;
            progress.event(Kind::Network, &n.name, "Removed", true);
        }
    }
    if opts.volumes {
        let mut names: BTreeSet<String> = declared_volumes.iter().cloned().collect();
        for v in env.volumes.list()? {
            if v.labels.get(pc::LABEL_PROJECT).map(String::as_str) == Some(project) {
                names.insert(v.name);
            }
        }
        for n in names {
            if env.volumes.get(&n)?.is_some() {
                progress.event(Kind::Volume, &n, "Removing", false);
                env.volumes.remove(&n, &[])?;
                progress.event(Kind::Volume, &n, "Removed", true);
            }
        }
    }
    Ok(())
}

/// `stop [SERVICE…]`: dependents first.
pub fn stop(
    env: &Env,
    project: &str,
    services: &[String],
    timeout: Option<Duration>,
    progress: &dyn Progress,
) -> Result<()> {
    let list = project_containers(&env.containers, project)?;
    reverse_walk(&list, services, &|c| {
        if c.running() {
            progress.event(Kind::Container, &c.record.name, "Stopping", false);
            stop_container(env, c, timeout)?;
            progress.event(Kind::Container, &c.record.name, "Stopped", true);
        }
        Ok(())
    })
}

/// `start [SERVICE…]`: existing containers, dependencies first.
pub fn start(env: &Env, project: &str, services: &[String], progress: &dyn Progress) -> Result<()> {
    let list = project_containers(&env.containers, project)?;
    let graph = graph_from_labels(&list)?;
    let outcome = graph.walk(false, 0, |service| -> Result<()> {
        if !services.is_empty() && !services.iter().any(|s| s == service) {
            return Ok(());
        }
        for c in list.iter().filter(|c| c.service == service && !c.oneoff) {
            if !c.running() {
                progress.event(Kind::Container, &c.record.name, "Starting", false);
                control::start_detached(&env.containers, &c.record.id)?;
                progress.event(Kind::Container, &c.record.name, "Started", true);
            }
        }
        Ok(())
    });
    match outcome.failed.into_iter().next() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Where a project's compose files were, from its containers' labels.
pub fn project_origin(list: &[ProjectContainer]) -> Option<(PathBuf, Vec<PathBuf>)> {
    let c = list.first()?;
    let dir = PathBuf::from(c.label(pc::LABEL_WORKING_DIR)?);
    let files = c
        .label(pc::LABEL_CONFIG_FILES)
        .unwrap_or("")
        .split(',')
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .collect();
    Some((dir, files))
}
