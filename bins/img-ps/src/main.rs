fn main() {
    img_cli::run_main("img-ps", || img_ps::run(img_cli::usage::parse("img-ps")))
}
