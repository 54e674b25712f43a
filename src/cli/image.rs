//! Image verbs: `pull`, `images`, `rmi`, `image inspect`.

use super::{print_warnings, GlobalArgs};
use crate::compose::load;
use crate::image::auth::DockerConfig;
use crate::image::platform::Platform;
use crate::image::pull::{PullEvent, PullOptions, PullProgress, Puller};
use crate::image::reference::Reference;
use crate::image::registry::{ClientOptions, RegistryClient};
use crate::image::store::ImageStore;
use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Images to pull; without any, every service image of the compose project
    pub images: Vec<String>,
    /// Platform to pull (os/arch[/variant]); default: this machine's
    #[arg(long)]
    pub platform: Option<String>,
    /// Print nothing but errors and the pulled references
    #[arg(short, long)]
    pub quiet: bool,
    /// With a compose project: keep going when an image fails to pull
    #[arg(long)]
    pub ignore_pull_failures: bool,
    /// Keep the compressed layer blobs after unpacking (more disk; pushes
    /// and saves then keep the image digest without asking the registry)
    #[arg(long)]
    pub keep_layer_blobs: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// With a compose project: only the images of these services
    pub services: Vec<String>,
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove even when the image has several names or is in use
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Show the stored record of one or more images as JSON
    Inspect { images: Vec<String> },
    /// Show how an image was built, layer by layer (from its config)
    History {
        image: String,
        /// Show full commands
        #[arg(long)]
        no_trunc: bool,
    },
    /// Remove untagged images (with --all: every image no container uses)
    Prune {
        #[arg(short, long)]
        all: bool,
    },
}

