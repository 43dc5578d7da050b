// The dashboard, driven in Debian's Chromium by playwright-core, from sign-in to sign-out.
// tests/web/test_dashboard_browser.py starts the local stack and runs this script; for
// what only GitHub's side can do (merge a pull request, push a commit, switch who is
// signed in on github.com) it asks that test over stdout/stdin, one JSON line each way.
import { createRequire } from "node:module";
import { readFileSync, mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import assert from "node:assert/strict";

const require = createRequire(new URL("../../tools/package.json", import.meta.url));
const { chromium } = require("playwright-core");
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const REST = process.env.VMKIT_REST_URL;
const REPO = process.env.VMKIT_WEB_REPO; // owner/name, on the GitHub simulator
const ARTIFACTS = process.env.VMKIT_WEB_ARTIFACTS;
const CANARIES = JSON.parse(process.env.VMKIT_WEB_CANARIES); // secret values to enter
mkdirSync(ARTIFACTS, { recursive: true });

// --- the channel to the test --------------------------------------------------------
const replies = [];
const waiting = [];
createInterface({ input: process.stdin }).on("line", (line) => {
  const reply = JSON.parse(line);
  (waiting.shift() ?? ((r) => replies.push(r)))(reply);
});
async function ask(what, args = {}) {
  process.stdout.write(`@@ask ${JSON.stringify({ what, ...args })}\n`);
  const reply = await new Promise((resolve) => (replies.length ? resolve(replies.shift()) : waiting.push(resolve)));
  if (reply.error) throw new Error(`the test could not ${what}: ${reply.error}`);
  return reply;
}
const log = (text) => process.stdout.write(`${text}\n`);

// --- what every page must satisfy ---------------------------------------------------
const served = []; // every same-origin body the dashboard sent, for the canary check
const audited = new Set();
async function check(page, name) {
  await page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
  const key = new URL(page.url()).pathname.replace(/(ins|env|dep|repo|tgt)_[0-9A-Z]{26}/g, "$1_*");
  if (audited.has(key)) return;
  audited.add(key);
  await page.evaluate(AXE); // evaluate is not subject to the page's CSP; a <script> would be
  const result = await page.evaluate(() =>
    axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] }),
  );
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `axe on ${name}`,
  );
}

async function noPostForms(page) {
  // Every form or htmx control that changes something, except signing out.
  return page.evaluate(
    () =>
      [...document.querySelectorAll('form[method="post"]:not([action="/logout"]):not([action="/workspace"]), [hx-post]')].map(
        (e) => e.getAttribute("action") || e.getAttribute("hx-post"),
      ),
  );
}

async function signInWithGitHub(page, login) {
  await ask("sign_in_as", { login });
  await page.goto(`${REST}/`);
  await page.waitForURL(/\/login/);
  await page.getByTestId("github-sign-in").click();
  await page.waitForURL(`${REST}/`);
  await assert.doesNotReject(page.getByTestId("who").filter({ hasText: login }).waitFor());
}

async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/\/login\?signed_out=1/);
  await page.getByText("You are signed out.").waitFor();
}

