//! `wharf build PATH`: Docker's build verb. Parses flags, reads the
//! Dockerfile, and drives `build::builder` with a host that pulls base
//! images and runs RUN steps as containers (the `run` verb's path: a
//! container record, a detached monitor, the same isolation defaults).

use crate::build::builder::{
    self, BoxError, BuildHost, BuildRequest, NamedContext, RunRequest, RunResult, Secret, SshSource,
};
use crate::build::dockerfile::RunNetwork;
use crate::cli::args::build::{BuildArgs, BuilderCommand};
use crate::cli::progress::{build_progress, BuildProgressMode};
use crate::cli::resolve::Settings;
use crate::image::platform::Platform;
use crate::image::reference::Reference;
use crate::image::store::{ImageRecord, ImageStore};
use crate::runtime::container::Containers;
use crate::runtime::spec::{ContainerSpec, HealthSpec, NetworkAttachment, NsMode};
use crate::supervise::control;
use anyhow::{bail, Context as _};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn builder(settings: &Settings, cmd: &BuilderCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BuilderCommand::Prune { force: _ } => {
            let root = settings.root();
            let store = ImageStore::open(root)
                .with_context(|| format!("opening the image store under {}", root.display()))?;
            let cache = crate::build::cache::BuildCache::open(&store)?;
            let (entries, removed) = cache.prune()?;
            println!(
                "Deleted build cache objects: {entries} entries, {} layers",
                removed.deleted_layers.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--build-arg` / `--label` values: `KEY=VALUE`, or `KEY` alone (build
/// args only) for the value in this environment, as Docker does.
pub(crate) fn key_values(
    flag: &str,
    values: &[String],
    from_env: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for v in values {
        match v.split_once('=') {
            Some(("", _)) => bail!("{flag} {v:?}: the key is empty"),
            Some((k, val)) => {
                out.insert(k.to_string(), val.to_string());
            }
            None if from_env => {
                if let Ok(val) = std::env::var(v) {
                    out.insert(v.clone(), val);
                }
            }
            None => {
                out.insert(v.clone(), String::new());
            }
        }
    }
    Ok(out)
}

/// `--secret id=x,src=path`, `id=x,env=VAR` (`type=file|env` also accepted,
/// `source` for `src`), as Docker takes them; an id alone reads the
/// environment variable of that name.
fn parse_secrets(values: &[String]) -> anyhow::Result<BTreeMap<String, Secret>> {
    let mut out = BTreeMap::new();
    for v in values {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for field in v.split(',') {
            match field.split_once('=') {
                Some(("id", x)) => id = Some(x.to_string()),
                Some(("src" | "source", x)) => src = Some(x.to_string()),
                Some(("env", x)) => env = Some(x.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => {
                    bail!("--secret {v:?}: unexpected {field:?} (expected id=, src=, env=, type=)")
                }
            }
        }
        let Some(id) = id else {
            bail!("--secret {v:?}: id= is required");
        };
        let secret = match (src, env) {
            (Some(p), None) => Secret::File(PathBuf::from(p)),
            (None, Some(e)) => Secret::Env(e),
            (None, None) => Secret::Env(id.clone()),
            (Some(_), Some(_)) => bail!("--secret {v:?}: give src= or env=, not both"),
        };
        if let Secret::File(p) = &secret {
            if !p.is_file() {
                bail!("--secret {v:?}: {} is not a file", p.display());
            }
        }
        out.insert(id, secret);
    }
    Ok(out)
}

/// `--ssh default|ID[=SOCKET|KEY[,KEY…]]`, as buildx takes it: an id alone
/// (or `default`) forwards `$SSH_AUTH_SOCK`; one socket is forwarded as it
/// is; key files are loaded into an agent the build starts for that id.
pub(crate) fn parse_ssh(values: &[String]) -> anyhow::Result<BTreeMap<String, SshSource>> {
    use std::os::unix::fs::FileTypeExt;
    let mut out = BTreeMap::new();
    for v in values {
        let (id, paths) = match v.split_once('=') {
            Some((id, p)) => (id, Some(p)),
            None => (v.as_str(), None),
        };
        if id.is_empty() {
            bail!("--ssh {v:?}: the id is empty (expected default or ID[=SOCKET|KEY,…])");
        }
        let paths: Vec<PathBuf> = match paths {
            Some(p) => p.split(',').filter(|p| !p.is_empty()).map(PathBuf::from).collect(),
            None => match std::env::var_os("SSH_AUTH_SOCK") {
                Some(s) if !s.is_empty() => vec![PathBuf::from(s)],
                _ => bail!("--ssh {v}: SSH_AUTH_SOCK is not set (start ssh-agent, or give ID=SOCKET or ID=KEYFILE)"),
            },
        };
        let mut keys = Vec::new();
        for p in &paths {
            let meta =
                std::fs::metadata(p).with_context(|| format!("--ssh {v}: {}", p.display()))?;
            if meta.file_type().is_socket() {
                if paths.len() > 1 {
                    bail!(
                        "--ssh {v}: {} is a socket: give one socket or key files, not both",
                        p.display()
                    );
                }
                out.insert(id.to_string(), SshSource::Socket(p.clone()));
            } else if meta.is_file() {
                keys.push(
                    std::path::absolute(p)
                        .with_context(|| format!("--ssh {v}: {}", p.display()))?,
                );
            } else {
                bail!(
                    "--ssh {v}: {} is neither an agent socket nor a key file",
                    p.display()
                );
            }
        }
        if !keys.is_empty() {
            out.insert(id.to_string(), SshSource::Keys(keys));
        }
    }
    Ok(out)
}

/// `--build-context NAME=VALUE`: a local directory or `docker-image://REF`,
/// keyed as FROM and `--from` words look them up.
fn parse_build_contexts(values: &[String]) -> anyhow::Result<BTreeMap<String, NamedContext>> {
    let mut out = BTreeMap::new();
    for v in values {
        let Some((name, value)) = v.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            bail!("--build-context {v:?}: expected NAME=VALUE");
        };
        let context =
            named_context(name, value).with_context(|| format!("--build-context {v:?}"))?;
        out.insert(crate::build::stages::context_key(name), context);
    }
    Ok(out)
}

/// A named context's value: `docker-image://REF`, else a local directory
/// (made absolute: the build reads it from anywhere). Git, URL and OCI
/// layout sources are refused.
pub(crate) fn named_context(name: &str, value: &str) -> anyhow::Result<NamedContext> {
    if Reference::parse(name).is_err() {
        bail!("{name:?} is not a valid context name (it must read as an image name)");
    }
    if let Some(image) = value.strip_prefix("docker-image://") {
        let r = Reference::parse(image).with_context(|| format!("invalid image {image:?}"))?;
        return Ok(NamedContext::Image(r.to_string()));
    }
    if value.contains("://") || value.starts_with("git@") || value.starts_with("target:") {
        bail!("{value:?}: only a local directory or docker-image://REF is supported yet");
    }
    let dir = std::path::absolute(value).with_context(|| format!("{value:?}"))?;
    if !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    Ok(NamedContext::Dir(dir))
}

/// `--cache-from NAME` or `type=registry,ref=NAME`: the image from the
/// store, else pulled. One that cannot be had is a warning, as in BuildKit:
/// the build then runs without it.
pub(crate) fn cache_from_images(
    settings: &Settings,
    store: &ImageStore,
    values: &[String],
) -> anyhow::Result<Vec<ImageRecord>> {
    let mut out = Vec::new();
    for v in values {
        let name = if v.contains('=') {
            let mut name = None;
            for field in v.split(',') {
                match field.split_once('=') {
                    Some(("type", "registry")) => {}
                    Some(("ref", r)) => name = Some(r),
                    _ => bail!(
                        "--cache-from {v:?}: unexpected {field:?} (only type=registry,ref=NAME or NAME)"
                    ),
                }
            }
            name.with_context(|| format!("--cache-from {v:?}: ref= is required"))?
        } else {
            v.as_str()
        };
        match crate::cli::commands::image::ensure_image(settings, store, name) {
            Ok(r) => out.push(r),
            Err(e) => eprintln!("WARN: --cache-from {name}: {e:#}; building without it"),
        }
    }
    Ok(out)
}

/// Where `--output` writes the result.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Output {
    /// The filesystem as a directory.
    Local(PathBuf),
    /// The filesystem as a tar; `None`: standard output.
    Tar(Option<PathBuf>),
    /// The image as an archive (`docker save`'s OCI layout, which both
    /// `docker load` and OCI tools read); `None`: standard output.
    Archive(Option<PathBuf>),
}

/// `--output type=local|tar|oci|docker,dest=PATH`, or BuildKit's shorthands:
/// `-o DIR` (local) and `-o -` (a tar on standard output).
fn parse_output(spec: &str) -> anyhow::Result<Output> {
    if spec == "-" {
        return Ok(Output::Tar(None));
    }
    if !spec.contains('=') {
        return Ok(Output::Local(PathBuf::from(spec)));
    }
    let mut kind = None;
    let mut dest = None;
    for field in spec.split(',') {
        match field.split_once('=') {
            Some(("type", t)) => kind = Some(t),
            Some(("dest", d)) if !d.is_empty() => dest = Some(d),
            _ => bail!("--output {spec:?}: unexpected {field:?} (expected type= and dest=)"),
        }
    }
    let file = |d: Option<&str>| d.filter(|d| *d != "-").map(PathBuf::from);
    match kind {
        Some("local") => match dest {
            Some("-") | None => bail!("--output {spec:?}: type=local needs dest=DIRECTORY"),
            Some(d) => Ok(Output::Local(PathBuf::from(d))),
        },
        Some("tar") => Ok(Output::Tar(file(dest))),
        Some("oci" | "docker") => Ok(Output::Archive(file(dest))),
        Some("image" | "registry") => {
            bail!("--output {spec:?}: the image is always stored; use -t NAME (and --push)")
        }
        Some(other) => {
            bail!("--output {spec:?}: type {other:?} (expected local, tar, oci or docker)")
        }
        None => bail!("--output {spec:?}: type= is required"),
    }
}

/// What the Dockerfile says, how messages name it, and where it is.
fn read_dockerfile(
    context: &Path,
    file: Option<&str>,
) -> anyhow::Result<(String, String, Option<PathBuf>)> {
    match file {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the Dockerfile from standard input")?;
            Ok((s, "Dockerfile".to_string(), None))
        }
        Some(f) => {
            let p = PathBuf::from(f);
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading the Dockerfile {}", p.display()))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.to_string());
            Ok((text, name, Some(p)))
        }
        None => {
            let p = context.join("Dockerfile");
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("reading the Dockerfile {}", p.display()))?;
            Ok((text, "Dockerfile".to_string(), Some(p)))
        }
    }
}

