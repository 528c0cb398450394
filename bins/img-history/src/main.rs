fn main() {
    img::cli::run_main("img-history", || {
        img_history::run(img::usage::parse("img-history"))
    })
}
