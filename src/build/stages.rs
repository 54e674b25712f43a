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
    /// A named context (`--build-context`, compose `additional_contexts`),
    /// by its key ([`context_key`]).
    Context(String),
}

/// Where a `COPY --from` / `RUN --mount=from=` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    Stage(usize),
    Image(String),
    /// A named context, by its key ([`context_key`]).
    Context(String),
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
    /// A named context of the stage's name replaces the stage: its base is
    /// that context and its instructions are not run (BuildKit's rule).
    pub replaced: bool,
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
    /// Keys ([`context_key`]) of the named contexts: a stage, FROM or
    /// `--from` word with one of these names reads that context instead.
    pub named_contexts: BTreeSet<String>,
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
        // FROM sees the stages above it only (the latest of a repeated name).
        let earlier = dockerfile.stages[..stage.index]
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(lower.as_str()));
        let named = |word: &str| {
            let key = context_key(word);
            options.named_contexts.contains(&key).then_some(key)
        };
        let replaced_by = stage.name.as_deref().and_then(named);
        let replaced = replaced_by.is_some();
        let base = match (replaced_by, earlier) {
            (Some(key), _) => StageBase::Context(key),
            (None, Some(earlier)) => StageBase::Stage(earlier.index),
            (None, None) if lower == "scratch" => StageBase::Scratch,
            (None, None) => match named(&from.image) {
                Some(key) => StageBase::Context(key),
                None => StageBase::Image(from.image.clone()),
            },
        };
        let mut depends_on = BTreeSet::new();
        let mut images = BTreeSet::new();
        if let StageBase::Stage(index) = base {
            depends_on.insert(index);
        }
        let mut references: Vec<(usize, &'static str, &str)> = Vec::new();
        // A replaced stage runs none of its instructions.
        let instructions = if replaced {
            &[][..]
        } else {
            &stage.instructions[..]
        };
        for located in instructions {
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
                SourceRef::Image(image) => match named(&image) {
                    Some(_) => {}
                    None => {
                        images.insert(image);
                    }
                },
                SourceRef::Context(_) => {}
            }
        }
        stages.push(PlannedStage {
            index: stage.index,
            name: stage.name.clone(),
            base,
            platform: from.platform,
            depends_on: depends_on.into_iter().collect(),
            images: images.into_iter().collect(),
            replaced,
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

/// How a named context is looked up, as BuildKit does: a FROM or `--from`
/// word is read as an image reference in Docker's short form, without
/// `:latest` (`docker.io/library/alpine:latest` and `alpine` are one name).
pub fn context_key(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let short = lower
        .strip_prefix("docker.io/library/")
        .or_else(|| lower.strip_prefix("index.docker.io/library/"))
        .or_else(|| lower.strip_prefix("docker.io/"))
        .or_else(|| lower.strip_prefix("index.docker.io/"))
        .unwrap_or(&lower);
    let short = short.strip_suffix(":latest").unwrap_or(short);
    short.to_string()
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

#[cfg(test)]
mod tests {
    use super::super::dockerfile::parse;
    use super::*;

    fn amd64() -> Platform {
        Platform::new("linux", "amd64", None)
    }

    fn options(build_args: &[(&str, &str)], target: Option<&str>) -> PlanOptions {
        PlanOptions {
            build_args: build_args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            target: target.map(str::to_string),
            build_platform: Some(amd64()),
            target_platform: None,
            named_contexts: BTreeSet::new(),
        }
    }

    fn plan_of(text: &str, options: &PlanOptions) -> Result<BuildPlan, StageError> {
        let dockerfile = parse(text, "Dockerfile").unwrap_or_else(|e| panic!("{e}"));
        plan(&dockerfile, "Dockerfile", options)
    }

    const FOUR_STAGES: &str = "\
FROM debian AS deps
RUN fetch
FROM alpine AS tools
RUN build-tools
FROM deps AS build
COPY --from=tools /bin/tool /bin/
RUN --mount=type=bind,from=0,target=/d make
COPY --from=nginx:alpine /etc/nginx /etc/nginx
FROM scratch AS unrelated
COPY --from=busybox /bin/sh /sh
";

    #[test]
    fn dependencies_targets_and_parallel_groups() {
        let plan = plan_of(FOUR_STAGES, &options(&[], Some("build"))).unwrap();
        let build = &plan.stages[2];
        assert_eq!(build.base, StageBase::Stage(0));
        assert_eq!(build.depends_on, vec![0, 1]);
        assert_eq!(build.images, vec!["nginx:alpine".to_string()]);
        assert_eq!(plan.target, 2);
        // deps and tools are independent: one group; build after them; unrelated skipped.
        assert_eq!(plan.groups, vec![vec![0, 1], vec![2]]);
        assert_eq!(plan.order(), vec![0, 1, 2]);
        assert_eq!(plan.stages[3].base, StageBase::Scratch);
        assert_eq!(plan.stages[0].base, StageBase::Image("debian".into()));

        // No target: the last stage, which needs nothing else.
        let plan = plan_of(FOUR_STAGES, &options(&[], None)).unwrap();
        assert_eq!((plan.target, plan.groups.clone()), (3, vec![vec![3]]));
        // Target names are case-insensitive.
        assert_eq!(
            plan_of(FOUR_STAGES, &options(&[], Some("TOOLS")))
                .unwrap()
                .groups,
            vec![vec![1]]
        );
    }

    #[test]
    fn named_contexts_win_over_images_and_replace_stages() {
        let mut opts = options(&[], Some("build"));
        opts.named_contexts = ["deps", "nginx:alpine", "debian"]
            .map(String::from)
            .into_iter()
            .collect();
        let plan = plan_of(FOUR_STAGES, &opts).unwrap();
        // The stage named deps is the context: nothing of it runs, no image is needed.
        assert_eq!(plan.stages[0].base, StageBase::Context("deps".into()));
        assert!(plan.stages[0].replaced && !plan.stages[1].replaced);
        let build = &plan.stages[2];
        assert_eq!(build.base, StageBase::Stage(0));
        assert_eq!(build.depends_on, vec![0, 1]);
        // COPY --from=nginx:alpine reads the context, not the image.
        assert!(build.images.is_empty(), "{:?}", build.images);
        // FROM words are looked up in Docker's short form, without :latest.
        opts.target = None;
        let plan = plan_of("FROM docker.io/library/debian:latest\nRUN x\n", &opts).unwrap();
        assert_eq!(plan.stages[0].base, StageBase::Context("debian".into()));
        assert!(!plan.stages[0].replaced);
        let plan = plan_of("FROM debian:12\n", &opts).unwrap();
        assert_eq!(plan.stages[0].base, StageBase::Image("debian:12".into()));
        assert_eq!(context_key("Docker.io/Foo/Bar:latest"), "foo/bar");
        assert_eq!(context_key("127.0.0.1:5000/x:latest"), "127.0.0.1:5000/x");
    }

    #[test]
    fn a_stage_named_like_its_base_image_builds_on_the_image() {
        let plan = plan_of(
            "FROM alpine AS alpine\nRUN x\nFROM alpine\n",
            &options(&[], None),
        )
        .unwrap();
        assert_eq!(plan.stages[0].base, StageBase::Image("alpine".into()));
        assert_eq!(plan.stages[1].base, StageBase::Stage(0));
        assert_eq!(plan.groups, vec![vec![0], vec![1]]);
    }

    #[test]
    fn bad_references_are_errors_with_lines() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            (
                "FROM a AS one\nCOPY --from=two /x /x\nFROM b AS two\n",
                None,
                "Dockerfile:2: COPY --from \"two\" names stage 1 (line 3), which is not defined before this stage",
            ),
            ("FROM a\nCOPY --from=0 /x /x\n", None, "Dockerfile:2: COPY --from \"0\" names stage 0"),
            ("FROM a\nCOPY --from=3 /x /x\n", None, "Dockerfile:2: COPY --from \"3\": invalid stage index (the Dockerfile has 1 stages"),
            ("FROM a\nCOPY --from=$STAGE /x /x\n", None, "Dockerfile:2: variable expansion is not supported for COPY --from"),
            (
                "FROM a AS one\nRUN --mount=from=two,target=/t x\nFROM b AS two\n",
                None,
                "Dockerfile:2: RUN --mount from \"two\" names stage 1",
            ),
            ("FROM a AS one\n", Some("two"), "target stage \"two\" could not be found (stages: one)"),
            ("FROM ${EMPTY}\n", None, "Dockerfile:1: FROM: base name (${EMPTY}) should not be blank"),
            ("ARG V=${X:?need X}\nFROM a:$V\n", None, "Dockerfile:1: ARG: failed to process"),
        ];
        for (text, target, expected) in cases {
            let error = plan_of(text, &options(&[], *target))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(expected),
                "{text:?}: {error}\nexpected: {expected}"
            );
        }
    }

    #[test]
    fn global_args_expand_from_lines_with_build_arg_overrides() {
        let text = "\
ARG REGISTRY=docker.io
ARG IMAGE=$REGISTRY/library/python
ARG TAG
FROM --platform=$BUILDPLATFORM $IMAGE:${TAG:-3.12} AS app
ARG TAG
FROM ${REGISTRY}/other:$TARGETARCH
";
        let plan = plan_of(text, &options(&[], None)).unwrap();
        assert_eq!(
            plan.stages[0].base,
            StageBase::Image("docker.io/library/python:3.12".into())
        );
        assert_eq!(plan.stages[0].platform.as_deref(), Some("linux/amd64"));
        assert_eq!(
            plan.stages[1].base,
            StageBase::Image("docker.io/other:amd64".into())
        );

        let plan = plan_of(
            text,
            &options(
                &[
                    ("REGISTRY", "localhost:5000"),
                    ("TAG", "3.13"),
                    ("UNUSED", "x"),
                    ("HTTP_PROXY", "p"),
                ],
                None,
            ),
        )
        .unwrap();
        assert_eq!(
            plan.stages[0].base,
            StageBase::Image("localhost:5000/library/python:3.13".into())
        );
        assert_eq!(
            plan.global_args.get("IMAGE").map(String::as_str),
            Some("localhost:5000/library/python")
        );
        assert_eq!(plan.unused_build_args, vec!["UNUSED".to_string()]);
    }

    #[test]
    fn stage_arg_values() {
        let text = "ARG VERSION=1\nFROM a\nARG VERSION\nARG TARGETARCH\nARG MODE=dev\n";
        let opts = options(&[("MODE", "prod")], None);
        let plan = plan_of(text, &opts).unwrap();
        assert_eq!(
            plan.stage_arg_value(&opts, "VERSION", None).as_deref(),
            Some("1")
        );
        assert_eq!(
            plan.stage_arg_value(&opts, "TARGETARCH", None).as_deref(),
            Some("amd64")
        );
        assert_eq!(
            plan.stage_arg_value(&opts, "MODE", Some("dev")).as_deref(),
            Some("prod")
        );
        assert_eq!(
            plan.stage_arg_value(&opts, "OTHER", Some("x")).as_deref(),
            Some("x")
        );
        assert_eq!(plan.stage_arg_value(&opts, "OTHER", None), None);
    }

    #[test]
    fn platform_args_name_both_platforms() {
        let args = platform_args(&amd64(), &Platform::new("linux", "arm", Some("v7")));
        assert_eq!(args["BUILDPLATFORM"], "linux/amd64");
        assert_eq!(args["BUILDVARIANT"], "");
        assert_eq!(args["TARGETPLATFORM"], "linux/arm/v7");
        assert_eq!(
            (
                args["TARGETOS"].as_str(),
                args["TARGETARCH"].as_str(),
                args["TARGETVARIANT"].as_str()
            ),
            ("linux", "arm", "v7")
        );
    }
}
