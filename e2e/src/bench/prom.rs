//! Reading the Prometheus text format the benchmarks scrape: an unlabelled gauge, and a
//! histogram (its series added up over every label but `le`), with the change between two
//! readings and the bounds of its quantiles. Pure.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The value of an unlabelled metric.
pub fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (metric, value) = l.split_once(' ')?;
        (metric == name).then(|| value.trim().parse().ok())?
    })
}

/// The series of metric `name` added up by the value of their label `key` (series without it
/// under "").
pub fn by_label(text: &str, name: &str, key: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if metric == name {
            let at = label(labels, key).unwrap_or_default().to_string();
            *out.entry(at).or_insert(0.0) += value;
        }
    }
    out
}

/// A histogram: cumulative counts by upper bound (`+Inf` last), the sum and the count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// `(le, observations at most le)`, by le.
    pub buckets: Vec<(f64, f64)>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
}

/// Histogram `name` (without its `_bucket`, `_sum`, `_count` suffix), every label set added
/// up; None when the text has no `name_count`.
pub fn histogram(text: &str, name: &str) -> Option<Histogram> {
    histogram_of_series(text, name, |_| true)
}

/// Histogram `name` of the series whose label `key` is `value` (e.g. kube-proxy's
/// `ip_family="IPv6"`); None when the text has no such `name_count`.
pub fn histogram_with(text: &str, name: &str, (key, value): (&str, &str)) -> Option<Histogram> {
    histogram_of_series(text, name, |labels| label(labels, key) == Some(value))
}

/// Histogram `name`, the label sets `keep` accepts added up.
fn histogram_of_series(text: &str, name: &str, keep: impl Fn(&str) -> bool) -> Option<Histogram> {
    let mut h = Histogram::default();
    let mut seen = false;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
        if !keep(labels) {
            continue;
        }
        match metric.strip_prefix(name) {
            Some("_bucket") => {
                let Some(le) = label(labels, "le").and_then(|le| le.parse::<f64>().ok()) else {
                    continue;
                };
                match h.buckets.iter_mut().find(|(b, _)| *b == le) {
                    Some((_, n)) => *n += value,
                    None => h.buckets.push((le, value)),
                }
            }
            Some("_sum") => h.sum += value,
            Some("_count") => {
                h.count += value;
                seen = true;
            }
            _ => {}
        }
    }
    h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    seen.then_some(h)
}

/// The value of label `key` in `k1="v1",k2="v2"}`.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let at = labels.find(&format!("{key}=\""))? + key.len() + 2;
    labels[at..].split('"').next()
}

