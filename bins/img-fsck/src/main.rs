fn main() {
    img::cli::run_main("img-fsck", || img_fsck::run(img::usage::parse("img-fsck")))
}
