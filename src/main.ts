import { ConfigError, describeConfig, loadConfig, type PulseConfig } from "./config.ts";
import { renderHelp } from "./help.ts";
import type { PulseServer } from "./server.ts";

/**
 * Exit codes: 0 stopped cleanly, 1 anything else (a failed final snapshot, a failed start), 2 bad settings or
 * arguments, 3 a database Pulse must not use (restarting cannot fix it: a supervisor can stop retrying on it).
 */
const EXIT_UNUSABLE_DATABASE = 3;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(renderHelp());
    return;
  }
  if (args.length > 0) {
    process.stderr.write(`Unknown argument: ${args.join(" ")}\n\n${renderHelp()}`);
    process.exit(2);
  }

  let config: PulseConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  // Loaded only to serve: --help and a bad setting answer without loading GraphQL, Prisma and the transports.
  const [{ createPulseServer }, { StoreUnreachableError, StoreUnusableError }, { createLogger, wantsPrettyLogs }] = await Promise.all([
    import("./server.ts"),
    import("./store/snapshot-store.ts"),
    import("./telemetry/logger.ts"),
  ]);
  const logger = createLogger({ level: config.logLevel, pretty: wantsPrettyLogs() });
  logger.info({ settings: describeConfig(config) }, "settings");

  // Handlers go in before the server listens: a signal that arrives as soon as the URL is printed must not find
  // Node's default action (exit by signal, no final snapshot).
  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping: completing subscriptions and closing connections");
    try {
      // `starting` is set before any signal can be handled: nothing is awaited between here and there.
      await (await starting).close();
      logger.info("stopped");
      process.exit(exitCode);
    } catch (error) {
      logger.fatal({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  const starting = createPulseServer({ ...config, logger });
  let pulse: PulseServer;
  try {
    pulse = await starting;
  } catch (error) {
    // The server did not come up (the port is taken, a bad address): said through the logger like any other failure.
    logger.fatal({ err: error }, "could not start");
    process.exit(1);
  }
  if (!pulse.trust.keysRequired) {
    logger.warn(
      "WARNING: no API keys configured (PULSE_CAPTURE_KEYS, PULSE_READ_KEYS): anyone who can reach this port can capture, read and subscribe.",
    );
  }
  try {
    await pulse.ready;
  } catch (error) {
    if (error instanceof StoreUnusableError) {
      // Said once, plainly, without a stack: the message names the file and what to do.
      logger.fatal(`Pulse cannot start: ${error.message}`);
      await stop("unusable database", EXIT_UNUSABLE_DATABASE);
      return;
    }
    if (error instanceof StoreUnreachableError) {
      // May pass (the database is starting, the network is back): exit 1, so a supervisor restarts Pulse.
      logger.fatal(`Pulse cannot start: ${error.message}`);
      await stop("database unreachable", 1);
      return;
    }
    logger.fatal({ err: error }, "could not start");
    await stop("startup failure", 1);
    return;
  }
  // The banner lists what the server says it serves, so it never points at a page that does not exist.
  logger.info({ ...pulse.endpoints }, `Pulse is ready at ${pulse.url}; open ${pulse.endpoints.graphql} for GraphiQL`);
}

// Only a failure before the logger exists (a dependency that does not load) gets here.
main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
