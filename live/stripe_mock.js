#!/usr/bin/env node
// Start stripe-stateful-mock's Express app on loopback only.
//
// The package's own start script listens on every interface; the live stack must not, so
// this launcher builds the app and binds it to 127.0.0.1 (or PAYHARNESS_STRIPE_MOCK_HOST).
// Usage: node live/stripe_mock.js [port]   (default: $PAYHARNESS_STRIPE_MOCK_PORT or 12111)
"use strict";

const path = require("path");

process.env.LOG_LEVEL = process.env.LOG_LEVEL || "warn";

let mock;
try {
  mock = require("stripe-stateful-mock");
} catch (err) {
  // Resolve from the repository root when run from elsewhere.
  mock = require(path.join(__dirname, "..", "..", "node_modules", "stripe-stateful-mock"));
}

const host = process.env.PAYHARNESS_STRIPE_MOCK_HOST || "127.0.0.1";
const port = Number(process.argv[2] || process.env.PAYHARNESS_STRIPE_MOCK_PORT || 12111);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`stripe mock: invalid port ${process.argv[2]}`);
  process.exit(2);
}

const app = mock.createExpressApp();
const server = app.listen(port, host, () => {
  console.log(`stripe-stateful-mock listening on http://${host}:${port}`);
});
server.on("error", (err) => {
  console.error(`stripe mock: cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
