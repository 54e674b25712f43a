//! The build's walk: the stages a target needs, independent ones in parallel,
//! each through its instructions, then the committed (and tagged) image.

use super::{
    is_vertex, last_created, now, set_label, BuildError, BuildHost, BuildRequest, Built, Result,
    Shared, StageResult, StageRun,
};
use crate::build::cache::{BuildCache, CacheKey};
use crate::build::dockerfile::{self as df};
use crate::build::image::ImageState;
use crate::build::progress::BuildProgress;
use crate::image::store::{ImageStore, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Builds started by this process, numbering their store holders.
static BUILDS: AtomicUsize = AtomicUsize::new(0);

/// Runs the build and commits (and tags) the image.
pub fn build(
    req: &BuildRequest,
    store: &ImageStore,
    host: &dyn BuildHost,
    progress: &dyn BuildProgress,
) -> Result<Built> {
    // Compose builds run several at once in one process: each has its own
    // scratch dir and store holder, so one finishing cannot take away what
    // another still uses.
    let number = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch_dir = store
        .root()
        .join("build-tmp")
        .join(format!("{}-{number}", std::process::id()));
    clean_scratch(&store.root().join("build-tmp"))?;
    std::fs::create_dir_all(&scratch_dir).map_err(|source| BuildError::Scratch {
        path: scratch_dir.clone(),
        source,
    })?;
    if let Some(unknown) = req
        .no_cache_filter
        .iter()
        .find(|f| req.dockerfile.stage(f).is_none())
    {
        return Err(BuildError::NoCacheFilter {
            stage: unknown.clone(),
        });
    }
    let plan_options = crate::build::stages::PlanOptions {
        build_args: req.build_args.clone(),
        target: req.target.clone(),
        build_platform: None,
        target_platform: Some(req.platform.clone()),
        named_contexts: req.named_contexts.keys().cloned().collect(),
    };
    let plan = crate::build::stages::plan(&req.dockerfile, &req.dockerfile_name, &plan_options)
        .map_err(|e| BuildError::Stages(Box::new(e)))?;
    // Dropped (the agents killed) when the build ends, however it ends.
    let agents = super::ssh::SshAgents::start(&req.ssh, &scratch_dir);
    let agents = match agents {
        Ok(a) => a,
        Err(e) => {
            let _ = crate::image::unpack::remove_tree(&scratch_dir);
            return Err(e);
        }
    };
    let shared = Shared {
        req,
        store,
        cache: BuildCache::open(store)?,
        host,
        progress,
        holder: format!("build-{}-{number}", std::process::id()),
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
        cache_from: req
            .cache_from
            .iter()
            .map(|r| ImageState::from_record(store, r))
            .collect::<std::result::Result<_, _>>()?,
        named_dirs: Mutex::new(BTreeMap::new()),
        ssh_sockets: agents.sockets.clone(),
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
    drop(agents);
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

/// Removes scratch dirs (`<pid>-<n>`) of builds whose process is gone.
fn clean_scratch(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let alive = e
            .file_name()
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(crate::runtime::container::process_alive);
        if !alive {
            let _ = crate::image::unpack::remove_tree(&e.path());
        }
    }
    Ok(())
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
    let total = if shared.plan.stages[index].replaced {
        1
    } else {
        1 + stage
            .instructions
            .iter()
            .filter(|i| is_vertex(&i.value))
            .count()
    };
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
        StageBase::Context(key) => {
            let text = if shared.plan.stages[index].replaced {
                format!("FROM context {key}")
            } else {
                format!("FROM {}", stage.from.value.image)
            };
            let step = shared.step(title(1, &text));
            shared.context_base(&key, stage.from.line, &step)?
        }
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
    // A stage a named context replaces is that context, nothing more.
    if shared.plan.stages[index].replaced {
        return Ok(StageResult {
            state: run.state,
            key: run.key,
        });
    }
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
