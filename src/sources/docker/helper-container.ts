import { Readable } from "node:stream";
import type { EngineClient } from "./engine-client.js";
import { TAR_END } from "../../tar/tar-writer.js";

/** Where helper containers mount the volume they serve. */
export const HELPER_MOUNT = "/v";

async function cleanUp(step: () => Promise<unknown>, alreadyFailed: boolean): Promise<void> {
  try {
    await step();
  } catch (err) {
    // A failed clean-up must not hide the error that got us here.
    if (!alreadyFailed) throw err;
  }
}

/**
 * Runs `fn` with a container that is created but never started, mounting `binds`, so the
 * engine's archive API can read or fill a volume wherever the engine runs. Its image is an
 * empty one imported for the purpose (a fresh engine may have no image at all); both go
 * away afterwards.
 */
export async function withHelperContainer<T>(client: EngineClient, binds: string[], fn: (containerId: string) => Promise<T>): Promise<T> {
  const image = await client.importImage(Readable.from([TAR_END]));
  let failed = false;
  try {
    const id = await client.createContainer({
      Image: image,
      Cmd: ["/cairn-helper"],
      Labels: { "cairn.helper": "true" },
      HostConfig: { Binds: binds, NetworkMode: "none" },
    });
    try {
      return await fn(id);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      await cleanUp(() => client.removeContainer(id), failed);
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await cleanUp(() => client.removeImage(image), failed);
  }
}
