// The polyfills must agree with the platform's own btoa/atob/structuredClone, which Node has.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atobPolyfill, btoaPolyfill, structuredClonePolyfill } from '../../lib/polyfills.ts';

test('btoa and atob match the platform for every length mod 3 and every byte', () => {
  let all = '';
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  for (const s of ['', 'a', 'ab', 'abc', 'abcd', all]) {
    assert.equal(btoaPolyfill(s), btoa(s));
    assert.equal(atobPolyfill(btoa(s)), s);
  }
  assert.equal(atobPolyfill('YWJj\nZA=='), 'abcd');
  assert.throws(() => btoaPolyfill('€'), /outside Latin-1/);
  assert.throws(() => atobPolyfill('a$b'), /not valid base64/);
});

test('structuredClone copies deeply', () => {
  const src = { a: [1, { b: 'x' }], d: new Date(5), u: new Uint8Array([1, 2]) };
  const copy = structuredClonePolyfill(src);
  assert.deepEqual(copy, src);
  assert.notEqual(copy.a, src.a);
  assert.notEqual(copy.u, src.u);
});
