import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/domain/clock.ts";
import { LiveUsers, type Activity } from "../../src/domain/live-users.ts";
import { T0 } from "./helpers.ts";

const WINDOW = 60_000;

function activity(distinctId: string, at: number, extra: Partial<Activity> = {}): Activity {
  return { distinctId, at, sessionId: null, currentUrl: null, ...extra };
}

describe("LiveUsers: the live window", () => {
  it("a user is live within the window after their latest event, and not after it", () => {
    const clock = new ManualClock(T0);
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("alice", clock.now()));
    expect(users.count(clock.now())).toBe(1);
    clock.advance(WINDOW - 1);
    expect(users.count(clock.now())).toBe(1);
    expect(users.list(clock.now(), 10).map((u) => u.distinctId)).toEqual(["alice"]);
    clock.advance(2);
    expect(users.count(clock.now())).toBe(0);
    expect(users.list(clock.now(), 10)).toEqual([]);
  });

  it("a new event renews the window", () => {
    const clock = new ManualClock(T0);
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("alice", clock.now()));
    users.touch("production", activity("bob", clock.now()));
    clock.advance(50_000);
    users.touch("production", activity("alice", clock.now()));
    clock.advance(20_000); // bob's last event is 70 s old, alice's 20 s
    expect(users.count(clock.now())).toBe(1);
    expect(users.list(clock.now(), 10).map((u) => u.distinctId)).toEqual(["alice"]);
  });

  it("counts a user once however many events they send", () => {
    const users = new LiveUsers(WINDOW);
    for (let i = 0; i < 5; i++) users.touch("production", activity("alice", T0 + i));
    users.touch("production", activity("bob", T0 + 5));
    expect(users.count(T0 + 5)).toBe(2);
  });

  it("expires users in the order they went quiet, however the queries interleave", () => {
    const clock = new ManualClock(T0);
    const users = new LiveUsers(WINDOW);
    for (const [i, id] of ["a", "b", "c", "d"].entries()) users.touch("production", activity(id, T0 + i * 10_000));
    const counts: number[] = [];
    for (let t = 0; t <= 4; t++) {
      clock.set(T0 + WINDOW + t * 10_000);
      counts.push(users.count(clock.now()));
    }
    expect(counts).toEqual([3, 2, 1, 0, 0]);
  });
});

describe("LiveUsers: list", () => {
  it("lists live users most recently seen first, up to the limit", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("a", T0));
    users.touch("production", activity("b", T0 + 1));
    users.touch("production", activity("c", T0 + 2));
    users.touch("production", activity("a", T0 + 3));
    expect(users.list(T0 + 3, 10).map((u) => u.distinctId)).toEqual(["a", "c", "b"]);
    expect(users.list(T0 + 3, 2).map((u) => u.distinctId)).toEqual(["a", "c"]);
    expect(users.list(T0 + 3, 0)).toEqual([]);
  });

  it("shows each user's lastSeen, session and current URL", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("a", T0, { sessionId: "s1", currentUrl: "https://x.test/a" }));
    expect(users.list(T0 + 5, 10)).toEqual([{ distinctId: "a", sessionId: "s1", currentUrl: "https://x.test/a", lastSeen: T0 }]);
  });
});

describe("LiveUsers: currentUrl and sessionId", () => {
  it("keeps the previous value when a later event lacks one, and takes a new one when given", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("a", T0, { sessionId: "s1", currentUrl: "https://x.test/1" }));
    users.touch("production", activity("a", T0 + 1000));
    expect(users.list(T0 + 1000, 1)).toEqual([{ distinctId: "a", sessionId: "s1", currentUrl: "https://x.test/1", lastSeen: T0 + 1000 }]);
    users.touch("production", activity("a", T0 + 2000, { currentUrl: "https://x.test/2" }));
    users.touch("production", activity("a", T0 + 3000, { sessionId: "s2" }));
    expect(users.list(T0 + 3000, 1)).toEqual([{ distinctId: "a", sessionId: "s2", currentUrl: "https://x.test/2", lastSeen: T0 + 3000 }]);
  });

  it("still keeps them for a user who went quiet but is not yet forgotten (between one and two windows)", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("a", T0, { sessionId: "s1", currentUrl: "https://x.test/1" }));
    expect(users.count(T0 + 1.5 * WINDOW)).toBe(0);
    users.touch("production", activity("a", T0 + 1.5 * WINDOW));
    expect(users.list(T0 + 1.5 * WINDOW, 1)).toEqual([
      { distinctId: "a", sessionId: "s1", currentUrl: "https://x.test/1", lastSeen: T0 + 1.5 * WINDOW },
    ]);
  });
});

