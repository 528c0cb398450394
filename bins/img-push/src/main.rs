fn main() {
    img_cli::run_main("img-push", || {
        img_push::run(img_cli::usage::parse("img-push"))
    })
}
