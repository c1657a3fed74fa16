// Opens the e2et dashboard in Debian's Chromium (headless) before a run
// starts, prints "ready" once its event stream is live, then watches the
// host's row change state without reloading the page until the run ends.
// Exit 0 only if the page followed the run to a final state live.
//
//   node watch.mjs --url http://10.99.0.1:8080/ --host vm1 --out dashboard.png [--timeout-s 1200]
import { chromium } from 'playwright-core';

function args(argv) {
  const a = { timeoutS: 1200, chromium: '/usr/bin/chromium' };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i], v = argv[i + 1];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--url') a.url = v;
    else if (k === '--host') a.host = v;
    else if (k === '--out') a.out = v;
    else if (k === '--timeout-s') a.timeoutS = Number(v);
    else if (k === '--chromium') a.chromium = v;
    else throw new Error(`unknown argument ${k}`);
  }
  for (const k of ['url', 'host', 'out']) if (!a[k]) throw new Error(`--${k} is required`);
  if (!(a.timeoutS > 0)) throw new Error('--timeout-s must be a positive number');
  return a;
}

const FINAL = ['passed', 'transient', 'failed', 'incomplete', 'holding', 'released'];

async function main() {
  const a = args(process.argv);
  const browser = await chromium.launch({
    executablePath: a.chromium,
    headless: true,
    // A fresh profile each launch (playwright's own temporary one); root
    // in a namespace: no sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    let loads = 0;
    page.on('load', () => { loads += 1; });
    const resp = await page.goto(a.url, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error(`GET ${a.url}: ${resp && resp.status()}`);
    const row = `#host-${a.host}`;
    if (!(await page.$(row))) throw new Error(`the dashboard has no row ${row}`);
    await page.waitForSelector('#live.on', { timeout: 30000 });
    // Record every state the host's row shows, as the page's own script
    // changes it from the events.
    await page.evaluate(sel => {
      const cell = document.querySelector(sel + ' td[data-f="state"]');
      window.__seen = [];
      window.__initial = cell.textContent;
      new MutationObserver(() => {
        const s = cell.textContent;
        if (window.__seen[window.__seen.length - 1] !== s) window.__seen.push(s);
      }).observe(cell, { childList: true, characterData: true, subtree: true });
    }, row);
    const initial = await page.evaluate(() => window.__initial);
    console.log(`ready (host ${a.host} shows ${initial})`);
    await page.waitForFunction(final => {
      const s = window.__seen || [];
      return s.length >= 3 && final.includes(s[s.length - 1]);
    }, FINAL, { timeout: a.timeoutS * 1000, polling: 250 });
    const seen = await page.evaluate(() => window.__seen);
    const run = await page.$eval(`${row} td[data-f="run"]`, td => td.textContent);
    const runRow = await page.$(`tr[id="run-${run}"]`);
    const links = await page.$$eval(`tr[id="run-${run}"] td[data-f="reports"] a`, as => as.map(x => x.textContent));
    await page.screenshot({ path: a.out, fullPage: true });
    const summary = {
      host: a.host, run, initial, seen, reloads: loads - 1, reportLinks: links,
      events: await page.evaluate(() => Number(document.body.dataset.events || 0)),
      pageErrors: errors,
    };
    console.log(JSON.stringify(summary));
    const problems = [];
    if (loads !== 1) problems.push(`the page reloaded ${loads - 1} time(s): it must follow the run live`);
    if (errors.length) problems.push(`page errors: ${errors.join('; ')}`);
    if (!runRow) problems.push(`no row for run ${run} in the runs table`);
    if (!links.includes('junit')) problems.push('the finished run has no report links');
    if (problems.length) throw new Error(problems.join('\n'));
  } finally {
    await browser.close();
  }
}

main().catch(e => { console.error(`dashboard-test: ${e.message || e}`); process.exit(1); });
