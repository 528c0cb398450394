fn main() {
    img_cli::run_main("img-commit", || {
        img_commit::run(img_cli::usage::parse("img-commit"))
    })
}
