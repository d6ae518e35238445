//! Integration tests of the CSV user import over loopback HTTPS against a spawned
//! `idrelay serve`: `POST /tenants/acme/import/users` (text/csv and multipart) in both
//! formats of spec §5, the per-row report, the malformed files that change nothing, the
//! `idrelay import` command (chunks, progress, exit code), the change log origin `csv`, and a
//! 25,000-row full-profile import (timed).

use crate::support;

use std::time::Instant;

use idrelay::directory::Origin;
use idrelay::directory::csv_import::client::ImportClient;
use idrelay::directory::csv_import::{Format, ImportReport};
use idrelay::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{ALL_DIRECTORY_PERMISSIONS, Idrelay, Scim, TestConfig, http_client, with_query};

const SAP: &str = "urn:ietf:params:scim:schemas:extension:sap:2.0:User";
const CUSTOM: &str = "urn:sap:cloud:scim:schemas:extension:custom:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const READER_ID: &str = "7a1d3c2a-0000-4000-8000-00000000abcd";
const READER_SECRET: &str = "reader-secret-0123456789";

/// A started server for tenant `acme` with an admin (all directory permissions) and a reader
/// (ReadUsers only).
async fn start() -> Idrelay {
    let config = TestConfig::new(&["acme"], ALL_DIRECTORY_PERMISSIONS);
    std::fs::write(
        config.path().join("reader.yaml"),
        format!(
            "\
apiVersion: v1
kind: Secret
metadata: {{name: reader-secret}}
stringData: {{secret: \"{READER_SECRET}\"}}
---
apiVersion: idrelay.dev/v1alpha1
kind: TechnicalAdmin
metadata: {{name: acme-reader}}
spec:
  tenantRef: {{name: acme}}
  displayName: reader
  clientId: {READER_ID}
  permissions: [ReadUsers]
  secrets: [{{secretRef: {{name: reader-secret, key: secret}}}}]
"
        ),
    )
    .unwrap();
    Idrelay::start_with(config, None, false).await
}

/// The answer of an import: status and JSON body.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    #[track_caller]
    fn report(&self) -> ImportReport {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        serde_json::from_value(self.body.clone()).unwrap()
    }

    #[track_caller]
    fn refused(&self, status: u16, words: &[&str]) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        let detail = self.body["detail"].as_str().unwrap_or_default();
        assert!(detail.ends_with("nothing was imported"), "{detail}");
        for word in words {
            assert!(detail.contains(word), "{word:?} not in {detail:?}");
        }
    }
}

fn import_url(server: &Idrelay, query: &str) -> String {
    format!("{}/tenants/acme/import/users{query}", server.base_url())
}

/// POSTs `body` as text/csv (as the admin).
async fn import(server: &Idrelay, body: impl Into<Vec<u8>>, query: &str) -> Answer {
    let admin = server.admin("acme");
    let response = http_client()
        .post(import_url(server, query))
        .basic_auth(&admin.client_id, Some(&admin.secret))
        .header("Content-Type", "text/csv")
        .body(body.into())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, body }
}

async fn user_count(scim: &Scim) -> u64 {
    let reply = scim.get("/Users?count=0").await;
    reply.expect(200);
    reply.body["totalResults"].as_u64().unwrap()
}

async fn user(scim: &Scim, user_name: &str) -> Value {
    let path = with_query(
        "/Users",
        &[("filter", &format!("userName eq \"{user_name}\""))],
    );
    let reply = scim.get(&path).await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1, "{}", reply.describe());
    reply.body["Resources"][0].clone()
}

async fn create_group(scim: &Scim, name: &str) -> String {
    scim.post(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}),
    )
    .await
    .expect(201)
    .id()
}

