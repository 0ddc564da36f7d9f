//! Recovery: jobs left on a lane by a crash (this station's, at start) or by a dead station
//! (lease expired). A card that was written is read back and verified again before it may be
//! printed; a card that may be half-written, or that is out of reach, is spoiled.

use tokio::sync::mpsc;

use super::{
    CardEncoder, Handoff, RECHECKED, Status, encode_job, on_device, reject, spoil,
    verify_and_hand_off,
};
use crate::job::JobState;
use crate::server::Station;
use crate::store::Actor;

/// Takes care of jobs nobody works on: this lane's own after a restart (a written card is read
/// back and verified again; a card being written is spoiled), and jobs of dead stations whose
/// lease ran out (their cards are out of reach: spoiled, the job gets a new blank).
pub(super) async fn recover(
    station: &Station,
    name: &str,
    mut encoder: Box<dyn CardEncoder>,
    tx: &mpsc::Sender<Handoff>,
    status: &Status,
    startup: bool,
) -> Box<dyn CardEncoder> {
    let me = station.settings().station_id.clone();
    let known = station.lane_names();
    let (st, now) = (me.clone(), station.now_ms());
    let orphans = match station.db(move |s| s.orphaned(&st, now)).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(lane = %name, "cannot look for interrupted jobs: {e}");
            return encoder;
        }
    };
    let actor = Actor::lane(&me, name);
    for job in orphans {
        let own_lane =
            job.station.as_deref() == Some(me.as_str()) && job.lane.as_deref() == Some(name);
        // A lane removed from the configuration: the first lane spoils its cards.
        let ours_unknown_lane = job.station.as_deref() == Some(me.as_str())
            && !job
                .lane
                .as_deref()
                .is_some_and(|l| known.iter().any(|k| k == l))
            && known.first().map(String::as_str) == Some(name);
        let other_station = job.station.as_deref() != Some(me.as_str());
        if !(other_station || (startup && (own_lane || ours_unknown_lane))) {
            continue; // Another lane of this station recovers it.
        }
        let id = job.id;
        if !own_lane {
            let (st, ln, now) = (me.clone(), name.to_string(), station.now_ms());
            if station
                .db(move |s| s.take_over(id, &st, &ln, now))
                .await
                .is_err()
            {
                continue; // Someone else took it, or its station came back.
            }
            let from = format!(
                "{}/{}",
                job.station.unwrap_or_default(),
                job.lane.unwrap_or_default()
            );
            if job.state == JobState::Printing {
                // Verified and sent to the printer: the card may be in the holder's hands.
                // Its number must not be voided behind the operator's back.
                let why = format!(
                    "lane {from} stopped while printing a verified card; it may have been delivered: confirm it issued or void it"
                );
                needs_review(station, id, &actor, why).await;
                continue;
            }
            let why = format!("lane {from} stopped with the card on it");
            spoil(station, id, &actor, why, false, status).await;
            continue;
        }
        tracing::info!(job = id, state = %job.state, lane = %name, "recovering interrupted job");
        match job.state {
            JobState::Verifying | JobState::Printing => {
                let ejob = match encode_job(station, &job).await {
                    Ok(j) => j,
                    Err(e) => {
                        spoil(station, id, &actor, e.to_string(), false, status).await;
                        continue;
                    }
                };
                if job.state == JobState::Verifying {
                    encoder =
                        verify_and_hand_off(station, &actor, encoder, ejob, None, tx, status).await;
                } else {
                    // Printing: verify again before the card may be issued.
                    let (enc, (ejob, r)) = on_device(encoder, move |e| {
                        let r = super::guarded(|| e.recheck(&ejob));
                        (ejob, r)
                    })
                    .await;
                    encoder = enc;
                    match r {
                        Ok(card) => {
                            let handoff = Handoff {
                                job: ejob,
                                card,
                                note: Some(RECHECKED.to_string()),
                            };
                            if tx.send(handoff).await.is_err() {
                                tracing::error!(job = id, "printer stage gone");
                            }
                        }
                        // The verified card is not in the lane any more: it may have left
                        // the printer. An operator decides; the number is not voided.
                        Err(e @ super::CardError::Missing { .. }) => {
                            let why = format!(
                                "after restart: {e}; the card passed verification and may have been delivered: confirm it issued or void it"
                            );
                            needs_review(station, id, &actor, why).await;
                        }
                        Err(e) => {
                            encoder = reject(
                                station,
                                &actor,
                                encoder,
                                ejob,
                                format!("after restart: {e}"),
                                false,
                                status,
                            )
                            .await;
                        }
                    }
                }
            }
            _ => {
                // Numbered or encoding: the chip may be partly written; it is never trusted.
                if let Ok(ejob) = encode_job(station, &job).await {
                    let (enc, _) =
                        on_device(encoder, move |e| super::guarded(|| e.reject(&ejob))).await;
                    encoder = enc;
                }
                let why = format!("interrupted while {}", job.state);
                spoil(station, id, &actor, why, false, status).await;
            }
        }
    }
    encoder
}

/// Moves a printing job whose card is out of reach to `needs_review`, for an operator.
async fn needs_review(station: &Station, id: i64, actor: &Actor, why: String) {
    tracing::warn!(job = id, "card needs an operator's review: {why}");
    let info = crate::store::StepInfo::detail(why);
    let (a, now) = (actor.clone(), station.now_ms());
    match station
        .db(move |s| s.step(id, JobState::NeedsReview, &a, &info, now))
        .await
    {
        Ok(_) => station.note_transition(JobState::NeedsReview),
        Err(e) => tracing::error!(job = id, "cannot put the job up for review: {e}"),
    }
}
