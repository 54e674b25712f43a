//! Named contexts (`--build-context NAME=VALUE`, compose
//! `additional_contexts`): a directory or an image that a FROM, `COPY
//! --from` or `RUN --mount=from` word names, in place of the image or stage
//! of that name, as BuildKit resolves them.

use super::{stage_named, BuildError, Result, Shared, StageRun};
use crate::build::cache::CacheKey;
use crate::build::context::{Context, ContextFilter, DEFAULT_SIZE_LIMIT};
use crate::build::image::ImageState;
use crate::build::progress::StepName;
use crate::build::stages::context_key;
use crate::build::step::{self, CopyPlan, CopySource, SourceRoot};
use crate::build::tree::MergedView;
use crate::image::store::ImageRecord;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// What a named context is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory, read through its own `.dockerignore`.
    Dir(PathBuf),
    /// `docker-image://REF`: an image, from the store or pulled like a FROM image.
    Image(String),
    /// An image already in the store (compose `service:NAME`, built first).
    Stored(Box<ImageRecord>),
}

/// Where a `COPY --from` / `RUN --mount=from` word reads.
pub(super) enum FromSource {
    /// A stage's or an image's filesystem.
    State(Box<ImageState>),
    /// A named directory context.
    Dir(Arc<Context>),
}

impl Shared<'_> {
    /// The named context `key` ([`context_key`]) if the request has one.
    pub(super) fn named_context(&self, word: &str) -> Option<(String, &NamedContext)> {
        let key = context_key(word);
        self.req.named_contexts.get(&key).map(|c| (key, c))
    }

    /// A named directory context, walked through its `.dockerignore` once
    /// per build.
    pub(super) fn named_dir(&self, key: &str, dir: &std::path::Path) -> Result<Arc<Context>> {
        let mut slot = self.named_dirs.lock().map_err(|_| BuildError::Invalid {
            file: self.req.dockerfile_name.clone(),
            line: 0,
            message: "the named contexts' lock is poisoned".into(),
        })?;
        if let Some(c) = slot.get(key) {
            return Ok(Arc::clone(c));
        }
        let open_err = |e| BuildError::OpenContext {
            dir: dir.to_path_buf(),
            source: Box::new(e),
        };
        let filter = ContextFilter::load(dir, None).map_err(open_err)?;
        let ctx = Arc::new(Context::open(dir, filter, DEFAULT_SIZE_LIMIT).map_err(open_err)?);
        slot.insert(key.to_string(), Arc::clone(&ctx));
        Ok(ctx)
    }

    /// The image state of a named image context.
    fn named_image(&self, context: &NamedContext, line: usize) -> Result<Option<ImageRecord>> {
        let record = match context {
            NamedContext::Dir(_) => return Ok(None),
            NamedContext::Stored(r) => (**r).clone(),
            NamedContext::Image(reference) => {
                self.host
                    .base_image(reference)
                    .map_err(|source| BuildError::Base {
                        file: self.req.dockerfile_name.clone(),
                        line,
                        image: reference.clone(),
                        source,
                    })?
            }
        };
        Ok(Some(record))
    }

    /// The start of a stage whose base is the named context `key`: the
    /// image's state, or for a directory an empty image whose one layer is
    /// the directory (BuildKit gives a local context the empty image config).
    pub(super) fn context_base(
        &self,
        key: &str,
        line: usize,
        step: &StepName,
    ) -> Result<(ImageState, CacheKey)> {
        let file = self.req.dockerfile_name.clone();
        let Some(context) = self.req.named_contexts.get(key) else {
            return Err(BuildError::Invalid {
                file,
                line,
                message: format!("named context {key:?} is not defined"),
            });
        };
        self.progress.started(step);
        let began = Instant::now();
        if let Some(record) = self.named_image(context, line)? {
            self.progress.done(step, began.elapsed());
            return Ok((
                ImageState::from_record(self.store, &record)?,
                CacheKey::base(Some(record.id()), &record.platform),
            ));
        }
        let NamedContext::Dir(dir) = context else {
            return Err(BuildError::Invalid {
                file,
                line,
                message: format!("named context {key:?} is neither an image nor a directory"),
            });
        };
        let ctx = self.named_dir(key, dir)?;
        let ctx_err = |e| BuildError::Context {
            file: file.clone(),
            line,
            instruction: "FROM",
            source: Box::new(e),
        };
        let resolved = ctx
            .resolve_sources(&[".".to_string()], &[])
            .map_err(ctx_err)?;
        let hash = ctx.hash_sources(&resolved).map_err(ctx_err)?;
        let created_by = format!("FROM {key} (context {})", dir.display());
        let cache_key = CacheKey::base(None, &self.req.platform).child(&[
            "named context",
            &created_by,
            &hash.to_string(),
        ]);
        if !self.req.no_cache {
            if let Some(state) = self.cache.get(&cache_key) {
                self.progress.cached(step);
                return Ok((state, cache_key));
            }
        }
        let staging = self.scratch()?;
        let included = resolved
            .iter()
            .flat_map(|r| r.entries.iter().map(|e| PathBuf::from(&e.path)))
            .collect();
        let plan = CopyPlan {
            instruction: "FROM",
            root: SourceRoot::Host(ctx.root()),
            sources: resolved
                .iter()
                .map(|r| CopySource {
                    rel: PathBuf::from(&r.path),
                    below_dest: None,
                })
                .collect(),
            dest: "/".into(),
            chown: None,
            chmod: None,
            epoch: self.req.source_date_epoch,
            extract_archives: false,
            included: Some(included),
        };
        step::stage_copy(&plan, &MergedView::default(), &staging).map_err(|source| {
            BuildError::Step {
                file: file.clone(),
                line,
                source: Box::new(source),
            }
        })?;
        let layer = crate::build::layer::commit_dir(
            self.store,
            &staging,
            &self.layer_options(),
            &self.holder,
        )
        .map_err(|source| BuildError::Layer {
            file: file.clone(),
            line,
            source: Box::new(source),
        });
        let _ = crate::image::unpack::remove_tree(&staging);
        let layer = layer?;
        let mut state = ImageState::scratch(self.req.platform.clone());
        state.add_history(&created_by, &super::now(self.req.source_date_epoch), false);
        state.push_layer(layer.record.clone());
        self.cache.put(&cache_key, &state, Some(&layer.record))?;
        self.progress.done(step, began.elapsed());
        Ok((state, cache_key))
    }
}

