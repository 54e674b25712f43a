//! The stage graph: which stages a build needs (`--target`), in which
//! order, which of them can build at the same time, and the global ARG
//! values that FROM lines are expanded with.
//!
//! A stage depends on the stage its FROM names, on `COPY --from=<stage|index>`
//! and on `RUN --mount=from=<stage|index>`. Only earlier stages can be named
//! (a later one is an error, so the graph has no cycles); a name that is no
//! stage is an image.

use super::dockerfile::{expand_from, substitute, Dockerfile, ExpandError, Instruction};
use crate::image::platform::Platform;
use std::collections::{BTreeMap, BTreeSet};

/// Build args BuildKit knows without an `ARG` line: usable in RUN's
/// environment, never written to the image history.
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Platform args that are set in the global scope (for FROM) without being
/// declared; inside a stage they must be declared (`ARG TARGETARCH`).
pub const PLATFORM_ARGS: &[&str] = &[
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

/// A stage graph that cannot be built, each naming the Dockerfile line.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{file}:{line}: {source}")]
    Expand {
        file: String,
        line: usize,
        #[source]
        source: ExpandError,
    },
    #[error("{file}:{line}: FROM: base name ({word}) should not be blank")]
    BlankBase {
        file: String,
        line: usize,
        word: String,
    },
    #[error("{file}:{line}: {what} {reference:?} names stage {reference_index} (line {reference_line}), which is not defined before this stage: a stage can only use the stages above it")]
    ForwardReference {
        file: String,
        line: usize,
        what: &'static str,
        reference: String,
        reference_index: usize,
        reference_line: usize,
    },
    #[error("{file}:{line}: {what} {reference:?}: invalid stage index (the Dockerfile has {count} stages, numbered from 0)")]
    BadIndex {
        file: String,
        line: usize,
        what: &'static str,
        reference: String,
        count: usize,
    },
    #[error("{file}:{line}: variable expansion is not supported for {what} ({reference:?}): define a new stage with FROM using a global ARG instead")]
    VariableReference {
        file: String,
        line: usize,
        what: &'static str,
        reference: String,
    },
    #[error("target stage {target:?} could not be found (stages: {known})")]
    UnknownTarget { target: String, known: String },
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageBase {
    /// `FROM scratch`: an empty filesystem.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (FROM expanded with the global args).
    Image(String),
}

/// Where a `COPY --from` / `RUN --mount=from=` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    Stage(usize),
    Image(String),
}

/// One stage as the build sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    pub index: usize,
    pub name: Option<String>,
    pub base: StageBase,
    /// `--platform` expanded, if given.
    pub platform: Option<String>,
    /// Stages this one needs (its base, COPY --from, RUN --mount from), sorted.
    pub depends_on: Vec<usize>,
    /// Images named by COPY --from / RUN --mount from (not stages), sorted.
    pub images: Vec<String>,
}

/// Inputs of the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `--build-arg` values (a name without value is not here: the caller
    /// resolves `--build-arg NAME` from its environment first).
    pub build_args: BTreeMap<String, String>,
    /// `--target`: a stage name; None builds the last stage.
    pub target: Option<String>,
    /// The platform built on (`BUILDPLATFORM`); None = this host.
    pub build_platform: Option<Platform>,
    /// The platform built for (`TARGETPLATFORM`); None = the build platform.
    pub target_platform: Option<Platform>,
}

/// The stages to build, in dependency order.
#[derive(Debug, Clone)]
pub struct BuildPlan {
    /// Every stage of the Dockerfile (also those not built).
    pub stages: Vec<PlannedStage>,
    /// The stage whose result is the image.
    pub target: usize,
    /// The stages the target needs, grouped: every stage of a group depends
    /// only on stages of earlier groups, so a group can build in parallel.
    pub groups: Vec<Vec<usize>>,
    /// Global ARG values (declared before the first FROM, build-arg
    /// overrides applied) plus the platform args.
    pub global_args: BTreeMap<String, String>,
    /// Platform args for the stages (`TARGETARCH`, ...), used when a stage
    /// declares them without a value.
    pub platform_args: BTreeMap<String, String>,
    /// `--build-arg` names no ARG line declares (BuildKit warns about them).
    pub unused_build_args: Vec<String>,
}

impl BuildPlan {
    /// The stages the target needs, in an order that builds dependencies first.
    pub fn order(&self) -> Vec<usize> {
        self.groups.iter().flatten().copied().collect()
    }

