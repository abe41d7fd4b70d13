import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
if (!chromiumAvailable) console.warn(`dashboard browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);

export const SCREENSHOTS = new URL('./screenshots/', import.meta.url).pathname;
export const VIEWPORTS = { phone: { width: 390, height: 844 }, desktop: { width: 1440, height: 900 } } as const;

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export function launch(): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Everything a page did wrong: console errors (CSP violations among them), uncaught errors, failed or refused requests. */
export interface Problems { list: string[] }

export function watch(page: Page, allowStatus: (url: string, status: number) => boolean = () => false): Problems {
  const problems: Problems = { list: [] };
  // A refused request is judged by its status below (some views expect a 404 or a 422).
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.list.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.list.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => problems.list.push(`failed: ${request.url()} ${request.failure()?.errorText}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && !allowStatus(response.url(), response.status())) problems.list.push(`${response.status()}: ${response.url()}`);
  });
  return problems;
}

/** A context whose tab already holds the key, as after signing in (the sign-in form has its own test). */
export async function signedInContext(browser: Browser, key: string, viewport: { width: number; height: number }): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  await context.addInitScript((value) => sessionStorage.setItem('strata.key', value), key);
  return context;
}

/** Opens a view by URL and waits until every request has answered and nothing is loading. */
export async function openView(page: Page, base: string, route: string): Promise<void> {
  await page.goto(`${base}/dashboard/#${route}`, { waitUntil: 'networkidle' });
  await expect.poll(() => page.locator('.loading, [aria-busy="true"]').count(), { timeout: 15_000 }).toBe(0);
  await page.locator('main h2').first().waitFor();
}

/** Serious and critical axe-core violations on the page (axe runs through the debugging protocol, outside the page's CSP). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => (window as unknown as { axe: { run: (context: Document, options: object) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } })
    .axe.run(document, { resultTypes: ['violations'] }));
  return result.violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.slice(0, 3).map((node) => node.target.join(' ')).join(', ')}`);
}

/** Elements reaching past the right edge of the viewport (a scrolling table region may hold wider content). */
export function overflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide: string[] = [];
    if (document.documentElement.scrollWidth > width) wide.push(`document is ${document.documentElement.scrollWidth}px wide`);
    for (const element of document.querySelectorAll('body *')) {
      if (element.parentElement?.closest('.table-wrap')) continue;
      const box = element.getBoundingClientRect();
      if (box.width > 0 && box.right > width + 1) wide.push(`${element.tagName.toLowerCase()}.${element.className} ends at ${Math.round(box.right)}px`);
    }
    return wide.slice(0, 5);
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}
