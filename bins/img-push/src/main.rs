use clap::Parser;

fn main() {
    img::cli::run_main("img-push", || img_push::run(img_push::Cli::parse()))
}
