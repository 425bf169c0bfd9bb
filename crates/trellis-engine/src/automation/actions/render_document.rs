//! The render-document action: a text template (Markdown or HTML) rendered over the input and
//! stored as a file of the tenant. It answers the file's metadata, which the job appends to the
//! trigger record's attachment field.
//!
//! The type comes from the rendered name's extension: `.html`/`.htm` → `text/html` (values
//! inserted into an HTML template are escaped), `.txt` → `text/plain`, `.md`/`.markdown` and any
//! other name → `text/markdown` (a name without one of these extensions gets `.md`).

use serde_json::{Value, json};

use crate::automation::{ActionCtx, ActionError, template};

/// Renders and stores the document, recorded in a write transaction of its own. Answers
/// `{id, name, size, content_type, sha256}` (an attachment value). Not inside another one (on
/// SQLite the writer would wait for itself): use [`run_in`] there.
pub async fn run(ctx: &ActionCtx<'_>, template: &str, name: &str) -> Result<Value, ActionError> {
    // Beginning or committing may fail like any database call: worth retrying.
    let db_failure = |e| ActionError::from(trellis_core::Error::from(trellis_store::StoreError::from(e)));
    let tx = ctx.engine.db.begin_write().await.map_err(db_failure)?;
    let file = run_in(&tx, ctx, template, name).await?;
    tx.commit().await.map_err(db_failure)?;
    Ok(file)
}

/// [`run`] recording the file on the caller's connection (the job's transaction).
pub async fn run_in<C: trellis_store::Writes>(
    conn: &C,
    ctx: &ActionCtx<'_>,
    template_text: &str,
    name: &str,
) -> Result<Value, ActionError> {
    let (name, content_type) = name_and_type(&template::render(name, ctx.input));
    let text = if content_type == "text/html" {
        template::render(template_text, &escape_html_values(ctx.input))
    } else {
        template::render(template_text, ctx.input)
    };
    if text.trim().is_empty() {
        return Err(ActionError::fatal("the document is empty"));
    }
    let f = ctx
        .engine
        .store_bytes(conn, ctx.tenant_id, &name, content_type, text.as_bytes(), None)
        .await?;
    Ok(json!({
        "id": f.id,
        "name": f.name,
        "size": f.size,
        "content_type": f.content_type,
        "sha256": f.sha256,
    }))
}

/// The file name to keep and its type.
pub fn name_and_type(rendered: &str) -> (String, &'static str) {
    let name = crate::files::sanitize_name(rendered);
    let lower = name.to_lowercase();
    let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" | "htm" => (name, "text/html"),
        "txt" => (name, "text/plain"),
        "md" | "markdown" => (name, "text/markdown"),
        _ if name == "file" => ("document.md".to_string(), "text/markdown"),
        _ => (format!("{name}.md"), "text/markdown"),
    }
}

/// The input with every string HTML-escaped (for HTML templates).
fn escape_html_values(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(escape_html(s)),
        Value::Array(a) => Value::Array(a.iter().map(escape_html_values).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), escape_html_values(v))).collect()),
        other => other.clone(),
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_follows_the_extension() {
        assert_eq!(name_and_type("spec.md"), ("spec.md".into(), "text/markdown"));
        assert_eq!(name_and_type("Spec.HTML"), ("Spec.HTML".into(), "text/html"));
        assert_eq!(name_and_type("notes.txt"), ("notes.txt".into(), "text/plain"));
        assert_eq!(
            name_and_type("交付规格 DL-1"),
            ("交付规格 DL-1.md".into(), "text/markdown")
        );
        assert_eq!(name_and_type("../x.pdf"), ("x.pdf.md".into(), "text/markdown"));
        assert_eq!(name_and_type(""), ("document.md".into(), "text/markdown"));
    }

    #[test]
    fn html_templates_escape_inserted_values() {
        let input = json!({"record": {"title": "<script>alert('x')</script> & co", "n": 3}});
        let out = template::render("<h1>{{record.title}}</h1>{{record.n}}", &escape_html_values(&input));
        assert_eq!(
            out,
            "<h1>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co</h1>3"
        );
    }
}

/// What `render_document` renders and where it keeps it.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderDocumentOptions {
    /// The document's text (a template; Markdown, HTML or plain text by the name's extension).
    pub template: String,
    /// An attachment field of the trigger's entity, which the document joins.
    pub field: trellis_core::Slug,
    /// The file's name (a template).
    pub name: String,
}

/// The render-document action.
pub struct RenderDocument;

#[async_trait::async_trait]
impl super::Action for RenderDocument {
    const KIND: &'static str = "render_document";
    type Options = RenderDocumentOptions;

    fn check(&self, o: &RenderDocumentOptions, site: &super::Site<'_>, errors: &mut Vec<trellis_core::FieldError>) {
        let ok = site
            .entity
            .and_then(|e| e.field(o.field.as_str()))
            .is_some_and(|f| f.field_type.as_str() == "attachment");
        if !ok {
            errors.push(site.problem(
                "field",
                trellis_core::error::FieldCode::Invalid,
                format!("'{}' is not an attachment field of the trigger's entity", o.field),
            ));
        }
    }

    fn texts(&self, o: &RenderDocumentOptions) -> Vec<(String, String)> {
        vec![
            ("template".to_string(), o.template.clone()),
            ("name".to_string(), o.name.clone()),
        ]
    }

    async fn dry_run(&self, o: &RenderDocumentOptions, run: &super::DryRun<'_>) -> Result<Value, trellis_core::Error> {
        Ok(json!({"name": template::render(&o.name, run.input), "content": template::render(&o.template, run.input)}))
    }

    async fn run_in(&self, o: &RenderDocumentOptions, run: &super::InTx<'_>) -> Result<Value, ActionError> {
        let a = run.action;
        let file = run_in(run.tx, a, &o.template, &o.name).await?;
        // The document joins the files the record's attachment field holds.
        let mut files: Vec<Value> = a.input["record"][o.field.as_str()]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|f| f.get("id").cloned())
                    .map(|id| json!({"id": id}))
                    .collect()
            })
            .unwrap_or_default();
        files.push(json!({"id": file["id"]}));
        let values = serde_json::Map::from_iter([(o.field.to_string(), Value::Array(files))]);
        super::records::set_fields(a.engine, run.tx, run.user, a.app, &values, a.input).await?;
        Ok(file)
    }
}
