fn main() {
    img_cli::run_main("img-import", || {
        img_import::run(img_cli::usage::parse("img-import"))
    })
}
