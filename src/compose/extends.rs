//! `services.*.extends`: a service starts from another service's definition
//! (in the same file, or in another file) and merges its own over it with
//! the rules of [`super::merge`].
//!
//! As in Compose, every key is inherited (including `depends_on`), chains
//! are followed, and a service taken from another file has its relative
//! paths made absolute against that file's directory first. `extends.file`
//! itself is relative to the project directory for the files given with
//! `-f`, and to the extended file's directory inside extended files.

use super::error::LoadError;
use super::merge::{merge_service, strip_reset_tags};
use super::paths::resolve_relative_paths;
use super::yaml::{Mapping, Node, Pos, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Which file a set of services comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Source {
    /// The document being resolved.
    Main,
    /// A file named by `extends.file` (absolute path).
    Loaded(PathBuf),
}

struct FileServices {
    services: Mapping,
    /// Name used in messages.
    display: String,
    /// Directory `extends.file` is relative to.
    dir: PathBuf,
}

struct Extender<'a> {
    files: HashMap<Source, FileServices>,
    home: Option<&'a Path>,
    load: &'a mut dyn FnMut(&Path) -> Result<Node, LoadError>,
}

/// Resolves every `services.*.extends` of `doc` (read from `file`) in place
/// and removes the `extends` keys.
///
/// `working_dir` is the project directory (what `extends.file` is relative
/// to), `home` expands `~` in paths of extended files, and `load` reads
/// another compose file (parse + interpolate) when `extends.file` names one.
/// `!reset` keys of an extending service stay in the result as tagged nulls
/// so that the following [`super::merge::merge`] also resets them in
/// earlier files; run `merge` (or `strip_reset_tags`) afterwards.
pub fn resolve_extends(
    doc: &mut Node,
    file: &Path,
    working_dir: &Path,
    home: Option<&Path>,
    load: &mut dyn FnMut(&Path) -> Result<Node, LoadError>,
) -> Result<(), LoadError> {
    let Some(services_node) = doc.as_map_mut().and_then(|m| m.get_mut("services")) else {
        return Ok(());
    };
    let services = match &mut services_node.value {
        Value::Map(m) => std::mem::take(m),
        Value::Null => return Ok(()),
        _ => {
            return Err(LoadError::invalid(
                &services_node.pos,
                "services",
                "must be a mapping",
            ))
        }
    };
    let names: Vec<String> = services.keys().cloned().collect();
    let mut ext = Extender {
        files: HashMap::new(),
        home,
        load,
    };
    ext.files.insert(
        Source::Main,
        FileServices {
            services,
            display: file.display().to_string(),
            dir: working_dir.to_path_buf(),
        },
    );
    let mut result = Ok(());
    for name in &names {
        if let Err(e) = ext.resolve(&Source::Main, name, &mut Vec::new()) {
            result = Err(e);
            break;
        }
    }
    if let Some(main) = ext.files.remove(&Source::Main) {
        services_node.value = Value::Map(main.services);
    }
    result
}

