//! The build executor: walks the stages a target needs (independent ones in
//! parallel), applies each instruction to the stage's image state as
//! BuildKit does, runs RUN steps through the caller's [`BuildHost`] (the
//! runtime side), writes COPY/ADD layers directly, consults and fills the
//! cache, and commits the final image.

use crate::build::cache::{BuildCache, CacheError, CacheKey};
use crate::build::dockerfile::{self as df, CommandForm, Dockerfile, Instruction, Located};
use crate::build::image::{ImageError, ImageState};
use crate::build::layer::{self, LayerError, LayerOptions, NewLayer};
use crate::build::progress::{BuildProgress, StepName};
use crate::build::step::{self, CopyPlan, CopySource, SourceRoot, StepError};
use crate::build::tree::{components, MergedView};
use crate::image::digest::Digest;
use crate::image::platform::Platform;
use crate::image::store::{ImageRecord, ImageStore, StoreError};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{file}:{line}: {instruction}: {source}")]
    Expand {
        file: String,
        line: usize,
        instruction: &'static str,
        #[source]
        source: Box<df::ExpandError>,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error("target stage {target:?} could not be found")]
    NoTarget { target: String },
    #[error("{file}:{line}: image {image}: {source}")]
    Base {
        file: String,
        line: usize,
        image: String,
        #[source]
        source: BoxError,
    },
    #[error("{file}:{line}: {text}: process \"{command}\" did not complete successfully: exit code: {code}{tail}")]
    RunFailed {
        file: String,
        line: usize,
        text: String,
        command: String,
        code: i32,
        /// The last lines of the step's output, each on its own line.
        tail: String,
    },
    #[error("{file}:{line}: {text}: {source}")]
    Run {
        file: String,
        line: usize,
        text: String,
        #[source]
        source: BoxError,
    },
    #[error("{file}:{line}: {source}")]
    Step {
        file: String,
        line: usize,
        #[source]
        source: Box<StepError>,
    },
    #[error("{file}:{line}: {source}")]
    Layer {
        file: String,
        line: usize,
        #[source]
        source: Box<LayerError>,
    },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("build scratch space {path}: {source}")]
    Scratch {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("image store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Stages(Box<crate::build::stages::StageError>),
    #[error("{file}:{line}: {instruction}: {source}")]
    Context {
        file: String,
        line: usize,
        instruction: &'static str,
        #[source]
        source: Box<crate::build::context::ContextError>,
    },
    #[error("build context {dir}: {source}")]
    OpenContext {
        dir: PathBuf,
        #[source]
        source: Box<crate::build::context::ContextError>,
    },
    #[error("layer {diff_id} of the stage's image is no longer in the store")]
    MissingLayer { diff_id: Digest },
}

type Result<T> = std::result::Result<T, BuildError>;

/// Everything a build needs besides the host.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    pub dockerfile: Dockerfile,
    /// How the user names the Dockerfile in messages (`Dockerfile`).
    pub dockerfile_name: String,
    /// The Dockerfile on disk, if it is a file (its `<name>.dockerignore` wins).
    pub dockerfile_path: Option<PathBuf>,
    pub context: PathBuf,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    /// `--label`: added to the final image's config.
    pub labels: BTreeMap<String, String>,
    /// Normalized references to tag the result with.
    pub tags: Vec<String>,
    pub no_cache: bool,
    pub source_date_epoch: Option<u64>,
    pub platform: Platform,
    /// `--secret id=…,src=…|env=…`: what `RUN --mount=type=secret` reads.
    pub secrets: BTreeMap<String, Secret>,
}

/// Where a build secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

/// A RUN mount ready for the container, and what must happen around it.
struct PreparedMount {
    spec: Option<crate::runtime::spec::MountSpec>,
    /// `type=secret,env=NAME`: the secret as an environment variable.
    env: Option<String>,
    /// `sharing=locked|private`: held while the step runs.
    lock: Option<nix::fcntl::Flock<std::fs::File>>,
}

/// The network a RUN step gets.
pub use crate::build::dockerfile::RunNetwork;

/// A RUN step for the runtime side.
pub struct RunRequest<'a> {
    /// The state to run on, committed as an (unnamed) image.
    pub image: &'a ImageRecord,
    pub argv: Vec<String>,
    /// Build args in scope, as `KEY=VALUE`, on top of the image's Env.
    pub env: Vec<String>,
    pub network: RunNetwork,
    pub mounts: Vec<crate::runtime::spec::MountSpec>,
    pub step: &'a StepName,
}

pub struct RunResult {
    pub exit_code: i32,
    /// The step's output (stdout and stderr, interleaved as written).
    pub output: Vec<String>,
}

/// What the build asks of the outside world: base images and running.
pub trait BuildHost: Sync {
    /// A base image from the store, pulled when missing.
    fn base_image(&self, reference: &str) -> std::result::Result<ImageRecord, BoxError>;
    /// Downloads `url` (ADD) into the file `dest`.
    fn fetch(&self, url: &str, dest: &Path) -> std::result::Result<(), BoxError>;
    /// Runs a RUN step to completion. Once the process has exited and
    /// before anything is cleaned up, `capture` is called with the step's
    /// overlay upper dir (it becomes the layer).
    fn run(
        &self,
        req: &RunRequest<'_>,
        capture: &mut dyn FnMut(&Path) -> std::result::Result<(), BoxError>,
    ) -> std::result::Result<RunResult, BoxError>;
}

/// The result of a build.
#[derive(Clone, Debug)]
pub struct Built {
    pub image: ImageRecord,
    /// Steps that ran / were cached (RUN, COPY, ADD, WORKDIR).
    pub ran: usize,
    pub cached: usize,
    /// Steps numbered (`#N`) so far: the caller's export step comes next.
    pub steps: usize,
}

/// Lines of a failed RUN's output shown in its error.
const FAILED_TAIL_LINES: usize = 10;

struct Shared<'a> {
    req: &'a BuildRequest,
    store: &'a ImageStore,
    cache: BuildCache,
    host: &'a dyn BuildHost,
    progress: &'a dyn BuildProgress,
    /// Holder that keeps this build's new layers until the image names them.
    holder: String,
    step_counter: AtomicUsize,
    ran: AtomicUsize,
    cached: AtomicUsize,
    /// Unnamed images made to run RUN steps on, removed at the end.
    intermediates: Mutex<Vec<Digest>>,
    plan: crate::build::stages::BuildPlan,
    plan_options: crate::build::stages::PlanOptions,
    /// The build context, walked (through .dockerignore) on first use.
    context: Mutex<Option<std::sync::Arc<crate::build::context::Context>>>,
    /// Content hashes of the context's files kept across builds.
    hash_file: Mutex<Option<std::sync::Arc<crate::build::context::HashCacheFile>>>,
    scratch_dir: PathBuf,
    scratch_counter: AtomicUsize,
}

