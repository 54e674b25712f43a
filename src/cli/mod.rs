//! Command-line front end: parses flags (no side effects), resolves them
//! into load options, then calls the library layers.

mod config;

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

/// The global flags of `docker compose`.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Compose configuration files (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Vec<String>,
    /// Project name
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long = "project-directory", global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable)
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Profiles to enable (repeatable)
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profile: Vec<String>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG also works)
    #[arg(long = "log-level", global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse, resolve and render the compose file in canonical format
    Config(config::ConfigArgs),
}

impl GlobalArgs {
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.global.log_level.as_deref());
    let result = match &cli.command {
        Command::Config(args) => config::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
