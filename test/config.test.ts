import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ApiConfig, ConfigError, RunnerConfig, parseConfig } from '../common/config';

const dist = path.resolve(__dirname, '..', 'dist');

describe('configuration', () => {
  it('names every bad variable at once', () => {
    let error: unknown;
    try {
      parseConfig('api', ApiConfig, { LOOKOUT_API_PORT: 'eighty', LOOKOUT_TEMPORAL_ADDRESS: 'nohostport' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        'DATABASE_URL: required',
        'LOOKOUT_MASTER_KEY: required',
        expect.stringMatching(/^LOOKOUT_API_PORT: /),
        'LOOKOUT_TEMPORAL_ADDRESS: must be host:port',
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('never echoes a value, even of a malformed secret', () => {
    const secretish = 'mysql://admin:hunter2-very-secret@db:3306/x';
    const badKey = 'c2hvcnQtbWFzdGVyLWtleS1oZXJl';
    expect(() => parseConfig('api', ApiConfig, { DATABASE_URL: secretish, LOOKOUT_MASTER_KEY: badKey })).toThrow(ConfigError);
    try {
      parseConfig('api', ApiConfig, { DATABASE_URL: secretish, LOOKOUT_MASTER_KEY: badKey });
    } catch (err) {
      expect(String((err as Error).message)).not.toContain('hunter2');
      expect(String((err as Error).message)).not.toContain(badKey);
      expect((err as ConfigError).problems).toEqual([
        'DATABASE_URL: must be a postgres:// or postgresql:// URL',
        'LOOKOUT_MASTER_KEY: must be 32 bytes in base64 (openssl rand -base64 32)',
      ]);
    }
  });

  it('applies defaults only to non-secret settings', () => {
    const config = parseConfig('api', ApiConfig, {
      DATABASE_URL: 'postgres://u:p@localhost/db',
      LOOKOUT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
    });
    expect(config).toMatchObject({
      LOOKOUT_API_PORT: 8080,
      LOOKOUT_TEMPORAL_ADDRESS: '127.0.0.1:7233',
      LOOKOUT_TEMPORAL_NAMESPACE: 'default',
    });
  });

  it('reads the trusted proxies as a hop count or a list of addresses, CIDRs and names, and the namespace settings', () => {
    const base = { DATABASE_URL: 'postgres://u:p@localhost/db', LOOKOUT_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') };
    expect(parseConfig('api', ApiConfig, { ...base, LOOKOUT_TRUST_PROXY: '1' }).LOOKOUT_TRUST_PROXY).toBe(1);
    expect(parseConfig('api', ApiConfig, { ...base, LOOKOUT_TRUST_PROXY: '10.0.0.0/8, loopback,fd00::1' }).LOOKOUT_TRUST_PROXY).toEqual([
      '10.0.0.0/8',
      'loopback',
      'fd00::1',
    ]);
    expect(() => parseConfig('api', ApiConfig, { ...base, LOOKOUT_TRUST_PROXY: 'everyone' })).toThrow(/"everyone" is not a hop count/);
    expect(parseConfig('api', ApiConfig, base)).toMatchObject({
      LOOKOUT_TEMPORAL_NAMESPACES: 'per-workspace',
      LOOKOUT_TEMPORAL_NAMESPACE_PREFIX: 'lookout-',
    });
    expect(() => parseConfig('api', ApiConfig, { ...base, LOOKOUT_TEMPORAL_NAMESPACE_PREFIX: 'Bad Prefix' })).toThrow(
      /LOOKOUT_TEMPORAL_NAMESPACE_PREFIX/,
    );
  });

  it('rejects an unknown check type in the Runner allowlist', () => {
    expect(() =>
      parseConfig('runner', RunnerConfig, {
        LOOKOUT_RUNNER_ID: '00000000-0000-4000-8000-000000000001',
        LOOKOUT_WORKSPACE_ID: '00000000-0000-4000-8000-000000000002',
        LOOKOUT_RUNNER_KEYS_FILE: '/nonexistent',
        LOOKOUT_RUNNER_ALLOWED_CHECKS: 'http.probe,shell.exec',
      }),
    ).toThrow('LOOKOUT_RUNNER_ALLOWED_CHECKS: unknown check type "shell.exec"');
  });

  it('serves metrics on loopback by default, takes host:port or off, and traces only with an OTLP endpoint', () => {
    const runner = {
      LOOKOUT_RUNNER_ID: '00000000-0000-4000-8000-000000000001',
      LOOKOUT_WORKSPACE_ID: '00000000-0000-4000-8000-000000000002',
      LOOKOUT_RUNNER_KEYS_FILE: '/nonexistent',
    };
    const defaults = parseConfig('runner', RunnerConfig, runner);
    expect(defaults.LOOKOUT_METRICS_LISTEN).toEqual({ host: '127.0.0.1', port: 9466 });
    expect(defaults.LOOKOUT_OTLP_ENDPOINT).toBeUndefined();
    expect(parseConfig('runner', RunnerConfig, { ...runner, LOOKOUT_METRICS_LISTEN: 'off' }).LOOKOUT_METRICS_LISTEN).toBe(false);
    expect(parseConfig('runner', RunnerConfig, { ...runner, LOOKOUT_METRICS_LISTEN: '[::1]:9100' }).LOOKOUT_METRICS_LISTEN).toEqual({
      host: '::1',
      port: 9100,
    });
    expect(() => parseConfig('runner', RunnerConfig, { ...runner, LOOKOUT_METRICS_LISTEN: '9100' })).toThrow(
      'LOOKOUT_METRICS_LISTEN: must be host:port (e.g. 127.0.0.1:9464) or off',
    );
    expect(() => parseConfig('runner', RunnerConfig, { ...runner, LOOKOUT_METRICS_TOKEN: 'short' })).toThrow(
      'LOOKOUT_METRICS_TOKEN: must be at least 32 characters',
    );
    expect(() => parseConfig('runner', RunnerConfig, { ...runner, LOOKOUT_OTLP_ENDPOINT: 'grpc://collector:4317' })).toThrow(
      /LOOKOUT_OTLP_ENDPOINT: /,
    );
    const api = parseConfig('api', ApiConfig, {
      DATABASE_URL: 'postgres://x@localhost/x',
      LOOKOUT_MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
      LOOKOUT_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
    });
    expect(api.LOOKOUT_METRICS_LISTEN).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(api.LOOKOUT_OTLP_ENDPOINT).toBe('http://127.0.0.1:4318');
  });

  it.each([
    ['api', 'platform-api/main.js', ['DATABASE_URL: required', 'LOOKOUT_MASTER_KEY: required']],
    ['platform-worker', 'workers/platform-worker.js', ['DATABASE_URL: required', 'LOOKOUT_MASTER_KEY: required']],
    [
      'runner',
      'workers/runner.js',
      ['LOOKOUT_RUNNER_ID: required', 'LOOKOUT_WORKSPACE_ID: required', 'LOOKOUT_RUNNER_KEYS_FILE: required'],
    ],
  ])('stops the %s process with status 78 and a message naming each missing variable', (name, file, expected) => {
    const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/' };
    const result = spawnSync(process.execPath, [path.join(dist, file)], { env, encoding: 'utf8', timeout: 30_000 });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain(`invalid configuration for ${name}:`);
    for (const line of expected) expect(result.stderr).toContain(line);
    expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });
});
