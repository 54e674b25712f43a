fn main() -> std::process::ExitCode {
    // The built-in OCI runtime forks and clones: it must run before anything
    // in the process (tokio, a tracing writer) starts a thread, so it is
    // dispatched here, ahead of the command-line parser.
    if std::env::args_os().nth(1).as_deref() == Some(wharf::runtime::native::SUBCOMMAND.as_ref()) {
        return wharf::runtime::native::main(std::env::args_os());
    }
    // The shim stays resident beside every detached container: it skips the
    // parser and everything else, so little of the binary is mapped in.
    if std::env::args_os().nth(1).as_deref() == Some(wharf::supervise::shim::SUBCOMMAND.as_ref()) {
        return wharf::supervise::shim::main(std::env::args_os());
    }
    wharf::cli::main()
}
