fn main() {
    img::cli::run_main("img-inspect", || {
        img_inspect::run(img::usage::parse("img-inspect"))
    })
}
