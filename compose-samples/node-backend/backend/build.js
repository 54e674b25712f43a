// `npm run build`: copies the sources into dist/ with a banner naming the
// file they came from (a stand-in for a bundler or a compiler).
const fs = require("fs");
const path = require("path");

const src = path.join(__dirname, "src");
const dist = path.join(__dirname, "dist");
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist);
for (const name of fs.readdirSync(src).sort()) {
  const text = fs.readFileSync(path.join(src, name), "utf8");
  fs.writeFileSync(path.join(dist, name), `// built from src/${name}\n${text}`);
  console.log(`built dist/${name}`);
}
