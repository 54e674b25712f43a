//! `wharf volume …` subcommands and their flags.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create {
        name: Option<String>,
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
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
