fn main() {
    img_cli::run_main("img-pull", || {
        img_pull::run(img_cli::usage::parse("img-pull"))
    })
}
