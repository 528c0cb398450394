use clap::Parser;

fn main() {
    img_cli::run_main("img-export", || img_export::run(img_export::Cli::parse()))
}
