fn main() {
    img_cli::run_main("img-prune", || {
        img_prune::run(img_cli::usage::parse("img-prune"))
    })
}