pub fn build(settings: &Settings, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let [context] = args.targets.as_slice() else {
        bail!("\"wharf build\" of a directory requires exactly 1 argument (the build context)");
    };
    if args.with_dependencies {
        bail!("--with-dependencies: a flag for the services of a compose project, not a directory");
    }
    if context == "-" || context.contains("://") || context.starts_with("git@") {
        bail!("build context {context:?}: only a local directory is supported yet");
    }
    let context = PathBuf::from(context);
    if !context.is_dir() {
        bail!("build context {}: not a directory", context.display());
    }
    let host_platform = Platform::host();
    if let Some(p) = &args.platform {
        let asked = Platform::parse(p).with_context(|| format!("--platform {p:?}"))?;
        if !asked.matches(&host_platform) {
            bail!(
                "--platform {p}: only the native platform ({}/{}) can be built",
                host_platform.os,
                host_platform.architecture
            );
        }
    }
    let network = match args.network.as_str() {
        "default" | "bridge" => RunNetwork::Default,
        "none" => RunNetwork::None,
        "host" => RunNetwork::Host,
        other => bail!("--network {other:?}: expected default, none or host"),
    };
    let progress_mode = match args.progress.as_str() {
        _ if args.quiet => BuildProgressMode::Quiet,
        "quiet" => BuildProgressMode::Quiet,
        "plain" => BuildProgressMode::Plain,
        "tty" => BuildProgressMode::Tty,
        "auto" if std::io::IsTerminal::is_terminal(&std::io::stderr()) => BuildProgressMode::Tty,
        "auto" => BuildProgressMode::Plain,
        other => bail!("--progress {other:?}: expected auto, plain, tty or quiet"),
    };
    let mut tags = Vec::new();
    for t in &args.tags {
        let r = Reference::parse(t).with_context(|| format!("invalid tag {t:?}"))?;
        tags.push(r.to_string());
    }
    let output = args.output.as_deref().map(parse_output).transpose()?;
    if args.push && tags.is_empty() {
        bail!("--push needs a name to push to: give -t REGISTRY/NAME[:TAG]");
    }
    let (text, dockerfile_name, dockerfile_path) = read_dockerfile(&context, args.file.as_deref())?;
    let dockerfile = crate::build::dockerfile::parse(&text, &dockerfile_name)?;
    let req = BuildRequest {
        dockerfile,
        dockerfile_name,
        dockerfile_path,
        context: context.clone(),
        target: args.target.clone(),
        build_args: key_values("--build-arg", &args.build_args, true)?,
        labels: key_values("--label", &args.labels, false)?,
        tags,
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        source_date_epoch: args.source_date_epoch,
        platform: host_platform,
        secrets: parse_secrets(&args.secrets)?,
        ssh: parse_ssh(&args.ssh)?,
        cache_from: Vec::new(),
        named_contexts: parse_build_contexts(&args.build_contexts)?,
    };
    let root = settings.root();
    let store = ImageStore::open(root)
        .with_context(|| format!("opening the image store under {}", root.display()))?;
    let req = BuildRequest {
        cache_from: cache_from_images(settings, &store, &args.cache_from)?,
        ..req
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    let running: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    watch_interrupts(root, Arc::clone(&interrupted), Arc::clone(&running))?;
    let mut extra_hosts = Vec::new();
    for h in &args.add_host {
        let (name, ip) = h
            .split_once(':')
            .with_context(|| format!("invalid --add-host {h:?}: expected HOST:IP"))?;
        extra_hosts.push((name.to_string(), ip.to_string()));
    }
    let shm_size = match &args.shm_size {
        Some(v) => Some(
            crate::compose::convert::parse_bytes(v)
                .ok()
                .and_then(|b| u64::try_from(b).ok())
                .with_context(|| format!("invalid --shm-size {v:?}"))?,
        ),
        None => None,
    };
    let host = Host::new(
        settings,
        store.clone(),
        RunOptions {
            network,
            extra_hosts,
            shm_size,
            pull: args.pull,
        },
        running,
        Arc::clone(&interrupted),
    );
    let progress = build_progress(progress_mode);
    let result = builder::build(&req, &store, &host, progress.as_ref());
    if progress_mode == BuildProgressMode::Tty {
        // The tree's last line is drawn without a line end.
        drop(progress);
        eprintln!();
    }
    let built = match result {
        Ok(b) => b,
        Err(e) => {
            if interrupted.load(Ordering::SeqCst) {
                eprintln!("wharf: build interrupted");
                return Ok(ExitCode::from(130));
            }
            eprintln!("ERROR: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // wharf names an image by its manifest digest (`images`, `rmi`, `run`).
    let id = built.image.id().to_string();
    if let Some(p) = &args.iidfile {
        std::fs::write(p, &id).with_context(|| format!("writing --iidfile {}", p.display()))?;
    }
    if let Some(output) = &output {
        write_output(&store, &built.image, output, &req.tags)?;
        // The filesystem was what was asked for: an image nobody named need not stay.
        if matches!(output, Output::Local(_) | Output::Tar(_)) && req.tags.is_empty() {
            store
                .remove(&id, false)
                .with_context(|| format!("removing the unnamed image {id}"))?;
        }
    }
    if args.push {
        for t in &req.tags {
            println!(
                "{}",
                crate::cli::commands::image::push_image(settings, &store, t)?
            );
        }
    }
    if progress_mode == BuildProgressMode::Quiet {
        println!("{id}");
    } else if progress_mode == BuildProgressMode::Tty {
        eprintln!("=> exporting to image");
        eprintln!("=> => writing image {id}");
        for t in &req.tags {
            eprintln!("=> => naming to {t}");
        }
    } else {
        // BuildKit's last vertex.
        let n = built.steps + 1;
        eprintln!("#{n} exporting to image");
        eprintln!("#{n} writing image {id} done");
        for t in &req.tags {
            eprintln!("#{n} naming to {t} done");
        }
        eprintln!("#{n} DONE 0.0s");
    }
    Ok(ExitCode::SUCCESS)
}

fn write_output(
    store: &ImageStore,
    image: &ImageRecord,
    output: &Output,
    tags: &[String],
) -> anyhow::Result<()> {
    use crate::build::export;
    use crate::cli::commands::image::write_archive;
    let hint = "give dest=FILE or redirect";
    match output {
        Output::Local(dir) => export::write_local(store, image, dir)
            .with_context(|| format!("--output {}", dir.display())),
        Output::Tar(file) => write_archive(file.as_deref(), hint, |out| {
            export::write_tar(store, image, &store.root().join("tmp"), out)
                .context("writing the filesystem tar")
        }),
        Output::Archive(file) => {
            let named = vec![(tags.first().cloned(), image.clone())];
            write_archive(file.as_deref(), hint, |out| {
                crate::image::archive::save(store, &named, out).context("writing the image archive")
            })
        }
    }
}

/// Ctrl-C (or SIGTERM) stops the build: the RUN containers are killed,
/// the step fails, and the build cleans up behind itself. The signals are
/// blocked before any worker thread exists, and one thread waits for them.
fn watch_interrupts(
    root: &Path,
    interrupted: Arc<AtomicBool>,
    running: Arc<Mutex<Vec<String>>>,
) -> anyhow::Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block().context("blocking SIGINT/SIGTERM")?;
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        if mask.wait().is_err() {
            return;
        }
        interrupted.store(true, Ordering::SeqCst);
        kill_running_steps(&root, &running);
    });
    Ok(())
}

/// After an interrupt: until the build has noticed (forever, on its own
/// thread), kills whatever RUN is going.
pub(crate) fn kill_running_steps(root: &Path, running: &Mutex<Vec<String>>) {
    let Ok(containers) = Containers::open(root) else {
        return;
    };
    loop {
        let ids = running.lock().map(|r| r.clone()).unwrap_or_default();
        for id in ids {
            let _ = control::kill(&containers, &id, nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How a build's RUN steps and base images are had: the same for every
/// step of one build.
pub(crate) struct RunOptions {
    pub network: RunNetwork,
    /// `--add-host` and `--shm-size`, for every RUN.
    pub extra_hosts: Vec<(String, String)>,
    pub shm_size: Option<u64>,
    /// `--pull` (compose `build.pull`): FROM images come from their
    /// registry, once per build each, even when the store has them.
    pub pull: bool,
}

pub(crate) struct Host<'a> {
    settings: &'a Settings,
    store: ImageStore,
    opts: RunOptions,
    runtime: String,
    /// Ids of RUN containers now running (for Ctrl-C).
    running: Arc<Mutex<Vec<String>>>,
    interrupted: Arc<AtomicBool>,
    pulled: Mutex<BTreeMap<String, ImageRecord>>,
}

impl<'a> Host<'a> {
    /// A host for one build; `running` and `interrupted` as
    /// [`watch_interrupts`] keeps them.
    pub(crate) fn new(
        settings: &'a Settings,
        store: ImageStore,
        opts: RunOptions,
        running: Arc<Mutex<Vec<String>>>,
        interrupted: Arc<AtomicBool>,
    ) -> Self {
        Host {
            settings,
            store,
            opts,
            runtime: settings.runtime.clone(),
            running,
            interrupted,
            pulled: Mutex::new(BTreeMap::new()),
        }
    }
}

impl BuildHost for Host<'_> {
    fn base_image(&self, reference: &str) -> Result<ImageRecord, BoxError> {
        let boxed = |e: anyhow::Error| -> BoxError { format!("{e:#}").into() };
        if !self.opts.pull {
            return crate::cli::commands::image::ensure_image(
                self.settings,
                &self.store,
                reference,
            )
            .map_err(boxed);
        }
        let mut pulled = self
            .pulled
            .lock()
            .map_err(|_| "the pull lock is poisoned")?;
        if let Some(r) = pulled.get(reference) {
            return Ok(r.clone());
        }
        let parsed = Reference::parse(reference)
            .with_context(|| format!("invalid image reference {reference:?}"))
            .map_err(boxed)?;
        let record =
            crate::cli::commands::image::pull_image(self.settings, &parsed).map_err(boxed)?;
        pulled.insert(reference.to_string(), record.clone());
        Ok(record)
    }

    fn fetch(&self, url: &str, dest: &Path) -> Result<(), BoxError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let mut resp = reqwest::Client::new()
                .get(url)
                .send()
                .await?
                .error_for_status()?;
            let mut file = std::fs::File::create(dest)?;
            while let Some(chunk) = resp.chunk().await? {
                file.write_all(&chunk)?;
            }
            file.sync_all()?;
            Ok::<(), BoxError>(())
        })
    }

    fn run(
        &self,
        req: &RunRequest<'_>,
        capture: &mut dyn FnMut(&Path) -> Result<(), BoxError>,
    ) -> Result<RunResult, BoxError> {
        if self.interrupted.load(Ordering::SeqCst) {
            return Err("interrupted".into());
        }
        let env = crate::exec::Env::open(self.settings.root(), &self.runtime)?;
        let mut spec = ContainerSpec {
            entrypoint: Some(req.argv.clone()),
            env: req.env.clone(),
            mounts: req.mounts.clone(),
            extra_hosts: self.opts.extra_hosts.clone(),
            shm_size: self.opts.shm_size,
            // The image's healthcheck is for containers of the result, not its build.
            healthcheck: Some(HealthSpec {
                test: vec!["NONE".into()],
                ..HealthSpec::default()
            }),
            ..ContainerSpec::default()
        };
        spec.labels
            .insert("com.wharf.build.step".into(), req.step.title.clone());
        // A RUN gets the Dockerfile's network, else the build's (--network).
        let network = match (req.network, self.opts.network) {
            (RunNetwork::Default, n) => n,
            (n, _) => n,
        };
        match network {
            RunNetwork::Default => {
                spec.networks = vec![NetworkAttachment {
                    network: crate::cli::commands::common::default_bridge(self.settings.root())
                        .map_err(|e| -> BoxError { format!("{e:#}").into() })?,
                    ..NetworkAttachment::default()
                }];
                spec.namespaces.net = NsMode::Private;
            }
            RunNetwork::None => spec.namespaces.net = NsMode::None,
            RunNetwork::Host => spec.namespaces.net = NsMode::Host,
        }
        let image_name = req.image.id().to_string();
        let record =
            crate::exec::create_container(&env, None, &image_name, req.image, spec, false)?;
        let id = record.id.clone();
        if let Ok(mut r) = self.running.lock() {
            r.push(id.clone());
        }
        let outcome = (|| -> Result<(i32, Result<(), BoxError>), BoxError> {
            control::start_detached(&env.containers, &id)?;
            let code = control::wait(&env.containers, &id)?;
            let upper = crate::runtime::rootfs::upper_dir(&env.containers.dir(&id).path);
            let captured = if code == 0 { capture(&upper) } else { Ok(()) };
            Ok((code, captured))
        })();
        if let Ok(mut r) = self.running.lock() {
            r.retain(|x| x != &id);
        }
        let output: Vec<String> = crate::supervise::logs::read_all(&env.containers.dir(&id).log())
            .map(|lines| {
                lines
                    .into_iter()
                    .map(|l| l.log.trim_end_matches('\n').to_string())
                    .collect()
            })
            .unwrap_or_default();
        let removed = control::remove(&env.containers, &env.store, &id, true);
        let (code, captured) = outcome?;
        captured?;
        removed?;
        Ok(RunResult {
            exit_code: code,
            output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_take_buildkit_s_forms_and_refuse_the_rest() {
        assert_eq!(
            parse_output("out").expect("dir"),
            Output::Local("out".into())
        );
        assert_eq!(parse_output("-").expect("stdout"), Output::Tar(None));
        assert_eq!(
            parse_output("type=local,dest=a/b").expect("local"),
            Output::Local("a/b".into())
        );
        assert_eq!(
            parse_output("type=tar,dest=fs.tar").expect("tar"),
            Output::Tar(Some("fs.tar".into()))
        );
        assert_eq!(
            parse_output("type=docker,dest=-").expect("docker"),
            Output::Archive(None)
        );
        assert_eq!(
            parse_output("dest=i.tar,type=oci").expect("oci"),
            Output::Archive(Some("i.tar".into()))
        );
        for bad in [
            "type=local",
            "type=local,dest=-",
            "type=zip,dest=x",
            "dest=x",
            "type=tar,compression=gzip",
        ] {
            assert!(parse_output(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_takes_a_socket_or_key_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let socket = tmp.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
        let key = tmp.path().join("id_ed25519");
        std::fs::write(&key, "key").expect("key");
        let got = parse_ssh(&[format!("deploy={}", socket.display())]).expect("socket");
        assert_eq!(got.get("deploy"), Some(&SshSource::Socket(socket.clone())));
        let got =
            parse_ssh(&[format!("default={},{}", key.display(), key.display())]).expect("keys");
        assert_eq!(
            got.get("default"),
            Some(&SshSource::Keys(vec![key.clone(), key.clone()]))
        );
        let e = parse_ssh(&[format!("x={},{}", socket.display(), key.display())]).unwrap_err();
        assert!(format!("{e:#}").contains("not both"), "{e:#}");
        let missing = tmp.path().join("nope");
        let e = parse_ssh(&[format!("x={}", missing.display())]).unwrap_err();
        assert!(
            format!("{e:#}").contains(&missing.display().to_string()),
            "{e:#}"
        );
        assert!(parse_ssh(&["=x".into()]).is_err());
    }

    #[test]
    fn build_args_take_values_or_the_environment() {
        let got = key_values(
            "--build-arg",
            &[
                "A=1".into(),
                "B=x=y".into(),
                "WHARF_TEST_SURELY_UNSET".into(),
            ],
            true,
        )
        .expect("args");
        assert_eq!(got.get("A").map(String::as_str), Some("1"));
        assert_eq!(got.get("B").map(String::as_str), Some("x=y"));
        assert!(!got.contains_key("WHARF_TEST_SURELY_UNSET"));
        assert!(key_values("--label", &["=v".into()], false).is_err());
    }
}
