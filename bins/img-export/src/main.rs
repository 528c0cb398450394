use clap::Parser;

fn main() {
    img::cli::run_main("img-export", || img_export::run(img_export::Cli::parse()))
}
