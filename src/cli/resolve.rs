//! The one resolution step between parsing and acting: global flags plus
//! the environment become typed `Settings`, and the command's arguments
//! decide, once, what it works on (`Target`): a compose project, named
//! containers, or nothing.

use super::args::compose::ProgressMode;
use super::args::cp::CpEnd;
use super::args::{AnsiMode, Command, GlobalArgs};
use crate::compose::error::LoadError;
use crate::compose::load::{self, LoadOptions, Loaded};
use anyhow::{bail, Context as _};
use std::path::{Path, PathBuf};

/// Where the log filter comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFilter {
    /// `--log-level`.
    Flag(String),
    /// `RUST_LOG` (an invalid one falls back to `warn`).
    Env(String),
    /// Neither: warnings and errors.
    Default,
}

/// What every command may rely on, resolved once from flags and environment.
#[derive(Debug)]
pub struct Settings {
    /// Where images, volumes and containers live: `--root`, else
    /// WHARF_ROOT, else /var/lib/wharf (clap applies that order). The
    /// runtime state's place follows from it (runtime::container::Containers).
    pub root: PathBuf,
    /// The OCI runtime of the containers a command creates: the verb's
    /// `--runtime`, else WHARF_RUNTIME, else the built-in one.
    pub runtime: String,
    /// `-p`, else COMPOSE_PROJECT_NAME: a project known by name alone when
    /// no compose file is found (its containers are found by labels).
    pub project_name: Option<String>,
    /// Registries reached over plain HTTP (WHARF_INSECURE_REGISTRIES).
    pub insecure_registries: Vec<String>,
    pub log_filter: LogFilter,
    /// `--dry-run`: print what the verb would do, change nothing.
    pub dry_run: bool,
    /// `--ansi`, else COMPOSE_ANSI, else auto.
    pub ansi: AnsiMode,
    /// The progress output: the verb's `--progress`, else the global one,
    /// else COMPOSE_PROGRESS, reconciled with `ansi` as Compose does.
    pub progress: ProgressMode,
    /// `--parallel`, else COMPOSE_PARALLEL_LIMIT: how many services (or
    /// builds) are worked on at once; 0 is no limit (Compose's -1).
    pub parallel: usize,
    /// `--compatibility`, else COMPOSE_COMPATIBILITY.
    pub compatibility: bool,
    /// `--all-resources`: the loader keeps unused resources, `up` makes them.
    pub all_resources: bool,
    /// Docker's `container …`/`image …` form: names are never services.
    pub docker_form: bool,
    /// The compose flags, turned into loader options when a command loads.
    compose: GlobalArgs,
}

/// The runtime when neither flag nor environment names one.
const DEFAULT_RUNTIME: &str = "builtin";

