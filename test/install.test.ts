import { readFileSync } from "node:fs";
import semver from "semver";
import { describe, expect, it } from "vitest";

interface LockedPackage {
  readonly dev?: boolean;
  readonly devOptional?: boolean;
  readonly optional?: boolean;
  readonly link?: boolean;
  readonly engines?: { readonly node?: string };
}

const lock = JSON.parse(readFileSync(new URL("../package-lock.json", import.meta.url), "utf8")) as {
  packages: Record<string, LockedPackage>;
};

/** What `npm ci --omit=dev` installs, read from the lockfile: every package npm does not flag as dev only. */
function productionPackages(): string[] {
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith("node_modules/") && !entry.dev && !entry.link)
    .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length));
}

describe("a production install (npm ci --omit=dev)", () => {
  it("installs no compiler, bundler, TypeScript loader or Prisma CLI", () => {
    const installed = new Set(productionPackages());
    for (const tool of ["typescript", "prisma", "@prisma/config", "@prisma/engines", "vite", "rolldown", "esbuild", "tsx", "vitest"]) {
      expect(installed.has(tool), tool).toBe(false);
    }
    // And what the server runs is there.
    for (const runtime of ["graphql-yoga", "@prisma/client", "better-sqlite3", "ws"]) expect(installed.has(runtime), runtime).toBe(true);
  });

  it("admits every Node.js Pulse supports: each production package's engines range holds 20.11 and the current LTS", () => {
    const node = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { engines: { node: string } }).engines
      .node;
    expect(node).toBe(">=20.11");
    const refusing = Object.entries(lock.packages)
      .filter(([path, entry]) => path.startsWith("node_modules/") && !entry.dev && entry.engines?.node)
      .flatMap(([path, entry]) =>
        ["20.11.0", "24.0.0"]
          .filter((version) => !semver.satisfies(version, entry.engines!.node!))
          .map((version) => `${path} (${entry.engines!.node}) refuses ${version}`),
      );
    expect(refusing).toEqual([]);
  });
});
