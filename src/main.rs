// mimalloc: rendering allocates many small strings and JSON values on every thread; glibc's
// malloc spent about a third of the CPU time of an organisation-wide render in its own code.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pctl::cli::run()
}
