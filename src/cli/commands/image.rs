//! Image verbs: `pull`, `images`, `rmi`, `image …`, `tag`, `push`,
//! `login`/`logout`, `system df|prune`, `save`, `load`.

use crate::cli::args::image::{
    HistoryArgs, ImagesArgs, LoadArgs, LoginArgs, PullArgs, PullCommandPolicy, PushArgs, RmiArgs,
    SaveArgs, SystemCommand, TagArgs,
};
use crate::cli::args::ListFormat;
use crate::cli::progress::{pull_progress, LineProgress, DRY_RUN_PREFIX};
use crate::cli::render::{
    ago, created_at, human_size, print_table, print_template, render_template,
};
use crate::cli::resolve::{Project, Settings, Target};
use crate::cli::template::Fields;
use crate::compose::load::Loaded;
use crate::image::auth::DockerConfig;
use crate::image::platform::Platform;
use crate::image::pull::{PullOptions, Puller};
use crate::image::push::BlobPush;
use crate::image::reference::Reference;
use crate::image::registry::{ClientOptions, RegistryClient};
use crate::image::store::ImageStore;
use crate::plan::pull::{PullPolicy, ServicePull};
use anyhow::{bail, Context as _};
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

fn open_store(settings: &Settings) -> anyhow::Result<Arc<ImageStore>> {
    Ok(Arc::new(super::common::open_store(settings)?))
}

pub(super) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Credentials come from the Docker CLI's config; a broken helper only
/// costs authentication (as with docker), so it is a warning.
pub(super) fn registry_client(settings: &Settings) -> anyhow::Result<RegistryClient> {
    let config = match DockerConfig::load() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("{e}; pulling without stored credentials");
            None
        }
    };
    let opts = ClientOptions {
        insecure_registries: settings.insecure_registries.clone(),
        credentials: Arc::new(move |host: &str| {
            let cfg = config.as_ref()?;
            match cfg.credentials(host) {
                Ok(c) => c.map(Into::into),
                Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            }
        }),
        ..ClientOptions::default()
    };
    RegistryClient::new(opts).context("creating the registry client")
}

