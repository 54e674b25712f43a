//! RUN steps: the container request through the [`BuildHost`](super::BuildHost), its typed
//! `--mount`s, and the layer of what it changed.

use super::named::FromSource;
use super::{view_of, BoxError, BuildError, Result, RunRequest, Secret, StageRun};
use crate::build::dockerfile::{self as df, CommandForm, Instruction, Located};
use crate::build::layer::{self, LayerError, NewLayer};

use crate::build::step::{self, CopyPlan, CopySource, SourceRoot};
use crate::build::tree::{components, MergedView};
use crate::image::digest::Digest;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A RUN mount ready for the container, and what must happen around it.
struct PreparedMount {
    spec: Option<crate::runtime::spec::MountSpec>,
    /// `type=secret,env=NAME`: the secret as an environment variable.
    env: Option<String>,
    /// `sharing=locked|private`: held while the step runs.
    lock: Option<nix::fcntl::Flock<std::fs::File>>,
}

/// Lines of a failed RUN's output shown in its error.
const FAILED_TAIL_LINES: usize = 10;

impl StageRun<'_, '_> {
    pub(super) fn run(&mut self, ins: &Located<Instruction>, r: &df::Run) -> Result<()> {
        let file = self.file();
        let invalid = |message: String| BuildError::Invalid {
            file: file.clone(),
            line: ins.line,
            message,
        };
        let argv = match (&r.command, r.heredocs.as_slice()) {
            (_, []) => self.argv(&r.command),
            // `RUN <<EOF`: the body is the script.
            (CommandForm::Shell(s), [h]) if is_lone_heredoc(s, &h.name) => {
                let mut v = self.shell();
                v.push(h.content.clone());
                v
            }
            // A command line with heredocs: the shell gets the line and the
            // bodies, each closed by its delimiter, as one script (BuildKit).
            (CommandForm::Shell(s), docs) => {
                let mut script = format!("{s}\n");
                for h in docs {
                    script.push_str(&h.content);
                    script.push_str(&h.name);
                    script.push('\n');
                }
                let mut v = self.shell();
                v.push(script);
                v
            }
            (CommandForm::Exec(_), _) => {
                return Err(invalid("RUN: heredocs need the shell form of RUN".into()))
            }
        };
        if r.security == df::RunSecurity::Insecure {
            return Err(invalid(
                "RUN --security=insecure is not supported (wharf builds only in the sandbox)"
                    .into(),
            ));
        }
        // Build args in scope reach the command as environment (not ENV).
        let env: Vec<String> = self
            .args
            .iter()
            .filter(|(k, _)| self.state.env_value(k).is_none())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let command_text = match &r.command {
            CommandForm::Exec(v) => v.join(" "),
            CommandForm::Shell(_) => argv.join(" "),
        };
        let created_by = if env.is_empty() {
            format!("RUN {command_text} # buildkit")
        } else {
            format!(
                "RUN |{} {} {command_text} # buildkit",
                env.len(),
                env.join(" ")
            )
        };
        let escape = self.shared.req.dockerfile.directives.escape;
        let mut mount_texts = Vec::new();
        let mut typed_mounts = Vec::new();
        for m in &r.mounts {
            let lookup = |k: &str| self.lookup_value(k);
            let typed =
                df::resolve_mount(m, escape, &lookup).map_err(|source| BuildError::Expand {
                    file: file.clone(),
                    line: ins.line,
                    instruction: "RUN",
                    source: Box::new(source),
                })?;
            mount_texts.push(m.raw.clone());
            typed_mounts.push(typed);
        }
        let network = format!("{:?}", r.network);
        let mut parts = vec![created_by.clone(), mount_texts.join("\n"), network];
        // What bind mounts show the step is part of its key (a step without
        // one keeps the key it always had).
        let bound: Vec<String> = typed_mounts
            .iter()
            .filter(|m| m.kind == df::MountKind::Bind)
            .map(|m| self.bind_input(ins, m))
            .collect::<Result<_>>()?;
        if !bound.is_empty() {
            parts.push(bound.join("\n"));
        }
        let key = self.key.child(&parts);
        let step = self.shared.step(self.title(&ins.text));
        self.shared.progress.started(&step);
        if self.cached(&key, &step) {
            return Ok(());
        }
        if !self.no_cache() {
            if let Some(state) = self.seeded(&created_by) {
                self.take_seed(key, state, &step)?;
                return Ok(());
            }
        }
        let began = Instant::now();
        let mut mounts = Vec::new();
        let mut locks = Vec::new();
        let mut run_env = env.clone();
        let mut ssh_mounts = 0;
        for m in &typed_mounts {
            let mut m = m.clone();
            let first_ssh = m.kind == df::MountKind::Ssh && ssh_mounts == 0;
            if m.kind == df::MountKind::Ssh {
                // BuildKit's defaults: numbered sockets, SSH_AUTH_SOCK naming the first.
                if m.target.is_none() {
                    m.target = Some(format!("/run/buildkit/ssh_agent.{ssh_mounts}"));
                }
                ssh_mounts += 1;
            }
            let p = self.run_mount(ins, &m)?;
            mounts.extend(p.spec);
            if m.kind != df::MountKind::Ssh || first_ssh {
                run_env.extend(p.env);
            }
            locks.extend(p.lock);
        }
        // Proxy args need no ARG line and stay out of the history, as in BuildKit.
        for p in crate::build::stages::PROXY_ARGS {
            if let Some(v) = self.shared.req.build_args.get(*p) {
                if !self.args.contains_key(*p) {
                    run_env.push(format!("{p}={v}"));
                }
            }
        }
        // Mount points the runtime makes for the step are not part of its
        // layer (BuildKit removes them too); neither are /etc files it binds.
        let mut stubs: Vec<String> = mounts.iter().map(|m| m.target().to_string()).collect();
        stubs.extend(
            [
                "/etc/hosts",
                "/etc/hostname",
                "/etc/resolv.conf",
                "/proc",
                "/sys",
                "/dev",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let lower = self.view()?;
        let stubs: Vec<String> = stubs
            .into_iter()
            .filter(|t| lower.lookup(t).is_none())
            .collect();
        // The runtime runs images: the state so far becomes an unnamed one.
        let parent = self
            .state
            .commit(self.shared.store, "1970-01-01T00:00:00Z", &[])?;
        if let Ok(mut v) = self.shared.intermediates.lock() {
            if !v.contains(parent.id()) {
                v.push(parent.id().clone());
            }
        }
        let mut layer: Option<NewLayer> = None;
        let mut layer_err: Option<LayerError> = None;
        let store = self.shared.store;
        let opts = self.shared.layer_options();
        let holder = self.shared.holder.clone();
        let mut capture = |upper: &Path| -> std::result::Result<(), BoxError> {
            remove_stubs(upper, &stubs, &lower);
            match layer::is_empty_dir(upper) {
                Ok(true) => Ok(()),
                Ok(false) => match layer::commit_dir(store, upper, &opts, &holder) {
                    Ok(l) => {
                        layer = Some(l);
                        Ok(())
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        layer_err = Some(e);
                        Err(msg.into())
                    }
                },
                Err(e) => Err(Box::new(e)),
            }
        };
        let req = RunRequest {
            image: &parent,
            argv: argv.clone(),
            env: run_env,
            network: r.network,
            mounts,
            step: &step,
        };
        let result = self.shared.host.run(&req, &mut capture);
        drop(locks);
        if let Some(e) = layer_err {
            self.shared.progress.failed(&step, &e.to_string());
            return Err(BuildError::Layer {
                file,
                line: ins.line,
                source: Box::new(e),
            });
        }
        let result = result.map_err(|source| {
            self.shared.progress.failed(&step, &source.to_string());
            BuildError::Run {
                file: file.clone(),
                line: ins.line,
                text: ins.text.clone(),
                source,
            }
        })?;
        for line in &result.output {
            self.shared.progress.output(&step, line);
        }
        if result.exit_code != 0 {
            let skip = result.output.len().saturating_sub(FAILED_TAIL_LINES);
            let tail: String = result.output[skip..]
                .iter()
                .map(|l| format!("\n  {l}"))
                .collect();
            let err = BuildError::RunFailed {
                file,
                line: ins.line,
                text: ins.text.clone(),
                command: argv.join(" "),
                code: result.exit_code,
                tail,
            };
            self.shared.progress.failed(&step, &err.to_string());
            return Err(err);
        }
        self.commit_step(key, &created_by, layer)?;
        self.shared.progress.done(&step, began.elapsed());
        Ok(())
    }

    /// What a bind mount shows the step, for its cache key: the content
    /// hash of the bound context (or named directory) path, the key of the
    /// bound stage, or the image named.
    fn bind_input(&self, ins: &Located<Instruction>, m: &df::RunMount) -> Result<String> {
        let source = m.source.clone().unwrap_or_default();
        let hash_in = |ctx: &crate::build::context::Context| -> Result<String> {
            let ctx_err = |e| BuildError::Context {
                file: self.file(),
                line: ins.line,
                instruction: "RUN",
                source: Box::new(e),
            };
            let word = if source.is_empty() { "." } else { &source };
            let resolved = ctx
                .resolve_sources(&[word.to_string()], &[])
                .map_err(ctx_err)?;
            Ok(ctx.hash_sources(&resolved).map_err(ctx_err)?.to_string())
        };
        let Some(from) = &m.from else {
            return hash_in(&*self.shared.context()?);
        };
        if let Some(j) = super::stage_named(&self.shared.req.dockerfile, from, self.index) {
            return Ok(self
                .done
                .get(&j)
                .map(|r| r.key.0.to_string())
                .unwrap_or_default());
        }
        match self.shared.named_context(from) {
            Some((key, super::NamedContext::Dir(dir))) => {
                hash_in(&*self.shared.named_dir(&key, dir)?)
            }
            _ => Ok(format!("image {from}")),
        }
    }

    /// A typed `--mount` made ready for the container.
    fn run_mount(&self, ins: &Located<Instruction>, m: &df::RunMount) -> Result<PreparedMount> {
        use crate::runtime::spec::MountSpec as M;
        let invalid = |message: String| BuildError::Invalid {
            file: self.file(),
            line: ins.line,
            message,
        };
        let scratch_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Scratch { path, source }
        };
        let plain = |spec: M| PreparedMount {
            spec: Some(spec),
            env: None,
            lock: None,
        };
        let target = m.target.clone().unwrap_or_default();
        match m.kind {
            df::MountKind::Tmpfs => Ok(plain(M::Tmpfs {
                target,
                size: m.size,
                mode: None,
                read_only: false,
            })),
            df::MountKind::Cache => {
                // Kept under the store, keyed by id (the target by default), as BuildKit does.
                let id = m.id.clone().unwrap_or_else(|| target.clone());
                let base = self.shared.store.root().join("build-cache-mounts");
                let dir = base.join(Digest::sha256_of(id.as_bytes()).hex());
                if !dir.is_dir() {
                    std::fs::create_dir_all(&dir).map_err(scratch_err(&dir))?;
                    use std::os::unix::fs::PermissionsExt;
                    let mode = m.mode.unwrap_or(0o755);
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
                        .map_err(scratch_err(&dir))?;
                    std::os::unix::fs::lchown(
                        &dir,
                        Some(m.uid.unwrap_or(0)),
                        Some(m.gid.unwrap_or(0)),
                    )
                    .map_err(scratch_err(&dir))?;
                }
                // `locked` (and `private`, which wharf does not copy) waits
                // for other steps using the same cache; `shared` does not.
                let lock = match m.sharing.unwrap_or(df::CacheSharing::Shared) {
                    df::CacheSharing::Shared => None,
                    df::CacheSharing::Locked | df::CacheSharing::Private => {
                        let path = dir.with_extension("lock");
                        let f = std::fs::OpenOptions::new()
                            .create(true)
                            .truncate(false)
                            .write(true)
                            .open(&path)
                            .map_err(scratch_err(&path))?;
                        let f = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
                            .map_err(|(_, e)| BuildError::Scratch {
                                path: path.clone(),
                                source: std::io::Error::from(e),
                            })?;
                        Some(f)
                    }
                };
                Ok(PreparedMount {
                    spec: Some(M::Bind {
                        source: dir,
                        target,
                        read_only: m.readonly,
                        propagation: None,
                        create_host_path: false,
                    }),
                    env: None,
                    lock,
                })
            }
            df::MountKind::Bind => {
                let source_rel = m.source.clone().unwrap_or_default();
                let comps = components(&source_rel);
                let source = match &m.from {
                    None => {
                        // Through the context: a .dockerignore'd path is not there.
                        let ctx = self.shared.context()?;
                        let rel = rel_path(&comps);
                        if !rel.is_empty() && ctx.entry(&rel).is_none() {
                            return Err(invalid(format!(
                                "RUN --mount=type=bind: source {source_rel:?} not found in the build context"
                            )));
                        }
                        self.shared
                            .req
                            .context
                            .join(comps.iter().collect::<PathBuf>())
                    }
                    Some(from) => match self.source_named(from, ins.line)? {
                        // A named directory: bound like the build context.
                        FromSource::Dir(ctx) => {
                            let rel = rel_path(&comps);
                            if !rel.is_empty() && ctx.entry(&rel).is_none() {
                                return Err(invalid(format!(
                                    "RUN --mount=type=bind: source {source_rel:?} not found in the build context {from:?}"
                                )));
                            }
                            ctx.root().join(comps.iter().collect::<PathBuf>())
                        }
                        // A stage's (or image's) files, copied out: the
                        // mount may be written to, the stage must not change.
                        FromSource::State(state) => {
                            let view = view_of(self.shared.store, &state)?;
                            let staging = self.shared.scratch()?;
                            let plan = CopyPlan {
                                instruction: "RUN --mount",
                                root: SourceRoot::Layers(&view),
                                sources: vec![CopySource {
                                    rel: comps.iter().collect::<PathBuf>(),
                                    below_dest: None,
                                }],
                                dest: "/content".into(),
                                chown: None,
                                chmod: None,
                                epoch: None,
                                extract_archives: false,
                                included: None,
                            };
                            step::stage_copy(&plan, &MergedView::default(), &staging).map_err(
                                |source| BuildError::Step {
                                    file: self.file(),
                                    line: ins.line,
                                    source: Box::new(source),
                                },
                            )?;
                            staging.join("content")
                        }
                    },
                };
                if std::fs::symlink_metadata(&source).is_err() {
                    return Err(invalid(format!(
                        "RUN --mount=type=bind: source {source_rel:?} not found"
                    )));
                }
                Ok(plain(M::Bind {
                    source,
                    target,
                    read_only: m.readonly,
                    propagation: None,
                    create_host_path: false,
                }))
            }
            df::MountKind::Secret => {
                let id =
                    m.id.clone()
                        .or_else(|| m.source.clone())
                        .or_else(|| {
                            m.target
                                .as_deref()
                                .and_then(|t| t.rsplit('/').next())
                                .map(str::to_string)
                        })
                        .unwrap_or_default();
                let Some(secret) = self.shared.req.secrets.get(&id) else {
                    if m.required {
                        return Err(invalid(format!(
                            "RUN --mount=type=secret: secret {id:?} is required but was not given (--secret id={id},src=…)"
                        )));
                    }
                    return Ok(PreparedMount {
                        spec: None,
                        env: None,
                        lock: None,
                    });
                };
                let value_file = match secret {
                    Secret::File(p) => p.clone(),
                    Secret::Env(var) => {
                        let value = std::env::var(var).map_err(|_| {
                            invalid(format!(
                                "secret {id:?}: environment variable {var} is not set"
                            ))
                        })?;
                        let dir = self.shared.scratch()?;
                        let p = dir.join("secret");
                        std::fs::write(&p, value).map_err(scratch_err(&p))?;
                        p
                    }
                };
                if let Some(env) = &m.env {
                    let value =
                        std::fs::read_to_string(&value_file).map_err(scratch_err(&value_file))?;
                    // With env= and no target, only the variable is set (BuildKit).
                    let spec = m.target.as_ref().map(|t| M::Bind {
                        source: value_file.clone(),
                        target: t.clone(),
                        read_only: true,
                        propagation: None,
                        create_host_path: false,
                    });
                    return Ok(PreparedMount {
                        spec,
                        env: Some(format!("{env}={value}")),
                        lock: None,
                    });
                }
                Ok(plain(M::Bind {
                    source: value_file,
                    target: m
                        .target
                        .clone()
                        .unwrap_or_else(|| format!("/run/secrets/{id}")),
                    read_only: true,
                    propagation: None,
                    create_host_path: false,
                }))
            }
            df::MountKind::Ssh => {
                let id = m.id.clone().unwrap_or_else(|| "default".into());
                let Some(socket) = self.shared.ssh_sockets.get(&id) else {
                    if m.required {
                        return Err(invalid(format!(
                            "RUN --mount=type=ssh: ssh {id:?} is required but was not given (--ssh {id})"
                        )));
                    }
                    return Ok(PreparedMount {
                        spec: None,
                        env: None,
                        lock: None,
                    });
                };
                // The caller gives ssh mounts their numbered default target.
                Ok(PreparedMount {
                    spec: Some(M::Bind {
                        source: socket.clone(),
                        target: target.clone(),
                        read_only: false,
                        propagation: None,
                        create_host_path: false,
                    }),
                    env: Some(format!("SSH_AUTH_SOCK={target}")),
                    lock: None,
                })
            }
        }
    }
}

/// Path components joined with `/`, as the context names its entries.
fn rel_path(comps: &[std::ffi::OsString]) -> String {
    comps
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a shell-form command is just `<<NAME` (`<<-NAME`, quoted or not).
fn is_lone_heredoc(command: &str, name: &str) -> bool {
    let c = command.trim();
    let Some(rest) = c.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let rest = rest.trim_matches(|ch| ch == '"' || ch == '\'');
    rest == name
}

/// Removes from a step's upper dir the empty files and directories the
/// runtime made as mount points at `targets` (and the empty parents it
/// made for them): none of them exists in the layers below.
fn remove_stubs(upper: &Path, targets: &[String], lower: &MergedView) {
    for t in targets {
        let comps = components(t);
        for n in (1..=comps.len()).rev() {
            let rel: PathBuf = comps[..n].iter().collect();
            if lower.lookup(&rel.to_string_lossy()).is_some() {
                break;
            }
            let p = upper.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let removed = if meta.is_dir() {
                std::fs::remove_dir(&p).is_ok()
            } else if meta.is_file() && meta.len() == 0 {
                std::fs::remove_file(&p).is_ok()
            } else {
                false
            };
            if !removed {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_heredocs_are_told_from_command_lines() {
        assert!(is_lone_heredoc("<<EOF", "EOF"));
        assert!(is_lone_heredoc(" <<-\"EOF\" ", "EOF"));
        assert!(!is_lone_heredoc("cat <<EOF > /x", "EOF"));
    }
}