    /// The value an `ARG name[=default]` line inside a stage gives `name`
    /// (the default already expanded): a `--build-arg` wins, then the
    /// default; with no default, the global value of an ARG declared before
    /// FROM, a platform arg, or a proxy build arg.
    pub fn stage_arg_value(
        &self,
        options: &PlanOptions,
        name: &str,
        expanded_default: Option<&str>,
    ) -> Option<String> {
        if let Some(value) = options.build_args.get(name) {
            return Some(value.clone());
        }
        if let Some(default) = expanded_default {
            return Some(default.to_string());
        }
        self.global_args
            .get(name)
            .or_else(|| self.platform_args.get(name))
            .cloned()
    }
}

fn platform_string(platform: &Platform) -> String {
    match &platform.variant {
        Some(variant) => format!("{}/{}/{variant}", platform.os, platform.architecture),
        None => format!("{}/{}", platform.os, platform.architecture),
    }
}

/// `BUILDPLATFORM`, `TARGETOS`, ... for the given platforms.
pub fn platform_args(build: &Platform, target: &Platform) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    for (prefix, platform) in [("BUILD", build), ("TARGET", target)] {
        args.insert(format!("{prefix}PLATFORM"), platform_string(platform));
        args.insert(format!("{prefix}OS"), platform.os.clone());
        args.insert(format!("{prefix}ARCH"), platform.architecture.clone());
        args.insert(
            format!("{prefix}VARIANT"),
            platform.variant.clone().unwrap_or_default(),
        );
    }
    args
}

