import { afterEach } from "vitest";
import { cleanup } from "./cleanup.ts";

// Every test file, in every lane (vitest.config.ts `setupFiles`): what a test opened is closed after it, failing or not.
afterEach(cleanup);
