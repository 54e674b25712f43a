//! `--ssh ID=KEYFILE[,KEYFILE]`: a private `ssh-agent` per id, its socket
//! in the build's scratch dir, holding those keys for `RUN
//! --mount=type=ssh`. The agents die with the build: dropped (success,
//! failure, interrupt), and killed by the kernel if the thread that started
//! them goes away first.

use super::BuildError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What an ssh id forwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SshSource {
    /// An agent socket that exists (`default`: `$SSH_AUTH_SOCK`).
    Socket(PathBuf),
    /// Private key files, loaded into an agent of the build's own.
    Keys(Vec<PathBuf>),
}

/// How long an agent may take to make its socket.
const AGENT_START: Duration = Duration::from_secs(10);

/// The sockets of a build's ssh ids and the agents it started.
pub(super) struct SshAgents {
    agents: Vec<Child>,
    pub(super) sockets: BTreeMap<String, PathBuf>,
}

impl Drop for SshAgents {
    fn drop(&mut self) {
        for a in &mut self.agents {
            let _ = a.kill();
            let _ = a.wait();
        }
    }
}

fn ssh_error(id: &str, message: String, source: Option<std::io::Error>) -> BuildError {
    BuildError::Ssh {
        id: id.to_string(),
        message,
        source,
    }
}

impl SshAgents {
    /// Starts an agent for each id given key files, under `scratch`.
    pub(super) fn start(
        sources: &BTreeMap<String, SshSource>,
        scratch: &Path,
    ) -> Result<SshAgents, BuildError> {
        let mut out = SshAgents {
            agents: Vec::new(),
            sockets: BTreeMap::new(),
        };
        for (n, (id, source)) in sources.iter().enumerate() {
            let keys = match source {
                SshSource::Socket(p) => {
                    out.sockets.insert(id.clone(), p.clone());
                    continue;
                }
                SshSource::Keys(keys) => keys,
            };
            let dir = scratch.join(format!("ssh-{n}"));
            {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|e| ssh_error(id, format!("creating {}", dir.display()), Some(e)))?;
            }
            let socket = dir.join("agent.sock");
            let mut cmd = Command::new("ssh-agent");
            cmd.arg("-D")
                .arg("-a")
                .arg(&socket)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SAFETY: prctl and sigprocmask are async-signal-safe. The agent
            // must not outlive the build, even when wharf is killed; the
            // signals wharf blocks for itself are not the agent's business.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    let mut none: libc::sigset_t = std::mem::zeroed();
                    libc::sigemptyset(&mut none);
                    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
                    Ok(())
                });
            }
            let agent = cmd.spawn().map_err(|e| {
                ssh_error(
                    id,
                    "starting ssh-agent (Debian's openssh-client)".into(),
                    Some(e),
                )
            })?;
            out.agents.push(agent);
            wait_for_socket(id, &socket, out.agents.last_mut())?;
            let added = Command::new("ssh-add")
                .args(keys)
                .env("SSH_AUTH_SOCK", &socket)
                // A key with a passphrase fails instead of asking.
                .env("SSH_ASKPASS_REQUIRE", "never")
                .env_remove("DISPLAY")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| ssh_error(id, "running ssh-add".into(), Some(e)))?;
            if !added.status.success() {
                let names: Vec<String> = keys.iter().map(|k| k.display().to_string()).collect();
                return Err(ssh_error(
                    id,
                    format!(
                        "ssh-add {}: {}",
                        names.join(" "),
                        String::from_utf8_lossy(&added.stderr).trim()
                    ),
                    None,
                ));
            }
            out.sockets.insert(id.clone(), socket);
        }
        Ok(out)
    }
}

/// Waits until the agent listens on `socket` (or has died).
fn wait_for_socket(id: &str, socket: &Path, agent: Option<&mut Child>) -> Result<(), BuildError> {
    let Some(agent) = agent else {
        return Ok(());
    };
    let began = Instant::now();
    while !socket.exists() {
        if let Ok(Some(status)) = agent.try_wait() {
            return Err(ssh_error(id, format!("ssh-agent exited: {status}"), None));
        }
        if began.elapsed() > AGENT_START {
            return Err(ssh_error(
                id,
                format!("ssh-agent made no socket at {}", socket.display()),
                None,
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
