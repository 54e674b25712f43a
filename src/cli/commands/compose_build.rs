//! Compose's side of building: `wharf build [SERVICE…]` in a project, and
//! the builds `up`, `create` and `run` do first (`--build`, `--no-build`,
//! missing images, `pull_policy: build`). `plan::build` decides what to
//! build; each build runs through `build::builder` with the same host as
//! `wharf build PATH` (cli/commands/build.rs). Builds run in parallel,
//! a bounded number at a time; services with the same build definition
//! share one build.

use super::build::{key_values, kill_running_steps, Host, RunOptions};
use super::common::open_store;
use crate::build::builder::{self, BuildRequest, NamedContext};
use crate::build::progress::{BuildProgress, StepName};
use crate::cli::args::build::BuildArgs;
use crate::cli::progress::{BuildProgressMode, DRY_RUN_PREFIX};
use crate::cli::resolve::Settings;
use crate::compose::load::Loaded;
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::image::store::{ImageRecord, ImageStore};
use crate::plan::build::{AdditionalContext, BuildJob, BuildOverrides, DockerfileSource, UpBuild};
use anyhow::{bail, Context as _};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How many images build at once: RUN steps are containers, and a build
/// is mostly CPU-bound.
const PARALLEL_BUILDS: usize = 4;

/// How a set of services is built.
#[derive(Clone, Debug, Default)]
pub struct ComposeBuildOptions {
    /// `--no-cache`, `--pull`, `--build-arg`.
    pub overrides: BuildOverrides,
    /// `-q`: no build progress.
    pub quiet: bool,
    /// `--push`: push the images of services that name one.
    pub push: bool,
    /// `--with-dependencies`: the named services' dependencies too.
    pub with_dependencies: bool,
}

/// One image built.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    /// The services it serves (several share a build definition).
    pub services: Vec<String>,
    pub image: ImageRecord,
    pub tags: Vec<String>,
}

