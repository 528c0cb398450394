//! Man pages and shell completions, generated from every program's clap
//! definition. `img-docgen` writes them; a test checks that `man/` is
//! current.

/// Every program's clap command, by binary name.
pub fn commands() -> Vec<clap::Command> {
    vec![img_tag::command()]
}
