use clap::Parser;

fn main() {
    img_cli::run_main("img-ls", || img_ls::run(img_ls::Cli::parse()))
}
