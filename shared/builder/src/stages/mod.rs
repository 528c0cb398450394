//! The build's driver: which stages to build, and each instruction of each
//! stage turned into a step — looked up in the cache, else made. Config
//! instructions are made here; RUN in `run_step.rs`, COPY and ADD in
//! `copy_step.rs`. A build stops as BuildKit stops one (`cancel.rs`).

mod cancel;
mod config_step;
mod copy_step;
mod parallel;
mod run_step;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use cancel::{Cancel, Why};
use parallel::Output;

use serde_json::Value;

use super::args::{Given, Scope};
use super::cache::{self, StepKey};
use super::clock::Clock;
use super::copy;
use super::history;
use super::mounts::{self, Kind as MountKind, Mount};
use super::new_layers::NewLayers;
use super::owner;
use super::run_script;
use super::state::State;
use super::step_cache::{Found, StepCache};
use super::steps::{self, StepDir};
use super::workdir;
use super::{Built, Options};
use img_container::execute::Settings;
use img_container::process;
use img_container::spec::{Bind, Network};
use img_core::digest;
use img_core::error::{Error, IoContext, Result};
use img_core::platform::Platform;
use img_core::progress::Progress;
use img_dockerfile::change::Editor;
use img_dockerfile::{
    self as dockerfile, Command, Dockerfile, Heredoc, Ignore, Instruction, Located,
};
use img_runner::run::find_image;
use img_store::Store;

/// One build in progress; `'e` is what the scope of the threads storing its
/// layers may borrow.
pub struct Builder<'a, 'e> {
    store: &'a Store,
    options: &'a Options,
    progress: &'a dyn Progress,
    platform: Platform,
    file: Dockerfile,
    ignore: Option<Ignore>,
    given: Given,
    global: Scope,
    /// Step directories live here, on the snapshots' file system.
    work: tempfile::TempDir,
    /// Each stage's result, once built.
    done: Vec<Option<State>>,
    /// Steps printed so far, and in all.
    step: usize,
    total: usize,
    /// Whether the current stage set CMD (ENTRYPOINT clears only an
    /// inherited one, as Docker's builder decides).
    cmd_set: bool,
    /// The caches steps are looked up in, and what the build went through
    /// (shared by the stages built at once).
    cache: Arc<Mutex<StepCache<'a>>>,
    /// The times the build writes.
    clock: Clock,
    /// New layers being stored, off the critical path.
    layers: NewLayers<'a, 'e>,
    /// Where progress lines go (see `parallel.rs`).
    out: Output,
    /// Stops the build on a signal or at a failed stage (shared by the
    /// stages built at once).
    cancel: Arc<Cancel>,
}

impl<'a, 'e> Builder<'a, 'e> {
    /// Read the Dockerfile and the ignore file; declare the global ARGs.
    /// New layers are stored by threads of `scope`.
    pub fn new(
        store: &'a Store,
        options: &'a Options,
        progress: &'a dyn Progress,
        platform: Platform,
        scope: &'a std::thread::Scope<'a, 'e>,
    ) -> Result<Builder<'a, 'e>> {
        let file = dockerfile::parse_named(&options.dockerfile_name, &options.dockerfile)?;
        check_copy_from(&file, &options.dockerfile_name)?;
        let clock = Clock::new(options.source_date_epoch)?;
        let ignore = options.ignore.as_deref().map(Ignore::parse).transpose()?;
        let mut given = Given::parse(&options.build_args);
        let mut global = Scope::global(&platform, &mut given);
        for located in &file.global_args {
            if let Instruction::Arg(list) = &located.value {
                for (name, default) in list {
                    let vars = |n: &str| global.get(n);
                    let default = default
                        .as_deref()
                        .map(|d| dockerfile::expand_word(d, &vars, file.directives.escape))
                        .transpose()?;
                    global.declare(name, default, &mut given, None);
                }
            }
        }
        let dir = store.state_dir().join("build");
        std::fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
        let work = tempfile::Builder::new()
            .prefix("tmp-")
            .tempdir_in(&dir)
            .io_context(|| format!("creating a directory in {}", dir.display()))?;
        let stages = file.stages.len();
        Ok(Builder {
            store,
            options,
            progress,
            platform,
            file,
            ignore,
            given,
            global,
            work,
            done: vec![None; stages],
            step: 0,
            total: 0,
            cmd_set: false,
            cache: Arc::new(Mutex::new(StepCache::new(
                store,
                options.no_cache,
                progress,
            ))),
            clock,
            layers: NewLayers::new(scope, store),
            out: Output::Live,
            cancel: Arc::default(),
        })
    }

