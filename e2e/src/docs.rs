//! The objects the documentation shows: every fenced `yaml` block of README.md and of the
//! Markdown under deploy/, for the tests that check them against the CRDs' schemas and apply
//! them to the lab's apiserver.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// README.md and every Markdown file under deploy/.
pub fn documentation(repo: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for path in std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path()))
        {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![repo.join("README.md")];
    walk(&repo.join("deploy"), &mut files);
    files.sort();
    files
}

/// The text of each fenced `yaml` block of `markdown` (also indented ones, as in lists), with
/// the line it starts on.
pub fn yaml_blocks(markdown: &str) -> Result<Vec<(usize, String)>, String> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let fence = line.trim();
        match &mut open {
            None if fence == "```yaml" || fence == "```yml" => {
                open = Some((n + 2, indent, String::new()));
            }
            None => {}
            Some(_) if fence == "```" => {
                if let Some((start, _, text)) = open.take() {
                    blocks.push((start, text));
                }
            }
            Some((_, block_indent, text)) => {
                let cut = indent.min(*block_indent);
                text.push_str(&line[cut..]);
                text.push('\n');
            }
        }
    }
    match open {
        Some((start, _, _)) => Err(format!("the yaml block of line {start} is not closed")),
        None => Ok(blocks),
    }
}

/// Every ferrolb object (apiVersion in group ferrolb.io) of the documentation under `repo`,
/// named by file, line and kind; a file that cannot be read or a block that is not YAML is an
/// error naming it.
pub fn examples(repo: &Path) -> Result<Vec<(String, Value)>, String> {
    let mut found = Vec::new();
    for file in documentation(repo) {
        let shown = file
            .strip_prefix(repo)
            .unwrap_or(&file)
            .display()
            .to_string();
        let markdown =
            std::fs::read_to_string(&file).map_err(|e| format!("reading {shown}: {e}"))?;
        for (line, text) in yaml_blocks(&markdown).map_err(|e| format!("{shown}: {e}"))? {
            for doc in serde_norway::Deserializer::from_str(&text) {
                let value = Value::deserialize(doc)
                    .map_err(|e| format!("{shown}:{line}: not YAML: {e}"))?;
                let api_version = value["apiVersion"].as_str().unwrap_or_default();
                if api_version.split('/').next() == Some(ferrolb_api::GROUP) {
                    let kind = value["kind"].as_str().unwrap_or("?");
                    found.push((format!("{shown}:{line} ({kind})"), value));
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_blocks_are_found_also_when_indented() {
        let markdown = "text\n```yaml\na: 1\n```\n1. item\n\n   ```yaml\n   b: 2\n   c:\n     d: 3\n   ```\n```sh\nx\n```\n";
        assert_eq!(
            yaml_blocks(markdown),
            Ok(vec![
                (3, "a: 1\n".to_string()),
                (8, "b: 2\nc:\n  d: 3\n".to_string())
            ])
        );
        assert_eq!(
            yaml_blocks("```yaml\na: 1\n"),
            Err("the yaml block of line 2 is not closed".to_string())
        );
    }
}
