/** The server's rule for app (and entity) names. */
export const SLUG_RE = /^[a-z][a-z0-9_]{0,62}$/;
export const SLUG_MAX = 63;

/**
 * Suggests a valid slug from free text (typically the English label):
 * "Purchase Orders 2" → "purchase_orders_2". Returns '' when nothing usable
 * is left (for instance, a label with no Latin letters).
 */
export function slugify(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^[^a-z]+/, '')
    .replace(/_+$/, '')
    .slice(0, SLUG_MAX)
    .replace(/_+$/, '');
}
