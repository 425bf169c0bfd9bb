// A cold load at an app's address with a session: `/me` and the app's definition are asked at
// once, beside the page's code (not after the first render), and at a grid's address the grid's
// first page and its total as soon as both are in — before the shell's and the grid's code has
// run, so the grid draws its rows on its first render (main.tsx holds that render until the
// page and the page's code are in, a short while at most). The queries are the grid's own
// (grid/gridList.ts, listQueries.ts): when the grid asks, they are answered.

import type { QueryClient } from '@tanstack/react-query';
import type { ApiClient, EntityDef } from '../api';
import { meQuery } from '../api/queries/session';
import { appQuery } from '../apps/queries';
import { formatCurrency, formatNumber, initialLang, langOfTag, type Lang } from '../i18n';
import { entityTarget, firstListOptions, viewTarget } from './gridList';
import { countQueryOptions, pageQueryOptions } from './listQueries';

/** The app, and the grid's entity or shared view, an address names (`/apps/:app/…`). */
export function gridAddress(path: string): { app: string; entity?: string; view?: string } | null {
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [apps, app, third, fourth] = parts;
  if (apps !== 'apps' || !app) return null;
  if (parts.length === 3 && third !== 'views' && third !== 'my') return { app, entity: third };
  if (parts.length === 4 && third === 'views') return { app, view: fourth };
  return { app };
}

/** Makes the number formats of the entity's cells while its page is on its way: the first
 * `Intl.NumberFormat` of a language takes tens of milliseconds, better spent now than in the
 * grid's first render (formatters are cached: i18n/format.ts). */
function warmFormats(entity: EntityDef, lang: Lang): void {
  formatNumber(0, lang);
  for (const f of entity.fields ?? []) {
    if (f.type === 'currency' && f.currency) formatCurrency(0, f.currency, lang, f.scale ?? 2);
    else if (f.type === 'decimal') formatNumber(0, lang, f.scale ?? 2);
  }
}

/** How long, at most, the first render waits for a grid's first page once `/me` is in. */
export const HOLD_MS = 250;

/**
 * With a session: `/me` at once, and at an app's address its definition; at a grid's address
 * also the grid's first page and its total once both are in. Answers, at a grid's address, when
 * the page may render: when the first page is in (the grid then draws its rows on its first
 * render, rather than rendering the whole page a second time for them), when `/me` or the
 * app failed, or at the latest `HOLD_MS` after `/me` came; elsewhere null (no wait).
 */
export function prefetchForAddress(qc: QueryClient, api: ApiClient, path: string): Promise<void> | null {
  // A failure is the page's to show (its own queries are answered with it).
  const ignore = () => undefined;
  const me = qc.fetchQuery(meQuery(api));
  const at = gridAddress(path);
  if (!at) {
    me.catch(ignore);
    return null;
  }
  const def = qc.fetchQuery(appQuery(api, at.app));
  if (!at.entity && !at.view) {
    me.catch(ignore);
    def.catch(ignore);
    return null;
  }
  const both = Promise.all([me, def]);
  const firstPage = both.then(([me, app]) => {
    const { entity, view } = at.entity ? entityTarget(app, me, at.entity) : viewTarget(app, me, at.view ?? '');
    if (!entity) return;
    const options = firstListOptions(app, entity, view, me);
    // The rows first: the count may take longer, and never holds them back.
    const page = qc.prefetchQuery(pageQueryOptions(api, qc, app.name, entity.name, options, 0));
    void qc.prefetchQuery(countQueryOptions(api, app.name, entity.name, options));
    warmFormats(entity, langOfTag(me.language) ?? initialLang());
    return page;
  });
  // Held at most HOLD_MS once `/me` is in, however long the app's definition takes.
  const held = me.then(() => new Promise<void>((resolve) => setTimeout(resolve, HOLD_MS)));
  return Promise.race([firstPage, held]).then(ignore, ignore);
}
