fn main() {
    img::cli::run_main("img-layer", || {
        img_layer::run(img::usage::parse("img-layer"))
    })
}
