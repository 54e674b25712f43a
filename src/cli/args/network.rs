//! `wharf network …` subcommands and their flags.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network
    Create {
        name: String,
        /// Driver to manage the network (only bridge)
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format (one IPv4, and one IPv6 with --ipv6)
        #[arg(long)]
        subnet: Vec<String>,
        /// Gateway for the subnet of the same position
        #[arg(long)]
        gateway: Vec<String>,
        /// Allocate container addresses from a sub-range
        #[arg(long = "ip-range")]
        ip_range: Vec<String>,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        /// Enable IPv6 networking
        #[arg(long)]
        ipv6: bool,
        /// Enable manual container attachment
        #[arg(long)]
        attachable: bool,
        /// Set metadata on a network (KEY=VALUE)
        #[arg(short = 'l', long = "label")]
        label: Vec<String>,
        /// Driver specific options (KEY=VALUE)
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// `json` prints one JSON object per line, as docker does
        #[arg(long)]
        format: Option<String>,
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// driver=, id=, label=KEY[=VALUE], name=, scope=local, type=custom|builtin (repeatable)
        #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
        filter: Vec<String>,
    },
    /// Show networks as JSON
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
        #[arg(short, long)]
        force: bool,
        /// Remove the default `bridge` too, which Docker (and a plain
        /// `network rm`) refuses: for a data root being thrown away, whose
        /// bridge interface and nftables table would outlive it (tests)
        #[arg(long, hide = true)]
        predefined: bool,
    },
    /// Connect a container to a network
    Connect {
        network: String,
        container: String,
        /// Extra DNS name on this network
        #[arg(long = "alias")]
        alias: Vec<String>,
        #[arg(long = "ip")]
        ip: Option<std::net::Ipv4Addr>,
        #[arg(long = "ip6")]
        ip6: Option<std::net::Ipv6Addr>,
    },
    /// Disconnect a container from a network
    Disconnect {
        network: String,
        container: String,
        #[arg(short, long)]
        force: bool,
    },
    /// Remove all networks no container is attached to
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}
