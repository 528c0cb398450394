fn main() {
    img_cli::run_main("img-load", || {
        img_load::run(img_cli::usage::parse("img-load"))
    })
}
