//! `wharf config`: load, resolve and print the project as Compose does.

use crate::cli::args::config::{ConfigArgs, Format, GraphFormat};
use crate::cli::resolve::{print_warnings, Settings};
use crate::compose::load::{self, Loaded};
use crate::compose::types::to_go_json;
use crate::image::reference::Reference;
use crate::plan;
use anyhow::{bail, Context as _};
use std::collections::HashMap;
use std::io::Write as _;
use std::process::ExitCode;

pub fn run(settings: &Settings, args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    // Compose pins images only when it prints the project: the listing
    // flags ignore both digest flags.
    let listing = args.list_services
        || args.list_volumes
        || args.list_networks
        || args.list_models
        || args.list_profiles
        || args.list_images
        || args.hash.is_some()
        || args.environment
        || args.graph.is_some();
    let pin = (args.resolve_image_digests || args.lock_image_digests) && !listing;
    let mut opts = settings.load_options()?;
    opts.no_interpolate = args.no_interpolate;
    // Compose's config does not normalize in compatibility mode.
    opts.no_normalize = args.no_normalize || settings.compatibility;
    opts.no_resolve_paths = args.no_path_resolution;
    opts.no_consistency = args.no_consistency;
    // Compose hashes services before env_file is resolved.
    opts.no_env_resolution = args.no_env_resolution || args.hash.is_some();
    opts.services = args.services.clone();
    if args.list_profiles {
        // Profiles are listed across every service, enabled or not.
        opts.profiles = vec!["*".into()];
    }
    if args.variables {
        // The variables are read from the model before interpolation.
        opts.no_interpolate = true;
        opts.no_env_resolution = true;
        let model = load::load_model(&opts).map_err(anyhow::Error::new)?;
        print_warnings(&model.warnings);
        let vars = crate::compose::interpolate::extract_variables(&model.dict);
        return write_output(args, &variables_output(&vars, args.format)?);
    }
    if args.no_interpolate {
        // Without interpolation the model cannot be typed yet: print it raw.
        let model = load::load_model(&opts).map_err(anyhow::Error::new)?;
        print_warnings(&model.warnings);
        let mut json = model.dict.to_json();
        // Compose resolves before `-q` is looked at: a digest that cannot
        // be resolved fails the check.
        if pin {
            pin_model_images(settings, &mut json)?;
        }
        if args.quiet {
            return Ok(ExitCode::SUCCESS);
        }
        if args.lock_image_digests && pin {
            json = lock_model(json);
        }
        sort_keys(&mut json);
        let out = match args.format.unwrap_or(Format::Yaml) {
            Format::Json => {
                serde_json::to_string_pretty(&json).context("serializing the model")? + "\n"
            }
            Format::Yaml => to_yaml(&json),
        };
        return write_output(args, &out);
    }
    let mut loaded = load::load(&opts).map_err(anyhow::Error::new)?;
    print_warnings(&loaded.warnings);
    if pin {
        pin_project_images(settings, &mut loaded)?;
        if args.lock_image_digests {
            let out = lock_output(&loaded, args.format.unwrap_or(Format::Yaml))?;
            return if args.quiet {
                Ok(ExitCode::SUCCESS)
            } else {
                write_output(args, &out)
            };
        }
    }
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    if args.environment {
        // Compose prints the interpolation environment sorted, KEY=VALUE.
        let mut env: Vec<String> = loaded
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        env.sort();
        return write_output(args, &lines(env));
    }
    let out = render(&loaded, args)?;
    write_output(args, &out)
}

