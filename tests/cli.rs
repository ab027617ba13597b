//! The `edge-gateway` binary as a user runs it: check on the shipped config and
//! the examples, refusal of a bad config, a read probe, hash-password.

mod common;

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edge-gateway"))
}

fn check(path: &str) -> (bool, String, String) {
    let out = bin()
        .args(["check", "-c", path])
        .output()
        .expect("run edge-gateway");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn shipped_config_checks_and_coalesces_fifteen_tags_into_four_requests() {
    let (ok, out, err) = check("gateway.toml");
    assert!(ok, "{err}");
    assert!(
        err.trim().is_empty(),
        "the shipped config has no warnings: {err}"
    );
    assert!(
        out.contains("total: 2 devices, 15 tags, 4 requests per cycle (naive: 15)"),
        "{out}"
    );
}

#[test]
fn every_example_checks_without_warnings() {
    let mut checked = 0;
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (ok, out, err) = check(path.to_str().unwrap());
            assert!(ok, "{}: {err}", path.display());
            assert!(err.trim().is_empty(), "{}: {err}", path.display());
            assert!(out.contains("requests per cycle"), "{out}");
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected at least three examples, found {checked}"
    );
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("edge-gateway-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[device]]\nname = \"m\"\nprotocol = \"tcp\"\nhost = \"127.0.0.1:502\"\n[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntpye = \"u16\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let typo = format!(
        "{}:8:1: error: unknown field `tpye`, expected one of `name`, `kind`, `address`, `type`,",
        path.display()
    );
    assert!(err.lines().any(|l| l.starts_with(&typo)), "{err}");
    assert!(
        !err.contains("missing key"),
        "a typo is reported once, as unknown, not again as missing: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn hash_password_reads_twice_from_stdin_and_prints_an_argon2id_hash() {
    use std::io::Write;
    let mut child = bin()
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\ncorrect horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(
        edge_gateway::opcua::password::verify_password(hash.trim(), "correct horse"),
        "{hash}"
    );
}

#[tokio::test]
async fn read_probe_prints_decoded_values_from_a_live_device() {
    let (_sim, addr) = common::start_sim(
        "[[simulator.register]]\naddress = \"40001\"\ntype = \"f32\"\norder = \"CDAB\"\nvalue = 230.5\n",
    )
    .await;
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "read",
                "--host",
                &addr.to_string(),
                "--address",
                "40001",
                "--type",
                "f32",
                "--order",
                "cdab",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("holding      0 (400001)  f32    = 230.5"),
        "{stdout}"
    );
    assert!(stdout.contains("[0x8000 0x4366]"), "{stdout}");
}
