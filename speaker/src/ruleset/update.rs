//! Incremental update of table `inet ferrolb`: one `nft -f` transaction
//! carrying only what changed between the rule set last applied and the new
//! one, so that one endpoint more on one Service costs a few hundred bytes
//! whether the node has 10 or 10,000 Services.
//!
//! Chains are compared by name, then by rules; static sets and maps element
//! by element (by key for maps). Objects are never recreated when they did
//! not change, so ClientIP affinity state (dynamic sets) survives.
//!
//! The script's order makes every reference valid at each step, because the
//! kernel refuses to delete a chain or set something still refers to:
//! 1. new chains (empty), so rules and map elements may jump to them;
//! 2. flush the chains whose rules change, and the chains that go;
//! 3. delete sets that go or whose definition changed, add new ones;
//! 4. element changes of the other static sets and maps (delete first:
//!    a key whose verdict changes is deleted and added again);
//! 5. rules of the new and changed chains;
//! 6. delete the chains that go (nothing refers to them any more).
//!
//! Rules and elements are added in the forms `nft` writes without reading the table first:
//! `add chain NAME { rules }` and `add map NAME { spec; elements = { … } }`. nft 1.0.6 reads
//! every chain, set and object of the table before an `add rule` or an `add element` (40 ms
//! with 20,000 chains, 100 ms with 40,000, before any change), but not before these. A
//! `delete element` (an endpoint going, or a Service's endpoint count changing its spread
//! chain) still pays that read, small now that Services have no chains of their own.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;

use super::model::{Chain, NamedSet, Ruleset, SetKind, TABLE};
use super::render::{base_spec, set_spec_inline, write_chain_body};

/// Elements per `add element` / `delete element` command.
const ELEMENTS_PER_COMMAND: usize = 500;

/// A change an in-place update cannot express; replace the table instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NeedsReplacement {
    /// A base chain changed its hook, type or priority.
    #[error("base chain {chain} changed its hook, type or priority")]
    BaseChainChanged {
        /// The chain.
        chain: String,
    },
}

impl Ruleset {
    /// Atomic in-place update from `previous` (the rule set last applied
    /// successfully, and still in the kernel) to `self`, containing only the
    /// difference. Empty apart from its header when nothing changed.
    ///
    /// If the kernel's table no longer matches `previous` (edited by hand),
    /// nft refuses the script as a whole (e.g. deleting an element that is
    /// not there) and nothing changes: replace the table then.
    pub fn to_nft_update_script(&self, previous: &Ruleset) -> Result<String, NeedsReplacement> {
        let old_sets = by_name(&previous.sets);
        let new_sets = by_name(&self.sets);
        // Sets that go, or come back with another definition.
        let recreated: BTreeSet<&str> = previous
            .sets
            .iter()
            .filter(|old| {
                new_sets
                    .get(old.name.as_str())
                    .is_none_or(|new| set_spec_inline(new) != set_spec_inline(old))
            })
            .map(|set| set.name.as_str())
            .collect();

        // One lookup per new chain; the old chains never looked up are the ones that go.
        let old_chains: HashMap<&str, usize> = previous
            .chains
            .iter()
            .enumerate()
            .map(|(index, chain)| (chain.name.as_str(), index))
            .collect();
        let mut kept = vec![false; previous.chains.len()];
        let (mut added, mut changed) = (Vec::new(), Vec::new());
        for chain in &self.chains {
            let Some(&index) = old_chains.get(chain.name.as_str()) else {
                added.push(chain);
                continue;
            };
            let old = &previous.chains[index];
            if old.base != chain.base {
                return Err(NeedsReplacement::BaseChainChanged {
                    chain: chain.name.clone(),
                });
            }
            kept[index] = true;
            if old.rules != chain.rules || recreated.iter().any(|set| refers_to(&old.rules, set)) {
                changed.push(chain);
            }
        }
        let removed: Vec<&Chain> = previous
            .chains
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| !**kept)
            .map(|(chain, _)| chain)
            .collect();

        let mut out = self.header();
        let _ = writeln!(out, "add table inet {TABLE}");
        for chain in &added {
            add_chain(&mut out, chain);
        }
        for chain in changed.iter().chain(&removed) {
            let _ = writeln!(out, "flush chain inet {TABLE} {}", chain.name);
        }
        for name in &recreated {
            if let Some(old) = old_sets.get(name) {
                let _ = writeln!(out, "delete {} inet {TABLE} {name}", old.keyword());
            }
        }
        for set in &self.sets {
            match old_sets.get(set.name.as_str()) {
                Some(old) if !recreated.contains(set.name.as_str()) => {
                    update_elements(&mut out, old, set);
                }
                _ => add_set(&mut out, set),
            }
        }
        for chain in added.iter().chain(&changed) {
            add_rules(&mut out, chain, &new_sets);
        }
        for chain in &removed {
            let _ = writeln!(out, "delete chain inet {TABLE} {}", chain.name);
        }
        Ok(out)
    }
}

