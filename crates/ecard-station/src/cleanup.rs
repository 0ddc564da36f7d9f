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

/// Moves every card found in a lane slot (`DATA_DIR/lanes/<lane>/job-<id>.img`) that no live job
/// of this station's lane owns to `DATA_DIR/to-destroy/`, and records it for the operator (store
/// and audit log). A station killed while printing leaves such a card; another station took the
/// job over (and its number may have been voided), so the card must not reach anyone. Cards of
/// jobs still on this station's lane stay: that lane's recovery re-reads them.
pub fn sweep_orphan_cards(
    store: &crate::store::Store,
    data_dir: &Path,
    station: &str,
    now_ms: i64,
) -> Result<Vec<crate::store::orphans::CardToDestroy>, String> {
    let mut found = Vec::new();
    let Ok(lanes) = std::fs::read_dir(data_dir.join("lanes")) else {
        return Ok(found);
    };
    for lane_dir in lanes.filter_map(Result::ok) {
        let lane = lane_dir.file_name().to_string_lossy().into_owned();
        let Ok(cards) = std::fs::read_dir(lane_dir.path()) else {
            continue;
        };
        for card in cards.filter_map(Result::ok) {
            let name = card.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_prefix("job-")
                .and_then(|r| r.strip_suffix(".img"))
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            let job = store.get(id).map_err(|e| e.to_string())?;
            let owned = job.as_ref().is_some_and(|j| {
                j.state.on_lane()
                    && j.station.as_deref() == Some(station)
                    && j.lane.as_deref() == Some(lane.as_str())
            });
            if owned {
                continue;
            }
            let number = store
                .number_on_lane(id, station, &lane)
                .map_err(|e| e.to_string())?;
            let dir = data_dir.join("to-destroy");
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(&dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let target = dir.join(format!(
                "job-{id}-{}.img",
                number.as_deref().unwrap_or("unnumbered")
            ));
            std::fs::rename(card.path(), &target).map_err(|e| {
                format!(
                    "cannot move {} to {}: {e}",
                    card.path().display(),
                    target.display()
                )
            })?;
            let record = crate::store::orphans::CardToDestroy {
                path: target.display().to_string(),
                job_id: id,
                document_number: number,
                station: station.to_string(),
                lane: lane.clone(),
                found: String::new(),
            };
            store
                .record_card_to_destroy(&record, now_ms)
                .map_err(|e| e.to_string())?;
            tracing::warn!(job = id, lane = %lane, "card left in a lane slot: moved to to-destroy");
            found.push(record);
        }
    }
    Ok(found)
}

/// Purges personal data past the retention period: the store's records and images of jobs over
/// for `retention_days`, and the print spool's files (rendered faces) older than that. Returns
/// (jobs purged, spool files removed).
pub fn purge_personal_data(
    store: &crate::store::Store,
    data_dir: &Path,
    retention_days: u32,
    actor: &str,
) -> Result<(usize, usize), String> {
    let now = std::time::SystemTime::now();
    let now_ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let keep = std::time::Duration::from_secs(u64::from(retention_days) * 86_400);
    let before_ms = now_ms - i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
    let jobs = store
        .purge_personal_data(before_ms, retention_days, actor, now_ms)
        .map_err(|e| e.to_string())?;
    let files = remove_older(&data_dir.join("print-spool"), now, keep, 0);
    Ok((jobs.len(), files))
}

/// Removes files older than `keep` under `dir` (two levels deep); returns how many.
fn remove_older(
    dir: &Path,
    now: std::time::SystemTime,
    keep: std::time::Duration,
    depth: u32,
) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let Ok(meta) = e.metadata() else { continue };
        if meta.is_dir() {
            if depth < 2 {
                removed += remove_older(&path, now, keep, depth + 1);
            }
        } else if meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > keep)
            && std::fs::remove_file(&path).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobState;
    use crate::store::{Actor, NewJob, StepInfo};

    /// Issue 13 item 14: a card left in a dead lane's slot whose job another station took over
    /// is moved out and recorded with its number; a card of a job still on the lane stays.
    #[test]
    fn cards_no_live_job_owns_are_moved_to_destroy() {
        let t = crate::testutil::sqlite();
        let s = &t.store;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let intake = Actor::named("intake");
        let mut ids = Vec::new();
        for app in ["MMC-ORPHAN-1", "MMC-ORPHAN-2"] {
            let (j, _) = s
                .submit(
                    &NewJob {
                        application_id: app.into(),
                        record_json: crate::testutil::record_json(app),
                        chip_images_json: crate::testutil::chip_images_json(),
                        late_notification: false,
                        replaces: None,
                    },
                    &intake,
                    1,
                )
                .unwrap();
            s.step(j.id, JobState::Validated, &intake, &StepInfo::default(), 2)
                .unwrap();
            let j = s.claim("me", "lane-1", 77, 3, 4).unwrap().unwrap();
            ids.push((j.id, j.document_number.unwrap()));
        }
        // The first job was taken over by another station after "me" died.
        s.take_over(ids[0].0, "other", "lane-9", 10).unwrap();
        std::fs::create_dir_all(d.join("lanes/lane-1")).unwrap();
        for (id, _) in &ids {
            std::fs::write(d.join(format!("lanes/lane-1/job-{id}.img")), b"card").unwrap();
        }
        let found = sweep_orphan_cards(s, d, "me", 20).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].job_id, ids[0].0);
        assert_eq!(found[0].document_number.as_deref(), Some(ids[0].1.as_str()));
        assert!(
            !d.join(format!("lanes/lane-1/job-{}.img", ids[0].0))
                .exists()
        );
        assert!(
            d.join(format!("to-destroy/job-{}-{}.img", ids[0].0, ids[0].1))
                .exists()
        );
        assert!(
            d.join(format!("lanes/lane-1/job-{}.img", ids[1].0))
                .exists()
        );
        let listed = s.cards_to_destroy().unwrap();
        assert_eq!(listed.len(), 1);
        let (entries, head, jobs) = s.audit_snapshot().unwrap();
        crate::audit::verify_chain(&entries, &head).unwrap();
        crate::audit::verify_jobs(&entries, &jobs).unwrap();
        assert!(entries.iter().any(|e| e.to_state == "card_to_destroy"));
        // Nothing left to sweep.
        assert!(sweep_orphan_cards(s, d, "me", 30).unwrap().is_empty());
    }

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
