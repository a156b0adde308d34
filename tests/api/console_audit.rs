//! The console's audit pages: an auditor reads their organisation's log, newest first, and a
//! person's log extract of its records (the personnummer in a POST body); every view of
//! them is itself audited; nobody else may.

use reqwest::StatusCode;

use crate::console::{console_app, csrf, page, post_page, sign_in};

const PERSONNUMMER: &str = "198112189876";

#[tokio::test]
async fn an_auditor_reads_the_organisations_log_and_a_persons_extract() {
    let (app, _dir) = console_app().await;
    let case = app.admitted_case().await;
    // The region's coordinator opens the case; Östersund's too.
    for who in ["rut", "karin"] {
        let cookie = sign_in(&app, who).await;
        let (status, _) = page(
            &app,
            &format!("/console/cases/{case}?purpose=planning"),
            Some(&cookie),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let alva = sign_in(&app, "alva").await;
    let (status, log) = page(&app, "/console/audit", Some(&alva)).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    // The region's read, with whom it was about and why; not Östersund's.
    assert!(
        log.contains(&format!(
            "<td>console:rut</td><td>read timeline</td><td>{PERSONNUMMER}</td><td>samordnad planering inför utskrivning</td>"
        )),
        "{log}"
    );
    assert!(!log.contains("console:karin"), "{log}");
    // Newest first.
    let seqs: Vec<u64> = log
        .split("<tr><th scope=\"row\" class=\"number\">")
        .skip(1)
        .map(|row| row.split('<').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        seqs.len() > 1 && seqs.windows(2).all(|w| w[0] > w[1]),
        "{seqs:?}"
    );

    // The extract: the organisation's records about the person.
    let (status, extract) = post_page(
        &app,
        &alva,
        "/console/audit/extract",
        &[("csrf", &csrf(&log)), ("person", "19811218-9876")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{extract}");
    assert!(extract.contains("<td>read timeline</td>"), "{extract}");
    assert!(!extract.contains("console:karin"), "{extract}");
    // Both views are in the log, the extract's with the person.
    let records = app
        .store
        .audit_records(&brygga::store::AuditQuery {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let viewed = |action: &str| {
        records
            .iter()
            .filter(|r| r.action == action && r.actor == "console:alva")
            .collect::<Vec<_>>()
    };
    assert_eq!(viewed("read audit (console)").len(), 1);
    let extracts = viewed("read audit extract (console)");
    assert_eq!(extracts.len(), 1);
    assert!(
        extracts[0]
            .person
            .as_deref()
            .unwrap()
            .ends_with(PERSONNUMMER),
        "{:?}",
        extracts[0].person
    );
    assert_eq!(extracts[0].purpose, "logguppföljning");

    // A number that is none: told; without the session's token: refused; not for others.
    let (status, told) = post_page(
        &app,
        &alva,
        "/console/audit/extract",
        &[("csrf", &csrf(&log)), ("person", "12345")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(told.contains("role=\"alert\""), "{told}");
    let (status, _) = post_page(
        &app,
        &alva,
        "/console/audit/extract",
        &[("csrf", "forged"), ("person", PERSONNUMMER)],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let rut = sign_in(&app, "rut").await;
    let (status, _) = page(&app, "/console/audit", Some(&rut)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
