fn main() {
    img_cli::run_main("img-ls", || img_ls::run(img_cli::usage::parse("img-ls")))
}
