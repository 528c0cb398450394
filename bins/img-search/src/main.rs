use clap::Parser;

fn main() {
    img::cli::run_main("img-search", || img_search::run(img_search::Cli::parse()))
}
