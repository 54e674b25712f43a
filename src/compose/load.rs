//! The loader pipeline: which files, which environment, which project name,
//! then per file parse → interpolate → extends → include → merge → schema →
//! canonical forms, and finally defaults, checks, paths and normalization.
//!
//! The phase order follows compose-go (Docker Compose v2), because several
//! observable results depend on it: e.g. the schema is checked on the merged
//! document after each file, and relative paths resolve after all merges.

use super::env;
use super::error::LoadError;
use super::interpolate;
use super::merge;
use super::normalize;
use super::types::Project;
use super::yaml::{self, Mapping, Node, Pos, Value};
use super::{canonical, convert, extends, paths, schema};
use indexmap::IndexMap;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Names looked for when no `-f` is given, in order of preference.
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
/// Override files picked up next to the discovered main file.
pub const DEFAULT_OVERRIDE_FILE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// What the user asked for, already parsed from flags and the process
/// environment; nothing here has touched the file system yet.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-f` values in order; `-` is standard input.
    pub files: Vec<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    /// Process environment (tests pass their own).
    pub os_env: IndexMap<String, String>,
    /// The directory the command runs in.
    pub cwd: PathBuf,
    /// Content for `-f -`.
    pub stdin: Option<String>,
    pub no_interpolate: bool,
    pub no_normalize: bool,
    pub no_resolve_paths: bool,
    pub no_consistency: bool,
    /// Keep `env_file` as written instead of folding it into `environment`.
    pub no_env_resolution: bool,
    /// Services named on the command line (`config web db`).
    pub services: Vec<String>,
    /// `--all-resources`: keep networks, volumes, secrets, configs and
    /// models no service uses.
    pub all_resources: bool,
    /// `--compatibility`: Compose v1's `_` in the names of containers and
    /// built images (see [`Project::name_separator`]).
    pub compatibility: bool,
}

/// A loaded project plus what the user should be told about it.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub project: Project,
    /// The canonical model the project was decoded from.
    pub model: Node,
    /// Warnings in the order Compose prints them.
    pub warnings: Vec<String>,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub environment: IndexMap<String, String>,
}

/// Everything fixed before the files are read.
struct Context {
    env: IndexMap<String, String>,
    working_dir: PathBuf,
    files: Vec<ConfigFile>,
    project_name: String,
    profiles: Vec<String>,
    warnings: Vec<String>,
}

#[derive(Clone, Debug)]
struct ConfigFile {
    /// Absolute path, or `-` for stdin.
    path: PathBuf,
    /// What error messages call it.
    display: String,
    content: String,
}