    /// Build the target stage and what it needs; store and name the image;
    /// write the cache where `--cache-to` says.
    pub fn build(mut self) -> Result<Built> {
        // SIGINT and SIGTERM stop the build (see `cancel.rs`): its RUN
        // processes are killed, and the flag stops the copies under way.
        let cancel = Arc::clone(&self.cancel);
        let _stopping = img_container::signals::on_stop(move |signal| {
            let took = cancel.take_signal(signal);
            if took {
                img_core::cancel::raise();
                cancel::end_after_grace(signal);
            }
            took
        })?;
        for warning in &self.file.warnings {
            self.say(&format!("[Warning] {warning}"));
        }
        self.cache().import(
            &self.options.cache_from,
            &self.options.pull_options.client,
            self.progress,
        );
        // A cache the signal stopped is only warned of: the build stops here.
        self.cancel.check()?;
        // Each start over takes fewer hits (see `step_cache.rs`); a cache
        // that failed is not asked again, so this ends.
        let mut starts = self.options.cache_from.len() + 2;
        let state = loop {
            match self.build_target() {
                // The signal that stopped the build is its error.
                Err(e) if matches!(self.cancel.why(), Some(Why::Signal(_))) => {
                    return Err(self.cancel.instead(e))
                }
                Err(e) if starts > 1 => {
                    // The steps made so far are cache hits of the next
                    // start once their layers are settled.
                    let why = match self.layers.settle() {
                        Ok(()) => self.cache().restart(),
                        Err(_) => None,
                    };
                    let Some(why) = why else {
                        return Err(e);
                    };
                    // A stage that failed stopped the others; all are
                    // built again.
                    self.cancel.resume();
                    starts -= 1;
                    self.say(&format!(
                        "[Cache] {why}; building again, taking only hits whose layers can be had"
                    ));
                    self.done = vec![None; self.file.stages.len()];
                    self.step = 0;
                }
                other => break other?,
            }
        };
        // A signal after the last step: nothing is stored or named; one
        // while the image is stored stops it before it is named, and one
        // while the cache is exported fails the build after (the image is
        // named, as BuildKit's image exporter runs before the cache's).
        self.cancel.check()?;
        let cancel = Arc::clone(&self.cancel);
        self.finish_image(state).map_err(|e| cancel.instead(e))
    }

    /// Put `state`'s layers into the store, fetching those it lacks from
    /// the caches — all but those being stored, whose snapshots are there
    /// already.
    fn ensure_layers(&mut self, state: &State) -> Result<()> {
        let stored: Vec<_> = state
            .layers
            .iter()
            .filter(|l| !self.layers.is_pending(l.digest()))
            .cloned()
            .collect();
        // One fetch at a time: see `parallel::PULLS`.
        let _pulling = stored
            .iter()
            .any(|l| !self.store.has_blob(l.digest()))
            .then(|| parallel::PULLS.lock().unwrap_or_else(|e| e.into_inner()));
        self.cache().ensure(&stored)
    }

    /// Build the stages the target needs; the target's state.
    fn build_target(&mut self) -> Result<State> {
        let target = match &self.options.target {
            Some(name) => self.stage_by_name(name).ok_or_else(|| {
                Error::invalid(format!(
                    "target stage {name:?} could not be found in the Dockerfile"
                ))
            })?,
            None => self.file.stages.len() - 1,
        };
        let needed = self.needed(target);
        self.total = needed
            .iter()
            .map(|&i| 1 + self.file.stages[i].instructions.len())
            .sum();
        self.build_stages(&needed)?;
        let state = self.done[target]
            .take()
            .ok_or_else(|| Error::invalid("the target stage was not built"))?;
        // The image needs its layers in the store.
        self.layers.settle()?;
        self.cache().ensure_layers(&state)?;
        Ok(state)
    }

