//! Flags of the image verbs.

use super::format::ListFormat;
use clap::{Args, Subcommand};

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
    /// With a compose project: also pull the services the named ones depend on
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    /// With a compose project: skip the services that have a build section
    #[arg(long = "ignore-buildable")]
    pub ignore_buildable: bool,
    /// With a compose project: pull policy for every service with an image
    #[arg(long, value_enum, value_name = "POLICY")]
    pub policy: Option<PullCommandPolicy>,
    /// Keep the compressed layer blobs after unpacking (more disk; pushes
    /// and saves then keep the image digest without asking the registry)
    #[arg(long)]
    pub keep_layer_blobs: bool,
}

/// `pull --policy`: Compose's two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PullCommandPolicy {
    Missing,
    Always,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// With a compose project: only the images of these services
    pub services: Vec<String>,
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show all images (wharf stores no intermediate images: the same list)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate output (full image ids)
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// dangling=true|false, reference=PATTERN (repository[:tag] glob) (repeatable)
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// table, json, or a Go template (`table {{.ID}}\t{{.Status}}`)
    #[arg(long, default_value = "table")]
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
    /// List stored images (`wharf images`)
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Remove images (`wharf rmi`)
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Show one or more images as JSON (Docker's keys and wharf's record)
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
        /// A Go template applied to each image (`{{.Id}}`, `{{json .Config.Cmd}}`)
        #[arg(short = 'f', long = "format")]
        format: Option<String>,
    },
    /// Show how an image was built, layer by layer (from its config)
    History(HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Remove untagged images (with --all: every image no container uses)
    Prune(ImagePruneArgs),
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Image to name (name, id or digest)
    pub source: String,
    /// New name
    pub target: String,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Image to push, by the name it should have in the registry; in a
    /// compose project, the services whose images to push (none: all)
    pub images: Vec<String>,
    /// With a compose project: also push the images of the services the
    /// named ones depend on
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    /// With a compose project: push what it can, and only warn about the
    /// images that fail
    #[arg(long = "ignore-push-failures")]
    pub ignore_push_failures: bool,
    /// Print no progress (an image: only its reference, as `docker push -q`)
    #[arg(short, long)]
    pub quiet: bool,
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

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show disk usage of images and layers
    Df {
        /// table, or json (exact byte counts)
        #[arg(long, default_value = "table")]
        format: ListFormat,
    },
    /// Remove stopped containers, unused networks, untagged images and the
    /// build cache (with --volumes, unused anonymous volumes too)
    Prune(SystemPruneArgs),
    /// Bring back containers after a reboot, as a Docker daemon does when it
    /// starts: `restart: always` and `unless-stopped` ones (run at boot by
    /// the unit `system install` writes)
    Restore,
    /// Write the systemd unit that runs `system restore` at boot
    /// (enable it with `systemctl enable wharf-restore.service`)
    Install {
        /// Where to write the unit
        #[arg(long, default_value = "/etc/systemd/system")]
        unit_dir: std::path::PathBuf,
    },
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

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from a file instead of standard input
    #[arg(short, long)]
    pub input: Option<std::path::PathBuf>,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    pub image: String,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// table, json, or a Go template (`table {{.ID}}\t{{.CreatedBy}}`)
    #[arg(long, default_value = "table")]
    pub format: ListFormat,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A tar archive (plain, gzip or zstd), or `-` for standard input
    pub file: String,
    /// REPOSITORY[:TAG] of the new image (none: an untagged image)
    pub repository: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// The image's platform (os/arch[/variant]); default: this machine's
    #[arg(long)]
    pub platform: Option<String>,
}

#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all images no container uses, not just untagged ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all images no container uses, not just untagged ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune anonymous volumes no container uses
    #[arg(long)]
    pub volumes: bool,
    /// until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE] (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}
