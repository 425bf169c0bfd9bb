import { describe, expect, it } from 'vitest';
import { ProblemError, type EntityDef, type FieldDef } from '../api';
import { translate, type Lang, type MessageKey } from '../i18n';
import { checkValue } from './checks';
import { draftKey, draftStore } from './drafts';
import { changedValues, createBody, formFields, initialValues, inputKind, patchBody, toFormValue } from './fields';
import { mapServerErrors } from './serverErrors';

const L = (zh: string, en: string) => ({ zh, en });
const f = (name: string, type: FieldDef['type'], more: Partial<FieldDef> = {}): FieldDef =>
  ({ name, label: L(name, name), type, ...more }) as FieldDef;

const deal: EntityDef = {
  name: 'deal',
  label: L('商机', 'Deal'),
  title_field: 'title',
  fields: [
    f('title', 'text', { required: true, max_length: 20 }),
    f('amount', 'currency', { currency: 'CNY', min: 0 }),
    f('status', 'single_select', { options: [{ value: 'open', label: L('进行中', 'Open'), color: 'blue' }] }),
    f('tags', 'multi_select', { options: [{ value: 'a', label: L('甲', 'A') }], max_length: 1 }),
    f('customer', 'relation', { target: 'customer' }),
    f('files', 'attachment'),
    f('extra', 'json'),
    f('number', 'auto_number', { format: 'D-{00000}' }),
    f('score', 'integer', { formula: 'record.amount' }),
    f('margin', 'decimal', { scale: 2 }),
  ],
} as EntityDef;

describe('the input of each field type', () => {
  it('maps every type to its input', () => {
    const cases: [FieldDef['type'], string][] = [
      ['text', 'text'],
      ['long_text', 'textarea'],
      ['integer', 'integer'],
      ['decimal', 'decimal'],
      ['percent', 'percent'],
      ['currency', 'currency'],
      ['single_select', 'select'],
      ['multi_select', 'multiselect'],
      ['boolean', 'boolean'],
      ['date', 'date'],
      ['datetime', 'datetime'],
      ['email', 'email'],
      ['url', 'url'],
      ['phone', 'phone'],
      ['user', 'user'],
      ['relation', 'relation'],
      ['attachment', 'attachment'],
      ['json', 'json'],
      ['auto_number', 'computed'],
    ];
    for (const [type, kind] of cases) expect(inputKind({ type }), type).toBe(kind);
    expect(inputKind({ type: 'integer', formula: 'record.a' })).toBe('computed');
  });

  it('shows the fields in definition order; computed ones only on an existing record, disabled; read-only disabled', () => {
    const create = formFields(deal, new Set(['status']), true);
    expect(create.map((x) => x.field.name)).toEqual(['title', 'amount', 'status', 'tags', 'customer', 'files', 'extra', 'margin']);
    expect(create.find((x) => x.field.name === 'status')?.disabled).toBe(true);
    expect(create.find((x) => x.field.name === 'title')?.disabled).toBe(false);
    const edit = formFields(deal, new Set(), false);
    expect(edit.map((x) => x.field.name)).toContain('number');
    expect(edit.filter((x) => x.disabled).map((x) => x.field.name)).toEqual(['number', 'score']);
    const owner = f('owner', 'user');
    expect(formFields(deal, new Set(), true, [owner]).at(-1)).toEqual({ field: owner, kind: 'user', disabled: false });
    expect(formFields(deal, new Set(['owner']), false, [owner]).at(-1)?.disabled).toBe(true);
  });

  it('holds a record as form values and sends back only what changed', () => {
    const fields = formFields(deal, new Set(), false);
    const record = {
      id: 'r1',
      title: 'Big',
      amount: { amount: 12.5, currency: 'USD' },
      customer: { id: 'c1', name: 'Acme' },
      files: [{ id: 'f1', name: 'a.pdf' }],
      extra: { a: 1 },
      number: 'D-00001',
    };
    const base = initialValues(fields, record);
    expect(base.customer).toBe('c1');
    expect(base.amount).toEqual({ amount: 12.5, currency: 'USD' });
    expect(base.extra).toBe('{\n  "a": 1\n}');
    expect(base.tags).toEqual([]);
    const values = { ...base, title: 'Bigger', files: [{ id: 'f1' }, { id: 'f2', name: 'b.pdf' }], extra: '{"a": 2}' };
    expect(changedValues(fields, base, values)).toEqual({ title: 'Bigger', files: values.files, extra: '{"a": 2}' });
    expect(patchBody(fields, base, values)).toEqual({ title: 'Bigger', files: ['f1', 'f2'], extra: { a: 2 } });
    expect(patchBody(fields, base, { ...base, files: [{ id: 'f1' }] })).toEqual({});
    expect(patchBody(fields, base, { ...base, customer: null })).toEqual({ customer: null });
  });

  it('creates with the filled fields only', () => {
    const fields = formFields(deal, new Set(), true);
    const values = { ...initialValues(fields, null), title: 'New', amount: { amount: 5, currency: 'CNY' } };
    expect(initialValues(fields, null).amount).toEqual({ amount: null, currency: 'CNY' });
    expect(createBody(fields, values)).toEqual({ title: 'New', amount: { amount: 5, currency: 'CNY' } });
    expect(toFormValue(f('b', 'boolean'), null)).toBe(false);
  });
});

