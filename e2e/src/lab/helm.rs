//! helm v3, the pinned release of `e2e/helm/go.mod`, built from source like the control plane
//! ([`super::controlplane::GoModule`]) into its own cache directory: the chart tests
//! (`e2e/tests/chart.rs`: `helm lint`, `helm template`) and `cargo xtask lab install --helm`
//! run it. `cargo xtask test` builds it before the tests.

use std::path::{Path, PathBuf};

use super::controlplane::GoTool;
use crate::Error;

/// The pinned helm release (`e2e/helm/go.mod`).
pub const HELM_VERSION: &str = "v3.21.4";

/// The module it is built from, relative to the repository.
pub const MODULE: &str = "e2e/helm";

/// The chart, relative to the repository.
pub const CHART: &str = "charts/ferrolb";

/// The release name the lab (and the tests) install the chart as.
pub const RELEASE: &str = "ferrolb";

/// The pinned helm as a cached tool.
pub(crate) fn tool() -> GoTool<'static> {
    GoTool {
        name: "helm",
        version: HELM_VERSION,
        module: MODULE,
        package: "helm.sh/helm/v3/cmd/helm",
        ldflags: format!("-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"),
    }
}

/// The helm binary.
pub fn bin() -> PathBuf {
    tool().bin()
}

/// Builds helm into the cache unless it is there (a minute or two cold; nothing when built).
pub fn build(repo: &Path) -> Result<(), Error> {
    tool().build(repo)
}

/// The pinned helm, or why it cannot run: a test that needs it fails with this message.
pub fn require() -> Result<PathBuf, Error> {
    tool().require()
}
