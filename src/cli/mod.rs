//! Command-line front end: parses flags (no side effects), resolves them
//! into load options, then calls the library layers.

mod build;
mod compose;
mod config;
mod container;
mod cp;
mod events;
mod image;
mod network;
mod volume;

use crate::compose::load::LoadOptions;
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

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
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse, resolve and render the compose file in canonical format
    Config(config::ConfigArgs),
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
    /// Restart the containers of the compose project (or containers)
    Restart(container::StopArgs),
    /// Scale services of the compose project (SERVICE=REPLICAS)
    Scale(compose::ScaleArgs),
    /// List compose projects that have containers
    Ls {
        /// Show stopped projects too
        #[arg(short, long)]
        all: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: image::ListFormat,
    },
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage the build cache
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Create and run a new container from an image
    Run(container::RunArgs),
    /// Create a new container
    Create(container::CreateArgs),
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
    /// Show low-level information on containers as JSON
    Inspect {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Block until containers (or the project's services) stop, then print their exit codes
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Display the running processes of a container (or of the compose project's services)
    Top { targets: Vec<String> },
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

impl GlobalArgs {
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Turns flags plus the process environment into loader options.
    pub fn load_options(&self) -> anyhow::Result<LoadOptions> {
        let cwd = std::env::current_dir().context("cannot determine the current directory")?;
        let os_env = std::env::vars().collect();
        let stdin = if self.file.iter().any(|f| f == "-") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the compose file from standard input")?;
            Some(s)
        } else {
            None
        };
        Ok(LoadOptions {
            files: self.file.clone(),
            project_name: self.project_name.clone(),
            project_directory: self.project_directory.clone(),
            env_files: self.env_file.clone(),
            profiles: self.profile.clone(),
            os_env,
            cwd,
            stdin,
            ..LoadOptions::default()
        })
    }
}

/// Log lines look like Compose's (`WARN[0000] message`), so people and
/// scripts used to Compose read them the same way.
struct ComposeStyle;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for ComposeStyle
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let tag = match *event.metadata().level() {
            tracing::Level::ERROR => "ERRO",
            tracing::Level::WARN => "WARN",
            tracing::Level::INFO => "INFO",
            tracing::Level::DEBUG => "DEBU",
            tracing::Level::TRACE => "TRAC",
        };
        write!(writer, "{tag}[0000] ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn init_tracing(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(ComposeStyle)
        .try_init();
}

/// Warnings the loader collected, through the same log output.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

/// Verbs that read or change containers: before them, containers whose
/// monitor died get a new one (no daemon would have noticed).
fn touches_containers(command: &Command) -> bool {
    !matches!(
        command,
        Command::Config(_)
            | Command::Pull(_)
            | Command::Images(_)
            | Command::Rmi(_)
            | Command::Image(_)
            | Command::Tag(_)
            | Command::Push(_)
            | Command::Login(_)
            | Command::Logout { .. }
            | Command::Save(_)
            | Command::Load(_)
            | Command::ContainerMonitor { .. }
            | Command::ContainerHealth { .. }
    )
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Listing verbs end quietly when their reader goes away (`| head`), as
    // other CLIs do; verbs that own a container keep ignoring SIGPIPE so a
    // closed pipe cannot take the container's supervision down with it.
    if !matches!(
        cli.command,
        Command::Run(_)
            | Command::Start(_)
            | Command::Exec(_)
            | Command::Up(_)
            | Command::ContainerMonitor { .. }
            | Command::ContainerHealth { .. }
    ) {
        // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    init_tracing(cli.global.log_level.as_deref());
    if touches_containers(&cli.command) {
        container::recover(&cli.global);
    }
    let result = match &cli.command {
        Command::Config(args) => config::run(&cli.global, args),
        Command::Pull(args) => image::pull(&cli.global, args),
        Command::Images(args) => image::images(&cli.global, args),
        Command::Rmi(args) => image::rmi(&cli.global, args),
        Command::Image(cmd) => image::image(&cli.global, cmd),
        Command::Tag(args) => image::tag(&cli.global, args),
        Command::Push(args) => image::push(&cli.global, args),
        Command::Login(args) => image::login(args),
        Command::Logout { server } => image::logout(server.as_deref()),
        Command::System(cmd) => image::system(&cli.global, cmd),
        Command::Save(args) => image::save(&cli.global, args),
        Command::Load(args) => image::load(&cli.global, args),
        Command::Up(args) => compose::up(&cli.global, args),
        Command::Down(args) => compose::down(&cli.global, args),
        Command::Restart(args) => container::restart(&cli.global, args),
        Command::Scale(args) => compose::scale(&cli.global, args),
        Command::Ls { all, format } => compose::ls(&cli.global, *all, *format),
        Command::Build(args) => build::build(&cli.global, args),
        Command::Builder(cmd) => build::builder(&cli.global, cmd),
        Command::Run(args) => container::run(&cli.global, args),
        Command::Create(args) => container::create(&cli.global, args),
        Command::Start(args) => container::start(&cli.global, args),
        Command::Ps(args) => container::ps(&cli.global, args),
        Command::Logs(args) => container::logs(&cli.global, args),
        Command::Stop(args) => container::stop(&cli.global, args),
        Command::Kill(args) => container::kill(&cli.global, args),
        Command::Rm(args) => container::rm(&cli.global, args),
        Command::Exec(args) => container::exec(&cli.global, args),
        Command::Attach(args) => container::attach(&cli.global, args),
        Command::Inspect { containers } => container::inspect(&cli.global, containers),
        Command::Wait { containers } => container::wait(&cli.global, containers),
        Command::Top { targets } => container::top(&cli.global, targets),
        Command::Pause(args) => container::pause(&cli.global, &args.targets, true),
        Command::Unpause(args) => container::pause(&cli.global, &args.targets, false),
        Command::Cp(args) => cp::cp(&cli.global, args),
        Command::Events(args) => events::events(&cli.global, args),
        Command::Stats(args) => container::stats(&cli.global, args),
        Command::Port {
            container,
            port,
            index,
            protocol,
        } => container::port(&cli.global, container, port.as_deref(), *index, protocol),
        Command::Volume(cmd) => volume::run(&cli.global, cmd),
        Command::Network(cmd) => network::run(&cli.global, cmd),
        Command::ContainerMonitor { id, adopt } => container::monitor_main(&cli.global, id, *adopt),
        Command::ContainerHealth { id } => container::health_main(&cli.global, id),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
