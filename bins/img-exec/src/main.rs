fn main() {
    img::cli::run_main("img-exec", || {
        img_exec::run(img::usage::parse_or_exit(
            "img-exec",
            img::usage::CONTAINER_BAD_USAGE,
        ))
    })
}
