//! A COPY or ADD step: its sources found (in the context, another stage or
//! an image, or a URL), checked against the cache by their content, and
//! written into the stage's image.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn copy_step(
        &mut self,
        state: State,
        expanded: &Instruction,
        original: &str,
        stage: usize,
    ) -> Result<State> {
        let mut add_checksum = None;
        let (sources, dest, heredocs, from, chown, chmod, exclude, add) = match expanded {
            Instruction::Copy {
                sources,
                dest,
                heredocs,
                from,
                chown,
                chmod,
                exclude,
                ..
            } => (
                sources,
                dest,
                heredocs,
                from.as_deref(),
                chown,
                chmod,
                exclude,
                false,
            ),
            Instruction::Add {
                sources,
                dest,
                heredocs,
                chown,
                chmod,
                exclude,
                checksum,
                ..
            } => {
                add_checksum = checksum.as_deref().map(digest::parse).transpose()?;
                (sources, dest, heredocs, None, chown, chmod, exclude, true)
            }
            _ => return Err(Error::invalid("not a COPY or ADD")),
        };
        let owner_text = chown.as_deref().unwrap_or_default();
        // Where the sources come from: the context, or another stage's or
        // image's root filesystem, mounted for the copy — once the step is
        // not found by what it copies from (the other stage's key), which
        // needs no files of it.
        let mut source_mount = None;
        let mut by_source = None;
        let source_root: PathBuf = match from {
            None => self.options.context.clone().ok_or_else(|| {
                Error::invalid(
                    "there is no build context (the Dockerfile came from stdin): \
                     COPY and ADD of local files need a context directory",
                )
            })?,
            Some(from) => {
                let source = match self.stage_named(from).filter(|&i| i < stage) {
                    Some(i) => self.stage_result(i)?,
                    None => self.base(from, stage)?.0,
                };
                let key = StepKey {
                    parent: state.key.clone(),
                    text: format!("{expanded:?}"),
                    extra: format!("from {} {owner_text}", source.key),
                    instruction: original.to_string(),
                    inputs: vec![
                        ("what it copies from".into(), source.key.to_string()),
                        ("the --chown owner".into(), owner_text.to_string()),
                    ],
                };
                if let Some(hit) = self.cached(&key, false) {
                    return self.finish(hit, &key, true);
                }
                by_source = Some(key);
                self.ensure_layers(&source)?;
                let mount = StepDir::new(self.work.path())?;
                let root = mount.mount(self.store, &source)?;
                source_mount = Some(mount);
                root
            }
        };
        let ignore = self.ignore.clone().filter(|_| from.is_none());
        let excluded = |p: &str| ignore.as_ref().is_some_and(|i| i.excludes(p));
        let may_include_below = |p: &str| ignore.as_ref().is_none_or(|i| i.may_include_below(p));
        let inline: Vec<(String, Vec<u8>)> = heredocs
            .iter()
            .map(|h| (h.name.clone(), h.body().into_bytes()))
            .collect();
        let chmod_text = chmod.clone();
        let chmod = chmod.as_deref().map(copy::Chmod::parse).transpose()?;
        let workdir = state
            .runtime_value()
            .get("WorkingDir")
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string();
        let step = StepDir::new(self.work.path())?;
        let mut request = copy::Request {
            sources,
            source_root: &source_root,
            excluded: &excluded,
            may_include_below: &may_include_below,
            dest,
            workdir: &workdir,
            rootfs: &step.dir.rootfs(),
            owner: None,
            preserve_owners: from.is_some(),
            chmod,
            add,
            checksum: add_checksum,
            inline: &inline,
            exclude,
        };
        let checksum = copy::checksum(&request)?;
        let key = StepKey {
            parent: state.key.clone(),
            text: format!("{expanded:?}"),
            extra: format!("{checksum} {owner_text}"),
            instruction: original.to_string(),
            inputs: vec![
                ("the files it copies".into(), checksum.to_string()),
                ("the --chown owner".into(), owner_text.to_string()),
            ],
        };
        if let Some(hit) = self.cached(&key, true) {
            let state = self.finish(hit, &key, true)?;
            if let Some(alias) = &by_source {
                self.cache().record_alias(alias, &state)?;
            }
            return Ok(state);
        }
        self.ensure_layers(&state)?;
        let rootfs = step.mount(self.store, &state)?;
        let owner = chown.as_deref().map(|spec| owner::resolve(&rootfs, spec));
        request.owner = owner;
        request.rootfs = &rootfs;
        copy::copy(&request)?;
        step.unmount();
        drop(source_mount);
        let mut next = state;
        let heredoc_names: Vec<String> = heredocs.iter().map(|h| h.name.clone()).collect();
        let created_by = history::copy_step(&history::CopyText {
            add,
            parents: matches!(expanded, Instruction::Copy { parents: true, .. }),
            chown: chown.as_deref(),
            chmod: chmod_text.as_deref(),
            sources,
            heredocs: &heredoc_names,
            dest,
        });
        step.commit(&mut self.layers, &mut next, &created_by, &self.clock)?;
        let state = self.finish(next, &key, false)?;
        if let Some(alias) = &by_source {
            self.cache().record_alias(alias, &state)?;
        }
        Ok(state)
    }
}
