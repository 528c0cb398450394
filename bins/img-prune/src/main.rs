use clap::Parser;

fn main() {
    img_cli::run_main("img-prune", || img_prune::run(img_prune::Cli::parse()))
}
