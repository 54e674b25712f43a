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
const TOOLS: [&str; 2] = ["iptables", "ip6tables"];

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
    let out = match Command::new(tool).args(&full).stdin(Stdio::null()).output() {
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
    // Every container start on a bridge lists both tables: side by side,
    // the two spawns cost one.
    let listings: Vec<(&'static str, Option<Listing>)> = std::thread::scope(|s| {
        let listed: Vec<_> = TOOLS
            .map(|tool| s.spawn(move || (tool, listing(tool))))
            .into_iter()
            .collect();
        listed.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (tool, l) in listings {
        let Some(l) = l else { continue };
        for cmd in ensure_commands(&l) {
            run(tool, &cmd)?;
        }
    }
    Ok(())
}

/// Removes wharf's chain and jumps once no wharf bridge is left in this
/// network namespace. Called after a wharf bridge was deleted.
pub fn release() -> Result<()> {
    let _lock = lock()?;
    if Netlink::open()?.any_in_group(BRIDGE_GROUP)? {
        return Ok(());
    }
    for tool in TOOLS {
        let Some(l) = listing(tool) else { continue };
        for cmd in release_commands(&l) {
            run(tool, &cmd)?;
        }
    }
    Ok(())
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
}