/// A finished stage.
#[derive(Clone)]
struct StageResult {
    state: ImageState,
    key: CacheKey,
}

/// Runs the build and commits (and tags) the image.
pub fn build(
    req: &BuildRequest,
    store: &ImageStore,
    host: &dyn BuildHost,
    progress: &dyn BuildProgress,
) -> Result<Built> {
    let scratch_dir = store
        .root()
        .join("build-tmp")
        .join(std::process::id().to_string());
    clean_scratch(&store.root().join("build-tmp"))?;
    std::fs::create_dir_all(&scratch_dir).map_err(|source| BuildError::Scratch {
        path: scratch_dir.clone(),
        source,
    })?;
    let plan_options = crate::build::stages::PlanOptions {
        build_args: req.build_args.clone(),
        target: req.target.clone(),
        build_platform: None,
        target_platform: Some(req.platform.clone()),
    };
    let plan = crate::build::stages::plan(&req.dockerfile, &req.dockerfile_name, &plan_options)
        .map_err(|e| BuildError::Stages(Box::new(e)))?;
    let shared = Shared {
        req,
        store,
        cache: BuildCache::open(store)?,
        host,
        progress,
        holder: format!("build-{}", std::process::id()),
        step_counter: AtomicUsize::new(0),
        ran: AtomicUsize::new(0),
        cached: AtomicUsize::new(0),
        intermediates: Mutex::new(Vec::new()),
        plan,
        plan_options,
        context: Mutex::new(None),
        hash_file: Mutex::new(None),
        scratch_dir: scratch_dir.clone(),
        scratch_counter: AtomicUsize::new(0),
    };
    for w in &req.dockerfile.warnings {
        progress.note(&format!(
            "{}:{}: {}",
            req.dockerfile_name, w.line, w.message
        ));
    }
    let result = build_target(&shared);
    // Whatever happened: the unnamed RUN images, this build's scratch
    // space and its hold on new layers go (cache entries keep theirs).
    let intermediates = shared
        .intermediates
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    for id in intermediates {
        // Not forced: another build's RUN container may be using the same one.
        match store.remove(&id.to_string(), false) {
            Ok(_) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => tracing::warn!("removing the build's intermediate image {id}: {e}"),
        }
    }
    let _ = crate::image::unpack::remove_tree(&scratch_dir);
    if let Some(h) = shared.hash_file.lock().ok().and_then(|h| h.clone()) {
        if let Err(e) = h.save() {
            tracing::warn!("saving the build context's content hashes: {e}");
        }
    }
    // The image (or the cache entries) name what must stay; a failed
    // build's layers that nothing names go.
    let released = store.release(&shared.holder);
    let built = result?;
    released?;
    Ok(built)
}

/// Removes scratch dirs of builds whose process is gone.
fn clean_scratch(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let alive = e
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(crate::runtime::container::process_alive);
        if !alive {
            let _ = crate::image::unpack::remove_tree(&e.path());
        }
    }
    Ok(())
}

/// The stage a FROM/--from word names, if it names one defined before `before`.
fn stage_named(dockerfile: &Dockerfile, word: &str, before: usize) -> Option<usize> {
    let lower = word.to_ascii_lowercase();
    dockerfile
        .stages
        .iter()
        .take(before)
        .find(|s| s.name.as_deref() == Some(lower.as_str()))
        .map(|s| s.index)
        .or_else(|| word.parse::<usize>().ok().filter(|i| *i < before))
}

fn build_target(shared: &Shared<'_>) -> Result<Built> {
    let target = shared.plan.target;
    for unused in &shared.plan.unused_build_args {
        shared.progress.note(&format!(
            "build arg {unused:?} was given but no ARG line of the Dockerfile declares it"
        ));
    }
    let results: Mutex<BTreeMap<usize, StageResult>> = Mutex::new(BTreeMap::new());
    for stages in &shared.plan.groups {
        // Stages of one level depend only on earlier levels: they run side by side.
        let outcomes: Vec<Result<(usize, StageResult)>> = std::thread::scope(|s| {
            let handles: Vec<_> = stages
                .iter()
                .map(|&i| {
                    let results = &results;
                    s.spawn(move || {
                        let done = results.lock().map(|r| r.clone()).unwrap_or_default();
                        build_stage(shared, i, &done).map(|r| (i, r))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(BuildError::Invalid {
                            file: shared.req.dockerfile_name.clone(),
                            line: 0,
                            message: "a stage's build thread panicked".into(),
                        })
                    })
                })
                .collect()
        });
        for o in outcomes {
            let (i, r) = o?;
            if let Ok(mut map) = results.lock() {
                map.insert(i, r);
            }
        }
    }
    let mut done = results.into_inner().unwrap_or_default();
    let Some(result) = done.remove(&target) else {
        return Err(BuildError::NoTarget {
            target: target.to_string(),
        });
    };
    let mut state = result.state;
    for (k, v) in &shared.req.labels {
        set_label(&mut state, k, v);
    }
    let created = last_created(&state).unwrap_or_else(|| now(shared.req.source_date_epoch));
    let image = state.commit(shared.store, &created, &shared.req.tags)?;
    Ok(Built {
        image,
        ran: shared.ran.load(Ordering::Relaxed),
        cached: shared.cached.load(Ordering::Relaxed),
        steps: shared.step_counter.load(Ordering::Relaxed),
    })
}

