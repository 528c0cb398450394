fn main() {
    img_cli::run_main("img-stop", || {
        img_stop::run(img_cli::usage::parse("img-stop"))
    })
}
