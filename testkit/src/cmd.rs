//! Running a command and keeping its output.

use std::process::Command;

use crate::Error;

/// Runs `argv` and returns its stdout; a failure carries the command line and stderr.
pub fn run(argv: &[&str]) -> Result<String, Error> {
    let Some((program, args)) = argv.split_first() else {
        return Err(Error::Spawn {
            cmd: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
        });
    };
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            cmd: argv.join(" "),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            cmd: argv.join(" "),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_of_a_success_and_stderr_of_a_failure() {
        assert_eq!(run(&["sh", "-c", "echo hi"]).unwrap(), "hi\n");
        let err = run(&["sh", "-c", "echo oops >&2; exit 3"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("oops") && text.contains("sh -c"), "{text}");
        assert!(matches!(
            run(&["/nonexistent/flbt"]),
            Err(Error::Spawn { .. })
        ));
        assert!(run(&[]).is_err());
    }
}
