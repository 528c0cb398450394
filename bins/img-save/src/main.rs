use clap::Parser;

fn main() {
    img::cli::run_main("img-save", || img_save::run(img_save::Cli::parse()))
}
