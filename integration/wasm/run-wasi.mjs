// Runs a wasm32-wasip1 program (a `cargo test` binary) under Node's built-in WASI, so the core's
// tests run on the target the filter ships on without installing a runtime. Cargo calls it as
// `node run-wasi.mjs <file.wasm> <args...>` (CARGO_TARGET_WASM32_WASIP1_RUNNER); the exit status
// is the program's.
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
import { argv, env, exit } from "node:process";

const [file, ...args] = argv.slice(2);
if (!file) {
  console.error("usage: node run-wasi.mjs <program.wasm> [args...]");
  exit(2);
}
const wasi = new WASI({
  version: "preview1",
  args: [file, ...args],
  env: Object.fromEntries(
    Object.entries(env).filter(([k]) => k.startsWith("RUST_") || k.startsWith("PROPTEST_")),
  ),
  // No directories: the tests read no files.
  preopens: {},
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
