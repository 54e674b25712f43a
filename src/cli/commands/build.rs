//! `wharf build PATH`: Docker's build verb. Parses flags, reads the
//! Dockerfile, and drives `build::builder` with a host that pulls base
//! images and runs RUN steps as containers (the `run` verb's path: a
//! container record, a detached monitor, the same isolation defaults).

use crate::build::builder::{
    self, BoxError, BuildHost, BuildRequest, RunRequest, RunResult, Secret,
};
use crate::build::dockerfile::RunNetwork;
use crate::build::progress::{BuildProgress, StepName};
use crate::cli::args::build::{BuildArgs, BuilderCommand};
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
    for (flag, set) in [
        ("--pull", args.pull),
        ("--push", args.push),
        ("--with-dependencies", args.with_dependencies),
    ] {
        if set {
            bail!("{flag}: only supported for the services of a compose project yet");
        }
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
        _ if args.quiet => ProgressMode::Quiet,
        "quiet" => ProgressMode::Quiet,
        "auto" | "plain" | "tty" => ProgressMode::Plain,
        other => bail!("--progress {other:?}: expected auto, plain, tty or quiet"),
    };
    let mut tags = Vec::new();
    for t in &args.tags {
        let r = Reference::parse(t).with_context(|| format!("invalid tag {t:?}"))?;
        tags.push(r.to_string());
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
        source_date_epoch: args.source_date_epoch,
        platform: host_platform,
        secrets: parse_secrets(&args.secrets)?,
    };
    let root = settings.root();
    let store = ImageStore::open(root)
        .with_context(|| format!("opening the image store under {}", root.display()))?;
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
    let host = Host {
        settings,
        extra_hosts,
        shm_size,
        store: store.clone(),
        network,
        runtime: settings.runtime.clone(),
        running,
        interrupted: Arc::clone(&interrupted),
    };
    let progress = PlainProgress {
        quiet: progress_mode == ProgressMode::Quiet,
        out: Mutex::new(()),
    };
    let built = match builder::build(&req, &store, &host, &progress) {
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
    if progress_mode == ProgressMode::Quiet {
        println!("{id}");
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProgressMode {
    Plain,
    Quiet,
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

pub(crate) struct Host<'a> {
    settings: &'a Settings,
    /// `--add-host` and `--shm-size`, for every RUN.
    extra_hosts: Vec<(String, String)>,
    shm_size: Option<u64>,
    store: ImageStore,
    network: RunNetwork,
    runtime: String,
    /// Ids of RUN containers now running (for Ctrl-C).
    running: Arc<Mutex<Vec<String>>>,
    interrupted: Arc<AtomicBool>,
}

impl<'a> Host<'a> {
    /// A host for one build: its RUN network, `--add-host`s and
    /// `--shm-size`; `running` and `interrupted` as [`watch_interrupts`] keeps them.
    pub(crate) fn new(
        settings: &'a Settings,
        store: ImageStore,
        network: RunNetwork,
        extra_hosts: Vec<(String, String)>,
        shm_size: Option<u64>,
        running: Arc<Mutex<Vec<String>>>,
        interrupted: Arc<AtomicBool>,
    ) -> Self {
        Host {
            settings,
            extra_hosts,
            shm_size,
            store,
            network,
            runtime: settings.runtime.clone(),
            running,
            interrupted,
        }
    }
}

impl BuildHost for Host<'_> {
    fn base_image(&self, reference: &str) -> Result<ImageRecord, BoxError> {
        crate::cli::commands::image::ensure_image(self.settings, &self.store, reference).map_err(
            |e| {
                let b: BoxError = format!("{e:#}").into();
                b
            },
        )
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
            extra_hosts: self.extra_hosts.clone(),
            shm_size: self.shm_size,
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
        let network = match (req.network, self.network) {
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

/// BuildKit's plain progress: `#N [2/4] RUN …`, its output, `#N DONE 1.2s`
/// or `#N CACHED`.
pub(crate) struct PlainProgress {
    quiet: bool,
    /// One step's lines at a time.
    out: Mutex<()>,
}

impl PlainProgress {
    pub(crate) fn new(quiet: bool) -> Self {
        PlainProgress {
            quiet,
            out: Mutex::new(()),
        }
    }

    fn print(&self, lines: &[String]) {
        if self.quiet {
            return;
        }
        let _guard = self.out.lock();
        let mut err = std::io::stderr().lock();
        for l in lines {
            let _ = writeln!(err, "{l}");
        }
    }
}

impl BuildProgress for PlainProgress {
    fn started(&self, step: &StepName) {
        self.print(&[format!("#{} {}", step.number, step.title)]);
    }

    fn cached(&self, step: &StepName) {
        self.print(&[format!("#{} CACHED", step.number), String::new()]);
    }

    fn output(&self, step: &StepName, line: &str) {
        self.print(&[format!("#{} {line}", step.number)]);
    }

    fn done(&self, step: &StepName, took: Duration) {
        self.print(&[
            format!("#{} DONE {:.1}s", step.number, took.as_secs_f64()),
            String::new(),
        ]);
    }

    fn failed(&self, step: &StepName, message: &str) {
        let mut lines: Vec<String> = message
            .lines()
            .map(|l| format!("#{} {l}", step.number))
            .collect();
        lines.push(format!("#{} ERROR", step.number));
        lines.push(String::new());
        self.print(&lines);
    }

    fn note(&self, message: &str) {
        self.print(&[format!("WARN: {message}")]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
