//! Platforms (`linux/amd64`, `linux/arm/v7`) parsed, normalised and matched
//! the way containerd's `platforms` package does for Docker, so that the
//! same manifest is chosen from an image index.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// An OS / architecture / variant triple. Equality and hashing use the
/// normalised form, so `linux/arm64` equals `linux/aarch64/v8` and
/// `linux/arm` equals `linux/arm/v7`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("invalid platform {specifier:?}: {reason}")]
    Invalid { specifier: String, reason: String },
    #[error("invalid platform {specifier:?}: unknown operating system or architecture")]
    Unknown { specifier: String },
    #[error("invalid platform {specifier:?}: OS version and features are only meaningful on Windows and are not supported")]
    OsOptions { specifier: String },
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.filter(|v| !v.is_empty()).map(str::to_string),
        }
    }

    /// Parses `<os>`, `<arch>`, `<os>/<arch>` or `<os>/<arch>/<variant>`
    /// (containerd's specifier syntax); a lone OS or architecture is
    /// completed from the host.
    pub fn parse(specifier: &str) -> Result<Platform, PlatformError> {
        let invalid = |reason: &str| PlatformError::Invalid {
            specifier: specifier.to_string(),
            reason: reason.to_string(),
        };
        if specifier.contains('*') {
            return Err(invalid("wildcards are not supported"));
        }
        let parts: Vec<&str> = specifier.splitn(4, '/').collect();
        let os_part = parts[0];
        if os_part.contains('(') {
            return Err(PlatformError::OsOptions {
                specifier: specifier.to_string(),
            });
        }
        if os_part.is_empty()
            || !os_part
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            return Err(invalid("the OS must match [A-Za-z0-9_-]+"));
        }
        for part in &parts[1..] {
            if part.is_empty()
                || !part
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
            {
                return Err(invalid("each component must match [A-Za-z0-9_.-]+"));
            }
        }
        let os = normalize_os(os_part);
        match parts.len() {
            1 => {
                if is_known_os(&os) {
                    let host = Platform::host();
                    // containerd leaves the arm default (v7) implicit here.
                    let variant = host
                        .variant
                        .filter(|v| host.architecture == "arm" && v != "v7");
                    return Ok(Platform {
                        os,
                        architecture: host.architecture,
                        variant,
                    });
                }
                let (arch, variant) = normalize_arch(os_part, "");
                let variant = if arch == "arm" && variant == "v7" {
                    String::new()
                } else {
                    variant
                };
                if is_known_arch(&arch) {
                    return Ok(Platform::new(&host_os(), &arch, Some(&variant)));
                }
                Err(PlatformError::Unknown {
                    specifier: specifier.to_string(),
                })
            }
            2 => {
                let (arch, variant) = normalize_arch(parts[1], "");
                let variant = if arch == "arm" && variant == "v7" {
                    String::new()
                } else {
                    variant
                };
                Ok(Platform::new(&os, &arch, Some(&variant)))
            }
            3 => {
                let (arch, mut variant) = normalize_arch(parts[1], parts[2]);
                if arch == "arm64" && variant.is_empty() {
                    variant = "v8".to_string();
                }
                Ok(Platform::new(&os, &arch, Some(&variant)))
            }
            _ => Err(invalid("too many components (expected os/arch/variant)")),
        }
    }

    /// The platform this process runs on; on arm the CPU variant comes from
    /// /proc/cpuinfo as containerd reads it.
    pub fn host() -> Platform {
        let arch = go_arch(std::env::consts::ARCH);
        let variant = match arch.as_str() {
            "arm64" => Some("v8".to_string()),
            "arm" => Some(
                std::fs::read_to_string("/proc/cpuinfo")
                    .ok()
                    .and_then(|c| arm_variant_from_cpuinfo(&c))
                    .unwrap_or_else(|| "v7".to_string()),
            ),
            _ => None,
        };
        Platform {
            os: host_os(),
            architecture: arch,
            variant,
        }
    }

    /// The canonical form containerd compares: lower case, `aarch64` →
    /// `arm64`, `x86_64` → `amd64`, default variants (arm64 v8, amd64 v1)
    /// dropped, arm's default v7 made explicit.
    pub fn normalized(&self) -> Platform {
        let (architecture, variant) =
            normalize_arch(&self.architecture, self.variant.as_deref().unwrap_or(""));
        Platform::new(&normalize_os(&self.os), &architecture, Some(&variant))
    }

    /// Whether an image built for `candidate` runs here: the same platform
    /// or an older compatible one (arm/v6 on arm/v7, arm64/v8 on arm64/v8.2,
    /// arm on arm64, 386 on amd64), as containerd's `platforms.Only`.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.rank(candidate).is_some()
    }

    /// How good `candidate` is for this platform: 0 for an exact match,
    /// higher for older compatible variants, None if it cannot run.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        let candidate = candidate.normalized();
        platform_vector(&self.normalized())
            .iter()
            .position(|p| p.normalized() == candidate)
    }

    /// Index of the best candidate (lowest rank, first on ties: Docker sorts
    /// the matches stably and takes the first).
    pub fn best_match(&self, candidates: &[Platform]) -> Option<usize> {
        candidates
            .iter()
            .enumerate()
            .filter_map(|(i, c)| self.rank(c).map(|r| (r, i)))
            .min()
            .map(|(_, i)| i)
    }

    /// Whether containers of this platform run on this host: its own
    /// platform and the ones it runs natively ([`Platform::matches`]), and a
    /// foreign architecture only through an enabled binfmt_misc handler
    /// for it (qemu-user's `qemu-aarch64`, …). The error says why not.
    pub fn runnable_here(&self) -> Result<(), String> {
        self.runnable_on(&Platform::host(), std::path::Path::new(BINFMT_MISC))
    }

    fn runnable_on(&self, host: &Platform, binfmt: &std::path::Path) -> Result<(), String> {
        if normalize_os(&self.os) != "linux" {
            return Err(format!("{self}: only linux containers run on this host"));
        }
        if host.matches(self) {
            return Ok(());
        }
        let qemu = format!("qemu-{}", qemu_arch(&self.normalized().architecture));
        let handled = std::fs::read_dir(binfmt)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                let enabled = text.lines().next() == Some("enabled");
                let interpreter = text
                    .lines()
                    .find_map(|l| l.strip_prefix("interpreter "))
                    .and_then(|p| p.rsplit('/').next())
                    .unwrap_or_default();
                enabled
                    && (e.file_name().to_string_lossy() == qemu.as_str()
                        || interpreter.starts_with(&qemu))
            });
        if handled {
            return Ok(());
        }
        Err(format!(
            "{self}: this {host} host has no enabled binfmt_misc handler for {qemu} under {} to run its binaries (qemu-user-static registers one)",
            binfmt.display()
        ))
    }

    /// Picks the manifest for this platform from an image index / manifest
    /// list. Entries without a platform are skipped (attestations and
    /// other artifacts).
    pub fn select_manifest<'a>(
        &self,
        index: &'a oci_spec::image::ImageIndex,
    ) -> Option<&'a oci_spec::image::Descriptor> {
        let manifests = index.manifests();
        let mut best: Option<(usize, usize)> = None;
        for (i, d) in manifests.iter().enumerate() {
            let Some(p) = d.platform() else { continue };
            if let Some(r) = self.rank(&Platform::from(p)) {
                if best.is_none_or(|(br, _)| r < br) {
                    best = Some((r, i));
                }
            }
        }
        best.map(|(_, i)| &manifests[i])
    }
}

