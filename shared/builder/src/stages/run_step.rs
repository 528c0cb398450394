//! A RUN step: what its `--mount`s provide (binds of the context, of other
//! stages and images, cache directories, tmpfs, secrets) and its command run
//! in a container on the stage's image, the change becoming its layer.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn run_step(
        &mut self,
        state: State,
        scope: &Scope,
        request: &RunRequest<'_>,
    ) -> Result<State> {
        let RunRequest {
            expanded,
            original,
            command,
            heredocs,
            settings,
            mounts,
            stage,
        } = *request;
        let mut settings = settings.clone();
        // A lone heredoc starting with `#!` runs as a program of its own,
        // read-only at /dev/pipes/NAME, as BuildKit runs it (held until
        // the step ends).
        let mut pipe = None;
        let args = match command {
            Command::Exec(words) => words.clone(),
            Command::Shell(line) => {
                let mut shell = process::strings(&state.runtime_value(), "Shell");
                if shell.is_empty() {
                    shell = vec!["/bin/sh".into(), "-c".into()];
                }
                match run_script::shebang_heredoc(line, heredocs) {
                    Some(heredoc) => {
                        let (dir, bind) = run_script::pipe_file(self.work.path(), heredoc)?;
                        shell.push(bind.destination.clone());
                        settings.isolation.binds.push(bind);
                        pipe = Some(dir);
                    }
                    None => shell.push(run_script::script(line, heredocs)),
                }
                shell
            }
        };
        let mut build_env = scope.environment();
        // Held until the step ends: the mounts of other stages' files.
        let mut held = Vec::new();
        let mut extra = build_env.join("\n");
        let mut inputs = vec![("the build arguments".to_string(), extra.clone())];
        let mut pending = Vec::new();
        for mount in mounts {
            let provided = self.provide(mount, stage)?;
            if let Some(checksum) = &provided.checksum {
                extra.push_str(&format!("\n{} {checksum}", mount.target));
                inputs.push((
                    format!("the files mounted at {}", mount.target),
                    checksum.clone(),
                ));
            }
            if let Some(bind) = provided.bind {
                settings.isolation.binds.push(bind);
            }
            pending.extend(provided.pending);
            if mount.kind == MountKind::Tmpfs {
                settings.isolation.tmpfs.push(mount.target.clone());
            }
            if let Some(pair) = provided.env {
                build_env.push(pair);
            }
        }
        let key = StepKey {
            parent: state.key.clone(),
            text: format!("{expanded:?}"),
            extra,
            instruction: original.to_string(),
            inputs,
        };
        if let Some(hit) = self.cached(&key, true) {
            return self.finish(hit, &key, true);
        }
        self.ensure_layers(&state)?;
        for mount in mounts.iter().filter(|m| m.kind == MountKind::Cache) {
            let id = mount.id.clone().unwrap_or_else(|| mount.target.clone());
            self.cache()
                .fill_cache_mount(&id, &mounts::cache_dir(&self.store.state_dir(), mount)?);
        }
        for bind in pending {
            let bind = self.bind(bind, &mut held)?;
            settings.isolation.binds.push(bind);
        }
        let env = process::strings(&state.runtime_value(), "Env");
        let created_by = history::run_step(
            &scope.history_args(&|name| variable(&env, scope, name)),
            &args,
        );
        let log = self.run_log(&mut settings);
        let run = steps::Run {
            args,
            build_env,
            settings: &settings,
        };
        let step = steps::run(self.store, self.work.path(), &state, &run, &|id| {
            self.say(&format!(" ---> Running in {id}"));
        });
        self.keep_run_output(log);
        let step = step?;
        drop(held);
        drop(pipe);
        let targets: Vec<String> = mounts.iter().map(|m| m.target.clone()).collect();
        mounts::remove_mount_points(&step.dir.upper(), &state.snapshots(self.store)?, &targets);
        let mut next = state;
        step.commit(&mut self.layers, &mut next, &created_by, &self.clock)?;
        self.finish(next, &key, false)
    }

    /// What a `RUN --mount` binds (a bind mount of files only once the
    /// step is known to be made: see [`Builder::bind`]), the checksum of
    /// what it shows (for the cache key), or the environment variable of a
    /// secret.
    fn provide(&mut self, mount: &Mount, stage: usize) -> Result<Provided> {
        let mut provided = Provided::default();
        match mount.kind {
            MountKind::Tmpfs => {}
            MountKind::Cache => {
                let dir = mounts::cache_dir(&self.store.state_dir(), mount)?;
                let id = mount.id.clone().unwrap_or_else(|| mount.target.clone());
                self.cache().note_cache_mount(&id, &dir);
                provided.bind = Some(Bind {
                    source: dir,
                    destination: mount.target.clone(),
                    read_only: false,
                });
            }
            MountKind::Secret => {
                let id = mount.id.clone().unwrap_or_default();
                let Some(secret) = self.options.secrets.iter().find(|s| s.id == id) else {
                    if mount.required {
                        return Err(Error::invalid(format!(
                            "secret {id} is required: give it with --secret id={id},src=FILE"
                        )));
                    }
                    return Ok(provided);
                };
                match &mount.env {
                    Some(variable) => {
                        provided.env = Some(format!("{variable}={}", secret.value()?));
                    }
                    None => {
                        provided.bind = Some(Bind {
                            source: secret.file(self.work.path())?,
                            destination: mount.target.clone(),
                            read_only: true,
                        })
                    }
                }
            }
            MountKind::Bind => {
                let source = img_core::path::inside(mount.source.as_deref().unwrap_or("."))?;
                let root = match &mount.from {
                    None => {
                        let context = self.options.context.clone().ok_or_else(|| {
                            Error::invalid("there is no build context for RUN --mount=type=bind")
                        })?;
                        provided.checksum =
                            Some(self.context_checksum(&context, &source, &mount.target)?);
                        BindRoot::Context(context)
                    }
                    Some(from) => {
                        let other = match self.stage_named(from).filter(|&i| i < stage) {
                            Some(i) => self.stage_result(i)?,
                            None => self.base(from, stage)?.0,
                        };
                        provided.checksum = Some(format!("{} {source}", other.key));
                        BindRoot::State(Box::new(other))
                    }
                };
                provided.pending = Some(PendingBind {
                    root,
                    source,
                    rw: mount.rw,
                    target: mount.target.clone(),
                });
            }
        }
        Ok(provided)
    }

    /// The checksum of `source` in the context, as COPY would read it.
    fn context_checksum(
        &self,
        context: &std::path::Path,
        source: &str,
        target: &str,
    ) -> Result<String> {
        let ignore = self.ignore.clone();
        let excluded = |p: &str| ignore.as_ref().is_some_and(|i| i.excludes(p));
        let may_include_below = |p: &str| ignore.as_ref().is_none_or(|i| i.may_include_below(p));
        let sources = [if source.is_empty() {
            ".".to_string()
        } else {
            source.to_string()
        }];
        let request = copy::Request {
            sources: &sources,
            source_root: context,
            excluded: &excluded,
            may_include_below: &may_include_below,
            dest: target,
            workdir: "/",
            rootfs: context,
            owner: None,
            preserve_owners: false,
            chmod: None,
            add: false,
            checksum: None,
            inline: &[],
            exclude: &[],
        };
        Ok(copy::checksum(&request)?.to_string())
    }

    /// Mount what a `RUN --mount=type=bind` shows; the mounts are held in
    /// `held` until the step ends.
    fn bind(&mut self, pending: PendingBind, held: &mut Vec<StepDir>) -> Result<Bind> {
        let root = match pending.root {
            BindRoot::Context(context) => context,
            BindRoot::State(other) => {
                self.ensure_layers(&other)?;
                let dir = StepDir::new(self.work.path())?;
                let root = dir.mount(self.store, &other)?;
                held.push(dir);
                root
            }
        };
        // The source is resolved inside its root, links and all; the
        // runtime gets the path of what was found.
        let mut path =
            img_core::confine::Root::open(&root)?.real_path(pending.source.as_bytes())?;
        if pending.rw {
            // Writes go to a throwaway layer over the source.
            let dir = StepDir::new(self.work.path())?;
            path = dir.mount_dir(&path)?;
            held.push(dir);
        }
        Ok(Bind {
            source: path,
            destination: pending.target,
            read_only: !pending.rw,
        })
    }
}

/// What one `RUN --mount` gives the step.
#[derive(Default)]
struct Provided {
    bind: Option<Bind>,
    /// A bind mount of files, made once the step is known to be made.
    pending: Option<PendingBind>,
    checksum: Option<String>,
    env: Option<String>,
}

/// A `RUN --mount=type=bind` not mounted yet.
struct PendingBind {
    root: BindRoot,
    source: String,
    rw: bool,
    target: String,
}

/// Where a bind mount's files are.
enum BindRoot {
    /// The build context.
    Context(PathBuf),
    /// Another stage's or an image's root filesystem.
    State(Box<State>),
}
