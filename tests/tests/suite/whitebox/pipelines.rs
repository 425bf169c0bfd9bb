//! Pipelines, checked in the stored SLA timers: a stage whose SLA is taken away cancels the
//! timers of the records in it (over HTTP only its due time is seen to go).

use std::time::Duration;

use trellis_tests::serde_json::{Value, json};
use trellis_tests::{Backend, on_both, spawn};

use crate::blackbox::pipelines::ticket;

/// A stage given an SLA times the records already in it, from then; a stage whose SLA is taken
/// away stops timing its records.
async fn an_sla_added_to_a_stage_times_the_records_already_in_it(backend: Backend) {
    let app = spawn(backend).await;
    let pipeline = |review_sla: Value, open_sla: Value| {
        let mut open = json!({"key": "open", "label": {"en": "Open"}});
        let mut review = json!({"key": "review", "label": {"en": "Review"}});
        if !open_sla.is_null() {
            open["sla"] = open_sla;
        }
        if !review_sla.is_null() {
            review["sla"] = review_sla;
        }
        json!({"stages": [open, review, {"key": "closed", "label": {"en": "Closed"}}],
               "transitions": [{"from": ["open"], "to": "review"}, {"from": ["review"], "to": "closed"}]})
    };
    app.create_app(json!({
        "name": "desk", "label": {"en": "Desk"},
        "entities": [{"name": "ticket", "label": {"en": "Ticket"}, "fields": [
            {"name": "title", "label": {"en": "Title"}, "type": "text", "required": true}],
            "pipeline": pipeline(Value::Null, json!({"days": 3}))}]
    }))
    .await;
    let mut ids = Vec::new();
    for t in ["one", "two", "three"] {
        let id = app.create("desk", "ticket", json!({"title": t})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        ids.push(id);
    }
    for id in &ids[..2] {
        app.post(
            &format!("/api/v1/data/desk/ticket/{id}/transition"),
            json!({"to": "review"}),
        )
        .await
        .expect(200);
        assert_eq!(ticket(&app, id).await["stage_due_at"], Value::Null);
    }
    let open_due = ticket(&app, &ids[2]).await["stage_due_at"].clone();
    assert!(open_due.is_string());

    // Review gets a 2-second SLA; open loses its 3 days.
    app.put(
        "/api/v1/apps/desk/entities/ticket/pipeline",
        pipeline(json!({"seconds": 2}), Value::Null),
    )
    .await
    .expect(200);
    for id in &ids[..2] {
        assert!(ticket(&app, id).await["stage_due_at"].is_string());
    }
    assert_eq!(ticket(&app, &ids[2]).await["stage_due_at"], Value::Null);
    let mut breached = Vec::new();
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        breached.clear();
        for id in &ids {
            if ticket(&app, id).await["stage_breached_at"].is_string() {
                breached.push(id.clone());
            }
        }
        if breached.len() == 2 {
            break;
        }
    }
    assert_eq!(
        breached,
        ids[..2].to_vec(),
        "the review records' new SLA timers did not fire"
    );
    // The open ticket's 3-day timer was cancelled, not left to fire.
    let timers = trellis_tests::trellis_store::timers::of_record(&app.engine().db.read, &ids[2])
        .await
        .unwrap();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].status, "cancelled");
}
on_both!(an_sla_added_to_a_stage_times_the_records_already_in_it);
