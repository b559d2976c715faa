// Drives autobahn-js (the browser build, npm `autobahn-browser`) in headless Chromium against a
// WAMP router. Prints one JSON object with what the page saw; tests/test_browser.py starts the
// gateway (and the Python callee, or the database bridge) and checks it.
//
//   node run.mjs <ws-url> <json|msgpack|cbor>                           the frontend tour
//   node run.mjs <ws-url> <serializer> trace <procedure> <traceparent>  one call carrying a W3C traceparent
import { chromium } from "playwright-core";
import { fileURLToPath } from "node:url";

const [url, serializer, mode, procedure, traceparent] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const bundle = fileURLToPath(new URL("./node_modules/autobahn-browser/autobahn.min.js", import.meta.url));

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage();
  const console_lines = [];
  page.on("console", (m) => console_lines.push(m.text()));
  await page.addScriptTag({ path: bundle });
  // In the page: a connection offering only `serializer`, and its session once joined.
  await page.addScriptTag({
    content: `window.join = (url, serializer) => {
      const make = {
        json: () => new autobahn.serializer.JSONSerializer(),
        msgpack: () => new autobahn.serializer.MsgpackSerializer(),
        cbor: () => new autobahn.serializer.CBORSerializer(),
      }[serializer];
      const connection = new autobahn.Connection({ url, realm: "realm1", serializers: [make()], max_retries: 0 });
      return new Promise((resolve, reject) => {
        connection.onopen = (session) => resolve({ connection, session });
        connection.onclose = (reason, details) => reject(new Error("closed: " + reason + " " + JSON.stringify(details)));
        connection.open();
      });
    };`,
  });
  const traced = async ({ url, serializer, procedure, traceparent }) => {
    const { connection, session } = await window.join(url, serializer);
    const answer = await session.call(procedure, [], {}, { traceparent });
    connection.close();
    return { answer };
  };
  if (mode === "trace") {
    const seen = await page.evaluate(traced, { url, serializer, procedure, traceparent });
    console.log(JSON.stringify(seen));
    process.exit(0);
  }
  const seen = await page.evaluate(
    async ({ url, serializer }) => {
      const { connection, session } = await window.join(url, serializer);
      const error = (e) => ({ error: e.error, args: e.args });
      const out = { session: session.id };
      out.transport = (await session.call("wamp.session.get", [session.id])).transport;
      out.sum = await session.call("com.example.browser.add", [2, 3]);
      out.progress = [];
      out.final = await session
        .call("com.example.browser.count", [3], {}, { receive_progress: true })
        .then((r) => r, (e) => error(e), (p) => out.progress.push(p));
      // autobahn-js's JSON serializer has no binary convention (it writes a typed array as an
      // object), so binary goes only over msgpack and cbor.
      const first = serializer === "json" ? "plain" : new Uint8Array([0, 1, 255]);
      out.echo = await session.call("com.example.browser.echo", [first, "héllo"]);
      out.echo = out.echo.args.map((v) => (v instanceof Uint8Array ? Array.from(v) : v));
      out.event = await new Promise(async (resolve, reject) => {
        await session.subscribe("com.example.browser.news", (args, kwargs) => resolve({ args, kwargs }));
        await session.publish("com.example.browser.news", ["hi"], { from: "browser" }, { exclude_me: false, acknowledge: true });
        setTimeout(() => reject(new Error("no event within 5 s")), 5000);
      });
      out.missing = await session.call("com.example.browser.missing").then(() => "answered", error);
      out.invalid = await session.call("com..bad uri").then(() => "answered", error);
      out.still_open = session.isOpen && (await session.call("com.example.browser.add", [1, 1])) === 2;
      await new Promise((resolve) => {
        connection.onclose = (reason) => {
          out.closed = reason;
          resolve();
        };
        connection.close();
      });
      return out;
    },
    { url, serializer },
  );
  seen.console = console_lines;
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}