impl From<&oci_spec::image::Platform> for Platform {
    fn from(p: &oci_spec::image::Platform) -> Platform {
        Platform::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    }
}

impl PartialEq for Platform {
    fn eq(&self, other: &Platform) -> bool {
        let (a, b) = (self.normalized(), other.normalized());
        a.os == b.os && a.architecture == b.architecture && a.variant == b.variant
    }
}

impl Eq for Platform {}

impl Hash for Platform {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.normalized();
        n.os.hash(state);
        n.architecture.hash(state);
        n.variant.hash(state);
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

/// containerd's `platformVector`: the platform followed by the older ones
/// it can also run, best first. `p` must be normalised.
/// Where the kernel lists its binfmt_misc handlers.
pub const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// qemu-user's name for an OCI architecture (`arm64` → `aarch64`).
fn qemu_arch(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        "mips64le" => "mips64el",
        "mipsle" => "mipsel",
        other => other,
    }
}

fn platform_vector(p: &Platform) -> Vec<Platform> {
    let mut vector = vec![p.clone()];
    let with_variant = |arch: &str, variant: String| Platform::new(&p.os, arch, Some(&variant));
    let variant = p.variant.clone().unwrap_or_default();
    let version = |v: &str| v.strip_prefix('v').unwrap_or(v).parse::<u32>().ok();
    match p.architecture.as_str() {
        "amd64" => {
            if let Some(level) = version(&variant).filter(|l| *l > 1) {
                for l in (1..level).rev() {
                    vector.push(with_variant("amd64", format!("v{l}")));
                }
            }
            vector.push(Platform::new(&p.os, "386", None));
        }
        "arm" => {
            if let Some(v) = version(&variant).filter(|v| *v > 5) {
                for v in (5..v).rev() {
                    vector.push(with_variant("arm", format!("v{v}")));
                }
            }
        }
        "arm64" => {
            let variant = if variant.is_empty() {
                "v8".to_string()
            } else {
                variant
            };
            let (major_s, minor_s) = match variant.split_once('.') {
                Some((a, b)) => (a, Some(b)),
                None => (variant.as_str(), None),
            };
            if let Some(mut major) = version(major_s).filter(|m| *m >= 8) {
                // Only single-digit minors ("v8.2") are understood, as in containerd.
                let mut minor = match minor_s {
                    Some(m) if variant.len() == 4 => m.parse::<u32>().unwrap_or(0),
                    _ => 0,
                };
                let name = |major: u32, minor: u32| {
                    if minor == 0 {
                        format!("v{major}")
                    } else {
                        format!("v{major}.{minor}")
                    }
                };
                if major == 9 {
                    for m in (0..minor).rev() {
                        vector.push(with_variant("arm64", name(9, m)));
                    }
                    // v9.x diverged from v8.(x+5).
                    minor += 5;
                    major = 8;
                    vector.push(with_variant("arm64", format!("v8.{minor}")));
                }
                for m in (0..minor).rev() {
                    vector.push(with_variant("arm64", name(major, m)));
                }
            }
            let arm_variant = if variant.starts_with("v8.") || variant.starts_with("v9.") {
                "v8".to_string()
            } else {
                variant
            };
            vector.extend(platform_vector(&Platform::new(
                &p.os,
                "arm",
                Some(&arm_variant),
            )));
        }
        _ => {}
    }
    vector
}

