//! A container's filesystem as Docker's verbs show it: `diff` (its
//! changes), `export` (its whole tree as a tar), `commit` (its changes as a
//! new image) and `import` (a tar as a new image).

use super::common::{self, fail, open, open_store};
use crate::build::builder::{apply_config, layers_view};
use crate::build::container::{self as fs_view, init_paths};
use crate::build::dockerfile::{self as df, Instruction};
use crate::build::image::ImageState;
use crate::build::layer::{commit_dir, LayerOptions, NewLayer};
use crate::cli::args::container::{CommitArgs, DiffArgs, ExportArgs};
use crate::cli::args::image::ImportArgs;
use crate::cli::progress::{progress_event, Progress};
use crate::cli::resolve::{Settings, Target};
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::image::store::{ImageRecord, ImageStore};
use crate::runtime::container::{ContainerRecord, Containers, Status};
use crate::runtime::rootfs::upper_dir;
use crate::supervise::control;
use anyhow::{bail, Context as _};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// The diff id of a tar with no entries (moby's `DigestSHA256EmptyTar`):
/// a commit that changed nothing adds no layer, only a history entry.
const EMPTY_TAR_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// The stored image a container was created from.
fn container_image(store: &ImageStore, record: &ContainerRecord) -> anyhow::Result<ImageRecord> {
    store
        .resolve(&record.image_id.to_string())?
        .with_context(|| {
            format!(
                "the image of container {} ({}) is no longer stored",
                record.name, record.image
            )
        })
}

