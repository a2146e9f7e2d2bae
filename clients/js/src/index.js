export { MemorydSaver } from "./saver.js";
export { MemorydStore, FailedOperation } from "./store.js";
export { MemorydClient, MemorydError } from "./client.js";
export { MemorydChatMessageHistory } from "./history.js";