describe('the client checks', () => {
  const key = (field: FieldDef, v: unknown) => checkValue(field, v)?.key ?? null;
  it('mirror the server: required, length, pattern, formats', () => {
    const title = f('title', 'text', { required: true, min_length: 2, max_length: 5, pattern: '[A-Z].*' });
    expect(checkValue(title, '')).toEqual({ key: 'form.check.required' });
    expect(checkValue(title, '  ')).toEqual({ key: 'form.check.required' });
    expect(checkValue(title, 'A')).toEqual({ key: 'form.check.minLength', vars: { n: 2 } });
    expect(checkValue(title, 'Abcdef')).toEqual({ key: 'form.check.maxLength', vars: { n: 5 } });
    expect(key(title, 'abc')).toBe('form.check.pattern');
    expect(key(title, 'Abc')).toBe(null);
    expect(key(f('t', 'text', { max_length: 2 }), '中文')).toBe(null); // characters, not bytes
    expect(key(f('e', 'email'), 'a@b')).toBe('form.check.email');
    expect(key(f('e', 'email'), 'a@b.cn')).toBe(null);
    expect(key(f('u', 'url'), 'ftp://x')).toBe('form.check.url');
    expect(key(f('u', 'url'), 'https://x.cn/a')).toBe(null);
    expect(key(f('p', 'phone'), '12')).toBe('form.check.phone');
    expect(key(f('p', 'phone'), '+86 (10) 1234-5678')).toBe(null);
    expect(key(f('o', 'text'), '')).toBe(null);
  });

  it('mirror the server: numbers, bounds, scale, currency, choices, files, json', () => {
    const n = f('n', 'integer', { min: 1, max: 10 });
    expect(checkValue(n, 0)).toEqual({ key: 'form.check.min', vars: { min: '1' } });
    expect(checkValue(n, 11)).toEqual({ key: 'form.check.max', vars: { max: '10' } });
    expect(key(n, 1.5)).toBe('form.check.integer');
    expect(key(n, 5)).toBe(null);
    expect(checkValue(f('d', 'decimal', { scale: 1 }), 1.25)).toEqual({ key: 'form.check.scale', vars: { n: 1 } });
    const money = f('m', 'currency', { min: 0 });
    expect(key(money, { amount: 5, currency: null })).toBe('form.check.currencyRequired');
    expect(key(money, { amount: 5, currency: 'usd' })).toBe('form.check.currency');
    expect(key(money, { amount: -1, currency: 'USD' })).toBe('form.check.min');
    expect(key(f('m', 'currency', { required: true }), { amount: null, currency: 'CNY' })).toBe('form.check.required');
    expect(key(f('m', 'currency', { currency: 'CNY' }), { amount: 5, currency: null })).toBe(null);
    expect(key(f('day', 'date', { min: '2026-01-01' }), '2025-12-31')).toBe('form.check.min');
    const tags = deal.fields![3];
    expect(key(tags, ['a', 'zz'])).toBe('form.check.option');
    expect(checkValue(f('t', 'multi_select', { options: tags.options, min_length: 1 }), [])).toBe(null);
    expect(key(f('t', 'multi_select', { options: tags.options, required: true }), [])).toBe('form.check.required');
    expect(key(f('a', 'attachment', { max_files: 1 }), [{ id: '1' }, { id: '2' }])).toBe('form.check.maxFiles');
    expect(key(f('j', 'json'), '{"a":')).toBe('form.check.json');
    expect(key(f('j', 'json'), '[1, 2]')).toBe(null);
  });

  it('have a message in both languages for every check', () => {
    for (const lang of ['zh', 'en'] as Lang[]) {
      expect(translate(lang, 'form.check.maxLength', { n: 5 })).toMatch(/5/);
    }
  });
});

