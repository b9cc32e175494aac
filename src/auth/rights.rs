//! Rights: what a token may do. A token carries one `right(r)` fact per right.

use entity::Role;

/// One capability. The string form (`business:read`) is what tokens and `me.rights` carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    BusinessRead,
    BusinessManage,
    TeamRead,
    TeamManage,
    BillingRead,
    BillingManage,
    UsageRead,
    UsageRecord,
    ApiKeyRead,
    ApiKeyManage,
    StaffRead,
    StaffPlans,
    StaffGrant,
    StaffImpersonate,
    StaffIntrospect,
}

impl Right {
    pub const ALL: [Right; 15] = [
        Right::BusinessRead,
        Right::BusinessManage,
        Right::TeamRead,
        Right::TeamManage,
        Right::BillingRead,
        Right::BillingManage,
        Right::UsageRead,
        Right::UsageRecord,
        Right::ApiKeyRead,
        Right::ApiKeyManage,
        Right::StaffRead,
        Right::StaffPlans,
        Right::StaffGrant,
        Right::StaffImpersonate,
        Right::StaffIntrospect,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Right::BusinessRead => "business:read",
            Right::BusinessManage => "business:manage",
            Right::TeamRead => "team:read",
            Right::TeamManage => "team:manage",
            Right::BillingRead => "billing:read",
            Right::BillingManage => "billing:manage",
            Right::UsageRead => "usage:read",
            Right::UsageRecord => "usage:record",
            Right::ApiKeyRead => "apikey:read",
            Right::ApiKeyManage => "apikey:manage",
            Right::StaffRead => "staff:read",
            Right::StaffPlans => "staff:plans",
            Right::StaffGrant => "staff:grant",
            Right::StaffImpersonate => "staff:impersonate",
            Right::StaffIntrospect => "staff:introspect",
        }
    }

    pub fn parse(text: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|right| right.as_str() == text)
    }

    /// Rights that only read, which staff hold over every business. Reading the API key is
    /// not among them: the key records usage.
    pub const fn is_read(self) -> bool {
        matches!(
            self,
            Right::BusinessRead | Right::TeamRead | Right::BillingRead | Right::UsageRead
        )
    }

    const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of rights, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct RightSet(u32);

impl RightSet {
    pub const fn of(rights: &[Right]) -> RightSet {
        let mut bits = 0;
        let mut i = 0;
        while i < rights.len() {
            bits |= rights[i].bit();
            i += 1;
        }
        RightSet(bits)
    }

    pub const fn contains(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    pub fn insert(&mut self, right: Right) {
        self.0 |= right.bit();
    }

    pub const fn union(self, other: RightSet) -> RightSet {
        RightSet(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL
            .into_iter()
            .filter(move |right| self.contains(*right))
    }
}

const OWNER: RightSet = RightSet::of(&[
    Right::BusinessRead,
    Right::BusinessManage,
    Right::TeamRead,
    Right::TeamManage,
    Right::BillingRead,
    Right::BillingManage,
    Right::UsageRead,
    Right::ApiKeyRead,
    Right::ApiKeyManage,
]);
const MEMBER: RightSet = RightSet::of(&[
    Right::BusinessRead,
    Right::TeamRead,
    Right::BillingRead,
    Right::UsageRead,
]);
const SDK: RightSet = RightSet::of(&[Right::UsageRead, Right::UsageRecord]);

/// Every staff user's rights.
pub const STAFF: RightSet = RightSet::of(&[
    Right::StaffRead,
    Right::StaffPlans,
    Right::StaffGrant,
    Right::StaffImpersonate,
    Right::StaffIntrospect,
]);

/// An owner's rights but the SDK key's: what write impersonation may do.
const OWNER_BUT_THE_KEY: RightSet = RightSet::of(&[
    Right::BusinessRead,
    Right::BusinessManage,
    Right::TeamRead,
    Right::TeamManage,
    Right::BillingRead,
    Right::BillingManage,
    Right::UsageRead,
]);

/// What staff impersonating a business may do: read it, and manage it only when asked. Never
/// the SDK key, neither reading it nor replacing it (which answers with the new one): the key
/// is a credential that would outlive the hour of the impersonation and the staff member's
/// own deactivation.
pub const fn impersonation(write: bool) -> RightSet {
    if write { OWNER_BUT_THE_KEY } else { MEMBER }
}

/// The rights of a role, as DESIGN.md's table lists them (owner and admin are alike).
pub const fn for_role(role: Role) -> RightSet {
    match role {
        Role::Owner | Role::Admin => OWNER,
        Role::Member => MEMBER,
        Role::Sdk => SDK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rights_table_is_the_designs() {
        let has = |role, right| for_role(role).contains(right);
        assert!(has(Role::Owner, Right::ApiKeyManage) && has(Role::Admin, Right::TeamManage));
        assert!(has(Role::Member, Right::BillingRead) && !has(Role::Member, Right::TeamManage));
        assert!(
            !has(Role::Owner, Right::UsageRecord),
            "only the SDK records usage"
        );
        assert_eq!(
            for_role(Role::Sdk).iter().collect::<Vec<_>>(),
            [Right::UsageRead, Right::UsageRecord]
        );
        assert!(!for_role(Role::Owner).iter().any(|r| STAFF.contains(r)));
    }

    #[test]
    fn impersonation_never_holds_the_sdk_key() {
        for write in [false, true] {
            let rights = impersonation(write);
            assert!(!rights.contains(Right::ApiKeyRead) && !rights.contains(Right::ApiKeyManage));
        }
        assert!(impersonation(true).contains(Right::TeamManage));
    }

    #[test]
    fn every_right_round_trips_through_its_name() {
        for right in Right::ALL {
            assert_eq!(Right::parse(right.as_str()), Some(right));
        }
        assert_eq!(Right::parse("root"), None);
    }
}
