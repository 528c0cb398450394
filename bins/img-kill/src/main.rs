fn main() {
    img_cli::run_main("img-kill", || {
        img_kill::run(img_cli::usage::parse("img-kill"))
    })
}
