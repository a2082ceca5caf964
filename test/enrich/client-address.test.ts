import { isIP } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalizeAddress, TrustedProxies } from "../../src/enrich/client-address.ts";
import { trustedProxyProblem } from "../../src/enrich/settings.ts";

describe("the client's address", () => {
  it("is the socket's peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    const none = new TrustedProxies([]);
    expect(none.clientAddress("203.0.113.7", "8.8.8.8")).toBe("203.0.113.7");
    expect(none.clientAddress("::ffff:203.0.113.7", undefined)).toBe("203.0.113.7");
    expect(none.clientAddress(undefined, "8.8.8.8")).toBe("unknown");
  });

  it("is the peer when the peer is not a trusted proxy", () => {
    const proxies = new TrustedProxies(["10.0.0.0/8"]);
    expect(proxies.clientAddress("203.0.113.7", "8.8.8.8")).toBe("203.0.113.7");
  });

  it("behind trusted proxies, is the right-most X-Forwarded-For entry that is not one of them", () => {
    const proxies = new TrustedProxies(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);
    expect(proxies.clientAddress("127.0.0.1", "8.8.8.8")).toBe("8.8.8.8");
    // The client wrote 1.1.1.1 itself; the proxies appended 8.8.8.8 and 10.1.2.3.
    expect(proxies.clientAddress("127.0.0.1", "1.1.1.1, 8.8.8.8, 10.1.2.3")).toBe("8.8.8.8");
    expect(proxies.clientAddress("::ffff:127.0.0.1", "2001:4860:4860::8888")).toBe("2001:4860:4860::8888");
    expect(proxies.clientAddress("fd12::1", "::ffff:8.8.4.4")).toBe("8.8.4.4");
    // Several headers are one list (node:http joins them; an array is read the same way).
    expect(proxies.clientAddress("127.0.0.1", ["1.1.1.1", "8.8.8.8"])).toBe("8.8.8.8");
    // Every hop trusted: the farthest one.
    expect(proxies.clientAddress("127.0.0.1", "10.0.0.9, 10.0.0.8")).toBe("10.0.0.9");
    expect(proxies.clientAddress("127.0.0.1", undefined)).toBe("127.0.0.1");
  });

  it("drops ports and stops at an entry that is not an address, never passing it on", () => {
    const proxies = new TrustedProxies(["127.0.0.1", "10.0.0.0/8"]);
    expect(proxies.clientAddress("127.0.0.1", "8.8.8.8:5678")).toBe("8.8.8.8");
    expect(proxies.clientAddress("127.0.0.1", "[2001:4860:4860::8888]:443")).toBe("2001:4860:4860::8888");
    expect(proxies.clientAddress("127.0.0.1", "8.8.8.8, unknown")).toBe("127.0.0.1");
    expect(proxies.clientAddress("127.0.0.1", "8.8.8.8, evil.example, 10.0.0.2")).toBe("10.0.0.2");
    expect(proxies.clientAddress("127.0.0.1", "")).toBe("127.0.0.1");
    expect(proxies.clientAddress("127.0.0.1", "127.1")).toBe("127.0.0.1");
  });

  it("matches IPv4-mapped ranges and addresses as IPv4", () => {
    const proxies = new TrustedProxies(["::ffff:10.0.0.0/104", "::ffff:127.0.0.1"]);
    expect(proxies.includes("10.9.9.9")).toBe(true);
    expect(proxies.includes("127.0.0.1")).toBe(true);
    expect(proxies.includes("11.0.0.1")).toBe(false);
    expect(normalizeAddress("::FFFF:1.2.3.4")).toBe("1.2.3.4");
    expect(normalizeAddress("::ffff:0102:0304")).toBe("1.2.3.4");
    expect(normalizeAddress("2001:db8::1")).toBe("2001:db8::1");
  });

  it("refuses settings entries that are not addresses or ranges", () => {
    for (const good of ["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8", "0.0.0.0/0", "::/0"])
      expect(trustedProxyProblem(good)).toBeUndefined();
    for (const bad of ["", "localhost", "10.0.0.0/33", "::/129", "10.0.0.0/8/1", "10.0.0.0/", "127.1", "10.0.0.0/x"]) {
      expect(trustedProxyProblem(bad), bad).toMatch(/must be an IP address or a CIDR range/);
    }
    expect(() => new TrustedProxies(["nope"])).toThrow(/PULSE_TRUSTED_PROXIES: "nope" must be/);
  });

  it("never throws, and is the socket's address or an address written in the header (property)", () => {
    const ipv4 = fc.ipV4();
    const ipv6 = fc.ipV6();
    const address = fc.oneof(
      ipv4,
      ipv6,
      ipv4.map((a) => `::ffff:${a}`),
    );
    const entry = fc.oneof(
      address,
      ipv4.map((a) => `${a}:8080`),
      ipv6.map((a) => `[${a}]:443`),
      ipv6.map((a) => `[${a}`),
      fc.constantFrom("unknown", "", " ", "[]", "[::1]x", "1.2.3", "999.1.1.1", "::ffff:", "_", "%", "fe80::1%eth0", "[::1]:99999"),
      fc.string(),
    );
    const range = fc.oneof(
      address,
      fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([a, bits]) => `${a}/${bits}`),
      fc.tuple(ipv6, fc.integer({ min: 0, max: 128 })).map(([a, bits]) => `${a}/${bits}`),
    );
    fc.assert(
      fc.property(
        fc.array(range, { maxLength: 4 }),
        fc.option(address, { nil: undefined }),
        fc.oneof(
          fc.constant(undefined),
          fc.array(entry, { maxLength: 6 }).map((entries) => entries.join(",")),
          fc.array(fc.string()),
        ),
        (trusted, socket, forwardedFor) => {
          const proxies = new TrustedProxies(trusted);
          const result = proxies.clientAddress(socket, forwardedFor);
          const fromSocket = socket === undefined ? "unknown" : normalizeAddress(socket);
          if (result === fromSocket) return;
          expect(isIP(result)).not.toBe(0);
          // Otherwise it is one of the header's entries that is an IP address (a port or brackets aside), normalized.
          const written = Array.isArray(forwardedFor) ? forwardedFor.join(",") : (forwardedFor ?? "");
          const addresses = written.split(",").flatMap((item) => {
            const text = item.trim();
            const bracketed = /^\[(.*)\](:\d+)?$/.exec(text)?.[1];
            const withPort = /^([\d.]+):\d+$/.exec(text)?.[1];
            const bare = bracketed ?? withPort ?? text;
            return isIP(bare) === 0 ? [] : [normalizeAddress(bare)];
          });
          expect(addresses).toContain(result);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
