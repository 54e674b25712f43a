//! Registry credentials kept the way the Docker CLI keeps them, so that
//! `docker login` and `wharf login` share one `config.json`: base64
//! `auths` entries, `credHelpers` per registry and a `credsStore` default
//! reached through the `docker-credential-<name>` protocol.

use base64::Engine as _;
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The `auths` key (and credential-helper server URL) Docker uses for
/// Docker Hub, a legacy of the v1 index.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A credential helper answers with this username when the secret is an
/// identity (refresh) token rather than a password.
const TOKEN_USERNAME: &str = "<token>";

const CONFIG_FILE: &str = "config.json";

/// What a registry login needs: a username and password, or an identity
/// token exchanged for bearer tokens (OAuth2 refresh token).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub identity_token: Option<String>,
}

impl fmt::Debug for Credentials {
    // Secrets stay out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Credentials {
    pub fn basic(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_string(),
            password: password.to_string(),
            identity_token: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot locate the Docker config: neither DOCKER_CONFIG nor HOME is set")]
    NoConfigDir,
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: invalid auth configuration for {registry}: {reason}")]
    BadAuth {
        path: PathBuf,
        registry: String,
        reason: String,
    },
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("credential helper docker-credential-{helper} for {registry}: {reason}")]
    Helper {
        helper: String,
        registry: String,
        reason: String,
    },
}

/// Docker CLI's `config.json`, kept as a JSON document so keys wharf does
/// not know about survive a login.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
    helper_path: Option<OsString>,
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn config_path_from(
    docker_config: Option<OsString>,
    home: Option<OsString>,
) -> Result<PathBuf, AuthError> {
    match (docker_config, home) {
        (Some(dir), _) if !dir.is_empty() => Ok(PathBuf::from(dir).join(CONFIG_FILE)),
        (_, Some(home)) if !home.is_empty() => {
            Ok(PathBuf::from(home).join(".docker").join(CONFIG_FILE))
        }
        _ => Err(AuthError::NoConfigDir),
    }
}

/// The key Docker stores a registry's credentials under: the Docker Hub
/// key for any spelling of Hub, otherwise the bare `host[:port]`.
pub fn server_key(registry: &str) -> String {
    let host = hostname_of(registry);
    if matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    ) {
        DOCKER_HUB_KEY.to_string()
    } else {
        host.to_string()
    }
}

/// Docker's `ConvertToHostname`: drop a scheme and any path.
fn hostname_of(s: &str) -> &str {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    s.split('/').next().unwrap_or_default()
}

/// Stores credentials for `registry` in the user's Docker config (or its
/// credential helper), as `docker login` does after a successful check.
pub fn login(registry: &str, username: &str, password: &str) -> Result<(), AuthError> {
    DockerConfig::load()?.store(registry, &Credentials::basic(username, password))
}

/// Removes credentials for `registry`; false if there were none.
pub fn logout(registry: &str) -> Result<bool, AuthError> {
    DockerConfig::load()?.erase(registry)
}

