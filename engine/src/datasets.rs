//! Where the shared datasets are: `DAKTILO_DATASETS`, or a `shared/datasets` folder beside
//! the project (found by walking up from the current directory). Tests and harnesses that
//! need real data call [`locate`] and skip with a clear message when it returns `None`.

use std::path::PathBuf;

/// The environment variable that names the datasets folder.
pub const ENV: &str = "DAKTILO_DATASETS";

/// The datasets folder, if there is one.
pub fn locate() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV) {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|a| a.join("shared").join("datasets"))
        .find(|d| d.is_dir())
}

/// A message for tests that skip because the datasets are absent.
pub fn skip_message(what: &str) -> String {
    format!(
        "SKIPPED {what}: no datasets folder (set {ENV} or place shared/datasets beside the project)"
    )
}
