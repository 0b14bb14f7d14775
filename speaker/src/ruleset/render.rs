//! nft text syntax (`nft -f` input) for a [`Ruleset`].
//!
//! Text rather than JSON: it is what operators read in `nft list ruleset`,
//! it diffs line by line (one rule, one map element per line) and it needs no
//! extra dependency. Every script is one `nft -f` transaction: the kernel
//! applies all of it or nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{BaseChain, Chain, ChainType, NamedSet, Ruleset, SetKind, TABLE};
use super::names::comment_safe;

impl Ruleset {
    /// Full atomic replacement of table `inet ferrolb`, valid whether or not
    /// the table exists yet (`add table` + `delete table` + definition, in
    /// one transaction).
    ///
    /// Deleting the table also forgets ClientIP affinity state (the dynamic
    /// sets); use [`Ruleset::to_nft_update_script`] for routine changes and
    /// [`Ruleset::to_nft_resync_script`] to rewrite everything keeping it.
    pub fn to_nft_script(&self) -> String {
        let mut out = self.header();
        let _ = writeln!(out, "add table inet {TABLE}");
        let _ = writeln!(out, "delete table inet {TABLE}");
        self.write_definition(&mut out);
        out
    }

    /// Atomic rewrite of everything in place, from `previous` (the rule set
    /// last applied successfully) to `self`, keeping ClientIP affinity state
    /// of endpoints that still exist: it flushes every rule and static map,
    /// deletes objects that disappeared or changed definition, then
    /// redefines everything. Repairs hand edits inside the table; costs as
    /// much as a full replacement.
    ///
    /// Each delete is preceded by an `add` of the same object, so the script
    /// also succeeds when the table or an object is missing; if it fails
    /// anyway (table edited by hand), apply [`Ruleset::to_nft_script`].
    pub fn to_nft_resync_script(&self, previous: &Ruleset) -> String {
        let mut out = self.header();
        let _ = writeln!(out, "add table inet {TABLE}");
        let _ = writeln!(out, "flush table inet {TABLE}");
        let current_sets: BTreeMap<&str, &NamedSet> = self
            .sets
            .iter()
            .map(|set| (set.name.as_str(), set))
            .collect();
        for old in &previous.sets {
            let spec = set_spec_inline(old);
            let keyword = old.keyword();
            let name = &old.name;
            let _ = writeln!(out, "add {keyword} inet {TABLE} {name} {{ {spec} }}");
            match current_sets.get(name.as_str()) {
                Some(new) if set_spec_inline(new) == spec => {
                    if old.kind == SetKind::Static {
                        let _ = writeln!(out, "flush {keyword} inet {TABLE} {name}");
                    }
                }
                _ => {
                    let _ = writeln!(out, "delete {keyword} inet {TABLE} {name}");
                }
            }
        }
        let current_chains: BTreeMap<&str, &Chain> = self
            .chains
            .iter()
            .map(|chain| (chain.name.as_str(), chain))
            .collect();
        for old in &previous.chains {
            let unchanged = current_chains
                .get(old.name.as_str())
                .is_some_and(|new| new.base == old.base);
            if !unchanged {
                let _ = writeln!(out, "add chain inet {TABLE} {}", old.name);
                let _ = writeln!(out, "delete chain inet {TABLE} {}", old.name);
            }
        }
        self.write_definition(&mut out);
        out
    }

    pub(super) fn header(&self) -> String {
        format!(
            "# ferrolb Service rules for node \"{}\". Generated: do not edit.\n",
            comment_safe(&self.node_name)
        )
    }

    fn write_definition(&self, out: &mut String) {
        let _ = writeln!(out, "table inet {TABLE} {{");
        let mut first = true;
        for set in &self.sets {
            separate(out, &mut first);
            write_set(out, set);
        }
        for chain in &self.chains {
            separate(out, &mut first);
            write_chain(out, chain);
        }
        out.push_str("}\n");
    }
}

fn separate(out: &mut String, first: &mut bool) {
    if !*first {
        out.push('\n');
    }
    *first = false;
}

/// `type K : D; flags …; timeout …; size …;` (single line, for `add set`).
pub(super) fn set_spec_inline(set: &NamedSet) -> String {
    spec_lines(set).join("; ") + ";"
}

fn spec_lines(set: &NamedSet) -> Vec<String> {
    let keyword = if set.typeof_keys { "typeof" } else { "type" };
    let mut lines = vec![match &set.data_type {
        Some(data) => format!("{keyword} {} : {data}", set.key_type),
        None => format!("{keyword} {}", set.key_type),
    }];
    if let SetKind::Dynamic { timeout_secs, size } = set.kind {
        lines.push("flags dynamic,timeout".to_string());
        lines.push(format!("timeout {timeout_secs}s"));
        lines.push(format!("size {size}"));
    }
    lines
}

fn write_set(out: &mut String, set: &NamedSet) {
    let _ = writeln!(out, "\t{} {} {{", set.keyword(), set.name);
    for line in spec_lines(set) {
        let _ = writeln!(out, "\t\t{line}");
    }
    if !set.elements.is_empty() {
        out.push_str("\t\telements = {\n");
        for element in &set.elements {
            let _ = writeln!(out, "\t\t\t{element},");
        }
        out.push_str("\t\t}\n");
    }
    out.push_str("\t}\n");
}

pub(super) fn base_spec(base: &BaseChain) -> String {
    let chain_type = match base.chain_type {
        ChainType::Filter => "filter",
        ChainType::Nat => "nat",
    };
    format!(
        "type {chain_type} hook {} priority {}; policy accept;",
        base.hook.nft_name(),
        base.priority
    )
}

fn write_chain(out: &mut String, chain: &Chain) {
    if let Some(comment) = &chain.comment {
        let _ = writeln!(out, "\t# {comment}");
    }
    let _ = writeln!(out, "\tchain {} {{", chain.name);
    write_chain_body(out, chain, "\t\t");
    out.push_str("\t}\n");
}

/// What goes between a chain's braces: its base spec (a base chain's), then its rules, each
/// line indented by `indent`.
pub(super) fn write_chain_body(out: &mut String, chain: &Chain, indent: &str) {
    if let Some(base) = &chain.base {
        let _ = writeln!(out, "{indent}{}", base_spec(base));
    }
    for rule in &chain.rules {
        // A rule may span lines (anonymous verdict maps); indent each line.
        for line in rule.lines() {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
}
