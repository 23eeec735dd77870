/**
 * Template errors point at the line of the template that is wrong, never at a
 * number quoted from the template's own text or eta's generated code.
 */
import { describe, expect, it } from 'vitest';
import { locateSyntaxError, TemplateError } from '../../src/render/engine.js';
import { makeStack } from '../helpers/services.js';

describe('locateSyntaxError', () => {
  it('finds the tag with a broken expression, past text that says "line 9"', () => {
    expect(locateSyntaxError('a\nline 9 here\n<%= it.x + %>\n')).toEqual({ line: 3 });
  });
  it('finds a tag that closes more than it opened', () => {
    expect(locateSyntaxError('a\n<% if (it.x) { %>\nb\n<% } } %>\n')).toEqual({ line: 4 });
  });
  it('names the tag whose block is never closed', () => {
    expect(locateSyntaxError('a\n<% if (it.x) { %>\nb\n')).toEqual({ line: 2, unclosed: true });
    expect(locateSyntaxError('<% for (const x of it.y) { %>\n<%= x %>\n<% } %>\n<% if (1) { %>\n')).toEqual({ line: 4, unclosed: true });
  });
  it('finds a later error after a loop that closes correctly', () => {
    expect(locateSyntaxError('<% for (const x of it.y) { %>\n<%= x %>\n<% } %>\n<%= ) %>')).toEqual({ line: 4 });
  });
  it('finds a stray closing tag after correct ones', () => {
    expect(locateSyntaxError('a\n<%= x %>\nb\n<% } %>\n')).toEqual({ line: 4 });
  });
  it('finds nothing in a correct template', () => {
    expect(locateSyntaxError('<% for (const x of it.y) { %>\n<%= x %>\n<% } %>\n')).toBeUndefined();
  });
});

describe('engine errors', () => {
  const errorOf = (f: () => unknown): TemplateError => {
    try {
      f();
    } catch (e) {
      return e as TemplateError;
    }
    throw new Error('no error');
  };

  it('check() reports the syntax error line without dumping generated code', async () => {
    const { engine } = await makeStack();
    const e = errorOf(() => engine.check('kickstart/rhel.cfg', '# see line 7 of the manual\ntext\n<% if ( %>\n'));
    expect(e).toBeInstanceOf(TemplateError);
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/^template kickstart\/rhel\.cfg: line 3: bad template syntax: /);
    expect(e.message).not.toContain('__eta');
  });

  it('an unclosed tag keeps eta’s own line', async () => {
    const { engine } = await makeStack();
    const e = errorOf(() => engine.check('kickstart/rhel.cfg', 'a\nb\n<%= it.x \n'));
    expect(e.line).toBe(3);
  });

  it('a render error gives the line of the failing tag, not a number in the text', async () => {
    const { engine } = await makeStack();
    const e = errorOf(() => engine.renderBody('kickstart/rhel.cfg', 'line 9\nx\n<%= it.nope.deeper %>\n', {}));
    expect(e.line).toBe(3);
  });
});
