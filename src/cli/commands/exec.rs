//! `exec`: a command in a running container (or service).

use super::common::{self, exit, fail, host_env, open};
use crate::cli::args::container::ExecArgs;
use crate::cli::resolve::{Project, Settings, Target};
use crate::plan::docker_run::{env_file_entries, expand_env};
use crate::runtime::bundle::ExecOptions;
use crate::supervise::control;
use anyhow::Context as _;
use std::io::IsTerminal;
use std::process::ExitCode;

pub fn exec(settings: &Settings, target: &Target, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    if let Some((project, _)) = target.project() {
        return exec_service(settings, project, args);
    }
    let (containers, _) = open(settings)?;
    let record = match containers.find(&args.container) {
        Ok(r) => r,
        Err(e) => return Ok(fail(e, 1)),
    };
    let opts = ExecOptions {
        args: args.command.clone(),
        env: exec_env(args)?,
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        tty: args.tty,
        privileged: args.privileged,
        group_add: Vec::new(),
    };
    match control::exec(
        &containers,
        &record.id,
        &opts,
        args.detach,
        args.interactive,
    ) {
        Ok(code) => Ok(exit(code)),
        Err(e) => Ok(common::control_fail(e)),
    }
}

/// `exec SERVICE COMMAND…`: the command in a running container of the
/// service (`--index N`, else the lowest-numbered; one-offs last), with a
/// terminal when stdin and stdout are one (unless -T), as Compose does.
fn exec_service(settings: &Settings, sel: &Project, args: &ExecArgs) -> anyhow::Result<ExitCode> {
    let env = common::env(settings)?;
    let target = match common::running_container(&env, sel, &args.container, args.index)? {
        Ok(t) => t,
        Err(msg) => return Ok(fail(msg, 1)),
    };
    let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let tty = !args.detach && (args.tty || (!args.no_tty && on_terminal));
    let opts = ExecOptions {
        args: args.command.clone(),
        env: exec_env(args)?,
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        tty,
        privileged: args.privileged,
        group_add: Vec::new(),
    };
    // Compose's exec keeps stdin open by default (-i is on).
    match control::exec(&env.containers, &target.record.id, &opts, args.detach, true) {
        Ok(code) => Ok(exit(code)),
        Err(e) => {
            let code = e.exit_code();
            Ok(fail(e, code))
        }
    }
}

/// `--env-file` entries, then `-e` (which wins, as Docker's order does).
fn exec_env(args: &ExecArgs) -> anyhow::Result<Vec<String>> {
    let mut env = Vec::new();
    for f in &args.env_file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("--env-file {}: cannot read it", f.display()))?;
        env.extend(env_file_entries(&text, &host_env));
    }
    env.extend(args.env.iter().map(|e| expand_env(e, &host_env)));
    Ok(env)
}