/// `NormalizeProjectName`: lower-case, keep `[a-z0-9_-]`, trim leading `_`/`-`.
pub fn normalize_project_name(s: &str) -> String {
    let lowered = s.to_lowercase();
    let kept: String = lowered
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

fn invalid_project_name(name: &str) -> LoadError {
    LoadError::Project(format!(
        "invalid project name {name:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
    ))
}

/// Reads dotenv files into `env` without overriding what is already set
/// (the process environment always wins, as in Compose).
fn merge_env_files(env: &mut IndexMap<String, String>, files: &[PathBuf]) -> Result<(), LoadError> {
    let mut from_files: IndexMap<String, String> = IndexMap::new();
    for f in files {
        let snapshot = env.clone();
        let acc = from_files.clone();
        let lookup = move |k: &str| snapshot.get(k).or_else(|| acc.get(k)).cloned();
        let vars = env::read_env_file(f, &lookup)?;
        for (k, v) in vars {
            from_files.insert(k, v);
        }
    }
    for (k, v) in from_files {
        env.entry(k).or_insert(v);
    }
    Ok(())
}

impl Context {
    fn working_dir_guess(opts: &LoadOptions, files: &[String]) -> PathBuf {
        if let Some(d) = &opts.project_directory {
            return paths::resolve(&opts.cwd, d);
        }
        for f in files {
            if f != "-" {
                let abs = paths::resolve(&opts.cwd, Path::new(f));
                return abs.parent().map(Path::to_path_buf).unwrap_or(abs);
            }
        }
        opts.cwd.clone()
    }

    fn default_env_files(opts: &LoadOptions, wd: &Path) -> Vec<PathBuf> {
        if !opts.env_files.is_empty() {
            return opts
                .env_files
                .iter()
                .map(|f| paths::resolve(&opts.cwd, f))
                .collect();
        }
        if let Some(v) = opts.os_env.get("COMPOSE_DISABLE_ENV_FILE") {
            if matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True") {
                return Vec::new();
            }
        }
        let dotenv = wd.join(".env");
        if dotenv.is_file() {
            vec![dotenv]
        } else {
            Vec::new()
        }
    }

    fn new(opts: &LoadOptions) -> Result<Context, LoadError> {
        let mut warnings = Vec::new();
        let mut env = opts.os_env.clone();
        env.entry("PWD".into())
            .or_insert_with(|| opts.cwd.display().to_string());
        for f in &opts.env_files {
            let p = paths::resolve(&opts.cwd, f);
            if !p.exists() {
                return Err(LoadError::Project(format!(
                    "couldn't find env file: {}",
                    p.display()
                )));
            }
        }

        // .env of the first guess at the project directory may set COMPOSE_FILE.
        let mut files = opts.files.clone();
        let wd = Self::working_dir_guess(opts, &files);
        merge_env_files(&mut env, &Self::default_env_files(opts, &wd))?;

        if files.is_empty() {
            if let Some(list) = env.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
                let sep = env
                    .get("COMPOSE_PATH_SEPARATOR")
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or_else(|| ":".into());
                for f in list.split(sep.as_str()) {
                    let abs = paths::resolve(&opts.cwd, Path::new(f));
                    if !abs.exists() {
                        return Err(LoadError::Project(format!(
                            "stat {}: no such file or directory",
                            abs.display()
                        )));
                    }
                    files.push(abs.display().to_string());
                }
            }
        }
        if files.is_empty() {
            let start = Self::working_dir_guess(opts, &files);
            let mut dir = Some(start.as_path());
            while let Some(d) = dir {
                let found: Vec<PathBuf> = DEFAULT_FILE_NAMES
                    .iter()
                    .map(|n| d.join(n))
                    .filter(|p| p.exists())
                    .collect();
                if let Some(winner) = found.first() {
                    if found.len() > 1 {
                        warnings.push(format!(
                            "Found multiple config files with supported names: {}",
                            join_paths(&found)
                        ));
                        warnings.push(format!("Using {}", winner.display()));
                    }
                    files.push(winner.display().to_string());
                    let overrides: Vec<PathBuf> = DEFAULT_OVERRIDE_FILE_NAMES
                        .iter()
                        .map(|n| d.join(n))
                        .filter(|p| p.exists())
                        .collect();
                    if let Some(o) = overrides.first() {
                        if overrides.len() > 1 {
                            warnings.push(format!(
                                "Found multiple override files with supported names: {}",
                                join_paths(&overrides)
                            ));
                            warnings.push(format!("Using {}", o.display()));
                        }
                        files.push(o.display().to_string());
                    }
                    break;
                }
                dir = d.parent();
            }
        }
        if files.is_empty() {
            return Err(LoadError::NoConfigFile {
                dir: Self::working_dir_guess(opts, &files),
            });
        }

        // The project directory may have moved with discovery: read its .env too.
        let working_dir = Self::working_dir_guess(opts, &files);
        merge_env_files(&mut env, &Self::default_env_files(opts, &working_dir))?;

        let mut profiles = opts.profiles.clone();
        if profiles.is_empty() {
            if let Some(p) = env.get("COMPOSE_PROFILES") {
                profiles = p
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
        }

        let mut config_files = Vec::new();
        for f in &files {
            if f == "-" {
                config_files.push(ConfigFile {
                    path: PathBuf::from("-"),
                    display: "-".into(),
                    content: opts.stdin.clone().unwrap_or_default(),
                });
                continue;
            }
            let abs = paths::resolve(&opts.cwd, Path::new(f));
            let content = std::fs::read_to_string(&abs).map_err(|source| LoadError::Io {
                path: abs.clone(),
                source,
            })?;
            config_files.push(ConfigFile {
                display: abs.display().to_string(),
                path: abs,
                content,
            });
        }

        let mut ctx = Context {
            env,
            working_dir,
            files: config_files,
            project_name: String::new(),
            profiles,
            warnings,
        };
        ctx.project_name = ctx.resolve_project_name(opts)?;
        ctx.env
            .insert("COMPOSE_PROJECT_NAME".into(), ctx.project_name.clone());
        Ok(ctx)
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |k: &str| self.env.get(k).cloned()
    }

    /// `-p`, then COMPOSE_PROJECT_NAME, then `name:` in the files, then the
    /// project directory's name.
    fn resolve_project_name(&self, opts: &LoadOptions) -> Result<String, LoadError> {
        if let Some(n) = &opts.project_name {
            if !n.is_empty() {
                if normalize_project_name(n) != *n {
                    return Err(invalid_project_name(n));
                }
                return Ok(n.clone());
            }
        }
        if let Some(n) = self
            .env
            .get("COMPOSE_PROJECT_NAME")
            .filter(|n| !n.is_empty())
        {
            if normalize_project_name(n) != *n {
                return Err(invalid_project_name(n));
            }
            return Ok(n.clone());
        }
        let mut from_yaml = String::new();
        for f in &self.files {
            // Errors surface later with full context; here a bad file just has no name.
            if let Ok(docs) = yaml::parse_documents(&f.content, &f.display) {
                for d in docs {
                    if let Some(n) = d.get("name").and_then(Node::scalar_string) {
                        if !n.is_empty() {
                            from_yaml = n;
                        }
                    }
                }
            }
        }
        if !from_yaml.is_empty() {
            if !opts.no_interpolate {
                let lookup = self.lookup();
                from_yaml = interpolate::substitute(&from_yaml, &lookup)
                    .map_err(|e| LoadError::Project(e.to_string()))?
                    .value;
            }
            let n = if opts.no_normalize {
                from_yaml
            } else {
                normalize_project_name(&from_yaml)
            };
            if !n.is_empty() {
                return Ok(n);
            }
        }
        let base = self
            .working_dir
            .file_name()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let n = normalize_project_name(&base);
        if n.is_empty() {
            return Err(LoadError::Project("project name must not be empty".into()));
        }
        Ok(n)
    }
}

