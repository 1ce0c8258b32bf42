//! Replays the committed fuzz corpus (fuzz/corpus/<target>/) through the fuzz targets'
//! properties (fuzz/props.rs), on stable, in `make test`: every input that once found
//! something, or widened coverage, stays a regression test.
#![cfg(not(target_arch = "wasm32"))]

mod common;
#[path = "../fuzz/props.rs"]
mod props;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{target}: {} fails its property", path.display());
        n += 1;
    }
    n
}

/// A target's name and its property.
type Target = (&'static str, fn(&[u8]));

#[test]
fn corpus_replays() {
    let targets: [Target; 6] = [
        ("token_response", props::token_response),
        ("retry_after", props::retry_after),
        ("www_authenticate", props::www_authenticate),
        ("config", props::config),
        ("origin", props::origin),
        ("broker", props::broker),
    ];
    for (name, check) in targets {
        let n = replay(name, check);
        assert!(n >= 5, "{name}: the corpus holds {n} inputs; it should hold the minimized corpus of a run");
    }
}