fn group_names(user: &Value) -> Vec<String> {
    let mut names: Vec<String> = user["groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .filter_map(|g| g["display"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The failed row `row` of a report: (column, reason).
#[track_caller]
fn failure(report: &ImportReport, row: usize) -> (String, String) {
    let r = report
        .rows
        .iter()
        .find(|r| r.row == row)
        .unwrap_or_else(|| panic!("no row {row} in {report:?}"));
    assert_eq!(
        serde_json::to_value(r.status).unwrap(),
        "failed",
        "row {row}: {r:?}"
    );
    (
        r.column.clone().unwrap_or_default(),
        r.reason.clone().unwrap_or_default(),
    )
}

const APP_HEADER: &str = "status,loginName,mail,firstName,lastName,language,validFrom,validTo,userType,urn:ietf:params:scim:schemas:extension:sap:2.0:User:mailVerified,spCustomAttribute1,groups,favouriteColour";

#[tokio::test]
async fn application_file_creates_updates_and_reports_every_rule() {
    let server = start().await;
    let scim = server.scim_basic("acme");
    create_group(&scim, "Managers").await;
    create_group(&scim, "HR").await;
    let long = "x".repeat(65);
    let file = format!(
        "{APP_HEADER}
active,jdoe,john.doe@example.com,John,Doe,enUS,20240101000000Z,20301231235959Z,employee,true,cost-1,\"Managers, HR\",blue
inactive,,mary@example.com,Mary,Major,de,,,alumni,,,,green
enabled,bad1,bad1@example.com,B,One,,,,,,,,
active,bad2,,B,Two,,,,,,,,
active,bad3,not-a-mail,B,Three,,,,,,,,
active,bad4,bad4@example.com,B,,,,,,,,,
active,{long},bad5@example.com,B,Five,,,,,,,,
active,bad6,bad6@example.com,B,Six,klingon,,,,,,,
active,bad7,bad7@example.com,B,Seven,,2024-01-01,,,,,,
active,bad8,bad8@example.com,B,Eight,,,,robot,,,,
active,bad9,bad9@example.com,B,Nine,,,,,maybe,,,
active,bad10,bad10@example.com,B,Ten,,,,,,,Nobody,
active,bad11,john.doe@example.com,B,Eleven,,,,,,,,
active,bad12,bad12@example.com,B,Twelve,,20240102000000Z,20240101000000Z,,,,,
"
    );
    let report = import(&server, file, "").await.report();
    assert_eq!(report.summary, "2 users imported or updated");
    assert_eq!((report.created, report.updated, report.failed), (2, 0, 12));
    let mail_verified = format!("{SAP}:mailVerified");
    for (row, column) in [
        (4, "status"),
        (5, "mail"),
        (6, "mail"),
        (7, "lastName"),
        (8, "loginName"),
        (9, "language"),
        (10, "validFrom"),
        (11, "userType"),
        (12, mail_verified.as_str()),
        (13, "groups"),
        (14, "mail"),
        (15, "validTo"),
    ] {
        let (col, reason) = failure(&report, row);
        assert_eq!(col, column, "row {row}: {reason}");
        assert!(!reason.is_empty());
    }
    // Failed rows changed nothing: only the two good users exist.
    assert_eq!(user_count(&scim).await, 2);

    let john = user(&scim, "jdoe").await;
    assert_eq!(john["emails"][0]["value"], "john.doe@example.com");
    assert_eq!(john["name"]["givenName"], "John");
    assert_eq!(john["name"]["familyName"], "Doe");
    assert_eq!(john["locale"], "en-US");
    assert_eq!(john["userType"], "employee");
    assert!(
        john.get("active").is_none(),
        "active without password → new"
    );
    assert_eq!(john[SAP]["status"], "new");
    assert_eq!(john[SAP]["mailVerified"], true);
    assert_eq!(john[SAP]["validFrom"], "2024-01-01T00:00:00Z");
    assert_eq!(john[SAP]["validTo"], "2030-12-31T23:59:59Z");
    assert_eq!(john[CUSTOM]["customAttribute1"], "cost-1");
    assert_eq!(group_names(&john), vec!["HR", "Managers"]);
    assert!(john.get("favouriteColour").is_none());
    let mary = user(&scim, "mary@example.com").await;
    assert_eq!(mary["active"], false);
    assert_eq!(mary[SAP]["status"], "inactive");
    assert_eq!(mary[SAP]["mailVerified"], false);
    assert_eq!(
        report.rows[0].id.as_deref(),
        john["id"].as_str(),
        "the report carries the SCIM id"
    );

    // Update: values left out are deleted; rows match by mail (loginName may change) or by
    // loginName (then the mail cannot change); duplicate mails in one file fail.
    let file = format!(
        "{APP_HEADER}
inactive,jdoe,john.doe@example.com,,Doe,,,,,,,HR,
active,mary.major,mary@example.com,Mary,Major,,,,,,,,
active,dup,mary@example.com,Mary,Major,,,,,,,,
"
    );
    let report = import(&server, file, "").await.report();
    assert_eq!((report.created, report.updated, report.failed), (0, 2, 1));
    let (column, reason) = failure(&report, 4);
    assert_eq!(column, "mail");
    assert!(reason.contains("row 3"), "{reason}");
    let file = format!("{APP_HEADER}\nactive,jdoe,other@example.com,John,Doe,,,,,,,,\n");
    let report = import(&server, file, "").await.report();
    let (column, reason) = failure(&report, 2);
    assert_eq!(column, "mail");
    assert!(reason.contains("cannot change"), "{reason}");
    let john = user(&scim, "jdoe").await;
    assert!(john["name"].get("givenName").is_none(), "{john}");
    assert!(john.get("locale").is_none());
    assert!(john.get("userType").is_none());
    assert!(john.get(CUSTOM).is_none());
    assert!(john[SAP].get("validFrom").is_none());
    assert_eq!(john[SAP]["status"], "inactive");
    assert_eq!(group_names(&john), vec!["HR"]);
    let mary = user(&scim, "mary.major").await;
    assert_eq!(mary["emails"][0]["value"], "mary@example.com");
    assert_eq!(user_count(&scim).await, 2);
}

#[tokio::test]
async fn malformed_files_are_refused_and_change_nothing() {
    let server = start().await;
    let scim = server.scim_basic("acme");
    let seed = import(
        &server,
        "status,loginName,mail,lastName\nactive,seed,seed@example.com,Seed\n",
        "",
    )
    .await
    .report();
    assert_eq!(seed.created, 1);
    let before = user_count(&scim).await;

    // Application-level: 100 KB limit.
    let mut big = String::from("status,loginName,mail,lastName\n");
    let mut i = 0;
    while big.len() < 100 * 1024 {
        big.push_str(&format!("active,u{i},u{i}@example.com,Last\n"));
        i += 1;
    }
    import(&server, big, "").await.refused(413, &["100 KB"]);
    // Not UTF-8 (Latin-1 é).
    let latin1 =
        b"status,loginName,mail,lastName\nactive,ren\xe9,rene@example.com,Ren\xe9\n".to_vec();
    import(&server, latin1.clone(), "")
        .await
        .refused(400, &["UTF-8", "line 2"]);
    // Unbalanced quotes.
    import(
        &server,
        "status,loginName,mail,lastName\nactive,a,a@example.com,\"Open\nactive,b,b@example.com,B\n",
        "",
    )
    .await
    .refused(400, &["unbalanced quotes", "line 2"]);
    import(
        &server,
        "status,loginName,mail,lastName\nactive,a\"b,a@example.com,A\n",
        "",
    )
    .await
    .refused(400, &["unbalanced quotes"]);
    // Mandatory columns.
    import(&server, "status,loginName,lastName\nactive,a,A\n", "")
        .await
        .refused(400, &["mandatory column", "mail"]);
    import(
        &server,
        "loginName,mail,lastName\na,a@example.com,A\n",
        "?format=application",
    )
    .await
    .refused(400, &["mandatory column", "status"]);
    // Full profile: missing columns, unsupported columns, unknown columns, too many users.
    import(&server, "userName,displayName\na,A\n", "")
        .await
        .refused(400, &["emails[0].value", "name.familyName"]);
    for column in ["groups", "spCustomAttribute1", "shoeSize"] {
        import(
            &server,
            format!("userName,mail,lastName,{column}\na,a@example.com,A,x\n"),
            "",
        )
        .await
        .refused(400, &[column]);
    }
    import(&server, "userName,mail,lastName\na,a@example.com,\"A\n", "")
        .await
        .refused(400, &["unbalanced quotes"]);
    import(&server, latin1, "?format=full")
        .await
        .refused(400, &["UTF-8"]);
    let mut many = String::from("userName,mail,lastName\n");
    for i in 0..25_001 {
        many.push_str(&format!("u{i},u{i}@x.io,L\n"));
    }
    import(&server, many, "").await.refused(413, &["25000"]);
    // Ragged rows and an unknown format.
    import(&server, "userName,mail,lastName\na,a@example.com\n", "")
        .await
        .refused(400, &["row 2", "fields"]);
    import(&server, "userName,mail,lastName\n", "?format=xml")
        .await
        .refused(400, &["xml"]);

    assert_eq!(user_count(&scim).await, before, "nothing was imported");
}

#[tokio::test]
async fn full_profile_cells_matching_and_scim_id() {
    let server = start().await;
    let scim = server.scim_basic("acme");
    let header = format!(
        "userName,emails[0].value,name.familyName,name.givenName,displayName,addresses[0].country,addresses[1].locality,{ENTERPRISE}:department,roles,locale,name.honorificPrefix,{SAP}:validFrom"
    );
    let file = format!(
        "{header}
ada,ada@example.com,Lovelace,Ada,Ada L.,GB,London,Engineering,admin; author,en-GB,Ms.,20240101000000Z
bad1,bad1@example.com,B,,,XX,,,,,,
bad2,bad2@example.com,B,,,,,,,xx-YY,,
bad3,bad3@example.com,B,,,,,,,,Lord,
bad4,bad4@example.com,B,,,,,,,,,tomorrow
,bad5@example.com,B,,,,,,,,,
bad6,ada@example.com,B,,,,,,,,,
"
    );
    let report = import(&server, file, "").await.report();
    assert_eq!((report.created, report.failed), (1, 6), "{report:?}");
    for (row, column) in [
        (3, "addresses[0].country".to_string()),
        (4, "locale".into()),
        (5, "name.honorificPrefix".into()),
        (6, format!("{SAP}:validFrom")),
        (7, "userName".into()),
        (8, "emails[0].value".into()),
    ] {
        assert_eq!(failure(&report, row).0, column, "row {row}");
    }
    let ada = user(&scim, "ada").await;
    assert_eq!(
        ada["addresses"],
        json!([{"country": "GB"}, {"locality": "London"}])
    );
    assert_eq!(ada[ENTERPRISE]["department"], "Engineering");
    assert_eq!(
        ada["roles"],
        json!([{"value": "admin"}, {"value": "author"}])
    );
    assert_eq!(ada["name"]["honorificPrefix"], "Ms.");
    assert_eq!(ada["locale"], "en-GB");
    assert_eq!(ada[SAP]["validFrom"], "2024-01-01T00:00:00Z");
    let ada_id = ada["id"].as_str().unwrap().to_string();

    // Value → update, empty → delete, absent column → unchanged; without SCIM ID the rows
    // match by userName and cannot change emails.
    let file = "userName,mail,lastName,displayName,name.givenName,roles
ada,ada@example.com,Byron,,Augusta,reviewer
ada2,ada-new@example.com,Lovelace,,,
";
    let report = import(&server, file, "").await.report();
    assert_eq!(
        (report.created, report.updated, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    let file = "userName,mail,lastName\nAda,ada.changed@example.com,Lovelace\n";
    let report = import(&server, file, "").await.report();
    let (column, reason) = failure(&report, 2);
    assert_eq!(column, "mail");
    assert!(reason.contains("SCIM ID"), "{reason}");
    let ada = user(&scim, "ada").await;
    assert_eq!(ada["name"]["familyName"], "Byron");
    assert_eq!(ada["name"]["givenName"], "Augusta");
    assert!(ada.get("displayName").is_none(), "empty cell deletes");
    assert_eq!(ada["roles"], json!([{"value": "reviewer"}]));
    assert_eq!(
        ada["addresses"][1]["locality"], "London",
        "absent column unchanged"
    );
    assert_eq!(ada[ENTERPRISE]["department"], "Engineering");

    // A SCIM ID column: rows only update, and may change userName and emails.
    let file = format!(
        "SCIM ID,userName,emails[0].value,name.familyName
{ada_id},countess,countess@example.com,Lovelace
00000000-0000-4000-8000-000000000000,ghost,ghost@example.com,Ghost
,nobody,nobody@example.com,Nobody
"
    );
    let before = user_count(&scim).await;
    let report = import(&server, file, "").await.report();
    assert_eq!(
        (report.created, report.updated, report.failed),
        (0, 1, 2),
        "{report:?}"
    );
    assert_eq!(failure(&report, 3).0, "SCIM ID");
    assert_eq!(failure(&report, 4).0, "SCIM ID");
    let countess = user(&scim, "countess").await;
    assert_eq!(countess["id"], ada_id.as_str());
    assert_eq!(countess["emails"][0]["value"], "countess@example.com");
    assert_eq!(user_count(&scim).await, before, "SCIM ID rows never create");
}

#[tokio::test]
async fn multipart_permissions_and_change_log_origin() {
    let mut server = start().await;
    let scim = server.scim_basic("acme");
    let scim_user = scim
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "via-scim"}),
        )
        .await
        .expect(201)
        .id();
    let file = "userName,mail,lastName\nmp1,mp1@example.com,One\nmp2,mp2@example.com,Two\n";

    // A reader may not import.
    let response = http_client()
        .post(import_url(&server, ""))
        .basic_auth(READER_ID, Some(READER_SECRET))
        .header("Content-Type", "text/csv")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(user_count(&scim).await, 1);
    // Unsupported media type.
    let admin = server.admin("acme").clone();
    let response = http_client()
        .post(import_url(&server, ""))
        .basic_auth(&admin.client_id, Some(&admin.secret))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // multipart/form-data with a file field.
    let boundary = "----idrelay-test-boundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"users.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let response = http_client()
        .request(Method::POST, import_url(&server, ""))
        .basic_auth(&admin.client_id, Some(&admin.secret))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report: ImportReport = response.json().await.unwrap();
    assert_eq!(report.created, 2, "{report:?}");
    let ids: Vec<String> = report.rows.iter().filter_map(|r| r.id.clone()).collect();

    // The change log records origin csv for the imported users (and scim-v2 for the other).
    server.process.kill();
    let store = Store::open(&server.data_dir).await.unwrap();
    let changes = store.changes("acme", 0, 1000).await.unwrap();
    for id in &ids {
        let change = changes
            .iter()
            .find(|c| &c.entity_id == id)
            .unwrap_or_else(|| panic!("no change for {id}"));
        assert_eq!(change.origin, Origin::Csv);
        assert_eq!(change.origin.as_stored(), "csv");
    }
    let other = changes.iter().find(|c| c.entity_id == scim_user).unwrap();
    assert_eq!(other.origin, Origin::ScimV2);
}

#[tokio::test]
async fn import_command_uploads_in_chunks_and_exits_non_zero_on_failed_rows() {
    let server = start().await;
    let scim = server.scim_basic("acme");
    let admin = server.admin("acme").clone();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.csv");
    let mut text = String::from("userName,mail,lastName\n");
    for i in 0..7 {
        text.push_str(&format!("cli{i},cli{i}@example.com,L{i}\n"));
    }
    std::fs::write(&good, &text).unwrap();
    let run = |file: &std::path::Path, extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_idrelay"))
            .arg("import")
            .args([
                "--url",
                &server.base_url(),
                "--tenant",
                "acme",
                "--insecure",
            ])
            .args(["--client-id", &admin.client_id])
            .args(extra)
            .arg(file)
            .env("IDRELAY_CLIENT_SECRET", &admin.secret)
            .output()
            .unwrap()
    };
    let out = run(&good, &["--chunk-rows", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("7 users imported or updated"), "{stdout}");
    assert_eq!(user_count(&scim).await, 7);

    // A failed row in a later chunk: reported with its row number in the file; exit code 1.
    let bad = dir.path().join("bad.csv");
    text.push_str("cli8,cli0@example.com,Dup\n");
    std::fs::write(&bad, &text).unwrap();
    let out = run(&bad, &["--chunk-rows", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("7 users imported or updated"), "{stdout}");
    assert!(stdout.contains("row 9, column mail"), "{stdout}");

    // A malformed file is refused before anything is sent.
    let broken = dir.path().join("broken.csv");
    std::fs::write(&broken, "userName,mail,lastName\nx,\"x@example.com,X\n").unwrap();
    let out = run(&broken, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unbalanced quotes"), "{stderr}");
    assert_eq!(user_count(&scim).await, 7);
}

#[tokio::test]
async fn full_profile_import_of_25000_users() {
    const ROWS: usize = 25_000;
    let server = start().await;
    let scim = server.scim_basic("acme");
    let mut text = format!(
        "userName,emails[0].value,name.familyName,name.givenName,displayName,addresses[0].country,addresses[0].locality,{ENTERPRISE}:department,{ENTERPRISE}:employeeNumber,locale\n"
    );
    for i in 0..ROWS {
        text.push_str(&format!(
            "user{i:05},user{i:05}@example.com,Family{i},Given{i},Given{i} Family{i},DE,Walldorf,Dept{},{i},de-DE\n",
            i % 50
        ));
    }
    let admin = server.admin("acme");
    let client = ImportClient::new(
        &server.base_url(),
        "acme",
        &admin.client_id,
        &admin.secret,
        true,
    )
    .unwrap();
    let started = Instant::now();
    let mut uploaded = 0;
    let report = client
        .import_file(text.as_bytes(), Some(Format::Full), 1000, |n| uploaded += n)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    println!(
        "full-profile import: {ROWS} rows in {:.1} s = {:.0} rows/s ({} bytes)",
        elapsed.as_secs_f64(),
        ROWS as f64 / elapsed.as_secs_f64(),
        text.len()
    );
    assert_eq!(uploaded, ROWS);
    assert_eq!(report.summary, "25000 users imported or updated");
    assert_eq!((report.created, report.failed), (ROWS, 0));
    assert_eq!(user_count(&scim).await, ROWS as u64);
    let last = user(&scim, "user24999").await;
    assert_eq!(last["addresses"][0]["locality"], "Walldorf");
    assert_eq!(last[ENTERPRISE]["employeeNumber"], "24999");
}