fn last_created(state: &ImageState) -> Option<String> {
    state.document["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|h| h["created"].as_str())
        .map(str::to_string)
}

fn now(epoch: Option<u64>) -> String {
    let t = match epoch {
        Some(e) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(e),
        None => std::time::SystemTime::now(),
    };
    crate::time::rfc3339_nanos(t)
}

fn set_label(state: &mut ImageState, k: &str, v: &str) {
    let cfg = state.config_mut();
    let labels = cfg.entry("Labels".to_string()).or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    if let Some(m) = labels.as_object_mut() {
        m.insert(k.to_string(), json!(v));
    }
}

/// The per-stage walk.
struct StageRun<'s, 'a> {
    shared: &'s Shared<'a>,
    index: usize,
    state: ImageState,
    key: CacheKey,
    /// ARGs declared in this stage, with their values.
    args: BTreeMap<String, String>,
    /// Whether CMD was set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// `[name i/n]` numbering.
    position: usize,
    total: usize,
    label: String,
    done: &'s BTreeMap<usize, StageResult>,
}

fn build_stage(
    shared: &Shared<'_>,
    index: usize,
    done: &BTreeMap<usize, StageResult>,
) -> Result<StageResult> {
    let d = &shared.req.dockerfile;
    let stage = &d.stages[index];
    let file = &shared.req.dockerfile_name;
    let base = shared.plan.stages[index].base.clone();
    let label = match &stage.name {
        Some(n) => n.clone(),
        None if d.stages.len() > 1 => format!("stage-{index}"),
        None => String::new(),
    };
    let total = 1 + stage
        .instructions
        .iter()
        .filter(|i| is_vertex(&i.value))
        .count();
    let title = |pos: usize, text: &str| {
        if label.is_empty() {
            format!("[{pos}/{total}] {text}")
        } else {
            format!("[{label} {pos}/{total}] {text}")
        }
    };
    use crate::build::stages::StageBase;
    let (state, key) = match base {
        StageBase::Stage(j) => {
            let r = done.get(&j).ok_or_else(|| BuildError::Invalid {
                file: file.clone(),
                line: stage.from.line,
                message: format!("stage {j} was not built before stage {index}"),
            })?;
            (r.state.clone(), r.key.child(&["FROM stage"]))
        }
        StageBase::Scratch => (
            ImageState::scratch(shared.req.platform.clone()),
            CacheKey::base(None, &shared.req.platform),
        ),
        StageBase::Image(image_word) => {
            let step = shared.step(title(1, &format!("FROM {image_word}")));
            shared.progress.started(&step);
            let began = Instant::now();
            let record =
                shared
                    .host
                    .base_image(&image_word)
                    .map_err(|source| BuildError::Base {
                        file: file.clone(),
                        line: stage.from.line,
                        image: image_word.clone(),
                        source,
                    })?;
            shared.progress.done(&step, began.elapsed());
            (
                ImageState::from_record(shared.store, &record)?,
                CacheKey::base(Some(record.id()), &record.platform),
            )
        }
    };
    let mut run = StageRun {
        shared,
        index,
        state,
        key,
        args: BTreeMap::new(),
        cmd_set: false,
        position: 1,
        total,
        label,
        done,
    };
    // The base's ONBUILD triggers run first, then are dropped from the config.
    if let Some(triggers) = run.state.string_list("OnBuild").filter(|t| !t.is_empty()) {
        run.state.config_mut().insert("OnBuild".into(), Value::Null);
        let text: String = triggers.iter().map(|t| format!("{t}\n")).collect();
        let parsed = df::parse(&format!("FROM scratch\n{text}"), "ONBUILD").map_err(|e| {
            BuildError::Invalid {
                file: file.clone(),
                line: stage.from.line,
                message: format!("the base image's ONBUILD triggers: {e}"),
            }
        })?;
        let mut instructions = parsed
            .stages
            .into_iter()
            .next()
            .map(|s| s.instructions)
            .unwrap_or_default();
        run.total += instructions.iter().filter(|i| is_vertex(&i.value)).count();
        for ins in &mut instructions {
            // Errors point at the FROM that brought the trigger in.
            ins.line = stage.from.line;
            ins.end_line = stage.from.line;
        }
        for ins in &instructions {
            run.instruction(ins)?;
        }
    }
    for ins in &stage.instructions {
        run.instruction(ins)?;
    }
    Ok(StageResult {
        state: run.state,
        key: run.key,
    })
}

/// Instructions BuildKit shows as steps.
fn is_vertex(i: &Instruction) -> bool {
    matches!(
        i,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

impl Shared<'_> {
    fn step(&self, title: String) -> StepName {
        StepName {
            number: self.step_counter.fetch_add(1, Ordering::Relaxed) + 1,
            title,
        }
    }

    fn scratch(&self) -> Result<PathBuf> {
        let n = self.scratch_counter.fetch_add(1, Ordering::Relaxed);
        let p = self.scratch_dir.join(format!("s{n}"));
        std::fs::create_dir(&p).map_err(|source| BuildError::Scratch {
            path: p.clone(),
            source,
        })?;
        Ok(p)
    }

    /// The build context, walked through its .dockerignore once per build.
    fn context(&self) -> Result<std::sync::Arc<crate::build::context::Context>> {
        use crate::build::context::{Context, ContextFilter, DEFAULT_SIZE_LIMIT};
        let mut slot = self.context.lock().map_err(|_| BuildError::Invalid {
            file: self.req.dockerfile_name.clone(),
            line: 0,
            message: "the build context lock is poisoned".into(),
        })?;
        if let Some(c) = slot.as_ref() {
            return Ok(std::sync::Arc::clone(c));
        }
        let open_err = |e| BuildError::OpenContext {
            dir: self.req.context.clone(),
            source: Box::new(e),
        };
        let filter = ContextFilter::load(&self.req.context, self.req.dockerfile_path.as_deref())
            .map_err(open_err)?;
        // One hash file per context directory: its keys are relative paths.
        let canonical =
            std::fs::canonicalize(&self.req.context).unwrap_or_else(|_| self.req.context.clone());
        let hash_path = self.cache.dir().join(format!(
            "context-{}.json",
            Digest::sha256_of(canonical.as_os_str().as_encoded_bytes()).hex()
        ));
        let hashes = std::sync::Arc::new(crate::build::context::HashCacheFile::load(&hash_path));
        if let Ok(mut h) = self.hash_file.lock() {
            *h = Some(std::sync::Arc::clone(&hashes));
        }
        let ctx = std::sync::Arc::new(
            Context::open(&self.req.context, filter, DEFAULT_SIZE_LIMIT)
                .map_err(open_err)?
                .with_hash_cache(hashes),
        );
        *slot = Some(std::sync::Arc::clone(&ctx));
        Ok(ctx)
    }

    fn layer_options(&self) -> LayerOptions {
        LayerOptions {
            source_date_epoch: self.req.source_date_epoch,
        }
    }
}

/// Go's `%v` of a string slice (`[a b]`), as BuildKit's history shows lists.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%q`-joined form BuildKit uses for CMD/ENTRYPOINT history (`["a" "b"]`).
fn go_quoted_list(items: &[String]) -> String {
    let q: Vec<String> = items
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", q.join(" "))
}

impl StageRun<'_, '_> {
    fn file(&self) -> String {
        self.shared.req.dockerfile_name.clone()
    }

    fn title(&self, text: &str) -> String {
        let one_line = text
            .split('\n')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
        if self.label.is_empty() {
            format!("[{}/{}] {one_line}", self.position, self.total)
        } else {
            format!(
                "[{} {}/{}] {one_line}",
                self.label, self.position, self.total
            )
        }
    }

    /// ARG then ENV values for substitution (ENV wins, as in BuildKit).
    fn lookup_value(&self, k: &str) -> Option<String> {
        self.state
            .env_value(k)
            .or_else(|| self.args.get(k).cloned())
    }

    fn shell(&self) -> Vec<String> {
        self.state
            .string_list("Shell")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn argv(&self, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    fn instruction(&mut self, ins: &Located<Instruction>) -> Result<()> {
        let escape = self.shared.req.dockerfile.directives.escape;
        let expanded = {
            let lookup = |k: &str| self.lookup_value(k);
            df::expand_instruction(&ins.value, escape, &lookup).map_err(|source| {
                BuildError::Expand {
                    file: self.file(),
                    line: ins.line,
                    instruction: ins.value.keyword(),
                    source: Box::new(source),
                }
            })?
        };
        if is_vertex(&expanded) {
            self.position += 1;
        }
        match &expanded {
            Instruction::Arg(decls) => {
                for d in decls {
                    let value = self.shared.plan.stage_arg_value(
                        &self.shared.plan_options,
                        &d.name,
                        d.default.as_deref(),
                    );
                    if let Some(v) = value {
                        self.args.insert(d.name.clone(), v);
                    }
                }
                // ARG makes no history entry, but later steps depend on it.
                self.key = self.key.child(&[&format!("ARG {:?}", self.args)]);
                Ok(())
            }
            Instruction::Env(pairs) => {
                for (k, v) in pairs {
                    self.state.set_env(k, v);
                }
                let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.metadata(&format!("ENV {}", text.join(" ")))
            }
            Instruction::Label(pairs) => {
                for (k, v) in pairs {
                    set_label(&mut self.state, k, v);
                }
                let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                self.metadata(&format!("LABEL {}", text.join(" ")))
            }
            Instruction::Expose(ports) => {
                let keys = df::exposed_ports(ports).map_err(|source| BuildError::Expand {
                    file: self.file(),
                    line: ins.line,
                    instruction: "EXPOSE",
                    source: Box::new(source),
                })?;
                for k in &keys {
                    self.state.add_to_set("ExposedPorts", k);
                }
                let sorted: BTreeSet<&String> = keys.iter().collect();
                let text: Vec<String> = sorted.iter().map(|k| format!("{k}:{{}}")).collect();
                self.metadata(&format!("EXPOSE map[{}]", text.join(" ")))
            }
            Instruction::User(u) => {
                self.state.config_mut().insert("User".into(), json!(u));
                self.metadata(&format!("USER {u}"))
            }
            Instruction::Volume(vols) => {
                for v in vols {
                    self.state.add_to_set("Volumes", v);
                }
                self.metadata(&format!("VOLUME {}", go_list(vols)))
            }
            Instruction::Cmd(form) => {
                let argv = self.argv(form);
                self.state.config_mut().insert("Cmd".into(), json!(argv));
                self.cmd_set = true;
                self.metadata(&format!("CMD {}", go_quoted_list(&argv)))
            }
            Instruction::Entrypoint(form) => {
                let argv = self.argv(form);
                let cfg = self.state.config_mut();
                cfg.insert("Entrypoint".into(), json!(argv));
                if !self.cmd_set {
                    cfg.insert("Cmd".into(), Value::Null);
                }
                self.metadata(&format!("ENTRYPOINT {}", go_quoted_list(&argv)))
            }
            Instruction::Shell(sh) => {
                self.state.config_mut().insert("Shell".into(), json!(sh));
                self.metadata(&format!("SHELL {}", go_list(sh)))
            }
            Instruction::StopSignal(s) => {
                self.state
                    .config_mut()
                    .insert("StopSignal".into(), json!(s));
                self.metadata(&format!("STOPSIGNAL {s}"))
            }
            Instruction::Maintainer(m) => {
                self.state.document["author"] = json!(m);
                self.metadata(&format!("MAINTAINER {m}"))
            }
            Instruction::Onbuild { expression, .. } => {
                let mut triggers = self.state.string_list("OnBuild").unwrap_or_default();
                triggers.push(expression.clone());
                self.state
                    .config_mut()
                    .insert("OnBuild".into(), json!(triggers));
                self.metadata(&format!("ONBUILD {expression}"))
            }
            Instruction::Healthcheck(h) => {
                let value = match h {
                    df::Healthcheck::None => json!({ "Test": ["NONE"] }),
                    df::Healthcheck::Cmd(c) => {
                        let test = match &c.command {
                            CommandForm::Exec(v) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(v.iter().cloned());
                                t
                            }
                            CommandForm::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                        };
                        let mut o = json!({ "Test": test });
                        for (k, v) in [
                            ("Interval", c.interval),
                            ("Timeout", c.timeout),
                            ("StartPeriod", c.start_period),
                            ("StartInterval", c.start_interval),
                        ] {
                            if let Some(v) = v {
                                o[k] = json!(v);
                            }
                        }
                        if let Some(r) = c.retries {
                            o["Retries"] = json!(r);
                        }
                        o
                    }
                };
                let text = format!("HEALTHCHECK {value}");
                self.state.config_mut().insert("Healthcheck".into(), value);
                self.metadata(&text)
            }
            Instruction::Workdir(dir) => self.workdir(ins, dir),
            Instruction::Run(r) => self.run(ins, r),
            Instruction::Copy(c) => self.copy(ins, c, "COPY"),
            Instruction::Add(c) => self.copy(ins, c, "ADD"),
        }
    }

    /// A config-only step: a history entry with `empty_layer`, cached so
    /// that a rebuild gives the same image.
    fn metadata(&mut self, created_by: &str) -> Result<()> {
        let key = self.key.child(&[created_by]);
        if !self.shared.req.no_cache {
            if let Some(state) = self.shared.cache.get(&key) {
                self.state = state;
                self.key = key;
                return Ok(());
            }
        }
        let created = now(self.shared.req.source_date_epoch);
        self.state.add_history(created_by, &created, true);
        self.shared.cache.put(&key, &self.state, None)?;
        self.key = key;
        Ok(())
    }

    /// Looks the step up in the cache; on a hit, takes its state and says CACHED.
    fn cached(&mut self, key: &CacheKey, step: &StepName) -> bool {
        if self.shared.req.no_cache {
            return false;
        }
        match self.shared.cache.get(key) {
            Some(state) => {
                self.state = state;
                self.key = key.clone();
                self.shared.progress.cached(step);
                self.shared.cached.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Records a step that made `layer` (or nothing) and caches the result.
    fn commit_step(
        &mut self,
        key: CacheKey,
        created_by: &str,
        layer: Option<NewLayer>,
    ) -> Result<()> {
        let created = now(self.shared.req.source_date_epoch);
        let record = layer.map(|l| l.record);
        self.state
            .add_history(created_by, &created, record.is_none());
        if let Some(r) = &record {
            self.state.push_layer(r.clone());
        }
        self.shared.cache.put(&key, &self.state, record.as_ref())?;
        self.key = key;
        self.shared.ran.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn view(&self) -> Result<MergedView> {
        view_of(self.shared.store, &self.state)
    }

    fn layer_of(&self, ins: &Located<Instruction>, dir: &Path) -> Result<Option<NewLayer>> {
        let layer_err = |source| BuildError::Layer {
            file: self.file(),
            line: ins.line,
            source: Box::new(source),
        };
        if layer::is_empty_dir(dir).map_err(layer_err)? {
            return Ok(None);
        }
        layer::commit_dir(
            self.shared.store,
            dir,
            &self.shared.layer_options(),
            &self.shared.holder,
        )
        .map(Some)
        .map_err(layer_err)
    }

    fn workdir(&mut self, ins: &Located<Instruction>, dir: &str) -> Result<()> {
        let base = self
            .state
            .string_field("WorkingDir")
            .unwrap_or_else(|| "/".into());
        let joined = if dir.starts_with('/') {
            dir.to_string()
        } else {
            format!("{}/{dir}", base.trim_end_matches('/'))
        };
        let comps = components(&joined);
        let path = format!(
            "/{}",
            comps
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        );
        self.state
            .config_mut()
            .insert("WorkingDir".into(), json!(path));
        let created_by = format!("WORKDIR {path}");
        let step = self.shared.step(self.title(&ins.text));
        let key = self.key.child(&[&created_by]);
        self.shared.progress.started(&step);
        if self.cached(&key, &step) {
            return Ok(());
        }
        let began = Instant::now();
        let view = self.view()?;
        let layer = if view.is_dir(&path) || comps.is_empty() {
            None
        } else {
            // BuildKit makes the directory (and its parents) as a layer.
            let staging = self.shared.scratch()?;
            let mut rel = PathBuf::new();
            for c in &comps {
                rel.push(c);
                let p = staging.join(&rel);
                let existing = view.metadata(&rel.to_string_lossy());
                std::fs::create_dir(&p).map_err(|source| BuildError::Scratch {
                    path: p.clone(),
                    source,
                })?;
                if let Some(m) = existing.filter(|m| m.is_dir()) {
                    use std::os::unix::fs::{MetadataExt, PermissionsExt};
                    let _ = std::fs::set_permissions(
                        &p,
                        std::fs::Permissions::from_mode(m.mode() & 0o7777),
                    );
                    let _ = std::os::unix::fs::lchown(&p, Some(m.uid()), Some(m.gid()));
                } else {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
                }
            }
            self.layer_of(ins, &staging)?
        };
        self.commit_step(key, &created_by, layer)?;
        self.shared.progress.done(&step, began.elapsed());
        Ok(())
    }

    fn run(&mut self, ins: &Located<Instruction>, r: &df::Run) -> Result<()> {
        let file = self.file();
        let invalid = |message: String| BuildError::Invalid {
            file: file.clone(),
            line: ins.line,
            message,
        };
        let argv = match (&r.command, r.heredocs.as_slice()) {
            (_, []) => self.argv(&r.command),
            // `RUN <<EOF`: the body is the script.
            (CommandForm::Shell(s), [h]) if is_lone_heredoc(s, &h.name) => {
                let mut v = self.shell();
                v.push(h.content.clone());
                v
            }
            // A command line with heredocs: the shell gets the line and the
            // bodies, each closed by its delimiter, as one script (BuildKit).
            (CommandForm::Shell(s), docs) => {
                let mut script = format!("{s}\n");
                for h in docs {
                    script.push_str(&h.content);
                    script.push_str(&h.name);
                    script.push('\n');
                }
                let mut v = self.shell();
                v.push(script);
                v
            }
            (CommandForm::Exec(_), _) => {
                return Err(invalid("RUN: heredocs need the shell form of RUN".into()))
            }
        };
        if r.security == df::RunSecurity::Insecure {
            return Err(invalid(
                "RUN --security=insecure is not supported (wharf builds only in the sandbox)"
                    .into(),
            ));
        }
        // Build args in scope reach the command as environment (not ENV).
        let env: Vec<String> = self
            .args
            .iter()
            .filter(|(k, _)| self.state.env_value(k).is_none())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let command_text = match &r.command {
            CommandForm::Exec(v) => v.join(" "),
            CommandForm::Shell(_) => argv.join(" "),
        };
        let created_by = if env.is_empty() {
            format!("RUN {command_text} # buildkit")
        } else {
            format!(
                "RUN |{} {} {command_text} # buildkit",
                env.len(),
                env.join(" ")
            )
        };
        let escape = self.shared.req.dockerfile.directives.escape;
        let mut mount_texts = Vec::new();
        let mut typed_mounts = Vec::new();
        for m in &r.mounts {
            let lookup = |k: &str| self.lookup_value(k);
            let typed =
                df::resolve_mount(m, escape, &lookup).map_err(|source| BuildError::Expand {
                    file: file.clone(),
                    line: ins.line,
                    instruction: "RUN",
                    source: Box::new(source),
                })?;
            mount_texts.push(m.raw.clone());
            typed_mounts.push(typed);
        }
        let network = format!("{:?}", r.network);
        let key = self
            .key
            .child(&[&created_by, &mount_texts.join("\n"), &network]);
        let step = self.shared.step(self.title(&ins.text));
        self.shared.progress.started(&step);
        if self.cached(&key, &step) {
            return Ok(());
        }
        let began = Instant::now();
        let mut mounts = Vec::new();
        let mut locks = Vec::new();
        let mut run_env = env.clone();
        for m in &typed_mounts {
            let p = self.run_mount(ins, m)?;
            mounts.extend(p.spec);
            run_env.extend(p.env);
            locks.extend(p.lock);
        }
        // Proxy args need no ARG line and stay out of the history, as in BuildKit.
        for p in crate::build::stages::PROXY_ARGS {
            if let Some(v) = self.shared.req.build_args.get(*p) {
                if !self.args.contains_key(*p) {
                    run_env.push(format!("{p}={v}"));
                }
            }
        }
        // Mount points the runtime makes for the step are not part of its
        // layer (BuildKit removes them too); neither are /etc files it binds.
        let mut stubs: Vec<String> = mounts.iter().map(|m| m.target().to_string()).collect();
        stubs.extend(
            [
                "/etc/hosts",
                "/etc/hostname",
                "/etc/resolv.conf",
                "/proc",
                "/sys",
                "/dev",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let lower = self.view()?;
        let stubs: Vec<String> = stubs
            .into_iter()
            .filter(|t| lower.lookup(t).is_none())
            .collect();
        // The runtime runs images: the state so far becomes an unnamed one.
        let parent = self
            .state
            .commit(self.shared.store, "1970-01-01T00:00:00Z", &[])?;
        if let Ok(mut v) = self.shared.intermediates.lock() {
            if !v.contains(parent.id()) {
                v.push(parent.id().clone());
            }
        }
        let mut layer: Option<NewLayer> = None;
        let mut layer_err: Option<LayerError> = None;
        let store = self.shared.store;
        let opts = self.shared.layer_options();
        let holder = self.shared.holder.clone();
        let mut capture = |upper: &Path| -> std::result::Result<(), BoxError> {
            remove_stubs(upper, &stubs, &lower);
            match layer::is_empty_dir(upper) {
                Ok(true) => Ok(()),
                Ok(false) => match layer::commit_dir(store, upper, &opts, &holder) {
                    Ok(l) => {
                        layer = Some(l);
                        Ok(())
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        layer_err = Some(e);
                        Err(msg.into())
                    }
                },
                Err(e) => Err(Box::new(e)),
            }
        };
        let req = RunRequest {
            image: &parent,
            argv: argv.clone(),
            env: run_env,
            network: r.network,
            mounts,
            step: &step,
        };
        let result = self.shared.host.run(&req, &mut capture);
        drop(locks);
        if let Some(e) = layer_err {
            self.shared.progress.failed(&step, &e.to_string());
            return Err(BuildError::Layer {
                file,
                line: ins.line,
                source: Box::new(e),
            });
        }
        let result = result.map_err(|source| {
            self.shared.progress.failed(&step, &source.to_string());
            BuildError::Run {
                file: file.clone(),
                line: ins.line,
                text: ins.text.clone(),
                source,
            }
        })?;
        for line in &result.output {
            self.shared.progress.output(&step, line);
        }
        if result.exit_code != 0 {
            let skip = result.output.len().saturating_sub(FAILED_TAIL_LINES);
            let tail: String = result.output[skip..]
                .iter()
                .map(|l| format!("\n  {l}"))
                .collect();
            let err = BuildError::RunFailed {
                file,
                line: ins.line,
                text: ins.text.clone(),
                command: argv.join(" "),
                code: result.exit_code,
                tail,
            };
            self.shared.progress.failed(&step, &err.to_string());
            return Err(err);
        }
        self.commit_step(key, &created_by, layer)?;
        self.shared.progress.done(&step, began.elapsed());
        Ok(())
    }

    /// A typed `--mount` made ready for the container.
    fn run_mount(&self, ins: &Located<Instruction>, m: &df::RunMount) -> Result<PreparedMount> {
        use crate::runtime::spec::MountSpec as M;
        let invalid = |message: String| BuildError::Invalid {
            file: self.file(),
            line: ins.line,
            message,
        };
        let scratch_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Scratch { path, source }
        };
        let plain = |spec: M| PreparedMount {
            spec: Some(spec),
            env: None,
            lock: None,
        };
        let target = m.target.clone().unwrap_or_default();
        match m.kind {
            df::MountKind::Tmpfs => Ok(plain(M::Tmpfs {
                target,
                size: m.size,
                mode: None,
                read_only: false,
            })),
            df::MountKind::Cache => {
                // Kept under the store, keyed by id (the target by default), as BuildKit does.
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let base = self.shared.store.root().join("build-cache-mounts");
                let dir = base.join(Digest::sha256_of(id.as_bytes()).hex());
                if !dir.is_dir() {
                    std::fs::create_dir_all(&dir).map_err(scratch_err(&dir))?;
                    use std::os::unix::fs::PermissionsExt;
                    let mode = m.mode.unwrap_or(0o755);
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                        .map_err(scratch_err(&dir))?;
                    std::os::unix::fs::lchown(
                        &dir,
                        Some(m.uid.unwrap_or(0)),
                        Some(m.gid.unwrap_or(0)),
                    )
                    .map_err(scratch_err(&dir))?;
                }
                // `locked` (and `private`, which wharf does not copy) waits
                // for other steps using the same cache; `shared` does not.
                let lock = match m.sharing.unwrap_or(df::CacheSharing::Shared) {
                    df::CacheSharing::Shared => None,
                    df::CacheSharing::Locked | df::CacheSharing::Private => {
                        let path = dir.with_extension("lock");
                        let f = std::fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(&path)
                            .map_err(scratch_err(&path))?;
                        let f = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
                            .map_err(|(_, e)| BuildError::Scratch {
                                path: path.clone(),
                                source: std::io::Error::from(e),
                            })?;
                        Some(f)
                    }
                };
                Ok(PreparedMount {
                    spec: Some(M::Bind {
                        source: dir,
                        target,
                        read_only: m.readonly,
                        propagation: None,
                        create_host_path: false,
                    }),
                    env: None,
                    lock,
                })
            }
            df::MountKind::Bind => {
                let source_rel = m.source.clone().unwrap_or_default();
                let comps = components(&source_rel);
                let source = match &m.from {
                    None => {
                        // Through the context: a .dockerignore'd path is not there.
                        let ctx = self.shared.context()?;
                        let rel = comps
                            .iter()
                            .map(|c| c.to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                            .join("/");
                        if !rel.is_empty() && ctx.entry(&rel).is_none() {
                            return Err(invalid(format!(
                                "RUN --mount=type=bind: source {source_rel:?} not found in the build context"
                            )));
                        }
                        self.shared
                            .req
                            .context
                            .join(comps.iter().collect::<PathBuf>())
                    }
                    Some(from) => {
                        // A stage's (or image's) files, copied out: the
                        // mount may be written to, the stage must not change.
                        let state = match stage_named(&self.shared.req.dockerfile, from, self.index)
                        {
                            Some(j) => {
                                self.done.get(&j).map(|r| r.state.clone()).ok_or_else(|| {
                                    invalid(format!("stage {from:?} was not built"))
                                })?
                            }
                            None => {
                                let record =
                                    self.shared.host.base_image(from).map_err(|source| {
                                        BuildError::Base {
                                            file: self.file(),
                                            line: ins.line,
                                            image: from.clone(),
                                            source,
                                        }
                                    })?;
                                ImageState::from_record(self.shared.store, &record)?
                            }
                        };
                        let view = view_of(self.shared.store, &state)?;
                        let staging = self.shared.scratch()?;
                        let plan = CopyPlan {
                            instruction: "RUN --mount",
                            root: SourceRoot::Layers(&view),
                            sources: vec![CopySource {
                                rel: comps.iter().collect::<PathBuf>(),
                            }],
                            dest: "/content".into(),
                            chown: None,
                            chmod: None,
                            epoch: None,
                            extract_archives: false,
                            included: None,
                        };
                        step::stage_copy(&plan, &MergedView::default(), &staging).map_err(
                            |source| BuildError::Step {
                                file: self.file(),
                                line: ins.line,
                                source: Box::new(source),
                            },
                        )?;
                        staging.join("content")
                    }
                };
                if std::fs::symlink_metadata(&source).is_err() {
                    return Err(invalid(format!(
                        "RUN --mount=type=bind: source {source_rel:?} not found"
                    )));
                }
                Ok(plain(M::Bind {
                    source,
                    target,
                    read_only: m.readonly,
                    propagation: None,
                    create_host_path: false,
                }))
            }
            df::MountKind::Secret => {
                let id =
                    m.id.clone()
                        .or_else(|| m.source.clone())
                        .or_else(|| {
                            m.target
                                .as_deref()
                                .and_then(|t| t.rsplit('/').next())
                                .map(str::to_string)
                        })
                        .unwrap_or_default();
                let Some(secret) = self.shared.req.secrets.get(&id) else {
                    if m.required {
                        return Err(invalid(format!(
                            "RUN --mount=type=secret: secret {id:?} is required but was not given (--secret id={id},src=…)"
                        )));
                    }
                    return Ok(PreparedMount {
                        spec: None,
                        env: None,
                        lock: None,
                    });
                };
                let value_file = match secret {
                    Secret::File(p) => p.clone(),
                    Secret::Env(var) => {
                        let value = std::env::var(var).map_err(|_| {
                            invalid(format!(
                                "secret {id:?}: environment variable {var} is not set"
                            ))
                        })?;
                        let dir = self.shared.scratch()?;
                        let p = dir.join("secret");
                        std::fs::write(&p, value).map_err(scratch_err(&p))?;
                        p
                    }
                };
                if let Some(env) = &m.env {
                    let value =
                        std::fs::read_to_string(&value_file).map_err(scratch_err(&value_file))?;
                    // With env= and no target, only the variable is set (BuildKit).
                    let spec = m.target.as_ref().map(|t| M::Bind {
                        source: value_file.clone(),
                        target: t.clone(),
                        read_only: true,
                        propagation: None,
                        create_host_path: false,
                    });
                    return Ok(PreparedMount {
                        spec,
                        env: Some(format!("{env}={value}")),
                        lock: None,
                    });
                }
                Ok(plain(M::Bind {
                    source: value_file,
                    target: m
                        .target
                        .clone()
                        .unwrap_or_else(|| format!("/run/secrets/{id}")),
                    read_only: true,
                    propagation: None,
                    create_host_path: false,
                }))
            }
            df::MountKind::Ssh => Err(invalid("RUN --mount=type=ssh: not supported yet".into())),
        }
    }

    fn copy(
        &mut self,
        ins: &Located<Instruction>,
        c: &df::CopyArgs,
        instruction: &'static str,
    ) -> Result<()> {
        let file = self.file();
        let invalid = |message: String| BuildError::Invalid {
            file: file.clone(),
            line: ins.line,
            message,
        };
        if c.parents || (c.from.is_some() && !c.exclude.is_empty()) {
            return Err(invalid(format!(
                "{instruction}: --parents and --exclude with --from are not supported yet"
            )));
        }
        if !c.heredocs.is_empty() && (!c.sources.is_empty() || c.from.is_some()) {
            return Err(invalid(format!(
                "{instruction}: heredoc sources mixed with other sources are not supported yet"
            )));
        }
        let urls = c.sources.iter().filter(|s| is_url(s)).count();
        if urls > 0 && instruction == "COPY" {
            return Err(invalid(
                "COPY: source can't be a URL (use ADD to fetch files)".into(),
            ));
        }
        if urls > 0 && (urls != c.sources.len() || c.from.is_some()) {
            return Err(invalid(format!(
                "{instruction}: URL sources mixed with other sources are not supported yet"
            )));
        }
        let workdir = self
            .state
            .string_field("WorkingDir")
            .unwrap_or_else(|| "/".into());
        let dest = if c.dest.starts_with('/') {
            c.dest.clone()
        } else {
            let d = format!("{}/{}", workdir.trim_end_matches('/'), c.dest);
            if c.dest == "." || c.dest.ends_with('/') || c.dest.ends_with("/.") {
                format!("{}/", d.trim_end_matches('.').trim_end_matches('/'))
            } else {
                d
            }
        };
        let view = self.view()?;
        let chown = match &c.chown {
            Some(spec) => Some(resolve_owner(&view, spec).map_err(&invalid)?),
            None => None,
        };
        let chmod = match &c.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        invalid(format!("{instruction} --chmod={m}: expected an octal mode"))
                    })?,
            ),
            None => None,
        };
        // Where the sources come from: another stage, an image, or the context.
        let from_state;
        let from_view;
        let heredoc_dir;
        let url_dir;
        let mut url_names = Vec::new();
        let root = match &c.from {
            // `ADD https://…`: fetched, checked against --checksum, mode 0600 (Docker's).
            None if urls > 0 => {
                url_dir = self.shared.scratch()?;
                for u in &c.sources {
                    let name = url_file_name(u);
                    let p = url_dir.join(&name);
                    self.shared
                        .host
                        .fetch(u, &p)
                        .map_err(|source| BuildError::Run {
                            file: file.clone(),
                            line: ins.line,
                            text: format!("{instruction} {u}"),
                            source,
                        })?;
                    if let Some(want) = &c.checksum {
                        let data = std::fs::read(&p).map_err(|source| BuildError::Scratch {
                            path: p.clone(),
                            source,
                        })?;
                        let want_digest: Digest = want.parse().map_err(|_| {
                            invalid(format!(
                                "{instruction} --checksum={want}: expected sha256:<hex>"
                            ))
                        })?;
                        let got = Digest::of(want_digest.algorithm(), &data);
                        if got != want_digest {
                            return Err(invalid(format!(
                                "{instruction} {u}: digest mismatch: --checksum={want}, the download has {got}"
                            )));
                        }
                    }
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(
                        |source| BuildError::Scratch {
                            path: p.clone(),
                            source,
                        },
                    )?;
                    url_names.push(name);
                }
                SourceRoot::Host(&url_dir)
            }
            // `COPY <<EOF /dest`: each body is a file named by its delimiter.
            None if !c.heredocs.is_empty() => {
                heredoc_dir = self.shared.scratch()?;
                for h in &c.heredocs {
                    let p = heredoc_dir.join(&h.name);
                    std::fs::write(&p, &h.content).map_err(|source| BuildError::Scratch {
                        path: p.clone(),
                        source,
                    })?;
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(
                        |source| BuildError::Scratch {
                            path: p.clone(),
                            source,
                        },
                    )?;
                }
                SourceRoot::Host(&heredoc_dir)
            }
            Some(f) => {
                from_state =
                    match stage_named(&self.shared.req.dockerfile, f, self.index) {
                        Some(j) => self
                            .done
                            .get(&j)
                            .map(|r| r.state.clone())
                            .ok_or_else(|| invalid(format!("stage {f:?} was not built")))?,
                        None => {
                            let record = self.shared.host.base_image(f).map_err(|source| {
                                BuildError::Base {
                                    file: file.clone(),
                                    line: ins.line,
                                    image: f.clone(),
                                    source,
                                }
                            })?;
                            ImageState::from_record(self.shared.store, &record)?
                        }
                    };
                from_view = view_of(self.shared.store, &from_state)?;
                SourceRoot::Layers(&from_view)
            }
            None => SourceRoot::Host(&self.shared.req.context),
        };
        let mut sources = Vec::new();
        // From the context: what .dockerignore lets through, hashed without
        // copying anything (a cache hit stages nothing).
        let mut included = None;
        let mut context_hash = None;
        let ctx = match &root {
            SourceRoot::Host(_) if c.heredocs.is_empty() && urls == 0 => {
                Some(self.shared.context()?)
            }
            _ => None,
        };
        match &ctx {
            Some(ctx) => {
                let ctx_err = |e| BuildError::Context {
                    file: file.clone(),
                    line: ins.line,
                    instruction,
                    source: Box::new(e),
                };
                let resolved = ctx
                    .resolve_sources(&c.sources, &c.exclude)
                    .map_err(ctx_err)?;
                context_hash = Some(ctx.hash_sources(&resolved).map_err(ctx_err)?);
                let mut set = std::collections::HashSet::new();
                for r in &resolved {
                    sources.push(CopySource {
                        rel: PathBuf::from(&r.path),
                    });
                    set.extend(r.entries.iter().map(|e| PathBuf::from(&e.path)));
                }
                included = Some(set);
            }
            None => {
                if urls == 0 {
                    for s in &c.sources {
                        sources.push(CopySource {
                            rel: components(s).iter().collect::<PathBuf>(),
                        });
                    }
                }
                for n in &url_names {
                    sources.push(CopySource {
                        rel: PathBuf::from(n),
                    });
                }
                for h in &c.heredocs {
                    sources.push(CopySource {
                        rel: PathBuf::from(&h.name),
                    });
                }
            }
        }
        let step = self.shared.step(self.title(&ins.text));
        self.shared.progress.started(&step);
        let began = Instant::now();
        let plan = CopyPlan {
            instruction,
            root,
            sources,
            dest: dest.clone(),
            chown,
            chmod,
            epoch: self.shared.req.source_date_epoch,
            extract_archives: instruction == "ADD" && urls == 0 && c.unpack != Some(false),
            included,
        };
        let args_text = ins
            .text
            .split_once(char::is_whitespace)
            .map(|(_, rest)| rest.trim().to_string())
            .unwrap_or_default();
        let created_by = format!("{instruction} {args_text} # buildkit");
        if let Some(hash) = &context_hash {
            let key = self.key.child(&[&created_by, &dest, &hash.to_string()]);
            if self.cached(&key, &step) {
                return Ok(());
            }
        }
        // --link: the layer does not depend on what is below (BuildKit's
        // rebase-able copy): new parent directories get 0755 root, and the
        // destination is a directory only when written with a trailing /.
        let stage_view = if c.link {
            MergedView::default()
        } else {
            view.clone()
        };
        let staging = self.shared.scratch()?;
        let step_err = |source| BuildError::Step {
            file: file.clone(),
            line: ins.line,
            source: Box::new(source),
        };
        step::stage_copy(&plan, &stage_view, &staging).map_err(step_err)?;
        // From a stage, the staged tree itself is what the key hashes.
        let content = match context_hash {
            Some(h) => h,
            None => step::tree_hash(&staging).map_err(step_err)?,
        };
        let key = self.key.child(&[&created_by, &dest, &content.to_string()]);
        if self.cached(&key, &step) {
            let _ = crate::image::unpack::remove_tree(&staging);
            return Ok(());
        }
        let layer = self.layer_of(ins, &staging)?;
        let _ = crate::image::unpack::remove_tree(&staging);
        self.commit_step(key, &created_by, layer)?;
        self.shared.progress.done(&step, began.elapsed());
        Ok(())
    }
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The file name ADD gives a download: the URL path's last segment
/// (`index.html` for none), as Docker does without Content-Disposition.
fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    match after_host.rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." && n != ".." => n.to_string(),
        _ => "index.html".to_string(),
    }
}

/// Whether a shell-form command is just `<<NAME` (`<<-NAME`, quoted or not).
fn is_lone_heredoc(command: &str, name: &str) -> bool {
    let c = command.trim();
    let Some(rest) = c.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let rest = rest.trim_matches(|ch| ch == '"' || ch == '\'');
    rest == name
}

/// Removes from a step's upper dir the empty files and directories the
/// runtime made as mount points at `targets` (and the empty parents it
/// made for them): none of them exists in the layers below.
fn remove_stubs(upper: &Path, targets: &[String], lower: &MergedView) {
    for t in targets {
        let comps = components(t);
        for n in (1..=comps.len()).rev() {
            let rel: PathBuf = comps[..n].iter().collect();
            if lower.lookup(&rel.to_string_lossy()).is_some() {
                break;
            }
            let p = upper.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let removed = if meta.is_dir() {
                std::fs::remove_dir(&p).is_ok()
            } else if meta.is_file() && meta.len() == 0 {
                std::fs::remove_file(&p).is_ok()
            } else {
                false
            };
            if !removed {
                break;
            }
        }
    }
}

/// The merged view of a state's layers.
fn view_of(store: &ImageStore, state: &ImageState) -> Result<MergedView> {
    let mut lowers = Vec::with_capacity(state.layers.len());
    for l in state.layers.iter().rev() {
        let info = store
            .layer(&l.diff_id)?
            .ok_or_else(|| BuildError::MissingLayer {
                diff_id: l.diff_id.clone(),
            })?;
        lowers.push(info.path);
    }
    Ok(MergedView::new(lowers))
}

/// `--chown=user[:group]` as numbers, names looked up in the image's
/// /etc/passwd and /etc/group.
fn resolve_owner(view: &MergedView, spec: &str) -> std::result::Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Option<(u32, Option<u32>)> {
        let path = view.lookup(file)?;
        let text = std::fs::read_to_string(path).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| {
                (
                    f.get(field).and_then(|v| v.parse().ok()).unwrap_or(0),
                    f.get(3).and_then(|v| v.parse().ok()),
                )
            })
        })
    };
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let (uid, gid) = lookup("/etc/passwd", user, 2).ok_or_else(|| {
                format!("--chown={spec}: unknown user {user:?} in the image's /etc/passwd")
            })?;
            (uid, gid)
        }
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                lookup("/etc/group", g, 2)
                    .ok_or_else(|| {
                        format!("--chown={spec}: unknown group {g:?} in the image's /etc/group")
                    })?
                    .0
            }
        },
        // BuildKit: a user given alone gets the same number as group, or its primary group by name.
        None => primary_gid.unwrap_or(uid),
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_named_by_the_url_path() {
        assert_eq!(
            url_file_name("https://example.com/a/b/tool.tar.gz?x=1"),
            "tool.tar.gz"
        );
        assert_eq!(url_file_name("http://127.0.0.1:8080/"), "index.html");
        assert_eq!(url_file_name("http://127.0.0.1:8080"), "index.html");
        assert!(is_url("https://x/y") && !is_url("ftp.txt"));
    }

    #[test]
    fn lone_heredocs_are_told_from_command_lines() {
        assert!(is_lone_heredoc("<<EOF", "EOF"));
        assert!(is_lone_heredoc(" <<-\"EOF\" ", "EOF"));
        assert!(!is_lone_heredoc("cat <<EOF > /x", "EOF"));
    }

    #[test]
    fn history_lists_are_written_as_buildkit_writes_them() {
        assert_eq!(
            go_quoted_list(&["python".into(), "app.py".into()]),
            r#"["python" "app.py"]"#
        );
        assert_eq!(go_list(&["/data".into()]), "[/data]");
    }
}
