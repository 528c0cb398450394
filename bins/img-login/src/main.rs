use clap::Parser;

fn main() {
    img_cli::run_main("img-login", || img_login::run(img_login::Cli::parse()))
}
