use clap::Parser;

fn main() {
    img::cli::run_main("img-logs", || img_logs::run(img_logs::Cli::parse()))
}
