//! One module per subcommand: `Args` (clap) and `run(&Args) -> anyhow::Result<ExitCode>`.

pub mod enrollment;
pub mod mrz;
pub mod readers;
pub mod validate;
