//! `init: true`: wharf's minimal init (src/runtime/init_main.rs), a static
//! binary built by build.rs and embedded here. [`init_binary`] puts it on
//! disk once per content; the bundle binds it read-only at
//! [`CONTAINER_PATH`] and runs `/sbin/wharf-init -- <entrypoint+cmd…>`.

use crate::sys::path_error::{IoAt, PathError};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The init binary, built for this target by build.rs.
pub static INIT_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wharf-init"));

/// Where the bundle mounts the init inside the container.
pub const CONTAINER_PATH: &str = "/sbin/wharf-init";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Io(#[from] PathError),
}

type Result<T> = std::result::Result<T, InitError>;

/// File name of the embedded init: content addressed, so wharf versions with
/// different inits never overwrite a binary a running container has mounted.
pub fn init_file_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        let digest = Sha256::digest(INIT_BINARY);
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("wharf-init-{hex}")
    })
}

/// Writes the init to `<root>/bin/wharf-init-<sha256 prefix>` (mode 0755) if
/// it is not there yet, and returns its path. Safe to call concurrently:
/// the file appears whole through a rename.
pub fn init_binary(root: &Path) -> Result<PathBuf> {
    let dir = root.join("bin");
    let path = dir.join(init_file_name());
    if let Ok(meta) = fs::symlink_metadata(&path) {
        // The name carries the content hash and only whole files are renamed
        // in, so a regular file of the right size is ours.
        if meta.is_file() && meta.len() == INIT_BINARY.len() as u64 {
            return Ok(path);
        }
    }
    fs::create_dir_all(&dir).at("creating", &dir)?;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        init_file_name(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let res = (|| {
        let mut f: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&tmp)?;
        f.write_all(INIT_BINARY)?;
        // The umask may have cut bits off the create mode.
        f.set_permissions(fs::Permissions::from_mode(0o755))?;
        f.sync_all()
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(PathError::new("writing", &tmp, e).into());
    }
    fs::rename(&tmp, &path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        PathError::new("renaming into", &path, e)
    })?;
    Ok(path)
}

