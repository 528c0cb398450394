//! Man pages and shell completions, generated from every program's clap
//! definition, so that what `--help` says and what `man img-ls` says never
//! drift apart. `img-docgen` writes them; a test checks that `man/` is current.

use std::path::Path;

use clap_complete::Shell;

/// Every program's clap command.
pub fn commands() -> Vec<clap::Command> {
    vec![
        img_tag::command(),
        img_ls::command(),
        img_rm::command(),
        img_inspect::command(),
        img_history::command(),
        img_pull::command(),
        img_push::command(),
        img_login::command(),
        img_search::command(),
        img_save::command(),
        img_load::command(),
        img_import::command(),
        img_export::command(),
        img_prune::command(),
        img_commit::command(),
        img_layer::command(),
        img_run::command(),
        img_build::command(),
        img_ps::command(),
        img_create::command(),
        img_start::command(),
        img_stop::command(),
        img_kill::command(),
        img_logs::command(),
        img_exec::command(),
        img_fsck::command(),
    ]
}

/// The date printed in every man page's footer. Fixed, so that regenerating
/// the pages changes them only when a definition changed.
const MAN_DATE: &str = "2026-11";

/// Render one program's man page (section 1).
pub fn man_page(command: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .section("1")
        .date(MAN_DATE)
        .source(format!("img {}", env!("CARGO_PKG_VERSION")))
        .manual("img manual")
        .render(&mut out)?;
    Ok(out)
}

/// Every man page file and its text: `img-NAME.1` for every program, and
/// `img-NAME-SUB.1` for each subcommand of a program that has them (which
/// the program's page refers to).
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut pages = Vec::new();
    for command in commands() {
        let name = command.get_name().to_string();
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let page = format!("{name}-{}", sub.get_name());
            let sub = sub
                .clone()
                .display_name(page.clone())
                .bin_name(format!("{name} {}", sub.get_name()));
            pages.push((format!("{page}.1"), man_page(&sub)?));
        }
        pages.push((format!("{name}.1"), man_page(&command)?));
    }
    Ok(pages)
}

/// Write every man page (see [`man_pages`]) into `dir`.
pub fn write_man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (file, text) in man_pages()? {
        std::fs::write(dir.join(file), text)?;
    }
    Ok(())
}

/// Write bash, zsh and fish completions for every program into
/// `dir/bash`, `dir/zsh`, `dir/fish`.
pub fn write_completions(dir: &Path) -> std::io::Result<()> {
    for (shell, sub) in [
        (Shell::Bash, "bash"),
        (Shell::Zsh, "zsh"),
        (Shell::Fish, "fish"),
    ] {
        let out = dir.join(sub);
        std::fs::create_dir_all(&out)?;
        for mut command in commands() {
            let name = command.get_name().to_string();
            clap_complete::generate_to(shell, &mut command, name, &out)?;
        }
    }
    Ok(())
}