/// `docker diff`: `A`/`C`/`D` and the path, one change a line.
pub fn diff(settings: &Settings, args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let (containers, store) = open(settings)?;
    let record = containers.find(&args.container)?;
    let image = container_image(&store, &record)?;
    let lower = layers_view(&store, &image.layers)?;
    let upper = upper_dir(&containers.dir(&record.id).path);
    if !upper.is_dir() {
        // Never started: nothing changed yet.
        return Ok(ExitCode::SUCCESS);
    }
    let changes = fs_view::changes(&upper, &lower)?;
    let mut out = std::io::stdout().lock();
    for c in changes {
        writeln!(out, "{} {}", c.kind.letter(), c.path)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The container an `export`/`commit` acts on: with a compose project, the
/// running container of the service (`--index N`, else the first; Compose's
/// choice), else the container named. `Err` is Compose's message for a
/// service with no running container.
fn chosen_container(
    settings: &Settings,
    target: &Target,
    containers: &Containers,
    name: &str,
    index: Option<u32>,
) -> anyhow::Result<Result<ContainerRecord, String>> {
    match target.project() {
        Some((project, _)) => {
            let env = common::env(settings)?;
            Ok(common::running_container(&env, project, name, index)?.map(|c| c.record))
        }
        None if index.is_some() => bail!(
            "--index is for a service of a compose project; {name:?} is none (a container has no replicas)"
        ),
        None => Ok(Ok(containers.find(name)?)),
    }
}

/// `docker export`: the container's filesystem (without its volumes) as a
/// tar, to `-o FILE` (removed again on failure) or standard output.
/// `export SERVICE` is Compose's: the service's running container.
pub fn export(settings: &Settings, target: &Target, args: &ExportArgs) -> anyhow::Result<ExitCode> {
    let (containers, store) = open(settings)?;
    let record = match chosen_container(settings, target, &containers, &args.container, args.index)?
    {
        Ok(r) => r,
        Err(msg) => return Ok(fail(msg, 1)),
    };
    if args.output.is_none() && std::io::stdout().is_terminal() {
        // Each tool's own words.
        if target.project().is_some() {
            bail!("output option is required when exporting to terminal");
        }
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let progress = target.project().map(|_| Progress::of(settings));
    if let Some(p) = &progress {
        progress_event(p, &record.name, "Exporting", false);
    }
    export_container(&containers, &store, &record, args.output.as_deref())?;
    if let Some(p) = &progress {
        progress_event(p, &record.name, "Exported", true);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `record`'s merged filesystem as a tar to `output` (or stdout).
pub fn export_container(
    containers: &Containers,
    store: &ImageStore,
    record: &ContainerRecord,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    let image = container_image(store, record)?;
    let mut view = layers_view(store, &image.layers)?;
    let upper = upper_dir(&containers.dir(&record.id).path);
    if upper.is_dir() {
        view = view.with_top(upper);
    }
    match output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("--output {}", path.display()))?;
            let result = fs_view::write_tar(&view, std::io::BufWriter::new(file));
            if result.is_err() {
                let _ = std::fs::remove_file(path);
            }
            result.with_context(|| format!("exporting {} to {}", record.name, path.display()))
        }
        None => fs_view::write_tar(&view, std::io::stdout().lock())
            .with_context(|| format!("exporting {}", record.name)),
    }
}

/// The references `REPOSITORY[:TAG]` names (none without one).
fn references_of(repository: Option<&str>) -> anyhow::Result<Vec<String>> {
    repository
        .map(|r| {
            Reference::parse(r)
                .map(|p| p.to_string())
                .with_context(|| format!("invalid reference format: {r:?}"))
        })
        .into_iter()
        .collect()
}

/// Applies `--change` lines, as `docker commit`/`import` do: Dockerfile
/// instructions that change the config only, with `$VAR` from its Env.
fn apply_changes(state: &mut ImageState, changes: &[String]) -> anyhow::Result<()> {
    const ALLOWED: &[&str] = &[
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "LABEL",
        "ONBUILD",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ];
    for change in changes {
        let keyword = change.split_whitespace().next().unwrap_or_default();
        if !ALLOWED.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
            bail!(
                "--change {change:?}: {} is not a valid change command (one of {})",
                keyword.to_ascii_lowercase(),
                ALLOWED.join(", ")
            );
        }
        let parsed = df::parse(&format!("FROM scratch\n{change}\n"), "--change")
            .with_context(|| format!("--change {change:?}"))?;
        let Some(ins) = parsed.stages.first().and_then(|s| s.instructions.first()) else {
            bail!("--change {change:?}: no instruction");
        };
        let expanded = {
            let env = state.env();
            let lookup = |k: &str| {
                env.iter().find_map(|e| {
                    e.strip_prefix(k)
                        .and_then(|r| r.strip_prefix('='))
                        .map(str::to_string)
                })
            };
            df::expand_instruction(&ins.value, '\\', &lookup)
                .with_context(|| format!("--change {change:?}"))?
        };
        if let Instruction::Workdir(dir) = &expanded {
            let base = state
                .string_field("WorkingDir")
                .unwrap_or_else(|| "/".into());
            let joined = if dir.starts_with('/') {
                dir.clone()
            } else {
                format!("{}/{dir}", base.trim_end_matches('/'))
            };
            state
                .config_mut()
                .insert("WorkingDir".into(), json!(joined));
            continue;
        }
        let shell = state
            .string_list("Shell")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
        // Docker keeps the image's Cmd when a change sets only ENTRYPOINT.
        let mut cmd_set = true;
        apply_config(state, &expanded, &shell, &mut cmd_set)
            .with_context(|| format!("--change {change:?}"))?;
    }
    Ok(())
}

/// Sets the comment (and author) of the newest history entry, as Docker's
/// commit and import write it.
fn set_last_history(state: &mut ImageState, comment: &str, author: Option<&str>) {
    if let Some(last) = state.document["history"]
        .as_array_mut()
        .and_then(|h| h.last_mut())
    {
        if comment.is_empty() {
            if let Some(o) = last.as_object_mut() {
                o.remove("comment");
            }
        } else {
            last["comment"] = json!(comment);
        }
        if let Some(a) = author {
            last["author"] = json!(a);
        }
    }
}

/// A store holder for one commit or import, released when done.
fn holder(verb: &str) -> String {
    format!("{verb}-{}", std::process::id())
}

/// Commits `dir` as a layer, unless it holds nothing (then `None`).
fn layer_of(
    store: &ImageStore,
    dir: &Path,
    opts: &LayerOptions,
    holder: &str,
) -> anyhow::Result<Option<NewLayer>> {
    let layer = commit_dir(store, dir, opts, holder)?;
    Ok((layer.record.diff_id.to_string() != EMPTY_TAR_DIFF_ID).then_some(layer))
}

/// `docker commit`: the container's changes on top of its image, with
/// the container's config (command, env, working dir, user, labels) and
/// the `--change` lines; the container is paused meanwhile unless
/// `--pause=false`. Prints the new image's id. `commit SERVICE` is
/// Compose's: the service's running container, and the id is told in
/// its progress line ("Committed as …") instead.
pub fn commit(settings: &Settings, target: &Target, args: &CommitArgs) -> anyhow::Result<ExitCode> {
    let (containers, store) = open(settings)?;
    let record = match chosen_container(settings, target, &containers, &args.container, args.index)?
    {
        Ok(r) => r,
        Err(msg) => return Ok(fail(msg, 1)),
    };
    if target.project().is_none() {
        let image = commit_container(&containers, &store, &record, args)?;
        println!("{}", image.id());
        return Ok(ExitCode::SUCCESS);
    }
    let progress = Progress::of(settings);
    progress_event(&progress, &record.name, "Committing", false);
    let image = commit_container(&containers, &store, &record, args)?;
    progress_event(
        &progress,
        &record.name,
        &format!("Committed as {}", image.id()),
        true,
    );
    Ok(ExitCode::SUCCESS)
}

/// The work of [`commit`] on a found container; returns the stored image.
pub fn commit_container(
    containers: &Containers,
    store: &ImageStore,
    record: &ContainerRecord,
    args: &CommitArgs,
) -> anyhow::Result<ImageRecord> {
    let references = references_of(args.repository.as_deref())?;
    let base = container_image(store, record)?;
    let mut state = ImageState::from_record(store, &base)?;
    container_config(&mut state, record);
    // Docker's history line is the container's command, before --change.
    let created_by = state
        .string_list("Cmd")
        .map(|c| c.join(" "))
        .unwrap_or_default();
    apply_changes(&mut state, &args.change)?;

    let paused = args.pause && containers.state(&record.id)?.status == Status::Running;
    if paused {
        control::pause(containers, &record.id)
            .with_context(|| format!("pausing {} for the commit", record.name))?;
    }
    let holder = holder("commit");
    let upper = upper_dir(&containers.dir(&record.id).path);
    let opts = LayerOptions {
        skip_stubs: init_paths(),
        ..LayerOptions::default()
    };
    let layer = if upper.is_dir() {
        layer_of(store, &upper, &opts, &holder)
    } else {
        Ok(None)
    };
    if paused {
        control::unpause(containers, &record.id)
            .with_context(|| format!("unpausing {} after the commit", record.name))?;
    }
    let result = layer.and_then(|layer| {
        let created = crate::time::rfc3339_nanos(std::time::SystemTime::now());
        let empty = layer.is_none();
        if let Some(l) = layer {
            state.push_layer(l.record);
        }
        state.add_history(&created_by, &created, empty);
        let message = args.message.clone().unwrap_or_default();
        set_last_history(&mut state, &message, args.author.as_deref());
        if let Some(a) = &args.author {
            state.document["author"] = json!(a);
        }
        if !message.is_empty() {
            state.document["comment"] = json!(message);
        }
        state.document["container"] = json!(record.id);
        Ok(state.commit(store, &created, &references)?)
    });
    let _ = store.release(&holder);
    result.with_context(|| format!("committing container {}", record.name))
}

/// What Docker's commit takes from the container's own config: its
/// command and entrypoint (Docker's rule: an entrypoint drops the image's
/// Cmd unless a command is given), env, working dir, user and labels.
fn container_config(state: &mut ImageState, record: &ContainerRecord) {
    let spec = &record.spec;
    for e in &spec.env {
        if let Some((k, v)) = e.split_once('=') {
            state.set_env(k, v);
        }
    }
    let cfg = state.config_mut();
    match (&spec.entrypoint, &spec.command) {
        (Some(ep), cmd) => {
            let ep: Vec<&String> = ep.iter().filter(|w| !w.is_empty()).collect();
            cfg.insert(
                "Entrypoint".into(),
                if ep.is_empty() {
                    Value::Null
                } else {
                    json!(ep)
                },
            );
            cfg.insert(
                "Cmd".into(),
                cmd.as_ref()
                    .filter(|c| !c.is_empty())
                    .map_or(Value::Null, |c| json!(c)),
            );
        }
        (None, Some(cmd)) if !cmd.is_empty() => {
            cfg.insert("Cmd".into(), json!(cmd));
        }
        _ => {}
    }
    if let Some(w) = &spec.working_dir {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &spec.user {
        cfg.insert("User".into(), json!(u));
    }
    if !spec.labels.is_empty() {
        let labels = cfg.entry("Labels".to_string()).or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        if let Some(m) = labels.as_object_mut() {
            for (k, v) in &spec.labels {
                m.insert(k.clone(), json!(v));
            }
        }
    }
}

/// `docker import`: a tar (plain, gzip or zstd; a file or `-`) as the one
/// layer of a new image with an empty config and the `--change` lines.
/// Prints the new image's id.
pub fn import(settings: &Settings, args: &ImportArgs) -> anyhow::Result<ExitCode> {
    if args.file.contains("://") {
        bail!(
            "import {}: importing from a URL is not supported; download it and import the file",
            args.file
        );
    }
    let references = references_of(args.repository.as_deref())?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p).with_context(|| format!("--platform {p:?}"))?,
        None => Platform::host(),
    };
    let store = open_store(settings)?;
    let mut state = ImageState::scratch(platform);
    // Docker's imported image has no config but what --change sets.
    state.config_mut().clear();
    apply_changes(&mut state, &args.change)?;

    let scratch = store.scratch_dir("import")?;
    let dir = scratch.path().to_path_buf();
    let holder = holder("import");
    let result = (|| -> anyhow::Result<ImageRecord> {
        let input: Box<dyn std::io::Read> = if args.file == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(
                std::fs::File::open(&args.file)
                    .with_context(|| format!("import: opening {}", args.file))?,
            )
        };
        let tar = crate::image::unpack::decompress(
            crate::image::unpack::OCI_LAYER_TAR,
            std::io::BufReader::new(input),
        )
        .with_context(|| format!("import {}", args.file))?;
        crate::image::archive::extract(tar, &dir)
            .with_context(|| format!("import {}: reading the tar", args.file))?;
        let layer = layer_of(&store, &dir, &LayerOptions::default(), &holder)?;
        let empty = layer.is_none();
        if let Some(l) = layer {
            state.push_layer(l.record);
        }
        let created = crate::time::rfc3339_nanos(std::time::SystemTime::now());
        state.add_history("", &created, empty);
        let comment = args
            .message
            .clone()
            .unwrap_or_else(|| "Imported from -".to_string());
        set_last_history(&mut state, &comment, None);
        if let Some(o) = state.document["history"]
            .as_array_mut()
            .and_then(|h| h.last_mut())
            .and_then(|h| h.as_object_mut())
        {
            o.remove("created_by");
        }
        Ok(state.commit(&store, &created, &references)?)
    })();
    let _ = store.release(&holder);
    drop(scratch);
    println!("{}", result?.id());
    Ok(ExitCode::SUCCESS)
}
