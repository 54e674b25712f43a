//! Coexistence with iptables firewalls that drop forwarded traffic, above all
//! Docker's.
//!
//! dockerd sets the iptables FORWARD policy to DROP, and with br_netfilter
//! (`net.bridge.bridge-nf-call-iptables=1`) even frames bridged between two
//! containers of one wharf network traverse that chain. A packet must pass
//! every base chain of a hook, so wharf's own nftables tables cannot accept
//! it past iptables' drop: the accept has to live in iptables itself.
//!
//! wharf keeps one chain, `WHARF-FORWARD`, jumped to from `DOCKER-USER` (the
//! chain Docker documents for user rules, evaluated first and never flushed)
//! or, with no Docker, from the top of `FORWARD`, as libvirt does. It accepts
//! - what enters from a wharf bridge (interface group [`BRIDGE_GROUP`]):
//!   container to container, and egress; isolation between wharf networks
//!   stays with wharf's nftables tables, which still drop it;
//! - what goes into a wharf bridge only as a reply or a DNAT'd published
//!   port, so the host's policy still keeps unpublished container ports shut.
//!
//! Nothing of Docker's networks or of the host's INPUT is opened. The chain
//! and its jumps go with the last wharf bridge of the network namespace.
//! Nothing is touched where no iptables firewall drops forwarded traffic.
//!
//! When wharf itself turns forwarding on, it first sets the FORWARD policy
//! to DROP, as dockerd does, so the host does not become a router for
//! everyone ([`drop_forwarded`]); the policy and forwarding stay after
//! `down`, as Docker leaves them. It is set in iptables' own table (legacy
//! or nft), where a later Docker adds its accepts next to wharf's: a drop
//! policy in a base chain of its own would be final for Docker's traffic
//! too. With no iptables binary, the same chain is made with nft under the
//! names iptables-nft uses (`ip filter FORWARD`), and wharf's accepts go
//! there ([`nft_fallback`]).

use super::bridge::{Netlink, BRIDGE_GROUP};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// wharf's chain in the filter table of iptables and ip6tables.
pub const CHAIN: &str = "WHARF-FORWARD";
const DOCKER_USER: &str = "DOCKER-USER";
/// Serializes wharf processes of every data root: removing the rules when
/// the last bridge goes must not race a new network adding them.
const LOCK: &str = "/run/lock/wharf-iptables.lock";

/// An address family: its iptables tool and its nftables table family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    const ALL: [Family; 2] = [Family::V4, Family::V6];

    fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    /// The nftables family iptables-nft keeps this family's tables in.
    fn nft(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IptablesError {
    #[error("running {tool} {args}: {source}")]
    Spawn {
        tool: &'static str,
        args: String,
        source: io::Error,
    },
    #[error("{tool} {args} failed: {message}")]
    Failed {
        tool: &'static str,
        args: String,
        message: String,
    },
    #[error("locking {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("listing interfaces: {0}")]
    Links(#[from] super::bridge::BridgeError),
}

pub type Result<T> = std::result::Result<T, IptablesError>;

/// What `iptables -S` says of the filter table that matters here.
#[derive(Debug, Default, PartialEq)]
struct Listing {
    forward_drops: bool,
    docker_user: bool,
    chain: bool,
    chain_rules: Vec<String>,
    /// Chains holding a jump to [`CHAIN`], once per jump.
    jumps_from: Vec<String>,
}

fn parse(listing: &str) -> Listing {
    let mut out = Listing::default();
    let jump = format!("-j {CHAIN}");
    for line in listing.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["-P", "FORWARD", policy, ..] => out.forward_drops = *policy == "DROP",
            ["-N", name] if *name == DOCKER_USER => out.docker_user = true,
            ["-N", name] if *name == CHAIN => out.chain = true,
            ["-A", name, ..] if *name == CHAIN => out.chain_rules.push(line.to_string()),
            ["-A", name, rest @ ..] if rest.join(" ") == jump => {
                out.jumps_from.push((*name).to_string())
            }
            _ => {}
        }
    }
    out
}

/// The rules of [`CHAIN`], as `iptables -S` prints them back.
fn chain_rules() -> Vec<String> {
    vec![
        format!("-A {CHAIN} -m devgroup --src-group {BRIDGE_GROUP:#x} -j ACCEPT"),
        format!(
            "-A {CHAIN} -m devgroup --dst-group {BRIDGE_GROUP:#x} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
        ),
        format!(
            "-A {CHAIN} -m devgroup --dst-group {BRIDGE_GROUP:#x} -m conntrack --ctstate DNAT -j ACCEPT"
        ),
    ]
}

