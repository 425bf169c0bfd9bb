//! Rollup fields: an aggregate over the records that point at a record (a customer's total won
//! amount), recomputed in the same transaction as every write that can change it.

use std::collections::{BTreeMap, BTreeSet};
use trellis_core::error::FieldCode;

use trellis_core::compile::{RollupDep, rollup_value};
use trellis_core::def::{AppDef, RollupFn};
use trellis_core::{CompiledApp, CompiledEntity, CompiledField, Error, FieldError, Val};
use trellis_store::records::{self, Row};

/// The value a rollup field has while nothing points at its record.
pub fn empty_value(func: RollupFn, field: &CompiledField) -> Val {
    match func {
        RollupFn::Count | RollupFn::Sum => rollup_value(func, field, 0, 0, None, None, None).unwrap_or(Val::Null),
        _ => Val::Null,
    }
}

/// The rollup fields of an entity with their value for a record nothing points at yet.
pub fn initial_values(entity: &CompiledEntity) -> Vec<(&CompiledField, Val)> {
    entity
        .def
        .fields
        .iter()
        .filter_map(|fd| {
            let r = fd.rollup.as_ref()?;
            let f = entity.column(fd.name.as_str())?;
            Some((f, empty_value(r.func, f)))
        })
        .collect()
}

fn parent_of(values: &[(&CompiledField, Val)], via: &str) -> Option<String> {
    values.iter().find(|(f, _)| f.name == via).and_then(|(_, v)| match v {
        Val::Text(id) => Some(id.clone()),
        _ => None,
    })
}

fn stored_parent(entity: &CompiledEntity, row: &Row, via: &str) -> Option<String> {
    match row.get(entity, via) {
        Some(Val::Text(id)) => Some(id.clone()),
        _ => None,
    }
}

/// Recomputes one rollup of one parent record.
async fn refresh<C: trellis_store::Writes>(
    conn: &C,
    app: &CompiledApp,
    child: &CompiledEntity,
    dep: &RollupDep,
    parent_id: &str,
) -> Result<(), Error> {
    let parent = app
        .entity(&dep.parent)
        .ok_or_else(|| Error::internal("rollup parent vanished"))?;
    let target = parent
        .column(&dep.parent_field)
        .ok_or_else(|| Error::internal("rollup field vanished"))?;
    let via = child
        .column(&dep.via)
        .ok_or_else(|| Error::internal("rollup relation vanished"))?;
    let field = dep.field.as_deref().and_then(|f| child.column(f));
    let a = records::aggregate_for(
        conn,
        &child.table,
        &via.column,
        field.map(|f| f.column.as_str()),
        dep.filter.as_ref(),
        parent_id,
    )
    .await?;
    let scale = field.map_or(0, |f| f.scale);
    let value = rollup_value(dep.func, target, scale, a.count, a.sum, a.min, a.max).ok_or_else(|| {
        // Only a sum (or an average over it) can pass its field's range: name the field written.
        let written = dep.field.as_deref().unwrap_or(&dep.via);
        Error::validation(vec![FieldError::new(
            written,
            FieldCode::OutOfRange,
            format!(
                "would make the {} '{}' of its {} record larger than that field holds",
                dep.func.as_str(),
                dep.parent_field,
                dep.parent
            ),
        )])
    })?;
    records::set_derived(conn, parent, Some(parent_id), &[(target, value)]).await?;
    Ok(())
}

/// After a write of a record of `child`: recomputes the rollups of the parents it pointed at
/// before (`before`) and points at now (`after`), where the write can have changed them.
///
/// The parents are locked first, all of them in one order (entity table, then id), and each
/// aggregate is read after its lock: a concurrent write of a record pointing at the same parent
/// either committed before (and is counted) or waits for this transaction (and counts it). On
/// PostgreSQL, where each statement reads what was committed when it started, an aggregate
/// read before the lock missed a write that committed in between, and the value written from
/// it was wrong; parents locked in whatever order the writes came in deadlocked.
pub async fn after_write<C: trellis_store::Writes>(
    conn: &C,
    app: &CompiledApp,
    child: &CompiledEntity,
    before: Option<&Row>,
    after: Option<&[(&CompiledField, Val)]>,
) -> Result<(), Error> {
    let mut due: Vec<(&RollupDep, String)> = Vec::new();
    for dep in &child.rollups_over {
        let old_parent = before.and_then(|r| stored_parent(child, r, &dep.via));
        let written_via = after.and_then(|v| {
            v.iter()
                .find(|(f, _)| f.name == dep.via)
                .map(|_| parent_of(v, &dep.via))
        });
        let new_parent = match (&written_via, after) {
            (Some(p), _) => p.clone(),
            (None, Some(_)) => old_parent.clone(),
            (None, None) => None,
        };
        // With a filter any written field can change which records count.
        let touched = after.is_none_or(|v| {
            written_via.is_some()
                || dep.filter.is_some()
                || v.iter().any(|(f, _)| dep.field.as_deref() == Some(f.name.as_str()))
        });
        if !touched {
            continue;
        }
        let parents: BTreeSet<String> = old_parent.into_iter().chain(new_parent).collect();
        due.extend(parents.into_iter().map(|p| (dep, p)));
    }
    lock_parents(conn, app, &due).await?;
    for (dep, p) in &due {
        refresh(conn, app, child, dep, p).await?;
    }
    Ok(())
}

