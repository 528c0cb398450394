use clap::Parser;

fn main() {
    img::cli::run_main("img-start", || img_start::run(img_start::Cli::parse()))
}
