fn main() {
    img_cli::run_main_with_monitor("img-run", || {
        img_run::run(img_cli::usage::parse_or_exit(
            "img-run",
            img_cli::usage::CONTAINER_BAD_USAGE,
        ))
    })
}
