//! Header names and values as config gives them: checked once, lowercased, so that the request path
//! compares bytes without case folding (Envoy hands header names to filters in lowercase).

use super::ConfigError;

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Headers a callout or reply must never take from config: Envoy owns them.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
];

pub fn header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    if name.is_empty() {
        return Err(ConfigError::new(field, "header name is empty"));
    }
    if name.starts_with(':') {
        return Err(ConfigError::new(
            field,
            format!("'{name}' is a pseudo-header; name a regular header"),
        ));
    }
    if !name.bytes().all(is_tchar) {
        return Err(ConfigError::new(
            field,
            format!("'{name}' is not a valid header name"),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) {
        return Err(ConfigError::new(
            field,
            format!("'{name}' is managed by Envoy and cannot be used here"),
        ));
    }
    Ok(lower)
}

/// Headers the filter itself writes on every callout: a configured copy would be a second value
/// the auth service could read instead of the filter's (`x-forwarded-host` is the request's host).
const CALLOUT_OWN: &[(&str, &str)] = &[(
    crate::callout::FORWARDED_HOST,
    "mesh-authz sets it on the callout to the request's :authority",
)];

/// A header name of the callout (`forwardHeaders`, `traceHeaders`, `addHeaders`): valid, and not one
/// the filter sets itself.
pub fn callout_header_name(field: &str, name: &str) -> Result<String, ConfigError> {
    let lower = header_name(field, name)?;
    match CALLOUT_OWN.iter().find(|(own, _)| *own == lower) {
        Some((_, why)) => Err(ConfigError::new(
            field,
            format!("'{name}' cannot be set from configuration: {why}"),
        )),
        None => Ok(lower),
    }
}

/// A list of header names: each valid, none repeated.
pub fn header_list(field: &str, names: &[String]) -> Result<Vec<String>, ConfigError> {
    list(field, names, header_name)
}

/// A list of callout header names: each as `callout_header_name`, none repeated.
pub fn callout_header_list(field: &str, names: &[String]) -> Result<Vec<String>, ConfigError> {
    list(field, names, callout_header_name)
}

fn list(
    field: &str,
    names: &[String],
    check: fn(&str, &str) -> Result<String, ConfigError>,
) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let item = format!("{field}[{i}]");
        let lower = check(&item, name)?;
        if out.contains(&lower) {
            return Err(ConfigError::new(item, format!("'{name}' is listed twice")));
        }
        out.push(lower);
    }
    Ok(out)
}

pub fn header_value(field: &str, value: &str) -> Result<(), ConfigError> {
    if value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
        && value.trim() == value
    {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            "header value must be visible ASCII without leading or trailing space",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_lowercased() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("X-User-Id", Ok("x-user-id")),
            ("authorization", Ok("authorization")),
            ("", Err("empty")),
            (":path", Err("pseudo-header")),
            ("x user", Err("not a valid")),
            ("Host", Err("managed by Envoy")),
            ("content-length", Err("managed by Envoy")),
        ];
        for (name, want) in cases {
            match (header_name("f", name), want) {
                (Ok(got), Ok(w)) => assert_eq!(&got, w, "{name}"),
                (Err(e), Err(w)) => assert!(e.reason.contains(w), "{name}: {}", e.reason),
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn names_the_callout_sets_itself_are_refused_for_the_callout() {
        let cases: &[(&str, Option<&str>)] = &[
            ("x-forwarded-host", Some("sets it on the callout")),
            ("X-Forwarded-Host", Some("sets it on the callout")),
            ("host", Some("managed by Envoy")),
            ("content-length", Some("managed by Envoy")),
            ("transfer-encoding", Some("managed by Envoy")),
            (":authority", Some("pseudo-header")),
            (":path", Some("pseudo-header")),
            ("authorization", None),
            ("x-forwarded-for", None),
        ];
        for (name, want) in cases {
            match (callout_header_name("authService.addHeaders", name), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => {
                    assert_eq!(e.field, "authService.addHeaders");
                    assert!(e.reason.contains(w), "{name}: {}", e.reason);
                }
                (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
        // Only the callout's lists: the upstream may well receive an identity header of that name.
        assert!(header_name("identityHeaders[0]", "x-forwarded-host").is_ok());
        let err = callout_header_list(
            "authService.traceHeaders",
            &["b3".into(), "X-Forwarded-Host".into()],
        )
        .unwrap_err();
        assert_eq!(err.field, "authService.traceHeaders[1]");
    }

    #[test]
    fn duplicates_are_rejected_whatever_the_case() {
        let err = header_list("identityHeaders", &["x-a".into(), "X-A".into()]).unwrap_err();
        assert_eq!(err.field, "identityHeaders[1]");
    }

    #[test]
    fn values_are_visible_ascii() {
        assert!(header_value("f", "mesh-authz").is_ok());
        assert!(header_value("f", "a\r\nb").is_err());
        assert!(header_value("f", " padded").is_err());
    }
}
