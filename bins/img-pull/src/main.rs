fn main() {
    img::cli::run_main("img-pull", || img_pull::run(img::usage::parse("img-pull")))
}
