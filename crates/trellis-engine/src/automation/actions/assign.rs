//! Picking an owner: round robin, least loaded, or whoever a rota puts on duty.
//!
//! Candidates of round robin and least loaded are the named users and the role's members, less
//! unknown and disabled users, sorted by id. Round robin takes the next value of the counter
//! `rr:<app id>:<rule>:<action index>` (in `sys_counters`, so every node shares the turn) modulo
//! the candidates. Least loaded counts the entity's records each candidate owns among those
//! matching the filter; a tie goes to the first by id. A rota maps weekdays (`mon`..`sun`) in its
//! time zone (default UTC) to users; an override for the date (`YYYY-MM-DD`) wins.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Utc, Weekday};
use trellis_core::CompiledEntity;
use trellis_core::automation::AssignStrategy;
use trellis_core::query::parse_filter;
use trellis_store::{directory, records, system};

use crate::automation::{ActionCtx, ActionError};

/// Refuses, when the rule is saved, a strategy naming a role the app does not have.
pub fn check_roles(strategy: &AssignStrategy, site: &super::Site<'_>, errors: &mut Vec<trellis_core::FieldError>) {
    if let AssignStrategy::RoundRobin { role: Some(r), .. } | AssignStrategy::LeastLoaded { role: Some(r), .. } =
        strategy
        && site.app.role(r.as_str()).is_none()
    {
        errors.push(site.problem(
            "",
            trellis_core::error::FieldCode::UnknownRole,
            format!("role '{r}' is not a role of this app"),
        ));
    }
}

/// The owner for the action at `action` (its index in the rule's actions), in a write
/// transaction of its own. Not inside another one (on SQLite the writer would wait for
/// itself): use [`pick_in`] there.
pub async fn pick(
    ctx: &ActionCtx<'_>,
    action: usize,
    strategy: &AssignStrategy,
    entity: &CompiledEntity,
) -> Result<String, ActionError> {
    // Beginning or committing may fail like any database call: worth retrying.
    let db_failure = |e| ActionError::from(trellis_core::Error::from(trellis_store::StoreError::from(e)));
    let tx = ctx.engine.db.begin_write().await.map_err(db_failure)?;
    let owner = pick_in(&tx, ctx, action, strategy, entity).await?;
    tx.commit().await.map_err(db_failure)?;
    Ok(owner)
}

/// [`pick`] on the caller's connection (the job's transaction: the round-robin turn is then
/// taken only if the job commits).
pub async fn pick_in<C: trellis_store::Writes>(
    conn: &C,
    ctx: &ActionCtx<'_>,
    action: usize,
    strategy: &AssignStrategy,
    entity: &CompiledEntity,
) -> Result<String, ActionError> {
    let db = |e: trellis_store::StoreError| ActionError::retry(format!("assigning an owner: {e}"));
    match strategy {
        AssignStrategy::RoundRobin { users, role } => {
            let candidates = candidates(conn, ctx, users, role.as_ref().map(|r| r.as_str())).await?;
            let scope = format!("rr:{}:{}:{action}", ctx.app.id, ctx.rule.name.as_str());
            let n = records::next_counter(conn, &scope).await.map_err(db)?;
            Ok(round_robin(&candidates, n).to_string())
        }
        AssignStrategy::LeastLoaded { users, role, filter } => {
            let candidates = candidates(conn, ctx, users, role.as_ref().map(|r| r.as_str())).await?;
            let filter = filter.as_ref().map(|f| parse_filter(entity, f)).transpose()?;
            let owner = entity
                .column("owner")
                .ok_or_else(|| ActionError::fatal("the entity has no owner"))?;
            let totals = records::group_totals(conn, entity, owner, filter.as_ref(), None, &[])
                .await
                .map_err(db)?;
            let load: HashMap<String, i64> = totals.into_iter().filter_map(|(o, n, _)| o.map(|o| (o, n))).collect();
            Ok(least_loaded(&candidates, &load).to_string())
        }
        AssignStrategy::Rota {
            timezone,
            week,
            overrides,
        } => on_duty(timezone.as_deref(), week, overrides, Utc::now()),
    }
}

/// The named users and the role's members that are active users of the tenant, sorted, once
/// each; none is a fatal error.
async fn candidates<C: trellis_store::Reads>(
    conn: &C,
    ctx: &ActionCtx<'_>,
    users: &[String],
    role: Option<&str>,
) -> Result<Vec<String>, ActionError> {
    let db = |e: trellis_store::StoreError| ActionError::retry(format!("assigning an owner: {e}"));
    let mut ids: Vec<String> = users.to_vec();
    if let Some(r) = role {
        ids.extend(directory::members_of(conn, &ctx.app.id, r).await.map_err(db)?);
    }
    ids.sort();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(u) = system::user_by_id(conn, ctx.tenant_id, &id).await.map_err(db)?
            && u.disabled_at.is_none()
        {
            out.push(u.id);
        }
    }
    if out.is_empty() {
        return Err(ActionError::fatal("no user to assign"));
    }
    Ok(out)
}

/// The `n`th turn (counting from 1) among sorted, non-empty candidates.
pub fn round_robin(candidates: &[String], n: i64) -> &str {
    let i = (n - 1).rem_euclid(candidates.len() as i64) as usize;
    &candidates[i]
}

/// The candidate owning the fewest records; a tie goes to the first (they are sorted by id).
pub fn least_loaded<'a>(candidates: &'a [String], load: &HashMap<String, i64>) -> &'a str {
    candidates
        .iter()
        .min_by_key(|c| load.get(c.as_str()).copied().unwrap_or(0))
        .map(String::as_str)
        .unwrap_or_default()
}