impl Extender<'_> {
    fn services(&self, source: &Source) -> Result<&FileServices, LoadError> {
        self.files
            .get(source)
            .ok_or_else(|| LoadError::Project("extends: file not loaded".into()))
    }

    /// The definition of `name` in `source` with its `extends` applied
    /// (memoized in place); `None` for a null service.
    fn resolve(
        &mut self,
        source: &Source,
        name: &str,
        chain: &mut Vec<(Source, String)>,
    ) -> Result<Option<Node>, LoadError> {
        let file = self.services(source)?;
        let dir = file.dir.clone();
        let Some(service) = file.services.get(name).cloned() else {
            return Ok(None);
        };
        let path = format!("services.{name}");
        let extends = match &service.value {
            Value::Null => return Ok(None),
            Value::Map(m) => match m.get("extends") {
                Some(e) => e.clone(),
                None => return Ok(Some(service)),
            },
            _ => return Err(LoadError::invalid(&service.pos, path, "must be a mapping")),
        };
        let ext_path = format!("{path}.extends");
        let (base_name, base_file) = match &extends.value {
            Value::Str(s) => (s.clone(), None),
            Value::Map(m) => {
                let base_name = m
                    .get("service")
                    .and_then(Node::as_str)
                    .ok_or_else(|| {
                        LoadError::invalid(&extends.pos, &ext_path, "extends.service is required")
                    })?
                    .to_string();
                let base_file = match m.get("file") {
                    None => None,
                    Some(f) if f.is_null() => None,
                    Some(f) => Some(f.as_str().map(str::to_string).ok_or_else(|| {
                        LoadError::invalid(&f.pos, format!("{ext_path}.file"), "must be a string")
                    })?),
                };
                (base_name, base_file)
            }
            _ => {
                return Err(LoadError::invalid(
                    &extends.pos,
                    ext_path,
                    "must be a string or a mapping",
                ))
            }
        };

        let base_source = match &base_file {
            Some(f) => {
                let path = super::paths::resolve(&dir, Path::new(f));
                let key = Source::Loaded(path.clone());
                if !self.files.contains_key(&key) {
                    let pos = extends.get("file").map_or(&extends.pos, |n| &n.pos);
                    let loaded = self.load_file(&path, pos, &ext_path, name)?;
                    self.files.insert(key.clone(), loaded);
                }
                key
            }
            None => source.clone(),
        };
        let base_file_services = self.services(&base_source)?;
        if !base_file_services.services.contains_key(&base_name) {
            let msg = match &base_file {
                Some(f) => format!(
                    "cannot extend service \"{name}\": service \"{base_name}\" not found in {f}"
                ),
                None => {
                    format!("cannot extend service \"{name}\": service \"{base_name}\" not found")
                }
            };
            // Point at `service:` in the long form, at `extends:` otherwise.
            let pos = extends.get("service").map_or(&extends.pos, |n| &n.pos);
            return Err(LoadError::invalid(pos, ext_path, msg));
        }
        let base_display = base_file_services.display.clone();

        chain.push((source.clone(), name.to_string()));
        if chain
            .iter()
            .any(|(s, n)| *s == base_source && *n == base_name)
        {
            let mut links = vec![format!(
                "{} in {}",
                chain[0].1,
                display_of(&chain[0].0, self)
            )];
            for (s, n) in chain.iter().skip(1) {
                links.push(format!("extends {n} in {}", display_of(s, self)));
            }
            links.push(format!("extends {base_name} in {base_display}"));
            return Err(LoadError::invalid(
                &extends.pos,
                ext_path,
                format!("circular reference: {}", links.join(", ")),
            ));
        }
        let base = self.resolve(&base_source, &base_name, chain)?;
        chain.pop();

        let mut own = service;
        if let Some(m) = own.as_map_mut() {
            m.shift_remove("extends");
        }
        let merged = match base {
            None => own,
            Some(mut base) => {
                // Tags of the base were consumed when it was resolved.
                strip_reset_tags(&mut base);
                base.pos = own.pos.clone();
                merge_service(base, own)?
            }
        };
        if let Some(file) = self.files.get_mut(source) {
            file.services.insert(name.to_string(), merged.clone());
        }
        Ok(Some(merged))
    }

    /// Reads another file's services with their relative paths made
    /// absolute against that file's directory.
    fn load_file(
        &mut self,
        path: &Path,
        pos: &Pos,
        ext_path: &str,
        name: &str,
    ) -> Result<FileServices, LoadError> {
        let mut doc = (self.load)(path).map_err(|e| match e {
            // A file that cannot be read is reported where it is named.
            LoadError::Io { path, source } => {
                LoadError::invalid(pos, ext_path, format!("open {}: {source}", path.display()))
            }
            other => other,
        })?;
        strip_reset_tags(&mut doc);
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        resolve_relative_paths(&mut doc, &dir, self.home)?;
        let services = match doc.value {
            Value::Map(mut m) => match m.shift_remove("services").map(|n| n.value) {
                Some(Value::Map(s)) => Some(s),
                _ => None,
            },
            _ => None,
        };
        let services = services.ok_or_else(|| {
            LoadError::invalid(
                pos,
                ext_path,
                format!(
                    "cannot extend service \"{name}\": {} has no services section",
                    path.display()
                ),
            )
        })?;
        Ok(FileServices {
            services,
            display: path.display().to_string(),
            dir,
        })
    }
}

