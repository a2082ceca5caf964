import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/domain/event.ts";
import { MAX_DERIVED_LENGTH, PageUrls, referringDomainOf, sourceOf, urlProperties } from "../../src/enrich/url.ts";

describe("properties from a page's URLs", () => {
  it("derives the path, the campaign, the referring domain and the source", () => {
    expect(
      urlProperties({
        $current_url: "https://shop.example/products/42?utm_source=newsletter&utm_medium=email&utm_campaign=spring&x=1#top",
        $referrer: "https://www.google.co.uk/search?q=shoes",
      }),
    ).toEqual({
      $pathname: "/products/42",
      utm_source: "newsletter",
      utm_medium: "email",
      utm_campaign: "spring",
      $referring_domain: "www.google.co.uk",
      $source: "Google",
    });
  });

  it("says $direct and Direct without a referrer, as PostHog does", () => {
    for (const referrer of [undefined, "", "$direct", "not a url", "/relative/path", "javascript:void(0)"]) {
      const properties: JsonObject = { $current_url: "https://shop.example/" };
      if (referrer !== undefined) properties["$referrer"] = referrer;
      expect(urlProperties(properties), String(referrer)).toEqual({ $pathname: "/", $referring_domain: "$direct", $source: "Direct" });
    }
  });

  it("gives nothing to an event without a page", () => {
    expect(urlProperties({})).toEqual({});
    expect(urlProperties({ plan: "pro", $current_url: 42 })).toEqual({});
  });

  it("reads a relative $current_url as a path, and leaves out what it cannot parse", () => {
    expect(urlProperties({ $current_url: "/pricing?utm_source=x" })).toMatchObject({ $pathname: "/pricing", utm_source: "x" });
    expect(urlProperties({ $current_url: "http://[::1" })).toEqual({ $referring_domain: "$direct", $source: "Direct" });
  });

  it("names known referrers and keeps the domain of the others, without www.", () => {
    const cases: [string, string][] = [
      ["https://www.google.com/", "Google"],
      ["https://google.de/url?q=x", "Google"],
      ["https://www.google.com.br/", "Google"],
      ["https://www.bing.com/search?q=x", "Bing"],
      ["https://duckduckgo.com/", "DuckDuckGo"],
      ["https://search.yahoo.co.jp/", "Yahoo"],
      ["https://yandex.ru/", "Yandex"],
      ["https://l.facebook.com/l.php?u=x", "Facebook"],
      ["https://m.facebook.com/", "Facebook"],
      ["https://t.co/abc", "X"],
      ["https://x.com/someone", "X"],
      ["https://www.linkedin.com/feed/", "LinkedIn"],
      ["https://lnkd.in/abc", "LinkedIn"],
      ["https://old.reddit.com/r/x", "Reddit"],
      ["https://www.youtube.com/watch?v=1", "YouTube"],
      ["https://github.com/org/repo", "GitHub"],
      ["https://news.ycombinator.com/item?id=1", "Hacker News"],
      ["https://chatgpt.com/", "ChatGPT"],
      ["https://www.example.org/post", "example.org"],
      ["https://blog.example.org:8443/post", "blog.example.org"],
      ["https://notgoogle.com/", "notgoogle.com"],
      ["https://google.example.com/", "google.example.com"],
    ];
    for (const [referrer, source] of cases) {
      expect(urlProperties({ $current_url: "https://shop.example/", $referrer: referrer })["$source"], referrer).toBe(source);
    }
    expect(referringDomainOf("https://blog.example.org:8443/post")).toBe("blog.example.org:8443");
  });

  it("sets no $source for an internal referrer, www. aside", () => {
    const internal = urlProperties({ $current_url: "https://www.shop.example/cart", $referrer: "https://shop.example/products/1" });
    expect(internal).toEqual({ $pathname: "/cart", $referring_domain: "shop.example" });
    expect(sourceOf("shop.example:8080", "shop.example")).toBeNull();
  });

  it("takes the source from the client's own $referring_domain (posthog-js sends it)", () => {
    expect(urlProperties({ $current_url: "https://shop.example/", $referring_domain: "www.bing.com" })).toMatchObject({
      $referring_domain: "www.bing.com",
      $source: "Bing",
    });
    expect(urlProperties({ $current_url: "https://shop.example/", $referrer: "$direct", $referring_domain: "$direct" })["$source"]).toBe(
      "Direct",
    );
  });

  it("leaves out a derived value longer than MAX_DERIVED_LENGTH", () => {
    const long = "a".repeat(MAX_DERIVED_LENGTH + 1);
    expect(urlProperties({ $current_url: `https://shop.example/${long}?utm_source=${long}&utm_medium=ok` })).toEqual({
      utm_medium: "ok",
      $referring_domain: "$direct",
      $source: "Direct",
    });
  });

  it("never throws on any values, and sets only short strings (property)", () => {
    const remembering = new PageUrls();
    const urlish = fc.oneof(
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.string(),
      fc.constantFrom("", "$direct", "http://", "https://[", "//x", "?utm_source=", "http://a b/", "http://x:99999/", "\u0000"),
      fc.tuple(fc.webUrl(), fc.string()).map(([url, tail]) => url + tail),
    );
    const value = fc.oneof(urlish, fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }));
    fc.assert(
      fc.property(fc.record({ $current_url: value, $referrer: value, $referring_domain: value }, { requiredKeys: [] }), (properties) => {
        const derived = urlProperties(properties);
        // Remembered URLs say the same as freshly parsed ones, the second time too.
        expect(remembering.derive(properties)).toEqual(derived);
        expect(remembering.derive(properties)).toEqual(derived);
        for (const [key, derivedValue] of Object.entries(derived)) {
          expect(typeof derivedValue, key).toBe("string");
          expect((derivedValue as string).length).toBeLessThanOrEqual(MAX_DERIVED_LENGTH);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
