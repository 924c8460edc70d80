// Runs the official `openai` and `@anthropic-ai/sdk` npm SDKs against our server with forced
// tool calls, non-streamed and streamed (the SDKs' own stream helpers accumulate the deltas).
// Prints one JSON line with what they parsed. Usage: node sdk_tools_check.mjs BASE_URL MODEL
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../../third_party/npm/package.json'));
const OpenAI = require('openai');
const AnthropicModule = require('@anthropic-ai/sdk');
const Anthropic = AnthropicModule.default ?? AnthropicModule;

const [baseURL, model] = process.argv.slice(2);
const parameters = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 10 }, unit: { enum: ['c', 'f'] } },
  required: ['city', 'unit'],
};
const messages = [{ role: 'user', content: 'Weather in Bern?' }];

const openai = new OpenAI({ baseURL: baseURL + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120000 });
const req = {
  model,
  messages,
  max_tokens: 120,
  temperature: 0,
  tools: [{ type: 'function', function: { name: 'get_weather', parameters } }],
  tool_choice: 'required',
  parallel_tool_calls: false,
};
const plain = await openai.chat.completions.create(req);
const runner = openai.beta.chat.completions.stream({ ...req, stream: true });
const final = await runner.finalChatCompletion();

const anthropic = new Anthropic({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 120000 });
const areq = {
  model,
  max_tokens: 120,
  temperature: 0,
  messages,
  tools: [{ name: 'get_weather', input_schema: parameters }],
  tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
};
const amsg = await anthropic.messages.create(areq);
const astream = anthropic.messages.stream(areq);
const afinal = await astream.finalMessage();

const call = (m) => m.tool_calls?.[0] ?? null;
console.log(JSON.stringify({
  openai: {
    finish: plain.choices[0].finish_reason,
    name: call(plain.choices[0].message)?.function?.name,
    arguments: call(plain.choices[0].message)?.function?.arguments,
    streamed_finish: final.choices[0].finish_reason,
    streamed_name: call(final.choices[0].message)?.function?.name,
    streamed_arguments: call(final.choices[0].message)?.function?.arguments,
  },
  anthropic: {
    stop: amsg.stop_reason,
    block: amsg.content[0],
    streamed_stop: afinal.stop_reason,
    streamed_block: afinal.content[0],
  },
}));
