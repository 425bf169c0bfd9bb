// Every string a user reads exists in zh-CN and en-US, and no message is glued from pieces.
import { describe, expect, it } from 'vitest';
import { concatenations, dictionaryProblems } from './check';
import { messages } from './i18n';

const sources = import.meta.glob(['../**/*.{ts,tsx}', '!../**/*.test.{ts,tsx}', '!../api/schema.d.ts', '!./check.ts'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

describe('the dictionaries', () => {
  it('have every key, non-blank, with the same placeholders, in both languages', () => {
    expect(dictionaryProblems(messages)).toEqual([]);
  });

  it('are caught missing a key or a placeholder', () => {
    expect(dictionaryProblems({ zh: { a: '甲', b: '共 {n} 条' }, en: { a: 'A', b: '{count} rows' }, })).toEqual([
      'b: placeholders differ between languages',
    ]);
    expect(dictionaryProblems({ zh: { a: '甲', b: '乙' }, en: { a: 'A' } })).toEqual(['b: missing in en']);
    expect(dictionaryProblems({ zh: { a: ' ' }, en: { a: 'A' } })).toEqual(['a: blank in zh']);
  });
});

describe('the sources', () => {
  it('were found', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(10);
    expect(Object.keys(sources).some((p) => p.endsWith('/apps/AppsPage.tsx'))).toBe(true);
  });

  it('build no message by concatenating pieces', () => {
    const found = Object.entries(sources).flatMap(([path, src]) =>
      concatenations(src).map((line) => `${path}: ${line}`),
    );
    expect(found).toEqual([]);
  });

  it('are caught concatenating', () => {
    for (const bad of [
      "const s = t('apps.updatedAt') + ' ' + date;",
      "title={`${t('apps.updatedAt')} ${date}`}",
      "label = date + t('apps.updatedAt');",
      "<span>{t('apps.updatedAt')} {date}</span>",
      "<span>{t('apps.updatedAt')}{t('apps.version')}</span>",
      "<span>{t('apps.updatedAt')}: </span>",
      "[t('apps.updatedAt'), date].join(' ')",
    ]) {
      expect(concatenations(bad), bad).toHaveLength(1);
    }
    for (const good of [
      "const s = t('apps.updatedAtDate', { date });",
      "<span>{t('apps.updatedAt')}</span>",
      "<Tag>{t('value.yes')}</Tag>",
      "n === 1 ? t('grid.total.one') : t('grid.total', { n })",
    ]) {
      expect(concatenations(good), good).toEqual([]);
    }
  });
});
