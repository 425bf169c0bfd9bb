//! Applies a plan of schema steps to entity tables, inside the caller's transaction. One ALTER per
//! change (SQLite's ALTER takes one), and type changes by rewriting values through Rust so both
//! databases convert alike and every value that cannot be carried over is counted first.

use sea_orm::sea_query::{Alias, ColumnDef, Expr, ExprTrait, Index, Query, Table, Value};
use sea_orm::{DbBackend, FromQueryResult};
use trellis_core::compile::{column_name, currency_column_name, table_name};
use trellis_core::def::{EntityDef, FieldDef};
use trellis_core::plan::{CompositeIndex, IndexKind, KeyColumn, Step, convert_value};
use trellis_core::{CompiledField, Error, Val};

use crate::error::StoreError;
use crate::values::{column_def, decode, to_sql};

fn index_name(entity: &EntityDef, column: &str) -> String {
    format!("ix_{}_{}", table_name(entity.storage_id()), column)
}

/// The name and column of an owner-keyed index.
fn owner_index(entity: &EntityDef, key: &KeyColumn) -> (String, String) {
    let column = key_column(key);
    (format!("ixo_{}_{}", table_name(entity.storage_id()), column), column)
}

fn key_column(key: &KeyColumn) -> String {
    match key {
        KeyColumn::System(c) => c.to_string(),
        KeyColumn::Field(f) => column_name(f.storage_id()),
    }
}

/// The name of a declared index, `ixc_` (or `ixco_` with the owner in front), the table and the
/// index's name; a hash of the latter where that would pass PostgreSQL's 63 bytes (a table named
/// from a 32-character storage id).
fn composite_index_name(entity: &EntityDef, index: &CompositeIndex) -> String {
    let prefix = if index.by_owner { "ixco" } else { "ixc" };
    let table = table_name(entity.storage_id());
    let name = format!("{prefix}_{table}_{}", index.def.name);
    if name.len() <= 63 {
        return name;
    }
    // FNV-1a: stable across builds and versions, unlike std's hasher.
    let hash = index.def.name.as_str().bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{prefix}_{table}_{:012x}", hash & 0xffff_ffff_ffff)
}

/// A unique index refused over rows that already share values: 409 saying what could not be
/// made unique.
fn shared_values(e: StoreError, what: String) -> StoreError {
    match e {
        StoreError::Unique(_) => StoreError::Domain(Error::conflict(format!("{what}: existing records share values"))),
        other => other,
    }
}

/// Drops an index of an entity's table, if it exists.
async fn drop_index<C: crate::Writes>(tx: &C, entity: &EntityDef, name: String) -> Result<(), StoreError> {
    let i = Index::drop()
        .name(name)
        .table(Alias::new(table_name(entity.storage_id())))
        .if_exists()
        .to_owned();
    tx.execute(&i).await?;
    Ok(())
}

fn field_columns(f: &FieldDef) -> Vec<ColumnDef> {
    let id = f.storage_id();
    let mut cols = vec![column_def(&column_name(id), f.field_type.storage_class())];
    if f.field_type == trellis_core::FieldType::Currency {
        cols.push(ColumnDef::new(currency_column_name(id)).text().null().to_owned());
    }
    cols
}

/// Applies the steps in order. `allow_data_loss` lets conversions drop values that do not fit.
pub async fn apply<C: crate::Writes>(tx: &C, steps: &[Step], allow_data_loss: bool) -> Result<(), StoreError> {
    for step in steps {
        apply_step(tx, step, allow_data_loss).await?;
    }
    Ok(())
}

