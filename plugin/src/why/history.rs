//! Step 8, history: when each node began answering (the ServiceAnnouncement's `since`) and
//! the speakers' `Announcing` events (takeovers). Informational: never fails.

use k8s_openapi::api::core::v1::Event;

use super::{STEP_HISTORY, Snapshot, Step};

/// The reason of the speakers' takeover events.
pub const REASON_ANNOUNCING: &str = "Announcing";

/// Runs step 8.
pub fn check(snap: &Snapshot) -> Step {
    let mut ev = Vec::new();
    if let Some(status) = snap.announcement.as_ref().and_then(|a| a.status.as_ref()) {
        for a in &status.announcements {
            let since = a
                .since
                .as_ref()
                .map_or("(unknown)".to_string(), |t| t.0.to_string());
            ev.push(format!("{} answered by {} since {since}", a.ip, a.node));
        }
        for s in &status.silent {
            ev.push(format!("{} silent: {}", s.ip, s.reason));
        }
    }
    let uid = snap.service.metadata.uid.as_deref();
    let mut takeovers: Vec<_> = snap
        .events
        .iter()
        .filter(|e| e.reason.as_deref() == Some(REASON_ANNOUNCING))
        // A deleted and recreated Service of the same name has other events.
        .filter(|e| uid.is_none() || e.involved_object.uid.as_deref() == uid)
        .collect();
    takeovers.sort_by_key(|e| when(e));
    for e in takeovers.iter().rev().take(5) {
        let when = when(e).map_or("(unknown)".to_string(), |t| t.to_string());
        ev.push(format!("{when}: {}", e.message.as_deref().unwrap_or("")));
    }
    if ev.is_empty() {
        Step::skipped(
            STEP_HISTORY,
            vec![
                "no ServiceAnnouncement and no Announcing events: nothing records a takeover"
                    .into(),
            ],
        )
    } else {
        Step::passed(STEP_HISTORY, ev)
    }
}

/// When an event last happened: `lastTimestamp`, else `eventTime` (events.k8s.io writers
/// such as kube-rs' recorder set only that), else `firstTimestamp`, else its creation.
fn when(e: &Event) -> Option<jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}
