// Calls batchd through the official Node.js SDK (npm tencentcloud-sdk-nodejs), one call per line:
// reads {"api": "batch"|"tdmq", "action": ..., "params": {...}, "region"?: ...} from stdin and
// writes {"ok": <answer>} or {"error": {"code", "message"}} to stdout, one line each.
// BATCHD_ENDPOINT is host:port as users give it (e.g. 127.0.0.1:8910); the SDK then signs the
// host without the port and takes the service from the endpoint's first label.
"use strict";

const readline = require("readline");
const { batch } = require("tencentcloud-sdk-nodejs/tencentcloud/services/batch");
const { tdmq } = require("tencentcloud-sdk-nodejs/tencentcloud/services/tdmq");

const CLIENTS = { batch: batch.v20170312.Client, tdmq: tdmq.v20200217.Client };

function client(api, region) {
  return new CLIENTS[api]({
    credential: {
      secretId: process.env.BATCHD_SECRET_ID,
      secretKey: process.env.BATCHD_SECRET_KEY,
    },
    region: region || "ap-guangzhou",
    profile: {
      httpProfile: { endpoint: process.env.BATCHD_ENDPOINT, protocol: "http://", reqTimeout: 60 },
    },
  });
}

async function call(line) {
  const { api, action, params, region } = JSON.parse(line);
  try {
    return { ok: await client(api, region)[action](params || {}) };
  } catch (error) {
    return { error: { code: error.code || "", message: error.message || String(error) } };
  }
}

const lines = readline.createInterface({ input: process.stdin });
(async () => {
  for await (const line of lines) {
    if (line.trim()) {
      process.stdout.write(JSON.stringify(await call(line)) + "\n");
    }
  }
})();
