// An OpenID provider on loopback for the console's sign-in tests: the npm oidc-provider
// (pinned in package.json), with its development login and consent pages.
//
// It listens on a free port and prints {"issuer": …} on a line; then reads one line from
// standard input, the redirect URI to register for the console's public client
// `brygga-console` (PKCE), and prints {"ready": true}. It serves until standard input closes.
//
// People: a login of `rut.oidc` is Rut Regionsson, a coordinator of Region Jämtland
// Härjedalen; `stranger` is of Östersund but has no console role; any other login has
// neither organisation nor role.
//   BRYGGA_TOOLS  the folder scripts/browser-tools.sh installed the tools into

import http from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";

const { default: Provider } = await import(
  pathToFileURL(join(process.env.BRYGGA_TOOLS, "node_modules/oidc-provider/lib/index.js")).href
);

const people = {
  "rut.oidc": {
    name: "Rut Regionsson",
    organisation: "SE2321000214-1000",
    brygga_role: "coordinator",
  },
  // Known, of a municipality, but given no console role.
  stranger: { name: "Sven Främling", organisation: "2380" },
};

let handler = (req, res) => {
  res.statusCode = 503;
  res.end("not ready");
};
const server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
console.log(JSON.stringify({ issuer }));

const lines = createInterface({ input: process.stdin });
const iterator = lines[Symbol.asyncIterator]();
const redirect = (await iterator.next()).value.trim();

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "brygga-console",
      redirect_uris: [redirect],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code"],
      response_types: ["code"],
    },
  ],
  claims: { openid: ["sub"], profile: ["name", "organisation", "brygga_role"] },
  // The profile's claims in the ID token itself: the console reads no userinfo.
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: id, ...(people[id] || {}) };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
});
// Quiet: the development interactions say they are for development on every start.
provider.on("server_error", (ctx, error) => console.error(`provider error: ${error}`));
const callback = provider.callback();
handler = (req, res) => callback(req, res);
console.log(JSON.stringify({ ready: true }));

// Serve until the test closes standard input.
for await (const _ of iterator) {
  // Nothing more is read.
}
server.close();
process.exit(0);