/// `config --variables`: Compose's table (NAME, REQUIRED, DEFAULT VALUE,
/// ALTERNATE VALUE; its order is Go's map order, ours the names'), or the
/// same map as JSON or YAML with `--format`.
fn variables_output(
    vars: &std::collections::BTreeMap<String, crate::compose::interpolate::Variable>,
    format: Option<Format>,
) -> anyhow::Result<String> {
    let as_json = || -> serde_json::Value {
        serde_json::Value::Object(
            vars.iter()
                .map(|(name, v)| {
                    let mut o = serde_json::Map::new();
                    o.insert("Name".into(), name.clone().into());
                    o.insert("DefaultValue".into(), v.default_value.clone().into());
                    o.insert("PresenceValue".into(), v.presence_value.clone().into());
                    o.insert("Required".into(), v.required.into());
                    (name.clone(), serde_json::Value::Object(o))
                })
                .collect(),
        )
    };
    Ok(match format {
        Some(Format::Json) => {
            // Docker's formatter: four-space indent, then an empty line.
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&as_json(), &mut ser)
                .context("serializing the variables")?;
            String::from_utf8_lossy(&buf).into_owned() + "\n\n"
        }
        Some(Format::Yaml) => {
            // Go's yaml.Marshal of the map: fields lower-cased, four-space
            // indent, its quoting.
            let mut out = String::new();
            for (name, v) in vars {
                let name = go_yaml_scalar(name);
                out.push_str(&format!("{name}:\n    name: {name}\n"));
                out.push_str(&format!(
                    "    defaultvalue: {}\n",
                    go_yaml_scalar(&v.default_value)
                ));
                out.push_str(&format!(
                    "    presencevalue: {}\n",
                    go_yaml_scalar(&v.presence_value)
                ));
                out.push_str(&format!("    required: {}\n", v.required));
            }
            out
        }
        None => {
            let mut rows = vec![vec![
                "NAME".to_string(),
                "REQUIRED".into(),
                "DEFAULT VALUE".into(),
                "ALTERNATE VALUE".into(),
            ]];
            for (name, v) in vars {
                rows.push(vec![
                    name.clone(),
                    v.required.to_string(),
                    v.default_value.clone(),
                    v.presence_value.clone(),
                ]);
            }
            crate::cli::render::go_table(&rows, 20, 3)
        }
    })
}

/// Each image pinned as Compose pins it (compose-go's `WithImagesResolved`
/// with Docker's distribution inspect): the normalised name with its tag
/// and the digest the registry serves for that tag — an index's own digest
/// for a multi-arch image, as `docker pull` records it. A reference that
/// already has a digest keeps the digest alone and is not looked up.
/// Returns the pinned form of each distinct image.
fn pin_images<'a>(
    settings: &Settings,
    images: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<HashMap<String, String>> {
    let mut pinned = HashMap::new();
    let client = super::image::registry_client(settings)?;
    let rt = super::image::runtime()?;
    for image in images {
        if pinned.contains_key(image) {
            continue;
        }
        let reference = Reference::parse(image).with_context(|| format!("image {image:?}"))?;
        let pin = if reference.digest().is_some() {
            reference.without_tag()
        } else {
            let fetched = rt
                .block_on(client.get_manifest(
                    reference.registry(),
                    reference.repository(),
                    &reference.manifest_reference(),
                ))
                // Compose's words, so scripts that match them keep working.
                .with_context(|| format!("failed to resolve digest for {reference}"))?;
            reference.with_digest(fetched.digest)
        };
        pinned.insert(image.to_string(), pin.to_string());
    }
    Ok(pinned)
}

/// `--resolve-image-digests` on the loaded project. Services with no
/// `image:` (build only) are left as they are, as Compose leaves them.
fn pin_project_images(settings: &Settings, loaded: &mut Loaded) -> anyhow::Result<()> {
    let images: Vec<String> = loaded
        .project
        .services
        .values()
        .filter_map(|s| s.image.clone())
        .collect();
    let pinned = pin_images(settings, images.iter().map(String::as_str))?;
    for service in loaded.project.services.values_mut() {
        if let Some(image) = &mut service.image {
            if let Some(p) = pinned.get(image.as_str()) {
                *image = p.clone();
            }
        }
    }
    Ok(())
}

/// `--resolve-image-digests --no-interpolate`: the raw model's
/// `services.*.image` strings pinned (Compose parses them as they are, so
/// an unexpanded `${VAR}` is an invalid reference there as here).
fn pin_model_images(settings: &Settings, model: &mut serde_json::Value) -> anyhow::Result<()> {
    let Some(services) = model.get_mut("services").and_then(|s| s.as_object_mut()) else {
        return Ok(());
    };
    let images: Vec<String> = services
        .values()
        .filter_map(|s| s.get("image").and_then(|i| i.as_str()).map(str::to_string))
        .collect();
    let pinned = pin_images(settings, images.iter().map(String::as_str))?;
    for service in services.values_mut() {
        if let Some(image) = service.get_mut("image") {
            if let Some(p) = image.as_str().and_then(|i| pinned.get(i)) {
                *image = p.clone().into();
            }
        }
    }
    Ok(())
}

