//! Parity with the Lua filter mesh-authz replaces (`integration/envoy/legacy-lua.yaml`, the same
//! script as `envoyfilter-manifests/legacy/envoyfilter-lua.yaml`): one scenario list, run against
//! the same Envoy binary with the Lua bootstrap and with mesh-authz, both calling the same example
//! auth service in front of the same echo upstream. Each row says whether the two agree or where
//! mesh-authz is deliberately stricter (envoyfilter-manifests/legacy/MIGRATION.md explains each).

#![cfg(test)]

use mesh_authz_integration::auth::AuthState;
use mesh_authz_integration::client::{Request, Response};
use mesh_authz_integration::echo::Echoed;
use mesh_authz_integration::envoy::{Envoy, EnvoyOptions, PortMap};
use mesh_authz_integration::paths::{self, Prerequisites};
use mesh_authz_integration::require_prerequisites;
use mesh_authz_integration::stack::{closed_port, Stack};
use std::path::PathBuf;

/// What the client and the upstream saw.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    status: u16,
    /// `x-user-id` values the upstream received (empty when the request did not reach it).
    user: Vec<String>,
}

fn seen(r: &Response) -> Seen {
    let user = if r.status == 200 {
        let echoed: Echoed = r.json().unwrap();
        echoed
            .header_all("x-user-id")
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        Vec::new()
    };
    Seen {
        status: r.status,
        user,
    }
}

fn users(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}

