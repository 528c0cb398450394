fn main() {
    img_cli::run_main("img-fsck", || {
        img_fsck::run(img_cli::usage::parse("img-fsck"))
    })
}
