fn main() {
    img::cli::run_main("img-search", || {
        img_search::run(img::usage::parse("img-search"))
    })
}
