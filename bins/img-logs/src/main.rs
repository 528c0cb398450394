fn main() {
    img::cli::run_main("img-logs", || img_logs::run(img::usage::parse("img-logs")))
}
