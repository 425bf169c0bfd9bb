// Messages picked at run time from a value (an operator, a period, an SLA state, a blocker's kind,
// a rule run's status) exist in both languages: each value has its key in a typed map, every
// value the UI can meet is in the map, and no source picks a key by building its name
// (`t(\`x.${v}\` as MessageKey)` would escape the compiler and this test alike).
import { describe, expect, it } from 'vitest';
import { ALL_OPS, OP_LABEL } from '../grid/filterModel';
import { BUCKET_UNITS, UNIT_LABEL } from '../grid/groupModel';
import { BLOCKER_KIND_LABEL, blockerKind } from '../record/blockers';
import { RUN_STATUS_LABEL } from '../record/queries';
import { SLA_LABEL, slaState } from '../record/time';
import { CHANGE_LABEL, KIND_LABEL } from '../apps/TemplatesModal';
import { messages } from './i18n';

const sources = import.meta.glob(['../**/*.{ts,tsx}', '!../**/*.test.{ts,tsx}', '!../api/schema.d.ts'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

/** Each key of the maps missing or blank in a language. */
function missing(maps: Record<string, Readonly<Record<string, string>>>): string[] {
  const out: string[] = [];
  for (const [name, map] of Object.entries(maps)) {
    for (const [value, key] of Object.entries(map)) {
      for (const [lang, dict] of Object.entries(messages)) {
        const m = (dict as Record<string, string>)[key];
        if (!m || !m.trim()) out.push(`${name}.${value} → ${key} in ${lang}`);
      }
    }
  }
  return out;
}

describe('messages chosen at run time', () => {
  const maps = {
    op: OP_LABEL,
    unit: UNIT_LABEL,
    sla: SLA_LABEL,
    blocker: BLOCKER_KIND_LABEL,
    run: RUN_STATUS_LABEL,
    change: CHANGE_LABEL,
    kind: KIND_LABEL,
  };

  it('exist in zh-CN and en-US for every value', () => {
    expect(missing(maps)).toEqual([]);
  });

  it('are caught missing', () => {
    expect(missing({ op: { eq: 'filter.op.eq', nope: 'filter.op.nope' } })).toEqual([
      'op.nope → filter.op.nope in zh',
      'op.nope → filter.op.nope in en',
    ]);
  });

  it('cover every value the UI offers or meets', () => {
    expect(Object.keys(OP_LABEL).sort()).toEqual([...ALL_OPS].sort());
    expect(Object.keys(UNIT_LABEL).sort()).toEqual([...BUCKET_UNITS].sort());
    const now = Date.parse('2025-06-01T00:00:00Z');
    const states = [
      slaState(undefined, undefined, now),
      slaState('2025-06-20T00:00:00Z', null, now),
      slaState('2025-06-01T12:00:00Z', null, now),
      slaState('2025-05-01T00:00:00Z', null, now),
    ];
    expect(states.every((s) => s in SLA_LABEL)).toBe(true);
    expect(new Set(states).size).toBe(Object.keys(SLA_LABEL).length);
    const kinds = [
      { field: 'amount', code: 'required' },
      { field: 'attachments.contract', code: 'attachment_required' },
      { field: 'conditions.0', code: 'condition_failed' },
      { field: 'stage', code: 'pending_approval' },
      { field: 'comment', code: 'required' },
      { field: 'x', code: 'hidden_requirement' },
      { field: 'x', code: 'something_else' },
    ].map((b) => blockerKind({ ...b, message: '' }));
    expect(new Set(kinds)).toEqual(new Set(Object.keys(BLOCKER_KIND_LABEL)));
  });

  it('are never looked up by a key built from pieces', () => {
    const cast = Object.entries(sources).flatMap(([path, src]) =>
      src
        .split('\n')
        .filter((line) => /as\s+MessageKey\b/.test(line))
        .map((line) => `${path}: ${line.trim()}`),
    );
    expect(cast).toEqual([]);
  });
});