async fn apply_step<C: crate::Writes>(tx: &C, step: &Step, allow_data_loss: bool) -> Result<(), StoreError> {
    match step {
        Step::CreateTable { entity } => {
            let table = table_name(entity.storage_id());
            let mut t = Table::create();
            t.table(Alias::new(table.clone()))
                .col(ColumnDef::new("id").text().not_null().primary_key())
                .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
                .col(ColumnDef::new("updated_at").timestamp_with_time_zone().not_null())
                .col(ColumnDef::new("created_by").text().null())
                .col(ColumnDef::new("owner").text().null())
                .col(ColumnDef::new("version").big_integer().not_null())
                .col(ColumnDef::new("stage").text().null())
                // Pipeline state, present on every table so a pipeline can be added without DDL.
                .col(ColumnDef::new("stage_entered_at").timestamp_with_time_zone().null())
                .col(ColumnDef::new("stage_due_at").timestamp_with_time_zone().null())
                .col(ColumnDef::new("stage_breached_at").timestamp_with_time_zone().null())
                .col(ColumnDef::new("pending_stage").text().null());
            for f in &entity.fields {
                for mut c in field_columns(f) {
                    t.col(&mut c);
                }
            }
            tx.execute(&t).await?;
            for sys in ["created_at", "updated_at", "owner", "stage"] {
                create_sort_index(tx, &table, &index_name(entity, sys), &[sys.to_string()], false, false).await?;
            }
        }
        Step::DropTable { entity } => {
            let t = Table::drop()
                .table(Alias::new(table_name(entity.storage_id())))
                .if_exists()
                .to_owned();
            tx.execute(&t).await?;
        }
        Step::AddColumn { entity, field } => {
            let table = table_name(entity.storage_id());
            for mut c in field_columns(field) {
                let alter = Table::alter()
                    .table(Alias::new(table.clone()))
                    .add_column(&mut c)
                    .to_owned();
                tx.execute(&alter).await?;
            }
            // Records that exist when a field with a default is added take the default.
            if let Some(d) = &field.default {
                let cf = CompiledField::compile(field);
                if let Ok(v) = cf.coerce(d)
                    && !v.is_null()
                {
                    let mut u = Query::update();
                    u.table(Alias::new(table.clone()));
                    for (c, sv) in crate::values::columns_of(&cf, &v) {
                        u.value(Alias::new(c), sv);
                    }
                    tx.execute(&u).await?;
                }
            }
        }
        Step::DropColumn { entity, field } => {
            let table = table_name(entity.storage_id());
            let mut cols = vec![column_name(field.storage_id())];
            if field.field_type == trellis_core::FieldType::Currency {
                cols.push(currency_column_name(field.storage_id()));
            }
            for c in cols {
                let alter = Table::alter()
                    .table(Alias::new(table.clone()))
                    .drop_column(Alias::new(c))
                    .to_owned();
                tx.execute(&alter).await?;
            }
        }
        Step::ConvertColumn { entity, from, to } => convert(tx, entity, from, to, allow_data_loss).await?,
        Step::DropIndex { entity, field } => {
            drop_index(tx, entity, index_name(entity, &column_name(field.storage_id()))).await?
        }
        Step::CreateIndex { entity, field, kind } => {
            let col = column_name(field.storage_id());
            let (table, name) = (table_name(entity.storage_id()), index_name(entity, &col));
            create_sort_index(tx, &table, &name, &[col], false, *kind == IndexKind::Unique)
                .await
                .map_err(|e| shared_values(e, format!("'{}' cannot be made unique", field.name)))?;
        }
        Step::CreateOwnerIndex { entity, key } => {
            let (name, column) = owner_index(entity, key);
            create_sort_index(tx, &table_name(entity.storage_id()), &name, &[column], true, false).await?;
        }
        Step::DropOwnerIndex { entity, key } => drop_index(tx, entity, owner_index(entity, key).0).await?,
        Step::CreateCompositeIndex { entity, index } => {
            let columns: Vec<String> = index.columns.iter().map(key_column).collect();
            create_sort_index(
                tx,
                &table_name(entity.storage_id()),
                &composite_index_name(entity, index),
                &columns,
                index.by_owner,
                index.unique(),
            )
            .await
            .map_err(|e| shared_values(e, format!("index '{}' cannot be unique", index.def.name)))?;
        }
        Step::DropCompositeIndex { entity, index } => {
            drop_index(tx, entity, composite_index_name(entity, index)).await?
        }
        Step::Metadata { .. } => {}
    }
    Ok(())
}

