//! Hand-written OpenAPI schemas for fields whose validation lives in CEL: the apiserver itself
//! refuses malformed addresses and names the bad value, so no webhook is needed for it.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

/// Most address entries one list may hold (bounds the apiserver's CEL cost estimate).
pub const MAX_ADDRESS_ENTRIES: u32 = 64;
/// Longest address entry: an IPv6 range `start-end` with spaces fits.
pub const MAX_ADDRESS_LEN: u32 = 96;

/// CEL: the number of IPv4 address `x` (a dotted quad, checked by `isIP` first).
fn ipv4_number(x: &str) -> String {
    let octet = |i: u8| format!("int({x}.split('.')[{i}])");
    format!(
        "({} * 16777216 + {} * 65536 + {} * 256 + {})",
        octet(0),
        octet(1),
        octet(2),
        octet(3)
    )
}

/// The CEL rules one address entry (`self`, a string) must pass, with messages naming the value.
fn address_entry_rules() -> Value {
    let a = "self.split('-')[0].trim()";
    let b = "self.split('-')[1].trim()";
    let is_range = "self.contains('-')";
    let both_ips = format!("self.split('-').size() == 2 && isIP({a}) && isIP({b})");
    json!([
        {
            "rule": "self.trim() != ''",
            "message": "address entry must not be empty or blank: give a CIDR (198.51.100.0/24), an address, or a range start-end",
        },
        {
            "rule": format!("self.trim() == '' || ({is_range} ? ({both_ips}) : (isCIDR(self) || isIP(self)))"),
            "messageExpression": "'\"' + self + '\" is not a CIDR (198.51.100.0/24, 2001:db8::/64), an address, or a range start-end of two addresses (198.51.100.10-198.51.100.20)'",
            "reason": "FieldValueInvalid",
        },
        {
            "rule": format!("!({is_range} && {both_ips}) || ip({a}).family() == ip({b}).family()"),
            "messageExpression": "'range \"' + self + '\" mixes IPv4 and IPv6: both ends of a range must be of one family'",
            "reason": "FieldValueInvalid",
        },
        {
            // The controller's parser (ferrolb_core::parse_address) refuses host bits too.
            "rule": format!("{is_range} || !self.contains('/') || !isCIDR(self) || cidr(self).masked() == cidr(self)"),
            "messageExpression": "'CIDR \"' + self + '\" has host bits set after the prefix: write the network (198.51.100.7/24 is 198.51.100.0/24) or one address as /32 or /128'",
            "reason": "FieldValueInvalid",
        },
        {
            // IPv4 only: the apiserver's cost budget has no room for a 128-bit comparison (no
            // ordering on ip(), no cel.bind); IPv6 ranges are ordered-checked by the controller.
            "rule": format!(
                "!({is_range} && {both_ips}) || ip({a}).family() != 4 || ip({b}).family() != 4 || {} <= {}",
                ipv4_number(a),
                ipv4_number(b)
            ),
            "messageExpression": "'range \"' + self + '\" starts after it ends: write the lower address first'",
            "reason": "FieldValueInvalid",
        },
    ])
}

/// Schema of `VIPPool.spec.addresses`: 1..=64 entries, each a CIDR, an address or a range.
pub fn pool_addresses(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_ADDRESS_ENTRIES,
        "description": "Addresses this pool hands out: CIDRs (198.51.100.0/24, 2001:db8::/64), single addresses, or inclusive ranges start-end (198.51.100.10-198.51.100.20). IPv4 and IPv6 may be mixed across entries, never inside one range. At least one entry.",
        "items": {
            "type": "string",
            "maxLength": MAX_ADDRESS_LEN,
            "x-kubernetes-validations": address_entry_rules(),
        },
    })
}

/// Schema of a list of CIDRs (`ExternalIPPolicy.spec.allowedCIDRs`).
pub fn cidr_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_ADDRESS_ENTRIES,
        "description": "CIDRs (198.51.100.160/28, 2001:db8:100::1:0/112) whose addresses Services may use in spec.externalIPs. At least one entry.",
        "items": {
            "type": "string",
            "maxLength": MAX_ADDRESS_LEN,
            "x-kubernetes-validations": [{
                "rule": "isCIDR(self)",
                "messageExpression": "'\"' + self + '\" is not a CIDR: write an address and a prefix length, like 198.51.100.160/28 or 2001:db8::/112'",
                "reason": "FieldValueInvalid",
            }],
        },
    })
}

/// Schema of interface names or globs (`L2AnnouncementPolicy.spec.interfaces`).
pub fn interface_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 32,
        "description": "Interfaces to answer ARP/NDP on, by name or glob (* and ?), e.g. eth0, enp*s0. Empty: every up, broadcast-capable interface that is not loopback, a bridge port or a container veth.",
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "x-kubernetes-validations": [{
                "rule": "self.matches('^[A-Za-z0-9_.:@*?-]+$')",
                "messageExpression": "'interface \"' + self + '\" is not an interface name or glob: use letters, digits, _ . : @ - and the wildcards * and ?'",
                "reason": "FieldValueInvalid",
            }],
        },
    })
}

/// Names of other objects (`ipPools`, users, groups): non-empty, no blanks.
pub fn name_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 256,
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": 253,
            "x-kubernetes-validations": [{
                "rule": "self.trim() == self && self != ''",
                "messageExpression": "'\"' + self + '\" must not be blank or have surrounding spaces'",
                "reason": "FieldValueInvalid",
            }],
        },
    })
}
