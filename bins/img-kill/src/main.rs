use clap::Parser;

fn main() {
    img::cli::run_main("img-kill", || img_kill::run(img_kill::Cli::parse()))
}