async function waitForStatus(page, wanted, timeout) {
  const status = page.getByTestId("deploy-status");
  const deadline = Date.now() + timeout;
  let merged = false;
  for (;;) {
    const now = (await status.textContent()).trim();
    if (now === wanted) return;
    if (["succeeded", "failed", "cancelled"].includes(now)) throw new Error(`deploy ${now}, not ${wanted}`);
    if (now === "waiting_for_pr" && !merged && (await page.locator("#timeline a[href*='/pull/']").count())) {
      await ask("merge_onboarding_pr", { repo: REPO }); // the repo owner merges it on GitHub
      merged = true;
    }
    if (Date.now() > deadline) throw new Error(`the deploy is still ${now} after ${timeout} ms`);
    // The page polls by itself (htmx); this only waits for its next swap.
    await page.waitForEvent("response", { predicate: (r) => r.url().endsWith("/timeline"), timeout: 10000 });
  }
}

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
context.on("response", async (response) => {
  if (!response.url().startsWith(REST) || response.status() >= 300) return;
  try {
    served.push({ url: response.url(), body: await response.text() });
  } catch {
    /* a body gone with its page */
  }
});
const page = await context.newPage();
const started = Date.now();
try {
  // 1. Sign in with GitHub (the simulator's consent page sends the browser straight back).
  await page.goto(`${REST}/`);
  await check(page, "01-login");
  await signInWithGitHub(page, REPO.split("/")[0]);
  await check(page, "02-overview-empty");
  log("signed in with GitHub");

  // 2. Connect the GitHub App through GitHub's install page and the setup redirect.
  await page.goto(`${REST}/settings/github`);
  await page.getByTestId("install-app").click();
  await page.waitForURL(/\/settings\/github\?installation_id=\d+/);
  await page.getByTestId("installed").waitFor();
  await check(page, "03-github-connected");
  log("the GitHub App is installed and claimed");

  // 3. Add a Hetzner target: the token is entered once and shown masked afterwards.
  await page.goto(`${REST}/settings/targets`);
  await page.getByLabel("Name").fill("hetzner main");
  await page.getByLabel("Provider").selectOption("hetzner");
  await page.getByLabel("API token").fill(CANARIES.token);
  await page.getByRole("button", { name: "Add target" }).click();
  await page.waitForURL(`${REST}/settings/targets`);
  assert.equal((await page.getByTestId("token-hint").textContent()).trim(), `••••••••${CANARIES.token.slice(-4)}`);
  await check(page, "04-targets");
  log("a Hetzner target is added; its token shows masked");

  // A form posted without the CSRF token is refused, and adds nothing.
  const forged = await page.request.post(`${REST}/settings/targets`, {
    form: { name: "forged", provider: "local" },
    maxRedirects: 0,
  });
  assert.equal(forged.status(), 403);
  assert.match(await forged.text(), /security token is missing/);

  // 4. Pick the repo, create an environment with a size (priced from the catalog) and a region.
  await page.goto(`${REST}/settings/github`);
  await page.getByRole("button", { name: `Connect ${REPO}` }).click();
  await page.waitForURL(/\/environments\/new\?repo_id=/);
  const size = page.getByTestId("size").first();
  assert.match(await size.locator("option:checked").textContent(), /\$\d+\.\d\d\/month/);
  await size.selectOption("cax21");
  await check(page, "05-environment-new");
  await page.getByRole("button", { name: "Create environment" }).click();
  await page.waitForURL(/\/environments\/env_/);
  const envUrl = page.url();
  // The plan before deploying: what gets created, and the monthly price.
  await page.getByTestId("plan").getByText("VM", { exact: true }).waitFor();
  assert.match(await page.getByTestId("monthly-cost").textContent(), /\$\d+\.\d\d\/month/);
  // A secret is saved once and never shown again.
  await page.getByLabel("Name", { exact: true }).fill("DATABASE_URL");
  await page.getByLabel("Value").fill(CANARIES.secret);
  await page.getByLabel(/^Secret/).check();
  await page.getByRole("button", { name: "Save variable" }).click();
  await page.getByTestId("secret-value").waitFor();
  await check(page, "06-environment-plan");
  await page.goto(`${REST}/repos`);
  await page.getByRole("heading", { name: REPO }).waitFor();
  await check(page, "06b-repos");
  await page.goto(envUrl);
  log("environment created; the plan and its monthly price are shown");

  // 5. Deploy and watch the timeline, updating live, reach succeeded.
  await page.getByTestId("deploy").click();
  await page.waitForURL(/\/deploys\/dep_/);
  await check(page, "07-deploy-running");
  await waitForStatus(page, "succeeded", 180000);
  await page.getByTestId("run-url").waitFor();
  await check(page, "08-deploy-succeeded");
  const deployUrl = page.url();
  log(`deploy succeeded: ${deployUrl}`);

  // 6. The app answers at its URL.
  const appUrl = await page.getByTestId("deploy-url").getAttribute("href");
  const app = await context.newPage();
  const answer = await app.goto(appUrl);
  assert.equal(answer.status(), 200);
  assert.match(await app.textContent("body"), /hello/i);
  await app.screenshot({ path: `${ARTIFACTS}/09-app.png` });
  await app.close();
  log(`the app answers at ${appUrl}`);

  // 7. Its logs, through the agent's logs_fetch.
  await page.goto(deployUrl);
  await page.getByTestId("show-logs").click();
  await page.getByTestId("log-lines").waitFor();
  assert.ok((await page.getByTestId("log-lines").textContent()).trim().length > 0);
  await check(page, "10-deploy-logs");
  // Following: the fragment fetches itself again every few seconds until stopped.
  await page.getByTestId("follow-logs").click();
  await page.getByTestId("stop-following").waitFor();
  await page.waitForResponse((r) => r.url().includes("follow=1"), { timeout: 10000 });
  await page.getByTestId("stop-following").click();
  await page.getByTestId("stop-following").waitFor({ state: "detached" });

  // 8. The VM: agent connected, version, metrics measured now.
  await page.goto(envUrl);
  await page.locator('a[href^="/instances/"]').first().click();
  await page.waitForURL(/\/instances\/ins_/);
  assert.equal((await page.getByTestId("agent-state").textContent()).trim(), "connected");
  await page.getByTestId("refresh-metrics").click();
  await page.getByTestId("cpu").waitFor();
  await page.getByTestId("diagnose").click();
  await page.locator("#op-result").getByText("Diagnosis").waitFor();
  await check(page, "11-instance");
  await page.getByTestId("harden").click();
  await page.locator("#op-result").getByText("Re-harden").waitFor();
  assert.match(await page.locator("#op-result pre").textContent(), /"ok": true/);
  log("instance page: agent connected, metrics and diagnosis shown");

  // 9. A failed deploy shows its reason and the Actions run.
  await ask("break_health_check", { repo: REPO });
  await page.goto(envUrl);
  await page.getByTestId("deploy").click();
  await page.waitForURL(/\/deploys\/dep_/);
  await waitForStatus(page, "failed", 180000);
  assert.match(await page.getByTestId("failure").textContent(), /Failed at \w+:.+/);
  await page.getByTestId("run-url").waitFor();
  await check(page, "12-deploy-failed");
  log("a failed deploy shows its reason");

  // 10. An API key: shown once with a copy button, then only its hint.
  await page.goto(`${REST}/settings/keys`);
  await page.getByLabel("Name").fill("ci");
  await page.getByLabel("Scope").selectOption("read");
  await page.getByTestId("create-key").click();
  const key = await page.locator("#new-key-value").inputValue();
  assert.match(key, /^vmk_[0-9a-f]{16}_/);
  await page.getByRole("button", { name: "Copy" }).waitFor();
  await check(page, "13-key-created");
  await page.goto(`${REST}/settings/keys`);
  assert.ok(!(await page.content()).includes(key), "the key is shown once only");
  assert.ok((await page.getByTestId("key-hint").allTextContents()).some((h) => key.startsWith(h.replace("…", ""))));
  log("a key is shown once, then masked");

  // 11. Members: invite a deployer; the audit log, filtered.
  await page.goto(`${REST}/settings/members`);
  await page.getByLabel("GitHub login").fill("dana");
  await page.getByLabel("Role", { exact: true }).selectOption("deployer");
  await page.getByTestId("invite").click();
  await page.getByText("invited: joins at their next sign-in").waitFor();
  // A role changes and a member goes, from the same table.
  await page.getByLabel("GitHub login").fill("tmp-helper");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByTestId("invite").click();
  await page.getByLabel("Role of tmp-helper", { exact: true }).selectOption("admin");
  await page.getByRole("button", { name: "Change the role of tmp-helper" }).click();
  assert.equal(await page.getByLabel("Role of tmp-helper", { exact: true }).inputValue(), "admin");
  await check(page, "14-members");
  await page.getByRole("button", { name: "Remove tmp-helper" }).click();
  await page.getByLabel("Role of dana", { exact: true }).waitFor();
  assert.equal(await page.getByLabel("Role of tmp-helper", { exact: true }).count(), 0);
  await page.goto(`${REST}/settings/audit?action=member.`);
  const actions = await page.locator("tbody td:nth-child(4) code").allTextContents();
  assert.deepEqual([...new Set(actions)].sort(), ["member.invite", "member.remove", "member.role"]);
  await check(page, "15-audit");
  await signOut(page);
  await check(page, "16-signed-out");

  // 12. The deployer signs in: deploys, but sees no destroy, and the server refuses it.
  await signInWithGitHub(page, "dana");
  await page.goto(envUrl);
  await page.getByTestId("deploy").waitFor();
  assert.equal(await page.getByTestId("destroy").count(), 0);
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute("content");
  const refused = await page.request.post(`${envUrl}/destroy`, {
    form: { csrf, confirm: "production" },
    maxRedirects: 0,
  });
  assert.equal(refused.status(), 403);
  assert.match(await refused.text(), /this needs the &#39;admin&#39; scope/);
  await check(page, "17-deployer-environment");
  await signOut(page);
  log("a deployer cannot destroy");

  // 13. A viewer (the read key, pasted once) sees no control that changes anything.
  await page.goto(`${REST}/login`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in with the key" }).click();
  await page.waitForURL(`${REST}/`);
  for (const path of [new URL(envUrl).pathname, new URL(deployUrl).pathname, "/settings/targets", "/settings/keys", "/settings/members", "/settings/github", "/repos", "/"]) {
    await page.goto(`${REST}${path}`);
    assert.deepEqual(await noPostForms(page), [], `a viewer's ${path}`);
  }
  await check(page, "18-viewer");
  await signOut(page);
  log("a viewer sees no mutating control");

  // No secret value ever reached the browser, in any page, fragment or script.
  for (const { url, body } of served) {
    for (const canary of Object.values(CANARIES)) assert.ok(!body.includes(canary), `${canary} in ${url}`);
  }
  log(`checked ${served.length} responses for secrets and ${audited.size} pages with axe`);
  log(`journey done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  await page.screenshot({ path: `${ARTIFACTS}/failure.png`, fullPage: true }).catch(() => {});
  log(`at ${page.url()}`);
  throw error;
} finally {
  await browser.close();
}
process.exit(0);
