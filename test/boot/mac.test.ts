import { describe, expect, it } from 'vitest';
import { macHyphen, macPlain, normalizeMac } from '../../src/boot/mac.js';

describe('normalizeMac', () => {
  it.each([
    ['08:00:27:4d:4d:aa', '08:00:27:4d:4d:aa'],
    ['08-00-27-4D-4D-AA', '08:00:27:4d:4d:aa'],
    ['080027 4d4daa'.replace(' ', ''), '08:00:27:4d:4d:aa'],
    ['0800.274D.4DAA', '08:00:27:4d:4d:aa'],
    ['  08:00:27:4d:4d:aa\n', '08:00:27:4d:4d:aa'],
    ['FF:FF:FF:FF:FF:FF', 'ff:ff:ff:ff:ff:ff'],
  ])('%j → %s', (input, out) => {
    expect(normalizeMac(input)).toBe(out);
  });

  it.each([
    '',
    '08:00:27:4d:4d',
    '08:00:27:4d:4d:aa:bb',
    '08:00-27:4d:4d:aa', // mixed separators
    '08:00:27:4d:4d:ag',
    '0800274d4daa0',
    '8:0:27:4d:4d:aa',
    '08:00:27:4d:4d:aa; chain http://x',
    '../../etc/passwd',
  ])('refuses %j', (input) => {
    expect(normalizeMac(input)).toBeNull();
  });

  it('gives the hyphen and plain forms', () => {
    expect(macHyphen('08:00:27:4d:4d:aa')).toBe('08-00-27-4d-4d-aa');
    expect(macPlain('08:00:27:4d:4d:aa')).toBe('0800274d4daa');
  });
});
