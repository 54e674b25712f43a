//! A service's `build:` section becomes a [`BuildSpec`] here: every key is
//! applied, or refused (or, where leaving it out cannot change the image,
//! warned about) with the file, line and key that set it. Pure: nothing is
//! read from disk; the caller reads the Dockerfile and runs the build.
//! Which services build together, and which builds are the same one
//! ([`build_jobs`]), is decided here too.

use crate::build::builder::Secret;
use crate::build::dockerfile::RunNetwork;
use crate::compose::types::{BuildConfig, Project, ServiceConfig};
use crate::compose::yaml::{Node, Pos, Value};
use crate::plan::container::{image_name, SpecError};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BuildPlanError {
    /// A key wharf cannot apply (yet), or a value it cannot take.
    #[error("{}{key}: {message}", located(pos))]
    Refused {
        pos: Pos,
        key: String,
        message: String,
    },
    #[error("service {service:?} has no build section")]
    NoBuild { service: String },
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// `file:line: ` when the position is known.
fn located(pos: &Pos) -> String {
    if pos.file.is_empty() {
        String::new()
    } else {
        format!("{pos}: ")
    }
}

/// Where the Dockerfile comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DockerfileSource {
    /// `dockerfile:` (default `Dockerfile`), resolved against the context.
    File(PathBuf),
    /// `dockerfile_inline:`.
    Inline(String),
}

/// A named context of a build (`additional_contexts`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdditionalContext {
    /// A local directory (the loader made it absolute).
    Dir(PathBuf),
    /// `docker-image://REF`.
    Image(String),
    /// `service:NAME`: the image of that service's build, built first.
    Service { service: String, image: String },
}

/// One image build, as the build module's request needs it (the caller
/// parses the Dockerfile and adds the host's platform).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildSpec {
    pub context: PathBuf,
    pub dockerfile: DockerfileSource,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    /// The service's image name first, then `build.tags`.
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub network: RunNetwork,
    pub shm_size: Option<u64>,
    pub extra_hosts: Vec<(String, String)>,
    pub secrets: BTreeMap<String, Secret>,
    pub no_cache: bool,
    /// Pull the base images even when the store has them.
    pub pull: bool,
    /// `additional_contexts`, by name as written.
    pub additional_contexts: BTreeMap<String, AdditionalContext>,
    /// `ssh`, as `wharf build --ssh` takes it: `ID` or `ID=PATH` (the
    /// loader made paths absolute).
    pub ssh: Vec<String>,
    /// `cache_from`, as `wharf build --cache-from` takes it.
    pub cache_from: Vec<String>,
}

/// A service's build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceBuild {
    pub service: String,
    /// The image its containers run (`image:`, or `<project>-<service>`).
    pub image: String,
    pub spec: BuildSpec,
    /// Keys left out because they cannot change the image (`cache_from`…),
    /// as `file:line: key: why`.
    pub warnings: Vec<String>,
}

/// What the command line adds to every build (`build --no-cache --pull
/// --build-arg`, `up --build`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildOverrides {
    pub no_cache: bool,
    pub pull: bool,
    /// `--build-arg`: over the compose file's `args`.
    pub build_args: BTreeMap<String, String>,
}

