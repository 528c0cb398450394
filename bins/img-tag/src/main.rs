fn main() {
    img_cli::run_main("img-tag", || img_tag::run(img_cli::usage::parse("img-tag")))
}
