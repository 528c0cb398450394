fn main() {
    img_cli::run_main_with_monitor("img-start", || {
        img_start::run(img_cli::usage::parse_or_exit(
            "img-start",
            img_cli::usage::CONTAINER_BAD_USAGE,
        ))
    })
}
