fn main() {
    img::cli::run_main("img-stop", || img_stop::run(img::usage::parse("img-stop")))
}
