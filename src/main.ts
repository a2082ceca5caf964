import { ConfigError, describeConfig, loadConfig, type PulseConfig } from "./config.ts";
import { renderHelp } from "./help.ts";
import { createPulseServer } from "./server.ts";
import { createLogger, wantsPrettyLogs } from "./telemetry/logger.ts";

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
    // Before the logger exists (LOG_LEVEL itself may be the bad value): plain text on stderr.
    if (error instanceof ConfigError) {
      console.error(`${error.message}\n(npm start -- --help lists every setting)`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, pretty: wantsPrettyLogs() });
  logger.info({ settings: describeConfig(config) }, "settings");

  const pulse = await createPulseServer({ ...config, logger });
  let stopping = false;
  const stop = async (signal: string, exitCode = 0) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping: completing subscriptions and closing connections");
    try {
      await pulse.close();
      logger.info("stopped");
      process.exit(exitCode);
    } catch (error) {
      logger.fatal({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  try {
    await pulse.ready;
  } catch (error) {
    logger.fatal({ err: error }, "could not start");
    await stop("startup failure", 1);
    return;
  }
  // The banner lists what the server says it serves, so it never points at a page that does not exist.
  logger.info({ ...pulse.endpoints }, `Pulse is ready at ${pulse.url}; open ${pulse.endpoints.graphql} for GraphiQL`);
}

void main();