/// The position of the deepest node of `path` the model has a line for
/// (the short form `build: ./dir` has no node for `context`).
fn position(model: &Node, path: &[&str]) -> Pos {
    let mut pos = model.pos.clone();
    let mut cur = model;
    for seg in path {
        let next = match &cur.value {
            Value::Map(m) => m.get(*seg),
            Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        let Some(n) = next else { break };
        if n.pos.line > 0 {
            pos = n.pos.clone();
        }
        cur = n;
    }
    pos
}

/// The build of `service`: its `build:` section checked key by key.
/// `native` says whether a platform string names this machine's platform.
pub fn service_build(
    project: &Project,
    model: &Node,
    service: &ServiceConfig,
    overrides: &BuildOverrides,
    native: &dyn Fn(&str) -> bool,
) -> Result<ServiceBuild, BuildPlanError> {
    let name = service.name.as_str();
    let Some(b) = &service.build else {
        return Err(BuildPlanError::NoBuild {
            service: name.to_string(),
        });
    };
    let key = |k: &str| format!("services.{name}.build.{k}");
    let refuse = |k: &str, message: String| BuildPlanError::Refused {
        pos: position(model, &["services", name, "build", k]),
        key: key(k),
        message,
    };
    let mut warnings = Vec::new();
    let mut warn = |k: &str, message: &str| {
        let pos = position(model, &["services", name, "build", k]);
        warnings.push(format!("{}{}: {message}", located(&pos), key(k)));
    };
    refuse_unsupported(b, &refuse)?;
    if !b.cache_to.is_empty() {
        warn(
            "cache_to",
            "ignored: wharf's own build cache is used (exporting it is not supported yet)",
        );
    }
    for (k, set) in [("provenance", &b.provenance), ("sbom", &b.sbom)] {
        if set.as_deref().is_some_and(|v| v != "false") {
            warn(k, "ignored: wharf does not produce attestations");
        }
    }

    let context_text = b.context.as_deref().unwrap_or(".");
    if crate::compose::paths::is_remote_context(context_text) {
        return Err(refuse(
            "context",
            format!("{context_text:?}: a remote (git, URL or service:) build context is not supported yet"),
        ));
    }
    let context = PathBuf::from(context_text);
    let dockerfile = match (&b.dockerfile_inline, &b.dockerfile) {
        (Some(text), _) => DockerfileSource::Inline(text.clone()),
        (None, Some(f)) => DockerfileSource::File(context.join(f)),
        (None, None) => DockerfileSource::File(context.join("Dockerfile")),
    };

    for p in &b.platforms {
        if !native(p) {
            return Err(refuse(
                "platforms",
                format!("{p:?}: only the native platform can be built"),
            ));
        }
    }
    let network = match b.network.as_deref() {
        None | Some("" | "default" | "bridge") => RunNetwork::Default,
        Some("none") => RunNetwork::None,
        Some("host") => RunNetwork::Host,
        Some(other) => {
            return Err(refuse(
                "network",
                format!("{other:?} is not supported yet (default, none or host)"),
            ))
        }
    };
    let shm_size = match &b.shm_size {
        Some(s) => Some(
            u64::try_from(s.0).map_err(|_| refuse("shm_size", format!("{} is not a size", s.0)))?,
        ),
        None => None,
    };
    let mut extra_hosts = Vec::new();
    for (host, ips) in b.extra_hosts.iter() {
        for ip in ips {
            extra_hosts.push((host.clone(), ip.clone()));
        }
    }

    let mut secrets = BTreeMap::new();
    for (i, s) in b.secrets.iter().enumerate() {
        let index = i.to_string();
        let refuse_secret = |message: String| BuildPlanError::Refused {
            pos: position(model, &["services", name, "build", "secrets", &index]),
            key: format!("{}[{i}]", key("secrets")),
            message,
        };
        if s.uid.is_some() || s.gid.is_some() || s.mode.is_some() {
            // RUN --mount=type=secret sets these per step, as BuildKit does.
            return Err(refuse_secret(
                "uid, gid and mode of a build secret are not supported (set them on RUN --mount=type=secret)".into(),
            ));
        }
        let Some(top) = project.secrets.get(&s.source) else {
            return Err(refuse_secret(format!(
                "refers to undefined build secret {}",
                s.source
            )));
        };
        let secret = match (&top.file, &top.environment) {
            (Some(f), _) if !f.is_empty() => Secret::File(PathBuf::from(f)),
            (_, Some(e)) if !e.is_empty() => Secret::Env(e.clone()),
            _ => {
                return Err(refuse_secret(format!(
                    "secret {:?}: only `file` and `environment` secrets can be used in a build",
                    s.source
                )))
            }
        };
        // Compose names the secret by its target when it has one.
        let id = s.target.clone().unwrap_or_else(|| s.source.clone());
        secrets.insert(id, secret);
    }

    let mut additional_contexts = BTreeMap::new();
    for (n, value) in &b.additional_contexts {
        let refuse_context = |message: String| BuildPlanError::Refused {
            pos: position(
                model,
                &["services", name, "build", "additional_contexts", n],
            ),
            key: format!("{}.{n}", key("additional_contexts")),
            message,
        };
        let context = if let Some(image) = value.strip_prefix("docker-image://") {
            AdditionalContext::Image(image.to_string())
        } else if let Some(target) = value.strip_prefix("service:") {
            // The loader checked that the service exists and builds.
            let Some(svc) = project.services.get(target) else {
                return Err(refuse_context(format!("unknown service {target:?}")));
            };
            AdditionalContext::Service {
                service: target.to_string(),
                image: image_name(project, svc)?,
            }
        } else if crate::compose::paths::is_remote_context(value) {
            return Err(refuse_context(format!(
                "{value:?}: only a local directory, docker-image://REF or service:NAME is supported yet"
            )));
        } else {
            AdditionalContext::Dir(PathBuf::from(value))
        };
        additional_contexts.insert(n.clone(), context);
    }

    let mut build_args: BTreeMap<String, String> = b
        .args
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .collect();
    build_args.extend(overrides.build_args.clone());

    let image = image_name(project, service)?;
    let mut tags = vec![image.clone()];
    for t in &b.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    Ok(ServiceBuild {
        service: name.to_string(),
        image,
        spec: BuildSpec {
            context,
            dockerfile,
            build_args,
            target: b.target.clone().filter(|t| !t.is_empty()),
            tags,
            labels: b
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            network,
            shm_size,
            extra_hosts,
            secrets,
            no_cache: b.no_cache || overrides.no_cache,
            pull: b.pull || overrides.pull,
            additional_contexts,
            ssh: b
                .ssh
                .iter()
                .map(|k| match &k.path {
                    Some(p) => format!("{}={p}", k.id),
                    None => k.id.clone(),
                })
                .collect(),
            cache_from: b.cache_from.clone(),
        },
        warnings,
    })
}

/// Keys the executor cannot apply yet: refused, never dropped.
fn refuse_unsupported(
    b: &BuildConfig,
    refuse: &dyn Fn(&str, String) -> BuildPlanError,
) -> Result<(), BuildPlanError> {
    let not_yet = |k: &str| Err(refuse(k, "not supported yet".to_string()));
    if !b.entitlements.is_empty() {
        return not_yet("entitlements");
    }
    if !b.ulimits.is_empty() {
        return not_yet("ulimits");
    }
    if b.privileged {
        return not_yet("privileged");
    }
    if let Some(i) = b.isolation.as_deref().filter(|i| *i != "default") {
        return Err(refuse(
            "isolation",
            format!("{i:?} is not supported (Windows only)"),
        ));
    }
    Ok(())
}

/// The builds of the `selected` services that have a `build:` section, in
/// that order, each after the builds its `service:` contexts name (which
/// are added when not selected, as Compose does).
pub fn service_builds(
    project: &Project,
    model: &Node,
    selected: &[String],
    overrides: &BuildOverrides,
    native: &dyn Fn(&str) -> bool,
) -> Result<Vec<ServiceBuild>, BuildPlanError> {
    let mut out: Vec<ServiceBuild> = Vec::new();
    // Depth-first: a service's context services first; `visiting` stops a cycle.
    fn add(
        name: &str,
        project: &Project,
        model: &Node,
        overrides: &BuildOverrides,
        native: &dyn Fn(&str) -> bool,
        visiting: &mut Vec<String>,
        out: &mut Vec<ServiceBuild>,
    ) -> Result<(), BuildPlanError> {
        if out.iter().any(|b| b.service == name) {
            return Ok(());
        }
        let Some(svc) = project.services.get(name) else {
            return Ok(());
        };
        if svc.build.is_none() {
            return Ok(());
        }
        if visiting.iter().any(|v| v == name) {
            return Err(BuildPlanError::Refused {
                pos: position(model, &["services", name, "build", "additional_contexts"]),
                key: format!("services.{name}.build.additional_contexts"),
                message: format!(
                    "service: contexts form a cycle ({} -> {name})",
                    visiting.join(" -> ")
                ),
            });
        }
        let build = service_build(project, model, svc, overrides, native)?;
        visiting.push(name.to_string());
        for c in build.spec.additional_contexts.values() {
            if let AdditionalContext::Service { service, .. } = c {
                add(service, project, model, overrides, native, visiting, out)?;
            }
        }
        visiting.pop();
        out.push(build);
        Ok(())
    }
    for name in selected {
        add(
            name,
            project,
            model,
            overrides,
            native,
            &mut Vec::new(),
            &mut out,
        )?;
    }
    Ok(out)
}

/// One build to run: the services it serves and every tag they want.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildJob {
    pub services: Vec<String>,
    pub spec: BuildSpec,
}

