//! One instruction applied to a stage's image state (config-only ones as
//! BuildKit records them), and WORKDIR.

use super::{go_list, go_quoted_list, is_vertex, set_label, BuildError, Result, StageRun};
use crate::build::dockerfile::{self as df, CommandForm, Instruction, Located};
use crate::build::image::ImageState;

use crate::build::tree::components;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

impl StageRun<'_, '_> {
    pub(super) fn instruction(&mut self, ins: &Located<Instruction>) -> Result<()> {
        let escape = self.shared.req.dockerfile.directives.escape;
        let expanded = {
            let lookup = |k: &str| self.lookup_value(k);
            df::expand_instruction(&ins.value, escape, &lookup).map_err(|source| {
                BuildError::Expand {
                    file: self.file(),
                    line: ins.line,
                    instruction: ins.value.keyword(),
                    source: Box::new(source),
                }
            })?
        };
        if is_vertex(&expanded) {
            self.position += 1;
        }
        match &expanded {
            Instruction::Arg(decls) => {
                for d in decls {
                    let value = self.shared.plan.stage_arg_value(
                        &self.shared.plan_options,
                        &d.name,
                        d.default.as_deref(),
                    );
                    if let Some(v) = value {
                        self.args.insert(d.name.clone(), v);
                    }
                }
                // ARG makes no history entry, but later steps depend on it.
                self.key = self.key.child(&[&format!("ARG {:?}", self.args)]);
                Ok(())
            }
            Instruction::Workdir(dir) => self.workdir(ins, dir),
            Instruction::Run(r) => self.run(ins, r),
            Instruction::Copy(c) => self.copy(ins, c, "COPY"),
            Instruction::Add(c) => self.copy(ins, c, "ADD"),
            config => {
                let shell = self.shell();
                let text = apply_config(&mut self.state, config, &shell, &mut self.cmd_set)
                    .map_err(|source| BuildError::Expand {
                        file: self.file(),
                        line: ins.line,
                        instruction: config.keyword(),
                        source: Box::new(source),
                    })?;
                match text {
                    Some(text) => self.metadata(&text),
                    None => Ok(()),
                }
            }
        }
    }

    fn workdir(&mut self, ins: &Located<Instruction>, dir: &str) -> Result<()> {
        let base = self
            .state
            .string_field("WorkingDir")
            .unwrap_or_else(|| "/".into());
        let joined = if dir.starts_with('/') {
            dir.to_string()
        } else {
            format!("{}/{dir}", base.trim_end_matches('/'))
        };
        let comps = components(&joined);
        let path = format!(
            "/{}",
            comps
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        );
        self.state
            .config_mut()
            .insert("WorkingDir".into(), json!(path));
        let created_by = format!("WORKDIR {path}");
        let step = self.shared.step(self.title(&ins.text));
        let key = self.key.child(&[&created_by]);
        self.shared.progress.started(&step);
        if self.cached(&key, &step) {
            return Ok(());
        }
        let began = Instant::now();
        let view = self.view()?;
        let layer = if view.is_dir(&path) || comps.is_empty() {
            None
        } else {
            // BuildKit makes the directory (and its parents) as a layer.
            let staging = self.shared.scratch()?;
            let mut rel = PathBuf::new();
            for c in &comps {
                rel.push(c);
                let p = staging.join(&rel);
                let existing = view.metadata(&rel.to_string_lossy());
                std::fs::create_dir(&p).map_err(|source| BuildError::Scratch {
                    path: p.clone(),
                    source,
                })?;
                if let Some(m) = existing.filter(|m| m.is_dir()) {
                    use std::os::unix::fs::{MetadataExt, PermissionsExt};
                    let _ = std::fs::set_permissions(
                        &p,
                        std::fs::Permissions::from_mode(m.mode() & 0o7777),
                    );
                    let _ = std::os::unix::fs::lchown(&p, Some(m.uid()), Some(m.gid()));
                } else {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
                }
            }
            self.layer_of(ins, &staging)?
        };
        self.commit_step(key, &created_by, layer)?;
        self.shared.progress.done(&step, began.elapsed());
        Ok(())
    }
}

