fn main() -> std::process::ExitCode {
    pctl::cli::run()
}
