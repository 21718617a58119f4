/** Where a broker's Redis listens, from `redis://[user:password@]host:port[/db]` (rediss:// for TLS). */
export interface RedisAddress {
  url: string;
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

export const REDIS_URL_EXPECTED = 'expected a Redis URL like redis://127.0.0.1:6379 (redis:// or rediss://, a host and a port, optionally /db)';

/** The address a URL names, or null when it is not a Redis URL with an explicit host and port. */
export function parseRedisUrl(url: string): RedisAddress | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') return null;
  const port = Number(u.port);
  if (!u.hostname || !Number.isInteger(port) || port < 1 || port > 65535) return null;
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) return null;
  if (u.search || u.hash) return null;
  return {
    url,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: path === '' ? 0 : Number(path),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    tls: u.protocol === 'rediss:',
  };
}
