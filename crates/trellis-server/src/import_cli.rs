//! `trellis data import`: uploads a file, starts the import as the chosen user and runs it in
//! this process with a progress bar. An import interrupted (the process killed, the machine
//! down) goes on from its checkpoint with `--resume ID`, or on a running node by itself.

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use indicatif::{ProgressBar, ProgressStyle};
use trellis_engine::imports::{ImportOut, ImportPhase, ImportRequest, ImportStatus};
use trellis_engine::{Engine, TenantCtx};

fn detail(e: trellis_core::Error) -> anyhow::Error {
    let fields: Vec<String> = e.errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
    if fields.is_empty() {
        anyhow!("{}", e.detail)
    } else {
        anyhow!("{} ({})", e.detail, fields.join("; "))
    }
}

/// Uploads `file` as the caller; answers the file's id.
pub async fn upload(engine: &Engine, caller: &TenantCtx, file: &Path) -> anyhow::Result<String> {
    use tokio::io::AsyncReadExt;
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("import");
    let mut up = engine.begin_upload(caller, name, None).await.map_err(detail)?;
    let mut f = tokio::fs::File::open(file)
        .await
        .map_err(|e| anyhow!("cannot open {}: {e}", file.display()))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        up.write(&buf[..n]).await.map_err(detail)?;
    }
    Ok(engine.finish_upload(caller, up).await.map_err(detail)?.id)
}

/// Starts an import of an uploaded file.
pub async fn start(
    engine: &Engine,
    caller: &TenantCtx,
    app: &str,
    entity: &str,
    r: &ImportRequest,
) -> anyhow::Result<ImportOut> {
    engine.start_import(caller, app, entity, r).await.map_err(detail)
}

fn phase_word(p: ImportPhase) -> &'static str {
    match p {
        ImportPhase::Scan => "scanning",
        ImportPhase::Check => "checking",
        ImportPhase::Write => "writing",
    }
}

/// Runs an import here until it ends, showing its progress; answers it as it ended.
pub async fn run(engine: &Engine, caller: &TenantCtx, app: &str, entity: &str, id: &str) -> anyhow::Result<ImportOut> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:10} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)")
            .map_err(|e| anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    let worker = {
        let (engine, id) = (engine.clone(), id.to_string());
        tokio::spawn(async move {
            loop {
                match engine.run_import_by_id(&id).await {
                    Ok(true) => return Ok(()),
                    // Held by a worker that died: taken when its lease lapses.
                    Ok(false) => tokio::time::sleep(Duration::from_millis(500)).await,
                    Err(e) => return Err(e),
                }
            }
        })
    };
    let mut waited = false;
    let out = loop {
        let i = engine.get_import(caller, app, entity, id).await.map_err(detail)?;
        match i.status {
            ImportStatus::Done | ImportStatus::Failed | ImportStatus::Cancelled => break i,
            ImportStatus::Running if i.phase == ImportPhase::Scan || i.total.is_none() => {
                bar.set_message(phase_word(i.phase));
            }
            ImportStatus::Running | ImportStatus::Queued => {
                bar.set_length(i.total.unwrap_or(0).max(0) as u64);
                bar.set_position(i.done.max(0) as u64);
                bar.set_message(phase_word(i.phase));
            }
        }
        if worker.is_finished() && !waited {
            // One more read: the end is committed before the worker returns.
            waited = true;
        } else if worker.is_finished() {
            break engine.get_import(caller, app, entity, id).await.map_err(detail)?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    match worker.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(detail(e)),
        Err(e) => return Err(anyhow!("the import worker stopped: {e}")),
    }
    Ok(out)
}

/// What the import did, as lines for the terminal.
pub fn summary(i: &ImportOut) -> String {
    let mut s = format!(
        "Import {}: {} — {} rows, {} inserted, {} updated, {} refused{}",
        i.id,
        match i.status {
            ImportStatus::Done => "done",
            ImportStatus::Failed => "failed",
            ImportStatus::Cancelled => "cancelled",
            ImportStatus::Queued => "queued",
            ImportStatus::Running => "running",
        },
        i.total.unwrap_or(0),
        i.inserted,
        i.updated,
        i.failed,
        if i.dry_run { " (dry run: nothing written)" } else { "" }
    );
    if let Some(e) = &i.error {
        s.push_str(&format!("\n{}: {}", e.code, e.detail));
    }
    if i.failed > 0 {
        s.push_str(&format!(
            "\nRefused rows: GET /api/v1/data/{{app}}/{}/imports/{}/errors.csv",
            i.entity, i.id
        ));
    }
    s
}