/// `--lock-image-digests --no-interpolate`: the model cut down to
/// `services.*.image`.
fn lock_model(model: serde_json::Value) -> serde_json::Value {
    let services = model
        .get("services")
        .and_then(|s| s.as_object())
        .map(|services| {
            services
                .iter()
                .map(|(name, s)| {
                    let mut kept = serde_json::Map::new();
                    if let Some(image) = s.get("image") {
                        kept.insert("image".into(), image.clone());
                    }
                    (name.clone(), serde_json::Value::Object(kept))
                })
                .collect::<serde_json::Map<_, _>>()
        })
        .unwrap_or_default();
    serde_json::json!({ "services": services })
}

/// `--lock-image-digests`: an override file holding each service's pinned
/// image and nothing else (a build-only service is an empty map). Compose
/// prints it from an otherwise empty project, so its JSON form carries the
/// project's empty `name` and each service's `command`/`entrypoint` as null
/// (Go's encoding of those empty fields); the YAML form omits them.
fn lock_output(loaded: &Loaded, format: Format) -> anyhow::Result<String> {
    let json = format == Format::Json;
    let mut services = serde_json::Map::new();
    for (name, service) in &loaded.project.services {
        let mut kept = serde_json::Map::new();
        if json {
            kept.insert("command".into(), serde_json::Value::Null);
            kept.insert("entrypoint".into(), serde_json::Value::Null);
        }
        if let Some(image) = &service.image {
            kept.insert("image".into(), image.clone().into());
        }
        services.insert(name.clone(), serde_json::Value::Object(kept));
    }
    let mut lock = serde_json::Map::new();
    if json {
        lock.insert("name".into(), "".into());
    }
    lock.insert("services".into(), serde_json::Value::Object(services));
    let mut lock = serde_json::Value::Object(lock);
    sort_keys(&mut lock);
    Ok(match format {
        Format::Json => to_go_json(&lock, true).context("serializing the lock file")? + "\n",
        Format::Yaml => to_yaml(&lock),
    })
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
    if args.list_models {
        // Compose prints each model's `model:` (in Go's map order; ours is
        // the keys'), not the keys; models are not in the JSON form.
        let mut models: Vec<(&String, &str)> = project
            .models
            .iter()
            .filter_map(|(k, m)| m.model.as_deref().map(|v| (k, v)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        models.sort();
        return Ok(lines(models.into_iter().map(|(_, v)| v.to_string())));
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
                .unwrap_or_else(|| format!("{name}{}{svc}", project.name_separator()));
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
    match args.format.unwrap_or(Format::Yaml) {
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

/// A string as Go's yaml.v3 writes it: double-quoted when it would read
/// back as another type (YAML 1.1's `y`, `on`, numbers, null) or holds a
/// newline, single-quoted when plain text would not parse (indicators,
/// `: `, ` #`, edge spaces), else plain.
fn go_yaml_scalar(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let other_type = matches!(
        lower.as_str(),
        "" | "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) || s.parse::<f64>().is_ok()
        || s.parse::<i64>().is_ok()
        || lower.starts_with("0x")
        || matches!(lower.as_str(), ".inf" | "-.inf" | "+.inf" | ".nan");
    if other_type || s.contains('\n') {
        return serde_json::Value::String(s.to_string()).to_string();
    }
    let first = s.chars().next().unwrap_or(' ');
    let plain = !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains('\t');
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::go_yaml_scalar;

    #[test]
    fn yaml_scalars_are_quoted_as_go_yaml_quotes_them() {
        // Recorded from `docker compose config --variables --format yaml`.
        for (value, want) in [
            ("", "\"\""),
            ("8080", "\"8080\""),
            ("1.5", "\"1.5\""),
            ("true", "\"true\""),
            ("Y", "\"Y\""),
            ("latest", "latest"),
            ("${INNER:-x}", "${INNER:-x}"),
            ("a: b", "'a: b'"),
            (" lead", "' lead'"),
        ] {
            assert_eq!(go_yaml_scalar(value), want, "{value:?}");
        }
    }
}