fn join_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per-load state shared by nested includes.
struct Loader<'a> {
    opts: &'a LoadOptions,
    unset: BTreeSet<String>,
    warnings: Vec<String>,
}

impl Loader<'_> {
    /// Loads and merges a list of files (the top level, or one `include`).
    fn load_files(
        &mut self,
        files: &[ConfigFile],
        working_dir: &Path,
        env: &IndexMap<String, String>,
        included: &[PathBuf],
    ) -> Result<Node, LoadError> {
        let mut dict = Node::synthetic(Value::Map(Mapping::new()));
        for file in files {
            let docs = yaml::parse_documents(&file.content, &file.display)?;
            if docs.is_empty() {
                return Err(LoadError::Project(format!(
                    "{}: empty compose file",
                    file.display
                )));
            }
            for doc in docs {
                if doc.is_null() {
                    continue;
                }
                dict = self.load_document(dict, doc, file, working_dir, env, included)?;
            }
        }
        Ok(dict)
    }

    fn load_document(
        &mut self,
        dict: Node,
        mut doc: Node,
        file: &ConfigFile,
        working_dir: &Path,
        env: &IndexMap<String, String>,
        included: &[PathBuf],
    ) -> Result<Node, LoadError> {
        if doc.as_map().is_none() {
            return Err(LoadError::invalid(
                &doc.pos,
                "",
                "top-level object must be a mapping",
            ));
        }
        let lookup = |k: &str| env.get(k).cloned();
        if !self.opts.no_interpolate {
            let unset = interpolate::interpolate_node(&mut doc, &lookup)?;
            self.unset.extend(unset);
        }
        // Extended services from other files are parsed and interpolated the same way.
        let no_interpolate = self.opts.no_interpolate;
        let mut load_other = |p: &Path| -> Result<Node, LoadError> {
            let content = std::fs::read_to_string(p).map_err(|source| LoadError::Io {
                path: p.to_path_buf(),
                source,
            })?;
            let mut n = yaml::parse(&content, &p.display().to_string())?;
            if !no_interpolate {
                interpolate::interpolate_node(&mut n, &lookup)?;
            }
            Ok(n)
        };
        let file_path = if file.path.as_os_str() == "-" {
            working_dir.join("-")
        } else {
            file.path.clone()
        };
        extends::resolve_extends(
            &mut doc,
            &file_path,
            working_dir,
            home_dir(env).as_deref(),
            &mut load_other,
        )?;

        let mut included_here = included.to_vec();
        included_here.push(file_path.clone());
        self.apply_include(&mut doc, working_dir, env, &included_here)?;

        let mut merged = merge::merge(dict, doc)?;
        schema::validate(&merged).map_err(|e| prefix_validating(e, &file.display))?;
        if let Some(m) = merged.as_map_mut() {
            if m.shift_remove("version").is_some() {
                self.warnings.push(format!(
                    "{}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion",
                    file.display
                ));
            }
        }
        if self.opts.no_interpolate {
            // Unexpanded `${...}` may stand where a port or size will be.
            canonical::canonicalize_lenient(&mut merged);
        } else {
            canonical::canonicalize(&mut merged)?;
            convert::convert(&mut merged)?;
        }
        normalize::omit_empty(&mut merged);
        // Canonical forms reveal duplicates (a port range against one port).
        merge::enforce_unicity(&mut merged)?;
        Ok(merged)
    }

    fn apply_include(
        &mut self,
        doc: &mut Node,
        working_dir: &Path,
        env: &IndexMap<String, String>,
        included: &[PathBuf],
    ) -> Result<(), LoadError> {
        let Some(include) = doc.as_map_mut().and_then(|m| m.shift_remove("include")) else {
            return Ok(());
        };
        let Some(entries) = include.as_seq() else {
            return Err(LoadError::invalid(
                &include.pos,
                "include",
                "`include` must be a list",
            ));
        };
        for (i, entry) in entries.iter().enumerate() {
            let key = format!("include[{i}]");
            let (path_nodes, project_dir, env_file): (Vec<Node>, Option<String>, Vec<Node>) =
                match &entry.value {
                    Value::Str(_) => (vec![entry.clone()], None, Vec::new()),
                    Value::Map(m) => {
                        let paths = match m.get("path").map(|p| &p.value) {
                            Some(Value::Seq(s)) => s.clone(),
                            Some(Value::Str(_)) => vec![m["path"].clone()],
                            _ => {
                                return Err(LoadError::invalid(
                                    &entry.pos,
                                    format!("{key}.path"),
                                    "include requires a path",
                                ))
                            }
                        };
                        let envs = match m.get("env_file").map(|p| &p.value) {
                            Some(Value::Seq(s)) => s.clone(),
                            Some(Value::Str(_)) => vec![m["env_file"].clone()],
                            _ => Vec::new(),
                        };
                        (
                            paths,
                            m.get("project_directory").and_then(Node::scalar_string),
                            envs,
                        )
                    }
                    _ => {
                        return Err(LoadError::invalid(
                            &entry.pos,
                            key,
                            "include entries must be a string or a mapping",
                        ))
                    }
                };
            let mut files = Vec::new();
            let mut first_dir = None;
            for p in &path_nodes {
                let Some(s) = p.scalar_string() else {
                    return Err(LoadError::invalid(
                        &p.pos,
                        &key,
                        "include path must be a string",
                    ));
                };
                let abs = paths::resolve(working_dir, Path::new(&s));
                if first_dir.is_none() {
                    first_dir = abs.parent().map(Path::to_path_buf);
                    if included.contains(&abs) {
                        let mut chain: Vec<String> =
                            included.iter().map(|p| p.display().to_string()).collect();
                        chain.push(abs.display().to_string());
                        return Err(LoadError::Project(format!(
                            "include cycle detected:\n{}\n include {}",
                            chain[0],
                            chain[1..].join("\n include ")
                        )));
                    }
                }
                let content = std::fs::read_to_string(&abs).map_err(|e| LoadError::Invalid {
                    pos: p.pos.clone(),
                    path: key.clone(),
                    msg: format!("{}: {e}", abs.display()),
                })?;
                files.push(ConfigFile {
                    display: abs.display().to_string(),
                    path: abs,
                    content,
                });
            }
            let project_dir = match project_dir {
                Some(d) => paths::resolve(working_dir, Path::new(&d)),
                None => first_dir.unwrap_or_else(|| working_dir.to_path_buf()),
            };
            let mut env_files = Vec::new();
            if env_file.is_empty() {
                let f = project_dir.join(".env");
                if f.is_file() {
                    env_files.push(f);
                }
            } else {
                for f in &env_file {
                    let s = f.scalar_string().unwrap_or_default();
                    if s == "/dev/null" {
                        continue;
                    }
                    let abs = paths::resolve(working_dir, Path::new(&s));
                    if !abs.is_file() {
                        return Err(LoadError::invalid(
                            &f.pos,
                            format!("{key}.env_file"),
                            format!("stat {}: no such file or directory", abs.display()),
                        ));
                    }
                    env_files.push(abs);
                }
            }
            let mut inc_env = env.clone();
            merge_env_files(&mut inc_env, &env_files)?;
            let mut imported = self.load_files(&files, &project_dir, &inc_env, included)?;
            if !self.opts.no_resolve_paths {
                paths::resolve_relative_paths(
                    &mut imported,
                    &project_dir,
                    home_dir(env).as_deref(),
                )?;
            }
            import_resources(doc, imported)?;
        }
        Ok(())
    }
}

