fn main() {
    img_cli::run_main("img-logs", || {
        img_logs::run(img_cli::usage::parse("img-logs"))
    })
}