/// An index on (column, id) whose order is the list order of a sort on the column: empty values
/// smallest, id breaking ties, readable forwards (ascending) and backwards (descending). SQLite
/// indexes put NULL first by themselves; PostgreSQL needs `NULLS FIRST`, which sea-query cannot
/// say in an index, so that one statement is written here from names that derive from storage
/// ids and slugs (never from other user input). Several columns: that order for each in turn.
/// `by_owner`: the owner in front, the same order within each owner's rows. `unique`: no two
/// rows with the same values in all the columns (the id is in the index, so it is unique on the
/// columns alone: a unique constraint needs them without it). An index that exists already is
/// left as it is (`IF NOT EXISTS`).
async fn create_sort_index<C: crate::Writes>(
    tx: &C,
    table: &str,
    name: &str,
    columns: &[String],
    by_owner: bool,
    unique: bool,
) -> Result<(), StoreError> {
    if tx.get_database_backend() == DbBackend::Postgres {
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !(safe(table) && safe(name) && columns.iter().all(|c| safe(c))) {
            return Err(StoreError::Config(format!("unsafe identifier in index {name}")));
        }
        let owner = if by_owner { "\"owner\", " } else { "" };
        let keys: Vec<String> = columns.iter().map(|c| format!("\"{c}\" ASC NULLS FIRST")).collect();
        let (kind, id) = if unique {
            ("UNIQUE INDEX", "")
        } else {
            ("INDEX", ", \"id\" ASC")
        };
        tx.execute_unprepared(&format!(
            "CREATE {kind} IF NOT EXISTS \"{name}\" ON \"{table}\" ({owner}{}{id})",
            keys.join(", ")
        ))
        .await
        .map_err(StoreError::classify)?;
    } else {
        let mut i = Index::create();
        i.name(name.to_string())
            .table(Alias::new(table.to_string()))
            .if_not_exists();
        if by_owner {
            i.col(Alias::new("owner"));
        }
        for c in columns {
            i.col(Alias::new(c.clone()));
        }
        if unique {
            i.unique();
        } else {
            i.col(Alias::new("id"));
        }
        tx.execute(&i).await.map_err(StoreError::classify)?;
    }
    Ok(())
}

/// Creates the owner-keyed indexes an app's entities should have and may lack: those of apps
/// saved before owner-keyed indexes existed (a migration step; see `plan::owner_keyed`).
pub async fn ensure_owner_indexes<C: crate::Writes>(tx: &C, app: &trellis_core::def::AppDef) -> Result<(), StoreError> {
    for entity in &app.entities {
        if entity.id.is_none() {
            continue;
        }
        for key in trellis_core::plan::owner_keys(app, entity) {
            let (name, column) = owner_index(entity, &key);
            create_sort_index(tx, &table_name(entity.storage_id()), &name, &[column], true, false).await?;
        }
    }
    Ok(())
}

