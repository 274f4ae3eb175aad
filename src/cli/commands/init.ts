import type { Command } from "commander";
import { parseInteger, parseSize } from "../parse-options.js";
import { DEFAULT_CHUNKER_PARAMS } from "../../chunker/index.js";
import { initLocalRepository } from "../../store/open-local.js";
import type { InitOptions } from "../../store/repository.js";
import { commandContext } from "../command-context.js";
import { repositoryLocation } from "../repository-session.js";

interface InitFlags {
  packSize?: string;
  compression?: string;
  chunkMin?: string;
  chunkAvg?: string;
  chunkMax?: string;
}

export function registerInit(program: Command): void {
  program
    .command("init")
    .description("create a new repository")
    .option("--pack-size <size>", "target size of pack files (default 16M)")
    .option("--compression <level>", "zstd level, 0 to store uncompressed (default 3)")
    .option("--chunk-min <size>", "smallest chunk (default 64K)")
    .option("--chunk-avg <size>", "average chunk (default 256K)")
    .option("--chunk-max <size>", "largest chunk (default 1M)")
    .action(async (flags: InitFlags, command: Command) => {
      const { globals, out } = commandContext(command);
      const location = repositoryLocation(globals);
      const options: InitOptions = {};
      if (flags.packSize) options.packSize = parseSize(flags.packSize, "--pack-size");
      if (flags.compression) options.compressionLevel = parseInteger(flags.compression, "--compression");
      if (flags.chunkMin || flags.chunkAvg || flags.chunkMax) {
        options.chunker = {
          minSize: flags.chunkMin ? parseSize(flags.chunkMin, "--chunk-min") : DEFAULT_CHUNKER_PARAMS.minSize,
          avgSize: flags.chunkAvg ? parseSize(flags.chunkAvg, "--chunk-avg") : DEFAULT_CHUNKER_PARAMS.avgSize,
          maxSize: flags.chunkMax ? parseSize(flags.chunkMax, "--chunk-max") : DEFAULT_CHUNKER_PARAMS.maxSize,
        };
      }
      await initLocalRepository(location.path, options);
      out.line(`created cairn repository at ${location.path}`);
      out.record({ message_type: "initialized", repository: location.path });
    });
}
