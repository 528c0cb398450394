use clap::Parser;

fn main() {
    img_cli::run_main("img-commit", || img_commit::run(img_commit::Cli::parse()))
}
