//! The build executor: walks the stages a target needs (independent ones in
//! parallel), applies each instruction to the stage's image state as
//! BuildKit does, runs RUN steps through the caller's [`BuildHost`] (the
//! runtime side), writes COPY/ADD layers directly, consults and fills the
//! cache, and commits the final image.

mod copy;
mod driver;
mod instruction;
mod named;
mod run;
mod ssh;

use crate::build::cache::{BuildCache, CacheError, CacheKey};
use crate::build::dockerfile::{self as df, CommandForm, Dockerfile, Instruction, Located};
use crate::build::image::{ImageError, ImageState};
use crate::build::layer::{self, LayerError, LayerOptions, NewLayer};
use crate::build::progress::{BuildProgress, StepName};
use crate::build::step::StepError;
use crate::build::tree::MergedView;
use crate::image::digest::Digest;
use crate::image::platform::Platform;
use crate::image::store::{ImageRecord, ImageStore, StoreError};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub use driver::build;
pub use instruction::apply_config;
pub use named::NamedContext;
pub use ssh::SshSource;

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
    #[error("--no-cache-filter {stage:?}: the Dockerfile has no such stage")]
    NoCacheFilter { stage: String },
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
    #[error("--ssh {id}: {message}")]
    Ssh {
        id: String,
        message: String,
        #[source]
        source: Option<std::io::Error>,
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
    /// `--no-cache-filter`: stages (by name or index) whose steps ignore the cache.
    pub no_cache_filter: Vec<String>,
    pub source_date_epoch: Option<u64>,
    pub platform: Platform,
    /// `--secret id=…,src=…|env=…`: what `RUN --mount=type=secret` reads.
    pub secrets: BTreeMap<String, Secret>,
    /// `--ssh ID[=SOCKET|KEY,…]`: the agent socket (or the keys of an agent
    /// the build starts) each id forwards to `RUN --mount=type=ssh`.
    pub ssh: BTreeMap<String, SshSource>,
    /// `--cache-from`: images whose history and layers seed the cache.
    pub cache_from: Vec<ImageRecord>,
    /// `--build-context NAME=…` by [`context_key`](crate::build::stages::context_key)
    /// of NAME: they win over a stage or image of that name.
    pub named_contexts: BTreeMap<String, NamedContext>,
}

/// Where a build secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
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
    /// The `--cache-from` images' states.
    cache_from: Vec<ImageState>,
    /// The agent socket of each `--ssh` id.
    ssh_sockets: BTreeMap<String, PathBuf>,
    /// Named directory contexts, walked on first use.
    named_dirs: Mutex<BTreeMap<String, std::sync::Arc<crate::build::context::Context>>>,
}

/// A finished stage.
#[derive(Clone)]
struct StageResult {
    state: ImageState,
    key: CacheKey,
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
            ..LayerOptions::default()
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
    /// `--no-cache`, or `--no-cache-filter` naming this stage.
    fn no_cache(&self) -> bool {
        let req = self.shared.req;
        req.no_cache
            || req.no_cache_filter.iter().any(|f| {
                req.dockerfile
                    .stage(f)
                    .is_some_and(|s| s.index == self.index)
            })
    }

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
}

impl StageRun<'_, '_> {
    /// A config-only step: a history entry with `empty_layer`, cached so
    /// that a rebuild gives the same image.
    fn metadata(&mut self, created_by: &str) -> Result<()> {
        let key = self.key.child(&[created_by]);
        if !self.no_cache() {
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
        if self.no_cache() {
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

    /// `--cache-from`: the state after a step written `created_by`, taken
    /// from an image whose history and layers so far are exactly this
    /// state's and whose next history entry is that step. A COPY's history
    /// does not name its content: its caller proves it ([`Self::seed_matches`]).
    fn seeded(&self, created_by: &str) -> Option<ImageState> {
        let history = |s: &ImageState| {
            s.document["history"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        let ours = history(&self.state);
        let same = |a: &serde_json::Value, b: &serde_json::Value| {
            a["created_by"] == b["created_by"]
                && a["empty_layer"].as_bool().unwrap_or(false)
                    == b["empty_layer"].as_bool().unwrap_or(false)
        };
        self.shared.cache_from.iter().find_map(|from| {
            let theirs = history(from);
            let next = theirs.get(ours.len())?;
            let layers = self.state.layers.len();
            let prefix_matches = ours.iter().zip(&theirs).all(|(a, b)| same(a, b))
                && from.layers.len() >= layers
                && from.layers[..layers]
                    .iter()
                    .zip(&self.state.layers)
                    .all(|(a, b)| a.diff_id == b.diff_id);
            if !prefix_matches || next["created_by"].as_str() != Some(created_by) {
                return None;
            }
            let empty = next["empty_layer"].as_bool().unwrap_or(false);
            let mut state = self.state.clone();
            let created = next["created"].as_str().unwrap_or("1970-01-01T00:00:00Z");
            state.add_history(created_by, created, empty);
            if !empty {
                state.push_layer(from.layers.get(layers)?.clone());
            }
            Some(state)
        })
    }

    /// Takes a `--cache-from` image's state for a step, as a cache hit.
    fn take_seed(&mut self, key: CacheKey, state: ImageState, step: &StepName) -> Result<()> {
        // The layer stays the --cache-from image's; a cache entry whose
        // layer goes with that image counts as a miss.
        self.shared.cache.put(&key, &state, None)?;
        self.state = state;
        self.key = key;
        self.shared.progress.cached(step);
        self.shared.cached.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Whether a `--cache-from` state for a COPY/ADD holds exactly what the
    /// step staged in `staging`: its last layer's files hash as the staged
    /// tree does (paths, types, modes, owners, contents, link targets), or
    /// both are empty. Anything that cannot be read is no proof.
    fn seed_matches(&self, seeded: &ImageState, staging: &Path) -> bool {
        let staged_empty = layer::is_empty_dir(staging).unwrap_or(false);
        let seed_empty = seeded.layers.len() == self.state.layers.len();
        if staged_empty || seed_empty {
            return staged_empty && seed_empty;
        }
        let Some(last) = seeded.layers.last() else {
            return false;
        };
        let Ok(Some(info)) = self.shared.store.layer(&last.diff_id) else {
            return false;
        };
        match (
            crate::build::step::tree_hash(&info.path),
            crate::build::step::tree_hash(staging),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
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
}

/// The merged view of a state's layers.
fn view_of(store: &ImageStore, state: &ImageState) -> Result<MergedView> {
    layers_view(store, &state.layers)
}

/// The merged view of unpacked layers (bottom first, as an image lists them).
pub fn layers_view(
    store: &ImageStore,
    layers: &[crate::image::store::LayerRecord],
) -> Result<MergedView> {
    let mut lowers = Vec::with_capacity(layers.len());
    for l in layers.iter().rev() {
        let info = store
            .layer(&l.diff_id)?
            .ok_or_else(|| BuildError::MissingLayer {
                diff_id: l.diff_id.clone(),
            })?;
        lowers.push(info.path);
    }
    Ok(MergedView::new(lowers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lists_are_written_as_buildkit_writes_them() {
        assert_eq!(
            go_quoted_list(&["python".into(), "app.py".into()]),
            r#"["python" "app.py"]"#
        );
        assert_eq!(go_list(&["/data".into()]), "[/data]");
    }
}
