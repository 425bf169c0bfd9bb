import { describe, expect, it } from 'vitest';
import { bulkDeleteBody, bulkErrors, bulkUpdateBody } from './bulk';

const ids = ['r1', 'r2', 'r3'];

describe('bulk requests', () => {
  it('set one field on every selected record at the version shown', () => {
    expect(bulkUpdateBody([{ id: 'r1', version: 3 }, { id: 'r2' }], 'status', 'won')).toEqual({
      update: [
        { id: 'r1', version: 3, status: 'won' },
        { id: 'r2', status: 'won' },
      ],
    });
    expect(bulkDeleteBody([{ id: 'r1', version: 2 }, { id: 'r2' }])).toEqual({ delete: [{ id: 'r1', version: 2 }, 'r2'] });
  });
});

describe('bulk errors', () => {
  it('go to the row the failing index names, with the field and the reader language', () => {
    const out = bulkErrors(
      {
        title: 'Validation failed',
        status: 422,
        code: 'validation_failed',
        errors: [
          { field: 'update[1].amount', code: 'range', message: 'too big' },
          { field: 'update[2].requirements', code: 'hidden_requirement', message: 'hidden', messages: { zh: '隐藏的要求', en: 'hidden req' } },
          { field: 'update[2].title', code: 'required', message: 'required' },
          { field: 'body', code: 'type', message: 'bad body' },
        ],
      },
      ids,
      'zh',
    );
    expect([...out.rows.entries()]).toEqual([
      ['r2', [{ field: 'amount', code: 'range', message: 'too big' }]],
      [
        'r3',
        [
          { field: 'requirements', code: 'hidden_requirement', message: '隐藏的要求' },
          { field: 'title', code: 'required', message: 'required' },
        ],
      ],
    ]);
    expect(out.general).toEqual(['bad body']);
  });

  it('read the index from the detail of a problem without field errors', () => {
    const out = bulkErrors(
      { title: 'Not found', status: 404, code: 'not_found', detail: 'delete[0]: record not found' },
      ids,
      'en',
    );
    expect([...out.rows.entries()]).toEqual([['r1', [{ code: 'not_found', message: 'record not found' }]]]);
    expect(out.general).toEqual([]);
  });

  it('keep what names no row general', () => {
    const out = bulkErrors({ title: 'Forbidden', status: 403, code: 'permission_denied', detail: 'no update right' }, ids, 'en');
    expect(out.rows.size).toBe(0);
    expect(out.general).toEqual(['no update right']);
    const far = bulkErrors(
      { title: 'x', status: 422, code: 'validation_failed', errors: [{ field: 'update[9].a', code: 'c', message: 'm' }] },
      ids,
      'en',
    );
    expect(far.general).toEqual(['m']);
  });
});