fn display_of(source: &Source, ext: &Extender<'_>) -> String {
    ext.files
        .get(source)
        .map(|f| f.display.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    //! Expected values come from `docker compose config --format json`
    //! (v2.40.3) on the same files laid out under /tmp/mx3 (HOME=/root).
    use super::*;
    use crate::compose::merge::merge;
    use crate::compose::yaml::parse;
    use serde_json::json;

    const MAIN: &str = "\
services:
  base:
    image: busybox
    depends_on: [db]
    ports: ['80:80']
    environment: {A: '1'}
    volumes: ['./d:/d']
  mid:
    extends: base
    environment: {B: '2'}
    ports: ['81:81']
  web:
    extends: {service: mid}
    environment: {A: '9'}
    volumes_from: [db]
  remote:
    extends: {file: sub/other.yaml, service: svc}
  db: {image: pg}
";
    const OTHER: &str = "\
services:
  svc:
    build: ./ctx
    env_file: e.env
    volumes: ['./data:/data', '~/h:/h']
    labels: [a=b]
    extends: {file: deeper/d.yaml, service: dd}
  svc2:
    image: x
    extends: svc
";
    const DEEP: &str = "\
services:
  dd:
    image: deep
    build: {context: ., additional_contexts: {x: ./y}}
";

    struct Files {
        files: HashMap<PathBuf, &'static str>,
        loads: Vec<PathBuf>,
    }

    impl Files {
        fn new(files: &[(&str, &'static str)]) -> Self {
            Files {
                files: files.iter().map(|(p, s)| (PathBuf::from(p), *s)).collect(),
                loads: Vec::new(),
            }
        }
        fn load(&mut self, p: &Path) -> Result<Node, LoadError> {
            self.loads.push(p.to_path_buf());
            match self.files.get(p) {
                Some(src) => Ok(parse(src, &p.display().to_string())?),
                None => Err(LoadError::Io {
                    path: p.to_path_buf(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                }),
            }
        }
    }

    fn run(main: &str, files: &mut Files) -> Result<Node, LoadError> {
        let mut doc = parse(main, "compose.yaml")?;
        resolve_extends(
            &mut doc,
            Path::new("compose.yaml"),
            Path::new("/tmp/mx3"),
            Some(Path::new("/root")),
            &mut |p| files.load(p),
        )?;
        Ok(doc)
    }

    fn standard() -> Files {
        Files::new(&[
            ("/tmp/mx3/sub/other.yaml", OTHER),
            ("/tmp/mx3/sub/deeper/d.yaml", DEEP),
        ])
    }

    #[test]
    fn same_file_chain_inherits_and_merges() {
        let mut files = standard();
        let d = run(MAIN, &mut files).unwrap().to_json();
        // reference: mid has ports 80 and 81, environment A=1 B=2, depends_on db
        assert_eq!(
            d["services"]["mid"],
            json!({
                "image": "busybox",
                "depends_on": ["db"],
                "ports": ["80:80", "81:81"],
                "environment": ["A=1", "B=2"],
                "volumes": ["./d:/d"]
            })
        );
        // reference: web environment {"A": "9", "B": "2"}, volumes_from [db]
        assert_eq!(d["services"]["web"]["environment"], json!(["A=9", "B=2"]));
        assert_eq!(d["services"]["web"]["ports"], json!(["80:80", "81:81"]));
        assert_eq!(d["services"]["web"]["volumes_from"], json!(["db"]));
        assert!(d["services"]["web"].get("extends").is_none());
    }

    #[test]
    fn depends_on_is_inherited() {
        // reference: base, mid and web all depend on db
        let mut files = standard();
        let d = run(MAIN, &mut files).unwrap().to_json();
        assert_eq!(d["services"]["web"]["depends_on"], json!(["db"]));
    }

    #[test]
    fn other_file_paths_are_rebased_on_that_file() {
        let mut files = standard();
        let d = run(MAIN, &mut files).unwrap().to_json();
        // reference: build.context /tmp/mx3/sub/ctx, additional_contexts x →
        // /tmp/mx3/sub/deeper/y, volumes /tmp/mx3/sub/data and /root/h, image deep
        assert_eq!(
            d["services"]["remote"],
            json!({
                "image": "deep",
                "build": {"context": "/tmp/mx3/sub/ctx", "additional_contexts": {"x": "/tmp/mx3/sub/deeper/y"}},
                "env_file": "/tmp/mx3/sub/e.env",
                "volumes": ["/tmp/mx3/sub/data:/data", "/root/h:/h"],
                "labels": ["a=b"]
            })
        );
    }

    #[test]
    fn chain_inside_an_extended_file() {
        // reference (override ov/o.yaml: db extends svc2 of sub/other.yaml):
        // image x, build context /tmp/mx3/sub/ctx
        let mut files = standard();
        let d = run(
            "services:\n  db:\n    extends: {file: sub/other.yaml, service: svc2}\n",
            &mut files,
        )
        .unwrap()
        .to_json();
        assert_eq!(d["services"]["db"]["image"], "x");
        assert_eq!(d["services"]["db"]["build"]["context"], "/tmp/mx3/sub/ctx");
        assert_eq!(d["services"]["db"]["labels"], json!(["a=b"]));
    }

    #[test]
    fn extended_file_is_loaded_once() {
        let mut files = standard();
        run(
            "services:\n  a:\n    extends: {file: sub/other.yaml, service: svc}\n  b:\n    extends: {file: ./sub/../sub/other.yaml, service: svc2}\n",
            &mut files,
        )
        .unwrap();
        let other = files
            .loads
            .iter()
            .filter(|p| p.ends_with("other.yaml"))
            .count();
        assert_eq!(other, 1, "{:?}", files.loads);
    }

    #[test]
    fn missing_service_in_same_file() {
        // reference: cannot extend service "a" in /tmp/mx3/miss.yaml: service "nope" not found
        let mut files = standard();
        let err = run(
            "services:\n  a:\n    image: x\n    extends: nope\n",
            &mut files,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "compose.yaml:4: services.a.extends: cannot extend service \"a\": service \"nope\" not found"
        );
    }

    #[test]
    fn missing_service_in_other_file() {
        // reference: ... service "nope" not found in sub/other.yaml
        let mut files = standard();
        let err = run(
            "services:\n  a:\n    image: x\n    extends:\n      file: sub/other.yaml\n      service: nope\n",
            &mut files,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "compose.yaml:6: services.a.extends: cannot extend service \"a\": service \"nope\" not found in sub/other.yaml"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        // reference: open /tmp/mx3/nofile.yaml: no such file or directory
        let mut files = standard();
        let err = run(
            "services:\n  a:\n    extends: {file: nofile.yaml, service: x}\n",
            &mut files,
        )
        .unwrap_err()
        .to_string();
        // Reported where the file is named, with the path it tried.
        assert!(
            err.starts_with("compose.yaml:3: services.a.extends: open /tmp/mx3/nofile.yaml"),
            "{err}"
        );
    }

    #[test]
    fn missing_service_key_is_an_error() {
        let mut files = standard();
        let err = run("services:\n  a:\n    extends: {file: x.yaml}\n", &mut files)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("services.a.extends: extends.service is required"),
            "{err}"
        );
    }

    #[test]
    fn cycle_names_the_chain() {
        // reference: Circular reference: a in cyc.yaml / extends b / extends c / extends a
        let mut files = standard();
        let err = run(
            "services:\n  a:\n    image: x\n    extends: b\n  b:\n    extends: c\n  c:\n    extends: a\n",
            &mut files,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "compose.yaml:8: services.c.extends: circular reference: a in compose.yaml, extends b in compose.yaml, extends c in compose.yaml, extends a in compose.yaml"
        );
    }

    #[test]
    fn self_extension_is_a_cycle() {
        let mut files = standard();
        let err = run(
            "services:\n  a:\n    image: x\n    extends: a\n",
            &mut files,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("circular reference: a in compose.yaml, extends a in compose.yaml"),
            "{err}"
        );
    }

    #[test]
    fn cycle_across_files() {
        let mut files = Files::new(&[
            (
                "/tmp/mx3/b.yaml",
                "services:\n  b:\n    extends: {file: compose.yaml, service: a}\n",
            ),
            (
                "/tmp/mx3/compose.yaml",
                "services:\n  a:\n    extends: {file: b.yaml, service: b}\n",
            ),
        ]);
        let err = run(
            "services:\n  a:\n    extends: {file: b.yaml, service: b}\n",
            &mut files,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("circular reference"), "{err}");
    }

    #[test]
    fn command_replaced_and_reset_key_dropped() {
        let mut files = standard();
        let doc = run(
            "services:\n  base: {image: a, command: [x, y], ports: ['80:80'], healthcheck: {test: [CMD, a], retries: 3}}\n  web:\n    extends: base\n    command: z\n    ports: !reset []\n    healthcheck: {test: [CMD, b]}\n",
            &mut files,
        )
        .unwrap();
        let merged = merge(Node::synthetic(Value::Map(Mapping::new())), doc).unwrap();
        assert_eq!(
            merged.to_json()["services"]["web"],
            json!({"image": "a", "command": "z", "healthcheck": {"test": ["CMD", "b"], "retries": 3}})
        );
    }

    #[test]
    fn null_base_service_keeps_own_definition() {
        let mut files = standard();
        let d = run(
            "services:\n  base:\n  web:\n    image: w\n    extends: base\n",
            &mut files,
        )
        .unwrap()
        .to_json();
        assert_eq!(d["services"]["web"], json!({"image": "w"}));
    }

    #[test]
    fn override_tag_survives_for_the_file_merge() {
        let mut files = standard();
        let doc = run(
            "services:\n  base: {image: a, environment: {A: '1'}}\n  web:\n    extends: base\n    environment: !override {B: '2'}\n",
            &mut files,
        )
        .unwrap();
        let web = doc.get("services").and_then(|s| s.get("web")).unwrap();
        let env = web.get("environment").unwrap();
        assert_eq!(env.tag, Some(crate::compose::yaml::MergeTag::Override));
        assert_eq!(env.to_json(), json!({"B": "2"}));
        // An earlier file's environment for web is replaced, not merged.
        let earlier = parse("services: {web: {environment: {Z: '0'}}}", "0.yaml").unwrap();
        let out = merge(earlier, doc).unwrap().to_json();
        assert_eq!(out["services"]["web"]["environment"], json!({"B": "2"}));
    }

    #[test]
    fn reset_keys_of_an_extended_file_are_dropped() {
        let mut files = Files::new(&[(
            "/tmp/mx3/b.yaml",
            "services:\n  b:\n    image: b\n    labels: !reset [a=b]\n",
        )]);
        let d = run(
            "services:\n  a:\n    extends: {file: b.yaml, service: b}\n",
            &mut files,
        )
        .unwrap()
        .to_json();
        assert_eq!(d["services"]["a"], json!({"image": "b"}));
    }

    #[test]
    fn absolute_cleans_paths() {
        assert_eq!(
            super::super::paths::resolve(Path::new("/a/b"), Path::new("../c/./d.yaml")),
            PathBuf::from("/a/c/d.yaml")
        );
        assert_eq!(
            super::super::paths::resolve(Path::new("/a"), Path::new("/x.yaml")),
            PathBuf::from("/x.yaml")
        );
    }
}
