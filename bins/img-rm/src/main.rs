fn main() {
    img_cli::run_main("img-rm", || img_rm::run(img_cli::usage::parse("img-rm")))
}
