//! The generated blocks in js/ are exactly what src/boundary.rs's table gives: no number of
//! the boundary is written by hand on the JavaScript side. `make boundary` rewrites the
//! blocks (TOKENKIT_WRITE_BOUNDARY=1); this test fails until it has.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashSet;
use tokenkit::boundary::{javascript, BEGIN, END, JS, TABLE};

/// Each file's block is exactly [`javascript`] of it.
#[test]
fn each_block_is_the_table() {
    let mut files: Vec<&str> = JS.iter().map(|(f, _)| *f).collect();
    files.dedup();
    for file in files {
        let path = format!("{}/js/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.matches(BEGIN).count() <= 1, "js/{file} has more than one generated block");
        let start = text.find(BEGIN).unwrap_or_else(|| panic!("js/{file} has no generated block: run `make boundary`"));
        let end = text[start..].find(END).expect("the generated block has no end marker") + start + END.len();
        let want = javascript(file);
        if std::env::var_os("TOKENKIT_WRITE_BOUNDARY").is_some() {
            if text[start..end] != want {
                std::fs::write(&path, format!("{}{}{}", &text[..start], want, &text[end..])).unwrap();
            }
            continue;
        }
        assert_eq!(&text[start..end], want, "js/{file}'s boundary block differs from src/boundary.rs: run `make boundary`");
    }
}

/// Every group is read somewhere, and every listed group exists.
#[test]
fn every_group_is_written() {
    for (group, ..) in TABLE {
        assert!(JS.iter().any(|(_, g)| g == group), "{group}");
    }
    for (file, group) in JS {
        assert!(TABLE.iter().any(|(g, ..)| g == group), "{file}: {group}");
    }
}

/// Names are unique; so are the values of a group of kinds or slots (two kinds with one
/// number would be one kind to the other side). Sizes (`bytes`) may coincide.
#[test]
fn names_and_values_are_unique_within_a_group() {
    let mut names = HashSet::new();
    for (group, _, items) in TABLE {
        let mut values = HashSet::new();
        for (name, v) in *items {
            assert!(names.insert(format!("{group}_{name}")), "{group}_{name} twice");
            assert!(*group == "bytes" || values.insert(*v), "{group}: {v} twice");
        }
    }
}

#[test]
fn the_block_reads_as_constants() {
    let js = javascript("shell.js");
    assert!(js.contains("\nconst ACTION_SEND = 0, ACTION_ABORT = 1,"), "{js}");
    assert!(js.contains("STATUS_NETWORK = -1, STATUS_KEY_REFUSED = -2, STATUS_KEY_FAILED = -3;"), "{js}");
    assert!(js.contains("SEND_ASSERTION = 10;"), "{js}");
}
