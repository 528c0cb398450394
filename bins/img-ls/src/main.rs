fn main() {
    img::cli::run_main("img-ls", || img_ls::run(img::usage::parse("img-ls")))
}
