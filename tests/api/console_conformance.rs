//! The console's conformance page: what the gateway offers vendors, from what it loaded — each
//! dialect of `/municipal` with its message kinds, the policies in force — for operators only.

use reqwest::StatusCode;

use crate::console::{console_app, page, sign_in};
use crate::helpers::REGION;

#[tokio::test]
async fn an_operator_sees_the_formats_dialects_and_policies_the_gateway_loaded() {
    let (app, _dir) = console_app().await;
    let anna = sign_in(&app, "anna").await;
    let (status, html) = page(&app, "/console/conformance", Some(&anna)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (_, dialects) = app.get_json(REGION, "/municipal").await;
    let dialects = dialects["dialects"].as_array().unwrap();
    assert!(!dialects.is_empty());
    for dialect in dialects {
        let name = dialect["name"].as_str().unwrap();
        assert!(
            html.contains(&format!("<code>POST /municipal/{name}/v1/messages</code>")),
            "{name}"
        );
        // Every message kind of the dialect, with its direction.
        for kind in dialect["message_kinds"].as_array().unwrap() {
            let direction = match kind["direction"].as_str().unwrap() {
                "inbound" => "tas emot",
                "outbound" => "skickas",
                _ => "båda",
            };
            let row = format!(
                "<tr><th scope=\"row\">{}</th><td>",
                kind["name"].as_str().unwrap()
            );
            let at = html
                .find(&format!("id=\"dialect-{name}\""))
                .expect("the dialect's table");
            let table = &html[at..];
            let table = &table[..table.find("</table>").unwrap()];
            let found = &table[table.find(&row).unwrap_or_else(|| panic!("{row}"))..];
            let found = &found[..found.find("</tr>").unwrap()];
            assert!(found.ends_with(&format!("<td>{direction}</td>")), "{found}");
        }
    }
    // The policies in force: the national default and the county's agreement.
    for policy in ["national", "jamtland"] {
        assert!(html.contains(&format!("({policy})")), "{policy}: {html}");
    }
    // Not for coordinators.
    let karin = sign_in(&app, "karin").await;
    let (status, _) = page(&app, "/console/conformance", Some(&karin)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