fn prefix_validating(e: LoadError, file: &str) -> LoadError {
    match e {
        LoadError::Invalid { pos, path, msg } if pos.file.is_empty() => LoadError::Invalid {
            pos: Pos {
                file: file.into(),
                line: pos.line,
            },
            path,
            msg,
        },
        other => other,
    }
}

/// Adds the resources an included project defines; redefining one is an
/// error unless both definitions are identical (a diamond include).
fn import_resources(target: &mut Node, imported: Node) -> Result<(), LoadError> {
    let Value::Map(mut src) = imported.value else {
        return Ok(());
    };
    let Some(dst) = target.as_map_mut() else {
        return Ok(());
    };
    for key in [
        "services", "volumes", "networks", "secrets", "configs", "models",
    ] {
        let Some(from) = src.shift_remove(key) else {
            continue;
        };
        let Value::Map(from) = from.value else {
            continue;
        };
        let to = dst
            .entry(key.to_string())
            .or_insert_with(|| Node::synthetic(Value::Map(Mapping::new())));
        if to.is_null() {
            to.value = Value::Map(Mapping::new());
        }
        let Some(to) = to.as_map_mut() else {
            continue;
        };
        for (name, def) in from {
            match to.get(&name) {
                None => {
                    to.insert(name, def);
                }
                Some(existing) if existing.to_json() == def.to_json() => {}
                Some(existing) => {
                    return Err(LoadError::invalid(
                        &existing.pos,
                        format!("{key}.{name}"),
                        "conflicts with imported resource",
                    ));
                }
            }
        }
    }
    Ok(())
}

