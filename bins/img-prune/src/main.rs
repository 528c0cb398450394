fn main() {
    img::cli::run_main("img-prune", || {
        img_prune::run(img::usage::parse("img-prune"))
    })
}
