import { ConfigError, loadConfig } from "./config.ts";
import { createPulseServer } from "./server.ts";
import { StoreUnusableError } from "./store/snapshot-store.ts";

/** Exit codes (README, "Persistence"): 2 bad settings, 3 unusable database, 1 anything else (a failed final snapshot). */
const EXIT_CONFIG = 2;
const EXIT_DATABASE = 3;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
  let pulse;
  try {
    pulse = await createPulseServer(config);
  } catch (error) {
    // A database Pulse must not use is not fixed by restarting: say so once, clearly, and stop.
    if (error instanceof StoreUnusableError) {
      console.error(`Pulse cannot start: ${error.message}`);
      process.exit(EXIT_DATABASE);
    }
    console.error("Pulse cannot start:", error);
    process.exit(1);
  }
  console.log(`Pulse is listening on ${pulse.url}`);
  console.log(`  GraphQL + GraphiQL  ${pulse.url}/graphql   (WebSocket on the same path, SSE on /graphql/stream)`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: completing subscriptions and closing connections`);
    try {
      await pulse.close();
      process.exit(0);
    } catch (error) {
      console.error("Shutdown failed:", error);
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

void main();