fn home_dir(env: &IndexMap<String, String>) -> Option<PathBuf> {
    env.get("HOME").map(PathBuf::from)
}

/// The merged model before the project-level steps (profiles, env_file,
/// unused resources, typed decode): what `config --no-interpolate` prints.
#[derive(Debug)]
pub struct Model {
    pub dict: Node,
    pub project_name: String,
    pub profiles: Vec<String>,
    pub warnings: Vec<String>,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    pub environment: IndexMap<String, String>,
}

/// Reads, merges, checks and normalizes the files into one model.
pub fn load_model(opts: &LoadOptions) -> Result<Model, LoadError> {
    let mut ctx = Context::new(opts)?;
    let mut loader = Loader {
        opts,
        unset: BTreeSet::new(),
        warnings: Vec::new(),
    };
    let files = ctx.files.clone();
    let mut dict = loader.load_files(&files, &ctx.working_dir, &ctx.env, &[])?;

    for var in &loader.unset {
        ctx.warnings.push(format!(
            "The \"{var}\" variable is not set. Defaulting to a blank string."
        ));
    }
    ctx.warnings.append(&mut loader.warnings);

    if dict.as_map().is_none_or(|m| m.is_empty()) {
        return Err(LoadError::Project("empty compose file".into()));
    }
    normalize::set_default_values(&mut dict);
    normalize::validate_semantics(&dict)?;
    if !opts.no_resolve_paths {
        paths::resolve_relative_paths(&mut dict, &ctx.working_dir, home_dir(&ctx.env).as_deref())?;
    }
    if !opts.no_normalize {
        if let Some(m) = dict.as_map_mut() {
            m.insert("name".into(), Node::str(ctx.project_name.clone()));
        }
        normalize::normalize(&mut dict, &ctx.env);
    }
    Ok(Model {
        dict,
        project_name: ctx.project_name,
        profiles: ctx.profiles,
        warnings: ctx.warnings,
        working_dir: ctx.working_dir,
        config_files: ctx.files.iter().map(|f| f.path.clone()).collect(),
        environment: ctx.env,
    })
}

