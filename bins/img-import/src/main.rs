use clap::Parser;

fn main() {
    img_cli::run_main("img-import", || img_import::run(img_import::Cli::parse()))
}
