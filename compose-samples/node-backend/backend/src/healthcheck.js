// The container's healthcheck: healthy once the server answers /healthz.
const http = require("http");

const port = Number(process.env.PORT || 3000);
http
  .get(`http://127.0.0.1:${port}/healthz`, (res) => process.exit(res.statusCode === 200 ? 0 : 1))
  .on("error", () => process.exit(1));
