//! The command line as clap structs: parsing only, no side effects. What
//! the flags mean together (and with the environment) is decided in
//! src/cli/resolve.rs.

pub mod build;
pub mod compose;
pub mod config;
pub mod container;
pub mod convert;
pub mod cp;
pub mod events;
pub mod format;
pub mod image;
pub mod network;
pub mod volume;

pub use format::ListFormat;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "wharf",
    version,
    about = "Daemonless, compose-first multi-container orchestrator",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The global flags of `docker compose`. The project flags go before the
/// verb (`wharf -f a.yaml config`), so that container verbs keep Docker's
/// own short flags (`wharf rmi -f`, `wharf run -p 8080:80`).
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Profiles to enable (repeatable)
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// Where images, volumes and containers live (also WHARF_ROOT)
    #[arg(
        long,
        global = true,
        env = "WHARF_ROOT",
        value_name = "DIR",
        default_value = "/var/lib/wharf"
    )]
    pub root: PathBuf,
    /// Log level: error, warn, info, debug, trace (RUST_LOG also works)
    #[arg(long = "log-level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Execute command in dry run mode: print what it would do, change nothing
    // Compose's is a persistent flag: it may follow the verb too.
    #[arg(long = "dry-run", global = true)]
    pub dry_run: bool,
    /// Control when to print ANSI control characters (also COMPOSE_ANSI)
    #[arg(long, value_enum, value_name = "WHEN")]
    pub ansi: Option<AnsiMode>,
    /// Type of progress output: auto, tty, plain, json, quiet (also COMPOSE_PROGRESS)
    #[arg(long = "progress", value_enum, value_name = "MODE")]
    pub progress: Option<compose::ProgressMode>,
    /// Max parallelism, -1 for unlimited (also COMPOSE_PARALLEL_LIMIT)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub parallel: Option<i64>,
    /// Run compose in backward compatibility mode (also COMPOSE_COMPATIBILITY)
    #[arg(long)]
    pub compatibility: bool,
    /// Include all resources, even those not used by services
    #[arg(long = "all-resources")]
    pub all_resources: bool,
    /// Set by Docker's `container …`/`image …` forms: their names are
    /// containers and images, never a compose project's services
    #[arg(long = "docker-form", hide = true)]
    pub docker_form: bool,
}