/// Applies a config-only instruction (ENV, LABEL, EXPOSE, USER, VOLUME,
/// CMD, ENTRYPOINT, SHELL, STOPSIGNAL, MAINTAINER, ONBUILD, HEALTHCHECK) to
/// `state` and returns its history text; `None` for the others (ARG,
/// WORKDIR, RUN, COPY, ADD), which are not changes of the config alone.
/// `shell` runs shell-form commands; `cmd_set` says whether CMD was set
/// since the base image (ENTRYPOINT then keeps it). The builder's steps and
/// `commit`/`import --change` share it.
pub fn apply_config(
    state: &mut ImageState,
    instruction: &Instruction,
    shell: &[String],
    cmd_set: &mut bool,
) -> std::result::Result<Option<String>, df::ExpandError> {
    let argv = |form: &CommandForm| match form {
        CommandForm::Exec(v) => v.clone(),
        CommandForm::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    };
    let text = match instruction {
        Instruction::Env(pairs) => {
            for (k, v) in pairs {
                state.set_env(k, v);
            }
            let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("ENV {}", text.join(" "))
        }
        Instruction::Label(pairs) => {
            for (k, v) in pairs {
                set_label(state, k, v);
            }
            let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("LABEL {}", text.join(" "))
        }
        Instruction::Expose(ports) => {
            let keys = df::exposed_ports(ports)?;
            for k in &keys {
                state.add_to_set("ExposedPorts", k);
            }
            let sorted: BTreeSet<&String> = keys.iter().collect();
            let text: Vec<String> = sorted.iter().map(|k| format!("{k}:{{}}")).collect();
            format!("EXPOSE map[{}]", text.join(" "))
        }
        Instruction::User(u) => {
            state.config_mut().insert("User".into(), json!(u));
            format!("USER {u}")
        }
        Instruction::Volume(vols) => {
            for v in vols {
                state.add_to_set("Volumes", v);
            }
            format!("VOLUME {}", go_list(vols))
        }
        Instruction::Cmd(form) => {
            let argv = argv(form);
            state.config_mut().insert("Cmd".into(), json!(argv));
            *cmd_set = true;
            format!("CMD {}", go_quoted_list(&argv))
        }
        Instruction::Entrypoint(form) => {
            let argv = argv(form);
            let cfg = state.config_mut();
            cfg.insert("Entrypoint".into(), json!(argv));
            if !*cmd_set {
                cfg.insert("Cmd".into(), Value::Null);
            }
            format!("ENTRYPOINT {}", go_quoted_list(&argv))
        }
        Instruction::Shell(sh) => {
            state.config_mut().insert("Shell".into(), json!(sh));
            format!("SHELL {}", go_list(sh))
        }
        Instruction::StopSignal(s) => {
            state.config_mut().insert("StopSignal".into(), json!(s));
            format!("STOPSIGNAL {s}")
        }
        Instruction::Maintainer(m) => {
            state.document["author"] = json!(m);
            format!("MAINTAINER {m}")
        }
        Instruction::Onbuild { expression, .. } => {
            let mut triggers = state.string_list("OnBuild").unwrap_or_default();
            triggers.push(expression.clone());
            state.config_mut().insert("OnBuild".into(), json!(triggers));
            format!("ONBUILD {expression}")
        }
        Instruction::Healthcheck(h) => {
            let value = healthcheck_value(h);
            let text = format!("HEALTHCHECK {value}");
            state.config_mut().insert("Healthcheck".into(), value);
            text
        }
        Instruction::Arg(_)
        | Instruction::Workdir(_)
        | Instruction::Run(_)
        | Instruction::Copy(_)
        | Instruction::Add(_) => return Ok(None),
    };
    Ok(Some(text))
}

/// The image config's `Healthcheck` of a HEALTHCHECK instruction.
fn healthcheck_value(h: &df::Healthcheck) -> Value {
    match h {
        df::Healthcheck::None => json!({ "Test": ["NONE"] }),
        df::Healthcheck::Cmd(c) => {
            let test = match &c.command {
                CommandForm::Exec(v) => {
                    let mut t = vec!["CMD".to_string()];
                    t.extend(v.iter().cloned());
                    t
                }
                CommandForm::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            };
            let mut o = json!({ "Test": test });
            for (k, v) in [
                ("Interval", c.interval),
                ("Timeout", c.timeout),
                ("StartPeriod", c.start_period),
                ("StartInterval", c.start_interval),
            ] {
                if let Some(v) = v {
                    o[k] = json!(v);
                }
            }
            if let Some(r) = c.retries {
                o["Retries"] = json!(r);
            }
            o
        }
    }
}
