fn main() {
    img::cli::run_main("img-ps", || img_ps::run(img::usage::parse("img-ps")))
}
