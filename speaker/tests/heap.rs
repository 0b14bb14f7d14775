//! The speaker's memory grows by a bounded number of bytes per Service (issue 21): the objects
//! as the reflectors keep them and what the daemon keeps after a step
//! ([`ferrolb_speaker::daemon::scale`]), counted by this binary's allocator. No timing, no root.
//! Figures at 10,000 Services: `cargo xtask bench speaker-heap`.

#[path = "../examples/heap/counting.rs"]
#[allow(dead_code)] // the harness reads the peak too
mod counting;

use counting::{Counting, live};
use ferrolb_speaker::daemon::scale::{Kept, World};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes per Service the stores may keep (measured 1,372–1,375 since a Service's namespace
/// and name are shared strings, which its keys share; 1,337–1,338 before; 2,409–2,410 when Services
/// were kept as projected `k8s-openapi` objects, not as `NodeService`; 3,183–3,185 when
/// `ServiceAnnouncement`s were kept whole (name, namespace, status) rather than as a digest
/// and Services kept every condition; 4,409 before EndpointSlices were kept as `NodeSlice`,
/// with the projections of `ferrolb_adapter::project`; 5,030 when Services kept their pod selector and finalizers;
/// 6,004 when `ServiceAnnouncement`s kept their metadata and spec; 19,333 without
/// projections).
const STORES_PER_SERVICE: usize = 1_450;
/// Bytes per Service the daemon may keep after a step (measured 1,907–1,913; 2,070–2,077 when
/// each decision had a reason text of its own, naming its address; 2,238–2,245 when
/// a Service's row, claim and rule input each made their own key; 2,347–2,352 when
/// the `ServiceAnnouncement` statuses this node writes were kept composed; 2,378–2,386
/// earlier; 2,404–2,406 when the basis's rows and ingress and the rule input's Services kept the capacity their
/// collects grew to; 2,471–2,473 when the step memo kept each Service's key besides its
/// row's; 2,604–2,607 when each address's decision had its own candidate and interface
/// lists; 3,447–3,516 before the step's lists built by push kept their spare capacity, its
/// maps built in order kept half-empty nodes, and the memo kept its entries and each
/// address's rows in hash maps; 3,868 before a Service's endpoints became map elements
/// instead of a chain and rules of its own, and its pod selector was dropped; 4,296 when each
/// row's election inputs kept the capacity they grew to; 2,875 before the step memo kept each
/// Service's claim, row and election decision inputs so that a step costs what changed; 4,244
/// when the publication and the applier's ruleset were copies and each probed address had its
/// own interface set).
const KEPT_PER_SERVICE: usize = 2_010;

/// (stores, kept after the second step) in bytes for `n` Services.
fn retained(n: usize) -> (usize, usize) {
    let base = live();
    let world = World::new(n).unwrap_or_else(|e| panic!("{e}"));
    let stores = live() - base;
    let mut first = Kept::step(&world, None);
    let second = Kept::step(&world, Some(&mut first));
    drop(first);
    let kept = live() - base - stores;
    assert!(
        second.announced() > 0,
        "node-a announces some of the addresses"
    );
    drop(second);
    drop(world);
    (stores, kept)
}

/// One test in this binary: the counters are the process's.
#[test]
fn bytes_per_service_are_bounded_and_constant() {
    let (s100, k100) = retained(100);
    let (s600, k600) = retained(600);
    let (s1100, k1100) = retained(1100);
    // What each further Service costs, over two ranges: equal within 10% (no quadratic term),
    // and under the bounds.
    for (what, a, b, c, bound) in [
        ("stores", s100, s600, s1100, STORES_PER_SERVICE),
        ("kept", k100, k600, k1100, KEPT_PER_SERVICE),
    ] {
        let low = (b - a) / 500;
        let high = (c - b) / 500;
        println!("{what}: {low} then {high} bytes per Service (bound {bound})");
        assert!(
            high.abs_diff(low) * 10 <= low,
            "{what}: {low} bytes per Service from 100 to 600 Services, {high} from 600 to 1100"
        );
        assert!(
            high <= bound,
            "{what}: {high} bytes per Service, more than {bound}: see `cargo xtask bench speaker-heap`"
        );
    }
}
