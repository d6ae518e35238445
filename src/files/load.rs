//! Reading the configuration directory: every `*.yaml` / `*.yml` file under DIR (recursively,
//! skipping hidden entries such as `.git`), in path order.
//!
//! Invariant: a file that cannot be read or parsed keeps its last good documents (and the error
//! is reported), so a half-written or broken file never removes the resources it held.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::document::{Document, parse_documents};

/// Errors of the directory as a whole.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("configuration directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration path {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("watching {path}: {source}")]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
}

/// The documents of a directory, with each file's last good parse.
#[derive(Debug, Default)]
pub struct DirLoader {
    last_good: BTreeMap<PathBuf, Vec<Document>>,
}

/// The result of loading a directory once.
#[derive(Debug, Default)]
pub struct Loaded {
    pub documents: Vec<Document>,
    /// Problems to log: unreadable files, YAML errors, unknown kinds, unnamed documents.
    pub problems: Vec<String>,
}

impl DirLoader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads and parses every YAML file under `dir`.
    pub fn load(&mut self, dir: &Path) -> Result<Loaded, FilesError> {
        let files = yaml_files(dir)?;
        let mut loaded = Loaded::default();
        let mut next = BTreeMap::new();
        for path in files {
            let origin = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("{origin}: {e}"))
                .and_then(|text| parse_documents(&text, &origin).map_err(|e| e.to_string()));
            let documents = match parsed {
                Ok(p) => {
                    loaded.problems.extend(p.problems);
                    p.documents
                }
                Err(problem) => {
                    let kept = self.last_good.get(&path).cloned().unwrap_or_default();
                    loaded.problems.push(format!(
                        "{problem} (keeping its {} last good documents)",
                        kept.len()
                    ));
                    kept
                }
            };
            loaded.documents.extend(documents.iter().cloned());
            next.insert(path, documents);
        }
        self.last_good = next;
        Ok(loaded)
    }
}

/// Every `*.yaml` / `*.yml` file under `dir`, sorted, skipping hidden files and directories.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, FilesError> {
    let meta = std::fs::metadata(dir).map_err(|source| FilesError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(FilesError::NotADirectory(dir.to_owned()));
    }
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| FilesError::Dir {
            path: d.clone(),
            source,
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden {
                continue;
            }
            // Follows symlinks (Kubernetes ConfigMap mounts are symlinks).
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_recursively_and_keeps_last_good_on_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(
            dir.path().join(".git/x.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: hidden}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::write(
            dir.path().join("sub/s.yml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
        )
        .unwrap();
        let tenant =
            "apiVersion: idrelay.dev/v1alpha1\nkind: Tenant\nmetadata: {name: acme}\nspec: {}\n";
        std::fs::write(dir.path().join("t.yaml"), tenant).unwrap();
        let mut loader = DirLoader::new();
        let first = loader.load(dir.path()).unwrap();
        assert_eq!(first.documents.len(), 2);
        assert!(first.problems.is_empty(), "{:?}", first.problems);

        std::fs::write(dir.path().join("t.yaml"), "spec: [unclosed\n").unwrap();
        let second = loader.load(dir.path()).unwrap();
        assert_eq!(second.documents, first.documents);
        assert_eq!(second.problems.len(), 1);
        assert!(
            second.problems[0].starts_with("t.yaml:"),
            "{:?}",
            second.problems
        );
    }

    #[test]
    fn missing_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(DirLoader::new().load(&dir.path().join("nope")).is_err());
    }
}