/// Plans the build of `dockerfile` (`file` names it in errors).
pub fn plan(
    dockerfile: &Dockerfile,
    file: &str,
    options: &PlanOptions,
) -> Result<BuildPlan, StageError> {
    let escape = dockerfile.directives.escape;
    let build_platform = options
        .build_platform
        .clone()
        .unwrap_or_else(Platform::host);
    let target_platform = options
        .target_platform
        .clone()
        .unwrap_or_else(|| build_platform.clone());
    let platform_args = platform_args(&build_platform, &target_platform);

    // Global args: platform args first, then each ARG before FROM in order.
    let mut global_args = platform_args.clone();
    for located in &dockerfile.args_before_from {
        for decl in &located.value {
            let value = match options.build_args.get(&decl.name) {
                Some(value) => Some(value.clone()),
                None => match &decl.default {
                    Some(default) => {
                        let lookup = |name: &str| global_args.get(name).cloned();
                        Some(substitute(default, escape, &lookup).map_err(|source| {
                            StageError::Expand {
                                file: file.to_string(),
                                line: located.line,
                                source: ExpandError::Subst {
                                    instruction: "ARG",
                                    source,
                                },
                            }
                        })?)
                    }
                    None => None,
                },
            };
            if let Some(value) = value {
                global_args.insert(decl.name.clone(), value);
            }
        }
    }

    let by_name: BTreeMap<&str, usize> = dockerfile
        .stages
        .iter()
        .filter_map(|s| s.name.as_deref().map(|n| (n, s.index)))
        .collect();
    let mut stages = Vec::new();
    for stage in &dockerfile.stages {
        let line = stage.from.line;
        let lookup = |name: &str| global_args.get(name).cloned();
        let from = expand_from(&stage.from.value, escape, &lookup).map_err(|source| {
            StageError::Expand {
                file: file.to_string(),
                line,
                source,
            }
        })?;
        if from.image.is_empty() {
            return Err(StageError::BlankBase {
                file: file.to_string(),
                line,
                word: stage.from.value.image.clone(),
            });
        }
        let lower = from.image.to_ascii_lowercase();
        let base = match by_name.get(lower.as_str()) {
            Some(&index) if index < stage.index => StageBase::Stage(index),
            _ if lower == "scratch" => StageBase::Scratch,
            _ => StageBase::Image(from.image.clone()),
        };
        let mut depends_on = BTreeSet::new();
        let mut images = BTreeSet::new();
        if let StageBase::Stage(index) = base {
            depends_on.insert(index);
        }
        let mut references: Vec<(usize, &'static str, &str)> = Vec::new();
        for located in &stage.instructions {
            match &located.value {
                Instruction::Copy(copy) => {
                    if let Some(from) = &copy.from {
                        references.push((located.line, "COPY --from", from));
                    }
                }
                Instruction::Run(run) => {
                    for mount in &run.mounts {
                        if let Some(from) = &mount.from {
                            references.push((located.line, "RUN --mount from", from));
                        }
                    }
                }
                _ => {}
            }
        }
        for (line, what, reference) in references {
            match resolve_reference(
                dockerfile,
                file,
                stage.index,
                line,
                what,
                reference,
                &by_name,
            )? {
                SourceRef::Stage(index) => {
                    depends_on.insert(index);
                }
                SourceRef::Image(image) => {
                    images.insert(image);
                }
            }
        }
        stages.push(PlannedStage {
            index: stage.index,
            name: stage.name.clone(),
            base,
            platform: from.platform,
            depends_on: depends_on.into_iter().collect(),
            images: images.into_iter().collect(),
        });
    }

    let target = match &options.target {
        None => stages.len().saturating_sub(1),
        Some(target) => {
            let lower = target.to_ascii_lowercase();
            *by_name
                .get(lower.as_str())
                .ok_or_else(|| StageError::UnknownTarget {
                    target: target.clone(),
                    known: if by_name.is_empty() {
                        "none is named".to_string()
                    } else {
                        by_name.keys().copied().collect::<Vec<_>>().join(", ")
                    },
                })?
        }
    };
    let groups = groups_for(&stages, target);
    let unused_build_args = unused_build_args(dockerfile, &options.build_args);
    Ok(BuildPlan {
        stages,
        target,
        groups,
        global_args,
        platform_args,
        unused_build_args,
    })
}

/// Resolves a `--from` word of stage `current`: a stage name, a stage
/// index, or else an image.
pub fn resolve_reference(
    dockerfile: &Dockerfile,
    file: &str,
    current: usize,
    line: usize,
    what: &'static str,
    reference: &str,
    by_name: &BTreeMap<&str, usize>,
) -> Result<SourceRef, StageError> {
    let no_variables = |_: &str| None;
    let literal = substitute(reference, dockerfile.directives.escape, &no_variables)
        .map(|expanded| expanded == reference)
        .unwrap_or(false);
    if !literal {
        return Err(StageError::VariableReference {
            file: file.to_string(),
            line,
            what,
            reference: reference.to_string(),
        });
    }
    let index = match reference.parse::<usize>() {
        Ok(index) => {
            if index >= dockerfile.stages.len() {
                return Err(StageError::BadIndex {
                    file: file.to_string(),
                    line,
                    what,
                    reference: reference.to_string(),
                    count: dockerfile.stages.len(),
                });
            }
            index
        }
        Err(_) => match by_name.get(reference.to_ascii_lowercase().as_str()) {
            Some(&index) => index,
            None => return Ok(SourceRef::Image(reference.to_string())),
        },
    };
    if index >= current {
        return Err(StageError::ForwardReference {
            file: file.to_string(),
            line,
            what,
            reference: reference.to_string(),
            reference_index: index,
            reference_line: dockerfile.stages[index].from.line,
        });
    }
    Ok(SourceRef::Stage(index))
}

/// The stages `target` needs, grouped by depth: a stage's group is one more
/// than the deepest group among its dependencies.
fn groups_for(stages: &[PlannedStage], target: usize) -> Vec<Vec<usize>> {
    let mut needed = BTreeSet::new();
    let mut pending = vec![target];
    while let Some(index) = pending.pop() {
        if needed.insert(index) {
            if let Some(stage) = stages.get(index) {
                pending.extend(stage.depends_on.iter().copied());
            }
        }
    }
    // Dependencies always have smaller indices, so one pass in index order works.
    let mut depth: BTreeMap<usize, usize> = BTreeMap::new();
    for &index in &needed {
        let level = stages[index]
            .depends_on
            .iter()
            .filter_map(|d| depth.get(d))
            .map(|d| d + 1)
            .max()
            .unwrap_or(0);
        depth.insert(index, level);
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, level) in depth {
        if groups.len() <= level {
            groups.resize(level + 1, Vec::new());
        }
        groups[level].push(index);
    }
    groups
}

/// `--build-arg` names that no ARG line declares and that BuildKit does not
/// predefine, sorted.
pub fn unused_build_args(
    dockerfile: &Dockerfile,
    build_args: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut declared: BTreeSet<&str> = BTreeSet::new();
    for located in &dockerfile.args_before_from {
        declared.extend(located.value.iter().map(|d| d.name.as_str()));
    }
    for stage in &dockerfile.stages {
        for located in &stage.instructions {
            if let Instruction::Arg(decls) = &located.value {
                declared.extend(decls.iter().map(|d| d.name.as_str()));
            }
        }
    }
    build_args
        .keys()
        .filter(|name| {
            !declared.contains(name.as_str())
                && !PROXY_ARGS.contains(&name.as_str())
                && !name.starts_with("BUILDKIT_")
                && !name.starts_with("SOURCE_DATE_EPOCH")
        })
        .cloned()
        .collect()
}
