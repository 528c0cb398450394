use clap::Parser;

fn main() {
    img::cli::run_main("img-ps", || img_ps::run(img_ps::Cli::parse()))
}
