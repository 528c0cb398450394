fn main() {
    img_cli::run_main("img-search", || {
        img_search::run(img_cli::usage::parse("img-search"))
    })
}
