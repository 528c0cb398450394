use clap::Parser;

fn main() {
    img::cli::run_main("img-create", || img_create::run(img_create::Cli::parse()))
}
