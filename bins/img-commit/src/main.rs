fn main() {
    img::cli::run_main("img-commit", || {
        img_commit::run(img::usage::parse("img-commit"))
    })
}
