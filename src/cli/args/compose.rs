//! Flags of the compose verbs: `up`, `down`, `scale`.

use super::format::ListFormat;
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    Quiet,
    Json,
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Services to start (with their dependencies); all by default
    pub services: Vec<String>,
    /// Detached mode: start the containers and return
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Recreate containers even if their configuration is unchanged
    #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// Never recreate existing containers
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Recreate dependent containers too (with --force-recreate)
    #[arg(long = "always-recreate-deps")]
    pub always_recreate_deps: bool,
    /// Recreate anonymous volumes instead of keeping the previous containers' data
    #[arg(short = 'V', long = "renew-anon-volumes")]
    pub renew_anon_volumes: bool,
    /// Create the containers but do not start them
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Remove containers of services no longer in the compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Do not start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM, repeatable)
    #[arg(long, value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
    /// Seconds to wait for containers to stop when recreating or stopping
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<u64>,
    /// Build images before starting containers
    #[arg(long, conflicts_with = "no_build")]
    pub build: bool,
    /// Do not build images, even those missing
    #[arg(long = "no-build")]
    pub no_build: bool,
    /// Pull images before starting: always, missing (default) or never
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: PullPolicy,
    /// Pull without printing progress
    #[arg(long = "quiet-pull")]
    pub quiet_pull: bool,
    /// Progress output: auto, tty, plain, quiet, json (default: the global --progress)
    #[arg(long, value_enum)]
    pub progress: Option<ProgressMode>,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Do not prefix log lines with the container name
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Attach only to these services' output (repeatable)
    #[arg(long)]
    pub attach: Vec<String>,
    /// Do not attach to these services' output (repeatable)
    #[arg(long = "no-attach")]
    pub no_attach: Vec<String>,
    /// Stop all containers if any container exits
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Stop all containers if any container exits with a failure (non-zero code)
    #[arg(long = "abort-on-container-failure")]
    pub abort_on_container_failure: bool,
    /// Also attach to the output of the services the attached ones depend on
    #[arg(long = "attach-dependencies", conflicts_with = "attach")]
    pub attach_dependencies: bool,
    /// Assume "yes" as answer to all prompts (wharf asks none)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Interactive shortcuts when attached in a terminal: w toggles the watch, d detaches (also COMPOSE_MENU)
    // `--menu web` is the flag and a service, as with Compose's bool flags.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub menu: Option<bool>,
    /// Suppress the build output
    #[arg(long = "quiet-build")]
    pub quiet_build: bool,
    /// Return the exit code of this service's container (implies --abort-on-container-exit)
    #[arg(long = "exit-code-from", value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Wait for services to be running and healthy (one-shots: exited 0); implies -d
    #[arg(long)]
    pub wait: bool,
    /// Give up --wait after this many seconds
    #[arg(long = "wait-timeout", value_name = "SECONDS")]
    pub wait_timeout: Option<u64>,
    /// Container runtime: builtin, crun, runc or a path (default: WHARF_RUNTIME, else builtin)
    #[arg(long)]
    pub runtime: Option<String>,
    /// Watch source code and rebuild/refresh containers when files are updated
    #[arg(short = 'w', long)]
    pub watch: bool,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Services to watch (all with a develop section by default)
    pub services: Vec<String>,
    /// Do not build & start services before watching
    #[arg(long = "no-up")]
    pub no_up: bool,
    /// Prune dangling images on rebuild
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub prune: bool,
    /// Hide build output
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the compose file and anonymous volumes
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Also remove one-off (`run`) containers; containers of services no longer in the compose file are always removed
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Seconds to wait for containers to stop
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<u64>,
    /// Progress output: auto, tty, plain, quiet, json (default: the global --progress)
    #[arg(long, value_enum)]
    pub progress: Option<ProgressMode>,
    /// Remove images used by services: "local" only those without a custom tag, "all" every one
    #[arg(long, value_enum, value_name = "TYPE")]
    pub rmi: Option<RmiMode>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RmiMode {
    Local,
    All,
}

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// SERVICE=REPLICAS pairs
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    pub scale: Vec<String>,
    /// Do not start the services they depend on
    #[arg(long = "no-deps")]
    pub no_deps: bool,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Show stopped projects too
    #[arg(short, long)]
    pub all: bool,
    /// Only display project names
    #[arg(short, long)]
    pub quiet: bool,
    /// name=SUBSTRING (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// table, json, or a Go template (`table {{.Name}}\t{{.Status}}`)
    #[arg(long, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Args, Debug)]
pub struct VolumesArgs {
    /// Only the volumes of these services
    pub services: Vec<String>,
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// table, json, or a Go template (`table {{.Name}}\t{{.Driver}}`)
    #[arg(long, default_value = "table")]
    pub format: ListFormat,
}
