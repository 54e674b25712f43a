//! `down` and `ls`: a project as a whole.

use super::common;
use crate::cli::args::compose::{DownArgs, LsArgs, RmiMode};
use crate::cli::args::ListFormat;
use crate::cli::progress::Progress;
use crate::cli::render::{print_table, print_template};
use crate::cli::resolve::{Project, Settings};
use crate::cli::template::Fields;
use crate::exec;
use anyhow::bail;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

pub fn down(settings: &Settings, sel: &Project, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let env = common::env_for(settings, sel)?;
    let declared: Vec<String> = match &sel {
        Project::Loaded(l) => l
            .project
            .volumes
            .iter()
            .filter(|(_, v)| !v.external)
            .map(|(k, v)| {
                v.name
                    .clone()
                    .unwrap_or_else(|| format!("{}_{k}", l.project.name))
            })
            .collect(),
        Project::Named(_) => Vec::new(),
    };
    let images = match args.rmi {
        None => Vec::new(),
        Some(mode) => {
            let mode = match mode {
                RmiMode::Local => exec::RemoveImages::Local,
                RmiMode::All => exec::RemoveImages::All,
            };
            let list = exec::project_containers(&env.containers, sel.name())?;
            let project = match &sel {
                Project::Loaded(l) => Some(&l.project),
                Project::Named(_) => None,
            };
            exec::images_to_remove(project, &list, sel.name(), mode)
        }
    };
    let opts = exec::DownOptions {
        volumes: args.volumes,
        images,
        timeout: args.timeout.map(Duration::from_secs),
        services: Vec::new(),
        remove_orphans: args.remove_orphans,
    };
    exec::down(&env, sel.name(), &declared, &opts, &Progress::of(settings))?;
    Ok(ExitCode::SUCCESS)
}

/// `down --remove-orphans` of `sel`, as `wait --down-project` takes the
/// project down after the first exit.
pub fn down_project(settings: &Settings, sel: &Project) -> anyhow::Result<ExitCode> {
    let args = DownArgs {
        volumes: false,
        remove_orphans: true,
        timeout: None,
        progress: None,
        rmi: None,
    };
    down(settings, sel, &args)
}

/// `wharf ls`: projects that have containers, Compose's columns.
pub fn ls(settings: &Settings, args: &LsArgs) -> anyhow::Result<ExitCode> {
    let format = &args.format;
    let mut names = Vec::new();
    for kv in &args.filter {
        match kv.split_once('=') {
            Some(("name", v)) => names.push(v),
            _ => bail!("--filter {kv:?}: only name=VALUE filters projects"),
        }
    }
    let env = common::env(settings)?;
    let mut rows = Vec::new();
    for (name, list) in exec::projects(&env.containers)? {
        let running = list.iter().filter(|c| c.running()).count();
        if running == 0 && !args.all {
            continue;
        }
        if !names.is_empty() && !names.iter().any(|n| name.contains(n)) {
            continue;
        }
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for c in &list {
            *counts.entry(c.state.status.as_str()).or_default() += 1;
        }
        let status: Vec<String> = counts.iter().map(|(s, n)| format!("{s}({n})")).collect();
        let files = exec::project_origin(&list)
            .map(|(_, f)| {
                f.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        rows.push((name, status.join(", "), files));
    }
    if args.quiet {
        for (name, _, _) in &rows {
            println!("{name}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if *format != ListFormat::Table {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(n, s, f)| serde_json::json!({"Name": n, "Status": s, "ConfigFiles": f}))
            .collect();
        match format {
            ListFormat::Template(t) => {
                let titles = [
                    ("ConfigFiles", "CONFIG FILES"),
                    ("Name", "NAME"),
                    ("Status", "STATUS"),
                ];
                print_template(t, &v, &titles, Fields::Strict)?;
            }
            _ => println!("{}", serde_json::Value::Array(v)),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![vec![
        "NAME".to_string(),
        "STATUS".into(),
        "CONFIG FILES".into(),
    ]];
    for (n, s, f) in rows {
        table.push(vec![n, s, f]);
    }
    print_table(&table);
    Ok(ExitCode::SUCCESS)
}
