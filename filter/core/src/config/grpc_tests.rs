//! `authService.protocol` and `contextExtensions`.

use super::*;

fn parse(auth: &str) -> Result<Config, ConfigError> {
    Config::parse(
        format!(r#"{{"authService": {{"cluster": "c", "authority": "a"{auth}}}}}"#).as_bytes(),
    )
}

#[test]
fn http_is_the_default_and_grpc_loads() {
    let http = parse("").unwrap();
    let auth = http.auth.as_ref().unwrap();
    assert_eq!(auth.protocol, Protocol::Http);
    assert!(auth.include_request_path && auth.path_prefix.is_empty());
    let grpc =
        parse(r#", "protocol": "grpc", "contextExtensions": {"tenant": "acme", "zone": "eu"}"#)
            .unwrap();
    let auth = grpc.auth.as_ref().unwrap();
    assert_eq!(auth.protocol, Protocol::Grpc);
    assert_eq!(
        auth.context_extensions,
        [
            ("tenant".to_string(), "acme".to_string()),
            ("zone".to_string(), "eu".to_string())
        ]
    );
    assert!(
        auth.include_request_path,
        "the CheckRequest always has the path, so it is keyed"
    );
}

#[test]
fn what_does_not_apply_to_grpc_is_refused_with_the_field_and_why() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#", "protocol": "grpc", "pathPrefix": "/check""#,
            "authService.pathPrefix",
            "does not apply with protocol grpc",
        ),
        (
            r#", "protocol": "grpc", "pathPrefix": """#,
            "authService.pathPrefix",
            "does not apply",
        ),
        (
            r#", "protocol": "grpc", "includeRequestPath": true"#,
            "authService.includeRequestPath",
            "does not apply with protocol grpc",
        ),
        (
            r#", "contextExtensions": {"k": "v"}"#,
            "authService.contextExtensions",
            "protocol grpc only",
        ),
        (
            r#", "protocol": "grpc", "contextExtensions": {"": "v"}"#,
            "authService.contextExtensions.",
            "empty name",
        ),
        (
            r#", "protocol": "grpc2""#,
            "authService.protocol",
            "unknown variant: expected `http` or `grpc`",
        ),
    ];
    for (auth, field, reason) in cases {
        let err = parse(auth).unwrap_err();
        assert_eq!(err.field, *field, "{auth}: {err}");
        assert!(err.reason.contains(reason), "{auth}: {err}");
    }
}

#[test]
fn context_extensions_are_bounded_and_their_values_never_shown() {
    let many: Vec<String> = (0..=MAX_CONTEXT_EXTENSIONS)
        .map(|i| format!(r#""k{i}": "v""#))
        .collect();
    let err = parse(&format!(
        r#", "protocol": "grpc", "contextExtensions": {{{}}}"#,
        many.join(",")
    ))
    .unwrap_err();
    assert_eq!(err.field, "authService.contextExtensions");
    let fits: Vec<String> = (0..MAX_CONTEXT_EXTENSIONS)
        .map(|i| format!(r#""k{i}": "v""#))
        .collect();
    assert!(parse(&format!(
        r#", "protocol": "grpc", "contextExtensions": {{{}}}"#,
        fits.join(",")
    ))
    .is_ok());
    let long = "s3cret".repeat(200);
    let err = parse(&format!(
        r#", "protocol": "grpc", "contextExtensions": {{"k": "{long}"}}"#
    ))
    .unwrap_err();
    assert_eq!(err.field, "authService.contextExtensions.k");
    assert!(!err.to_string().contains("s3cret"));
    let c = parse(r#", "protocol": "grpc", "contextExtensions": {"k": "s3cret"}"#).unwrap();
    let shown = format!("{c:?}");
    assert!(
        shown.contains("\"k\"") && !shown.contains("s3cret"),
        "{shown}"
    );
}
