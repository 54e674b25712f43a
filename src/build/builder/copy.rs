//! COPY and ADD: sources from the context, another stage, an image or a URL,
//! written straight into a layer.

use super::named::FromSource;
use super::{view_of, BuildError, Result, StageRun};
use crate::build::dockerfile::{self as df, Instruction, Located};

use crate::build::step::{self, CopyPlan, CopySource, SourceRoot};
use crate::build::tree::{components, MergedView};
use crate::image::digest::Digest;
use std::path::PathBuf;
use std::time::Instant;

impl StageRun<'_, '_> {
    pub(super) fn copy(
        &mut self,
        ins: &Located<Instruction>,
        c: &df::CopyArgs,
        instruction: &'static str,
    ) -> Result<()> {
        let file = self.file();
        let invalid = |message: String| BuildError::Invalid {
            file: file.clone(),
            line: ins.line,
            message,
        };
        if c.from.is_some() && !c.exclude.is_empty() {
            return Err(invalid(format!(
                "{instruction}: --exclude with --from is not supported yet"
            )));
        }
        if c.parents && (urls_in(&c.sources) > 0 || !c.heredocs.is_empty()) {
            return Err(invalid(format!(
                "{instruction} --parents: the sources must be paths, not URLs or heredocs"
            )));
        }
        if !c.heredocs.is_empty() && (!c.sources.is_empty() || c.from.is_some()) {
            return Err(invalid(format!(
                "{instruction}: heredoc sources mixed with other sources are not supported yet"
            )));
        }
        let urls = urls_in(&c.sources);
        if urls > 0 && instruction == "COPY" {
            return Err(invalid(
                "COPY: source can't be a URL (use ADD to fetch files)".into(),
            ));
        }
        if urls > 0 && (urls != c.sources.len() || c.from.is_some()) {
            return Err(invalid(format!(
                "{instruction}: URL sources mixed with other sources are not supported yet"
            )));
        }
        let workdir = self
            .state
            .string_field("WorkingDir")
            .unwrap_or_else(|| "/".into());
        let dest = if c.dest.starts_with('/') {
            c.dest.clone()
        } else {
            let d = format!("{}/{}", workdir.trim_end_matches('/'), c.dest);
            if c.dest == "." || c.dest.ends_with('/') || c.dest.ends_with("/.") {
                format!("{}/", d.trim_end_matches('.').trim_end_matches('/'))
            } else {
                d
            }
        };
        let view = self.view()?;
        let chown = match &c.chown {
            Some(spec) => Some(resolve_owner(&view, spec).map_err(&invalid)?),
            None => None,
        };
        let chmod = match &c.chmod {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        invalid(format!("{instruction} --chmod={m}: expected an octal mode"))
                    })?,
            ),
            None => None,
        };
        // Where the sources come from: another stage, an image, or the context.
        let from_view;
        let from_source = match &c.from {
            Some(f) => Some(self.source_named(f, ins.line)?),
            None => None,
        };
        let heredoc_dir;
        let url_dir;
        let mut url_names = Vec::new();
        let root = match &c.from {
            // `ADD https://…`: fetched, checked against --checksum, mode 0600 (Docker's).
            None if urls > 0 => {
                url_dir = self.shared.scratch()?;
                for u in &c.sources {
                    let name = url_file_name(u);
                    let p = url_dir.join(&name);
                    self.shared
                        .host
                        .fetch(u, &p)
                        .map_err(|source| BuildError::Run {
                            file: file.clone(),
                            line: ins.line,
                            text: format!("{instruction} {u}"),
                            source,
                        })?;
                    if let Some(want) = &c.checksum {
                        let data = std::fs::read(&p).map_err(|source| BuildError::Scratch {
                            path: p.clone(),
                            source,
                        })?;
                        let want_digest: Digest = want.parse().map_err(|_| {
                            invalid(format!(
                                "{instruction} --checksum={want}: expected sha256:<hex>"
                            ))
                        })?;
                        let got = Digest::of(want_digest.algorithm(), &data);
                        if got != want_digest {
                            return Err(invalid(format!(
                                "{instruction} {u}: digest mismatch: --checksum={want}, the download has {got}"
                            )));
                        }
                    }
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).map_err(
                        |source| BuildError::Scratch {
                            path: p.clone(),
                            source,
                        },
                    )?;
                    url_names.push(name);
                }
                SourceRoot::Host(&url_dir)
            }
            // `COPY <<EOF /dest`: each body is a file named by its delimiter.
            None if !c.heredocs.is_empty() => {
                heredoc_dir = self.shared.scratch()?;
                for h in &c.heredocs {
                    let p = heredoc_dir.join(&h.name);
                    std::fs::write(&p, &h.content).map_err(|source| BuildError::Scratch {
                        path: p.clone(),
                        source,
                    })?;
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(
                        |source| BuildError::Scratch {
                            path: p.clone(),
                            source,
                        },
                    )?;
                }
                SourceRoot::Host(&heredoc_dir)
            }
            Some(_) => match &from_source {
                Some(FromSource::State(state)) => {
                    from_view = view_of(self.shared.store, state)?;
                    SourceRoot::Layers(&from_view)
                }
                Some(FromSource::Dir(ctx)) => SourceRoot::Host(ctx.root()),
                None => SourceRoot::Host(&self.shared.req.context),
            },
            None => SourceRoot::Host(&self.shared.req.context),
        };
        let mut sources = Vec::new();
        // From the context: what .dockerignore lets through, hashed without
        // copying anything (a cache hit stages nothing).
        let mut included = None;
        let mut context_hash = None;
        let ctx = match &root {
            SourceRoot::Host(_) if c.from.is_some() => match &from_source {
                Some(FromSource::Dir(ctx)) => Some(std::sync::Arc::clone(ctx)),
                _ => None,
            },
            SourceRoot::Host(_) if c.heredocs.is_empty() && urls == 0 => {
                Some(self.shared.context()?)
            }
            _ => None,
        };
        match &ctx {
            Some(ctx) => {
                let ctx_err = |e| BuildError::Context {
                    file: file.clone(),
                    line: ins.line,
                    instruction,
                    source: Box::new(e),
                };
                let resolved = ctx
                    .resolve_sources(&c.sources, &c.exclude)
                    .map_err(ctx_err)?;
                context_hash = Some(ctx.hash_sources(&resolved).map_err(ctx_err)?);
                let mut set = std::collections::HashSet::new();
                for r in &resolved {
                    let rel = PathBuf::from(&r.path);
                    sources.push(CopySource {
                        below_dest: c.parents.then(|| step::parents_path(&r.source, &rel)),
                        rel,
                    });
                    set.extend(r.entries.iter().map(|e| PathBuf::from(&e.path)));
                }
                included = Some(set);
            }
            None => {
                if urls == 0 {
                    for s in &c.sources {
                        let rel = components(s).iter().collect::<PathBuf>();
                        sources.push(CopySource {
                            below_dest: c.parents.then(|| step::parents_path(s, &rel)),
                            rel,
                        });
                    }
                }
                for n in &url_names {
                    sources.push(CopySource {
                        rel: PathBuf::from(n),
                        below_dest: None,
                    });
                }
                for h in &c.heredocs {
                    sources.push(CopySource {
                        rel: PathBuf::from(&h.name),
                        below_dest: None,
                    });
                }
            }
        }
        let step = self.shared.step(self.title(&ins.text));
        self.shared.progress.started(&step);
        let began = Instant::now();
        let plan = CopyPlan {
            instruction,
            root,
            sources,
            dest: dest.clone(),
            chown,
            chmod,
            epoch: self.shared.req.source_date_epoch,
            extract_archives: instruction == "ADD" && urls == 0 && c.unpack != Some(false),
            included,
        };
        let args_text = ins
            .text
            .split_once(char::is_whitespace)
            .map(|(_, rest)| rest.trim().to_string())
            .unwrap_or_default();
        let created_by = format!("{instruction} {args_text} # buildkit");
        if let Some(hash) = &context_hash {
            let key = self.key.child(&[&created_by, &dest, &hash.to_string()]);
            if self.cached(&key, &step) {
                return Ok(());
            }
        }
        // --link: the layer does not depend on what is below (BuildKit's
        // rebase-able copy): new parent directories get 0755 root, and the
        // destination is a directory only when written with a trailing /.
        let stage_view = if c.link {
            MergedView::default()
        } else {
            view.clone()
        };
        let staging = self.shared.scratch()?;
        let step_err = |source| BuildError::Step {
            file: file.clone(),
            line: ins.line,
            source: Box::new(source),
        };
        step::stage_copy(&plan, &stage_view, &staging).map_err(step_err)?;
        // From a stage, the staged tree itself is what the key hashes.
        let content = match context_hash {
            Some(h) => h,
            None => step::tree_hash(&staging).map_err(step_err)?,
        };
        let key = self.key.child(&[&created_by, &dest, &content.to_string()]);
        if self.cached(&key, &step) {
            let _ = crate::image::unpack::remove_tree(&staging);
            return Ok(());
        }
        // --cache-from: the image's layer for this step, only when its files
        // are provably what was just staged.
        if !self.no_cache() {
            if let Some(state) = self
                .seeded(&created_by)
                .filter(|seed| self.seed_matches(seed, &staging))
            {
                let _ = crate::image::unpack::remove_tree(&staging);
                return self.take_seed(key, state, &step);
            }
        }
        let layer = self.layer_of(ins, &staging)?;
        let _ = crate::image::unpack::remove_tree(&staging);
        self.commit_step(key, &created_by, layer)?;
        self.shared.progress.done(&step, began.elapsed());
        Ok(())
    }
}

