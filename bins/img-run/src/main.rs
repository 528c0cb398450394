fn main() {
    img_cli::run_main("img-run", || {
        img_run::run(img_cli::usage::parse_or_exit(
            "img-run",
            img_cli::usage::CONTAINER_BAD_USAGE,
        ))
    })
}
