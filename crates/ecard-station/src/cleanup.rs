//! Start-up clean-up of writes a crash interrupted: a card image is written to
//! `<name>.img.tmp.<pid>` and renamed into place, so a kill in between leaves the temporary file
//! behind (the card itself is where it was before the write). They are removed at start, in
//! every folder the lanes write card images to.

use std::path::Path;

/// Folders under the data directory holding card images.
const CARD_FOLDERS: [&str; 4] = ["blanks", "lanes", "cards", "rejects"];

/// Removes every `*.img.tmp.*` file under the card folders of `data_dir` (two levels deep:
/// `blanks/<lane>/x.img.tmp.N`, `lanes/<lane>/...`). Returns the paths removed.
pub fn remove_interrupted_writes(data_dir: &Path) -> Vec<std::path::PathBuf> {
    let mut removed = Vec::new();
    let mut visit = |dir: &Path| {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut subdirs = Vec::new();
        for e in entries.filter_map(Result::ok) {
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                subdirs.push(path);
            } else if kind.is_file()
                && e.file_name().to_string_lossy().contains(".img.tmp.")
                && std::fs::remove_file(&path).is_ok()
            {
                removed.push(path);
            }
        }
        subdirs
    };
    for folder in CARD_FOLDERS {
        for sub in visit(&data_dir.join(folder)) {
            visit(&sub);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_card_images_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["blanks/lane-1", "lanes/lane-2", "cards", "print-spool"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let keep = [
            "blanks/lane-1/blank-1.img",
            "lanes/lane-2/job-7.img",
            "cards/770000001.img",
            "print-spool/a.img.tmp.99",
        ];
        let gone = [
            "blanks/lane-1/blank-1.img.tmp.4242",
            "lanes/lane-2/job-7.img.tmp.17",
            "cards/770000001.img.tmp.3",
        ];
        for f in keep.iter().chain(&gone) {
            std::fs::write(d.join(f), b"x").unwrap();
        }
        let mut removed = remove_interrupted_writes(d);
        removed.sort();
        let mut expected: Vec<_> = gone.iter().map(|f| d.join(f)).collect();
        expected.sort();
        assert_eq!(removed, expected);
        for f in keep {
            assert!(d.join(f).exists(), "{f} was removed");
        }
        assert!(remove_interrupted_writes(d).is_empty());
    }
}
