import { serverAudits, type Audit, type AuditResult } from "graphql-http";
import { describe, expect, it } from "vitest";
import { codeOf, type Result } from "../support/clients.ts";
import { startServer } from "../support/server.ts";
import { CSRF_HEADER } from "../../src/transport/sse-guard.ts";

/**
 * GraphQL over HTTP's own cases: graphql-http's `serverAudits` against `/graphql` of a Pulse with no keys (an open
 * server: docs/security.md, "API keys"), one test per audit. Every MUST and SHOULD passes. A MAY that Pulse refuses
 * is listed below with the reason, and its test checks it fails for exactly that reason, so the list cannot go
 * stale: it must fail without the header and pass with it.
 *
 * Every audit is also run a second time with the CSRF header a non-browser client may send (`x-graphql-yoga-csrf`),
 * so an audit that passes only because CSRF prevention refused its request first (mutations over GET: 403 before
 * the 405 the audit is after) passes for its own reason too.
 */

/** Why a MAY audit fails against Pulse. */
interface RefusedMay {
  readonly reason: string;
}

/**
 * CSRF prevention (Yoga's useCSRFPrevention, src/trust.ts): a GET, or a POST with a content type a form can send,
 * must carry `x-graphql-yoga-csrf` or `content-type: application/json`, or it is 403 FORBIDDEN. A browser can send
 * such a request cross-site without a preflight, so a plain GET is refused even for a query.
 */
const CSRF_REFUSES_GET: RefusedMay = {
  reason: "CSRF prevention refuses a GET without the x-graphql-yoga-csrf header or content-type: application/json (403 FORBIDDEN)",
};

const REFUSED_MAY: Readonly<Record<string, RefusedMay>> = {
  // MAY accept application/x-www-form-urlencoded formatted GET requests
  "5A70": CSRF_REFUSES_GET,
  // MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/graphql-response+json
  D6D5: CSRF_REFUSES_GET,
  // MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/json
  "6A70": CSRF_REFUSES_GET,
};

/** The audits' ids and names: the list is fixed, and each test builds its own against its own server. */
const AUDITS: readonly Audit[] = serverAudits({ url: "http://audits.invalid/graphql" });

/** `fetch` as a client that is no browser may send it: with the CSRF header on every request. */
const fetchWithCsrfHeader: typeof fetch = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set(CSRF_HEADER, "1");
  return fetch(input, { ...init, headers });
};

/** Runs audit `id` against a fresh Pulse (default settings, memory only), sending with `fetchFn`. */
async function runAudit(id: string, fetchFn: typeof fetch): Promise<AuditResult> {
  const server = await startServer();
  const audit = serverAudits({ url: `${server.url}/graphql`, fetchFn }).find((a) => a.id === id);
  if (!audit) throw new Error(`graphql-http has no audit ${id}`);
  return audit.fn();
}

const describeFailure = (result: AuditResult) => (result.status === "ok" ? "ok" : `${result.status}: ${result.reason}`);

describe("GraphQL over HTTP (graphql-http serverAudits) against /graphql", () => {
  it("lists every refused MAY among the audits, and only MAYs", () => {
    for (const id of Object.keys(REFUSED_MAY)) {
      const found = AUDITS.find((a) => a.id === id);
      expect(found?.name, id).toMatch(/^MAY /);
    }
  });

  for (const { id, name } of AUDITS) {
    const refused = REFUSED_MAY[id];
    if (!refused) {
      it(`${id} ${name}`, async () => {
        const plain = await runAudit(id, fetch);
        expect(plain.status, describeFailure(plain)).toBe("ok");
        const withHeader = await runAudit(id, fetchWithCsrfHeader);
        expect(withHeader.status, `with ${CSRF_HEADER}: ${describeFailure(withHeader)}`).toBe("ok");
      });
      continue;
    }
    it(`${id} ${name} — refused: ${refused.reason}`, async () => {
      const plain = await runAudit(id, fetch);
      if (plain.status === "ok") throw new Error(`${id} passes now: remove it from REFUSED_MAY`);
      expect(plain.status).toBe("notice");
      expect(plain.response.status).toBe(403);
      const body = (await plain.response.json()) as Result;
      expect(codeOf(body)).toBe("FORBIDDEN");
      expect(body.errors?.[0]?.message).toMatch(/^Required CSRF header\(s\) not present/);
      // The header is all it takes: CSRF prevention is the only reason.
      const withHeader = await runAudit(id, fetchWithCsrfHeader);
      expect(withHeader.status, describeFailure(withHeader)).toBe("ok");
    });
  }
});
