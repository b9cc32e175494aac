//! The `operation` label. GraphQL operation names come from callers, and anyone may send any
//! name (a sign-up is open to all), so no name a caller sends can take a label of its own:
//! the label is the name only for saaskit's own operations ([`KNOWN`], the documents of
//! `examples/operations`) and for those the operator lists in `SAASKIT_METRICS_OPERATIONS`
//! (their own clients'); `anonymous` without a name, `other` for every other name. The label
//! values are fixed when the process starts, whatever it is sent.

/// saaskit's own operations, as `examples/operations` names them (a test holds them equal).
pub const KNOWN: &[&str] = &[
    "AcceptInvitation",
    "CancelSubscription",
    "ChangePlan",
    "InvitationPreview",
    "InviteTeamMember",
    "LogIn",
    "Me",
    "Members",
    "Plans",
    "RecordUsage",
    "RequestPasswordReset",
    "ResetPassword",
    "SdkKey",
    "SignUp",
    "StaffAllPlans",
    "StaffGrantPlan",
    "StaffImpersonate",
    "StaffSearchBusinesses",
    "SubscriptionAndUsage",
    "SwitchBusiness",
];

pub const ANONYMOUS: &str = "anonymous";
pub const OTHER: &str = "other";

/// The label of an operation named `name` (`None`: anonymous), where `listed` are the
/// operator's names (`SAASKIT_METRICS_OPERATIONS`).
pub fn label(listed: &[String], name: Option<&str>) -> String {
    match name {
        None => ANONYMOUS.to_owned(),
        Some(name) if KNOWN.contains(&name) || listed.iter().any(|known| known == name) => {
            name.to_owned()
        }
        Some(_) => OTHER.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_are_exactly_the_example_operations() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/operations");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("examples/operations")
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".graphql").map(str::to_owned)
            })
            .collect();
        names.sort();
        assert_eq!(names, KNOWN, "KNOWN lists each example operation, in order");
    }

    #[test]
    fn only_known_and_listed_names_are_labels_whatever_is_sent() {
        let listed = vec!["Dashboard".to_owned()];
        assert_eq!(label(&listed, None), ANONYMOUS);
        assert_eq!(label(&listed, Some("RecordUsage")), "RecordUsage");
        assert_eq!(label(&listed, Some("Dashboard")), "Dashboard");
        for i in 0..1_000 {
            assert_eq!(label(&listed, Some(&format!("Attacker{i}"))), OTHER);
        }
        assert_eq!(
            label(&listed, Some("Me")),
            "Me",
            "still labelled after a flood"
        );
        assert_eq!(label(&[], Some("Dashboard")), OTHER);
    }
}
