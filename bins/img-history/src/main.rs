fn main() {
    img_cli::run_main("img-history", || {
        img_history::run(img_cli::usage::parse("img-history"))
    })
}