/// mesh-authz (a `Stack`) and the Lua filter (a second Envoy) in front of the Stack's services.
struct Pair {
    mesh: Stack,
    lua: Envoy,
    _lua_yaml: Option<TempFile>,
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn legacy_yaml() -> PathBuf {
    paths::repo_root().join("integration/envoy/legacy-lua.yaml")
}

/// `cluster`: the callout cluster both filters are told to use (the bootstraps define `auth`).
/// `auth_port`: where the `auth` cluster points (default: the Stack's auth service).
fn start(p: &Prerequisites, cluster: &str, auth_port: Option<u16>) -> Pair {
    let mut builder = Stack::builder(p)
        .unwrap()
        .config(|c| c["authService"]["cluster"] = cluster.into());
    if let Some(port) = auth_port {
        builder = builder.auth_port(port);
    }
    let mesh = builder.start().unwrap();
    let (yaml, temp) = if cluster == "auth" {
        (legacy_yaml(), None)
    } else {
        let text = std::fs::read_to_string(legacy_yaml()).unwrap();
        assert!(text.contains("AUTH_CLUSTER = \"auth\""));
        let path = std::env::temp_dir().join(format!(
            "mesh-authz-parity-{}-{cluster}.yaml",
            std::process::id()
        ));
        std::fs::write(
            &path,
            text.replace(
                "AUTH_CLUSTER = \"auth\"",
                &format!("AUTH_CLUSTER = \"{cluster}\""),
            ),
        )
        .unwrap();
        (path.clone(), Some(TempFile(path)))
    };
    let mut options = EnvoyOptions::new(&p.envoy, &p.wasm);
    options.yaml = yaml;
    options.wasm = None;
    options.ports = PortMap::ephemeral(auth_port.unwrap_or(mesh.auth.port()), mesh.echo.port());
    let lua = Envoy::start(&options).unwrap();
    Pair {
        mesh,
        lua,
        _lua_yaml: temp,
    }
}

impl Pair {
    fn both(&self, req: &Request) -> (Seen, Seen) {
        (
            seen(&self.lua.send(req).unwrap()),
            seen(&self.mesh.send(req).unwrap()),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    /// Same status, same identity upstream.
    Agree,
    /// Both deny, with different statuses (the row says which).
    BothDeny,
    /// mesh-authz denies or strips where the Lua filter lets something through.
    MeshStricter,
}

struct Row {
    name: &'static str,
    request: Request,
    /// Knob on the auth service for this row (reset afterwards).
    setup: fn(&AuthState),
    lua: Seen,
    mesh: Seen,
    relation: Relation,
}

fn nothing(_: &AuthState) {}

impl Row {
    /// A row where the Lua filter and mesh-authz must see the same thing.
    fn agree(name: &'static str, request: Request, status: u16, user: &[&str]) -> Row {
        let seen = Seen {
            status,
            user: users(user),
        };
        Row {
            name,
            request,
            setup: nothing,
            lua: seen.clone(),
            mesh: seen,
            relation: Relation::Agree,
        }
    }
}

/// Every row has its own path: mesh-authz caches decisions per request, and a row must not read
/// the decision of the one before.
fn rows() -> Vec<Row> {
    let forged = |r: Request| r.header("x-user-id", "mallory");
    vec![
        Row::agree(
            "valid bearer token",
            Request::get("/p/token").bearer("alice-token"),
            200,
            &["alice"],
        ),
        Row::agree(
            "session cookie",
            Request::get("/p/cookie").header("cookie", "session=bob-token"),
            200,
            &["bob"],
        ),
        Row::agree("no credential", Request::get("/p/anonymous"), 401, &[]),
        Row::agree(
            "unknown token",
            Request::get("/p/unknown").bearer("nobody-token"),
            401,
            &[],
        ),
        Row::agree(
            "viewer on /admin",
            Request::get("/admin/users").bearer("bob-token"),
            403,
            &[],
        ),
        Row::agree(
            "forged identity, service returns the real one",
            forged(Request::get("/p/forged").bearer("bob-token")),
            200,
            &["bob"],
        ),
        Row {
            name: "forged identity, service allows without identity",
            request: forged(Request::get("/p/forged-omitted").bearer("bob-token")),
            setup: |a| a.set_forced_status(Some(200)),
            lua: Seen {
                status: 200,
                user: users(&["mallory"]),
            },
            mesh: Seen {
                status: 200,
                user: vec![],
            },
            relation: Relation::MeshStricter,
        },
        Row {
            name: "auth service answers 500",
            request: Request::get("/p/error").bearer("alice-token"),
            setup: |a| a.set_forced_status(Some(500)),
            // Lua hands the service's 500 to the client; mesh-authz applies onError (deny, 503).
            lua: Seen {
                status: 500,
                user: vec![],
            },
            mesh: Seen {
                status: 503,
                user: vec![],
            },
            relation: Relation::BothDeny,
        },
    ]
}

fn check(relation: Relation, lua: &Seen, mesh: &Seen) {
    match relation {
        Relation::Agree => assert_eq!(lua, mesh),
        Relation::BothDeny => assert!(lua.status != 200 && mesh.status != 200),
        Relation::MeshStricter => {
            assert!(lua.status == 200 && (mesh.status != 200 || mesh.user != lua.user))
        }
    }
}

#[test]
fn one_scenario_list_against_lua_and_mesh_authz() {
    let p = require_prerequisites!();
    let pair = start(&p, "auth", None);
    for row in rows() {
        pair.mesh.auth.set_forced_status(None);
        (row.setup)(&pair.mesh.auth);
        let (lua, mesh) = pair.both(&row.request);
        assert_eq!(lua, row.lua, "{}: Lua filter", row.name);
        assert_eq!(mesh, row.mesh, "{}: mesh-authz", row.name);
        check(row.relation, &lua, &mesh);
    }
    // The script ran cleanly on every row: the differences above are by design, not Lua errors.
    assert_eq!(pair.lua.counter("http.ingress.lua.errors").unwrap(), 0);
}

#[test]
fn misnamed_callout_cluster_lua_fails_open_mesh_authz_fails_closed() {
    // The script error case: httpCall to a cluster Envoy does not have raises a Lua error, and
    // Envoy lets the request continue unchecked. mesh-authz's failed dispatch is onError: 503.
    let p = require_prerequisites!();
    let pair = start(&p, "auth-renamed", None);
    let (lua, mesh) = pair.both(&Request::get("/admin/users").header("x-user-id", "mallory"));
    assert_eq!(
        lua,
        Seen {
            status: 200,
            user: users(&["mallory"])
        },
        "Lua filter"
    );
    assert_eq!(
        mesh,
        Seen {
            status: 503,
            user: vec![]
        },
        "mesh-authz"
    );
    // It was a script error ("http call cluster invalid"), counted, and the request went on.
    assert_eq!(pair.lua.counter("http.ingress.lua.errors").unwrap(), 1);
    assert_eq!(pair.mesh.auth.calls(), 0);
}

#[test]
fn unreachable_auth_service_both_deny() {
    let p = require_prerequisites!();
    let pair = start(&p, "auth", Some(closed_port().unwrap()));
    let (lua, mesh) = pair.both(&Request::get("/hello").bearer("alice-token"));
    // Envoy turns a failed Lua httpCall into a 503 answer, so here the two agree.
    assert_eq!(
        lua,
        Seen {
            status: 503,
            user: vec![]
        },
        "Lua filter"
    );
    assert_eq!(
        mesh,
        Seen {
            status: 503,
            user: vec![]
        },
        "mesh-authz"
    );
}
