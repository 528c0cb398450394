fn main() {
    img::cli::run_main("img-import", || {
        img_import::run(img::usage::parse("img-import"))
    })
}
