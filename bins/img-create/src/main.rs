fn main() {
    img_cli::run_main("img-create", || {
        img_create::run(img_cli::usage::parse("img-create"))
    })
}
