import { describe, expect, it } from 'vitest';
import { ConfigError, envName, flagName, loadConfig, resolveBaseUrl } from '../src/config.js';

describe('loadConfig', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ dataDir: './data', httpPort: 8080, tftp: 'on', dhcp: 'on', tftpPort: 69, dhcpPort: 67, proxyDhcpPort: 4011, assetRoot: './boot-assets', loaderRoot: './boot-assets/loaders' });
  });

  it('takes flag over environment over file', () => {
    const file = { path: 'c.json', text: JSON.stringify({ httpPort: 9000, dataDir: '/srv/file', 'asset-root': '/srv/assets' }) };
    const env = { CHAINBOOT_HTTP_PORT: '9001', CHAINBOOT_DATA_DIR: '/srv/env' };
    const c = loadConfig({ argv: ['--http-port', '9002'], env, file });
    expect(c.httpPort).toBe(9002);
    expect(c.dataDir).toBe('/srv/env');
    expect(c.assetRoot).toBe('/srv/assets');
    expect(loadConfig({ env, file }).httpPort).toBe(9001);
    expect(loadConfig({ file }).httpPort).toBe(9000);
  });

  it('maps names to flags and environment variables', () => {
    expect(flagName('tftpPort')).toBe('--tftp-port');
    expect(envName('dataDir')).toBe('CHAINBOOT_DATA_DIR');
    expect(envName('dhcp')).toBe('CHAINBOOT_DHCP');
    expect(loadConfig({ env: { CHAINBOOT_DHCP: 'off' } }).dhcp).toBe('off');
  });

  it('reports every problem at once, naming where each came from', () => {
    let err: unknown;
    try {
      loadConfig({
        argv: ['--http-port=99999', '--bogus=1'],
        env: { CHAINBOOT_DHCP: 'maybe', CHAINBOOT_BASE_URL: 'ftp://x' },
        file: { path: '/etc/chainboot.json', text: '{"nope": 1}' },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toContain('flag --http-port: "99999" is not a port number');
    expect(problems).toContain('unknown flag --bogus');
    expect(problems).toContain('environment CHAINBOOT_DHCP: "maybe" must be on or off');
    expect(problems).toContain('/etc/chainboot.json: unknown setting "nope"');
    expect(problems).toContain('baseUrl "ftp://x" must be an http:// or https:// URL');
  });

  it('refuses a config file that is not JSON', () => {
    expect(() => loadConfig({ file: { path: 'x.json', text: '{' } })).toThrow(/x.json: not valid JSON/);
  });

  it('builds the base URL from the advertised address', () => {
    expect(resolveBaseUrl(loadConfig({ argv: ['--advertise-ip', '10.1.2.3', '--http-port', '81'] }))).toBe('http://10.1.2.3:81');
    expect(resolveBaseUrl(loadConfig({ argv: ['--base-url', 'http://boot.lab:8080/'] }))).toBe('http://boot.lab:8080');
    expect(resolveBaseUrl(loadConfig({}), () => '192.0.2.7')).toBe('http://192.0.2.7:8080');
  });
});
