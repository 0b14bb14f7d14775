//! Which shared libraries a dynamically linked program loads, from `ldd`'s output.
//!
//! glibc's `ldd` prints one line per object:
//!
//! ```text
//!         linux-vdso.so.1 (0x00007ffd2b5f2000)
//!         libmnl.so.0 => /lib/x86_64-linux-gnu/libmnl.so.0 (0x00007f...)
//!         libfoo.so.1 => not found
//!         /lib64/ld-linux-x86-64.so.2 (0x00007f...)
//! ```
//!
//! The vDSO has no file; the dynamic loader is named by its absolute path; `statically
//! linked` means there is nothing to copy.

use std::path::PathBuf;

/// Why `ldd`'s output cannot be turned into a list of files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LddError {
    /// The program needs a library the machine does not have.
    #[error("library {0} not found (install the package that provides it)")]
    NotFound(String),
    /// A line in no format ldd prints.
    #[error("unexpected ldd output line: {0:?}")]
    Unparsed(String),
}

/// The files (absolute paths, in the order listed, each once) a program needs at run time,
/// the dynamic loader included; empty for a static program.
pub fn libraries(output: &str) -> Result<Vec<PathBuf>, LddError> {
    let mut found: Vec<PathBuf> = Vec::new();
    for raw in output.lines() {
        let line = raw.trim();
        if line.is_empty()
            || line == "statically linked"
            || line == "not a dynamic executable"
            // The header ldd prints when asked about several files: `/usr/sbin/nft:`.
            || (!raw.starts_with(char::is_whitespace) && line.ends_with(':'))
        {
            continue;
        }
        let path = match line.split_once("=>") {
            Some((name, target)) => {
                let target = without_address(target);
                if target == "not found" {
                    return Err(LddError::NotFound(name.trim().to_string()));
                }
                if target.is_empty() {
                    // Old glibc lists the vDSO as `linux-vdso.so.1 =>  (0x...)`.
                    continue;
                }
                target
            }
            None => without_address(line),
        };
        if !path.starts_with('/') {
            if path.contains(".so") && !path.contains(char::is_whitespace) {
                continue; // the vDSO: provided by the kernel, no file
            }
            return Err(LddError::Unparsed(raw.to_string()));
        }
        let path = PathBuf::from(path);
        if !found.contains(&path) {
            found.push(path);
        }
    }
    Ok(found)
}

/// `"/lib/libc.so.6 (0x7f...)"` → `"/lib/libc.so.6"`.
fn without_address(s: &str) -> &str {
    let s = s.trim();
    if s.starts_with("(0x") && s.ends_with(')') {
        return "";
    }
    match s.rfind(" (0x") {
        Some(i) if s.ends_with(')') => s[..i].trim(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NFT: &str = "\tlinux-vdso.so.1 (0x00007fe46db65000)
\tlibnftables.so.1 => /lib/x86_64-linux-gnu/libnftables.so.1 (0x00007fe46da72000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fe46d856000)
\tlibmnl.so.0 => /lib/x86_64-linux-gnu/libmnl.so.0 (0x00007fe46d84e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fe46db67000)
";

    fn paths(list: &[&str]) -> Vec<PathBuf> {
        list.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn lists_libraries_and_the_loader_but_not_the_vdso() {
        assert_eq!(
            libraries(NFT).unwrap(),
            paths(&[
                "/lib/x86_64-linux-gnu/libnftables.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib/x86_64-linux-gnu/libmnl.so.0",
                "/lib64/ld-linux-x86-64.so.2",
            ])
        );
    }

    #[test]
    fn a_missing_library_is_an_error_naming_it() {
        let out = "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n\tlibjansson.so.4 => not found\n";
        assert_eq!(
            libraries(out),
            Err(LddError::NotFound("libjansson.so.4".into()))
        );
    }

    #[test]
    fn static_programs_need_nothing() {
        assert_eq!(libraries("\tstatically linked\n").unwrap(), paths(&[]));
        assert_eq!(
            libraries("\tnot a dynamic executable\n").unwrap(),
            paths(&[])
        );
    }

    #[test]
    fn several_files_headers_and_old_vdso_form_are_skipped_and_duplicates_merged() {
        let out = "/usr/sbin/nft:\n\tlinux-vdso.so.1 =>  (0x00007ffd)\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n/usr/sbin/conntrack:\n\tlibc.so.6 => /lib/libc.so.6 (0x2)\n\tlibmnl.so.0 => /lib/libmnl.so.0 (0x3)\n";
        assert_eq!(
            libraries(out).unwrap(),
            paths(&["/lib/libc.so.6", "/lib/libmnl.so.0"])
        );
    }

    #[test]
    fn a_line_in_an_unknown_format_is_refused() {
        assert!(matches!(
            libraries("\tsomething odd happened here\n"),
            Err(LddError::Unparsed(_))
        ));
    }
}
