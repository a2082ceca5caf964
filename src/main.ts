import { ConfigError, loadConfig } from "./config.ts";
import { createPulseServer, type PulseServer } from "./server.ts";

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
  // Handlers go in before the server listens: a signal that arrives as soon as the URL is printed must not find
  // Node's default action (exit by signal, no final snapshot).
  let pulse: PulseServer | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: completing subscriptions and closing connections`);
    try {
      await (pulse ?? (await starting)).close();
      process.exit(0);
    } catch (error) {
      console.error("Shutdown failed:", error);
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  const starting = createPulseServer(config);
  pulse = await starting;
  console.log(`Pulse is listening on ${pulse.url}`);
  console.log(`  GraphQL + GraphiQL  ${pulse.url}/graphql   (WebSocket on the same path, SSE on /graphql/stream)`);
  if (!pulse.trust.keysRequired) {
    console.warn(
      "WARNING: no API keys configured (PULSE_CAPTURE_KEYS, PULSE_READ_KEYS): anyone who can reach this port can capture, read and subscribe.",
    );
  }
}

void main();
