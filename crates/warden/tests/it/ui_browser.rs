//! The dashboard in a real browser (see `browser`): an administrator signs in with the
//! token, finds an agent, approves its held request and sees the retry go through,
//! suppresses a finding, and kills the agent after its preview; an owner signs in through
//! the OpenID Connect provider of `ui_owner`, sees their agent's request appear on the open
//! queue by itself, and approves it. Every page
//! on the way passes axe-core with no serious or critical violation.

use crate::browser::Chrome;
use crate::gateway::Rig;

const PERSON: &str = "erin@example.com";

async fn api(rig: &Rig, path: &str) -> serde_json::Value {
    reqwest::Client::new()
        .get(format!("{}{path}", rig.server.api))
        .bearer_auth(&rig.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Checks the page the browser is on with axe-core.
async fn accessible(chrome: &Chrome, page: &str) {
    let problems = chrome.accessibility_problems().await;
    assert!(problems.is_empty(), "{page}: {problems:#?}");
}

async fn gateway_status(rig: &Rig) -> u16 {
    reqwest::Client::new()
        .get(rig.gateway("/crm/tickets/7"))
        .bearer_auth(&rig.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_in_a_browser_an_administrator_approves_suppresses_and_kills() {
    let rig = crate::ui::rig_with_findings().await;
    let chrome = Chrome::start().await;
    let api_url = &rig.server.api;

    chrome.open(&format!("{api_url}/ui")).await;
    chrome.wait_for_path("/ui/sign-in").await;
    accessible(&chrome, "sign-in").await;
    chrome.type_into("#person", PERSON).await;
    chrome.type_into("#token", &rig.admin).await;
    chrome
        .click_through(r#"form[action="/ui/sign-in"] button[type="submit"]"#)
        .await;
    chrome.wait_for_path("/ui").await;
    assert!(chrome.text().await.contains(PERSON));
    accessible(&chrome, "overview").await;

    // Find the agent and open its page.
    chrome.open(&format!("{api_url}/ui/identities")).await;
    accessible(&chrome, "inventory").await;
    chrome.type_into("#name", "support-bot").await;
    chrome
        .click_through(r#"form[role="search"] button[type="submit"]"#)
        .await;
    assert!(chrome.url().await.contains("name=support-bot"));
    chrome
        .click_through(r#"td a[href^="/ui/identities/"]"#)
        .await;
    let agent_page = chrome.url().await;
    assert!(chrome.text().await.contains("alice@example.com"));
    chrome
        .find(r#"svg[role="img"][aria-labelledby="access-graph-title"]"#)
        .await;
    accessible(&chrome, "identity, with its access graph").await;

    // Approve the held refund; the agent's retry goes through.
    let (status, held) = crate::held::refund(&rig, r#"{"amount": 10}"#, None, None).await;
    assert_eq!(status, 403, "{held}");
    let approval = held["approval_id"].as_str().unwrap().to_string();
    chrome.open(&format!("{api_url}/ui/approvals")).await;
    assert!(chrome.text().await.contains("POST /tickets/42/refund"));
    accessible(&chrome, "approvals").await;
    chrome
        .type_into(&format!("#comment-{approval}"), "checked in the browser")
        .await;
    chrome
        .click_through(&format!(
            r#"button[formaction="/ui/approvals/{approval}/approve"]"#
        ))
        .await;
    chrome.wait_for_path("/ui/approvals").await;
    let (status, done) =
        crate::held::refund(&rig, r#"{"amount": 10}"#, Some(&approval), None).await;
    assert_eq!(status, 200, "{done}");
    let shown = api(&rig, &format!("/v1/approvals/{approval}")).await;
    assert_eq!(shown["decided_by"], PERSON, "{shown}");

    // Suppress the first open finding.
    let open = api(&rig, "/v1/findings?status=open&limit=1").await;
    let finding = open["items"][0]["id"].as_str().unwrap().to_string();
    chrome.open(&format!("{api_url}/ui/findings")).await;
    accessible(&chrome, "findings").await;
    chrome
        .click(&format!(
            r#"details:has(form[action="/ui/findings/{finding}/suppress"]) summary"#
        ))
        .await;
    accessible(&chrome, "findings, a suppression form open").await;
    chrome
        .type_into(
            &format!("#reason-{finding}"),
            "accepted until the migration",
        )
        .await;
    chrome
        .click_through(&format!(
            r#"form[action="/ui/findings/{finding}/suppress"] button[type="submit"]"#
        ))
        .await;
    // The form's answer is a redirect back to the list: wait for the change to show.
    let mut suppressed = serde_json::Value::Null;
    for _ in 0..50 {
        suppressed = api(&rig, &format!("/v1/findings/{finding}")).await;
        if suppressed["status"] == "suppressed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        suppressed["status"],
        "suppressed",
        "{suppressed}\n{}: {}",
        chrome.url().await,
        chrome.text().await
    );
    assert_eq!(suppressed["suppression"]["by"], PERSON, "{suppressed}");

    for page in [
        "/ui/audit",
        "/ui/upstreams",
        "/ui/policies",
        "/ui/no-such-page",
    ] {
        chrome.open(&format!("{api_url}{page}")).await;
        accessible(&chrome, page).await;
    }
    // A policy test from its form, and the decision shown with it.
    chrome.open(&format!("{api_url}/ui/policies")).await;
    chrome.type_into("#agent", "support-bot").await;
    chrome.click(r#"#upstream option[value="crm"]"#).await;
    chrome.type_into("#method", "GET").await;
    chrome.type_into("#path", "/tickets/1").await;
    chrome
        .click_through(r#"#policy-test button[type="submit"]"#)
        .await;
    chrome.wait_for_text("tickets.read").await;
    assert!(
        chrome.text().await.contains("allow"),
        "{}",
        chrome.text().await
    );
    accessible(&chrome, "policies, with a decision").await;

    // Kill the agent after its preview; its next gateway request is refused.
    assert_eq!(gateway_status(&rig).await, 200);
    chrome.open(&agent_page).await;
    chrome.click_through(r#"a[href$="/kill"]"#).await;
    chrome.wait_for_path("/kill").await;
    assert!(chrome.text().await.contains("support-bot"));
    accessible(&chrome, "kill preview").await;
    chrome
        .click_through(r#"form[action$="/kill"] button[type="submit"]"#)
        .await;
    assert_eq!(gateway_status(&rig).await, 401);

    // The check is live: a page with an image and no text for it fails it.
    chrome
        .open("data:text/html,<html lang=en><title>t</title><main><img src=x.png></main></html>")
        .await;
    let problems = chrome.accessibility_problems().await;
    assert!(
        problems
            .iter()
            .any(|problem| problem.starts_with("image-alt")),
        "{problems:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_in_a_browser_an_owner_signs_in_through_the_provider_and_approves() {
    let provider = crate::ui_owner::Provider::start().await;
    let rig = Rig::start(&format!(
        "[dashboard.oidc]\nissuer = \"{}\"\nclient_id = \"{}\"\n",
        provider.issuer,
        crate::ui_owner::CLIENT_ID
    ))
    .await;
    let chrome = Chrome::start().await;
    chrome.open(&format!("{}/ui/sign-in", rig.server.api)).await;
    chrome.click(r#"a[href="/ui/sign-in/owner"]"#).await;
    // To the provider and back, then on to the owner's queue, signed in: the session
    // cookie is SameSite=Strict, so this is where a redirect would have lost it.
    chrome.wait_for_path("/ui/approvals").await;
    let queue = chrome.text().await;
    assert!(queue.contains("alice@example.com"), "{queue}");
    assert!(queue.contains("Nothing is waiting"), "{queue}");

    // The agent's request is held while the page is open: the page shows it by itself.
    let (status, held) = crate::held::refund(&rig, r#"{"amount": 10}"#, None, None).await;
    assert_eq!(status, 403, "{held}");
    let approval = held["approval_id"].as_str().unwrap().to_string();
    chrome.wait_for_text("POST /tickets/42/refund").await;
    assert!(chrome.text().await.contains(&approval));
    accessible(&chrome, "an owner's approvals").await;
    chrome
        .click_through(&format!(
            r#"button[formaction="/ui/approvals/{approval}/approve"]"#
        ))
        .await;
    chrome.wait_for_path("/ui/approvals").await;
    let (status, done) =
        crate::held::refund(&rig, r#"{"amount": 10}"#, Some(&approval), None).await;
    assert_eq!(status, 200, "{done}");
    let shown = api(&rig, &format!("/v1/approvals/{approval}")).await;
    assert_eq!(shown["decided_by"], "alice@example.com", "{shown}");
}
