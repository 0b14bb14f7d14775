//! What a lab was brought up with (kube-proxy's mode, its IP families): one file per choice in
//! the lab's directory, written before the lab comes up and read by every process that acts on
//! it (the xtask, tests, the node agent).

use std::fmt::Display;
use std::str::FromStr;

use super::process;
use crate::{Error, Lab};

/// The lab's choice stored in `file` (`T::default()` when it never said).
pub(super) fn read<T: FromStr<Err = Error> + Default>(lab: &Lab, file: &str) -> Result<T, Error> {
    let path = lab.dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().parse(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Remembers `wanted` in `file` (before the lab comes up). A running lab keeps its choice:
/// asking for another one is an error naming both, the command-line `flag` and the fix.
pub(super) fn remember<T>(lab: &Lab, file: &str, flag: &str, wanted: T) -> Result<(), Error>
where
    T: FromStr<Err = Error> + Default + Display + PartialEq,
{
    let path = lab.dir.join(file);
    if path.exists() {
        let current: T = read(lab, file)?;
        if current != wanted && !process::find(&lab.names.lab, None).is_empty() {
            return Err(Error::msg(format!(
                "lab {} runs with {flag} {current}; take it down (`cargo xtask lab --lab {} down`) to bring it up with {flag} {wanted}",
                lab.names.lab, lab.names.lab
            )));
        }
    }
    std::fs::create_dir_all(&lab.dir)
        .map_err(|e| Error::io(format!("creating {}", lab.dir.display()), e))?;
    std::fs::write(&path, wanted.to_string())
        .map_err(|e| Error::io(format!("writing {}", path.display()), e))
}
