//! Loading the hand-written Keepit responses in this crate's `fixtures/keepit/` folder
//! (shipped inside the crate, so it works from a registry as well as from the workspace).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The extensions a fixture case may have, tried in this order when the case has none.
const EXTENSIONS: [&str; 4] = ["xml", "txt", "csv", "html"];

/// This crate's `fixtures/` directory (found from its manifest directory).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The path of a fixture: `fixtures/keepit/<endpoint>/<case>` with the case's own
/// extension, or the first of `.xml`, `.txt`, `.csv`, `.html` that exists.
pub fn fixture_path(endpoint: &str, case: &str) -> Result<PathBuf> {
    let folder = fixtures_dir().join("keepit").join(endpoint);
    let exact = folder.join(case);
    if Path::new(case).extension().is_some() && exact.is_file() {
        return Ok(exact);
    }
    EXTENSIONS
        .iter()
        .map(|extension| folder.join(format!("{case}.{extension}")))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::FixtureNotFound {
            endpoint: endpoint.to_owned(),
            case: case.to_owned(),
            dir: fixtures_dir(),
        })
}

/// Reads a fixture, e.g. `try_fixture("devices", "mixed")`.
pub fn try_fixture(endpoint: &str, case: &str) -> Result<String> {
    let path = fixture_path(endpoint, case)?;
    std::fs::read_to_string(&path).map_err(|source| Error::FixtureRead { path, source })
}

/// Reads a fixture, e.g. `fixture("devices", "mixed")`.
///
/// # Panics
///
/// When the fixture does not exist or cannot be read: fixtures are part of the test,
/// so a missing one is a bug in the test. Use [`try_fixture`] to handle it instead.
pub fn fixture(endpoint: &str, case: &str) -> String {
    match try_fixture(endpoint, case) {
        Ok(body) => body,
        Err(error) => panic!("{error}"),
    }
}

/// The content type a fixture is served with, from its extension.
pub(crate) fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("txt") => "text/plain",
        Some("csv") => "text/csv",
        Some("html") => "text/html",
        _ => "application/xml",
    }
}
