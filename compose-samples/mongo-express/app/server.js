// Minimal app: answers with the number of requests it has seen.
const http = require("http");
let hits = 0;
http.createServer((req, res) => res.end(`hits: ${++hits}\n`)).listen(3000);
