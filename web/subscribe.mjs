// A command-line GraphQL subscription client (graphql-ws over /ws), for the
// README's quick start and for poking at a running confab.
//
//   node web/subscribe.mjs URL TOKEN 'subscription { inboxEvents { kind } }' [UNTIL]
//
// Prints each result as one JSON line; exits after the first result whose
// JSON contains the text UNTIL (without it, runs until interrupted), or with
// status 1 on an error or when UNTIL has not come within 30 seconds.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, query, until] = process.argv.slice(2);
if (!url || !token || !query) {
  console.error("usage: subscribe.mjs URL TOKEN QUERY [UNTIL]");
  process.exit(2);
}
const wsUrl = url.replace(/^http/, "ws").replace(/\/(graphql)?$/, "") + "/ws";
const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
});
if (until) {
  setTimeout(() => {
    console.error(`subscription: no result containing ${JSON.stringify(until)} within 30 s`);
    process.exit(1);
  }, 30_000).unref();
}
const dispose = client.subscribe({ query }, {
  next(value) {
    const line = JSON.stringify(value);
    console.log(line);
    if (until && line.includes(until)) {
      dispose();
      client.dispose();
    }
  },
  error(error) {
    console.error("subscription failed:", error?.reason || error?.message || JSON.stringify(error));
    process.exit(1);
  },
  complete() {},
});
