//! How a decision reaches Envoy's access log: as filter state the wasm filter sets per request.
//!
//! Each property the module sets is one hostcall and one filter-state object Envoy allocates,
//! names (`wasm.` + the name) and stores: about 4k instructions apiece, measured in a real Envoy,
//! so the four separate fields of the first release cost about 16k per request. `json` sets one
//! property holding all four, for about a quarter of that. Envoy's formatter cannot pick a field
//! out of a wasm property (the object it makes has no field access), so the one property prints
//! as a whole: a JSON object that log pipelines parse. `fields` stays the default, because
//! access-log formats written for it must go on printing after an upgrade.

use crate::reply::Record;

/// The filter-state property of the `json` form (`%FILTER_STATE(wasm.mesh_authz:PLAIN)%`).
pub const JSON_PROPERTY: &str = "mesh_authz";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `wasm.mesh_authz.outcome`, `.cached`, `.auth_status`, `.user`: one property each.
    Fields,
    /// `wasm.mesh_authz`: one JSON object with the same four names.
    Json,
}

/// `{"outcome":"allow","cached":true,"auth_status":200,"user":"alice"}`; `auth_status` and
/// `user` are left out when the decision has none, as their separate properties are. A user
/// that is not UTF-8 is written with replacement characters (the JSON must stay valid).
/// `revoked`: the request was asked again because a revocation dropped its cached decision.
pub fn json(r: &Record<'_>, revoked: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(b"{\"outcome\":\"");
    out.extend_from_slice(r.label.name().as_bytes());
    out.extend_from_slice(if r.cached {
        b"\",\"cached\":true"
    } else {
        b"\",\"cached\":false"
    });
    if let Some(status) = r.auth_status {
        out.extend_from_slice(b",\"auth_status\":");
        out.extend_from_slice(status.to_string().as_bytes());
    }
    if let Some(user) = r.user {
        out.extend_from_slice(b",\"user\":");
        let user = String::from_utf8_lossy(user);
        // Escaping as JSON needs a writer that cannot fail: a Vec.
        if serde_json::to_writer(&mut out, user.as_ref()).is_err() {
            out.extend_from_slice(b"null");
        }
    }
    if revoked {
        out.extend_from_slice(b",\"revoked\":true");
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::Label;
    use serde_json::{json, Value};

    fn parsed(r: &Record<'_>) -> Value {
        serde_json::from_slice(&json(r, false)).unwrap()
    }

    #[test]
    fn the_json_form_carries_the_four_fields_under_their_old_names() {
        let cases: [(Record<'_>, Value); 4] = [
            (
                Record {
                    label: Label::Allow,
                    cached: true,
                    auth_status: Some(200),
                    user: Some(b"alice"),
                },
                json!({"outcome": "allow", "cached": true, "auth_status": 200, "user": "alice"}),
            ),
            (
                Record {
                    label: Label::Deny,
                    cached: false,
                    auth_status: Some(401),
                    user: None,
                },
                json!({"outcome": "deny", "cached": false, "auth_status": 401}),
            ),
            (
                Record {
                    label: Label::Bypass,
                    cached: false,
                    auth_status: None,
                    user: None,
                },
                json!({"outcome": "bypass", "cached": false}),
            ),
            (
                Record {
                    label: Label::ShadowError,
                    cached: false,
                    auth_status: None,
                    user: None,
                },
                json!({"outcome": "shadow-error", "cached": false}),
            ),
        ];
        for (record, want) in cases {
            assert_eq!(parsed(&record), want);
        }
    }

    /// The user comes from the auth service's identity header: quotes, backslashes, control
    /// bytes and invalid UTF-8 must not break the object or forge another field.
    #[test]
    fn a_hostile_user_stays_one_json_string() {
        for user in [
            &b"a\",\"outcome\":\"allow"[..],
            b"back\\slash",
            b"line\nbreak\x00nul",
            b"\xff\xfe not utf-8",
        ] {
            let r = Record {
                label: Label::Deny,
                cached: false,
                auth_status: Some(403),
                user: Some(user),
            };
            let v = parsed(&r);
            assert_eq!(v["outcome"], "deny", "{user:?}");
            assert_eq!(v.as_object().map(|o| o.len()), Some(4));
            assert_eq!(
                v["user"].as_str(),
                Some(String::from_utf8_lossy(user).as_ref())
            );
        }
    }

    #[test]
    fn a_request_asked_again_after_a_revocation_says_so_and_only_then() {
        let r = Record {
            label: Label::Allow,
            cached: false,
            auth_status: Some(200),
            user: Some(b"alice"),
        };
        let again: Value = serde_json::from_slice(&super::json(&r, true)).unwrap();
        assert_eq!(again["revoked"], json!(true));
        assert!(parsed(&r).get("revoked").is_none());
    }
}
