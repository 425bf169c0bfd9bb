//! The tenant's time zone (the `time_zone` setting, IANA; UTC unless an administrator set one):
//! reports cut days, weeks and months in it, exports write datetimes in it and imports read
//! times without an offset in it.

use trellis_core::Error;
use trellis_core::zone::Zone;

use crate::Engine;
use crate::context::TenantCtx;

/// The setting naming the tenant's time zone.
pub const ZONE_KEY: &str = "time_zone";

impl Engine {
    /// The tenant's time zone, readable by every member.
    pub async fn tenant_zone(&self, ctx: &TenantCtx) -> Result<Zone, Error> {
        let stored = trellis_store::settings::get(&self.db.read, ctx.tenant_id(), ZONE_KEY).await?;
        Ok(stored.and_then(|z| Zone::parse(ZONE_KEY, &z).ok()).unwrap_or_default())
    }
}