fn open_store(global: &GlobalArgs) -> anyhow::Result<Arc<ImageStore>> {
    let store = ImageStore::open(global.root())
        .with_context(|| format!("opening the image store under {}", global.root().display()))?;
    Ok(Arc::new(store))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Credentials come from the Docker CLI's config; a broken helper only
/// costs authentication (as with docker), so it is a warning.
fn registry_client() -> anyhow::Result<RegistryClient> {
    let config = match DockerConfig::load() {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!("{e}; pulling without stored credentials");
            None
        }
    };
    let insecure = std::env::var("WHARF_INSECURE_REGISTRIES")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let opts = ClientOptions {
        insecure_registries: insecure,
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

/// One plain line per layer event (what CI logs and pipes want).
struct LineProgress {
    quiet: bool,
}

fn short_id(d: &crate::image::digest::Digest) -> String {
    d.hex().chars().take(12).collect()
}

impl PullProgress for LineProgress {
    fn event(&self, e: PullEvent) {
        if self.quiet {
            return;
        }
        let short = short_id;
        match e {
            PullEvent::Resolved { reference, digest } => {
                eprintln!("{reference}: resolved to {digest}")
            }
            PullEvent::LayerExists { digest } => eprintln!("{}: already exists", short(&digest)),
            PullEvent::Downloaded { digest } => eprintln!("{}: downloaded", short(&digest)),
            PullEvent::Extracted { digest } => eprintln!("{}: extracted", short(&digest)),
            PullEvent::Downloading { .. } => {}
            PullEvent::Done { reference, digest } => {
                eprintln!("{reference}: pulled {digest}")
            }
        }
    }
}

/// On a terminal: one line per layer with a byte bar, as `docker pull` draws
/// them (Downloading, Extracting, Pull complete).
struct BarProgress {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
    bytes: indicatif::ProgressStyle,
    text: indicatif::ProgressStyle,
}

impl BarProgress {
    fn new() -> Self {
        let style = |t: &str| {
            indicatif::ProgressStyle::with_template(t)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ")
        };
        BarProgress {
            multi: indicatif::MultiProgress::with_draw_target(
                indicatif::ProgressDrawTarget::stderr(),
            ),
            bars: std::sync::Mutex::new(std::collections::HashMap::new()),
            bytes: style("{prefix}: {msg:<16} [{bar:40}] {bytes}/{total_bytes}"),
            text: style("{prefix}: {msg}"),
        }
    }

    /// The layer's line, made on first use.
    fn bar(&self, digest: &crate::image::digest::Digest) -> indicatif::ProgressBar {
        let mut bars = match self.bars.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        bars.entry(digest.to_string())
            .or_insert_with(|| {
                let pb = self.multi.add(indicatif::ProgressBar::new(0));
                pb.set_style(self.text.clone());
                pb.set_prefix(short_id(digest));
                pb
            })
            .clone()
    }
}

impl PullProgress for BarProgress {
    fn event(&self, e: PullEvent) {
        match e {
            PullEvent::Resolved { reference, .. } => {
                let _ = self.multi.println(format!("{reference}: Pulling"));
            }
            PullEvent::LayerExists { digest } => {
                let pb = self.bar(&digest);
                pb.set_style(self.text.clone());
                pb.finish_with_message("Already exists");
            }
            PullEvent::Downloading {
                digest,
                done,
                total,
            } => {
                let pb = self.bar(&digest);
                if pb.length() != Some(total) {
                    pb.set_style(self.bytes.clone());
                    pb.set_length(total);
                    pb.set_message("Downloading");
                }
                pb.set_position(done);
            }
            PullEvent::Downloaded { digest } => {
                let pb = self.bar(&digest);
                pb.set_style(self.text.clone());
                pb.set_message("Extracting");
            }
            PullEvent::Extracted { digest } => {
                let pb = self.bar(&digest);
                pb.set_style(self.text.clone());
                pb.finish_with_message("Pull complete");
            }
            PullEvent::Done { reference, digest } => {
                let _ = self
                    .multi
                    .println(format!("{reference}: Pulled (digest: {digest})"));
            }
        }
    }
}

/// How `pull` reports: bars on a terminal, lines otherwise, nothing with -q.
fn pull_progress(quiet: bool) -> Box<dyn PullProgress + Send> {
    if !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Box::new(BarProgress::new())
    } else {
        Box::new(LineProgress { quiet })
    }
}

pub fn pull(global: &GlobalArgs, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let platform = args
        .platform
        .as_deref()
        .map(Platform::parse)
        .transpose()
        .context("--platform")?;
    if args.images.is_empty() {
        return pull_project(global, args, platform);
    }
    let mut refs = Vec::new();
    for n in &args.images {
        refs.push(Reference::parse(n).with_context(|| format!("invalid image reference {n:?}"))?);
    }
    let store = open_store(global)?;
    let puller = Puller::new(registry_client()?, store);
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

/// What `pull` does with one service of a project, decided before pulling.
#[derive(Debug, PartialEq, Eq)]
enum ServicePull {
    /// Pull this image.
    Pull(String),
    /// Another service pulls the same image.
    SameAs(String),
    /// `Skipped…` as Compose says it.
    Skip(&'static str),
}

/// Per service (in file order): pull, leave to the service that pulls the
/// same image, or skip (no image; `pull_policy: build` or `never`), as
/// `docker compose pull` decides.
fn plan_project_pull<'a>(
    services: impl Iterator<Item = (&'a str, Option<&'a str>, Option<&'a str>)>,
) -> Vec<(String, ServicePull)> {
    let mut pulled_by: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (name, image, policy) in services {
        let what = match (image, policy) {
            (None, _) => ServicePull::Skip("Skipped - No image to be pulled"),
            (Some(_), Some("build" | "never")) => ServicePull::Skip("Skipped"),
            (Some(image), _) => match pulled_by.get(image) {
                Some(other) => ServicePull::SameAs(other.to_string()),
                None => {
                    pulled_by.insert(image, name);
                    ServicePull::Pull(image.to_string())
                }
            },
        };
        out.push((name.to_string(), what));
    }
    out
}

/// `pull` without image arguments: every service image of the compose
/// project, each distinct image once, with Compose's per-service lines.
fn pull_project(
    global: &GlobalArgs,
    args: &PullArgs,
    platform: Option<Platform>,
) -> anyhow::Result<ExitCode> {
    let opts = global.load_options()?;
    let loaded = load::load(&opts).map_err(anyhow::Error::new)?;
    print_warnings(&loaded.warnings);
    let plan = plan_project_pull(loaded.project.services.iter().map(|(name, svc)| {
        (
            name.as_str(),
            svc.image.as_deref(),
            svc.pull_policy.as_deref(),
        )
    }));
    let say = |service: &str, text: &str| {
        if !args.quiet {
            eprintln!(" {service} {text}");
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
                jobs.push((service.as_str(), image.as_str(), r));
            }
        }
    }
    if jobs.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let pull_opts = PullOptions {
        platform,
        keep_layer_blobs: args.keep_layer_blobs,
    };
    let errors = pull_services(global, &jobs, &pull_opts, &say)?;
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

/// Pulls each (service, image) job concurrently, saying Compose's
/// per-service lines; the failures, one message each.
fn pull_services(
    global: &GlobalArgs,
    jobs: &[(&str, &str, Reference)],
    pull_opts: &PullOptions,
    say: &dyn Fn(&str, &str),
) -> anyhow::Result<Vec<String>> {
    let store = open_store(global)?;
    let puller = Puller::new(registry_client()?, store);
    // Layer lines of several images would interleave: Compose's plain
    // output is per service too.
    let progress = LineProgress { quiet: true };
    let rt = runtime()?;
    let results = rt.block_on(futures_util::future::join_all(jobs.iter().map(
        |(service, _, r)| {
            say(service, "Pulling");
            puller.pull(r, pull_opts, &progress)
        },
    )));
    let mut errors = Vec::new();
    for ((service, image, _), res) in jobs.iter().zip(results) {
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
pub(super) fn pull_for_up(
    global: &GlobalArgs,
    project: &crate::compose::types::Project,
    selected: &[String],
    policy: super::compose::PullPolicy,
    quiet: bool,
) -> anyhow::Result<()> {
    use super::compose::PullPolicy;
    let store = ImageStore::open(global.root())?;
    let mut jobs: Vec<(&str, &str, Reference)> = Vec::new();
    for name in selected {
        let Some(svc) = project.services.get(name) else {
            continue;
        };
        let image = crate::plan::container::image_name(project, svc)?;
        let present = store.find(&image)?.is_some();
        let service_policy = svc.pull_policy.as_deref();
        let pull = match (policy, service_policy) {
            (PullPolicy::Never, _) | (_, Some("never")) => false,
            (PullPolicy::Always, _) | (_, Some("always")) => svc.image.is_some(),
            _ => !present && svc.image.is_some(),
        };
        if !present && svc.image.is_none() {
            anyhow::bail!(
                "service {name:?}: image {image:?} must be built first (building is not supported yet)"
            );
        }
        if !pull || jobs.iter().any(|(_, i, _)| *i == image.as_str()) {
            continue;
        }
        let r = Reference::parse(&image)
            .with_context(|| format!("service {name}: invalid image reference {image:?}"))?;
        let image: &str = svc.image.as_deref().unwrap_or_default();
        jobs.push((name.as_str(), image, r));
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let say = |service: &str, text: &str| {
        if !quiet {
            eprintln!(" {service} {text}");
        }
    };
    let opts = PullOptions {
        platform: None,
        keep_layer_blobs: false,
    };
    let errors = pull_services(global, &jobs, &opts, &say)?;
    if let Some(first) = errors.first() {
        anyhow::bail!("{first}");
    }
    Ok(())
}

pub fn images(global: &GlobalArgs, args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    if let Some(sel) = super::compose::project_mode(global, &args.services)? {
        return super::compose::images(global, &sel, args);
    }
    if !args.services.is_empty() {
        bail!(
            "no compose project found for services {}",
            args.services.join(", ")
        );
    }
    let store = open_store(global)?;
    let mut records = store.list().context("listing images")?;
    records.sort_by(|a, b| a.references.cmp(&b.references));
    if args.quiet {
        for r in &records {
            println!("{}", &r.id().hex()[..12]);
        }
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

/// Docker's decimal units: `7.25MB`.
pub(super) fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[i]
    }
}

/// Accepts `busybox`, `docker.io/library/busybox:latest`, an id or prefix.
fn store_name(name: &str) -> String {
    match Reference::parse(name) {
        Ok(r) if r.digest().is_none() => r.to_string(),
        _ => name.to_string(),
    }
}

pub fn rmi(global: &GlobalArgs, args: &RmiArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let mut failed = false;
    for name in &args.images {
        match store.remove(&store_name(name), args.force) {
            Ok(removed) => {
                for u in &removed.untagged {
                    println!("Untagged: {u}");
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

pub fn image(global: &GlobalArgs, cmd: &ImageCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ImageCommand::Inspect { images } => {
            let store = open_store(global)?;
            let mut out = Vec::new();
            for name in images {
                let Some(r) = store.resolve(&store_name(name))? else {
                    bail!("no such image: {name}");
                };
                // The record names the blobs the registry served; whether the
                // store still has each compressed layer blob is said apart.
                let mut v = serde_json::to_value(&r).context("serializing")?;
                if let Some(layers) = v.get_mut("layers").and_then(|l| l.as_array_mut()) {
                    for (l, rec) in layers.iter_mut().zip(&r.layers) {
                        l["blob_stored"] =
                            serde_json::Value::Bool(store.has_blob(&rec.blob_digest));
                    }
                }
                out.push(v);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&out).context("serializing")?
            );
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::History { image, no_trunc } => history(global, image, *no_trunc),
        ImageCommand::Prune { all } => system(global, &SystemCommand::Prune { all: *all }),
    }
}

/// `docker history`: the config's history, newest first, with layer sizes
/// for the entries that made a layer.
fn history(global: &GlobalArgs, image: &str, no_trunc: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let record = store
        .resolve(&store_name(image))?
        .ok_or_else(|| anyhow::anyhow!("no such image: {image}"))?;
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
        let created_by = h.created_by().clone().unwrap_or_default();
        let shown = if no_trunc || created_by.chars().count() <= 45 {
            created_by
        } else {
            created_by.chars().take(44).collect::<String>() + "…"
        };
        rows.push((h.created().clone().unwrap_or_default(), shown, size));
    }
    println!("{:<22} {:<46} {:>10}", "CREATED", "CREATED BY", "SIZE");
    for (created, by, size) in rows.into_iter().rev() {
        println!("{:<22} {:<46} {:>10}", created, by, human_size(size));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_pull_plan_skips_like_compose() {
        let plan = plan_project_pull(
            [
                ("web", Some("busybox"), None),
                ("worker", Some("busybox"), Some("always")),
                ("app", Some("app:dev"), Some("build")),
                ("local", Some("local:1"), Some("never")),
                ("built", None, None),
                ("db", Some("postgres"), Some("missing")),
            ]
            .into_iter(),
        );
        assert_eq!(
            plan,
            vec![
                ("web".to_string(), ServicePull::Pull("busybox".into())),
                ("worker".to_string(), ServicePull::SameAs("web".into())),
                ("app".to_string(), ServicePull::Skip("Skipped")),
                ("local".to_string(), ServicePull::Skip("Skipped")),
                (
                    "built".to_string(),
                    ServicePull::Skip("Skipped - No image to be pulled")
                ),
                ("db".to_string(), ServicePull::Pull("postgres".into())),
            ]
        );
    }

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.261MB");
        assert_eq!(human_size(117_000_000), "117MB");
    }
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Image to name (name, id or digest)
    pub source: String,
    /// New name
    pub target: String,
}

pub fn tag(global: &GlobalArgs, args: &TagArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    let target = Reference::parse(&args.target)
        .with_context(|| format!("invalid image reference {:?}", args.target))?;
    store
        .tag(&target.to_string(), &store_name(&args.source))
        .with_context(|| format!("tagging {}", args.source))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Image to push, by the name it should have in the registry
    pub image: String,
}

pub fn push(global: &GlobalArgs, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let target = Reference::parse(&args.image)
        .with_context(|| format!("invalid image reference {:?}", args.image))?;
    let store = open_store(global)?;
    let client = registry_client()?;
    let (digest, blobs) = runtime()?
        .block_on(crate::image::push::push(
            &client,
            &store,
            &store_name(&args.image),
            &target,
        ))
        .with_context(|| format!("pushing {}", target.familiar()))?;
    for b in blobs {
        match b {
            crate::image::push::BlobPush::Exists(d) => {
                eprintln!("{}: layer already exists", &d.hex()[..12])
            }
            crate::image::push::BlobPush::Mounted { digest, from } => {
                eprintln!("{}: mounted from {from}", &digest.hex()[..12])
            }
            crate::image::push::BlobPush::Pushed(d) => eprintln!("{}: pushed", &d.hex()[..12]),
        }
    }
    println!("{}: digest: {digest}", target.tag().unwrap_or("latest"));
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry host (default: Docker Hub)
    pub server: Option<String>,
    #[arg(short, long)]
    pub username: String,
    /// Read the password from standard input (recommended over --password)
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long)]
    pub password: Option<String>,
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

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage of images and layers
    Df {
        /// `json`: exact byte counts
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Remove unused images, layers and blobs
    Prune {
        /// Also remove images no container uses (not just untagged ones)
        #[arg(short, long)]
        all: bool,
    },
}

pub fn system(global: &GlobalArgs, cmd: &SystemCommand) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
    match cmd {
        SystemCommand::Df { format } => {
            let du = store.disk_usage().context("measuring disk usage")?;
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
        SystemCommand::Prune { all } => {
            let removed = store.prune(*all).context("pruning")?;
            for d in &removed.deleted_images {
                println!("Deleted Images: {d}");
            }
            println!(
                "Deleted {} images, {} layers, {} blobs",
                removed.deleted_images.len(),
                removed.deleted_layers.len(),
                removed.deleted_blobs.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Images to save
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Write to a file instead of standard output
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
}

pub fn save(global: &GlobalArgs, args: &SaveArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(global)?;
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
    match &args.output {
        Some(path) => {
            // Written beside the target and renamed: no half archive on failure.
            let tmp = path.with_extension("partial");
            let file = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            let result =
                crate::image::archive::save(&store, &images, std::io::BufWriter::new(file));
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(e).context("saving images");
            }
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                bail!("refusing to write an image archive to a terminal; use -o FILE or redirect");
            }
            crate::image::archive::save(&store, &images, std::io::stdout().lock())
                .context("saving images")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from a file instead of standard input
    #[arg(short, long)]
    pub input: Option<std::path::PathBuf>,
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn load(global: &GlobalArgs, args: &LoadArgs) -> anyhow::Result<ExitCode> {
    use crate::image::archive;
    use crate::image::pull::ImageSource;
    let store = open_store(global)?;
    let dir = std::env::temp_dir().join(format!("wharf-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
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
    let _ = crate::image::unpack::remove_tree(&dir);
    result.map(|()| ExitCode::SUCCESS)
}

/// The stored image `name`, pulled first if it is not there, as `docker
/// run` does ("Unable to find image … locally").
pub(super) fn ensure_image(
    global: &GlobalArgs,
    store: &ImageStore,
    name: &str,
) -> anyhow::Result<crate::image::store::ImageRecord> {
    let reference =
        Reference::parse(name).with_context(|| format!("invalid image reference {name:?}"))?;
    if let Some(found) = store.find(name)? {
        return Ok(found);
    }
    eprintln!("Unable to find image '{reference}' locally");
    let store = Arc::new(ImageStore::open(global.root())?);
    let puller = Puller::new(registry_client()?, store);
    let progress = pull_progress(false);
    let opts = PullOptions {
        platform: None,
        keep_layer_blobs: false,
    };
    let record = runtime()?.block_on(puller.pull(&reference, &opts, progress.as_ref()))?;
    Ok(record)
}
