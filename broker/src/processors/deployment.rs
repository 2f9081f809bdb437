//! A deployment on disk: `<dir>/<name>/manifest.json` and `module.wasm`, each
//! replaced atomically (temporary file, fsync, rename, fsync of the directory).
//!
//! ```text
//! processors/
//!   inventory/
//!     manifest.json     {"manifest": {...}, "paused": false, "version": 2, "deployed_at_ms": ...}
//!     module.wasm       the component as uploaded
//!   .cache/             compiled components (the runtime's)
//!   .deleting-fraud/    a deletion under way: finished at the next open
//! ```
//!
//! An upgrade writes `module.wasm` first, then `manifest.json`: a crash between
//! the two runs the new module under the old version number and config until the
//! operator upgrades again.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use weir_runtime::manifest::Manifest;

/// The manifest file's name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The module file's name.
pub const MODULE_FILE: &str = "module.wasm";

/// What `manifest.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentRecord {
    /// The manifest in force.
    pub manifest: Manifest,
    /// Paused by the operator: re-applied at every start.
    pub paused: bool,
    /// 1 at deployment, +1 per upgrade.
    pub version: u32,
    /// When this version was deployed, ms since the epoch.
    pub deployed_at_ms: i64,
}

/// Writes `manifest.json` in `dir` (which must exist).
pub fn write_record(dir: &Path, record: &DeploymentRecord) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    write_atomic(dir, MANIFEST_FILE, &json)
}

/// Writes `module.wasm` in `dir` (which must exist).
pub fn write_module(dir: &Path, wasm: &[u8]) -> io::Result<()> {
    write_atomic(dir, MODULE_FILE, wasm)
}

/// Reads a deployment directory; the error says which file is wrong and why.
pub fn load(dir: &Path) -> Result<(DeploymentRecord, Vec<u8>), String> {
    let manifest = dir.join(MANIFEST_FILE);
    let json = fs::read(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let record: DeploymentRecord =
        serde_json::from_slice(&json).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let module = dir.join(MODULE_FILE);
    let wasm = fs::read(&module).map_err(|e| format!("{}: {e}", module.display()))?;
    let named = dir.file_name().and_then(|n| n.to_str());
    if named != Some(record.manifest.name.as_str()) {
        return Err(format!(
            "{} names processor {:?}, not its directory's name",
            manifest.display(),
            record.manifest.name
        ));
    }
    Ok((record, wasm))
}

/// Replaces `dir/name` with `bytes`, so that a crash leaves the old or the new
/// file, never a mix.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Makes a directory's entries (creations, renames) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(name: &str) -> DeploymentRecord {
        let manifest = Manifest {
            name: name.into(),
            inputs: vec!["orders".into()],
            allowed_lateness_ms: 0,
            outputs: vec!["payments".into()],
            start: Default::default(),
            limits: Default::default(),
            on_error: Default::default(),
            config: BTreeMap::from([("k".into(), "v".into())]),
        };
        DeploymentRecord { manifest, paused: true, version: 3, deployed_at_ms: 1_700_000_000_000 }
    }

    #[test]
    fn a_deployment_round_trips_and_names_must_match() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("payment");
        fs::create_dir(&dir).unwrap();
        write_module(&dir, b"\0asm...").unwrap();
        write_record(&dir, &record("payment")).unwrap();
        write_record(&dir, &record("payment")).unwrap();
        assert_eq!(load(&dir).unwrap(), (record("payment"), b"\0asm...".to_vec()));
        assert!(!dir.join("manifest.json.tmp").exists());

        write_record(&dir, &record("other")).unwrap();
        assert!(load(&dir).unwrap_err().contains("\"other\""));
        fs::write(dir.join(MANIFEST_FILE), "{").unwrap();
        assert!(load(&dir).unwrap_err().contains("manifest.json"));
        write_record(&dir, &record("payment")).unwrap();
        fs::remove_file(dir.join(MODULE_FILE)).unwrap();
        assert!(load(&dir).unwrap_err().contains("module.wasm"));
    }
}
