//! Compiled apps, per tenant: built once per app version and shared read-only by requests.
//! A node notices versions written by other nodes with [`crate::Engine::sync_registry`].

use std::collections::HashMap;
use std::sync::Arc;

use crate::compiled::scripts::LoadedApp;
use parking_lot::RwLock;

/// (tenant id, app name) → compiled app.
#[derive(Default)]
pub struct Registry {
    apps: RwLock<HashMap<(String, String), Arc<LoadedApp>>>,
}

impl Registry {
    pub fn get(&self, tenant: &str, app: &str) -> Option<Arc<LoadedApp>> {
        self.apps.read().get(&(tenant.to_string(), app.to_string())).cloned()
    }

    /// Keeps the newer of the cached and the given version.
    pub fn put(&self, tenant: &str, app: Arc<LoadedApp>) {
        let key = (tenant.to_string(), app.compiled.def.name.to_string());
        let mut apps = self.apps.write();
        match apps.get(&key) {
            Some(cur) if cur.version > app.version => {}
            _ => {
                apps.insert(key, app);
            }
        }
    }

    pub fn remove(&self, tenant: &str, app: &str) {
        self.apps.write().remove(&(tenant.to_string(), app.to_string()));
    }

    /// Drops entries whose version differs from the database's (or that no longer exist).
    pub fn retain_current(&self, current: &HashMap<(String, String), i64>) {
        self.apps.write().retain(|k, v| current.get(k) == Some(&v.version));
    }
}

impl crate::Engine {
    /// The compiled app with this id (from the registry when current).
    pub(crate) async fn app_by_id<C: trellis_store::Reads>(
        &self,
        conn: &C,
        id: &str,
    ) -> Result<Option<Arc<LoadedApp>>, trellis_core::Error> {
        let Some(row) = trellis_store::system::app_by_id(conn, id).await? else {
            return Ok(None);
        };
        if let Some(a) = self.registry.get(&row.tenant_id, &row.name)
            && a.version == row.version
            && a.id == row.id
        {
            return Ok(Some(a));
        }
        let def = super::parse_stored(&row)?;
        let app = Arc::new(LoadedApp::load(&self.rules, &row.id, def, row.version)?);
        self.registry.put(&row.tenant_id, app.clone());
        Ok(Some(app))
    }

    /// The compiled app of the caller's tenant (404 for an app of another tenant or none).
    pub async fn compiled_app(&self, ctx: &crate::TenantCtx, app: &str) -> Result<Arc<LoadedApp>, trellis_core::Error> {
        let name = trellis_core::Slug::from_path("app", app)?;
        if let Some(a) = self.registry.get(ctx.tenant_id(), name.as_str()) {
            return Ok(a);
        }
        let row = trellis_store::system::app_by_name(&self.db.read, ctx.tenant_id(), name.as_str())
            .await?
            .ok_or_else(|| trellis_core::Error::not_found(format!("app '{name}' does not exist")))?;
        let compiled = Arc::new(LoadedApp::load(
            &self.rules,
            &row.id,
            super::parse_stored(&row)?,
            row.version,
        )?);
        self.registry.put(ctx.tenant_id(), compiled.clone());
        Ok(compiled)
    }
}
