//! The `glassbox` command line; all of its logic lives in `glassbox_app::cli`.

fn main() -> std::process::ExitCode {
    glassbox_app::cli::main()
}
