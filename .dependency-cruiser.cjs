/**
 * The layers of docs/architecture.md, as rules: a module imports from its own folder and from the
 * layers below it, never from a layer above, never from another folder of its own layer (a port —
 * an interface the lower side defines — and the composition root in src/app/ connect those), and
 * no module cycle anywhere. `npm run lint` fails on any of it.
 *
 * Top to bottom:
 */
const LAYERS = [
  // the programs: the CLI and the one composition root
  { name: 'programs', folders: ['cli', 'app'], files: ['cli', 'index'], mayCross: true },
  // features and programs built on the two paths
  { name: 'features', folders: ['admin', 'rollout', 'queue-proxy', 'predictor', 'tracing', 'load-test'] },
  // the request path, the control path, and the Kubernetes adapters
  { name: 'paths', folders: ['autoscaler', 'gateway', 'kube'] },
  // mechanisms: scaler drivers, statistics, the data port's server, the upstream client
  { name: 'mechanisms', folders: ['scaler', 'stats', 'downstream', 'upstream'] },
  // parsed, validated configuration (pure)
  { name: 'config', folders: ['config'] },
  // shared types and helpers every layer may use
  { name: 'core', folders: ['core'], files: ['errors', 'log', 'net-address', 'quote', 'require-bearer', 'serve-app'], mayCross: true },
];

const folderPath = (folder) => `^src/${folder}/`;
const filePath = (file) => `^src/${file}\\.ts$`;
const pathsOf = (layer) => [...layer.folders.map(folderPath), ...(layer.files ?? []).map(filePath)];

const forbidden = [
  {
    name: 'no-circular',
    comment: 'A module cycle, anywhere in src/.',
    severity: 'error',
    from: { path: '^src/' },
    to: { circular: true },
  },
];

LAYERS.forEach((layer, i) => {
  const above = LAYERS.slice(0, i).flatMap(pathsOf);
  if (above.length > 0) {
    forbidden.push({
      name: `${layer.name}-imports-up`,
      comment: `${layer.name} (${[...layer.folders, ...(layer.files ?? [])].join(', ')}) must not import from a layer above it.`,
      severity: 'error',
      from: { path: pathsOf(layer) },
      to: { path: above },
    });
  }
  if (layer.mayCross) return;
  for (const folder of layer.folders) {
    const siblings = layer.folders.filter((f) => f !== folder).map(folderPath);
    if (siblings.length === 0) continue;
    forbidden.push({
      name: `${folder}-imports-across`,
      comment: `${folder}/ must not import another folder of the ${layer.name} layer (${siblings.join(', ')}): define a port and let src/app/ connect them.`,
      severity: 'error',
      from: { path: folderPath(folder) },
      to: { path: siblings },
    });
  }
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js'],
    },
  },
};
