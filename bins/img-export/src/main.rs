fn main() {
    img_cli::run_main("img-export", || {
        img_export::run(img_cli::usage::parse("img-export"))
    })
}