/// Builds the images of `services` of the project (every service with a
/// `build:` section when empty), in parallel, each build definition once.
/// `cancelled` is polled: once it says yes, the RUN steps are killed and
/// the builds fail (the caller owns the signals). The entry point for
/// other verbs (watch's rebuild): after it, recreating the services'
/// containers (`up` with force-recreate) runs the new image.
pub fn build_services(
    settings: &Settings,
    loaded: &Loaded,
    services: &[String],
    opts: &ComposeBuildOptions,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<Vec<BuiltImage>> {
    let jobs = jobs_for(loaded, services, opts)?;
    let built = run_jobs(settings, &jobs, opts.quiet, cancelled)?;
    if opts.push {
        push_built(settings, loaded, &built)?;
    }
    Ok(built)
}

/// The builds `services` need, warnings printed.
fn jobs_for(
    loaded: &Loaded,
    services: &[String],
    opts: &ComposeBuildOptions,
) -> anyhow::Result<Vec<BuildJob>> {
    let project = &loaded.project;
    for s in services {
        if !project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let selected: Vec<String> = if services.is_empty() {
        project.services.keys().cloned().collect()
    } else if opts.with_dependencies {
        crate::plan::service_graph(project)?.select(services, true)?
    } else {
        services.to_vec()
    };
    let builds = crate::plan::build::service_builds(
        project,
        &loaded.model,
        &selected,
        &opts.overrides,
        &is_native,
    )?;
    for b in &builds {
        for w in &b.warnings {
            tracing::warn!("{w}");
        }
    }
    Ok(crate::plan::build::build_jobs(&builds))
}

/// Whether a compose `platform`/`platforms` string is this machine's.
fn is_native(platform: &str) -> bool {
    Platform::parse(platform).is_ok_and(|p| p.matches(&Platform::host()))
}

/// `up --build` / `--no-build` / neither: when `up` builds.
pub fn up_build(build: bool, no_build: bool) -> crate::plan::build::UpBuild {
    use crate::plan::build::UpBuild;
    match (build, no_build) {
        (true, _) => UpBuild::Always,
        (false, true) => UpBuild::Never,
        (false, false) => UpBuild::Missing,
    }
}

/// This machine, as the compose checks ask about it.
struct ThisHost;

impl crate::compose::runtime_keys::Host for ThisHost {
    fn log_driver_missing(&self, driver: &str, address: Option<&str>) -> Option<String> {
        crate::runtime::log_forward::host_missing(driver, address)
    }

    fn platform_missing(&self, platform: &str) -> Option<String> {
        match Platform::parse(platform) {
            Ok(p) => p.runnable_here().err(),
            Err(e) => Some(e.to_string()),
        }
    }

    fn blkio_weight_discarded(&self, per_device: bool) -> Option<&'static str> {
        use crate::runtime::bundle;
        let (weight, weight_device) = bundle::blkio_weights();
        match per_device {
            false => (!weight).then_some(bundle::BLKIO_WEIGHT_DISCARDED),
            true => (!weight_device).then_some(bundle::BLKIO_WEIGHT_DEVICE_DISCARDED),
        }
    }
}

/// What `up`, `create` and `run SERVICE` do first, before any pull: refuse
/// (or warn about, with file, line and key) what they cannot apply, then
/// build the images `mode` says to.
pub fn prepare_services(
    settings: &Settings,
    loaded: &Loaded,
    selected: &[String],
    mode: UpBuild,
    quiet: bool,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<()> {
    let unapplied = crate::compose::runtime_keys::check(&loaded.model, selected, &ThisHost)?;
    // GPUs and CDI devices this host lacks, before anything is made.
    for service in loaded.project.services.values() {
        if selected.is_empty() || selected.contains(&service.name) {
            crate::plan::container::device_edits(service)
                .map_err(|e| located_device_error(&loaded.model, &service.name, e))?;
        }
    }
    crate::cli::resolve::print_warnings(&unapplied);
    build_for_up(settings, loaded, selected, mode, quiet, cancelled)
}

/// A device refusal of the planner, with the file and line of the
/// service key that asked for the device (the model keeps positions).
fn located_device_error(
    model: &crate::compose::yaml::Node,
    service: &str,
    e: crate::plan::container::SpecError,
) -> anyhow::Error {
    let crate::plan::container::SpecError::Device { key, message, .. } = &e else {
        return e.into();
    };
    let mut node = model.get("services").and_then(|s| s.get(service));
    for k in key.split('.') {
        node = node.and_then(|n| n.get(k));
    }
    match node {
        Some(n) => crate::compose::error::LoadError::invalid(
            &n.pos,
            format!("services.{service}.{key}"),
            message.clone(),
        )
        .into(),
        None => e.into(),
    }
}

/// Before `up`, `create` and `run`: builds the images of the `selected`
/// services that `mode` asks for (by default the missing ones and those of
/// `pull_policy: build`). `cancelled` is polled so Ctrl-C stops a build
/// (the caller owns the signals).
pub fn build_for_up(
    settings: &Settings,
    loaded: &Loaded,
    selected: &[String],
    mode: UpBuild,
    quiet: bool,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<()> {
    let project = &loaded.project;
    let builds = crate::plan::build::service_builds(
        project,
        &loaded.model,
        selected,
        &BuildOverrides::default(),
        &is_native,
    )?;
    if builds.is_empty() || mode == UpBuild::Never {
        return Ok(());
    }
    let store = open_store(settings)?;
    let mut present = BTreeSet::new();
    for b in &builds {
        if store.find(&b.image)?.is_some() {
            present.insert(b.image.clone());
        }
    }
    let chosen: Vec<_> =
        crate::plan::build::builds_for_up(project, &builds, mode, &|i| present.contains(i))
            .into_iter()
            .cloned()
            .collect();
    if chosen.is_empty() {
        return Ok(());
    }
    for b in &chosen {
        for w in &b.warnings {
            tracing::warn!("{w}");
        }
    }
    let jobs = crate::plan::build::build_jobs(&chosen);
    run_jobs(settings, &jobs, quiet, cancelled)?;
    Ok(())
}

/// Runs the builds; once `cancelled` says yes, their RUN steps are killed.
fn run_jobs(
    settings: &Settings,
    jobs: &[BuildJob],
    quiet: bool,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> anyhow::Result<Vec<BuiltImage>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    if settings.dry_run {
        // Nothing is built: each image is named as it would be.
        for job in jobs {
            for image in &job.spec.tags {
                eprintln!("{DRY_RUN_PREFIX} Image {image}  Building");
                eprintln!("{DRY_RUN_PREFIX} Image {image}  Built");
            }
        }
        return Ok(Vec::new());
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let running: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                if cancelled() {
                    interrupted.store(true, Ordering::SeqCst);
                    let root = settings.root().to_path_buf();
                    let running = Arc::clone(&running);
                    // Detached: it kills RUN containers until the process ends.
                    std::thread::spawn(move || kill_running_steps(&root, &running));
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let result = run_parallel(settings, jobs, quiet, &interrupted, &running);
        done.store(true, Ordering::SeqCst);
        result
    })
}

/// The jobs in waves: a job whose `service:` contexts name services that
/// other jobs build comes in a later wave than those jobs.
fn waves(jobs: &[BuildJob]) -> Vec<Vec<usize>> {
    let mut level: Vec<Option<usize>> = vec![None; jobs.len()];
    // Every pass settles at least one job (plan::build refuses cycles).
    for _ in 0..jobs.len() {
        for i in 0..jobs.len() {
            if level[i].is_some() {
                continue;
            }
            let mut deepest = Some(0);
            for c in jobs[i].spec.additional_contexts.values() {
                let AdditionalContext::Service { service, .. } = c else {
                    continue;
                };
                let Some(j) = jobs.iter().position(|j| j.services.contains(service)) else {
                    continue;
                };
                deepest = match (deepest, level[j]) {
                    (Some(d), Some(l)) => Some(d.max(l + 1)),
                    _ => None,
                };
            }
            level[i] = deepest;
        }
    }
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, l) in level.into_iter().enumerate() {
        let l = l.unwrap_or(0);
        if out.len() <= l {
            out.resize(l + 1, Vec::new());
        }
        out[l].push(i);
    }
    out
}

/// Runs the builds, [`PARALLEL_BUILDS`] at a time, wave by wave (a build
/// whose `service:` context another builds waits for it). Every build of
/// a wave runs to its end; the first failure (in job order) is the error.
fn run_parallel(
    settings: &Settings,
    jobs: &[BuildJob],
    quiet: bool,
    interrupted: &Arc<AtomicBool>,
    running: &Arc<Mutex<Vec<String>>>,
) -> anyhow::Result<Vec<BuiltImage>> {
    let store = open_store(settings)?;
    let progress = crate::cli::progress::build_progress(if quiet {
        BuildProgressMode::Quiet
    } else {
        BuildProgressMode::Plain
    });
    let numbers = StepNumbers::default();
    // --parallel (COMPOSE_PARALLEL_LIMIT) lowers the number of builds at once.
    let limit = match settings.parallel {
        0 => PARALLEL_BUILDS,
        n => n.min(PARALLEL_BUILDS),
    };
    let mut built = Vec::new();
    // The images built so far, by service: what `service:` contexts use.
    let mut images: BTreeMap<String, ImageRecord> = BTreeMap::new();
    for wave in waves(jobs) {
        let next = AtomicUsize::new(0);
        let results: Mutex<BTreeMap<usize, anyhow::Result<BuiltImage>>> =
            Mutex::new(BTreeMap::new());
        let images_now = &images;
        std::thread::scope(|scope| {
            for _ in 0..limit.min(wave.len()) {
                scope.spawn(|| loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&i) = wave.get(n) else { break };
                    let job = &jobs[i];
                    let job_progress = ServiceProgress {
                        inner: progress.as_ref(),
                        service: job.services.join(", "),
                        numbers: &numbers,
                        job: i,
                    };
                    let result = run_job(
                        settings,
                        &store,
                        job,
                        images_now,
                        &job_progress,
                        interrupted,
                        running,
                    );
                    if let Ok(mut r) = results.lock() {
                        r.insert(i, result);
                    }
                });
            }
        });
        let results = results
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a build thread panicked"))?;
        if interrupted.load(Ordering::SeqCst) {
            bail!("build interrupted");
        }
        for (_, r) in results {
            let b = r?;
            if !quiet {
                for s in &b.services {
                    eprintln!(" {s} Built {}", b.image.id());
                }
            }
            for s in &b.services {
                images.insert(s.clone(), b.image.clone());
            }
            built.push(b);
        }
    }
    Ok(built)
}