/// The process args for a container with `init: true`: the init, then `--`
/// and the container's own command.
pub fn wrap_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len() + 2);
    out.push(CONTAINER_PATH.to_string());
    out.push("--".to_string());
    out.extend(args.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn installed() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = init_binary(dir.path()).expect("init_binary");
        // A child another test thread forked while the binary was being
        // written holds the write descriptor until its exec (ETXTBSY).
        // Once one exec succeeds no writer is left, so later ones cannot
        // fail that way.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Command::new(&path).args(["--", "true"]).output() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => break,
            }
        }
        (dir, path)
    }

    /// Runs `script` under the init as PID 1 of a fresh PID namespace.
    fn under_init(init: &Path, script: &str) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc"])
            .arg(init)
            .args(["--", "sh", "-c", script]);
        cmd
    }

    #[test]
    fn init_binary_is_static_small_and_installed_once() {
        let (dir, path) = installed();
        let meta = fs::metadata(&path).expect("stat");
        assert_eq!(meta.permissions().mode() & 0o777, 0o755);
        assert_eq!(fs::read(&path).expect("read"), INIT_BINARY);
        assert!(path.starts_with(dir.path().join("bin")));
        let again = init_binary(dir.path()).expect("again");
        assert_eq!(again, path);
        // Nothing but the binary is left in bin/ (no temp files).
        let entries: Vec<_> = fs::read_dir(dir.path().join("bin"))
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");

        let file = Command::new("file").arg(&path).output().expect("file");
        let file = String::from_utf8_lossy(&file.stdout);
        assert!(
            file.contains("statically linked") || file.contains("static-pie linked"),
            "{file}"
        );
        let ldd = Command::new("ldd").arg(&path).output().expect("ldd");
        let ldd = String::from_utf8_lossy(&ldd.stdout).to_string()
            + &String::from_utf8_lossy(&ldd.stderr);
        assert!(!ldd.contains("libc.so"), "{ldd}");
        assert!(
            INIT_BINARY.len() < 2 * 1024 * 1024,
            "{} bytes",
            INIT_BINARY.len()
        );
    }

    #[test]
    fn reaps_orphaned_zombies_and_exits_with_the_child_code() {
        let (_dir, init) = installed();
        // The subshell exits at once, so its background sleep is reparented to
        // PID 1; once the sleep ends it stays a zombie unless PID 1 reaps it.
        let script = r#"(sleep 0.1 &)
sleep 0.6
n=0
for f in /proc/[0-9]*/stat; do
  read -r pid comm state rest < "$f" 2>/dev/null || continue
  [ "$state" = Z ] && n=$((n+1))
done
echo "zombies=$n"
exit 3"#;
        let out = under_init(&init, script).output().expect("unshare");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.trim(),
            "zombies=0",
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(3));
    }

    #[test]
    fn child_killed_by_a_signal_gives_128_plus_n() {
        let (_dir, init) = installed();
        let out = under_init(&init, "kill -9 $$").output().expect("unshare");
        assert_eq!(out.status.code(), Some(137));
        let out = under_init(&init, "kill -TERM $$")
            .output()
            .expect("unshare");
        assert_eq!(out.status.code(), Some(143));
    }

    fn sig_mask(status: &str, field: &str) -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .expect(field)
    }

    #[test]
    fn the_command_gets_the_signal_state_init_was_given() {
        let (_dir, init) = installed();
        // Every Rust program ignores SIGPIPE from startup, and an ignored
        // signal survives exec; the command must get what the init got.
        let status_of = |cmd: &mut Command| {
            let out = cmd.output().expect("run");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        // cat reads its own status: what it got across exec, directly...
        let direct = status_of(Command::new("cat").arg("/proc/self/status"));
        let given = sig_mask(&direct, "SigIgn:");
        // ...and under the init.
        let theirs = status_of(Command::new(&init).args(["--", "cat", "/proc/self/status"]));
        assert_eq!(sig_mask(&theirs, "SigIgn:"), given, "{theirs}");
        assert_eq!(sig_mask(&theirs, "SigBlk:"), 0, "{theirs}");
    }

    #[test]
    fn missing_command_exits_127() {
        let (_dir, init) = installed();
        let out = Command::new(&init)
            .args(["--", "/nonexistent/wharf-test-command"])
            .output()
            .expect("run init");
        assert_eq!(out.status.code(), Some(127));
        assert!(String::from_utf8_lossy(&out.stderr).contains("wharf-test-command"));
    }

    /// Host pid of the unshare'd PID 1 (the only child of `unshare --fork`).
    fn pid1_of(unshare: u32) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let children = fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
                .unwrap_or_default();
            if let Some(pid) = children.split_whitespace().next() {
                return pid.parse().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    #[test]
    fn signals_sent_to_init_reach_the_child() {
        let (_dir, init) = installed();
        for (sig, name) in [
            (nix::sys::signal::Signal::SIGTERM, "TERM"),
            (nix::sys::signal::Signal::SIGUSR1, "USR1"),
            (nix::sys::signal::Signal::SIGHUP, "HUP"),
        ] {
            let script = format!(
                "trap 'echo got-{name}; exit 7' {name}; echo ready; while :; do sleep 0.05; done"
            );
            let mut child = under_init(&init, &script)
                .stdout(Stdio::piped())
                .spawn()
                .expect("unshare");
            let mut stdout = child.stdout.take().expect("stdout");
            // Wait until the trap is installed.
            let mut buf = [0u8; 6];
            std::io::Read::read_exact(&mut stdout, &mut buf).expect("ready");
            assert_eq!(&buf, b"ready\n");
            let pid1 = pid1_of(child.id()).expect("init pid");
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid1), sig).expect("kill");
            let mut rest = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
            let status = child.wait().expect("wait");
            assert_eq!(rest.trim(), format!("got-{name}"));
            assert_eq!(status.code(), Some(7), "{name}");
        }
    }

    #[test]
    fn wrap_args_puts_init_first() {
        let args = wrap_args(&["redis-server".into(), "--port".into(), "1".into()]);
        assert_eq!(
            args,
            ["/sbin/wharf-init", "--", "redis-server", "--port", "1"]
        );
    }
}
