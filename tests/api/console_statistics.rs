//! The console's statistics over HTTP: each chart's table holds `/stats`'s figures for the
//! same organisation and month, a table downloads as CSV, the county's follow-up sees small
//! figures suppressed, and a bad period is told.

use reqwest::StatusCode;
use serde_json::Value;

use crate::console::{browser, console_app, page, sign_in};
use crate::helpers::{REGION, TestApp};

/// A stay from admission to discharge in November 2026, with a SIP invitation.
async fn a_stay(app: &TestApp) {
    app.admitted_case().await;
    for name in [
        "08-utskrivningsklar.xml",
        "11-kallelse-sip.xml",
        "20-utskriven.xml",
    ] {
        app.post_cosmic_example(name).await;
    }
}

/// The cells of the row `label` of the table in the figure `chart`.
fn row(html: &str, chart: &str, label: &str) -> Vec<String> {
    let figure = &html[html.find(&format!("id=\"{chart}\"")).expect(chart)..];
    let figure = &figure[..figure.find("</figure>").unwrap()];
    let at = figure
        .find(&format!("<tr><th scope=\"row\">{label}</th>"))
        .unwrap_or_else(|| panic!("{label} in {figure}"));
    let line = &figure[at..];
    let line = &line[..line.find("</tr>").unwrap()];
    line.split("<td class=\"number\">")
        .skip(1)
        .map(|cell| cell.split('<').next().unwrap().to_owned())
        .collect()
}

async fn csv(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String, String) {
    let response = browser()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let disposition = response
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, disposition, response.text().await.unwrap())
}

#[tokio::test]
async fn each_chart_holds_the_organisations_figures_and_downloads_as_csv() {
    let (app, _dir) = console_app().await;
    a_stay(&app).await;
    let (_, stats) = app
        .get_json(REGION, "/stats?from=2026-11-01&to=2026-12-01")
        .await;
    let total = &stats["total"];
    let rut = sign_in(&app, "rut").await;

    // Six months up to this one (the test clock's November 2026).
    let (status, html) = page(&app, "/console/statistics", Some(&rut)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<script src=\"/console/assets/charts.js\"></script>"));
    assert!(!html.contains("<script>"), "nothing inline");
    for month in ["2026-06", "2026-11"] {
        row(&html, "admission-notices", month);
    }
    let november = row(&html, "admission-notices", "2026-11");
    assert_eq!(
        november[0],
        total["admission_notices"].to_string(),
        "{stats}"
    );
    assert_eq!(november[1], total["admission_notices_on_time"].to_string());
    assert_eq!(row(&html, "admission-notices", "2026-06"), ["0", "0"]);
    let invitations = row(&html, "sip-invitations", "2026-11");
    let sent = total["sip_invitations"].as_u64().unwrap();
    assert!(sent >= 1, "{stats}");
    assert_eq!(invitations[0], sent.to_string());
    assert_eq!(
        invitations[1],
        (sent - total["sip_invitations_late"].as_u64().unwrap()).to_string()
    );
    // The stay's days from ready for discharge to discharge fall in one bucket.
    let buckets: u64 = ["&lt; 1", "1–2", "2–3", "3–5", "5–10", "≥ 10"]
        .iter()
        .map(|b| {
            row(&html, "ready-to-discharge", b)[0]
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(buckets, total["discharges"].as_u64().unwrap(), "{stats}");

    // The table as CSV, for one month.
    let (status, disposition, body) = csv(
        &app,
        &rut,
        "/console/statistics/sip-invitations.csv?from=2026-11&months=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(disposition.contains("brygga-sip-invitations-2026-11-1.csv"));
    assert_eq!(
        body,
        format!(
            "Månad,Kallelser,I tid\n2026-11,{},{}\n",
            invitations[0], invitations[1]
        )
    );
    // A unit chosen: only its figures.
    let (_, ward) = page(
        &app,
        "/console/statistics?from=2026-11&months=1&unit=region:SE2321000214-E1AV",
        Some(&rut),
    )
    .await;
    let ward_stats = stats["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == "SE2321000214-E1AV")
        .unwrap();
    assert_eq!(
        row(&ward, "admission-notices", "2026-11")[0],
        ward_stats["admission_notices"].to_string()
    );

    // Bad periods are told, and a chart that does not exist is not found.
    for query in ["months=0", "months=25", "from=november"] {
        let (status, told) = page(&app, &format!("/console/statistics?{query}"), Some(&rut)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(told.contains("role=\"alert\""), "{told}");
    }
    let (status, _, _) = csv(&app, &rut, "/console/statistics/nothing.csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not signed in: sent to sign in.
    let (status, _) = page(&app, "/console/statistics", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_countys_follow_up_sees_every_unit_with_small_figures_suppressed() {
    let (app, _dir) = console_app().await;
    a_stay(&app).await;
    let county: Value = app
        .as_client("jamtland-uppfoljning")
        .await
        .get(app.url("/stats?from=2026-11-01&to=2026-12-01"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        county["total"]["admission_notices"],
        Value::Null,
        "{county}"
    );
    let folke = sign_in(&app, "folke").await;
    let (status, html) = page(
        &app,
        "/console/statistics?from=2026-11&months=1",
        Some(&folke),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Små tal undertrycks (X)"), "{html}");
    assert_eq!(row(&html, "admission-notices", "2026-11")[0], "X");
    let (_, _, body) = csv(
        &app,
        &folke,
        "/console/statistics/admission-notices.csv?from=2026-11&months=1",
    )
    .await;
    assert!(
        body.lines().nth(1).unwrap().starts_with("2026-11,X"),
        "{body}"
    );
    // Every unit of the county's figures is offered.
    for row in county["rows"].as_array().unwrap() {
        let unit = format!(
            "value=\"{}:{}\"",
            row["principal"].as_str().unwrap(),
            row["unit"].as_str().unwrap()
        );
        assert!(html.contains(&unit), "{unit} in {html}");
    }
    // A follow-up person has no cases or deliveries.
    for path in [
        "/console/cases",
        "/console/deliveries",
        "/console/deviations",
    ] {
        let (status, _) = page(&app, path, Some(&folke)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
}