describe("LiveUsers: forgetting after twice the window", () => {
  it("forgets a user past twice the window: their old session and URL do not come back", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("a", T0, { sessionId: "s1", currentUrl: "https://x.test/1" }));
    expect(users.count(T0 + 2 * WINDOW + 1)).toBe(0);
    users.touch("production", activity("a", T0 + 2 * WINDOW + 1));
    expect(users.list(T0 + 2 * WINDOW + 1, 1)).toEqual([
      { distinctId: "a", sessionId: null, currentUrl: null, lastSeen: T0 + 2 * WINDOW + 1 },
    ]);
  });

  it("forgets them the same way when nobody asked for the count in between", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("a", T0, { sessionId: "s1", currentUrl: "https://x.test/1" }));
    users.touch("production", activity("a", T0 + 2 * WINDOW + 1));
    const expected = [{ distinctId: "a", sessionId: null, currentUrl: null, lastSeen: T0 + 2 * WINDOW + 1 }];
    expect(users.list(T0 + 2 * WINDOW + 1, 1)).toEqual(expected);
    expect(users.list(T0 + 2 * WINDOW + 1, 1, "production")).toEqual(expected);
  });
});

describe("LiveUsers: environments", () => {
  it("counts per environment, and all environments together without one", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("alice", T0));
    users.touch("production", activity("bob", T0));
    users.touch("staging", activity("bob", T0 + 1));
    users.touch("staging", activity("carol", T0 + 2));
    expect(users.count(T0 + 2)).toBe(3);
    expect(users.count(T0 + 2, null)).toBe(3);
    expect(users.count(T0 + 2, "production")).toBe(2);
    expect(users.count(T0 + 2, "staging")).toBe(2);
    expect(users.count(T0 + 2, "nowhere")).toBe(0);
    expect(users.list(T0 + 2, 10, "nowhere")).toEqual([]);
    expect(users.list(T0 + 2, 10).map((u) => u.distinctId)).toEqual(["carol", "bob", "alice"]);
    expect(users.list(T0 + 2, 10, "production").map((u) => u.distinctId)).toEqual(["bob", "alice"]);
  });

  it("a user is live in an environment by their last event there", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("production", activity("bob", T0, { currentUrl: "https://prod.test/" }));
    users.touch("staging", activity("bob", T0 + 50_000, { currentUrl: "https://staging.test/" }));
    const now = T0 + 70_000;
    expect([users.count(now, "production"), users.count(now, "staging"), users.count(now)]).toEqual([0, 1, 1]);
    expect(users.list(now, 10)).toEqual([
      { distinctId: "bob", sessionId: null, currentUrl: "https://staging.test/", lastSeen: T0 + 50_000 },
    ]);
  });

  it("sweep forgets emptied environments; the others keep their users", () => {
    const users = new LiveUsers(WINDOW);
    users.touch("once", activity("a", T0, { sessionId: "s-once" }));
    users.touch("production", activity("b", T0 + 3 * WINDOW));
    users.sweep(T0 + 3 * WINDOW);
    expect(users.count(T0 + 3 * WINDOW, "once")).toBe(0);
    expect(users.count(T0 + 3 * WINDOW, "production")).toBe(1);
    users.touch("once", activity("a", T0 + 3 * WINDOW));
    expect(users.list(T0 + 3 * WINDOW, 10, "once")).toEqual([
      { distinctId: "a", sessionId: null, currentUrl: null, lastSeen: T0 + 3 * WINDOW },
    ]);
  });
});