fn words(rule: &str) -> Vec<String> {
    rule.split_whitespace().map(str::to_string).collect()
}

/// The commands that make wharf's traffic pass a firewall as `listing`
/// shows it; none where forwarded traffic is not dropped (no Docker, policy
/// ACCEPT) or where everything is in place already.
fn ensure_commands(listing: &Listing) -> Vec<Vec<String>> {
    let hook = if listing.docker_user {
        DOCKER_USER
    } else if listing.forward_drops {
        "FORWARD"
    } else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let wanted = chain_rules();
    if !listing.chain {
        out.push(words(&format!("-N {CHAIN}")));
    }
    if listing.chain_rules != wanted {
        if listing.chain {
            out.push(words(&format!("-F {CHAIN}")));
        }
        out.extend(wanted.iter().map(|r| words(r)));
    }
    if !listing.jumps_from.iter().any(|c| c == hook) {
        out.push(words(&format!("-I {hook} 1 -j {CHAIN}")));
    }
    out
}

/// The commands that take every trace of wharf out of the filter table.
fn release_commands(listing: &Listing) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = listing
        .jumps_from
        .iter()
        .map(|c| words(&format!("-D {c} -j {CHAIN}")))
        .collect();
    if listing.chain {
        out.push(words(&format!("-F {CHAIN}")));
        out.push(words(&format!("-X {CHAIN}")));
    }
    out
}

fn run(tool: &'static str, args: &[String]) -> Result<Option<String>> {
    let mut full = vec![
        "-w".to_string(),
        "5".to_string(),
        "-t".into(),
        "filter".into(),
    ];
    full.extend(args.iter().cloned());
    exec(tool, &full)
}

