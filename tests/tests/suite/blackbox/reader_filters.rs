//! Filters written for their reader (a shared view's, a grid's, a dashboard's): `$user.id`,
//! `$user.team` and `$user.teams` in the filter of a list, a count, an export or an aggregate
//! stand for the caller, their first team and all their teams (with those below them), as in a
//! role's scope. A user without a team matches none of them. Each test runs on SQLite and on
//! PostgreSQL.

use reqwest::Method;
use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

use super::permissions::{call, get, s, team};

fn desk() -> Value {
    json!({
        "name": "desk", "label": {"en": "Desk"},
        "entities": [{"name": "ticket", "label": {"en": "Ticket"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text"},
            {"name": "team", "label": {"en": "Team"}, "type": "text"}
        ]}],
        "roles": [{"name": "agent", "label": {"en": "Agent"}, "permissions": {
            "ticket": {"read": true, "create": true, "export": true}}}],
        "views": [
            {"name": "my_team", "label": {"en": "My team"}, "entity": "ticket", "type": "grid",
             "filter": {"field": "team", "op": "eq", "value": "$user.team"}},
            {"name": "my_teams", "label": {"en": "My teams"}, "entity": "ticket", "type": "grid",
             "filter": {"field": "team", "op": "in", "value": "$user.teams"}},
            {"name": "mine", "label": {"en": "Mine"}, "entity": "ticket", "type": "grid",
             "filter": {"field": "owner", "op": "eq", "value": "$user.id"}}
        ]
    })
}

/// A filter as a query parameter, percent-encoded.
fn enc(v: &Value) -> String {
    v.to_string()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn titles(r: &Value) -> Vec<String> {
    let mut v: Vec<String> = r["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a list: {r}"))
        .iter()
        .map(|x| s(&x["title"]).to_string())
        .collect();
    v.sort();
    v
}

async fn a_views_user_placeholders_stand_for_the_reader_and_their_teams(backend: Backend) {
    let app = spawn(backend).await;
    app.create_app(desk()).await;
    let ann = app.user("desk", "ann", Some("agent")).await;
    let olga = app.user("desk", "olga", Some("agent")).await;
    let nick = app.user("desk", "nick", Some("agent")).await;
    // support ⊃ support_east; ann is in support, olga in ops, nick in no team.
    let support = team(&app, "support", None, &[&ann.0]).await;
    let east = team(&app, "support_east", Some(&support), &[]).await;
    let ops = team(&app, "ops", None, &[&olga.0]).await;
    for (title, t, owner) in [("s1", &support, &ann.0), ("e1", &east, &olga.0), ("o1", &ops, &olga.0)] {
        app.create("desk", "ticket", json!({"title": title, "team": t, "owner": owner}))
            .await;
    }

    let def = app.get("/api/v1/apps/desk").await.expect(200).body;
    let view = |name: &str| {
        def["views"]
            .as_array()
            .expect("views")
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("view {name}"))["filter"]
            .clone()
    };
    // The view keeps its placeholders: each reader's list fills them in.
    assert_eq!(view("my_team")["value"], "$user.team");

    let cases: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        ("ann", &ann.1, "my_team", vec!["s1"]),
        ("ann", &ann.1, "my_teams", vec!["e1", "s1"]),
        ("ann", &ann.1, "mine", vec!["s1"]),
        ("olga", &olga.1, "my_team", vec!["o1"]),
        ("olga", &olga.1, "my_teams", vec!["o1"]),
        ("olga", &olga.1, "mine", vec!["e1", "o1"]),
        // No team: nothing, never everything.
        ("nick", &nick.1, "my_team", vec![]),
        ("nick", &nick.1, "my_teams", vec![]),
        ("nick", &nick.1, "mine", vec![]),
    ];
    for (who, token, name, want) in cases {
        let filter = view(name);
        let list = get(
            &app,
            token,
            &format!("/api/v1/data/desk/ticket?count=true&filter={}", enc(&filter)),
        )
        .await
        .expect(200)
        .body;
        assert_eq!(titles(&list), want, "{who}, view {name}: {list}");
        assert_eq!(list["total"], want.len(), "{who}, view {name}: the count");

        let groups = call(
            &app,
            token,
            Method::POST,
            "/api/v1/data/desk/ticket/aggregate",
            Some(json!({"group_by": ["team"], "filter": filter})),
        )
        .await
        .expect(200)
        .body;
        let counted: u64 = groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| g["measures"]["count"].as_u64().expect("count"))
            .sum();
        assert_eq!(counted, want.len() as u64, "{who}, view {name}: the aggregate {groups}");

        let csv = get(
            &app,
            token,
            &format!(
                "/api/v1/data/desk/ticket/export?format=csv&fields=title&filter={}",
                enc(&filter)
            ),
        )
        .await
        .expect(200)
        .text;
        let mut rows: Vec<&str> = csv
            .trim_start_matches('\u{feff}')
            .lines()
            .skip(1)
            .map(str::trim)
            .collect();
        rows.sort();
        assert_eq!(rows, want, "{who}, view {name}: the export {csv}");
    }

    // Placeholders mixed with other conditions, at any depth.
    let nested = json!({"and": [{"field": "title", "op": "starts_with", "value": "e"},
                                {"not": {"field": "team", "op": "nin", "value": "$user.teams"}}]});
    let list = get(
        &app,
        &ann.1,
        &format!("/api/v1/data/desk/ticket?filter={}", enc(&nested)),
    )
    .await
    .expect(200)
    .body;
    assert_eq!(titles(&list), vec!["e1"]);
}

on_both!(a_views_user_placeholders_stand_for_the_reader_and_their_teams);
