fn main() {
    img::cli::run_main("img-tag", || img_tag::run(img::usage::parse("img-tag")))
}
