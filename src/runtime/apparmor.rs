//! The `wharf-default` AppArmor profile: what Docker's `docker-default`
//! confines (moby profiles/apparmor), applied to every unprivileged container
//! without `--security-opt apparmor=…` where the host has AppArmor and
//! `apparmor_parser` to load it. Generated and loaded on first use, then
//! kept by the kernel until the next boot, as dockerd loads its own.
//!
//! The profile allows what a container normally does (files, network,
//! capabilities the runtime grants) and denies what containers break out
//! or harm the host with: mounting, writing /proc outside the process's
//! own directories and kernel.shm*, /proc/sysrq-trigger and /proc/kcore,
//! writing /sys outside /sys/fs/cgroup, the firmware, RAPL power readings
//! (CVE-2020-8694) and the security filesystem.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The profile wharf applies by default.
pub const DEFAULT_PROFILE: &str = "wharf-default";
/// Where the distribution keeps its tunables and abstractions.
const PROFILE_DIR: &str = "/etc/apparmor.d";
/// The profiles loaded in the kernel, one `name (mode)` per line.
const LOADED: &str = "/sys/kernel/security/apparmor/profiles";
const ENABLED: &str = "/sys/module/apparmor/parameters/enabled";
const PARSER: &str = "apparmor_parser";

#[derive(Debug, thiserror::Error)]
pub enum AppArmorError {
    #[error("AppArmor profile {profile} is not loaded and {PARSER} is not installed to load it")]
    NoParser { profile: String },
    #[error("reading the loaded AppArmor profiles in {}: {source}", path.display())]
    Loaded { path: PathBuf, source: io::Error },
    #[error("running {} to load AppArmor profile {profile}: {source}", parser.display())]
    Spawn {
        parser: PathBuf,
        profile: String,
        source: io::Error,
    },
    #[error("{} could not load AppArmor profile {profile}: {message}", parser.display())]
    Refused {
        parser: PathBuf,
        profile: String,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, AppArmorError>;

/// Whether the kernel enforces AppArmor (what `--security-opt apparmor=NAME`
/// needs).
pub fn enabled() -> bool {
    std::fs::read_to_string(ENABLED).is_ok_and(|v| v.trim() == "Y")
}

/// `apparmor_parser`, where installed (what loading `wharf-default` needs).
pub fn parser() -> Option<PathBuf> {
    crate::runtime::oci_cli::find_in_path(PARSER)
}

/// What the profile text depends on: the distribution's definitions and
/// the profile wharf itself runs under (which signals containers).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileHost {
    /// `tunables/global` exists (it defines `@{PROC}` and friends).
    pub tunables: bool,
    /// `abstractions/base` exists (what every program needs: libc, locales).
    pub base_abstraction: bool,
    /// wharf's own profile, `unconfined` when it runs without one.
    pub own_profile: String,
}

impl ProfileHost {
    pub fn detect() -> ProfileHost {
        let dir = Path::new(PROFILE_DIR);
        ProfileHost {
            tunables: dir.join("tunables/global").exists(),
            base_abstraction: dir.join("abstractions/base").exists(),
            own_profile: std::fs::read_to_string("/proc/self/attr/current")
                .map(|c| own_profile(&c))
                .unwrap_or_else(|_| "unconfined".to_string()),
        }
    }
}

/// The profile name in `/proc/self/attr/current` (`name (enforce)`).
fn own_profile(current: &str) -> String {
    match current.split_whitespace().next() {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => "unconfined".to_string(),
    }
}

/// The text of profile `name`.
pub fn profile_text(name: &str, host: &ProfileHost) -> String {
    let mut out = String::new();
    if host.tunables {
        out.push_str("#include <tunables/global>\n\n");
    } else {
        // What tunables/global would define and the rules below use.
        out.push_str("@{PROC}=/proc/\n\n");
    }
    out.push_str(&format!(
        "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n"
    ));
    if host.base_abstraction {
        out.push_str("  #include <abstractions/base>\n\n");
    }
    let own = &host.own_profile;
    let body = format!(
        "  network,
  capability,
  file,
  umount,

  # wharf (unconfined or in its own profile) and external runtimes stop
  # and kill containers; container processes signal each other.
  signal (receive) peer=unconfined,
  signal (receive) peer={own},
  signal (receive) peer=runc,
  signal (receive) peer=crun,
  signal (send,receive) peer={name},

  # No writes directly in /proc, nor below it outside /proc/<pid>/ and
  # /proc/sys/, nor in /proc/sys outside kernel/shm*.
  deny @{{PROC}}/* w,
  deny @{{PROC}}/{{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}}/** w,
  deny @{{PROC}}/sys/[^k]** w,
  deny @{{PROC}}/sys/kernel/{{?,??,[^s][^h][^m]**}} w,
  deny @{{PROC}}/sysrq-trigger rwklx,
  deny @{{PROC}}/kcore rwklx,

  deny mount,

  # /sys is read-only but for /sys/fs/cgroup; some of it is not even readable.
  deny /sys/[^f]*/** wklx,
  deny /sys/f[^s]*/** wklx,
  deny /sys/fs/[^c]*/** wklx,
  deny /sys/fs/c[^g]*/** wklx,
  deny /sys/fs/cg[^r]*/** wklx,
  deny /sys/firmware/** rwklx,
  deny /sys/devices/virtual/powercap/** rwklx,
  deny /sys/kernel/security/** rwklx,

  # ps inside the container reads its own processes.
  ptrace (trace,read,tracedby,readby) peer={name},
}}
"
    );
    out.push_str(&body);
    out
}

/// Whether `listing` (of [`LOADED`]) has profile `name`.
fn is_loaded(listing: &str, name: &str) -> bool {
    listing
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// Loads [`DEFAULT_PROFILE`] unless the kernel has it already.
pub fn ensure_default_loaded(parser: Option<&Path>) -> Result<()> {
    let listing = std::fs::read_to_string(LOADED).map_err(|source| AppArmorError::Loaded {
        path: LOADED.into(),
        source,
    })?;
    if is_loaded(&listing, DEFAULT_PROFILE) {
        return Ok(());
    }
    let parser = parser.ok_or_else(|| AppArmorError::NoParser {
        profile: DEFAULT_PROFILE.to_string(),
    })?;
    load(
        parser,
        DEFAULT_PROFILE,
        &profile_text(DEFAULT_PROFILE, &ProfileHost::detect()),
    )
}

/// `apparmor_parser -Kr` (replace, and keep the compiled profile out of
/// the system's cache) with the profile text on stdin.
fn load(parser: &Path, name: &str, text: &str) -> Result<()> {
    let spawn_err = |source| AppArmorError::Spawn {
        parser: parser.to_path_buf(),
        profile: name.to_string(),
        source,
    };
    let mut child = Command::new(parser)
        .arg("-Kr")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).map_err(spawn_err)?;
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(AppArmorError::Refused {
            parser: parser.to_path_buf(),
            profile: name.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(distro: bool) -> ProfileHost {
        ProfileHost {
            tunables: distro,
            base_abstraction: distro,
            own_profile: "unconfined".into(),
        }
    }

    #[test]
    fn the_profile_denies_what_docker_default_denies() {
        let text = profile_text(DEFAULT_PROFILE, &host(true));
        assert!(text.starts_with("#include <tunables/global>\n"), "{text}");
        assert!(text.contains(
            "profile wharf-default flags=(attach_disconnected,mediate_deleted) {\n  #include <abstractions/base>\n"
        ));
        for rule in [
            "  deny mount,\n",
            "  deny @{PROC}/* w,\n",
            "  deny @{PROC}/sys/[^k]** w,\n",
            "  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,\n",
            "  deny @{PROC}/sysrq-trigger rwklx,\n",
            "  deny @{PROC}/kcore rwklx,\n",
            "  deny /sys/[^f]*/** wklx,\n",
            "  deny /sys/fs/cg[^r]*/** wklx,\n",
            "  deny /sys/firmware/** rwklx,\n",
            "  deny /sys/devices/virtual/powercap/** rwklx,\n",
            "  deny /sys/kernel/security/** rwklx,\n",
            "  signal (send,receive) peer=wharf-default,\n",
            "  ptrace (trace,read,tracedby,readby) peer=wharf-default,\n",
        ] {
            assert!(text.contains(rule), "missing {rule:?} in\n{text}");
        }
        assert!(text.trim_end().ends_with('}'));
        // Braces balance: the profile block is closed exactly once.
        let opens = text.matches('{').count();
        assert_eq!(opens, text.matches('}').count(), "{text}");
    }

    #[test]
    fn without_the_distribution_files_proc_is_defined_in_the_profile() {
        let text = profile_text("p", &host(false));
        assert!(text.starts_with("@{PROC}=/proc/\n"), "{text}");
        assert!(!text.contains("#include"), "{text}");
        assert!(text.contains("profile p flags="));
    }

    #[test]
    fn a_confined_wharf_may_signal_its_containers() {
        let mut h = host(true);
        h.own_profile = own_profile("wharf-cli (enforce)\n");
        assert_eq!(h.own_profile, "wharf-cli");
        assert!(profile_text(DEFAULT_PROFILE, &h).contains("  signal (receive) peer=wharf-cli,\n"));
        assert_eq!(own_profile(""), "unconfined");
        assert_eq!(own_profile("unconfined\n"), "unconfined");
    }

    #[test]
    fn loaded_profiles_are_matched_by_whole_name() {
        let listing = "wharf-default-old (enforce)\ndocker-default (enforce)\n";
        assert!(!is_loaded(listing, DEFAULT_PROFILE));
        assert!(is_loaded(listing, "docker-default"));
        assert!(is_loaded("wharf-default (complain)\n", DEFAULT_PROFILE));
    }
}
