//! Replays the committed fuzz corpus (fuzz/corpus/<target>/, minimized by `make fuzz`) and
//! the inputs that found bugs (fuzz/regressions/<target>/, which minimizing never touches)
//! through the fuzz targets' properties (fuzz/props.rs), on stable, in `make test`.
#![cfg(not(target_arch = "wasm32"))]

mod common;
#[path = "../fuzz/props.rs"]
mod props;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = std::fs::read_dir(root.join("corpus").join(target)).unwrap_or_else(|e| panic!("{target}: {e}"));
    let regressions = std::fs::read_dir(root.join("regressions").join(target)).into_iter().flatten();
    let mut n = 0;
    for entry in corpus.chain(regressions) {
        let path = entry.unwrap().path();
        let Ok(data) = std::fs::read(&path) else { continue }; // removed while a fuzzer minimizes
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
    let targets: [Target; 7] = [
        ("token_response", props::token_response),
        ("retry_after", props::retry_after),
        ("www_authenticate", props::www_authenticate),
        ("config", props::config),
        ("origin", props::origin),
        ("broker", props::broker),
        ("metadata", props::metadata),
    ];
    for (name, check) in targets {
        let n = replay(name, check);
        assert!(n >= 5, "{name}: the corpus holds {n} inputs; it should hold the minimized corpus of a run");
    }
}
