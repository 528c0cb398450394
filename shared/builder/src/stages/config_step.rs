//! Steps that change only the image config (ENV, LABEL, CMD, …) or add
//! only a history entry (ARG); WORKDIR also makes its directory.

use super::*;

impl Builder<'_, '_> {
    /// A step that adds only a history entry (ARG).
    pub(super) fn history_step(
        &mut self,
        state: State,
        created_by: &str,
        original: &str,
    ) -> Result<State> {
        let key = StepKey {
            parent: state.key.clone(),
            text: created_by.to_string(),
            extra: String::new(),
            instruction: original.to_string(),
            inputs: Vec::new(),
        };
        if let Some(hit) = self.cached(&key, true) {
            return self.finish(hit, &key, true);
        }
        let mut next = state;
        next.add_empty_step(created_by, self.clock.now())?;
        self.finish(next, &key, false)
    }

    /// A step that changes the config; WORKDIR also makes its directory,
    /// in a layer of its own, as BuildKit does.
    pub(super) fn config_step(
        &mut self,
        state: State,
        expanded: &Instruction,
        original: &str,
    ) -> Result<State> {
        let key = StepKey {
            parent: state.key.clone(),
            text: format!("{expanded:?}"),
            extra: String::new(),
            instruction: original.to_string(),
            inputs: Vec::new(),
        };
        let set_cmd = matches!(expanded, Instruction::Cmd(_));
        if let Some(hit) = self.cached(&key, true) {
            self.cmd_set |= set_cmd;
            return self.finish(hit, &key, true);
        }
        let mut next = state;
        let mut applied = history::Applied::default();
        match expanded {
            Instruction::Maintainer(name) => {
                if let Some(config) = next.config.as_object_mut() {
                    config.insert("author".into(), Value::String(name.clone()));
                }
            }
            Instruction::Expose(words) => {
                for word in words {
                    applied.ports.extend(
                        img_dockerfile::change::exposed_ports(word).map_err(Error::invalid)?,
                    );
                }
            }
            _ => {}
        }
        {
            let runtime = next.runtime()?;
            if !matches!(expanded, Instruction::Maintainer(_)) {
                let mut editor = Editor::with_cmd_set(runtime, self.cmd_set);
                editor.apply(expanded)?;
                self.cmd_set = editor.cmd_set();
            }
            if set_cmd {
                // BuildKit marks every CMD so (Docker's Windows quoting).
                runtime.insert("ArgsEscaped".into(), Value::Bool(true));
            }
            let field = match expanded {
                Instruction::Entrypoint(_) => "Entrypoint",
                _ => "Cmd",
            };
            applied.command = process::strings(&Value::Object(runtime.clone()), field);
            applied.workdir = runtime
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("/")
                .to_string();
        }
        let Some(created_by) = history::config_step(expanded, &applied) else {
            return self.finish(next, &key, false);
        };
        if matches!(expanded, Instruction::Workdir(_)) && applied.workdir != "/" {
            self.ensure_layers(&next)?;
            let work = self.work.path();
            workdir::add_step(
                &mut self.layers,
                work,
                &self.clock,
                &mut next,
                &applied.workdir,
                &created_by,
            )?;
        } else {
            next.add_empty_step(&created_by, self.clock.now())?;
        }
        self.finish(next, &key, false)
    }
}
