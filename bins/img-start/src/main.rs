fn main() {
    img::cli::run_main("img-start", || {
        img_start::run(img::usage::parse_or_exit(
            "img-start",
            img::usage::CONTAINER_BAD_USAGE,
        ))
    })
}
