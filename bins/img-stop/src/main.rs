use clap::Parser;

fn main() {
    img::cli::run_main("img-stop", || img_stop::run(img_stop::Cli::parse()))
}
