use clap::Parser;

fn main() {
    img_cli::run_main("img-run", || img_run::run(img_run::Cli::parse()))
}
