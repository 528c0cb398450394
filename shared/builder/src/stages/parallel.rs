//! Independent stages built at the same time, as BuildKit builds them.
//!
//! A stage depends on the stages its FROM, its `COPY --from` and its `RUN
//! --mount=from=` name. The stages the target needs are built in waves:
//! every stage whose dependencies are built starts, each on a thread of its
//! own with a fork of the builder (its own step directories, the shared
//! caches, its own layers being stored, handed back when it ends). The output
//! stays what the classic builder prints one stage after the other: each
//! stage's step numbers are those of its place in the file, and its lines —
//! the RUN commands' output included, through a log of the step container —
//! are kept until every stage before it in the file is printed; the first
//! unprinted stage prints as it goes.
//!
//! The first stage that fails stops the others (`cancel.rs`): their RUN
//! processes are killed, and the build's error is that stage's.
//!
//! RUN steps' containers run at once too: the container layer waits for
//! each container by its process ID, so no thread reaps another's child.
//! Pulls are the one thing done one at a time ([`PULLS`]): two stages FROM
//! one image fetch it once, the second finding it stored.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

use super::*;

/// Held while a stage pulls its base image or fetches cached layers: see
/// the module's text.
pub(super) static PULLS: Mutex<()> = Mutex::new(());

/// Where a builder's progress lines go.
pub(super) enum Output {
    /// To stderr, as they come.
    Live,
    /// Kept, for a stage built beside others, until its turn.
    Kept(RefCell<Vec<u8>>),
}

impl Builder<'_, '_> {
    /// Build the stages `needed` (in file order), at the same time where
    /// they do not depend on each other; their results go to `done`.
    pub(super) fn build_stages(&mut self, needed: &[usize]) -> Result<()> {
        let mut first_step = BTreeMap::new();
        let mut steps = 0;
        for &i in needed {
            first_step.insert(i, steps);
            steps += 1 + self.file.stages[i].instructions.len();
        }
        let deps: BTreeMap<usize, Vec<usize>> =
            needed.iter().map(|&i| (i, self.depends_on(i))).collect();
        // Stages built but not printed yet (their kept lines), and how many
        // of `needed` are printed.
        let mut kept: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let mut printed = 0;
        while printed < needed.len() {
            let ready: Vec<usize> = needed
                .iter()
                .copied()
                .filter(|&i| self.done[i].is_none() && !kept.contains_key(&i))
                .filter(|i| deps[i].iter().all(|d| self.done[*d].is_some()))
                .collect();
            let next = needed[printed];
            if ready.is_empty() {
                return Err(Error::invalid(
                    "the stages depend on each other in a circle",
                ));
            }
            if ready == [next] {
                // Alone: built here, printing as it goes.
                self.step = first_step[&next];
                let state = self.build_stage(next)?;
                self.done[next] = Some(state);
                printed += 1;
            } else {
                let results = self.build_forks(&ready, &first_step, next)?;
                // The build's error is the stage's that stopped it, not
                // that of a sibling killed for it.
                let first_failed = match self.cancel.why() {
                    Some(Why::Failed(i)) => Some(i),
                    _ => None,
                };
                let mut failed = None;
                for (i, output, result) in results {
                    match result {
                        Ok(state) => self.done[i] = Some(state),
                        Err(e) if first_failed == Some(i) => failed = Some(e),
                        Err(e) => failed = failed.or(Some(e)),
                    }
                    kept.insert(i, output);
                }
                if let Some(e) = failed {
                    // What the stages printed before the failure, in order.
                    for (_, output) in kept {
                        self.print(&output);
                    }
                    return Err(e);
                }
            }
            while printed < needed.len() {
                let Some(output) = kept.remove(&needed[printed]) else {
                    break;
                };
                self.print(&output);
                printed += 1;
            }
        }
        Ok(())
    }

