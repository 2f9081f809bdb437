//! Builds the guest crates as `wasm32-wasip2` components (release) with a nested
//! cargo, and copies them to `OUT_DIR` for `src/wasm.rs` to embed.
//!
//! The nested build uses its own target directory, `target/wasm-guests` (under an
//! absolute `CARGO_TARGET_DIR` if one is set), so it never waits for the lock of
//! the outer build's, and an environment cleaned of what the outer cargo sets for
//! this script (target, flags, wrappers such as clippy's), which would otherwise
//! leak into the guests' build. It shares the outer build's jobserver.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guests: (file name in `OUT_DIR`, package, directory under `examples/`).
const GUESTS: [(&str, &str, &str); 13] = [
    ("router", "weir-router", "processors/router"),
    ("inventory", "weir-inventory", "processors/inventory"),
    ("reservation", "weir-reservation", "processors/reservation"),
    ("payment", "weir-payment", "processors/payment"),
    ("notification", "weir-notification", "processors/notification"),
    ("minutes", "weir-minutes", "processors/minutes"),
    ("analytics", "weir-analytics", "processors/analytics"),
    ("fraud", "weir-fraud", "processors/fraud"),
    ("passthrough", "weir-passthrough", "guests/passthrough"),
    ("filter", "weir-filter", "guests/filter"),
    ("misbehave", "weir-misbehave", "guests/misbehave"),
    ("timers", "weir-timers", "guests/timers"),
    ("joins", "weir-joins", "guests/joins"),
];

const TARGET: &str = "wasm32-wasip2";

/// Variables the outer cargo (or the user's shell) sets that the nested cargo must
/// not inherit, beside every `CARGO_*` not in `KEEP_CARGO_VARS`.
const DROP_VARS: [&str; 14] = [
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "RUSTC_LINKER",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "NUM_JOBS",
    "OPT_LEVEL",
    "PROFILE",
    "DEBUG",
];

/// `CARGO_*` variables the nested cargo keeps: where the registry cache is, how to
/// reach the network, and the outer build's jobserver (so both share the cores).
const KEEP_CARGO_VARS: [&str; 6] = [
    "CARGO_HOME",
    "CARGO_MAKEFLAGS",
    "CARGO_NET_",
    "CARGO_HTTP_",
    "CARGO_REGISTRIES_",
    "CARGO_TERM_",
];

fn main() {
    let examples = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = examples.parent().expect("examples/ is inside the workspace").to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    for path in ["guest-sdk", "runtime/wit", "Cargo.toml", "Cargo.lock", "examples/order-events"] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    for (_, _, dir) in GUESTS {
        println!("cargo:rerun-if-changed={}", examples.join(dir).join("src").display());
        println!("cargo:rerun-if-changed={}", examples.join(dir).join("Cargo.toml").display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    ensure_target(&rustc);

    // Beside the outer build's artifacts: the workspace's `target/`, or an absolute
    // CARGO_TARGET_DIR (a relative one is relative to a directory we do not know).
    let target_root = match env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => workspace.join("target"),
    };
    let target_dir = target_root.join("wasm-guests");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let mut command = Command::new(&cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"));
    for (_, package, _) in GUESTS {
        command.args(["-p", package]);
    }
    clean_env(&mut command);
    // Components are loaded, not debugged: no line tables (the workspace's release
    // profile asks for them), and none from the precompiled std either.
    command.env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    command.env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");

    let output = command.output().unwrap_or_else(|e| panic!("could not run {cargo:?}: {e}"));
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        panic!(
            "building the guest components failed ({}): `{}` — its output is above",
            output.status,
            describe(&command)
        );
    }

    // Surface the guests' warnings (their code is only compiled for wasm32 here).
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines().filter(|l| l.starts_with("warning")).take(20) {
        println!("cargo:warning=guest build: {line}");
    }

    let built = target_dir.join(TARGET).join("release");
    for (name, package, _) in GUESTS {
        let from = built.join(format!("{}.wasm", package.replace('-', "_")));
        let bytes =
            std::fs::read(&from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
        let to = out_dir.join(format!("{name}.wasm"));
        // Rewrite only on change, so an unchanged component does not rebuild the crate.
        if std::fs::read(&to).ok().as_deref() != Some(bytes.as_slice()) {
            std::fs::write(&to, &bytes).unwrap_or_else(|e| panic!("writing {}: {e}", to.display()));
        }
    }
}

/// Installs the `wasm32-wasip2` standard library with rustup if the toolchain lacks it.
fn ensure_target(rustc: &std::ffi::OsStr) {
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap_or_else(|e| panic!("could not run {rustc:?} --print sysroot: {e}"));
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    if Path::new(&sysroot).join("lib/rustlib").join(TARGET).is_dir() {
        return;
    }
    let status = Command::new("rustup").args(["target", "add", TARGET]).status();
    let installed = Path::new(&sysroot).join("lib/rustlib").join(TARGET).is_dir();
    if !matches!(status, Ok(s) if s.success()) || !installed {
        panic!(
            "the {TARGET} target is not installed in {sysroot} and `rustup target add {TARGET}` \
             failed ({status:?}); install it for this toolchain (rust-toolchain.toml lists it)"
        );
    }
}

/// Removes what the outer cargo set for this build script and must not reach the
/// nested cargo.
fn clean_env(command: &mut Command) {
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let cargo_var = key.starts_with("CARGO_") || key.starts_with("__CARGO");
        let kept = KEEP_CARGO_VARS.iter().any(|keep| key.starts_with(keep));
        if (cargo_var && !kept) || DROP_VARS.contains(&key) || key.starts_with("DEP_") {
            command.env_remove(key);
        }
    }
}

/// The command line, for the error message.
fn describe(command: &Command) -> String {
    let args = command.get_args().map(|a| a.to_string_lossy().into_owned());
    std::iter::once(command.get_program().to_string_lossy().into_owned())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}
