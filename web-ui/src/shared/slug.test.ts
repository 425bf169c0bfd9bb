import { describe, expect, it } from 'vitest';
import { matchFieldErrors } from './formErrors';
import { SLUG_RE, slugify } from './slug';

describe('slugify', () => {
  it('makes valid app names from labels', () => {
    expect(slugify('Purchase Orders 2')).toBe('purchase_orders_2');
    expect(slugify('  Café -- Menu!  ')).toBe('cafe_menu');
    expect(slugify('2024 Budget')).toBe('budget');
    expect(slugify('订单')).toBe('');
    const long = slugify('a'.repeat(100));
    expect(long).toHaveLength(63);
    for (const s of ['Purchase Orders 2', 'x', 'A_B']) expect(slugify(s)).toMatch(SLUG_RE);
  });
});

describe('matchFieldErrors', () => {
  const fields = [['name'], ['label', 'zh'], ['label', 'en']] as const;

  it('maps dotted, pointer and group fields to form fields', () => {
    const { fields: matched, unmatched } = matchFieldErrors(
      [
        { field: 'name', code: 'taken', message: 'already exists' },
        { field: '/label/en', code: 'required', message: 'required' },
        { field: 'label', code: 'invalid', message: 'bad label' },
        { field: 'description', code: 'too_long', message: 'too long' },
      ],
      fields,
    );
    expect(matched).toEqual([
      { name: ['name'], errors: ['already exists'] },
      { name: ['label', 'en'], errors: ['required'] },
      { name: ['label', 'zh'], errors: ['bad label'] },
    ]);
    expect(unmatched).toEqual([{ field: 'description', code: 'too_long', message: 'too long' }]);
  });

  it('uses the code when there is no message', () => {
    const { fields: matched } = matchFieldErrors([{ field: 'name', code: 'pattern', message: '' }], fields);
    expect(matched[0].errors).toEqual(['pattern']);
  });
});