impl DockerConfig {
    /// Loads the user's config; a missing file is an empty config.
    pub fn load() -> Result<DockerConfig, AuthError> {
        let path = config_path_from(std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME"))?;
        DockerConfig::load_from(&path)
    }

    pub fn load_from(path: &Path) -> Result<DockerConfig, AuthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(AuthError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        // Docker accepts an empty file as an empty config.
        let doc = if text.trim().is_empty() {
            Map::new()
        } else {
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(AuthError::Malformed {
                        path: path.to_path_buf(),
                        reason: "the top level must be a JSON object".into(),
                    })
                }
                Err(source) => {
                    return Err(AuthError::Json {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
        };
        let config = DockerConfig {
            path: path.to_path_buf(),
            doc,
            helper_path: None,
        };
        config.validate()?;
        Ok(config)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `docker-credential-*` programs are looked up (default: the
    /// process's PATH).
    pub fn set_helper_path(&mut self, path: impl Into<OsString>) {
        self.helper_path = Some(path.into());
    }

    /// Docker decodes every entry when loading, so a broken one fails the
    /// load rather than a later pull.
    fn validate(&self) -> Result<(), AuthError> {
        let malformed = |reason: String| AuthError::Malformed {
            path: self.path.clone(),
            reason,
        };
        if let Some(auths) = self.doc.get("auths") {
            let auths = auths
                .as_object()
                .ok_or_else(|| malformed("\"auths\" must be an object".into()))?;
            for (key, entry) in auths {
                self.decode_entry(key, entry)?;
            }
        }
        if let Some(helpers) = self.doc.get("credHelpers") {
            let ok = helpers
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                return Err(malformed(
                    "\"credHelpers\" must map registries to helper names".into(),
                ));
            }
        }
        if self.doc.get("credsStore").is_some_and(|v| !v.is_string()) {
            return Err(malformed("\"credsStore\" must be a string".into()));
        }
        Ok(())
    }

    fn decode_entry(&self, key: &str, entry: &Value) -> Result<Credentials, AuthError> {
        let bad = |reason: &str| AuthError::BadAuth {
            path: self.path.clone(),
            registry: key.to_string(),
            reason: reason.to_string(),
        };
        let obj = entry.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let field = |name: &str| -> Result<String, AuthError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(bad(&format!("\"{name}\" must be a string"))),
            }
        };
        let mut creds = Credentials {
            username: field("username")?,
            password: field("password")?,
            identity_token: Some(field("identitytoken")?).filter(|t| !t.is_empty()),
        };
        let auth = field("auth")?;
        if !auth.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("\"auth\" is not valid base64"))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| bad("\"auth\" does not decode to text"))?;
            match decoded.split_once(':') {
                Some((user, pass)) if !user.is_empty() => {
                    creds.username = user.to_string();
                    creds.password = pass.trim_matches('\0').to_string();
                }
                _ => return Err(bad("\"auth\" must encode \"username:password\"")),
            }
        }
        Ok(creds)
    }

    /// The credential helper in charge of `registry`: its `credHelpers`
    /// entry, else `credsStore`, else none (the file itself).
    pub fn helper_for(&self, registry: &str) -> Option<String> {
        let key = server_key(registry);
        let helpers = self.doc.get("credHelpers").and_then(Value::as_object);
        let per_registry = helpers.and_then(|h| {
            h.get(&key)
                .or_else(|| h.get(registry))
                .or_else(|| h.iter().find(|(k, _)| server_key(k) == key).map(|(_, v)| v))
        });
        per_registry
            .or_else(|| self.doc.get("credsStore"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// Credentials for a registry (`docker.io`, `ghcr.io`,
    /// `127.0.0.1:5000`, or a URL), or None for anonymous access.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>, AuthError> {
        let key = server_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            if let Some(creds) = self.helper_get(&helper, &key)? {
                return Ok(Some(creds));
            }
            // Like Docker, fall back to whatever the file holds.
        }
        self.file_credentials(&key)
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    fn file_credentials(&self, key: &str) -> Result<Option<Credentials>, AuthError> {
        let Some(auths) = self.auths() else {
            return Ok(None);
        };
        // Exact key first, then keys written with a scheme or path
        // (`https://ghcr.io`, `http://localhost:5000/v2/`).
        let entry = auths
            .get_key_value(key)
            .or_else(|| auths.iter().find(|(k, _)| server_key(k) == key));
        match entry {
            Some((k, v)) => {
                let creds = self.decode_entry(k, v)?;
                Ok((!creds.is_empty()).then_some(creds))
            }
            None => Ok(None),
        }
    }

    /// Saves credentials for `registry`: through its helper if one is
    /// configured (leaving an empty `auths` entry, as Docker does), else
    /// base64-encoded in the file. Writes the file.
    pub fn store(&mut self, registry: &str, creds: &Credentials) -> Result<(), AuthError> {
        let key = server_key(registry);
        let entry = if let Some(helper) = self.helper_for(registry) {
            let (username, secret) = match &creds.identity_token {
                Some(t) => (TOKEN_USERNAME, t.as_str()),
                None => (creds.username.as_str(), creds.password.as_str()),
            };
            let input = serde_json::json!({
                "ServerURL": key,
                "Username": username,
                "Secret": secret,
            });
            self.run_helper(&helper, "store", &input.to_string(), &key)?
                .map_err(|reason| AuthError::Helper {
                    helper: helper.clone(),
                    registry: key.clone(),
                    reason,
                })?;
            Map::new()
        } else {
            let mut entry = self
                .auths()
                .and_then(|a| a.get(&key))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            entry.remove("username");
            entry.remove("password");
            if creds.username.is_empty() && creds.password.is_empty() {
                entry.remove("auth");
            } else {
                let pair = format!("{}:{}", creds.username, creds.password);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                entry.insert("auth".into(), Value::String(encoded));
            }
            match &creds.identity_token {
                Some(t) => entry.insert("identitytoken".into(), Value::String(t.clone())),
                None => entry.remove("identitytoken"),
            };
            entry
        };
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Value::Object(m) = auths {
            m.insert(key, Value::Object(entry));
        }
        self.save()
    }

    /// Removes credentials for `registry` from its helper and the file
    /// (also entries written `http://host` / `https://host`, as `docker
    /// logout` does). Returns whether anything was stored.
    pub fn erase(&mut self, registry: &str) -> Result<bool, AuthError> {
        let key = server_key(registry);
        let mut found = false;
        if let Some(helper) = self.helper_for(registry) {
            match self.run_helper(&helper, "erase", &key, &key)? {
                Ok(_) => found = true,
                Err(reason) if is_not_found(&reason) => {}
                Err(reason) => {
                    return Err(AuthError::Helper {
                        helper,
                        registry: key,
                        reason,
                    })
                }
            }
        }
        let mut variants = vec![key.clone()];
        if key != DOCKER_HUB_KEY {
            variants.push(format!("http://{key}"));
            variants.push(format!("https://{key}"));
        }
        let mut removed = false;
        if let Some(Value::Object(auths)) = self.doc.get_mut("auths") {
            for v in &variants {
                if let Some(entry) = auths.remove(v) {
                    removed = true;
                    // An empty entry left by a helper login is not a login.
                    found |= entry.as_object().is_some_and(|e| !e.is_empty());
                }
            }
        }
        if removed {
            self.save()?;
        }
        Ok(found)
    }

    /// Writes the file atomically (temp file in the same directory, then
    /// rename), keeping an existing file's permissions, 0600 for a new one,
    /// and writing through a symlinked config like Docker.
    pub fn save(&self) -> Result<(), AuthError> {
        let write_err = |path: &Path, source| AuthError::Write {
            path: path.to_path_buf(),
            source,
        };
        let target = match std::fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::canonicalize(&self.path).map_err(|e| write_err(&self.path, e))?
            }
            _ => self.path.clone(),
        };
        let dir = target
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| write_err(dir, e))?;
        let mode = std::fs::metadata(&target)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);

        let mut body = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut body, formatter);
        serde::Serialize::serialize(&self.doc, &mut ser)
            .map_err(|e| write_err(&target, io::Error::new(io::ErrorKind::InvalidData, e)))?;

        let file_name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| CONFIG_FILE.to_string());
        // Unique per process and per call, so concurrent saves never share
        // a temp file; the last rename wins, as with docker.
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{file_name}.{}.{n}.tmp", std::process::id()));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&body)?;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(write_err(&target, e));
        }
        Ok(())
    }

    fn helper_get(&self, helper: &str, key: &str) -> Result<Option<Credentials>, AuthError> {
        let err = |reason: String| AuthError::Helper {
            helper: helper.to_string(),
            registry: key.to_string(),
            reason,
        };
        let out = match self.run_helper(helper, "get", key, key)? {
            Ok(out) => out,
            Err(reason) if is_not_found(&reason) => return Ok(None),
            Err(reason) => return Err(err(reason)),
        };
        #[derive(serde::Deserialize)]
        struct HelperCreds {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let creds: HelperCreds = serde_json::from_str(&out)
            .map_err(|e| err(format!("invalid answer to \"get\": {e}")))?;
        let creds = if creds.username == TOKEN_USERNAME {
            Credentials {
                identity_token: Some(creds.secret).filter(|s| !s.is_empty()),
                ..Credentials::default()
            }
        } else {
            Credentials::basic(&creds.username, &creds.secret)
        };
        Ok((!creds.is_empty()).then_some(creds))
    }

    /// Runs `docker-credential-<helper> <action>` with `input` on stdin.
    /// Ok(Ok(stdout)) on success, Ok(Err(message)) when the helper failed
    /// (helpers print their error on stdout), Err if it could not run.
    fn run_helper(
        &self,
        helper: &str,
        action: &str,
        input: &str,
        key: &str,
    ) -> Result<Result<String, String>, AuthError> {
        let program = format!("docker-credential-{helper}");
        let err = |reason: String| AuthError::Helper {
            helper: helper.to_string(),
            registry: key.to_string(),
            reason,
        };
        let mut cmd = Command::new(&program);
        cmd.arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = &self.helper_path {
            cmd.env("PATH", path);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                err(format!("{program} is not installed or not in PATH"))
            } else {
                err(format!("cannot run {program}: {e}"))
            }
        })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading is reported by its status.
            let _ = stdin.write_all(input.as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| err(format!("waiting for {program}: {e}")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() {
            return Ok(Ok(stdout));
        }
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let message = match (stdout.is_empty(), stderr.is_empty()) {
            (false, _) => stdout,
            (true, false) => stderr,
            (true, true) => format!("{program} {action} failed ({})", out.status),
        };
        Ok(Err(message))
    }
}

