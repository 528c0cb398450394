fn main() {
    img_cli::run_main("img-login", || {
        img_login::run(img_cli::usage::parse("img-login"))
    })
}
