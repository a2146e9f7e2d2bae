export { MemorydSaver } from "./saver.js";
export { MemorydStore } from "./store.js";
export { MemorydClient, MemorydError } from "./client.js";
