fn main() {
    img::cli::run_main("img-push", || img_push::run(img::usage::parse("img-push")))
}
