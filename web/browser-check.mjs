// Drives Debian's Chromium (through playwright-core) against a running
// confab: GraphiQL with no outside requests, a query and a live subscription
// event in it, and a page from another origin that queries with fetch (CORS)
// and subscribes with graphql-ws.
//
//   node web/browser-check.mjs http://127.0.0.1:PORT TOKEN THREAD_ID [SCREENSHOT.png]
//
// Prints one JSON line with what it saw; exits non-zero on any failure.
import http from "node:http";
import { chromium } from "playwright-core";

const [base, token, threadId, screenshot] = process.argv.slice(2);
if (!base || !token || !threadId) {
  console.error("usage: browser-check.mjs BASE_URL TOKEN THREAD_ID [SCREENSHOT]");
  process.exit(2);
}
const wsBase = base.replace(/^http/, "ws");
const baseOrigin = new URL(base).origin;
const seen = {};

async function sendMessage(text) {
  const response = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } userErrors { code } } }",
      variables: { input: { threadId, text } },
    }),
  });
  const body = await response.json();
  if (!body.data?.sendMessage?.message) throw new Error(`sendMessage failed: ${JSON.stringify(body)}`);
}

// A page on another origin (localhost instead of 127.0.0.1, another port).
function otherOriginPage() {
  const html = `<!doctype html><title>other origin</title>
<script src="${base}/graphiql/graphql-ws.min.js"></script>
<script>
  window.results = { query: null, event: null, errors: [] };
  fetch("${base}/graphql", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Authorization": "Bearer ${token}" },
    body: JSON.stringify({ query: "{ viewer { organization { name } } }" }),
  }).then(r => r.json()).then(body => { window.results.query = body; })
    .catch(e => window.results.errors.push("fetch: " + e));
  const client = graphqlWs.createClient({
    url: "${wsBase}/ws",
    connectionParams: { Authorization: "Bearer ${token}" },
    on: { connected: () => { window.results.connected = true; } },
  });
  client.subscribe(
    { query: 'subscription { threadEvents(threadId: "${threadId}") { kind message { text } } }' },
    {
      next: (value) => { if (value.data?.threadEvents?.kind === "MESSAGE_ADDED") window.results.event = value.data; },
      error: (e) => window.results.errors.push("ws: " + JSON.stringify(e && (e.reason || e.message || e))),
      complete: () => {},
    });
</script>`;
  return new Promise((resolve) => {
    const server = http.createServer((request, response) => {
      response.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      response.end(html);
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

async function waitFor(what, check, timeoutMs = 15000) {
  const started = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
let server;
try {
  server = await otherOriginPage();
  const pageOrigin = `http://localhost:${server.address().port}`;
  const context = await browser.newContext();
  const outside = [];
  // Nothing may leave this machine's two origins (GraphiQL must work offline).
  await context.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.origin === baseOrigin || url.origin === pageOrigin || url.protocol === "data:") {
      return route.continue();
    }
    outside.push(url.href);
    return route.abort();
  });

  // --- GraphiQL -------------------------------------------------------------
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(`${base}/#token=${token}`);
  await page.waitForSelector(".graphiql-container", { timeout: 15000 });
  seen.tokenRemovedFromUrl = !page.url().includes(token);
  const setEditor = (selector, text) =>
    page.evaluate(([selector, text]) => {
      document.querySelector(selector).CodeMirror.setValue(text);
    }, [selector, text]);
  const resultText = () =>
    page.evaluate(() => document.querySelector(".graphiql-response .CodeMirror")?.CodeMirror.getValue() || "");
  // The schema loaded with the key from the fragment (no 401, no "Error fetching schema").
  await page.locator(".graphiql-sidebar button[aria-label*='Documentation']").first().click();
  await waitFor("the schema in Docs", () => page.locator("text=Query").first().isVisible().catch(() => false));
  seen.schemaError = await page.locator("text=Error fetching schema").count();

  await setEditor(".graphiql-query-editor .CodeMirror", "{ viewer { organization { name } } }");
  await page.click(".graphiql-execute-button");
  seen.graphiqlQuery = JSON.parse(await waitFor("the query's result", async () => {
    const text = await resultText();
    return text.includes("organization") ? text : null;
  }));

  await setEditor(".graphiql-query-editor .CodeMirror",
    `subscription { threadEvents(threadId: "${threadId}") { kind message { text } } }`);
  await page.click(".graphiql-execute-button");
  await new Promise((r) => setTimeout(r, 1000));
  await sendMessage("hello from the browser test");
  seen.graphiqlEvent = JSON.parse(await waitFor("the subscription event", async () => {
    const text = await resultText();
    return text.includes("hello from the browser test") ? text : null;
  }));
  if (screenshot) await page.screenshot({ path: screenshot });
  seen.graphiqlPageErrors = consoleErrors;

  // --- another origin ---------------------------------------------------------
  const other = await context.newPage();
  await other.goto(`${pageOrigin}/`);
  await waitFor("the cross-origin query", () => other.evaluate(() => window.results.query || window.results.errors.length));
  await waitFor("the cross-origin socket", () => other.evaluate(() => window.results.connected || window.results.errors.length));
  await new Promise((r) => setTimeout(r, 500));
  await sendMessage("hello across origins");
  await waitFor("the cross-origin event", () => other.evaluate(() => window.results.event || window.results.errors.length));
  seen.otherOrigin = await other.evaluate(() => window.results);
  seen.outsideRequests = outside;
  console.log(JSON.stringify(seen));
} catch (error) {
  console.log(JSON.stringify(seen));
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
  server?.close();
}
