// A CommonJS TypeScript consumer: require() resolves @memoryd/client's CommonJS build and its types.
import memoryd = require("@memoryd/client");

export async function run(url: string): Promise<string> {
  const saver = memoryd.MemorydSaver.fromUrl(url);
  const client: memoryd.MemorydClient = saver.client;
  await saver.end();
  return client.url;
}
