//! Golden cases for gateway.toml diagnostics, one directory per behaviour:
//!
//! ```text
//! tests/config_cases/<behaviour>/gateway.toml   the config, exactly as a user writes it
//! tests/config_cases/<behaviour>/expected       the lines the user sees, in order
//! tests/config_cases/<behaviour>/note           optional: why the case looks the way it does
//! ```
//!
//! Each config is parsed with `Config::parse(text, "gateway.toml")` (the bare file
//! name, so the lines read `gateway.toml:line:col: severity: message` wherever the
//! checkout is). `expected` holds one `Display` line per diagnostic:
//!
//! - refused config: all its diagnostics, errors and warnings alike; at least one
//!   must be an error;
//! - accepted config: its warnings, every one of severity warning; an empty
//!   `expected` means "accepted without warnings".
//!
//! Every case is checked and every mismatch is collected; the test fails once at
//! the end, listing them all. `UPDATE_EXPECT=1 cargo test --test config_cases`
//! rewrites the `expected` files from the actual output instead (review the result
//! with `git diff`).
//!
//! Devices set `poll = "2s"` unless the case is about timing, so that the
//! timeout × (retries + 1) > poll warning stays out of cases about other things.
//! Tests of the fields of an accepted config are in `config_accepted.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use edge_gateway::config::{Config, ConfigError, Severity};

const FILE: &str = "gateway.toml";
const EXPECTED: &str = "expected";
const NOTE: &str = "note";

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/config_cases")
}

/// The lines a user sees for `text`, or why the case is broken regardless of
/// `expected` (wrong error kind, a refused config without an error, ...).
fn actual_lines(text: &str) -> Result<Vec<String>, String> {
    let diagnostics = match Config::parse(text, FILE) {
        Ok(config) => {
            if let Some(e) = config
                .warnings
                .iter()
                .find(|w| w.severity != Severity::Warning)
            {
                return Err(format!("accepted, but carries a non-warning: {e}"));
            }
            config.warnings
        }
        Err(ConfigError::Invalid { file, diagnostics }) => {
            if file != FILE {
                return Err(format!("refused for file {file:?}, expected {FILE:?}"));
            }
            if !diagnostics.iter().any(|d| d.severity == Severity::Error) {
                let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
                return Err(format!("refused without an error: {lines:#?}"));
            }
            diagnostics
        }
        Err(e) => return Err(format!("unexpected error kind: {e}")),
    };
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    if let Some(l) = lines.iter().find(|l| l.contains('\n')) {
        return Err(format!("a diagnostic spans several lines: {l:?}"));
    }
    Ok(lines)
}

/// A line diff (longest common subsequence): `  ` both, `- ` expected only,
/// `+ ` actual only.
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    // lcs[i][j] = length of the LCS of expected[i..] and actual[j..]
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if expected[i] == actual[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && expected[i] == actual[j] {
            let _ = writeln!(out, "      {}", expected[i]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "    - {}", expected[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "    + {}", actual[j]);
            j += 1;
        }
    }
    out
}

fn render(lines: &[String]) -> String {
    lines.iter().fold(String::new(), |mut out, l| {
        let _ = writeln!(out, "{l}");
        out
    })
}

fn quoted(lines: &[String]) -> String {
    if lines.is_empty() {
        return "    (none: accepted without warnings)\n".to_owned();
    }
    lines.iter().fold(String::new(), |mut out, l| {
        let _ = writeln!(out, "    {l}");
        out
    })
}

/// Checks one case; `Err` describes what is wrong with it.
fn check(dir: &Path, update: bool) -> Result<(), String> {
    let mut stray = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("cannot list: {e}"))? {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy().into_owned();
        if ![FILE, EXPECTED, NOTE].contains(&name.as_str()) {
            stray.push(name);
        }
    }
    if !stray.is_empty() {
        stray.sort();
        return Err(format!(
            "unexpected file(s) {stray:?}; a case holds only `{FILE}`, `{EXPECTED}` and an optional `{NOTE}`"
        ));
    }

    let config_path = dir.join(FILE);
    let text = fs::read_to_string(&config_path)
        .map_err(|e| format!("cannot read {}: {e}", config_path.display()))?;
    let actual = actual_lines(&text)?;

    let expected_path = dir.join(EXPECTED);
    if update {
        let rendered = render(&actual);
        if fs::read_to_string(&expected_path).ok().as_deref() != Some(rendered.as_str()) {
            fs::write(&expected_path, rendered)
                .map_err(|e| format!("cannot write {}: {e}", expected_path.display()))?;
            eprintln!("UPDATE_EXPECT: rewrote {}", expected_path.display());
        }
        return Ok(());
    }
    let expected: Vec<String> = fs::read_to_string(&expected_path)
        .map_err(|e| {
            format!(
                "cannot read {}: {e} (UPDATE_EXPECT=1 creates it)",
                expected_path.display()
            )
        })?
        .lines()
        .map(str::to_owned)
        .collect();

    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "diagnostics differ\n  expected:\n{}  actual:\n{}  diff (- expected, + actual):\n{}",
        quoted(&expected),
        quoted(&actual),
        diff(&expected, &actual)
    ))
}

#[test]
fn config_cases_match_their_expected_diagnostics() {
    let root = cases_dir();
    let update = std::env::var_os("UPDATE_EXPECT").is_some_and(|v| v == "1");

    let mut dirs = Vec::new();
    let mut problems = Vec::new();
    for entry in fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            dirs.push((name, entry.path()));
        } else {
            problems.push((
                name,
                "a file directly under config_cases/; cases are directories".to_owned(),
            ));
        }
    }
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no cases under {}: a runner without cases cannot fail",
        root.display()
    );

    for (name, dir) in &dirs {
        if let Err(problem) = check(dir, update) {
            problems.push((name.clone(), problem));
        }
    }

    if !problems.is_empty() {
        let mut report = format!(
            "{} problem(s) with the {} config case(s) under {}:\n",
            problems.len(),
            dirs.len(),
            root.display()
        );
        for (name, problem) in &problems {
            let _ = write!(report, "\n--- {name}: {problem}");
            if !problem.ends_with('\n') {
                report.push('\n');
            }
        }
        if !update {
            report.push_str(
                "\nIf the new output is right, rerun with UPDATE_EXPECT=1 and review `git diff`.\n",
            );
        }
        panic!("{report}");
    }
    eprintln!("{} config case(s) checked", dirs.len());
}
