use clap::Parser;

fn main() {
    img_cli::run_main("img-pull", || img_pull::run(img_pull::Cli::parse()))
}
