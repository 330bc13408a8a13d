//! The dashboard through the real binary, driven by an HTTP client that keeps cookies the
//! way a browser does: signing in with the admin token, pages that need a session, the
//! CSRF and same-origin checks that refuse a forged change, an approval decided on a page
//! that lets the agent's retry through, a kill after its preview that stops the agent at
//! the gateway, a finding suppressed on its page as the signed-in person, policy tests
//! that decide as the API does, the audit trail paged and its downloaded export verified
//! offline, upstreams shown without their secret, and the headers, script and secret rules
//! every page keeps.

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::gateway::{Rig, SECRET};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const PERSON: &str = "dana@example.com";
/// How an inventory row starts: a link to the identity's page.
const ROW: &str = r#"<td><a href="/ui/identities/"#;

/// One browser: its own cookie jar, redirects left to the test to follow.
pub(crate) struct Browser {
    client: reqwest::Client,
    api: String,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> Option<&str> {
        self.headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
    }

    /// The CSRF token in the page's forms.
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no CSRF field on the page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

impl Browser {
    pub(crate) fn new(api: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            api: api.to_string(),
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    /// Opens a path of the server, or a whole URL elsewhere (an identity provider).
    pub(crate) async fn get(&self, path: &str) -> Page {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.api)
        } else {
            path.to_string()
        };
        Self::page(self.client.get(url).send().await.unwrap()).await
    }

    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_with(path, fields, &[]).await
    }

    async fn post_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&'static str, &str)],
    ) -> Page {
        let mut request = self.client.post(format!("{}{path}", self.api)).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Self::page(request.send().await.unwrap()).await
    }

    async fn sign_in(&self, token: &str, person: &str) -> Page {
        self.post("/ui/sign-in", &[("person", person), ("token", token)])
            .await
    }

    /// Signs in and returns the session's CSRF token.
    async fn signed_in(api: &str, token: &str) -> (Self, String) {
        let browser = Self::new(api);
        let signed = browser.sign_in(token, PERSON).await;
        assert_eq!(signed.status, 303, "{}", signed.body);
        let overview = browser.get("/ui").await;
        assert_eq!(overview.status, 200, "{}", overview.body);
        let csrf = overview.csrf();
        (browser, csrf)
    }
}