describe('server errors at their fields', () => {
  const fields = deal.fields!;
  const problem = new ProblemError({
    title: 'Validation failed',
    status: 422,
    code: 'validation_failed',
    errors: [
      { field: 'title', code: 'unique', message: 'another record has this value' },
      { field: 'amount', code: 'big_deal', message: 'too big', messages: { zh: '金额太大', en: 'Amount too big' } },
      { field: 'amount', code: 'minimum', message: 'must be >= 0' },
      { field: 'margin', code: 'rule_x', message: 'only English', messages: { zh: '', en: 'only English' } },
      { field: 'owner', code: 'not_found', message: 'no user has id x' },
      { field: '', code: 'hidden_requirement', message: 'a hidden field' },
    ],
  });
  const tr = (lang: Lang) => (k: MessageKey, v?: Record<string, string | number>) => translate(lang, k, v);

  it('in Chinese', () => {
    const m = mapServerErrors(problem, fields, 'zh', tr('zh'));
    expect(m.fields).toEqual({
      title: ['该值已被另一条记录使用'],
      amount: ['金额太大', '不能小于 0'],
      margin: ['only English'],
    });
    expect(m.top).toEqual(['owner：找不到所选的记录或用户', '有你无权查看的字段不满足要求']);
  });

  it('in English', () => {
    const m = mapServerErrors(problem, fields, 'en', tr('en'));
    expect(m.fields.title).toEqual(['Another record already has this value']);
    expect(m.fields.amount).toEqual(['Amount too big', 'Must not be less than 0']);
    expect(m.top[0]).toBe('owner: The chosen record or user does not exist');
  });

  it('a problem without errors goes to the top; nested paths go to their field', () => {
    const p = new ProblemError({ title: 'Conflict', status: 409, code: 'conflict', detail: 'written concurrently' });
    expect(mapServerErrors(p, fields, 'en', tr('en'))).toEqual({ fields: {}, top: ['written concurrently'] });
    const nested = new ProblemError({
      title: 'x',
      status: 422,
      code: 'validation_failed',
      errors: [{ field: 'amount.currency', code: 'currency', message: 'bad currency' }],
    });
    expect(mapServerErrors(nested, fields, 'en', tr('en')).fields).toEqual({ amount: ['bad currency'] });
  });
});

describe('the draft store', () => {
  it('keeps changes per app, entity and record until cleared', () => {
    const k = draftKey('u1', 'crm', 'deal', null);
    const k2 = draftKey('u1', 'crm', 'deal', 'r1');
    expect(k).not.toBe(k2);
    expect(draftStore.load(k)).toBe(null);
    draftStore.save(k, { title: 'Half done' }, 1000);
    draftStore.save(k2, { title: 'Other' }, 2000);
    expect(draftStore.load(k)).toEqual({ values: { title: 'Half done' }, savedAt: 1000 });
    expect(draftStore.load(k2)?.values).toEqual({ title: 'Other' });
    draftStore.save(k, {});
    expect(draftStore.load(k)).toBe(null);
    draftStore.clear(k2);
    expect(draftStore.load(k2)).toBe(null);
  });

  it('ignores what is not a draft', () => {
    const k = draftKey('u1', 'crm', 'deal', 'bad');
    localStorage.setItem(k, '{not json');
    expect(draftStore.load(k)).toBe(null);
    localStorage.setItem(k, '[1,2]');
    expect(draftStore.load(k)).toBe(null);
  });
});
