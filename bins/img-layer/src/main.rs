fn main() {
    img_cli::run_main("img-layer", || {
        img_layer::run(img_cli::usage::parse("img-layer"))
    })
}