/// A job's named contexts for the builder: directories checked, `service:`
/// ones the image just built (else the one in the store).
fn named_contexts(
    store: &ImageStore,
    spec: &crate::plan::build::BuildSpec,
    images: &BTreeMap<String, ImageRecord>,
) -> anyhow::Result<BTreeMap<String, NamedContext>> {
    let mut out = BTreeMap::new();
    for (name, c) in &spec.additional_contexts {
        let context = match c {
            AdditionalContext::Dir(dir) => {
                super::build::named_context(name, &dir.to_string_lossy())
                    .with_context(|| format!("additional_contexts {name}"))?
            }
            AdditionalContext::Image(image) => {
                super::build::named_context(name, &format!("docker-image://{image}"))
                    .with_context(|| format!("additional_contexts {name}"))?
            }
            AdditionalContext::Service { service, image } => match images.get(service) {
                Some(r) => NamedContext::Stored(Box::new(r.clone())),
                None => NamedContext::Stored(Box::new(store.find(image)?.with_context(|| {
                    format!(
                        "additional_contexts {name}: service {service}'s image {image} is not built"
                    )
                })?)),
            },
        };
        out.insert(crate::build::stages::context_key(name), context);
    }
    Ok(out)
}

/// One build: reads its Dockerfile and drives the builder.
fn run_job(
    settings: &Settings,
    store: &ImageStore,
    job: &BuildJob,
    images: &BTreeMap<String, ImageRecord>,
    progress: &dyn BuildProgress,
    interrupted: &Arc<AtomicBool>,
    running: &Arc<Mutex<Vec<String>>>,
) -> anyhow::Result<BuiltImage> {
    let spec = &job.spec;
    let services = job.services.join(", ");
    let what = || format!("building service {services}");
    if !spec.context.is_dir() {
        bail!(
            "{}: build context {}: not a directory",
            what(),
            spec.context.display()
        );
    }
    let (text, dockerfile_name, dockerfile_path) = match &spec.dockerfile {
        DockerfileSource::Inline(text) => (text.clone(), "Dockerfile".to_string(), None),
        DockerfileSource::File(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("{}: reading the Dockerfile {}", what(), path.display())
            })?;
            let name = dockerfile_display(&spec.context, path);
            (text, name, Some(path.clone()))
        }
    };
    let dockerfile = crate::build::dockerfile::parse(&text, &dockerfile_name).with_context(what)?;
    let mut tags = Vec::new();
    for t in &spec.tags {
        let r = Reference::parse(t).with_context(|| format!("{}: invalid tag {t:?}", what()))?;
        tags.push(r.to_string());
    }
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => Some(
            v.parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH {v:?}: not a number of seconds"))?,
        ),
        _ => None,
    };
    let req = BuildRequest {
        dockerfile,
        dockerfile_name,
        dockerfile_path,
        context: spec.context.clone(),
        target: spec.target.clone(),
        build_args: spec.build_args.clone(),
        labels: spec.labels.clone(),
        tags: tags.clone(),
        no_cache: spec.no_cache,
        source_date_epoch,
        platform: Platform::host(),
        secrets: spec.secrets.clone(),
        no_cache_filter: Vec::new(),
        ssh: super::build::parse_ssh(&spec.ssh).with_context(what)?,
        cache_from: super::build::cache_from_images(settings, store, &spec.cache_from)
            .with_context(what)?,
        named_contexts: named_contexts(store, spec, images).with_context(what)?,
    };
    let host = Host::new(
        settings,
        store.clone(),
        RunOptions {
            network: spec.network,
            extra_hosts: spec.extra_hosts.clone(),
            shm_size: spec.shm_size,
            pull: spec.pull,
        },
        Arc::clone(running),
        Arc::clone(interrupted),
    );
    let built = builder::build(&req, store, &host, progress).with_context(what)?;
    Ok(BuiltImage {
        services: job.services.clone(),
        image: built.image,
        tags,
    })
}

