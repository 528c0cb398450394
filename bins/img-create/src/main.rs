fn main() {
    img::cli::run_main("img-create", || {
        img_create::run(img::usage::parse("img-create"))
    })
}