/// Locks, before the writes of a bulk, every parent its rollups can recompute: those the
/// records point at now (`current`) and those the writes name (`named`, each write's body), in
/// the one order of [`after_write`]. Locked one write at a time, two bulks moving records
/// between the same parents in opposite orders deadlocked.
pub async fn lock_parents_of<C: trellis_store::Writes>(
    conn: &C,
    app: &CompiledApp,
    child: &CompiledEntity,
    current: &[Row],
    named: &[&serde_json::Value],
) -> Result<(), Error> {
    let mut due: Vec<(&RollupDep, String)> = Vec::new();
    for dep in &child.rollups_over {
        for r in current {
            due.extend(stored_parent(child, r, &dep.via).map(|p| (dep, p)));
        }
        for body in named {
            let v = &body[dep.via.as_str()];
            let p = v.as_str().or_else(|| v["id"].as_str());
            due.extend(p.map(|p| (dep, p.to_string())));
        }
    }
    lock_parents(conn, app, &due).await
}

/// Locks the parent records of the rollups due, per entity table in name order.
async fn lock_parents<C: trellis_store::Writes>(
    conn: &C,
    app: &CompiledApp,
    due: &[(&RollupDep, String)],
) -> Result<(), Error> {
    let mut by_table: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (dep, p) in due {
        let parent = app
            .entity(&dep.parent)
            .ok_or_else(|| Error::internal("rollup parent vanished"))?;
        by_table.entry(parent.table.as_str()).or_default().push(p.clone());
    }
    for (table, ids) in by_table {
        records::lock(conn, table, &ids).await?;
    }
    Ok(())
}

/// Fills rollup fields that are new or changed in `new` (compared with `old`) for every record.
pub async fn fill_changed<C: trellis_store::Writes>(
    conn: &C,
    old: Option<&AppDef>,
    new: &CompiledApp,
) -> Result<(), Error> {
    for e in &new.def.entities {
        for fd in &e.fields {
            let Some(r) = &fd.rollup else { continue };
            let before = old
                .and_then(|o| o.entities.iter().find(|x| x.id == e.id))
                .and_then(|x| x.fields.iter().find(|x| x.id == fd.id));
            if before.is_some_and(|b| b.rollup.as_ref() == Some(r)) {
                continue;
            }
            let parent = new
                .entity(e.name.as_str())
                .ok_or_else(|| Error::internal("entity vanished"))?;
            let target = parent
                .column(fd.name.as_str())
                .ok_or_else(|| Error::internal("field vanished"))?;
            let child = new
                .entity(r.from.as_str())
                .ok_or_else(|| Error::internal("rollup source vanished"))?;
            let via = child
                .column(r.via.as_str())
                .ok_or_else(|| Error::internal("rollup relation vanished"))?;
            let field = r.field.as_ref().and_then(|f| child.column(f.as_str()));
            records::set_derived(conn, parent, None, &[(target, empty_value(r.func, target))]).await?;
            let dep = child
                .rollups_over
                .iter()
                .find(|d| d.parent == e.name.as_str() && d.parent_field == fd.name.as_str())
                .ok_or_else(|| Error::internal("rollup not compiled"))?;
            let groups = records::aggregate_by_parent(
                conn,
                &child.table,
                &via.column,
                field.map(|f| f.column.as_str()),
                dep.filter.as_ref(),
            )
            .await?;
            let scale = field.map_or(0, |f| f.scale);
            for (pid, a) in groups {
                let value = rollup_value(r.func, target, scale, a.count, a.sum, a.min, a.max).ok_or_else(|| {
                    Error::validation(vec![FieldError::new(
                        fd.name.as_str(),
                        FieldCode::OutOfRange,
                        format!(
                            "the {} of '{}' over the {} records of a {} record (id {pid}) is larger than this field holds",
                            r.func.as_str(),
                            field.map_or("", |f| f.name.as_str()),
                            r.from,
                            e.name
                        ),
                    )])
                })?;
                records::set_derived(conn, parent, Some(&pid), &[(target, value)]).await?;
            }
        }
    }
    Ok(())
}