fn by_name(sets: &[NamedSet]) -> HashMap<&str, &NamedSet> {
    sets.iter().map(|set| (set.name.as_str(), set)).collect()
}

/// Whether some rule mentions `@set` (not merely a set whose name starts
/// with the same characters).
fn refers_to(rules: &[String], set: &str) -> bool {
    rules
        .iter()
        .any(|rule| named_sets(rule).any(|name| name == set))
}

/// The sets and maps `rule` names (`@name`).
fn named_sets(rule: &str) -> impl Iterator<Item = &str> {
    rule.split('@').skip(1).map(|after| {
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        &after[..end]
    })
}

fn add_chain(out: &mut String, chain: &Chain) {
    match &chain.base {
        Some(base) => {
            let _ = writeln!(
                out,
                "add chain inet {TABLE} {} {{ {} }}",
                chain.name,
                base_spec(base)
            );
        }
        None => {
            let _ = writeln!(out, "add chain inet {TABLE} {}", chain.name);
        }
    }
}

/// The rules of `chain` appended to it in one command (the chain exists or is created). The
/// sets its rules name are declared again first (a no-op in the kernel, elements kept): nft
/// knows a set's type from the script itself then, without reading the table.
fn add_rules(out: &mut String, chain: &Chain, sets: &HashMap<&str, &NamedSet>) {
    if chain.rules.is_empty() {
        return;
    }
    let named: BTreeSet<&str> = chain
        .rules
        .iter()
        .flat_map(|rule| named_sets(rule))
        .collect();
    for set in named.iter().filter_map(|name| sets.get(name)) {
        declare_set(out, set);
    }
    let _ = writeln!(out, "add chain inet {TABLE} {} {{", chain.name);
    write_chain_body(out, chain, "\t");
    out.push_str("}\n");
}

/// `add set NAME { spec }` (or map): creates it, or changes nothing when it exists.
fn declare_set(out: &mut String, set: &NamedSet) {
    let _ = writeln!(
        out,
        "add {} inet {TABLE} {} {{ {} }}",
        set.keyword(),
        set.name,
        set_spec_inline(set)
    );
}

fn add_set(out: &mut String, set: &NamedSet) {
    declare_set(out, set);
    if set.kind == SetKind::Static {
        let all: Vec<&str> = set.elements.iter().map(String::as_str).collect();
        add_elements(out, set, &all);
    }
}

/// `elements` added to `set` (which exists or is created), in chunks.
fn add_elements(out: &mut String, set: &NamedSet, elements: &[&str]) {
    for chunk in elements.chunks(ELEMENTS_PER_COMMAND) {
        let _ = writeln!(
            out,
            "add {} inet {TABLE} {} {{ {} elements = {{ {} }} }}",
            set.keyword(),
            set.name,
            set_spec_inline(set),
            chunk.join(", ")
        );
    }
}

/// Key of an element: the part before ` : ` in a map, the whole element in
/// a set.
fn key(element: &str) -> &str {
    element.split_once(" : ").map_or(element, |(key, _)| key)
}

fn update_elements(out: &mut String, old: &NamedSet, new: &NamedSet) {
    if new.kind != SetKind::Static {
        // Filled by the packet path: its elements are state, not rules.
        return;
    }
    // Both lists are in the builder's key order, and one change touches a few neighbours:
    // what the two share at their start and end is unchanged, and only the elements between
    // are compared as sets (hashing 25,000 endpoint elements twice cost milliseconds).
    let common_start = old
        .elements
        .iter()
        .zip(&new.elements)
        .take_while(|(a, b)| a == b)
        .count();
    let (old_rest, new_rest) = (&old.elements[common_start..], &new.elements[common_start..]);
    let common_end = old_rest
        .iter()
        .rev()
        .zip(new_rest.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let old_middle = &old_rest[..old_rest.len() - common_end];
    let new_middle = &new_rest[..new_rest.len() - common_end];
    if old_middle.is_empty() && new_middle.is_empty() {
        return;
    }
    let old_elements: HashSet<&str> = old_middle.iter().map(String::as_str).collect();
    let new_elements: HashSet<&str> = new_middle.iter().map(String::as_str).collect();
    let gone: Vec<&str> = old_middle
        .iter()
        .filter(|element| !new_elements.contains(element.as_str()))
        .map(|element| key(element))
        .collect();
    let came: Vec<&str> = new_middle
        .iter()
        .map(String::as_str)
        .filter(|element| !old_elements.contains(element))
        .collect();
    // A key whose verdict changed is in both: deleted, then added again.
    for chunk in gone.chunks(ELEMENTS_PER_COMMAND) {
        let _ = writeln!(
            out,
            "delete element inet {TABLE} {} {{ {} }}",
            new.name,
            chunk.join(", ")
        );
    }
    add_elements(out, new, &came);
}
