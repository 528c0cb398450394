//! What a RUN in shell form hands its shell, as BuildKit hands it over:
//! the command line, with the heredocs it opens after it (each body and
//! its delimiter on lines of their own), so that the shell reads them as
//! it reads heredocs in a script; a RUN that is only a heredoc runs the
//! body as the script, or, when the body starts with `#!`, as a program
//! of its own, mounted read-only at `/dev/pipes/NAME`.

use std::path::Path;

use img_container::spec::Bind;
use img_core::error::{IoContext, Result};
use img_dockerfile::Heredoc;

/// The heredoc of a RUN that is only a heredoc whose body starts with
/// `#!` (an interpreter line).
pub fn shebang_heredoc<'h>(line: &str, heredocs: &'h [Heredoc]) -> Option<&'h Heredoc> {
    let [only] = heredocs else { return None };
    let opener = line.trim();
    (opener.starts_with("<<") && !opener.contains(char::is_whitespace))
        .then_some(only)
        .filter(|h| h.body().starts_with("#!"))
}

/// The heredoc written as an executable file (0755) in a new directory
/// under `work`, and its read-only bind at `/dev/pipes/NAME`.
pub fn pipe_file(work: &Path, heredoc: &Heredoc) -> Result<(tempfile::TempDir, Bind)> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("pipe-")
        .tempdir_in(work)
        .io_context(|| format!("creating a directory in {}", work.display()))?;
    let name = Path::new(&heredoc.name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "heredoc".into());
    let file = dir.path().join(&name);
    std::fs::write(&file, heredoc.body()).io_context(|| format!("writing {}", file.display()))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755))
        .io_context(|| format!("setting the mode of {}", file.display()))?;
    let bind = Bind {
        source: file,
        destination: format!("/dev/pipes/{name}"),
        read_only: true,
    };
    Ok((dir, bind))
}

/// A RUN's shell script as BuildKit makes it: the command line, then for
/// each heredoc a newline, its body and its delimiter, so that the shell
/// reads them as it reads heredocs in a script. A command that is only a
/// heredoc (`RUN <<EOF`) runs the body as the script.
pub fn script(line: &str, heredocs: &[Heredoc]) -> String {
    if let [only] = heredocs {
        let opener = line.trim();
        if opener.starts_with("<<") && !opener.contains(char::is_whitespace) {
            return only.body();
        }
    }
    let mut script = line.to_string();
    for heredoc in heredocs {
        script.push('\n');
        script.push_str(&heredoc.content);
        // The parser keeps each body line's newline; a body always ends
        // with one, as BuildKit's does.
        if !heredoc.content.is_empty() && !heredoc.content.ends_with('\n') {
            script.push('\n');
        }
        script.push_str(&heredoc.name);
    }
    script
}