/// Who is on duty at `now`: the override of the local date, else the local weekday's user.
pub fn on_duty(
    timezone: Option<&str>,
    week: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<String, ActionError> {
    let tz: chrono_tz::Tz = match timezone {
        None => chrono_tz::UTC,
        Some(name) => name
            .parse()
            .map_err(|_| ActionError::fatal(format!("'{name}' is not a time zone")))?,
    };
    let local = now.with_timezone(&tz).date_naive();
    if let Some(u) = overrides.get(&local.format("%Y-%m-%d").to_string()) {
        return Ok(u.clone());
    }
    let day = local.weekday();
    week.iter()
        .find(|(k, _)| weekday(k) == Some(day))
        .map(|(_, u)| u.clone())
        .ok_or_else(|| ActionError::fatal(format!("nobody is on duty on {local} ({day})")))
}

/// `mon`, `Monday`, ... → the weekday.
fn weekday(key: &str) -> Option<Weekday> {
    let k = key.trim().to_ascii_lowercase();
    Some(match k.get(..3)? {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn week() -> BTreeMap<String, String> {
        map(&[
            ("mon", "li"),
            ("tue", "wang"),
            ("wed", "li"),
            ("thu", "wang"),
            ("fri", "zhao"),
            ("sat", "duty"),
        ])
    }

    #[test]
    fn the_rota_follows_the_weekday() {
        // 2025-03-03 is a Monday.
        let mon = Utc.with_ymd_and_hms(2025, 3, 3, 12, 0, 0).unwrap();
        assert_eq!(on_duty(None, &week(), &BTreeMap::new(), mon).unwrap(), "li");
        let fri = Utc.with_ymd_and_hms(2025, 3, 7, 9, 0, 0).unwrap();
        assert_eq!(on_duty(None, &week(), &BTreeMap::new(), fri).unwrap(), "zhao");
        let sun = Utc.with_ymd_and_hms(2025, 3, 9, 9, 0, 0).unwrap();
        let e = on_duty(None, &week(), &BTreeMap::new(), sun).unwrap_err();
        assert!(!e.retry && e.message.contains("2025-03-09"), "{}", e.message);
        let long = map(&[("Monday", "li")]);
        assert_eq!(on_duty(None, &long, &BTreeMap::new(), mon).unwrap(), "li");
    }

    #[test]
    fn an_override_for_the_date_wins() {
        // 2025-10-01 (National Day) is a Wednesday.
        let at = Utc.with_ymd_and_hms(2025, 10, 1, 4, 0, 0).unwrap();
        let holidays = map(&[("2025-10-01", "holiday-desk")]);
        assert_eq!(
            on_duty(Some("Asia/Shanghai"), &week(), &holidays, at).unwrap(),
            "holiday-desk"
        );
        let next = Utc.with_ymd_and_hms(2025, 10, 2, 4, 0, 0).unwrap();
        assert_eq!(
            on_duty(Some("Asia/Shanghai"), &week(), &holidays, next).unwrap(),
            "wang"
        );
    }

    #[test]
    fn days_turn_at_local_midnight() {
        // Monday 23:30 UTC is already Tuesday 07:30 in Shanghai, and still Monday in New York.
        let at = Utc.with_ymd_and_hms(2025, 3, 3, 23, 30, 0).unwrap();
        assert_eq!(on_duty(None, &week(), &BTreeMap::new(), at).unwrap(), "li");
        assert_eq!(
            on_duty(Some("Asia/Shanghai"), &week(), &BTreeMap::new(), at).unwrap(),
            "wang"
        );
        assert_eq!(
            on_duty(Some("America/New_York"), &week(), &BTreeMap::new(), at).unwrap(),
            "li"
        );
        // Shanghai's Monday 00:00 is Sunday 16:00 UTC; a minute before is still Sunday.
        let edge = Utc.with_ymd_and_hms(2025, 3, 2, 16, 0, 0).unwrap();
        assert_eq!(
            on_duty(Some("Asia/Shanghai"), &week(), &BTreeMap::new(), edge).unwrap(),
            "li"
        );
        let before = edge - chrono::Duration::minutes(1);
        assert!(on_duty(Some("Asia/Shanghai"), &week(), &BTreeMap::new(), before).is_err());
        // An override is of the local date too.
        let o = map(&[("2025-03-04", "stand-in")]);
        assert_eq!(on_duty(Some("Asia/Shanghai"), &week(), &o, at).unwrap(), "stand-in");
        assert_eq!(on_duty(None, &week(), &o, at).unwrap(), "li");
        assert!(!on_duty(Some("Mars/Olympus"), &week(), &o, at).unwrap_err().retry);
    }

    #[test]
    fn round_robin_takes_turns_in_id_order() {
        let c: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let turns: Vec<&str> = (1..=7).map(|n| round_robin(&c, n)).collect();
        assert_eq!(turns, ["a", "b", "c", "a", "b", "c", "a"]);
        let one = vec!["solo".to_string()];
        assert_eq!(round_robin(&one, 42), "solo");
    }

    #[test]
    fn least_loaded_prefers_fewest_then_first_by_id() {
        let c: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let load: HashMap<String, i64> = [("a".to_string(), 3), ("b".to_string(), 1), ("c".to_string(), 1)].into();
        assert_eq!(least_loaded(&c, &load), "b");
        let load: HashMap<String, i64> = [("a".to_string(), 3), ("b".to_string(), 1)].into();
        assert_eq!(least_loaded(&c, &load), "c");
        assert_eq!(least_loaded(&c, &HashMap::new()), "a");
    }
}
