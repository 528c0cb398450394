fn main() {
    img_cli::run_main("img-inspect", || {
        img_inspect::run(img_cli::usage::parse("img-inspect"))
    })
}
