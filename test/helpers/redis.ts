/**
 * The redis-server the broker tests use. Tests that need it fail (never skip) when Debian's
 * redis-server is not installed.
 */
import { pings, startRedisServer, type RedisServer } from '../../src/util/redis-server.js';

export type { RedisServer };

/** Set by .ci/run to the redis-server it started; tests that do not restart Redis share it. */
export const SHARED_REDIS_ENV = 'FEDPFT_TEST_REDIS_URL';

/**
 * The redis-server .ci/run started (FEDPFT_TEST_REDIS_URL), or one of the test's own; `restartable`
 * always starts one of its own, which the test may kill and restart.
 */
export async function startRedis(opts: { restartable?: boolean } = {}): Promise<RedisServer> {
  const shared = process.env[SHARED_REDIS_ENV];
  if (shared && !opts.restartable) {
    const port = Number(new URL(shared).port);
    if (!(await pings(port))) throw new Error(`${SHARED_REDIS_ENV}=${shared}: no redis-server answers there`);
    const refuse = () => Promise.reject(new Error('the shared redis-server is not restarted by tests'));
    return { url: shared, port, restart: refuse, stop: () => Promise.resolve() };
  }
  return startRedisServer();
}
