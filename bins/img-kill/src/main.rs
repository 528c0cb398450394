fn main() {
    img::cli::run_main("img-kill", || img_kill::run(img::usage::parse("img-kill")))
}
