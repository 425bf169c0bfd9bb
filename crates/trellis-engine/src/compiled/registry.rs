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
