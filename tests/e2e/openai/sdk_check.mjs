// Runs the official `openai` npm SDK against our server: one non-streaming and one streaming
// chat completion. Prints one JSON line with what it got. Usage: node sdk_check.mjs BASE_URL MODEL
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../../third_party/npm/package.json'));
const OpenAI = require('openai');

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 60000 });

const plain = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'Write a sentence about music.' }],
  max_tokens: 24,
  temperature: 0,
});
let streamed = '';
let finish = null;
let usage = null;
const stream = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'Write a sentence about music.' }],
  max_tokens: 24,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta?.content) streamed += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
console.log(JSON.stringify({
  plain: plain.choices[0].message.content,
  plain_finish: plain.choices[0].finish_reason,
  plain_usage: plain.usage,
  streamed,
  finish,
  usage,
}));
