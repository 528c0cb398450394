use clap::Parser;

fn main() {
    img_cli::run_main("img-push", || img_push::run(img_push::Cli::parse()))
}
