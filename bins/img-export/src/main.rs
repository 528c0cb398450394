fn main() {
    img::cli::run_main("img-export", || {
        img_export::run(img::usage::parse("img-export"))
    })
}