/// How messages name a Dockerfile: its path under the context, else as is.
fn dockerfile_display(context: &Path, path: &Path) -> String {
    path.strip_prefix(context)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `#N` numbers unique across the builds running at once.
#[derive(Default)]
struct StepNumbers {
    next: AtomicUsize,
    /// (job, the build's own number) → the number shown.
    shown: Mutex<BTreeMap<(usize, usize), usize>>,
}

impl StepNumbers {
    fn get(&self, job: usize, number: usize) -> usize {
        let Ok(mut shown) = self.shown.lock() else {
            return number;
        };
        *shown
            .entry((job, number))
            .or_insert_with(|| self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// One build's progress among several: the service in each title
/// (`[web 2/4] RUN …`, as Compose shows it) and numbers that do not collide.
struct ServiceProgress<'a> {
    inner: &'a dyn BuildProgress,
    service: String,
    numbers: &'a StepNumbers,
    job: usize,
}

impl ServiceProgress<'_> {
    fn step(&self, step: &StepName) -> StepName {
        let title = match step.title.strip_prefix('[') {
            Some(rest) => format!("[{} {rest}", self.service),
            None => format!("[{}] {}", self.service, step.title),
        };
        StepName {
            number: self.numbers.get(self.job, step.number),
            title,
        }
    }
}

impl BuildProgress for ServiceProgress<'_> {
    fn started(&self, step: &StepName) {
        self.inner.started(&self.step(step));
    }
    fn cached(&self, step: &StepName) {
        self.inner.cached(&self.step(step));
    }
    fn output(&self, step: &StepName, line: &str) {
        self.inner.output(&self.step(step), line);
    }
    fn done(&self, step: &StepName, took: Duration) {
        self.inner.done(&self.step(step), took);
    }
    fn failed(&self, step: &StepName, message: &str) {
        self.inner.failed(&self.step(step), message);
    }
    fn note(&self, message: &str) {
        self.inner.note(&format!("{}: {message}", self.service));
    }
}

/// `--push`: the images of the built services that name one (`image:`),
/// with their `build.tags`, as Compose pushes them.
fn push_built(settings: &Settings, loaded: &Loaded, built: &[BuiltImage]) -> anyhow::Result<()> {
    let store = open_store(settings)?;
    let mut pushed = BTreeSet::new();
    for b in built {
        let declared = b.services.iter().any(|s| {
            loaded
                .project
                .services
                .get(s)
                .is_some_and(|svc| svc.image.is_some())
        });
        if !declared {
            continue;
        }
        for t in &b.tags {
            if pushed.insert(t.clone()) {
                let summary = super::image::push_image(settings, &store, t)
                    .with_context(|| format!("service {}: pushing {t}", b.services.join(", ")))?;
                eprintln!("{summary}");
            }
        }
    }
    Ok(())
}

/// `wharf build [SERVICE…]` in a compose project.
pub fn build(settings: &Settings, loaded: &Loaded, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    // Docker's flags that have no meaning for a project's services.
    for (flag, set) in [
        ("--target", args.target.is_some()),
        ("--label", !args.labels.is_empty()),
        ("--iidfile", args.iidfile.is_some()),
        ("--platform", args.platform.is_some()),
        ("--add-host", !args.add_host.is_empty()),
        ("--shm-size", args.shm_size.is_some()),
        ("--secret", !args.secrets.is_empty()),
        ("--network", args.network != "default"),
        ("--output", args.output.is_some()),
        ("--cache-from", !args.cache_from.is_empty()),
        ("--no-cache-filter", !args.no_cache_filter.is_empty()),
        ("--ssh", !args.ssh.is_empty()),
    ] {
        if set {
            bail!("{flag}: a flag of `wharf build PATH`; set it in the service's build section");
        }
    }
    let quiet = match args.progress.as_str() {
        _ if args.quiet => true,
        "quiet" => true,
        "auto" | "plain" | "tty" => false,
        other => bail!("--progress {other:?}: expected auto, plain, tty or quiet"),
    };
    let build_args = key_values("--build-arg", &args.build_args, true)?;
    let opts = ComposeBuildOptions {
        overrides: BuildOverrides {
            no_cache: args.no_cache,
            pull: args.pull,
            build_args,
        },
        quiet,
        push: args.push,
        with_dependencies: args.with_dependencies,
    };
    let interrupts = super::common::catch_interrupts()?;
    let cancelled = || interrupts.load(Ordering::SeqCst) > 0;
    match build_services(settings, loaded, &args.targets, &opts, &cancelled) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(_) if cancelled() => {
            eprintln!("wharf: build interrupted");
            Ok(ExitCode::from(130))
        }
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
