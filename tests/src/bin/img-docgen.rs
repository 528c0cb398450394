//! `img-docgen man DIR` writes every program's man page into DIR;
//! `img-docgen completions DIR` writes bash, zsh and fish completions.

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [what, dir] if what == "man" => img_tests::docs::write_man_pages(Path::new(dir)),
        [what, dir] if what == "completions" => img_tests::docs::write_completions(Path::new(dir)),
        _ => {
            eprintln!("usage: img-docgen man DIR | img-docgen completions DIR");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("img-docgen: error: {e}");
        std::process::exit(1);
    }
}
