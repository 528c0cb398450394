fn main() {
    img_cli::run_main("img-build", || {
        img_build::run(img_cli::usage::parse("img-build"))
    })
}