async fn api_get(rig: &Rig, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", rig.server.api))
        .bearer_auth(&rig.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn agent_id(rig: &Rig) -> String {
    api_get(rig, "/v1/identities/agent:support-bot").await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn ticket(rig: &Rig) -> u16 {
    reqwest::Client::new()
        .get(rig.gateway("/crm/tickets/7"))
        .bearer_auth(&rig.token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Sends the refund the policy holds for approval, retrying under `approval` if given.
async fn held_refund(rig: &Rig, approval: Option<&str>) -> (u16, Value) {
    held_refund_of(rig, r#"{"amount": 10, "currency": "EUR"}"#, approval).await
}

async fn held_refund_of(rig: &Rig, body: &str, approval: Option<&str>) -> (u16, Value) {
    crate::held::refund(rig, body, approval, None).await
}

/// How many changes the audit trail records: every event but the gateway's own records
/// of the requests the test sends to see what still goes through.
async fn audit_changes(rig: &Rig) -> usize {
    api_get(rig, "/v1/audit/events?limit=1000").await["items"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|event| {
                    !event["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("gateway.")
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_sign_in_needs_the_admin_token_and_every_page_needs_a_session() {
    let rig = Rig::start("").await;
    let id = agent_id(&rig).await;
    let pages = [
        "/ui".to_string(),
        "/ui/identities".to_string(),
        format!("/ui/identities/{id}"),
        format!("/ui/identities/{id}/kill"),
        "/ui/approvals".to_string(),
        "/ui/findings".to_string(),
        "/ui/audit".to_string(),
        "/ui/upstreams".to_string(),
        "/ui/policies".to_string(),
    ];
    let browser = Browser::new(&rig.server.api);
    for path in &pages {
        let page = browser.get(path).await;
        assert_eq!(page.status, 303, "{path} answered without a session");
        assert_eq!(page.location(), Some("/ui/sign-in"), "{path}");
    }
    let before = audit_changes(&rig).await;

    let wrong = browser.sign_in("not-the-admin-token", PERSON).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.contains("not the admin token"), "{}", wrong.body);
    assert!(wrong.headers.get(SET_COOKIE).is_none());
    assert!(!wrong.body.contains("not-the-admin-token"));
    let nameless = browser.sign_in(&rig.admin, "   ").await;
    assert_eq!(nameless.status, 422, "{}", nameless.body);
    assert!(nameless.headers.get(SET_COOKIE).is_none());
    assert!(!nameless.body.contains(&rig.admin));
    // Even the right token is refused from another site's form.
    let cross_site = browser
        .post_with(
            "/ui/sign-in",
            &[("person", PERSON), ("token", rig.admin.as_str())],
            &[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(cross_site.status, 403, "{}", cross_site.body);
    assert!(cross_site.headers.get(SET_COOKIE).is_none());
    for path in &pages {
        assert_eq!(browser.get(path).await.status, 303, "{path}");
    }
    // A change posted without a session goes to the sign-in page and changes nothing.
    let forged = browser
        .post(&format!("/ui/identities/{id}/kill"), &[("csrf", "x")])
        .await;
    assert_eq!(forged.status, 303);
    assert_eq!(forged.location(), Some("/ui/sign-in"));
    assert_eq!(ticket(&rig).await, 200);
    assert_eq!(
        audit_changes(&rig).await,
        before,
        "a refused sign-in changed the trail"
    );

    let signed = browser.sign_in(&rig.admin, PERSON).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    assert_eq!(signed.location(), Some("/ui"));
    let cookie = signed
        .headers
        .get(SET_COOKIE)
        .and_then(|value| value.to_str().ok())
        .unwrap()
        .to_string();
    for attribute in ["warden_session=", "HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains(&rig.admin));
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP cannot keep a Secure cookie: {cookie}"
    );
    // Behind a TLS-terminating proxy the cookie is Secure.
    let proxied = Browser::new(&rig.server.api)
        .post_with(
            "/ui/sign-in",
            &[("person", PERSON), ("token", rig.admin.as_str())],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(proxied.status, 303);
    let secure = proxied.headers[SET_COOKIE].to_str().unwrap();
    assert!(secure.contains("; Secure"), "{secure}");
    for path in &pages {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            page.body.contains(PERSON),
            "{path} does not say who is signed in"
        );
    }

    let csrf = browser.get("/ui").await.csrf();
    let out = browser.post("/ui/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(out.location(), Some("/ui/sign-in"));
    for path in &pages {
        assert_eq!(browser.get(path).await.status, 303, "{path} after sign-out");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_a_change_without_this_sessions_csrf_token_or_from_another_site_is_refused() {
    let rig = Rig::start("").await;
    let id = agent_id(&rig).await;
    let (browser, csrf) = Browser::signed_in(&rig.server.api, &rig.admin).await;
    let (_, other_csrf) = Browser::signed_in(&rig.server.api, &rig.admin).await;
    assert_ne!(csrf, other_csrf);
    let kill = format!("/ui/identities/{id}/kill");
    let before = audit_changes(&rig).await;

    for fields in [
        vec![],
        vec![("csrf", "")],
        vec![("csrf", "wrong")],
        vec![("csrf", other_csrf.as_str())],
        vec![("csrf", csrf.as_str()), ("csrf", csrf.as_str())],
    ] {
        let refused = browser.post(&kill, &fields).await;
        assert_eq!(refused.status, 403, "{fields:?}: {}", refused.body);
        assert!(refused.body.contains("security token"), "{}", refused.body);
        assert_eq!(
            refused.headers["content-security-policy"], CSP,
            "a refusal without the policy"
        );
    }
    let origin = rig.server.api.clone();
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site"), ("origin", origin.as_str())],
    ] {
        let refused = browser
            .post_with(&kill, &[("csrf", csrf.as_str())], &headers)
            .await;
        assert_eq!(refused.status, 403, "{headers:?}: {}", refused.body);
        assert!(refused.body.contains("another"), "{}", refused.body);
    }
    let approve = browser
        .post(
            "/ui/approvals/0190a8e2-0000-7000-8000-000000000000/approve",
            &[("csrf", "wrong")],
        )
        .await;
    assert_eq!(approve.status, 403);

    // Nothing changed: the agent is active, its requests go through, the trail is as it was.
    assert_eq!(
        api_get(&rig, &format!("/v1/identities/{id}")).await["status"],
        "active"
    );
    assert_eq!(ticket(&rig).await, 200);
    let after = api_get(&rig, "/v1/audit/events?kind=kill.applied").await;
    assert_eq!(after["items"].as_array().map(Vec::len), Some(0), "{after}");
    assert_eq!(audit_changes(&rig).await, before);

    // The same browser's own page, from its own origin, is accepted.
    let accepted = browser
        .post_with(
            &kill,
            &[("csrf", csrf.as_str())],
            &[
                ("origin", origin.as_str()),
                ("sec-fetch-site", "same-origin"),
            ],
        )
        .await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    assert_eq!(
        api_get(&rig, &format!("/v1/identities/{id}")).await["status"],
        "suspended"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_an_approval_decided_on_the_dashboard_lets_the_agents_retry_through_as_that_person() {
    let rig = Rig::start("").await;
    let (status, held) = held_refund(&rig, None).await;
    assert_eq!(status, 403, "{held}");
    assert_eq!(held["error"], "approval_required");
    let approval = held["approval_id"].as_str().unwrap().to_string();

    let (browser, csrf) = Browser::signed_in(&rig.server.api, &rig.admin).await;
    let overview = browser.get("/ui").await;
    assert!(
        overview
            .body
            .contains(r#"<p class="figure" id="pending-approvals">1</p>"#),
        "{}",
        overview.body
    );
    let queue = browser.get("/ui/approvals").await;
    assert_eq!(queue.status, 200);
    // The exact request held: method, path, content type and the whole body, escaped.
    for shown in [
        approval.as_str(),
        "POST /tickets/42/refund",
        "Content-Type: application/json",
        "&#34;amount&#34;: 10, &#34;currency&#34;: &#34;EUR&#34;",
        "customer was double charged",
        "tickets.refund",
    ] {
        assert!(queue.body.contains(shown), "{shown} not on\n{}", queue.body);
    }
    assert!(!queue.body.contains(&rig.token));

    let decided = browser
        .post(
            &format!("/ui/approvals/{approval}/approve"),
            &[
                ("csrf", &csrf),
                ("comment", "refund checked with the customer"),
            ],
        )
        .await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    assert_eq!(decided.location(), Some("/ui/approvals"));
    let queue = browser.get("/ui/approvals").await;
    assert!(!queue.body.contains(&approval), "{}", queue.body);
    assert!(queue.body.contains("Nothing is waiting"));

    let (status, done) = held_refund(&rig, Some(&approval)).await;
    assert_eq!(status, 200, "{done}");
    let refunds: Vec<_> = rig
        .upstream
        .seen()
        .into_iter()
        .filter(|seen| seen.target.ends_with("/refund"))
        .collect();
    assert_eq!(refunds.len(), 1);

    let shown = api_get(&rig, &format!("/v1/approvals/{approval}")).await;
    assert_eq!(shown["decided_by"], PERSON);
    assert_eq!(shown["comment"], "refund checked with the customer");
    let granted = api_get(&rig, "/v1/audit/events?kind=approval.granted").await;
    let granted = &granted["items"][0];
    assert_eq!(granted["actor"]["type"], "admin");
    assert_eq!(granted["actor"]["name"], PERSON, "{granted}");
    assert_eq!(granted["approval_id"], approval.as_str());
    let allowed = rig
        .decisions("crm")
        .await
        .into_iter()
        .find(|event| event["decision"] == "allow" && event["approval_id"] == approval.as_str())
        .unwrap();
    assert_eq!(allowed["approved_by"], PERSON);

    // A denial from the dashboard, with its comment, refuses the agent's retry.
    let (status, held) = held_refund_of(&rig, r#"{"amount": 900}"#, None).await;
    assert_eq!(status, 403, "{held}");
    let second = held["approval_id"].as_str().unwrap().to_string();
    let denied = browser
        .post(
            &format!("/ui/approvals/{second}/deny"),
            &[("csrf", &csrf), ("comment", "too large without a ticket")],
        )
        .await;
    assert_eq!(denied.status, 303, "{}", denied.body);
    let (status, refused) = held_refund_of(&rig, r#"{"amount": 900}"#, Some(&second)).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (403, Some("approval_denied"))
    );
    let shown = api_get(&rig, &format!("/v1/approvals/{second}")).await;
    assert_eq!(shown["status"], "denied");
    assert_eq!(shown["decided_by"], PERSON);
    assert_eq!(shown["comment"], "too large without a ticket");

    // A decided approval cannot be decided again; the page says why.
    let again = browser
        .post(
            &format!("/ui/approvals/{approval}/deny"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("approval_decided"), "{}", again.body);
    assert_eq!(again.headers["content-security-policy"], CSP);
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_a_kill_after_its_preview_refuses_the_agents_next_gateway_request() {
    let rig = Rig::start("").await;
    let id = agent_id(&rig).await;
    assert_eq!(ticket(&rig).await, 200);
    let (browser, _) = Browser::signed_in(&rig.server.api, &rig.admin).await;

    let identity = browser.get(&format!("/ui/identities/{id}")).await;
    assert!(
        identity
            .body
            .contains(&format!(r#"href="/ui/identities/{id}/kill""#)),
        "{}",
        identity.body
    );
    // Its access graph, drawn: the agent, the upstream it reaches, an action allowed.
    let picture = identity
        .body
        .split_once("<svg")
        .and_then(|(_, rest)| rest.split_once("</svg>"))
        .map(|(svg, _)| svg.to_string())
        .unwrap_or_else(|| panic!("no access graph on\n{}", identity.body));
    for drawn in [
        ">agent:support-bot<",
        ">crm<",
        "GET /tickets/{id}",
        "#166534",
    ] {
        assert!(
            picture.contains(drawn),
            "{drawn} not in the picture:\n{picture}"
        );
    }
    let preview = browser.get(&format!("/ui/identities/{id}/kill")).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    for shown in [
        "agent:support-bot",
        "crm",
        "tickets.read",
        "Kill support-bot now",
    ] {
        assert!(
            preview.body.contains(shown),
            "{shown} not on\n{}",
            preview.body
        );
    }
    // The preview is a dry run: nothing has stopped yet.
    assert_eq!(ticket(&rig).await, 200);
    assert_eq!(
        api_get(&rig, &format!("/v1/identities/{id}")).await["status"],
        "active"
    );

    let confirmed = browser
        .post(
            &format!("/ui/identities/{id}/kill"),
            &[("csrf", &preview.csrf())],
        )
        .await;
    assert_eq!(confirmed.status, 303, "{}", confirmed.body);
    assert_eq!(
        confirmed.location(),
        Some(format!("/ui/identities/{id}").as_str())
    );
    let seen_before = rig.upstream.seen().len();
    assert_eq!(ticket(&rig).await, 401);
    assert_eq!(
        rig.upstream.seen().len(),
        seen_before,
        "a killed agent reached the upstream"
    );

    let identity = browser.get(&format!("/ui/identities/{id}")).await;
    assert!(
        identity
            .body
            .contains(r#"id="identity-status">suspended (killed)"#),
        "{}",
        identity.body
    );
    let kills = api_get(&rig, "/v1/audit/events?kind=kill.applied").await;
    assert_eq!(kills["items"][0]["actor"]["name"], PERSON, "{kills}");
    // Its events link to the audit page, filtered to what it did.
    assert!(
        identity
            .body
            .contains(r#"href="/ui/audit?actor=support-bot""#),
        "{}",
        identity.body
    );
    let by_agent = browser.get("/ui/audit?actor=support-bot").await;
    assert_eq!(by_agent.status, 200, "{}", by_agent.body);
    assert!(
        by_agent.body.contains("gateway.decision"),
        "{}",
        by_agent.body
    );
    let overview = browser.get("/ui").await;
    assert!(overview.body.contains("support-bot"), "{}", overview.body);

    let restored = browser
        .post(
            &format!("/ui/identities/{id}/restore"),
            &[("csrf", &identity.csrf())],
        )
        .await;
    assert_eq!(restored.status, 303, "{}", restored.body);
    assert_eq!(
        api_get(&rig, &format!("/v1/identities/{id}")).await["status"],
        "active"
    );
    let restores = api_get(&rig, "/v1/audit/events?kind=kill.restored").await;
    assert_eq!(restores["items"][0]["actor"]["name"], PERSON, "{restores}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_inventory_filters_and_pages_the_way_the_api_does() {
    let rig = Rig::start("").await;
    let client = reqwest::Client::new();
    for n in 0..55 {
        let created = client
            .post(format!("{}/v1/identities", rig.server.api))
            .bearer_auth(&rig.admin)
            .json(&serde_json::json!({
                "kind": "service_account",
                "name": format!("batch-{n:02}"),
                "owner": "alice@example.com",
                "environment": "dev",
                "labels": if n % 11 == 0 { serde_json::json!({"team": "payments"}) } else { serde_json::json!({}) },
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let (browser, _) = Browser::signed_in(&rig.server.api, &rig.admin).await;

    // Label and source filters reach the API as they are.
    let labelled = browser
        .get("/ui/identities?label=team%3Dpayments&source=issued")
        .await;
    assert_eq!(labelled.status, 200, "{}", labelled.body);
    assert_eq!(labelled.body.matches(ROW).count(), 5, "{}", labelled.body);
    assert!(labelled.body.contains("batch-11") && !labelled.body.contains("batch-12"));
    assert!(
        labelled.body.contains(r#"value="team=payments""#),
        "{}",
        labelled.body
    );
    let imported = browser.get("/ui/identities?source=imported").await;
    assert!(
        imported.body.contains("No identities match."),
        "{}",
        imported.body
    );

    let agents = browser.get("/ui/identities?kind=agent&name=&owner=").await;
    assert_eq!(agents.status, 200, "{}", agents.body);
    assert!(agents.body.contains("support-bot"));
    assert!(!agents.body.contains("batch-00"));

    let named = browser.get("/ui/identities?name=batch-07").await;
    assert!(named.body.contains("batch-07") && !named.body.contains("batch-08"));

    let first = browser
        .get("/ui/identities?kind=service_account&environment=dev")
        .await;
    assert_eq!(first.body.matches(ROW).count(), 50, "{}", first.body);
    assert!(first.body.contains("batch-00") && !first.body.contains("batch-50"));
    let marker = r#"<a href=""#;
    let next = first
        .body
        .split(marker)
        .find(|rest| rest.contains(r#"rel="next""#) && rest.starts_with("/ui/identities?"))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no next page link:\n{}", first.body))
        // The link is HTML-escaped in the page, as every attribute is.
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(
        next.contains("kind=service_account") && next.contains("cursor="),
        "{next}"
    );
    let second = browser.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body.matches(ROW).count(), 5, "{}", second.body);
    assert!(second.body.contains("batch-54") && !second.body.contains("batch-00"));
    assert!(!second.body.contains(r#"rel="next""#));

    let bad = browser.get("/ui/identities?kind=robot").await;
    assert!(bad.status == 400 || bad.status == 422, "{}", bad.status);
    assert!(bad.body.contains("`robot` is not one of"), "{}", bad.body);
    let unknown = browser.get("/ui/identities?colour=red").await;
    assert_eq!(unknown.status, 400);
    assert!(unknown.body.contains("colour"), "{}", unknown.body);
    let missing = browser
        .get("/ui/identities/0190a8e2-0000-7000-8000-000000000000")
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_every_page_carries_the_policy_runs_no_inline_script_and_shows_no_secret() {
    let rig = Rig::start("").await;
    let id = agent_id(&rig).await;
    let (_, held) = held_refund(&rig, None).await;
    assert_eq!(held["error"], "approval_required");
    let (browser, _) = Browser::signed_in(&rig.server.api, &rig.admin).await;
    let anonymous = Browser::new(&rig.server.api);

    let mut pages = Vec::new();
    for path in [
        "/ui".to_string(),
        "/ui/identities".to_string(),
        format!("/ui/identities/{id}"),
        format!("/ui/identities/{id}/kill"),
        "/ui/approvals".to_string(),
        "/ui/findings?status=any".to_string(),
        "/ui/audit".to_string(),
        "/ui/upstreams".to_string(),
        "/ui/policies".to_string(),
        "/ui/no-such-page".to_string(),
        "/ui/identities?kind=robot".to_string(),
    ] {
        pages.push((path.clone(), browser.get(&path).await));
    }
    pages.push(("sign-in".into(), anonymous.get("/ui/sign-in").await));
    pages.push((
        "wrong sign-in".into(),
        anonymous.sign_in("wrong", PERSON).await,
    ));
    pages.push(("redirect".into(), anonymous.get("/ui").await));

    let secrets = [
        rig.client_secret.as_str(),
        rig.token.as_str(),
        rig.admin.as_str(),
        SECRET,
    ];
    for (path, page) in &pages {
        assert_eq!(page.headers["content-security-policy"], CSP, "{path}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(page.headers["referrer-policy"], "same-origin", "{path}");
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        // Every script is Warden's own file, loaded by address, with nothing inline.
        for script in page.body.split("<script").skip(1) {
            assert!(
                script.starts_with(r#" src="/ui/assets/warden.js" defer></script>"#),
                "{path} has an inline script: <script{script}"
            );
        }
        let lower = page.body.to_ascii_lowercase();
        for inline in [
            " style=",
            " onclick=",
            " onload=",
            " onsubmit=",
            "javascript:",
        ] {
            assert!(!lower.contains(inline), "{path} has inline {inline}");
        }
        for secret in secrets {
            assert!(!page.body.contains(secret), "{path} shows a secret");
        }
    }
    // The identity page lists the agent's credential by id and state, never its secret.
    let identity = &pages[2].1;
    let listed = api_get(&rig, &format!("/v1/identities/{id}/credentials")).await;
    let credential = listed["items"][0]["id"].as_str().unwrap();
    assert!(identity.body.contains(credential), "{}", identity.body);
    assert!(identity.body.contains(r#"class="status-active">active"#));

    for (asset, content_type) in [
        ("/ui/assets/warden.js", "text/javascript; charset=utf-8"),
        ("/ui/assets/warden.css", "text/css; charset=utf-8"),
    ] {
        let served = anonymous.get(asset).await;
        assert_eq!(served.status, 200, "{asset}");
        assert_eq!(served.headers["content-type"], content_type);
        assert_eq!(served.headers["content-security-policy"], CSP);
        assert!(!served.body.is_empty());
    }
}

/// The ids of the findings listed on a findings page, in order.
fn finding_ids(body: &str) -> Vec<String> {
    body.split(r#"<tr id="finding-"#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// The value of the first field named `name` on a page.
fn field_value(body: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}""#);
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} on the page:\n{body}"));
    let value = r#"value=""#;
    let from = body[start..].find(value).unwrap() + start + value.len();
    let end = body[from..].find('"').unwrap() + from;
    body[from..end].to_string()
}

fn fixture(relative: &str) -> String {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../warden-import/tests/fixtures")
        .join(relative)
        .display()
        .to_string()
}

/// A rig with the imported inventory's findings.
pub(crate) async fn rig_with_findings() -> Rig {
    let rig = Rig::start("").await;
    rig.server
        .cli(
            &rig.admin,
            &["owner", "add", "payments@example.com", "--name", "Payments"],
        )
        .ok();
    rig.server
        .cli(&rig.admin, &["import", &fixture("csv/inventory.csv")])
        .ok();
    rig
}

async fn api_findings(rig: &Rig, query: &str) -> Vec<String> {
    let query = if query.is_empty() {
        "limit=50".to_string()
    } else {
        format!("{query}&limit=50")
    };
    api_get(rig, &format!("/v1/findings?{query}")).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_findings_filter_as_the_api_does_and_a_suppression_made_on_the_page_is_the_persons() {
    let rig = rig_with_findings().await;
    let (browser, csrf) = Browser::signed_in(&rig.server.api, &rig.admin).await;

    let page = browser.get("/ui/findings").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let open = api_findings(&rig, "status=open").await;
    assert!(!open.is_empty(), "the import raised no findings");
    assert_eq!(
        finding_ids(&page.body),
        open,
        "the page opens on the open findings"
    );
    for (page_query, api_query) in [
        ("owasp=NHI7", "owasp=NHI7&status=open"),
        ("severity=high&owasp=", "severity=high&status=open"),
        ("status=any", ""),
        (
            "identity=stripe-payouts&status=any",
            "identity=stripe-payouts",
        ),
    ] {
        let page = browser.get(&format!("/ui/findings?{page_query}")).await;
        assert_eq!(page.status, 200, "{page_query}: {}", page.body);
        assert_eq!(
            finding_ids(&page.body),
            api_findings(&rig, api_query).await,
            "{page_query}"
        );
    }
    let bad = browser.get("/ui/findings?severity=urgent").await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("`urgent` is not one of"), "{}", bad.body);

    // The overview links its risks to the findings page.
    let overview = browser.get("/ui").await;
    assert!(
        overview.body.contains(r#"href="/ui/findings?owasp=NHI"#),
        "{}",
        overview.body
    );

    let target = open[0].clone();
    let other = open[1].clone();
    let until = field_value(&page.body, "until");
    assert_eq!(until.len(), 10, "{until}");
    let before = audit_changes(&rig).await;

    // Bad input is refused with a message and changes nothing.
    for (fields, status, message) in [
        (
            vec![("reason", "  "), ("until", until.as_str())],
            422,
            "say why",
        ),
        (
            vec![("reason", "accepted"), ("until", "2099-01-01")],
            422,
            "366 days",
        ),
        (
            vec![("reason", "accepted"), ("until", "soon")],
            422,
            "YYYY-MM-DD",
        ),
        (
            vec![("reason", "accepted"), ("until", "2020-01-01")],
            422,
            "in the future",
        ),
    ] {
        let mut fields = fields;
        fields.push(("csrf", csrf.as_str()));
        let refused = browser
            .post(&format!("/ui/findings/{other}/suppress"), &fields)
            .await;
        assert_eq!(refused.status, status, "{fields:?}: {}", refused.body);
        assert!(
            refused.body.contains(message),
            "{message}: {}",
            refused.body
        );
    }
    let forged = browser
        .post(
            &format!("/ui/findings/{other}/suppress"),
            &[
                ("reason", "accepted"),
                ("until", until.as_str()),
                ("csrf", "wrong"),
            ],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(
        api_get(&rig, &format!("/v1/findings/{other}")).await["status"],
        "open"
    );
    assert_eq!(
        audit_changes(&rig).await,
        before,
        "a refusal changed the trail"
    );

    let suppressed = browser
        .post(
            &format!("/ui/findings/{target}/suppress"),
            &[
                ("csrf", csrf.as_str()),
                ("reason", "break-glass key, reviewed"),
                ("until", until.as_str()),
                ("back", "owasp=NHI7&next=https://evil.example"),
            ],
        )
        .await;
    assert_eq!(suppressed.status, 303, "{}", suppressed.body);
    assert_eq!(suppressed.location(), Some("/ui/findings?owasp=NHI7"));
    let shown = api_get(&rig, &format!("/v1/findings/{target}")).await;
    assert_eq!(shown["status"], "suppressed", "{shown}");
    assert_eq!(shown["suppression"]["by"], PERSON, "{shown}");
    assert_eq!(shown["suppression"]["reason"], "break-glass key, reviewed");
    assert!(
        shown["suppression"]["until"]
            .as_str()
            .is_some_and(|end| end.starts_with(&format!("{until}T23:59:59"))),
        "{shown}"
    );
    let events = api_get(&rig, "/v1/audit/events?kind=finding.suppressed").await;
    let event = &events["items"][0];
    assert_eq!(event["actor"]["type"], "admin", "{event}");
    assert_eq!(event["actor"]["name"], PERSON, "{event}");
    let open_now = browser.get("/ui/findings").await;
    assert!(!finding_ids(&open_now.body).contains(&target));

    // Suppressed, it is listed as such with who and why, and can be lifted.
    let listed = browser.get("/ui/findings?status=suppressed").await;
    assert_eq!(
        finding_ids(&listed.body),
        std::slice::from_ref(&target),
        "{}",
        listed.body
    );
    assert!(listed.body.contains("break-glass key, reviewed"));
    assert!(
        listed
            .body
            .contains(&format!("/ui/findings/{target}/unsuppress"))
    );
    let lifted = browser
        .post(
            &format!("/ui/findings/{target}/unsuppress"),
            &[("csrf", csrf.as_str()), ("back", "status=suppressed")],
        )
        .await;
    assert_eq!(lifted.status, 303, "{}", lifted.body);
    assert_eq!(lifted.location(), Some("/ui/findings?status=suppressed"));
    assert_eq!(
        api_get(&rig, &format!("/v1/findings/{target}")).await["status"],
        "open"
    );
    let lifts = api_get(&rig, "/v1/audit/events?kind=finding.unsuppressed").await;
    assert_eq!(lifts["items"][0]["actor"]["name"], PERSON, "{lifts}");
}

async fn api_policy_test(rig: &Rig, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{}/v1/policies/test", rig.server.api))
        .bearer_auth(&rig.admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn shown_text(body: &str, id: &str) -> String {
    let marker = format!(r#"id="{id}">"#);
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} on the page:\n{body}"))
        + marker.len();
    let end = body[start..].find('<').unwrap() + start;
    body[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_a_policy_test_on_the_page_decides_as_the_api_and_changes_nothing() {
    let rig = Rig::start("").await;
    let (browser, csrf) = Browser::signed_in(&rig.server.api, &rig.admin).await;
    let page = browser.get("/ui/policies").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        "refunds need a human",
        "Action::&#34;tickets.refund&#34;",
        r#"<option value="crm">crm</option>"#,
    ] {
        assert!(page.body.contains(shown), "{shown} not on\n{}", page.body);
    }
    let before = audit_changes(&rig).await;

    for (fields, decision, reason) in [
        (
            vec![("method", "GET"), ("path", "/tickets/7")],
            "allow",
            "permit",
        ),
        (
            vec![("method", "POST"), ("path", "/tickets/42/refund")],
            "hold",
            "approval_required",
        ),
        (
            vec![
                ("method", "POST"),
                ("path", "/tickets/42/refund"),
                ("approved", "on"),
            ],
            "allow",
            "approved",
        ),
        (
            vec![("action", "admin.read"), ("resource", "Admin::root")],
            "deny",
            "no_permit",
        ),
    ] {
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("agent", "support-bot"),
            ("upstream", "crm"),
            ("tool", ""),
        ];
        form.extend(fields.iter().copied());
        let decided = browser.post("/ui/policies/test", &form).await;
        assert_eq!(decided.status, 200, "{fields:?}: {}", decided.body);
        assert_eq!(
            shown_text(&decided.body, "decision"),
            decision,
            "{fields:?}"
        );
        assert_eq!(shown_text(&decided.body, "decision-reason"), reason);
        let mut body = serde_json::json!({"agent": "support-bot", "upstream": "crm"});
        for (key, value) in &fields {
            body[*key] = if *key == "approved" {
                Value::Bool(true)
            } else {
                Value::String((*value).to_string())
            };
        }
        let api = api_policy_test(&rig, body).await;
        assert_eq!(api["decision"], decision, "{api}");
        let policies: Vec<&str> = api["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        let expected = if policies.is_empty() {
            "none".to_string()
        } else {
            policies.join(", ")
        };
        assert_eq!(shown_text(&decided.body, "decision-policies"), expected);
        // The form comes back as it was sent.
        assert!(decided.body.contains(r#"value="support-bot""#));
    }

    for (fields, status, message) in [
        (
            vec![
                ("agent", "nobody"),
                ("method", "GET"),
                ("path", "/tickets/7"),
            ],
            404,
            "nobody",
        ),
        (
            vec![
                ("agent", "support-bot"),
                ("method", "GET"),
                ("path", "/nowhere"),
            ],
            422,
            "matches no route",
        ),
        (
            vec![("agent", "support-bot"), ("method", "GET")],
            422,
            "give either method and path",
        ),
        (vec![("agent", ""), ("tool", "x")], 422, "name the identity"),
    ] {
        let mut form = vec![("csrf", csrf.as_str()), ("upstream", "crm")];
        form.extend(fields.iter().copied());
        let refused = browser.post("/ui/policies/test", &form).await;
        assert_eq!(refused.status, status, "{fields:?}: {}", refused.body);
        assert!(
            refused.body.contains(r#"id="policy-problem""#),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains(message),
            "{message}: {}",
            refused.body
        );
        assert!(!refused.body.contains(r#"id="policy-verdict""#));
    }
    let forged = browser
        .post(
            "/ui/policies/test",
            &[("agent", "support-bot"), ("upstream", "crm"), ("csrf", "x")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert_eq!(
        audit_changes(&rig).await,
        before,
        "a policy test changed the trail"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_the_upstreams_page_shows_kind_and_routes_and_never_the_secret() {
    let rig = Rig::start("").await;
    let (browser, _) = Browser::signed_in(&rig.server.api, &rig.admin).await;
    let page = browser.get("/ui/upstreams").await;
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        r#"id="upstream-crm""#,
        "<dd>http</dd>",
        rig.upstream.url().as_str(),
        "header:X-Api-Key",
        "set (version 1), never shown",
        "tickets.refund",
        "/tickets/{id}/refund",
    ] {
        assert!(page.body.contains(shown), "{shown} not on\n{}", page.body);
    }
    assert!(
        !page.body.contains(SECRET),
        "the upstream secret is on the page"
    );
    assert!(!page.body.contains(&rig.admin));
    assert!(
        page.body
            .contains(r#"href="/ui/upstreams" aria-current="page""#)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_the_audit_page_shows_what_the_api_did_pages_by_sequence_and_exports_a_verifiable_trail()
{
    let rig = Rig::start("").await;
    let client = reqwest::Client::new();
    for n in 0..55 {
        let created = client
            .post(format!("{}/v1/identities", rig.server.api))
            .bearer_auth(&rig.admin)
            .json(&serde_json::json!({
                "kind": "service_account",
                "name": format!("probe-{n:02}"),
                "owner": "alice@example.com",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }
    let anonymous = Browser::new(&rig.server.api);
    for path in ["/ui/audit", "/ui/audit/export", "/ui/audit/public-key"] {
        assert_eq!(anonymous.get(path).await.status, 303, "{path}");
    }
    let (browser, _) = Browser::signed_in(&rig.server.api, &rig.admin).await;

    let newest = browser.get("/ui/audit").await;
    assert_eq!(newest.status, 200, "{}", newest.body);
    assert!(
        newest.body.contains(r#"id="audit-chain">Intact"#),
        "{}",
        newest.body
    );
    assert!(newest.body.contains("identity.created"));
    assert!(newest.body.contains("probe-54"), "{}", newest.body);
    assert!(!newest.body.contains(r#"rel="next""#));

    let filtered = browser
        .get("/ui/audit?kind=identity.created&actor=&order=oldest")
        .await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    let api = api_get(&rig, "/v1/audit/events?kind=identity.created&limit=50").await;
    let api = api["items"].as_array().unwrap();
    assert_eq!(api.len(), 50);
    assert_eq!(filtered.body.matches(r#"<tr id="event-"#).count(), 50);
    let last = api[49]["sequence"].as_u64().unwrap();
    // Links are HTML-escaped in the page, as every attribute is.
    let next = format!("/ui/audit?kind=identity.created&order=oldest&after={last}");
    assert!(
        filtered.body.replace("&#38;", "&").contains(&next),
        "{}",
        filtered.body
    );
    let second = browser.get(&next).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let rest = api_get(
        &rig,
        &format!("/v1/audit/events?kind=identity.created&after={last}&limit=50"),
    )
    .await;
    let rest = rest["items"].as_array().unwrap();
    assert!(!rest.is_empty());
    assert_eq!(second.body.matches(r#"<tr id="event-"#).count(), rest.len());
    for event in rest {
        let row = format!(r#"<tr id="event-{}">"#, event["sequence"]);
        assert!(second.body.contains(&row), "{row}");
    }
    assert!(second.body.contains("probe-54"));

    let none = browser.get("/ui/audit?kind=kill.applied").await;
    assert!(none.body.contains(r#"id="events-empty""#), "{}", none.body);
    for (query, message) in [
        ("decision=maybe", "`decision` must be allow, deny or hold"),
        ("since=yesterday", "`since`"),
        ("after=5", "oldest first"),
    ] {
        let bad = browser.get(&format!("/ui/audit?{query}")).await;
        assert!(
            bad.status == 400 || bad.status == 422,
            "{query}: {}",
            bad.status
        );
        assert!(bad.body.contains(message), "{query}: {}", bad.body);
    }

    // The export and the key download from the page, and verify offline.
    let export = browser.get("/ui/audit/export?format=jsonl").await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(
        export.headers["content-disposition"],
        r#"attachment; filename="warden-audit.jsonl""#
    );
    assert!(export.body.contains("probe-54"));
    let key = browser.get("/ui/audit/public-key").await;
    assert_eq!(key.status, 200);
    assert!(
        key.body.starts_with("-----BEGIN PUBLIC KEY-----"),
        "{}",
        key.body
    );
    let export_file = rig.dir.path().join("dashboard-export.jsonl");
    let key_file = rig.dir.path().join("dashboard-key.pem");
    std::fs::write(&export_file, &export.body).unwrap();
    std::fs::write(&key_file, &key.body).unwrap();
    let verified = crate::harness::warden()
        .args(["audit", "verify", "--export"])
        .arg(&export_file)
        .arg("--public-key")
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(String::from_utf8_lossy(&verified.stdout).contains("export intact"));
    let ocsf = browser.get("/ui/audit/export?format=ocsf").await;
    assert_eq!(ocsf.status, 200);
    assert!(
        ocsf.body
            .lines()
            .all(|line| serde_json::from_str::<Value>(line)
                .is_ok_and(|record| record["class_uid"].is_number())),
        "{}",
        ocsf.body
    );
    let bad = browser.get("/ui/audit/export?format=csv").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.headers.get("content-disposition").is_none());
}

/// Reads a Server-Sent Events stream until an event named `name` arrives, returning its
/// data, or `None` after `within`.
async fn next_event(
    stream: &mut reqwest::Response,
    seen: &mut String,
    name: &str,
    within: std::time::Duration,
) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let marker = format!("event: {name}\ndata: ");
        if let Some(at) = seen.find(&marker) {
            let rest = &seen[at + marker.len()..];
            if let Some(end) = rest.find('\n') {
                let data = rest[..end].to_string();
                *seen = rest[end..].to_string();
                return Some(data);
            }
        }
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .ok()?;
        seen.push_str(&String::from_utf8_lossy(&chunk.ok()??));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_the_approval_queue_hears_of_a_held_request_and_its_decision_as_they_happen() {
    let rig = Rig::start("").await;
    let (browser, csrf) = Browser::signed_in(&rig.server.api, &rig.admin).await;
    let mut stream = browser
        .client
        .get(format!("{}/ui/approvals/live", rig.server.api))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut seen = String::new();
    let second = std::time::Duration::from_secs(1);
    assert_eq!(
        next_event(&mut stream, &mut seen, "ready", 5 * second).await,
        Some("0".into())
    );

    let (status, held) = held_refund(&rig, None).await;
    assert_eq!(status, 403, "{held}");
    let approval = held["approval_id"].as_str().unwrap().to_string();
    assert_eq!(
        next_event(&mut stream, &mut seen, "changed", 5 * second).await,
        Some("1".into()),
        "a held request is heard within a few seconds: {seen}"
    );
    let decided = browser
        .post(
            &format!("/ui/approvals/{approval}/deny"),
            &[("csrf", &csrf), ("comment", "no")],
        )
        .await;
    assert_eq!(decided.status, 303, "{}", decided.body);
    assert_eq!(
        next_event(&mut stream, &mut seen, "changed", 5 * second).await,
        Some("0".into()),
        "{seen}"
    );
    // What the stream says is a count: never the request itself.
    assert!(
        !seen.contains("refund") && !seen.contains(&approval),
        "{seen}"
    );

    // The stream ends with the session.
    let out = browser.post("/ui/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    let ended = tokio::time::timeout(5 * second, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its session");
    let refused = browser.get("/ui/approvals/live").await;
    assert_eq!(refused.status, 303, "no stream without a session");
}
