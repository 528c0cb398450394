use clap::Parser;

fn main() {
    img_cli::run_main(
        "img-inspect",
        || img_inspect::run(img_inspect::Cli::parse()),
    )
}