    /// Build `stages` at once, each by a fork on a thread of its own (the
    /// one that is `live` prints as it goes); each stage's kept output and
    /// result, in file order.
    #[allow(clippy::type_complexity)]
    fn build_forks(
        &mut self,
        stages: &[usize],
        first_step: &BTreeMap<usize, usize>,
        live: usize,
    ) -> Result<Vec<(usize, Vec<u8>, Result<State>)>> {
        let mut forks = Vec::new();
        for &i in stages {
            let mut fork = self.fork(i == live)?;
            fork.step = first_step[&i];
            forks.push((i, fork));
        }
        let ended: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = forks
                .into_iter()
                .map(|(i, mut fork)| {
                    scope.spawn(move || {
                        let result = fork.build_stage(i);
                        if result.is_err() {
                            // The first failure stops the stages beside
                            // it, as BuildKit cancels the build.
                            fork.cancel.stop(Why::Failed(i));
                        }
                        (i, fork, result)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        let mut results = Vec::new();
        for joined in ended {
            let (i, fork, result) =
                joined.map_err(|_| Error::invalid("a stage's build thread panicked"))?;
            self.given.absorb(&fork.given);
            self.layers.absorb(fork.layers);
            let output = match fork.out {
                Output::Live => Vec::new(),
                Output::Kept(lines) => lines.into_inner(),
            };
            results.push((i, output, result));
        }
        Ok(results)
    }

    /// A builder for one stage beside others: the same build, its own step
    /// directories and layers being stored, its lines kept unless `live`.
    fn fork(&self, live: bool) -> Result<Self> {
        let parent = self.work.path().parent().unwrap_or(self.work.path());
        let work = tempfile::Builder::new()
            .prefix("tmp-")
            .tempdir_in(parent)
            .io_context(|| format!("creating a directory in {}", parent.display()))?;
        Ok(Builder {
            store: self.store,
            options: self.options,
            progress: self.progress,
            platform: self.platform.clone(),
            file: self.file.clone(),
            ignore: self.ignore.clone(),
            given: self.given.clone(),
            global: self.global.clone(),
            work,
            done: self.done.clone(),
            step: self.step,
            total: self.total,
            cmd_set: false,
            cache: self.cache.clone(),
            clock: self.clock,
            layers: self.layers.fork(),
            cancel: Arc::clone(&self.cancel),
            out: if live {
                Output::Live
            } else {
                Output::Kept(RefCell::default())
            },
        })
    }

    /// The stages `target` needs, itself included, in file order: those
    /// it depends on (see [`Builder::depends_on`]), and theirs.
    pub(super) fn needed(&self, target: usize) -> Vec<usize> {
        let mut wanted = vec![false; self.file.stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if std::mem::replace(&mut wanted[i], true) {
                continue;
            }
            todo.extend(self.depends_on(i));
        }
        (0..wanted.len()).filter(|&i| wanted[i]).collect()
    }

    /// The earlier stages stage `index` needs built first: those its FROM,
    /// its `COPY --from` and its `RUN --mount=from=` name.
    pub(super) fn depends_on(&self, index: usize) -> Vec<usize> {
        let escape = self.file.directives.escape;
        let global = |n: &str| self.global.get(n);
        let stage = &self.file.stages[index];
        let mut names = Vec::new();
        let mut deps = Vec::new();
        if let Ok(base) = stage.from.expand(&global, escape) {
            if let Some(j) = self.stage_by_name(&base.image) {
                deps.push(j);
            }
        }
        for located in &stage.instructions {
            match &located.value {
                Instruction::Copy {
                    from: Some(from), ..
                } => names.extend(dockerfile::expand_word(from, &global, escape).ok()),
                Instruction::Run { mounts, .. } => {
                    // A mount only the stage's own variables resolve is
                    // found when the step runs (`stage_result`).
                    names.extend(
                        mounts
                            .iter()
                            .filter_map(|m| dockerfile::expand_word(m, &global, escape).ok())
                            .filter_map(|m| mounts::parse(&m).ok())
                            .filter(|m| m.kind == MountKind::Bind)
                            .filter_map(|m| m.from),
                    );
                }
                _ => {}
            }
        }
        deps.extend(names.iter().filter_map(|n| self.stage_named(n)));
        deps.retain(|&j| j < index);
        deps.sort_unstable();
        deps.dedup();
        deps
    }

    /// A progress line, to stderr or kept (nothing with `-q`).
    pub(super) fn say(&self, line: &str) {
        if self.options.quiet {
            return;
        }
        match &self.out {
            Output::Live => eprintln!("{line}"),
            Output::Kept(lines) => {
                let mut lines = lines.borrow_mut();
                lines.extend_from_slice(line.as_bytes());
                lines.push(b'\n');
            }
        }
    }

    /// Where a RUN step's container writes its output: a log in the
    /// step's build directory when this builder's lines are kept.
    pub(super) fn run_log(&self, settings: &mut Settings) -> Option<PathBuf> {
        if self.options.quiet || matches!(self.out, Output::Live) {
            return None;
        }
        let path = self
            .work
            .path()
            .join(format!("run-{}.log", img_container::new_id().ok()?));
        settings.stdout = img_container::execute::Stdout::Log(path.clone());
        Some(path)
    }

    /// Keep what the step container wrote into `log` (see
    /// [`Builder::run_log`]) with this builder's lines.
    pub(super) fn keep_run_output(&self, log: Option<PathBuf>) {
        let (Some(log), Output::Kept(lines)) = (log, &self.out) else {
            return;
        };
        if let Ok((entries, _)) = img_container::log::read(&log, 0) {
            let mut lines = lines.borrow_mut();
            for entry in entries {
                lines.extend_from_slice(entry.log.as_bytes());
            }
        }
        let _ = std::fs::remove_file(log);
    }

    /// Print lines kept by a fork.
    fn print(&self, output: &[u8]) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(output);
    }
}
