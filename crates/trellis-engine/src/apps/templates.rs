//! The templates Trellis ships (`examples/*/package.json`), embedded in the binary: listed for
//! the apps page's gallery and installed like any package ([`super::packages`]).

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;
use trellis_core::def::Label;
use trellis_core::package::{PackageDef, parse_package};
use trellis_core::{Error, Slug};

use super::packages::{InstallOptions, InstallOut};
use crate::Engine;
use crate::context::TenantCtx;

/// The package files, in the gallery's order.
const FILES: [&str; 2] = [
    include_str!("../../../../examples/sales-management/package.json"),
    include_str!("../../../../examples/store-sales/package.json"),
];

/// The shipped packages, parsed once: (its JSON, the package).
static TEMPLATES: LazyLock<Vec<(Value, PackageDef)>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|text| {
            let v: Value = serde_json::from_str(text).expect("a shipped template is JSON");
            let p = parse_package(&v).expect("a shipped template is a package");
            (v, p)
        })
        .collect()
});

/// A template as the gallery shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TemplateOut {
    /// The package's name: the template's id.
    pub package: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub label: Option<Label>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<Label>,
    /// The app name it installs as by default.
    pub app: String,
    pub entities: usize,
    pub roles: usize,
    pub rules: usize,
    pub views: usize,
    pub dashboards: usize,
    /// The tenant's apps installed from it, with the version each is at.
    pub installed: Vec<InstalledApp>,
}

/// An app of the tenant's installed from a template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstalledApp {
    pub app: String,
    pub version: String,
}

fn template(package: &str) -> Result<&'static Value, Error> {
    TEMPLATES
        .iter()
        .find(|(_, p)| p.package.as_str() == package)
        .map(|(v, _)| v)
        .ok_or_else(|| {
            Error::not_found(format!(
                "there is no template '{}'",
                trellis_core::names::truncate(package, 64)
            ))
        })
}

impl Engine {
    /// The shipped templates, each with the tenant's apps installed from it (administrators).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_templates(&self, ctx: &TenantCtx) -> Result<Vec<TemplateOut>, Error> {
        ctx.require_admin()?;
        let installed = trellis_store::packages::of_tenant(&self.db.read, ctx.tenant_id()).await?;
        let apps = trellis_store::system::apps_of(&self.db.read, ctx.tenant_id()).await?;
        Ok(TEMPLATES
            .iter()
            .map(|(_, p)| TemplateOut {
                package: p.package.to_string(),
                version: p.version.clone(),
                label: p.label.clone(),
                description: p.description.clone(),
                app: p.app.name.to_string(),
                entities: p.app.entities.len(),
                roles: p.app.roles.len(),
                rules: p.app.rules.len(),
                views: p.app.views.len(),
                dashboards: p.app.dashboards.len(),
                installed: installed
                    .iter()
                    .filter(|r| r.package == p.package.as_str())
                    .filter_map(|r| {
                        apps.iter().find(|a| a.id == r.app_id).map(|a| InstalledApp {
                            app: a.name.clone(),
                            version: r.version.clone(),
                        })
                    })
                    .collect(),
            })
            .collect())
    }

    /// Installs (or, on an app installed from an earlier version, upgrades) a shipped template.
    #[tracing::instrument(level = "debug", skip_all, fields(package = %package))]
    pub async fn install_template(
        &self,
        ctx: &TenantCtx,
        package: &str,
        opts: InstallOptions,
    ) -> Result<InstallOut, Error> {
        ctx.require_admin()?;
        Slug::from_path("template", package)?;
        let v = template(package)?;
        self.install_package(ctx, v, opts).await
    }

    /// A fresh node's demo: every template installed into the tenant, unless it has apps.
    pub async fn install_demo(&self, ctx: &TenantCtx) -> Result<Vec<InstallOut>, Error> {
        if !trellis_store::system::apps_of(&self.db.read, ctx.tenant_id())
            .await?
            .is_empty()
        {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (v, _) in TEMPLATES.iter() {
            out.push(self.install_package(ctx, v, InstallOptions::default()).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_templates_are_packages() {
        let names: Vec<&str> = super::TEMPLATES.iter().map(|(_, p)| p.package.as_str()).collect();
        assert_eq!(names, ["sales_management", "store_sales"]);
    }
}