/// Runs `tool args`: its stdout, or `None` where the tool is not installed.
fn exec(tool: &'static str, args: &[String]) -> Result<Option<String>> {
    let out = match Command::new(tool).args(args).stdin(Stdio::null()).output() {
        Ok(out) => out,
        // No such tool: no firewall of that family can be in the way.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(IptablesError::Spawn {
                tool,
                args: args.join(" "),
                source,
            })
        }
    };
    if out.status.success() {
        Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
    } else {
        Err(IptablesError::Failed {
            tool,
            args: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `tool -S` of the filter table; `None` where the tool or its kernel
/// support is missing (then nothing of that family can drop our traffic).
fn listing(tool: &'static str) -> Option<Listing> {
    match run(tool, &["-S".to_string()]) {
        Ok(Some(text)) => Some(parse(&text)),
        Ok(None) => None,
        Err(e) => {
            tracing::debug!("{e}");
            None
        }
    }
}

fn lock() -> Result<nix::fcntl::Flock<File>> {
    let path = Path::new(LOCK);
    let err = |source| IptablesError::Lock {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(err)?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(err)?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| err(io::Error::from(e)))
}

/// Makes wharf's bridged and forwarded traffic pass iptables firewalls that
/// drop it (Docker's FORWARD policy). Called after a wharf bridge exists.
pub fn ensure() -> Result<()> {
    let _lock = lock()?;
    each_family(ensure_commands, nft_fallback::ensure)
}

/// For each family, runs `commands` of its iptables listing, or `fallback`
/// where its iptables binary is not installed.
fn each_family(
    commands: fn(&Listing) -> Vec<Vec<String>>,
    fallback: fn(Family) -> Result<()>,
) -> Result<()> {
    // Every container start on a bridge lists both families' tables: side
    // by side, the two spawns cost one.
    let listings: Vec<(Family, Option<Listing>)> = std::thread::scope(|s| {
        let listed: Vec<_> = Family::ALL
            .map(|family| s.spawn(move || (family, listing(family.tool()))))
            .into_iter()
            .collect();
        listed.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (family, l) in listings {
        let tool = family.tool();
        let Some(l) = l else {
            if !installed(tool) {
                fallback(family)?;
            }
            continue;
        };
        for cmd in commands(&l) {
            run(tool, &cmd)?;
        }
    }
    Ok(())
}

/// Sets the FORWARD policy of `family` to DROP. Called only by whoever
/// turns that family's forwarding on, before it does (dockerd's rule: a
/// host that already forwarded keeps the policy its owner chose).
pub fn drop_forwarded(family: Family) -> Result<()> {
    let _lock = lock()?;
    match run(family.tool(), &words("-P FORWARD DROP"))? {
        Some(_) => Ok(()),
        None => nft_fallback::drop_forwarded(family),
    }
}

/// Whether `tool` runs at all (it may run and still fail to list, without
/// kernel support; then nothing of it is in the way either).
fn installed(tool: &'static str) -> bool {
    !matches!(exec(tool, &["--version".to_string()]), Ok(None))
}

/// Removes wharf's chain and jumps once no wharf bridge is left in this
/// network namespace. Called after a wharf bridge was deleted.
pub fn release() -> Result<()> {
    let _lock = lock()?;
    if Netlink::open()?.any_in_group(BRIDGE_GROUP)? {
        return Ok(());
    }
    each_family(release_commands, nft_fallback::release)
}

/// The same policy and accepts where no iptables binary is installed,
/// through `nft`, in the table and chain names iptables-nft would use so
/// that a later iptables-nft (a Docker installed afterwards) shares them.
mod nft_fallback {
    use super::{exec, words, Family, Result, BRIDGE_GROUP, CHAIN};

    fn nft(args: &str) -> Result<Option<String>> {
        exec("nft", &words(args))
    }

    /// `nft list chain FAMILY filter NAME`; `None` where it does not exist
    /// (or nft is missing: then there is no table to be in the way).
    fn chain(family: Family, name: &str, handles: bool) -> Option<String> {
        let a = if handles { "-a " } else { "" };
        nft(&format!("{a}list chain {} filter {name}", family.nft()))
            .ok()
            .flatten()
    }

    /// The base chain as iptables-nft declares it, with policy drop.
    pub(super) fn drop_policy_commands(family: Family) -> Vec<String> {
        let f = family.nft();
        vec![
            format!("add table {f} filter"),
            format!(
                "add chain {f} filter FORWARD {{ type filter hook forward priority 0 ; policy drop ; }}"
            ),
        ]
    }

    /// wharf's chain, as [`super::chain_rules`] says in iptables' terms,
    /// and the jump to it at the top of FORWARD.
    pub(super) fn accept_commands(family: Family, jump: bool) -> Vec<String> {
        let f = family.nft();
        let g = BRIDGE_GROUP;
        let mut out = vec![
            format!("add chain {f} filter {CHAIN}"),
            format!("flush chain {f} filter {CHAIN}"),
            format!("add rule {f} filter {CHAIN} iifgroup {g:#x} accept"),
            format!(
                "add rule {f} filter {CHAIN} oifgroup {g:#x} ct state established,related accept"
            ),
            format!("add rule {f} filter {CHAIN} oifgroup {g:#x} ct status dnat accept"),
        ];
        if jump {
            out.push(format!("insert rule {f} filter FORWARD jump {CHAIN}"));
        }
        out
    }

    /// The handles of the rules in `listing` (of `nft -a list chain`)
    /// that jump to [`CHAIN`].
    pub(super) fn jump_handles(listing: &str) -> Vec<String> {
        let jump = format!("jump {CHAIN} ");
        listing
            .lines()
            .filter(|l| l.contains(&jump))
            .filter_map(|l| l.rsplit_once("# handle "))
            .map(|(_, h)| h.trim().to_string())
            .collect()
    }

    pub(super) fn drop_forwarded(family: Family) -> Result<()> {
        for cmd in drop_policy_commands(family) {
            nft(&cmd)?;
        }
        Ok(())
    }

    pub(super) fn ensure(family: Family) -> Result<()> {
        let Some(forward) = chain(family, "FORWARD", false) else {
            return Ok(());
        };
        let jump = !forward.contains(&format!("jump {CHAIN}"));
        if !forward.contains("policy drop") || (!jump && chain(family, CHAIN, false).is_some()) {
            return Ok(());
        }
        for cmd in accept_commands(family, jump) {
            nft(&cmd)?;
        }
        Ok(())
    }

    pub(super) fn release(family: Family) -> Result<()> {
        let f = family.nft();
        if let Some(forward) = chain(family, "FORWARD", true) {
            for h in jump_handles(&forward) {
                nft(&format!("delete rule {f} filter FORWARD handle {h}"))?;
            }
        }
        if chain(family, CHAIN, false).is_some() {
            nft(&format!("delete chain {f} filter {CHAIN}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-ISOLATION-STAGE-1
-N DOCKER-USER
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-USER -j RETURN
";

    fn joined(cmds: Vec<Vec<String>>) -> Vec<String> {
        cmds.into_iter().map(|c| c.join(" ")).collect()
    }

    #[test]
    fn nothing_where_nothing_drops() {
        let open = parse("-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n");
        assert!(ensure_commands(&open).is_empty());
        assert!(release_commands(&open).is_empty());
    }

    #[test]
    fn docker_gets_a_jump_from_docker_user() {
        let cmds = joined(ensure_commands(&parse(DOCKER)));
        assert_eq!(cmds[0], "-N WHARF-FORWARD");
        assert!(
            cmds[1].contains("--src-group 0x77687266 -j ACCEPT"),
            "{cmds:?}"
        );
        assert!(cmds[2].contains("--dst-group 0x77687266"), "{cmds:?}");
        assert!(
            cmds[2].contains("--ctstate RELATED,ESTABLISHED -j ACCEPT"),
            "{cmds:?}"
        );
        assert!(cmds[3].contains("--ctstate DNAT -j ACCEPT"), "{cmds:?}");
        assert_eq!(cmds[4], "-I DOCKER-USER 1 -j WHARF-FORWARD");
        assert_eq!(cmds.len(), 5);
    }

    #[test]
    fn a_drop_policy_without_docker_gets_a_jump_from_forward() {
        let cmds = joined(ensure_commands(&parse("-P FORWARD DROP\n")));
        assert_eq!(
            cmds.last().map(String::as_str),
            Some("-I FORWARD 1 -j WHARF-FORWARD")
        );
    }

    #[test]
    fn in_place_rules_are_left_alone_and_stale_ones_replaced() {
        let mut text = format!("{DOCKER}-N WHARF-FORWARD\n");
        for r in chain_rules() {
            text.push_str(&r);
            text.push('\n');
        }
        text.push_str("-A DOCKER-USER -j WHARF-FORWARD\n");
        assert!(ensure_commands(&parse(&text)).is_empty());

        let stale = format!("{DOCKER}-N WHARF-FORWARD\n-A WHARF-FORWARD -j ACCEPT\n");
        let cmds = joined(ensure_commands(&parse(&stale)));
        assert_eq!(cmds[0], "-F WHARF-FORWARD");
        assert_eq!(cmds.len(), 5, "{cmds:?}");
    }

    #[test]
    fn release_removes_every_jump_then_the_chain() {
        let text = format!(
            "{DOCKER}-N WHARF-FORWARD\n-A FORWARD -j WHARF-FORWARD\n-A DOCKER-USER -j WHARF-FORWARD\n-A WHARF-FORWARD -j ACCEPT\n"
        );
        assert_eq!(
            joined(release_commands(&parse(&text))),
            [
                "-D FORWARD -j WHARF-FORWARD",
                "-D DOCKER-USER -j WHARF-FORWARD",
                "-F WHARF-FORWARD",
                "-X WHARF-FORWARD"
            ]
        );
    }
    #[test]
    fn without_iptables_the_drop_policy_is_declared_as_iptables_nft_names_it() {
        assert_eq!(
            nft_fallback::drop_policy_commands(Family::V4),
            [
                "add table ip filter",
                "add chain ip filter FORWARD { type filter hook forward priority 0 ; policy drop ; }"
            ]
        );
        let v6 = nft_fallback::drop_policy_commands(Family::V6);
        assert!(v6.iter().all(|c| c.contains(" ip6 filter")), "{v6:?}");
    }

    #[test]
    fn without_iptables_the_accepts_mirror_the_iptables_chain() {
        let cmds = nft_fallback::accept_commands(Family::V4, true);
        assert_eq!(cmds[0], "add chain ip filter WHARF-FORWARD");
        assert_eq!(cmds[1], "flush chain ip filter WHARF-FORWARD");
        // One nft rule per iptables rule of chain_rules(), same matches.
        assert_eq!(cmds.len() - 3, chain_rules().len());
        assert!(cmds[2].ends_with("iifgroup 0x77687266 accept"), "{cmds:?}");
        assert!(cmds[3].ends_with("oifgroup 0x77687266 ct state established,related accept"));
        assert!(cmds[4].ends_with("oifgroup 0x77687266 ct status dnat accept"));
        assert_eq!(
            cmds.last().map(String::as_str),
            Some("insert rule ip filter FORWARD jump WHARF-FORWARD")
        );
        let no_jump = nft_fallback::accept_commands(Family::V4, false);
        assert!(!no_jump.iter().any(|c| c.contains("jump")), "{no_jump:?}");
    }

    #[test]
    fn without_iptables_release_finds_every_jump_by_handle() {
        let listing = "table ip filter {
	chain FORWARD { # handle 1
		type filter hook forward priority filter; policy drop;
		jump WHARF-FORWARD # handle 7
		iifname \"eth0\" accept # handle 8
		jump WHARF-FORWARD # handle 12
	}
}
";
        assert_eq!(nft_fallback::jump_handles(listing), ["7", "12"]);
    }
}