/// docker-credential-helpers' "credentials not found in native keychain".
fn is_not_found(message: &str) -> bool {
    message.contains("credentials not found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn write_config(dir: &Path, json: &str) -> PathBuf {
        let path = dir.join("config.json");
        fs::write(&path, json).unwrap();
        path
    }

    fn load(path: &Path) -> DockerConfig {
        DockerConfig::load_from(path).unwrap()
    }

    fn creds(c: &DockerConfig, registry: &str) -> Option<Credentials> {
        c.credentials(registry).unwrap()
    }

    /// A real credential helper: a shell script keeping each server's JSON
    /// in a file named by the URL's hash, and logging every call.
    struct Helper {
        dir: tempfile::TempDir,
    }

    impl Helper {
        fn new() -> Helper {
            let dir = tempfile::tempdir().unwrap();
            let store = dir.path().join("store");
            fs::create_dir(&store).unwrap();
            let script = format!(
                r#"#!/bin/sh
dir='{store}'
input=$(cat)
echo "$1 $input" >> "$dir/log"
case "$1" in
store)
  url=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
  key=$(printf '%s' "$url" | sha256sum | cut -c1-64)
  printf '%s' "$input" > "$dir/$key" ;;
get|erase)
  key=$(printf '%s' "$input" | sha256sum | cut -c1-64)
  if [ ! -f "$dir/$key" ]; then echo "credentials not found in native keychain"; exit 1; fi
  if [ "$1" = get ]; then cat "$dir/$key"; else rm "$dir/$key"; fi ;;
*) echo "unknown action $1"; exit 1 ;;
esac
"#,
                store = store.display()
            );
            let bin = dir.path().join("docker-credential-wharftest");
            fs::write(&bin, script).unwrap();
            fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
            // Another test thread that forks while we hold the write fd
            // gives its child a copy until that child execs: executing the
            // script then fails with ETXTBSY. Wait that window out once.
            for _ in 0..100 {
                match Command::new(&bin).arg("list").output() {
                    Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    _ => break,
                }
            }
            Helper { dir }
        }

        fn path_var(&self) -> OsString {
            let mut p = self.dir.path().as_os_str().to_os_string();
            if let Some(sys) = std::env::var_os("PATH") {
                p.push(":");
                p.push(sys);
            }
            p
        }

        fn log(&self) -> String {
            fs::read_to_string(self.dir.path().join("store/log")).unwrap_or_default()
        }

        fn stored_entries(&self) -> usize {
            fs::read_dir(self.dir.path().join("store"))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name() != "log")
                .count()
        }

        /// Puts a secret directly into the helper, as another tool would.
        fn seed(&self, url: &str, username: &str, secret: &str) {
            let out = Command::new(self.dir.path().join("docker-credential-wharftest"))
                .arg("store")
                .stdin(Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    let body = serde_json::json!({"ServerURL": url, "Username": username, "Secret": secret});
                    c.stdin.take().unwrap().write_all(body.to_string().as_bytes())?;
                    c.wait()
                })
                .unwrap();
            assert!(out.success());
        }
    }

    #[test]
    fn config_path_prefers_docker_config_then_home() {
        assert_eq!(
            config_path_from(Some("/etc/dc".into()), Some("/home/u".into())).unwrap(),
            PathBuf::from("/etc/dc/config.json")
        );
        assert_eq!(
            config_path_from(None, Some("/home/u".into())).unwrap(),
            PathBuf::from("/home/u/.docker/config.json")
        );
        assert_eq!(
            config_path_from(Some("".into()), Some("/home/u".into())).unwrap(),
            PathBuf::from("/home/u/.docker/config.json")
        );
        assert!(matches!(
            config_path_from(None, None),
            Err(AuthError::NoConfigDir)
        ));
    }

    #[test]
    fn missing_and_empty_files_are_empty_configs() {
        let dir = tempfile::tempdir().unwrap();
        let c = load(&dir.path().join("nope/config.json"));
        assert_eq!(creds(&c, "docker.io"), None);
        assert_eq!(c.helper_for("docker.io"), None);
        let path = write_config(dir.path(), "\n");
        assert_eq!(creds(&load(&path), "ghcr.io"), None);
    }

    #[test]
    fn malformed_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), "{\"auths\": ");
        let e = DockerConfig::load_from(&path).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: invalid JSON", path.display())),
            "{e}"
        );

        let path = write_config(dir.path(), "[]");
        let e = DockerConfig::load_from(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");

        let path = write_config(dir.path(), r#"{"auths": {"ghcr.io": {"auth": "!!!"}}}"#);
        let e = DockerConfig::load_from(&path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: invalid auth configuration for ghcr.io: \"auth\" is not valid base64",
                path.display()
            )
        );

        let no_colon = b64("justuser");
        let path = write_config(
            dir.path(),
            &format!(r#"{{"auths": {{"ghcr.io": {{"auth": "{no_colon}"}}}}}}"#),
        );
        assert!(DockerConfig::load_from(&path).is_err());

        let path = write_config(dir.path(), r#"{"credHelpers": {"gcr.io": 3}}"#);
        assert!(DockerConfig::load_from(&path).is_err());
    }

    #[test]
    fn auths_entry_with_base64_auth() {
        let dir = tempfile::tempdir().unwrap();
        let auth = b64("wharf:wharf-secret:with:colons");
        let path = write_config(
            dir.path(),
            &format!(r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{auth}"}}}}}}"#),
        );
        let c = load(&path);
        let got = creds(&c, "127.0.0.1:5001").unwrap();
        assert_eq!(got.username, "wharf");
        assert_eq!(got.password, "wharf-secret:with:colons");
        assert_eq!(creds(&c, "127.0.0.1:5000"), None);
    }

    #[test]
    fn auths_entry_with_plain_fields_and_identity_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(
            dir.path(),
            r#"{"auths": {
                "reg.example.com": {"username": "u", "password": "p"},
                "tok.example.com": {"identitytoken": "refresh-me"},
                "empty.example.com": {}
            }}"#,
        );
        let c = load(&path);
        assert_eq!(
            creds(&c, "reg.example.com"),
            Some(Credentials::basic("u", "p"))
        );
        let t = creds(&c, "tok.example.com").unwrap();
        assert_eq!(t.identity_token.as_deref(), Some("refresh-me"));
        assert_eq!(t.username, "");
        assert_eq!(creds(&c, "empty.example.com"), None);
    }

    #[test]
    fn docker_hub_uses_the_v1_index_key_for_every_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let auth = b64("hubuser:hubpass");
        let path = write_config(
            dir.path(),
            &format!(r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}}}}}}"#),
        );
        let c = load(&path);
        for r in [
            "docker.io",
            "index.docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
        ] {
            assert_eq!(
                creds(&c, r).map(|c| c.username).as_deref(),
                Some("hubuser"),
                "{r}"
            );
        }
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("ghcr.io"), "ghcr.io");
        assert_eq!(server_key("https://localhost:5000/v2/"), "localhost:5000");
    }

    #[test]
    fn keys_written_with_scheme_or_path_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let a = b64("a:1");
        let b = b64("b:2");
        let path = write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"https://ghcr.io": {{"auth": "{a}"}}, "http://localhost:5000/v2/": {{"auth": "{b}"}}}}}}"#
            ),
        );
        let c = load(&path);
        assert_eq!(creds(&c, "ghcr.io").unwrap().username, "a");
        assert_eq!(creds(&c, "localhost:5000").unwrap().username, "b");
        assert_eq!(creds(&c, "localhost:5001"), None);
    }

    #[test]
    fn login_writes_the_file_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        let mut c = load(&path);
        c.store(
            "127.0.0.1:5001",
            &Credentials::basic("wharf", "wharf-secret"),
        )
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{{\n\t\"auths\": {{\n\t\t\"127.0.0.1:5001\": {{\n\t\t\t\"auth\": \"{}\"\n\t\t}}\n\t}}\n}}",
                b64("wharf:wharf-secret")
            )
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![OsString::from("config.json")],
            "no temp file left"
        );
        assert_eq!(
            creds(&load(&path), "127.0.0.1:5001"),
            Some(Credentials::basic("wharf", "wharf-secret"))
        );
    }

    #[test]
    fn login_keeps_unknown_keys_and_other_entries() {
        let dir = tempfile::tempdir().unwrap();
        let other = b64("o:p");
        let path = write_config(
            dir.path(),
            &format!(
                r#"{{"psFormat": "table {{{{.ID}}}}", "auths": {{"ghcr.io": {{"auth": "{other}", "email": "x@y"}}}}, "plugins": {{"x": {{"k": [1, 2]}}}}, "currentContext": "remote"}}"#
            ),
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let mut c = load(&path);
        c.store("docker.io", &Credentials::basic("me", "pw"))
            .unwrap();
        c.store("ghcr.io", &Credentials::basic("o2", "p2")).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "table {{.ID}}");
        assert_eq!(v["plugins"]["x"]["k"], serde_json::json!([1, 2]));
        assert_eq!(v["currentContext"], "remote");
        assert_eq!(v["auths"]["ghcr.io"]["email"], "x@y");
        assert_eq!(v["auths"]["ghcr.io"]["auth"], b64("o2:p2"));
        assert_eq!(v["auths"][DOCKER_HUB_KEY]["auth"], b64("me:pw"));
        // An existing file keeps its permissions, as docker's save does.
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[test]
    fn identity_token_is_stored_beside_auth() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let mut c = load(&path);
        let t = Credentials {
            identity_token: Some("refresh".into()),
            ..Credentials::default()
        };
        c.store("reg.example.com", &t).unwrap();
        let v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            v["auths"]["reg.example.com"],
            serde_json::json!({"identitytoken": "refresh"})
        );
        assert_eq!(creds(&load(&path), "reg.example.com"), Some(t));
    }

    #[test]
    fn symlinked_config_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        fs::write(&real, "{}").unwrap();
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut c = load(&link);
        c.store("ghcr.io", &Credentials::basic("a", "b")).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::read_to_string(&real).unwrap().contains(&b64("a:b")));
    }

    #[test]
    fn logout_removes_entry_and_its_scheme_variants() {
        let dir = tempfile::tempdir().unwrap();
        let a = b64("a:1");
        let path = write_config(
            dir.path(),
            &format!(
                r#"{{"auths": {{"ghcr.io": {{"auth": "{a}"}}, "https://ghcr.io": {{"auth": "{a}"}}, "quay.io": {{"auth": "{a}"}}}}}}"#
            ),
        );
        let mut c = load(&path);
        assert!(c.erase("ghcr.io").unwrap());
        let c2 = load(&path);
        assert_eq!(creds(&c2, "ghcr.io"), None);
        assert!(creds(&c2, "quay.io").is_some());
        assert!(!c.erase("ghcr.io").unwrap(), "second logout finds nothing");
    }

    #[test]
    fn helper_protocol_store_get_erase_through_creds_store() {
        let helper = Helper::new();
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), r#"{"credsStore": "wharftest"}"#);
        let mut c = load(&path);
        c.set_helper_path(helper.path_var());
        assert_eq!(c.helper_for("127.0.0.1:5001").as_deref(), Some("wharftest"));
        assert_eq!(
            creds(&c, "127.0.0.1:5001"),
            None,
            "not found means anonymous"
        );

        c.store(
            "127.0.0.1:5001",
            &Credentials::basic("wharf", "wharf-secret"),
        )
        .unwrap();
        // The secret is in the helper, the file only has an empty entry.
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains(&b64("wharf:wharf-secret")) && !text.contains("wharf-secret"));
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["auths"]["127.0.0.1:5001"], serde_json::json!({}));
        assert_eq!(v["credsStore"], "wharftest");
        assert_eq!(helper.stored_entries(), 1);

        let mut fresh = load(&path);
        fresh.set_helper_path(helper.path_var());
        assert_eq!(
            creds(&fresh, "127.0.0.1:5001"),
            Some(Credentials::basic("wharf", "wharf-secret"))
        );
        assert!(helper.log().contains("get 127.0.0.1:5001"));

        assert!(fresh.erase("127.0.0.1:5001").unwrap());
        assert_eq!(helper.stored_entries(), 0);
        assert_eq!(creds(&fresh, "127.0.0.1:5001"), None);
        let v: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["auths"], serde_json::json!({}));
        assert!(!fresh.erase("127.0.0.1:5001").unwrap());
    }

    #[test]
    fn helper_token_username_means_identity_token() {
        let helper = Helper::new();
        helper.seed(DOCKER_HUB_KEY, "<token>", "refresh-token");
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), r#"{"credsStore": "wharftest"}"#);
        let mut c = load(&path);
        c.set_helper_path(helper.path_var());
        let got = creds(&c, "docker.io").unwrap();
        assert_eq!(got.identity_token.as_deref(), Some("refresh-token"));
        assert_eq!(got.username, "");
        assert!(helper.log().contains(&format!("get {DOCKER_HUB_KEY}")));

        // Storing a token sends the <token> username.
        let t = Credentials {
            identity_token: Some("t2".into()),
            ..Credentials::default()
        };
        c.store("quay.io", &t).unwrap();
        assert!(helper.log().contains(r#""Username":"<token>""#));
        assert_eq!(creds(&c, "quay.io"), Some(t));
    }

    #[test]
    fn cred_helpers_override_creds_store_per_registry() {
        let helper = Helper::new();
        helper.seed("gcr.io", "_json_key", "k");
        let dir = tempfile::tempdir().unwrap();
        let file_auth = b64("fileuser:filepass");
        let path = write_config(
            dir.path(),
            &format!(
                r#"{{"credHelpers": {{"gcr.io": "wharftest"}}, "auths": {{"ghcr.io": {{"auth": "{file_auth}"}}}}}}"#
            ),
        );
        let mut c = load(&path);
        c.set_helper_path(helper.path_var());
        assert_eq!(c.helper_for("gcr.io").as_deref(), Some("wharftest"));
        assert_eq!(c.helper_for("ghcr.io"), None);
        assert_eq!(
            creds(&c, "gcr.io"),
            Some(Credentials::basic("_json_key", "k"))
        );
        assert_eq!(creds(&c, "ghcr.io").unwrap().username, "fileuser");
        assert!(
            !helper.log().contains("ghcr.io"),
            "file registries never ask the helper"
        );

        // Login to the file registry stays in the file.
        c.store("ghcr.io", &Credentials::basic("n", "m")).unwrap();
        assert_eq!(helper.stored_entries(), 1);
        assert_eq!(
            creds(&load(&path), "ghcr.io"),
            Some(Credentials::basic("n", "m"))
        );
    }

    #[test]
    fn helper_miss_falls_back_to_the_file_entry() {
        let helper = Helper::new();
        let dir = tempfile::tempdir().unwrap();
        let a = b64("legacy:pw");
        let path = write_config(
            dir.path(),
            &format!(r#"{{"credsStore": "wharftest", "auths": {{"ghcr.io": {{"auth": "{a}"}}}}}}"#),
        );
        let mut c = load(&path);
        c.set_helper_path(helper.path_var());
        assert_eq!(
            creds(&c, "ghcr.io"),
            Some(Credentials::basic("legacy", "pw"))
        );
    }

    #[test]
    fn missing_helper_is_an_error_naming_helper_and_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), r#"{"credsStore": "wharf-no-such-helper"}"#);
        let mut c = load(&path);
        c.set_helper_path(dir.path().as_os_str());
        let e = c.credentials("ghcr.io").unwrap_err().to_string();
        assert_eq!(
            e,
            "credential helper docker-credential-wharf-no-such-helper for ghcr.io: \
             docker-credential-wharf-no-such-helper is not installed or not in PATH"
        );
        assert!(c.store("ghcr.io", &Credentials::basic("a", "b")).is_err());
        // Nothing was written when the helper could not store.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            r#"{"credsStore": "wharf-no-such-helper"}"#
        );
    }

    #[test]
    fn failing_helper_reports_its_message() {
        let helper = Helper::new();
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), r#"{"credsStore": "wharftest"}"#);
        let mut c = load(&path);
        c.set_helper_path(helper.path_var());
        // "list" is not an action the script knows: exercise the error path.
        let out = c.run_helper("wharftest", "list", "", "ghcr.io").unwrap();
        assert_eq!(out, Err("unknown action list".to_string()));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Credentials {
            username: "u".into(),
            password: "hunter2".into(),
            identity_token: Some("tok".into()),
        };
        let d = format!("{c:?}");
        assert!(d.contains("\"u\"") && !d.contains("hunter2") && !d.contains("tok\""));
    }
}
