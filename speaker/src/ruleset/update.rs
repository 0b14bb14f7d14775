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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::model::{Chain, NamedSet, Ruleset, SetKind, TABLE};
use super::render::{base_spec, set_spec_inline};

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
        let old_chains = by_name(&previous.chains, |chain| &chain.name);
        let new_chains = by_name(&self.chains, |chain| &chain.name);
        let old_sets = by_name(&previous.sets, |set| &set.name);
        let new_sets = by_name(&self.sets, |set| &set.name);

        for chain in &self.chains {
            if let Some(old) = old_chains.get(chain.name.as_str())
                && old.base != chain.base
            {
                return Err(NeedsReplacement::BaseChainChanged {
                    chain: chain.name.clone(),
                });
            }
        }
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
        let changed: Vec<&Chain> = self
            .chains
            .iter()
            .filter(|chain| match old_chains.get(chain.name.as_str()) {
                None => false,
                Some(old) => {
                    old.rules != chain.rules
                        || recreated.iter().any(|set| refers_to(&old.rules, set))
                }
            })
            .collect();
        let added: Vec<&Chain> = self
            .chains
            .iter()
            .filter(|chain| !old_chains.contains_key(chain.name.as_str()))
            .collect();
        let removed: Vec<&Chain> = previous
            .chains
            .iter()
            .filter(|chain| !new_chains.contains_key(chain.name.as_str()))
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
            for rule in &chain.rules {
                let _ = writeln!(out, "add rule inet {TABLE} {} {rule}", chain.name);
            }
        }
        for chain in &removed {
            let _ = writeln!(out, "delete chain inet {TABLE} {}", chain.name);
        }
        Ok(out)
    }
}

fn by_name<'a, T>(items: &'a [T], name: impl Fn(&'a T) -> &'a String) -> BTreeMap<&'a str, &'a T> {
    items
        .iter()
        .map(|item| (name(item).as_str(), item))
        .collect()
}

/// Whether some rule mentions `@set` (not merely a set whose name starts
/// with the same characters).
fn refers_to(rules: &[String], set: &str) -> bool {
    let needle = format!("@{set}");
    rules.iter().any(|rule| {
        rule.match_indices(&needle).any(|(at, _)| {
            rule[at + needle.len()..]
                .chars()
                .next()
                .is_none_or(|next| !(next.is_ascii_alphanumeric() || next == '_' || next == '-'))
        })
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

fn add_set(out: &mut String, set: &NamedSet) {
    let _ = writeln!(
        out,
        "add {} inet {TABLE} {} {{ {} }}",
        set.keyword(),
        set.name,
        set_spec_inline(set)
    );
    if set.kind == SetKind::Static {
        let all: Vec<&str> = set.elements.iter().map(String::as_str).collect();
        element_commands(out, "add", &set.name, &all);
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
    let old_elements: BTreeSet<&str> = old.elements.iter().map(String::as_str).collect();
    let new_elements: BTreeSet<&str> = new.elements.iter().map(String::as_str).collect();
    let gone: Vec<&str> = old_elements
        .difference(&new_elements)
        .map(|element| key(element))
        .collect();
    let came: Vec<&str> = new_elements.difference(&old_elements).copied().collect();
    // A key whose verdict changed is in both: deleted, then added again.
    element_commands(out, "delete", &new.name, &gone);
    element_commands(out, "add", &new.name, &came);
}

fn element_commands(out: &mut String, verb: &str, set: &str, elements: &[&str]) {
    for chunk in elements.chunks(ELEMENTS_PER_COMMAND) {
        let _ = writeln!(
            out,
            "{verb} element inet {TABLE} {set} {{ {} }}",
            chunk.join(", ")
        );
    }
}
