fn main() {
    img::cli::run_main("img-run", || {
        img_run::run(img::usage::parse_or_exit(
            "img-run",
            img::usage::CONTAINER_BAD_USAGE,
        ))
    })
}