/// A variable of the environment, unset when empty.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A Compose boolean variable (Go's `strconv.ParseBool` truths).
pub fn env_true(name: &str) -> bool {
    env_var(name).is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// `--ansi` else COMPOSE_ANSI; an unknown value of the variable is an error
/// naming it.
fn resolve_ansi(flag: Option<AnsiMode>) -> anyhow::Result<AnsiMode> {
    use clap::ValueEnum as _;
    if let Some(a) = flag {
        return Ok(a);
    }
    match env_var("COMPOSE_ANSI") {
        None => Ok(AnsiMode::Auto),
        Some(v) => AnsiMode::from_str(&v, false)
            .map_err(|_| anyhow::anyhow!("COMPOSE_ANSI={v:?}: expected never, always or auto")),
    }
}

/// The progress mode from the flags and COMPOSE_PROGRESS, with Compose's
/// rules against `--ansi`: `never` turns auto into plain and refuses tty,
/// `always` turns auto into tty and refuses plain.
fn resolve_progress(
    verb: Option<ProgressMode>,
    global: Option<ProgressMode>,
    ansi: AnsiMode,
) -> anyhow::Result<ProgressMode> {
    use clap::ValueEnum as _;
    let env = match env_var("COMPOSE_PROGRESS") {
        None => None,
        Some(v) => Some(ProgressMode::from_str(&v, false).map_err(|_| {
            anyhow::anyhow!("unsupported --progress value {v:?} (from COMPOSE_PROGRESS)")
        })?),
    };
    Ok(match (verb.or(global).or(env), ansi) {
        (Some(ProgressMode::Tty), AnsiMode::Never) => {
            bail!("can't use --progress tty while ANSI support is disabled")
        }
        (Some(ProgressMode::Plain), AnsiMode::Always) => {
            bail!("can't use --progress plain while ANSI support is forced")
        }
        (None | Some(ProgressMode::Auto), AnsiMode::Never) => ProgressMode::Plain,
        (None | Some(ProgressMode::Auto), AnsiMode::Always) => ProgressMode::Tty,
        (None, AnsiMode::Auto) => ProgressMode::Auto,
        (Some(m), _) => m,
    })
}

/// `--parallel` else COMPOSE_PARALLEL_LIMIT; -1 (or 0) is no limit.
fn resolve_parallel(flag: Option<i64>) -> anyhow::Result<usize> {
    let n = match (flag, env_var("COMPOSE_PARALLEL_LIMIT")) {
        (Some(n), _) => n,
        (None, Some(v)) => v.trim().parse().map_err(|_| {
            anyhow::anyhow!("COMPOSE_PARALLEL_LIMIT must be an integer (found: {v:?})")
        })?,
        (None, None) => -1,
    };
    Ok(usize::try_from(n).unwrap_or(0))
}

impl Settings {
    pub fn resolve(global: &GlobalArgs, command: &Command) -> anyhow::Result<Settings> {
        let runtime = runtime_flag(command)
            .map(str::to_string)
            .or_else(|| env_var("WHARF_RUNTIME"))
            .unwrap_or_else(|| DEFAULT_RUNTIME.to_string());
        let log_filter = match (&global.log_level, std::env::var("RUST_LOG")) {
            (Some(level), _) => LogFilter::Flag(level.clone()),
            (None, Ok(env)) => LogFilter::Env(env),
            (None, Err(_)) => LogFilter::Default,
        };
        let insecure_registries = std::env::var("WHARF_INSECURE_REGISTRIES")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let ansi = resolve_ansi(global.ansi)?;
        let progress = resolve_progress(progress_flag(command), global.progress, ansi)?;
        Ok(Settings {
            dry_run: global.dry_run,
            ansi,
            progress,
            parallel: resolve_parallel(global.parallel)?,
            compatibility: global.compatibility || env_true("COMPOSE_COMPATIBILITY"),
            all_resources: global.all_resources,
            docker_form: global.docker_form,
            root: global.root.clone(),
            runtime,
            project_name: global
                .project_name
                .clone()
                .or_else(|| env_var("COMPOSE_PROJECT_NAME")),
            insecure_registries,
            log_filter,
            compose: global.clone(),
        })
    }

    /// Whether log lines get colors: not with `--no-color`, `--ansi never`
    /// or NO_COLOR; always with `--ansi always`; else on a terminal.
    pub fn colors(&self, no_color: bool) -> bool {
        use std::io::IsTerminal as _;
        if no_color || self.ansi == AnsiMode::Never || env_var("NO_COLOR").is_some() {
            return false;
        }
        self.ansi == AnsiMode::Always || std::io::stdout().is_terminal()
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Whether `-f` named compose files (then a missing project is an error
    /// of the files, not "no project").
    pub fn has_files(&self) -> bool {
        !self.compose.file.is_empty()
    }

    /// The loader's options: the compose flags plus the process
    /// environment and directory (`-f -` reads standard input here, so
    /// call it once per command).
    pub fn load_options(&self) -> anyhow::Result<LoadOptions> {
        let g = &self.compose;
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let os_env = std::env::vars().collect();
        let stdin = if g.file.iter().any(|f| f == "-") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the compose file from standard input")?;
            Some(s)
        } else {
            None
        };
        Ok(LoadOptions {
            files: g.file.clone(),
            project_name: g.project_name.clone(),
            project_directory: g.project_directory.clone(),
            env_files: g.env_file.clone(),
            profiles: g.profile.clone(),
            os_env,
            cwd,
            stdin,
            all_resources: g.all_resources,
            compatibility: self.compatibility,
            ..LoadOptions::default()
        })
    }
}

/// The verbs with their own `--progress` (it wins over the global one).
fn progress_flag(command: &Command) -> Option<ProgressMode> {
    match command {
        Command::Up(a) => a.progress,
        Command::Down(a) => a.progress,
        _ => None,
    }
}

/// The verbs that create containers take `--runtime`.
fn runtime_flag(command: &Command) -> Option<&str> {
    match command {
        Command::Up(a) => a.runtime.as_deref(),
        Command::Run(a) => a.create.runtime.as_deref(),
        Command::Create(a) => a.create.runtime.as_deref(),
        Command::Build(a) => a.runtime.as_deref(),
        _ => None,
    }
}

/// A compose project a command works on.
pub enum Project {
    /// Loaded from its compose file.
    Loaded(Box<Loaded>),
    /// Only a name (`-p NAME` with no compose file): found by labels.
    Named(String),
}

impl Project {
    pub fn name(&self) -> &str {
        match self {
            Project::Loaded(l) => &l.project.name,
            Project::Named(n) => n,
        }
    }
}

/// What a command works on, decided once before it runs.
pub enum Target {
    /// No project and no container named (image, volume, network verbs…).
    Nothing,
    /// A compose project; `services` are those named on the command line
    /// (checked against the project; empty: all).
    Project {
        project: Project,
        services: Vec<String>,
    },
    /// Containers by name or id, as given (possibly none).
    Containers(Vec<String>),
}

impl Target {
    /// The project and the services named, when the command works on a
    /// compose project.
    pub fn project(&self) -> Option<(&Project, &[String])> {
        match self {
            Target::Project { project, services } => Some((project, services)),
            _ => None,
        }
    }

    /// The containers named, when the command works on containers.
    pub fn containers(&self) -> &[String] {
        match self {
            Target::Containers(names) => names,
            _ => &[],
        }
    }

    /// The compose file's project, for verbs that need one.
    pub fn loaded(&self) -> anyhow::Result<&Loaded> {
        match self {
            Target::Project {
                project: Project::Loaded(l),
                ..
            } => Ok(l),
            _ => Err(no_config_file()),
        }
    }
}

/// Compose's error when a verb needs a compose file and none was found.
pub fn no_config_file() -> anyhow::Error {
    anyhow::Error::new(LoadError::NoConfigFile {
        dir: std::env::current_dir().unwrap_or_default(),
    })
}

/// How a command's arguments name what it works on.
#[derive(Debug, PartialEq, Eq)]
enum Scope {
    Nothing,
    /// The compose file's project, required.
    Loaded,
    /// A project by file or by name (`-p`), required.
    Project,
    /// Services of the project when every name is one of them (or no name
    /// is given and there is a project), else containers.
    ServicesOr(Vec<String>),
    /// Containers only.
    Containers(Vec<String>),
}

/// Which verbs are project-aware, and with which of their arguments.
fn scope(command: &Command) -> Scope {
    use Scope::*;
    match command {
        Command::Pull(a) if a.images.is_empty() => Loaded,
        // `pull SERVICE…` in a project; image references otherwise.
        Command::Pull(a) => ServicesOr(a.images.clone()),
        // `push [SERVICE…]` in a project; Docker's `push IMAGE` otherwise.
        Command::Push(a) if a.images.is_empty() => Loaded,
        Command::Push(a) => ServicesOr(a.images.clone()),
        Command::Volumes(_) => Loaded,
        Command::Up(_) | Command::Scale(_) | Command::Watch(_) => Loaded,
        Command::Build(a) if builds_a_directory(a) => Nothing,
        Command::Build(_) => Loaded,
        Command::Down(_) => Project,
        Command::Images(a) => ServicesOr(a.services.clone()),
        Command::Restart(a) => ServicesOr(a.stop.containers.clone()),
        Command::Stop(a) => ServicesOr(a.containers.clone()),
        Command::Start(a) => ServicesOr(a.containers.clone()),
        Command::Kill(a) => ServicesOr(a.containers.clone()),
        Command::Rm(a) => ServicesOr(a.containers.clone()),
        Command::Ps(a) => ServicesOr(a.services.clone()),
        Command::Logs(a) => ServicesOr(a.targets.clone()),
        Command::Top { targets } => ServicesOr(targets.clone()),
        Command::Pause(a) | Command::Unpause(a) => ServicesOr(a.targets.clone()),
        Command::Wait(a) => ServicesOr(a.containers.clone()),
        Command::Stats(a) => ServicesOr(a.containers.clone()),
        Command::Events(a) => ServicesOr(a.services.clone()),
        Command::Exec(a) => ServicesOr(vec![a.container.clone()]),
        Command::Attach(a) => ServicesOr(vec![a.container.clone()]),
        Command::Export(a) => ServicesOr(vec![a.container.clone()]),
        Command::Commit(a) => ServicesOr(vec![a.container.clone()]),
        Command::Port { container, .. } => ServicesOr(vec![container.clone()]),
        // `run SERVICE` is Compose's one-off run; with no image it fails
        // before anything is loaded.
        Command::Run(a) if a.create.image.is_empty() => Nothing,
        Command::Run(a) => ServicesOr(vec![a.create.image.clone()]),
        // `create [SERVICE…]` is Compose's `up --no-start`.
        Command::Create(a) => ServicesOr(
            std::iter::once(&a.create.image)
                .chain(&a.create.command)
                .filter(|s| !s.is_empty())
                .cloned()
                .collect(),
        ),
        // Only the container side of a copy can name a service.
        Command::Cp(a) => match (CpEnd::parse(&a.src), CpEnd::parse(&a.dest)) {
            (CpEnd::Remote { target, .. }, CpEnd::Local(_) | CpEnd::Stream)
            | (CpEnd::Local(_) | CpEnd::Stream, CpEnd::Remote { target, .. }) => {
                ServicesOr(vec![target.to_string()])
            }
            _ => Nothing,
        },
        Command::Inspect { containers, .. } => Containers(containers.clone()),
        _ => Nothing,
    }
}

/// `build PATH` is Docker's: a directory (or `-`, a URL), or `-t`/`-f`
/// given; `build [SERVICE…]` is Compose's.
fn builds_a_directory(a: &crate::cli::args::build::BuildArgs) -> bool {
    !a.tags.is_empty()
        || a.file.is_some()
        || a.targets.iter().any(|t| {
            t == "-" || t.contains("://") || t.starts_with("git@") || Path::new(t).is_dir()
        })
}

/// Decides what `command` works on, loading the compose project when the
/// verb can use one. Loader warnings are printed here, once.
pub fn target(settings: &Settings, command: &Command) -> anyhow::Result<Target> {
    let scope = match scope(command) {
        Scope::ServicesOr(names) if settings.docker_form => Scope::Containers(names),
        other => other,
    };
    Ok(match scope {
        Scope::Nothing => Target::Nothing,
        Scope::Containers(names) => Target::Containers(names),
        Scope::Loaded => {
            let loaded = load::load(&settings.load_options()?).map_err(anyhow::Error::new)?;
            print_warnings(&loaded.warnings);
            Target::Project {
                project: Project::Loaded(Box::new(loaded)),
                services: Vec::new(),
            }
        }
        Scope::Project => match select(settings)? {
            Some(project) => Target::Project {
                project,
                services: Vec::new(),
            },
            None => return Err(no_config_file()),
        },
        Scope::ServicesOr(names) if names.is_empty() => match select(settings)? {
            Some(project) => Target::Project {
                project,
                services: names,
            },
            None => Target::Containers(names),
        },
        // With names, a compose file that does not load does not stop a
        // container verb: the names are then containers.
        Scope::ServicesOr(names) => match select(settings) {
            Ok(Some(project)) if names_services(settings, &project, &names)? => Target::Project {
                project,
                services: names,
            },
            _ => Target::Containers(names),
        },
    })
}

/// The project named by the flags or found from the current directory;
/// `None` when there is none (container verbs then take the names).
fn select(settings: &Settings) -> anyhow::Result<Option<Project>> {
    match load::load(&settings.load_options()?) {
        Ok(l) => {
            print_warnings(&l.warnings);
            Ok(Some(Project::Loaded(Box::new(l))))
        }
        Err(LoadError::NoConfigFile { .. }) if !settings.has_files() => Ok(settings
            .project_name
            .as_deref()
            .map(|n| Project::Named(load::normalize_project_name(n)))),
        Err(e) => Err(anyhow::Error::new(e)),
    }
}

/// Whether every name is a service of `project`: of its file, or, for a
/// project known by name, of its containers.
fn names_services(
    settings: &Settings,
    project: &Project,
    names: &[String],
) -> anyhow::Result<bool> {
    let known: Vec<String> = match project {
        Project::Loaded(l) => l.project.services.keys().cloned().collect(),
        Project::Named(n) => {
            let containers = crate::runtime::container::Containers::open(settings.root())?;
            match crate::exec::project_containers(&containers, n) {
                Ok(list) => list.into_iter().map(|c| c.service).collect(),
                Err(_) => return Ok(false),
            }
        }
    };
    Ok(names.iter().all(|n| known.contains(n)))
}

/// Warnings the loader collected, through the same log output.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_follows_the_flags_and_ansi_as_compose_does() {
        use super::{resolve_progress, AnsiMode, ProgressMode as P};
        let ok = |verb, global, ansi| resolve_progress(verb, global, ansi).expect("mode");
        assert_eq!(ok(None, None, AnsiMode::Auto), P::Auto);
        assert_eq!(ok(None, Some(P::Json), AnsiMode::Auto), P::Json);
        // The verb's own flag wins over the global one.
        assert_eq!(ok(Some(P::Quiet), Some(P::Json), AnsiMode::Auto), P::Quiet);
        assert_eq!(ok(None, None, AnsiMode::Never), P::Plain);
        assert_eq!(ok(None, Some(P::Auto), AnsiMode::Always), P::Tty);
        for (mode, ansi, msg) in [
            (P::Tty, AnsiMode::Never, "while ANSI support is disabled"),
            (P::Plain, AnsiMode::Always, "while ANSI support is forced"),
        ] {
            let e = resolve_progress(None, Some(mode), ansi).expect_err("refused");
            assert!(e.to_string().contains(msg), "{e}");
        }
    }

    #[test]
    fn parallel_minus_one_is_no_limit() {
        assert_eq!(super::resolve_parallel(Some(-1)).expect("n"), 0);
        assert_eq!(super::resolve_parallel(Some(3)).expect("n"), 3);
    }

    #[test]
    fn compose_flags_parse_where_compose_takes_them() {
        use crate::cli::args::Cli;
        let parse = |line: &str| {
            let argv = std::iter::once("wharf").chain(line.split_whitespace());
            Cli::try_parse_from(argv)
        };
        // --dry-run before or after the verb, as Compose's persistent flag.
        for line in ["--dry-run up -d", "up --dry-run -d", "down --dry-run"] {
            assert!(parse(line).expect(line).global.dry_run, "{line}");
        }
        let cli = parse("--ansi never --progress json --parallel -1 --all-resources ps")
            .expect("globals");
        assert_eq!(cli.global.ansi, Some(AnsiMode::Never));
        assert_eq!(cli.global.progress, Some(ProgressMode::Json));
        assert_eq!(cli.global.parallel, Some(-1));
        assert!(cli.global.all_resources);
        for line in [
            "ps --orphans=false",
            "pull --include-deps --ignore-buildable --policy missing web",
            "restart --no-deps web",
            "kill --remove-orphans",
            "stats -a --no-trunc",
            "up -y --menu=false --abort-on-container-failure --attach-dependencies --quiet-build",
            "wait --down-project web",
            "attach --detach-keys ctrl-p web",
            "create --scale web=2 --pull always --force-recreate --remove-orphans -y --quiet-pull",
            "config --variables --environment --models",
            "volumes -q web",
        ] {
            assert!(parse(line).is_ok(), "{line}: {:?}", parse(line).err());
        }
        assert!(parse("up --attach web --attach-dependencies").is_err());
        assert!(parse("pull --policy never").is_err());
        assert!(parse("--ansi sometimes ps").is_err());
    }

    use super::*;
    use clap::Parser as _;

    fn scope_of(line: &str) -> Scope {
        let argv = std::iter::once("wharf").chain(line.split_whitespace());
        let cli = crate::cli::args::Cli::try_parse_from(argv).expect(line);
        scope(&cli.command)
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn project_aware_verbs_take_services_or_containers() {
        use Scope::*;
        for (line, expected) in [
            ("ps", ServicesOr(vec![])),
            ("ps web", ServicesOr(names(&["web"]))),
            ("stop -t 1 web db", ServicesOr(names(&["web", "db"]))),
            ("restart web", ServicesOr(names(&["web"]))),
            ("logs -f web", ServicesOr(names(&["web"]))),
            ("exec web ls -l", ServicesOr(names(&["web"]))),
            ("port web 80", ServicesOr(names(&["web"]))),
            ("wait web", ServicesOr(names(&["web"]))),
            ("unpause web", ServicesOr(names(&["web"]))),
            (
                "export -o fs.tar --index 2 web",
                ServicesOr(names(&["web"])),
            ),
            ("commit -m msg web app:v1", ServicesOr(names(&["web"]))),
            ("events", ServicesOr(vec![])),
            ("images", ServicesOr(vec![])),
            // `run SERVICE` / `create SERVICE…` are Compose's in a project.
            ("run -d busybox sleep 1", ServicesOr(names(&["busybox"]))),
            ("create web db", ServicesOr(names(&["web", "db"]))),
            ("create", ServicesOr(vec![])),
            // The container side of a copy only.
            ("cp web:/etc/hosts ./hosts", ServicesOr(names(&["web"]))),
            ("cp - web:/tmp", ServicesOr(names(&["web"]))),
        ] {
            assert_eq!(scope_of(line), expected, "wharf {line}");
        }
    }

    #[test]
    fn other_verbs_need_a_project_or_nothing() {
        use Scope::*;
        for (line, expected) in [
            ("up -d", Loaded),
            ("scale web=2", Loaded),
            ("pull", Loaded),
            ("down -v", Project),
            // `pull NAME…`: services when the project has them all, else
            // images (Compose's `pull SERVICE…`, Docker's `pull IMAGE`).
            ("pull busybox", ServicesOr(names(&["busybox"]))),
            // `push` the same: Compose's `push [SERVICE…]`, Docker's `push IMAGE`.
            ("push", Loaded),
            ("push -q --include-deps web", ServicesOr(names(&["web"]))),
            ("run", Nothing),
            ("cp a b", Nothing),
            ("cp web:/a db:/b", Nothing),
            ("inspect web", Containers(names(&["web"]))),
            ("config --services", Nothing),
            ("volume ls", Nothing),
            ("ls", Nothing),
            // `build PATH` is Docker's, `build [SERVICE…]` Compose's.
            ("build .", Nothing),
            ("build -t app web", Nothing),
            ("build -f Dockerfile.dev web", Nothing),
            ("build", Loaded),
            ("build web db --no-cache", Loaded),
        ] {
            assert_eq!(scope_of(line), expected, "wharf {line}");
        }
    }

    #[test]
    fn only_the_verbs_that_create_containers_name_a_runtime() {
        let runtime = |line: &str| {
            let argv = std::iter::once("wharf").chain(line.split_whitespace());
            let cli = crate::cli::args::Cli::try_parse_from(argv).expect(line);
            runtime_flag(&cli.command).map(str::to_string)
        };
        assert_eq!(runtime("up --runtime crun"), Some("crun".into()));
        assert_eq!(runtime("run --runtime runc busybox"), Some("runc".into()));
        assert_eq!(
            runtime("create --runtime /bin/x busybox"),
            Some("/bin/x".into())
        );
        assert_eq!(runtime("up"), None);
        assert_eq!(runtime("ps"), None);
    }
}
