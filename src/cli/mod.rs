//! Command-line front end, in three steps: `args` parses the flags (clap
//! only, no side effects), `resolve` turns them and the environment into
//! `Settings` and decides what the command works on (`Target`), and
//! `commands` act through the library layers. `render` and `progress`
//! turn what the layers return or report into text.
//!
//! A new verb: its flags in `args/<family>.rs` and a `Command` variant; in
//! `resolve::scope`, what it may work on (nothing, unless it is
//! project-aware); its function in `commands/<family>.rs`; one line in
//! `dispatch` below.

mod args;
mod commands;
mod progress;
mod render;
mod resolve;
mod template;

pub use args::{Cli, Command, GlobalArgs};
use clap::Parser;
use commands::*;
use resolve::{LogFilter, Settings, Target};
use std::process::ExitCode;

/// wharf's own log lines go to stderr, filtered as resolved.
fn init_tracing(filter: &LogFilter) {
    use tracing_subscriber::EnvFilter;
    let filter = match filter {
        LogFilter::Flag(l) => EnvFilter::new(l),
        LogFilter::Env(env) => EnvFilter::try_new(env).unwrap_or_else(|_| EnvFilter::new("warn")),
        LogFilter::Default => EnvFilter::new("warn"),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(render::ComposeStyle)
        .try_init();
}

/// Verbs that read or change containers: before them, containers whose
/// monitor died get a new one (no daemon would have noticed).
fn touches_containers(command: &Command) -> bool {
    !matches!(
        command,
        Command::Config(_)
            | Command::Convert(_)
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
            | Command::History(_)
            | Command::Import(_)
            | Command::Version { .. }
            | Command::ContainerMonitor { .. }
            | Command::ContainerHealth { .. }
    )
}

/// Verbs that own a container keep ignoring SIGPIPE, so a closed pipe
/// cannot take the container's supervision down with it.
fn keeps_sigpipe(command: &Command) -> bool {
    matches!(
        command,
        Command::Run(_)
            | Command::Start(_)
            | Command::Exec(_)
            | Command::Up(_)
            | Command::Watch(_)
            | Command::ContainerMonitor { .. }
            | Command::ContainerHealth { .. }
    )
}

pub fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(help) = args::group_help(&argv) {
        print!("{help}");
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse_from(args::verb_aliases(argv));
    // Listing verbs end quietly when their reader goes away (`| head`), as
    // other CLIs do.
    if !keeps_sigpipe(&cli.command) {
        // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let settings = match Settings::resolve(&cli.global, &cli.command) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", render::error_text(&e));
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&settings.log_filter);
    // A dry run changes nothing, not even a dead monitor's container.
    if touches_containers(&cli.command) && !settings.dry_run {
        monitor::recover(&settings);
    }
    let result = refuse_unsupported(&settings, &cli.command)
        .and_then(|()| resolve::target(&settings, &cli.command))
        .and_then(|target| dispatch(&settings, &target, &cli.command));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", render::error_text(&e));
            ExitCode::FAILURE
        }
    }
}

/// Global flags a verb cannot honour are refused before anything is done:
/// `--dry-run` on the verbs whose dry run is not written (those that only
/// read take it: they change nothing anyway).
fn refuse_unsupported(settings: &Settings, command: &Command) -> anyhow::Result<()> {
    if settings.dry_run && !dry_run_supported(command) {
        anyhow::bail!(
            "--dry-run: not supported by `wharf {}` (it is by up, create, down, start, stop, restart, kill, rm, pause, unpause, pull, build and the verbs that only read)",
            verb_name(command)
        );
    }
    Ok(())
}

fn dry_run_supported(command: &Command) -> bool {
    matches!(
        command,
        Command::Up(_)
            | Command::Create(_)
            | Command::Down(_)
            | Command::Start(_)
            | Command::Stop(_)
            | Command::Restart(_)
            | Command::Kill(_)
            | Command::Rm(_)
            | Command::Pause(_)
            | Command::Unpause(_)
            | Command::Pull(_)
            | Command::Build(_)
            // Verbs that change nothing.
            | Command::Config(_)
            | Command::Convert(_)
            | Command::Images(_)
            | Command::Ls(_)
            | Command::Ps(_)
            | Command::Logs(_)
            | Command::Top { .. }
            | Command::Port { .. }
            | Command::Events(_)
            | Command::Stats(_)
            | Command::Volumes(_)
            | Command::Inspect { .. }
            | Command::Version { .. }
            | Command::Info { .. }
    )
}

/// The verb, from the variant's name (`Run(…)` → `run`).
fn verb_name(command: &Command) -> String {
    format!("{command:?}")
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_lowercase()
}

