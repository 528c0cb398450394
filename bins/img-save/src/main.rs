fn main() {
    img::cli::run_main("img-save", || img_save::run(img::usage::parse("img-save")))
}
