import { execFile } from "node:child_process";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const FILTER_MODULE = pathToFileURL(`${process.cwd()}/src/domain/filter.ts`).href;

type Case = { readonly filter: unknown; readonly properties: Record<string, unknown> };

/**
 * Compiles each filter and applies it to an event holding its `properties`, in a separate Node process (run as
 * `npm start` runs Pulse, through tsx): a backtracking engine takes minutes to hours on these inputs and nothing can
 * interrupt it inside this process; a child can be killed. Resolves with each match or error code; rejects if the
 * child has not answered within `boundMs`, a bound far beyond what starting Node and linear matches need (it only
 * ends the test: no timing is asserted).
 */
function matchInChild(cases: readonly Case[], boundMs = 25_000): Promise<(boolean | string)[]> {
  const script = `
    const { compileFilter } = await import(${JSON.stringify(FILTER_MODULE)});
    const answers = JSON.parse(process.env.PULSE_TEST_INPUT).map(({ filter, properties }) => {
      try {
        return compileFilter(filter)({ id: "e", seq: 1, event: "e", distinctId: "u", timestamp: 0, receivedAt: 0,
          sessionId: null, environment: "production", properties });
      } catch (error) {
        return error.code ?? String(error);
      }
    });
    process.stdout.write(JSON.stringify(answers));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "--eval", script],
      { timeout: boundMs, killSignal: "SIGKILL", env: { ...process.env, PULSE_TEST_INPUT: JSON.stringify(cases) } },
      (error, stdout) => {
        if (error) reject(error.killed ? new Error(`the matches did not finish within ${boundMs} ms`) : error);
        else resolve(JSON.parse(stdout) as (boolean | string)[]);
      },
    );
  });
}

describe("REGEX matching is linear in the input (RE2), whatever the pattern", () => {
  it("accepts patterns that backtrack exponentially elsewhere, and matching them finishes", async () => {
    // ^(a|a)*$ against 27 'a's and '!' took 7.5 s with JavaScript's RegExp (safe-regex2 accepted the pattern), and
    // doubles with every further 'a': 40 'a's would take about 17 hours.
    const examples: [string, string, boolean][] = [
      ["^(a|a)*$", "a".repeat(40) + "!", false],
      ["(a|aa)+$", "a".repeat(40) + "!", false],
      ["^(a|a)*$", "a".repeat(40), true],
    ];
    const cases = examples.map(([pattern, value]) => ({
      filter: { properties: [{ property: "p", operator: "REGEX", value: pattern }] },
      properties: { p: value },
    }));
    expect(await matchInChild(cases)).toEqual(examples.map(([, , expected]) => expected));
  });
});