/// `--ansi`: Compose's three modes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum AnsiMode {
    Never,
    Always,
    Auto,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse, resolve and render the compose file in canonical format
    Config(config::ConfigArgs),
    /// Convert the compose project to Kubernetes manifests, kustomize or a Helm chart
    Convert(convert::ConvertArgs),
    /// Pull images (or every service image of the project)
    Pull(image::PullArgs),
    /// List stored images
    Images(image::ImagesArgs),
    /// Remove images
    Rmi(image::RmiArgs),
    /// Manage images
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Give a stored image another name
    Tag(image::TagArgs),
    /// Push an image to its registry
    Push(image::PushArgs),
    /// Log in to a registry (stored in ~/.docker/config.json, as docker does)
    Login(image::LoginArgs),
    /// Log out from a registry
    Logout { server: Option<String> },
    /// Disk usage and cleanup
    #[command(subcommand)]
    System(image::SystemCommand),
    /// Show the history of an image
    History(image::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Save images to a tar archive (OCI layout + docker manifest.json)
    Save(image::SaveArgs),
    /// Load images from a tar archive (docker save or OCI layout)
    Load(image::LoadArgs),
    /// Create and start the containers of the compose project
    // -V is Compose's --renew-anon-volumes here, not --version.
    #[command(disable_version_flag = true)]
    Up(compose::UpArgs),
    /// Stop and remove the containers (and networks; -v volumes) of the compose project
    Down(compose::DownArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(compose::WatchArgs),
    /// Restart the containers of the compose project (or containers)
    Restart(container::RestartArgs),
    /// Scale services of the compose project (SERVICE=REPLICAS)
    Scale(compose::ScaleArgs),
    /// List compose projects that have containers
    Ls(compose::LsArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Create and run a new container from an image
    Run(container::RunArgs),
    /// Create a new container
    Create(container::CreateCommandArgs),
    /// Start one or more stopped containers
    Start(container::StartArgs),
    /// List containers
    Ps(container::PsArgs),
    /// Fetch the logs of a container
    Logs(container::LogsArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Send a signal to one or more running containers
    Kill(container::KillArgs),
    /// Remove one or more containers
    Rm(container::RmArgs),
    /// Run a command in a running container
    Exec(container::ExecArgs),
    /// Stream a running container's (or a service's) output until it exits
    Attach(container::AttachArgs),
    /// Show low-level information on containers, images, networks or volumes as JSON
    Inspect {
        #[arg(required = true)]
        containers: Vec<String>,
        /// A Go template applied to each object (`{{.State.Status}}`, `{{json .Config}}`)
        #[arg(short = 'f', long = "format")]
        format: Option<String>,
        /// Only this type of object: container, image, network or volume
        #[arg(long = "type")]
        kind: Option<String>,
        /// Display total file sizes (containers: SizeRw and SizeRootFs)
        #[arg(short = 's', long = "size")]
        size: bool,
    },
    /// Block until containers (or the project's services) stop, then print their exit codes
    Wait(container::WaitArgs),
    /// List the volumes of the compose project's services
    Volumes(compose::VolumesArgs),
    /// Display the running processes of a container (or of the compose project's services)
    Top { targets: Vec<String> },
    /// Remove all stopped containers (`container prune`)
    #[command(name = "container-prune", hide = true)]
    ContainerPrune(container::ContainerPruneArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// Update configuration of one or more containers (limits, restart policy)
    Update(container::UpdateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(container::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::ExportArgs),
    /// Create a new image from a container's changes
    Commit(container::CommitArgs),
    /// Pause every process of containers (or of the compose project's services)
    Pause(container::PauseArgs),
    /// Unpause paused containers (or the compose project's services)
    Unpause(container::PauseArgs),
    /// Copy files between a container (or service) and the host
    Cp(cp::CpArgs),
    /// Get real time events (containers; the project's with a compose file)
    Events(events::EventsArgs),
    /// Live resource usage of containers (cgroup CPU, memory, pids)
    Stats(container::StatsArgs),
    /// List port mappings, or the host addresses of one container port
    Port {
        /// A container, or a service of the compose project
        container: String,
        /// PRIVATE_PORT[/PROTO]
        port: Option<String>,
        /// Compose port: which replica of the service (default: the first running)
        #[arg(long)]
        index: Option<u32>,
        /// Compose port: tcp or udp
        #[arg(long, default_value = "tcp")]
        protocol: String,
    },
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCommand),
    /// Display system-wide information (containers, images, data root, host)
    Info {
        /// table, json, or a Go template (`{{.ContainersRunning}}`)
        #[arg(short = 'f', long, default_value = "table")]
        format: ListFormat,
    },
    /// Show the wharf version
    Version {
        /// `json` prints {"version": …}, as `docker compose version --format json`;
        /// a Go template sees Docker's fields (`{{.Server.Version}}`)
        #[arg(short = 'f', long, default_value = "pretty")]
        format: VersionFormat,
        /// Show only the version number
        #[arg(long)]
        short: bool,
    },
    /// The process that runs a container's healthcheck (internal)
    #[command(name = "container-health", hide = true)]
    ContainerHealth { id: String },
    /// The process that owns a detached container (internal)
    #[command(name = "container-monitor", hide = true)]
    ContainerMonitor {
        id: String,
        /// Take over a container whose monitor died
        #[arg(long)]
        adopt: bool,
    },
}

/// `version --format`: Compose's `pretty` and `json`, or a Go template
/// over Docker's `Client`/`Server` (`{{.Server.Version}}`). Other words
/// are refused, as Compose refuses them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionFormat {
    Pretty,
    Json,
    Template(String),
}

impl std::str::FromStr for VersionFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<VersionFormat, String> {
        match s {
            "pretty" => Ok(VersionFormat::Pretty),
            "json" => Ok(VersionFormat::Json),
            _ if s.contains("{{") => Ok(VersionFormat::Template(s.to_string())),
            _ => Err(format!(
                "{s:?} is neither pretty, json nor a template such as {{{{.Server.Version}}}}"
            )),
        }
    }
}

/// Global flags that take a value (the word after them is not the verb).
const VALUE_FLAGS: &[&str] = &[
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--root",
    "--log-level",
    "--ansi",
    "--progress",
    "--parallel",
];

/// Docker's `container <verb>` forms and the verbs they stand for.
const CONTAINER_VERBS: &[(&str, &str)] = &[
    ("ls", "ps"),
    ("list", "ps"),
    ("ps", "ps"),
    ("rm", "rm"),
    ("remove", "rm"),
    ("run", "run"),
    ("create", "create"),
    ("start", "start"),
    ("stop", "stop"),
    ("restart", "restart"),
    ("kill", "kill"),
    ("exec", "exec"),
    ("logs", "logs"),
    ("inspect", "inspect"),
    ("attach", "attach"),
    ("wait", "wait"),
    ("top", "top"),
    ("pause", "pause"),
    ("unpause", "unpause"),
    ("cp", "cp"),
    ("stats", "stats"),
    ("port", "port"),
    ("rename", "rename"),
    ("diff", "diff"),
    ("export", "export"),
    ("commit", "commit"),
    ("update", "update"),
    ("prune", "container-prune"),
];

/// Docker's `image <verb>` forms that are top-level verbs here (the others,
/// `image ls|rm|inspect|history|import|prune`, are `image` subcommands).
const IMAGE_VERBS: &[(&str, &str)] = &[
    ("pull", "pull"),
    ("push", "push"),
    ("tag", "tag"),
    ("save", "save"),
    ("load", "load"),
    ("build", "build"),
];

/// `wharf compose <verb> …` is `wharf <verb> …`, so scripts written for
/// `docker compose` run through a one-word alias: the word `compose` in the
/// verb's place is dropped (global flags may come before or after it).
/// Docker's `container <verb>` becomes the verb the same way
/// (`container ls` → `ps`).
pub fn verb_aliases(args: Vec<OsString>) -> Vec<OsString> {
    let Some(i) = verb_index(&args) else {
        return args;
    };
    let word = args.get(i).and_then(|a| a.to_str()).unwrap_or_default();
    if word == "compose" {
        let mut args = args;
        args.remove(i);
        return args;
    }
    if word == "container" || word == "image" {
        let verbs = if word == "container" {
            CONTAINER_VERBS
        } else {
            IMAGE_VERBS
        };
        let verb = args.get(i + 1).and_then(|a| a.to_str());
        if let Some((_, to)) = verbs.iter().find(|(form, _)| Some(*form) == verb) {
            // `docker container ls` in a project's directory is still
            // Docker's listing: the marker keeps the project out.
            let mut args = args;
            args.splice(
                i..i + 2,
                [OsString::from("--docker-form"), OsString::from(to)],
            );
            return args;
        }
    }
    args
}

/// Where the verb is: the first word after the global flags (and their
/// values), if there is one.
fn verb_index(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while let Some(word) = args.get(i).and_then(|a| a.to_str()) {
        if VALUE_FLAGS.contains(&word) {
            i += 2;
        } else if word.starts_with('-') {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// The help of Docker's `container` and `image` groups (`wharf container
/// --help`, or the word alone), which are not clap commands here: their
/// verbs are top-level ones. `None` for any other command line.
pub fn group_help(args: &[OsString]) -> Option<String> {
    use clap::CommandFactory as _;
    let i = verb_index(args)?;
    let word = args.get(i).and_then(|a| a.to_str())?;
    let next = args.get(i + 1).and_then(|a| a.to_str());
    if !matches!(word, "container" | "image")
        || !matches!(next, None | Some("--help" | "-h" | "help"))
    {
        return None;
    }
    let cli = Cli::command();
    let about = |c: &clap::Command| c.get_about().map(|a| a.to_string()).unwrap_or_default();
    let (title, verbs) = if word == "container" {
        ("Manage containers", CONTAINER_VERBS)
    } else {
        ("Manage images", IMAGE_VERBS)
    };
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (form, to) in verbs {
        // One line a verb: `ls`, not its aliases `list` and `ps`.
        if !seen.contains(to) {
            seen.push(to);
            let text = cli.find_subcommand(to).map(about).unwrap_or_default();
            rows.push((form.to_string(), text));
        }
    }
    if word == "image" {
        if let Some(image) = cli.find_subcommand("image") {
            rows.extend(
                image
                    .get_subcommands()
                    .map(|c| (c.get_name().to_string(), about(c))),
            );
        }
    }
    rows.sort();
    let width = rows.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    let mut text = format!("Usage:  wharf {word} COMMAND\n\n{title}\n\nCommands:\n");
    for (form, about) in rows {
        text.push_str(&format!("  {form:width$}  {about}\n"));
    }
    text.push_str(&format!(
        "\nRun 'wharf {word} COMMAND --help' for more information on a command.\n"
    ));
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_and_image_groups_have_a_help_listing_their_verbs() {
        let help = group_help(&words("wharf container --help")).expect("container help");
        assert!(
            help.starts_with("Usage:  wharf container COMMAND"),
            "{help}"
        );
        for verb in ["ls ", "run ", "prune ", "stop "] {
            assert!(help.contains(&format!("\n  {verb}")), "{verb}: {help}");
        }
        // One line a verb: its aliases are not listed again.
        assert!(!help.contains("\n  list "), "{help}");
        assert!(help.contains("List containers"), "{help}");
        assert_eq!(
            group_help(&words("wharf --root /r container")),
            Some(help.clone())
        );
        let image = group_help(&words("wharf image -h")).expect("image help");
        for verb in ["pull ", "push ", "ls ", "prune ", "tag "] {
            assert!(image.contains(&format!("\n  {verb}")), "{verb}: {image}");
        }
        assert_eq!(group_help(&words("wharf container ls --help")), None);
        assert_eq!(group_help(&words("wharf ps --help")), None);
    }

    fn words(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn compose_word_is_dropped_only_in_the_verbs_place() {
        let cases = [
            ("wharf compose up -d", "wharf up -d"),
            ("wharf -f a.yaml compose -p x ps", "wharf -f a.yaml -p x ps"),
            ("wharf --root /r compose", "wharf --root /r"),
            // A compose file or a service called `compose` stays.
            ("wharf -f compose up", "wharf -f compose up"),
            ("wharf up compose", "wharf up compose"),
            ("wharf container ls -a", "wharf --docker-form ps -a"),
            (
                "wharf --root /r container rm -f x",
                "wharf --root /r --docker-form rm -f x",
            ),
            (
                "wharf image pull busybox",
                "wharf --docker-form pull busybox",
            ),
            ("wharf image tag a b", "wharf --docker-form tag a b"),
            // `image ls` is a subcommand of `image`, kept as it is.
            ("wharf image ls -q", "wharf image ls -q"),
            (
                "wharf container prune -f",
                "wharf --docker-form container-prune -f",
            ),
            // Forms wharf does not have stay, for clap to refuse.
            (
                "wharf container checkpoint x",
                "wharf container checkpoint x",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(verb_aliases(words(given)), words(want), "{given}");
        }
    }
}
