fn main() {
    img_cli::run_main("img-exec", || {
        img_exec::run(img_cli::usage::parse_or_exit(
            "img-exec",
            img_cli::usage::CONTAINER_BAD_USAGE,
        ))
    })
}
