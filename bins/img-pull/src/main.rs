use clap::Parser;

fn main() {
    img::cli::run_main("img-pull", || img_pull::run(img_pull::Cli::parse()))
}
