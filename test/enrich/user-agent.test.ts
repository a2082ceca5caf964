import { describe, expect, it } from "vitest";
import { MAX_USER_AGENT_LENGTH, USER_AGENT_CACHE_SIZE, UserAgents } from "../../src/enrich/user-agent.ts";

/** Real User-Agents and what posthog-js (`detectBrowser`, `detectBrowserVersion`, `detectOS`, `detectDeviceType`) says of each. */
const BROWSERS: [string, Record<string, unknown>][] = [
  [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    { $browser: "Chrome", $browser_version: 120, $os: "Windows", $device_type: "Desktop" },
  ],
  [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    { $browser: "Mobile Safari", $browser_version: 17.4, $os: "iOS", $device_type: "Mobile" },
  ],
  [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    { $browser: "Safari", $browser_version: 17.4, $os: "Mac OS X", $device_type: "Desktop" },
  ],
  [
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    { $browser: "Mobile Safari", $browser_version: 17.4, $os: "iOS", $device_type: "Tablet" },
  ],
  [
    "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
    { $browser: "Firefox", $browser_version: 124, $os: "Linux", $device_type: "Desktop" },
  ],
  [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    { $browser: "Microsoft Edge", $browser_version: 120, $os: "Windows", $device_type: "Desktop" },
  ],
  [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.99 Mobile Safari/537.36",
    { $browser: "Chrome", $browser_version: 123, $os: "Android", $device_type: "Mobile" },
  ],
  [
    "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    { $browser: "Samsung Internet", $browser_version: 24, $os: "Android", $device_type: "Mobile" },
  ],
  [
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    { $browser: "Chrome", $browser_version: 120, $os: "Android", $device_type: "Tablet" },
  ],
  [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1",
    { $browser: "Chrome iOS", $browser_version: 123, $os: "iOS", $device_type: "Mobile" },
  ],
  [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/124.0 Mobile/15E148 Safari/605.1.15",
    { $browser: "Firefox iOS", $browser_version: 124, $os: "iOS", $device_type: "Mobile" },
  ],
  [
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    { $browser: "Chrome", $browser_version: 120, $os: "Chrome OS", $device_type: "Desktop" },
  ],
  [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
    { $browser: "Opera", $browser_version: 106, $os: "Windows", $device_type: "Desktop" },
  ],
  [
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    { $browser: "Internet Explorer", $browser_version: 11, $os: "Windows", $device_type: "Desktop" },
  ],
];

describe("browser, OS and device type from a User-Agent", () => {
  it.each(BROWSERS)("%s", (userAgent, expected) => {
    expect(new UserAgents().describe(userAgent)).toEqual(expected);
  });

  it.each([
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "posthog-node/5.70.0",
    "curl/8.5.0",
    "undici",
    "node",
    "Go-http-client/1.1",
    "python-requests/2.31.0",
    "MyApp/3.1 CFNetwork/1410 Darwin/22.6.0",
    "Mozilla/5.0",
    "",
    "   ",
  ])("says nothing of a bot or a client that is not a browser: %j", (userAgent) => {
    expect(new UserAgents().describe(userAgent)).toEqual({});
  });

  it("reads only the first MAX_USER_AGENT_LENGTH characters", () => {
    const [chrome] = BROWSERS[0]!;
    const userAgents = new UserAgents();
    expect(userAgents.describe(chrome + " ".repeat(MAX_USER_AGENT_LENGTH) + "Firefox/1.0")).toMatchObject({ $browser: "Chrome" });
    expect(userAgents.describe("Mozilla/5.0 " + "(a".repeat(100_000))).toEqual({});
    expect(userAgents.cached).toBe(2);
  });

  it("keeps at most USER_AGENT_CACHE_SIZE strings, the most recent", () => {
    const userAgents = new UserAgents();
    const chrome = (n: number) =>
      `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${n}.0.0.0 Safari/537.36`;
    for (let n = 0; n < USER_AGENT_CACHE_SIZE + 100; n++) userAgents.describe(chrome(n));
    expect(userAgents.cached).toBe(USER_AGENT_CACHE_SIZE);
    expect(userAgents.describe(chrome(USER_AGENT_CACHE_SIZE + 99))).toMatchObject({ $browser_version: USER_AGENT_CACHE_SIZE + 99 });
  });
});
