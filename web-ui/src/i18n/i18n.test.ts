import { describe, expect, it } from 'vitest';
import { detectLang, localize, messages, translate } from './i18n';

describe('localize', () => {
  it('returns the label in the wanted language', () => {
    expect(localize({ zh: '订单', en: 'Orders' }, 'zh')).toBe('订单');
    expect(localize({ zh: '订单', en: 'Orders' }, 'en')).toBe('Orders');
  });

  it('falls back to the other language when missing or blank', () => {
    expect(localize({ zh: '订单', en: '' }, 'en')).toBe('订单');
    expect(localize({ zh: '   ', en: 'Orders' }, 'zh')).toBe('Orders');
    expect(localize({ zh: '订单' }, 'en')).toBe('订单');
    expect(localize({ en: 'Orders' }, 'zh')).toBe('Orders');
  });

  it('returns an empty string for no label', () => {
    expect(localize(null, 'zh')).toBe('');
    expect(localize(undefined, 'en')).toBe('');
    expect(localize({ zh: '', en: '' }, 'en')).toBe('');
  });
});

describe('detectLang', () => {
  it('picks Chinese for any zh variant, English otherwise', () => {
    expect(detectLang(['zh-CN', 'en'])).toBe('zh');
    expect(detectLang(['zh-TW'])).toBe('zh');
    expect(detectLang(['en-US', 'zh-CN'])).toBe('en');
    expect(detectLang(['fr-FR'])).toBe('en');
  });

  it('defaults to Chinese when the browser says nothing', () => {
    expect(detectLang([])).toBe('zh');
    expect(detectLang(undefined)).toBe('zh');
  });
});

describe('translate', () => {
  it('fills variables', () => {
    expect(translate('en', 'apps.count', { n: 3 })).toBe('3 apps');
    expect(translate('zh', 'apps.count', { n: 3 })).toBe('共 3 个应用');
  });

  it('has the same keys in both languages', () => {
    expect(Object.keys(messages.en).sort()).toEqual(Object.keys(messages.zh).sort());
  });
});
