// Bundle src/index.js (bpmn-js Modeler + properties panel + GovFlow's properties group + bpmn-js-differ) into
// ../static/vendor/govflow-modeler/, with the properties panel's CSS and the licences. `npm run bundle`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(here, '..', 'static', 'vendor', 'govflow-modeler');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
await build({
  entryPoints: [path.join(here, 'src', 'index.js')],
  bundle: true, minify: true, format: 'iife', target: ['es2020'], legalComments: 'linked',
  outfile: path.join(out, 'govflow-modeler.js'),
  define: { 'process.env.NODE_ENV': '"production"' },
});
fs.copyFileSync(path.join(here, 'node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css'),
  path.join(out, 'properties-panel.css'));
const lock = JSON.parse(fs.readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
const names = ['bpmn-js', 'bpmn-js-properties-panel', '@bpmn-io/properties-panel', 'bpmn-js-differ', 'esbuild'];
fs.writeFileSync(path.join(out, 'VERSIONS'),
  names.map((n) => `${n} ${lock.packages['node_modules/' + n].version}`).join('\n') + '\n');
console.log('bundled into', out);
