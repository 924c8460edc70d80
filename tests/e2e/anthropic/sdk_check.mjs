// Runs the official `@anthropic-ai/sdk` npm package against our server: a plain message, a
// streamed one through the SDK's MessageStream helper (events + finalMessage), a raw stream of
// events, count_tokens, and an error. Prints one JSON line with what it got.
// Usage: node sdk_check.mjs BASE_URL MODEL
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../../third_party/npm/package.json'));
const AnthropicModule = require('@anthropic-ai/sdk');
const Anthropic = AnthropicModule.default ?? AnthropicModule.Anthropic ?? AnthropicModule;

const [baseURL, model] = process.argv.slice(2);
const client = new Anthropic({ baseURL, apiKey: 'test-key', maxRetries: 0, timeout: 60000 });
const request = {
  model,
  max_tokens: 24,
  temperature: 0,
  system: 'You write short sentences.',
  messages: [{ role: 'user', content: 'Write a sentence about music.' }],
};

const plain = await client.messages.create(request);

let streamed = '';
const stream = client.messages.stream(request);
stream.on('text', (t) => { streamed += t; });
const final = await stream.finalMessage();

const rawTypes = [];
const raw = await client.messages.create({ ...request, stream: true });
for await (const ev of raw) rawTypes.push(ev.type);

const count = await client.messages.countTokens({ model, system: request.system, messages: request.messages });

let error = null;
try {
  await client.messages.create({ model, messages: request.messages });  // no max_tokens
} catch (e) {
  error = { status: e.status, type: e.error?.error?.type ?? null, name: e.constructor.name };
}

console.log(JSON.stringify({
  plain_text: plain.content[0].text,
  plain_stop: plain.stop_reason,
  plain_usage: plain.usage,
  plain_id: plain.id,
  streamed,
  final_text: final.content[0].text,
  final_stop: final.stop_reason,
  final_usage: final.usage,
  raw_types: rawTypes,
  count: count.input_tokens,
  error,
}));
