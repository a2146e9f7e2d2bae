export { MemorydSaver } from "./saver.js";
export { MemorydClient, MemorydError } from "./client.js";
