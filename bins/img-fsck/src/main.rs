use clap::Parser;

fn main() {
    img::cli::run_main("img-fsck", || img_fsck::run(img_fsck::Cli::parse()))
}
