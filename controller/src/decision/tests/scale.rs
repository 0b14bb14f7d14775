//! The decision's time at scale, printed: one more Service among 10,000 settled ones, then
//! the decision after its writes come back (the watch's echo of the controller's writes),
//! round after round.
//! `cargo test --profile bench-release -p ferrolb-controller --lib -- --ignored --nocapture decide_at_scale`

use std::time::Instant;

use ferrolb_api::names::ANN_LOAD_BALANCER_IPS;

use super::fixtures::{Cluster, Svc, add, applied};
use super::{decide_on, decide_remembering, settled};
use crate::decision::DecisionMemo;

#[test]
#[ignore = "a timing, printed; run in release"]
fn decide_at_scale() {
    let n: i64 = std::env::var("SCALE_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let mut cluster = Cluster::new().pool("scale", &["2001:db8:100::/112"]);
    for i in 0..n {
        cluster = cluster.service(Svc::lb(&format!("s{i}"), i).families(&["IPv6"]));
    }
    let mut watched = settled(settled(cluster.build()));
    // As the control loop decides: with the memo of the decision before.
    let mut memo = DecisionMemo::default();
    let mut timed = |what: &str, watched: &crate::inputs::Watched| {
        let t = Instant::now();
        let writes = decide_remembering(watched, &mut memo);
        println!(
            "{what}: {} writes, decide {:?}",
            writes.services.len(),
            t.elapsed()
        );
        if let Some(w) = writes.services.first() {
            println!("  {:?}", w.want.owned.ips);
        }
        writes
    };
    let t = Instant::now();
    decide_on(&watched);
    println!("settled, no memo: decide {:?}", t.elapsed());
    timed("settled", &watched);
    let rounds: i64 = std::env::var("SCALE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    // Each round one more Service among the settled ones, its writes then seen back. Every
    // other one asks for an address, as `cargo xtask bench speaker`'s do.
    for r in 0..rounds {
        let name = format!("one-more-{r}");
        let mut svc = Svc::lb(&name, n + r).families(&["IPv6"]);
        if r % 2 == 1 {
            svc = svc.annotation(ANN_LOAD_BALANCER_IPS, &format!("2001:db8:100::ff{r:02x}"));
        }
        add(&mut watched, svc);
        let writes = timed("one more", &watched);
        watched = applied(&watched, &writes);
        // As the control loop drops them before its next decision.
        drop(writes);
        timed("its writes seen back", &watched);
    }
    timed("nothing changed", &watched);
    // As the control loop does: it does not decide on its writes' echoes alone, so each
    // decision sees the Service before settled and one more new, starting from a fresh memo
    // whose first plan is not settled (the last Service created has no address yet).
    let mut memo = DecisionMemo::default();
    for r in rounds..2 * rounds {
        let name = format!("one-more-{r}");
        add(&mut watched, Svc::lb(&name, n + r).families(&["IPv6"]));
        let t = Instant::now();
        let writes = decide_remembering(&watched, &mut memo);
        println!(
            "one more, the last one's echo not decided: {} writes, decide {:?}",
            writes.services.len(),
            t.elapsed()
        );
        watched = applied(&watched, &writes);
    }
}