impl Histogram {
    /// What was observed after `earlier` (a reading of the same histogram).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |le: f64| {
            earlier
                .buckets
                .iter()
                .find(|(b, _)| *b == le)
                .map_or(0.0, |(_, n)| *n)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| (le, n - before(le)))
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }

    /// Both added up (the same buckets on every node).
    pub fn plus(&self, other: &Histogram) -> Histogram {
        let mut out = self.clone();
        for &(le, n) in &other.buckets {
            match out.buckets.iter_mut().find(|(b, _)| *b == le) {
                Some((_, m)) => *m += n,
                None => out.buckets.push((le, n)),
            }
        }
        out.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.sum += other.sum;
        out.count += other.count;
        out
    }

    /// The smallest bucket bound at or above quantile `q` of the observations (None without
    /// observations; infinite when it lies above the last finite bound).
    pub fn quantile_at_most(&self, q: f64) -> Option<f64> {
        if self.count <= 0.0 {
            return None;
        }
        let want = q * self.count;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= want)
            .map(|(le, _)| *le)
    }

    /// Count, mean and the p50 and p95 bounds, in milliseconds (null where unknown or above
    /// the last finite bucket).
    pub fn summary_ms(&self) -> Value {
        let ms = |s: Option<f64>| s.filter(|s| s.is_finite()).map(|s| s * 1e3);
        json!({
            "count": self.count,
            "mean_ms": ms((self.count > 0.0).then(|| self.sum / self.count)),
            "p50_ms_at_most": ms(self.quantile_at_most(0.5)),
            "p95_ms_at_most": ms(self.quantile_at_most(0.95)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP sync_seconds Time of syncs.\n\
        # TYPE sync_seconds histogram\n\
        sync_seconds_bucket{le=\"0.002\"} 1\n\
        sync_seconds_bucket{le=\"0.004\"} 3\n\
        sync_seconds_bucket{le=\"+Inf\"} 4\n\
        sync_seconds_sum 0.012\n\
        sync_seconds_count 4\n\
        sync_seconds_total_other 9\n";

    #[test]
    fn reads_an_unlabelled_gauge() {
        let text = "# HELP x\nferrolb_speaker_announced_addresses 12\nother 3\n";
        assert_eq!(
            gauge(text, "ferrolb_speaker_announced_addresses"),
            Some(12.0)
        );
        assert_eq!(gauge(text, "missing"), None);
    }

    #[test]
    fn adds_up_a_counter_by_label() {
        let text = "t_total{cause=\"a\",x=\"1\"} 2\nt_total{cause=\"a\",x=\"2\"} 3\n\
            t_total{cause=\"b\"} 1\nt_total 4\nt_totally 9\n";
        let sums = by_label(text, "t_total", "cause");
        assert_eq!(sums.get("a"), Some(&5.0));
        assert_eq!(sums.get("b"), Some(&1.0));
        assert_eq!(sums.get(""), Some(&4.0));
        assert_eq!(sums.len(), 3);
    }

    #[test]
    fn reads_a_histogram_and_its_quantile_bounds() {
        let h = histogram(TEXT, "sync_seconds").unwrap();
        assert_eq!(
            h.buckets,
            [(0.002, 1.0), (0.004, 3.0), (f64::INFINITY, 4.0)]
        );
        assert_eq!((h.sum, h.count), (0.012, 4.0));
        assert_eq!(h.quantile_at_most(0.25), Some(0.002));
        assert_eq!(h.quantile_at_most(0.5), Some(0.004));
        assert_eq!(h.quantile_at_most(0.95), Some(f64::INFINITY));
        let s = h.summary_ms();
        assert_eq!(s["p50_ms_at_most"], 4.0);
        assert!(s["p95_ms_at_most"].is_null());
        assert_eq!(histogram(TEXT, "missing"), None);
    }

    #[test]
    fn keeps_only_the_series_of_one_label_value() {
        let text = "k_bucket{ip_family=\"IPv4\",le=\"+Inf\"} 1\n\
            k_bucket{ip_family=\"IPv6\",le=\"+Inf\"} 2\n\
            k_sum{ip_family=\"IPv4\"} 0.5\nk_sum{ip_family=\"IPv6\"} 3\n\
            k_count{ip_family=\"IPv4\"} 1\nk_count{ip_family=\"IPv6\"} 2\n";
        let v6 = histogram_with(text, "k", ("ip_family", "IPv6")).unwrap();
        assert_eq!((v6.sum, v6.count), (3.0, 2.0));
        assert_eq!(v6.buckets, [(f64::INFINITY, 2.0)]);
        assert_eq!(histogram_with(text, "k", ("ip_family", "IPv5")), None);
        assert_eq!(histogram(text, "k").map(|h| h.count), Some(3.0));
    }

    #[test]
    fn adds_label_sets_and_subtracts_an_earlier_reading() {
        let text = "h_bucket{node=\"a\",le=\"1\"} 2\nh_bucket{node=\"b\",le=\"1\"} 3\n\
            h_bucket{node=\"a\",le=\"+Inf\"} 2\nh_bucket{node=\"b\",le=\"+Inf\"} 5\n\
            h_sum{node=\"a\"} 1\nh_sum{node=\"b\"} 6\nh_count{node=\"a\"} 2\nh_count{node=\"b\"} 5\n";
        let now = histogram(text, "h").unwrap();
        assert_eq!(now.buckets, [(1.0, 5.0), (f64::INFINITY, 7.0)]);
        let earlier = Histogram {
            buckets: vec![(1.0, 4.0), (f64::INFINITY, 4.0)],
            sum: 2.0,
            count: 4.0,
        };
        let delta = now.since(&earlier);
        assert_eq!(delta.buckets, [(1.0, 1.0), (f64::INFINITY, 3.0)]);
        assert_eq!((delta.sum, delta.count), (5.0, 3.0));
        assert_eq!(delta.quantile_at_most(0.5), Some(f64::INFINITY));
        assert_eq!(delta.plus(&delta).count, 6.0);
        assert_eq!(Histogram::default().quantile_at_most(0.5), None);
    }
}
