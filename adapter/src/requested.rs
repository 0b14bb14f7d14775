//! What a Service asks of the controller through its annotations, read in one place:
//! ferrolb's own ([`ANN_LOAD_BALANCER_IPS`], [`ANN_IP_POOL`], [`ANN_SHARING_KEY`]) and, when
//! honoured ([`Honour::MetalLb`], the controller's `--metallb-annotations`), MetalLB's
//! equivalents in both spellings (`metallb.io/...` and the older `metallb.universe.tf/...`).
//! ferrolb's own annotation wins when both are present. Pure.

use std::collections::BTreeMap;

use ferrolb_api::names::{
    ANN_IP_POOL, ANN_LOAD_BALANCER_IPS, ANN_SHARING_KEY, METALLB_ANN_ADDRESS_POOL,
    METALLB_ANN_ADDRESS_POOL_OLD, METALLB_ANN_ALLOW_SHARED_IP, METALLB_ANN_ALLOW_SHARED_IP_OLD,
    METALLB_ANN_LOAD_BALANCER_IPS, METALLB_ANN_LOAD_BALANCER_IPS_OLD,
};

/// Which annotations count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Honour {
    /// ferrolb's only.
    #[default]
    Ferrolb,
    /// ferrolb's, then MetalLB's.
    MetalLb,
}

impl Honour {
    /// [`Honour::MetalLb`] when `metallb` is set.
    pub fn metallb(metallb: bool) -> Honour {
        if metallb {
            Honour::MetalLb
        } else {
            Honour::Ferrolb
        }
    }
}

/// One annotation that counts: its name (for messages) and its value as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Annotated<'a> {
    /// The annotation's name.
    pub name: &'static str,
    /// Its value, untrimmed.
    pub value: &'a str,
}

/// The annotations a Service's request is read from (each `None` when absent or blank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Requested<'a> {
    /// Requested IPs (comma separated).
    pub ips: Option<Annotated<'a>>,
    /// The pool to allocate from.
    pub pool: Option<Annotated<'a>>,
    /// The sharing key.
    pub sharing_key: Option<Annotated<'a>>,
}

/// ferrolb's annotation of each kind, then MetalLB's in the order they are tried.
const IPS: [&str; 3] = [
    ANN_LOAD_BALANCER_IPS,
    METALLB_ANN_LOAD_BALANCER_IPS,
    METALLB_ANN_LOAD_BALANCER_IPS_OLD,
];
const POOL: [&str; 3] = [
    ANN_IP_POOL,
    METALLB_ANN_ADDRESS_POOL,
    METALLB_ANN_ADDRESS_POOL_OLD,
];
const SHARING: [&str; 3] = [
    ANN_SHARING_KEY,
    METALLB_ANN_ALLOW_SHARED_IP,
    METALLB_ANN_ALLOW_SHARED_IP_OLD,
];

impl<'a> Requested<'a> {
    /// Reads `annotations`.
    pub fn of(annotations: &'a BTreeMap<String, String>, honour: Honour) -> Requested<'a> {
        let pick = |names: &[&'static str; 3]| {
            let names = match honour {
                Honour::Ferrolb => &names[..1],
                Honour::MetalLb => &names[..],
            };
            names.iter().find_map(|name| {
                let value = annotations.get(*name)?;
                (!value.trim().is_empty()).then_some(Annotated { name, value })
            })
        };
        Requested {
            ips: pick(&IPS),
            pool: pick(&POOL),
            sharing_key: pick(&SHARING),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn values(r: Requested<'_>) -> [Option<(&'static str, String)>; 3] {
        [r.ips, r.pool, r.sharing_key].map(|a| a.map(|a| (a.name, a.value.to_string())))
    }

    #[test]
    fn metallb_annotations_count_only_when_honoured() {
        let a = annotations(&[
            ("metallb.io/loadBalancerIPs", "198.51.100.7"),
            ("metallb.io/address-pool", "production"),
            ("metallb.io/allow-shared-ip", "web"),
        ]);
        assert_eq!(Requested::of(&a, Honour::Ferrolb), Requested::default());
        assert_eq!(
            values(Requested::of(&a, Honour::MetalLb)),
            [
                Some(("metallb.io/loadBalancerIPs", "198.51.100.7".into())),
                Some(("metallb.io/address-pool", "production".into())),
                Some(("metallb.io/allow-shared-ip", "web".into())),
            ]
        );
    }

    #[test]
    fn old_spellings_are_read_after_the_new_ones() {
        let a = annotations(&[
            ("metallb.universe.tf/loadBalancerIPs", "198.51.100.8"),
            ("metallb.universe.tf/address-pool", "old"),
            ("metallb.io/address-pool", "new"),
            ("metallb.universe.tf/allow-shared-ip", "k"),
        ]);
        assert_eq!(
            values(Requested::of(&a, Honour::MetalLb)),
            [
                Some(("metallb.universe.tf/loadBalancerIPs", "198.51.100.8".into())),
                Some(("metallb.io/address-pool", "new".into())),
                Some(("metallb.universe.tf/allow-shared-ip", "k".into())),
            ]
        );
    }

    #[test]
    fn ferrolb_wins_and_blank_counts_as_absent() {
        let a = annotations(&[
            ("ferrolb.io/load-balancer-ips", "198.51.100.9"),
            ("metallb.io/loadBalancerIPs", "198.51.100.7"),
            ("ferrolb.io/ip-pool", " "),
            ("metallb.io/address-pool", "production"),
            ("ferrolb.io/sharing-key", "ours"),
            ("metallb.io/allow-shared-ip", "theirs"),
        ]);
        for honour in [Honour::Ferrolb, Honour::MetalLb] {
            let r = Requested::of(&a, honour);
            assert_eq!(r.ips.map(|a| a.value), Some("198.51.100.9"));
            assert_eq!(r.sharing_key.map(|a| a.value), Some("ours"));
        }
        assert_eq!(Requested::of(&a, Honour::Ferrolb).pool, None);
        assert_eq!(
            Requested::of(&a, Honour::MetalLb).pool.map(|a| a.value),
            Some("production")
        );
    }
}
