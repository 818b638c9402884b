//! `keyport domain …` and `--domain`, run as an operator types them.

use super::*;

/// Not split: one database a real process works on; each command builds on
/// what the one before made, as an operator's session does.
#[test]
fn the_command_line_creates_lists_renames_and_limits_domains() {
    let scratch = process::Scratch::sqlite();
    scratch.run(&["migrate"], "");
    let created: Value = serde_json::from_str(&scratch.run(
        &["domain", "create", "--name", "Branch", "--app-limit", "2"],
        "",
    ))
    .unwrap();
    assert_eq!(
        (created["name"].as_str(), created["app_limit"].as_i64()),
        (Some("Branch"), Some(2))
    );
    assert_eq!(created.as_object().unwrap().len(), 3);
    let id = created["domain_id"].as_str().unwrap();

    scratch.run(
        &[
            "domain",
            "rename",
            "--domain",
            "branch",
            "--name",
            "Branch office",
        ],
        "",
    );
    scratch.run(
        &["domain", "set-limit", "--domain", id, "--app-limit", "3"],
        "",
    );
    scratch.run(
        &[
            "admin",
            "create",
            "--email",
            "b@example.com",
            "--role",
            "domain_admin",
            "--domain",
            "Branch office",
            "--password-stdin",
        ],
        &format!("{}\n", process::PASSWORD),
    );
    let client: Value = serde_json::from_str(&scratch.run(
        &[
            "client",
            "create",
            "--email",
            "b@example.com",
            "--name",
            "Branch gateway",
            "--permissions",
            "clients:read",
        ],
        "",
    ))
    .unwrap();
    assert!(client["client_secret"].is_string());
    let lines = scratch.run(&["domain", "list"], "");
    let listed: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let branch = listed.iter().find(|d| d["domain_id"] == id).unwrap();
    assert_eq!(
        (branch["name"].as_str(), branch["app_limit"].as_i64()),
        (Some("Branch office"), Some(3))
    );
    assert_eq!(
        (branch["users"].as_i64(), branch["applications"].as_i64()),
        (Some(1), Some(1))
    );

    // Refusals say why and change nothing: below the count, out of range,
    // a domain admin's application elsewhere, an unknown domain.
    for args in [
        vec!["domain", "set-limit", "--domain", id, "--app-limit", "0"],
        vec!["domain", "create", "--name", "branch OFFICE"],
        vec![
            "client",
            "create",
            "--email",
            "b@example.com",
            "--name",
            "Elsewhere",
            "--permissions",
            "clients:read",
            "--domain",
            "default",
        ],
        vec!["domain", "rename", "--domain", "nowhere", "--name", "X"],
    ] {
        let output = scratch.command(&args).output().unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!output.stderr.is_empty(), "{args:?} said nothing");
    }
    assert_eq!(scratch.query_i64("SELECT COUNT(*) FROM domains"), 2);
    assert_eq!(scratch.query_i64("SELECT COUNT(*) FROM applications"), 1);
}