/// Builds that differ only in their tags are one build, tagged with all
/// of them (two services built from the same definition).
pub fn build_jobs(builds: &[ServiceBuild]) -> Vec<BuildJob> {
    let mut jobs: Vec<BuildJob> = Vec::new();
    for b in builds {
        let same = jobs.iter_mut().find(|j| {
            let mut untagged = j.spec.clone();
            untagged.tags = b.spec.tags.clone();
            untagged == b.spec
        });
        match same {
            Some(job) => {
                job.services.push(b.service.clone());
                for t in &b.spec.tags {
                    if !job.spec.tags.contains(t) {
                        job.spec.tags.push(t.clone());
                    }
                }
            }
            None => jobs.push(BuildJob {
                services: vec![b.service.clone()],
                spec: b.spec.clone(),
            }),
        }
    }
    jobs
}

/// When `up` builds a service's image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpBuild {
    /// Only images that are missing (the default), or whose service says
    /// `pull_policy: build`.
    Missing,
    /// `--build`: every image of a service with a build section.
    Always,
    /// `--no-build`: none.
    Never,
}

/// The services among `builds` that `up` builds: `present` says whether
/// the store has an image.
pub fn builds_for_up<'a>(
    project: &Project,
    builds: &'a [ServiceBuild],
    mode: UpBuild,
    present: &dyn Fn(&str) -> bool,
) -> Vec<&'a ServiceBuild> {
    use crate::compose::types::PullPolicy;
    builds
        .iter()
        .filter(|b| match mode {
            UpBuild::Never => false,
            UpBuild::Always => true,
            UpBuild::Missing => {
                project
                    .services
                    .get(&b.service)
                    .is_some_and(|s| s.pull_policy() == PullPolicy::Build)
                    || !present(&b.image)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::load::{load, LoadOptions, Loaded};

    fn loaded(yaml: &str) -> (Loaded, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        let loaded = load(&LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("demo".into()),
            os_env: [("TOKEN_VAR".to_string(), "x".to_string())]
                .into_iter()
                .collect(),
            ..LoadOptions::default()
        })
        .expect("load");
        (loaded, dir)
    }

    fn native(p: &str) -> bool {
        p == "linux/amd64"
    }

    fn build_of(yaml: &str, service: &str) -> Result<ServiceBuild, BuildPlanError> {
        let (l, _dir) = loaded(yaml);
        service_build(
            &l.project,
            &l.model,
            &l.project.services[service],
            &BuildOverrides::default(),
            &native,
        )
    }

    /// The refusal, from the file name on (the loader names it by its
    /// absolute path here).
    fn refusal(yaml: &str) -> String {
        let text = build_of(yaml, "web").expect_err("refused").to_string();
        match text.find("compose.yaml:") {
            Some(at) => text[at..].to_string(),
            None => text,
        }
    }

    #[test]
    fn short_form_builds_the_context_dockerfile_as_project_service() {
        let (l, dir) = loaded("services:\n  web:\n    build: ./app\n");
        let b = service_build(
            &l.project,
            &l.model,
            &l.project.services["web"],
            &BuildOverrides::default(),
            &native,
        )
        .expect("build");
        let ctx = dir.path().join("app");
        assert_eq!(b.image, "demo-web");
        assert_eq!(b.spec.tags, ["demo-web"]);
        assert_eq!(b.spec.context, ctx);
        assert_eq!(
            b.spec.dockerfile,
            DockerfileSource::File(ctx.join("Dockerfile"))
        );
        assert_eq!(b.spec.network, RunNetwork::Default);
        assert!(b.warnings.is_empty());
    }

    #[test]
    fn long_form_keys_are_applied() {
        let b = build_of(
            "services:\n  web:\n    image: example/web:1\n    build:\n      context: .\n      dockerfile: web.Dockerfile\n      args: {A: '1', B: two}\n      target: runtime\n      tags: ['example/web:latest', 'example/web:1']\n      labels: {team: web}\n      network: none\n      shm_size: 64m\n      extra_hosts: ['mirror:127.0.0.2']\n      secrets: [token, {source: file_secret, target: npm}]\n      no_cache: true\n      pull: true\n      platforms: [linux/amd64]\n      ssh: [default, deploy=./id_deploy]\nsecrets:\n  token:\n    environment: TOKEN_VAR\n  file_secret:\n    file: ./s.txt\n",
            "web",
        )
        .expect("build");
        let s = &b.spec;
        assert!(
            matches!(&s.dockerfile, DockerfileSource::File(p) if p.ends_with("web.Dockerfile"))
        );
        assert_eq!(s.build_args.get("B").map(String::as_str), Some("two"));
        assert_eq!(s.target.as_deref(), Some("runtime"));
        assert_eq!(s.tags, ["example/web:1", "example/web:latest"]);
        assert_eq!(s.labels.get("team").map(String::as_str), Some("web"));
        assert_eq!(s.network, RunNetwork::None);
        assert_eq!(s.shm_size, Some(64 << 20));
        assert_eq!(
            s.extra_hosts,
            [("mirror".to_string(), "127.0.0.2".to_string())]
        );
        assert_eq!(
            s.secrets.get("token"),
            Some(&Secret::Env("TOKEN_VAR".into()))
        );
        assert!(matches!(s.secrets.get("npm"), Some(Secret::File(p)) if p.ends_with("s.txt")));
        assert!(s.no_cache && s.pull);
        assert_eq!(s.ssh[0], "default");
        assert!(s.ssh[1].starts_with("deploy=/") && s.ssh[1].ends_with("/id_deploy"));
    }

    #[test]
    fn inline_dockerfile_and_command_line_overrides() {
        let (l, _dir) = loaded(
            "services:\n  web:\n    build:\n      dockerfile_inline: FROM scratch\n      args: {A: '1', UNSET:}\n",
        );
        let overrides = BuildOverrides {
            no_cache: true,
            pull: false,
            build_args: [("A".to_string(), "cli".to_string())].into_iter().collect(),
        };
        let b = service_build(
            &l.project,
            &l.model,
            &l.project.services["web"],
            &overrides,
            &native,
        )
        .expect("build");
        assert_eq!(
            b.spec.dockerfile,
            DockerfileSource::Inline("FROM scratch".into())
        );
        assert_eq!(b.spec.build_args.get("A").map(String::as_str), Some("cli"));
        assert!(!b.spec.build_args.contains_key("UNSET"));
        assert!(b.spec.no_cache);
    }

    #[test]
    fn keys_that_cannot_be_applied_are_refused_with_file_line_and_key() {
        let err =
            refusal("services:\n  web:\n    build:\n      context: .\n      privileged: true\n");
        assert_eq!(
            err,
            "compose.yaml:5: services.web.build.privileged: not supported yet"
        );
        let err = refusal(
            "services:\n  web:\n    build:\n      context: https://github.com/docker/app.git\n",
        );
        assert!(
            err.starts_with("compose.yaml:4: services.web.build.context: "),
            "{err}"
        );
        assert!(err.contains("not supported yet"), "{err}");
        let err = refusal(
            "services:\n  web:\n    build:\n      context: .\n      platforms: [linux/amd64, linux/s390x]\n",
        );
        assert!(
            err.starts_with("compose.yaml:5: services.web.build.platforms: \"linux/s390x\""),
            "{err}"
        );
        let err =
            refusal("services:\n  web:\n    build:\n      context: .\n      network: mynet\n");
        assert!(
            err.starts_with("compose.yaml:5: services.web.build.network: \"mynet\""),
            "{err}"
        );
        let err = refusal(
            "services:\n  web:\n    build:\n      context: .\n      additional_contexts:\n        x: https://example.com/x.git\n",
        );
        assert!(
            err.starts_with("compose.yaml:6: services.web.build.additional_contexts.x: "),
            "{err}"
        );
        for (k, v) in [
            ("privileged", "true"),
            ("ulimits", "{nofile: 5}"),
            ("entitlements", "[network.host]"),
        ] {
            let err = refusal(&format!(
                "services:\n  web:\n    build:\n      context: .\n      {k}: {v}\n"
            ));
            assert!(
                err.starts_with(&format!("compose.yaml:5: services.web.build.{k}: ")),
                "{err}"
            );
        }
        let err = refusal(
            "services:\n  web:\n    build:\n      context: .\n      secrets: [{source: s, mode: 0400}]\nsecrets:\n  s:\n    file: ./s\n",
        );
        assert!(
            err.starts_with("compose.yaml:5: services.web.build.secrets[0]: "),
            "{err}"
        );
    }

    #[test]
    fn additional_contexts_are_applied_and_service_ones_build_first() {
        let (l, dir) = loaded(
            "services:\n  web:\n    build:\n      context: .\n      additional_contexts:\n        - docs=./docs\n        - base=docker-image://example/base:1\n        - app=service:app\n  app:\n    build: ./app\n",
        );
        let builds = service_builds(
            &l.project,
            &l.model,
            &["web".to_string()],
            &BuildOverrides::default(),
            &native,
        )
        .expect("builds");
        // app is not selected, but web's context needs its image: built before web.
        let order: Vec<&str> = builds.iter().map(|b| b.service.as_str()).collect();
        assert_eq!(order, ["app", "web"]);
        let contexts = &builds[1].spec.additional_contexts;
        assert_eq!(
            contexts.get("docs"),
            Some(&AdditionalContext::Dir(dir.path().join("docs")))
        );
        assert_eq!(
            contexts.get("base"),
            Some(&AdditionalContext::Image("example/base:1".into()))
        );
        assert_eq!(
            contexts.get("app"),
            Some(&AdditionalContext::Service {
                service: "app".into(),
                image: "demo-app".into()
            })
        );
        let (l, _dir) = loaded(
            "services:\n  web:\n    build:\n      context: .\n      additional_contexts:\n        a: service:other\n  other:\n    build:\n      context: .\n      additional_contexts:\n        b: service:web\n",
        );
        let err = service_builds(
            &l.project,
            &l.model,
            &["web".to_string()],
            &BuildOverrides::default(),
            &native,
        )
        .expect_err("a cycle")
        .to_string();
        assert!(
            err.contains("services.web.build.additional_contexts: service: contexts form a cycle (web -> other -> web)"),
            "{err}"
        );
    }

    #[test]
    fn cache_from_is_applied_and_cache_to_warned_about_not_dropped() {
        let b = build_of(
            "services:\n  web:\n    build:\n      context: .\n      cache_from: [example/web:cache]\n      cache_to: [type=inline]\n",
            "web",
        )
        .expect("build");
        assert_eq!(b.spec.cache_from, ["example/web:cache"]);
        assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
        assert!(
            b.warnings[0].contains("/compose.yaml:6: services.web.build.cache_to: ignored"),
            "{:?}",
            b.warnings
        );
    }

    #[test]
    fn the_same_definition_is_one_build_with_every_tag() {
        let (l, _dir) = loaded(
            "services:\n  a:\n    build: ./app\n  b:\n    build: ./app\n  c:\n    build:\n      context: ./app\n      target: other\n  db:\n    image: postgres\n",
        );
        let selected: Vec<String> = ["a", "b", "c", "db"].map(String::from).to_vec();
        let builds = service_builds(
            &l.project,
            &l.model,
            &selected,
            &BuildOverrides::default(),
            &native,
        )
        .expect("builds");
        let jobs = build_jobs(&builds);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].services, ["a", "b"]);
        assert_eq!(jobs[0].spec.tags, ["demo-a", "demo-b"]);
        assert_eq!(jobs[1].services, ["c"]);
    }

    #[test]
    fn up_builds_missing_images_and_pull_policy_build() {
        let (l, _dir) = loaded(
            "services:\n  a:\n    build: .\n  b:\n    build: .\n    pull_policy: build\n  c:\n    build: .\n    image: c:1\n",
        );
        let selected: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let builds = service_builds(
            &l.project,
            &l.model,
            &selected,
            &BuildOverrides::default(),
            &native,
        )
        .expect("builds");
        let names = |mode, present: &dyn Fn(&str) -> bool| -> Vec<String> {
            builds_for_up(&l.project, &builds, mode, present)
                .into_iter()
                .map(|b| b.service.clone())
                .collect()
        };
        let only_c_stored = |i: &str| i == "c:1";
        assert_eq!(names(UpBuild::Missing, &only_c_stored), ["a", "b"]);
        assert_eq!(names(UpBuild::Missing, &|_| true), ["b"]);
        assert_eq!(names(UpBuild::Always, &|_| true), ["a", "b", "c"]);
        assert!(names(UpBuild::Never, &|_| false).is_empty());
    }
}
