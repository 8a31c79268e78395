fn main() -> std::process::ExitCode {
    runsheet::cli::main()
}
