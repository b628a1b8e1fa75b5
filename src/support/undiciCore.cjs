// The parts of undici this program uses (dispatchers and their request
// API), for the bundle: scripts/build.ts resolves "undici" to this file.
// undici's index also loads fetch, WebSocket, EventSource, caches, cookies
// and mocks; its cookie module reads globalThis.Headers, which makes Node
// load its own copy of undici too. Together some megabytes of memory for as
// long as the process runs, for nothing it calls. Tests run against the
// whole package; the end-to-end tests run the bundle.
"use strict"

const Dispatcher = require("undici/lib/dispatcher/dispatcher")
const api = require("undici/lib/api")
const { getGlobalDispatcher, setGlobalDispatcher } = require("undici/lib/global")

// As undici's index does: request() and the other calls on every dispatcher.
Object.assign(Dispatcher.prototype, api)

module.exports = {
  Dispatcher,
  Agent: require("undici/lib/dispatcher/agent"),
  ProxyAgent: require("undici/lib/dispatcher/proxy-agent"),
  EnvHttpProxyAgent: require("undici/lib/dispatcher/env-http-proxy-agent"),
  errors: require("undici/lib/core/errors"),
  getGlobalDispatcher,
  setGlobalDispatcher
}
