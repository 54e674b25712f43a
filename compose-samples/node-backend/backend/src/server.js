// The backend: answers every request with a greeting, /healthz with "ok".
const http = require("http");

const port = Number(process.env.PORT || 3000);
const server = http.createServer((req, res) => {
  res.setHeader("content-type", "text/plain");
  if (req.url === "/healthz") {
    res.end("ok\n");
    return;
  }
  console.log(`${req.method} ${req.url}`);
  res.end("Hello from wharf! This page was built by `npm run build`.\n");
});
server.listen(port, () => console.log(`listening on port ${port}`));
// Stop at once on `wharf down` (node ignores SIGTERM as PID 1 otherwise).
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
