//! The build's driver: which stages to build, and each instruction of each
//! stage turned into a step — looked up in the cache, else made.

use std::path::PathBuf;

use serde_json::Value;

use super::args::{Given, Scope};
use super::cache;
use super::copy;
use super::state::State;
use super::steps::{self, StepDir};
use super::{Built, Options};
use crate::change::Editor;
use crate::container::execute::Settings;
use crate::container::process;
use crate::container::spec::Network;
use crate::container::user;
use crate::digest;
use crate::dockerfile::{self, Command, Dockerfile, Heredoc, Ignore, Instruction, Located};
use crate::error::{Error, IoContext, Result};
use crate::platform::Platform;
use crate::progress::Progress;
use crate::run::find_image;
use crate::store::Store;

/// One build in progress.
pub struct Builder<'a> {
    store: &'a Store,
    options: &'a Options,
    progress: &'a Progress,
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
}

impl<'a> Builder<'a> {
    /// Read the Dockerfile and the ignore file; declare the global ARGs.
    pub fn new(
        store: &'a Store,
        options: &'a Options,
        progress: &'a Progress,
        platform: Platform,
    ) -> Result<Builder<'a>> {
        let file = dockerfile::parse_named(&options.dockerfile_name, &options.dockerfile)?;
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
        })
    }

    /// Build the target stage and what it needs; store and name the image.
    pub fn build(mut self) -> Result<Built> {
        for warning in &self.file.warnings {
            self.say(&format!("[Warning] {warning}"));
        }
        let target = match &self.options.target {
            Some(name) => self.stage_named(name).ok_or_else(|| {
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
        for &index in &needed {
            let state = self.build_stage(index)?;
            self.done[index] = Some(state);
        }
        let mut state = self.done[target]
            .take()
            .ok_or_else(|| Error::invalid("the target stage was not built"))?;
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
        let target = crate::compose::write_image(self.store, &state.config, &state.layers)?;
        let id = target.id().clone();
        self.say(&format!("Successfully built {}", digest::short(&id)));
        let mut record = None;
        for tag in &self.options.tags {
            let named = crate::compose::name(self.store, &target, Some(tag))?;
            record.get_or_insert(named);
            self.say(&format!("Successfully tagged {}", tag.familiar()));
        }
        let record = match record {
            Some(r) => r,
            None => crate::compose::name(self.store, &target, None)?,
        };
        Ok(Built { target, record })
    }

    fn say(&self, line: &str) {
        if !self.options.quiet {
            eprintln!("{line}");
        }
    }

    /// The stage `name` names: its `AS` name (any case), or its index.
    fn stage_named(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.file
            .stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|&i| i < self.file.stages.len())
            })
    }

    /// The stages `target` needs, itself included, in file order: those
    /// its FROM names and those its COPY --from names, and theirs.
    fn needed(&self, target: usize) -> Vec<usize> {
        let escape = self.file.directives.escape;
        let global = |n: &str| self.global.get(n);
        let mut wanted = vec![false; self.file.stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut wanted[i], true) {
                continue;
            }
            let stage = &self.file.stages[i];
            let mut refs = Vec::new();
            if let Ok(base) = stage.from.expand(&global, escape) {
                refs.push(base.image);
            }
            for located in &stage.instructions {
                if let Instruction::Copy {
                    from: Some(from), ..
                } = &located.value
                {
                    // A reference only the stage's own ARGs resolve is
                    // found when the COPY runs (see `stage_result`).
                    if let Ok(name) = dockerfile::expand_word(from, &global, escape) {
                        refs.push(name);
                    }
                }
            }
            for r in refs {
                if let Some(j) = self.stage_named(&r).filter(|&j| j < i) {
                    todo.push(j);
                }
            }
        }
        (0..wanted.len()).filter(|&i| wanted[i]).collect()
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
        let mut state = self.base(&base.image, index)?;
        self.say(&format!(" ---> {}", digest::short(&state.image_id()?)));
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

    /// What FROM `image` starts from in stage `index`.
    fn base(&mut self, image: &str, index: usize) -> Result<State> {
        if image.eq_ignore_ascii_case("scratch") {
            return State::scratch(&self.platform);
        }
        if let Some(i) = self.stage_named(image).filter(|&i| i < index) {
            return self.stage_result(i);
        }
        let found = find_image(
            self.store,
            image,
            Some(&self.platform),
            self.options.pull,
            &self.options.pull_options,
            self.progress,
        )?;
        Ok(State::from_image(&found))
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
            let vars = |name: &str| {
                env.iter()
                    .rev()
                    .find_map(|e| {
                        e.split_once('=')
                            .filter(|(k, _)| *k == name)
                            .map(|(_, v)| v.to_string())
                    })
                    .or_else(|| scope.get(name))
            };
            located.value.expand(&vars, escape)?
        };
        match &expanded {
            Instruction::Arg(list) => {
                for (name, default) in list {
                    scope.declare(name, default.clone(), &mut self.given, Some(&self.global));
                }
                Ok(state)
            }
            Instruction::Run {
                command,
                heredocs,
                mounts,
                network,
                security,
            } => {
                if let Some(mount) = mounts.first() {
                    return Err(Error::invalid(format!(
                        "RUN --mount={mount} is not supported yet: copy what the step needs with COPY"
                    )));
                }
                let mut settings = self.options.settings.clone();
                match network.as_deref() {
                    Some("none") => settings.isolation.network = Network::None,
                    Some("host") => settings.isolation.network = Network::Host,
                    _ => {}
                }
                settings.isolation.privileged |= security.as_deref() == Some("insecure");
                self.run_step(state, scope, &expanded, command, heredocs, &settings)
            }
            Instruction::Copy { .. } | Instruction::Add { .. } => {
                self.copy_step(state, &expanded, located, stage)
            }
            _ => self.config_step(state, &expanded, located),
        }
    }

    /// The cached result of the step `key`, unless --no-cache.
    fn cached(&self, key: &digest::Digest) -> Option<State> {
        if self.options.no_cache {
            return None;
        }
        cache::lookup(self.store, key)
    }

    /// Print a step's resulting image ID, remember it in the cache.
    fn finish(&self, mut state: State, key: digest::Digest, from_cache: bool) -> Result<State> {
        state.key = key;
        if from_cache {
            self.say(" ---> Using cache");
        } else {
            state.stamp()?;
            cache::save(self.store, &state)?;
        }
        self.say(&format!(" ---> {}", digest::short(&state.image_id()?)));
        Ok(state)
    }

    fn config_step(
        &mut self,
        state: State,
        expanded: &Instruction,
        located: &Located<Instruction>,
    ) -> Result<State> {
        let key = cache::key(&state.key, &format!("{expanded:?}"), "");
        let set_cmd = matches!(expanded, Instruction::Cmd(_));
        if let Some(hit) = self.cached(&key) {
            self.cmd_set |= set_cmd;
            return self.finish(hit, key, true);
        }
        let mut next = state;
        {
            let mut editor = Editor::with_cmd_set(next.runtime()?, self.cmd_set);
            editor.apply(expanded)?;
            self.cmd_set = editor.cmd_set();
        }
        next.add_empty_step(&located.original)?;
        self.finish(next, key, false)
    }

    fn run_step(
        &mut self,
        state: State,
        scope: &Scope,
        expanded: &Instruction,
        command: &Command,
        heredocs: &[Heredoc],
        settings: &Settings,
    ) -> Result<State> {
        let args = match command {
            Command::Exec(words) => words.clone(),
            Command::Shell(line) => {
                let mut shell = process::strings(&state.runtime_value(), "Shell");
                if shell.is_empty() {
                    shell = vec!["/bin/sh".into(), "-c".into()];
                }
                shell.push(script(line, heredocs));
                shell
            }
        };
        let build_env = scope.environment();
        let key = cache::key(&state.key, &format!("{expanded:?}"), &build_env.join("\n"));
        if let Some(hit) = self.cached(&key) {
            return self.finish(hit, key, true);
        }
        let created_by = format!(
            "RUN {}{} # buildkit",
            scope.history_prefix(),
            args.join(" ")
        );
        let run = steps::Run {
            args,
            build_env,
            settings,
        };
        let quiet = self.options.quiet;
        let step = steps::run(self.store, self.work.path(), &state, &run, &|id| {
            if !quiet {
                eprintln!(" ---> Running in {id}");
            }
        })?;
        let mut next = state;
        step.commit(self.store, &mut next, &created_by)?;
        self.finish(next, key, false)
    }

    fn copy_step(
        &mut self,
        state: State,
        expanded: &Instruction,
        located: &Located<Instruction>,
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
        // Where the sources come from: the context, or another stage's or
        // image's root filesystem, mounted for the copy.
        let mut source_mount = None;
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
                    None => self.base(from, stage)?,
                };
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
        let key = cache::key(
            &state.key,
            &format!("{expanded:?}"),
            &format!("{checksum} {}", chown.as_deref().unwrap_or_default()),
        );
        if let Some(hit) = self.cached(&key) {
            return self.finish(hit, key, true);
        }
        let rootfs = step.mount(self.store, &state)?;
        let owner = match chown {
            Some(spec) => {
                let who = user::resolve(&rootfs, spec)?;
                Some((who.uid, who.gid))
            }
            None => None,
        };
        request.owner = owner;
        request.rootfs = &rootfs;
        copy::copy(&request)?;
        step.unmount();
        drop(source_mount);
        let mut next = state;
        let created_by = format!("{} # buildkit", located.original);
        step.commit(self.store, &mut next, &created_by)?;
        self.finish(next, key, false)
    }
}

/// A RUN's shell script: the command line, and each heredoc's body and
/// delimiter after it, so that the shell reads them as it reads heredocs
/// in a script. A command that is only a heredoc (`RUN <<EOF`) runs the
/// body as the script, as BuildKit does.
fn script(line: &str, heredocs: &[Heredoc]) -> String {
    if heredocs.is_empty() {
        return line.to_string();
    }
    if let [only] = heredocs {
        let opener = line.trim();
        if opener.starts_with("<<") && !opener.contains(char::is_whitespace) {
            return only.body();
        }
    }
    let mut script = format!("{line}\n");
    for heredoc in heredocs {
        script.push_str(&heredoc.content);
        if !heredoc.content.is_empty() && !heredoc.content.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(&heredoc.name);
        script.push('\n');
    }
    script
}
