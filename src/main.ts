import { ConfigError, loadConfig } from "./config.ts";
import { createPulseServer } from "./server.ts";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const pulse = await createPulseServer(config);
  console.log(`Pulse is listening on ${pulse.url}`);
  console.log(`  GraphQL + GraphiQL  ${pulse.url}/graphql   (WebSocket on the same path, SSE on /graphql/stream)`);
  if (!pulse.trust.keysRequired) {
    console.warn(
      "WARNING: no API keys configured (PULSE_CAPTURE_KEYS, PULSE_READ_KEYS): anyone who can reach this port can capture, read and subscribe.",
    );
  }

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
