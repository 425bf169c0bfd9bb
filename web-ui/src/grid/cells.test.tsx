import { describe, expect, it } from 'vitest';
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import type { EntityDef, FieldDef } from '../api';
import { translate, type Lang } from '../i18n';
import { renderCell, type CellContext } from './cells';

const customer: EntityDef = {
  name: 'customer',
  label: { zh: '客户', en: 'Customer' },
  title_field: 'name',
  fields: [{ name: 'name', label: { zh: '名称', en: 'Name' }, type: 'text' }],
};

function ctx(lang: Lang): CellContext {
  return { lang, t: (k) => translate(lang, k), app: 'crm', entities: [customer] };
}

function cell(field: Partial<FieldDef> & Pick<FieldDef, 'type'>, value: unknown, lang: Lang = 'en') {
  const f = { name: 'f', label: { zh: '字段', en: 'Field' }, ...field } as FieldDef;
  return render(<MemoryRouter>{renderCell(f, value, ctx(lang))}</MemoryRouter>).container;
}

describe('cells', () => {
  it('text as it is, and a dash for nothing', () => {
    expect(cell({ type: 'text' }, '华东 Acme').textContent).toBe('华东 Acme');
    expect(cell({ type: 'text' }, null).textContent).toBe('—');
  });

  it('integer and decimal in the locale', () => {
    expect(cell({ type: 'integer' }, 1234567).textContent).toBe('1,234,567');
    expect(cell({ type: 'decimal', scale: 2 }, 1234.5, 'zh').textContent).toBe('1,234.50');
  });

  it('percent', () => {
    expect(cell({ type: 'percent' }, 12.5).textContent).toBe('12.5%');
  });

  it('currency with its code, per locale', () => {
    const en = cell({ type: 'currency', currency: 'CNY' }, { amount: 1234.5, currency: 'USD' }).textContent!;
    expect(en.replace(/\s/g, ' ')).toBe('USD 1,234.50');
    const zh = cell({ type: 'currency' }, { amount: 1234.5, currency: 'USD' }, 'zh').textContent!;
    expect(zh.replace(/\s/g, ' ')).toBe('USD 1,234.50');
    expect(cell({ type: 'currency', scale: 0 }, { amount: 99, currency: 'CNY' }, 'zh').textContent!.replace(/\s/g, ' ')).toBe('CNY 99');
    expect(cell({ type: 'currency', currency: 'EUR' }, 5, 'en').textContent!.replace(/\s/g, ' ')).toBe('EUR 5.00');
  });

  it('single select as a tag in its colour and language', () => {
    const field = {
      type: 'single_select' as const,
      options: [{ value: 'won', label: { zh: '赢单', en: 'Won' }, color: 'green' }],
    };
    const c = cell(field, 'won', 'zh');
    const tag = c.querySelector('.ant-tag')!;
    expect(tag.textContent).toBe('赢单');
    expect(tag.className).toContain('ant-tag-green');
    expect(cell(field, 'won', 'en').textContent).toBe('Won');
    expect(cell(field, 'lost').textContent).toBe('lost');
  });

  it('multi select as several tags', () => {
    const field = {
      type: 'multi_select' as const,
      options: [
        { value: 'a', label: { zh: '甲', en: 'A' }, color: '#ff0000' },
        { value: 'b', label: { zh: '乙', en: '' } },
      ],
    };
    const tags = [...cell(field, ['a', 'b'], 'en').querySelectorAll('.ant-tag')];
    expect(tags.map((t) => t.textContent)).toEqual(['A', '乙']);
    expect((tags[0] as HTMLElement).style.backgroundColor).toBe('rgb(255, 0, 0)');
  });

  it('boolean as a named icon', () => {
    expect(cell({ type: 'boolean' }, true).querySelector('[aria-label="Yes"]')).not.toBeNull();
    expect(cell({ type: 'boolean' }, false, 'zh').querySelector('[aria-label="否"]')).not.toBeNull();
  });

  it('date the same day in every zone, in the locale', () => {
    expect(cell({ type: 'date' }, '2026-03-01').textContent).toBe('Mar 1, 2026');
    expect(cell({ type: 'date' }, '2026-03-01', 'zh').textContent).toBe('2026年3月1日');
  });

  it('datetime in the user’s zone and locale', () => {
    const iso = '2026-03-01T08:30:00.000000Z';
    const want = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
    expect(cell({ type: 'datetime' }, iso).textContent).toBe(want);
  });

  it('relation as a link to the related record, titled when expanded', () => {
    const field = { type: 'relation' as const, target: 'customer' };
    const expanded = cell(field, { id: 'c1', name: '华东贸易' }).querySelector('a')!;
    expect(expanded.getAttribute('href')).toBe('/apps/crm/customer/c1');
    expect(expanded.textContent).toBe('华东贸易');
    const bare = cell(field, 'c2').querySelector('a')!;
    expect(bare.getAttribute('href')).toBe('/apps/crm/customer/c2');
    expect(bare.textContent).toBe('c2');
    // To an entity the caller may not read: the id, no link.
    const f = { name: 'f', label: { zh: '字段', en: 'Field' }, ...field } as FieldDef;
    const c = render(<MemoryRouter>{renderCell(f, 'c3', { ...ctx('en'), readable: new Set(['deal']) })}</MemoryRouter>).container;
    expect(c.querySelector('a')).toBeNull();
    expect(c.textContent).toBe('c3');
  });

  it('user as the id with an avatar initial', () => {
    const c = cell({ type: 'user' }, 'b7f3c2a1-0000-4000-8000-000000000001');
    expect(c.querySelector('.ant-avatar')!.textContent).toBe('B');
    expect(c.querySelector('[data-user-id]')!.getAttribute('data-user-id')).toBe('b7f3c2a1-0000-4000-8000-000000000001');
    expect(c.querySelector('.cell-user-id')!.textContent).toBe('b7f3c2a1…');
  });

  it("user as the person's name with the name's initial, when the users are known", () => {
    const f = { name: 'rep', label: { zh: '负责人', en: 'Rep' }, type: 'user' } as FieldDef;
    const people = new Map([
      ['u1', { name: '王芳', email: 'wang@example.com' }],
      ['u2', { name: 'ada lovelace', email: 'ada@example.com' }],
    ]);
    const at = (id: string) =>
      render(<MemoryRouter>{renderCell(f, id, { ...ctx('en'), people })}</MemoryRouter>).container;
    const wang = at('u1');
    expect(wang.querySelector('.cell-user-name')!.textContent).toBe('王芳');
    expect(wang.querySelector('.ant-avatar')!.textContent).toBe('王');
    expect(at('u2').querySelector('.ant-avatar')!.textContent).toBe('A');
    // Someone not in the list (removed meanwhile): the id, as without names.
    expect(at('u9').querySelector('.cell-user-id')!.textContent).toBe('u9');
  });

  it('email, url and phone as links', () => {
    expect(cell({ type: 'email' }, 'a@b.cn').querySelector('a')!.getAttribute('href')).toBe('mailto:a@b.cn');
    expect(cell({ type: 'url' }, 'https://x.cn').querySelector('a')!.getAttribute('target')).toBe('_blank');
    expect(cell({ type: 'phone' }, '+86 10 1234').querySelector('a')!.getAttribute('href')).toBe('tel:+86 10 1234');
  });

  it('attachment as the number of files', () => {
    expect(cell({ type: 'attachment' }, [{ id: 'f1' }, { id: 'f2' }]).textContent?.trim()).toBe('2');
  });

  it('json, long text and auto number as text', () => {
    expect(cell({ type: 'json' }, { a: 1 }).textContent).toBe('{"a":1}');
    expect(cell({ type: 'long_text' }, 'line').textContent).toBe('line');
    expect(cell({ type: 'auto_number' }, 'DL-2026-00001').textContent).toBe('DL-2026-00001');
  });
});