pub fn pull(settings: &Settings, target: &Target, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let platform = args
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .context("--platform")?;
    if let Some((Project::Loaded(loaded), services)) = target.project() {
        return pull_project(settings, loaded, services, args, platform);
    }
    let compose_only = [
        (args.include_deps, "--include-deps"),
        (args.ignore_buildable, "--ignore-buildable"),
        (args.policy.is_some(), "--policy"),
    ];
    if let Some((_, flag)) = compose_only.iter().find(|(on, _)| *on) {
        bail!("pull {flag}: only for the services of a compose project");
    }
    if settings.dry_run {
        bail!(
            "--dry-run: only for the services of a compose project (`wharf pull IMAGE` would pull)"
        );
    }
    let mut refs = Vec::new();
    for n in &args.images {
        refs.push(Reference::parse(n).with_context(|| format!("invalid image reference {n:?}"))?);
    }
    let store = open_store(settings)?;
    let puller = Puller::new(registry_client(settings)?, store);
    let opts = PullOptions {
        platform,
        keep_layer_blobs: args.keep_layer_blobs,
    };
    let progress = pull_progress(args.quiet);
    let rt = runtime()?;
    // All images at once: shared layers are fetched a single time.
    let results = rt.block_on(futures_util::future::join_all(
        refs.iter()
            .map(|r| puller.pull(r, &opts, progress.as_ref())),
    ));
    let mut failed = false;
    for (r, res) in refs.iter().zip(results) {
        match res {
            // As docker pull: the full reference, also with -q.
            Ok(_) => println!("{r}"),
            Err(e) => {
                // Pull errors already name the image.
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `pull` without image arguments: every service image of the compose
/// project, each distinct image once, with Compose's per-service lines.
fn pull_project(
    settings: &Settings,
    loaded: &Loaded,
    services: &[String],
    args: &PullArgs,
    platform: Option<Platform>,
) -> anyhow::Result<ExitCode> {
    let project = &loaded.project;
    let selected = selected_services(project, services, args.include_deps)?;
    let policy = args.policy.map(|p| match p {
        PullCommandPolicy::Missing => "missing",
        PullCommandPolicy::Always => "always",
    });
    let store = open_store(settings)?;
    let mut candidates = Vec::new();
    for (name, svc) in project
        .services
        .iter()
        .filter(|(n, _)| selected.contains(n))
    {
        let present = match &svc.image {
            Some(image) => store.find(image)?.is_some(),
            None => false,
        };
        candidates.push(crate::plan::pull::PullCandidate {
            service: name,
            image: svc.image.as_deref(),
            // --policy replaces the policy of every service with an image.
            policy: policy.or(svc.pull_policy.as_deref()),
            buildable: svc.build.is_some(),
            present,
        });
    }
    let plan = crate::plan::pull::pulls_for_project(&candidates, args.ignore_buildable);
    let prefix = if settings.dry_run { DRY_RUN_PREFIX } else { "" };
    let say = |service: &str, text: &str| {
        if !args.quiet {
            eprintln!("{prefix} {service} {text}");
        }
    };
    let mut jobs = Vec::new();
    for (service, what) in &plan {
        match what {
            ServicePull::Skip(text) => say(service, text),
            ServicePull::SameAs(other) => say(
                service,
                &format!("Skipped - Image is already being pulled by {other}"),
            ),
            ServicePull::Pull(image) => {
                let r = Reference::parse(image).with_context(|| {
                    format!("service {service}: invalid image reference {image:?}")
                })?;
                let own = loaded
                    .project
                    .services
                    .get(service)
                    .and_then(|s| s.platform.as_deref())
                    .filter(|p| !p.is_empty());
                jobs.push((
                    service.as_str(),
                    image.as_str(),
                    r,
                    service_platform(service, own)?,
                ));
            }
        }
    }
    if jobs.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if settings.dry_run {
        for (service, ..) in &jobs {
            say(service, "Pulling");
            say(service, "Pulled");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pull_opts = PullOptions {
        platform,
        keep_layer_blobs: args.keep_layer_blobs,
    };
    let errors = pull_services(settings, &jobs, &pull_opts, &say)?;
    if errors.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if args.ignore_pull_failures {
        for e in &errors {
            eprintln!("WARNING: {e}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("Error: {e}");
    }
    Ok(ExitCode::FAILURE)
}

/// The services named (all when none), with their dependencies only with
/// `--include-deps`, as Compose's `pull` and `push` select them.
fn selected_services(
    project: &crate::compose::types::Project,
    services: &[String],
    include_deps: bool,
) -> anyhow::Result<Vec<String>> {
    Ok(if services.is_empty() {
        project.services.keys().cloned().collect()
    } else if include_deps {
        crate::plan::service_graph(project)?.select(services, true)?
    } else {
        services.to_vec()
    })
}

/// One pull of a project: service, image as declared, its reference and
/// the service's `platform`.
type PullJob<'a> = (&'a str, &'a str, Reference, Option<Platform>);

/// A service's `platform:`, parsed.
fn service_platform(service: &str, platform: Option<&str>) -> anyhow::Result<Option<Platform>> {
    platform
        .map(Platform::parse)
        .transpose()
        .with_context(|| format!("service {service}: platform"))
}

/// Pulls each (service, image) job concurrently, saying Compose's
/// per-service lines; the failures, one message each.
fn pull_services(
    settings: &Settings,
    jobs: &[PullJob],
    pull_opts: &PullOptions,
    say: &dyn Fn(&str, &str),
) -> anyhow::Result<Vec<String>> {
    let store = open_store(settings)?;
    let puller = Puller::new(registry_client(settings)?, store);
    // Layer lines of several images would interleave: Compose's plain
    // output is per service too.
    let progress = LineProgress { quiet: true };
    let rt = runtime()?;
    // A service's own `platform` wins over `--platform`'s (none: the host's).
    let opts: Vec<PullOptions> = jobs
        .iter()
        .map(|(_, _, _, platform)| PullOptions {
            platform: platform.clone().or_else(|| pull_opts.platform.clone()),
            keep_layer_blobs: pull_opts.keep_layer_blobs,
        })
        .collect();
    let results = rt.block_on(futures_util::future::join_all(jobs.iter().zip(&opts).map(
        |((service, _, r, _), o)| {
            say(service, "Pulling");
            puller.pull(r, o, &progress)
        },
    )));
    let mut errors = Vec::new();
    for ((service, image, _, _), res) in jobs.iter().zip(results) {
        match res {
            Ok(_) => say(service, "Pulled"),
            Err(e) => {
                say(service, "Error");
                errors.push(format!("service {service}: pulling {image}: {e}"));
            }
        }
    }
    Ok(errors)
}

/// Before `up`: the images of the selected services, pulled up front and
/// in parallel as `--pull` and each service's `pull_policy` say.
pub fn pull_for_up(
    settings: &Settings,
    project: &crate::compose::types::Project,
    selected: &[String],
    policy: PullPolicy,
    quiet: bool,
) -> anyhow::Result<()> {
    let store = ImageStore::open(settings.root())?;
    let services = crate::plan::pull::service_images(project, selected)?;
    let mut present = std::collections::BTreeSet::new();
    for s in &services {
        let wanted = service_platform(&s.service, s.platform.as_deref())?;
        // An image stored for another platform is missing for this service.
        if store
            .find(&s.image)?
            .is_some_and(|r| wanted.as_ref().is_none_or(|p| p.matches(&r.platform)))
        {
            present.insert(s.image.clone());
        }
    }
    let pulls = crate::plan::pull::pulls_for_up(&services, policy, &|i| present.contains(i))?;
    let mut jobs: Vec<PullJob> = Vec::new();
    for p in &pulls {
        let r = Reference::parse(&p.image).with_context(|| {
            format!(
                "service {}: invalid image reference {:?}",
                p.service, p.image
            )
        })?;
        let platform = service_platform(&p.service, p.platform.as_deref())?;
        jobs.push((p.service.as_str(), p.declared.as_str(), r, platform));
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let prefix = if settings.dry_run { DRY_RUN_PREFIX } else { "" };
    let say = |service: &str, text: &str| {
        if !quiet {
            eprintln!("{prefix} {service} {text}");
        }
    };
    if settings.dry_run {
        for (service, ..) in &jobs {
            say(service, "Pulling");
            say(service, "Pulled");
        }
        return Ok(());
    }
    let opts = PullOptions {
        platform: None,
        keep_layer_blobs: false,
    };
    let errors = pull_services(settings, &jobs, &opts, &say)?;
    if let Some(first) = errors.first() {
        bail!("{first}");
    }
    Ok(())
}

pub fn images(settings: &Settings, target: &Target, args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    if let Some((project, services)) = target.project() {
        return images_services(settings, project, services, args);
    }
    if !args.services.is_empty() {
        bail!(
            "no compose project found for services {}",
            args.services.join(", ")
        );
    }
    let filter = ImageFilter::parse(&args.filter)?;
    let store = open_store(settings)?;
    let mut records = store.list().context("listing images")?;
    records.retain(|r| filter.keeps(r));
    records.sort_by(|a, b| a.references.cmp(&b.references));
    let shown_id = |r: &crate::image::store::ImageRecord| {
        if args.no_trunc {
            r.id().to_string()
        } else {
            r.id().hex()[..12].to_string()
        }
    };
    if args.quiet {
        for r in &records {
            println!("{}", shown_id(r));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let ListFormat::Template(format) = &args.format {
        let rows: Vec<serde_json::Value> = records
            .iter()
            .flat_map(|r| image_rows(r, &shown_id(r)))
            .collect();
        print_template(format, &rows, IMAGE_TITLES, Fields::Strict)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == ListFormat::Json {
        let rows: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "ID": r.id().to_string(),
                    "Repository": r.references,
                    "RepoDigests": r.repo_digests,
                    "Platform": r.platform.to_string(),
                    "Created": r.created,
                    "Size": r.size,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).context("serializing")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if args.digests || args.no_trunc {
        // Docker's columns, with the digest of each name.
        let mut table = vec![vec!["REPOSITORY".to_string(), "TAG".into()]];
        if args.digests {
            table[0].push("DIGEST".into());
        }
        table[0].extend(["IMAGE ID".to_string(), "CREATED".into(), "SIZE".into()]);
        for r in &records {
            for row in image_rows(r, &shown_id(r)) {
                let cell = |k: &str| row[k].as_str().unwrap_or_default().to_string();
                let mut line = vec![cell("Repository"), cell("Tag")];
                if args.digests {
                    line.push(cell("Digest"));
                }
                line.extend([cell("ID"), cell("CreatedSince"), cell("Size")]);
                table.push(line);
            }
        }
        print_table(&table);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<50} {:<14} {:>10}", "REPOSITORY:TAG", "IMAGE ID", "SIZE");
    for r in &records {
        let names = if r.references.is_empty() {
            vec!["<none>".to_string()]
        } else {
            r.references.clone()
        };
        for n in names {
            let shown = Reference::parse(&n).map(|p| p.familiar()).unwrap_or(n);
            println!(
                "{:<50} {:<14} {:>10}",
                shown,
                &r.id().hex()[..12],
                human_size(r.size)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `images --filter` keeps.
#[derive(Default)]
struct ImageFilter {
    dangling: Option<bool>,
    references: Vec<crate::build::context::Glob>,
}

impl ImageFilter {
    fn parse(filters: &[String]) -> anyhow::Result<ImageFilter> {
        let mut f = ImageFilter::default();
        for kv in filters {
            match kv.split_once('=') {
                Some(("dangling", "true" | "1")) => f.dangling = Some(true),
                Some(("dangling", "false" | "0")) => f.dangling = Some(false),
                Some(("dangling", v)) => bail!("--filter dangling={v}: expected true or false"),
                Some(("reference", pattern)) => f.references.push(
                    crate::build::context::Glob::compile(pattern, false)
                        .map_err(|e| anyhow::anyhow!("--filter reference={pattern}: {e}"))?,
                ),
                _ => bail!("--filter {kv:?}: images filter by dangling=BOOL or reference=PATTERN"),
            }
        }
        Ok(f)
    }

    /// A reference pattern matches `repository:tag` or the repository, in
    /// Docker's short form (`busybox:latest`, `busybox`).
    fn keeps(&self, r: &crate::image::store::ImageRecord) -> bool {
        if self.dangling.is_some_and(|d| d != r.references.is_empty()) {
            return false;
        }
        self.references.is_empty()
            || r.references
                .iter()
                .filter_map(|n| Reference::parse(n).ok())
                .any(|p| {
                    let (full, name) = (p.familiar(), p.familiar_name());
                    self.references
                        .iter()
                        .any(|g| g.matches(&full) || g.matches(&name))
                })
    }
}

/// The columns' titles of `images --format 'table …'`, as Docker's.
const IMAGE_TITLES: &[(&str, &str)] = &[
    ("Containers", "CONTAINERS"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedSince", "CREATED"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("SharedSize", "SHARED SIZE"),
    ("Size", "SIZE"),
    ("Tag", "TAG"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// An image as `docker images --format` sees it: one row per name
/// (`<none>` when it has none), Docker's fields and their text.
fn image_rows(r: &crate::image::store::ImageRecord, id: &str) -> Vec<serde_json::Value> {
    let names: Vec<(String, String)> = if r.references.is_empty() {
        vec![("<none>".into(), "<none>".into())]
    } else {
        r.references
            .iter()
            .map(|n| match Reference::parse(n) {
                Ok(p) => (p.familiar_name(), p.tag().unwrap_or("<none>").to_string()),
                Err(_) => (n.clone(), "<none>".into()),
            })
            .collect()
    };
    let created = r.created.as_deref().unwrap_or_default();
    names
        .into_iter()
        .map(|(repo, tag)| {
            // The digest this repository was pulled or pushed by.
            let digest = r
                .repo_digests
                .iter()
                .filter_map(|d| d.split_once('@'))
                .find(|(name, _)| Reference::parse(name).is_ok_and(|p| p.familiar_name() == repo))
                .map(|(_, d)| d.to_string())
                .unwrap_or_else(|| "<none>".into());
            serde_json::json!({
                "Containers": "N/A",
                "CreatedAt": created_at(created),
                "CreatedSince": ago(created),
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": "N/A",
                "Size": human_size(r.size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(r.size),
            })
        })
        .collect()
}

/// Accepts `busybox`, `docker.io/library/busybox:latest`, an id or prefix.
fn store_name(name: &str) -> String {
    match Reference::parse(name) {
        Ok(r) if r.digest().is_none() => r.to_string(),
        _ => name.to_string(),
    }
}

pub fn rmi(settings: &Settings, args: &RmiArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(settings)?;
    let mut failed = false;
    for name in &args.images {
        match store.remove(&store_name(name), args.force) {
            Ok(removed) => {
                // Docker names them in the familiar form (`busybox:latest`).
                for u in &removed.untagged {
                    let shown = Reference::parse(u).map_or_else(|_| u.clone(), |r| r.familiar());
                    println!("Untagged: {shown}");
                }
                for d in &removed.deleted_images {
                    println!("Deleted: {d}");
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The stored image `name` (a reference, an id or an id prefix).
pub fn find_image(
    store: &ImageStore,
    name: &str,
) -> anyhow::Result<Option<crate::image::store::ImageRecord>> {
    Ok(store.resolve(&store_name(name))?)
}

/// An image as `image inspect` shows it: the stored record, and whether
/// the store still has each compressed layer blob (said apart: the record
/// names the blobs the registry served).
pub fn image_json(
    store: &ImageStore,
    r: &crate::image::store::ImageRecord,
) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(r).context("serializing")?;
    if let Some(layers) = v.get_mut("layers").and_then(|l| l.as_array_mut()) {
        for (l, rec) in layers.iter_mut().zip(&r.layers) {
            l["blob_stored"] = serde_json::Value::Bool(store.has_blob(&rec.blob_digest));
        }
    }
    if let (Some(obj), serde_json::Value::Object(docker)) =
        (v.as_object_mut(), docker_image_json(store, r)?)
    {
        obj.extend(docker);
    }
    Ok(v)
}

/// Docker's keys of `image inspect` (moby's `InspectResponse`), from the
/// record and the image's config blob. `Id` is the image's id as wharf
/// names it everywhere (`images`, a container's `Image`): its manifest
/// digest.
fn docker_image_json(
    store: &ImageStore,
    r: &crate::image::store::ImageRecord,
) -> anyhow::Result<serde_json::Value> {
    let blob = store.read_blob(&r.config_digest, false)?;
    let raw: serde_json::Value = serde_json::from_slice(&blob)
        .with_context(|| format!("reading the config of image {}", r.id()))?;
    let text = |k: &str| raw.get(k).cloned().unwrap_or_else(|| "".into());
    // Docker's container config shape, with its zero values where the
    // image's config leaves a key out.
    let mut config = serde_json::json!({
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": null,
        "Cmd": null,
        "Image": "",
        "Volumes": null,
        "WorkingDir": "",
        "Entrypoint": null,
        "OnBuild": null,
        "Labels": null,
    });
    if let (Some(c), Some(serde_json::Value::Object(own))) =
        (config.as_object_mut(), raw.get("config"))
    {
        c.extend(own.clone());
    }
    let familiar = |names: &[String]| -> Vec<String> {
        names
            .iter()
            .map(|n| {
                Reference::parse(n)
                    .map(|p| p.familiar())
                    .unwrap_or_else(|_| n.clone())
            })
            .collect()
    };
    let layers = raw
        .pointer("/rootfs/diff_ids")
        .cloned()
        .unwrap_or_else(|| serde_json::json!([]));
    let mut v = serde_json::json!({
        "Id": r.id().to_string(),
        "RepoTags": familiar(&r.references),
        "RepoDigests": familiar(&r.repo_digests),
        "Parent": "",
        "Comment": text("comment"),
        "Created": r.created.clone().unwrap_or_default(),
        "Container": "",
        "ContainerConfig": config,
        "DockerVersion": text("docker_version"),
        "Author": text("author"),
        "Config": config,
        "Architecture": r.platform.architecture,
        "Os": r.platform.os,
        "Size": r.size,
        "VirtualSize": r.size,
        "GraphDriver": {
            "Name": "overlay2",
            "Data": image_layer_dirs(store, r),
        },
        "RootFS": { "Type": "layers", "Layers": layers },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
    });
    if let Some(variant) = &r.platform.variant {
        v["Variant"] = variant.clone().into();
    }
    Ok(v)
}

/// The unpacked trees of the image's layers that the store holds, top
/// first, as overlay's `lowerdir` lists them.
pub fn unpacked_layer_dirs(
    store: &ImageStore,
    r: &crate::image::store::ImageRecord,
) -> Vec<String> {
    r.layers
        .iter()
        .rev()
        .filter_map(|l| store.layer(&l.diff_id).ok().flatten())
        .map(|l| l.path.display().to_string())
        .collect()
}

/// Docker's overlay `GraphDriver.Data` of an image: its top layer's
/// unpacked tree as `UpperDir`, the others (top first) as `LowerDir`.
fn image_layer_dirs(store: &ImageStore, r: &crate::image::store::ImageRecord) -> serde_json::Value {
    let mut dirs = unpacked_layer_dirs(store, r);
    let upper = if dirs.is_empty() {
        String::new()
    } else {
        dirs.remove(0)
    };
    serde_json::json!({
        "LowerDir": dirs.join(":"),
        "UpperDir": upper,
        "MergedDir": "",
        "WorkDir": "",
    })
}

/// `docker history`: one row per history entry of the image config,
/// newest first, with Docker's columns (IMAGE is the image's id on the
/// newest row and `<missing>` on the others, as Docker shows pulled images).
pub fn history(settings: &Settings, args: &HistoryArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(settings)?;
    let record = store.resolve(&store_name(&args.image))?.ok_or_else(|| {
        anyhow::anyhow!("Error response from daemon: No such image: {}", args.image)
    })?;
    let config: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(&store.read_blob(&record.config_digest, true)?)
            .context("reading the image config")?;
    let mut sizes = record.layers.iter().map(|l| l.size);
    let mut rows = Vec::new();
    for h in config.history().as_deref().unwrap_or_default() {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            sizes.next().unwrap_or(0)
        };
        let created = h.created().clone().unwrap_or_default();
        let created_by = h
            .created_by()
            .clone()
            .unwrap_or_default()
            .replace('\t', " ");
        let shown = if args.no_trunc || created_by.chars().count() <= 45 {
            created_by
        } else {
            created_by.chars().take(44).collect::<String>() + "…"
        };
        rows.push(serde_json::json!({
            "ID": "<missing>",
            "CreatedSince": if args.human { ago(&created) } else { created.clone() },
            "CreatedAt": created,
            "CreatedBy": shown,
            "Size": if args.human { human_size(size) } else { size.to_string() },
            "Comment": h.comment().clone().unwrap_or_default(),
        }));
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        let id = record.id();
        top["ID"] = serde_json::json!(if args.no_trunc {
            id.to_string()
        } else {
            id.hex()[..12].to_string()
        });
    }
    let format = match (&args.format, args.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (ListFormat::Table, false) => {
            "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".to_string()
        }
        (ListFormat::Json, false) => "{{json .}}".to_string(),
        (ListFormat::Template(t), false) => t.clone(),
    };
    let text = render_template(&format, &rows, HISTORY_TITLES, Fields::Strict)?;
    // Rows without a comment end at their size (Docker pads them with blanks).
    let mut out = std::io::stdout().lock();
    for line in text.lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The columns' titles of `history --format 'table …'`, as Docker's.
const HISTORY_TITLES: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

pub fn tag(settings: &Settings, args: &TagArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(settings)?;
    let target = Reference::parse(&args.target)
        .with_context(|| format!("invalid image reference {:?}", args.target))?;
    store
        .tag(&target.to_string(), &store_name(&args.source))
        .with_context(|| format!("tagging {}", args.source))?;
    Ok(ExitCode::SUCCESS)
}

pub fn push(settings: &Settings, target: &Target, args: &PushArgs) -> anyhow::Result<ExitCode> {
    if let Some((Project::Loaded(loaded), services)) = target.project() {
        return push_project(settings, loaded, services, args);
    }
    let compose_only = [
        (args.include_deps, "--include-deps"),
        (args.ignore_push_failures, "--ignore-push-failures"),
    ];
    if let Some((_, flag)) = compose_only.iter().find(|(on, _)| *on) {
        bail!("push {flag}: only for the services of a compose project");
    }
    let [image] = args.images.as_slice() else {
        bail!(
            "\"push\" requires exactly 1 argument: an image (or, in a compose project, services)"
        );
    };
    let store = open_store(settings)?;
    if args.quiet {
        // As docker push -q: nothing but the full reference.
        push_reporting(settings, &store, image, &|_, _| {})?;
        let r = Reference::parse(image)
            .with_context(|| format!("invalid image reference {image:?}"))?;
        println!("{r}");
    } else {
        println!("{}", push_image(settings, &store, image)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `push [SERVICE…]` in a compose project, as Compose does it: the image
/// (and `build.tags`) of each selected service that has both a build
/// section and an `image:` name; the others are skipped. A failure ends the
/// push with it, unless `--ignore-push-failures` makes it a warning.
fn push_project(
    settings: &Settings,
    loaded: &Loaded,
    services: &[String],
    args: &PushArgs,
) -> anyhow::Result<ExitCode> {
    let project = &loaded.project;
    let selected = selected_services(project, services, args.include_deps)?;
    let store = open_store(settings)?;
    let quiet = args.quiet;
    let mut pushed = std::collections::BTreeSet::new();
    for (name, svc) in project
        .services
        .iter()
        .filter(|(n, _)| selected.contains(n))
    {
        let (Some(image), Some(build)) = (&svc.image, &svc.build) else {
            if !quiet {
                eprintln!(" {name} Skipped");
            }
            continue;
        };
        for tag in std::iter::once(image).chain(&build.tags) {
            if !pushed.insert(tag.clone()) {
                continue;
            }
            // Compose's plain progress: one line per blob, under the tag.
            let report = |short: &str, blob: &BlobPush| {
                if !quiet {
                    eprintln!(" Pushing {tag}: {short} {}", engine_words(blob));
                }
            };
            match push_reporting(settings, &store, tag, &report) {
                Ok(_) => {}
                Err(e) if args.ignore_push_failures => eprintln!("Pushing {name}: {e:#}"),
                Err(e) => return Err(e.context(format!("service {name}"))),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes the stored image `name` to the registry it names, saying on
/// standard error what happened to each blob; returns Docker's summary line
/// (`TAG: digest: DIGEST`) for the caller to print where it belongs.
pub fn push_image(settings: &Settings, store: &ImageStore, name: &str) -> anyhow::Result<String> {
    push_reporting(settings, store, name, &|short, blob| match blob {
        BlobPush::Exists(_) => eprintln!("{short}: layer already exists"),
        BlobPush::Mounted { from, .. } => eprintln!("{short}: mounted from {from}"),
        BlobPush::Pushed(_) => eprintln!("{short}: pushed"),
    })
}

/// What happened to a blob, in the engine's progress words (`Pushed`,
/// `Layer already exists`, `Mounted from REPO` with the repository's path
/// on the registry, as Docker Compose prints them).
fn engine_words(blob: &BlobPush) -> String {
    match blob {
        BlobPush::Exists(_) => "Layer already exists".into(),
        BlobPush::Mounted { from, .. } => {
            // `from` is `registry/repo`: both ends are on that registry.
            let path = from.split_once('/').map_or(from.as_str(), |(_, p)| p);
            format!("Mounted from {path}")
        }
        BlobPush::Pushed(_) => "Pushed".into(),
    }
}

/// Pushes the stored image `name`, giving `report` each blob's short id
/// and what happened to it; returns Docker's summary line.
fn push_reporting(
    settings: &Settings,
    store: &ImageStore,
    name: &str,
    report: &dyn Fn(&str, &BlobPush),
) -> anyhow::Result<String> {
    let target =
        Reference::parse(name).with_context(|| format!("invalid image reference {name:?}"))?;
    let client = registry_client(settings)?;
    let (digest, blobs) = runtime()?
        .block_on(crate::image::push::push(
            &client,
            store,
            &store_name(name),
            &target,
        ))
        .with_context(|| format!("pushing {}", target.familiar()))?;
    for b in &blobs {
        let d = match b {
            BlobPush::Exists(d) | BlobPush::Pushed(d) => d,
            BlobPush::Mounted { digest, .. } => digest,
        };
        report(&d.hex()[..12], b);
    }
    Ok(format!(
        "{}: digest: {digest}",
        target.tag().unwrap_or("latest")
    ))
}

pub fn login(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let server = args.server.clone().unwrap_or_else(|| "docker.io".into());
    let password = match (&args.password, args.password_stdin) {
        (Some(p), false) => p.clone(),
        (None, true) => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the password from standard input")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        _ => bail!("give the password with --password-stdin (or --password)"),
    };
    // Check the credentials against the registry before storing them.
    let creds = crate::image::registry::Credentials::Basic {
        username: args.username.clone(),
        password: password.clone(),
    };
    let client = RegistryClient::new(ClientOptions {
        credentials: Arc::new(move |_: &str| Some(creds.clone())),
        ..ClientOptions::default()
    })
    .context("creating the registry client")?;
    runtime()?
        .block_on(client.ping(&server))
        .with_context(|| format!("logging in to {server}"))?;
    crate::image::auth::login(&server, &args.username, &password)
        .context("storing the credentials")?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(server: Option<&str>) -> anyhow::Result<ExitCode> {
    let server = server.unwrap_or("docker.io");
    if crate::image::auth::logout(server).context("removing the credentials")? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn system(settings: &Settings, cmd: &SystemCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SystemCommand::Restore => return super::monitor::restore(settings),
        SystemCommand::Install { unit_dir } => return super::monitor::install(settings, unit_dir),
        SystemCommand::Df { format } => {
            let store = open_store(settings)?;
            let du = store.disk_usage().context("measuring disk usage")?;
            if let ListFormat::Template(_) = format {
                bail!("system df --format: table or json (templates are not supported here)");
            }
            if *format == ListFormat::Json {
                let u = |u: crate::image::store::Usage| serde_json::json!({ "TotalCount": u.count, "Active": u.active, "Size": u.size });
                let v = serde_json::json!({
                    "Images": u(du.images),
                    "Layers": u(du.layers),
                    "Blobs": u(du.blobs),
                    "Reclaimable": du.reclaimable,
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v).context("serializing")?
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{:<10} {:>8} {:>8} {:>12}",
                "TYPE", "TOTAL", "ACTIVE", "SIZE"
            );
            for (name, u) in [
                ("Images", du.images),
                ("Layers", du.layers),
                ("Blobs", du.blobs),
            ] {
                println!(
                    "{:<10} {:>8} {:>8} {:>12}",
                    name,
                    u.count,
                    u.active,
                    human_size(u.size)
                );
            }
            println!("Reclaimable: {}", human_size(du.reclaimable));
        }
        SystemCommand::Prune(args) => return super::prune::system_prune(settings, args),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn save(settings: &Settings, args: &SaveArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(settings)?;
    let mut images = Vec::new();
    for name in &args.images {
        let record = store
            .resolve(&store_name(name))?
            .ok_or_else(|| anyhow::anyhow!("no such image: {name}"))?;
        let recorded = Reference::parse(name)
            .ok()
            .filter(|r| r.digest().is_none())
            .map(|r| r.to_string());
        images.push((recorded, record));
    }
    write_archive(args.output.as_deref(), "use -o FILE or redirect", |out| {
        crate::image::archive::save(&store, &images, out).context("saving images")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes an archive with `write` to the file `path`, or to stdout when
/// there is none (refused on a terminal; `hint` says what to do instead).
/// A file is written beside its name and renamed: no half archive on failure.
pub fn write_archive(
    path: Option<&std::path::Path>,
    hint: &str,
    write: impl FnOnce(&mut dyn std::io::Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            let tmp = path.with_extension("partial");
            let file = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let result = write(&mut out).and_then(|()| {
                let file = out.into_inner().context("flushing the archive")?;
                file.sync_all().context("syncing the archive")
            });
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("refusing to write an archive to a terminal; {hint}");
            }
            write(&mut std::io::stdout().lock())?;
        }
    }
    Ok(())
}

pub fn load(settings: &Settings, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    use crate::image::archive;
    use crate::image::pull::ImageSource;
    let store = open_store(settings)?;
    // A private directory in the store (not a guessable name in /tmp that
    // another user could prepare); removed when `scratch` drops.
    let scratch = store.scratch_dir("load")?;
    let dir = scratch.path().to_path_buf();
    let result = (|| -> anyhow::Result<()> {
        match &args.input {
            Some(p) => {
                let f =
                    std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
                archive::extract(std::io::BufReader::new(f), &dir)?;
            }
            None => archive::extract(std::io::stdin().lock(), &dir)?,
        }
        let images = archive::images_in(&dir)?;
        if images.is_empty() {
            bail!("the archive holds no image");
        }
        let puller = Puller::from_source(ImageSource::Layout(dir.clone()), store.clone());
        let rt = runtime()?;
        let progress = LineProgress { quiet: true };
        for img in images {
            // The layout is addressed by digest; the name is attached after.
            let by_digest = Reference::parse(&format!("wharf.invalid/loaded@{}", img.manifest))
                .context("internal reference")?;
            let opts = PullOptions {
                platform: None,
                keep_layer_blobs: false,
            };
            let record = rt.block_on(puller.pull(&by_digest, &opts, &progress))?;
            match &img.name {
                Some(n) => {
                    let r = Reference::parse(n)
                        .with_context(|| format!("image name {n:?} in the archive"))?;
                    store.tag(&r.to_string(), &record.manifest_digest.to_string())?;
                    if !args.quiet {
                        println!("Loaded image: {}", r.familiar());
                    }
                }
                None => {
                    if !args.quiet {
                        println!("Loaded image ID: {}", record.manifest_digest);
                    }
                }
            }
        }
        Ok(())
    })();
    drop(scratch);
    result.map(|()| ExitCode::SUCCESS)
}

/// The stored image `name`, pulled first if it is not there, as `docker
/// run` does ("Unable to find image … locally").
pub fn ensure_image(
    settings: &Settings,
    store: &ImageStore,
    name: &str,
) -> anyhow::Result<crate::image::store::ImageRecord> {
    ensure_image_quietly(settings, store, name, None, false)
}

/// [`ensure_image`]; `quiet` (`run -q`) prints nothing of the pull.
pub fn ensure_image_quietly(
    settings: &Settings,
    store: &ImageStore,
    name: &str,
    platform: Option<&Platform>,
    quiet: bool,
) -> anyhow::Result<crate::image::store::ImageRecord> {
    let reference =
        Reference::parse(name).with_context(|| format!("invalid image reference {name:?}"))?;
    // An image stored for another platform than the one asked is missing.
    if let Some(found) = store
        .find(name)?
        .filter(|r| platform.is_none_or(|p| p.matches(&r.platform)))
    {
        return Ok(found);
    }
    if !quiet {
        eprintln!("Unable to find image '{reference}' locally");
    }
    pull_image_quietly(settings, &reference, platform, quiet)
}

/// Pulls `reference` into the store (whether or not it is there), with
/// the pull progress on standard error.
pub fn pull_image(
    settings: &Settings,
    reference: &Reference,
) -> anyhow::Result<crate::image::store::ImageRecord> {
    pull_image_quietly(settings, reference, None, false)
}

/// [`pull_image`] for `platform` (default: this host's); `quiet` prints
/// no progress.
pub fn pull_image_quietly(
    settings: &Settings,
    reference: &Reference,
    platform: Option<&Platform>,
    quiet: bool,
) -> anyhow::Result<crate::image::store::ImageRecord> {
    let store = Arc::new(ImageStore::open(settings.root())?);
    let puller = Puller::new(registry_client(settings)?, store);
    let progress = pull_progress(quiet);
    let opts = PullOptions {
        platform: platform.cloned(),
        keep_layer_blobs: false,
    };
    let record = runtime()?.block_on(puller.pull(reference, &opts, progress.as_ref()))?;
    Ok(record)
}

/// `images [SERVICE…]` for a project: the image of each container, in
/// Compose's columns (CONTAINER REPOSITORY TAG IMAGE ID SIZE).
fn images_services(
    settings: &Settings,
    sel: &Project,
    services: &[String],
    args: &ImagesArgs,
) -> anyhow::Result<ExitCode> {
    let env = super::common::env_for(settings, sel)?;
    let mut rows = Vec::new();
    for c in super::common::containers_of(&env, sel, services)? {
        let (repo, tag) = match Reference::parse(&c.record.image) {
            Ok(r) => (
                r.familiar_name(),
                r.tag()
                    .unwrap_or(if r.digest().is_some() {
                        "<none>"
                    } else {
                        "latest"
                    })
                    .to_string(),
            ),
            Err(_) => (c.record.image.clone(), "<none>".to_string()),
        };
        let size = env
            .store
            .resolve(&c.record.image_id.to_string())?
            .map(|i| i.size)
            .unwrap_or(0);
        rows.push((
            c.record.name.clone(),
            repo,
            tag,
            c.record.image_id.hex().to_string(),
            size,
        ));
    }
    if args.quiet {
        let mut ids: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            println!("sha256:{id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format != ListFormat::Table {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, repo, tag, id, size)| {
                serde_json::json!({
                    "ID": format!("sha256:{id}"),
                    "ContainerName": name,
                    "Repository": repo,
                    "Tag": tag,
                    "Size": size,
                })
            })
            .collect();
        if let ListFormat::Template(format) = &args.format {
            let titles = [("ContainerName", "CONTAINER"), ("ID", "IMAGE ID")];
            print_template(format, &v, &titles, Fields::Strict)?;
        } else {
            println!("{}", serde_json::Value::Array(v));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "CONTAINER".to_string(),
        "REPOSITORY".into(),
        "TAG".into(),
        "IMAGE ID".into(),
        "SIZE".into(),
    ]];
    for (name, repo, tag, id, size) in rows {
        table.push(vec![
            name,
            repo,
            tag,
            id.chars().take(12).collect(),
            human_size(size),
        ]);
    }
    print_table(&table);
    Ok(ExitCode::SUCCESS)
}