fn normalize_os(os: &str) -> String {
    let os = os.to_ascii_lowercase();
    if os == "macos" {
        "darwin".to_string()
    } else {
        os
    }
}

/// containerd's `normalizeArch`; returns "" for no variant.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" {
                String::new()
            } else {
                variant
            };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = if variant == "8" || variant == "v8" {
                String::new()
            } else {
                variant
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
            | "zos"
    )
}

fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
    )
}

fn host_os() -> String {
    match std::env::consts::OS {
        "macos" => "darwin".to_string(),
        os => os.to_string(),
    }
}

/// Rust's architecture names to Go's (GOARCH), which images use.
fn go_arch(rust_arch: &str) -> String {
    let little = cfg!(target_endian = "little");
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "loongarch64" => "loong64",
        "mips" if little => "mipsle",
        "mips64" if little => "mips64le",
        "sparc64" => "sparc64",
        other => other,
    }
    .to_string()
}

/// The arm variant from /proc/cpuinfo's "CPU architecture" line, with
/// containerd's mapping and its Raspberry Pi ARMv6 quirk.
fn arm_variant_from_cpuinfo(cpuinfo: &str) -> Option<String> {
    let field = |name: &str| {
        cpuinfo.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let mut arch = field("CPU architecture")?.to_ascii_lowercase();
    if arch == "7"
        && field("model name")
            .is_some_and(|m| m.to_ascii_lowercase().starts_with("armv6-compatible"))
    {
        arch = "6".to_string();
    }
    let v = match arch.as_str() {
        "8" | "aarch64" => "v8",
        "7" | "7m" | "?(12)" | "?(13)" | "?(14)" | "?(15)" | "?(16)" | "?(17)" => "v7",
        "6" | "6tej" => "v6",
        "5" | "5t" | "5te" | "5tej" => "v5",
        "4" | "4t" => "v4",
        "3" => "v3",
        _ => "unknown",
    };
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_platforms_run_only_through_binfmt_misc() {
        let host = Platform::new("linux", "amd64", None);
        let dir = tempfile::tempdir().unwrap();
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert_eq!(
            Platform::parse("linux/386")
                .unwrap()
                .runnable_on(&host, dir.path()),
            Ok(())
        );
        let err = arm64.runnable_on(&host, dir.path()).unwrap_err();
        assert!(
            err.contains("no enabled binfmt_misc handler for qemu-aarch64"),
            "{err}"
        );
        std::fs::write(
            dir.path().join("qemu-aarch64"),
            "disabled\ninterpreter /usr/bin/qemu-aarch64-static\n",
        )
        .unwrap();
        assert!(arm64.runnable_on(&host, dir.path()).is_err());
        // Registered under another name; the interpreter tells.
        std::fs::write(
            dir.path().join("arm64"),
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/qemu-aarch64-binfmt-P\nflags: POCF\n",
        )
        .unwrap();
        assert_eq!(arm64.runnable_on(&host, dir.path()), Ok(()));
        assert!(Platform::parse("windows/amd64")
            .unwrap()
            .runnable_on(&host, dir.path())
            .is_err());
    }

    fn p(s: &str) -> Platform {
        match Platform::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    fn list(specs: &[&str]) -> Vec<Platform> {
        specs.iter().map(|s| p(s)).collect()
    }

    #[test]
    fn parses_os_arch_variant() {
        let x = p("linux/arm64/v8");
        assert_eq!((x.os.as_str(), x.architecture.as_str()), ("linux", "arm64"));
        assert_eq!(x.variant.as_deref(), Some("v8"));
        assert_eq!(x.to_string(), "linux/arm64/v8");
        assert_eq!(p("linux/amd64").to_string(), "linux/amd64");
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/arm").to_string(), "linux/arm");
    }

    #[test]
    fn normalises_architecture_aliases() {
        assert_eq!(p("linux/x86_64").to_string(), "linux/amd64");
        assert_eq!(p("linux/x86-64").to_string(), "linux/amd64");
        assert_eq!(p("linux/aarch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/i386").to_string(), "linux/386");
        assert_eq!(p("linux/armhf").to_string(), "linux/arm");
        assert_eq!(p("linux/armel").to_string(), "linux/arm/v6");
        assert_eq!(p("Linux/AMD64").to_string(), "linux/amd64");
        assert_eq!(p("macos/arm64").os, "darwin");
        assert_eq!(p("linux/arm/7").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/arm/6").to_string(), "linux/arm/v6");
        assert_eq!(p("linux/aarch64/8").to_string(), "linux/arm64/v8");
    }

    #[test]
    fn default_variants_are_equal_to_explicit_ones() {
        assert_eq!(p("linux/arm64"), p("linux/arm64/v8"));
        assert_eq!(p("linux/aarch64"), p("linux/arm64/v8"));
        assert_eq!(p("linux/arm"), p("linux/arm/v7"));
        assert_eq!(p("linux/amd64"), p("linux/amd64/v1"));
        assert_ne!(p("linux/arm/v6"), p("linux/arm/v7"));
        assert_ne!(p("linux/amd64"), p("linux/amd64/v2"));
        let mut set = std::collections::HashSet::new();
        set.insert(p("linux/arm64"));
        assert!(set.contains(&p("linux/aarch64/v8")));
    }

    #[test]
    fn lone_architecture_takes_the_host_os() {
        let x = p("amd64");
        assert_eq!(x.os, std::env::consts::OS);
        assert_eq!(x.architecture, "amd64");
        assert_eq!(p("aarch64").architecture, "arm64");
        assert_eq!(
            p("armhf").to_string(),
            format!("{}/arm", std::env::consts::OS)
        );
    }

    #[test]
    fn lone_os_takes_the_host_architecture() {
        let x = p("linux");
        assert_eq!(x.os, "linux");
        assert_eq!(x.architecture, Platform::host().architecture);
    }

    #[test]
    fn invalid_specifiers() {
        for s in [
            "",
            "linux/",
            "linux/amd64/v1/x",
            "linux/*",
            "nonsense",
            "linux/am d64",
            "/amd64",
            "linux//v7",
        ] {
            assert!(Platform::parse(s).is_err(), "{s:?} should be refused");
        }
        assert_eq!(
            Platform::parse("nonsense").unwrap_err().to_string(),
            "invalid platform \"nonsense\": unknown operating system or architecture"
        );
        assert!(matches!(
            Platform::parse("windows(10.0.17763)/amd64"),
            Err(PlatformError::OsOptions { .. })
        ));
    }

    #[test]
    fn host_is_a_linux_platform_with_go_names() {
        let h = Platform::host();
        assert_eq!(h.os, "linux");
        let expect = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        assert_eq!(h.architecture, expect);
        assert!(h.matches(&h));
        assert_eq!(Platform::parse(&h.to_string()).unwrap(), h);
    }

    #[test]
    fn arm_variant_from_proc_cpuinfo() {
        let v7 = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nCPU architecture: 7\n";
        assert_eq!(arm_variant_from_cpuinfo(v7).as_deref(), Some("v7"));
        let pi = "model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n";
        assert_eq!(arm_variant_from_cpuinfo(pi).as_deref(), Some("v6"));
        let v8 = "CPU architecture: 8\n";
        assert_eq!(arm_variant_from_cpuinfo(v8).as_deref(), Some("v8"));
        assert_eq!(arm_variant_from_cpuinfo("flags: fpu\n"), None);
    }

    #[test]
    fn exact_match_beats_compatible_variants() {
        let cands = list(&[
            "linux/arm/v5",
            "linux/arm/v6",
            "linux/arm/v7",
            "linux/arm64",
        ]);
        assert_eq!(p("linux/arm/v7").best_match(&cands), Some(2));
        assert_eq!(p("linux/arm/v6").best_match(&cands), Some(1));
        assert_eq!(p("linux/arm64").best_match(&cands), Some(3));
    }

    #[test]
    fn older_arm_variants_are_accepted_newest_first() {
        let cands = list(&["linux/arm/v5", "linux/arm/v6"]);
        assert_eq!(p("linux/arm/v7").best_match(&cands), Some(1));
        assert!(p("linux/arm/v7").matches(&p("linux/arm/v5")));
        // Never a newer variant than the host.
        assert!(!p("linux/arm/v6").matches(&p("linux/arm/v7")));
        assert_eq!(p("linux/arm/v5").best_match(&list(&["linux/arm/v6"])), None);
    }

    #[test]
    fn unqualified_arm_entry_is_v7() {
        let cands = list(&["linux/arm/v6", "linux/arm"]);
        assert_eq!(p("linux/arm/v7").best_match(&cands), Some(1));
        assert!(!p("linux/arm/v6").matches(&p("linux/arm")));
    }

    #[test]
    fn arm64_falls_back_to_32_bit_arm() {
        let cands = list(&["linux/amd64", "linux/arm/v6", "linux/arm/v7"]);
        assert_eq!(p("linux/arm64").best_match(&cands), Some(2));
        assert!(p("linux/arm64/v8").matches(&p("linux/arm/v8")));
    }

    #[test]
    fn arm64_minor_variants() {
        let host = p("linux/arm64/v8.2");
        assert!(host.matches(&p("linux/arm64/v8.1")));
        assert!(host.matches(&p("linux/arm64")));
        assert!(!host.matches(&p("linux/arm64/v8.3")));
        let cands = list(&["linux/arm64", "linux/arm64/v8.1"]);
        assert_eq!(host.best_match(&cands), Some(1));
        // v9.x runs v8.(x+5) and older.
        let v9 = p("linux/arm64/v9");
        assert!(v9.matches(&p("linux/arm64/v8.5")));
        assert!(!v9.matches(&p("linux/arm64/v8.6")));
        assert!(v9.matches(&p("linux/arm64/v8")));
        assert!(!p("linux/arm64").matches(&p("linux/arm64/v9")));
    }

    #[test]
    fn amd64_runs_386_and_older_levels_but_prefers_its_own() {
        let host = p("linux/amd64");
        let cands = list(&["linux/386", "linux/amd64"]);
        assert_eq!(host.best_match(&cands), Some(1));
        assert_eq!(
            host.best_match(&list(&["linux/386", "linux/arm64"])),
            Some(0)
        );
        assert!(!host.matches(&p("linux/amd64/v2")));
        let v3 = p("linux/amd64/v3");
        let cands = list(&["linux/amd64", "linux/amd64/v2", "linux/amd64/v4"]);
        assert_eq!(v3.best_match(&cands), Some(1));
    }

    #[test]
    fn os_must_match() {
        let cands = list(&["windows/amd64", "darwin/amd64"]);
        assert_eq!(p("linux/amd64").best_match(&cands), None);
        assert!(!p("linux/amd64").matches(&p("linux/arm64")));
    }

    #[test]
    fn ties_go_to_the_first_entry() {
        let cands = list(&["linux/arm64", "linux/aarch64/v8"]);
        assert_eq!(p("linux/arm64/v8").best_match(&cands), Some(0));
        assert_eq!(p("linux/arm64").best_match(&[]), None);
    }

    #[test]
    fn selects_from_an_oci_index_ignoring_unplatformed_and_os_version() {
        let index: oci_spec::image::ImageIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "a".repeat(64)), "size": 1,
                 "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "b".repeat(64)), "size": 1,
                 "platform": {"os": "linux", "architecture": "arm64", "variant": "v8",
                              "os.version": "6.1"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "c".repeat(64)), "size": 1,
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "d".repeat(64)), "size": 1},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "digest": format!("sha256:{}", "e".repeat(64)), "size": 1,
                 "platform": {"os": "unknown", "architecture": "unknown"}}
            ]
        }))
        .unwrap();
        let digest_for = |s: &str| {
            p(s).select_manifest(&index)
                .map(|d| d.digest().to_string().chars().last().unwrap_or(' '))
        };
        assert_eq!(digest_for("linux/arm64"), Some('b'));
        assert_eq!(digest_for("linux/amd64"), Some('c'));
        assert_eq!(digest_for("linux/arm/v7"), Some('a'));
        assert_eq!(digest_for("linux/arm/v5"), None);
        assert_eq!(digest_for("linux/s390x"), None);
    }

    #[test]
    fn converts_from_oci_platform() {
        let oci: oci_spec::image::Platform = serde_json::from_value(
            serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"}),
        )
        .unwrap();
        assert_eq!(Platform::from(&oci).to_string(), "linux/arm64/v8");
        let oci: oci_spec::image::Platform =
            serde_json::from_value(serde_json::json!({"os": "linux", "architecture": "ppc64le"}))
                .unwrap();
        assert_eq!(Platform::from(&oci), p("linux/ppc64le"));
    }
}
