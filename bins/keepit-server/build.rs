//! Build information for `--version`.

include!("../build_info.rs");
