fn main() {
    img::cli::run_main("img-login", || {
        img_login::run(img::usage::parse("img-login"))
    })
}
