//! End-to-end checks of the foundation through the real binary and the
//! public model API: reproducible sampling, and malformed architecture
//! files and cell strings giving one-line errors instead of panics.

use std::process::Command;

use model::Architecture;
use model::nb201::Cell;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn peephole() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peephole"))
}

#[test]
fn sampling_is_reproducible_byte_for_byte_and_valid() {
    let run = |seed: &str| {
        let out = peephole()
            .args(["sample", "--space", "peephole-cifar10", "-n", "1000"])
            .args(["--seed", seed])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    let (a, b, c) = (run("7"), run("7"), run("8"));
    assert_eq!(a, b);
    assert_ne!(a, c);
    let text = String::from_utf8(a).unwrap();
    assert_eq!(text.lines().count(), 1000);
    for line in text.lines() {
        let arch = Architecture::from_json(line).unwrap();
        assert_eq!(arch.to_json(), line, "output is canonical");
    }
}

/// Applies one random edit: delete, duplicate, or replace a character
/// with one that tends to break JSON or the cell grammar.
fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let noise = [
        '{', '}', '[', ']', '"', ',', ':', '-', '0', '9', 'e', '|', '~', '+', ' ', 'x', '.',
        '\u{e9}',
    ];
    for _ in 0..rng.random_range(1..4) {
        if chars.is_empty() {
            break;
        }
        let i = rng.random_range(0..chars.len());
        match rng.random_range(0..3) {
            0 => {
                chars.remove(i);
            }
            1 => chars.insert(i, chars[i]),
            _ => chars[i] = noise[rng.random_range(0..noise.len())],
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_architectures_never_panic_and_errors_are_one_line() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let space = model::space::Space::parse("peephole-mnist").unwrap();
    let seeds: Vec<String> = (0..20).map(|_| space.sample(&mut rng).to_json()).collect();
    let mut rejected = 0;
    for i in 0..20_000 {
        let text = mutate(&seeds[i % seeds.len()], &mut rng);
        match Architecture::from_json(&text) {
            Ok(arch) => {
                // Whatever parses must expand and re-serialise.
                arch.expand().unwrap();
                Architecture::from_json(&arch.to_json()).unwrap();
            }
            Err(e) => {
                rejected += 1;
                let msg = e.to_string();
                assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
            }
        }
    }
    assert!(rejected > 10_000, "mutations should mostly be invalid");
}

#[test]
fn mutated_cell_strings_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for i in 0..20_000 {
        let text = mutate(&Cell::from_index(i % Cell::COUNT).to_string(), &mut rng);
        if let Err(e) = text.parse::<Cell>() {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "{msg}");
        }
    }
}

#[test]
fn show_names_the_file_and_line_of_a_bad_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    std::fs::write(
        &path,
        "{\"skeleton\":\"mnist\",\"block\":[{\"kind\":\"relu\"}]}\n\
         {\"skeleton\":\"mnist\",\"block\":[{\"kind\":\"conv\",\"kw\":9,\
         \"kh\":3,\"ratio\":1}]}\n",
    )
    .unwrap();
    let out = peephole().arg("show").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    assert!(err.contains("kernel 9x3"), "{err}");
}

#[test]
fn output_cut_short_by_a_closed_pipe_is_not_an_error() {
    // `peephole sample -n 200000 | head -1`: the reader leaves after one
    // line; the writer must stop quietly, not panic or report an error.
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = peephole()
        .args(["sample", "-n", "200000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert!(first.starts_with('{'), "{first}");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(!err.contains("panicked") && !err.contains("Error"), "{err}");
}
