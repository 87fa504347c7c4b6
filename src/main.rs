//! The `glassbox` command line; all of its logic lives in `glassbox_app::cli`.

fn main() {
    eprintln!(
        "glassbox {}: the command line is not built yet (see issue 4).",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
