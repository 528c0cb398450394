use clap::Parser;

fn main() {
    img::cli::run_main("img-run", || img_run::run(img_run::Cli::parse()))
}
