fn main() {
    img::cli::run_main("img-rm", || img_rm::run(img::usage::parse("img-rm")))
}
