//! `wharf build` and `wharf builder`.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    /// Build context directory (as `docker build`), or the compose project's
    /// services to build (all by default). A directory, `-t` or `-f` means the former.
    #[arg(value_name = "PATH|SERVICE")]
    pub targets: Vec<String>,
    /// Name and optionally a tag (name:tag); repeatable
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile; `-` reads standard input)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<String>,
    /// Target build stage
    #[arg(long)]
    pub target: Option<String>,
    /// Build-time variables (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Metadata for the image (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Do not use the cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Print only the image id
    #[arg(short, long)]
    pub quiet: bool,
    /// Write the image id to this file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Progress output: auto, plain, tty or quiet
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Network of RUN steps: default (the bridge, with egress), none or host
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Target platform (only the native one)
    #[arg(long)]
    pub platform: Option<String>,
    /// Clamp file times and set image times to this (seconds since the epoch)
    #[arg(
        long = "source-date-epoch",
        env = "SOURCE_DATE_EPOCH",
        value_name = "SECONDS"
    )]
    pub source_date_epoch: Option<u64>,
    /// Extra /etc/hosts line for RUN steps (HOST:IP)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Size of /dev/shm in RUN steps (e.g. 128m)
    #[arg(long = "shm-size", value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// Secret for RUN --mount=type=secret: id=ID,src=PATH or id=ID,env=VAR
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// Write the result out: type=local|tar|oci|docker,dest=PATH (`-o DIR`: local; `-o -`: a tar on stdout)
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub output: Option<String>,
    /// Push the tagged image (compose: the services' images) to its registry after the build
    #[arg(long)]
    pub push: bool,
    /// Always pull the FROM images again, even when they are in the store
    #[arg(long)]
    pub pull: bool,
    /// Images (in the store or a registry) whose layers seed the cache: NAME or type=registry,ref=NAME
    #[arg(long = "cache-from", value_name = "IMAGE")]
    pub cache_from: Vec<String>,
    /// Do not use the cache for the steps of these stages
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// SSH agent socket or private keys for RUN --mount=type=ssh: default|ID[=SOCKET|KEY[,KEY…]]
    #[arg(long = "ssh", value_name = "SPEC")]
    pub ssh: Vec<String>,
    /// Additional named context for FROM, COPY --from and RUN --mount=from: NAME=DIR or NAME=docker-image://REF
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Compose: also build the services the named ones depend on
    #[arg(long = "with-dependencies")]
    pub with_dependencies: bool,
    /// OCI runtime of RUN steps: builtin, crun, runc, or a path (default: WHARF_RUNTIME, else builtin)
    #[arg(long, value_name = "RUNTIME")]
    pub runtime: Option<String>,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum BuilderCommand {
    /// Remove the build cache (its entries, cache mounts, and the layers only it kept)
    Prune {
        /// Do not ask (wharf never asks; accepted for Docker's scripts)
        #[arg(short, long)]
        force: bool,
    },
}
