fn main() {
    img_cli::run_main("img-save", || {
        img_save::run(img_cli::usage::parse("img-save"))
    })
}
