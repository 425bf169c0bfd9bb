// Prints the gzipped size of the JavaScript (and CSS) a cold load of the UI fetches before
// any lazy route: the entry script of dist/index.html and every chunk it imports statically.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';

const dist = new URL('../dist/', import.meta.url).pathname;
const html = readFileSync(join(dist, 'index.html'), 'utf8');
const seen = new Set();
const queue = [...html.matchAll(/(?:src|href)="\/?(assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]);
while (queue.length) {
  const f = queue.shift();
  if (seen.has(f)) continue;
  seen.add(f);
  if (!f.endsWith('.js')) continue;
  const code = readFileSync(join(dist, f), 'utf8');
  // Static imports only: `import … from "./x.js"` / `import "./x.js"` (not `import("./x.js")`).
  for (const m of code.matchAll(/(?:^|[;}\s])import\s*(?:[\w*{}\s,$]+from\s*)?["']\.\/([^"']+\.js)["']/g)) {
    queue.push(`assets/${m[1]}`);
  }
}
let js = 0;
let css = 0;
for (const f of [...seen].sort()) {
  const gz = gzipSync(readFileSync(join(dist, f))).length;
  if (f.endsWith('.js')) js += gz;
  else css += gz;
  console.log(`${(gz / 1024).toFixed(1).padStart(7)} kB  ${f}`);
}
console.log(`first load: ${(js / 1024).toFixed(1)} kB of JavaScript, ${(css / 1024).toFixed(1)} kB of CSS (gzip)`);
