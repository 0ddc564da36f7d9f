//! One module per subcommand: `Args` (clap) and `run(&Args) -> anyhow::Result<ExitCode>`; shared
//! pieces (reaching a card, loading records and the PKI) in their own modules.

pub mod bench;
pub mod bench_at_rest;
pub mod bench_stats;
pub mod bench_throughput;
pub mod card;
pub mod check;
pub mod checkpoint;
pub mod demo;
pub mod enrollment;
pub mod generate;
pub mod mrz;
pub mod personalize;
pub mod pki;
pub mod plan;
pub mod qa;
pub mod read;
pub mod readers;
pub mod scan;
pub mod seal_files;
pub mod sim;
pub mod soak;
pub mod stats;
pub mod status;
pub mod validate;
pub mod verify;
