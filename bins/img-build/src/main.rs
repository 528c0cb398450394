fn main() {
    img::cli::run_main("img-build", || {
        img_build::run(img::usage::parse("img-build"))
    })
}