/// Compose's `utils.StringToBool`: Go's `strconv.ParseBool` truths after
/// trimming and lowercasing, and `y`.
fn compose_bool(value: &str) -> bool {
    matches!(
        value.trim().to_lowercase().as_str(),
        "1" | "t" | "true" | "y"
    )
}

/// Loads a project the way `docker compose` does.
pub fn load(opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let m = load_model(opts)?;
    let model = normalize::finish(
        m.dict,
        &normalize::Finish {
            project_name: &m.project_name,
            env: &m.environment,
            profiles: &m.profiles,
            selected: &opts.services,
            consistency: !opts.no_consistency,
            resolve_env_files: !opts.no_env_resolution,
            keep_unused_resources: opts.all_resources,
            working_dir: &m.working_dir,
        },
    )?;
    let mut project = decode_project(&model)?;
    // Compose reads COMPOSE_COMPATIBILITY from the project's environment,
    // its `.env` file included, not only from the process's.
    project.compatibility = opts.compatibility
        || m.environment
            .get("COMPOSE_COMPATIBILITY")
            .is_some_and(|v| compose_bool(v));
    Ok(Loaded {
        project,
        model,
        warnings: m.warnings,
        working_dir: m.working_dir,
        config_files: m.config_files,
        environment: m.environment,
    })
}

/// Typed decode of the canonical model; errors point back into the YAML.
pub fn decode_project(model: &Node) -> Result<Project, LoadError> {
    Project::from_value(model.to_json()).map_err(|e| {
        let pos = model.find(&e.path).pos.clone();
        e.into_load_error(&pos)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_comes_from_the_flag_or_the_projects_environment() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("compose.yaml"),
            "services:\n  web:\n    image: busybox\n",
        )
        .expect("write");
        let opts = LoadOptions {
            cwd: dir.path().to_path_buf(),
            ..LoadOptions::default()
        };
        let compatible = |opts: &LoadOptions| load(opts).expect("load").project.compatibility;
        assert!(!compatible(&opts));
        assert!(compatible(&LoadOptions {
            compatibility: true,
            ..opts.clone()
        }));
        // Compose's StringToBool: ` Y ` counts, `yes` does not.
        for (value, want) in [(" Y ", true), ("TRUE", true), ("yes", false), ("0", false)] {
            std::fs::write(
                dir.path().join(".env"),
                format!("COMPOSE_COMPATIBILITY='{value}'\n"),
            )
            .expect("write .env");
            assert_eq!(compatible(&opts), want, "{value:?}");
        }
    }
}
