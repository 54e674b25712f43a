//! Flags of `wharf config`.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Only these services (and what they depend on)
    pub services: Vec<String>,
    /// Output format (default: yaml; a table for --variables)
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Print the service names, one per line
    #[arg(long = "services")]
    pub list_services: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes")]
    pub list_volumes: bool,
    /// Print the network names, one per line
    #[arg(long = "networks")]
    pub list_networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles")]
    pub list_profiles: bool,
    /// Print the image names, one per line
    #[arg(long = "images")]
    pub list_images: bool,
    /// Print the model names, one per line
    #[arg(long = "models")]
    pub list_models: bool,
    /// Print the model variables and their default values
    #[arg(long)]
    pub variables: bool,
    /// Print the environment used for interpolation
    #[arg(long)]
    pub environment: bool,
    /// Pin image tags to digests
    #[arg(long = "resolve-image-digests")]
    pub resolve_image_digests: bool,
    /// Produce an override file with image digests
    #[arg(long = "lock-image-digests")]
    pub lock_image_digests: bool,
    /// Print the service config hash, one per line ("*" for all services)
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Only validate the configuration, print nothing
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't normalize the compose model
    #[arg(long)]
    pub no_normalize: bool,
    /// Don't resolve file paths
    #[arg(long)]
    pub no_path_resolution: bool,
    /// Don't check model consistency
    #[arg(long)]
    pub no_consistency: bool,
    /// Don't fold env_file entries into environment
    #[arg(long)]
    pub no_env_resolution: bool,
    /// Save to file (default: stdout)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the service dependency graph instead (DOT or Mermaid)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub graph: Option<GraphFormat>,
}
