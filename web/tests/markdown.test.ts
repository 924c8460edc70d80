import { describe, expect, test } from 'vitest';
import { escapeHtml, renderMarkdown } from '../src/lib/markdown';

describe('renderMarkdown', () => {
  test('escapes HTML before anything else', () => {
    const html = renderMarkdown('<script>alert(1)</script> <img src=x onerror="y">');
    expect(html).not.toContain('<script');
    expect(html).not.toContain('<img');
    expect(html).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=&quot;y&quot;&gt;</p>');
  });

  test('inline markup', () => {
    expect(renderMarkdown('a **b** *c* `d<e>` ~~f~~ _g_')).toBe(
      '<p>a <strong>b</strong> <em>c</em> <code>d&lt;e&gt;</code> <del>f</del> <em>g</em></p>',
    );
    expect(renderMarkdown('2 * 3 * 4 and snake_case_name')).toBe('<p>2 * 3 * 4 and snake_case_name</p>');
    expect(renderMarkdown('`**not bold**`')).toBe('<p><code>**not bold**</code></p>');
  });

  test('links only for safe schemes, attributes cannot be broken out of', () => {
    expect(renderMarkdown('[docs](https://example.com/a?b=1&c=2)')).toBe(
      '<p><a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">docs</a></p>',
    );
    expect(renderMarkdown('[x](javascript:alert(1))')).not.toContain('<a');
    expect(renderMarkdown('[x](data:text/html,hi)')).not.toContain('<a');
    const evil = renderMarkdown('[x](https://a.com/"onmouseover="alert(1))');
    // The quote stays escaped inside the href value: the tag has only our three attributes.
    expect(evil).toMatch(/^<p><a href="[^"]*" target="_blank" rel="noopener noreferrer">x<\/a>\)<\/p>$/);
  });

  test('blocks: headings, lists, code fences, quotes, rules, paragraphs', () => {
    const md = [
      '# Title',
      '',
      'Para line one',
      'line two',
      '',
      '- one',
      '- **two**',
      '',
      '1. first',
      '2. second',
      '',
      '```js',
      'if (a < b) { *x* }',
      '```',
      '> quoted **text**',
      '',
      '---',
    ].join('\n');
    expect(renderMarkdown(md)).toBe(
      '<h1>Title</h1>' +
        '<p>Para line one<br>line two</p>' +
        '<ul><li>one</li><li><strong>two</strong></li></ul>' +
        '<ol><li>first</li><li>second</li></ol>' +
        '<pre data-lang="js"><code>if (a &lt; b) { *x* }</code></pre>' +
        '<blockquote><p>quoted <strong>text</strong></p></blockquote>' +
        '<hr>',
    );
  });

  test('an unterminated fence (still streaming) renders as an open code block', () => {
    expect(renderMarkdown('Here:\n```py\nprint(1)')).toBe('<p>Here:</p><pre data-lang="py"><code>print(1)</code></pre>');
  });

  test('a fence language cannot inject attributes', () => {
    expect(renderMarkdown('```a"b\nx\n```')).not.toContain('data-lang="a"b"');
  });

  test('escapeHtml', () => {
    expect(escapeHtml(`<a href='x'>&"`)).toBe('&lt;a href=&#39;x&#39;&gt;&amp;&quot;');
  });
});
