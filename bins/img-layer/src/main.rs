use clap::Parser;

fn main() {
    img::cli::run_main("img-layer", || img_layer::run(img_layer::Cli::parse()))
}
