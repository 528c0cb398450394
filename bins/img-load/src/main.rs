use clap::Parser;

fn main() {
    img_cli::run_main("img-load", || img_load::run(img_load::Cli::parse()))
}