fn urls_in(sources: &[String]) -> usize {
    sources.iter().filter(|s| is_url(s)).count()
}

fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// The file name ADD gives a download: the URL path's last segment
/// (`index.html` for none), as Docker does without Content-Disposition.
fn url_file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    match after_host.rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." && n != ".." => n.to_string(),
        _ => "index.html".to_string(),
    }
}

/// `--chown=user[:group]` as numbers, names looked up in the image's
/// /etc/passwd and /etc/group.
fn resolve_owner(view: &MergedView, spec: &str) -> std::result::Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Option<(u32, Option<u32>)> {
        let path = view.lookup(file)?;
        let text = std::fs::read_to_string(path).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| {
                (
                    f.get(field).and_then(|v| v.parse().ok()).unwrap_or(0),
                    f.get(3).and_then(|v| v.parse().ok()),
                )
            })
        })
    };
    let (uid, primary_gid) = match user.parse::<u32>() {
        Ok(n) => (n, None),
        Err(_) => {
            let (uid, gid) = lookup("/etc/passwd", user, 2).ok_or_else(|| {
                format!("--chown={spec}: unknown user {user:?} in the image's /etc/passwd")
            })?;
            (uid, gid)
        }
    };
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                lookup("/etc/group", g, 2)
                    .ok_or_else(|| {
                        format!("--chown={spec}: unknown group {g:?} in the image's /etc/group")
                    })?
                    .0
            }
        },
        // BuildKit: a user given alone gets the same number as group, or its primary group by name.
        None => primary_gid.unwrap_or(uid),
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_are_named_by_the_url_path() {
        assert_eq!(
            url_file_name("https://example.com/a/b/tool.tar.gz?x=1"),
            "tool.tar.gz"
        );
        assert_eq!(url_file_name("http://127.0.0.1:8080/"), "index.html");
        assert_eq!(url_file_name("http://127.0.0.1:8080"), "index.html");
        assert!(is_url("https://x/y") && !is_url("ftp.txt"));
    }
}
