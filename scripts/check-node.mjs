// Runs before `npm test` and `npm run dev` under whatever Node is first on PATH. Plain
// JavaScript on purpose: an older Node cannot even load the TypeScript sources, and would
// otherwise fail with a confusing "Unknown file extension .ts".
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `This project needs Node.js 24 or later; ${process.execPath} is ${process.version}.\n` +
      'On Linux x64/arm64 and Windows x64, `npm ci` installs it into node_modules/.bin, and npm scripts use it.\n' +
      'Elsewhere, install Node 24 (for example `nvm install` reads .nvmrc).',
  );
  process.exit(1);
}
