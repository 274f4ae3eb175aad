export { DEFAULT_CHUNKER_PARAMS, validateChunkerParams, type ChunkerParams } from "./chunker-params.js";
export { chunkStream } from "./stream-chunker.js";
