//! `wharf volume …` subcommands and their flags.

use super::format::ListFormat;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create {
        name: Option<String>,
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
        /// Volume driver name (only `local`)
        #[arg(short = 'd', long, default_value = "local")]
        driver: String,
        /// The local driver's options: type=none,o=bind,device=PATH or type=tmpfs,o=size=…
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// table, json, or a Go template (`table {{.Name}}\t{{.Mountpoint}}`)
        #[arg(long, default_value = "table")]
        format: ListFormat,
        /// name=SUBSTRING, label=KEY[=VALUE], driver=local, dangling=true|false (repeatable)
        #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
        filter: Vec<String>,
    },
    /// Show volumes as JSON
    Inspect {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(short, long)]
        force: bool,
    },
    /// Remove volumes no container uses (anonymous ones; with -a all)
    Prune {
        #[arg(short, long)]
        all: bool,
        #[arg(short, long)]
        force: bool,
    },
}
