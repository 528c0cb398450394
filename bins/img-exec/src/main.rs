use clap::Parser;

fn main() {
    img::cli::run_main("img-exec", || img_exec::run(img_exec::Cli::parse()))
}