impl StageRun<'_, '_> {
    /// What a `COPY --from` / `RUN --mount=from` word names: an earlier
    /// stage, else a named context, else an image.
    pub(super) fn source_named(&self, word: &str, line: usize) -> Result<FromSource> {
        let invalid = |message: String| BuildError::Invalid {
            file: self.file(),
            line,
            message,
        };
        if let Some(j) = stage_named(&self.shared.req.dockerfile, word, self.index) {
            let state = self
                .done
                .get(&j)
                .map(|r| r.state.clone())
                .ok_or_else(|| invalid(format!("stage {word:?} was not built")))?;
            return Ok(FromSource::State(Box::new(state)));
        }
        let record = match self.shared.named_context(word) {
            Some((key, NamedContext::Dir(dir))) => {
                return Ok(FromSource::Dir(self.shared.named_dir(&key, dir)?))
            }
            Some((_, context)) => self.shared.named_image(context, line)?,
            None => None,
        };
        let record = match record {
            Some(r) => r,
            None => self
                .shared
                .host
                .base_image(word)
                .map_err(|source| BuildError::Base {
                    file: self.file(),
                    line,
                    image: word.to_string(),
                    source,
                })?,
        };
        Ok(FromSource::State(Box::new(ImageState::from_record(
            self.shared.store,
            &record,
        )?)))
    }
}
