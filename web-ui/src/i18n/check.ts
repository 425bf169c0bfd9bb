// The checks `i18n.test.ts` runs over the dictionaries and the sources: kept apart so the
// test can show each one catching what it is for.

export type Dictionaries = Record<string, Record<string, string>>;

/** `{name}` placeholders of a message, sorted. */
export function placeholders(message: string): string[] {
  return [...message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
}

/** Each problem with the dictionaries: a key missing or blank in a language, placeholders that differ. */
export function dictionaryProblems(dicts: Dictionaries): string[] {
  const langs = Object.keys(dicts);
  const keys = new Set(langs.flatMap((l) => Object.keys(dicts[l])));
  const problems: string[] = [];
  for (const key of [...keys].sort()) {
    for (const lang of langs) {
      const m = dicts[lang][key];
      if (m === undefined) problems.push(`${key}: missing in ${lang}`);
      else if (m.trim() === '') problems.push(`${key}: blank in ${lang}`);
    }
    const shapes = new Set(
      langs.filter((l) => dicts[l][key] !== undefined).map((l) => placeholders(dicts[l][key]).join(',')),
    );
    if (shapes.size > 1) problems.push(`${key}: placeholders differ between languages`);
  }
  return problems;
}

// A message call: t('key') or t('key', {...}) (also translate(lang, 'key', ...)).
const CALL = String.raw`\b(?:t|translate)\([^()]*?'[\w.]+'[^()]*?\)`;
const CONCATENATION: RegExp[] = [
  new RegExp(`${CALL}\\s*\\+`), // t('a') + …
  new RegExp(String.raw`\+\s*` + CALL), // … + t('a')
  new RegExp(String.raw`\$\{\s*` + CALL), // `${t('a')} …`
  new RegExp(String.raw`(?<!=)\{\s*` + CALL + String.raw`\s*\}\s*(?:\{'\s*'\}\s*)?[^<{\s]`), // >{t('a')} more text<
  new RegExp(String.raw`(?<!=)\{\s*` + CALL + String.raw`\s*\}\s*(?:\{'\s*'\}\s*)?\{`), // >{t('a')} {value}<
  new RegExp(String.raw`\[\s*` + CALL + String.raw`[^\]]*\]\s*\.join\(`), // [t('a'), …].join()
];

/** Lines of a source file that build a message by joining a translated piece with something else. */
export function concatenations(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  return code
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => CONCATENATION.some((re) => re.test(line)));
}
