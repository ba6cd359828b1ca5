// The Node check, under whatever Node is first on PATH. Plain JavaScript on purpose: an older
// Node cannot even load the TypeScript sources, and would otherwise fail with a confusing
// "Unknown file extension .ts".
//
// Before `npm run dev` and `npm test`: stops with an explanation when that Node is older than
// 24. After `npm ci` (postinstall): says in one line which Node the scripts will run on,
// when it is not the one npm itself runs on; never fails the install (decision 007).
const [major] = process.versions.node.split('.').map(Number);
// "npm/11.19.1 node/v20.20.2 linux x64 workspaces/false": the Node that runs npm.
const npmNode = /\bnode\/(v[\d.]+)/.exec(process.env.npm_config_user_agent ?? '')?.[1];

if (process.env.npm_lifecycle_event === 'postinstall') {
  if (major >= 24 && npmNode !== undefined && npmNode !== process.version) {
    console.log(
      `Node.js ${process.version} is installed in node_modules/.bin and every npm script runs on it (npm itself runs on ${npmNode}; see docs/decisions/001).`,
    );
  } else if (major < 24) {
    console.log(
      `This project runs on Node.js 24, and npm scripts will find ${process.version} (${process.execPath}): ` +
        'no Node 24 package was installed for this platform (or optional dependencies were omitted). ' +
        'Install Node 24 (for example `nvm install`, which reads .nvmrc).',
    );
  }
} else if (major < 24) {
  console.error(
    `This project needs Node.js 24 or later; ${process.execPath} is ${process.version}.\n` +
      'On Linux x64/arm64 and Windows x64, `npm ci` installs it into node_modules/.bin, and npm scripts use it.\n' +
      'Elsewhere, install Node 24 (for example `nvm install` reads .nvmrc).',
  );
  process.exit(1);
}
