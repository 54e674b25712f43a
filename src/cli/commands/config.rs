//! `wharf config`: load, resolve and print the project as Compose does.

use crate::cli::args::config::{ConfigArgs, Format, GraphFormat};
use crate::cli::resolve::{print_warnings, Settings};
use crate::compose::load::{self, Loaded};
use crate::compose::types::to_go_json;
use crate::plan;
use anyhow::{bail, Context as _};
use std::io::Write as _;
use std::process::ExitCode;

pub fn run(settings: &Settings, args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    let mut opts = settings.load_options()?;
    opts.no_interpolate = args.no_interpolate;
    opts.no_normalize = args.no_normalize;
    opts.no_resolve_paths = args.no_path_resolution;
    opts.no_consistency = args.no_consistency;
    // Compose hashes services before env_file is resolved.
    opts.no_env_resolution = args.no_env_resolution || args.hash.is_some();
    opts.services = args.services.clone();
    if args.list_profiles {
        // Profiles are listed across every service, enabled or not.
        opts.profiles = vec!["*".into()];
    }
    if args.no_interpolate {
        // Without interpolation the model cannot be typed yet: print it raw.
        let model = load::load_model(&opts).map_err(anyhow::Error::new)?;
        print_warnings(&model.warnings);
        if args.quiet {
            return Ok(ExitCode::SUCCESS);
        }
        let mut json = model.dict.to_json();
        sort_keys(&mut json);
        let out = match args.format {
            Format::Json => {
                serde_json::to_string_pretty(&json).context("serializing the model")? + "\n"
            }
            Format::Yaml => to_yaml(&json),
        };
        return write_output(args, &out);
    }
    let loaded = load::load(&opts).map_err(anyhow::Error::new)?;
    print_warnings(&loaded.warnings);
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let out = render(&loaded, args)?;
    write_output(args, &out)
}

fn write_output(args: &ConfigArgs, out: &str) -> anyhow::Result<ExitCode> {
    match &args.output {
        Some(path) => std::fs::write(path, out.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(out.as_bytes())
                .context("writing to stdout")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn lines(items: impl IntoIterator<Item = String>) -> String {
    let mut s = String::new();
    for i in items {
        s.push_str(&i);
        s.push('\n');
    }
    s
}

fn render(loaded: &Loaded, args: &ConfigArgs) -> anyhow::Result<String> {
    let project = &loaded.project;
    let json = serde_json::to_value(project).context("serializing the project")?;
    let keys = |k: &str| -> Vec<String> {
        let mut v: Vec<String> = json
            .get(k)
            .and_then(|m| m.as_object())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    if args.list_services {
        return Ok(lines(keys("services")));
    }
    if args.list_volumes {
        return Ok(lines(keys("volumes")));
    }
    if args.list_networks {
        return Ok(lines(keys("networks")));
    }
    if args.list_profiles {
        let mut profiles: Vec<String> = json
            .get("services")
            .and_then(|s| s.as_object())
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|s| s.get("profiles").and_then(|p| p.as_array()))
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        profiles.sort();
        profiles.dedup();
        return Ok(lines(profiles));
    }
    if args.list_images {
        let name = json
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        let mut images = Vec::new();
        for svc in keys("services") {
            let image = json["services"][&svc]
                .get("image")
                .and_then(|i| i.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("{name}-{svc}"));
            images.push(image);
        }
        return Ok(lines(images));
    }
    if let Some(which) = &args.hash {
        let all = keys("services");
        let wanted: Vec<String> = if which == "*" {
            all
        } else {
            which.split(',').map(|s| s.trim().to_string()).collect()
        };
        let mut out = Vec::new();
        for svc in wanted {
            let Some(def) = project.services.get(&svc) else {
                bail!("no such service: {svc}");
            };
            out.push(format!("{svc} {}", plan::config_hash(def)));
        }
        return Ok(lines(out));
    }
    if let Some(g) = args.graph {
        let graph = plan::service_graph(project).map_err(anyhow::Error::new)?;
        return Ok(match g {
            GraphFormat::Dot => graph.to_dot(),
            GraphFormat::Mermaid => graph.to_mermaid(),
        });
    }
    let mut json = json;
    sort_extension_values(&mut json);
    if !args.no_interpolate {
        // Interpolation turned `$$` into `$`; print it escaped again so the
        // output loads back to the same project, as Compose does.
        escape_dollars(&mut json);
    }
    match args.format {
        Format::Json => Ok(to_go_json(&json, true).context("serializing the project")? + "\n"),
        Format::Yaml => Ok(to_yaml(&json)),
    }
}

/// `x-*` values are free-form maps, which Go prints with sorted keys.
fn sort_extension_values(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k.starts_with("x-") {
                    sort_keys(child);
                } else {
                    sort_extension_values(child);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(sort_extension_values),
        _ => {}
    }
}

/// Sorted keys, as Go prints maps.
fn sort_keys(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.sort_keys();
            o.values_mut().for_each(sort_keys);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

fn escape_dollars(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        serde_json::Value::Array(a) => a.iter_mut().for_each(escape_dollars),
        serde_json::Value::Object(o) => {
            // Keys are escaped too: they were never interpolated.
            let entries: Vec<(String, serde_json::Value)> = std::mem::take(o)
                .into_iter()
                .map(|(k, mut v)| {
                    escape_dollars(&mut v);
                    (k.replace('$', "$$"), v)
                })
                .collect();
            o.extend(entries);
        }
        _ => {}
    }
}

/// YAML rendering of the JSON model (same content as `--format json`).
pub fn to_yaml(v: &serde_json::Value) -> String {
    use yaml_rust2::{Yaml, YamlEmitter};
    fn conv(v: &serde_json::Value) -> Yaml {
        match v {
            serde_json::Value::Null => Yaml::Null,
            serde_json::Value::Bool(b) => Yaml::Boolean(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Yaml::Integer(i),
                None => Yaml::Real(n.to_string()),
            },
            serde_json::Value::String(s) => Yaml::String(s.clone()),
            serde_json::Value::Array(a) => Yaml::Array(a.iter().map(conv).collect()),
            serde_json::Value::Object(o) => Yaml::Hash(
                o.iter()
                    .map(|(k, v)| (Yaml::String(k.clone()), conv(v)))
                    .collect(),
            ),
        }
    }
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    if emitter.dump(&conv(v)).is_err() {
        return String::new();
    }
    // Drop the leading document marker the emitter writes.
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_string();
    body + "\n"
}
