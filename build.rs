//! Build metadata for the OPC UA server's `BuildInfo`: the commit and its date.
//!
//! Both come from git when the source is a checkout, so two builds of one
//! commit report the same (reproducible builds: `SOURCE_DATE_EPOCH` wins when
//! set). Outside a checkout the build number is "unknown" and the date is 0,
//! which the server reports as "not known" rather than inventing one.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(refs) = git(&["rev-parse", "--git-path", "refs"]) {
        println!("cargo:rerun-if-changed={refs}");
    }
    let number = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .or_else(|| git(&["log", "-1", "--format=%ct"]))
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    println!("cargo:rustc-env=EDGE_GATEWAY_BUILD_NUMBER={number}");
    println!("cargo:rustc-env=EDGE_GATEWAY_BUILD_DATE={date}");
}