/// Calls the command; `target` is what it works on.
fn dispatch(settings: &Settings, target: &Target, command: &Command) -> anyhow::Result<ExitCode> {
    let s = settings;
    match command {
        Command::Config(args) => config::run(s, args),
        Command::Convert(args) => convert::run(s, args),
        Command::Build(args) => match target.project() {
            Some((resolve::Project::Loaded(l), _)) => compose_build::build(s, l, args),
            _ if s.dry_run => Err(anyhow::anyhow!(
                "--dry-run: only for the services of a compose project (`wharf build PATH` would build)"
            )),
            _ => build::build(s, args),
        },
        Command::Builder(cmd) => build::builder(s, cmd),
        Command::Pull(args) => image::pull(s, target, args),
        Command::Images(args) => image::images(s, target, args),
        Command::Rmi(args) => image::rmi(s, args),
        Command::Image(cmd) => {
            use crate::cli::args::image::ImageCommand;
            match cmd {
                // Docker's `image ls` knows no compose project.
                ImageCommand::Ls(args) => image::images(s, &Target::Nothing, args),
                ImageCommand::Rm(args) => image::rmi(s, args),
                // `inspect --type image` (the inspect module reads image's).
                ImageCommand::Inspect { images, format } => {
                    inspect::inspect(s, images, format.as_deref(), Some("image"), false)
                }
                ImageCommand::History(args) => image::history(s, args),
                ImageCommand::Import(args) => container_fs::import(s, args),
                ImageCommand::Prune(args) => prune::image_prune(s, args),
            }
        }
        Command::Tag(args) => image::tag(s, args),
        Command::Push(args) => image::push(s, target, args),
        Command::Login(args) => image::login(args),
        Command::Logout { server } => image::logout(server.as_deref()),
        Command::System(cmd) => image::system(s, cmd),
        Command::Save(args) => image::save(s, args),
        Command::History(args) => image::history(s, args),
        Command::Import(args) => container_fs::import(s, args),
        Command::Rename(args) => lifecycle::rename(s, args),
        Command::ContainerPrune(args) => prune::container_prune(s, args),
        Command::Update(args) => lifecycle::update(s, args),
        Command::Diff(args) => container_fs::diff(s, args),
        Command::Export(args) => container_fs::export(s, target, args),
        Command::Commit(args) => container_fs::commit(s, target, args),
        Command::Load(args) => image::load(s, args),
        Command::Up(args) => up::up(s, target.loaded()?, args),
        Command::Watch(args) => up::watch(s, target.loaded()?, args),
        Command::Down(args) => match target.project() {
            Some((project, _)) => project::down(s, project, args),
            None => Err(resolve::no_config_file()),
        },
        Command::Restart(args) => lifecycle::restart(s, target, args),
        Command::Volumes(args) => volume::project_volumes(s, target.loaded()?, args),
        Command::Scale(args) => up::scale(s, target.loaded()?, args),
        Command::Ls(args) => project::ls(s, args),
        Command::Run(args) => run::run(s, target, args),
        Command::Create(args) => run::create(s, target, args),
        Command::Start(args) => lifecycle::start(s, target, args),
        Command::Ps(args) => ps::ps(s, target, args),
        Command::Logs(args) => logs::logs(s, target, args),
        Command::Stop(args) => lifecycle::stop(s, target, args),
        Command::Kill(args) => lifecycle::kill(s, target, args),
        Command::Rm(args) => lifecycle::rm(s, target, args),
        Command::Exec(args) => exec::exec(s, target, args),
        Command::Attach(args) => attach::attach(s, target, args),
        Command::Inspect {
            format, kind, size, ..
        } => inspect::inspect(
            s,
            target.containers(),
            format.as_deref(),
            kind.as_deref(),
            *size,
        ),
        Command::Wait(args) => lifecycle::wait(s, target, args),
        Command::Top { targets } => ps::top(s, target, targets),
        Command::Pause(_) => lifecycle::pause(s, target, true),
        Command::Unpause(_) => lifecycle::pause(s, target, false),
        Command::Cp(args) => cp::cp(s, target, args),
        Command::Events(args) => events::events(s, target, args),
        Command::Stats(args) => ps::stats(s, target, args),
        Command::Port {
            container,
            port,
            index,
            protocol,
        } => ps::port(s, target, container, port.as_deref(), *index, protocol),
        Command::Volume(cmd) => volume::run(s, cmd),
        Command::Network(cmd) => network::run(s, cmd),
        Command::Version { format, short } => info::version(format, *short),
        Command::Info { format } => info::info(s, format),
        Command::ContainerMonitor { id, adopt } => monitor::monitor_main(s, id, *adopt),
        Command::ContainerHealth { id } => monitor::health_main(s, id),
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
