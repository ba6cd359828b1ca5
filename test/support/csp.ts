/**
 * Content-Security-Policy violations of a page in a real browser, for tests that must fail
 * when the policy blocks something the page needs (or the page needs something it should not).
 *
 * @example
 * const violations = await recordCspViolations(page);
 * await page.goto(`${origin}/docs`);
 * assert.deepEqual(violations, []);
 */
import type { Page } from 'playwright-core';

/**
 * Every violation `page` reports from now on, as `directive blocked-uri (source:line)`: from
 * the `securitypolicyviolation` event of every document and worker it loads, and from the
 * console, where Chromium also reports what the event misses (a blocked `eval`, a worker).
 * Call before navigating.
 */
export async function recordCspViolations(page: Page): Promise<string[]> {
  const violations: string[] = [];
  await page.exposeFunction('__reportCspViolation', (line: string) => violations.push(line));
  // A string, not a function: it runs in the page, whose DOM types this project does not load.
  await page.addInitScript({
    content: `addEventListener('securitypolicyviolation', (event) => {
      __reportCspViolation(event.effectiveDirective + ' ' + (event.blockedURI || '(inline)') +
        ' (' + event.sourceFile + ':' + event.lineNumber + ') ' + event.sample);
    });`,
  });
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  return violations;
}