    /// Label, store and name the image the target stage made; export the
    /// cache.
    fn finish_image(self, mut state: State) -> Result<Built> {
        let last_step = state.key.clone();
        if !self.options.labels.is_empty() {
            let labels = state
                .runtime()?
                .entry("Labels")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(labels) = labels.as_object_mut() {
                for (k, v) in &self.options.labels {
                    labels.insert(k.clone(), Value::String(v.clone()));
                }
            }
        }
        let unused = self.given.unused();
        if !unused.is_empty() {
            self.say(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ));
        }
        self.cache()
            .write_inline(&self.options.cache_to, &last_step, &mut state)?;
        let target = img_store::compose::write_image(self.store, &state.config, &state.layers)?;
        let id = target.id().clone();
        // Stored but not named: the collector takes it.
        self.cancel.check()?;
        self.say(&format!("Successfully built {}", digest::short(&id)));
        let mut record = None;
        for tag in &self.options.tags {
            let named = img_store::compose::name(self.store, &target, Some(tag))?;
            record.get_or_insert(named);
            self.say(&format!("Successfully tagged {}", tag.familiar()));
        }
        let record = match record {
            Some(r) => r,
            None => img_store::compose::name(self.store, &target, None)?,
        };
        self.cache().export(
            &self.options.cache_to,
            &self.options.pull_options.client,
            &last_step,
        )?;
        Ok(Built { target, record })
    }

    /// The caches, while the guard lives (never across another call of
    /// this).
    fn cache(&self) -> MutexGuard<'_, StepCache<'a>> {
        // A stage's thread that panicked fails the build anyway.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stage `name` names for COPY --from and RUN --mount from: its
    /// `AS` name (any case), or its index.
    fn stage_named(&self, name: &str) -> Option<usize> {
        self.stage_by_name(name).or_else(|| {
            name.parse::<usize>()
                .ok()
                .filter(|&i| i < self.file.stages.len())
        })
    }

    /// The stage whose `AS` name (any case) is `name`: how FROM and
    /// --target find a stage (`FROM 0` is an image, as in Docker).
    fn stage_by_name(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.file
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    fn build_stage(&mut self, index: usize) -> Result<State> {
        let escape = self.file.directives.escape;
        let stage = self.file.stages[index].clone();
        let global = self.global.clone();
        let base = stage.from.expand(&|n: &str| global.get(n), escape)?;
        self.step += 1;
        let alias = stage
            .name
            .as_ref()
            .map(|n| format!(" AS {n}"))
            .unwrap_or_default();
        self.cancel.check()?;
        self.say(&format!(
            "Step {}/{} : FROM {}{alias}",
            self.step, self.total, base.image
        ));
        if let Some(platform) = &base.platform {
            let wanted = Platform::parse(platform)?;
            if !wanted.matches(&self.platform) {
                return Err(Error::invalid(format!(
                    "{}:{}: FROM --platform={platform}: img-build builds for this machine's platform ({}) only",
                    self.options.dockerfile_name, stage.line, self.platform
                )));
            }
        }
        let (mut state, base_id) = self.base(&base.image, index)?;
        self.say(&format!(" ---> {}", digest::short(&base_id)));
        state.default_path()?;
        if let Some(epoch) = self.clock.epoch() {
            // Steps made with other times are not this build's.
            state.key = cache::key(&state.key, "SOURCE_DATE_EPOCH", &epoch.to_rfc3339());
        }
        self.cmd_set = false;
        let mut scope = Scope::stage(&self.global);
        let triggers = process::strings(&state.runtime_value(), "OnBuild");
        if !triggers.is_empty() {
            state.runtime()?.remove("OnBuild");
            self.say(&format!("# Executing {} build trigger(s)", triggers.len()));
            for trigger in &triggers {
                let located = dockerfile::parse_instruction(trigger)
                    .map_err(|e| e.context(format!("ONBUILD trigger {trigger:?}")))?;
                state = self.step(state, &mut scope, &located, index)?;
            }
        }
        for located in &stage.instructions {
            self.cancel.check()?;
            self.step += 1;
            self.say(&format!(
                "Step {}/{} : {}",
                self.step, self.total, located.original
            ));
            state = self.step(state, &mut scope, located, index).map_err(|e| {
                e.context(format!(
                    "{}:{}: {}",
                    self.options.dockerfile_name,
                    located.line,
                    located.value.keyword()
                ))
            })?;
        }
        Ok(state)
    }

    /// The result of the earlier stage `index`, built now when the target's
    /// needs could not be seen before the build (a `COPY --from=$ARG`).
    fn stage_result(&mut self, index: usize) -> Result<State> {
        if let Some(state) = &self.done[index] {
            return Ok(state.clone());
        }
        let cmd_set = self.cmd_set;
        let state = self.build_stage(index)?;
        self.cmd_set = cmd_set;
        self.done[index] = Some(state.clone());
        Ok(state)
    }

    /// What FROM `image` starts from in stage `index`, and the ID the
    /// classic builder shows for it: the image's own ID (its config's
    /// digest, which img-inspect finds), or the stage's result.
    fn base(&mut self, image: &str, index: usize) -> Result<(State, digest::Digest)> {
        if image.eq_ignore_ascii_case("scratch") {
            let state = State::scratch(&self.platform)?;
            let id = state.image_id()?;
            return Ok((state, id));
        }
        if let Some(i) = self.stage_by_name(image).filter(|&i| i < index) {
            let state = self.stage_result(i)?;
            let id = state.image_id()?;
            return Ok((state, id));
        }
        // One pull at a time: see `parallel::PULLS`.
        let pulling = parallel::PULLS.lock().unwrap_or_else(|e| e.into_inner());
        let found = find_image(
            self.store,
            image,
            Some(&self.platform),
            self.options.pull,
            &self.options.pull_options,
            self.progress,
        )?;
        drop(pulling);
        if let Ok(reference) = img_core::reference::Reference::parse(image) {
            self.cache().note_base(reference);
        }
        Ok((State::from_image(&found), found.id().clone()))
    }

    /// One instruction applied to `state`.
    fn step(
        &mut self,
        state: State,
        scope: &mut Scope,
        located: &Located<Instruction>,
        stage: usize,
    ) -> Result<State> {
        let escape = self.file.directives.escape;
        let env = process::strings(&state.runtime_value(), "Env");
        let expanded = {
            let vars = |name: &str| variable(&env, scope, name);
            located.value.expand(&vars, escape)?
        };
        match &expanded {
            Instruction::Arg(list) => {
                let taken: Vec<(String, Option<String>)> = list
                    .iter()
                    .map(|(name, default)| {
                        let value = scope.declare(
                            name,
                            default.clone(),
                            &mut self.given,
                            Some(&self.global),
                        );
                        (name.clone(), value)
                    })
                    .collect();
                self.history_step(state, &history::arg_step(&taken), &located.original)
            }
            Instruction::Run {
                command,
                heredocs,
                mounts,
                network,
                security,
            } => {
                // BuildKit expands each mount's words with the step's
                // variables, as the other flags.
                let mounts = {
                    let vars = |name: &str| variable(&env, scope, name);
                    mounts
                        .iter()
                        .map(|m| mounts::parse(&dockerfile::expand_word(m, &vars, escape)?))
                        .collect::<Result<Vec<_>>>()?
                };
                let mut settings = self.options.settings.clone();
                match network.as_deref() {
                    Some("none") => settings.isolation.network = Network::None,
                    Some("host") => settings.isolation.network = Network::Host,
                    _ => {}
                }
                settings.isolation.privileged |= security.as_deref() == Some("insecure");
                let request = RunRequest {
                    expanded: &expanded,
                    original: &located.original,
                    command,
                    heredocs,
                    settings: &settings,
                    mounts: &mounts,
                    stage,
                };
                self.run_step(state, scope, &request)
            }
            Instruction::Copy { .. } | Instruction::Add { .. } => {
                self.copy_step(state, &expanded, &located.original, stage)
            }
            _ => self.config_step(state, &expanded, &located.original),
        }
    }

    /// The step `step` from a cache (unless --no-cache), saying where it
    /// was found; or, when `explain` and misses are explained, why not.
    fn cached(&mut self, step: &StepKey, explain: bool) -> Option<State> {
        let hit = self.cache().lookup(step);
        if let Some(hit) = hit {
            match hit.found {
                Found::Local => self.say(" ---> Using cache"),
                Found::Imported(label) => self.say(&format!(" ---> Using cache from {label}")),
            }
            return Some(hit.state);
        }
        if explain {
            let why = self.cache().explain_miss(step);
            if let Some(why) = why {
                self.say(&format!(" ---> Cache miss: {why}"));
            }
        }
        None
    }

    /// Print a step's resulting image ID; remember a step made now in the
    /// cache, and every step for `--cache-to`.
    fn finish(&mut self, mut state: State, step: &StepKey, found: bool) -> Result<State> {
        if !found {
            state.key = step.key();
            state.stamp(self.clock.now());
        }
        self.cache().record(step, &state, !found)?;
        self.say(&format!(" ---> {}", digest::short(&state.image_id()?)));
        Ok(state)
    }
}

/// The value of `name` for a step's expansion: the image's ENV wins over
/// the build arguments in `scope`, as Docker decides.
fn variable(env: &[String], scope: &Scope, name: &str) -> Option<String> {
    env.iter()
        .rev()
        .find_map(|e| {
            e.split_once('=')
                .filter(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .or_else(|| scope.get(name))
}

/// Refuse a `COPY --from` with a variable, before anything is built, as
/// BuildKit does: its stage must be known when the build is planned.
fn check_copy_from(file: &Dockerfile, name: &str) -> Result<()> {
    let no_variables = |_: &str| None;
    for stage in &file.stages {
        for located in &stage.instructions {
            let Instruction::Copy {
                from: Some(from), ..
            } = &located.value
            else {
                continue;
            };
            let literal = dockerfile::expand_word(from, &no_variables, file.directives.escape);
            if literal.ok().as_deref() != Some(from.as_str()) {
                return Err(Error::invalid(format!(
                    "{name}:{}: COPY --from={from}: variable expansion is not supported for \
                     --from, define a new stage with FROM using ARG from global scope as a \
                     workaround",
                    located.line
                )));
            }
        }
    }
    Ok(())
}

/// A RUN step to make: the instruction expanded and what it asks for.
#[derive(Clone, Copy)]
struct RunRequest<'a> {
    expanded: &'a Instruction,
    /// The instruction as written.
    original: &'a str,
    command: &'a Command,
    heredocs: &'a [Heredoc],
    settings: &'a Settings,
    mounts: &'a [Mount],
    stage: usize,
}
