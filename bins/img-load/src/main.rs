fn main() {
    img::cli::run_main("img-load", || img_load::run(img::usage::parse("img-load")))
}
