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
use crate::runtime::bundle::ExecOptions;
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
    /// Compose's words for a lifecycle hook that failed.
    #[error("{service} hook exited with status {code}")]
    Hook { service: String, code: i32 },
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
    Image,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "Container",
            Kind::Network => "Network",
            Kind::Volume => "Volume",
            Kind::Image => "Image",
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
    /// Lifecycle hooks by service. Only known with the compose file at
    /// hand: a project found by its labels alone runs none, as in Compose.
    pub hooks: BTreeMap<String, ServiceHooks>,
}

/// A service's `post_start` and `pre_stop` hooks, ready to exec.
#[derive(Clone, Debug, Default)]
pub struct ServiceHooks {
    pub post_start: Vec<ExecOptions>,
    pub pre_stop: Vec<ExecOptions>,
}

/// How long a hook may run. Compose sets no limit; a day keeps a hung
/// hook from holding a `down` forever.
const HOOK_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Env {
    pub fn open(root: &std::path::Path, runtime: &str) -> Result<Env> {
        Ok(Env {
            containers: Containers::open(root)?,
            store: ImageStore::open(root)?,
            volumes: Volumes::open(root)?,
            runtime: runtime.to_string(),
            hooks: BTreeMap::new(),
        })
    }

    /// The project's lifecycle hooks, for the verbs that start and stop.
    pub fn with_hooks(mut self, project: &Project) -> Env {
        self.hooks = project
            .services
            .iter()
            .filter(|(_, s)| !s.post_start.is_empty() || !s.pre_stop.is_empty())
            .map(|(name, s)| {
                let hooks = ServiceHooks {
                    post_start: s.post_start.iter().map(pc::hook_exec).collect(),
                    pre_stop: s.pre_stop.iter().map(pc::hook_exec).collect(),
                };
                (name.clone(), hooks)
            })
            .collect();
        self
    }

    /// Runs hooks in a running container, one after the other, like
    /// `exec`; the first that fails ends the run with Compose's error.
    fn run_hooks(
        &self,
        service: &str,
        record: &ContainerRecord,
        hooks: &[ExecOptions],
    ) -> Result<()> {
        if hooks.is_empty() {
            return Ok(());
        }
        // The exec'd process is re-parented to us once the runtime returns.
        crate::runtime::oci_cli::become_subreaper().map_err(|e| ExecError::Other {
            what: format!("running the hooks of {}", record.name),
            message: e.to_string(),
        })?;
        for hook in hooks {
            let mut opts = hook.clone();
            opts.group_add = record.spec.group_add.clone();
            let (code, output) =
                control::exec_captured(&self.containers, &record.id, &opts, HOOK_TIMEOUT)?;
            for line in output.lines() {
                tracing::info!("{} -> | {line}", record.name);
            }
            if code != 0 {
                for line in output.lines() {
                    tracing::warn!("{} -> | {line}", record.name);
                }
                return Err(ExecError::Hook {
                    service: service.to_string(),
                    code,
                });
            }
        }
        Ok(())
    }

    /// Runs a started container's `post_start` hooks. Compose reports a
    /// container started once its hooks have run; a failed hook fails the
    /// command and leaves the container running.
    fn post_start_reported(
        &self,
        c: &ContainerRecord,
        service: &str,
        progress: &dyn Progress,
    ) -> Result<()> {
        let ran = match self.hooks.get(service) {
            Some(h) => self.run_hooks(service, c, &h.post_start),
            None => Ok(()),
        };
        let status = if ran.is_ok() { "Started" } else { "Error" };
        progress.event(Kind::Container, &c.name, status, true);
        ran
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

    /// Up (paused counts: its processes exist), or between two runs of its
    /// restart policy (Docker lists all three as running).
    pub fn running(&self) -> bool {
        matches!(
            self.state.status,
            Status::Running | Status::Paused | Status::Restarting
        )
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
        .ok_or_else(|| ExecError::Other {
            what: "run".into(),
            message: format!("no such service: {service}"),
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
    ensure_volumes(env, project, &only, progress)?;
    ensure_networks(env, project, &only, progress)?;
    let image = pc::image_name(project, svc)?;
    let image_record = env
        .store
        .resolve(&image)?
        .ok_or_else(|| ExecError::MissingImage {
            service: service.to_string(),
            image: image.clone(),
        })?;
    let slug = crate::runtime::container::random_id()?;
    let mut spec = pc::oneoff_spec(project, ctx, svc, run, &slug)?;
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
    .map_err(|e| ExecError::Service {
        service: service.to_string(),
        message: e.to_string(),
    })?;
    Ok(ProjectContainer {
        state: env.containers.state(&record.id)?,
        service: service.to_string(),
        number: 0,
        oneoff: true,
        record,
    })
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
/// that must have exited 0, or must report healthy, first. An optional one
/// (`required: false`) that fails only warns, and the service goes ahead.
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
        env.post_start_reported(&target, &service.name, progress)?;
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
    // A short name (`proj-app`) is stored in full (`docker.io/library/…`).
    let record = env
        .store
        .find(image)?
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
fn stop_container(env: &Env, c: &ProjectContainer, timeout: Option<Duration>) -> Result<()> {
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
    /// `--rmi`: these images, once the containers are gone.
    pub images: Vec<String>,
    pub timeout: Option<Duration>,
    /// Only these services (empty: all). `down` itself takes all.
    pub services: Vec<String>,
    /// Also one-off (`run`) containers. Compose's `down` takes them only
    /// with `--remove-orphans`.
    pub remove_orphans: bool,
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
    outcome.first_error()
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
    reverse_walk(&list, &[], &|c| {
        remove_container(env, c, opts.volumes, opts.timeout, progress)
    })?;
    let store = crate::net::store::Networks::open(env.containers.root())?;
    for n in store.list()? {
        if n.labels.get(pc::LABEL_PROJECT).map(String::as_str) == Some(project) {
            progress.event(Kind::Network, &n.name, "Removing", false);
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
        let left = project_containers(&env.containers, project)?;
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
                env.volumes.remove(&n, &[])?;
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

/// `restart [SERVICE…]`, as Compose: the services named (all by default)
/// and, transitively, every service that depends on one of them with
/// `restart: true`; dependencies first. Each container runs its
/// `pre_stop` hooks, is stopped and started again (stopped ones too), then
/// runs its `post_start` hooks.
pub fn restart(
    env: &Env,
    project: &str,
    services: &[String],
    timeout: Option<Duration>,
    progress: &dyn Progress,
) -> Result<()> {
    let list: Vec<ProjectContainer> = project_containers(&env.containers, project)?
        .into_iter()
        .filter(|c| !c.oneoff)
        .collect();
    let chosen = restart_set(&list, services);
    let graph = graph_from_labels(&list)?;
    let outcome = graph.walk(false, 0, |service| -> Result<()> {
        if !chosen.contains(service) {
            return Ok(());
        }
        for c in list.iter().filter(|c| c.service == service) {
            progress.event(Kind::Container, &c.record.name, "Restarting", false);
            let state = env.containers.state(&c.record.id)?;
            if matches!(
                state.status,
                Status::Running | Status::Paused | Status::Restarting
            ) {
                stop_container(env, c, timeout)?;
            }
            control::start_detached(&env.containers, &c.record.id)?;
            env.post_start_reported(&c.record, service, progress)?;
        }
        Ok(())
    });
    outcome.first_error()
}

/// The services a restart of `services` takes: those, plus whoever
/// depends on one of them with `restart: true` (read from the
/// `depends_on` label, `svc:condition:restart`), transitively.
fn restart_set(list: &[ProjectContainer], services: &[String]) -> BTreeSet<String> {
    let all: BTreeSet<String> = list.iter().map(|c| c.service.clone()).collect();
    if services.is_empty() {
        return all;
    }
    let mut restart_edges: Vec<(String, String)> = Vec::new();
    for c in list {
        for dep in c
            .label(pc::LABEL_DEPENDS_ON)
            .unwrap_or("")
            .split(',')
            .filter(|d| !d.is_empty())
        {
            let mut parts = dep.split(':');
            let (Some(to), _, Some("true")) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            restart_edges.push((c.service.clone(), to.to_string()));
        }
    }
    let mut chosen: BTreeSet<String> = services.iter().cloned().collect();
    loop {
        let before = chosen.len();
        for (from, to) in &restart_edges {
            if chosen.contains(to) {
                chosen.insert(from.clone());
            }
        }
        if chosen.len() == before {
            return chosen;
        }
    }
}

/// `pause`/`unpause [SERVICE…]`: every running (or paused) container of
/// the services, with Compose's progress words.
pub fn pause(
    env: &Env,
    project: &str,
    services: &[String],
    freeze: bool,
    progress: &dyn Progress,
) -> Result<()> {
    for c in project_containers(&env.containers, project)? {
        if !services.is_empty() && !services.contains(&c.service) {
            continue;
        }
        let wanted = if freeze {
            Status::Running
        } else {
            Status::Paused
        };
        if c.state.status != wanted {
            continue;
        }
        if freeze {
            control::pause(&env.containers, &c.record.id)?;
            progress.event(Kind::Container, &c.record.name, "Paused", true);
        } else {
            control::unpause(&env.containers, &c.record.id)?;
            progress.event(Kind::Container, &c.record.name, "Unpaused", true);
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
                env.post_start_reported(&c.record, service, progress)?;
            }
        }
        Ok(())
    });
    outcome.first_error()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn container(service: &str, image: &str, depends_on: &str) -> ProjectContainer {
        let mut spec = ContainerSpec::default();
        spec.labels
            .insert(pc::LABEL_DEPENDS_ON.into(), depends_on.into());
        ProjectContainer {
            record: ContainerRecord {
                id: format!("{service:0>64}"),
                name: format!("demo-{service}-1"),
                created: String::new(),
                image: image.into(),
                image_id: crate::image::digest::Digest::sha256_of(image.as_bytes()),
                spec,
                runtime: "builtin".into(),
                auto_remove: false,
            },
            state: ContainerState::default(),
            service: service.into(),
            number: 1,
            oneoff: false,
        }
    }

    #[test]
    fn restart_takes_dependents_with_restart_true_transitively() {
        let list = [
            container("db", "busybox", ""),
            container("api", "busybox", "db:service_healthy:true"),
            container(
                "web",
                "busybox",
                "api:service_started:true,cache:service_started:false",
            ),
            container("cache", "busybox", ""),
            container("worker", "busybox", "db:service_started:false"),
        ];
        let set = |s: &[&str]| -> Vec<String> {
            let names: Vec<String> = s.iter().map(|n| n.to_string()).collect();
            restart_set(&list, &names).into_iter().collect()
        };
        assert_eq!(set(&["db"]), ["api", "db", "web"]);
        assert_eq!(set(&["cache"]), ["cache"]);
        assert_eq!(set(&["worker"]), ["worker"]);
        assert_eq!(set(&[]).len(), 5);
    }

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