/// Rewrites a column from one field definition to another. Values that cannot be carried over
/// are counted; unless data loss is allowed, any such value refuses the whole change.
async fn convert<C: crate::Writes>(
    tx: &C,
    entity: &EntityDef,
    from: &FieldDef,
    to: &FieldDef,
    allow_data_loss: bool,
) -> Result<(), StoreError> {
    let table = table_name(entity.storage_id());
    let (old_c, new_c) = (CompiledField::compile(from), CompiledField::compile(to));
    let backend = tx.get_database_backend();

    // Aliased by the source type: a connection may hold a prepared statement of the same text
    // from an earlier conversion whose result type differed.
    let suffix = format!("__from_{}", from.field_type.as_str());
    let mut select = Query::select();
    select
        .column(Alias::new("id"))
        .expr_as(
            Expr::col(Alias::new(old_c.column.clone())),
            Alias::new(format!("{}{suffix}", old_c.column)),
        )
        .from(Alias::new(table.clone()));
    if let Some(cur) = &old_c.currency_column {
        select.expr_as(Expr::col(Alias::new(cur.clone())), Alias::new(format!("{cur}{suffix}")));
    }
    let rows = tx.query_all(&select).await?;
    let mut converted: Vec<(String, Val)> = Vec::with_capacity(rows.len());
    let mut lost: Vec<String> = Vec::new();
    for r in &rows {
        let id = crate::rows::Id::from_query_result(r, "")?.id;
        let old = decode(r, &old_c, backend, 1)?;
        match convert_value(&old_c, &new_c, &old) {
            Some(v) => converted.push((id, v)),
            None => {
                lost.push(id.clone());
                converted.push((id, Val::Null));
            }
        }
    }
    if !lost.is_empty() && !allow_data_loss {
        let sample: Vec<&str> = lost.iter().take(5).map(String::as_str).collect();
        return Err(StoreError::Domain(Error::conflict(format!(
            "changing '{}' from {} to {} would lose the values of {} record(s) (e.g. {}); pass allow_data_loss=true to change it anyway",
            to.name,
            from.field_type.as_str(),
            to.field_type.as_str(),
            lost.len(),
            sample.join(", ")
        ))));
    }

    let tmp = format!("{}_t", new_c.column);
    let mut tmp_def = column_def(&tmp, to.field_type.storage_class());
    tx.execute(
        &Table::alter()
            .table(Alias::new(table.clone()))
            .add_column(&mut tmp_def)
            .to_owned(),
    )
    .await?;
    let new_cur = new_c.currency_column.clone();
    if let (Some(cur), None) = (&new_cur, &old_c.currency_column) {
        let mut c = ColumnDef::new(cur.clone()).text().null().to_owned();
        tx.execute(
            &Table::alter()
                .table(Alias::new(table.clone()))
                .add_column(&mut c)
                .to_owned(),
        )
        .await?;
    }
    let class = to.field_type.storage_class();
    for (id, v) in &converted {
        if v.is_null() {
            continue;
        }
        let mut u = Query::update();
        u.table(Alias::new(table.clone()))
            .value(Alias::new(tmp.clone()), to_sql(v, class));
        if let (Some(cur), Val::Currency(_, code)) = (&new_cur, v) {
            u.value(Alias::new(cur.clone()), Value::String(Some(code.clone())));
        }
        u.and_where(Expr::col(Alias::new("id")).eq(id.clone()));
        tx.execute(&u).await?;
    }
    tx.execute(
        &Table::alter()
            .table(Alias::new(table.clone()))
            .drop_column(Alias::new(old_c.column.clone()))
            .to_owned(),
    )
    .await?;
    if let (Some(cur), None) = (&old_c.currency_column, &new_cur) {
        tx.execute(
            &Table::alter()
                .table(Alias::new(table.clone()))
                .drop_column(Alias::new(cur.clone()))
                .to_owned(),
        )
        .await?;
    }
    tx.execute(
        &Table::alter()
            .table(Alias::new(table.clone()))
            .rename_column(Alias::new(tmp), Alias::new(new_c.column.clone()))
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The records a destructive step deletes or empties, counted before it runs: every row of a
/// dropped table, the rows with a value of a dropped field. None for other steps.
pub async fn rows_touched<C: crate::Reads>(c: &C, step: &Step) -> Result<Option<i64>, StoreError> {
    let (entity, field) = match step {
        Step::DropTable { entity } => (entity, None),
        Step::DropColumn { entity, field } => (entity, Some(field)),
        _ => return Ok(None),
    };
    Ok(Some(values_held(c, entity, field).await?))
}

/// The rows of an entity's table, or with `field` the rows where it holds a value.
pub async fn values_held<C: crate::Reads>(
    c: &C,
    entity: &EntityDef,
    field: Option<&FieldDef>,
) -> Result<i64, StoreError> {
    let mut q = Query::select();
    q.expr_as(Expr::col(Alias::new("id")).count(), crate::rows::Count::alias())
        .from(Alias::new(table_name(entity.storage_id())));
    if let Some(f) = field {
        q.and_where(Expr::col(Alias::new(column_name(f.storage_id()))).is_not_null());
    }
    crate::rows::Count::of(c, &q).await
}
