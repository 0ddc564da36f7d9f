//! The `ecard` command.
fn main() {}
